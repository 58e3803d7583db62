"""Evaluation on identities never seen in training: verification, ROC, TAR@FAR, rank-1, open-set.

The test people are not in the training set, so the network has never seen them;
each test image is embedded with one forward pass (no triplets), and every metric
below only compares those embeddings by Euclidean distance. The same protocol runs
on any features, so the classic baselines (raw pixels, eigenfaces) are scored side by
side with the trained network.

This module puts every metric together (``evaluate_embeddings``, ``evaluate_model``),
chooses thresholds on validation people and prints results; the protocols live in
their own modules (details in each docstring):
- ``pairs``: which images are compared (balanced pairs as in LFW, every pair);
- ``verification``: LFW's 10-fold accuracy (threshold chosen on 9 folds, accuracy on
  the 10th), ROC AUC and TAR@FAR (FaceNet's VAL@FAR) on ALL pairs of test images, so
  that a false-accept rate of 1e-3 is backed by thousands of different-person pairs;
- here, closed-set rank-1 (``rank1_accuracy``): leave-one-out nearest neighbour;
- ``open_set``: a gallery of some people, probes from them and from strangers, the
  detection-and-identification rate (DIR) against the false-alarm rate (FAR).
"""

from collections.abc import Sequence

import numpy as np
import torch.nn as nn

from .baselines import Eigenfaces, raw_pixel_features
from .data import FaceDataset, resize_images
from .distances import cross_distances, pair_distances
from .errors import FaceNetEduError
from .inputs import as_features, as_labels
from .matching import choose_threshold
from .model import embed
from .open_set import open_set_dir_at_far
from .pairs import make_pairs, sample_all_pairs
from .verification import roc_auc, tar_at_far, verification_accuracy_lfw


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
    ai, aj, a_same = sample_all_pairs(labels, seed)
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
