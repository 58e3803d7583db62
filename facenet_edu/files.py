"""Writing a file all or nothing, and checking before long work that an output path can be written.

Every file format has one owner module (``checkpoint``, ``gallery``); they all write
through ``write_atomically``: a temporary file in the same folder, synced, then
``os.replace`` over the destination. A crash at any moment leaves the old file or the
new one, never half of either.

Rules every write follows:

- a destination that is a symbolic link is followed: the file it points to is
  replaced and the link stays (``follow_link``), so a linked gallery gets the new person;
- a failed write (a full disk, a lost network drive) is one ``FaceNetEduError`` that
  says the old file is untouched, never a traceback;
- before long work, ``check_output`` checks that the folder is writable, that there is
  room for an estimate of the file's size, that an existing file there is of the kind
  being written, and that the output is not one of the command's own inputs.
"""

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

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
    path = follow_link(path)
    fd, tmp_name = _temporary_file_beside(path, ".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, _new_file_mode())  # mkstemp makes the file private (0600); give it a new file's usual mode
        os.replace(tmp_name, path)
    except BaseException as err:
        try:
            os.unlink(tmp_name)
        except OSError:
            pass
        reason = _write_failure(err)
        if reason is None:
            raise
        raise FaceNetEduError(f"{path}: could not be written ({reason}); nothing was changed there. "
                              "Free some disk space or choose another path.") from err


def _write_failure(err: BaseException) -> str | None:
    """Why a write failed when the system refused it (an ``OSError``, also wrapped by torch.save), else None."""
    seen = err
    while seen is not None:
        if isinstance(seen, OSError):
            return seen.strerror or str(seen)
        seen = seen.__cause__ or seen.__context__
    if isinstance(err, RuntimeError) and "write" in str(err).lower():  # torch's stream writer: "file write failed"
        return str(err).splitlines()[0]
    return None


def follow_link(path: str | Path) -> Path:
    """``path``, or the file it finally points to when it is a symbolic link (so writing replaces the target, not the link)."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_writable(path: str | Path, needed_bytes: int = 0) -> Path:
    """Check, before any long work, that a file can be written at ``path``; return it as a ``Path``.

    Creates and removes an empty temporary file in the folder (what ``write_atomically``
    will need), and compares the folder's free space with ``needed_bytes``.

    Args:
        path: the file to write later (a link is followed, as ``write_atomically`` does).
        needed_bytes: an estimate of the file's size; 0 skips the free-space check.

    Raises:
        FaceNetEduError: the folder is missing or read-only, ``path`` is a folder, or the
            disk has less free space than ``needed_bytes``.
    """
    path = follow_link(path)
    fd, tmp_name = _temporary_file_beside(path, ".probe")
    os.close(fd)
    os.unlink(tmp_name)
    if needed_bytes > 0:
        free = shutil.disk_usage(path.parent).free
        if free < needed_bytes:
            raise FaceNetEduError(
                f"{path}: only {free / 1e6:.1f} MB free in {path.parent}, and the file needs about "
                f"{needed_bytes / 1e6:.1f} MB ({os.strerror(errno.ENOSPC)}); free some space or choose another path."
            )
    return path


def check_output(path: str | Path, kind: str, is_kind: Callable[[Path], bool], inputs: Iterable = (),
                 needed_bytes: int = 0) -> Path:
    """Check an output path before long work: writable, with room, not an input, and new or of ``kind``.

    Args:
        path: the file the command will write.
        kind: what it writes, for messages ("facenet-edu checkpoint").
        is_kind: ``is_kind(existing_path)`` says whether an existing file there is of that
            kind (only such a file may be replaced); the format's owner module provides it.
        inputs: paths the same command reads (None entries are ignored); the output may be none of them.
        needed_bytes: an estimate of the file's size (see ``check_writable``).

    Raises:
        FaceNetEduError: the output is one of the inputs, an existing file there is of
            another kind (it is left untouched), or ``check_writable`` fails.
    """
    path = Path(path)
    for given in inputs:
        if given is not None and path.exists() and Path(given).exists() and os.path.samefile(path, given):
            raise FaceNetEduError(f"{path} is also this command's input ({given}); write the result to another file.")
    if path.exists() and not path.is_dir() and not is_kind(follow_link(path)):
        raise FaceNetEduError(f"{path} exists and is not a {kind}; nothing was written. Choose another path, "
                              "or move that file away.")
    return check_writable(path, needed_bytes)
