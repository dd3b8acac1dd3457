"""Safe file handling: atomic writes, output-location checks before any work, clear read errors.

- :func:`atomic_path` / :func:`write_text` / :func:`write_json`: a failed or interrupted run never
  leaves a half-written file behind. The temporary file sits beside its target, gets the mode the
  user's umask gives a new file, and is flushed to disk (``fsync``) before it is renamed.
- :func:`check_output_folder` / :func:`check_output_file`: refuse, before any computation, an output
  location that is a file where a folder is asked (or the reverse) or that cannot be written.
- :func:`read_text`: read a UTF-8 text file; a missing, unreadable or non-UTF-8 file is an error
  naming the path.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import ConfigurationError, PathError

__all__ = ["atomic_path", "write_text", "write_json", "read_text", "check_output_folder", "check_output_file",
           "umask"]


def umask() -> int:
    """The process umask (read from ``/proc/self/status`` when possible, else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    """Flush a folder entry (the rename) to disk where the platform allows it."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path in the destination folder; on success move it onto ``path`` atomically.

    The temporary file keeps the destination's suffix, so writers that infer a format from it
    (``savefig``, ``numpy.savez``) behave as for the real name. Before the rename it gets the mode
    ``0o666 & ~umask`` (as a plainly created file would) and its data is flushed with ``fsync``. On
    error the temporary file is removed and an existing file at ``path`` is left untouched.
    """
    path = Path(path).absolute()
    if path.is_dir():
        raise PathError(errno.EISDIR, "is a folder, but a file is to be written there", str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    except OSError as error:
        raise PathError(error.errno, f"cannot write there: {error.strerror}", str(path)) from None
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~umask())
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except OSError as error:  # disk full, read-only, ...: name the file being written
        Path(temporary).unlink(missing_ok=True)
        raise PathError(error.errno, f"cannot write: {error.strerror}", str(path)) from error
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8); return the path."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; return the path."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_text(path: str | os.PathLike, what: str = "file") -> str:
    """Read a UTF-8 text file.

    Raises
    ------
    ConfigurationError
        The file is not UTF-8 text (naming the path and the byte offset).
    PathError
        The file does not exist, is a folder, or cannot be read.
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigurationError(f"{what} {path} is not UTF-8 text (byte {error.start}: {error.reason})") from None
    except OSError as error:
        raise PathError(error.errno, f"cannot read {what}: {error.strerror}", str(path)) from None


def _probe(folder: Path, asked: Path) -> None:
    """Create and remove a temporary file in ``folder`` (an existing folder); raise PathError if that fails."""
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".substrate-write-test.")
    except OSError as error:
        raise PathError(error.errno, f"cannot write there ({error.strerror} in {folder})", str(asked)) from None
    os.close(handle)
    os.unlink(temporary)


def _existing_ancestor(path: Path, asked: Path) -> Path:
    for folder in [path, *path.parents]:
        if folder.exists():
            if not folder.is_dir():
                raise PathError(errno.ENOTDIR, f"{folder} is a file, not a folder", str(asked))
            return folder
    return Path.cwd()  # pragma: no cover - a relative path always ends in an existing "."


def check_output_folder(path: str | os.PathLike) -> Path:
    """Check, before any work, that a folder can hold the outputs: return it as a Path.

    It may not exist yet (it is created later); the nearest existing folder on its path must then
    be writable. Nothing is created.

    Raises
    ------
    PathError
        ``path`` (or a folder on its way) is a file, or the location is not writable.
    """
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise PathError(errno.ENOTDIR, "is a file, but an output folder is asked", str(path))
    _probe(_existing_ancestor(path, path), path)
    return path


def check_output_file(path: str | os.PathLike) -> Path:
    """Check, before any work, that a file can be written at ``path``: return it as a Path.

    Raises
    ------
    PathError
        ``path`` is a folder, a folder on its way is a file, or its folder is not writable.
    """
    path = Path(path).absolute()
    if path.is_dir():
        raise PathError(errno.EISDIR, "is a folder, but an output file is asked", str(path))
    _probe(_existing_ancestor(path.parent, path), path)
    return path
