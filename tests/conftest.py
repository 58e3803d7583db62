"""Shared test fixtures."""

import matplotlib
import pytest

from facenet_edu.data import find_att_faces

matplotlib.use("Agg")


@pytest.fixture(scope="session")
def att_dir():
    """The AT&T faces folder, or a skip saying why the real-data test cannot run."""
    path = find_att_faces()
    if path is None:
        pytest.skip("AT&T faces not found (set FACENET_EDU_ATT or place them in ../shared/data/att_faces)")
    return path
