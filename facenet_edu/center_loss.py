"""Center loss (Wen et al. 2016): softmax over the training identities plus a pull of each embedding
towards its identity's center, with the centers updated from each mini-batch.

Unlike the triplet losses of ``losses`` it holds parameters (a classifier and the centers),
so it is an ``nn.Module``; it returns the same ``LossResult``.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import FaceNetEduError
from .inputs import check_embeddings, labels_for
from .losses import LossResult, finite_or_nan


class CenterLoss(nn.Module):
    """Softmax classification plus center loss (Wen et al. 2016).

    loss = cross_entropy(classifier(embeddings), labels) + lambda_c / 2 * mean_i ||x_i - c_{y_i}||^2

    The classifier is a cosine (normalised) softmax: logits = scale * cos(x, w_j). Our
    embeddings are unit vectors, and a plain linear layer on them can only reach small
    logits, so it learns slowly; a fixed scale of about 16 fixes that (as in NormFace).
    The class weights are parameters for the optimiser. The centers c_j are a buffer,
    not parameters: after computing the loss, in training mode only, they move by the
    paper's rule  delta_c_j = sum_{i: y_i = j} (c_j - x_i) / (1 + n_j),  c_j -= alpha * delta_c_j.

    Args:
        num_classes: number of identities; labels must lie in 0..num_classes-1.
        embedding_dim: D.
        lambda_c: weight of the center term.
        alpha: learning rate of the centers (0: they never move).
        scale: the cosine softmax scale.
        generator: randomness for the classifier's initial weights.
    """

    def __init__(self, num_classes: int, embedding_dim: int, lambda_c: float = 0.01, alpha: float = 0.5,
                 scale: float = 16.0, generator: torch.Generator | None = None):
        super().__init__()
        if num_classes < 1 or embedding_dim < 1:
            raise FaceNetEduError(f"CenterLoss needs num_classes >= 1 and embedding_dim >= 1, got {num_classes}, {embedding_dim}.")
        self.num_classes, self.lambda_c, self.alpha, self.scale = num_classes, lambda_c, alpha, scale
        self.weight = nn.Parameter(torch.randn(num_classes, embedding_dim, generator=generator) / embedding_dim**0.5)
        self.register_buffer("centers", torch.zeros(num_classes, embedding_dim))

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) cosine-softmax logits."""
        return self.scale * F.normalize(embeddings, dim=1) @ F.normalize(self.weight, dim=1).T

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor, check: bool = True) -> LossResult:
        """Classification + center loss of a batch, then (in training mode) move the centers.

        Args:
            embeddings: (B, D) tensor, L2-normalised.
            labels: (B,) identity labels in 0..num_classes-1.
            check: check that the embeddings are finite and the labels in range, which
                on a GPU makes the CPU wait; ``train`` passes False (its labels are
                0..C-1 by construction, and it watches the loss for NaN).

        Returns:
            LossResult; num_valid and num_active are B, mean_ap_dist is the mean distance
            of each embedding to its own center, mean_an_dist the mean distance to the
            nearest other center (0 with a single class).
        """
        check_embeddings(embeddings, values=check)
        labels = labels_for(labels, embeddings.shape[0], embeddings.device)
        if len(labels) == 0:
            raise FaceNetEduError("CenterLoss got an empty batch.")
        if check and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise FaceNetEduError(
                f"Labels must lie in 0..{self.num_classes - 1} for this CenterLoss; got {int(labels.min())}..{int(labels.max())}."
            )
        own_centers = self.centers[labels]                                    # (B, D), a copy
        center_term = ((embeddings - own_centers) ** 2).sum(dim=1).mean()
        loss = F.cross_entropy(self.logits(embeddings), labels) + self.lambda_c / 2 * center_term
        with torch.no_grad():
            to_centers = torch.cdist(embeddings.detach(), self.centers)        # (B, C)
            ap_mean = to_centers.gather(1, labels[:, None]).mean()
            an_mean = torch.zeros_like(ap_mean)
            if self.num_classes > 1:
                an_mean = to_centers.scatter(1, labels[:, None], float("inf")).amin(dim=1).mean()
            if self.training and self.alpha > 0:
                ones = torch.ones_like(labels, dtype=self.centers.dtype)
                counts = torch.zeros_like(self.centers[:, 0]).index_add_(0, labels, ones)  # (C,) (bincount waits on a GPU)
                diff = torch.zeros_like(self.centers).index_add_(0, labels, own_centers - embeddings.detach())
                self.centers -= self.alpha * diff / (1 + counts)[:, None]
            batch_size = torch.full((), len(labels), dtype=torch.long, device=labels.device)
        return LossResult(finite_or_nan(loss, embeddings, check), batch_size, batch_size, ap_mean, an_mean)
