"""Unit embeddings in the exercises: the cases' unit vectors, why the prompts ask for them, and L2 normalisation.

``random_unit``, ``circle`` and ``chord`` build the small hand-made and seeded cases of the
other exercises; ``UNIT_WHY`` ends the prompts whose inputs are unit rows; ``L2_NORMALISE``
is the exercise of notebook 01, the network's last step that makes every embedding one.
"""

import numpy as np
import torch
import torch.nn.functional as F

from ..checking import Case, Exercise, array_output, close

UNIT_WHY = ("\nThe embeddings are L2-normalised (unit rows), so distances lie in [0, 2] and a margin or a threshold\n"
            "means the same for every model; without that, a network could meet any margin by making embeddings longer.")


def random_unit(generator: torch.Generator, *shape: int) -> torch.Tensor:
    """Random L2-normalised rows, float32."""
    return F.normalize(torch.randn(*shape, generator=generator), dim=-1)


def circle(degrees) -> torch.Tensor:
    """(N, 2) float32 unit vectors at the given angles, for hand-made cases whose distances are easy to read."""
    radians = torch.tensor(degrees, dtype=torch.float64) * torch.pi / 180
    return torch.stack([radians.cos(), radians.sin()], dim=1).float()


def chord(distance: float) -> float:
    """The angle (degrees) between two unit vectors at this Euclidean distance."""
    return float(np.degrees(2 * np.arcsin(distance / 2)))


# ---------------------------------------------------------------- 7. L2 normalisation (notebook 01)


def _normalise_cases() -> list[Case]:
    g = torch.Generator().manual_seed(1)
    return [
        Case("5 random embeddings in 3-D", (3 * torch.randn(5, 3, generator=g),)),
        Case("a square batch: 4 embeddings in 4-D", (torch.randn(4, 4, generator=g),)),
        Case("lengths 5, 0.001 and 2", (torch.tensor([[3.0, 4.0], [0.001, 0.0], [-2.0, 0.0]]),)),
        Case("rows already of length 1", (F.normalize(torch.randn(3, 6, generator=g), dim=1),)),
    ]


L2_NORMALISE = Exercise(
    name="l2_normalise",
    prompt="""Write l2_normalise(embeddings): every embedding scaled to length 1, as the network's last step.

- embeddings: (B, D) float tensor, one embedding per ROW; no row is all zeros.
Return a (B, D) tensor whose row i is embeddings[i] / ||embeddings[i]||, with ||x|| = sqrt(sum of squares).
Then every distance lies in [0, 2] and ||x - y||^2 = 2 - 2 x.y. Without this step a network can satisfy any
triplet margin by making all embeddings longer, without learning who is who.""",
    reference=lambda embeddings: F.normalize(embeddings, dim=1),
    mistakes={
        "columns": lambda embeddings: embeddings / embeddings.norm(dim=0, keepdim=True),
        "squared norm": lambda embeddings: embeddings / (embeddings**2).sum(dim=1, keepdim=True),
    },
    hints={
        "columns": "You normalised the columns: each ROW is an embedding; divide by the norm along dim=1, with "
                   "keepdim=True.",
        "squared norm": "You divided by the squared length (the sum of squares): divide by its square root, ||x||.",
    },
    notebook="01_faces_as_points", cases=_normalise_cases, output=array_output("f", "a (B, D) tensor"), agree=close)
