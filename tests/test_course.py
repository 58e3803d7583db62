"""The course model: training on LFW through the CLI, the shipped checkpoint, its card's figures, fine-tuning."""

import json

import pytest
import torch

from facenet_edu import cli, course, lfw, lfw_lists
from facenet_edu.checkpoint import read_checkpoint
from facenet_edu.datasets import load_dataset
from facenet_edu.evaluate import evaluate_embeddings
from facenet_edu.verification import verification_accuracy_lfw
from facenet_edu.faces import prepare_dataset
from facenet_edu.model import embed


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def small_lfw(tmp_path, monkeypatch, make_fake_lfw):
    """A 12-person miniature LFW whose DevTest pairs use 3 of them; caches go to tmp_path."""
    monkeypatch.setenv("FACENET_EDU_DATA", str(tmp_path / "cache_home"))
    monkeypatch.delenv(lfw_lists.LFW_ENV_VAR, raising=False)
    people = {f"P{i:02d}_X": 3 for i in range(12)}
    same = [("P00_X", 1, 2), ("P01_X", 1, 3), ("P02_X", 2, 3)] * 4
    different = [("P00_X", 1, "P01_X", 2), ("P01_X", 1, "P02_X", 3), ("P02_X", 1, "P00_X", 3)] * 4
    return make_fake_lfw(tmp_path / "copy", people, same, different)


def test_train_and_evaluate_on_lfw_through_the_cli(capsys, tmp_path, small_lfw):
    out = tmp_path / "m.pt"
    status, text, err = run(capsys, "train", "--dataset", "lfw", "--data-dir", str(small_lfw), "--num-steps", "3",
                            "--p", "3", "--k", "2", "--val-people", "3", "--crop-margin", "0.1", "--out", str(out))
    assert status == 0, err
    assert "on 6 LFW people" in text  # 12 people - 3 DevTest people - 3 validation people
    checkpoint = read_checkpoint(out)
    provenance = checkpoint.provenance
    assert provenance["dataset"] == "lfw" and provenance["train_people"] == 6 and provenance["validation_people"] == 3
    assert provenance["command"].startswith("python -m facenet_edu train --dataset lfw")
    assert checkpoint.model.config.crop_margin == 0.1 and checkpoint.threshold is not None

    report = tmp_path / "r.json"
    status, text, err = run(capsys, "evaluate", "--checkpoint", str(out), "--dataset", "lfw", "--data-dir", str(small_lfw),
                            "--baselines", "--json", str(report))
    assert status == 0, err
    results = json.loads(report.read_text())
    assert set(results) == {"model", "raw_pixels", "eigenfaces"}
    for metrics in results.values():
        assert {"verification_accuracy", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3"} <= set(metrics)
    # the model's figure, recomputed by hand from the pairs' photos (prepared as the checkpoint says)
    pairs = lfw.load_lfw_pairs(small_lfw, "devtest", 64, 0.1)
    e = embed(checkpoint.model, pairs.images)
    d = (e[pairs.index_a] - e[pairs.index_b]).norm(dim=1).numpy()
    assert results["model"]["verification_accuracy"] == pytest.approx(verification_accuracy_lfw(d, pairs.is_same.numpy())["mean"])


def test_the_course_model_loads_with_its_preprocessing_and_threshold():
    checkpoint = course.read_course_checkpoint()
    model = course.load_course_model()
    assert not model.training
    assert model.config == checkpoint.model.config
    assert 0 < checkpoint.threshold < 2
    assert 0 < checkpoint.provenance["threshold_far_1e-2"] <= checkpoint.threshold
    assert checkpoint.provenance["dataset"] == "lfw"
    assert course.COURSE_CHECKPOINT.stat().st_size < 5_000_000
    faces = torch.rand(3, 1, model.config.image_size, model.config.image_size)
    assert torch.allclose(embed(model, faces).norm(dim=1), torch.ones(3), atol=1e-5)


def test_the_card_figures_are_those_of_the_shipped_model(lfw_dir, tmp_path, monkeypatch):
    """The DevTest figures of card.json and MODEL_CARD.md, recomputed from the committed weights."""
    monkeypatch.setenv("FACENET_EDU_DATA", str(tmp_path))
    card = json.loads(course.COURSE_CARD.read_text())
    text = (course.COURSE_DIR / "MODEL_CARD.md").read_text()
    model = course.load_course_model()
    results = course.evaluate_on_lfw_pairs(model, lfw_dir, "devtest")
    for key, value in results["model"].items():
        assert card["lfw_devtest"]["model"][key] == pytest.approx(value, abs=1e-9), key
    accuracy = results["model"]["verification_accuracy"]
    assert f"| course model | {accuracy:.3f} | {results['model']['roc_auc']:.3f} |" in text
    assert card["lfw_devtest"]["model"]["verification_accuracy"] > card["lfw_devtest"]["eigenfaces"]["verification_accuracy"]


def test_the_card_figures_on_att_are_those_of_the_shipped_model(att_dir):
    card = json.loads(course.COURSE_CARD.read_text())
    model = course.load_course_model()
    faces = prepare_dataset(load_dataset("att", att_dir), model.config, detect=True)
    recomputed = evaluate_embeddings(embed(model, faces.images), faces.labels)
    for key in ("verification_accuracy", "rank1", "dir_at_far_1e-2"):
        assert card["att_all_40"]["model"][key] == pytest.approx(recomputed[key], abs=1e-9), key


def test_fine_tuning_starts_from_the_course_model(capsys, tmp_path):
    out = tmp_path / "tuned.pt"
    status, text, err = run(capsys, "train", "--init", "course", "--dataset", "synthetic", "--num-steps", "2",
                            "--lr", "1e-6", "--p", "4", "--out", str(out))
    assert status == 0, err
    tuned = read_checkpoint(out)
    shipped = course.load_course_model()
    assert tuned.model.config == shipped.config  # network and preprocessing come from the course model
    assert tuned.provenance["init"] == "course"
    before, after = shipped.state_dict(), tuned.model.state_dict()
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert changed  # it trained ...
    drift = max(float((before[n].float() - after[n].float()).abs().max()) for n in before if before[n].is_floating_point()
                and "running" not in n)
    assert drift < 1e-3  # ... from the course model's weights, not from a fresh network


def test_checkpoint_course_works_on_every_command_that_takes_one(capsys, tmp_path, att_dir):
    photo_a, photo_b = att_dir / "s3" / "1.pgm", att_dir / "s3" / "2.pgm"
    status, text, err = run(capsys, "verify", "--checkpoint", "course", str(photo_a), str(photo_b))
    assert status == 0, err
    assert "distance" in text
    gallery = tmp_path / "team.gallery"
    assert run(capsys, "enroll", "--checkpoint", "course", "--gallery", str(gallery), "--name", "s3", str(photo_a))[0] == 0
    status, text, err = run(capsys, "identify", "--checkpoint", "course", "--gallery", str(gallery), str(photo_b))
    assert status == 0, err
    assert text.split()[0] in ("s3", "unknown")


def test_missing_course_model_says_how_to_get_one(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(course, "COURSE_CHECKPOINT", tmp_path / "none.pt")
    status, _, err = run(capsys, "verify", "--checkpoint", "course", "a.jpg", "b.jpg")
    assert status == 2 and "course model is missing" in err and err.count("\n") == 1


def test_evaluate_the_course_model_on_any_folder_of_people(capsys, tmp_path, att_dir):
    for detect in ("--detect", "--no-detect"):
        report = tmp_path / f"r{detect}.json"
        status, text, err = run(capsys, "evaluate", "--checkpoint", "course", "--dataset", "folder", "--data-dir", str(att_dir),
                                detect, "--json", str(report))
        assert status == 0, err
        assert 0.5 < json.loads(report.read_text())["model"]["verification_accuracy"] <= 1.0


def test_prepare_split_crops_photographs_with_the_detector_and_only_resizes_synthetic_faces(monkeypatch):
    from facenet_edu.data import FaceDataset, synthetic_dataset
    from facenet_edu.splits import CourseSplit, course_split
    from facenet_edu.model import ModelConfig

    config = ModelConfig(image_size=32)
    synthetic = course_split(synthetic_dataset(num_identities=8, images_per_identity=2, image_size=48))
    prepared = course.prepare_split(synthetic, config)
    for part, done in zip(synthetic, prepared):
        assert torch.equal(done.images, prepare_dataset(part, config, detect=False).images)
        assert torch.equal(done.labels, part.labels)
    photographs = CourseSplit(*(FaceDataset(part.images, part.labels, part.names, "photographs") for part in synthetic))
    from facenet_edu import faces
    import numpy as np

    from facenet_edu.detector import Face

    # the detector on synthetic faces finds some and not others (more than half missing is refused): a fixed face instead
    monkeypatch.setattr(faces, "detect_faces", lambda grey, **kw: [Face((8, 8, 32, 32), np.array(
        [[18, 20], [30, 20], [24, 27], [19, 34], [29, 34]], np.float32), 0.99)])
    detected = course.prepare_split(photographs, config)
    assert torch.equal(detected.test.images, prepare_dataset(photographs.test, config, detect=True).images)
