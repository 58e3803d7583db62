"""OpenCV's Haar cascade: face boxes without landmarks, what the box crops of older checkpoints were tuned on.

Only ``crop="box"`` uses it, and only where OpenCV still ships it (``opencv-python-headless``
below 5; OpenCV 5 moved it out of the main package). The default path, the aligned crop,
never needs it: ``detector`` (MTCNN) finds faces and landmarks on every OpenCV.
"""

from functools import lru_cache

import numpy as np

from .errors import FaceNetEduError

Box = tuple[int, int, int, int]          # (x, y, width, height) in pixels
CASCADE_FILE = "haarcascade_frontalface_default.xml"
DETECT_MAX_SIDE = 800                    # larger photos are shrunk before Haar detection (speed), boxes scaled back


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


def haar_available() -> bool:
    """Whether this OpenCV has the Haar face cascade (``opencv-python-headless`` below 5 does)."""
    try:
        _face_cascade()
    except FaceNetEduError:
        return False
    return True


def haar_face_boxes(
    grey: np.ndarray, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 30
) -> list[Box]:
    """Find frontal faces with OpenCV's Haar cascade, largest first (the boxes ``crop="box"`` was tuned on).

    Args:
        grey: (H, W) float array in [0, 1] (as ``read_image`` returns) or uint8.
        scale_factor: how much the search window grows between scales (1.1 = 10 %).
        min_neighbors: how many overlapping detections a face needs; higher means
            fewer false detections and more missed faces.
        min_size: smallest face side searched for, in pixels of ``grey``.

    Returns:
        A list of boxes (x, y, width, height) in pixels of ``grey``, largest area first;
        empty when no face is found.

    Raises:
        FaceNetEduError: this OpenCV has no Haar cascade (see ``haar_available``).
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
