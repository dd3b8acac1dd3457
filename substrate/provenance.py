"""Provenance: what produced a file (package version, git commit, time, command line, platform)."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

__all__ = ["provenance", "new_run_id", "git_commit"]


def git_commit(root: str | Path | None = None) -> str | None:
    """The git commit of the source tree at ``root`` (default: the package's checkout), or None.

    ``HEAD``, with ``+dirty`` when tracked files are modified. None unless ``root`` is the top of a
    git checkout (an installed copy inside some other repository does not report that repository's
    commit) or git is missing.
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=5)
        if head.returncode != 0 or Path(head.stdout.split()[0]).resolve() != root.resolve():
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.split()[1] + ("+dirty" if status.returncode == 0 and status.stdout.strip() else "")


def new_run_id() -> str:
    """A unique run id: UTC time and 8 random hex digits (``20261123T172600Z-1a2b3c4d``)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]


def provenance(command: list[str] | None = None) -> dict:
    """A JSON-ready record of what is running: version, commit, UTC time, command line, platform."""
    from . import __version__
    import numpy

    return {
        "package": "wave-substrate",
        "version": __version__,
        "git_commit": git_commit(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": list(sys.argv if command is None else command),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
    }
