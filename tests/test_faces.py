"""Reading any image, finding the face, preprocessing exactly as in training, embedding."""

import numpy as np
import pytest
import torch
from PIL import Image

from facenet_edu import faces, haar
from facenet_edu.haar import haar_face_boxes
from facenet_edu.align import LFW_LANDMARKS, TEMPLATE, align_face
from facenet_edu.data import FaceDataset, resize_images
from facenet_edu.datasets import load_dataset
from facenet_edu.detector import Face, detect_faces
from facenet_edu.errors import FaceNetEduError
from facenet_edu.faces import (
    crop_face, embed_faces, face_crop, face_crop_and_count, prepare_aligned_face, prepare_dataset,
    prepare_dataset_counted, prepare_face, prepare_face_and_count, prepare_faces, square_crop_box, to_network_input,
    find_faces,
)
from facenet_edu.images import read_image
from facenet_edu.model import EmbeddingNet, ModelConfig, embed


HAAR = haar.haar_available()
needs_haar = pytest.mark.skipif(not HAAR, reason="this OpenCV has no Haar cascade (OpenCV 5 moved it to opencv-contrib); "
                                "the box crop uses the detector's box instead, tested below")


def _top_bright(h=40, w=30) -> np.ndarray:
    a = np.zeros((h, w), np.uint8)
    a[: h // 2] = 255
    return a


# ---------------------------------------------------------------- every image mode


def _write_modes(tmp_path) -> dict:
    """One small file per mode, each with a known grey value; returns {name: (path, expected grey in [0, 1])}."""
    files = {}
    Image.new("L", (12, 10), 100).save(tmp_path / "l.png")
    files["L png"] = (tmp_path / "l.png", 100 / 255)
    Image.new("RGB", (12, 10), (255, 0, 0)).save(tmp_path / "rgb.png")
    files["RGB png"] = (tmp_path / "rgb.png", round(0.299 * 255) / 255)
    rgba = Image.new("RGBA", (12, 10), (0, 0, 0, 0))  # fully transparent black -> composited on white
    rgba.save(tmp_path / "rgba.png")
    files["RGBA transparent"] = (tmp_path / "rgba.png", 1.0)
    Image.new("CMYK", (12, 10), (0, 0, 0, 255)).save(tmp_path / "cmyk.jpg")  # full black ink
    files["CMYK jpeg"] = (tmp_path / "cmyk.jpg", 0.0)
    Image.fromarray(np.full((10, 12), 30000, np.uint16)).save(tmp_path / "i16.png")
    files["16-bit png"] = (tmp_path / "i16.png", 30000 / 65535)
    pal = Image.new("P", (12, 10), 1)
    pal.putpalette([0, 0, 0, 51, 51, 51] + [0] * 762)
    pal.save(tmp_path / "pal.gif")
    files["palette gif"] = (tmp_path / "pal.gif", 51 / 255)
    Image.new("L", (12, 10), 200).save(tmp_path / "grey.pgm")
    files["8-bit pgm"] = (tmp_path / "grey.pgm", 200 / 255)
    (tmp_path / "dark16.pgm").write_bytes(b"P5\n12 10\n65535\n" + np.full(120, 200, ">u2").tobytes())
    files["dark 16-bit pgm"] = (tmp_path / "dark16.pgm", 200 / 65535)
    return files


def test_every_mode_reads_as_grey_with_the_right_value(tmp_path):
    for name, (path, expected) in _write_modes(tmp_path).items():
        mode = Image.open(path).mode
        grey = read_image(path)
        assert grey.shape == (10, 12), name
        assert grey.dtype == np.float32, name
        assert abs(float(grey.mean()) - expected) < 2 / 255, f"{name} (Pillow mode {mode}): {grey.mean()} != {expected}"
        face = prepare_face(path, 32, detect=False)
        assert face.shape == (1, 1, 32, 32) and face.dtype == torch.float32, name
        assert abs(face.mean().item() - expected) < 2 / 255, name


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(_top_bright())
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180 degrees when displayed
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert Image.open(tmp_path / "rotated.jpg").getexif()[0x0112] == 3
    grey = read_image(tmp_path / "rotated.jpg")
    assert grey[:20].mean() < 0.05 and grey[20:].mean() > 0.95  # the bright half is now at the bottom
    exif[0x0112] = 6  # rotate 90 degrees: the shape turns too
    image.save(tmp_path / "turned.jpg", exif=exif)
    assert read_image(tmp_path / "turned.jpg").shape == (30, 40)


def test_arrays_tensors_and_pil_images_are_accepted():
    a = _top_bright(64, 48)
    from_uint8 = prepare_face(a, 32, detect=False)
    assert torch.allclose(from_uint8, prepare_face(a.astype(np.float32) / 255, 32, detect=False))
    assert torch.allclose(from_uint8, prepare_face(torch.from_numpy(a) / 255.0, 32, detect=False))
    assert torch.allclose(from_uint8, prepare_face(Image.fromarray(a), 32, detect=False))
    assert torch.allclose(from_uint8, prepare_face(np.stack([a] * 3, axis=-1), 32, detect=False), atol=1e-6)


def test_preprocessing_is_exactly_the_training_resize():
    rng = np.random.default_rng(0)
    images = rng.random((3, 112, 92)).astype(np.float32)  # AT&T-shaped
    prepared = prepare_faces(list(images), 64, detect=False)
    expected = resize_images(torch.from_numpy(images)[:, None], (64, 64))
    assert prepared.shape == (3, 1, 64, 64)
    assert torch.equal(prepared, expected)
    assert prepared.min() >= 0 and prepared.max() <= 1
    assert prepare_faces([], 64).shape == (0, 1, 64, 64)


def test_embed_faces_is_one_forward_pass_of_the_prepared_image():
    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig(width=8, embedding_dim=16, image_size=40))
    images = [np.random.default_rng(i).random((50, 45)).astype(np.float32) for i in range(3)]
    embeddings = embed_faces(model, images, detect=False)
    assert embeddings.shape == (3, 16)
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(embeddings, embed(model, prepare_faces(images, 40, detect=False)))


# ---------------------------------------------------------------- bad input


def test_missing_corrupt_and_fake_files_raise_a_clear_error(tmp_path):
    with pytest.raises(FaceNetEduError, match="no such file"):
        prepare_face(tmp_path / "nobody.jpg", 32, detect=False)
    Image.new("L", (40, 40), 128).save(tmp_path / "whole.png")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "whole.png").read_bytes()[:40])
    with pytest.raises(FaceNetEduError, match="truncated.png: cannot be read"):
        prepare_face(tmp_path / "truncated.png", 32, detect=False)
    (tmp_path / "notes.jpg").write_text("this is text, not a JPEG")
    with pytest.raises(FaceNetEduError, match="notes.jpg: cannot be read"):
        embed_faces(EmbeddingNet(ModelConfig(width=8, embedding_dim=16)), [tmp_path / "notes.jpg"], detect=False)
    with pytest.raises(FaceNetEduError, match="NaN"):
        prepare_face(np.full((40, 40), np.nan, np.float32), 32, detect=False)


# ---------------------------------------------------------------- detection


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def _face_on_background(face: np.ndarray, at: tuple[int, int], size=(400, 500), seed=0) -> np.ndarray:
    """Paste a (h, w) uint8 face at (x, y) on a textured background: blotches plus pixel noise."""
    rng = np.random.default_rng(seed)
    height, width = size
    blotches = Image.fromarray((np.clip(0.5 + 0.15 * rng.standard_normal((height // 8, width // 8)), 0, 1) * 255).astype(np.uint8))
    background = np.asarray(blotches.resize((width, height), Image.BILINEAR), dtype=np.float64)
    background = np.clip(background + 10 * rng.standard_normal((height, width)), 0, 255).astype(np.uint8)
    x, y = at
    background[y : y + face.shape[0], x : x + face.shape[1]] = face
    return background


def test_square_crop_box_adds_the_margin_and_stays_inside():
    assert square_crop_box((100, 100, 50, 50), (400, 400), crop_margin=0.2) == (90, 90, 70, 70)
    assert square_crop_box((0, 0, 50, 40), (400, 400), crop_margin=0.2) == (0, 0, 70, 70)       # moved inside
    assert square_crop_box((10, 10, 80, 80), (100, 60), crop_margin=0.5) == (0, 20, 60, 60)     # shrunk to the width, centred on the face


@needs_haar
def test_haar_finds_a_real_face_pasted_on_a_larger_photograph_and_the_box_crop_frames_it(att_dir):
    face = Image.open(att_dir / "s1" / "1.pgm").convert("L")
    big = np.asarray(face.resize((184, 224), Image.BICUBIC))  # upscaled 2x, as a face in a photograph
    x0, y0 = 200, 100
    photo = _face_on_background(big, (x0, y0))
    boxes = haar_face_boxes(photo.astype(np.float32) / 255)
    assert boxes, "the Haar cascade found no face"
    assert boxes == sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)
    assert _iou(boxes[0], (x0, y0, 184, 224)) > 0.5
    cx, cy = boxes[0][0] + boxes[0][2] / 2, boxes[0][1] + boxes[0][3] / 2
    assert x0 < cx < x0 + 184 and y0 < cy < y0 + 224
    crop = face_crop(photo, crop="box")  # the box crop uses Haar's box where OpenCV has it, as here
    x, y, w, h = square_crop_box(boxes[0], photo.shape, crop_margin=0.2)
    assert w == h > boxes[0][2]  # square, grown by the margin
    assert np.array_equal(crop, photo[y : y + h, x : x + w].astype(np.float32) / 255)
    # The reference is the face inside the pasted frame, not the whole 92x112 frame (forehead, hair and
    # background included): the box the detector finds on the frame alone, moved to where it was pasted.
    fx, fy, fw, fh = haar_face_boxes(big.astype(np.float32) / 255)[0]
    face_box = (x0 + fx, y0 + fy, fw, fh)
    assert _iou(boxes[0], face_box) > 0.6  # the background does not pull the box off the face
    assert x <= face_box[0] and y <= face_box[1] and x + w >= face_box[0] + fw and y + h >= face_box[1] + fh  # the whole face is in the crop
    assert _iou((x, y, w, h), square_crop_box(face_box, photo.shape, crop_margin=0.2)) > 0.6  # the crop frames that face
    assert torch.equal(prepare_face(photo, 64, crop="box"), to_network_input(crop, 64))
    # a large photograph is searched at a reduced size; boxes come back in its own pixels
    large = np.asarray(Image.fromarray(photo).resize((1250, 1000), Image.BILINEAR))
    big_box = haar_face_boxes(large)[0]
    assert _iou(big_box, (x0 * 2.5, y0 * 2.5, 184 * 2.5, 224 * 2.5)) > 0.5


def test_no_face_raises_or_returns_the_whole_image(tmp_path):
    gradient = np.tile(np.linspace(0, 255, 300, dtype=np.float64), (200, 1))
    noise = np.random.default_rng(0).normal(0, 3, gradient.shape)
    image = np.clip(gradient + noise, 0, 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "wall.png")
    assert detect_faces(image) == [] and (not HAAR or haar_face_boxes(image) == [])
    for crop in ("aligned", "box"):
        with pytest.raises(FaceNetEduError, match=r"No face found in .*wall.png.*detect=False"):
            prepare_face(tmp_path / "wall.png", 32, crop=crop)
        whole, count = face_crop_and_count(tmp_path / "wall.png", on_no_face="whole", crop=crop)
        assert count == 0 and np.array_equal(whole, read_image(tmp_path / "wall.png"))
        assert torch.equal(prepare_face(tmp_path / "wall.png", 32, on_no_face="whole", crop=crop),
                           prepare_face(tmp_path / "wall.png", 32, detect=False))
    with pytest.raises(FaceNetEduError, match="on_no_face"):
        face_crop(image, on_no_face="skip")
    with pytest.raises(FaceNetEduError, match="crop must be one of 'aligned', 'box'"):
        face_crop(image, crop="tight")


HAAR_TESTS = "haar or no_face_raises or several_faces"  # the tests above and in test_lfw.py that use the Haar cascade


@pytest.mark.skipif(HAAR, reason="this OpenCV has the Haar cascade: the Haar tests ran with it in this session")
def test_the_box_crops_cascade_is_still_tested_where_opencv_has_none(tmp_path_factory):
    """A fresh install gets OpenCV 5, which has no Haar cascade, so the Haar tests skip; this runs them again
    with OpenCV 4 installed from the package registry into a folder, in a second Python."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from registry_install import install_into

    root = Path(__file__).resolve().parent.parent
    folder = install_into(tmp_path_factory.mktemp("opencv4"), "opencv-python-headless>=4.10,<5",  # 4.10 on: NumPy 2
                          "opencv-python-headless 4")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(root)])}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "tests/test_faces.py",
                          "tests/test_lfw.py", "-k", HAAR_TESTS], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    output = run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == 0 and " passed" in output, output
    skipped = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert not [line for line in skipped if "Haar" in line or "OpenCV" in line], output  # only missing data may skip


def test_opencv_without_haar_cascades_falls_back_to_the_detectors_box(monkeypatch):
    import cv2

    from facenet_edu.haar import _face_cascade

    grey = np.random.default_rng(3).random((120, 100)).astype(np.float32)
    box = (30, 40, 40, 44)
    monkeypatch.setattr(faces, "detect_faces", lambda g, **kw: [Face(box, LFW_LANDMARKS * 0.4, 0.99)])
    monkeypatch.delattr(cv2, "CascadeClassifier", raising=False)  # as in OpenCV 5, which moved it out
    _face_cascade.cache_clear()
    try:
        assert not haar.haar_available()
        with pytest.raises(FaceNetEduError, match="opencv-python-headless<5"):
            haar_face_boxes(np.zeros((64, 64), np.float32))
        assert np.array_equal(face_crop(grey, crop="box", crop_margin=0.1), crop_face(grey, box, 0.1))
        assert torch.equal(prepare_face(np.zeros((64, 64), np.float32), 32, detect=False), torch.zeros(1, 1, 32, 32))
    finally:
        monkeypatch.undo()
        _face_cascade.cache_clear()
    assert haar.haar_available() == HAAR  # restored as this OpenCV has it


# ---------------------------------------------------------------- aligned crops, several faces, known landmarks


def test_a_new_photo_and_a_photo_with_known_landmarks_take_the_same_path(tmp_path, monkeypatch):
    """LFW's photos are prepared from known landmarks; a new photo where the detector finds them gives the same bits."""
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (250, 250, 3), dtype=np.uint8)).save(path)
    monkeypatch.setattr(faces, "detect_faces", lambda grey, **kw: [Face((67, 66, 116, 116), LFW_LANDMARKS, 0.99)])
    for image_size in (32, 48, 64, 134):
        new_photo, count = prepare_face_and_count(path, image_size)
        known = prepare_aligned_face(path, LFW_LANDMARKS, image_size)
        assert count == 1 and known.shape == (1, 1, image_size, image_size)
        assert torch.equal(new_photo, known)
        assert torch.equal(known[0, 0], torch.from_numpy(align_face(read_image(path), LFW_LANDMARKS, image_size)))
        assert torch.equal(prepare_aligned_face(read_image(path), LFW_LANDMARKS, image_size), known)  # read once, pass the array


def _att_photo(att_dir, person: str, scale: float, at: tuple[int, int], size=(400, 500), seed=0) -> tuple[np.ndarray, tuple]:
    face = Image.open(att_dir / person / "1.pgm").convert("L")
    big = np.asarray(face.resize((round(92 * scale), round(112 * scale)), Image.BICUBIC))
    return _face_on_background(big, at, size, seed), (*at, big.shape[1], big.shape[0])


def test_the_detector_finds_a_pasted_face_and_the_aligned_crop_puts_its_landmarks_on_the_template(att_dir):
    photo, frame = _att_photo(att_dir, "s1", 2.0, (200, 100))
    found = find_faces(photo)  # what face_crop_and_count searches: faces of at least MIN_FACE_SHARE of the photo
    assert len(found) == 1
    x, y, w, h = frame
    landmarks = found[0].landmarks  # (5, 2)
    assert ((landmarks[:, 0] > x) & (landmarks[:, 0] < x + w) & (landmarks[:, 1] > y) & (landmarks[:, 1] < y + h)).all()
    crop, count = face_crop_and_count(photo, image_size=64)
    assert count == 1 and crop.shape == (64, 64)
    assert np.array_equal(crop, align_face(photo.astype(np.float32) / 255, landmarks, 64))
    on_crop = detect_faces(np.clip(np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((256, 256), Image.BICUBIC)), 0, 255))
    assert on_crop, "the detector finds no face in the aligned crop"
    assert np.abs(on_crop[0].landmarks[:2] / 256 - TEMPLATE[:2]).max() < 0.04  # the eyes sit where the template says


def test_several_faces_use_the_largest_and_say_how_many(att_dir):
    small, _ = _att_photo(att_dir, "s2", 1.5, (20, 30), size=(420, 560), seed=1)
    photo, frame = _att_photo(att_dir, "s1", 2.5, (300, 60), size=(420, 560), seed=1)
    photo[30 : 30 + 168, 20 : 20 + 138] = small[30 : 30 + 168, 20 : 20 + 138]  # a second, smaller face on the left
    found = find_faces(photo)
    assert len(found) == 2 and found[0].box[0] > 200  # largest first: the one on the right
    for crop in ("aligned", "box"):
        region, count = face_crop_and_count(photo, crop=crop)
        assert count == 2, crop
    aligned = prepare_face(photo, 64)
    assert torch.equal(aligned, prepare_aligned_face(photo, found[0].landmarks, 64))
    box = haar_face_boxes(photo)[0] if HAAR else found[0].box  # the box crop: Haar's box where OpenCV has it, else the detector's
    assert box[0] > 200 and np.array_equal(face_crop(photo, crop="box"), crop_face(photo.astype(np.float32) / 255, box, 0.2))


def test_embed_faces_follows_the_models_crop(att_dir):
    photo, _ = _att_photo(att_dir, "s3", 2.0, (150, 120))
    torch.manual_seed(0)
    for crop in ("aligned", "box"):
        model = EmbeddingNet(ModelConfig(width=4, embedding_dim=8, image_size=48, crop_margin=0.1, crop=crop))
        expected = embed(model, prepare_face(photo, 48, crop=crop, crop_margin=0.1))
        assert torch.equal(embed_faces(model, [photo]), expected), crop
        other = "box" if crop == "aligned" else "aligned"
        assert not torch.equal(embed_faces(model, [photo], crop=other), expected)  # the crop matters


def test_prepare_dataset_counts_images_with_no_face_and_refuses_when_most_have_none(att_dir):
    att = load_dataset("att", att_dir)
    rng = np.random.default_rng(0)
    chosen = torch.as_tensor(rng.choice(len(att), 100, replace=False))
    noise = torch.from_numpy(rng.random((60, 1, *att.image_size)).astype(np.float32))  # 60 images of pixel noise
    images = torch.cat([att.images[chosen], noise])
    labels = torch.cat([att.labels[chosen], torch.zeros(60, dtype=torch.long)])
    mixed = FaceDataset(images, labels, att.names, "AT&T and noise")
    config = ModelConfig(image_size=32)
    result = prepare_dataset_counted(mixed, config)
    assert set(range(100, 160)) <= set(result.no_face)         # every noise image is reported
    assert len(result.no_face) <= 60 + 5                        # and few real faces are missed
    assert len(result.faces_found) == 160 and all(result.faces_found[i] == 0 for i in result.no_face)
    assert result.dataset.images.shape == (160, 1, 32, 32) and torch.equal(result.dataset.labels, labels)
    for i in result.no_face[:3]:  # used whole, as an image with detection off
        assert torch.equal(result.dataset.images[i], prepare_face(images[i, 0].numpy(), 32, detect=False)[0])
    assert torch.equal(prepare_dataset(mixed, config).images, result.dataset.images)
    mostly_noise = mixed.subset(list(range(60, 160)))  # 40 faces, 60 noise: more than half have no face
    with pytest.raises(FaceNetEduError, match=r"No face found in 6\d of 100 images of AT&T and noise.*detect=False"):
        prepare_dataset(mostly_noise, config)
    assert prepare_dataset_counted(mostly_noise, config, detect=False).no_face == []


def test_find_faces_finds_what_the_full_pyramid_finds_on_portrait_sized_faces(att_dir):
    """find_faces skips MTCNN's smallest scales (speed); faces from about a tenth of the photo up are still found."""
    for scale in (0.5, 1.0, 2.0, 3.0):  # faces 46 to 276 px wide in a 420 x 560 photo (MIN_FACE_SHARE * 420 = 42)
        photo, _ = _att_photo(att_dir, "s3", scale, (40, 30), size=(420, 560), seed=2)
        full, fast = detect_faces(photo), find_faces(photo)
        assert len(fast) == len(full) == 1, scale
        side = max(full[0].box[2:])
        assert np.abs(np.subtract(fast[0].box, full[0].box)).max() <= 0.15 * side, (scale, fast[0].box, full[0].box)
        assert np.abs(fast[0].landmarks - full[0].landmarks).max() <= 0.1 * side, scale
