"""One training function for every loss (checkpoints live in ``facenet_edu.checkpoint``).

A training step reads like the paper:

    embeddings = model(images)                       # (B, D), unit vectors
    result = batch_semihard_triplet_loss(embeddings, labels, margin)
    result.loss.backward()

Online mining happens inside each P x K batch, with the current network, at every
step. Offline mining (``mining="offline"``) instead embeds a subset of the training
set every ``offline_every`` steps and draws the next steps' triplets from it.
"""

import copy
import math
import time
from dataclasses import dataclass, field

import torch

from .augment import AugmentConfig, augment
from .data import FaceDataset
from .errors import FaceNetEduError, check_number
from .center_loss import CenterLoss
from .losses import (
    LossResult,
    fetch_numbers,
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    batch_semihard_triplet_loss,
    contrastive_loss,
    triplet_loss,
)
from .model import EmbeddingNet, check_images, embed
from .offline import mine_offline
from .runtime import progress_bar, resolve_device, to_device

BATCH_LOSSES = {
    "semi-hard": batch_semihard_triplet_loss,
    "batch-hard": batch_hard_triplet_loss,
    "batch-all": batch_all_triplet_loss,
    "contrastive": contrastive_loss,
}
LOSSES = (*BATCH_LOSSES, "center")
OFFLINE_STRATEGIES = ("semi-hard", "hard", "all")
MAX_BATCH_SIZE = 1024   # p * k images per step; larger batches only exhaust memory on a laptop
SYNC_EVERY = 25         # on a GPU, fetch the step statistics and check the loss every this many steps
CPU_SYNC_EVERY = 1      # on the CPU nothing runs ahead, so every step is checked before its update


@dataclass
class TrainConfig:
    """Settings of one training run; every field has a working default.

    Attributes:
        loss: "semi-hard" (FaceNet), "batch-hard" (Hermans et al.), "batch-all",
            "contrastive" (pairs) or "center" (softmax + center loss, Wen et al.).
        margin: the triplet (or contrastive) margin; a training constraint, not a threshold.
        num_steps: optimiser steps.
        p, k: identities per batch and images per identity (batch size p * k).
        lr: Adam learning rate, with a short warm-up then cosine decay to lr / 20.
        mining: "online" (in each batch, current network) or "offline" (the triplet loss on triplets chosen
            every ``offline_every`` steps; ``loss`` stays at its default, ``offline_strategy`` chooses).
        offline_every: with offline mining, re-embed and re-mine every this many steps.
        offline_strategy: which triplets offline mining draws ("semi-hard", "hard", "all").
        augment: augmentation strengths; ``AugmentConfig.none()`` turns it off.
        center_lambda, center_alpha: weight of the center term and the centers' learning rate.
        snapshot_every: store probe embeddings every this many steps (0: never).
        device: "cuda", "cpu" or None for ``pick_device()``; the model stays there after training.
        seed: seeds the batch sampler and augmentation (the model is seeded by the caller).
        progress: show a tqdm progress bar.
        channels_last: keep images and activations in the channels-last memory layout while
            training (faster convolutions on CPUs; ``benchmarks/training_speed.py`` measures it).

    Every field is checked on creation (so a typo or a NaN fails before training, with
    a sentence saying what is allowed): margin from 0 to 2 (distances between unit
    vectors lie in [0, 2]), lr finite and > 0, p and k at least 2 with
    p * k <= ``MAX_BATCH_SIZE``, and a device this machine has.

    Raises:
        FaceNetEduError: a setting is out of range, of the wrong type, or unknown.
    """

    loss: str = "semi-hard"
    margin: float = 0.2
    num_steps: int = 1000
    p: int = 16
    k: int = 4
    lr: float = 2e-3
    weight_decay: float = 1e-4
    mining: str = "online"
    offline_every: int = 20
    offline_strategy: str = "semi-hard"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    center_lambda: float = 0.1
    center_alpha: float = 0.5
    snapshot_every: int = 0
    device: str | None = None
    seed: int = 0
    progress: bool = True
    channels_last: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise FaceNetEduError(f"Unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}.")
        if self.mining not in ("online", "offline"):
            raise FaceNetEduError(f"mining must be 'online' or 'offline', got {self.mining!r}.")
        if self.mining == "offline" and self.loss != "semi-hard":
            raise FaceNetEduError(
                f"With mining='offline' the loss is the triplet loss on the triplets offline mining chose, so loss={self.loss!r} "
                "would do nothing: leave loss at its default and choose the triplets with offline_strategy "
                f"({', '.join(OFFLINE_STRATEGIES)}).")
        if self.offline_strategy not in OFFLINE_STRATEGIES:
            raise FaceNetEduError(f"offline_strategy must be one of {', '.join(OFFLINE_STRATEGIES)}, got {self.offline_strategy!r}.")
        check_number("margin", self.margin, 0.0, 2.0)
        check_number("num_steps", self.num_steps, 1, integer=True)
        check_number("p (identities per batch)", self.p, 2, integer=True)
        check_number("k (images per identity)", self.k, 2, integer=True)
        if self.p * self.k > MAX_BATCH_SIZE:
            raise FaceNetEduError(f"A batch of p * k = {self.p} * {self.k} = {self.p * self.k} images is more than "
                                  f"{MAX_BATCH_SIZE} (MAX_BATCH_SIZE); lower p or k.")
        check_number("lr", self.lr, 0.0)
        if self.lr == 0:
            raise FaceNetEduError("lr must be > 0, got 0.")
        check_number("weight_decay", self.weight_decay, 0.0)
        check_number("offline_every", self.offline_every, 1, integer=True)
        check_number("center_lambda", self.center_lambda, 0.0)
        check_number("center_alpha", self.center_alpha, 0.0, 1.0)
        check_number("snapshot_every", self.snapshot_every, 0, integer=True)
        check_number("seed", self.seed, 0, integer=True)
        if not isinstance(self.augment, AugmentConfig):
            raise FaceNetEduError(f"augment must be an AugmentConfig, got {type(self.augment).__name__}.")
        resolve_device(self.device)  # "gpu" or "cuda" without a GPU fails here, not after loading the data


@dataclass
class History:
    """What happened during training, one entry per step (snapshots every ``snapshot_every`` steps)."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    active_fraction: list[float] = field(default_factory=list)
    mean_ap_dist: list[float] = field(default_factory=list)
    mean_an_dist: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, step: int, result: LossResult, loss: float | None = None) -> None:
        """Append one step; the numbers of ``result`` may be Python numbers or 0-d tensors (fetched here).

        Args:
            step: the step's number, from 0.
            result: what the loss returned at that step.
            loss: ``float(result.loss)`` if already fetched from the device.
        """
        self.step.append(step)
        self.loss.append(float(result.loss.detach()) if loss is None else loss)
        num_active, num_valid = int(result.num_active), int(result.num_valid)
        self.active_fraction.append(num_active / num_valid if num_valid else 0.0)
        self.mean_ap_dist.append(float(result.mean_ap_dist))
        self.mean_an_dist.append(float(result.mean_an_dist))


def _lr_factor(step: int, num_steps: int) -> float:
    """Linear warm-up over the first 5% of steps, then cosine decay to 1/20."""
    warmup = max(1, num_steps // 20)
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, num_steps - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))


def _network_input(images: torch.Tensor, generator: torch.Generator, cfg: TrainConfig) -> torch.Tensor:
    """A batch as every training step feeds it to the network: augmented, in the memory layout ``cfg`` asks for."""
    images = augment(images, generator, cfg.augment)
    return images.contiguous(memory_format=torch.channels_last) if cfg.channels_last else images


def _offline_step_loss(model, images, triplets, cfg, generator) -> LossResult:
    """Triplet loss on triplets chosen offline: embed the three images of each with the current network.

    ``images`` are on the model's device; the counts and means come back as 0-d tensors
    on that device, so no step waits for the GPU (``History.record`` fetches them).
    """
    anchor_idx, positive_idx, negative_idx = (to_device(t, images.device) for t in triplets)
    batch = torch.cat([images[anchor_idx], images[positive_idx], images[negative_idx]])  # (3T, 1, H, W)
    embeddings = model(_network_input(batch, generator, cfg))  # (3T, D)
    anchor, positive, negative = embeddings.chunk(3)
    loss = triplet_loss(anchor, positive, negative, cfg.margin)
    with torch.no_grad():
        ap_dists = (anchor - positive).norm(dim=1)
        an_dists = (anchor - negative).norm(dim=1)
        active = (ap_dists - an_dists + cfg.margin > 0).sum()
    return LossResult(loss, len(anchor_idx), active, ap_dists.mean(), an_dists.mean())


def _check_finite(pending: list[tuple[int, LossResult]], history: History, model: EmbeddingNet,
                  last_good: tuple[int, list[torch.Tensor]] | None) -> None:
    """Record the pending steps in ``history``, or raise at the first non-finite loss.

    One fetch from the device for all pending steps. On a divergence, the model's
    weights are put back to ``last_good`` (a step and the weights before it) when given.
    """
    fetched = fetch_numbers([result for _, result in pending])  # one wait for the device
    for (step, _), result in zip(pending, fetched):
        value = result.loss
        if not math.isfinite(value):
            restored = ""
            if last_good is not None:
                _restore(model, last_good[1])
                restored = f" The model is back to its weights before step {last_good[0]}."
            raise FaceNetEduError(f"Training diverged at step {step} (the loss is {value}); lower lr.{restored}")
        history.record(step, result, value)
    pending.clear()


@torch.no_grad()
def _restore(model: EmbeddingNet, weights: list[torch.Tensor]) -> None:
    """Copy ``weights`` (a list of ``model.state_dict()`` values) back into the model, in place."""
    for tensor, saved in zip(model.state_dict().values(), weights):
        tensor.copy_(saved)


def train(model: EmbeddingNet, dataset: FaceDataset, config: TrainConfig | None = None,
          probe_images: torch.Tensor | None = None) -> History:
    """Train ``model`` on ``dataset`` in place, on ``config.device``, and return the history.

    The model stays on the device it trained on (``pick_device()`` by default, the same
    default as ``load_checkpoint``; docs/architecture.md, "Devices"), in eval mode.

    One loop, written out on purpose so that a step reads like the paper (embed, loss,
    backward, step) next to its bookkeeping; that is why it runs past 60 lines. On a
    GPU the training set is copied to the device once, and the step's statistics are
    fetched (and the loss checked for NaN) every ``SYNC_EVERY`` steps rather than every
    step, so the CPU queues work without waiting for the GPU; on the CPU every step is
    checked, as before. If the loss is ever NaN or infinite, training stops with a
    ``FaceNetEduError`` and the model keeps the weights it had before the bad step (on a
    GPU: before the last ``SYNC_EVERY`` steps).

    Args:
        model: the embedding network (its weights are updated; it is moved to the device).
        dataset: training identities only; images (N, 1, H, W) at the model's input size,
            pixels as ``embed`` takes them (``model.check_images``: NaN, infinity and values
            outside [0, 1] are refused before training starts).
        config: settings; ``TrainConfig()`` by default.
        probe_images: (M, 1, H, W) fixed images embedded every ``config.snapshot_every``
            steps (and at the start and end) for the UMAP animation.

    Raises:
        FaceNetEduError: bad images, or the loss became NaN or infinite (training diverged).
    """
    cfg = config or TrainConfig()
    device = resolve_device(cfg.device)
    generator = torch.Generator().manual_seed(cfg.seed)  # batches and augmentation: from cfg.seed alone
    from .sampling import PKSampler  # local import keeps the module's top readable as the paper's step

    all_images = check_images(dataset.images)  # refuses NaN, infinity, values outside [0, 1] before anything moves
    sampler = PKSampler(dataset.labels, cfg.p, cfg.k, cfg.num_steps, generator)
    _, labels = dataset.labels.unique(return_inverse=True)  # 0..C-1 for the center-loss classifier
    model.to(device).train()
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    all_images, all_labels = all_images.to(device), labels.to(device)  # the training set on the device, once
    params = list(model.parameters())
    center = None
    if cfg.loss == "center":
        center = CenterLoss(int(labels.max()) + 1, model.config.embedding_dim, cfg.center_lambda, cfg.center_alpha).to(device)
        params += list(center.parameters())
    fused = device.type == "cuda"  # one kernel per update instead of about ten; the CPU keeps PyTorch's default
    optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused or None)
    history = History()
    snapshot = cfg.snapshot_every > 0 and probe_images is not None
    if snapshot:
        history.snapshots.append((0, embed(model, probe_images)))
    check_every = CPU_SYNC_EVERY if device.type == "cpu" else SYNC_EVERY
    pending: list[tuple[int, LossResult]] = []   # steps whose statistics are still on the device
    last_good = None if check_every == 1 else (0, [t.detach().clone() for t in model.state_dict().values()])  # GPU only
    offline = None
    start = time.perf_counter()
    setting = f"lambda {cfg.center_lambda}" if cfg.loss == "center" else f"margin {cfg.margin}"
    what = f"offline {cfg.offline_strategy} triplets" if cfg.mining == "offline" else cfg.loss
    bar = progress_bar(sampler, total=cfg.num_steps, desc=f"training ({what}, {setting})", disable=not cfg.progress)
    for step, batch_idx in enumerate(bar):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * _lr_factor(step, cfg.num_steps)
        try:
            if cfg.mining == "offline":
                if step % cfg.offline_every == 0:  # re-embed with the current weights and choose the next triplets
                    num = (cfg.p * cfg.k // 3) * cfg.offline_every  # one step uses about a batch of images
                    offline = mine_offline(model, all_images, labels, cfg.offline_strategy, cfg.margin, num, generator)
                take = slice((step % cfg.offline_every) * cfg.p * cfg.k // 3, (step % cfg.offline_every + 1) * cfg.p * cfg.k // 3)
                result = _offline_step_loss(model, all_images, [t[take] for t in offline], cfg, generator)
            else:
                batch_idx = to_device(batch_idx, device)                    # (B,)
                embeddings = model(_network_input(all_images[batch_idx], generator, cfg))  # (B, D), unit vectors
                batch_labels = all_labels[batch_idx]
                if center is not None:
                    result = center(embeddings, batch_labels, check=False)
                else:
                    result = BATCH_LOSSES[cfg.loss](embeddings, batch_labels, cfg.margin, check=False)
        except FaceNetEduError as err:  # e.g. NaN embeddings after a NaN loss that is not checked yet (GPU)
            if last_good is None:
                raise
            _check_finite(pending, history, model, last_good)  # names the first NaN loss, if there was one
            _restore(model, last_good[1])
            raise FaceNetEduError(f"{err} (at step {step}; the model is back to its weights before step {last_good[0]}.)") from err
        pending.append((step, result._replace(loss=result.loss.detach())))
        if len(pending) == check_every or step + 1 == cfg.num_steps:
            _check_finite(pending, history, model, last_good)   # before this step's update: the weights are still good
            if check_every > 1:
                last_good = (step, [t.detach().clone() for t in model.state_dict().values()])  # before this update
            if check_every > 1 or step % 10 == 0:
                bar.set_postfix(loss=f"{history.loss[-1]:.3f}", active=f"{history.active_fraction[-1]:.0%}")
        optimizer.zero_grad(set_to_none=True)
        result.loss.backward()
        optimizer.step()
        if snapshot and ((step + 1) % cfg.snapshot_every == 0 or step + 1 == cfg.num_steps):
            history.snapshots.append((step + 1, embed(model, probe_images)))  # embed restores train mode
    history.seconds = time.perf_counter() - start
    model.to(memory_format=torch.contiguous_format).eval()
    return history


def train_copy(initial_model: EmbeddingNet, dataset: FaceDataset, config: TrainConfig | None = None,
               probe_images: torch.Tensor | None = None) -> tuple[EmbeddingNet, History]:
    """Train a copy of ``initial_model`` and return it with its history; ``initial_model`` is left as it was.

    For comparisons that must differ in one setting only: every run trained with
    ``train_copy`` from the same ``initial_model`` starts from the same weights, and with
    the same ``config.seed`` it sees the same batches.

    Args:
        initial_model: the untrained (or pre-trained) network to start from.
        dataset, config, probe_images: as in ``train``.
    """
    model = copy.deepcopy(initial_model)
    return model, train(model, dataset, config, probe_images)
