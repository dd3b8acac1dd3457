"""Where a result came from: package version, git commit, time, command line and platform."""

from __future__ import annotations

import datetime
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["provenance"]


def _git_commit() -> str | None:
    """The commit of the source tree this package runs from, or None (not a git checkout, no git)."""
    root = Path(__file__).resolve().parents[1]
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    if result.returncode != 0 or len(commit) != 40:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                           text=True, timeout=5).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def provenance() -> dict:
    """``{"package", "version", "git_commit", "time", "command", "platform", "python"}`` of this process.

    ``time`` is UTC in ISO 8601; ``command`` the command line (``sys.argv`` joined); ``git_commit``
    None outside a git checkout, suffixed ``-dirty`` when tracked files differ from it.
    """
    from . import __version__

    return {
        "package": "wave-substrate",
        "version": __version__,
        "git_commit": _git_commit(),
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
