"""Euclidean distances between embeddings: every pair of a batch, chosen pairs, queries against references.

FaceNet compares faces by the distance between their embeddings, nothing else. Three
shapes of question, one function each:

- ``pairwise_distances``: the (B, B) matrix of a batch, for losses and mining;
- ``pair_distances`` (and ``all_pair_distances``): listed pairs (i, j), for evaluation;
- ``cross_distances``: (Q, M) queries against references, for matching and galleries.

The dtype rule: torch distances (``pairwise_distances``) keep the embeddings' dtype,
device and gradient, because losses backpropagate through them; NumPy distances (the
other three) are float64, because thresholds and metrics compare distances that can
differ by less than float32 rounding.
"""

import numpy as np
import torch

from .inputs import as_features, as_labels, check_embeddings


def safe_sqrt(squared: torch.Tensor) -> torch.Tensor:
    """Square root that is exactly 0, with gradient 0 (not inf or NaN), where its input is 0."""
    zero = squared <= 0
    root = torch.sqrt(torch.where(zero, torch.ones_like(squared), squared))
    return torch.where(zero, torch.zeros_like(squared), root)


def pairwise_distances(embeddings: torch.Tensor, squared: bool = False, check: bool = True) -> torch.Tensor:
    """Euclidean distance between every pair of embeddings.

    Uses ||x - y||^2 = ||x||^2 - 2 x.y + ||y||^2 (one matrix product), clamps rounding
    errors below zero, makes the matrix exactly symmetric, puts exact zeros on the
    diagonal, and takes the square root only where the distance is positive, so
    gradients stay finite for identical embeddings.

    Args:
        embeddings: (B, D) tensor (usually L2-normalised, but any finite vectors work).
        squared: return squared distances (FaceNet's paper) instead of distances.
        check: check that the embeddings are finite (a wait for the GPU); ``train`` passes False
            and checks its loss every ``train.SYNC_EVERY`` steps instead. The shape is always checked.

    Returns:
        (B, B) symmetric tensor with zeros on the diagonal, the embeddings' dtype and device.
    """
    check_embeddings(embeddings, values=check)
    dot = embeddings @ embeddings.T                          # (B, B)
    norms = dot.diagonal()                                   # (B,) squared lengths
    d2 = norms[:, None] - 2 * dot + norms[None, :]            # (B, B)
    d2 = ((d2 + d2.T) / 2).clamp_min(0)                      # exactly symmetric despite rounding
    eye = torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
    d2 = d2.masked_fill(eye, 0.0)
    return d2 if squared else safe_sqrt(d2)


def cross_distances(queries, references, reference_sq_norms: np.ndarray | None = None) -> np.ndarray:
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


def pair_distances(embeddings, i, j, chunk: int = 65536) -> np.ndarray:
    """(P,) float64 Euclidean distances between rows ``i`` and ``j`` of (N, D) ``embeddings``.

    Args:
        embeddings: (N, D) tensor or array.
        i, j: (P,) integer indices of the two images of each pair.
        chunk: pairs per block when they are listed one by one.
    """
    x = as_features(embeddings)
    i, j = np.asarray(i), np.asarray(j)
    if len(i) > x.shape[0] and x.shape[0] <= 4096:  # many pairs: one (N, N) matrix product is cheaper
        return cross_distances(x, x)[i, j]
    out = np.empty(len(i))
    for start in range(0, len(i), chunk):
        sl = slice(start, start + chunk)
        out[sl] = np.linalg.norm(x[i[sl]] - x[j[sl]], axis=1)
    return out


def all_pair_distances(embeddings, labels) -> tuple[np.ndarray, np.ndarray]:
    """Distance and same-person flag of every unordered pair (i < j, the upper triangle).

    Args:
        embeddings: (N, D) tensor or array; labels: (N,) identity labels.

    Returns:
        distances (P,) float64, is_same (P,) bool, with P = N (N - 1) / 2, pairs in
        ``numpy.triu_indices(N, k=1)`` order (as ``pairs.all_pairs``).
    """
    labels = as_labels(labels)
    i, j = np.triu_indices(len(labels), k=1)
    return pair_distances(as_features(embeddings, labels), i, j), labels[i] == labels[j]
