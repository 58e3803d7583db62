"""Counting the operations that would make the CPU wait for a GPU, on any machine (no GPU needed)."""

import collections
import traceback
from pathlib import Path

from torch.utils._python_dispatch import TorchDispatchMode


class HostWaits(TorchDispatchMode):
    """Counts the operations that would make the CPU wait for a GPU, by the package file whose line asked.

    A Python number from a tensor (``float``, ``int``, ``bool``, ``.item()``) and an output
    whose size depends on the data (``nonzero``, boolean masks) both need the GPU's result.
    The optimiser's own step counters live on the CPU and are not counted. (A copy from
    the CPU to the GPU is not seen here; ``benchmarks/training_speed.py`` counts every
    kind of wait on a real GPU.)
    """

    WAITS = {"_local_scalar_dense", "nonzero", "masked_select"}

    def __init__(self):
        super().__init__()
        self.by_file = collections.Counter()

    @property
    def count(self) -> int:
        """All waits seen, whoever asked."""
        return sum(self.by_file.values())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.overloadpacket.__name__ in self.WAITS:
            stack = traceback.extract_stack()
            if not any("torch/optim" in frame.filename for frame in stack):
                ours = [frame for frame in stack if "facenet_edu" in frame.filename]
                self.by_file[Path(ours[-1].filename).name if ours else "elsewhere"] += 1
        return func(*args, **(kwargs or {}))
