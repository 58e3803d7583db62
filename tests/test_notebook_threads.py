"""The notebooks whose lessons rest on training runs also hold with other arithmetic.

CI runs every notebook with the machine's default thread count and vector instructions.
A lesson asserted on a statistic that flips with the order of floating-point sums (issue
18: the per-seed order of notebook 02's closest-pair gap, which failed on an AVX-512 CPU)
then passes on one machine and fails on another. This test executes the most sensitive
notebooks again in fast mode, in a fresh process (both settings are read when torch
starts), with other arithmetic:

- ``OMP_NUM_THREADS=1``: sums split over one thread instead of several;
- ``ATEN_CPU_CAPABILITY=default``: PyTorch's CPU kernels without AVX2/AVX-512, so its
  vectorised reductions add in another order, as on another CPU. (The playground of
  notebook 02 runs on one thread whatever the setting, so this is the switch that
  changes its numbers: on the development machine seed 2's closest-pair gap at margin 0.3
  is -0.52 with AVX2 and -0.38 without.)

An assert that depends on the last digits of the arithmetic then fails in CI.

Notebook 02 is the one whose asserts rest on many short training runs (the playground);
the others assert on long runs only in full mode, or with margins of safety far larger
than a change of arithmetic. About 20 to 30 s on an idle 2-core CPU.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SENSITIVE = ["notebooks/02_triplet_loss.ipynb"]


def one_thread_env() -> dict[str, str]:
    """A fast-mode run on one thread with PyTorch's plain (non-AVX) CPU kernels, importing this checkout's package."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", ATEN_CPU_CAPABILITY="default", FACENET_EDU_FAST="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def test_one_thread_env_reaches_torch():
    """The settings take effect in a fresh process (else the test below would prove nothing)."""
    code = "import torch; print(torch.get_num_threads(), torch.backends.cpu.get_cpu_capability())"
    out = subprocess.run([sys.executable, "-c", code],
                         env=one_thread_env(), cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["1", "DEFAULT"]


@pytest.mark.parametrize("notebook", SENSITIVE)
def test_notebook_holds_on_one_thread(notebook):
    """Every cell of the notebook runs without error (its asserts hold) in fast mode with the other arithmetic."""
    path = ROOT / notebook
    assert path.is_file(), f"{notebook} is missing"
    # pyproject's addopts give --nbval-lax --nbval-current-env: the kernel inherits this environment
    result = subprocess.run([sys.executable, "-m", "pytest", str(path), "-q", "-x", "-p", "no:cacheprovider"],
                            env=one_thread_env(), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (f"{notebook} fails with other arithmetic (fast mode, one thread, no AVX):\n"
                                    + (result.stdout + result.stderr)[-4000:])
