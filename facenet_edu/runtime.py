"""Run-time switches: fast mode, seeding, and the device to train on (checked with ``resolve_device``)."""

import os
import random

import numpy as np
import torch

FAST_ENV_VAR = "FACENET_EDU_FAST"


def fast_mode() -> bool:
    """Whether notebooks and demos should run in their small, fast configuration.

    True when the environment variable ``FACENET_EDU_FAST`` is set to ``1``, ``true``
    or ``yes`` (any case). CI sets it so every notebook runs in a few minutes on a
    2-core CPU; students leave it unset and get the full run.
    """
    return os.environ.get(FAST_ENV_VAR, "").strip().lower() in {"1", "true", "yes"}


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, and return a ``torch.Generator`` seeded the same.

    Call it once in a notebook's first cell. Samplers and augmentation take the
    returned generator explicitly, so their randomness does not depend on what ran
    before them.

    Args:
        seed: any non-negative integer.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device() -> torch.device:
    """CUDA when a GPU is available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to run on, checked before any work: ``None`` picks one (``pick_device``).

    Args:
        device: "cpu", "cuda", "cuda:N", "mps", a ``torch.device``, or None.

    Raises:
        FaceNetEduError: the name is not a device, or names a GPU this machine does not have.
    """
    from .errors import FaceNetEduError

    if device is None:
        return pick_device()
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as err:
        raise FaceNetEduError(f"Unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N', or leave it unset to pick one.") from err
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise FaceNetEduError(f"Device {device!r}: no CUDA GPU is visible on this machine; use 'cpu' or leave the device unset.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise FaceNetEduError(f"Device {device!r}: this machine has {torch.cuda.device_count()} GPU(s), numbered from 0.")
    elif resolved.type == "mps":
        if not torch.backends.mps.is_available():
            raise FaceNetEduError(f"Device {device!r}: Apple's MPS is not available here; use 'cpu' or leave the device unset.")
    elif resolved.type != "cpu":
        raise FaceNetEduError(f"Device {device!r} is not supported; use 'cpu', 'cuda' or 'cuda:N', or leave it unset.")
    return resolved
