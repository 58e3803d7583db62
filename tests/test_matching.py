"""Verification, the gallery, thresholds and clustering, on embeddings whose distances are known by hand."""

import math
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from facenet_edu.distances import cross_distances
from facenet_edu.errors import FaceNetEduError
from facenet_edu.matching import (
    accept_counts,
    choose_threshold,
    cluster_embeddings,
    clustering_scores,
    verify,
    verify_embeddings,
)
from facenet_edu.model import EmbeddingNet, ModelConfig
from unit_vectors import at, random_unit


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return EmbeddingNet(ModelConfig(width=8, embedding_dim=16, image_size=32))


# ---------------------------------------------------------------- distances and verification


def test_cross_distances_match_a_loop():
    a, b = random_unit(5, 7, 0), random_unit(4, 7, 1)
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
    same = verify(model, a, a, threshold=0.01, detect=False)    # face crops: no detection
    assert same.same and same.distance < 1e-6
    different = verify(model, a, b, threshold=0.0, detect=False)
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


def test_accept_counts_match_a_loop_over_pairs():
    rng = np.random.default_rng(0)
    distances = rng.integers(0, 5, 40) / 4            # many ties, exactly representable
    is_same = rng.random(40) < 0.4
    thresholds = np.array([-1.0, 0.0, 0.25, 0.6, 1.0, 2.0])
    true_accepts, false_accepts = accept_counts(distances, is_same, thresholds)
    for t, ta, fa in zip(thresholds, true_accepts, false_accepts):
        assert ta == sum(1 for d, s in zip(distances, is_same) if s and d <= t)
        assert fa == sum(1 for d, s in zip(distances, is_same) if not s and d <= t)
    one = accept_counts(distances, is_same, 0.5)
    assert one[0].shape == (1,) and one[1].shape == (1,)


def test_one_rule_for_same_person_and_for_unknown_everywhere():
    """is_same_person and name_or_unknown decide; verify, the gallery and the LFW accuracy agree with them."""
    import torch

    from facenet_edu import Gallery
    from facenet_edu.matching import UNKNOWN, is_same_person, name_or_unknown, verify_embeddings

    assert is_same_person(0.5, 0.5) and not is_same_person(0.5000001, 0.5)          # at the threshold: same
    assert is_same_person(np.array([0.1, 0.7]), 0.5).tolist() == [True, False]
    assert is_same_person(torch.tensor([0.1, 0.7]), 0.5).tolist() == [True, False]
    assert name_or_unknown("ada", 0.5, 0.5) == "ada" and name_or_unknown("ada", 0.51, 0.5) == UNKNOWN
    a, b = np.array([1.0, 0.0]), np.array([0.6, 0.8])                                   # distance about 0.894
    d = verify_embeddings(a, b, 2.0).distance
    assert d == pytest.approx(np.sqrt(0.8))
    assert verify_embeddings(a, b, d).same and not verify_embeddings(a, b, d - 1e-9).same   # at the threshold: same
    gallery = Gallery()
    gallery.enroll_embeddings("ada", a[None])
    g = gallery.identify(b, threshold=2.0).distance
    assert gallery.identify(b, threshold=g).name == "ada" and gallery.identify(b, threshold=g - 1e-6).name == UNKNOWN
