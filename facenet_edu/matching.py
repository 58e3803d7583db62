"""Using embeddings: verification, identification against a gallery, thresholds, clustering.

After training, a new face needs no triplets: it goes through the network once
(``facenet_edu.faces.embed_faces``) and becomes a unit-length embedding. Everything
below compares such embeddings by Euclidean distance, which for unit vectors lies in
[0, 2]:

- verification: one distance to one reference, "same person" when it is at most a
  ``threshold``;
- identification: the nearest enrolled embedding in a ``Gallery`` (``facenet_edu.gallery``),
  "unknown" when even that one is farther than the threshold;
- clustering: group new faces with no names at all.

People never seen in training work exactly the same way: enrolling someone just
stores their embeddings; the network is not changed.
"""

from typing import NamedTuple

import numpy as np
import torch.nn as nn

from .errors import FaceNetEduError, check_threshold
from .faces import NoFacePolicy, embed_faces
from .images import ImageLike
from .inputs import as_pairs, as_unit_embeddings, to_numpy

UNKNOWN = "unknown"


# ---------------------------------------------------------------- verification


def is_same_person(distances, threshold):
    """The course's one rule for "same person": the distance is at most the threshold.

    Works on a number, a NumPy array or a tensor (elementwise). Verification, the
    metrics, the widgets, the gallery and the CLI all decide with it; the curves that
    sweep many thresholds at once count the same rule with a sorted search (``side="right"``:
    distances at most the threshold).
    """
    return distances <= threshold


def name_or_unknown(nearest_name: str, nearest_distance: float, threshold: float) -> str:
    """The course's one rule for "unknown": the nearest enrolled person's name when they are the
    same person by ``is_same_person`` (distance at most the threshold), else ``UNKNOWN``."""
    return nearest_name if is_same_person(nearest_distance, threshold) else UNKNOWN


class VerifyResult(NamedTuple):
    """The answer to "are these two faces the same person?"."""

    same: bool
    distance: float
    threshold: float


def verify_embeddings(emb_a, emb_b, threshold: float) -> VerifyResult:
    """Same person when the distance between two embeddings is at most ``threshold``.

    Args:
        emb_a, emb_b: (D,) tensors or arrays, L2-normalised.
        threshold: an absolute distance >= 0 chosen on validation pairs (``choose_threshold``),
            not the training margin.

    Raises:
        FaceNetEduError: the threshold is NaN, infinite or negative (``errors.check_threshold``),
            or the embeddings are not two unit vectors of one size.
    """
    threshold = check_threshold(threshold)
    a, b = as_unit_embeddings(emb_a), as_unit_embeddings(emb_b)
    if a.shape != b.shape or a.shape[0] != 1:
        raise FaceNetEduError(f"verify compares two single embeddings of the same size, got {a.shape} and {b.shape}.")
    distance = float(np.linalg.norm(a[0].astype(np.float64) - b[0]))
    return VerifyResult(bool(is_same_person(distance, threshold)), distance, float(threshold))


def verify(
    model: nn.Module, image_a: ImageLike, image_b: ImageLike, threshold: float,
    detect: bool = True, on_no_face: NoFacePolicy = "error",
) -> VerifyResult:
    """Are two images the same person? Each goes through the network once; the distance decides.

    Args:
        model: an ``EmbeddingNet``.
        image_a, image_b: file paths, Pillow images or arrays.
        threshold: "same" when the distance is at most this (see ``choose_threshold``).
        detect: find and crop the face first (photographs, the default everywhere in the
            package); False for images that are already face crops (AT&T, synthetic faces).

    Raises:
        FaceNetEduError: a bad threshold (checked before any image is read), an unreadable image, no face.
    """
    check_threshold(threshold)  # before the work, with the same rule as verify_embeddings and the gallery
    embeddings = embed_faces(model, [image_a, image_b], detect=detect, on_no_face=on_no_face)  # (2, D)
    return verify_embeddings(embeddings[0], embeddings[1], threshold)


# ---------------------------------------------------------------- thresholds


def threshold_candidates(distances: np.ndarray) -> np.ndarray:
    """Every distinct decision a threshold can make: midpoints between consecutive distinct distances, plus one below and one above all.

    Returns:
        (U + 1,) sorted array for U distinct distances; candidate i accepts exactly the
        i smallest distinct distances ("same" when distance <= threshold).
    """
    u = np.unique(distances)
    return np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])


def accept_counts(distances, is_same, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """How many same-person and different-person pairs each threshold accepts ("same" when distance <= threshold).

    Args:
        distances: (P,) pair distances.
        is_same: (P,) bool, True for same-person pairs.
        thresholds: a float or (T,) array of thresholds.

    Returns:
        true_accepts, false_accepts: (T,) int arrays, same-person and different-person
        pairs at or below each threshold. Divide by ``is_same.sum()`` and
        ``(~is_same).sum()`` for the true-accept and false-accept rates.
    """
    d, same = as_pairs(distances, is_same)
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))            # (T,)
    pos, neg = np.sort(d[same]), np.sort(d[~same])
    return np.searchsorted(pos, thresholds, side="right"), np.searchsorted(neg, thresholds, side="right")


def choose_threshold(distances, is_same, target_far: float | None = None) -> float:
    """Pick a verification threshold from labelled pairs: "same person" when distance <= threshold.

    The threshold is NOT the training margin. The margin only constrains RELATIVE
    distances during training (d(a, n) should exceed d(a, p) by ``margin``); it says
    nothing about where same-person pairs end and different-person pairs begin in
    absolute terms. The threshold is an absolute distance read off an ROC curve on
    validation pairs of people held out from training: a network trained with margin
    0.2 may separate same from different best at a distance of 0.9 or so.

    Candidates are the midpoints between consecutive distinct distances (plus one
    below and one above all), so each distinct decision is tried once.

    Args:
        distances: (P,) distances of validation pairs.
        is_same: (P,) bool, True for same-person pairs.
        target_far: None for the threshold of best accuracy (the first, smallest one on
            ties); else the largest candidate whose false-accept rate (the share of
            different-person pairs accepted) is at most ``target_far``.

    Returns:
        The threshold, a float.
    """
    d, same = as_pairs(distances, is_same)
    candidates = threshold_candidates(d)                              # (C,)
    true_accepts, false_accepts = accept_counts(d, same, candidates)  # (C,) each
    num_neg = int((~same).sum())
    if target_far is None:
        correct = true_accepts + (num_neg - false_accepts)
        return float(candidates[np.argmax(correct)])
    if num_neg == 0:
        raise FaceNetEduError("A false-accept rate needs different-person pairs, and there are none.")
    ok = false_accepts <= target_far * num_neg
    return float(candidates[np.nonzero(ok)[0][-1]])  # candidate 0 accepts nothing, so ok[0] is always True


# ---------------------------------------------------------------- clustering


def cluster_embeddings(embeddings, threshold: float, linkage: str = "average") -> np.ndarray:
    """Group unlabelled faces: agglomerative clustering that stops merging at ``threshold``.

    Each face starts as its own cluster; the two closest clusters are merged again and
    again (closeness by ``linkage``: "average" distance between members, "single"
    nearest members, "complete" farthest members, "ward") until no two clusters are
    closer than ``threshold``. The number of people is not given: it comes out.

    Args:
        embeddings: (N, D) tensor or array, L2-normalised.
        threshold: linkage distance at or above which clusters are not merged; the
            verification threshold is a good start for "average".

    Returns:
        (N,) int array of cluster labels 0..C-1.
    """
    from sklearn.cluster import AgglomerativeClustering

    x = as_unit_embeddings(embeddings)
    if x.shape[0] == 1:
        return np.zeros(1, np.int64)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, linkage=linkage)
    return model.fit_predict(x.astype(np.float64)).astype(np.int64)


def clustering_scores(true_labels, predicted_labels) -> dict[str, float]:
    """How well clusters match identities: normalised mutual information and adjusted Rand index (1 = perfect, ~0 = chance)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    t, p = to_numpy(true_labels).ravel(), to_numpy(predicted_labels).ravel()
    if t.shape != p.shape or t.size == 0:
        raise FaceNetEduError(f"Need one predicted label per true label, got {t.shape} and {p.shape}.")
    return {"nmi": float(normalized_mutual_info_score(t, p)), "ari": float(adjusted_rand_score(t, p))}
