"""The triplet playground: a tiny network with 3-D embeddings, trained live on a handful of people.

The embeddings are 3-D unit vectors, so they are points on a sphere that can be drawn
directly, without UMAP. The faces are synthetic (``facenet_edu.synthetic``), 8 people
with 8 images each at 32x32 by default; their pixels are the fixed inputs of a
two-layer network (pixels -> 64 ReLU units -> 3 numbers -> L2 normalisation). Every
step trains on all the images at once with plain gradient descent with momentum, using
one of the package's batch losses (``facenet_edu.losses``):

    "hardest"    batch-hard: each anchor with its farthest positive and closest negative
    "semi-hard"  FaceNet's choice: every pair with its closest negative farther than the positive
    "all"        batch-all: the mean over every triplet that still breaks the margin

A training step reads as the paper: ``embeddings = network(features)``,
``loss = PLAYGROUND_LOSSES[strategy](embeddings, labels, margin).loss``, ``torch.autograd.grad(loss, weights)``.

The state is an immutable ``PlaygroundState``; ``playground_step(state, num_steps)``
returns a new one and never changes its argument, so a widget only has to draw what
comes back. The readouts are the numbers the margin is about: the **gap** between the
closest different-person pair and the farthest same-person pair (positive once every
person's images are closer to each other than to anyone else), the same gap per anchor,
the fraction of triplets still active, and the loss. Everything is deterministic under
``seed``: the faces and the initial weights come from explicit ``torch.Generator`` s, and
training itself draws no random numbers.

What a student sees with the defaults (see ``tests/test_playground.py`` and notebook 02):
clusters form within about 50 steps with "semi-hard" or "all"; a larger margin ends
with a larger gap; "hardest" first pulls every face onto one spot (collapse, all
distances below 0.1 after 40 steps) and only slowly escapes it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch
import torch.nn.functional as F

from .distances import pairwise_distances
from .errors import FaceNetEduError, check_number
from .losses import batch_all_triplet_loss, batch_hard_triplet_loss, batch_semihard_triplet_loss
from .mining import count_triplet_categories, pair_masks
from .synthetic import make_synthetic_faces

# The playground's choices of negatives, each the batch loss that makes it (not train.LOSSES, the names TrainConfig takes).
PLAYGROUND_LOSSES = {"hardest": batch_hard_triplet_loss, "semi-hard": batch_semihard_triplet_loss, "all": batch_all_triplet_loss}
EMBEDDING_DIM = 3


@dataclass(frozen=True)
class PlaygroundConfig:
    """What the playground trains on and how; fixed for one run (``reset_playground`` keeps it).

    Attributes:
        num_people: identities (at most 20, so that every person gets a distinct colour).
        images_per_person: images of each person (at least 2, so there are positives).
        image_size: side of the synthetic faces in pixels.
        hidden: units of the hidden layer.
        lr: learning rate of gradient descent.
        momentum: momentum of gradient descent (0: plain gradient descent).
        seed: the faces and the initial weights.
    """

    num_people: int = 8
    images_per_person: int = 8
    image_size: int = 32
    hidden: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    seed: int = 0

    def __post_init__(self) -> None:
        check_number("num_people", self.num_people, 2, 20, integer=True)
        check_number("images_per_person", self.images_per_person, 2, 100, integer=True)
        check_number("image_size", self.image_size, 16, 128, integer=True)
        check_number("hidden", self.hidden, 1, 4096, integer=True)
        check_number("lr", self.lr, 0.0, 10.0)
        check_number("momentum", self.momentum, 0.0, 0.999)
        check_number("seed", self.seed, 0, None, integer=True)


class Readouts(NamedTuple):
    """What the embeddings of one moment say about the margin.

    Attributes:
        gap: min d(different-person pair) - max d(same-person pair), over all images;
            > 0 when every person could be told apart by one distance threshold.
        anchor_gaps: (N,) float64, per anchor min_n d(a, n) - max_p d(a, p) (batch-hard's quantity);
            the anchor satisfies the margin for every triplet when its gap is >= margin.
        loss: the chosen strategy's loss on these embeddings, at this margin.
        active_fraction: share of all valid triplets that still give a loss (hard or semi-hard).
        mean_ap_dist: mean distance of same-person pairs; mean_an_dist: of different-person pairs.
    """

    gap: float
    anchor_gaps: torch.Tensor
    loss: float
    active_fraction: float
    mean_ap_dist: float
    mean_an_dist: float

    @property
    def median_anchor_gap(self) -> float:
        """The median of ``anchor_gaps`` (the lower middle value for an even count)."""
        return float(self.anchor_gaps.median())

    def fraction_beyond(self, margin: float) -> float:
        """Share of anchors whose gap is at least ``margin``."""
        return float((self.anchor_gaps >= margin).float().mean())


class Record(NamedTuple):
    """One line of the playground's history: the readouts after a call of ``playground_step``.

    ``margin`` is the margin the steps leading to this record trained with (the first record: the start's).
    """

    step: int
    margin: float
    gap: float
    median_anchor_gap: float
    loss: float
    mean_an_dist: float


@dataclass(frozen=True)
class PlaygroundState:
    """Everything the playground is at one moment. Immutable: every function returns a new one.

    Attributes:
        config: the run's fixed settings.
        margin: the triplet margin used by the next steps.
        strategy: "hardest", "semi-hard" or "all".
        features: (N, F) standardised pixels of the faces, the network's fixed inputs.
        labels: (N,) identity of each face, 0..num_people-1, grouped by person.
        weights: (w1 (F, H), b1 (H,), w2 (H, 3)) of the network.
        velocity: the momentum buffers, same shapes as ``weights``.
        step: training steps taken since the start.
        embeddings: (N, 3) unit vectors, the network's output for ``weights``.
        readouts: ``Readouts`` of ``embeddings`` at ``margin`` and ``strategy``.
        history: one ``Record`` per ``playground_step`` call (and one for the start).
    """

    config: PlaygroundConfig
    margin: float
    strategy: str
    features: torch.Tensor
    labels: torch.Tensor
    weights: tuple[torch.Tensor, ...]
    velocity: tuple[torch.Tensor, ...]
    step: int
    embeddings: torch.Tensor
    readouts: Readouts
    history: tuple[Record, ...]


def network(features: torch.Tensor, weights: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The playground's network: pixels -> ReLU layer -> 3 numbers -> unit vectors.

    Args:
        features: (N, F) inputs; weights: (w1 (F, H), b1 (H,), w2 (H, 3)).

    Returns:
        (N, 3) tensor, each row of unit length.
    """
    w1, b1, w2 = weights
    return F.normalize(torch.relu(features @ w1 + b1) @ w2, dim=1)  # (N, 3)


@torch.no_grad()
def measure(embeddings: torch.Tensor, labels: torch.Tensor, margin: float, strategy: str) -> Readouts:
    """The readouts of one set of embeddings (see ``Readouts``), computed in float64.

    Args:
        embeddings: (N, D) tensor, L2-normalised; labels: (N,) with two or more people,
            each with two or more images.
        margin: the triplet margin; strategy: which loss to report.
    """
    embeddings = embeddings.double()     # float32 distances near collapse (0.003) are off by 1e-5 or more
    dists = pairwise_distances(embeddings)                       # (N, N), once
    positive_mask, negative_mask = pair_masks(labels)
    farthest_positive = torch.where(positive_mask, dists, torch.full_like(dists, -float("inf"))).amax(dim=1)  # (N,)
    closest_negative = torch.where(negative_mask, dists, torch.full_like(dists, float("inf"))).amin(dim=1)    # (N,)
    counts = count_triplet_categories(dists, labels, margin)
    total = sum(counts.values())
    result = PLAYGROUND_LOSSES[strategy](embeddings, labels, margin, dists=dists)
    return Readouts(
        gap=float(closest_negative.min() - farthest_positive.max()),
        anchor_gaps=closest_negative - farthest_positive,
        loss=float(result.loss),
        active_fraction=(counts["hard"] + counts["semi-hard"]) / total,
        mean_ap_dist=float(result.mean_ap_dist),
        mean_an_dist=float(result.mean_an_dist),
    )


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block, then restore the thread count.

    The playground's matrices are tiny (64 x 1024 at most), too small to share between
    threads; on a 2-core CPU that is busy with anything else, a second thread makes each
    step 10 to 40 times slower (measured: 4 ms against 40 to 160 ms) because the first
    waits for the second to be scheduled. ``benchmarks/playground_speed.py`` shows both.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_settings(margin: float, strategy: str) -> None:
    check_number("margin", margin, 0.0, 2.0)
    if strategy not in PLAYGROUND_LOSSES:
        raise FaceNetEduError(f"Unknown strategy {strategy!r}; choose one of {', '.join(map(repr, PLAYGROUND_LOSSES))}.")


def _with_embeddings(state: PlaygroundState, **changes) -> PlaygroundState:
    """``state`` with ``changes``, its embeddings and readouts recomputed, and one history record added."""
    state = replace(state, **changes)
    with torch.no_grad():
        embeddings = network(state.features, state.weights)
    readouts = measure(embeddings, state.labels, state.margin, state.strategy)
    record = Record(state.step, state.margin, readouts.gap, readouts.median_anchor_gap, readouts.loss,
                    readouts.mean_an_dist)
    return replace(state, embeddings=embeddings, readouts=readouts, history=state.history + (record,))


def new_playground(config: PlaygroundConfig | None = None, margin: float = 0.2,
                   strategy: str = "semi-hard") -> PlaygroundState:
    """The playground before training: the faces, random weights, and the readouts of the start.

    Args:
        config: what to train on and how (``PlaygroundConfig()`` by default).
        margin: the triplet margin; strategy: "hardest", "semi-hard" or "all".

    Returns:
        a ``PlaygroundState`` at step 0.
    """
    config = config or PlaygroundConfig()
    _check_settings(margin, strategy)
    with one_thread():                   # drawing 64 small faces: 0.02 s on one thread, 2.5 s on two busy ones
        return _start(config, margin, strategy)


def _start(config: PlaygroundConfig, margin: float, strategy: str) -> PlaygroundState:
    images, labels = make_synthetic_faces(config.num_people, config.images_per_person, config.image_size, config.seed)
    pixels = images.flatten(1)                                      # (N, size * size)
    features = (pixels - pixels.mean(dim=0)) / pixels.std()         # (N, F): centred, unit scale
    g = torch.Generator().manual_seed(config.seed)
    num_features = features.shape[1]
    weights = (torch.randn(num_features, config.hidden, generator=g) / num_features ** 0.5,  # (F, H)
               torch.zeros(config.hidden),                                                  # (H,)
               torch.randn(config.hidden, EMBEDDING_DIM, generator=g) / config.hidden ** 0.5)  # (H, 3)
    empty = torch.empty(0, EMBEDDING_DIM)
    state = PlaygroundState(config, float(margin), strategy, features, labels, weights,
                            tuple(torch.zeros_like(w) for w in weights), 0, empty, None, ())
    return _with_embeddings(state)


def playground_step(state: PlaygroundState, num_steps: int = 1) -> PlaygroundState:
    """Train ``num_steps`` steps at the state's margin and strategy; return the new state.

    Each step embeds all the faces, takes the strategy's batch loss and moves the weights
    by gradient descent with momentum: v = momentum * v + grad, w = w - lr * v.
    ``state`` itself is not changed.

    Args:
        state: where to start from.
        num_steps: training steps (0: nothing trains, one record is added).

    Returns:
        the new ``PlaygroundState``: ``step`` advanced, new ``embeddings`` and ``readouts``,
        one ``Record`` more in ``history``.
    """
    check_number("num_steps", num_steps, 0, None, integer=True)
    config, weights, velocity = state.config, state.weights, state.velocity
    loss_fn = PLAYGROUND_LOSSES[state.strategy]
    with torch.enable_grad(), one_thread():
        for _ in range(num_steps):
            params = [w.detach().requires_grad_(True) for w in weights]
            embeddings = network(state.features, params)            # (N, 3)
            loss = loss_fn(embeddings, state.labels, state.margin).loss
            grads = torch.autograd.grad(loss, params)
            velocity = tuple(config.momentum * v + g for v, g in zip(velocity, grads))
            weights = tuple(w.detach() - config.lr * v for w, v in zip(weights, velocity))
        return _with_embeddings(state, weights=weights, velocity=velocity, step=state.step + num_steps)


def with_settings(state: PlaygroundState, margin: float | None = None, strategy: str | None = None) -> PlaygroundState:
    """The same network with another margin or strategy for the next steps; readouts recomputed.

    Args:
        state: the current state; margin, strategy: the new values (None: keep).
    """
    margin = state.margin if margin is None else float(margin)
    strategy = state.strategy if strategy is None else strategy
    _check_settings(margin, strategy)
    if (margin, strategy) == (state.margin, state.strategy):
        return state
    with one_thread():
        readouts = measure(state.embeddings, state.labels, margin, strategy)
    return replace(state, margin=margin, strategy=strategy, readouts=readouts)


def reset_playground(state: PlaygroundState) -> PlaygroundState:
    """Back to step 0 with the same faces and initial weights, keeping the current margin and strategy."""
    return new_playground(state.config, state.margin, state.strategy)
