"""Distances between embeddings, and which triplets of a batch are hard, semi-hard or easy.

A triplet (anchor, positive, negative) is valid when the positive shows the same
person as the anchor (but is another image) and the negative shows someone else.
With ``ap_dists`` = d(a, p) and ``an_dists`` = d(a, n), FaceNet (Schroff et al. 2015)
sorts valid triplets into three kinds:

    hard       d(a, n) <= d(a, p)                  the negative is at least as close as the positive
    semi-hard  d(a, p) <  d(a, n) < d(a, p) + margin   farther than the positive, but inside the margin
    easy       d(a, n) >= d(a, p) + margin         already satisfied: the triplet loss is 0

Ties d(a, n) == d(a, p) count as hard (the paper leaves them out of "semi-hard"), so
the three kinds split all valid triplets with nothing left over. Distances are plain
Euclidean by default; ``squared=True`` gives the paper's squared distances.

Nothing here builds a (B, B, B) tensor. Each anchor's negatives are sorted by distance
once; then, for every anchor-positive pair, two binary searches find where its hard,
semi-hard and easy negatives start and stop in that order. Counting costs O(B^2 log B)
time and O(B^2) memory; listing triplets costs that plus the triplets listed, so
B = 4096 runs on a laptop.
"""

import torch

from .errors import FaceNetEduError
from .model import embed

STRATEGIES = ("hard", "semi-hard", "easy", "all")
_CHUNK_ELEMENTS = 1 << 22  # elements of one (pairs, B) block in batch_all_triplet_loss


def check_embeddings(embeddings: torch.Tensor) -> None:
    """Raise FaceNetEduError unless ``embeddings`` is a finite (B, D) tensor."""
    if not isinstance(embeddings, torch.Tensor) or embeddings.ndim != 2:
        shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else type(embeddings).__name__
        raise FaceNetEduError(f"Embeddings must be a (B, D) tensor, got {shape}.")
    if not torch.isfinite(embeddings).all():
        raise FaceNetEduError(
            "The embeddings contain NaN or infinite values, so no distance can be computed; "
            "training has probably diverged: lower the learning rate and check the input images."
        )


def _check_labels(labels: torch.Tensor, size: int) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.ndim != 1 or labels.shape[0] != size:
        raise FaceNetEduError(f"Need one label per embedding: {size} embeddings but labels of shape {tuple(labels.shape)}.")
    return labels


def safe_sqrt(squared: torch.Tensor) -> torch.Tensor:
    """Square root that is exactly 0, with gradient 0 (not inf or NaN), where its input is 0."""
    zero = squared <= 0
    root = torch.sqrt(torch.where(zero, torch.ones_like(squared), squared))
    return torch.where(zero, torch.zeros_like(squared), root)


def pairwise_distances(embeddings: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """Euclidean distance between every pair of embeddings.

    Uses ||x - y||^2 = ||x||^2 - 2 x.y + ||y||^2 (one matrix product), clamps rounding
    errors below zero, makes the matrix exactly symmetric, puts exact zeros on the
    diagonal, and takes the square root only where the distance is positive, so
    gradients stay finite for identical embeddings.

    Args:
        embeddings: (B, D) tensor (usually L2-normalised, but any finite vectors work).
        squared: return squared distances (FaceNet's paper) instead of distances.

    Returns:
        (B, B) symmetric tensor with zeros on the diagonal.
    """
    check_embeddings(embeddings)
    dot = embeddings @ embeddings.T                          # (B, B)
    norms = dot.diagonal()                                   # (B,) squared lengths
    d2 = norms[:, None] - 2 * dot + norms[None, :]            # (B, B)
    d2 = ((d2 + d2.T) / 2).clamp_min(0)                      # exactly symmetric despite rounding
    eye = torch.eye(len(embeddings), dtype=torch.bool, device=embeddings.device)
    d2 = d2.masked_fill(eye, 0.0)
    return d2 if squared else safe_sqrt(d2)


def pair_masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Which pairs are anchor-positive and which anchor-negative.

    Args:
        labels: (B,) identity labels.

    Returns:
        positive_mask (B, B): same label and not the same image; negative_mask (B, B): different label.
    """
    same = labels[:, None] == labels[None, :]                 # (B, B)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def searchsorted_rows(sorted_rows: torch.Tensor, rows: torch.Tensor, values: torch.Tensor, right: bool = False) -> torch.Tensor:
    """Binary-search each value in its own row of a row-sorted matrix.

    Args:
        sorted_rows: (B, N) tensor, each row sorted ascending.
        rows: (M,) long tensor of row indices, in ascending order (as ``torch.nonzero`` gives them).
        values: (M,) values to look up, value i in row rows[i].
        right: as in ``torch.searchsorted``: False counts entries < value, True entries <= value.

    Returns:
        (M,) long tensor: for each value, how many entries of its row come before it.
    """
    if len(rows) == 0:
        return torch.empty(0, dtype=torch.long, device=rows.device)
    counts = torch.bincount(rows, minlength=sorted_rows.shape[0])     # (B,) values per row
    slot = torch.arange(len(rows), device=rows.device) - (counts.cumsum(0) - counts)[rows]  # (M,) place within its row
    table = torch.zeros(sorted_rows.shape[0], int(counts.max()), dtype=sorted_rows.dtype, device=rows.device)
    table[rows, slot] = values                                         # (B, max values per row), zero-padded
    found = torch.searchsorted(sorted_rows.contiguous(), table, right=right)  # (B, max values per row)
    return found[rows, slot]


def _category_masks(ap_dists: torch.Tensor, an_dists: torch.Tensor, margin: float, strategy: str) -> torch.Tensor:
    """Boolean mask of the triplets of one kind; ap_dists and an_dists broadcast together."""
    hard = an_dists <= ap_dists
    if strategy == "hard":
        return hard
    inside = an_dists < ap_dists + margin                     # the triplet loss is positive
    if strategy == "semi-hard":
        return ~hard & inside
    if strategy == "easy":
        return ~hard & ~inside
    return torch.ones_like(hard)                              # "all"


def _distances(embeddings, dists, squared):
    if dists is None:
        return pairwise_distances(embeddings, squared)
    if dists.ndim != 2 or dists.shape[0] != dists.shape[1]:
        raise FaceNetEduError(f"dists must be a square (B, B) distance matrix, got shape {tuple(dists.shape)}.")
    if torch.isnan(dists).any():
        raise FaceNetEduError("The distance matrix contains NaN; the embeddings it came from are not finite.")
    return dists


@torch.no_grad()
def mine_triplets(embeddings: torch.Tensor | None, labels: torch.Tensor, strategy: str, margin: float,
                  squared: bool = False, dists: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every valid triplet of one kind in the batch (online mining, FaceNet's definitions).

    Args:
        embeddings: (B, D) tensor; may be None when ``dists`` is given.
        labels: (B,) identity labels.
        strategy: "hard", "semi-hard", "easy" or "all" (see the module docstring).
        margin: the triplet-loss margin.
        squared: mine on squared distances (only used when ``dists`` is None).
        dists: (B, B) precomputed distance matrix, to compute it once per batch.

    Returns:
        anchor_idx, positive_idx, negative_idx: three (T,) long tensors, sorted by
        anchor, then positive; each pair's negatives nearest first.
    """
    if strategy not in STRATEGIES:
        raise FaceNetEduError(f"Unknown mining strategy {strategy!r}; choose one of {', '.join(map(repr, STRATEGIES))}.")
    dists = _distances(embeddings, dists, squared)
    labels = _check_labels(labels, dists.shape[0]).to(dists.device)
    ranks = _negative_ranks(dists, labels, margin)
    zero, hard, inside, num = torch.zeros_like(ranks["num"]), ranks["hard"], ranks["inside"], ranks["num"]
    # (M,) each: the ranks [first, stop) of the anchor's sorted negatives that are of this kind, per pair
    first, stop = {"hard": (zero, hard), "semi-hard": (hard, inside), "easy": (inside, num), "all": (zero, num)}[strategy]
    lengths = (stop - first).clamp_min(0)                                # (M,) triplets per pair
    pair = torch.repeat_interleave(torch.arange(len(lengths), device=dists.device), lengths)  # (T,)
    rank = torch.arange(len(pair), device=dists.device) - (lengths.cumsum(0) - lengths)[pair] + first[pair]  # (T,)
    anchor_idx = ranks["anchor_idx"][pair]
    return anchor_idx, ranks["positive_idx"][pair], ranks["order"][anchor_idx, rank]


def _negative_ranks(dists: torch.Tensor, labels: torch.Tensor, margin: float) -> dict:
    """Each anchor's negatives sorted by distance, and where each kind of negative sits for every pair.

    For anchor-positive pair i (anchor a, positive p), the anchor's negatives in ranks
    [0, hard[i]) satisfy d(a, n) <= d(a, p) (hard), ranks [hard[i], inside[i]) satisfy
    d(a, p) < d(a, n) < d(a, p) + margin (semi-hard), and ranks [inside[i], num[i]) are easy.

    Returns:
        dict with "anchor_idx", "positive_idx" (M,) all anchor-positive pairs in row order;
        "order" (B, B) negative indices of each anchor sorted by distance (non-negatives last);
        "hard", "inside", "num" (M,) rank boundaries, with inside >= hard.
    """
    positive_mask, negative_mask = pair_masks(labels)
    inf = torch.tensor(float("inf"), dtype=dists.dtype, device=dists.device)
    sorted_an, order = torch.where(negative_mask, dists, inf).sort(dim=1)  # (B, B), nearest negative first
    anchor_idx, positive_idx = torch.nonzero(positive_mask, as_tuple=True)  # (M,) each
    ap_dists = dists[anchor_idx, positive_idx]                             # (M,)
    num = negative_mask.sum(dim=1)[anchor_idx]                             # (M,) negatives of the pair's anchor
    hard = searchsorted_rows(sorted_an, anchor_idx, ap_dists, right=True).clamp(max=num)  # #negatives <= d(a, p)
    inside = searchsorted_rows(sorted_an, anchor_idx, ap_dists + margin).clamp(max=num)   # #negatives < d(a, p) + margin
    return {"anchor_idx": anchor_idx, "positive_idx": positive_idx, "order": order,
            "hard": hard, "inside": torch.maximum(hard, inside), "num": num}


def _check_pair(labels: torch.Tensor, anchor: int, positive: int) -> None:
    size = len(labels)
    if not (0 <= anchor < size and 0 <= positive < size):
        raise FaceNetEduError(f"anchor and positive must be indices in 0..{size - 1}, got {anchor} and {positive}.")
    if anchor == positive or labels[anchor] != labels[positive]:
        raise FaceNetEduError(
            f"Images {anchor} and {positive} are not an anchor-positive pair: pick two different images of the same person."
        )


def negative_categories(dists: torch.Tensor, labels: torch.Tensor, anchor: int, positive: int,
                        margin: float) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Label every negative of one anchor-positive pair as "hard", "semi-hard" or "easy".

    Args:
        dists: (B, B) distance matrix.
        labels: (B,) identity labels.
        anchor, positive: indices of two different images of the same person.
        margin: the triplet-loss margin.

    Returns:
        negative_idx (N,) long tensor, an_dists (N,) their distances to the anchor,
        and a list of N category names.
    """
    dists = _distances(None, dists, False)
    labels = _check_labels(labels, dists.shape[0]).to(dists.device)
    _check_pair(labels, anchor, positive)
    negative_idx = torch.nonzero(labels != labels[anchor]).squeeze(1)
    an_dists = dists[anchor, negative_idx].detach()
    ap_dist = dists[anchor, positive].detach()
    hard = (an_dists <= ap_dist).tolist()
    inside = (an_dists < ap_dist + margin).tolist()
    names = ["hard" if h else "semi-hard" if i else "easy" for h, i in zip(hard, inside)]
    return negative_idx, an_dists, names


@torch.no_grad()
def count_triplet_categories(dists: torch.Tensor, labels: torch.Tensor, margin: float) -> dict[str, int]:
    """How many valid triplets are easy, semi-hard and hard, in O(B^2) memory.

    Per anchor, the negative distances are sorted once; for each positive, a binary
    search counts the negatives no farther than d(a, p) (hard) and closer than
    d(a, p) + margin (hard or semi-hard). Fast enough for a margin slider at B = 1000.

    Args:
        dists: (B, B) distance matrix.
        labels: (B,) identity labels.
        margin: the triplet-loss margin.

    Returns:
        {"easy": int, "semi-hard": int, "hard": int}; the three add up to the number of valid triplets.
    """
    dists = _distances(None, dists, False)
    labels = _check_labels(labels, dists.shape[0]).to(dists.device)
    ranks = _negative_ranks(dists, labels, margin)
    hard, semi_hard, easy = ranks["hard"], ranks["inside"] - ranks["hard"], ranks["num"] - ranks["inside"]
    return {"easy": int(easy.sum()), "semi-hard": int(semi_hard.sum()), "hard": int(hard.sum())}


def select_negatives(dists: torch.Tensor, labels: torch.Tensor, anchor: int, positive: int, margin: float) -> dict:
    """Which negative each online strategy would use for one anchor-positive pair.

    Args:
        dists: (B, B) distance matrix.
        labels: (B,) identity labels.
        anchor, positive: indices of two different images of the same person.
        margin: the triplet-loss margin.

    Returns:
        {"batch-hard": index of the anchor's closest negative (whatever the positive), or None
        if the anchor has no negative; "semi-hard": index of the closest negative with
        d(a, p) < d(a, n) < d(a, p) + margin, or None if there is none; "batch-all": (N,) long
        tensor of every negative with a positive loss, d(a, n) < d(a, p) + margin}.
        Ties are broken by the lower index.
    """
    negative_idx, an_dists, _ = negative_categories(dists, labels, anchor, positive, margin)
    ap_dist = dists[anchor, positive].detach()
    batch_hard = int(negative_idx[an_dists.argmin()]) if len(negative_idx) else None
    semi = _category_masks(ap_dist, an_dists, margin, "semi-hard")
    semi_hard = None
    if semi.any():
        candidates = torch.where(semi, an_dists, torch.full_like(an_dists, float("inf")))
        semi_hard = int(negative_idx[candidates.argmin()])
    return {"batch-hard": batch_hard, "semi-hard": semi_hard, "batch-all": negative_idx[an_dists < ap_dist + margin]}


@torch.no_grad()
def mine_offline(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, strategy: str, margin: float,
                 num_triplets: int, generator: torch.Generator, subset_size: int | None = None, batch_size: int = 256,
                 device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FaceNet's offline mining: embed (part of) the training set, then choose triplets from it.

    The current network embeds a random subset of the images (eval mode, no gradient),
    all triplets of ``strategy`` are mined among them, and ``num_triplets`` are drawn
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
    labels = _check_labels(labels, images.shape[0]).cpu()
    size = images.shape[0] if subset_size is None else min(subset_size, images.shape[0])
    subset = torch.randperm(images.shape[0], generator=generator)[:size].sort().values  # (S,)
    embeddings = embed(model, images[subset], batch_size=batch_size, device=device)     # (S, D), CPU
    sub_labels = labels[subset]
    dists = pairwise_distances(embeddings)
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
