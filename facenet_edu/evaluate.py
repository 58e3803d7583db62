"""Evaluation on identities never seen in training: verification, ROC, TAR@FAR, rank-1, open-set.

The test people are not in the training set, so the network has never seen them;
each test image is embedded with one forward pass (no triplets), and every metric
below only compares those embeddings by Euclidean distance. The same protocol runs
on any features, so the classic baselines (raw pixels, eigenfaces) are scored side by
side with the trained network.

Protocols, in short (details in each docstring):
- verification (``verification_accuracy_lfw``): balanced same/different pairs as in
  LFW, 10 folds, threshold chosen on 9, accuracy on the 10th;
- ROC AUC and TAR@FAR (FaceNet's VAL@FAR) on ALL pairs of test images, so that a
  false-accept rate of 1e-3 is backed by thousands of different-person pairs;
- closed-set rank-1 (``rank1_accuracy``): leave-one-out nearest neighbour;
- open-set identification (``open_set_scores``, ``open_set_curve``, ``open_set_dir_at_far``):
  a gallery of some people, probes from them and from strangers, the
  detection-and-identification rate (DIR) against the false-alarm rate (FAR).
"""

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn as nn

from .baselines import Eigenfaces, raw_pixel_features
from .data import FaceDataset, resize_images
from .distances import all_pair_distances, cross_distances, pair_distances  # noqa: F401  (notebooks call evaluate.*)
from .errors import FaceNetEduError
from .inputs import as_features, as_labels, as_pairs
from .matching import accept_counts, choose_threshold
from .model import embed

ALL_PAIRS_LIMIT = 4_000_000  # above this many image pairs (about 2,800 images), pairs are sampled rather than listed


# ---------------------------------------------------------------- pairs


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


# ---------------------------------------------------------------- verification metrics


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
            f"{len(same) - num_same} different. Build balanced pairs with facenet_edu.evaluate.make_pairs."
        )
    folds = np.array_split(np.random.default_rng(seed).permutation(len(d)), num_folds)
    accuracies, thresholds = [], []
    for k, test in enumerate(folds):
        train = np.concatenate([f for m, f in enumerate(folds) if m != k])
        threshold = choose_threshold(d[train], same[train])
        accuracies.append(float(((d[test] <= threshold) == same[test]).mean()))
        thresholds.append(float(threshold))
    return {"mean": float(np.mean(accuracies)), "std": float(np.std(accuracies)), "accuracies": accuracies, "thresholds": thresholds}


# ---------------------------------------------------------------- identification metrics


def rank1_accuracy(embeddings, labels, batch_size: int = 1024) -> float:
    """Closed-set rank-1 accuracy, leave-one-out: is each image's nearest OTHER image of the same person?

    Every image is a query against all the other images. Images whose identity has
    only one image are not queries (they cannot be right) but stay in the search as
    distractors. Ties go to the lowest index.

    Args:
        embeddings: (N, D) tensor or array.
        labels: (N,) identities.
    """
    labels = as_labels(labels)
    x = as_features(embeddings, labels)
    counts = dict(zip(*np.unique(labels, return_counts=True)))
    queries = np.array([i for i in range(len(labels)) if counts[labels[i]] > 1], dtype=np.int64)
    if len(queries) == 0:
        raise FaceNetEduError("Rank-1 needs people with at least two images; every identity here has one.")
    sq_norms = (x * x).sum(1)
    correct = 0
    for start in range(0, len(queries), batch_size):
        q = queries[start : start + batch_size]
        dists = cross_distances(x[q], x, sq_norms)  # (b, N)
        dists[np.arange(len(q)), q] = np.inf        # not itself
        correct += int((labels[dists.argmin(1)] == labels[q]).sum())
    return correct / len(queries)


def open_set_scores(embeddings, labels, strangers, gallery_per_person: int = 1) -> dict[str, np.ndarray]:
    """One open-set trial: every probe's nearest enrolled person and distance.

    Protocol:
    1. Every person not in ``strangers`` is ENROLLED: the first ``gallery_per_person``
       images (in dataset order) of each form the gallery.
    2. Probes: every other image of an enrolled person (known probes) and every image of
       a stranger (unknown probes).
    3. Each probe's nearest gallery image gives its nearest person and distance.

    Args:
        embeddings: (N, D) tensor or array; labels: (N,) identities.
        strangers: the identities that play strangers (never enrolled).
        gallery_per_person: images enrolled per person.

    Returns:
        {"probe": (Q,) image indices, known probes first, "nearest_distance": (Q,),
        "nearest_label": (Q,), "right_person": (Q,) bool (nearest person is the probe's own),
        "is_known": (Q,) bool (the probe's person is enrolled)}: the input of ``open_set_curve``.
    """
    labels = as_labels(labels)
    x = as_features(embeddings, labels)
    strangers = set(np.asarray(strangers).ravel().tolist())
    people = np.unique(labels)
    enrolled = [p for p in people if p not in strangers]
    if not enrolled or len(enrolled) == len(people):
        raise FaceNetEduError("Open-set identification needs at least one enrolled person and at least one stranger.")
    gallery_idx, known_probes, unknown_probes = [], [], []
    for person in people:
        idx = np.nonzero(labels == person)[0]
        if person in strangers:
            unknown_probes += idx.tolist()
        else:
            gallery_idx += idx[:gallery_per_person].tolist()
            known_probes += idx[gallery_per_person:].tolist()
    if not known_probes:
        raise FaceNetEduError(
            f"No known probes: the enrolled people have at most {gallery_per_person} image(s) each, all used for the gallery."
        )
    gallery_idx, probes = np.array(gallery_idx), np.array(known_probes + unknown_probes)
    dists = cross_distances(x[probes], x[gallery_idx])  # (probes, gallery)
    nearest = dists.argmin(1)
    nearest_label = labels[gallery_idx[nearest]]
    return {
        "probe": probes,
        "nearest_distance": dists[np.arange(len(probes)), nearest].astype(np.float64),
        "nearest_label": nearest_label,
        "right_person": nearest_label == labels[probes],
        "is_known": np.arange(len(probes)) < len(known_probes),
    }


def _scores_arrays(scores: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(scores["nearest_distance"], dtype=np.float64).ravel()
    right = np.asarray(scores["right_person"]).astype(bool).ravel()
    known = np.asarray(scores["is_known"]).astype(bool).ravel()
    if not (len(d) == len(right) == len(known)):
        raise FaceNetEduError(f"Need one distance, right-person flag and known flag per probe, got {len(d)}, {len(right)}, {len(known)}.")
    if not known.any() or known.all():
        raise FaceNetEduError("An open-set curve needs both probes of enrolled people and probes of strangers.")
    return d, right, known


def open_set_curve(scores: dict, thresholds=None) -> dict[str, np.ndarray]:
    """Detection and identification rate (DIR) against false-alarm rate (FAR) as the threshold moves.

    A probe is accepted when its nearest enrolled person is at most the threshold away
    (else the answer is "unknown"). At each threshold:

    - FAR = share of stranger probes accepted (each is then named as someone it is not);
    - DIR = share of known probes whose nearest enrolled person is the right one AND
      within the threshold. DIR never exceeds the closed-set rank-1 of the known probes.

    Args:
        scores: ``open_set_scores`` of one trial, or several trials' merged with ``merge_open_set_scores``.
        thresholds: (T,) thresholds; default every distinct nearest distance, preceded by
            -inf (nothing accepted), so the curve runs from (0, 0) to (1, rank-1).

    Returns:
        {"thresholds": (T,), "far": (T,), "dir": (T,)}.
    """
    d, right, known = _scores_arrays(scores)
    if thresholds is None:
        thresholds = np.r_[-np.inf, np.unique(d)]
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    strangers = np.sort(d[~known])
    found = np.sort(d[known & right])
    far = np.searchsorted(strangers, thresholds, side="right") / len(strangers)
    dir_ = np.searchsorted(found, thresholds, side="right") / int(known.sum())
    return {"thresholds": thresholds, "far": far, "dir": dir_}


def open_set_threshold(scores: dict, target_far: float) -> float:
    """The largest threshold at which at most ``target_far`` of the stranger probes are accepted.

    Candidates as in ``matching.choose_threshold`` (midpoints between distinct distances).
    With S stranger probes, FAR can only be measured in steps of 1 / S: a target below
    1 / S allows no false alarm at all.
    """
    d, _, known = _scores_arrays(scores)
    return choose_threshold(d, known, target_far=target_far)


def merge_open_set_scores(trials: Sequence[dict]) -> dict[str, np.ndarray]:
    """Several trials' ``open_set_scores`` as one (their probes pooled), plus "trial": (Q,) the trial of each probe."""
    if not trials:
        raise FaceNetEduError("merge_open_set_scores needs at least one trial.")
    merged = {key: np.concatenate([np.asarray(t[key]) for t in trials]) for key in trials[0]}
    merged["trial"] = np.concatenate([np.full(len(t["probe"]), k) for k, t in enumerate(trials)])
    return merged


def open_set_dir_at_far(
    embeddings, labels, far: float = 0.01, known_fraction: float = 0.5, gallery_per_person: int = 1, seed: int = 0
) -> dict:
    """Open-set identification: detection and identification rate (DIR) at a false-alarm rate.

    Protocol:
    1. The identities are shuffled (``default_rng(seed).permutation``); the first
       ``round(known_fraction * P)`` (at least 1, at most P - 1) are KNOWN, the rest UNKNOWN.
    2. Gallery, probes and nearest distances as in ``open_set_scores`` (the unknown people are the strangers).
    3. The threshold is the largest at which at most ``far`` of the unknown probes are
       accepted (false alarms): ``open_set_threshold``.
    4. DIR = share of known probes whose nearest gallery image is the right person AND
       within the threshold (``open_set_curve`` at that threshold).

    Returns:
        {"dir", "far" (the false-alarm rate reached), "threshold", "rank1_known" (the
        closed-set rank-1 of the known probes, the ceiling for DIR), "num_known_probes",
        "num_unknown_probes"}, all floats.
    """
    labels = as_labels(labels)
    people = np.unique(labels)
    if len(people) < 2:
        raise FaceNetEduError("Open-set identification needs at least two people: some known, some strangers.")
    num_known = int(min(max(round(known_fraction * len(people)), 1), len(people) - 1))
    shuffled = people[np.random.default_rng(seed).permutation(len(people))]
    scores = open_set_scores(embeddings, labels, shuffled[num_known:], gallery_per_person)
    threshold = open_set_threshold(scores, far)
    at = open_set_curve(scores, [threshold])
    known = scores["is_known"]
    return {
        "dir": float(at["dir"][0]),
        "far": float(at["far"][0]),
        "threshold": float(threshold),
        "rank1_known": float(scores["right_person"][known].mean()),
        "num_known_probes": float(known.sum()),
        "num_unknown_probes": float((~known).sum()),
    }


# ---------------------------------------------------------------- everything at once


def evaluate_embeddings(embeddings, labels, seed: int = 0) -> dict[str, float]:
    """All the metrics for one set of embeddings (or any features) of people unseen in training.

    - ``verification_accuracy``, ``verification_std``: LFW protocol on ``make_pairs``
      (all same-person pairs and as many random different-person pairs, ``seed``);
      ``threshold``: best-accuracy threshold on those pairs.
    - ``roc_auc``, ``tar_at_far_1e-2``, ``tar_at_far_1e-3``: on ALL pairs of images
      (sampled above ``ALL_PAIRS_LIMIT`` pairs), so small FARs rest on many negatives.
    - ``rank1``: leave-one-out closed-set rank-1.
    - ``dir_at_far_1e-2``: open-set DIR at FAR 1e-2 (half the people known, one gallery
      image each); left out when there are too few people or images for it.

    Args:
        embeddings: (N, D) tensor or array.
        labels: (N,) identities.

    Returns:
        {metric: float}, JSON-ready.
    """
    labels = as_labels(labels)
    x = as_features(embeddings, labels)
    i, j, is_same = make_pairs(labels, seed=seed)
    d = pair_distances(x, i, j)
    lfw = verification_accuracy_lfw(d, is_same, num_folds=min(10, len(d)), seed=seed)
    n = len(labels)
    if n * (n - 1) // 2 <= ALL_PAIRS_LIMIT:
        ai, aj, a_same = all_pairs(labels)
    else:
        rng = np.random.default_rng(seed)
        pi, pj = _positive_pairs(labels)
        ni, nj = _negative_pairs(labels, ALL_PAIRS_LIMIT, rng)
        ai, aj, a_same = np.r_[pi, ni], np.r_[pj, nj], np.r_[np.ones(len(pi), bool), np.zeros(len(ni), bool)]
    a_d = pair_distances(x, ai, aj)
    results = {
        "verification_accuracy": lfw["mean"],
        "verification_std": lfw["std"],
        "threshold": choose_threshold(d, is_same),
        "roc_auc": roc_auc(a_d, a_same),
        "tar_at_far_1e-2": tar_at_far(a_d, a_same, 1e-2),
        "tar_at_far_1e-3": tar_at_far(a_d, a_same, 1e-3),
        "rank1": rank1_accuracy(x, labels),
    }
    try:
        results["dir_at_far_1e-2"] = open_set_dir_at_far(x, labels, far=1e-2, seed=seed)["dir"]
    except FaceNetEduError:
        pass
    return {k: float(v) for k, v in results.items()}


def evaluate_model(
    model: nn.Module, test_dataset: FaceDataset, baselines: bool = True, train_dataset: FaceDataset | None = None,
    seed: int = 0, num_components: int = 50,
) -> dict[str, dict[str, float]]:
    """Evaluate a network on unseen people, and the baselines with the very same protocol.

    Test images are resized to ``model.config.image_size`` if needed (as in training)
    and embedded with one forward pass each. Baselines use the same test images:
    ``raw_pixels`` always, ``eigenfaces`` only when ``train_dataset`` is given (PCA is
    fitted on the training people, never on the test people).

    Returns:
        {"model": metrics, "raw_pixels": metrics, "eigenfaces": metrics}, metrics as in
        ``evaluate_embeddings``.
    """
    size = model.config.image_size
    images = test_dataset.images
    if tuple(images.shape[-2:]) != (size, size):
        images = resize_images(images, (size, size))
    results = {"model": evaluate_embeddings(embed(model, images), test_dataset.labels, seed)}
    if baselines:
        results["raw_pixels"] = evaluate_embeddings(raw_pixel_features(images), test_dataset.labels, seed)
        if train_dataset is not None:
            train_images = train_dataset.images
            if tuple(train_images.shape[-2:]) != (size, size):
                train_images = resize_images(train_images, (size, size))
            eigenfaces = Eigenfaces(num_components).fit(train_images)
            results["eigenfaces"] = evaluate_embeddings(eigenfaces.transform(images), test_dataset.labels, seed)
    return results


# ---------------------------------------------------------------- glue shared by the CLI, the demo and the notebooks

HEADLINE_METRICS = ("verification_accuracy", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3", "rank1")


def validation_threshold(model: nn.Module, validation: FaceDataset, seed: int = 0, target_far: float | None = None) -> float:
    """The verification threshold, chosen on validation people held out from training (never the margin).

    Embeds the validation images (one forward pass each), builds ``make_pairs`` (all
    same-person pairs and as many different-person pairs, ``seed``) and returns
    ``choose_threshold`` on their distances.

    Args:
        model: the trained embedding network.
        validation: people neither trained on nor tested on; images at the model's input size.
        seed: the draw of different-person pairs.
        target_far: None for the best-accuracy threshold, else the largest with at most this false-accept rate.
    """
    i, j, is_same = make_pairs(validation.labels, seed=seed)
    return choose_threshold(pair_distances(embed(model, validation.images), i, j), is_same, target_far=target_far)


def summarise_runs(runs: Sequence[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each metric over several runs (seeds or folds).

    Args:
        runs: one {metric: value} per run, all with the same metrics.

    Returns:
        {metric: (mean, std)}; std is the population standard deviation (``np.std``),
        0.0 for a single run.
    """
    if not runs:
        raise FaceNetEduError("summarise_runs needs at least one run.")
    return {m: (float(np.mean([r[m] for r in runs])), float(np.std([r[m] for r in runs]))) for m in runs[0]}


def format_metrics_table(results: dict[str, dict[str, float] | Sequence[dict[str, float]]],
                         metrics: tuple[str, ...] = HEADLINE_METRICS) -> str:
    """Methods as rows, metrics as columns: the table ``evaluate_model`` results are printed as.

    Args:
        results: {method: {metric: value}}, e.g. ``evaluate_model(...)``; or {method: [one
            {metric: value} per seed or fold]}, printed as "mean ± std (n runs)".
        metrics: the columns, in order (default the five headline metrics).
    """
    def row(values) -> list[str]:
        if isinstance(values, dict):
            return [f"{values[m]:.3f}" for m in metrics]
        summary = summarise_runs(values)                  # once per row, not once per column
        return [f"{summary[m][0]:.3f} ± {summary[m][1]:.3f}" for m in metrics]

    cells = {method: row(values) for method, values in results.items()}
    names = {method: method if isinstance(values, dict) else f"{method} ({len(values)} runs)" for method, values in results.items()}
    name_width = max(12, *(len(n) + 2 for n in names.values()))
    widths = [max(len(m), *(len(row[i]) for row in cells.values())) + 2 for i, m in enumerate(metrics)]
    header = f"{'method':<{name_width}}" + "".join(f"{m:>{w}}" for m, w in zip(metrics, widths))
    rows = [f"{names[method]:<{name_width}}" + "".join(f"{c:>{w}}" for c, w in zip(row, widths)) for method, row in cells.items()]
    return "\n".join([header, *rows])
