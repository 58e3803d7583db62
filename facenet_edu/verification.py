"""Verification metrics: is this pair the same person? ROC, its area, TAR at a FAR, and LFW's 10-fold accuracy.

Every metric scores the rule "same person when the distance is at most the threshold"
(``matching.is_same_person``) on pair distances of people never seen in training.
"""

import numpy as np

from .errors import FaceNetEduError
from .inputs import as_pairs
from .matching import accept_counts, choose_threshold, is_same_person


def roc_curve_dists(distances, is_same) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve of the rule "same person when distance <= threshold", one point per distinct distance.

    Equals ``sklearn.metrics.roc_curve(is_same, -distances, drop_intermediate=False)``
    with the thresholds negated back into distances.

    Args:
        distances: (P,) pair distances.
        is_same: (P,) bool.

    Returns:
        (fpr, tpr, thresholds), each (U + 1,): false-accept rate, true-accept rate and
        the distance threshold; the first point (0, 0) has threshold -inf.
    """
    d, same = as_pairs(distances, is_same)
    num_pos, num_neg = same.sum(), (~same).sum()
    if num_pos == 0 or num_neg == 0:
        raise FaceNetEduError("An ROC curve needs both same-person and different-person pairs.")
    thresholds = np.unique(d)                                  # (U,) every distinct decision
    tps, fps = accept_counts(d, same, thresholds)              # (U,) each
    return np.r_[0.0, fps / num_neg], np.r_[0.0, tps / num_pos], np.r_[-np.inf, thresholds]


def roc_auc(distances, is_same) -> float:
    """Area under the ROC curve: the chance that a random same-person pair is closer than a random different-person pair (ties count half)."""
    fpr, tpr, _ = roc_curve_dists(distances, is_same)
    return float(np.trapezoid(tpr, fpr))


def tar_at_far(distances, is_same, far: float) -> float:
    """True-accept rate at a false-accept rate (FaceNet's VAL@FAR).

    The threshold is ``choose_threshold(distances, is_same, target_far=far)``: the
    largest candidate at which at most ``far`` x (number of different-person pairs)
    of them are accepted; TAR is the share of same-person pairs at or below it.

    Small FARs need many negative pairs: with N negatives, FAR = 1e-3 allows
    floor(N / 1000) false accepts. With fewer than 1,000 negatives none is allowed, so
    the figure becomes TAR at FAR = 0 (stricter, and noisy: it hangs on the single
    closest different-person pair). ``evaluate_embeddings`` therefore uses ALL pairs
    of test images (100 images of 10 people give 4,500 negatives).

    Args:
        distances: (P,) pair distances.
        is_same: (P,) bool.
        far: target false-accept rate, e.g. 1e-3.
    """
    d, same = as_pairs(distances, is_same)
    if not same.any():
        raise FaceNetEduError("TAR needs same-person pairs, and there are none.")
    threshold = choose_threshold(d, same, target_far=far)
    return float(accept_counts(d, same, threshold)[0][0] / same.sum())


def verification_accuracy_lfw(distances, is_same, num_folds: int = 10, seed: int = 0) -> dict:
    """Verification accuracy by the LFW protocol: threshold chosen on 9 folds, tested on the 10th.

    The pairs are shuffled (``numpy.random.default_rng(seed).permutation``) and cut
    into ``num_folds`` nearly equal folds (``numpy.array_split``). For each fold, the
    best-accuracy threshold is chosen on the other folds (``choose_threshold``) and the
    fold's accuracy measured with it ("same" when distance <= threshold). The
    threshold never sees the pairs it is scored on.

    Args:
        distances: (P,) pair distances, P >= num_folds.
        is_same: (P,) bool, with at least one same-person and one different-person pair.

    Returns:
        {"mean": float, "std": float (population std over folds, as LFW reports it),
        "accuracies": list of num_folds floats, "thresholds": list of num_folds floats}.

    Raises:
        FaceNetEduError: fewer pairs than folds, or pairs of one kind only (with no
            same-person pairs, "always different" would score a meaningless 1.0).
    """
    d, same = as_pairs(distances, is_same)
    if num_folds < 2 or len(d) < num_folds:
        raise FaceNetEduError(f"Need at least 2 folds and one pair per fold; got {len(d)} pairs for {num_folds} folds.")
    num_same = int(same.sum())
    if num_same == 0 or num_same == len(same):
        raise FaceNetEduError(
            f"Verification accuracy needs same-person and different-person pairs; got {num_same} same and "
            f"{len(same) - num_same} different. Build balanced pairs with facenet_edu.pairs.make_pairs."
        )
    folds = np.array_split(np.random.default_rng(seed).permutation(len(d)), num_folds)
    accuracies, thresholds = [], []
    for k, test in enumerate(folds):
        train = np.concatenate([f for m, f in enumerate(folds) if m != k])
        threshold = choose_threshold(d[train], same[train])
        accuracies.append(float((is_same_person(d[test], threshold) == same[test]).mean()))
        thresholds.append(float(threshold))
    return {"mean": float(np.mean(accuracies)), "std": float(np.std(accuracies)), "accuracies": accuracies, "thresholds": thresholds}


# ---------------------------------------------------------------- identification metrics


def pair_metrics(distances, is_same) -> dict[str, float]:
    """The verification figures of one method on given pairs (LFW's official lists, for instance), named as
    ``evaluate.evaluate_embeddings`` names them: accuracy and its spread by the 10-fold protocol, ROC AUC, TAR at FAR."""
    lfw = verification_accuracy_lfw(distances, is_same)
    return {
        "verification_accuracy": lfw["mean"],
        "verification_std": lfw["std"],
        "roc_auc": roc_auc(distances, is_same),
        "tar_at_far_1e-2": tar_at_far(distances, is_same, 1e-2),
        "tar_at_far_1e-3": tar_at_far(distances, is_same, 1e-3),
    }
