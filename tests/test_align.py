"""Alignment: the least-squares similarity transform and the warp onto the template."""

import cv2
import numpy as np
import pytest

from facenet_edu.align import LFW_CROP, LFW_LANDMARKS, TEMPLATE, align_face, area_shrink, similarity_transform, warp_bilinear
from facenet_edu.detector import detect_faces
from facenet_edu.errors import FaceNetEduError
from facenet_edu.images import read_image


def _lstsq_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The same least-squares fit as a plain linear system: x' = a x - b y + tx, y' = b x + a y + ty."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
        rhs += [u, v]
    (a, b, tx, ty), *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    return np.array([[scale * c, -scale * s, tx], [scale * s, scale * c, ty]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_similarity_transform_matches_the_linear_least_squares_solution():
    rng = np.random.default_rng(0)
    for trial in range(20):
        src = rng.uniform(0, 300, (int(rng.integers(2, 9)), 2))
        true = _similarity(rng.uniform(-180, 180), rng.uniform(0.1, 5), *rng.uniform(-100, 100, 2))
        dst = _apply(true, src) + rng.normal(0, 3, src.shape)  # noisy: the least-squares optimum is not `true`
        assert np.allclose(similarity_transform(src, dst), _lstsq_similarity(src, dst), atol=1e-8), trial


def test_similarity_transform_recovers_an_exact_transform_as_opencv_does():
    rng = np.random.default_rng(1)
    src = LFW_LANDMARKS.astype(np.float64) + rng.normal(0, 2, (5, 2))
    true = _similarity(-23.0, 0.37, 12.5, -40.0)
    dst = _apply(true, src)
    ours = similarity_transform(src, dst)
    assert np.allclose(ours, true, atol=1e-9)
    theirs, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    assert inliers.all() and np.allclose(ours, theirs, atol=1e-6)


def test_similarity_transform_never_reflects():
    src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    mirrored = src * [-1, 1]  # the best fit with a reflection would be exact; a similarity cannot reflect
    matrix = similarity_transform(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) >= 0
    assert np.allclose(matrix, _lstsq_similarity(src, mirrored), atol=1e-9)


def test_similarity_transform_refuses_bad_points():
    good = np.zeros((5, 2))
    with pytest.raises(FaceNetEduError, match="one place"):
        similarity_transform(good, good + 1)
    with pytest.raises(FaceNetEduError, match="same N"):
        similarity_transform(LFW_LANDMARKS, LFW_LANDMARKS[:4])
    with pytest.raises(FaceNetEduError, match="NaN"):
        similarity_transform(np.full((5, 2), np.nan), LFW_LANDMARKS)
    with pytest.raises(FaceNetEduError, match=r"shape \(N, 2\)"):
        similarity_transform(np.zeros(10), LFW_LANDMARKS)


def test_template_frames_lfws_crop():
    assert TEMPLATE.shape == (5, 2) and TEMPLATE.dtype == np.float32
    assert np.allclose(TEMPLATE * LFW_CROP[2] + LFW_CROP[0], LFW_LANDMARKS)
    assert (TEMPLATE > 0).all() and (TEMPLATE < 1).all()
    assert TEMPLATE[0, 0] < TEMPLATE[1, 0] and TEMPLATE[3, 0] < TEMPLATE[4, 0]  # left before right
    assert TEMPLATE[:2, 1].max() < TEMPLATE[2, 1] < TEMPLATE[3:, 1].min()      # eyes above nose above mouth


def test_an_lfw_photo_with_the_median_landmarks_becomes_exactly_the_lfw_crop():
    grey = np.random.default_rng(2).random((250, 250)).astype(np.float32)
    x, y, w, h = LFW_CROP
    crop = align_face(grey, LFW_LANDMARKS, w)  # unit scale: a pure translation
    assert crop.shape == (w, w) and crop.dtype == np.float32
    assert np.allclose(crop, grey[y : y + h, x : x + w], atol=1e-5)
    half = align_face(grey, LFW_LANDMARKS, w // 2)  # scale 1/2: the area-filtered photo, then the same square
    area = cv2.resize(grey, (125, 125), interpolation=cv2.INTER_AREA)
    assert np.allclose(half, area[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2], atol=1e-5)


def _blobs(points: np.ndarray, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A dark image with one bright Gaussian spot centred on each (x, y) point (pixel i covers [i, i+1))."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5
    image = np.zeros(shape)
    for px, py in points:
        image += np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / (2 * sigma**2))
    return np.clip(image, 0, 1).astype(np.float32)


def _spot_centres(image: np.ndarray, near: np.ndarray, radius: float) -> np.ndarray:
    """The brightness-weighted centre of the image within ``radius`` of each point of ``near``."""
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]] + 0.5
    centres = []
    for px, py in near:
        w = image * (((xs - px) ** 2 + (ys - py) ** 2) < radius**2)
        centres.append([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])
    return np.array(centres)


@pytest.mark.parametrize("angle, scale", [(0.0, 1.0), (25.0, 3.0), (-40.0, 0.8)])
def test_landmarks_land_on_the_template_after_rotation_and_scaling(angle, scale):
    size = 96
    placed = _similarity(angle, scale, 180.0, 150.0)
    landmarks = _apply(placed, TEMPLATE.astype(np.float64) * size - size / 2)  # the template, turned and scaled in a photo
    photo = _blobs(landmarks, (420, 400), sigma=2.0 * scale)
    crop = align_face(photo, landmarks, size)
    found = _spot_centres(crop, TEMPLATE * size, radius=5)
    assert np.abs(found - TEMPLATE * size).max() < 0.3


def test_shrinking_is_antialiased_and_deterministic():
    stripes = np.tile(np.array([0.0, 1.0], np.float32), (600, 300))  # (600, 600), one-pixel vertical stripes
    landmarks = LFW_LANDMARKS * 2.4  # the face spans 4x the crop's pixels: the warp shrinks by 4
    crop = align_face(stripes, landmarks, 80)
    assert abs(crop.mean() - 0.5) < 0.02 and crop.std() < 0.05  # stripes finer than a pixel average to grey
    matrix = similarity_transform(landmarks, TEMPLATE * 80)
    naive = cv2.warpAffine(stripes, matrix, (80, 80), flags=cv2.INTER_LINEAR)
    assert naive.std() > 0.2  # what bilinear sampling alone makes of them: moire
    assert np.array_equal(crop, align_face(stripes, landmarks, 80))
    assert crop.min() >= 0 and crop.max() <= 1


def test_align_face_refuses_bad_input():
    grey = np.zeros((100, 100), np.float32)
    with pytest.raises(FaceNetEduError, match=r"\(5, 2\)"):
        align_face(grey, LFW_LANDMARKS[:3], 64)
    with pytest.raises(FaceNetEduError, match="greyscale"):
        align_face(np.zeros((100, 100, 3)), LFW_LANDMARKS, 64)
    with pytest.raises(FaceNetEduError, match="NaN"):
        align_face(np.full((100, 100), np.nan), LFW_LANDMARKS, 64)
    with pytest.raises(FaceNetEduError, match="image_size"):
        align_face(grey, LFW_LANDMARKS, 0)
    with pytest.raises(FaceNetEduError, match="one place"):
        align_face(grey, np.ones((5, 2)), 64)


def test_the_detector_finds_lfw_landmarks_on_lfw_photos(lfw_dir):
    files = sorted((lfw_dir / "lfw_funneled").glob("*/*.jpg"))
    chosen = np.random.default_rng(1).choice(len(files), 40, replace=False)
    found = []
    for i in chosen:
        faces = detect_faces(read_image(files[i]))
        if faces:  # a second, smaller face may be in the background; take the one nearest the centre
            face = min(faces, key=lambda f: abs(f.box[0] + f.box[2] / 2 - 125) + abs(f.box[1] + f.box[3] / 2 - 125))
            found.append(face.landmarks)
    assert len(found) >= 36
    assert np.abs(np.median(np.array(found), axis=0) - LFW_LANDMARKS).max() <= 3


@pytest.mark.parametrize("shape, new", [((250, 250), (119, 119)), ((480, 640), (203, 152)), ((7, 5), (3, 2)), ((1, 9), (4, 1))])
def test_area_shrink_is_opencvs_area_filter(shape, new):
    """OpenCV's INTER_AREA (exact area weights when shrinking) as the independent reference."""
    grey = np.random.default_rng(sum(shape)).random(shape).astype(np.float32)
    ours = area_shrink(grey, *new)
    assert ours.shape == (new[1], new[0])
    assert np.allclose(ours, cv2.resize(grey, new, interpolation=cv2.INTER_AREA), atol=1e-5)
    assert ours.mean() == pytest.approx(float(grey.astype(np.float64).mean()), abs=1e-9)  # area weights keep the mean


@pytest.mark.parametrize("angle, scale", [(0.0, 1.0), (17.0, 1.3), (-33.0, 0.95)])
def test_bilinear_warp_is_opencvs_warp_affine_without_its_rounding(angle, scale):
    """OpenCV's warpAffine (bilinear, edge pixels repeated) as the reference. OpenCV 4 rounds sample
    positions to 1/32 of a pixel (OpenCV 5.1 does not: there the two agree to float32 precision),
    so on a smooth image they differ by at most the image's slope times 1/32 of a pixel."""
    ys, xs = np.mgrid[0:120, 0:100]
    smooth = (0.5 + 0.25 * np.sin(xs / 7.0) * np.cos(ys / 9.0)).astype(np.float32)
    matrix = _similarity(angle, scale, 30.0, -10.0)[:2]
    ours = warp_bilinear(smooth, matrix, 64)
    theirs = cv2.warpAffine(smooth, matrix, (64, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert np.abs(ours - theirs).max() < 0.25 / 7 / 32 * 4  # slope at most 0.25/7 per pixel, 1/32 pixel, margin 4
