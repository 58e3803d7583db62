"""Writing a file all or nothing, and checking before long work that an output path can be written.

Every file format has one owner module (``checkpoint``, ``gallery``); they all write
through ``write_atomically``: a temporary file in the same folder, synced, then
``os.replace`` over the destination. A crash at any moment leaves the old file or the
new one, never half of either.
"""

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import FaceNetEduError


def _folder_of(path: Path) -> Path:
    if path.is_dir():
        raise FaceNetEduError(f"{path} is a folder; give a file name.")
    folder = path.parent
    if not folder.is_dir():
        raise FaceNetEduError(f"{path}: the folder {folder} does not exist; create it first or choose another path.")
    return folder


def _temporary_file_beside(path: Path, suffix: str) -> tuple[int, str]:
    """(file descriptor, name) of a new hidden file in ``path``'s folder; a clear error when it cannot be made."""
    folder = _folder_of(path)
    try:
        return tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=suffix)
    except OSError as err:
        raise FaceNetEduError(f"{path}: cannot write in {folder} ({err.strerror}); choose another path.") from err


def write_atomically(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(handle)`` on a temporary file next to ``path``, then move it over ``path`` in one step.

    The temporary file is synced to disk before ``os.replace`` and removed if anything
    fails, so ``path`` holds either its old content or the complete new one.

    Args:
        path: the destination file.
        write: a function that writes the whole content to a binary file handle.

    Raises:
        FaceNetEduError: the folder does not exist or cannot be written, or ``path`` is a folder.
    """
    path = Path(path)
    fd, tmp_name = _temporary_file_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _new_file_mode())  # mkstemp makes the file private (0600); give it a new file's usual mode
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        raise


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_writable(path: str | Path) -> Path:
    """Check, before any long work, that a file can be written at ``path``; return it as a ``Path``.

    Creates and removes an empty temporary file in the folder (what ``write_atomically`` will need).

    Raises:
        FaceNetEduError: the folder is missing or read-only, or ``path`` is a folder.
    """
    path = Path(path)
    fd, tmp_name = _temporary_file_beside(path, ".probe")
    os.close(fd)
    os.unlink(tmp_name)
    return path
