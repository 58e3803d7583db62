"""Training speed: images per second of a whole training step, next to the network's own limit.

    .venv/bin/python benchmarks/training_speed.py            # this machine's CPU (and the GPU if there is one)
    .venv/bin/python benchmarks/training_speed.py --steps 20 # quicker, noisier

For each device and memory layout it prints, on the same P x K batch of 64x64 faces:

- ``train()``: the course's whole step (P x K sampling, augmentation, forward pass,
  semi-hard mining and loss, backward pass, Adam update), as ``train()`` runs it;
- ``network only``: forward and backward of the network alone on one fixed batch,
  with a trivial loss and nothing else: the most any training loop could reach.

The ratio of the two says how much the rest of the step costs. Inputs are synthetic
faces, so the benchmark runs offline; LFW's 64x64 crops cost the same.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facenet_edu import EmbeddingNet, ModelConfig, TrainConfig, synthetic_dataset, train  # noqa: E402


def network_only(model: EmbeddingNet, images: torch.Tensor, steps: int, channels_last: bool) -> float:
    """Images per second of forward + backward + Adam step of the network alone."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
        model.to(memory_format=torch.channels_last)
    model.train()
    for i in range(steps + 10):  # 10 warm-up steps
        if i == 10:
            if images.is_cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        loss = model(images).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if images.is_cuda:
        torch.cuda.synchronize()
    return steps * images.shape[0] / (time.perf_counter() - start)


def whole_step(dataset, p: int, k: int, steps: int, device: str, channels_last: bool) -> float:
    """Images per second of ``train()`` (its own clock, which starts after set-up)."""
    model = EmbeddingNet(ModelConfig())
    config = TrainConfig(num_steps=steps, p=p, k=k, device=device, progress=False, channels_last=channels_last)
    history = train(model, dataset, config)
    return steps * p * k / history.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--p", type=int, default=32)
    parser.add_argument("--k", type=int, default=2)
    args = parser.parse_args()
    dataset = synthetic_dataset(num_identities=200, images_per_identity=4, image_size=64)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    batch = dataset.images[: args.p * args.k]
    print(f"P x K = {args.p} x {args.k} = {args.p * args.k} faces of 64x64 per step, {args.steps} steps, "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}")
    header = f"{'device':<8}{'layout':<16}{'train() img/s':>16}{'network only img/s':>22}{'train() / limit':>18}"
    print(header)
    print("-" * len(header))
    for device in devices:
        for channels_last in (False, True):
            torch.manual_seed(0)
            limit = network_only(EmbeddingNet(ModelConfig()).to(device), batch.to(device), args.steps, channels_last)
            whole = whole_step(dataset, args.p, args.k, args.steps, device, channels_last)
            layout = "channels_last" if channels_last else "contiguous"
            print(f"{device:<8}{layout:<16}{whole:>16.0f}{limit:>22.0f}{whole / limit:>18.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
