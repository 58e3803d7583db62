"""Exercises: every reference passes, every known mistake is named, and the references match slow, obvious versions."""

import itertools
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import facenet_edu as fe
from facenet_edu.checking import CheckResult
from facenet_edu.errors import FaceNetEduError
from facenet_edu.exercises import EXERCISES, check
from facenet_edu.mining import semihard_negatives
from facenet_edu.distances import pairwise_distances

ROOT = Path(__file__).resolve().parent.parent
MISTAKES = [(name, mistake) for name, exercise in EXERCISES.items() for mistake in exercise.mistakes]


# ---------------------------------------------------------------- slow, obvious versions of each exercise


def slow_l2_normalise(embeddings):
    return torch.stack([row / math.sqrt(sum(float(v) ** 2 for v in row)) for row in embeddings])


def slow_triplet_loss(anchor, positive, negative, margin):
    losses = []
    for a, p, n in zip(anchor.tolist(), positive.tolist(), negative.tolist()):
        ap, an = math.dist(a, p), math.dist(a, n)
        losses.append(max(0.0, ap - an + margin))
    return sum(losses) / len(losses)


def slow_semi_hard_negative(embeddings, labels, anchor, positive, margin):
    rows = embeddings.tolist()
    ap = math.dist(rows[anchor], rows[positive])
    best = None
    for n in range(len(rows)):
        an = math.dist(rows[anchor], rows[n])
        if labels[n] != labels[anchor] and ap < an < ap + margin and (best is None or an < best[0]):
            best = (an, n)
    return None if best is None else best[1]


def slow_batch_all_mask(labels):
    y, size = labels.tolist(), len(labels)
    mask = torch.zeros(size, size, size, dtype=torch.bool)
    for a, p, n in itertools.product(range(size), repeat=3):
        mask[a, p, n] = a != p and y[a] == y[p] and y[n] != y[a]
    return mask


def slow_choose_threshold(val_dists, val_is_same, test_dists, test_is_same, margin):
    """The distance, among all validation distances (and below them all), whose "<=" rule is right most often."""
    candidates = [-1.0] + sorted(set(val_dists.tolist()))
    return max(candidates, key=lambda t: sum((d <= t) == s for d, s in zip(val_dists, val_is_same)))


def slow_identify(query_embeddings, gallery_embeddings, gallery_labels, threshold):
    answers = []
    for q in query_embeddings:
        dists = [float(np.linalg.norm(q.astype(np.float64) - g)) for g in gallery_embeddings]
        nearest = int(np.argmin(dists))
        answers.append(int(gallery_labels[nearest]) if dists[nearest] <= threshold else -1)
    return np.array(answers)


def slow_center_loss_update(embeddings, labels, centers, alpha):
    new = centers.clone()
    for j in range(len(centers)):
        mine = [x for x, y in zip(embeddings, labels.tolist()) if y == j]
        if mine:
            delta = sum(centers[j] - x for x in mine) / (1 + len(mine))
            new[j] = centers[j] - alpha * delta
    return new


SLOW = {"l2_normalise": slow_l2_normalise, "triplet_loss": slow_triplet_loss,
        "semi_hard_negative": slow_semi_hard_negative, "batch_all_mask": slow_batch_all_mask,
        "choose_threshold": slow_choose_threshold, "identify": slow_identify,
        "center_loss_update": slow_center_loss_update}


# ---------------------------------------------------------------- the exercises themselves


def test_there_are_the_seven_exercises_each_with_a_prompt_a_notebook_and_hints_for_its_mistakes():
    assert set(EXERCISES) == set(SLOW)
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    for name, exercise in EXERCISES.items():
        assert exercise.name == name and exercise.prompt.startswith(f"Write {name}(")
        assert exercise.notebook in notebooks
        assert len(exercise.mistakes) >= 2 and set(exercise.hints) == set(exercise.mistakes)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_reference_passes(name):
    result = check(name, EXERCISES[name].reference)
    assert result.passed and result.mistake is None, result.message
    assert repr(result).startswith("PASSED: Correct on all")


@pytest.mark.parametrize("name", list(EXERCISES))
def test_a_slow_obvious_solution_passes_so_the_reference_agrees_with_it(name):
    """The slow versions compute distances their own way (math.dist, loops), so this also shows the tolerance is fair."""
    result = check(name, SLOW[name])
    assert result.passed, result.message


@pytest.mark.parametrize("name, mistake", MISTAKES)
def test_each_known_mistake_fails_with_its_own_hint(name, mistake):
    exercise = EXERCISES[name]
    result = check(name, exercise.mistakes[mistake])
    assert not result.passed
    assert result.mistake == mistake, result.message
    assert result.message.startswith(exercise.hints[mistake])
    assert result.failed_case in [case.description for case in exercise.cases()]


def test_the_references_are_the_package_functions_where_it_has_them():
    for case in EXERCISES["semi_hard_negative"].cases():
        embeddings, labels, anchor, positive, margin = case.args
        anchor_idx, positive_idx, negative_idx = semihard_negatives(pairwise_distances(embeddings), labels, margin, "skip")
        row = ((anchor_idx == anchor) & (positive_idx == positive)).nonzero().flatten()
        expected = int(negative_idx[row[0]]) if len(row) else None
        assert EXERCISES["semi_hard_negative"].reference(*case.args) == expected
    for case in EXERCISES["batch_all_mask"].cases():
        assert torch.equal(EXERCISES["batch_all_mask"].reference(*case.args), fe.mining.valid_triplet_mask(*case.args))
    for case in EXERCISES["triplet_loss"].cases():
        assert float(EXERCISES["triplet_loss"].reference(*case.args)) == float(fe.losses.triplet_loss(*case.args))
    for case in EXERCISES["choose_threshold"].cases():
        assert EXERCISES["choose_threshold"].reference(*case.args) == fe.matching.choose_threshold(*case.args[:2])


def test_the_hand_made_edge_cases_have_the_answers_worked_out_by_hand():
    cases = {c.description: c.args for c in EXERCISES["triplet_loss"].cases()}
    reference = EXERCISES["triplet_loss"].reference
    assert float(reference(*cases["one easy triplet (negative opposite the anchor)"])) == 0.0
    assert float(reference(*cases["a triplet exactly at the margin: d(a,p) = 0.3, d(a,n) = 0.5, margin 0.2"])) < 1e-6
    assert float(reference(*cases["collapse: all 12 embeddings at one point, margin 0.2"])) == pytest.approx(0.2)
    semi = EXERCISES["semi_hard_negative"]
    answers = [semi.reference(*c.args) for c in semi.cases()]
    assert answers[:6] == [3, None, 5, 3, 3, None]  # the tie goes to the lower index; collapse: all hard


# ---------------------------------------------------------------- what a student meets


def test_a_correct_solution_written_another_way_passes():
    def semi_hard(embeddings, labels, anchor, positive, margin):
        d = torch.cdist(embeddings, embeddings)[anchor]
        ok = (labels != labels[anchor]) & (d > d[positive]) & (d < d[positive] + margin)
        return int(torch.where(ok, d, torch.inf).argmin()) if ok.any() else None

    def threshold_at_a_distance(val_dists, val_is_same, test_dists, test_is_same, margin):
        return slow_choose_threshold(val_dists, val_is_same, None, None, None) + 0.0  # a distance, not a midpoint

    def identify(queries, gallery, labels, threshold):
        d = torch.cdist(torch.as_tensor(queries).double(), torch.as_tensor(gallery).double())
        best, nearest = d.min(dim=1)
        return torch.where(best <= threshold, torch.as_tensor(labels)[nearest], -1)

    def normalise_in_place(embeddings):
        embeddings /= embeddings.norm(dim=1, keepdim=True)
        return embeddings

    def center_update_in_place(embeddings, labels, centers, alpha):
        for j in labels.unique():
            mine = embeddings[labels == j]
            centers[j] -= alpha * (centers[j] - mine).sum(0) / (1 + len(mine))
        return centers

    for name, fn in [("semi_hard_negative", semi_hard), ("choose_threshold", threshold_at_a_distance),
                     ("identify", identify), ("l2_normalise", normalise_in_place),
                     ("center_loss_update", center_update_in_place)]:
        result = check(name, fn)
        assert result.passed, (name, result.message)


def test_an_unknown_mistake_gets_the_failing_case_with_expected_and_got():
    result = check("triplet_loss", lambda anchor, positive, negative, margin: torch.tensor(margin))
    assert not result.passed and result.mistake is None
    assert "cases are wrong; the first, '6 random triplets in 4-D, margin 0.2': expected 0.394" in result.message
    assert "got 0.2" in result.message
    mask = check("batch_all_mask", lambda labels: torch.zeros(len(labels), len(labels), len(labels), dtype=torch.bool))
    assert "entries differ, the first at [0, 1, 2]: expected True, got False" in mask.message


@pytest.mark.parametrize("fn, words", [
    (lambda a, p, n, margin: 1 / 0, "Your function raised ZeroDivisionError on the case '6 random triplets"),
    (lambda a, p, n, margin: (a - p).norm(dim=1), "Return one number, got an array of shape (6,): did you forget"),
    (lambda a, p, n, margin: torch.tensor(float("nan")), "Your function returned nan"),
    (lambda a, p, n, margin: None, "did you forget the `return` line?"),
    (lambda a, p, n, margin: "0.3", "Return one number, got str"),
])
def test_a_raising_wrong_shape_nan_or_none_function_fails_with_a_sentence(fn, words):
    result = check("triplet_loss", fn)
    assert not result.passed and words in result.message and "\n" not in result.message


def test_wrong_types_and_shapes_of_arrays_fail_with_a_sentence():
    assert "shape (5,), got shape (2,)" in check("identify", lambda q, g, labels, t: [1, 2]).message
    as_int = check("batch_all_mask", lambda labels: fe.mining.valid_triplet_mask(labels).int())
    assert "Return a bool mask" in as_int.message
    assert "Return integer labels" in check("identify", lambda q, g, labels, t: np.zeros(len(q))).message
    assert "one index (an int) or None, got float" in check("semi_hard_negative", lambda *args: 2.0).message
    nan_centers = check("center_loss_update", lambda e, labels, centers, alpha: centers / 0.0 * 0.0)
    assert "NaN or infinity" in nan_centers.message
    ragged = check("identify", lambda q, g, labels, t: [[1], [2, 3]])
    assert "is not a number, tensor or array" in ragged.message


def test_misuse_of_check_raises_one_clear_error():
    with pytest.raises(FaceNetEduError, match="There is no exercise 'triplet'; choose one of"):
        check("triplet", slow_triplet_loss)
    with pytest.raises(FaceNetEduError, match="needs your function itself"):
        check("triplet_loss", 0.3)


def test_check_is_fast_changes_no_global_randomness_and_is_exported():
    assert fe.check is check and fe.exercises.check is check
    state = torch.random.get_rng_state()
    for name, exercise in EXERCISES.items():
        for fn in [exercise.reference, *exercise.mistakes.values()]:
            start = time.perf_counter()
            result = check(name, fn)
            assert time.perf_counter() - start < 1.0, name
            assert isinstance(result, CheckResult)
    assert torch.equal(torch.random.get_rng_state(), state)
