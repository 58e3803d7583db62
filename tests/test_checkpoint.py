"""Checkpoints: a round trip rebuilds the same model with its threshold and provenance; writes are all or nothing."""

import os

import pytest
import torch

from facenet_edu import TrainConfig
from facenet_edu.checkpoint import CHECKPOINT_VERSION, Checkpoint, load_checkpoint, read_checkpoint, save_checkpoint, is_checkpoint_file
from facenet_edu.errors import FaceNetEduError
from facenet_edu.model import EmbeddingNet, ModelConfig, embed, model_fingerprint

SMALL = ModelConfig(embedding_dim=8, width=4, image_size=32, crop_margin=0.3)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return EmbeddingNet(SMALL)


def test_read_checkpoint_returns_model_threshold_and_provenance(tmp_path, model):
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, TrainConfig(num_steps=3, margin=0.3), threshold=0.8, dataset="att", test_identities=["s1", "s2"])
    checkpoint = read_checkpoint(path)
    assert isinstance(checkpoint, Checkpoint) and checkpoint.path == path
    assert checkpoint.threshold == 0.8 and checkpoint.model.config == SMALL and not checkpoint.model.training
    assert checkpoint.provenance["dataset"] == "att" and checkpoint.provenance["test_identities"] == ["s1", "s2"]
    assert checkpoint.provenance["train_config"]["margin"] == 0.3
    images = torch.rand(3, 1, 32, 32)
    assert torch.equal(embed(model, images), embed(checkpoint.model, images))
    assert model_fingerprint(checkpoint.model) == model_fingerprint(model)
    assert model_fingerprint(load_checkpoint(path)) == model_fingerprint(model)
    assert torch.load(path, weights_only=True)["version"] == CHECKPOINT_VERSION


def test_the_fingerprint_changes_with_any_weight_or_setting(model):
    before = model_fingerprint(model)
    assert len(before) == 16 and before == model_fingerprint(model)
    with torch.no_grad():
        model.head.bias[0] += 1e-6
    assert model_fingerprint(model) != before
    torch.manual_seed(0)
    assert model_fingerprint(EmbeddingNet(ModelConfig(8, 4, 32, crop_margin=0.2))) != model_fingerprint(EmbeddingNet(SMALL))


def test_a_crash_while_saving_keeps_the_old_checkpoint(tmp_path, model, monkeypatch):
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, threshold=0.5)
    before = path.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, EmbeddingNet(SMALL), threshold=0.9)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.pt"]


def test_save_refuses_what_cannot_be_stored_safely(tmp_path, model):
    with pytest.raises(FaceNetEduError, match="plain values"):
        save_checkpoint(tmp_path / "m.pt", model, note=object())
    with pytest.raises(FaceNetEduError, match="does not exist"):
        save_checkpoint(tmp_path / "nodir" / "m.pt", model)
    with pytest.raises(FaceNetEduError, match="threshold"):
        save_checkpoint(tmp_path / "m.pt", model, threshold=float("nan"))
    assert os.listdir(tmp_path) == []


class _Evil:
    def __reduce__(self):
        return (print, ("this should never run",))


def test_pickled_objects_never_run(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "facenet-edu-checkpoint", "payload": _Evil()}, path)
    with pytest.raises(FaceNetEduError, match="not a facenet-edu checkpoint"):
        read_checkpoint(path)
    assert "should never run" not in capsys.readouterr().out


def test_a_saved_checkpoint_gets_a_new_files_usual_mode_not_the_temporary_files(tmp_path, model):
    old = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "m.pt", model)
    finally:
        os.umask(old)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o644  # readable by others, like any file the user makes


# ---------------------------------------------------------------- the face crop and format version 3


def test_the_crop_round_trips_and_is_checked(tmp_path):
    for crop in ("aligned", "box"):
        config = ModelConfig(embedding_dim=8, width=4, image_size=32, crop_margin=0.1, crop=crop)
        assert config.to_dict()["crop"] == crop
        save_checkpoint(tmp_path / f"{crop}.pt", EmbeddingNet(config))
        raw = torch.load(tmp_path / f"{crop}.pt", weights_only=True)
        assert raw["version"] == CHECKPOINT_VERSION == 3 and raw["model_config"]["crop"] == crop
        assert read_checkpoint(tmp_path / f"{crop}.pt").model.config == config
    assert ModelConfig().crop == "aligned"
    for bad in ("Aligned", "", None, 1, ["box"]):
        with pytest.raises(FaceNetEduError, match="crop must be one of 'aligned', 'box'"):
            ModelConfig(crop=bad)


def _version_2_file(tmp_path):
    """A box-crop model saved as version 2 wrote it (no crop field): (path, its raw payload)."""
    path = tmp_path / "old.pt"
    save_checkpoint(path, EmbeddingNet(ModelConfig(8, 4, 32, crop_margin=0.05, crop="box")))
    raw = torch.load(path, weights_only=True)
    raw["version"] = 2
    raw["model_config"] = {k: v for k, v in raw["model_config"].items() if k != "crop"}
    torch.save(raw, path)
    return path, raw


def test_an_older_checkpoint_loads_with_the_box_crop_and_its_own_border(tmp_path):
    """Version 2 files (the course model before aligned crops) keep their crop: a box grown by their crop_margin."""
    path, raw = _version_2_file(tmp_path)
    config = read_checkpoint(path).model.config
    assert config.crop == "box" and config.crop_margin == 0.05
    assert config.to_dict() == {**raw["model_config"], "crop": "box"}


def test_the_shipped_course_model_is_of_the_current_version_with_aligned_crops():
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[1] / "facenet_edu" / "course_model" / "course.pt"
    raw = torch.load(shipped, weights_only=True)
    assert raw["version"] == CHECKPOINT_VERSION and raw["model_config"]["crop"] == "aligned"
    assert read_checkpoint(shipped).model.config.crop == "aligned"

def test_a_crop_that_does_not_fit_the_version_is_refused(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, EmbeddingNet(SMALL))
    payload = torch.load(path, weights_only=True)
    version_2 = {**payload, "version": 2, "model_config": {k: v for k, v in payload["model_config"].items() if k != "crop"}}
    torch.save(version_2, path)
    assert read_checkpoint(path).model.config == ModelConfig(8, 4, 32, crop_margin=0.3, crop="box")
    torch.save({**version_2, "model_config": payload["model_config"]}, path)  # a crop in a file older than crops
    with pytest.raises(FaceNetEduError, match=r"unknown fields \['crop'\]"):
        read_checkpoint(path)
    torch.save({**version_2, "version": 3}, path)  # version 3 without its crop
    with pytest.raises(FaceNetEduError, match=r"lacks \['crop'\]"):
        read_checkpoint(path)
    torch.save({**payload, "model_config": {**payload["model_config"], "crop": "warped"}}, path)
    with pytest.raises(FaceNetEduError, match=r"m.pt: model_config: crop must be one of"):
        read_checkpoint(path)


def test_older_models_keep_their_fingerprint_so_their_galleries_still_open(tmp_path):
    """A gallery stores the fingerprint of its model; a version-2 model's must not change now that crops have a name."""
    import hashlib
    import json

    path, raw = _version_2_file(tmp_path)
    digest = hashlib.sha256(json.dumps(raw["model_config"], sort_keys=True).encode())  # as galleries of version 2 models saw it
    for name, tensor in sorted(raw["state_dict"].items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    model = read_checkpoint(path).model
    assert model.config.crop == "box" and model_fingerprint(model) == digest.hexdigest()[:16]
    aligned = EmbeddingNet(ModelConfig(**{**model.config.to_dict(), "crop": "aligned"}))
    aligned.load_state_dict(model.state_dict())
    assert model_fingerprint(aligned) != model_fingerprint(model)  # same weights, other crop: other embeddings

def test_save_checkpoint_replaces_a_checkpoint_but_never_another_file(tmp_path):
    model = EmbeddingNet(ModelConfig(8, 4, 32))
    photo = tmp_path / "ada.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 not really a photo, but a user's file")
    with pytest.raises(FaceNetEduError, match="not a facenet-edu checkpoint; it is left as it is"):
        save_checkpoint(photo, model)
    assert photo.read_bytes().startswith(b"\xff\xd8")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")  # a torch file of someone else's
    with pytest.raises(FaceNetEduError, match="not a facenet-edu checkpoint"):
        save_checkpoint(tmp_path / "other.pt", model)
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, threshold=0.5)
    assert is_checkpoint_file(path) and not is_checkpoint_file(photo) and not is_checkpoint_file(tmp_path / "none.pt")
    save_checkpoint(path, model, threshold=0.7)  # a checkpoint is replaced, all or nothing
    assert read_checkpoint(path).threshold == 0.7
    for bad in (float("nan"), -0.1, float("inf")):
        with pytest.raises(FaceNetEduError, match="threshold"):
            save_checkpoint(path, model, threshold=bad)


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path):
    images = torch.rand(4, 1, 32, 32)
    model = EmbeddingNet(SMALL)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, TrainConfig(num_steps=3), threshold=0.8)
    loaded = load_checkpoint(path)
    assert loaded.config == SMALL
    assert torch.allclose(embed(model, images), embed(loaded, images))


def test_load_checkpoint_refuses_what_is_not_one(tmp_path):
    with pytest.raises(FaceNetEduError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(FaceNetEduError, match="not a facenet-edu checkpoint"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(FaceNetEduError, match="marker"):
        load_checkpoint(plain)
