"""The matching exercises (notebook 06): choosing the verification threshold, and identification with "unknown"."""

from typing import Callable

import numpy as np

from ..gallery import Gallery
from ..matching import UNKNOWN, choose_threshold as package_choose_threshold
from ..checking import Case, Exercise, array_output, equal, mistakes_by_rule, number
from .unit_vectors import UNIT_WHY

# ---------------------------------------------------------------- 4. the verification threshold (notebook 06)


def _accuracy(dists: np.ndarray, is_same: np.ndarray, threshold: float) -> float:
    return float(((dists <= threshold) == is_same).mean())


def _pairs(rng: np.random.Generator, same: tuple, different: tuple, step: float = 0.0):
    """(P,) distances and is_same of shuffled pairs: ``same`` and ``different`` are (count, mean, std) of each kind."""
    dists = np.concatenate([rng.normal(mean, std, count) for count, mean, std in (same, different)]).clip(0.0, 2.0)
    is_same = np.arange(len(dists)) < same[0]
    if step:
        dists = np.round(dists / step) * step                # many ties
    order = rng.permutation(len(dists))
    return dists[order], is_same[order]


def _threshold_cases() -> list[Case]:
    rng = np.random.default_rng(6)
    cases = []
    for text, val, test, step, margin in [
        ("40 same / 120 different validation pairs, different spreads",
         ((40, 0.8, 0.1), (120, 1.25, 0.25)), ((40, 0.95, 0.15), (40, 1.2, 0.1)), 0.0, 0.2),
        ("distances rounded to 0.05: many ties", ((60, 0.7, 0.15), (60, 1.1, 0.2)), ((60, 0.9, 0.2), (60, 1.2, 0.1)), 0.05, 0.5),
        ("validation pairs separated by a gap", ((30, 0.45, 0.05), (30, 1.3, 0.05)), ((30, 1.0, 0.1), (30, 1.3, 0.05)), 0.0, 0.3),
    ]:
        cases.append(Case(text, (*_pairs(rng, *val, step), *_pairs(rng, *test, step), margin)))
    return cases


def _threshold_agree(case: Case, a: float, b: float) -> bool:
    """The two thresholds call the same validation and test pairs "same person"."""
    dists = np.concatenate([case.args[0], case.args[2]])
    return bool(np.array_equal(dists <= a, dists <= b))


def _threshold_explain(case: Case, expected: float, got: float) -> str:
    val_dists, val_is_same = case.args[:2]
    return (f"your threshold {got:.4g} is right on {_accuracy(val_dists, val_is_same, got):.1%} of the validation pairs, "
            f"the best ({expected:.4g}) on {_accuracy(val_dists, val_is_same, expected):.1%}")


CHOOSE_THRESHOLD = Exercise(
    name="choose_threshold",
    prompt="""Write choose_threshold(val_dists, val_is_same, test_dists, test_is_same, margin): the verification threshold.

- val_dists: (P,) float64 array, distances of validation pairs (people held out from training);
  val_is_same: (P,) bool array, True for same-person pairs.
- test_dists, test_is_same: the same for the test pairs; margin: the margin the network was trained with.
A pair is called "same person" when its distance is <= threshold. Return a float: a threshold with the best
accuracy on the VALIDATION pairs (any threshold that reaches the best accuracy passes). You get the test pairs
because your notebook has them too: the test accuracy is only honest if they played no part in the choice.""" + UNIT_WHY,
    reference=lambda val_dists, val_is_same, test_dists, test_is_same, margin:
        package_choose_threshold(val_dists, val_is_same),
    mistakes={
        "margin": lambda val_dists, val_is_same, test_dists, test_is_same, margin: margin,
        "test pairs": lambda val_dists, val_is_same, test_dists, test_is_same, margin:
            package_choose_threshold(test_dists, test_is_same),
        "class means": lambda val_dists, val_is_same, test_dists, test_is_same, margin:
            (val_dists[val_is_same].mean() + val_dists[~val_is_same].mean()) / 2,
    },
    hints={
        "margin": "You returned the margin: the margin is a training setting about RELATIVE distances; the threshold "
                  "is an absolute distance read off the validation pairs.",
        "test pairs": "Your threshold is the best one on the TEST pairs: choose it on the validation pairs, or the test "
                      "accuracy you report is one no new person will see.",
        "class means": "The midpoint of the mean same-person and mean different-person distances is not the best "
                       "threshold when the two groups differ in size or spread: try every candidate threshold and count "
                       "the correct pairs.",
    },
    notebook="06_new_faces", cases=_threshold_cases, output=number, agree=_threshold_agree,
    accept=lambda case, expected, got: _accuracy(*case.args[:2], got) == _accuracy(*case.args[:2], expected),
    explain=_threshold_explain)


# ---------------------------------------------------------------- 5. identification with "unknown" (notebook 06)


def _identify_reference(query_embeddings, gallery_embeddings, gallery_labels, threshold):
    gallery = Gallery()
    for label in dict.fromkeys(gallery_labels.tolist()):       # people in order of first appearance
        gallery.enroll_embeddings(str(label), gallery_embeddings[gallery_labels == label])
    found = gallery.identify_embeddings(query_embeddings, threshold, top_k=1)
    return np.array([-1 if f.name == UNKNOWN else int(f.name) for f in found])


def _identify_mistake(rule: str) -> Callable:
    def wrong(query_embeddings, gallery_embeddings, gallery_labels, threshold):
        dists = np.linalg.norm(query_embeddings[:, None, :] - gallery_embeddings[None, :, :], axis=2)  # (Q, M)
        if rule == "mean distance":
            people = np.unique(gallery_labels)
            per_person = np.stack([dists[:, gallery_labels == p].mean(1) for p in people], axis=1)  # (Q, P)
            nearest, best = people[per_person.argmin(1)], per_person.min(1)
        else:
            nearest, best = gallery_labels[dists.argmin(1)], dists.min(1)
        if rule == "never unknown":
            return nearest
        return np.where(best < threshold if rule == "strict" else best <= threshold, nearest, -1)

    return wrong


def _identify_cases() -> list[Case]:
    rng = np.random.default_rng(5)

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    gallery = unit(rng.normal(size=(12, 8)))
    labels = np.repeat([3, 7, 12, 20], 3)
    near = unit(gallery[[1, 7, 9]] + 0.08 * rng.normal(size=(3, 8)))   # a little changed: known people
    queries = np.concatenate([near, unit(rng.normal(size=(2, 8)))])     # two strangers
    basis = np.eye(3, dtype=np.float32)
    return [
        Case("4 enrolled people x 3 photos, 3 of them and 2 strangers, threshold 0.8", (queries, gallery, labels, 0.8)),
        Case("the same with threshold 1.5: everyone is near enough", (queries, gallery, labels, 1.5)),
        Case("a query exactly at the threshold (identical to a photo, threshold 0)",
             (basis[[0, 2]], basis[[0, 1]], np.array([5, 9]), 0.0)),
    ]


_IDENTIFY_HINTS = {
    "never unknown": "Your function never answers -1: a stranger's nearest gallery face is still someone; answer "
                     "-1 when that distance is above the threshold.",
    "strict": "A query exactly at the threshold counts as known: the package's rule is distance <= threshold, "
              "not <.",
    "mean distance": "You compared the threshold with a person's MEAN distance: use the distance to their NEAREST "
                     "gallery embedding (one good photo is enough).",
}

IDENTIFY = Exercise(
    name="identify",
    prompt="""Write identify(query_embeddings, gallery_embeddings, gallery_labels, threshold): who each query is, or -1.

- query_embeddings: (Q, D) float32 array; gallery_embeddings: (M, D) float32 array, several per person.
- gallery_labels: (M,) int array of non-negative labels; threshold: a float.
For each query find the NEAREST gallery embedding (Euclidean distance). Return a (Q,) int array: its label when
that distance is <= threshold (the package's rule in Gallery and verify), else -1 for "unknown". No query in
the checks is equally near two people. Embeddings that are not L2-normalised would make a long vector far from
everything: the threshold would reject a face for its length, not for who it is.""",
    reference=_identify_reference,
    mistakes=mistakes_by_rule(_identify_mistake, _IDENTIFY_HINTS), hints=_IDENTIFY_HINTS,
    notebook="06_new_faces", cases=_identify_cases, output=array_output("i", "one label per query"), agree=equal)
