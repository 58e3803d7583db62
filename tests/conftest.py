"""Shared test fixtures."""

import warnings

import matplotlib
import matplotlib.pyplot as plt
import pytest

from facenet_edu.data import find_att_faces

matplotlib.use("Agg")


@pytest.fixture
def no_warnings_no_leaks():
    """Run a plot or widget test with warnings as errors; it must leave no pyplot figure open."""
    before = set(plt.get_fignums())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield
    assert set(plt.get_fignums()) == before, "the test left a pyplot figure open"


@pytest.fixture(scope="session")
def att_dir():
    """The AT&T faces folder, or a skip saying why the real-data test cannot run."""
    path = find_att_faces()
    if path is None:
        pytest.skip("AT&T faces not found (set FACENET_EDU_ATT or place them in ../shared/data/att_faces)")
    return path
