"""The verification widgets (threshold explorer, new face matcher) driven from Python.

Every expected value comes from an explicit loop over pairs in this file, never from
the package code under test.
"""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from facenet_edu import widgets  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_warnings_no_leaks")   # see conftest.py


def loop_rates(distances, is_same, threshold):
    """(FAR, TAR) by counting pairs one by one: "same person" when distance <= threshold."""
    false_accepts = true_accepts = num_different = num_same = 0
    for d, same in zip(distances, is_same):
        if same:
            num_same += 1
            true_accepts += d <= threshold
        else:
            num_different += 1
            false_accepts += d <= threshold
    return false_accepts / num_different, true_accepts / num_same


def drawn(ax, gid):
    (line,) = [line for line in ax.lines if line.get_gid() == gid]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


@pytest.fixture
def pairs():
    rng = np.random.default_rng(3)
    is_same = rng.random(150) < 0.35
    distances = np.where(is_same, rng.normal(0.7, 0.2, 150), rng.normal(1.2, 0.2, 150)).clip(0, 2)
    return distances, is_same


def test_threshold_explorer_draws_the_roc_curve_with_the_slider_point_on_it(pairs):
    distances, is_same = pairs
    w = widgets.threshold_explorer(distances, is_same)
    # The curve: one point per distinct distance (plus the origin), each counted by a loop.
    roc_ax = w.figure.axes[0]
    fpr, tpr = drawn(roc_ax, "roc")
    expected = [(0.0, 0.0)] + [loop_rates(distances, is_same, t) for t in np.unique(distances)]
    assert np.allclose(np.c_[fpr, tpr], expected)
    for value in (0.55, 0.9, 1.3, w.initial_threshold):
        w.threshold_slider.value = value
        roc_ax = w.figure.axes[0]                     # redrawn at each move
        point = drawn(roc_ax, "operating-point")
        far, tar = loop_rates(distances, is_same, w.threshold_slider.value)
        assert (point[0][0], point[1][0]) == pytest.approx((far, tar))
        # The point lies on the curve: the curve passes through the rates of every threshold.
        fpr, tpr = drawn(roc_ax, "roc")
        assert (np.isclose(fpr, far) & np.isclose(tpr, tar)).any()


def test_static_view_of_the_threshold_explorer_shows_its_readout_and_roc_figure(pairs):
    distances, is_same = pairs
    w = widgets.threshold_explorer(distances, is_same, threshold=0.9)
    shown = widgets.static_view(w)
    texts = [item for item in shown if isinstance(item, str)]
    figures = [item for item in shown if not isinstance(item, str)]
    assert any("fe-far" in text for text in texts)
    assert figures and figures[0] is w.figure
    far, tar = loop_rates(distances, is_same, 0.9)
    point = drawn(figures[0].axes[0], "operating-point")
    assert (point[0][0], point[1][0]) == pytest.approx((far, tar))
