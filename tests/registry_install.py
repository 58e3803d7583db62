"""Installing one package from the package registry into a folder, for a test that runs a second Python with it."""

import subprocess
import sys
from pathlib import Path

import pytest


def install_into(folder: Path, requirement: str, what: str) -> Path:
    """``pip install --target folder requirement`` (no dependencies); skip the test when the registry cannot serve it."""
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
               "--target", str(folder), requirement]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip could not install {what} within 3 minutes (registry unreachable or slow)")
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"pip could not install {what} from the package registry: {last}")
    return folder
