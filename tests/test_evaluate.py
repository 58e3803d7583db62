"""Evaluation metrics against slow loops and scikit-learn, baselines, and bad input."""

import json

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score, roc_curve

from facenet_edu.data import FaceDataset
from facenet_edu.errors import FaceNetEduError
from facenet_edu.baselines import Eigenfaces, raw_pixel_features
from facenet_edu.distances import pair_distances
from facenet_edu.evaluate import (
    evaluate_embeddings,
    evaluate_model,
    format_metrics_table,
    rank1_accuracy,
    summarise_runs,
    validation_threshold,
)
from facenet_edu.open_set import (
    merge_open_set_scores,
    open_set_curve,
    open_set_dir_at_far,
    open_set_scores,
    open_set_threshold,
)
from facenet_edu.pairs import all_pairs, make_pairs
from facenet_edu.verification import roc_auc, roc_curve_dists, tar_at_far, verification_accuracy_lfw
from facenet_edu.model import EmbeddingNet, ModelConfig

REQUIRED_KEYS = {"verification_accuracy", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3", "rank1"}


def _noisy_pairs(num_pos=80, num_neg=300, seed=0, decimals=2):
    """Overlapping same/different distance distributions, rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    d = np.round(np.concatenate([rng.normal(0.7, 0.2, num_pos), rng.normal(1.1, 0.2, num_neg)]), decimals)
    return d, np.array([True] * num_pos + [False] * num_neg)


def _clustered(num_people=4, per_person=5, dim=8, noise=0.05, seed=0):
    """Each person a tight cluster around a different axis: every metric should be perfect."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(num_people), per_person)
    x = np.eye(dim)[labels] + noise * rng.standard_normal((len(labels), dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def _random_embeddings(n=60, dim=6, people=12, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, people, n)
    centres = rng.standard_normal((people, dim))
    x = centres[labels] + 1.2 * rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


# ---------------------------------------------------------------- pairs


def test_make_pairs_lists_every_positive_and_as_many_distinct_negatives():
    labels = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    i, j, is_same = make_pairs(labels, seed=0)
    expected_pos = {(a, b) for a in range(10) for b in range(a + 1, 10) if labels[a] == labels[b]}
    assert {(a, b) for a, b, s in zip(i, j, is_same) if s} == expected_pos
    negatives = [(a, b) for a, b, s in zip(i, j, is_same) if not s]
    assert len(negatives) == len(expected_pos) == 10
    assert len(set(negatives)) == len(negatives)
    assert all(a < b and labels[a] != labels[b] for a, b in negatives)
    again = make_pairs(torch.from_numpy(labels), seed=0)
    assert all(np.array_equal(x, y) for x, y in zip((i, j, is_same), again))
    assert not np.array_equal(make_pairs(labels, seed=1)[1], j)


def test_make_pairs_can_sample_and_handles_large_sets():
    labels = np.repeat(np.arange(10), 5)  # 100 positive pairs
    i, j, is_same = make_pairs(labels, num_pairs_per_kind=30, seed=0)
    assert is_same.sum() == 30 and (~is_same).sum() == 30
    assert np.all(labels[i[is_same]] == labels[j[is_same]])
    big = np.arange(3000) // 3  # 4.5 million image pairs: negatives are drawn, not listed
    i, j, is_same = make_pairs(big, seed=0)
    assert is_same.sum() == (~is_same).sum() == 3000
    neg = set(zip(i[~is_same].tolist(), j[~is_same].tolist()))
    assert len(neg) == 3000 and all(a < b and big[a] != big[b] for a, b in neg)


def test_all_pairs_and_pair_distances_match_loops():
    x, labels = _random_embeddings(12, 4, 3)
    i, j, same = all_pairs(labels)
    assert len(i) == 66 and np.array_equal(same, labels[i] == labels[j])
    d = pair_distances(x, i, j)  # more pairs than images: the matrix route
    assert d == pytest.approx([np.linalg.norm(x[a] - x[b]) for a, b in zip(i, j)], abs=1e-9)
    assert pair_distances(x, i[:5], j[:5]) == pytest.approx(d[:5], abs=1e-9)  # the direct route


# ---------------------------------------------------------------- ROC, TAR@FAR, LFW


def test_roc_curve_and_auc_match_sklearn():
    d, same = _noisy_pairs()
    fpr, tpr, thresholds = roc_curve_dists(d, same)
    sk_fpr, sk_tpr, sk_thr = roc_curve(same, -d, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thresholds, -sk_thr)
    assert roc_auc(d, same) == pytest.approx(roc_auc_score(same, -d))
    assert roc_auc(torch.from_numpy(d), torch.from_numpy(same)) == pytest.approx(roc_auc_score(same, -d))


def _slow_tar_at_far(d, same, far):
    num_neg = sum(1 for s in same if not s)
    num_pos = len(same) - num_neg
    best = 0.0
    for t in [min(d) - 1.0, *sorted(set(d))]:
        fa = sum(1 for x, s in zip(d, same) if not s and x <= t)
        ta = sum(1 for x, s in zip(d, same) if s and x <= t)
        if fa / num_neg <= far:
            best = max(best, ta / num_pos)
    return best


@pytest.mark.parametrize("far", [0.0, 1e-3, 1e-2, 0.1, 0.3])
def test_tar_at_far_matches_a_threshold_sweep(far):
    d, same = _noisy_pairs(num_pos=150, num_neg=1200, seed=1, decimals=3)
    assert tar_at_far(d, same, far) == pytest.approx(_slow_tar_at_far(d, same, far))


def test_tar_at_far_with_too_few_negatives_is_tar_at_zero_far():
    d, same = _noisy_pairs(num_pos=100, num_neg=50, seed=2, decimals=4)
    closest_negative = d[~same].min()
    assert tar_at_far(d, same, 1e-3) == pytest.approx((d[same] < closest_negative).mean())


def _slow_lfw(d, same, num_folds, seed):
    folds = np.array_split(np.random.default_rng(seed).permutation(len(d)), num_folds)  # the documented split
    accuracies = []
    for k in range(num_folds):
        train = [p for m in range(num_folds) if m != k for p in folds[m]]
        values = sorted({float(d[p]) for p in train})
        candidates = [values[0] - 1e-6] + [(a + b) / 2 for a, b in zip(values, values[1:])] + [values[-1] + 1e-6]
        best_t, best_correct = None, -1
        for t in candidates:
            correct = sum(1 for p in train if (d[p] <= t) == same[p])
            if correct > best_correct:
                best_t, best_correct = t, correct
        accuracies.append(sum(1 for p in folds[k] if (d[p] <= best_t) == same[p]) / len(folds[k]))
    return accuracies


def test_lfw_protocol_matches_a_slow_loop():
    d, same = _noisy_pairs(num_pos=120, num_neg=120, seed=3)
    result = verification_accuracy_lfw(d, same, num_folds=10, seed=5)
    slow = _slow_lfw(d, same, 10, 5)
    assert result["accuracies"] == pytest.approx(slow)
    assert result["mean"] == pytest.approx(np.mean(slow)) and result["std"] == pytest.approx(np.std(slow))
    assert len(result["thresholds"]) == 10
    separable = np.r_[np.linspace(0.1, 0.3, 50), np.linspace(0.9, 1.2, 50)]
    perfect = verification_accuracy_lfw(separable, np.arange(100) < 50)
    assert perfect["mean"] == 1.0 and all(0.3 <= t < 0.9 for t in perfect["thresholds"])


# ---------------------------------------------------------------- identification


def _slow_rank1(x, labels):
    hits = total = 0
    for q in range(len(labels)):
        if sum(1 for lab in labels if lab == labels[q]) < 2:
            continue
        best, best_j = np.inf, -1
        for j in range(len(labels)):
            if j != q and np.linalg.norm(x[q] - x[j]) < best:
                best, best_j = np.linalg.norm(x[q] - x[j]), j
        hits += labels[best_j] == labels[q]
        total += 1
    return hits / total


def test_rank1_matches_a_loop_and_skips_people_with_one_image():
    x, labels = _random_embeddings(60, 6, 25, seed=1)
    assert (np.bincount(labels) == 1).any()  # some singletons: distractors, not queries
    fast = rank1_accuracy(x, labels, batch_size=7)
    assert fast == pytest.approx(_slow_rank1(x, labels))
    assert 0.0 < fast < 1.0
    clustered, lab = _clustered()
    assert rank1_accuracy(torch.from_numpy(clustered), torch.from_numpy(lab)) == 1.0


def test_open_set_on_a_hand_built_case():
    # axis p = person p. Known people get one gallery image; one known probe sits far from its person.
    x = np.array([
        [1, 0, 0, 0], [1, 0, 0, 0],          # person 0: gallery, probe at distance 0
        [0, 1, 0, 0], [0.6, 0.8, 0, 0],      # person 1: gallery, probe at distance 0.632
        [0, 0, 1, 0], [0, 0, 0.8, 0.6],      # person 2 ...
        [0, 0, 0, 1], [0, 0.6, 0, 0.8],      # person 3 ...
    ], dtype=np.float64)
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    result = open_set_dir_at_far(x, labels, far=0.0, known_fraction=0.5, seed=0)
    known = set(np.unique(labels)[np.random.default_rng(0).permutation(4)][:2].tolist())
    # by brute force: unknown probes are all images of the unknown people; nearest gallery distance of each
    gallery = [i for p in sorted(known) for i in np.nonzero(labels == p)[0][:1]]
    probes = [i for i in range(8) if i not in gallery]
    nearest = {i: min(gallery, key=lambda g: np.linalg.norm(x[i] - x[g])) for i in probes}
    dist = {i: np.linalg.norm(x[i] - x[nearest[i]]) for i in probes}
    unknown_d = [dist[i] for i in probes if labels[i] not in known]
    known_probes = [i for i in probes if labels[i] in known]
    expected = np.mean([labels[nearest[i]] == labels[i] and dist[i] < min(unknown_d) for i in known_probes])
    assert result["dir"] == pytest.approx(expected)
    assert result["far"] == 0.0 and result["threshold"] < min(unknown_d)
    assert result["num_known_probes"] == 2.0 and result["num_unknown_probes"] == 4.0
    lenient = open_set_dir_at_far(x, labels, far=1.0, seed=0)  # every stranger accepted: DIR is closed-set rank-1
    assert lenient["dir"] == lenient["rank1_known"] == 1.0


def _loop_open_set(x, labels, strangers, gallery_per_person):
    """Brute force: gallery, probes and each probe's nearest gallery image by explicit loops."""
    gallery, known, unknown = [], [], []
    for person in sorted(set(labels.tolist())):
        images = [i for i in range(len(labels)) if labels[i] == person]
        if person in strangers:
            unknown += images
        else:
            gallery += images[:gallery_per_person]
            known += images[gallery_per_person:]
    rows = []
    for i in known + unknown:
        best = min(gallery, key=lambda g: float(np.sqrt(((x[i] - x[g]) ** 2).sum())))
        rows.append((i, float(np.sqrt(((x[i] - x[best]) ** 2).sum())), labels[best], labels[best] == labels[i], i in known))
    return rows


@pytest.mark.parametrize("gallery_per_person", [1, 3])
def test_open_set_scores_and_curve_match_a_brute_force_loop(gallery_per_person):
    x, labels = _random_embeddings(n=90, people=9, seed=4)
    strangers = {2, 5, 7}
    scores = open_set_scores(torch.from_numpy(x), labels, sorted(strangers), gallery_per_person)
    rows = _loop_open_set(x, labels, strangers, gallery_per_person)
    assert scores["probe"].tolist() == [r[0] for r in rows]
    assert np.allclose(scores["nearest_distance"], [r[1] for r in rows])
    assert scores["nearest_label"].tolist() == [r[2] for r in rows]
    assert scores["right_person"].tolist() == [r[3] for r in rows]
    assert scores["is_known"].tolist() == [r[4] for r in rows]
    default = open_set_curve(scores)
    assert default["thresholds"][0] == -np.inf and (default["far"][0], default["dir"][0]) == (0.0, 0.0)
    assert default["far"][-1] == 1.0 and len(default["thresholds"]) == len(np.unique(scores["nearest_distance"])) + 1
    loop_d = np.unique([r[1] for r in rows])
    between = np.r_[-np.inf, (loop_d[:-1] + loop_d[1:]) / 2, np.inf]     # no threshold sits on a distance
    curve = open_set_curve(scores, between)
    for t, far, dir_ in zip(between, curve["far"], curve["dir"]):
        strangers_accepted = [d <= t for _, d, _, _, known in rows if not known]
        found = [d <= t and right for _, d, _, right, known in rows if known]
        assert far == pytest.approx(sum(strangers_accepted) / len(strangers_accepted))
        assert dir_ == pytest.approx(sum(found) / len(found))
    rank1 = np.mean([right for _, _, _, right, known in rows if known])
    assert curve["dir"][-1] == default["dir"][-1] == pytest.approx(rank1)     # everyone accepted: DIR is closed-set rank-1


@pytest.mark.parametrize("target", [0.0, 0.1, 0.25, 1.0])
def test_open_set_threshold_is_the_largest_with_at_most_the_target_false_alarms(target):
    x, labels = _random_embeddings(n=90, people=9, seed=5)
    scores = open_set_scores(x, labels, [0, 3, 8], 2)
    threshold = open_set_threshold(scores, target)
    stranger_d = np.sort(scores["nearest_distance"][~scores["is_known"]])
    accepted = sum(d <= threshold for d in stranger_d)
    assert accepted <= target * len(stranger_d)
    # one more stranger (the next distance up) would break the target
    if accepted < len(stranger_d):
        assert accepted + 1 > target * len(stranger_d) or stranger_d[accepted] == stranger_d[accepted - 1]
    assert open_set_curve(scores, [threshold])["far"][0] == pytest.approx(accepted / len(stranger_d))


def test_merged_trials_pool_their_probes():
    x, labels = _random_embeddings(n=60, people=6, seed=6)
    trials = [open_set_scores(x, labels, [p], 2) for p in range(6)]
    merged = merge_open_set_scores(trials)
    assert len(merged["probe"]) == sum(len(t["probe"]) for t in trials)
    assert merged["trial"].tolist() == [k for k, t in enumerate(trials) for _ in t["probe"]]
    pooled_far = open_set_curve(merged, [0.8])["far"][0]
    strangers = np.concatenate([t["nearest_distance"][~t["is_known"]] for t in trials])
    assert pooled_far == pytest.approx(np.mean(strangers <= 0.8))


def test_open_set_needs_an_enrolled_person_and_a_stranger():
    x, labels = _clustered()
    with pytest.raises(FaceNetEduError, match="enrolled person"):
        open_set_scores(x, labels, [0, 1, 2, 3])
    with pytest.raises(FaceNetEduError, match="enrolled person"):
        open_set_scores(x, labels, [])
    scores = open_set_scores(x, labels, [0])
    only_known = {k: v[scores["is_known"]] for k, v in scores.items()}
    with pytest.raises(FaceNetEduError, match="strangers"):
        open_set_curve(only_known)


# ---------------------------------------------------------------- baselines


def test_raw_pixels_are_flattened_and_unit_length():
    images = torch.rand(4, 1, 6, 5)
    features = raw_pixel_features(images)
    assert features.shape == (4, 30)
    for k in range(4):
        v = images[k].flatten()
        assert torch.allclose(features[k], v / v.norm(), atol=1e-6)


def test_eigenfaces_match_sklearn_pca_with_whitening():
    rng = np.random.default_rng(0)
    for n, h in [(30, 8), (100, 2)]:  # fewer images than pixels (Gram trick), and more
        train, test = rng.random((n, 1, h, 8)), rng.random((7, 1, h, 8))
        eig = Eigenfaces(num_components=10).fit(torch.from_numpy(train))
        ours = eig.transform(test).numpy()
        pca = PCA(n_components=10, whiten=True, svd_solver="full").fit(train.reshape(n, -1))
        theirs = pca.transform(test.reshape(7, -1))
        theirs /= np.linalg.norm(theirs, axis=1, keepdims=True)
        signs = np.sign((ours * theirs).sum(0))  # each component is defined up to its sign
        np.testing.assert_allclose(ours, theirs * signs, atol=1e-5)
        np.testing.assert_allclose(eig.explained_variance_, pca.explained_variance_, rtol=1e-8)
        assert eig.eigenfaces().shape == (10, 1, h, 8) and eig.mean_face().shape == (1, h, 8)


def test_eigenfaces_are_fitted_on_training_images_only():
    train, test = torch.rand(20, 1, 8, 8), torch.rand(10, 1, 8, 8) + 5
    eig = Eigenfaces(num_components=50).fit(train)
    assert eig.components_.shape == (19, 64)  # at most N - 1 components
    np.testing.assert_allclose(eig.mean_, train.reshape(20, -1).double().mean(0).numpy())
    before = eig.components_.copy()
    eig.transform(test)
    np.testing.assert_array_equal(eig.components_, before)
    with pytest.raises(FaceNetEduError, match="fit"):
        Eigenfaces().transform(test)
    with pytest.raises(FaceNetEduError, match="resize"):
        eig.transform(torch.rand(2, 1, 4, 4))


# ---------------------------------------------------------------- everything at once


def test_evaluate_embeddings_is_perfect_on_separated_people_and_json_ready():
    x, labels = _clustered(num_people=6, per_person=5)
    results = evaluate_embeddings(x, labels)
    assert REQUIRED_KEYS <= set(results)
    assert all(type(v) is float for v in results.values())
    json.dumps(results)
    for key in REQUIRED_KEYS | {"dir_at_far_1e-2"}:
        assert results[key] == 1.0, key


def test_evaluate_embeddings_agrees_with_the_parts():
    x, labels = _random_embeddings(40, 6, 8, seed=4)
    results = evaluate_embeddings(torch.from_numpy(x), torch.from_numpy(labels), seed=2)
    i, j, same = make_pairs(labels, seed=2)
    assert results["verification_accuracy"] == pytest.approx(verification_accuracy_lfw(pair_distances(x, i, j), same, seed=2)["mean"], abs=1e-6)
    ai, aj, a_same = all_pairs(labels)
    a_d = np.array([np.linalg.norm(x[a] - x[b]) for a, b in zip(ai, aj)])
    assert results["roc_auc"] == pytest.approx(roc_auc_score(a_same, -a_d), abs=1e-6)
    assert results["tar_at_far_1e-2"] == pytest.approx(_slow_tar_at_far(a_d, a_same, 1e-2), abs=1e-6)
    assert results["rank1"] == pytest.approx(_slow_rank1(x, labels))


def test_evaluate_model_scores_the_network_and_the_baselines():
    generator = torch.Generator().manual_seed(0)
    faces = torch.rand(8, 1, 1, 40, 40, generator=generator)  # one pattern per person, plus noise per image
    images = (0.8 * faces.expand(8, 4, 1, 40, 40) + 0.2 * torch.rand(8, 4, 1, 40, 40, generator=generator)).reshape(32, 1, 40, 40)
    data = FaceDataset(images, torch.arange(8).repeat_interleave(4), [f"p{k}" for k in range(8)])
    train, test = data.subset(torch.arange(16)), data.subset(torch.arange(16, 32))
    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig(width=8, embedding_dim=16, image_size=32))  # test images get resized to 32
    results = evaluate_model(model, test, baselines=True, train_dataset=train)
    assert set(results) == {"model", "raw_pixels", "eigenfaces"}
    assert all(REQUIRED_KEYS <= set(m) for m in results.values())
    assert results["raw_pixels"]["rank1"] == 1.0  # each person's pattern dominates their images
    assert set(evaluate_model(model, test, baselines=False)) == {"model"}
    assert set(evaluate_model(model, test, baselines=True)) == {"model", "raw_pixels"}  # eigenfaces need training people


def test_bad_input_raises_a_clear_error():
    x, labels = _clustered()
    with pytest.raises(FaceNetEduError, match="empty"):
        evaluate_embeddings(np.empty((0, 8)), np.empty(0))
    with pytest.raises(FaceNetEduError, match="single identity"):
        evaluate_embeddings(x[:5], labels[:5])
    with pytest.raises(FaceNetEduError, match="single image"):
        evaluate_embeddings(x[::5], labels[::5])
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(FaceNetEduError, match="NaN"):
        evaluate_embeddings(bad, labels)
    with pytest.raises(FaceNetEduError, match="one label per embedding"):
        rank1_accuracy(x, labels[:-1])
    with pytest.raises(FaceNetEduError, match="NaN"):
        tar_at_far([0.1, np.nan], [True, False], 0.01)
    with pytest.raises(FaceNetEduError, match="both"):
        roc_auc([0.1, 0.2], [True, True])
    with pytest.raises(FaceNetEduError, match="two people"):
        open_set_dir_at_far(x[:5], labels[:5])


# ---------------------------------------------------------------- glue shared by the CLI, the demo and the notebooks


def test_validation_threshold_is_choose_threshold_on_the_validation_pairs():
    from facenet_edu.data import synthetic_dataset
    from facenet_edu.matching import choose_threshold
    from facenet_edu.model import embed

    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig(embedding_dim=8, width=4, image_size=32))
    val = synthetic_dataset(num_identities=5, images_per_identity=4, image_size=32, seed=1)
    i, j, is_same = make_pairs(val.labels, seed=3)
    emb = embed(model, val.images)
    d = (emb[i] - emb[j]).norm(dim=1).numpy()
    assert validation_threshold(model, val, seed=3) == pytest.approx(choose_threshold(d, is_same), abs=1e-6)
    strict = validation_threshold(model, val, seed=3, target_far=0.0)
    assert not (d[~is_same] <= strict - 1e-6).any()                  # FAR 0: no different-person pair accepted


def test_metrics_table_has_a_row_per_method_and_a_column_per_metric():
    results = {"model": {"a": 0.5, "b": 0.25}, "raw_pixels": {"a": 1.0, "b": 0.125}}
    table = format_metrics_table(results, metrics=("a", "b")).splitlines()
    assert table[0].split() == ["method", "a", "b"]
    assert table[1].split() == ["model", "0.500", "0.250"]
    assert table[2].split() == ["raw_pixels", "1.000", "0.125"]


def test_runs_are_summarised_by_mean_and_population_std_computed_by_hand():
    runs = [{"a": 0.5, "b": 0.1}, {"a": 0.7, "b": 0.1}, {"a": 0.9, "b": 0.4}]
    summary = summarise_runs(runs)
    mean_a = (0.5 + 0.7 + 0.9) / 3
    std_a = (((0.5 - mean_a) ** 2 + (0.7 - mean_a) ** 2 + (0.9 - mean_a) ** 2) / 3) ** 0.5
    assert summary["a"] == pytest.approx((mean_a, std_a))
    assert summary["b"] == pytest.approx((0.2, (2 * 0.1 ** 2 + 0.2 ** 2) ** 0.5 / 3 ** 0.5))
    assert summarise_runs([{"a": 0.3}])["a"] == (0.3, 0.0)
    with pytest.raises(FaceNetEduError):
        summarise_runs([])


def test_metrics_table_prints_mean_and_spread_for_a_row_of_several_runs():
    results = {"semi-hard": [{"a": 0.5}, {"a": 0.7}, {"a": 0.9}], "eigenfaces": {"a": 0.25}}
    table = format_metrics_table(results, metrics=("a",)).splitlines()
    assert table[0].split() == ["method", "a"]
    assert table[1].split() == ["semi-hard", "(3", "runs)", "0.700", "±", "0.163"]
    assert table[2].split() == ["eigenfaces", "0.250"]
    assert len({len(line) for line in table}) == 1                  # the columns line up
