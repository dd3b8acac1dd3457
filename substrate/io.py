"""Atomic file writing: a failed or interrupted run never leaves a half-written file behind."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_text", "write_json"]


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the destination folder; on success move it onto ``path`` atomically.

    The temporary file keeps the destination's suffix, so writers that infer a format from it
    (``savefig``, ``numpy.savez``) behave as for the real name. On error the temporary file is removed
    and an existing file at ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8); return the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; return the path."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
