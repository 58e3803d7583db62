"""From any image to an embedding: read, find the face, crop, resize, one forward pass.

A trained network needs no triplets to handle a NEW image. Triplets only shape the
embedding during training; afterwards a face goes through the network once and comes
out as one L2-normalised vector. That vector is then compared by distance: to one
reference (verification), to a gallery (identification) or to other new faces
(clustering), see ``facenet_edu.matching``. People never seen in training are handled
exactly the same way: nothing about them is stored in the network.

Preprocessing here is exactly the training preprocessing (greyscale, centre-crop to a
square, antialiased bilinear resize with ``facenet_edu.data.resize_images``), with one
step in front for photographs: a face detector (OpenCV's Haar cascade) and a square
crop around the largest face, grown by ``crop_margin`` (a border, not the triplet
margin). Detection is on by default everywhere in the package (here, ``verify``, the
CLI); face crops such as the AT&T or synthetic faces skip it with ``detect=False``.
``embed_faces`` takes the crop margin the model was trained with
(``model.config.crop_margin``) unless told otherwise.
"""

from functools import lru_cache
from typing import Literal, Sequence

import numpy as np
import torch
import torch.nn as nn

from .data import FaceDataset, resize_images
from .errors import FaceNetEduError
from .images import ImageLike, read_image
from .model import ModelConfig, embed

Box = tuple[int, int, int, int]          # (x, y, width, height) in pixels
NoFacePolicy = Literal["error", "whole"]
CASCADE_FILE = "haarcascade_frontalface_default.xml"
DETECT_MAX_SIDE = 800                    # larger photos are shrunk before detection (speed), boxes scaled back
DEFAULT_CROP_MARGIN = ModelConfig.crop_margin  # 0.2: the border of ModelConfig(), for callers without a model


@lru_cache(maxsize=1)
def _face_cascade():
    """The frontal-face Haar cascade shipped inside opencv-python-headless, built once on first use."""
    import cv2

    if not hasattr(cv2, "CascadeClassifier") or not getattr(cv2, "data", None):
        raise FaceNetEduError(
            f"OpenCV {cv2.__version__} has no Haar face detector (OpenCV 5 moved it out of the main package). "
            "Install `pip install 'opencv-python-headless<5'`, or pass detect=False / --no-detect for face crops."
        )
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
    if cascade.empty():
        raise FaceNetEduError(
            f"OpenCV could not load {CASCADE_FILE}; reinstall opencv-python-headless (<5), "
            "or pass detect=False / --no-detect for face crops."
        )
    return cascade


def detect_faces(
    grey: np.ndarray, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 30
) -> list[Box]:
    """Find frontal faces with OpenCV's Haar cascade, largest first.

    Args:
        grey: (H, W) float array in [0, 1] (as ``read_image`` returns) or uint8.
        scale_factor: how much the search window grows between scales (1.1 = 10 %).
        min_neighbors: how many overlapping detections a face needs; higher means
            fewer false detections and more missed faces.
        min_size: smallest face side searched for, in pixels of ``grey``.

    Returns:
        A list of boxes (x, y, width, height) in pixels of ``grey``, largest area first;
        empty when no face is found.
    """
    import cv2

    grey = np.asarray(grey)
    if grey.dtype != np.uint8:
        grey = np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)
    scale = min(1.0, DETECT_MAX_SIDE / max(grey.shape))
    small = grey if scale == 1.0 else cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small = cv2.equalizeHist(small)  # the cascade is trained on contrast-normalised windows
    size = max(1, round(min_size * scale))
    found = _face_cascade().detectMultiScale(small, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(size, size))
    boxes = [tuple(int(round(v / scale)) for v in box) for box in np.asarray(found).reshape(-1, 4)]
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


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


def face_crop(
    image: ImageLike, detect: bool = True, on_no_face: NoFacePolicy = "error", crop_margin: float | None = None
) -> np.ndarray:
    """Read an image and return the region to embed: the largest face with a border, or the whole image.

    Args:
        image: a file path, Pillow image or array (see ``facenet_edu.images.read_image``).
        detect: find the face first; pass False for images that are already face crops.
        on_no_face: ``"error"`` raises when no face is found; ``"whole"`` uses the whole image.
        crop_margin: border around the detected face, as a fraction of its side, on each side;
            None for ``DEFAULT_CROP_MARGIN`` (``ModelConfig().crop_margin``).

    Returns:
        (h, w) float32 array in [0, 1]; square when a face was found.

    Raises:
        FaceNetEduError: unreadable image, or no face found with ``on_no_face="error"``.
    """
    if on_no_face not in ("error", "whole"):
        raise FaceNetEduError(f'on_no_face must be "error" or "whole", got {on_no_face!r}.')
    grey = read_image(image)  # (H, W)
    if not detect:
        return grey
    boxes = detect_faces(grey)
    if not boxes:
        if on_no_face == "whole":
            return grey
        where = str(image) if isinstance(image, (str, bytes)) or hasattr(image, "__fspath__") else "the image"
        raise FaceNetEduError(
            f"No face found in {where}. If the image is already a face crop (AT&T, synthetic faces), "
            "pass detect=False (--no-detect on the command line); otherwise use a clearer, frontal photograph."
        )
    return crop_face(grey, boxes[0], DEFAULT_CROP_MARGIN if crop_margin is None else crop_margin)


def prepare_face(
    image: ImageLike, image_size: int, detect: bool = True, on_no_face: NoFacePolicy = "error",
    crop_margin: float | None = None,
) -> torch.Tensor:
    """Turn one image into the network's input, preprocessed exactly as in training.

    Greyscale, (optionally) crop the largest face with a border, then centre-crop to a
    square and resize with antialiased bilinear interpolation (``resize_images``).

    Args:
        image: a file path, Pillow image or array.
        image_size: side of the network's input, ``model.config.image_size``.
        detect, on_no_face, crop_margin: see ``face_crop``; pass ``model.config.crop_margin``
            for a trained model (``embed_faces`` does).

    Returns:
        (1, 1, image_size, image_size) float tensor in [0, 1].
    """
    return to_network_input(face_crop(image, detect, on_no_face, crop_margin), image_size)  # (1, 1, S, S)


def prepare_faces(
    images: Sequence[ImageLike], image_size: int, detect: bool = True, on_no_face: NoFacePolicy = "error",
    crop_margin: float | None = None,
) -> torch.Tensor:
    """``prepare_face`` for each image, stacked.

    Args:
        images: file paths, Pillow images or arrays, each of any size.
        image_size, detect, on_no_face, crop_margin: see ``prepare_face``.

    Returns:
        (N, 1, image_size, image_size) float tensor in [0, 1].
    """
    if len(images) == 0:
        return torch.empty(0, 1, image_size, image_size)
    return torch.cat([prepare_face(image, image_size, detect, on_no_face, crop_margin) for image in images])


def embed_faces(
    model: nn.Module,
    images: Sequence[ImageLike],
    detect: bool = True,
    on_no_face: NoFacePolicy = "error",
    crop_margin: float | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Embed new images: preprocess as in training, then one forward pass each. No triplets are involved.

    Works the same for people the network never saw: the result is a point on the unit
    sphere, to be compared by distance with ``facenet_edu.matching``.

    Args:
        model: an ``EmbeddingNet``; its ``config.image_size`` sets the input size.
        images: file paths, Pillow images or arrays.
        detect, on_no_face: see ``face_crop``.
        crop_margin: border around a detected face; None for the one the model was
            trained with, ``model.config.crop_margin``.

    Returns:
        (N, D) CPU tensor, each row of unit L2 norm.
    """
    config = model.config
    crop_margin = getattr(config, "crop_margin", DEFAULT_CROP_MARGIN) if crop_margin is None else crop_margin
    return embed(model, prepare_faces(images, config.image_size, detect, on_no_face, crop_margin), device=device)


def prepare_dataset(dataset: FaceDataset, model_config: ModelConfig, detect: bool = True) -> FaceDataset:
    """Every image of a dataset prepared as the model was trained: face box, crop border, size.

    Args:
        dataset: faces of any size (AT&T's 92x112 frames, a folder of photographs, ...).
        model_config: the checkpoint's ``image_size`` and ``crop_margin``.
        detect: find the face first (an image where none is found is used whole);
            False for images that are already face crops (synthetic faces).

    Returns:
        A ``FaceDataset`` with the same labels and images (N, 1, S, S), S = ``model_config.image_size``.
    """
    images = prepare_faces(list(dataset.images[:, 0]), model_config.image_size, detect=detect, on_no_face="whole",
                           crop_margin=model_config.crop_margin)
    return FaceDataset(images, dataset.labels, dataset.names, dataset.source, dataset.skipped)
