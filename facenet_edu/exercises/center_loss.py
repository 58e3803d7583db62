"""The exercise of the center loss (notebook 07): the centers after one update, Wen et al. 2016's Eq. 4."""

from typing import Callable

import torch

from ..center_loss import CenterLoss
from ..checking import Case, Exercise, array_output, close, mistakes_by_rule
from .unit_vectors import random_unit

# ---------------------------------------------------------------- 6. the center-loss update (notebook 07)


def _center_reference(embeddings, labels, centers, alpha):
    """The package's ``CenterLoss`` moving its centers once (training mode); its own generator leaves global randomness alone."""
    center_loss = CenterLoss(centers.shape[0], centers.shape[1], alpha=alpha, generator=torch.Generator().manual_seed(0))
    center_loss.centers.copy_(centers)
    center_loss.train()(embeddings, labels)
    return center_loss.centers


def _center_mistake(rule: str) -> Callable:
    def wrong(embeddings, labels, centers, alpha):
        counts = torch.bincount(labels, minlength=len(centers)).float()        # (C,) n_j
        if rule == "every center":                                            # each c_j pulled by the whole batch
            delta = (centers[:, None, :] - embeddings[None, :, :]).sum(1) / (1 + len(labels))
            return centers - alpha * delta
        diff = torch.zeros_like(centers).index_add_(0, labels, centers[labels] - embeddings)  # (C, D)
        if rule == "no 1 +":
            return centers - alpha * diff / counts.clamp(min=1)[:, None]
        return centers + alpha * diff / (1 + counts)[:, None]                 # "away"

    return wrong


def _center_cases() -> list[Case]:
    g = torch.Generator().manual_seed(7)
    centers = 0.5 * random_unit(g, 4, 3)
    embeddings = random_unit(g, 6, 3)
    one_each = random_unit(g, 4, 3)
    return [
        Case("6 images of people 0 and 2 (1 and 3 absent), alpha 0.5",
             (embeddings, torch.tensor([0, 0, 2, 2, 2, 0]), centers, 0.5)),
        Case("centers all at zero (the start), people 1 and 3, alpha 0.5",
             (embeddings[:4], torch.tensor([1, 1, 1, 3]), torch.zeros(4, 3), 0.5)),
        Case("one image of each person, alpha 1", (one_each, torch.arange(4), centers, 1.0)),
        Case("collapse: every image already at its center, alpha 0.5",
             (centers[[1, 1, 3]], torch.tensor([1, 1, 3]), centers, 0.5)),
        Case("alpha 0: nothing moves", (embeddings, torch.tensor([0, 1, 2, 3, 0, 1]), centers, 0.0)),
    ]


_CENTER_LOSS_UPDATE_HINTS = {
    "no 1 +": "Your update divides by n_j: the paper divides by 1 + n_j, so a person seen once moves only halfway "
              "to the image even with alpha = 1, and nothing divides by zero.",
    "every center": "Centers moved that should not have: only c_j of people j in the batch change, each pulled by "
                    "its own images (labels[i] == j).",
    "away": "Your centers move away from their images: c_j - alpha * delta_c_j, with delta_c_j = sum(c_j - x_i) / "
            "(1 + n_j), pulls c_j toward the x_i; check the sign.",
}

CENTER_LOSS_UPDATE = Exercise(
    name="center_loss_update",
    prompt="""Write center_loss_update(embeddings, labels, centers, alpha): the centers after one update (Wen et al. 2016, Eq. 4).

- embeddings: (B, D) float tensor; labels: (B,) long tensor, values in 0..C-1.
- centers: (C, D) float tensor, one center per person; alpha: a float in [0, 1], the centers' learning rate.
For each person j with n_j images in the batch:  delta_c_j = sum over i with labels[i] == j of (c_j - x_i), divided
by (1 + n_j);  the new center is  c_j - alpha * delta_c_j.  People not in the batch keep their center. Return the
new (C, D) centers. With L2-normalised embeddings the centers stay inside the unit ball, on the scale of the
distances that the verification threshold is read on.""",
    reference=_center_reference,
    mistakes=mistakes_by_rule(_center_mistake, _CENTER_LOSS_UPDATE_HINTS), hints=_CENTER_LOSS_UPDATE_HINTS,
    notebook="07_center_loss", cases=_center_cases, output=array_output("f", "the (C, D) centers"), agree=close)
