"""Exercises a student can check: write the function, call ``check(name, fn)``, read what is wrong.

``EXERCISES`` maps a name to an ``Exercise`` (``facenet_edu.checking``): its ``prompt``
(the task, with shapes), a ``reference`` (the package's tested function wherever it
has one, so the exercises teach exactly what the package does), and the ``mistakes``
students really write, each recognised by its answers and explained by its hint.
The cases are small and built from fixed seeds on each call, plus hand-made edges
(collapse, ties, a triplet exactly at the margin); ``check`` takes milliseconds.

    import facenet_edu as fe
    print(fe.exercises.EXERCISES["triplet_loss"].prompt)
    fe.exercises.check("triplet_loss", my_triplet_loss)   # PASSED: ... or NOT YET: what is wrong
"""

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .checking import (Case, CheckResult, Exercise, array_output, close, equal, index_or_none, number, run_check)
from .distances import pairwise_distances
from .errors import FaceNetEduError
from .gallery import Gallery
from .center_loss import CenterLoss
from .losses import triplet_loss
from .matching import UNKNOWN, choose_threshold as package_choose_threshold
from .mining import select_negatives, valid_triplet_mask

UNIT_WHY = ("\nThe embeddings are L2-normalised (unit rows), so distances lie in [0, 2] and a margin or a threshold\n"
            "means the same for every model; without that, a network could meet any margin by making embeddings longer.")


def _unit(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Random L2-normalised rows, float32."""
    return F.normalize(torch.randn(*shape, generator=generator), dim=-1)


def _circle(degrees) -> torch.Tensor:
    """(N, 2) float32 unit vectors at the given angles, for hand-made cases whose distances are easy to read."""
    radians = torch.tensor(degrees, dtype=torch.float64) * torch.pi / 180
    return torch.stack([radians.cos(), radians.sin()], dim=1).float()


def _chord(distance: float) -> float:
    """The angle (degrees) between two unit vectors at this Euclidean distance."""
    return float(np.degrees(2 * np.arcsin(distance / 2)))


# ---------------------------------------------------------------- 1. triplet loss (notebook 02)


def _ap_an(anchor, positive, negative, squared=False):
    ap, an = ((anchor - positive) ** 2).sum(1), ((anchor - negative) ** 2).sum(1)  # (T,) squared
    return (ap, an) if squared else (ap.sqrt(), an.sqrt())


def _triplet_cases() -> list[Case]:
    g = torch.Generator().manual_seed(0)
    easy = _circle([0, 10, 180])
    at_margin = _circle([0, _chord(0.3), -_chord(0.5)])               # d(a, p) = 0.3, d(a, n) = 0.5
    mixed = _circle([0, 20, 30, 0, 60, 200, 0, 5, 100])               # one hard, one easy, one semi-hard
    same = torch.tensor([[0.6, 0.8]]).repeat(4, 1)
    return [
        Case("6 random triplets in 4-D, margin 0.2", (_unit(g, 6, 4), _unit(g, 6, 4), _unit(g, 6, 4), 0.2)),
        Case("5 random triplets in 8-D, margin 0.5", (_unit(g, 5, 8), _unit(g, 5, 8), _unit(g, 5, 8), 0.5)),
        Case("one easy triplet (negative opposite the anchor)", (easy[:1], easy[1:2], easy[2:], 0.2)),
        Case("a triplet exactly at the margin: d(a,p) = 0.3, d(a,n) = 0.5, margin 0.2",
             (at_margin[:1], at_margin[1:2], at_margin[2:], 0.2)),
        Case("a hard, an easy and a semi-hard triplet, margin 0.3", (mixed[0::3], mixed[1::3], mixed[2::3], 0.3)),
        Case("collapse: all 12 embeddings at one point, margin 0.2", (same, same.clone(), same.clone(), 0.2)),
    ]


TRIPLET_LOSS = Exercise(
    name="triplet_loss",
    prompt="""Write triplet_loss(anchor, positive, negative, margin): FaceNet's loss on T triplets.

- anchor, positive, negative: (T, D) float tensors; row i of the three is triplet i.
- margin: a float, such as 0.2.
Return one number (a 0-d tensor, so you can call .backward() on it): the MEAN over the T triplets of
    max(0, ||a - p|| - ||a - n|| + margin)
with plain Euclidean distances ||x|| = sqrt(sum of squares), not squared ones. A triplet whose negative is
already `margin` farther than the positive costs 0.""" + UNIT_WHY,
    reference=lambda anchor, positive, negative, margin: triplet_loss(anchor, positive, negative, margin),
    mistakes={
        "squared distances": lambda a, p, n, margin: triplet_loss(a, p, n, margin, squared=True),
        "no hinge": lambda a, p, n, margin: (lambda ap, an: (ap - an + margin).mean())(*_ap_an(a, p, n)),
        "sum": lambda a, p, n, margin: (lambda ap, an: F.relu(ap - an + margin).sum())(*_ap_an(a, p, n)),
        "margin sign": lambda a, p, n, margin: (lambda ap, an: F.relu(ap - an - margin).mean())(*_ap_an(a, p, n)),
    },
    hints={
        "squared distances": "Your loss uses squared distances ||a - p||^2: take the square root; this exercise "
                             "(and facenet_edu's default) uses plain Euclidean distances.",
        "no hinge": "Your loss is not zero for an easy triplet: did you forget the max(0, ...)? (F.relu or "
                    ".clamp(min=0)) An easy triplet must not push anything.",
        "sum": "Your loss grows with the number of triplets: take the mean over the triplets, not the sum.",
        "margin sign": "Your margin has the wrong sign: the loss is d(a, p) - d(a, n) + margin, positive until the "
                       "negative is `margin` farther than the positive.",
    },
    notebook="02_triplet_loss", cases=_triplet_cases, output=number, agree=close)


# ---------------------------------------------------------------- 2. the semi-hard negative (notebook 03)


def _negatives_by_distance(embeddings, labels, anchor, positive):
    """(negative indices, their distances to the anchor, d(a, p)) with the plain formula."""
    dists = (embeddings - embeddings[anchor]).norm(dim=1)               # (B,)
    negative_idx = torch.nonzero(labels != labels[anchor]).flatten()
    return negative_idx, dists[negative_idx], dists[positive]


def _first(negative_idx, keep, key):
    """The negative with the smallest ``key`` among ``keep`` (the lower index on ties), or None."""
    if not keep.any():
        return None
    return int(negative_idx[keep][torch.argmin(key[keep])])  # argmin returns the first of equal values


def _semi_hard_mistake(rule: str) -> Callable:
    def wrong(embeddings, labels, anchor, positive, margin):
        negative_idx, an, ap = _negatives_by_distance(embeddings, labels, anchor, positive)
        if rule == "hardest":
            return _first(negative_idx, an == an, an)
        if rule == "wrong side":                           # the window just before the positive, the nearest to it
            return _first(negative_idx, (an > ap - margin) & (an < ap), -an)
        if rule == "ignores margin":
            return _first(negative_idx, an > ap, an)
        return _first(negative_idx, (an >= ap) & (an < ap + margin), an)  # "ties are semi-hard"

    return wrong


def _semi_hard_reference(embeddings, labels, anchor, positive, margin):
    return select_negatives(pairwise_distances(embeddings), labels, anchor, positive, margin)["semi-hard"]


def _semi_hard_cases() -> list[Case]:
    # 0: anchor (0 deg), 1 and 6: its person; 2: hard (-20), 3 and 4: semi-hard for margin 0.5, 5: opposite, easy
    layout = _circle([0, 40, -20, 55, 70, 180, 100])
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0])
    tie = torch.cat([layout, _circle([55])])                  # 7: a copy of 3, another person
    at_positive = torch.cat([layout[:2], _circle([40]), layout[3:]])  # 2: a negative exactly where the positive is
    g = torch.Generator().manual_seed(3)
    random_labels = torch.arange(4).repeat_interleave(3)
    return [
        Case("anchor 0, positive 1, margin 0.5: two semi-hard negatives", (layout, labels, 0, 1, 0.5)),
        Case("margin 0.1: no negative inside the margin", (layout, labels, 0, 1, 0.1)),
        Case("anchor 0, positive 6 (far), margin 0.5", (layout, labels, 0, 6, 0.5)),
        Case("a tie: negatives 3 and 7 at the same point", (tie, torch.tensor([0, 0, 1, 2, 2, 1, 0, 1]), 0, 1, 0.5)),
        Case("a negative exactly as far as the positive", (at_positive, labels, 0, 1, 0.5)),
        Case("collapse: all 5 embeddings at one point", (_circle([30] * 5), torch.tensor([0, 0, 1, 1, 2]), 0, 1, 0.2)),
        Case("12 random embeddings in 3-D, 4 people, margin 0.4", (_unit(g, 12, 3), random_labels, 0, 2, 0.4)),
    ]


SEMI_HARD_NEGATIVE = Exercise(
    name="semi_hard_negative",
    prompt="""Write semi_hard_negative(embeddings, labels, anchor, positive, margin): the negative FaceNet trains one pair with.

- embeddings: (B, D) float tensor; labels: (B,) long tensor.
- anchor, positive: ints, two different images of the same person; margin: a float.
A negative n is an image of someone else. It is semi-hard when  d(a, p) < d(a, n) < d(a, p) + margin:
farther than the positive, but inside the margin (Euclidean distances). Return the index into embeddings
(an int) of the CLOSEST semi-hard negative; on a tie, the lower index. Return None when the pair has no
semi-hard negative (the package's rule: mining.select_negatives, semihard_negatives(fallback="skip")).
A negative exactly as far as the positive is hard, not semi-hard.""" + UNIT_WHY,
    reference=_semi_hard_reference,
    mistakes={rule: _semi_hard_mistake(rule) for rule in ("hardest", "wrong side", "ignores margin", "ties are semi-hard")},
    hints={
        "hardest": "You returned the closest negative overall (the hardest): a semi-hard negative is FARTHER than "
                   "the positive, d(a, n) > d(a, p).",
        "wrong side": "Your negative is closer than the positive: semi-hard means d(a, p) < d(a, n) < d(a, p) + margin, "
                      "just beyond the positive, not just before it.",
        "ignores margin": "You returned a negative beyond the margin: when no negative has d(a, n) < d(a, p) + margin "
                          "there is no semi-hard negative; return None.",
        "ties are semi-hard": "A negative exactly as far as the positive is hard, not semi-hard: use d(a, n) > d(a, p), "
                              "not >=.",
    },
    notebook="03_choosing_triplets", cases=_semi_hard_cases, output=index_or_none, agree=equal)


# ---------------------------------------------------------------- 3. the batch-all mask (notebook 03)


def _mask_mistake(rule: str) -> Callable:
    def wrong(labels):
        same = labels[:, None] == labels[None, :]                  # (B, B)
        other = ~torch.eye(len(labels), dtype=torch.bool)          # (B, B): a different image
        if rule == "anchor is positive":
            return same[:, :, None] & ~same[:, None, :]
        return (same & other)[:, :, None] & other[:, None, :] & other[None, :, :]  # n only another image than a and p

    return wrong


MASK_CASES = [("2 people x 2 images", [0, 0, 1, 1]), ("3 people, one image each: no valid triplet", [0, 1, 2]),
              ("one person only: no valid triplet", [4, 4, 4]), ("labels that are not 0..P-1", [5, 3, 5, 3, 9]),
              ("a batch of one", [0]), ("7 images of 3 people, shuffled", [2, 0, 1, 0, 2, 2, 1])]

BATCH_ALL_MASK = Exercise(
    name="batch_all_mask",
    prompt="""Write batch_all_mask(labels): which (anchor, positive, negative) index triplets of a batch are valid.

- labels: (B,) long tensor of identity labels.
Return a (B, B, B) bool tensor, True at [a, p, n] when a and p are two DIFFERENT images of the same person and
n is an image of someone else. Batch-all (Hermans et al. 2017) averages the loss over the active ones.
Hint: a (B, B) same-person matrix by broadcasting, then combine [:, :, None] with [:, None, :].""",
    reference=valid_triplet_mask,
    mistakes={rule: _mask_mistake(rule) for rule in ("anchor is positive", "same-person negatives")},
    hints={
        "anchor is positive": "Your mask uses an image as its own positive (a == p): the positive must be ANOTHER image "
                              "of the same person; remove the diagonal (~torch.eye(B, dtype=torch.bool)).",
        "same-person negatives": "Your mask allows negatives of the anchor's own person: n must have a different "
                                 "label, not just be a different image.",
    },
    notebook="03_choosing_triplets",
    cases=lambda: [Case(text, (torch.tensor(labels),)) for text, labels in MASK_CASES],
    output=array_output("b", "a (B, B, B) mask"), agree=equal)


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
    mistakes={rule: _identify_mistake(rule) for rule in ("never unknown", "strict", "mean distance")},
    hints={
        "never unknown": "Your function never answers -1: a stranger's nearest gallery face is still someone; answer "
                         "-1 when that distance is above the threshold.",
        "strict": "A query exactly at the threshold counts as known: the package's rule is distance <= threshold, "
                  "not <.",
        "mean distance": "You compared the threshold with a person's MEAN distance: use the distance to their NEAREST "
                         "gallery embedding (one good photo is enough).",
    },
    notebook="06_new_faces", cases=_identify_cases, output=array_output("i", "one label per query"), agree=equal)


# ---------------------------------------------------------------- 6. the center-loss update (notebook 07)


def _center_reference(embeddings, labels, centers, alpha):
    """The package's ``CenterLoss`` moving its centers once (training mode); its own generator leaves global randomness alone."""
    center_loss = CenterLoss(centers.shape[0], centers.shape[1], alpha=alpha, generator=torch.Generator().manual_seed(0))
    center_loss.centers.copy_(centers)
    center_loss.train()(embeddings, labels)
    return center_loss.centers


def _center_mistake(rule: str) -> Callable:
    def wrong(embeddings, labels, centers, alpha):
        counts = torch.bincount(labels, minlength=len(centers)).float()        # (C,) n_j
        if rule == "every center":                                            # each c_j pulled by the whole batch
            delta = (centers[:, None, :] - embeddings[None, :, :]).sum(1) / (1 + len(labels))
            return centers - alpha * delta
        diff = torch.zeros_like(centers).index_add_(0, labels, centers[labels] - embeddings)  # (C, D)
        if rule == "no 1 +":
            return centers - alpha * diff / counts.clamp(min=1)[:, None]
        return centers + alpha * diff / (1 + counts)[:, None]                 # "away"

    return wrong


def _center_cases() -> list[Case]:
    g = torch.Generator().manual_seed(7)
    centers = 0.5 * _unit(g, 4, 3)
    embeddings = _unit(g, 6, 3)
    one_each = _unit(g, 4, 3)
    return [
        Case("6 images of people 0 and 2 (1 and 3 absent), alpha 0.5",
             (embeddings, torch.tensor([0, 0, 2, 2, 2, 0]), centers, 0.5)),
        Case("centers all at zero (the start), people 1 and 3, alpha 0.5",
             (embeddings[:4], torch.tensor([1, 1, 1, 3]), torch.zeros(4, 3), 0.5)),
        Case("one image of each person, alpha 1", (one_each, torch.arange(4), centers, 1.0)),
        Case("collapse: every image already at its center, alpha 0.5",
             (centers[[1, 1, 3]], torch.tensor([1, 1, 3]), centers, 0.5)),
        Case("alpha 0: nothing moves", (embeddings, torch.tensor([0, 1, 2, 3, 0, 1]), centers, 0.0)),
    ]


CENTER_LOSS_UPDATE = Exercise(
    name="center_loss_update",
    prompt="""Write center_loss_update(embeddings, labels, centers, alpha): the centers after one update (Wen et al. 2016, Eq. 4).

- embeddings: (B, D) float tensor; labels: (B,) long tensor, values in 0..C-1.
- centers: (C, D) float tensor, one center per person; alpha: a float in [0, 1], the centers' learning rate.
For each person j with n_j images in the batch:  delta_c_j = sum over i with labels[i] == j of (c_j - x_i), divided
by (1 + n_j);  the new center is  c_j - alpha * delta_c_j.  People not in the batch keep their center. Return the
new (C, D) centers. With L2-normalised embeddings the centers stay inside the unit ball, on the scale of the
distances that the verification threshold is read on.""",
    reference=_center_reference,
    mistakes={rule: _center_mistake(rule) for rule in ("no 1 +", "every center", "away")},
    hints={
        "no 1 +": "Your update divides by n_j: the paper divides by 1 + n_j, so a person seen once moves only halfway "
                  "to the image even with alpha = 1, and nothing divides by zero.",
        "every center": "Centers moved that should not have: only c_j of people j in the batch change, each pulled by "
                        "its own images (labels[i] == j).",
        "away": "Your centers move away from their images: c_j - alpha * delta_c_j, with delta_c_j = sum(c_j - x_i) / "
                "(1 + n_j), pulls c_j toward the x_i; check the sign.",
    },
    notebook="07_center_loss", cases=_center_cases, output=array_output("f", "the (C, D) centers"), agree=close)


# ---------------------------------------------------------------- 7. L2 normalisation (notebook 01)


def _normalise_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1)
    return [
        Case("5 random embeddings in 3-D", (3 * torch.randn(5, 3, generator=g),)),
        Case("a square batch: 4 embeddings in 4-D", (torch.randn(4, 4, generator=g),)),
        Case("lengths 5, 0.001 and 2", (torch.tensor([[3.0, 4.0], [0.001, 0.0], [-2.0, 0.0]]),)),
        Case("rows already of length 1", (F.normalize(torch.randn(3, 6, generator=g), dim=1),)),
    ]


L2_NORMALISE = Exercise(
    name="l2_normalise",
    prompt="""Write l2_normalise(embeddings): every embedding scaled to length 1, as the network's last step.

- embeddings: (B, D) float tensor, one embedding per ROW; no row is all zeros.
Return a (B, D) tensor whose row i is embeddings[i] / ||embeddings[i]||, with ||x|| = sqrt(sum of squares).
Then every distance lies in [0, 2] and ||x - y||^2 = 2 - 2 x.y. Without this step a network can satisfy any
triplet margin by making all embeddings longer, without learning who is who.""",
    reference=lambda embeddings: F.normalize(embeddings, dim=1),
    mistakes={
        "columns": lambda embeddings: embeddings / embeddings.norm(dim=0, keepdim=True),
        "squared norm": lambda embeddings: embeddings / (embeddings**2).sum(dim=1, keepdim=True),
    },
    hints={
        "columns": "You normalised the columns: each ROW is an embedding; divide by the norm along dim=1, with "
                   "keepdim=True.",
        "squared norm": "You divided by the squared length (the sum of squares): divide by its square root, ||x||.",
    },
    notebook="01_faces_as_points", cases=_normalise_cases, output=array_output("f", "a (B, D) tensor"), agree=close)


# ---------------------------------------------------------------- all of them


EXERCISES: dict[str, Exercise] = {e.name: e for e in (
    L2_NORMALISE, TRIPLET_LOSS, SEMI_HARD_NEGATIVE, BATCH_ALL_MASK, CHOOSE_THRESHOLD, IDENTIFY, CENTER_LOSS_UPDATE)}


def check(name: str, fn: Callable) -> CheckResult:
    """Run the student's ``fn`` on exercise ``name``'s cases: ``passed``, and a ``message`` saying what is wrong.

    Args:
        name: a key of ``EXERCISES`` ("triplet_loss", "semi_hard_negative", ...).
        fn: the student's function, called positionally as the exercise's ``prompt`` says.

    Returns:
        CheckResult (``facenet_edu.checking``); it shows as "PASSED: ..." or "NOT YET: ..." in a notebook.
    """
    if name not in EXERCISES:
        raise FaceNetEduError(f"There is no exercise {name!r}; choose one of {', '.join(map(repr, EXERCISES))}.")
    return run_check(EXERCISES[name], fn)
