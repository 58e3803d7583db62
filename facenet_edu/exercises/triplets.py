"""The triplet exercises: FaceNet's triplet loss (notebook 02), the semi-hard negative and the batch-all mask (notebook 03)."""

from typing import Callable

import torch
import torch.nn.functional as F

from ..distances import pairwise_distances
from ..losses import triplet_loss
from ..mining import select_negatives, valid_triplet_mask
from ..checking import Case, Exercise, array_output, close, equal, index_or_none, mistakes_by_rule, number
from .unit_vectors import UNIT_WHY, chord, circle, random_unit

# ---------------------------------------------------------------- 1. triplet loss (notebook 02)


def _ap_an(anchor, positive, negative, squared=False):
    ap, an = ((anchor - positive) ** 2).sum(1), ((anchor - negative) ** 2).sum(1)  # (T,) squared
    return (ap, an) if squared else (ap.sqrt(), an.sqrt())


def _triplet_cases() -> list[Case]:
    g = torch.Generator().manual_seed(0)
    easy = circle([0, 10, 180])
    at_margin = circle([0, chord(0.3), -chord(0.5)])               # d(a, p) = 0.3, d(a, n) = 0.5
    mixed = circle([0, 20, 30, 0, 60, 200, 0, 5, 100])               # one hard, one easy, one semi-hard
    same = torch.tensor([[0.6, 0.8]]).repeat(4, 1)
    return [
        Case("6 random triplets in 4-D, margin 0.2",
             (random_unit(g, 6, 4), random_unit(g, 6, 4), random_unit(g, 6, 4), 0.2)),
        Case("5 random triplets in 8-D, margin 0.5",
             (random_unit(g, 5, 8), random_unit(g, 5, 8), random_unit(g, 5, 8), 0.5)),
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
    layout = circle([0, 40, -20, 55, 70, 180, 100])
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 0])
    tie = torch.cat([layout, circle([55])])                  # 7: a copy of 3, another person
    at_positive = torch.cat([layout[:2], circle([40]), layout[3:]])  # 2: a negative exactly where the positive is
    g = torch.Generator().manual_seed(3)
    random_labels = torch.arange(4).repeat_interleave(3)
    return [
        Case("anchor 0, positive 1, margin 0.5: two semi-hard negatives", (layout, labels, 0, 1, 0.5)),
        Case("margin 0.1: no negative inside the margin", (layout, labels, 0, 1, 0.1)),
        Case("anchor 0, positive 6 (far), margin 0.5", (layout, labels, 0, 6, 0.5)),
        Case("a tie: negatives 3 and 7 at the same point", (tie, torch.tensor([0, 0, 1, 2, 2, 1, 0, 1]), 0, 1, 0.5)),
        Case("a negative exactly as far as the positive", (at_positive, labels, 0, 1, 0.5)),
        Case("collapse: all 5 embeddings at one point", (circle([30] * 5), torch.tensor([0, 0, 1, 1, 2]), 0, 1, 0.2)),
        Case("12 random embeddings in 3-D, 4 people, margin 0.4", (random_unit(g, 12, 3), random_labels, 0, 2, 0.4)),
    ]


_SEMI_HARD_NEGATIVE_HINTS = {
    "hardest": "You returned the closest negative overall (the hardest): a semi-hard negative is FARTHER than "
               "the positive, d(a, n) > d(a, p).",
    "wrong side": "Your negative is closer than the positive: semi-hard means d(a, p) < d(a, n) < d(a, p) + margin, "
                  "just beyond the positive, not just before it.",
    "ignores margin": "You returned a negative beyond the margin: when no negative has d(a, n) < d(a, p) + margin "
                      "there is no semi-hard negative; return None.",
    "ties are semi-hard": "A negative exactly as far as the positive is hard, not semi-hard: use d(a, n) > d(a, p), "
                          "not >=.",
}

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
    mistakes=mistakes_by_rule(_semi_hard_mistake, _SEMI_HARD_NEGATIVE_HINTS), hints=_SEMI_HARD_NEGATIVE_HINTS,
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

_BATCH_ALL_MASK_HINTS = {
    "anchor is positive": "Your mask uses an image as its own positive (a == p): the positive must be ANOTHER image "
                          "of the same person; remove the diagonal (~torch.eye(B, dtype=torch.bool)).",
    "same-person negatives": "Your mask allows negatives of the anchor's own person: n must have a different "
                             "label, not just be a different image.",
}

BATCH_ALL_MASK = Exercise(
    name="batch_all_mask",
    prompt="""Write batch_all_mask(labels): which (anchor, positive, negative) index triplets of a batch are valid.

- labels: (B,) long tensor of identity labels.
Return a (B, B, B) bool tensor, True at [a, p, n] when a and p are two DIFFERENT images of the same person and
n is an image of someone else. Batch-all (Hermans et al. 2017) averages the loss over the active ones.
Hint: a (B, B) same-person matrix by broadcasting, then combine [:, :, None] with [:, None, :].""",
    reference=valid_triplet_mask,
    mistakes=mistakes_by_rule(_mask_mistake, _BATCH_ALL_MASK_HINTS), hints=_BATCH_ALL_MASK_HINTS,
    notebook="03_choosing_triplets",
    cases=lambda: [Case(text, (torch.tensor(labels),)) for text, labels in MASK_CASES],
    output=array_output("b", "a (B, B, B) mask"), agree=equal)
