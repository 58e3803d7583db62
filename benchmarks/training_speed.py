"""Training speed: a whole ``train()`` step next to the network's own limit, on the CPU and the GPU.

    .venv/bin/python benchmarks/training_speed.py                # the CPU, and the GPU if there is one
    .venv/bin/python benchmarks/training_speed.py --device cuda  # the GPU only
    .venv/bin/python benchmarks/training_speed.py --steps 20     # quicker, noisier

The course recipe by default (width 16, P x K = 16 x 4 = 64 faces of 64x64 a step).
For each device and memory layout it prints, in one table, milliseconds per step of:

- ``train()``: the whole step as ``train()`` runs it (P x K sampling, augmentation,
  forward pass, semi-hard mining and loss, backward pass, Adam update, bookkeeping);
- ``net + loss``: forward, the semi-hard loss, backward and Adam on one fixed batch
  (no sampling, no augmentation, no bookkeeping): what the loss itself costs;
- ``network only``: forward, a trivial loss (the sum), backward and Adam on the same
  fixed batch and nothing else: the most any training loop could reach.

``train() / limit`` is the network-only time over the ``train()`` time (1.0: the loop
costs nothing beyond the network). On a GPU, ``syncs/step`` counts the times one
``train()`` step makes the CPU wait for the GPU (``torch.cuda.set_sync_debug_mode``),
each of which leaves the GPU idle while the CPU catches up. Inputs are synthetic faces,
so the benchmark runs offline; LFW's 64x64 crops cost the same.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facenet_edu import (EmbeddingNet, ModelConfig, TrainConfig, batch_semihard_triplet_loss,  # noqa: E402
                         synthetic_dataset, train)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def fixed_batch_ms(device: str, images: torch.Tensor, labels: torch.Tensor, steps: int, channels_last: bool,
                   with_loss: bool) -> float:
    """Milliseconds per step of forward + loss + backward + Adam on one fixed batch, nothing else."""
    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig()).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device.startswith("cuda") or None)  # as train()
    images, labels = images.to(device), labels.to(device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
        model.to(memory_format=torch.channels_last)
    warmup = 10
    for i in range(steps + warmup):
        if i == warmup:
            _sync(device)
            start = time.perf_counter()
        embeddings = model(images)
        loss = batch_semihard_triplet_loss(embeddings, labels, 0.2).loss if with_loss else embeddings.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return 1000 * (time.perf_counter() - start) / steps


def train_ms(dataset, p: int, k: int, steps: int, device: str, channels_last: bool) -> float:
    """Milliseconds per step of ``train()``, by its own clock (which starts after set-up), after a short warm-up run."""
    for num_steps in (min(20, steps), steps):  # the first run warms up cuDNN and the allocator
        torch.manual_seed(0)
        model = EmbeddingNet(ModelConfig())
        config = TrainConfig(num_steps=num_steps, p=p, k=k, device=device, progress=False, channels_last=channels_last)
        history = train(model, dataset, config)
    return 1000 * history.seconds / steps


def syncs_per_step(dataset, p: int, k: int, device: str, steps: int = 50) -> float:
    """How many times per step ``train()`` makes the CPU wait for the GPU (CUDA only)."""
    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig())
    config = TrainConfig(num_steps=steps, p=p, k=k, device=device, progress=False)
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train(model, dataset, config)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught) / steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default: 30 on the CPU, 400 on a GPU)")
    parser.add_argument("--p", type=int, default=16)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU is visible on this machine")
        return 1
    dataset = synthetic_dataset(num_identities=200, images_per_identity=4, image_size=64)
    devices = {"cpu": ["cpu"], "cuda": ["cuda"], "all": ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])}[args.device]
    images = dataset.images[: args.p * args.k]               # one fixed batch of P x K faces
    labels = torch.arange(args.p).repeat_interleave(args.k)  # P people x K images each, as a P x K batch
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    print(f"P x K = {args.p} x {args.k} = {args.p * args.k} faces of 64x64 per step, width 16, "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}{gpu}")
    header = (f"{'device':<7}{'layout':<15}{'steps':>6}{'train() ms':>12}{'net + loss ms':>15}{'network only ms':>17}"
              f"{'train() / limit':>17}{'syncs/step':>12}")
    print(header)
    print("-" * len(header))
    for device in devices:
        steps = args.steps or (400 if device == "cuda" else 30)
        syncs = f"{syncs_per_step(dataset, args.p, args.k, device):>12.1f}" if device == "cuda" else f"{'-':>12}"
        for channels_last in (False, True):
            limit = fixed_batch_ms(device, images, labels, steps, channels_last, with_loss=False)
            with_loss = fixed_batch_ms(device, images, labels, steps, channels_last, with_loss=True)
            whole = train_ms(dataset, args.p, args.k, steps, device, channels_last)
            layout = "channels_last" if channels_last else "contiguous"
            print(f"{device:<7}{layout:<15}{steps:>6}{whole:>12.2f}{with_loss:>15.2f}{limit:>17.2f}"
                  f"{limit / whole:>17.2f}{syncs}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
