"""Face alignment: warp a photo so that its 5 landmarks land where the network expects them.

FaceNet-style pipelines do not cut a box around a face: they find 5 landmarks (the two
eyes, the nose tip, the two mouth corners) and move them onto a fixed ``TEMPLATE`` with
a similarity transform (rotation, one scale, translation), so that every face reaches
the network upright, at one size, with its eyes at the same pixels. The transform is the
least-squares one (Umeyama 1991), ``similarity_transform``; ``align_face`` applies it.

Coordinates are (x, y) in pixels, pixel (i, j) covering [i, i+1) x [j, j+1); a template
point (u, v) in unit coordinates is (u * S, v * S) in an S x S network input.
"""

import numpy as np

from .errors import FaceNetEduError, check_number

# The median landmarks on LFW's 250x250 deep-funneled photos, (x, y) in pixels: left eye, right eye,
# nose tip, left and right mouth corner ("left" = the one further left in the photo). Measured with
# facenet_edu.detector on 300 random photos (seed 0) by scripts/measure_lfw_landmarks.py (a face in 299),
# rounded to half a pixel; the 10th-90th percentiles lie within 3 px of the eyes' medians and 6 px of the
# nose's. A test checks that the detector still finds them.
LFW_LANDMARKS = np.array([[104.5, 113.0], [146.5, 112.0], [126.0, 137.0], [108.0, 159.0], [144.5, 158.5]], np.float32)
LFW_CROP = (58, 58, 134, 134)   # (x, y, width, height): the square of a 250x250 LFW photo the template frames
# Where the 5 landmarks go in the network's square input, in unit coordinates (0 = left/top edge, 1 = right/bottom).
# Defined from LFW: a photo with LFW's median landmarks is warped onto exactly the square LFW_CROP.
TEMPLATE = ((LFW_LANDMARKS - np.float32(LFW_CROP[0])) / np.float32(LFW_CROP[2])).astype(np.float32)


RESAMPLING = "float64 exact-area shrink, then bilinear warp, edges repeated"  # part of the LFW cache key


def _points(name: str, points, count: int | None = None) -> np.ndarray:
    """``points`` as a finite (N, 2) float64 array (N = ``count`` when given), else a clear error."""
    array = np.asarray(points, dtype=np.float64) if not isinstance(points, str) else np.array([])
    if array.ndim != 2 or array.shape[1] != 2 or (count is not None and array.shape[0] != count):
        want = f"({count}, 2)" if count is not None else "(N, 2)"
        raise FaceNetEduError(f"{name} must be an array of shape {want} with (x, y) rows, got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise FaceNetEduError(f"{name} holds NaN or infinite values; pass landmarks the detector found.")
    return array


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The rotation, uniform scale and translation that move ``src`` closest to ``dst`` (least squares, Umeyama 1991).

    Minimises sum_i |s R src_i + t - dst_i|^2 over a rotation R (no reflection), a scale
    s > 0 and a translation t.

    Args:
        src: (N, 2) points (x, y), N >= 2, not all at one place.
        dst: (N, 2) points they should move to.

    Returns:
        (2, 3) float64 matrix [s R | t]: ``dst_i ~ M[:, :2] @ src_i + M[:, 2]`` (OpenCV's affine layout).

    Raises:
        FaceNetEduError: shapes differ, fewer than 2 points, non-finite values, or all
            ``src`` points coincide (no scale or rotation can be told).
    """
    src, dst = _points("src", src), _points("dst", dst)
    if src.shape != dst.shape or len(src) < 2:
        raise FaceNetEduError(f"src and dst must be two (N, 2) arrays of the same N >= 2, got {src.shape} and {dst.shape}.")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)                   # (2,)
    src_c, dst_c = src - src_mean, dst - dst_mean                             # (N, 2)
    src_var = (src_c ** 2).sum() / len(src)
    if src_var <= 1e-12 * max(1.0, float(np.abs(src).max()) ** 2):
        raise FaceNetEduError("The source points all lie at one place; a similarity transform needs distinct landmarks.")
    cov = dst_c.T @ src_c / len(src)                                          # (2, 2)
    u, sing, vt = np.linalg.svd(cov)
    d = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])  # refuses a reflection
    rotation = u @ d @ vt                                                     # (2, 2)
    scale = float(np.trace(np.diag(sing) @ d) / src_var)
    translation = dst_mean - scale * rotation @ src_mean                      # (2,)
    return np.hstack([scale * rotation, translation[:, None]])                # (2, 3)


def align_face(grey: np.ndarray, landmarks: np.ndarray, image_size: int) -> np.ndarray:
    """Warp a photo so that its 5 ``landmarks`` land on ``TEMPLATE * image_size``: the aligned face crop.

    Why this template: the course model trains on LFW, and the compact LFW copy used on
    machines with small uploads keeps only the square ``LFW_CROP`` (58, 58)-(192, 192) of
    each 250x250 photo. ``TEMPLATE = (LFW_LANDMARKS - 58) / 134``, so an LFW photo with
    the median landmarks is warped onto exactly that square, and a new photo is warped to
    look like the course model's LFW crops: same eye positions, same size, upright.

    How: the similarity transform of the landmarks onto the template (``similarity_transform``),
    then bilinear interpolation; parts of the crop outside the photo repeat its edge pixels,
    so no black wedge appears that the network never saw in training. When the warp shrinks
    (scale s < 1), the photo is first shrunk by s with an exact area filter (each new pixel
    the mean of the pixels it covers), so the warp that follows is a rotation at about unit
    scale: fine detail (hair, stripes, JPEG noise) is averaged away instead of aliasing into
    moire, as bilinear sampling alone would do when it skips pixels. Shrinking to exactly
    the output scale rather than to 2x keeps no band that a 2x bilinear decimation would
    still alias; the cost is a slightly softer image (the bilinear step of a rotation
    averages neighbours), the same for every photo.

    Both steps are written here in float64 NumPy rather than with OpenCV's ``resize`` and
    ``warpAffine``: OpenCV 4 rounds sample positions to 1/32 of a pixel and OpenCV 5 does
    not, which moved the course model's LFW DevTest accuracy by half a point between the
    two. The crop is now the same on every OpenCV and every machine: the same input gives
    the same bits. ``tests/test_align.py`` checks both steps against OpenCV.

    Args:
        grey: (H, W) float array in [0, 1], a greyscale photo (``images.read_image``).
        landmarks: (5, 2) (x, y) in pixels of ``grey``: left eye, right eye, nose tip, left and
            right mouth corner, as ``detector.detect_faces`` returns them.
        image_size: S, the side of the network's input.

    Returns:
        (S, S) float32 array in [0, 1].

    Raises:
        FaceNetEduError: ``grey`` is not a finite 2-D image, the landmarks are not 5
            finite, distinct points, or ``image_size`` is not a positive whole number.
    """
    check_number("image_size", image_size, 1, 4096, integer=True)
    grey = np.asarray(grey)
    if grey.ndim != 2 or min(grey.shape) < 1:
        raise FaceNetEduError(f"align_face takes a greyscale (H, W) image, got shape {grey.shape}; read it with images.read_image.")
    grey = grey.astype(np.float32, copy=False)
    if not np.isfinite(grey).all():
        raise FaceNetEduError("The image holds NaN or infinite values; read it with images.read_image.")
    matrix = similarity_transform(_points("landmarks", landmarks, 5), TEMPLATE.astype(np.float64) * image_size)  # (2, 3)
    matrix[:, 2] += matrix[:, :2].sum(axis=1) * 0.5 - 0.5  # pixel (i, j) centred on (i, j), as OpenCV counts them
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    height, width = grey.shape
    if scale < 1.0:
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        small = area_shrink(grey, new_w, new_h)
        fx, fy = new_w / width, new_h / height  # actual factors after rounding; small pixel x' came from (x' + 0.5) / fx - 0.5
        undo = np.array([[1 / fx, 0, 0.5 / fx - 0.5], [0, 1 / fy, 0.5 / fy - 0.5], [0, 0, 1]])
        matrix = matrix @ undo  # (2, 3): small's pixels to the crop's
        grey = small
    crop = warp_bilinear(grey, matrix, image_size)
    return np.clip(crop, 0.0, 1.0).astype(np.float32)  # (S, S)


def area_shrink(grey: np.ndarray, new_w: int, new_h: int) -> np.ndarray:
    """``grey`` shrunk to (new_h, new_w), each new pixel the exact mean of the area of the photo it covers.

    Separable: along each axis, the running integral of the pixel values (a piecewise
    constant function, pixel j covering [j, j + 1)) is read at the new pixels' edges and
    differenced. Float64 throughout, so the result does not depend on the machine's
    vector width. The same filter as OpenCV's ``INTER_AREA`` when shrinking.
    """
    out = np.asarray(grey, dtype=np.float64)
    for axis, new_n in ((0, new_h), (1, new_w)):
        n = out.shape[axis]
        integral = np.concatenate([np.zeros_like(out.take([0], axis)), np.cumsum(out, axis=axis)], axis=axis)  # n + 1
        edges = np.arange(new_n + 1) * (n / new_n)  # the new pixels' edges in old pixels
        start = np.minimum(np.floor(edges).astype(np.int64), n - 1)
        shape = [1, 1]
        shape[axis] = new_n + 1
        part = (edges - start).reshape(shape)
        at_edges = integral.take(start, axis) + part * out.take(start, axis)  # the integral from 0 to each edge
        out = np.diff(at_edges, axis=axis) * (new_n / n)
    return out


def warp_bilinear(grey: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """The (size, size) image whose pixel (u, v) is ``grey`` read bilinearly where ``matrix`` maps from.

    ``matrix`` (2, 3) takes a pixel of ``grey`` to one of the output, pixel centres on whole
    numbers (OpenCV's ``warpAffine`` convention); it is inverted here. Positions outside
    the photo are moved onto its nearest edge, which is what repeating the edge pixels
    (OpenCV's ``BORDER_REPLICATE``) gives. Float64, no rounding of positions.
    """
    grey = np.asarray(grey, dtype=np.float64)
    height, width = grey.shape
    linear, shift = matrix[:, :2], matrix[:, 2]
    inverse = np.linalg.inv(linear)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    points = np.stack([u.ravel() - shift[0], v.ravel() - shift[1]])  # (2, size*size)
    x, y = inverse @ points
    x, y = np.clip(x, 0, width - 1), np.clip(y, 0, height - 1)
    x0, y0 = np.minimum(np.floor(x).astype(np.int64), max(width - 2, 0)), np.minimum(np.floor(y).astype(np.int64), max(height - 2, 0))
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    wx, wy = x - x0, y - y0
    top = grey[y0, x0] * (1 - wx) + grey[y0, x1] * wx
    bottom = grey[y1, x0] * (1 - wx) + grey[y1, x1] * wx
    return (top * (1 - wy) + bottom * wy).reshape(size, size)
