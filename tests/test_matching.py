"""Verification, the gallery, thresholds and clustering, on embeddings whose distances are known by hand."""

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from facenet_edu.errors import FaceNetEduError
from facenet_edu.gallery import Gallery
from facenet_edu.matching import (
    UNKNOWN,
    choose_threshold,
    cluster_embeddings,
    clustering_scores,
    cross_distances,
    verify,
    verify_embeddings,
)
from facenet_edu.model import EmbeddingNet, ModelConfig


def at(degrees: float) -> np.ndarray:
    """A unit vector in the plane at this angle; two of them at angle t lie 2 sin(t/2) apart."""
    return np.array([math.cos(math.radians(degrees)), math.sin(math.radians(degrees))], np.float32)


def chord(degrees: float) -> float:
    return 2 * math.sin(math.radians(degrees) / 2)


def _random_unit(n, d, seed):
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return EmbeddingNet(ModelConfig(width=8, embedding_dim=16, image_size=32))


# ---------------------------------------------------------------- distances and verification


def test_cross_distances_match_a_loop():
    a, b = _random_unit(5, 7, 0), _random_unit(4, 7, 1)
    fast = cross_distances(a, b)
    for i in range(5):
        for j in range(4):
            assert abs(fast[i, j] - np.linalg.norm(a[i] - b[j])) < 1e-5
    assert cross_distances(a, a).diagonal() == pytest.approx(np.zeros(5), abs=1e-6)  # never NaN from a tiny negative d^2


def test_verify_embeddings_uses_the_threshold_on_the_distance():
    result = verify_embeddings(at(0), at(60), threshold=1.1)  # 60 degrees apart: distance exactly 1
    assert result.same and result.distance == pytest.approx(1.0, abs=1e-6) and result.threshold == 1.1
    assert not verify_embeddings(torch.from_numpy(at(0)), torch.from_numpy(at(60)), threshold=0.9).same
    assert verify_embeddings(at(0), at(180), threshold=3).distance == pytest.approx(2.0, abs=1e-6)


def test_verify_images_runs_the_network_once_per_image(model):
    a = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (40, 1))  # dark left, bright right
    b = a.T.copy()                                                  # dark top, bright bottom
    same = verify(model, a, a, threshold=0.01)
    assert same.same and same.distance < 1e-6
    different = verify(model, a, b, threshold=0.0)
    from facenet_edu.faces import embed_faces

    e = embed_faces(model, [a, b], detect=False)
    assert different.distance == pytest.approx((e[0] - e[1]).norm().item(), abs=1e-5)
    assert not different.same


def test_bad_embeddings_are_refused():
    with pytest.raises(FaceNetEduError, match="NaN"):
        verify_embeddings(np.array([np.nan, 0.0]), at(0), 1.0)
    with pytest.raises(FaceNetEduError, match="L2-normalised"):
        verify_embeddings(np.array([3.0, 4.0]), at(0), 1.0)
    with pytest.raises(FaceNetEduError, match="same size"):
        verify_embeddings(at(0), np.array([1.0, 0.0, 0.0]), 1.0)


# ---------------------------------------------------------------- the gallery


def _hand_gallery() -> Gallery:
    gallery = Gallery()
    gallery.enroll_embeddings("alice", np.stack([at(0), at(10)]))
    gallery.enroll_embeddings("bob", at(90))
    gallery.enroll_embeddings("carol", torch.from_numpy(at(180)))
    return gallery


def test_identify_nearest_person_or_unknown():
    gallery = _hand_gallery()
    assert gallery.names == ["alice", "bob", "carol"] and len(gallery) == 3 and gallery.num_embeddings == 4
    near_alice = gallery.identify(at(5), threshold=0.5)
    assert near_alice.name == "alice" and near_alice.distance == pytest.approx(chord(5), abs=1e-5)
    # 45 degrees: alice's nearest image (10 deg) is 35 deg away, bob 45 deg; carol 135 deg
    between = gallery.identify(at(45), threshold=0.5, top_k=5)
    assert between.name == UNKNOWN and between.distance == pytest.approx(chord(35), abs=1e-5)
    assert [n for n, _ in between.top_k] == ["alice", "bob", "carol"]  # distinct people, nearest first
    assert [d for _, d in between.top_k] == pytest.approx([chord(35), chord(45), chord(135)], abs=1e-5)
    assert gallery.identify(at(45), threshold=0.7).name == "alice"
    assert len(gallery.identify(at(45), threshold=0.7, top_k=2).top_k) == 2


def test_nearest_neighbour_not_centroid():
    gallery = Gallery()
    gallery.enroll_embeddings("alice", np.stack([at(0), at(100)]))  # mean direction 50 degrees
    gallery.enroll_embeddings("bob", at(60))
    result = gallery.identify(at(95), threshold=1.0)
    assert result.name == "alice" and result.distance == pytest.approx(chord(5), abs=1e-5)  # a centroid rule would say bob


def test_identification_matches_brute_force_on_a_random_gallery():
    embeddings, queries = _random_unit(60, 8, 0), _random_unit(7, 8, 1)
    owners = np.random.default_rng(2).integers(0, 9, 60)
    gallery = Gallery(threshold=1.2)
    for i in range(60):
        gallery.enroll_embeddings(f"p{owners[i]}", embeddings[i])
    batch = gallery.identify_embeddings(queries, top_k=3)
    for q, result in zip(queries, batch):
        best = {}
        for e, o in zip(embeddings, owners):
            d = float(np.linalg.norm(q - e))
            best[f"p{o}"] = min(best.get(f"p{o}", 9.0), d)
        ranked = sorted(best.items(), key=lambda kv: kv[1])
        assert [n for n, _ in result.top_k] == [n for n, _ in ranked[:3]]
        assert [d for _, d in result.top_k] == pytest.approx([d for _, d in ranked[:3]], abs=1e-5)
        assert result.name == (ranked[0][0] if ranked[0][1] <= 1.2 else UNKNOWN)
        alone = gallery.identify(q)  # one at a time gives the same answer, with the stored threshold
        assert alone.name == result.name and alone.distance == pytest.approx(result.distance, abs=1e-9)


def test_remove_forgets_a_person_and_keeps_the_others():
    gallery = _hand_gallery()
    gallery.remove("alice")
    assert gallery.names == ["bob", "carol"] and gallery.num_embeddings == 2
    assert gallery.identify(at(170), threshold=0.5).name == "carol"
    assert gallery.identify(at(5), threshold=0.5).name == UNKNOWN
    np.testing.assert_allclose(gallery.embeddings_of("bob"), at(90)[None])
    with pytest.raises(FaceNetEduError, match="not enrolled"):
        gallery.remove("alice")
    gallery.remove("bob")
    gallery.remove("carol")
    with pytest.raises(FaceNetEduError, match="enrol someone first"):
        gallery.identify(at(0), threshold=1.0)


def test_gallery_refuses_bad_input():
    with pytest.raises(FaceNetEduError, match="enrol someone first"):
        Gallery().identify(at(0), threshold=1.0)
    gallery = _hand_gallery()
    with pytest.raises(FaceNetEduError, match="NaN"):
        gallery.enroll_embeddings("dave", np.array([np.nan, 1.0]))
    with pytest.raises(FaceNetEduError, match="NaN"):
        gallery.identify(np.array([np.nan, 1.0], np.float32), threshold=1.0)
    with pytest.raises(FaceNetEduError, match="2-D embeddings"):
        gallery.enroll_embeddings("dave", np.array([1.0, 0.0, 0.0]))
    with pytest.raises(FaceNetEduError, match="name"):
        gallery.enroll_embeddings(UNKNOWN, at(0))
    with pytest.raises(FaceNetEduError, match="threshold"):
        gallery.identify(at(0))
    with pytest.raises(FaceNetEduError, match="model="):
        gallery.identify(np.zeros((40, 40), np.float32), threshold=1.0)


def test_enroll_and_identify_images_with_a_model(model):
    rng = np.random.default_rng(0)
    faces = [rng.random((40, 40)).astype(np.float32) for _ in range(3)]
    gallery = Gallery()
    gallery.enroll("ann", faces[:2], model=model)
    gallery.enroll("ben", faces[2], model=model)
    assert gallery.names == ["ann", "ben"] and gallery.num_embeddings == 3
    result = gallery.identify(faces[2], threshold=1e-3, model=model)
    assert result.name == "ben" and result.distance < 1e-3


def test_gallery_round_trip_without_pickle(tmp_path):
    gallery = _hand_gallery()
    gallery.threshold = 0.75
    gallery.save(tmp_path / "people")
    with np.load(tmp_path / "people.npz", allow_pickle=False) as arrays:
        assert arrays["embeddings"].dtype == np.float32 and arrays["embeddings"].shape == (4, 2)
        assert arrays["person"].tolist() == [0, 0, 1, 2]
    meta = json.loads((tmp_path / "people.json").read_text())
    assert meta["names"] == ["alice", "bob", "carol"] and meta["embedding_dim"] == 2 and meta["version"] == 1
    loaded = Gallery.load(tmp_path / "people.npz")  # either file name works
    assert loaded.names == gallery.names and loaded.threshold == 0.75
    for name in gallery.names:
        np.testing.assert_array_equal(loaded.embeddings_of(name), gallery.embeddings_of(name))
    assert loaded.identify(at(45)) == gallery.identify(at(45))
    Gallery().save(tmp_path / "empty")
    assert len(Gallery.load(tmp_path / "empty")) == 0


def test_damaged_or_missing_gallery_files_raise(tmp_path):
    with pytest.raises(FaceNetEduError, match="No gallery"):
        Gallery.load(tmp_path / "nothing")
    _hand_gallery().save(tmp_path / "g")
    (tmp_path / "g.npz").write_bytes(b"not a zip file")
    with pytest.raises(FaceNetEduError, match="not a readable"):
        Gallery.load(tmp_path / "g")
    _hand_gallery().save(tmp_path / "h")
    meta = json.loads((tmp_path / "h.json").read_text())
    (tmp_path / "h.json").write_text(json.dumps({**meta, "names": ["alice"]}))
    with pytest.raises(FaceNetEduError, match="damaged"):
        Gallery.load(tmp_path / "h")


# ---------------------------------------------------------------- thresholds


def _slow_candidates(d):
    values = sorted(set(float(x) for x in d))
    mids = [(values[i] + values[i + 1]) / 2 for i in range(len(values) - 1)]
    return [values[0] - 1e-6, *mids, values[-1] + 1e-6]


def _slow_rates(d, same, t):
    tp = sum(1 for x, s in zip(d, same) if s and x <= t)
    fp = sum(1 for x, s in zip(d, same) if not s and x <= t)
    tn = sum(1 for x, s in zip(d, same) if not s and x > t)
    return tp, fp, tn


def test_best_accuracy_threshold_lies_in_the_gap():
    same_d = np.linspace(0.2, 0.4, 20)
    diff_d = np.linspace(0.8, 1.0, 20)
    d = np.concatenate([same_d, diff_d])
    is_same = np.array([True] * 20 + [False] * 20)
    t = choose_threshold(d, is_same)
    assert 0.4 <= t < 0.8
    assert choose_threshold(torch.from_numpy(d), torch.from_numpy(is_same)) == t


def test_best_accuracy_threshold_matches_a_sweep():
    rng = np.random.default_rng(0)
    d = np.round(np.concatenate([rng.normal(0.7, 0.2, 80), rng.normal(1.1, 0.2, 120)]), 2)  # rounding makes ties
    same = np.array([True] * 80 + [False] * 120)
    t = choose_threshold(d, same)
    best_t, best_correct = None, -1
    for c in _slow_candidates(d):
        tp, _, tn = _slow_rates(d, same, c)
        if tp + tn > best_correct:
            best_t, best_correct = c, tp + tn
    assert t == pytest.approx(best_t)


@pytest.mark.parametrize("target_far", [0.0, 0.01, 0.1, 0.5])
def test_target_far_threshold_matches_a_sweep(target_far):
    rng = np.random.default_rng(1)
    d = np.round(np.concatenate([rng.normal(0.7, 0.2, 60), rng.normal(1.1, 0.2, 140)]), 3)
    same = np.array([True] * 60 + [False] * 140)
    t = choose_threshold(d, same, target_far=target_far)
    allowed = [c for c in _slow_candidates(d) if _slow_rates(d, same, c)[1] / 140 <= target_far]
    assert t == pytest.approx(max(allowed))
    assert _slow_rates(d, same, t)[1] / 140 <= target_far


def test_threshold_bad_input():
    with pytest.raises(FaceNetEduError, match="empty"):
        choose_threshold([], [])
    with pytest.raises(FaceNetEduError, match="NaN"):
        choose_threshold([0.1, np.nan], [True, False])
    with pytest.raises(FaceNetEduError, match="different-person pairs"):
        choose_threshold([0.1, 0.2], [True, True], target_far=0.01)


# ---------------------------------------------------------------- clustering


def _slow_ari(a, b):
    comb2 = lambda n: n * (n - 1) / 2  # noqa: E731
    n = len(a)
    pairs = Counter(zip(a, b))
    index = sum(comb2(v) for v in pairs.values())
    sa = sum(comb2(v) for v in Counter(a).values())
    sb = sum(comb2(v) for v in Counter(b).values())
    expected = sa * sb / comb2(n)
    return (index - expected) / ((sa + sb) / 2 - expected)


def _slow_nmi(a, b):
    n = len(a)
    ca, cb, cab = Counter(a), Counter(b), Counter(zip(a, b))
    mi = sum(v / n * math.log(n * v / (ca[x] * cb[y])) for (x, y), v in cab.items())
    ha = -sum(v / n * math.log(v / n) for v in ca.values())
    hb = -sum(v / n * math.log(v / n) for v in cb.values())
    return mi / ((ha + hb) / 2)


def test_clustering_finds_the_people_without_their_names():
    centres = [0, 120, 240]
    embeddings = np.stack([at(c + off) for c in centres for off in (-5, 0, 5, 8)])
    truth = np.repeat([0, 1, 2], 4)
    labels = cluster_embeddings(embeddings, threshold=0.6)
    assert len(set(labels.tolist())) == 3
    assert clustering_scores(truth, labels) == {"nmi": pytest.approx(1.0), "ari": pytest.approx(1.0)}
    assert len(set(cluster_embeddings(embeddings, threshold=0.01).tolist())) == 12  # nobody merged
    assert len(set(cluster_embeddings(embeddings, threshold=3.0).tolist())) == 1    # everybody merged
    assert cluster_embeddings(at(0), threshold=1.0).tolist() == [0]


def test_clustering_scores_match_sklearn_and_the_formulas():
    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 4, 50).tolist(), rng.integers(0, 5, 50).tolist()
    scores = clustering_scores(truth, pred)
    assert scores["ari"] == pytest.approx(adjusted_rand_score(truth, pred))
    assert scores["nmi"] == pytest.approx(normalized_mutual_info_score(truth, pred))
    assert scores["ari"] == pytest.approx(_slow_ari(truth, pred))
    assert scores["nmi"] == pytest.approx(_slow_nmi(truth, pred))
    assert all(type(v) is float for v in scores.values())
