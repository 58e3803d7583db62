"""The files a user keeps (issue 20): dataset trees with links and depth, outputs that would overwrite
the wrong file, galleries reached through a link, and a full disk.

Each ends in one `error:` line and exit status 2 on the command line (or one FaceNetEduError in
Python) and leaves every file the user had as it was; a full disk is simulated by making the write
raise OSError(ENOSPC).
"""

import errno
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import assert_one_error_line, enroll, run, tiny_checkpoint
from facenet_edu import EmbeddingNet, ModelConfig, synthetic_dataset
from facenet_edu.checkpoint import read_checkpoint, save_checkpoint
from facenet_edu.data import MAX_FOLDER_DEPTH, read_image_folder
from facenet_edu.datasets import load_dataset
from facenet_edu.errors import FaceNetEduError
from facenet_edu.files import write_atomically
from facenet_edu.gallery import Gallery


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("ckpt"))


def _people(root: Path, num_people: int = 2, per_person: int = 2) -> Path:
    """root/<name>/<i>.png: synthetic faces, ``per_person`` each."""
    data = synthetic_dataset(num_people, per_person, image_size=32, seed=4)
    for index, image in enumerate(data.images[:, 0]):
        person = root / data.names[int(data.labels[index])]
        person.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image.numpy() * 255).astype(np.uint8)).save(person / f"{index}.png")
    return root


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


# ---------------------------------------------------------------- 3. dataset trees: links and depth


def test_a_person_folder_linked_to_the_root_is_no_phantom_person(tmp_path):
    root = _people(tmp_path / "faces")
    os.symlink(root, root / "everyone")                    # a person folder that is the whole dataset
    os.symlink(root / "synth000", root / "synth001" / "loop")  # a link below a person, to another person
    with pytest.warns(UserWarning, match="Did not follow 2 folder link"):
        dataset = load_dataset("folder", root)
    assert dataset.names == ["synth000", "synth001"] and torch.bincount(dataset.labels).tolist() == [2, 2]


def test_the_root_may_be_a_link_and_file_links_are_read(tmp_path):
    real = _people(tmp_path / "real")
    os.symlink(real / "synth000" / "0.png", real / "synth001" / "also.png")
    os.symlink(real, tmp_path / "link")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing was left out
        dataset = read_image_folder(tmp_path / "link")
    assert torch.bincount(dataset.labels).tolist() == [2, 3]


def _deep(person: Path, levels: int) -> Path:
    folder = person
    for _ in range(levels):  # one level at a time: makedirs itself recurses once per level
        folder = folder / "d"
        os.mkdir(folder)
    return folder


def test_images_a_few_folders_deep_are_read(tmp_path):
    root = _people(tmp_path / "faces")
    shutil.move(str(root / "synth001" / "3.png"), _deep(root / "synth001", MAX_FOLDER_DEPTH) / "3.png")
    dataset = read_image_folder(root)
    assert torch.bincount(dataset.labels).tolist() == [2, 2]


def _remove_tree(top: str) -> None:
    """Remove a folder tree without recursion (shutil.rmtree, and so pytest's own clean-up, recurse once per level)."""
    stack, folders = [top], []
    while stack:
        folders.append(stack.pop())
        for entry in os.scandir(folders[-1]):
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            else:
                os.unlink(entry.path)
    for folder in reversed(folders):
        os.rmdir(folder)


@pytest.mark.parametrize("levels", [MAX_FOLDER_DEPTH + 1, 990])
def test_a_tree_too_deep_is_refused_without_recursion(levels, capsys):
    top = tempfile.mkdtemp(prefix="facenet-edu-deep-")  # outside pytest's tmp_path: its clean-up could not remove 990 levels
    try:
        root = _people(Path(top) / "faces")
        _deep(root / "synth001", levels)
        with pytest.raises(FaceNetEduError, match=f"more than {MAX_FOLDER_DEPTH} folders below"):
            read_image_folder(root)
        status, out, err = run(capsys, "data", "--dataset", "folder", "--data-dir", root)
        assert_one_error_line(status, err, "Flatten the tree")
    finally:
        _remove_tree(top)


# ---------------------------------------------------------------- 5. outputs never overwrite the wrong file


@pytest.fixture
def kept_files(tmp_path, checkpoint):
    """A gallery, a photo, a text file and a copy of the checkpoint, side by side."""
    gallery = Gallery()
    gallery.enroll_embeddings("ada", np.float32([1, 0]))
    gallery.save(tmp_path / "team.gal")
    Image.fromarray(np.full((40, 40), 90, np.uint8)).save(tmp_path / "photo.png")
    (tmp_path / "notes.txt").write_text("my notes")
    shutil.copy(checkpoint, tmp_path / "model.pt")
    return tmp_path


@pytest.mark.parametrize("target", ["team.gal", "photo.png", "notes.txt", "model.pt"])
def test_evaluate_json_never_overwrites_another_kind_of_file_or_its_checkpoint(target, capsys, kept_files):
    before = _snapshot(kept_files)
    status, out, err = run(capsys, "evaluate", "--checkpoint", kept_files / "model.pt", "--json", kept_files / target)
    needle = "also this command's input" if target == "model.pt" else "is not a results file"
    assert_one_error_line(status, err, target, needle)
    assert out == "" and _snapshot(kept_files) == before


@pytest.mark.parametrize("target", ["team.gal", "photo.png", "notes.txt"])
def test_train_out_never_overwrites_another_kind_of_file(target, capsys, kept_files):
    before = _snapshot(kept_files)
    status, out, err = run(capsys, "train", "--num-steps", "1", "--out", kept_files / target)
    assert_one_error_line(status, err, target, "is not a facenet-edu checkpoint")
    assert out == "" and _snapshot(kept_files) == before


def test_train_out_is_never_the_checkpoint_it_starts_from(capsys, kept_files):
    os.symlink(kept_files / "model.pt", kept_files / "alias.pt")
    before = _snapshot(kept_files)
    for out_path in ["model.pt", "alias.pt"]:  # the same file under another name too
        status, out, err = run(capsys, "train", "--init", kept_files / "model.pt", "--out", kept_files / out_path)
        assert_one_error_line(status, err, "also this command's input")
        assert out == ""
    assert _snapshot(kept_files) == before


def test_evaluate_json_replaces_earlier_results(capsys, tmp_path, checkpoint):
    results = tmp_path / "r.json"
    results.write_text(json.dumps({"model": {"verification_accuracy": 0.5}}))
    status, out, err = run(capsys, "evaluate", "--checkpoint", checkpoint, "--no-detect", "--json", results)
    assert status == 0, err
    assert set(json.loads(results.read_text())["model"]) >= {"verification_accuracy", "roc_auc", "rank1"}


# ---------------------------------------------------------------- 6. a gallery reached through a link


def test_enroll_through_a_link_updates_the_linked_gallery(capsys, tmp_path, checkpoint, face_files):
    real = tmp_path / "real.gal"
    assert enroll(capsys, checkpoint, real, "ada", face_files[0])[0] == 0
    link = tmp_path / "link.gal"
    os.symlink(real, link)
    status, out, err = enroll(capsys, checkpoint, link, "bo", face_files[2])
    assert status == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert Gallery.load(real).names == ["ada", "bo"] and Gallery.load(link).names == ["ada", "bo"]
    assert (tmp_path / "real.gal.lock").exists() and not (tmp_path / "link.gal.lock").exists()  # one lock per gallery


def test_write_atomically_replaces_a_links_target_and_keeps_the_link(tmp_path):
    (tmp_path / "target").write_bytes(b"old")
    os.symlink("target", tmp_path / "link")  # a relative link
    write_atomically(tmp_path / "link", lambda handle: handle.write(b"new"))
    assert (tmp_path / "link").is_symlink() and (tmp_path / "target").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "target"]


# ---------------------------------------------------------------- 7. a full disk


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_enroll_on_a_full_disk_is_one_line_and_keeps_the_gallery(monkeypatch, capsys, tmp_path, checkpoint, face_files):
    gallery = tmp_path / "g"
    assert enroll(capsys, checkpoint, gallery, "ada", face_files[0])[0] == 0
    before = gallery.read_bytes()
    monkeypatch.setattr(np, "savez", _disk_full)
    status, out, err = enroll(capsys, checkpoint, gallery, "bo", face_files[2])
    assert_one_error_line(status, err, "No space left on device", str(gallery))
    monkeypatch.undo()
    assert gallery.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["g", "g.lock"]


def test_a_full_disk_is_one_error_from_write_atomically(monkeypatch, tmp_path):
    (tmp_path / "f").write_bytes(b"old")
    with pytest.raises(FaceNetEduError, match="No space left on device.*nothing was changed"):
        write_atomically(tmp_path / "f", _disk_full)
    assert (tmp_path / "f").read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f"]
    with pytest.raises(ZeroDivisionError):  # a bug in the writer is not dressed up as a disk problem
        write_atomically(tmp_path / "f", lambda handle: 1 / 0)


TRAIN_QUICK = ("train", "--num-steps", "1", "--p", "4", "--image-size", "32", "--embedding-dim", "8", "--width", "4")


def test_a_failed_save_after_training_keeps_the_model_and_says_where(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system_tmp"))
    (tmp_path / "system_tmp").mkdir()
    real_save = torch.save
    calls = []

    def full_then_fine(obj, handle, *args, **kwargs):
        calls.append(handle)
        if len(calls) == 1:
            _disk_full()
        return real_save(obj, handle, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_then_fine)
    status, out, err = run(capsys, *TRAIN_QUICK, "--out", tmp_path / "m.pt")
    assert_one_error_line(status, err, "No space left on device", "kept in", after_progress=True)
    kept = list((tmp_path / "system_tmp").glob("facenet-edu-unsaved-*"))
    assert len(kept) == 1 and str(kept[0]) in err and not (tmp_path / "m.pt").exists()
    assert read_checkpoint(kept[0]).model.config.embedding_dim == 8  # the trained model, whole


def test_when_no_save_works_the_loss_is_said_plainly(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "system_tmp"))
    (tmp_path / "system_tmp").mkdir()
    monkeypatch.setattr(torch, "save", _disk_full)
    status, _, err = run(capsys, *TRAIN_QUICK, "--out", tmp_path / "m.pt")
    assert_one_error_line(status, err, "No space left on device", "the training run is lost", after_progress=True)
    assert list((tmp_path / "system_tmp").glob("facenet-edu-unsaved-*")) == []


def test_too_little_free_space_is_refused_before_the_work(monkeypatch, capsys, tmp_path, checkpoint, face_files):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    status, out, err = run(capsys, *TRAIN_QUICK, "--out", tmp_path / "m.pt")
    assert_one_error_line(status, err, "MB free")
    assert out == "" and not (tmp_path / "m.pt").exists()
    status, out, err = enroll(capsys, checkpoint, tmp_path / "g", "ada", face_files[0])
    assert_one_error_line(status, err, "MB free")
    assert not (tmp_path / "g").exists()
