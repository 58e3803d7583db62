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


def test_static_view_of_the_matcher_shows_the_bar_chart_of_the_chosen_sample():
    import torch

    from facenet_edu.faces import prepare_face
    from facenet_edu.gallery import Gallery
    from facenet_edu.model import EmbeddingNet, ModelConfig, embed
    from facenet_edu.synthetic import make_synthetic_faces

    images, labels = make_synthetic_faces(4, 3, 32, seed=1)               # (12, 1, 32, 32)
    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig(embedding_dim=16, width=4, image_size=32)).eval()
    enrolled = {f"person{i}": embed(model, images[labels == i][:2]).numpy() for i in range(3)}
    gallery = Gallery()
    for name, emb in enrolled.items():
        gallery.enroll_embeddings(name, emb)
    query = images[labels == 3][0, 0].numpy()                             # a person not enrolled
    w = widgets.new_face_matcher(model, gallery, {"stranger": query}, threshold=0.05, detect=False, top_k=3)
    assert not [item for item in widgets.static_view(w) if not isinstance(item, str)]   # nothing chosen yet: no chart
    w.sample_dropdown.value = "stranger"
    (figure,) = [item for item in widgets.static_view(w) if not isinstance(item, str)]
    q = embed(model, prepare_face(query, 32, detect=False))[0].numpy()
    per_person = {}
    for name, emb in enrolled.items():                                    # each person's nearest enrolled photo
        per_person[name] = min(float(np.sqrt(((q - e) ** 2).sum())) for e in emb)
    expected = sorted(per_person.values())[::-1]                          # the chart lists the nearest at the top
    bars = [patch.get_width() for patch in figure.axes[1].patches]
    assert bars == pytest.approx(expected, abs=1e-5)
    assert w.verdict == ("unknown" if min(per_person.values()) > 0.05 else min(per_person, key=per_person.get))
