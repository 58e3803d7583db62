"""Plots: each figure has the artists it promises, at the right places, with no warning.

Reference values (categories, pair distances) come from explicit loops in this file,
never from the code under test.
"""

import math
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.offsetbox import AnnotationBbox  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.text import Annotation  # noqa: E402

from facenet_edu import metric_plots, viz  # noqa: E402
from facenet_edu.errors import FaceNetEduError  # noqa: E402
from facenet_edu.distances import all_pair_distances  # noqa: E402


def clustered_embeddings(num_identities=6, per_identity=5, dim=16, spread=1.0, seed=0):
    """Unit embeddings around one random centre per identity (labels 0..num_identities-1)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_identities).repeat_interleave(per_identity)
    centres = torch.randn(num_identities, dim, generator=g) * 2
    points = centres[labels] + spread * torch.randn(len(labels), dim, generator=g)
    return torch.nn.functional.normalize(points, dim=1), labels


def slow_distance(u, v):
    return math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(u, v)))


def slow_distance_matrix(embeddings):
    n = len(embeddings)
    return torch.tensor([[slow_distance(embeddings[i], embeddings[j]) for j in range(n)] for i in range(n)])


pytestmark = pytest.mark.usefixtures("no_warnings_no_leaks")   # see conftest.py


def test_show_identities_grid_and_names():
    embeddings, labels = clustered_embeddings(num_identities=5, per_identity=3)
    images = torch.rand(len(labels), 1, 32, 32, generator=torch.Generator().manual_seed(1))
    names = ["ada", "bob", "cy", "dee", "eve"]
    fig = viz.show_identities(images, labels, names, num_identities=4, per_identity=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4 * 4
    row_names = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert row_names == names[:4]
    # 3 images per person, 4 columns: the 4th column of each row is empty.
    assert sum(len(ax.images) for ax in fig.axes) == 4 * 3
    first = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(first, images[0, 0].numpy())


def test_show_triplet_annotates_distances_and_category():
    images = np.random.default_rng(0).random((10, 32, 32))
    fig = viz.show_triplet(images, 0, 1, 7, ap_dist=0.5, an_dist=0.62, category="semi-hard")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("anchor #0")
    assert "d(a,p) = 0.500" in titles[1] and "d(a,n) = 0.620" in titles[2]
    assert "semi-hard" in fig._suptitle.get_text()
    assert to_rgba(fig._suptitle.get_color()) == to_rgba(viz.CATEGORY_COLORS["semi-hard"])
    fig = viz.show_triplet((images * 255).astype(np.uint8), 0, 1, 7, 0.5, 0.62, "easy")   # 8-bit images scaled
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), images[0], atol=1 / 255)


def test_category_colours_are_distinct_and_identity_colours_stable():
    assert len(set(viz.CATEGORY_COLORS.values())) == 3
    assert set(viz.CATEGORY_COLORS) == {"easy", "semi-hard", "hard"}
    assert len(set(viz.IDENTITY_COLORS)) == 40
    assert viz.identity_color(3) == viz.identity_color(43)


def test_all_pair_distances_is_the_upper_triangle():
    embeddings, labels = clustered_embeddings(num_identities=3, per_identity=3)
    distances, is_same = all_pair_distances(embeddings, labels)
    expected, same = [], []
    for i in range(len(labels)):
        for j in range(i + 1, len(labels)):
            expected.append(slow_distance(embeddings[i], embeddings[j]))
            same.append(bool(labels[i] == labels[j]))
    np.testing.assert_allclose(distances, expected, atol=1e-5)
    assert is_same.tolist() == same


def test_distance_histograms_draw_pairs_margin_and_threshold():
    embeddings, labels = clustered_embeddings()
    fig = metric_plots.plot_distance_histograms(embeddings, labels, margin=0.3, threshold=1.1, title="t")
    ax = fig.axes[0]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) > 0 and any(bar.get_height() > 0 for bar in bars)
    threshold_lines = [line for line in ax.lines if line.get_gid() == "threshold"]
    assert len(threshold_lines) == 1
    assert np.allclose(threshold_lines[0].get_xdata(), 1.1)
    arrows = [t for t in ax.texts if isinstance(t, Annotation) and t.get_gid() == "margin"]
    assert len(arrows) == 1
    # The arrow starts at the mean same-person distance and is exactly `margin` long.
    same = [slow_distance(embeddings[i], embeddings[j]) for i in range(len(labels))
            for j in range(i + 1, len(labels)) if labels[i] == labels[j]]
    start, end = arrows[0].xyann[0], arrows[0].xy[0]
    assert start == pytest.approx(sum(same) / len(same), abs=1e-5)
    assert end - start == pytest.approx(0.3)
    assert any("margin (relative)" in t.get_text() for t in ax.texts)
    assert ax.get_title() == "t"


def test_histograms_without_margin_or_threshold_and_into_given_axes():
    embeddings, labels = clustered_embeddings()
    fig, ax = plt.subplots()
    try:
        out = metric_plots.plot_distance_histograms(embeddings, labels, ax=ax)
        assert out is fig
        assert not [line for line in ax.lines if line.get_gid() == "threshold"]
        assert not [t for t in ax.texts if t.get_gid() == "margin"]
    finally:
        plt.close(fig)


def test_before_after_share_bins():
    before, labels = clustered_embeddings(spread=3.0)
    after, _ = clustered_embeddings(spread=0.3)
    fig = metric_plots.plot_distance_histograms_before_after(before, after, labels, margin=0.2, threshold=1.0)
    left, right = fig.axes
    assert left.get_title() == "before training" and right.get_title() == "after training"
    edges = [sorted({round(p.get_x(), 9) for p in ax.patches if isinstance(p, Rectangle)}) for ax in (left, right)]
    assert edges[0] and edges[1]
    # Both panels' bars start on one common grid of bin edges.
    width = left.patches[0].get_width()
    for xs in edges:
        assert np.allclose(np.round(np.array(xs) / width), np.array(xs) / width, atol=1e-6)


def test_negative_axis_colours_match_brute_force_categories():
    embeddings, labels = clustered_embeddings(num_identities=5, per_identity=4, spread=1.5, seed=2)
    dists = slow_distance_matrix(embeddings)
    anchor, positive, margin = 0, 2, 0.4
    ap = float(dists[anchor, positive])
    expected = {"hard": [], "semi-hard": [], "easy": []}
    for n in range(len(labels)):
        if labels[n] == labels[anchor]:
            continue
        an = float(dists[anchor, n])
        kind = "hard" if an <= ap else "semi-hard" if an < ap + margin else "easy"
        expected[kind].append(an)
    fig = metric_plots.plot_negative_axis(dists, labels, anchor, positive, margin)
    ax = fig.axes[0]
    for category, color in viz.CATEGORY_COLORS.items():
        (points,) = [c for c in ax.collections if c.get_gid() == category]
        xs = sorted(points.get_offsets()[:, 0].tolist())
        assert xs == pytest.approx(sorted(expected[category]), abs=1e-6)
        if len(xs):
            assert all(tuple(fc) == to_rgba(color) for fc in points.get_facecolors())
    (band,) = [p for p in ax.patches if p.get_gid() == "band"]
    x0, x1 = band.get_x(), band.get_x() + band.get_width()
    assert (x0, x1) == pytest.approx((ap, ap + margin))
    (line,) = [line for line in ax.lines if line.get_gid() == "positive"]
    assert np.allclose(line.get_xdata(), ap)
    assert sum(len(v) for v in expected.values()) == 16
    assert all(len(v) for v in expected.values()), "test data should contain every category"


def test_negative_axis_rejects_a_non_pair():
    embeddings, labels = clustered_embeddings()
    dists = slow_distance_matrix(embeddings)
    with pytest.raises(FaceNetEduError):
        metric_plots.plot_negative_axis(dists, labels, 0, 7, 0.2)   # 0 and 7 are different people


class FakeHistory:
    step = [0, 1, 2]
    loss = [0.9, 0.5, 0.2]
    active_fraction = [1.0, 0.6, 0.3]
    mean_ap_dist = [1.0, 0.8, 0.6]
    mean_an_dist = [1.0, 1.1, 1.3]


@pytest.mark.parametrize("history", [FakeHistory(), {k: getattr(FakeHistory, k) for k in
                                                     ("step", "loss", "active_fraction", "mean_ap_dist", "mean_an_dist")}])
def test_training_curves_from_object_or_dict(history):
    fig = metric_plots.plot_training_curves(history)
    loss_ax, active_ax, dist_ax = fig.axes
    assert loss_ax.lines[0].get_ydata().tolist() == FakeHistory.loss
    assert active_ax.lines[0].get_ydata().tolist() == FakeHistory.active_fraction
    assert [line.get_ydata().tolist() for line in dist_ax.lines] == [FakeHistory.mean_ap_dist, FakeHistory.mean_an_dist]
    assert all(ax.get_xlabel() == "step" for ax in fig.axes)


def test_training_curves_empty_history_is_a_clear_error():
    with pytest.raises(FaceNetEduError, match="train"):
        metric_plots.plot_training_curves({"step": []})


def test_roc_with_operating_point_linear_and_log():
    fpr, tpr = [0.0, 0.0, 0.01, 0.1, 0.5, 1.0], [0.0, 0.3, 0.6, 0.8, 0.95, 1.0]
    fig = metric_plots.plot_roc(fpr, tpr, operating_point=(0.1, 0.8), label="ours")
    ax = fig.axes[0]
    assert ax.lines[0].get_xdata().tolist() == fpr
    (point,) = [line for line in ax.lines if line.get_gid() == "operating-point"]
    assert (point.get_xdata()[0], point.get_ydata()[0]) == (0.1, 0.8)
    fig = metric_plots.plot_roc(fpr, tpr, operating_point=(0.1, 0.8), log_far=True)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.lines[0].get_xdata().tolist() == [0.01, 0.1, 0.5, 1.0]   # FAR = 0 cannot sit on a log axis


def test_embedding_map_markers_thumbnails_and_legend():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 4)
    points = rng.normal(size=(20, 2))
    images = rng.random((20, 1, 24, 24))
    unseen = labels >= 3
    fig = viz.plot_embedding_2d(points, labels, names=list("abcde"), images=images, is_unseen=unseen,
                                max_thumbnails=7, limits=((-5, 5), (-4, 4)))
    ax = fig.axes[0]
    (training,) = [c for c in ax.collections if c.get_gid() == "training"]
    (unseen_points,) = [c for c in ax.collections if c.get_gid() == "unseen"]
    np.testing.assert_allclose(training.get_offsets(), points[~unseen])
    np.testing.assert_allclose(unseen_points.get_offsets(), points[unseen])
    assert len(unseen_points.get_facecolors()) == 0          # hollow circles
    for i, face in zip(np.flatnonzero(~unseen), training.get_facecolors()):
        assert tuple(face[:3]) == pytest.approx(viz.identity_color(labels[i]))
    assert sum(isinstance(a, AnnotationBbox) for a in ax.artists) == 7
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == list("abcde") + ["training identity", "unseen identity"]
    assert ax.get_xlim() == (-5, 5) and ax.get_ylim() == (-4, 4)


def test_embedding_map_has_no_identity_legend_for_many_identities():
    labels = np.arange(40).repeat(2)
    points = np.random.default_rng(1).normal(size=(80, 2))
    fig = viz.plot_embedding_2d(points, labels)
    assert fig.axes[0].get_legend() is None
    colours = {tuple(c) for c in fig.axes[0].collections[0].get_facecolors()}
    assert len(colours) == 40


@pytest.fixture(scope="module")
def umap_fit():
    """One UMAP fit for the module: the first fit in a process compiles numba code (tens of seconds)."""
    embeddings, labels = clustered_embeddings(num_identities=6, per_identity=10, dim=32, spread=0.8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reducer = viz.fit_umap(embeddings, seed=0)
        again = viz.fit_umap(embeddings, seed=0)
    return embeddings, labels, reducer, again


def test_umap_shape_and_determinism(umap_fit):
    embeddings, labels, reducer, again = umap_fit
    points = viz.project(reducer, embeddings)
    assert points.shape == (60, 2) and np.isfinite(points).all()
    np.testing.assert_array_equal(points, viz.project(again, embeddings))
    # Same identity, nearby points: each point's nearest neighbour on the map is mostly of its identity.
    d = ((points[:, None] - points[None]) ** 2).sum(-1) + np.eye(60) * 1e9
    assert (labels.numpy()[d.argmin(1)] == labels.numpy()).mean() > 0.8


def test_umap_projects_new_embeddings(umap_fit):
    embeddings, _, reducer, _ = umap_fit
    moved = torch.nn.functional.normalize(embeddings[:8] + 0.01, dim=1)
    points = viz.project(reducer, moved)
    assert points.shape == (8, 2) and np.isfinite(points).all()


def test_umap_needs_enough_points():
    with pytest.raises(FaceNetEduError, match="at least 5"):
        viz.fit_umap(torch.randn(3, 8))


def test_dir_far_curves_each_their_colour_with_points_and_spread():
    curves = {"course model": ([0.0, 0.1, 0.5, 1.0], [0.0, 0.6, 0.9, 1.0]),
              "small network": ([0.0, 0.2, 0.7, 1.0], [0.0, 0.3, 0.7, 0.8])}
    fig = metric_plots.plot_dir_far(curves, {"course model": (0.1, 0.6), "small network": (0.2, 0.3, 0.05, 0.1)},
                                    target_far=0.05)
    ax = fig.axes[0]
    lines = [line for line in ax.lines if line.get_gid() == "dir-far"]
    assert [line.get_xdata().tolist() for line in lines] == [c[0] for c in curves.values()]
    assert len({to_rgba(line.get_color()) for line in lines}) == 2                 # no colour repeats
    points = [line for line in ax.lines if line.get_gid() == "operating-point"]
    assert [(p.get_xdata()[0], p.get_ydata()[0]) for p in points] == [(0.1, 0.6), (0.2, 0.3)]
    assert [to_rgba(p.get_color()) for p in points] == [to_rgba(line.get_color()) for line in lines]
    (target,) = [line for line in ax.lines if line.get_gid() == "target-far"]
    assert np.allclose(target.get_xdata(), 0.05)
    assert len(ax.collections) >= 2                                                # the error bars of the second point
    with pytest.raises(FaceNetEduError, match="equal length"):
        metric_plots.plot_dir_far({"bad": ([0.0, 1.0], [0.0])})
