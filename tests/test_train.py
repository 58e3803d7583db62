"""Training: the loss falls, held-out verification improves, runs are repeatable, checkpoints are safe."""


import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from facenet_edu import EmbeddingNet, FaceNetEduError, ModelConfig, embed, split_by_identity, synthetic_dataset
from facenet_edu.train import TrainConfig, load_checkpoint, save_checkpoint, train

SMALL = ModelConfig(embedding_dim=32, width=8, image_size=48)


def _auc(embeddings: torch.Tensor, labels: torch.Tensor) -> float:
    """ROC AUC of -distance over all pairs, computed directly with scikit-learn."""
    i, j = torch.triu_indices(len(labels), len(labels), 1)
    dists = (embeddings[i] - embeddings[j]).norm(dim=1).numpy()
    return roc_auc_score((labels[i] == labels[j]).numpy(), -dists)


@pytest.fixture(scope="module")
def faces():
    data = synthetic_dataset(num_identities=30, images_per_identity=8, image_size=48, seed=1)
    return split_by_identity(data, num_test_identities=8, seed=0)


def test_short_training_lowers_loss_and_improves_unseen_verification(faces):
    train_set, test_set = faces
    torch.manual_seed(0)
    model = EmbeddingNet(SMALL)
    auc_before = _auc(embed(model, test_set.images), test_set.labels)
    history = train(model, train_set, TrainConfig(num_steps=120, p=8, k=4, margin=0.2, progress=False))
    auc_after = _auc(embed(model, test_set.images), test_set.labels)
    first, last = np.mean(history.loss[:10]), np.mean(history.loss[-10:])
    assert last < 0.7 * first, (first, last)
    assert auc_after > auc_before + 0.05, (auc_before, auc_after)
    assert auc_after > 0.8
    assert len(history.step) == 120 and all(0 <= f <= 1 for f in history.active_fraction)


@pytest.mark.parametrize("loss", ["batch-hard", "batch-all", "contrastive", "center"])
def test_every_loss_trains_a_few_steps_with_finite_history(faces, loss):
    train_set, _ = faces
    torch.manual_seed(0)
    history = train(EmbeddingNet(SMALL), train_set, TrainConfig(loss=loss, num_steps=6, p=4, k=3, progress=False))
    assert len(history.loss) == 6
    assert np.isfinite(history.loss).all() and np.isfinite(history.mean_an_dist).all()


def test_offline_mining_trains_and_records(faces):
    train_set, _ = faces
    torch.manual_seed(0)
    cfg = TrainConfig(mining="offline", offline_every=3, num_steps=7, p=4, k=3, progress=False)
    history = train(EmbeddingNet(SMALL), train_set, cfg)
    assert len(history.loss) == 7 and np.isfinite(history.loss).all()


def test_training_is_deterministic_under_a_seed_on_cpu(faces):
    train_set, _ = faces
    weights = []
    for _ in range(2):
        torch.manual_seed(3)
        model = EmbeddingNet(SMALL)
        train(model, train_set, TrainConfig(num_steps=5, p=4, k=3, seed=7, progress=False, device="cpu"))
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_snapshots_of_the_probe_set(faces):
    train_set, test_set = faces
    history = train(EmbeddingNet(SMALL), train_set,
                    TrainConfig(num_steps=6, p=4, k=3, snapshot_every=3, progress=False), probe_images=test_set.images[:10])
    assert [step for step, _ in history.snapshots] == [0, 3, 6]
    assert all(emb.shape == (10, 32) for _, emb in history.snapshots)


def test_bad_settings_are_refused_in_plain_words():
    with pytest.raises(FaceNetEduError, match="Unknown loss"):
        TrainConfig(loss="arcface")
    with pytest.raises(FaceNetEduError, match="needs a triplet loss"):
        TrainConfig(loss="center", mining="offline")


def test_checkpoint_round_trip_rebuilds_the_same_model(tmp_path, faces):
    _, test_set = faces
    model = EmbeddingNet(SMALL)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, TrainConfig(num_steps=3), threshold=0.8)
    loaded = load_checkpoint(path)
    assert loaded.config == SMALL
    assert torch.allclose(embed(model, test_set.images[:4]), embed(loaded, test_set.images[:4]))


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


class _Evil:
    def __reduce__(self):
        return (print, ("this should never run",))


def test_load_checkpoint_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "facenet-edu-checkpoint", "payload": _Evil()}, path)
    with pytest.raises(FaceNetEduError, match="not a facenet-edu checkpoint"):
        load_checkpoint(path)
