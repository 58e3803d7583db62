"""Project-level checks: the conda and pip environments agree; runtime helpers; the model's contract."""

import re
import tomllib
from pathlib import Path

import pytest
import torch
import yaml

from facenet_edu import EmbeddingNet, FaceNetEduError, ModelConfig, embed, fast_mode, seed_everything

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    """'torch==2.13.0' -> 'torch'; 'python>=3.11' -> 'python'; names compared case- and dash-insensitively."""
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        pip_side |= {_name(r) for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            conda_side |= {_name(r) for r in dep["pip"] if not r.startswith("-e")}
        else:
            conda_side.add(_name(dep))
    conda_side -= {"python", "pip"}
    assert conda_side == pip_side, f"only in environment.yml: {conda_side - pip_side}; only in pyproject: {pip_side - conda_side}"


def test_torch_is_pinned_the_same_way_everywhere():
    pins = {
        "pyproject.toml": (ROOT / "pyproject.toml").read_text(),
        "environment.yml": (ROOT / "environment.yml").read_text(),
        "scripts/setup.sh": (ROOT / "scripts/setup.sh").read_text(),
    }
    for name, text in pins.items():
        assert "torch==2.13.0" in text, name


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_fast_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("FACENET_EDU_FAST", value)
    assert fast_mode() is expected


def test_seed_everything_makes_torch_repeatable():
    g1 = seed_everything(5)
    a, ga = torch.rand(3), torch.rand(3, generator=g1)
    g2 = seed_everything(5)
    b, gb = torch.rand(3), torch.rand(3, generator=g2)
    assert torch.equal(a, b) and torch.equal(ga, gb)


def test_embeddings_are_unit_vectors_for_any_input_size():
    model = EmbeddingNet(ModelConfig(embedding_dim=16, width=8))
    for size in [(32, 32), (64, 48), (112, 92)]:
        out = embed(model, torch.rand(5, 1, *size))
        assert out.shape == (5, 16)
        assert torch.allclose(out.norm(dim=1), torch.ones(5), atol=1e-5)


def test_model_rejects_wrong_inputs_with_clear_errors():
    model = EmbeddingNet(ModelConfig(embedding_dim=8, width=4))
    with pytest.raises(FaceNetEduError, match="at least 32x32"):
        model(torch.rand(2, 1, 16, 16))
    with pytest.raises(FaceNetEduError, match="greyscale"):
        model(torch.rand(2, 3, 64, 64))
