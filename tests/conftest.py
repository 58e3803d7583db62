"""Shared test fixtures."""

import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from facenet_edu.data import find_att_faces, synthetic_dataset

matplotlib.use("Agg")


@pytest.fixture
def no_warnings_no_leaks():
    """Run a plot or widget test with warnings as errors; it must leave no pyplot figure open."""
    before = set(plt.get_fignums())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert set(plt.get_fignums()) == before, "the test left a pyplot figure open"


SHARED_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw_home"


@pytest.fixture(scope="session")
def lfw_dir():
    """The real LFW copy (scikit-learn's layout), or a skip saying why the real-data test cannot run."""
    if not (SHARED_LFW / "lfw_funneled").is_dir():
        pytest.skip(f"LFW not found at {SHARED_LFW} (CI and the development machines have it)")
    return SHARED_LFW


@pytest.fixture(scope="session")
def att_dir():
    """The AT&T faces folder, or a skip saying why the real-data test cannot run."""
    path = find_att_faces()
    if path is None:
        pytest.skip("AT&T faces not found (set FACENET_EDU_ATT or place them in ../shared/data/att_faces)")
    return path


def _photo(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (250, 250, 3), dtype=np.uint8)


@pytest.fixture
def make_fake_lfw():
    """Make a miniature LFW in scikit-learn's layout: lfw_home/lfw_funneled/<Name>/<Name>_NNNN.jpg and pairsDevTest.txt.

    Call it with (root, {name: number of photos}, same=[(name, n1, n2)], different=[(name1, n1, name2, n2)]);
    it returns the lfw_home folder. The photos are random noise, 250x250 like LFW's.
    """

    def make(root: Path, people: dict[str, int], same: list, different: list) -> Path:
        home = root / "lfw_home"
        for p, (name, count) in enumerate(people.items()):
            (home / "lfw_funneled" / name).mkdir(parents=True)
            for n in range(1, count + 1):
                Image.fromarray(_photo(100 * p + n)).save(home / "lfw_funneled" / name / f"{name}_{n:04d}.jpg", quality=95)
        lines = [str(len(same))] + [f"{a}\t{i}\t{j}" for a, i, j in same] + [f"{a}\t{i}\t{b}\t{j}" for a, i, b, j in different]
        (home / "pairsDevTest.txt").write_text("\n".join(lines) + "\n")
        return home

    return make


@pytest.fixture(scope="session")
def face_files(tmp_path_factory):
    """Six synthetic faces (3 people x 2) saved as 48x48 PNG files; returns their paths."""
    folder = tmp_path_factory.mktemp("faces")
    data = synthetic_dataset(3, 2, image_size=48, seed=2)
    paths = []
    for index, image in enumerate(data.images[:, 0]):
        path = folder / f"{data.names[int(data.labels[index])]}_{index}.png"
        Image.fromarray((image.numpy() * 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    return paths
