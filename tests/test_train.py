"""Training: the loss falls, held-out verification improves, runs are repeatable, checkpoints are safe."""

import copy
import importlib
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from facenet_edu import EmbeddingNet, FaceNetEduError, ModelConfig, embed, split_by_identity, synthetic_dataset
from facenet_edu.augment import augment
from facenet_edu.data import FaceDataset
from facenet_edu.losses import batch_semihard_triplet_loss
from facenet_edu.sampling import PKSampler
from facenet_edu.train import TrainConfig, train

SMALL = ModelConfig(embedding_dim=32, width=8, image_size=48)
train_module = importlib.import_module("facenet_edu.train")   # the module (facenet_edu.train is the function)


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
    for loss in ("center", "batch-all", "batch-hard"):  # offline trains the triplet loss on its own triplets: loss would do nothing
        with pytest.raises(FaceNetEduError, match=f"loss='{loss}' would do nothing.*offline_strategy"):
            TrainConfig(loss=loss, mining="offline")


# ---------------------------------------------------------------- the loop, against a slow obvious version

class FailsAtCall(EmbeddingNet):
    """A network whose ``bad_call``-th forward pass returns NaN: training diverges at a known step."""

    def __init__(self, config: ModelConfig, bad_call: int):
        super().__init__(config)
        self.calls, self.bad_call = 0, bad_call

    def forward(self, images):
        self.calls += 1
        out = super().forward(images)
        return out * float("nan") if self.calls == self.bad_call else out


def _reference_training(model, dataset, cfg: TrainConfig) -> list[float]:
    """The online semi-hard loop written out plainly, one step after the other (what ``train`` must equal on the CPU)."""
    generator = torch.Generator().manual_seed(cfg.seed)
    sampler = PKSampler(dataset.labels, cfg.p, cfg.k, cfg.num_steps, generator)
    _, labels = dataset.labels.unique(return_inverse=True)
    model.train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(1, cfg.num_steps // 20)
    losses = []
    for step, batch_idx in enumerate(sampler):
        if step < warmup:
            factor = (step + 1) / warmup
        else:
            factor = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, cfg.num_steps - warmup)))
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * factor
        images = augment(dataset.images[batch_idx], generator, cfg.augment).contiguous(memory_format=torch.channels_last)
        result = batch_semihard_triplet_loss(model(images), labels[batch_idx], cfg.margin)
        losses.append(float(result.loss.detach()))
        optimizer.zero_grad()
        result.loss.backward()
        optimizer.step()
    return losses


def test_train_on_the_cpu_equals_the_loop_written_out(faces):
    train_set, _ = faces
    cfg = TrainConfig(num_steps=8, p=4, k=3, seed=5, device="cpu", progress=False)
    torch.manual_seed(2)
    initial = EmbeddingNet(SMALL)
    model, reference = copy.deepcopy(initial), copy.deepcopy(initial)
    history = train(model, train_set, cfg)
    assert history.loss == _reference_training(reference, train_set, cfg)      # bit for bit, step by step
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), reference.parameters()))


def test_nan_embeddings_stop_training_before_the_bad_update(faces):
    train_set, _ = faces
    torch.manual_seed(0)
    model = FailsAtCall(SMALL, bad_call=30)
    with pytest.raises(FaceNetEduError, match="diverged"):
        train(model, train_set, TrainConfig(num_steps=40, p=4, k=3, device="cpu", progress=False))
    assert all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())


def nan_loss_at_call(bad_call: int):
    """The semi-hard loss, except that its ``bad_call``-th value is NaN (the embeddings stay finite)."""
    calls = []

    def loss(embeddings, labels, margin, **kwargs):
        calls.append(1)
        result = batch_semihard_triplet_loss(embeddings, labels, margin, **kwargs)
        return result._replace(loss=result.loss * float("nan")) if len(calls) == bad_call else result
    return loss


def test_a_nan_loss_found_late_puts_the_last_checked_weights_back(faces, monkeypatch):
    """As on a GPU, where the loss is checked every SYNC_EVERY steps: here every 5 steps, on the CPU."""
    train_set, _ = faces
    monkeypatch.setattr(train_module, "CPU_SYNC_EVERY", 5)
    monkeypatch.setitem(train_module.BATCH_LOSSES, "semi-hard", nan_loss_at_call(8))   # step 7
    torch.manual_seed(0)
    model = EmbeddingNet(SMALL)
    with pytest.raises(FaceNetEduError, match="diverged at step 7 .*before step 4"):
        train(model, train_set, TrainConfig(num_steps=12, p=4, k=3, device="cpu", progress=False))
    # The reference: the same run checked at every step, stopped by a NaN at step 4, before its update.
    monkeypatch.setattr(train_module, "CPU_SYNC_EVERY", 1)
    monkeypatch.setitem(train_module.BATCH_LOSSES, "semi-hard", nan_loss_at_call(5))
    torch.manual_seed(0)
    reference = EmbeddingNet(SMALL)
    with pytest.raises(FaceNetEduError, match="diverged at step 4"):
        train(reference, train_set, TrainConfig(num_steps=12, p=4, k=3, device="cpu", progress=False))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))


@pytest.mark.parametrize("bad", [float("nan"), 2.0])
def test_a_training_set_with_bad_pixels_is_refused_before_training(faces, bad):
    train_set, _ = faces
    images = train_set.images.clone()
    images[3, 0, 10, 10] = bad
    model = EmbeddingNet(SMALL)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(FaceNetEduError, match="NaN or infinite|Pixels must lie"):
        train(model, FaceDataset(images, train_set.labels, train_set.names), TrainConfig(num_steps=3, p=4, k=3, progress=False))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
