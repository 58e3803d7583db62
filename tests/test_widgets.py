"""Widgets driven from Python: set a control, assert the state that changed.

Every expected value comes from an explicit loop in this file (over anchors, positives
and negatives, over pairs, over gallery entries), never from the package code under
test. UMAP is replaced by a fixed linear map where a widget would fit one (UMAP itself
is tested in test_viz.py), so these tests run in seconds.
"""

import io
import math
import re
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.offsetbox import AnnotationBbox  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from facenet_edu import viz, widgets  # noqa: E402
from facenet_edu.errors import FaceNetEduError  # noqa: E402
from facenet_edu.gallery import Gallery  # noqa: E402
from facenet_edu.model import EmbeddingNet, ModelConfig, embed  # noqa: E402
from facenet_edu.synthetic import make_synthetic_faces  # noqa: E402


pytestmark = pytest.mark.usefixtures("no_warnings_no_leaks")   # see conftest.py


def clustered_embeddings(num_identities=5, per_identity=4, dim=8, spread=1.5, seed=2):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(num_identities).repeat_interleave(per_identity)
    points = torch.randn(num_identities, dim, generator=g)[labels] * 2 + spread * torch.randn(len(labels), dim, generator=g)
    return torch.nn.functional.normalize(points, dim=1), labels


def dist(u, v) -> float:
    return math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(u, v)))


def kind(ap: float, an: float, margin: float) -> str:
    return "hard" if an <= ap else "semi-hard" if an < ap + margin else "easy"


def slow_counts(embeddings, labels, margin):
    """Categories of every valid triplet, with a triple loop."""
    counts = {"easy": 0, "semi-hard": 0, "hard": 0}
    n = len(labels)
    for a in range(n):
        for p in range(n):
            if p == a or labels[p] != labels[a]:
                continue
            ap = dist(embeddings[a], embeddings[p])
            for neg in range(n):
                if labels[neg] != labels[a]:
                    counts[kind(ap, dist(embeddings[a], embeddings[neg]), margin)] += 1
    return counts


def slow_losses(embeddings, labels, margin):
    """Batch-all (mean over active triplets) and FaceNet semi-hard (easiest negative if none farther) losses."""
    n = len(labels)
    active, semi = [], []
    for a in range(n):
        negatives = [dist(embeddings[a], embeddings[k]) for k in range(n) if labels[k] != labels[a]]
        for p in range(n):
            if p == a or labels[p] != labels[a] or not negatives:
                continue
            ap = dist(embeddings[a], embeddings[p])
            active += [ap - an + margin for an in negatives if an < ap + margin]
            farther = [an for an in negatives if an > ap]
            chosen = min(farther) if farther else max(negatives)
            semi.append(max(ap - chosen + margin, 0.0))
    return {"batch-all": sum(active) / len(active) if active else 0.0, "semi-hard": sum(semi) / len(semi)}


def shown(html: str, css_class: str) -> str:
    match = re.search(rf'class="{css_class}"[^>]*>([^<]*)<', html)
    assert match, f"no .{css_class} in {html!r}"
    return match.group(1)


# ---------------------------------------------------------------- margin explorer

def test_margin_slider_recounts_against_triple_loop():
    embeddings, labels = clustered_embeddings()
    w = widgets.margin_explorer(embeddings, labels, margin=0.2)
    assert w.counts == slow_counts(embeddings, labels, 0.2)
    w.margin_slider.value = 0.6
    expected = slow_counts(embeddings, labels, 0.6)
    assert w.counts == expected
    assert w.counts != slow_counts(embeddings, labels, 0.2), "test data should change with the margin"
    for name in ("easy", "semi-hard", "hard"):
        assert int(shown(w.summary.value, f"fe-count-{name}").replace(",", "")) == expected[name]
    reference = slow_losses(embeddings, labels, 0.6)
    assert w.losses["semi-hard"] == pytest.approx(reference["semi-hard"], abs=1e-5)
    assert w.losses["batch-all"] == pytest.approx(reference["batch-all"], abs=1e-5)
    assert float(shown(w.summary.value, "fe-loss")) == pytest.approx(w.loss, abs=1e-4)
    total = sum(expected.values())
    assert w.active_fraction == pytest.approx((expected["hard"] + expected["semi-hard"]) / total)
    assert not w.margin_slider.continuous_update


def test_margin_explorer_draws_the_band_of_its_pair():
    embeddings, labels = clustered_embeddings()
    w = widgets.margin_explorer(embeddings, labels, margin=0.3, anchor=4, positive=6)
    w.margin_slider.value = 0.45
    ap = dist(embeddings[4], embeddings[6])
    axis = w.figure.axes[1]
    (band,) = [p for p in axis.patches if p.get_gid() == "band"]
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((ap, ap + 0.45), abs=1e-5)
    (arrow,) = [t for t in w.figure.axes[0].texts if t.get_gid() == "margin"]
    assert arrow.xy[0] - arrow.xyann[0] == pytest.approx(0.45)


def test_margin_explorer_default_pair_is_a_valid_pair():
    embeddings, labels = clustered_embeddings()
    w = widgets.margin_explorer(embeddings, labels)
    assert w.anchor != w.positive and labels[w.anchor] == labels[w.positive]
    assert not hasattr(w, "retrain_button")
    fast = widgets.margin_explorer(embeddings, labels, batch_all=False)
    assert set(fast.losses) == {"semi-hard"} and "fe-loss-batch-all" not in fast.summary.value
    assert fast.loss == pytest.approx(w.loss)


def test_margin_explorer_needs_a_valid_triplet():
    with pytest.raises(FaceNetEduError, match="two or more people"):
        widgets.margin_explorer(torch.eye(3), torch.zeros(3))


def linear_map(seed=0):
    """A stand-in for UMAP: a fixed random linear map to 2-D, with UMAP's transform interface."""
    class Linear:
        def __init__(self, dim):
            self.matrix = np.random.default_rng(seed).normal(size=(dim, 2))

        def transform(self, x):
            return np.asarray(x, dtype=np.float64) @ self.matrix
    return Linear


def test_retrain_button_shows_before_and_after(monkeypatch):
    embeddings, labels = clustered_embeddings()
    tighter, _ = clustered_embeddings(spread=0.2)
    fitted_on, calls = [], []
    Linear = linear_map()

    def fake_fit(x, seed=0):
        fitted_on.append(torch.as_tensor(x).clone())
        return Linear(x.shape[1])

    monkeypatch.setattr(viz, "fit_umap", fake_fit)

    def retrain(margin):
        calls.append(margin)
        return tighter

    w = widgets.margin_explorer(embeddings, labels, retrain=retrain)
    assert w.retrained is None
    w.margin_slider.value = 0.35
    w.retrain_button.click()
    assert calls == [0.35]
    torch.testing.assert_close(w.retrained, tighter)
    torch.testing.assert_close(fitted_on[0], torch.cat([embeddings, tighter]))   # one map for both
    before, after = w.retrain_points
    np.testing.assert_allclose(before, embeddings.numpy() @ Linear(8).matrix, rtol=1e-5)
    np.testing.assert_allclose(after, tighter.numpy() @ Linear(8).matrix, rtol=1e-5)
    assert w.counts_after == slow_counts(tighter, labels, 0.35)
    assert not w.retrain_button.disabled
    assert len(w.retrain_figure.axes) == 2
    assert w.retrain_figure.axes[0].get_xlim() == w.retrain_figure.axes[1].get_xlim()


def test_retrain_returning_other_images_is_a_clear_error():
    embeddings, labels = clustered_embeddings()
    w = widgets.margin_explorer(embeddings, labels, retrain=lambda margin: embeddings[:5])
    with pytest.raises(FaceNetEduError, match="same images"):
        w.run_retrain()
    assert not w.retrain_button.disabled


# ---------------------------------------------------------------- negative explorer

def slow_choices(embeddings, labels, anchor, positive, margin):
    ap = dist(embeddings[anchor], embeddings[positive])
    negatives = [(dist(embeddings[anchor], embeddings[n]), n) for n in range(len(labels)) if labels[n] != labels[anchor]]
    semi = [(an, n) for an, n in negatives if kind(ap, an, margin) == "semi-hard"]
    easy = [(an, n) for an, n in negatives if kind(ap, an, margin) == "easy"]
    return {
        "batch-hard": min(negatives)[1],
        "semi-hard": min(semi)[1] if semi else None,
        "batch-all": sorted(n for an, n in negatives if an < ap + margin),
        "easy": min(easy)[1] if easy else None,
    }


def check_negative_explorer(w, embeddings, labels, margin):
    expected = slow_choices(embeddings, labels, w.anchor, w.positive, margin)
    assert w.selected["batch-hard"] == expected["batch-hard"]
    assert w.selected["semi-hard"] == expected["semi-hard"]
    assert sorted(w.selected["batch-all"].tolist()) == expected["batch-all"]
    assert w.shown == {"hardest": expected["batch-hard"], "semi-hard": expected["semi-hard"], "easy": expected["easy"]}
    assert shown(w.summary.value, "fe-batch-hard") == f"#{expected['batch-hard']}"
    assert int(shown(w.summary.value, "fe-batch-all")) == len(expected["batch-all"])
    return expected


def test_negative_explorer_follows_anchor_positive_and_margin():
    embeddings, labels = clustered_embeddings()
    images = torch.rand(len(labels), 1, 24, 24, generator=torch.Generator().manual_seed(0))
    w = widgets.negative_explorer(embeddings, labels, images, margin=0.3, names=list("abcde"))
    assert labels[w.anchor] == labels[w.positive] and w.anchor != w.positive
    check_negative_explorer(w, embeddings, labels, 0.3)
    seen_semi = seen_none = False
    for anchor in (0, 13):
        w.anchor_dropdown.value = anchor
        positives = [p for p in range(len(labels)) if p != anchor and labels[p] == labels[anchor]]
        assert [value for _, value in w.positive_dropdown.options] == positives
        for positive in positives:
            w.positive_dropdown.value = positive
            assert (w.anchor, w.positive) == (anchor, positive)
            for margin in (0.1, 0.5):
                w.margin_slider.value = margin
                expected = check_negative_explorer(w, embeddings, labels, margin)
                seen_semi |= expected["semi-hard"] is not None
                seen_none |= expected["semi-hard"] is None
    assert seen_semi and seen_none, "test data should have pairs with and without a semi-hard negative"
    titles = [ax.get_title() for ax in w.figure.axes[:5]]
    assert titles[0].startswith(f"anchor #{w.anchor}") and titles[1].startswith(f"positive #{w.positive}")


# ---------------------------------------------------------------- snapshot explorer

def test_snapshot_slider_moves_between_precomputed_frames():
    embeddings, labels = clustered_embeddings()
    snapshots = [(step, torch.nn.functional.normalize(embeddings + noise, dim=1))
                 for step, noise in ((0, 1.0), (50, 0.3), (100, 0.0))]
    Linear = linear_map()
    reducer = Linear(8)
    unseen = labels >= 3
    w = widgets.snapshot_explorer(snapshots, labels, reducer=reducer, is_unseen=unseen)
    assert (w.frame, w.step) == (2, 100)
    for k, (_, frame) in enumerate(snapshots):
        np.testing.assert_allclose(w.points[k], frame.numpy() @ reducer.matrix, rtol=1e-5)
    w.frame_slider.value = 0
    assert (w.frame, w.step) == (0, 0)
    assert shown(w.summary.value, "fe-snapshot-step") == "0"
    ax = w.figure.axes[0]
    (training,) = [c for c in ax.collections if c.get_gid() == "training"]
    np.testing.assert_allclose(training.get_offsets(), w.points[0][~unseen.numpy()], rtol=1e-5)
    limits = (ax.get_xlim(), ax.get_ylim())
    w.frame_slider.value = 1
    assert shown(w.summary.value, "fe-snapshot-step") == "50"
    ax = w.figure.axes[0]
    assert (ax.get_xlim(), ax.get_ylim()) == limits          # frames share one view


@pytest.mark.parametrize("fit_on", ["final", "all"])
def test_snapshot_explorer_fits_one_map(monkeypatch, fit_on):
    embeddings, labels = clustered_embeddings()
    snapshots = [(0, embeddings * 0.5), (10, embeddings)]
    fitted_on = []
    Linear = linear_map()

    def fake_fit(x, seed=0):
        fitted_on.append(torch.as_tensor(x).clone())
        return Linear(x.shape[1])

    monkeypatch.setattr(viz, "fit_umap", fake_fit)
    w = widgets.snapshot_explorer(snapshots, labels, fit_on=fit_on)
    assert len(fitted_on) == 1
    expected_fit = embeddings if fit_on == "final" else torch.cat([embeddings * 0.5, embeddings])
    torch.testing.assert_close(fitted_on[0], expected_fit)
    assert [p.shape for p in w.points] == [(20, 2), (20, 2)]
    np.testing.assert_allclose(w.points[0], (embeddings * 0.5).numpy() @ Linear(8).matrix, rtol=1e-5)


def test_snapshot_explorer_draws_at_most_max_thumbnails_faces():
    embeddings, labels = clustered_embeddings()                         # 20 points
    snapshots = [(0, embeddings)]
    images = torch.rand(len(labels), 1, 8, 8, generator=torch.Generator().manual_seed(0))
    reducer = linear_map()(8)
    for limit, expected in ((5, 5), (0, 0), (100, 20)):
        w = widgets.snapshot_explorer(snapshots, labels, reducer=reducer, images=images, max_thumbnails=limit)
        faces = [a for a in w.figure.axes[0].artists if isinstance(a, AnnotationBbox)]
        assert len(faces) == expected


def test_snapshot_filmstrip_draws_evenly_spaced_frames_on_the_shared_view():
    embeddings, labels = clustered_embeddings()
    g = torch.Generator().manual_seed(1)
    snapshots = [(10 * k, torch.nn.functional.normalize(embeddings + torch.randn(embeddings.shape, generator=g) / (k + 1),
                                                         dim=1)) for k in range(7)]
    unseen = labels >= 3
    w = widgets.snapshot_explorer(snapshots, labels, reducer=linear_map()(8), is_unseen=unseen)
    fig = w.filmstrip(num_frames=4)
    expected_frames = [round(i * 6 / 3) for i in range(4)]            # 0, 2, 4, 6: first and last included
    assert w.filmstrip_frames == expected_frames
    assert len(fig.axes) == 4
    for ax, frame in zip(fig.axes, expected_frames):
        assert ax.get_title() == f"step {10 * frame}"
        (training,) = [c for c in ax.collections if c.get_gid() == "training"]
        np.testing.assert_allclose(training.get_offsets(), w.points[frame][~unseen.numpy()], rtol=1e-5)
        assert (ax.get_xlim(), ax.get_ylim()) == (tuple(w.limits[0]), tuple(w.limits[1]))
        assert not [a for a in ax.artists if isinstance(a, AnnotationBbox)]
    assert len(w.filmstrip(num_frames=20).axes) == 7                    # never more frames than snapshots


def test_snapshot_explorer_without_snapshots_says_what_to_do():
    with pytest.raises(FaceNetEduError, match="snapshots"):
        widgets.snapshot_explorer([], torch.zeros(0))


# ---------------------------------------------------------------- threshold explorer

def slow_rates(distances, is_same, threshold):
    fa = fr = num_same = num_diff = 0
    for d, same in zip(distances, is_same):
        accepted = d <= threshold
        if same:
            num_same += 1
            fr += not accepted
        else:
            num_diff += 1
            fa += accepted
    return fa / num_diff, fr / num_same


def test_threshold_slider_updates_rates_and_flipped_pairs():
    rng = np.random.default_rng(0)
    is_same = rng.random(200) < 0.4
    distances = np.where(is_same, rng.normal(0.7, 0.15, 200), rng.normal(1.2, 0.15, 200)).clip(0, 2)
    pair_images = rng.random((200, 2, 20, 20))
    w = widgets.threshold_explorer(distances, is_same, pair_images=pair_images)
    start = w.threshold_slider.value
    assert (w.far, w.frr) == pytest.approx(slow_rates(distances, is_same, start))
    assert len(w.flipped) == 0 and w.pairs_figure is None
    w.threshold_slider.value = 1.3
    far, frr = slow_rates(distances, is_same, 1.3)
    assert (w.far, w.frr) == pytest.approx((far, frr))
    flipped = [i for i in range(200) if (distances[i] <= 1.3) != (distances[i] <= start)]
    assert w.flipped.tolist() == flipped and len(flipped) > 0
    assert float(shown(w.summary.value, "fe-far").rstrip("%")) / 100 == pytest.approx(far, abs=5e-4)
    assert float(shown(w.summary.value, "fe-frr").rstrip("%")) / 100 == pytest.approx(frr, abs=5e-4)
    assert int(shown(w.summary.value, "fe-flipped")) == len(flipped)
    assert len(w.pairs_figure.axes) == 2 * min(6, len(flipped))
    roc_ax, hist_ax = w.figure.axes
    (point,) = [line for line in roc_ax.lines if line.get_gid() == "operating-point"]
    assert (point.get_xdata()[0], point.get_ydata()[0]) == pytest.approx((far, 1 - frr))
    (line,) = [line for line in hist_ax.lines if line.get_gid() == "threshold"]
    assert np.allclose(line.get_xdata(), 1.3)


def test_threshold_explorer_starting_threshold_and_slider_range():
    distances, is_same = np.array([0.2, 0.4, 0.9, 1.5, 2.1]), np.array([True, True, False, False, False])
    w = widgets.threshold_explorer(distances, is_same, threshold=0.5)
    assert w.initial_threshold == 0.5 and (w.far, w.frr) == (0.0, 0.0)
    assert w.threshold_slider.max >= 2.1 and w.threshold_slider.min == 0.0
    assert not w.threshold_slider.continuous_update
    w.threshold_slider.value = 1.0
    assert w.flipped.tolist() == [2] and w.far == pytest.approx(1 / 3)
    # Default: a threshold on the slider's grid that separates these pairs perfectly.
    w = widgets.threshold_explorer(distances, is_same)
    assert 0.4 <= w.threshold_slider.value < 0.9 and (w.far, w.frr) == (0.0, 0.0)


# ---------------------------------------------------------------- new face matcher

@pytest.fixture(scope="module")
def matcher_setup():
    """A small untrained network, 4 enrolled synthetic people, and query faces not enrolled."""
    images, labels = make_synthetic_faces(4, 3, 32, seed=0)       # (12, 1, 32, 32)
    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig(embedding_dim=16, width=4, image_size=32)).eval()
    enrolled = {f"person{i}": embed(model, images[labels == i][:2]) for i in range(4)}
    gallery = Gallery()
    for name, emb in enrolled.items():
        gallery.enroll_embeddings(name, emb)
    queries = {f"person{i}, third photo": images[labels == i][2, 0].numpy() for i in range(4)}
    return model, gallery, enrolled, queries


def slow_identify(embedding, enrolled, threshold):
    per_person = {name: min(dist(embedding, e) for e in emb) for name, emb in enrolled.items()}
    nearest = min(per_person, key=per_person.get)
    return (nearest if per_person[nearest] <= threshold else "unknown"), per_person[nearest]


def test_matcher_sample_dropdown_identifies_against_brute_force(matcher_setup):
    model, gallery, enrolled, queries = matcher_setup
    for threshold in (10.0, 1e-6):                                 # everyone close enough / nobody
        w = widgets.new_face_matcher(model, gallery, sample_images=queries, threshold=threshold, detect=False)
        assert w.verdict is None
        for name, image in queries.items():
            w.sample_dropdown.value = name
            expected_embedding = embed(model, torch.as_tensor(image)[None, None])[0]
            expected, distance = slow_identify(expected_embedding, enrolled, threshold)
            assert w.verdict == expected and w.error is None
            assert w.identification.distance == pytest.approx(distance, abs=1e-4)
            assert shown(w.summary.value, "fe-verdict") == expected
            assert w.face.shape == (32, 32)
            assert len(w.identification.top_k) == 3


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray((array * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_matcher_upload_and_embed_function(matcher_setup):
    model, gallery, enrolled, queries = matcher_setup
    image = next(iter(queries.values()))
    calls = []

    def embed_fn(face):
        calls.append(tuple(face.shape))
        return embed(model, face)

    w = widgets.new_face_matcher(embed_fn, gallery, threshold=10.0, image_size=32, detect=False)
    data = png_bytes(image)
    w.upload.value = ({"name": "me.png", "type": "image/png", "size": len(data), "content": memoryview(data),
                       "last_modified": datetime.now(timezone.utc)},)
    assert calls == [(1, 1, 32, 32)]
    quantised = torch.as_tensor(np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32) / 255)
    expected, _ = slow_identify(embed(model, quantised[None, None])[0], enrolled, 10.0)
    assert w.verdict == expected and w.error is None
    broken = b"not an image"
    w.upload.value = ({"name": "broken.png", "type": "image/png", "size": len(broken), "content": memoryview(broken),
                       "last_modified": datetime.now(timezone.utc)},)
    assert w.verdict is None and "broken.png" in w.error
    assert "fe-match-error" in w.summary.value


def test_matcher_reports_a_missing_face_instead_of_raising(matcher_setup):
    model, gallery, _, _ = matcher_setup
    w = widgets.new_face_matcher(model, gallery, sample_images={"blank": np.zeros((120, 100))}, threshold=1.0)
    assert w.detect_checkbox.value
    w.sample_dropdown.value = "blank"
    assert w.verdict is None and w.error and w.figure is None


def test_matcher_needs_a_threshold(matcher_setup):
    model, gallery, _, _ = matcher_setup
    with pytest.raises(FaceNetEduError, match="threshold"):
        widgets.new_face_matcher(model, gallery)


# ---------------------------------------------------------------- static views


def test_static_view_keeps_the_current_readouts_and_the_last_figure_of_an_explorer():
    embeddings, labels = clustered_embeddings()
    w = widgets.margin_explorer(embeddings, labels, margin=0.2)
    first = widgets.static_view(w)
    figures = [item for item in first if not isinstance(item, str)]
    assert figures == [w.plot_output.figures[-1]] and len(figures) == 1
    assert any(shown(text, "fe-count-easy") == str(w.counts["easy"]) for text in first if 'fe-count-easy' in text)
    w.margin_slider.value = 0.8                                 # a new view: the still follows it
    after = widgets.static_view(w)
    assert [item for item in after if not isinstance(item, str)] == [w.plot_output.figures[-1]]
    assert w.plot_output.figures[-1] is not figures[0]
    assert any(shown(text, "fe-count-easy") == str(w.counts["easy"]) for text in after if 'fe-count-easy' in text)
