"""scripts/execute_notebooks.py names the mode the notebooks really run in."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "execute_notebooks.py"


def load_script():
    spec = importlib.util.spec_from_file_location("execute_notebooks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("value, expected", [
    (None, "full"), ("", "full"), ("0", "full"), ("no", "full"), ("false", "full"),
    ("1", "fast"), ("true", "fast"), ("YES", "fast"), (" 1 ", "fast"),
])
def test_the_printed_mode_is_the_mode_the_notebooks_run_in(monkeypatch, value, expected):
    """FACENET_EDU_FAST=0 is full mode (it used to print "fast": any non-empty value counted)."""
    if value is None:
        monkeypatch.delenv("FACENET_EDU_FAST", raising=False)
    else:
        monkeypatch.setenv("FACENET_EDU_FAST", value)
    assert load_script().mode_name() == expected
