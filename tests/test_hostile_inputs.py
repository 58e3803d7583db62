"""Careless and hostile input, by category (issue 12): each ends in one `error:` line and exit status 2, or a documented result.

Every case is tried through the command line and, where one exists, through the Python API.
"""

import multiprocessing
import os
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import assert_one_error_line, enroll, run, tiny_checkpoint
from facenet_edu import EmbeddingNet, ModelConfig, TrainConfig, synthetic_dataset
from facenet_edu.checkpoint import read_checkpoint, save_checkpoint
from facenet_edu.cli import main
from facenet_edu.data import read_image_folder
from facenet_edu.errors import FaceNetEduError
from facenet_edu.gallery import Gallery
from facenet_edu.images import MAX_IMAGE_PIXELS, read_image
from facenet_edu.model import model_fingerprint


def unit(*values) -> np.ndarray:
    v = np.asarray(values, np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    torch.manual_seed(0)
    save_checkpoint(path, EmbeddingNet(ModelConfig(embedding_dim=16, width=4, image_size=32)), threshold=0.5, dataset="synthetic")
    return path


@pytest.fixture(scope="module")
def other_checkpoint(tmp_path_factory):
    """Same sizes, other weights: its distances to the first model's embeddings mean nothing."""
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt2"), seed=1, name="other.pt")


# ---------------------------------------------------------------- 1. galleries lose nothing


def test_a_crash_while_saving_leaves_the_old_gallery(monkeypatch, tmp_path, capsys, checkpoint, face_files):
    gallery = tmp_path / "g"
    assert enroll(capsys, checkpoint, gallery, "ada", face_files[0])[0] == 0
    before = gallery.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the moment just before the new file takes the old one's place

    monkeypatch.setattr(os, "replace", killed)
    status, _, err = enroll(capsys, checkpoint, gallery, "bo", face_files[2])
    assert status == 130 and err.strip() == "error: interrupted"
    monkeypatch.undo()
    assert gallery.read_bytes() == before and Gallery.load(gallery).names == ["ada"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g", "g.lock"]  # no temporary file left behind


def test_a_crash_halfway_through_the_write_leaves_the_old_gallery(monkeypatch, tmp_path):
    path = tmp_path / "g"
    old = Gallery()
    old.enroll_embeddings("ada", unit(1, 0))
    old.save(path)
    real_savez = np.savez

    def dies_halfway(handle, **arrays):
        real_savez(handle, **arrays)
        handle.truncate(40)  # what a kill in the middle of writing leaves
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        with Gallery.edit(path) as gallery:
            gallery.enroll_embeddings("bo", unit(0, 1))
    monkeypatch.undo()
    assert Gallery.load(path).names == ["ada"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g", "g.lock"]


def test_a_process_killed_during_enroll_leaves_the_old_or_the_new_gallery(tmp_path):
    """SIGKILL a process that saves a large gallery again and again, at several moments; the file always loads."""
    path = tmp_path / "big"
    start = Gallery()
    start.enroll_embeddings("p0", np.tile(unit(1, 0, 0, 0), (20000, 1)))
    start.save(path)
    script = (
        "import numpy as np, sys\n"
        "from facenet_edu.gallery import Gallery\n"
        "i = 1\n"
        "while True:\n"
        f"    with Gallery.edit({str(path)!r}) as g:\n"
        "        g.enroll_embeddings(f'run{sys.argv[1]}-p{i}', np.tile(np.float32([0, 1, 0, 0]), (20000, 1)))\n"
        "    print(i, flush=True)\n"
        "    i += 1\n"
    )
    for attempt, delay in enumerate([1.5, 2.0, 2.7]):  # each attempt enrols new names, so every person holds 20000 embeddings
        proc = subprocess.Popen([sys.executable, "-c", script, str(attempt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        proc.kill()
        proc.wait()
        gallery = Gallery.load(path)  # never a half-written file
        assert gallery.names[0] == "p0" and gallery.num_embeddings == 20000 * len(gallery)


def _enroll_slowly(path, name, vector):
    with Gallery.edit(path) as gallery:
        time.sleep(0.5)  # both processes have read the gallery by now, unless the lock made one wait
        gallery.enroll_embeddings(name, vector)


def test_two_enrolments_at_once_both_land(tmp_path):
    path = str(tmp_path / "g")
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_enroll_slowly, args=(path, name, unit(*v))) for name, v in [("ada", (1, 0)), ("bo", (0, 1))]]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    assert sorted(Gallery.load(path).names) == ["ada", "bo"]


def test_two_enroll_commands_at_once_both_land(tmp_path, checkpoint, face_files):
    gallery = tmp_path / "g"
    procs = [subprocess.Popen([sys.executable, "-m", "facenet_edu", "enroll", "--checkpoint", str(checkpoint), "--gallery",
                               str(gallery), "--name", name, "--no-detect", image], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name, image in [("ada", face_files[0]), ("bo", face_files[2])]]
    for proc in procs:
        proc.wait(180)
        assert proc.returncode == 0, proc.stderr.read()
    assert sorted(Gallery.load(gallery).names) == ["ada", "bo"]


def test_gallery_paths_are_taken_as_given(capsys, tmp_path, checkpoint, face_files):
    enroll(capsys, checkpoint, tmp_path / "team.a", "ada", face_files[0])
    enroll(capsys, checkpoint, tmp_path / "team.b", "bo", face_files[2])
    assert Gallery.load(tmp_path / "team.a").names == ["ada"] and Gallery.load(tmp_path / "team.b").names == ["bo"]


def test_a_file_that_is_not_a_gallery_is_never_overwritten(capsys, tmp_path, checkpoint, face_files):
    mine = tmp_path / "mine.npz"
    np.savez(mine, data=np.arange(3))
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    for path in [mine, notes]:
        before = path.read_bytes()
        status, _, err = enroll(capsys, checkpoint, path, "ada", face_files[0])
        assert_one_error_line(status, err, str(path))
        assert path.read_bytes() == before
        gallery = Gallery()
        gallery.enroll_embeddings("ada", unit(1, 0))
        with pytest.raises(FaceNetEduError, match="not a facenet-edu gallery"):
            gallery.save(path)
        assert path.read_bytes() == before


# ---------------------------------------------------------------- 2. files checked on load


def _payload(checkpoint):
    return torch.load(checkpoint, weights_only=True)


CHECKPOINT_DAMAGE = {
    "a tensor of the wrong shape": lambda p: p["state_dict"].__setitem__("head.weight", torch.zeros(3, 3)),
    "a missing tensor": lambda p: p["state_dict"].pop("head.bias"),
    "an extra tensor": lambda p: p["state_dict"].__setitem__("extra.weight", torch.zeros(2)),
    "a NaN weight": lambda p: p["state_dict"]["head.bias"].fill_(float("nan")),
    "an integer weight": lambda p: p["state_dict"].__setitem__("head.bias", torch.zeros(16, dtype=torch.long)),
    "no state_dict": lambda p: p.pop("state_dict"),
    "no model_config": lambda p: p.pop("model_config"),
    "a config that is a list": lambda p: p.__setitem__("model_config", [16, 4, 32]),
    "a config with an unknown field": lambda p: p["model_config"].__setitem__("depth", 3),
    "a config field of the wrong type": lambda p: p["model_config"].__setitem__("width", "4"),
    "image_size 0": lambda p: p["model_config"].__setitem__("image_size", 0),
    "image_size 200000": lambda p: p["model_config"].__setitem__("image_size", 200_000),
    "a threshold that is a string": lambda p: p.__setitem__("threshold", "0.5"),
    "a NaN threshold": lambda p: p.__setitem__("threshold", float("nan")),
    "a negative threshold": lambda p: p.__setitem__("threshold", -1.0),
    "a version from the future": lambda p: p.__setitem__("version", 99),
    "a version that is a string": lambda p: p.__setitem__("version", "2"),
    "an unknown entry": lambda p: p.__setitem__("surprise", 1),
    "provenance that is a list": lambda p: p.__setitem__("provenance", [1, 2]),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_damaged_checkpoints_are_refused_with_the_file_named(damage, capsys, tmp_path, checkpoint, face_files):
    payload = _payload(checkpoint)
    CHECKPOINT_DAMAGE[damage](payload)
    path = tmp_path / "damaged.pt"
    torch.save(payload, path)
    with pytest.raises(FaceNetEduError, match="damaged.pt"):
        read_checkpoint(path)
    status, _, err = run(capsys, "verify", "--checkpoint", path, "--no-detect", face_files[0], face_files[1])
    assert_one_error_line(status, err, "damaged.pt")


def test_truncated_or_empty_checkpoints_and_folders_are_refused(capsys, tmp_path, checkpoint, face_files):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(checkpoint.read_bytes()[:500])
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path in [truncated, empty, tmp_path]:
        with pytest.raises(FaceNetEduError, match=str(path.name)):
            read_checkpoint(path)
        status, _, err = run(capsys, "verify", "--checkpoint", path, "--no-detect", face_files[0], face_files[1])
        assert_one_error_line(status, err, path.name)


def test_version_1_checkpoints_still_load(tmp_path, checkpoint):
    payload = _payload(checkpoint)
    old = {"format": payload["format"], "version": 1, "model_config": {k: v for k, v in payload["model_config"].items()
                                                                         if k not in ("crop_margin", "crop")},
           "state_dict": payload["state_dict"], "train_config": {}, "extra": {"threshold": 0.7, "dataset": "att"}}
    torch.save(old, tmp_path / "v1.pt")
    loaded = read_checkpoint(tmp_path / "v1.pt")
    assert loaded.threshold == 0.7 and loaded.provenance["dataset"] == "att" and loaded.model.config.crop_margin == 0.2


def _gallery_with(tmp_path, name="g", **arrays):
    """Write a gallery archive by hand: the arrays given replace those of a good one."""
    good = Gallery()
    good.enroll_embeddings("ada", np.stack([unit(1, 0), unit(0.8, 0.6)]))
    good.enroll_embeddings("bo", unit(0, 1))
    good.save(tmp_path / "good")
    with np.load(tmp_path / "good") as archive:
        content = {k: archive[k] for k in archive.files}
    content.update(arrays)
    path = tmp_path / name
    with open(path, "wb") as handle:
        np.savez(handle, **content)
    return path


def _meta(**changes):
    import json

    meta = {"format": "facenet-edu-gallery", "version": 2, "names": ["ada", "bo"], "embedding_dim": 2,
            "num_embeddings": 3, "threshold": None, "model_fingerprint": None, **changes}
    return np.frombuffer(json.dumps(meta).encode(), np.uint8)


GALLERY_DAMAGE = {
    "names missing": lambda: {"meta": _meta(names=None)},
    "names of the wrong type": lambda: {"meta": _meta(names="ada,bo")},
    "a name that is a number": lambda: {"meta": _meta(names=["ada", 7])},
    "a name with a newline": lambda: {"meta": _meta(names=["ada", "bo\nforged line"])},
    "too few names": lambda: {"meta": _meta(names=["ada"])},
    "a version from the future": lambda: {"meta": _meta(version=9)},
    "a NaN threshold": lambda: {"meta": b"not json at all"},
    "embeddings of the wrong rank": lambda: {"embeddings": np.ones((3, 2, 1), np.float32)},
    "embeddings of the wrong dtype": lambda: {"embeddings": np.ones((3, 2), np.int64)},
    "NaN embeddings": lambda: {"embeddings": np.full((3, 2), np.nan, np.float32)},
    "embeddings that are not unit vectors": lambda: {"embeddings": np.ones((3, 2), np.float32)},
    "person indices out of range": lambda: {"person": np.array([0, 0, 5])},
}


@pytest.mark.parametrize("damage", list(GALLERY_DAMAGE))
def test_damaged_galleries_are_refused_with_the_file_named(damage, capsys, tmp_path, checkpoint, face_files):
    arrays = GALLERY_DAMAGE[damage]()
    if isinstance(arrays.get("meta"), bytes):
        arrays["meta"] = np.frombuffer(arrays["meta"], np.uint8)
    path = _gallery_with(tmp_path, "damaged.gal", **arrays)
    with pytest.raises(FaceNetEduError, match="damaged.gal"):
        Gallery.load(path)
    status, _, err = run(capsys, "identify", "--checkpoint", checkpoint, "--gallery", path, "--no-detect", face_files[0])
    assert_one_error_line(status, err, "damaged.gal")
    before = path.read_bytes()
    status, _, err = enroll(capsys, checkpoint, path, "cy", face_files[0])
    assert_one_error_line(status, err, "damaged.gal")
    assert path.read_bytes() == before  # enroll does not replace a gallery it cannot read


def test_truncated_and_empty_galleries_are_refused(capsys, tmp_path, checkpoint, face_files):
    good = _gallery_with(tmp_path, "whole.gal")
    truncated = tmp_path / "truncated.gal"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    empty = tmp_path / "empty.gal"
    empty.write_bytes(b"")
    for path in [truncated, empty]:
        with pytest.raises(FaceNetEduError, match=path.name):
            Gallery.load(path)
        status, _, err = run(capsys, "identify", "--checkpoint", checkpoint, "--gallery", path, "--no-detect", face_files[0])
        assert_one_error_line(status, err, path.name)
    assert zipfile.is_zipfile(good)


def test_a_gallery_made_by_another_model_is_refused(capsys, tmp_path, checkpoint, other_checkpoint, face_files):
    gallery = tmp_path / "g"
    assert enroll(capsys, checkpoint, gallery, "ada", face_files[0])[0] == 0
    assert Gallery.load(gallery).model_fingerprint == model_fingerprint(read_checkpoint(checkpoint).model)
    status, _, err = run(capsys, "identify", "--checkpoint", other_checkpoint, "--gallery", gallery, "--no-detect", face_files[0])
    assert_one_error_line(status, err, "another model")
    status, _, err = enroll(capsys, other_checkpoint, gallery, "bo", face_files[2])
    assert_one_error_line(status, err, "another model")
    assert Gallery.load(gallery).names == ["ada"]


# ---------------------------------------------------------------- 3. oversized and tiny images


@pytest.fixture(scope="module")
def huge_images(tmp_path_factory):
    """Small files that claim huge pictures: 13000^2 (above our limit) and 20000^2 (above Pillow's own)."""
    folder = tmp_path_factory.mktemp("huge")
    for side in (13000, 20000):
        Image.new("L", (side, side)).save(folder / f"huge{side}.png")
    return folder


def test_oversized_images_are_refused_before_decoding(capsys, huge_images, checkpoint, face_files):
    assert 13000 * 13000 > MAX_IMAGE_PIXELS
    for side in (13000, 20000):
        path = huge_images / f"huge{side}.png"
        assert path.stat().st_size < 1_000_000
        with pytest.raises(FaceNetEduError, match="megapixels"):
            read_image(path)
        status, _, err = run(capsys, "verify", "--checkpoint", checkpoint, "--no-detect", face_files[0], path)
        assert_one_error_line(status, err, "megapixels")


def test_a_dataset_skips_an_oversized_image_like_any_unreadable_file(tmp_path, huge_images, face_files):
    for person, image in [("ann", face_files[0]), ("ben", face_files[2])]:
        (tmp_path / person).mkdir()
        (tmp_path / person / "a.png").write_bytes(open(image, "rb").read())
    (tmp_path / "ann" / "bomb.png").write_bytes((huge_images / "huge20000.png").read_bytes())
    (tmp_path / "ben" / "big.png").write_bytes((huge_images / "huge13000.png").read_bytes())
    with pytest.warns(UserWarning, match="Skipped 2"):
        dataset = read_image_folder(tmp_path)
    assert len(dataset) == 2 and sorted(os.path.basename(p) for p in dataset.skipped) == ["big.png", "bomb.png"]


def test_tiny_images_and_folders_as_images_get_a_clear_error(capsys, tmp_path, checkpoint, face_files):
    dot = tmp_path / "dot.png"
    Image.new("L", (1, 1)).save(dot)
    for image, needle in [(dot, "1 x 1 pixels"), (tmp_path, "is a folder")]:
        with pytest.raises(FaceNetEduError, match=needle):
            read_image(image)
        status, _, err = run(capsys, "verify", "--checkpoint", checkpoint, "--no-detect", face_files[0], image)
        assert_one_error_line(status, err, needle)
    with pytest.raises(FaceNetEduError, match="1 x 1"):
        read_image(np.ones((1, 1), np.float32))


# ---------------------------------------------------------------- 4. settings


@pytest.mark.parametrize("argv, needle", [
    (["--margin", "nan"], "margin"),
    (["--margin", "-0.1"], "margin"),
    (["--lr", "nan"], "lr"),
    (["--lr", "0"], "lr"),
    (["--device", "gpu"], "device"),
    (["--image-size", "0"], "image_size"),
    (["--image-size", "200000"], "image_size"),
    (["--embedding-dim", "0"], "embedding_dim"),
    (["--k", "1000"], "MAX_BATCH_SIZE"),
    (["--p", "1"], "p (identities"),
    (["--num-steps", "0"], "num_steps"),
    (["--num-steps", "many"], "invalid int"),
    (["--test-fraction", "1.5"], "test-fraction"),
    (["--loss", "arcface"], "invalid choice"),
])
def test_bad_training_settings_fail_before_any_work(argv, needle, capsys, tmp_path):
    start = time.perf_counter()
    status, out, err = run(capsys, "train", "--out", tmp_path / "m.pt", *argv)
    assert_one_error_line(status, err, needle)
    assert out == "" and not (tmp_path / "m.pt").exists() and time.perf_counter() - start < 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_cuda_without_a_gpu_says_so(capsys, tmp_path):
    status, _, err = run(capsys, "train", "--out", tmp_path / "m.pt", "--device", "cuda")
    assert_one_error_line(status, err, "no CUDA GPU")
    with pytest.raises(FaceNetEduError, match="no CUDA GPU"):
        TrainConfig(device="cuda")


@pytest.mark.parametrize("settings, message", [
    ({"margin": float("nan")}, "margin must be a finite number from 0 to 2"), ({"margin": -1.0}, "margin must be"),
    ({"lr": float("nan")}, "lr must be a finite number"), ({"lr": float("inf")}, "lr must be a finite number"),
    ({"num_steps": 0}, "num_steps must be a whole number >= 1"), ({"num_steps": 2.5}, "num_steps must be a whole number"),
    ({"p": 16, "k": 1000}, "more than 1024 .MAX_BATCH_SIZE.; lower p or k"), ({"k": 1}, r"k \(images per identity\) must"),
    ({"device": "gpu"}, "Unknown device 'gpu'"), ({"seed": -1}, "seed must be a whole number >= 0"),
    ({"offline_strategy": "easy"}, "offline_strategy must be one of"), ({"center_alpha": 2.0}, "center_alpha must be"),
    ({"margin": True}, "margin must be a finite number"),
])
def test_train_config_refuses_bad_settings(settings, message):
    """Each bad setting is refused by the sentence about that setting, not by any error that happens to match."""
    with pytest.raises(FaceNetEduError, match=message):
        TrainConfig(**settings)


@pytest.mark.parametrize("settings", [
    {"image_size": 0}, {"image_size": 200_000}, {"image_size": 31}, {"embedding_dim": 0}, {"width": 0},
    {"width": 4.0}, {"crop_margin": float("nan")}, {"crop_margin": -0.1},
])
def test_model_config_refuses_bad_settings(settings):
    with pytest.raises(FaceNetEduError, match="must be"):
        ModelConfig(**settings)


@pytest.mark.parametrize("value", ["nan", "-1", "inf", "abc"])
def test_bad_thresholds_are_refused(value, capsys, tmp_path, checkpoint, face_files):
    status, _, err = run(capsys, "verify", "--checkpoint", checkpoint, "--threshold", value, "--no-detect", face_files[0], face_files[1])
    assert_one_error_line(status, err, "threshold")
    gallery = tmp_path / "g"
    enroll(capsys, checkpoint, gallery, "ada", face_files[0])
    status, _, err = run(capsys, "identify", "--checkpoint", checkpoint, "--gallery", gallery, "--threshold", value,
                         "--no-detect", face_files[0])
    assert_one_error_line(status, err, "threshold")
    with pytest.raises(FaceNetEduError, match="threshold"):
        save_checkpoint(tmp_path / "m.pt", EmbeddingNet(ModelConfig(16, 4, 32)), threshold=float(value) if value != "abc" else value)


def test_other_bad_numbers_are_refused(capsys, tmp_path, checkpoint, face_files):
    for argv, needle in [(["demo", "--out", tmp_path, "--num-steps", "0"], "--num-steps"),
                         (["identify", "--checkpoint", checkpoint, "--gallery", tmp_path / "g", "--top-k", "0", face_files[0]], "--top-k")]:
        status, out, err = run(capsys, *argv)
        assert_one_error_line(status, err, needle)
        assert out == ""


def test_run_demo_refuses_zero_steps_instead_of_running_the_default(tmp_path):
    from facenet_edu.demo import run_demo

    with pytest.raises(FaceNetEduError, match="num_steps"):
        run_demo(tmp_path / "demo", num_steps=0)


# ---------------------------------------------------------------- 5. finished work is never thrown away


def _people_folder(root, num_people):
    data = synthetic_dataset(num_people, 4, image_size=32, seed=3)
    for index, image in enumerate(data.images[:, 0]):
        person = root / data.names[int(data.labels[index])]
        person.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image.numpy() * 255).astype(np.uint8)).save(person / f"{index}.png")
    return root


def test_output_paths_are_checked_before_the_work(capsys, tmp_path, checkpoint):
    status, out, err = run(capsys, "train", "--out", tmp_path / "nodir" / "m.pt", "--num-steps", "3")
    assert_one_error_line(status, err, "nodir")
    assert out == ""
    status, out, err = run(capsys, "evaluate", "--checkpoint", checkpoint, "--json", tmp_path / "nodir" / "r.json")
    assert_one_error_line(status, err, "nodir")
    assert out == ""


def test_too_few_people_fail_before_training(capsys, tmp_path):
    folder = _people_folder(tmp_path / "three", 3)
    status, out, err = run(capsys, "train", "--dataset", "folder", "--data-dir", folder, "--out", tmp_path / "m.pt")
    assert_one_error_line(status, err, "at least 4")
    assert out == "" and not (tmp_path / "m.pt").exists()


def test_eight_people_train_and_save_a_checkpoint(capsys, tmp_path):
    folder = _people_folder(tmp_path / "eight", 8)
    status, out, err = run(capsys, "train", "--dataset", "folder", "--data-dir", folder, "--num-steps", "2",
                           "--image-size", "32", "--embedding-dim", "8", "--no-detect", "--out", tmp_path / "m.pt")
    assert status == 0, err  # synthetic face crops, not photographs: the detector would find none in most
    checkpoint = read_checkpoint(tmp_path / "m.pt")
    assert checkpoint.threshold is not None and len(checkpoint.provenance["test_identities"]) == 2


# ---------------------------------------------------------------- 6. output


def test_names_with_control_characters_are_refused(capsys, tmp_path, checkpoint, face_files):
    for name in ["ada\nbo (distance 0.000)", "tab\there", "bell\x07", "\u2028"]:
        status, _, err = enroll(capsys, checkpoint, tmp_path / "g", name, face_files[0])
        assert_one_error_line(status, err, "name")
        with pytest.raises(FaceNetEduError, match="(?i)name"):
            Gallery().enroll_embeddings(name, unit(1, 0))
    assert not (tmp_path / "g").exists()


def test_a_closed_pipe_ends_quietly(tmp_path, checkpoint, face_files):
    gallery = tmp_path / "g"
    for name, image in [("ada", face_files[0]), ("bo", face_files[2])]:
        assert main(["enroll", "--checkpoint", str(checkpoint), "--gallery", str(gallery), "--name", name, "--no-detect", image]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "facenet_edu", "identify", "--checkpoint", str(checkpoint), "--gallery",
                             str(gallery), "--threshold", "2", "--no-detect", face_files[0]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -0`: the reader is gone before the first line is written
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and b"BrokenPipe" not in err and b"Traceback" not in err and err == b""


def test_error_messages_stay_on_one_line_even_for_odd_file_names(capsys, tmp_path, checkpoint, face_files):
    odd = tmp_path / "two\nlines.png"
    status, _, err = run(capsys, "verify", "--checkpoint", checkpoint, "--no-detect", face_files[0], odd)
    assert_one_error_line(status, err, "no such file")
