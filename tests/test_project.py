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


def _spec(requirement: str) -> str:
    """'opencv-python-headless>=4.8  # why' -> '>=4.8'; '' for an unversioned requirement."""
    return requirement.split("#")[0].strip()[len(_name(requirement)):].strip()


def test_environment_yml_names_the_same_packages_and_versions_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]
    pip_side = {_name(r): _spec(r) for r in requirements}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = {}
    for dep in env["dependencies"]:
        for r in (dep["pip"] if isinstance(dep, dict) else [dep]):
            if not r.startswith("-e"):
                conda_side[_name(r)] = _spec(r)
    conda_side.pop("python"), conda_side.pop("pip")
    assert set(conda_side) == set(pip_side), (f"only in environment.yml: {set(conda_side) - set(pip_side)}; "
                                              f"only in pyproject: {set(pip_side) - set(conda_side)}")
    # torch: pinned where we install, a range where others install (the next test); every other version must agree
    differ = {n: (conda_side[n], pip_side[n]) for n in pip_side if n != "torch" and conda_side[n] != pip_side[n]}
    assert not differ, f"versions differ between environment.yml and pyproject.toml: {differ}"


def test_torch_is_pinned_where_we_install_and_a_range_where_others_install():
    """setup.sh and environment.yml install the tested build; the package only asks for a compatible range.

    A hard pin in pyproject.toml would make pip replace the CUDA build a hosted notebook already has.
    """
    for name in ("environment.yml", "scripts/setup.sh"):
        assert "torch==2.13.0" in (ROOT / name).read_text(), name
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (torch_requirement,) = [r for r in dependencies if _name(r) == "torch"]
    assert "==" not in torch_requirement and ">=" in torch_requirement
    low = tuple(int(x) for x in torch_requirement.split(">=")[1].split(",")[0].split("."))
    assert low <= (2, 13, 0)


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


# ---------------------------------------------------------------- packaging: the wheel installs and works


def _source_tree_copy(dest: Path) -> Path:
    """pyproject.toml, README.md and the package, copied so the build leaves nothing in the checkout."""
    import shutil

    src = dest / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "facenet_edu", src / "facenet_edu", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return src


def test_wheel_holds_every_module_and_installs_into_a_fresh_venv(tmp_path):
    """Build the wheel, check its contents, install it (no deps) into a new venv and run it.

    The new venv sees the test environment's packages (torch, ipywidgets, ...) through a
    ``.pth`` line, but not its editable install of facenet_edu, so the import must come
    from the wheel. About 20 s, most of it importing torch.
    """
    import os
    import subprocess
    import sys
    import venv
    import zipfile

    src = _source_tree_copy(tmp_path)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)],
                   check=True, capture_output=True, text=True, timeout=120)
    (wheel,) = dist.glob("facenet_edu-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "facenet_edu"
    modules = {p.relative_to(ROOT).as_posix() for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    assert "facenet_edu/widgets/__init__.py" in modules
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    data = {p.relative_to(ROOT).as_posix() for p in (package / "course_model").glob("*")
            if p.suffix in (".pt", ".md", ".json")}
    assert data <= names, f"package data missing from the wheel: {sorted(data - names)}"

    env = tmp_path / "venv"
    venv.create(env, with_pip=False)
    env_python = env / "bin" / "python"
    site = subprocess.run([str(env_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    here = [p for p in sys.path if p.endswith("site-packages")]
    Path(site, "test_env_packages.pth").write_text("\n".join(here) + "\n")   # torch & co., not the editable finder
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # a PYTHONPATH would put the source tree first
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_python), "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=120, env=clean)
    run = tmp_path / "elsewhere"                     # not the checkout, so nothing is imported from the source tree
    run.mkdir()
    out = subprocess.run([str(env_python), "-c", "import facenet_edu, facenet_edu.widgets; print(facenet_edu.__file__)"],
                         cwd=run, check=True, capture_output=True, text=True, timeout=120, env=clean).stdout
    assert Path(out.strip()).is_relative_to(env), out
    helped = subprocess.run([str(env_python), "-m", "facenet_edu", "--help"], cwd=run, capture_output=True, text=True,
                            timeout=120, env=clean)
    assert helped.returncode == 0 and "usage" in helped.stdout, helped.stderr
    assert (env / "bin" / "facenet-edu").exists()


# ---------------------------------------------------------------- the architecture: what may import what


def _layer_order() -> list[str]:
    """Module names in the order docs/architecture.md lists them, bottom up (``- `name.py` ...`` lines)."""
    order = []
    for line in (ROOT / "docs" / "architecture.md").read_text().splitlines():
        match = re.match(r"- `(\w+)(?:\.py|/)`", line)
        if match:
            order.append(match.group(1))
    return order


def _package_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported facenet_edu module, [names imported from it]) for every relative import in ``path``."""
    import ast

    subpackage = None if path.parent.name == "facenet_edu" else path.parent.name   # widgets/, exercises/
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            if node.level == 1 and subpackage:           # from ._common import ... / from . import x
                modules = [(subpackage, [a.name for a in node.names])]
            elif node.module is None:                     # from . import losses, viz
                modules = [(a.name, []) for a in node.names]
            else:
                modules = [(node.module.split(".")[0], [a.name for a in node.names])]
            found += modules
    return found


def test_every_module_imports_only_modules_below_it_and_no_private_names():
    order = _layer_order()
    package = ROOT / "facenet_edu"
    subpackages = {p.parent.name for p in package.glob("*/__init__.py")}   # widgets, exercises: one layer each
    modules = sorted({p.stem for p in package.glob("*.py")} | subpackages)
    assert set(modules) <= set(order), f"add these modules to docs/architecture.md: {sorted(set(modules) - set(order))}"
    problems = []
    for path in sorted(package.rglob("*.py")):
        importer = path.parent.name if path.parent.name in subpackages else path.stem
        for imported, names in _package_imports(path):
            if imported == importer or importer in ("__init__", "__main__") and imported in order:
                continue
            if order.index(imported) >= order.index(importer):
                problems.append(f"{path.relative_to(ROOT)} imports {imported}, listed above it in docs/architecture.md")
            for name in names:
                if name.startswith("_"):
                    problems.append(f"{path.relative_to(ROOT)} imports the private name {imported}.{name}")
    assert not problems, "\n".join(problems)


def test_every_notebook_link_in_the_readme_points_at_a_heading_that_exists():
    """The README's questions index links to notebook sections; a renamed heading must not break one."""
    import json
    from urllib.parse import unquote

    root = Path(__file__).resolve().parent.parent
    links = re.findall(r"\]\((notebooks/[^)#]+\.ipynb)#(.+?)\)(?=[;|\s]|$)", (root / "README.md").read_text(), re.M)
    assert len(links) >= 10, "the questions index should link to notebook sections"
    for notebook, anchor in links:
        cells = json.loads((root / notebook).read_text())["cells"]
        headings = [line.lstrip("#").strip() for cell in cells if cell["cell_type"] == "markdown"
                    for line in "".join(cell["source"]).splitlines() if line.startswith("#")]
        assert unquote(anchor) in {h.replace(" ", "-") for h in headings}, f"{notebook}#{anchor}: no such heading"
