"""Run-time switches: fast mode, seeding, the device to train on (checked with ``resolve_device``), copies to it."""

import functools
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

    Call it once in a notebook's first cell. Samplers (``PKSampler``) and augmentation
    (``augment``) called in a notebook take the returned generator explicitly, so their
    randomness does not depend on what ran before them. ``train`` does not take it: it
    seeds its own generator from ``TrainConfig.seed``, so a run's batches and
    augmentations depend on its config alone (the model's initial weights depend on
    the global seed set here).

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


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; a CPU tensor bound for a GPU is copied without making the CPU wait for the GPU.

    A plain copy from ordinary (pageable) CPU memory to a GPU first waits until the GPU
    has finished all the work queued before it, which stalls a training loop once per
    copy. Copying from pinned memory with ``non_blocking=True`` only queues the copy.

    Args:
        tensor: any tensor.
        device: where it should be.
    """
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def progress_bar(iterable=None, total: int | None = None, desc: str | None = None, disable: bool = False, **kwargs):
    """A tqdm progress bar that leaves one line of text when it closes, in a terminal and in a notebook.

    In a notebook a live bar is a widget, and a saved notebook would keep only its
    first frame ("0%| | 0/600") for anyone reading it without running it. This bar
    replaces its widget, when it closes, with the final line as plain text
    ("100%|##########| 600/600 [00:41<00:00, loss=0.012, active=3%]").

    Args:
        iterable: what to iterate over, or None to call ``update`` by hand.
        total: the number of steps (``len(iterable)`` when it has one).
        desc: the text in front of the bar.
        disable: no bar at all.
        **kwargs: any other ``tqdm`` setting (``mininterval``, ...).
    """
    from tqdm.auto import tqdm
    from tqdm.notebook import tqdm as notebook_tqdm

    if disable or not issubclass(tqdm, notebook_tqdm):  # tqdm.auto picks the notebook bar inside a notebook
        return tqdm(iterable, total=total, desc=desc, disable=disable, **kwargs)
    return _notebook_bar_class()(iterable, total=total, desc=desc, **kwargs)


@functools.cache
def _notebook_bar_class():
    """The notebook bar class, defined on first use so that importing this module does not import ipywidgets."""
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    class NotebookBar(notebook_tqdm):
        """tqdm's notebook bar, shown through a display handle that ``close`` turns into its final text line."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self._handle = display(self.container, display_id=True)
            self.displayed = True

        def close(self):
            if self.disable or getattr(self, "_closed_as_text", False):
                return
            super().close()
            self._closed_as_text = True
            self._handle.update({"text/plain": str(self)}, raw=True)

    return NotebookBar
