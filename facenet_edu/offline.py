"""Offline mining, FaceNet's other way to choose triplets: embed part of the training set, then pick from it.

Online mining (``facenet_edu.mining``) chooses inside each P x K batch with the network
of this very step. Offline mining is a training procedure instead: every few steps the
current network embeds a subset of the training images, triplets of the requested kind
are chosen among those embeddings, and the next steps train on them (``train`` with
``TrainConfig(mining="offline")``). The choice itself is ``mining.mine_triplets`` on
the subset's distance matrix; this module adds the embedding and the sampling.
"""

import torch

from .distances import pairwise_distances
from .errors import FaceNetEduError
from .inputs import labels_for
from .mining import STRATEGIES, mine_triplets, pair_masks, semihard_negatives
from .model import embed


@torch.no_grad()
def mine_offline(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, strategy: str, margin: float,
                 num_triplets: int, generator: torch.Generator, subset_size: int | None = None, batch_size: int = 256,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FaceNet's offline mining: embed (part of) the training set, then choose triplets from it.

    The current network embeds a random subset of the images (eval mode, no gradient;
    ``embed`` puts the model back in the mode it found it in),
    triplets of ``strategy`` are mined among them (for "semi-hard", FaceNet's one negative
    per anchor-positive pair, ``mining.semihard_negatives``; otherwise every triplet of
    that kind, ``mining.mine_triplets``), and ``num_triplets`` are drawn
    at random without replacement. If fewer triplets of that kind exist, all of them are
    kept and the rest are drawn uniformly from every valid triplet of the subset (with
    replacement), so the result always has exactly ``num_triplets`` rows, shuffled.

    Args:
        model: the embedding network.
        images: (N, 1, H, W) training images.
        labels: (N,) identity labels.
        strategy: "hard", "semi-hard", "easy" or "all".
        margin: the triplet-loss margin.
        num_triplets: how many triplets to return.
        generator: source of randomness (subset, sampling, shuffling).
        subset_size: embed only this many random images (None: all). Mining costs
            about subset_size^2 * (images per person) comparisons.
        batch_size, device: passed to ``embed``.

    Returns:
        anchor_idx, positive_idx, negative_idx: (num_triplets,) long tensors indexing ``images``.
    """
    if strategy not in STRATEGIES:
        raise FaceNetEduError(f"Unknown mining strategy {strategy!r}; choose one of {', '.join(map(repr, STRATEGIES))}.")
    labels = labels_for(labels, images.shape[0], 'cpu')
    size = images.shape[0] if subset_size is None else min(subset_size, images.shape[0])
    subset = torch.randperm(images.shape[0], generator=generator)[:size].sort().values  # (S,)
    embeddings = embed(model, images[subset], batch_size=batch_size, device=device)     # (S, D), CPU
    sub_labels = labels[subset]
    dists = pairwise_distances(embeddings)
    if strategy == "semi-hard":  # FaceNet's choice: each pair's closest negative farther than its positive
        mined = semihard_negatives(dists, sub_labels, margin, fallback="skip")
    else:
        mined = mine_triplets(None, sub_labels, strategy, margin, dists=dists)
    positive_mask, negative_mask = pair_masks(sub_labels)
    if not (positive_mask.any(dim=1) & negative_mask.any(dim=1)).any():
        raise FaceNetEduError(
            f"No valid triplet among the {size} embedded images: offline mining needs at least two people, "
            "one of them with two or more images (raise subset_size or add images)."
        )
    count = len(mined[0])
    if count >= num_triplets:
        pick = torch.randperm(count, generator=generator)[:num_triplets]
        triplets = [t[pick] for t in mined]
    else:
        extra = _random_valid_triplets(sub_labels, num_triplets - count, generator)
        triplets = [torch.cat([m, e]) for m, e in zip(mined, extra)]
        order = torch.randperm(num_triplets, generator=generator)
        triplets = [t[order] for t in triplets]
    return tuple(subset[t] for t in triplets)


def _random_valid_triplets(labels: torch.Tensor, num: int, generator: torch.Generator):
    """``num`` triplets drawn uniformly (with replacement) from all valid triplets, in O(B^2) memory."""
    positive_mask, negative_mask = pair_masks(labels)
    pair_anchor, pair_positive = torch.nonzero(positive_mask, as_tuple=True)
    num_negatives = negative_mask.sum(dim=1)                  # (B,)
    weights = num_negatives[pair_anchor].double()             # each pair weighs as many triplets as it has negatives
    if num <= 0:
        empty = torch.empty(0, dtype=torch.long)
        return empty, empty, empty
    pick = torch.multinomial(weights, num, replacement=True, generator=generator)
    anchor_idx, positive_idx = pair_anchor[pick], pair_positive[pick]
    negatives_first = torch.sort(negative_mask.int(), dim=1, descending=True, stable=True).indices  # (B, B)
    slot = (torch.rand(num, generator=generator, dtype=torch.float64) * num_negatives[anchor_idx]).long()
    slot = torch.minimum(slot, num_negatives[anchor_idx] - 1)
    return anchor_idx, positive_idx, negatives_first[anchor_idx, slot]
