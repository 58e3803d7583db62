"""Labeled Faces in the Wild: the course model's people, and LFW's own verification pairs.

LFW (Huang et al. 2007) holds 13,233 photos of 5,749 people, 250x250 pixels, aligned
so that every face sits at about the same place. It comes with official pair lists:
``pairsDevTrain.txt`` and ``pairsDevTest.txt`` (View 1, for development) and
``pairs.txt`` (View 2: 10 folds). FaceNet's verification protocol is identity-disjoint:
the people of the test pairs are never trained on.

Where the files come from:

- ``data_dir`` (or the environment variable ``FACENET_EDU_LFW``): a folder in
  scikit-learn's layout, ``lfw_home/`` with ``lfw_funneled/<Name>/<Name>_NNNN.jpg`` and
  the pair lists (the folder itself or its parent). It is only read, never written.
- otherwise ``data/lfw_home`` in the project's download cache; when it is missing,
  scikit-learn's ``fetch_lfw_pairs`` downloads the photos and the pair lists there once.

What counts as a photo: a person is a real folder directly inside ``lfw_funneled``
(which may itself be a link); their photos are the regular ``*.jpg`` files directly in
it. Linked person folders and linked photos are not followed (so no link can hand one
person's photos to another name, or make a phantom person of the whole copy); they are
listed in ``dataset.skipped`` with the photos that cannot be read, and one warning says
so. A pair list is refused, with its file and line, unless its header matches its rows
exactly (View 1: ``n`` then n same-person and n different-people lines; View 2: ``folds
n`` then, per fold, n same and n different), every name is a plain name (no separator,
no ``..``, no control character) and every photo number a positive whole number. A pair
whose photo is missing or unreadable stops the load with its name: a pair cannot be
evaluated without its photos, and dropping it would change the protocol.

The photos are read by this module, not by scikit-learn's loader, so they get the
course's ONE preprocessing, the same as any new photograph (``facenet_edu.faces``):
greyscale by Pillow's "L" conversion, a square crop of the face box grown by
``crop_margin``, an antialiased resize to ``image_size``. ``lfw_preprocessing`` is the
one place that lists these settings: it feeds both ``prepare_lfw_photo`` and the cache
key. LFW's photos are aligned, so instead of running the detector on all 13,233 of them
we use ``LFW_FACE_BOX``, the median box OpenCV's detector finds on them (a test checks
it still does).

The cache: prepared faces are kept in ``data/cache/lfw_*.npz`` (float32, exactly as
prepared, written all-or-nothing), so only the first load reads the JPEGs (about a
minute on a 2-core CPU). Each file stores the SHA-256 of what it was built from: the
cache format version, the preprocessing, ``LFW_FACE_BOX``, the ordered list of photos
with their sizes, modification and status-change times (``stat`` only, no JPEG is hashed) and, for
pairs, the pair list's bytes. On load the hash is recomputed and every array checked
(names, dtypes, shapes against the preprocessing and the number of photos, values finite
and in [0, 1]); a cache that fails any check is rebuilt. Limit: a photo rewritten with
the same size within one tick of the file system's clock (a few milliseconds) is not noticed.
"""

import hashlib
import json
import os
import re
import unicodedata
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import FaceDataset, default_data_dir
from .errors import FaceNetEduError, check_number
from .align import LFW_LANDMARKS, RESAMPLING
from .faces import crop_face, prepare_aligned_face, to_network_input
from .files import write_atomically
from .images import read_image
from .model import CROPS, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE
from .runtime import progress_bar

LFW_ENV_VAR = "FACENET_EDU_LFW"
PHOTO_SIZE = 250
# (x, y, width, height): the median Haar-cascade face box on the 250x250 deep-funneled photos
# (measured on 300 random photos; the 10th to 90th percentiles of x and y lie within 7 pixels).
LFW_FACE_BOX = (67, 66, 116, 116)
PAIR_LISTS = {"devtrain": "pairsDevTrain.txt", "devtest": "pairsDevTest.txt", "view2": "pairs.txt"}
PHOTO_FOLDER = "lfw_funneled"
CACHE_FORMAT_VERSION = 2   # 1: keyed by folder path only (unchecked); 2: keyed by content, checked on load
_COUNT = re.compile(r"[0-9]{1,9}")   # ASCII digits only, bounded (int() of a huge string is slow or refused)
_BAD_NAME_CHARACTERS = "/\\:"


@dataclass
class LFWPairs:
    """Verification pairs: two images each, same person or not.

    Attributes:
        images: (U, 1, S, S) the distinct images the pairs use, prepared for the network.
        index_a, index_b: (P,) long tensors; pair i compares images[index_a[i]] with images[index_b[i]].
        is_same: (P,) bool tensor.
        fold: (P,) long tensor, the official fold of each pair (0 for the View 1 lists).
        people: the names of everybody in the pairs (never train on them).
    """

    images: torch.Tensor
    index_a: torch.Tensor
    index_b: torch.Tensor
    is_same: torch.Tensor
    fold: torch.Tensor
    people: set[str]

    def __len__(self) -> int:
        return int(self.is_same.numel())


def find_lfw_home(data_dir: str | Path | None = None, download: bool = True) -> Path:
    """The ``lfw_home`` folder to read: ``data_dir``, $FACENET_EDU_LFW, or the download cache.

    Args:
        data_dir: ``lfw_home`` itself or the folder that holds it.
        download: when no copy is found, let scikit-learn download one into ``data/``.

    Raises:
        FaceNetEduError: the folder given has no LFW photos, or the download failed.
    """
    given = data_dir or os.environ.get(LFW_ENV_VAR)
    if given:
        for home in (Path(given), Path(given) / "lfw_home"):
            if (home / PHOTO_FOLDER).is_dir():
                return home
        raise FaceNetEduError(
            f"{given}: no LFW photos there. Expected scikit-learn's layout: lfw_home/{PHOTO_FOLDER}/<Name>/<Name>_0001.jpg "
            "and the pair lists (pairsDevTest.txt ...), given as lfw_home or the folder holding it."
        )
    data_home = default_data_dir()
    home = data_home / "lfw_home"
    if (home / PHOTO_FOLDER).is_dir():
        return home
    if not download:
        raise FaceNetEduError(f"LFW is not in {home}. Pass --data-dir DIR (or set {LFW_ENV_VAR}) to read a copy.")
    from sklearn.datasets import fetch_lfw_pairs

    try:  # downloads the photos (about 230 MB) and the pair lists into data_home/lfw_home, once
        fetch_lfw_pairs(subset="test", data_home=str(data_home), funneled=True, resize=0.1, download_if_missing=True)
    except Exception as err:  # URLError, HTTPError, OSError offline
        raise FaceNetEduError(
            f"Could not download LFW ({type(err).__name__}: {err}). Without a network, put a copy in scikit-learn's "
            f"layout (lfw_home/{PHOTO_FOLDER}/... and the pairs*.txt files) under {data_home}, or pass --data-dir DIR "
            f"(or set {LFW_ENV_VAR}); --dataset synthetic works offline."
        ) from err
    return home


# ---------------------------------------------------------------------------------------------- pair lists
def read_pair_list(path: str | Path) -> list[tuple[str, int, str, int, int]]:
    """Parse an official LFW pair list into (name_a, number_a, name_b, number_b, fold) rows.

    The first line gives the number of folds and of pairs per kind (``10 300``; View 1
    lists give one number, one fold). Then, per fold, that many same-person lines
    ``Name n1 n2`` followed by as many different-people lines ``Name1 n1 Name2 n2``.

    Raises:
        FaceNetEduError: the file is missing or unreadable, or any line breaks these rules
            (the message names the file and the line).
    """
    return _parse_pair_list(_read_pair_bytes(Path(path)), Path(path))


def _read_pair_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FaceNetEduError(f"{path}: no such LFW pair list. It ships with LFW "
                              "(scikit-learn downloads it with the photos).")
    try:
        return path.read_bytes()
    except OSError as err:
        raise FaceNetEduError(f"{path}: cannot read this LFW pair list ({err.strerror}); check its permissions.") from err


def _parse_pair_list(data: bytes, path: Path) -> list[tuple[str, int, str, int, int]]:
    """``read_pair_list`` on bytes already read (so the bytes parsed are the bytes the cache key hashes)."""
    damaged = "Replace it with the official file (scikit-learn downloads it with the photos)."
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise FaceNetEduError(f"{path}: byte {err.start} is not UTF-8 text; an LFW pair list is plain text. "
                              f"{damaged}") from err
    # split on "\n" only (splitlines also splits on form feeds and the like, which would shift the line numbers)
    lines = [(number, line.split()) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    if not lines:
        raise FaceNetEduError(f"{path}: the pair list is empty. {damaged}")
    (header_line, header), body = lines[0], lines[1:]
    if len(header) not in (1, 2) or not all(_COUNT.fullmatch(v) and int(v) > 0 for v in header):
        raise FaceNetEduError(f"{path}, line {header_line}: the header must be 'N' (View 1) or 'FOLDS N' (View 2), "
                              f"positive whole numbers; got {' '.join(header)!r}. {damaged}")
    folds, per_kind = (1, int(header[0])) if len(header) == 1 else (int(header[0]), int(header[1]))
    expected = folds * 2 * per_kind
    if len(body) != expected:
        where = f"line {body[expected][0]} is one too many" if len(body) > expected else f"it ends at line {lines[-1][0]}"
        raise FaceNetEduError(f"{path}: the header (line {header_line}) promises {expected} pairs ({folds} fold(s) of "
                              f"{per_kind} same-person and {per_kind} different-people pairs) but the file has "
                              f"{len(body)}; {where}. The list is truncated or damaged. {damaged}")
    rows = []
    for i, (line, parts) in enumerate(body):
        fold, position = divmod(i, 2 * per_kind)
        same = position < per_kind
        if len(parts) != (3 if same else 4):
            kind = "a same-person line 'Name n1 n2'" if same else "a different-people line 'Name1 n1 Name2 n2'"
            raise FaceNetEduError(f"{path}, line {line}: expected {kind} (pair {position + 1} of fold {fold + 1}), "
                                  f"got {len(parts)} fields. {damaged}")
        name_a, number_a, name_b, number_b = (parts[0], parts[1], parts[0], parts[2]) if same else parts
        row = (_checked_name(name_a, path, line), _checked_number(number_a, path, line),
               _checked_name(name_b, path, line), _checked_number(number_b, path, line), fold)
        if same and row[1] == row[3]:
            raise FaceNetEduError(f"{path}, line {line}: a same-person pair compares photo {row[1]} with itself. {damaged}")
        if not same and name_a == name_b:
            raise FaceNetEduError(f"{path}, line {line}: a different-people pair names {name_a} twice. {damaged}")
        rows.append(row)
    return rows


def _checked_name(name: str, path: Path, line: int) -> str:
    """A person's name as a pair list gives it: a plain folder name, never a path."""
    if ".." in name or any(c in _BAD_NAME_CHARACTERS for c in name) or any(unicodedata.category(c)[0] == "C" for c in name):
        raise FaceNetEduError(f"{path}, line {line}: {name!r} is not a person's name (no '/', '\\', ':', '..' or "
                              "control characters); the pair list is damaged. Replace it with the official file.")
    return name


def _checked_number(text: str, path: Path, line: int) -> int:
    if not _COUNT.fullmatch(text) or int(text) < 1:
        raise FaceNetEduError(f"{path}, line {line}: the photo number {text!r} is not a positive whole number; "
                              "the pair list is damaged. Replace it with the official file.")
    return int(text)


def lfw_people_in(home: Path, which: str) -> set[str]:
    """Everybody who appears in one of the pair lists (``devtrain``, ``devtest``, ``view2``)."""
    return {name for row in read_pair_list(home / _pair_file(which)) for name in (row[0], row[2])}


def _pair_file(which: str) -> str:
    if which not in PAIR_LISTS:
        raise FaceNetEduError(f"Unknown LFW pair list {which!r}; choose one of {', '.join(PAIR_LISTS)}.")
    return PAIR_LISTS[which]


# ---------------------------------------------------------------------------------------------- one photo
def lfw_preprocessing(image_size: int, crop_margin: float, crop: str = "aligned") -> dict:
    """Every setting of the photo preparation, checked: the keywords of ``prepare_lfw_photo`` and part of the cache key.

    A new preprocessing setting is one more entry here (and the keyword of
    ``prepare_lfw_photo`` that uses it); every cache made without it is then rebuilt.

    Raises:
        FaceNetEduError: ``image_size`` is not a whole number in 32..512, ``crop_margin`` not in [0, 1],
            or ``crop`` not one of ``model.CROPS``.
    """
    if crop not in CROPS:
        raise FaceNetEduError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}.")
    return {
        "image_size": int(check_number("image_size", image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE, integer=True)),
        "crop_margin": float(check_number("crop_margin", crop_margin, 0.0, 1.0)),
        "crop": crop,
    }


def lfw_face_box(photo_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``LFW_FACE_BOX`` scaled to a photo of another size (the detector's box, before the crop border)."""
    scale_y, scale_x = photo_shape[0] / PHOTO_SIZE, photo_shape[1] / PHOTO_SIZE
    x, y, w, h = LFW_FACE_BOX
    return round(x * scale_x), round(y * scale_y), round(w * scale_x), round(h * scale_y)


def lfw_landmarks(photo_shape: tuple[int, int]) -> np.ndarray:
    """``align.LFW_LANDMARKS`` scaled to a photo of another size: (5, 2) float32 (x, y)."""
    return LFW_LANDMARKS * np.array([photo_shape[1] / PHOTO_SIZE, photo_shape[0] / PHOTO_SIZE], np.float32)


def prepare_lfw_photo(path: str | Path, image_size: int, crop_margin: float, crop: str = "aligned") -> torch.Tensor:
    """One LFW photo as the network's input: ``faces.prepare_face``'s path with LFW's known landmarks or face box.

    Args:
        crop: ``"aligned"`` (``faces.prepare_aligned_face`` with ``lfw_landmarks``: the path of a new photo
            whose detector finds those landmarks) or ``"box"`` (``LFW_FACE_BOX`` grown by ``crop_margin``),
            as ``ModelConfig.crop``.

    Returns:
        (1, 1, image_size, image_size) float tensor in [0, 1].

    Raises:
        FaceNetEduError: the photo cannot be read (``images.read_image``).
    """
    grey = read_image(path)  # (250, 250)
    if crop == "aligned":
        return prepare_aligned_face(grey, lfw_landmarks(grey.shape), image_size)
    return to_network_input(crop_face(grey, lfw_face_box(grey.shape), crop_margin), image_size)


def _prepare_many(paths: list[Path], preprocessing: dict, progress: bool) -> tuple[np.ndarray, list[int]]:
    """(N - len(failed), 1, S, S) float32 faces of the photos that could be read, and the indices of those that could not."""
    size = preprocessing["image_size"]
    out = np.empty((len(paths), 1, size, size), np.float32)
    done, failed = 0, []
    for i, path in enumerate(progress_bar(paths, desc="reading LFW photos", disable=not progress, mininterval=2)):
        try:
            out[done] = prepare_lfw_photo(path, **preprocessing)[0].numpy()
            done += 1
        except FaceNetEduError:
            failed.append(i)
    return out[:done], failed


# ---------------------------------------------------------------------------------------------- the cache
def _photo_record(home: Path, path: Path, stat: os.stat_result) -> list:
    """What the cache key knows of a photo: its place, size, modification and status-change times (a ``stat``).

    The status-change time (``st_ctime_ns``) cannot be set back by a copy tool, so a photo
    replaced by one of the same size and the same preserved modification time is noticed.
    """
    return [path.relative_to(home / PHOTO_FOLDER).as_posix(), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _cache_key(preprocessing: dict, **sources) -> str:
    """SHA-256 of everything a cache is built from: format version, preprocessing, face box, and ``sources``."""
    recipe = {"format_version": CACHE_FORMAT_VERSION, "preprocessing": preprocessing, "face_box": LFW_FACE_BOX,
              "landmarks": LFW_LANDMARKS.tolist(), "resampling": RESAMPLING, **sources}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()


def _cache_path(kind: str, home: Path, preprocessing: dict) -> Path:
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


def _cached(path: Path, key: str, size: int, build, check, extra: tuple[str, ...] = ()) -> dict:
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


# ---------------------------------------------------------------------------------------------- the people
def _list_people(home: Path) -> tuple[list[str], list[tuple[int, Path, os.stat_result]], list[str]]:
    """(names, photos as (label, path, stat), links and folders not followed), in sorted order; ``stat`` only."""
    folder = home / PHOTO_FOLDER
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as err:
        raise FaceNetEduError(f"{folder}: cannot list the LFW photos ({err.strerror}); check the folder.") from err
    names, photos, not_followed = [], [], []
    for person in entries:
        if person.name.startswith(".") or not person.is_dir():
            continue  # hidden entries and files such as a README belong to no person
        if person.is_symlink():
            not_followed.append(person.path)  # a link could be another person's folder, or the whole copy
            continue
        try:
            files = sorted(os.scandir(person.path), key=lambda e: e.name)
        except OSError:
            not_followed.append(person.path)
            continue
        label = len(names)
        names.append(person.name)
        for photo in files:
            if not photo.name.endswith(".jpg") or photo.name.startswith("."):
                continue
            if photo.is_symlink() or not photo.is_file(follow_symlinks=False):
                not_followed.append(photo.path)
                continue
            photos.append((label, Path(photo.path), photo.stat(follow_symlinks=False)))
    return names, photos, not_followed


def load_lfw_people(data_dir: str | Path | None = None, image_size: int = 64, crop_margin: float = 0.05,
                    exclude: tuple[str, ...] = ("devtest",), min_images: int = 1, progress: bool = True,
                    crop: str = "aligned") -> FaceDataset:
    """LFW's people as a ``FaceDataset``, without the people of the pair lists in ``exclude``.

    Photos that cannot be read, and linked folders or photos (not followed), are left
    out, listed in ``dataset.skipped`` and reported in one warning.

    Args:
        data_dir: see ``find_lfw_home``.
        image_size, crop_margin, crop: the preprocessing (the course model records its own).
        exclude: pair lists whose people are left out (``"devtest"``: the course model never sees them).
        min_images: keep only people with at least this many photos.
        progress: show a progress bar while reading the photos the first time.

    Raises:
        FaceNetEduError: no copy, no readable photo, a damaged pair list in ``exclude``, or no person left.
    """
    home = find_lfw_home(data_dir)
    preprocessing = lfw_preprocessing(image_size, crop_margin, crop)
    check_number("min_images", min_images, 1, None, integer=True)
    exclude = (exclude,) if isinstance(exclude, str) else tuple(exclude or ())
    left_out = set().union(*(lfw_people_in(home, which) for which in exclude))  # checks the lists before any long work
    names, photos, skipped = _list_people(home)
    if not photos:
        raise FaceNetEduError(f"{home / PHOTO_FOLDER}: no photos found. Expected one folder per person holding "
                              "<Name>_0001.jpg ...; point --data-dir at a complete LFW copy.")
    paths = [path for _, path, _ in photos]
    key = _cache_key(preprocessing, photos=[_photo_record(home, path, stat) for _, path, stat in photos])

    def build() -> dict:
        images, failed = _prepare_many(paths, preprocessing, progress)
        return {"images": images, "skipped": np.asarray(failed, np.int64)}

    def check(arrays: dict) -> bool:  # the unreadable photos: increasing indices of photos; the rest are the images
        failed = arrays["skipped"]
        return (failed.dtype == np.int64 and failed.ndim == 1 and bool(np.all(np.diff(failed) > 0))
                and (failed.size == 0 or (failed[0] >= 0 and failed[-1] < len(paths)))
                and failed.size + len(arrays["images"]) == len(paths))

    arrays = _cached(_cache_path("people", home, preprocessing), key, preprocessing["image_size"], build, check,
                     ("skipped",))
    failed = set(arrays["skipped"].tolist())
    skipped += [str(paths[i]) for i in sorted(failed)]
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} LFW photos or linked folders under {home / PHOTO_FOLDER} "
                      f"(unreadable, or links not followed), e.g. {skipped[0]}; see dataset.skipped.", stacklevel=2)
    if not len(arrays["images"]):
        raise FaceNetEduError(f"{home / PHOTO_FOLDER}: none of the {len(paths)} photos could be read, e.g. {paths[0]}.")
    images = torch.from_numpy(arrays["images"])
    labels = torch.tensor([label for i, (label, _, _) in enumerate(photos) if i not in failed], dtype=torch.long)
    counts = torch.bincount(labels, minlength=len(names))
    keep_person = torch.tensor([name not in left_out for name in names], dtype=torch.bool) & (counts >= min_images)
    keep = keep_person[labels]
    excluded = f", without the people of {', '.join(exclude)}" if exclude else ""
    if not bool(keep.any()):
        raise FaceNetEduError(f"{home}: no person has at least {min_images} readable photos{excluded}; "
                              "use a complete LFW copy or a smaller min_images.")
    return FaceDataset(images[keep], labels[keep], names, f"LFW people with >= {min_images} photos{excluded}", skipped)


# ---------------------------------------------------------------------------------------------- the pairs
def _photo_path(home: Path, name: str, number: int) -> Path:
    return home / PHOTO_FOLDER / name / f"{name}_{number:04d}.jpg"


def load_lfw_pairs(data_dir: str | Path | None = None, which: str = "devtest", image_size: int = 64,
                   crop_margin: float = 0.05, progress: bool = False, crop: str = "aligned") -> LFWPairs:
    """One of LFW's official pair lists, with its photos prepared like every other face.

    Args:
        data_dir: see ``find_lfw_home``.
        which: ``"devtest"`` (1,000 pairs, the course's test), ``"devtrain"`` or ``"view2"`` (6,000 pairs in 10 folds).
        image_size, crop_margin, crop: the preprocessing; pass the model's ``config`` values.

    Raises:
        FaceNetEduError: a damaged pair list (``read_pair_list``), or a photo of its pairs that is
            missing, linked or unreadable (no pair is silently dropped).
    """
    home = find_lfw_home(data_dir)
    preprocessing = lfw_preprocessing(image_size, crop_margin, crop)
    pair_file = home / _pair_file(which)
    data = _read_pair_bytes(pair_file)
    rows = _parse_pair_list(data, pair_file)
    keys = sorted({(r[0], r[1]) for r in rows} | {(r[2], r[3]) for r in rows})
    position = {key: i for i, key in enumerate(keys)}
    paths = [_photo_path(home, name, number) for name, number in keys]
    records, missing = [], []
    for path in paths:  # a real person folder and a regular photo file, as load_lfw_people reads them
        if path.parent.is_symlink() or path.is_symlink() or not path.is_file():
            missing.append(path)
        else:
            records.append(_photo_record(home, path, path.stat()))
    if missing:
        raise FaceNetEduError(f"{len(missing)} photos of {pair_file.name} are missing (or links, not followed) in {home}, "
                              f"e.g. {missing[0]}; the pairs cannot be evaluated without them. Use a complete LFW copy.")
    key = _cache_key(preprocessing, pair_list=hashlib.sha256(data).hexdigest(), photos=records)

    def build() -> dict:
        images, failed = _prepare_many(paths, preprocessing, progress)
        if failed:
            raise FaceNetEduError(f"{len(failed)} photos of {pair_file.name} cannot be read, e.g. {paths[failed[0]]}; "
                                  "a pair cannot be evaluated without its photos. Replace them from a complete LFW copy.")
        return {"images": images}

    arrays = _cached(_cache_path(which, home, preprocessing), key, preprocessing["image_size"], build,
                     lambda arrays: len(arrays["images"]) == len(paths))
    return LFWPairs(
        images=torch.from_numpy(arrays["images"]),
        index_a=torch.tensor([position[(r[0], r[1])] for r in rows]),
        index_b=torch.tensor([position[(r[2], r[3])] for r in rows]),
        is_same=torch.tensor([r[0] == r[2] for r in rows], dtype=torch.bool),  # read_pair_list made this the line's kind
        fold=torch.tensor([r[4] for r in rows]),
        people={name for r in rows for name in (r[0], r[2])},
    )
