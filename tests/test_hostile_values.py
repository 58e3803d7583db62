"""Careless and hostile values (issue 20): settings that conflict with --init, bad thresholds, bad pixels.

Each ends in one `error:` line and exit status 2 on the command line, one FaceNetEduError in Python,
or a documented result; nothing is silently dropped or guessed.
"""

import math

import numpy as np
import pytest
import torch
from PIL import Image

import facenet_edu as fe
from cli_helpers import assert_one_error_line, run, tiny_checkpoint
from facenet_edu import EmbeddingNet, ModelConfig, load_course_model
from facenet_edu.checkpoint import read_checkpoint, save_checkpoint
from facenet_edu.errors import FaceNetEduError
from facenet_edu.verification import verification_accuracy_lfw
from facenet_edu.gallery import Gallery
from facenet_edu.images import read_image
from facenet_edu.matching import verify_embeddings


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


# ---------------------------------------------------------------- 1. settings that conflict with --init


@pytest.mark.parametrize("init", ["ckpt", "course"])
def test_model_settings_that_conflict_with_init_are_refused_before_any_work(init, capsys, tmp_path, checkpoint):
    out_path = tmp_path / "m.pt"
    init_value = checkpoint if init == "ckpt" else "course"
    config = read_checkpoint(checkpoint).model.config if init == "ckpt" else load_course_model("cpu").config
    has = [f"width {config.width}", f"image_size {config.image_size}"]
    status, out, err = run(capsys, "train", "--init", init_value, "--width", "12", "--image-size", "96", "--out", out_path)
    assert_one_error_line(status, err, "--width 12", "--image-size 96", *has, "fine-tuning")
    assert out == "" and not out_path.exists()


def test_init_with_matching_or_no_model_settings_fine_tunes_the_initial_model(capsys, tmp_path, checkpoint):
    """Settings equal to the initial model's are no conflict, defaults that differ from it are not a choice."""
    out_path = tmp_path / "m.pt"
    out_path.write_bytes(checkpoint.read_bytes())  # an earlier checkpoint at --out may be replaced
    # --width 4 matches; the default --embedding-dim 128 and --image-size 64 differ from the model's but were not given
    status, out, err = run(capsys, "train", "--init", checkpoint, "--width", "4", "--num-steps", "1", "--p", "4",
                           "--out", out_path)
    assert status == 0, err
    config = read_checkpoint(out_path).model.config
    assert (config.width, config.image_size, config.embedding_dim) == (4, 32, 16)
    assert read_checkpoint(out_path).provenance["init"] == str(checkpoint)


# ---------------------------------------------------------------- 2. thresholds: one rule everywhere


@pytest.mark.parametrize("threshold", [float("nan"), -0.1, float("inf"), "0.5", True])
def test_bad_thresholds_are_refused_by_the_api_as_by_the_gallery(threshold, checkpoint):
    a, b = np.float32([1, 0]), np.float32([0, 1])
    with pytest.raises(FaceNetEduError) as by_gallery:
        Gallery(threshold=threshold)
    with pytest.raises(FaceNetEduError) as by_verify:
        verify_embeddings(a, b, threshold)
    assert str(by_verify.value) == str(by_gallery.value) and "threshold" in str(by_verify.value)
    model = read_checkpoint(checkpoint).model
    with pytest.raises(FaceNetEduError, match="threshold"):  # checked before the images are read (they do not exist)
        fe.verify(model, "missing_a.png", "missing_b.png", threshold, detect=False)


def test_a_threshold_of_zero_or_above_two_is_a_valid_distance():
    a, b = np.float32([1, 0]), np.float32([0, 1])
    assert verify_embeddings(a, b, 0.0).same is False and verify_embeddings(a, a, 0.0).same is True
    assert verify_embeddings(a, b, 3.0) == (True, pytest.approx(math.sqrt(2)), 3.0)


@pytest.mark.parametrize("kind", ["no same-person pairs", "no different-person pairs"])
def test_lfw_accuracy_refuses_pairs_of_one_kind(kind):
    d = np.linspace(0.1, 1.5, 40)
    same = np.zeros(40, bool) if kind == "no same-person pairs" else np.ones(40, bool)
    with pytest.raises(FaceNetEduError, match="same-person and different-person pairs"):
        verification_accuracy_lfw(d, same)


def test_lfw_accuracy_with_one_pair_of_a_kind_is_still_computed():
    d = np.r_[0.1, np.linspace(0.8, 1.5, 19)]
    same = np.arange(20) == 0
    result = verification_accuracy_lfw(d, same, num_folds=2, seed=0)
    assert len(result["accuracies"]) == 2 and all(0.0 <= acc <= 1.0 for acc in result["accuracies"])


# ---------------------------------------------------------------- 4. pixels checked where images are read


def _face(seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((48, 48)).astype(np.float32)  # (H, W) in [0, 1)


def test_a_float_tiff_in_0_1_reads_as_its_pixels(tmp_path):
    face = _face()
    Image.fromarray(face).save(tmp_path / "face.tif")
    assert Image.open(tmp_path / "face.tif").mode == "F"
    np.testing.assert_array_equal(read_image(tmp_path / "face.tif"), face)


@pytest.mark.parametrize("bad, needle", [(np.inf, "infinite"), (-np.inf, "infinite"), (np.nan, "NaN"),
                                         (255.0, "[0, 1]"), (-0.5, "[0, 1]")])
def test_float_pixels_that_are_not_finite_or_not_in_0_1_are_refused(bad, needle, capsys, tmp_path, checkpoint, face_files):
    face = _face()
    face[3, 3] = bad
    path = tmp_path / "face.tif"
    Image.fromarray(face).save(path)
    with pytest.raises(FaceNetEduError, match=f"face.tif.*{needle[:4]}" if needle != "[0, 1]" else "face.tif.*\\[0, 1\\]"):
        read_image(path)
    with pytest.raises(FaceNetEduError, match="NaN or infinite" if needle in ("NaN", "infinite") else "\\[0, 1\\]"):
        read_image(face)  # an array: the same rule
    status, out, err = run(capsys, "verify", "--checkpoint", checkpoint, "--no-detect", face_files[0], path)
    assert_one_error_line(status, err, "face.tif")
    assert out == ""


def test_a_float_tiff_in_0_255_is_refused_not_guessed(tmp_path):
    Image.fromarray(_face() * 255).save(tmp_path / "bright.tif")
    with pytest.raises(FaceNetEduError, match="divide 8-bit values by 255"):
        read_image(tmp_path / "bright.tif")
    dark = _face() * 0.9  # a dark 0..255 image would look like 0..1 to a guess; the rule takes floats as 0..1, always
    Image.fromarray(dark).save(tmp_path / "dark.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "dark.tif"), dark)


def test_integer_images_are_scaled_by_their_type(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (40, 40), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "face.png")
    np.testing.assert_allclose(read_image(tmp_path / "face.png"), pixels / 255.0, atol=1e-7)
    np.testing.assert_allclose(read_image(pixels.astype(np.uint16) * 257), pixels / 255.0, atol=1e-6)
