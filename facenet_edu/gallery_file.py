"""The gallery's file format, its one owner: writing a gallery all or nothing and checking all of it on load.

A gallery is ONE file, at exactly the path given (an ``.npz`` archive, no pickle):

- ``embeddings``: (M, D) float32, unit rows;
- ``person``: (M,) int64, the index into ``names`` of each embedding;
- ``meta``: the UTF-8 JSON of format, version, names, embedding_dim, num_embeddings,
  threshold and model_fingerprint.

``write_gallery_file`` writes through ``files.write_atomically`` (temporary file, then
``os.replace``; a link is followed), and never over a file that is not a gallery.
``read_gallery_file`` checks everything (the archive is whole, names are unique valid
strings, embeddings are finite unit vectors, every person has at least one, the
threshold is a distance >= 0, the version is not from a newer facenet-edu) and refuses a
file it cannot trust with one ``FaceNetEduError`` naming the file and the problem.
Galleries of format 1 (a ``stem.npz`` + ``stem.json`` pair) are still read.
"""

import json
import unicodedata
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import FaceNetEduError, check_threshold, check_version
from .files import write_atomically
from .inputs import as_unit_embeddings
from .matching import UNKNOWN

GALLERY_FORMAT = "facenet-edu-gallery"
GALLERY_VERSION = 2      # 1: a stem.npz + stem.json pair; 2: one .npz file holding embeddings, person and meta
MAX_NAME_LENGTH = 200


class GalleryFile(NamedTuple):
    """What a gallery file holds, checked.

    Attributes:
        names: the enrolled people, in enrolment order.
        embeddings: (M, D) float64 unit rows; (0, 0) when nobody is enrolled.
        person: (M,) int64, ``names[person[i]]`` is embedding i's person.
        threshold: the stored threshold (a distance >= 0) or None.
        model_fingerprint: the fingerprint of the model that made the embeddings, or None.
    """

    names: list[str]
    embeddings: np.ndarray
    person: np.ndarray
    threshold: float | None
    model_fingerprint: str | None


def check_name(name) -> str:
    """Return ``name`` if it can name an enrolled person, else raise.

    A name is a non-empty string of at most ``MAX_NAME_LENGTH`` characters, not
    ``"unknown"``, without control characters (a newline in a name could forge lines
    in ``identify``'s output), and not only spaces.
    """
    if not isinstance(name, str) or not name.strip() or name == UNKNOWN:
        raise FaceNetEduError(f"A person needs a non-empty name other than {UNKNOWN!r}, got {name!r}.")
    if len(name) > MAX_NAME_LENGTH:
        raise FaceNetEduError(f"Names have at most {MAX_NAME_LENGTH} characters, got {len(name)}.")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in name):
        raise FaceNetEduError(f"The name {name!r} holds control characters (newline, tab, ...); use plain text.")
    return name


def write_gallery_file(path: str | Path, names: list[str], embeddings: np.ndarray, person: np.ndarray,
                       threshold: float | None, model_fingerprint: str | None) -> None:
    """Write a gallery to ``path`` (exactly that name), all or nothing.

    Args:
        path: the file; a link is followed (its target is replaced).
        names: P names.
        embeddings: (M, D) unit rows (stored as float32); (0, 0) for an empty gallery.
        person: (M,) index into ``names`` of each embedding.
        threshold, model_fingerprint: stored in the record as given.

    Raises:
        FaceNetEduError: ``path`` exists and is not a facenet-edu gallery (it is left
            untouched), its folder is missing or not writable, or the disk is full.
    """
    path = Path(path)
    if path.exists() and not path.is_dir() and not is_gallery_file(path):
        raise FaceNetEduError(f"{path} exists and is not a facenet-edu gallery; nothing was written. "
                              "Choose another path for the gallery, or move that file away.")
    meta = {
        "format": GALLERY_FORMAT, "version": GALLERY_VERSION, "names": list(names),
        "embedding_dim": int(embeddings.shape[1]) if len(person) else None, "num_embeddings": int(len(person)),
        "threshold": threshold, "model_fingerprint": model_fingerprint,
    }
    meta_bytes = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    write_atomically(path, lambda handle: np.savez(
        handle, embeddings=embeddings.astype(np.float32), person=person.astype(np.int64), meta=meta_bytes))


def gallery_file_exists(path: str | Path) -> bool:
    """Whether a gallery file (or a format-1 ``stem.json`` of one) is at ``path``, readable or not."""
    path = Path(path)
    legacy = _legacy_json(path)
    return path.is_file() or (legacy is not None and legacy.is_file())


def read_gallery_file(path: str | Path) -> GalleryFile:
    """Read and check a gallery written by ``write_gallery_file`` (or a format-1 ``stem.npz`` + ``stem.json`` pair).

    Raises:
        FaceNetEduError: no gallery there, or the file is damaged; the message names
            the file and what is wrong.
    """
    path = Path(path)
    if path.is_dir():
        raise FaceNetEduError(f"{path} is a folder; give the gallery's file name.")
    legacy_json = _legacy_json(path)
    legacy_npz = legacy_json.with_suffix(".npz") if legacy_json is not None else None
    if path.is_file() and path.suffix != ".json":
        npz_path = path
    elif legacy_npz is not None and legacy_npz.is_file():  # format 1, named by its stem or either file
        npz_path = legacy_npz
    elif path.is_file():
        raise FaceNetEduError(f"{path} is not a facenet-edu gallery (a gallery is one .npz archive).")
    else:
        raise FaceNetEduError(f"No gallery at {path}; enrol someone first (`enroll` or Gallery.save).")
    arrays = _read_npz(npz_path)
    if "meta" in arrays:
        try:
            meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            raise FaceNetEduError(f"{npz_path}: the gallery's record is damaged ({err}).") from err
        where = npz_path
    elif legacy_json is not None and legacy_json.is_file():
        try:
            meta = json.loads(legacy_json.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError, OSError) as err:
            raise FaceNetEduError(f"{legacy_json}: not a readable facenet-edu gallery record ({err}).") from err
        where = legacy_json
    else:
        raise FaceNetEduError(f"{npz_path} is not a facenet-edu gallery (no gallery record inside).")
    return _checked(arrays, meta, where)


def _checked(arrays: dict, meta, where: Path) -> GalleryFile:
    """Check the record ``meta`` and the arrays against each other."""
    if not isinstance(meta, dict) or meta.get("format") != GALLERY_FORMAT:
        raise FaceNetEduError(f"{where} is not a facenet-edu gallery (no '{GALLERY_FORMAT}' marker).")
    check_version(meta.get("version"), GALLERY_VERSION, where, "gallery")
    names = meta.get("names")
    if not isinstance(names, list):
        raise FaceNetEduError(f"{where}: the gallery's names are missing or not a list; the file is damaged.")
    for name in names:
        try:
            check_name(name)
        except FaceNetEduError as err:
            raise FaceNetEduError(f"{where}: {err} The file is damaged.") from None
    if len(set(names)) != len(names):
        raise FaceNetEduError(f"{where}: a name appears twice; the file is damaged.")
    fingerprint = meta.get("model_fingerprint")
    if fingerprint is not None and not isinstance(fingerprint, str):
        raise FaceNetEduError(f"{where}: the model fingerprint is not a string; the file is damaged.")
    threshold = meta.get("threshold")
    threshold = None if threshold is None else check_threshold(threshold, str(where))
    if "embeddings" not in arrays or "person" not in arrays:
        raise FaceNetEduError(f"{where}: the embeddings or person indices are missing; the file is damaged.")
    embeddings, person = arrays["embeddings"], arrays["person"]
    if embeddings.dtype not in (np.float32, np.float64) or not np.issubdtype(person.dtype, np.integer):
        raise FaceNetEduError(f"{where}: embeddings must be float and person indices integers, got "
                              f"{embeddings.dtype} and {person.dtype}; the file is damaged.")
    if len(names) == 0 and embeddings.size == 0 and person.size == 0:
        return GalleryFile([], np.empty((0, 0), np.float64), np.empty(0, np.int64), threshold, fingerprint)
    if embeddings.ndim != 2 or person.shape != (embeddings.shape[0],):
        raise FaceNetEduError(f"{where}: embeddings {embeddings.shape} and person indices {person.shape} do not "
                              "fit together; the file is damaged.")
    dim = meta.get("embedding_dim")
    if dim is not None and dim != embeddings.shape[1]:
        raise FaceNetEduError(f"{where}: the record says {dim}-D embeddings, the file holds "
                              f"{embeddings.shape[1]}-D ones; the file is damaged.")
    if set(person.tolist()) != set(range(len(names))):
        raise FaceNetEduError(f"{where}: embeddings, person indices and names do not match; the file is damaged.")
    try:
        checked = as_unit_embeddings(embeddings, "gallery embeddings")
    except FaceNetEduError as err:
        raise FaceNetEduError(f"{where}: {err} The file is damaged.") from None
    return GalleryFile(list(names), checked.astype(np.float64), person.astype(np.int64), threshold, fingerprint)


def _legacy_json(path: Path) -> Path | None:
    """The ``stem.json`` of a format-1 gallery that ``path`` may name (``stem``, ``stem.npz`` or ``stem.json``)."""
    return path.with_suffix(".json") if path.suffix in ("", ".npz", ".json") else None


def _read_npz(path: Path) -> dict:
    """Every array of the ``.npz`` at ``path``, or a FaceNetEduError (truncated, empty, not a zip, pickled objects)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as err:  # BadZipFile, EOFError, ValueError (pickled object arrays), zlib.error, OSError, ...
        raise FaceNetEduError(f"{path}: not a readable facenet-edu gallery; the file is damaged, truncated or of "
                              f"another kind ({type(err).__name__}).") from err


def is_gallery_file(path: str | Path) -> bool:
    """Whether ``path`` holds a gallery record (a whole, current or damaged-inside gallery may be replaced)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "meta" not in archive.files:
                return False
            meta = json.loads(archive["meta"].tobytes().decode("utf-8"))
    except Exception:  # noqa: BLE001 - anything unreadable is not a gallery we may overwrite
        return False
    return isinstance(meta, dict) and meta.get("format") == GALLERY_FORMAT
