"""Run-time switches: fast mode, seeding, and the device to train on."""

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
