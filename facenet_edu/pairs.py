"""Pairs of images to compare: balanced same/different pairs as in LFW, every pair, or a large sample.

Every protocol of ``verification``, ``open_set`` and ``evaluate`` compares images two by two;
this module only says which two, by index, from the identity labels.
"""

import numpy as np

from .errors import FaceNetEduError
from .inputs import as_labels

ALL_PAIRS_LIMIT = 4_000_000  # above this many image pairs (about 2,800 images), pairs are sampled rather than listed


def _positive_pairs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j), i < j, with the same label."""
    firsts, seconds = [], []
    for label in np.unique(labels):
        idx = np.nonzero(labels == label)[0]
        a, b = np.triu_indices(len(idx), k=1)
        firsts.append(idx[a])
        seconds.append(idx[b])
    return np.concatenate(firsts), np.concatenate(seconds)


def _num_negative_pairs(labels: np.ndarray) -> int:
    counts = np.unique(labels, return_counts=True)[1].astype(np.int64)
    return int((counts.sum() ** 2 - (counts**2).sum()) // 2)


def _negative_pairs(labels: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` distinct (i, j), i < j, with different labels, uniformly at random (all of them if fewer exist)."""
    n = len(labels)
    total = _num_negative_pairs(labels)
    count = min(count, total)
    if n * (n - 1) // 2 <= ALL_PAIRS_LIMIT:  # list them all, draw without replacement
        i, j = np.triu_indices(n, k=1)
        keep = labels[i] != labels[j]
        i, j = i[keep], j[keep]
        pick = np.sort(rng.choice(len(i), size=count, replace=False))
        return i[pick], j[pick]
    codes = np.empty(0, np.int64)  # too many to list: draw random pairs, keep new different-label ones
    while len(codes) < count:
        a, b = rng.integers(0, n, size=(2, 2 * (count - len(codes)) + 16))
        a, b = np.minimum(a, b), np.maximum(a, b)
        new = (a * n + b)[(a != b) & (labels[a] != labels[b])]
        codes = np.concatenate([codes, new])
        _, first = np.unique(codes, return_index=True)
        codes = codes[np.sort(first)]  # distinct, in order of drawing
    codes = np.sort(codes[:count])
    return codes // n, codes % n


def make_pairs(labels, num_pairs_per_kind: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Balanced same-person and different-person pairs, as in LFW's verification protocol.

    Positive pairs: every pair (i, j), i < j, of images of the same person, or a
    random sample of ``num_pairs_per_kind`` of them. Negative pairs: as many distinct
    pairs of images of different people, drawn uniformly at random without
    replacement (fewer only if that many do not exist). Chance level is 50 %.

    Args:
        labels: (N,) identity of each image.
        num_pairs_per_kind: how many pairs of each kind; None for all positive pairs.
        seed: the random draw (a ``numpy.random.default_rng(seed)``).

    Returns:
        (i, j, is_same): (P,) int64 image indices (i < j) and (P,) bool, positives first.
        Index embeddings with them: ``(embeddings[i] - embeddings[j]).norm(dim=1)``.

    Raises:
        FaceNetEduError: no identity has two images, or there is only one identity.
    """
    labels = as_labels(labels)
    rng = np.random.default_rng(seed)
    pos_i, pos_j = _positive_pairs(labels)
    if len(pos_i) == 0:
        raise FaceNetEduError("No same-person pairs: every identity has a single image. Use at least two images per person.")
    if _num_negative_pairs(labels) == 0:
        raise FaceNetEduError("No different-person pairs: the labels hold a single identity. Evaluate on at least two people.")
    if num_pairs_per_kind is not None and num_pairs_per_kind < len(pos_i):
        pick = np.sort(rng.choice(len(pos_i), size=num_pairs_per_kind, replace=False))
        pos_i, pos_j = pos_i[pick], pos_j[pick]
    neg_i, neg_j = _negative_pairs(labels, len(pos_i), rng)
    i = np.concatenate([pos_i, neg_i]).astype(np.int64)
    j = np.concatenate([pos_j, neg_j]).astype(np.int64)
    is_same = np.concatenate([np.ones(len(pos_i), bool), np.zeros(len(neg_i), bool)])
    return i, j, is_same


def all_pairs(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i, j), i < j: (i, j, is_same) as in ``make_pairs``, unbalanced (mostly different people)."""
    labels = as_labels(labels)
    i, j = np.triu_indices(len(labels), k=1)
    return i.astype(np.int64), j.astype(np.int64), labels[i] == labels[j]


def sample_all_pairs(labels, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair when there are at most ``ALL_PAIRS_LIMIT``; above, every same-person pair and that many
    random different-person pairs. (i, j, is_same) as in ``make_pairs``: what ROC AUC and TAR at FAR are measured on."""
    labels = as_labels(labels)
    n = len(labels)
    if n * (n - 1) // 2 <= ALL_PAIRS_LIMIT:
        return all_pairs(labels)
    pi, pj = _positive_pairs(labels)
    ni, nj = _negative_pairs(labels, ALL_PAIRS_LIMIT, np.random.default_rng(seed))
    return np.r_[pi, ni], np.r_[pj, nj], np.r_[np.ones(len(pi), bool), np.zeros(len(ni), bool)]
