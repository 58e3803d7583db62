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
import torch
import torch.nn as nn

from .errors import FaceNetEduError
from .faces import NoFacePolicy, embed_faces
from .images import ImageLike

UNKNOWN = "unknown"


def _as_embeddings(embeddings, what: str = "embeddings") -> np.ndarray:
    """(N, D) or (D,) array-like -> (N, D) float32 array of unit rows, or a FaceNetEduError saying what is wrong."""
    if isinstance(embeddings, torch.Tensor):
        embeddings = embeddings.detach().cpu().numpy()
    arr = np.asarray(embeddings, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FaceNetEduError(f"Expected {what} of shape (N, D) with N, D > 0, got shape {np.shape(embeddings)}.")
    if not np.isfinite(arr).all():
        raise FaceNetEduError(f"The {what} contain NaN or infinite values; the model may have diverged (lower lr).")
    norms = np.linalg.norm(arr, axis=1)
    if np.abs(norms - 1).max() > 1e-3:
        raise FaceNetEduError(
            f"The {what} must be L2-normalised (unit length), but norms range from {norms.min():.3g} to "
            f"{norms.max():.3g}; use facenet_edu.embed or torch.nn.functional.normalize."
        )
    return arr


def cross_distances(queries: np.ndarray, references: np.ndarray, reference_sq_norms: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances from each query to each reference with one matrix product.

    d^2 = |q|^2 + |r|^2 - 2 q.r, which is 2 - 2 q.r for unit vectors. The true squared
    norms are used rather than 1, and the sum is done in float64: float32 embeddings
    are unit-length only to about 1e-7, and with the shortcut that rounding alone
    would blur distances below about 1e-3.

    Args:
        queries: (Q, D) float array.
        references: (M, D) float array.
        reference_sq_norms: (M,) squared norms of ``references`` if already known.

    Returns:
        (Q, M) float64 array of distances.
    """
    q = np.asarray(queries, np.float64)
    r = np.asarray(references, np.float64)
    r_sq = (r * r).sum(1) if reference_sq_norms is None else reference_sq_norms  # (M,)
    squared = (q * q).sum(1)[:, None] + r_sq[None, :] - 2.0 * (q @ r.T)         # (Q, M)
    return np.sqrt(np.clip(squared, 0.0, None))  # rounding can push d^2 just below 0


# ---------------------------------------------------------------- verification


class VerifyResult(NamedTuple):
    """The answer to "are these two faces the same person?"."""

    same: bool
    distance: float
    threshold: float


def verify_embeddings(emb_a, emb_b, threshold: float) -> VerifyResult:
    """Same person when the distance between two embeddings is at most ``threshold``.

    Args:
        emb_a, emb_b: (D,) tensors or arrays, L2-normalised.
        threshold: an absolute distance chosen on validation pairs (``choose_threshold``),
            not the training margin.
    """
    a, b = _as_embeddings(emb_a), _as_embeddings(emb_b)
    if a.shape != b.shape or a.shape[0] != 1:
        raise FaceNetEduError(f"verify compares two single embeddings of the same size, got {a.shape} and {b.shape}.")
    distance = float(np.linalg.norm(a[0].astype(np.float64) - b[0]))
    return VerifyResult(distance <= threshold, distance, float(threshold))


def verify(
    model: nn.Module, image_a: ImageLike, image_b: ImageLike, threshold: float,
    detect: bool = False, on_no_face: NoFacePolicy = "error",
) -> VerifyResult:
    """Are two images the same person? Each goes through the network once; the distance decides.

    Args:
        model: an ``EmbeddingNet``.
        image_a, image_b: file paths, Pillow images or arrays.
        threshold: "same" when the distance is at most this (see ``choose_threshold``).
        detect: find and crop the face first (photographs); False for face crops.
    """
    embeddings = embed_faces(model, [image_a, image_b], detect=detect, on_no_face=on_no_face)  # (2, D)
    return verify_embeddings(embeddings[0], embeddings[1], threshold)


# ---------------------------------------------------------------- thresholds


def _as_pairs(distances, is_same) -> tuple[np.ndarray, np.ndarray]:
    """Validate (P,) distances and (P,) same/different flags as float64 and bool arrays."""
    if isinstance(distances, torch.Tensor):
        distances = distances.detach().cpu().numpy()
    if isinstance(is_same, torch.Tensor):
        is_same = is_same.detach().cpu().numpy()
    d = np.asarray(distances, dtype=np.float64).ravel()
    same = np.asarray(is_same).ravel().astype(bool)
    if d.shape != same.shape:
        raise FaceNetEduError(f"distances and is_same must have one entry per pair, got {d.shape} and {same.shape}.")
    if d.size == 0:
        raise FaceNetEduError("No pairs given: distances is empty. Build pairs with facenet_edu.evaluate.make_pairs.")
    if not np.isfinite(d).all():
        raise FaceNetEduError("Some distances are NaN or infinite; check the embeddings (the model may have diverged).")
    return d, same


def threshold_candidates(distances: np.ndarray) -> np.ndarray:
    """Every distinct decision a threshold can make: midpoints between consecutive distinct distances, plus one below and one above all.

    Returns:
        (U + 1,) sorted array for U distinct distances; candidate i accepts exactly the
        i smallest distinct distances ("same" when distance <= threshold).
    """
    u = np.unique(distances)
    return np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])


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
    d, same = _as_pairs(distances, is_same)
    candidates = threshold_candidates(d)                              # (C,)
    pos, neg = np.sort(d[same]), np.sort(d[~same])
    true_accepts = np.searchsorted(pos, candidates, side="right")     # (C,) positives with d <= t
    false_accepts = np.searchsorted(neg, candidates, side="right")    # (C,) negatives with d <= t
    if target_far is None:
        correct = true_accepts + (len(neg) - false_accepts)
        return float(candidates[np.argmax(correct)])
    if len(neg) == 0:
        raise FaceNetEduError("A false-accept rate needs different-person pairs, and there are none.")
    ok = false_accepts <= target_far * len(neg)
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

    x = _as_embeddings(embeddings)
    if x.shape[0] == 1:
        return np.zeros(1, np.int64)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, linkage=linkage)
    return model.fit_predict(x.astype(np.float64)).astype(np.int64)


def clustering_scores(true_labels, predicted_labels) -> dict[str, float]:
    """How well clusters match identities: normalised mutual information and adjusted Rand index (1 = perfect, ~0 = chance)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    t = np.asarray(true_labels.cpu() if isinstance(true_labels, torch.Tensor) else true_labels).ravel()
    p = np.asarray(predicted_labels.cpu() if isinstance(predicted_labels, torch.Tensor) else predicted_labels).ravel()
    if t.shape != p.shape or t.size == 0:
        raise FaceNetEduError(f"Need one predicted label per true label, got {t.shape} and {p.shape}.")
    return {"nmi": float(normalized_mutual_info_score(t, p)), "ari": float(adjusted_rand_score(t, p))}
