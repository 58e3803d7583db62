"""The classic baselines a face embedding must beat: raw pixels and eigenfaces.

Both turn an image into a unit-length vector, so they are compared by Euclidean
distance exactly like network embeddings, under the same protocols
(``facenet_edu.evaluate``).
"""

import numpy as np
import torch

from .errors import FaceNetEduError


def _flatten(images) -> np.ndarray:
    """(N, 1, H, W) or (N, H, W) tensor/array -> (N, H*W) float64."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    x = np.asarray(images, dtype=np.float64)
    if x.ndim not in (3, 4) or x.shape[0] == 0:
        raise FaceNetEduError(f"Expected images of shape (N, 1, H, W) with N > 0, got {x.shape}.")
    return x.reshape(x.shape[0], -1)


def _l2_normalise(x: np.ndarray) -> torch.Tensor:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return torch.from_numpy(x / np.maximum(norms, 1e-12)).float()


def raw_pixel_features(images) -> torch.Tensor:
    """The simplest baseline: each image's pixels as one long vector, L2-normalised.

    Args:
        images: (N, 1, H, W) tensor in [0, 1].

    Returns:
        (N, H*W) float tensor of unit rows (compared by distance like embeddings).
    """
    return _l2_normalise(_flatten(images))


class Eigenfaces:
    """The classic baseline (Turk & Pentland 1991): PCA of the pixels, whitened, then L2-normalised.

    ``fit`` learns the mean face and the top principal directions ("eigenfaces") from
    TRAINING people only; ``transform`` projects any images onto them, divides each
    coordinate by its standard deviation (whitening) and L2-normalises, so distances
    are compared exactly like network embeddings. Same as
    ``sklearn.decomposition.PCA(whiten=True)`` up to the sign of each component.

    Args:
        num_components: how many eigenfaces to keep (at most training images - 1).
    """

    def __init__(self, num_components: int = 50):
        self.num_components = num_components

    def fit(self, train_images) -> "Eigenfaces":
        """Learn the mean face and eigenfaces from (N, 1, H, W) training images."""
        x = _flatten(train_images)
        if x.shape[0] < 2:
            raise FaceNetEduError("Eigenfaces need at least two training images.")
        self.image_shape = tuple(np.shape(train_images)[-2:])
        self.mean_ = x.mean(0)                                        # (H*W,)
        centred = x - self.mean_                                      # (N, H*W)
        k = min(self.num_components, x.shape[0] - 1, x.shape[1])
        if x.shape[0] <= x.shape[1]:
            # Turk & Pentland's trick: with fewer images than pixels, diagonalise the small
            # (N, N) Gram matrix; its eigenvectors u give eigenfaces X^T u / sqrt(lambda)
            eigvals, u = np.linalg.eigh(centred @ centred.T)          # ascending
            eigvals, u = eigvals[::-1][:k], u[:, ::-1][:, :k]
            components = (centred.T @ u / np.sqrt(np.maximum(eigvals, 1e-300))).T  # (k, H*W)
        else:
            eigvals, v = np.linalg.eigh(centred.T @ centred)          # (H*W, H*W)
            eigvals, components = eigvals[::-1][:k], v[:, ::-1][:, :k].T
        self.components_ = np.ascontiguousarray(components)          # (k, H*W), orthonormal rows
        self.explained_variance_ = np.maximum(eigvals, 0) / (x.shape[0] - 1)  # (k,)
        return self

    def transform(self, images) -> torch.Tensor:
        """(N, 1, H, W) images -> (N, k) whitened, L2-normalised coordinates."""
        if not hasattr(self, "components_"):
            raise FaceNetEduError("Call Eigenfaces.fit(train_images) before transform.")
        x = _flatten(images)
        if x.shape[1] != self.mean_.shape[0]:
            raise FaceNetEduError(f"Eigenfaces were fitted on {self.image_shape} images; resize these ({np.shape(images)[-2:]}) first.")
        z = (x - self.mean_) @ self.components_.T / np.sqrt(np.maximum(self.explained_variance_, 1e-12))  # (N, k)
        return _l2_normalise(z)

    def eigenfaces(self) -> torch.Tensor:
        """The principal directions as images, (k, 1, H, W), for plotting."""
        return torch.from_numpy(self.components_.reshape(-1, 1, *self.image_shape)).float()

    def mean_face(self) -> torch.Tensor:
        """The mean training face, (1, H, W)."""
        return torch.from_numpy(self.mean_.reshape(1, *self.image_shape)).float()
