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

The photos are then read by this module, not by scikit-learn's loader, so they get
the course's ONE preprocessing, the same as any new photograph (``facenet_edu.faces``):
greyscale by Pillow's "L" conversion, a square crop of the face box grown by
``crop_margin``, an antialiased resize to ``image_size``. LFW's photos are aligned, so
instead of running the detector on all 13,233 of them we use ``LFW_FACE_BOX``, the
median box OpenCV's detector finds on them (a test checks it still does). Prepared
faces are cached under ``data/cache/`` as float32, exactly as prepared (written all-or-nothing), so only the first
load reads the JPEGs (about a minute on a 2-core CPU).
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import FaceDataset, default_data_dir
from .errors import FaceNetEduError
from .faces import crop_face, to_network_input
from .files import write_atomically
from .images import read_image
from .runtime import progress_bar

LFW_ENV_VAR = "FACENET_EDU_LFW"
PHOTO_SIZE = 250
# (x, y, width, height): the median Haar-cascade face box on the 250x250 deep-funneled photos
# (measured on 300 random photos; the 10th to 90th percentiles of x and y lie within 7 pixels).
LFW_FACE_BOX = (67, 66, 116, 116)
PAIR_LISTS = {"devtrain": "pairsDevTrain.txt", "devtest": "pairsDevTest.txt", "view2": "pairs.txt"}
PHOTO_FOLDER = "lfw_funneled"


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


def read_pair_list(path: str | Path) -> list[tuple[str, int, str, int, int]]:
    """Parse an official LFW pair list into (name_a, number_a, name_b, number_b, fold) rows.

    The first line gives the number of folds and of pairs per kind (``10 300``; View 1
    lists give one number). A same-person line reads ``Name n1 n2``; a different-people
    line ``Name1 n1 Name2 n2``.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceNetEduError(f"{path}: no such LFW pair list. It ships with LFW (scikit-learn downloads it with the photos).")
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    header = [int(v) for v in lines[0]]
    per_fold = 2 * header[-1]
    rows = []
    for i, parts in enumerate(lines[1:]):
        fold = i // per_fold
        if len(parts) == 3:
            rows.append((parts[0], int(parts[1]), parts[0], int(parts[2]), fold))
        elif len(parts) == 4:
            rows.append((parts[0], int(parts[1]), parts[2], int(parts[3]), fold))
        else:
            raise FaceNetEduError(f"{path}, line {i + 2}: expected 3 or 4 fields, got {len(parts)}.")
    return rows


def lfw_people_in(home: Path, which: str) -> set[str]:
    """Everybody who appears in one of the pair lists (``devtrain``, ``devtest``, ``view2``)."""
    return {name for row in read_pair_list(home / _pair_file(which)) for name in (row[0], row[2])}


def _pair_file(which: str) -> str:
    if which not in PAIR_LISTS:
        raise FaceNetEduError(f"Unknown LFW pair list {which!r}; choose one of {', '.join(PAIR_LISTS)}.")
    return PAIR_LISTS[which]


def lfw_face_box(photo_shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """``LFW_FACE_BOX`` scaled to a photo of another size (the detector's box, before the crop border)."""
    scale_y, scale_x = photo_shape[0] / PHOTO_SIZE, photo_shape[1] / PHOTO_SIZE
    x, y, w, h = LFW_FACE_BOX
    return round(x * scale_x), round(y * scale_y), round(w * scale_x), round(h * scale_y)


def prepare_lfw_photo(path: str | Path, image_size: int, crop_margin: float) -> torch.Tensor:
    """One LFW photo as the network's input: ``faces.prepare_face``'s crop and resize, with the known face box.

    Returns:
        (1, 1, image_size, image_size) float tensor in [0, 1].
    """
    grey = read_image(path)  # (250, 250)
    return to_network_input(crop_face(grey, lfw_face_box(grey.shape), crop_margin), image_size)


def _photo_path(home: Path, name: str, number: int) -> Path:
    return home / PHOTO_FOLDER / name / f"{name}_{number:04d}.jpg"


def _prepare_many(paths: list[Path], image_size: int, crop_margin: float, progress: bool) -> torch.Tensor:

    out = torch.empty(len(paths), 1, image_size, image_size)
    for i, path in enumerate(progress_bar(paths, desc="reading LFW photos", disable=not progress, mininterval=2)):
        out[i] = prepare_lfw_photo(path, image_size, crop_margin)[0]
    return out


def _cached(key: str, build) -> dict:
    """Load ``data/cache/<key>.npz`` or build it with ``build()`` and write it all-or-nothing."""
    cache = default_data_dir() / "cache"
    path = cache / f"{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError):
            pass  # a damaged cache is rebuilt
    arrays = build()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda handle: np.savez(handle, **arrays))
    except (OSError, FaceNetEduError):
        pass  # a read-only cache folder only costs the next load its time
    return arrays


def _cache_key(kind: str, home: Path, image_size: int, crop_margin: float, extra: str = "") -> str:
    digest = hashlib.sha256(f"{home.resolve()}|{extra}".encode()).hexdigest()[:10]
    return f"lfw_{kind}_{image_size}px_margin{crop_margin:g}_{digest}"


def load_lfw_people(data_dir: str | Path | None = None, image_size: int = 64, crop_margin: float = 0.05,
                    exclude: tuple[str, ...] = ("devtest",), min_images: int = 1, progress: bool = True) -> FaceDataset:
    """LFW's people as a ``FaceDataset``, without the people of the pair lists in ``exclude``.

    Args:
        data_dir: see ``find_lfw_home``.
        image_size, crop_margin: the preprocessing (the course model records its own).
        exclude: pair lists whose people are left out (``"devtest"``: the course model never sees them).
        min_images: keep only people with at least this many photos.
        progress: show a progress bar while reading the photos the first time.
    """
    home = find_lfw_home(data_dir)
    people = sorted(d.name for d in (home / PHOTO_FOLDER).iterdir() if d.is_dir())

    def build() -> dict:
        paths, labels = [], []
        for label, name in enumerate(people):
            files = sorted((home / PHOTO_FOLDER / name).glob("*.jpg"))
            paths += files
            labels += [label] * len(files)
        images = _prepare_many(paths, image_size, crop_margin, progress)
        return {"images": images.numpy(), "labels": np.asarray(labels, np.int64)}

    arrays = _cached(_cache_key("people", home, image_size, crop_margin, str(len(people))), build)
    images = torch.from_numpy(arrays["images"])
    labels = torch.from_numpy(arrays["labels"])
    left_out = set().union(*(lfw_people_in(home, which) for which in exclude)) if exclude else set()
    counts = torch.bincount(labels, minlength=len(people))
    keep_person = torch.tensor([name not in left_out for name in people]) & (counts >= min_images)
    keep = keep_person[labels]
    excluded = f", without the people of {', '.join(exclude)}" if exclude else ""
    return FaceDataset(images[keep], labels[keep], people, f"LFW people with >= {min_images} photos{excluded}")


def load_lfw_pairs(data_dir: str | Path | None = None, which: str = "devtest", image_size: int = 64,
                   crop_margin: float = 0.05, progress: bool = False) -> LFWPairs:
    """One of LFW's official pair lists, with its photos prepared like every other face.

    Args:
        data_dir: see ``find_lfw_home``.
        which: ``"devtest"`` (1,000 pairs, the course's test), ``"devtrain"`` or ``"view2"`` (6,000 pairs in 10 folds).
        image_size, crop_margin: the preprocessing; pass the model's ``config`` values.
    """
    home = find_lfw_home(data_dir)
    rows = read_pair_list(home / _pair_file(which))
    keys = sorted({(r[0], r[1]) for r in rows} | {(r[2], r[3]) for r in rows})
    position = {key: i for i, key in enumerate(keys)}
    paths = [_photo_path(home, name, number) for name, number in keys]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FaceNetEduError(f"{len(missing)} photos of {PAIR_LISTS[which]} are missing from {home}, e.g. {missing[0]}.")

    def build() -> dict:
        return {"images": _prepare_many(paths, image_size, crop_margin, progress).numpy()}

    images = torch.from_numpy(_cached(_cache_key(which, home, image_size, crop_margin), build)["images"])
    return LFWPairs(
        images=images,
        index_a=torch.tensor([position[(r[0], r[1])] for r in rows]),
        index_b=torch.tensor([position[(r[2], r[3])] for r in rows]),
        is_same=torch.tensor([r[0] == r[2] for r in rows]),
        fold=torch.tensor([r[4] for r in rows]),
        people={name for r in rows for name in (r[0], r[2])},
    )
