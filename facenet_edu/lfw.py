"""Labeled Faces in the Wild: the course model's people, and LFW's own verification pairs, prepared.

LFW (Huang et al. 2007) holds 13,233 photos of 5,749 people, 250x250 pixels, aligned
so that every face sits at about the same place. Its official pair lists, and where a
copy is found, are ``lfw_lists``'s; FaceNet's verification protocol is identity-disjoint:
the people of the test pairs are never trained on.

What counts as a photo: a person is a real folder directly inside ``lfw_funneled``
(which may itself be a link); their photos are the regular ``*.jpg`` files directly in
it. Linked person folders and linked photos are not followed (so no link can hand one
person's photos to another name, or make a phantom person of the whole copy); they are
listed in ``dataset.skipped`` with the photos that cannot be read, and one warning says
so. A pair whose photo is missing or unreadable stops the load with its name: a pair
cannot be evaluated without its photos, and dropping it would change the protocol.

The photos are read by this module, not by scikit-learn's loader, so they get the
course's ONE preprocessing, the same as any new photograph (``facenet_edu.faces``):
greyscale by Pillow's "L" conversion, a square crop of the face box grown by
``crop_margin``, an antialiased resize to ``image_size``. ``lfw_preprocessing`` is the
one place that lists these settings: it feeds both ``prepare_lfw_photo`` and the cache
key. LFW's photos are aligned, so instead of running the detector on all 13,233 of them
we use ``LFW_FACE_BOX``, the median box OpenCV's detector finds on them (a test checks
it still does).

The prepared faces are cached (``lfw_cache``: keyed on what they were built from, checked
on load), so only the first load reads the JPEGs.
"""

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data import FaceDataset
from .errors import FaceNetEduError, check_number
from .align import LFW_LANDMARKS, RESAMPLING
from .faces import crop_face, prepare_aligned_face, to_network_input
from .images import read_image
from .lfw_cache import cache_key, cache_path, cached, photo_record
from .lfw_lists import PHOTO_FOLDER, find_lfw_home, lfw_people_in, pair_list_name, parse_pair_list, read_pair_bytes
from .model import CROPS, MAX_IMAGE_SIZE, MIN_IMAGE_SIZE, ModelConfig
from .runtime import progress_bar

PHOTO_SIZE = 250
# (x, y, width, height): the median Haar-cascade face box on the 250x250 deep-funneled photos
# (measured on 300 random photos; the 10th to 90th percentiles of x and y lie within 7 pixels).
LFW_FACE_BOX = (67, 66, 116, 116)


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


def _cache_key(preprocessing: dict, **sources) -> str:
    """``lfw_cache.cache_key`` with what every prepared face depends on: the face box, the landmarks, the resampling."""
    return cache_key(preprocessing, face_box=LFW_FACE_BOX, landmarks=LFW_LANDMARKS.tolist(), resampling=RESAMPLING,
                     **sources)


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


def load_lfw_people(data_dir: str | Path | None = None, image_size: int = 64, crop_margin: float = ModelConfig.crop_margin,
                    exclude: tuple[str, ...] = ("devtest",), min_images: int = 1, progress: bool = True,
                    crop: str = ModelConfig.crop) -> FaceDataset:
    """LFW's people as a ``FaceDataset``, without the people of the pair lists in ``exclude``.

    Photos that cannot be read, and linked folders or photos (not followed), are left
    out, listed in ``dataset.skipped`` and reported in one warning.

    Args:
        data_dir: see ``lfw_lists.find_lfw_home``.
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
    key = _cache_key(preprocessing, photos=[photo_record(home, path, stat) for _, path, stat in photos])

    def build() -> dict:
        images, failed = _prepare_many(paths, preprocessing, progress)
        return {"images": images, "skipped": np.asarray(failed, np.int64)}

    def check(arrays: dict) -> bool:  # the unreadable photos: increasing indices of photos; the rest are the images
        failed = arrays["skipped"]
        return (failed.dtype == np.int64 and failed.ndim == 1 and bool(np.all(np.diff(failed) > 0))
                and (failed.size == 0 or (failed[0] >= 0 and failed[-1] < len(paths)))
                and failed.size + len(arrays["images"]) == len(paths))

    arrays = cached(cache_path("people", home, preprocessing), key, preprocessing["image_size"], build, check,
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
                   crop_margin: float = ModelConfig.crop_margin, progress: bool = False, crop: str = ModelConfig.crop) -> LFWPairs:
    """One of LFW's official pair lists, with its photos prepared like every other face.

    Args:
        data_dir: see ``lfw_lists.find_lfw_home``.
        which: ``"devtest"`` (1,000 pairs, the course's test), ``"devtrain"`` or ``"view2"`` (6,000 pairs in 10 folds).
        image_size, crop_margin, crop: the preprocessing; pass the model's ``config`` values.

    Raises:
        FaceNetEduError: a damaged pair list (``lfw_lists.read_pair_list``), or a photo of its pairs that is
            missing, linked or unreadable (no pair is silently dropped).
    """
    home = find_lfw_home(data_dir)
    preprocessing = lfw_preprocessing(image_size, crop_margin, crop)
    pair_file = home / pair_list_name(which)
    data = read_pair_bytes(pair_file)
    rows = parse_pair_list(data, pair_file)
    keys = sorted({(r[0], r[1]) for r in rows} | {(r[2], r[3]) for r in rows})
    position = {key: i for i, key in enumerate(keys)}
    paths = [_photo_path(home, name, number) for name, number in keys]
    records, missing = [], []
    for path in paths:  # a real person folder and a regular photo file, as load_lfw_people reads them
        if path.parent.is_symlink() or path.is_symlink() or not path.is_file():
            missing.append(path)
        else:
            records.append(photo_record(home, path, path.stat()))
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

    arrays = cached(cache_path(which, home, preprocessing), key, preprocessing["image_size"], build,
                     lambda arrays: len(arrays["images"]) == len(paths))
    return LFWPairs(
        images=torch.from_numpy(arrays["images"]),
        index_a=torch.tensor([position[(r[0], r[1])] for r in rows]),
        index_b=torch.tensor([position[(r[2], r[3])] for r in rows]),
        is_same=torch.tensor([r[0] == r[2] for r in rows], dtype=torch.bool),  # read_pair_list made this the line's kind
        fold=torch.tensor([r[4] for r in rows]),
        people={name for r in rows for name in (r[0], r[2])},
    )
