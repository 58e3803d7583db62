"""What every public function does first: turn the caller's input into arrays of the right kind, or say what is wrong.

One home for input conversion and checking, so each check is written once and every
module raises the same ``FaceNetEduError`` sentence for the same mistake. Two kinds of
callers need two kinds of output:

- training code (losses, mining, widgets) keeps torch tensors, on their device, with
  their gradients: ``check_embeddings``, ``labels_for``, ``check_distance_matrix``,
  ``embeddings_and_labels``. Checking values (NaN) makes a GPU's caller wait for its
  result, so ``check_embeddings`` and ``check_distance_matrix`` take ``values=False``
  for the training step, which checks its loss instead;
- evaluation and matching code works on NumPy copies in float64 (``as_features``,
  ``as_labels``, ``as_pairs``) or, for stored unit embeddings, float32
  (``as_unit_embeddings``).

Nothing here imports another module of the package except ``errors``.
"""

import numpy as np
import torch

from .errors import FaceNetEduError


def to_numpy(x) -> np.ndarray:
    """A NumPy view (or copy) of a tensor, array or sequence; tensors are detached and moved to the CPU."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


# ---------------------------------------------------------------- torch side (training, mining, losses)


def check_embeddings(embeddings: torch.Tensor, values: bool = True) -> None:
    """Raise FaceNetEduError unless ``embeddings`` is a finite (B, D) tensor.

    Args:
        embeddings: the tensor to check.
        values: also check that every value is finite. On a GPU that makes the CPU wait
            for the GPU's result (one host sync); ``train`` passes False through the
            losses and checks the loss for NaN every ``train.SYNC_EVERY`` steps instead.
            The shape is always checked (it costs nothing).
    """
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2:
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise FaceNetEduError(f"Embeddings must be a (B, D) tensor, got {shape}.")
    if values and not torch.isfinite(embeddings).all():
        raise FaceNetEduError(
            "The embeddings contain NaN or infinite values, so no distance can be computed; "
            "training has probably diverged: lower the learning rate and check the input images."
        )


def labels_for(labels, size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(B,) label tensor for ``size`` embeddings (or rows of a distance matrix), on ``device``.

    Args:
        labels: (B,) tensor, array or list of identity labels.
        size: B, the number of embeddings the labels belong to.
        device: where the result goes (None: where it is).
    """
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.shape[0] != size:
        raise FaceNetEduError(f"Need one label per embedding: {size} embeddings but labels of shape {tuple(labels.shape)}.")
    return labels if device is None else labels.to(device)


def check_distance_matrix(dists: torch.Tensor, values: bool = True) -> torch.Tensor:
    """Return ``dists`` if it is a square (B, B) tensor without NaN, else raise FaceNetEduError.

    Args:
        dists: the matrix to check.
        values: also check for NaN (a host sync on a GPU, as in ``check_embeddings``).
    """
    if not isinstance(dists, torch.Tensor) or dists.ndim != 2 or dists.shape[0] != dists.shape[1]:
        shape = tuple(dists.shape) if hasattr(dists, "shape") else type(dists).__name__
        raise FaceNetEduError(f"dists must be a square (B, B) distance matrix tensor, got shape {shape}.")
    if values and torch.isnan(dists).any():
        raise FaceNetEduError("The distance matrix contains NaN; the embeddings it came from are not finite.")
    return dists


def embeddings_and_labels(embeddings, labels) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) float32 CPU tensor without gradient and (N,) long labels, for the explorers."""
    embeddings = torch.as_tensor(embeddings, dtype=torch.float32).detach().cpu()
    labels = torch.as_tensor(labels).long().cpu().ravel()
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise FaceNetEduError(f"Need (N, D) embeddings and N labels, got {tuple(embeddings.shape)} and {tuple(labels.shape)}.")
    return embeddings, labels


# ---------------------------------------------------------------- NumPy side (evaluation, matching)


def as_labels(labels) -> np.ndarray:
    """(N,) NumPy array of labels; FaceNetEduError when there are none."""
    arr = to_numpy(labels).ravel()
    if arr.size == 0:
        raise FaceNetEduError("No labels given: the test set is empty.")
    return arr


def as_features(embeddings, labels=None) -> np.ndarray:
    """(N, D) float64 array of finite features (embeddings or baseline features), one row per label if given."""
    x = np.asarray(to_numpy(embeddings), dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise FaceNetEduError(f"Expected embeddings of shape (N, D) with N, D > 0, got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise FaceNetEduError("The embeddings contain NaN or infinite values; the model may have diverged (lower lr, check the data).")
    if labels is not None and len(labels) != x.shape[0]:
        raise FaceNetEduError(f"Need one label per embedding, got {len(labels)} labels for {x.shape[0]} embeddings.")
    return x


def as_unit_embeddings(embeddings, what: str = "embeddings") -> np.ndarray:
    """(N, D) or (D,) array-like -> (N, D) float32 array of unit rows, or a FaceNetEduError saying what is wrong.

    Args:
        embeddings: L2-normalised embeddings, one per row (a single (D,) vector is one row).
        what: how the error message names them ("query embeddings", ...).
    """
    arr = np.asarray(to_numpy(embeddings), dtype=np.float32)
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


def as_pairs(distances, is_same) -> tuple[np.ndarray, np.ndarray]:
    """Validate (P,) pair distances and (P,) same/different flags as float64 and bool arrays."""
    d = np.asarray(to_numpy(distances), dtype=np.float64).ravel()
    same = to_numpy(is_same).ravel().astype(bool)
    if d.shape != same.shape:
        raise FaceNetEduError(f"distances and is_same must have one entry per pair, got {d.shape} and {same.shape}.")
    if d.size == 0:
        raise FaceNetEduError("No pairs given: distances is empty. Build pairs with facenet_edu.pairs.make_pairs.")
    if not np.isfinite(d).all():
        raise FaceNetEduError("Some distances are NaN or infinite; check the embeddings (the model may have diverged).")
    return d, same
