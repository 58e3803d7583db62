"""The cache of prepared LFW faces: a file format this package owns (``data/cache/lfw_*.npz``).

Prepared faces are kept in ``data/cache/lfw_*.npz`` (float32, exactly as prepared,
written all-or-nothing), so only the first load reads the JPEGs (about a minute on a
2-core CPU). Each file stores the SHA-256 of what it was built from: the cache format
version, the preprocessing, ``lfw.LFW_FACE_BOX``, the ordered list of photos with their
sizes, modification and status-change times (``stat`` only, no JPEG is hashed) and, for
pairs, the pair list's bytes. On load the hash is recomputed and every array checked
(names, dtypes, shapes against the preprocessing and the number of photos, values finite
and in [0, 1]); a cache that fails any check is rebuilt. Limit: a photo rewritten with
the same size within one tick of the file system's clock (a few milliseconds) is not noticed.
"""

import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .data import default_data_dir
from .errors import FaceNetEduError
from .files import write_atomically
from .lfw_lists import PHOTO_FOLDER

CACHE_FORMAT_VERSION = 2   # 1: keyed by folder path only (unchecked); 2: keyed by content, checked on load


def photo_record(home: Path, path: Path, stat: os.stat_result) -> list:
    """What the cache key knows of a photo: its place, size, modification and status-change times (a ``stat``).

    The status-change time (``st_ctime_ns``) cannot be set back by a copy tool, so a photo
    replaced by one of the same size and the same preserved modification time is noticed.
    """
    return [path.relative_to(home / PHOTO_FOLDER).as_posix(), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def cache_key(preprocessing: dict, **sources) -> str:
    """SHA-256 of everything a cache is built from: format version, preprocessing, and ``sources`` (``lfw._cache_key``
    adds the face box, landmarks and resampling)."""
    recipe = {"format_version": CACHE_FORMAT_VERSION, "preprocessing": preprocessing, **sources}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def cache_path(kind: str, home: Path, preprocessing: dict) -> Path:
    """The cache file of one copy, kind and preprocessing (what it holds is checked by its key, not by its name)."""
    slot = hashlib.sha256(json.dumps([str(home.resolve()), preprocessing], sort_keys=True).encode()).hexdigest()[:16]
    return default_data_dir() / "cache" / f"lfw_{kind}_{slot}.npz"


def _load_cache(path: Path, key: str, size: int, extra: tuple[str, ...], check) -> dict | None:
    """The arrays of a cache file that passes every check, else None (missing, damaged, stale or of another version).

    The file must hold exactly ``format_version``, ``key``, ``images`` and the ``extra``
    arrays; ``images`` (N, 1, size, size) float32 in [0, 1]; ``check(arrays)`` checks the
    rest (N against the number of photos, the extra arrays).
    """
    try:
        opened = np.load(path, allow_pickle=False)
        if not isinstance(opened, np.lib.npyio.NpzFile):
            return None  # a plain .npy array
        with opened:
            arrays = {k: opened[k] for k in opened.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error):
        return None  # missing, truncated, not a zip, pickled objects
    if set(arrays) != {"format_version", "key", "images", *extra}:
        return None
    version, stored_key, images = arrays["format_version"], arrays["key"], arrays["images"]
    if version.shape != () or version.dtype.kind not in "iu" or int(version) != CACHE_FORMAT_VERSION:
        return None
    if stored_key.shape != () or stored_key.dtype.kind != "U" or str(stored_key) != key:
        return None
    if images.dtype != np.float32 or images.ndim != 4 or images.shape[1:] != (1, size, size):
        return None
    if images.size and not (images.min() >= 0.0 and images.max() <= 1.0):  # NaN fails both comparisons
        return None
    return arrays if check(arrays) else None


def cached(path: Path, key: str, size: int, build, check, extra: tuple[str, ...] = ()) -> dict:
    """The cache at ``path`` if it passes ``_load_cache``'s checks, else ``build()``'s arrays, written there with ``key``."""
    arrays = _load_cache(path, key, size, extra, check)
    if arrays is not None:
        return arrays
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = {"format_version": np.int64(CACHE_FORMAT_VERSION), "key": np.str_(key), **arrays}
        write_atomically(path, lambda handle: np.savez(handle, **stored))
    except (OSError, FaceNetEduError):
        pass  # a read-only cache folder only costs the next load its time
    return arrays
