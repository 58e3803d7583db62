"""From any image to an embedding: read, find the face, crop, resize, one forward pass.

A trained network needs no triplets to handle a NEW image: a face goes through it once
and comes out as one L2-normalised vector, compared by distance (``matching``). People
never seen in training are handled exactly the same way.

Preprocessing here is exactly the training preprocessing, with one step in front for
photographs: find the face and cut it out the way the model's ``config.crop`` says.

- ``crop="aligned"`` (the default): the detector (``facenet_edu.detector``, MTCNN) finds
  the face and its 5 landmarks, and ``align.align_face`` warps the landmarks onto the
  template, straight to the network's ``image_size``.
- ``crop="box"`` (checkpoints older than aligned crops): a square around the face box grown
  by ``crop_margin`` on each side (a border, not the triplet margin), then greyscale
  centre-crop and antialiased bilinear resize (``data.resize_images``). The box is Haar's
  where OpenCV has it (``haar``; the margins were tuned on its boxes), else the detector's,
  which is narrower and taller (median 94 x 122 pixels against Haar's 117 x 117 on 78 LFW
  photos), so the square crop frames the face about 4 % larger and 2 pixels lower.

When a photo shows several faces, the largest is used; ``prepare_face_and_count`` says
how many were found, so a program can tell the user ("2 faces found, used the largest").
Detection is on by default everywhere (face crops can skip it with ``detect=False``);
``embed_faces`` uses the model's own ``config.crop`` and ``config.crop_margin``.
"""

from typing import Literal, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn as nn

from .align import align_face
from .data import FaceDataset, resize_images
from .detector import Face, detect_faces
from .errors import FaceNetEduError, check_number
from .haar import Box, haar_available, haar_face_boxes
from .images import ImageLike, read_image
from .model import CROPS, ModelConfig, embed

NoFacePolicy = Literal["error", "whole"]
DEFAULT_CROP_MARGIN = ModelConfig.crop_margin  # 0.2: the border of ModelConfig(), for callers without a model
DEFAULT_CROP = ModelConfig.crop          # "aligned": the crop of ModelConfig(), for callers without a model
MIN_FACE_SHARE = 0.1                     # faces smaller than this share of the photo's shorter side are not searched for
MAX_NO_FACE_SHARE = 0.5                  # prepare_dataset refuses a dataset where more images than this have no face


def find_faces(grey: np.ndarray) -> list[Face]:
    """The faces of a photo to embed, largest first: ``detect_faces`` searching faces of at least
    ``MIN_FACE_SHARE`` of the shorter side (and 20 pixels).

    A photo brought to be recognised shows its person large; skipping the smallest scales of
    MTCNN's pyramid is what keeps detection of a 640-pixel photo under 100 ms on 2 cores
    (``benchmarks/detection.py``). The largest face, the one used, is never that small.

    Args:
        grey: (H, W) float array in [0, 1] or uint8.
    """
    return detect_faces(grey, min_face_size=max(20, round(MIN_FACE_SHARE * min(grey.shape[:2]))))


def face_boxes(grey: np.ndarray) -> list[Box]:
    """The face boxes ``crop="box"`` cuts around, largest first: Haar's where OpenCV has it, else the detector's.

    Args:
        grey: (H, W) float array in [0, 1] or uint8.
    """
    if haar_available():
        return haar_face_boxes(grey)
    return [face.box for face in find_faces(grey)]


def square_crop_box(box: Box, image_shape: tuple[int, int], crop_margin: float = DEFAULT_CROP_MARGIN) -> Box:
    """A square around ``box``, grown by ``crop_margin`` of its side on each side, moved and shrunk to fit the image.

    Args:
        box: (x, y, width, height) of a face.
        image_shape: (H, W) of the image.
        crop_margin: extra border as a fraction of the face side, on each side (0.2 = 20 %).
    """
    x, y, w, h = box
    height, width = image_shape
    side = min(round(max(w, h) * (1 + 2 * crop_margin)), height, width)
    cx, cy = x + w / 2, y + h / 2
    left = int(np.clip(round(cx - side / 2), 0, width - side))
    top = int(np.clip(round(cy - side / 2), 0, height - side))
    return left, top, side, side


def crop_face(grey: np.ndarray, box: Box, crop_margin: float) -> np.ndarray:
    """The square around a face ``box`` grown by ``crop_margin`` (``square_crop_box``), cut out of ``grey`` (H, W)."""
    x, y, w, h = square_crop_box(box, grey.shape, crop_margin)
    return grey[y : y + h, x : x + w]


def to_network_input(crop: np.ndarray, image_size: int) -> torch.Tensor:
    """A (h, w) crop as the network's (1, 1, image_size, image_size) input: centre square, antialiased resize."""
    return resize_images(torch.from_numpy(np.ascontiguousarray(crop))[None, None], (image_size, image_size))


def _where(image: ImageLike) -> str:
    return str(image) if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__") else "the image"


def _check_crop(crop: str | None) -> str:
    crop = DEFAULT_CROP if crop is None else crop
    if not isinstance(crop, str) or crop not in CROPS:
        raise FaceNetEduError(f"crop must be one of {', '.join(map(repr, CROPS))}, got {crop!r}.")
    return crop


def face_crop_and_count(
    image: ImageLike, detect: bool = True, on_no_face: NoFacePolicy = "error", crop_margin: float | None = None,
    crop: str | None = None, image_size: int = ModelConfig.image_size,
) -> tuple[np.ndarray, int]:
    """Read an image, find its faces, and return the region to embed of the largest one, with the number found.

    Args:
        image: a file path, Pillow image or array (see ``facenet_edu.images.read_image``).
        detect: find the face first; pass False for images that are already face crops
            (then the whole image is returned and the count is 0).
        on_no_face: ``"error"`` raises when no face is found; ``"whole"`` uses the whole image.
        crop_margin: ``crop="box"`` only: border around the face box, as a fraction of its side,
            on each side; None for ``DEFAULT_CROP_MARGIN`` (``ModelConfig().crop_margin``).
        crop: ``"aligned"`` (landmarks warped onto ``align.TEMPLATE``) or ``"box"`` (square
            around the face box); None for ``DEFAULT_CROP`` (``ModelConfig().crop``).
        image_size: ``crop="aligned"`` only: the side of the aligned crop.

    Returns:
        The crop, a (h, w) float32 array in [0, 1]: (image_size, image_size) for an aligned
        face, a square of the photo for a box, the whole image when no face is used; and
        the number of faces found in the image (the largest is used).

    Raises:
        FaceNetEduError: unreadable image, bad ``crop`` or ``on_no_face``, or no face
            found with ``on_no_face="error"``.
    """
    if on_no_face not in ("error", "whole"):
        raise FaceNetEduError(f'on_no_face must be "error" or "whole", got {on_no_face!r}.')
    crop = _check_crop(crop)
    crop_margin = DEFAULT_CROP_MARGIN if crop_margin is None else check_number("crop_margin", crop_margin, 0.0, 1.0)
    grey = read_image(image)  # (H, W)
    if not detect:
        return grey, 0
    found = find_faces(grey) if crop == "aligned" else face_boxes(grey)  # largest first
    if not found:
        if on_no_face == "whole":
            return grey, 0
        raise FaceNetEduError(
            f"No face found in {_where(image)}. If the image is already a face crop (AT&T, synthetic faces), "
            "pass detect=False (--no-detect on the command line); otherwise use a clearer, frontal photograph."
        )
    if crop == "aligned":
        return align_face(grey, found[0].landmarks, image_size), len(found)  # (S, S)
    return crop_face(grey, found[0], crop_margin), len(found)


def face_crop(
    image: ImageLike, detect: bool = True, on_no_face: NoFacePolicy = "error", crop_margin: float | None = None,
    crop: str | None = None, image_size: int = ModelConfig.image_size,
) -> np.ndarray:
    """Read an image and return the region to embed: the largest face, or the whole image (``face_crop_and_count``'s crop)."""
    return face_crop_and_count(image, detect, on_no_face, crop_margin, crop, image_size)[0]


def prepare_aligned_face(image: ImageLike, landmarks: np.ndarray, image_size: int) -> torch.Tensor:
    """One photo as the network's input from KNOWN landmarks, no detection: the path of every aligned crop.

    ``prepare_face`` with ``crop="aligned"`` takes the same two steps (``align.align_face``,
    then ``to_network_input``, which only copies an S x S crop) with the landmarks the
    detector found, so a photo with known landmarks (LFW's aligned photos and
    ``align.LFW_LANDMARKS``) and a new photo where the detector finds the same landmarks
    give the same tensor, bit for bit (a test checks it). An array already read with
    ``images.read_image`` may be passed instead of the path: reading it again changes nothing.

    Args:
        image: a file path, Pillow image or array.
        landmarks: (5, 2) (x, y) in pixels of the image: left eye, right eye, nose tip,
            left and right mouth corner.
        image_size: side of the network's input, ``model.config.image_size``.

    Returns:
        (1, 1, image_size, image_size) float tensor in [0, 1].
    """
    return to_network_input(align_face(read_image(image), landmarks, image_size), image_size)  # (1, 1, S, S)


def prepare_face_and_count(
    image: ImageLike, image_size: int, detect: bool = True, on_no_face: NoFacePolicy = "error",
    crop_margin: float | None = None, crop: str | None = None,
) -> tuple[torch.Tensor, int]:
    """``prepare_face``, and the number of faces found in the image (the largest is used; 0 without detection).

    Returns:
        (1, 1, image_size, image_size) float tensor in [0, 1], and the count.
    """
    region, count = face_crop_and_count(image, detect, on_no_face, crop_margin, crop, image_size)
    return to_network_input(region, image_size), count  # (1, 1, S, S); an aligned crop is S x S already: copied as is


def prepare_face(
    image: ImageLike, image_size: int, detect: bool = True, on_no_face: NoFacePolicy = "error",
    crop_margin: float | None = None, crop: str | None = None,
) -> torch.Tensor:
    """Turn one image into the network's input, preprocessed exactly as in training.

    Greyscale, (optionally) find the largest face and cut it out as ``crop`` says: aligned
    onto the template at ``image_size`` (``prepare_aligned_face``), or a square around the
    box with a border, centre-cropped and resized with antialiased bilinear interpolation
    (``resize_images``). An image used whole is centre-cropped and resized the same way.

    Args:
        image: a file path, Pillow image or array.
        image_size: side of the network's input, ``model.config.image_size``.
        detect, on_no_face, crop_margin, crop: see ``face_crop_and_count``; pass
            ``model.config.crop`` and ``model.config.crop_margin`` for a trained model
            (``embed_faces`` does).

    Returns:
        (1, 1, image_size, image_size) float tensor in [0, 1].
    """
    return prepare_face_and_count(image, image_size, detect, on_no_face, crop_margin, crop)[0]


def prepare_faces_and_counts(
    images: Sequence[ImageLike], image_size: int, detect: bool = True, on_no_face: NoFacePolicy = "error",
    crop_margin: float | None = None, crop: str | None = None,
) -> tuple[torch.Tensor, list[int]]:
    """``prepare_face_and_count`` for each image: the stacked inputs and the faces found in each.

    Returns:
        (N, 1, image_size, image_size) float tensor in [0, 1], and N counts (0 where no face was used).
    """
    if len(images) == 0:
        return torch.empty(0, 1, image_size, image_size), []
    prepared = [prepare_face_and_count(image, image_size, detect, on_no_face, crop_margin, crop) for image in images]
    return torch.cat([face for face, _ in prepared]), [count for _, count in prepared]


def prepare_faces(
    images: Sequence[ImageLike], image_size: int, detect: bool = True, on_no_face: NoFacePolicy = "error",
    crop_margin: float | None = None, crop: str | None = None,
) -> torch.Tensor:
    """``prepare_face`` for each image, stacked.

    Args:
        images: file paths, Pillow images or arrays, each of any size.
        image_size, detect, on_no_face, crop_margin, crop: see ``prepare_face``.

    Returns:
        (N, 1, image_size, image_size) float tensor in [0, 1].
    """
    return prepare_faces_and_counts(images, image_size, detect, on_no_face, crop_margin, crop)[0]


def embed_faces(
    model: nn.Module,
    images: Sequence[ImageLike],
    detect: bool = True,
    on_no_face: NoFacePolicy = "error",
    crop_margin: float | None = None,
    device: torch.device | str | None = None,
    crop: str | None = None,
) -> torch.Tensor:
    """Embed new images: preprocess as in training, then one forward pass each. No triplets are involved.

    Works the same for people the network never saw: the result is a point on the unit
    sphere, to be compared by distance with ``facenet_edu.matching``.

    Args:
        model: an ``EmbeddingNet``; its ``config.image_size`` sets the input size.
        images: file paths, Pillow images or arrays.
        detect, on_no_face: see ``face_crop_and_count``.
        crop_margin, crop: the face crop; None for the one the model was trained with,
            ``model.config.crop_margin`` and ``model.config.crop``.

    Returns:
        (N, D) CPU tensor, each row of unit L2 norm.
    """
    config = model.config
    crop_margin = getattr(config, "crop_margin", DEFAULT_CROP_MARGIN) if crop_margin is None else crop_margin
    crop = getattr(config, "crop", DEFAULT_CROP) if crop is None else crop
    return embed(model, prepare_faces(images, config.image_size, detect, on_no_face, crop_margin, crop), device=device)


class PreparedDataset(NamedTuple):
    """What ``prepare_dataset_counted`` returns.

    Attributes:
        dataset: every image prepared for the network, same labels and order; an image
            where no face was found is used whole (centre square, resized).
        no_face: indices (into the dataset) of the images where no face was found.
        faces_found: the number of faces found in each image (0 without detection).
    """

    dataset: FaceDataset
    no_face: list[int]
    faces_found: list[int]


def prepare_dataset_counted(
    dataset: FaceDataset, model_config: ModelConfig, detect: bool = True, max_no_face_share: float = MAX_NO_FACE_SHARE,
) -> PreparedDataset:
    """Every image of a dataset prepared as the model was trained, and where no face was found.

    An image without a face is used whole (AT&T's frames are nearly face crops anyway),
    so a few misses cost little; but when more than ``max_no_face_share`` of the images
    (half, by default) have none, the images are not what the detector or the model
    expect (already tight crops, wrong folder, drawings) and the dataset is refused.

    Args:
        dataset: faces of any size (AT&T's 92x112 frames, a folder of photographs, ...).
        model_config: the checkpoint's ``image_size``, ``crop`` and ``crop_margin``.
        detect: find the face first; False for images that are already face crops
            (synthetic faces): then nothing is counted as missing.
        max_no_face_share: the largest share (0 to 1) of images allowed to have no face.

    Returns:
        A ``PreparedDataset``: ``dataset`` with images (N, 1, S, S), S = ``model_config.image_size``,
        ``no_face`` (indices) and ``faces_found`` (N counts); report ``len(no_face)`` to the user.

    Raises:
        FaceNetEduError: more than ``max_no_face_share`` of the images have no face.
    """
    check_number("max_no_face_share", max_no_face_share, 0.0, 1.0)
    images, counts = prepare_faces_and_counts(list(dataset.images[:, 0]), model_config.image_size, detect=detect,
                                              on_no_face="whole", crop_margin=model_config.crop_margin,
                                              crop=model_config.crop)
    no_face = [i for i, count in enumerate(counts) if count == 0] if detect else []
    if len(dataset) and len(no_face) > max_no_face_share * len(dataset):
        raise FaceNetEduError(
            f"No face found in {len(no_face)} of {len(dataset)} images of {dataset.source or 'the dataset'} "
            f"(more than {max_no_face_share:.0%}). If they are already face crops, pass detect=False "
            "(--no-detect on the command line); otherwise check that the folder holds photographs of faces."
        )
    prepared = FaceDataset(images, dataset.labels, dataset.names, dataset.source, dataset.skipped)
    return PreparedDataset(prepared, no_face, counts)


def prepare_dataset(
    dataset: FaceDataset, model_config: ModelConfig, detect: bool = True, max_no_face_share: float = MAX_NO_FACE_SHARE,
) -> FaceDataset:
    """Every image of a dataset prepared as the model was trained (``prepare_dataset_counted``'s dataset).

    Images where no face is found are used whole; use ``prepare_dataset_counted`` to
    learn which, and to tell the user how many.

    Raises:
        FaceNetEduError: more than ``max_no_face_share`` (half, by default) of the images have no face.
    """
    return prepare_dataset_counted(dataset, model_config, detect, max_no_face_share).dataset
