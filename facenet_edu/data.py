"""Face datasets: one object for synthetic faces, any folder-per-person tree, Olivetti and LFW.

Every dataset is a ``FaceDataset``: images as a float tensor (N, 1, H, W) in [0, 1],
integer labels and the name of each identity. Splits are by identity, so the people
in a test set never appear in training: this is what FaceNet verification means.
"""

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .errors import FaceNetEduError
from .images import read_image
from .synthetic import make_synthetic_faces



@dataclass
class FaceDataset:
    """Greyscale faces with identity labels.

    Attributes:
        images: (N, 1, H, W) float tensor in [0, 1].
        labels: (N,) long tensor; labels[i] indexes ``names``.
        names: the name of each identity.
        source: a short description of where the images came from.
        skipped: paths of files that could not be read (folder datasets only).
    """

    images: torch.Tensor
    labels: torch.Tensor
    names: list[str]
    source: str = ""
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[1] != 1:
            raise ValueError(f"images must be (N, 1, H, W), got {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must be (N,) with one label per image")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_identities(self) -> int:
        """Number of identities that have at least one image."""
        return int(self.labels.unique().numel())

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) in pixels."""
        return tuple(self.images.shape[-2:])

    def subset(self, indices: torch.Tensor | np.ndarray | list[int]) -> "FaceDataset":
        """The images at ``indices``, keeping labels and names as they are."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return FaceDataset(self.images[idx], self.labels[idx], self.names, self.source, self.skipped)

    def resize(self, size: int | tuple[int, int]) -> "FaceDataset":
        """Resize every image to ``size`` (an int means square), cropping the centre to the target's aspect first."""
        h_out, w_out = (size, size) if isinstance(size, int) else size
        return FaceDataset(resize_images(self.images, (h_out, w_out)), self.labels, self.names, self.source, self.skipped)

    def summary(self) -> str:
        """A few lines: source, identities, images, image size, images per identity."""
        counts = torch.bincount(self.labels).tolist() if len(self) else []
        counts = [c for c in counts if c > 0]
        h, w = self.image_size
        lines = [
            f"source:      {self.source}",
            f"identities:  {self.num_identities}",
            f"images:      {len(self)}",
            f"image size:  {h} x {w} (height x width), greyscale",
        ]
        if counts:
            lines.append(f"per identity: {min(counts)} to {max(counts)} images (mean {np.mean(counts):.1f})")
        if self.skipped:
            lines.append(f"skipped:     {len(self.skipped)} unreadable files")
        return "\n".join(lines)


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Centre-crop (N, 1, H, W) images to the aspect of ``size`` and resize them (antialiased bilinear)."""
    h_out, w_out = size
    _, _, h, w = images.shape
    if h * w_out > w * h_out:  # too tall: crop rows
        h_crop = round(w * h_out / w_out)
        top = (h - h_crop) // 2
        images = images[:, :, top : top + h_crop]
    elif h * w_out < w * h_out:  # too wide: crop columns
        w_crop = round(h * w_out / h_out)
        left = (w - w_crop) // 2
        images = images[:, :, :, left : left + w_crop]
    if images.shape[-2:] == (h_out, w_out):
        return images.clone()
    return F.interpolate(images, size=(h_out, w_out), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def synthetic_dataset(
    num_identities: int = 40, images_per_identity: int = 10, image_size: int = 64, seed: int = 0
) -> FaceDataset:
    """The embedded default: generated faces (see ``facenet_edu.synthetic``), offline and deterministic."""
    images, labels = make_synthetic_faces(num_identities, images_per_identity, image_size, seed)
    names = [f"synth{i:03d}" for i in range(num_identities)]
    return FaceDataset(images, labels, names, f"synthetic faces (seed {seed})")


def _natural_key(text: str) -> list:
    """Sort key that puts s2 before s10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


MAX_FOLDER_DEPTH = 16  # levels of subfolders below a person's folder; deeper trees are refused, not recursed into


def _person_files(person_dir: Path) -> tuple[list[Path], list[str]]:
    """Every visible file below ``person_dir`` (an iterative walk), and the folder links it did not follow.

    Raises:
        FaceNetEduError: a folder lies more than ``MAX_FOLDER_DEPTH`` levels below ``person_dir``.
    """
    files, links = [], []
    stack = [(person_dir, 0)]  # an explicit stack: no recursion, so no RecursionError however deep the tree
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as err:
            raise FaceNetEduError(f"{folder}: cannot list this folder ({err.strerror}); fix its permissions.") from err
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if depth + 1 > MAX_FOLDER_DEPTH:
                    raise FaceNetEduError(
                        f"{entry.path} lies more than {MAX_FOLDER_DEPTH} folders below {person_dir}; a person's images "
                        f"must sit in their folder or at most {MAX_FOLDER_DEPTH} levels of subfolders. Flatten the tree."
                    )
                stack.append((Path(entry.path), depth + 1))
            elif entry.is_symlink() and entry.is_dir():
                links.append(entry.path)  # a folder link is never followed (it could loop or pull in other people)
            elif entry.is_file():
                files.append(Path(entry.path))
    return files, links


def read_image_folder(root: str | Path, image_size: int | tuple[int, int] | None = None) -> FaceDataset:
    """Read a folder-per-person tree: ``root/<person>/<image>`` (images may sit in subfolders).

    Every file Pillow can read counts; files that cannot be read are skipped, listed
    in ``dataset.skipped`` and reported in one warning. Files directly in ``root``
    (such as a README) belong to no person and are ignored, and so are hidden names
    (starting with ".").

    Links: ``root`` itself may be a link, and a link to a FILE is read like the file,
    but a link to a FOLDER (a person's folder or one below it) is never followed:
    it could point back at ``root`` and make a phantom person holding everyone's
    photos, or loop forever. Such links are named in one warning. The walk is
    iterative and goes at most ``MAX_FOLDER_DEPTH`` folders below a person's folder.

    Args:
        root: the folder holding one subfolder per person (the AT&T faces: ``sN/M.pgm``).
        image_size: resize every image to this size; by default the most common size.

    Raises:
        FaceNetEduError: ``root`` is missing or holds no readable image, or a person's
            folder tree is deeper than ``MAX_FOLDER_DEPTH``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FaceNetEduError(f"{root}: no such folder. Point --data-dir at a folder with one subfolder per person.")
    arrays, labels, names, skipped, links = [], [], [], [], []
    people = []
    for entry in os.scandir(root):
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            people.append(Path(entry.path))
        elif entry.is_symlink() and entry.is_dir():
            links.append(entry.path)
    for person_dir in sorted(people, key=lambda d: _natural_key(d.name)):
        found, person_links = _person_files(person_dir)
        links += person_links
        files = sorted(found, key=lambda f: _natural_key(str(f.relative_to(person_dir))))
        person_arrays = []
        for path in files:
            try:
                person_arrays.append(read_image(path))
            except FaceNetEduError:
                skipped.append(str(path))
        if person_arrays:
            arrays += person_arrays
            labels += [len(names)] * len(person_arrays)
            names.append(person_dir.name)
    if links:
        warnings.warn(f"Did not follow {len(links)} folder link(s) under {root}, e.g. {links[0]}: links to folders are "
                      "never followed; put the person's images in a real folder.", stacklevel=2)
    if skipped:
        warnings.warn(f"Skipped {len(skipped)} unreadable files under {root}, e.g. {skipped[0]}", stacklevel=2)
    if not arrays:
        raise FaceNetEduError(
            f"{root}: found no readable images in person subfolders. Expected root/<person>/<image> files."
        )
    shapes = [a.shape for a in arrays]
    target = image_size or max(set(shapes), key=shapes.count)
    tensors = [resize_images(torch.from_numpy(a)[None, None], target if isinstance(target, tuple) else (target, target)) for a in arrays]
    images = torch.cat(tensors)
    return FaceDataset(images, torch.tensor(labels), names, f"folder {root.name}", skipped)


def default_data_dir() -> Path:
    """Where downloads are cached: $FACENET_EDU_DATA, else the checkout's ``data/``, else ~/.cache/facenet_edu."""
    if os.environ.get("FACENET_EDU_DATA"):
        return Path(os.environ["FACENET_EDU_DATA"])
    checkout_data = Path(__file__).resolve().parent.parent / "data"
    return checkout_data if checkout_data.is_dir() else Path.home() / ".cache" / "facenet_edu"


def _download_error(name: str, err: Exception, data_home: Path, how: str) -> FaceNetEduError:
    return FaceNetEduError(
        f"Could not download the {name} faces ({type(err).__name__}: {err}). Without a network, {how} "
        f"and put it under {data_home}, or use --dataset synthetic (offline) or --dataset folder --data-dir DIR."
    )


def fetch_olivetti(data_dir: str | Path | None = None) -> FaceDataset:
    """The Olivetti faces (the AT&T database, 40 people x 10 images, 64x64) via scikit-learn, cached under ``data_dir``."""
    from sklearn.datasets import fetch_olivetti_faces

    data_home = Path(data_dir) if data_dir else default_data_dir()
    try:
        bunch = fetch_olivetti_faces(data_home=str(data_home))
    except Exception as err:  # the fetcher raises URLError, HTTPError or OSError offline
        raise _download_error("Olivetti", err, data_home, "download olivetti_py3.pkz (scikit-learn's Olivetti file)") from err
    images = torch.from_numpy(bunch.images.astype(np.float32)).unsqueeze(1)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return FaceDataset(images, labels, [f"s{i + 1}" for i in range(40)], "Olivetti faces (AT&T)")


def read_att_faces(folder: str | Path) -> FaceDataset:
    """The AT&T faces (``sN/M.pgm``, or any folder per person) read from ``folder``, named as AT&T's."""
    dataset = read_image_folder(folder)
    dataset.source = f"AT&T faces ({Path(folder).name})"
    return dataset


def find_att_faces() -> Path | None:
    """The AT&T faces folder if one is at hand: $FACENET_EDU_ATT, ``data/att_faces``, or ``../shared/data/att_faces``."""
    here = Path(__file__).resolve().parent.parent
    candidates = [os.environ.get("FACENET_EDU_ATT"), default_data_dir() / "att_faces", here / "data" / "att_faces",
                  here.parent / "shared" / "data" / "att_faces"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "s1").is_dir():
            return Path(candidate)
    return None


def load_course_faces(image_size: int | None = 64, prefer: str = "att", seed: int = 0) -> FaceDataset:
    """Real faces when they are at hand, otherwise the synthetic faces; ``dataset.source`` says which.

    Tries, in order: the AT&T folder (``find_att_faces``), the Olivetti faces (cached
    or downloaded), then the synthetic faces. ``prefer="synthetic"`` skips the first two.

    Args:
        image_size: resize to this square size; None keeps the source's size (AT&T's
            92x112 frames, for the detector and the course model).
    """
    if prefer != "synthetic":
        att = find_att_faces()
        if att is not None:
            faces = read_att_faces(att)
            return faces.resize(image_size) if image_size else faces
        try:
            olivetti = fetch_olivetti()
            return olivetti.resize(image_size) if image_size else olivetti
        except FaceNetEduError as err:
            warnings.warn(f"Using synthetic faces: {err}", stacklevel=2)
    return synthetic_dataset(image_size=image_size or 64, seed=seed)
