"""Which triplets of a batch are hard, semi-hard or easy, and which negative FaceNet picks.

A triplet (anchor, positive, negative) is valid when the positive shows the same
person as the anchor (but is another image) and the negative shows someone else.
With ``ap_dists`` = d(a, p) and ``an_dists`` = d(a, n), FaceNet (Schroff et al. 2015)
sorts valid triplets into three kinds:

    hard       d(a, n) <= d(a, p)                  the negative is at least as close as the positive
    semi-hard  d(a, p) <  d(a, n) < d(a, p) + margin   farther than the positive, but inside the margin
    easy       d(a, n) >= d(a, p) + margin         already satisfied: the triplet loss is 0

Ties d(a, n) == d(a, p) count as hard (the paper leaves them out of "semi-hard"), so
the three kinds split all valid triplets with nothing left over. ``triplet_kind_masks``
says exactly this with (B, B, B) masks: the definition, for small batches and tests.

FaceNet's online miner (``semihard_negatives``) uses, for every anchor-positive pair,
the closest negative that is still farther than the positive. The batch losses
(``facenet_edu.losses``), the offline miner (``facenet_edu.offline``) and the widgets
all take their semi-hard negative from that one function.

Nothing else here builds a (B, B, B) tensor. Each anchor's negatives are sorted by
distance once; then, for every pair of the batch, two binary searches find where
its hard, semi-hard and easy negatives start and stop in that order. The training
losses use this in fixed-size (B, B) form (``semihard_negative_matrix``), so that on
a GPU no step waits for a count; the functions that list triplets cannot avoid it. Counting costs
O(B^2 log B) time and O(B^2) memory; listing triplets costs that plus the triplets
listed, so B = 4096 runs on a laptop. Every function takes the (B, B) distance matrix
(``facenet_edu.distances.pairwise_distances``), computed once per batch by the caller.
"""

import torch

from .distances import pairwise_distances
from .errors import FaceNetEduError
from .inputs import check_distance_matrix, labels_for

STRATEGIES = ("hard", "semi-hard", "easy", "all")
FALLBACKS = ("easiest", "skip")


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


def valid_triplet_mask(labels: torch.Tensor) -> torch.Tensor:
    """(B, B, B) bool mask, True at [a, p, n] when (a, p, n) is a valid triplet: the definition, O(B^3) memory.

    Args:
        labels: (B,) identity labels.
    """
    positive_mask, negative_mask = pair_masks(labels)           # (B, B) each
    return positive_mask[:, :, None] & negative_mask[:, None, :]


def triplet_kind_masks(dists: torch.Tensor, labels: torch.Tensor, margin: float) -> dict[str, torch.Tensor]:
    """FaceNet's three kinds of valid triplet as plain (B, B, B) masks: the reference the fast code is tested against.

    Args:
        dists: (B, B) distance matrix.
        labels: (B,) identity labels.
        margin: the triplet-loss margin.

    Returns:
        {"hard", "semi-hard", "easy": (B, B, B) bool masks indexed [a, p, n]}; they split
        ``valid_triplet_mask(labels)`` with nothing left over. Use for small batches only.
    """
    dists = check_distance_matrix(dists)
    valid = valid_triplet_mask(labels_for(labels, dists.shape[0], dists.device))
    ap_dists, an_dists = dists[:, :, None], dists[:, None, :]  # broadcast to (B, B, B) as [a, p, n]
    hard = an_dists <= ap_dists
    inside = an_dists < ap_dists + margin                       # the triplet loss is positive
    return {"hard": valid & hard, "semi-hard": valid & ~hard & inside, "easy": valid & ~hard & ~inside}


def _distances(embeddings, dists, squared):
    return pairwise_distances(embeddings, squared) if dists is None else check_distance_matrix(dists)


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
    labels = labels_for(labels, dists.shape[0], dists.device)
    ranks = _negative_ranks(dists, labels, margin)
    zero, hard, inside, num = torch.zeros_like(ranks["num"]), ranks["hard"], ranks["inside"], ranks["num"]
    # (M,) each: the ranks [first, stop) of the anchor's sorted negatives that are of this kind, per pair
    first, stop = {"hard": (zero, hard), "semi-hard": (hard, inside), "easy": (inside, num), "all": (zero, num)}[strategy]
    lengths = (stop - first).clamp_min(0)                                # (M,) triplets per pair
    pair = torch.repeat_interleave(torch.arange(len(lengths), device=dists.device), lengths)  # (T,)
    rank = torch.arange(len(pair), device=dists.device) - (lengths.cumsum(0) - lengths)[pair] + first[pair]  # (T,)
    anchor_idx = ranks["anchor_idx"][pair]
    return anchor_idx, ranks["positive_idx"][pair], ranks["order"][anchor_idx, rank]


def _rank_matrix(dists: torch.Tensor, labels: torch.Tensor, margin: float) -> dict:
    """Each anchor's negatives sorted by distance, and where each kind of negative sits, for every pair of the batch.

    For a pair (a, p), the anchor's negatives in ranks [0, hard[a, p]) satisfy
    d(a, n) <= d(a, p) (hard), ranks [hard[a, p], inside[a, p]) satisfy
    d(a, p) < d(a, n) < d(a, p) + margin (semi-hard), and ranks [inside[a, p], num[a]) are
    easy. Computed for all B x B pairs, so every size is known before the GPU runs
    (no host sync); only the pairs of ``positive_mask`` are anchor-positive pairs.

    Returns:
        dict with "positive_mask", "negative_mask" (B, B) bool; "order" (B, B) negative
        indices of each anchor sorted by distance (non-negatives last); "hard", "inside"
        (B, B) long rank boundaries, with inside >= hard; "num" (B, 1) negatives per anchor.
    """
    positive_mask, negative_mask = pair_masks(labels)
    sorted_an, order = torch.where(negative_mask, dists, float("inf")).sort(dim=1, stable=True)  # (B, B), nearest first, ties by index
    num = negative_mask.sum(dim=1, keepdim=True)                                        # (B, 1) negatives of each anchor
    hard = torch.searchsorted(sorted_an, dists.contiguous(), right=True).clamp(max=num)  # (B, B) #negatives <= d(a, p)
    inside = torch.searchsorted(sorted_an, dists + margin).clamp(max=num)               # (B, B) #negatives < d(a, p) + margin
    return {"positive_mask": positive_mask, "negative_mask": negative_mask, "order": order,
            "hard": hard, "inside": torch.maximum(hard, inside), "num": num}


def _negative_ranks(dists: torch.Tensor, labels: torch.Tensor, margin: float) -> dict:
    """``_rank_matrix`` for the anchor-positive pairs only, listed in row order.

    Returns:
        dict with "anchor_idx", "positive_idx" (M,) all anchor-positive pairs in row order;
        "order" (B, B) as in ``_rank_matrix``; "hard", "inside", "num" (M,) rank boundaries.
    """
    ranks = _rank_matrix(dists, labels, margin)
    anchor_idx, positive_idx = torch.nonzero(ranks["positive_mask"], as_tuple=True)  # (M,) each
    return {"anchor_idx": anchor_idx, "positive_idx": positive_idx, "order": ranks["order"],
            "hard": ranks["hard"][anchor_idx, positive_idx], "inside": ranks["inside"][anchor_idx, positive_idx],
            "num": ranks["num"][anchor_idx, 0]}


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
    dists = check_distance_matrix(dists)
    labels = labels_for(labels, dists.shape[0], dists.device)
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
    dists = check_distance_matrix(dists)
    labels = labels_for(labels, dists.shape[0], dists.device)
    ranks = _negative_ranks(dists, labels, margin)
    hard, semi_hard, easy = ranks["hard"], ranks["inside"] - ranks["hard"], ranks["num"] - ranks["inside"]  # (M,) each
    return {"easy": int(easy.sum()), "semi-hard": int(semi_hard.sum()), "hard": int(hard.sum())}


@torch.no_grad()
def semihard_negative_matrix(dists: torch.Tensor, labels: torch.Tensor, margin: float, fallback: str = "easiest",
                             check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """FaceNet's online choice for every pair of the batch at once, in fixed-size (B, B) tensors.

    The same choice as ``semihard_negatives`` (see there), made for all B x B pairs
    (a, x) and returned with a mask of the pairs kept rather than as a list, so that no
    size depends on the data and a GPU never makes the CPU wait: the form the
    semi-hard loss uses in training.

    Args:
        dists: (B, B) distance matrix (its gradient is not used).
        labels: (B,) identity labels.
        margin: the triplet-loss margin.
        fallback: "easiest" or "skip", as in ``semihard_negatives``.
        check: check ``dists`` for NaN (a host sync on a GPU); the losses pass False
            when they have checked already or were asked not to.

    Returns:
        negative_idx (B, B) long: at [a, p], the negative chosen for the pair (a, p)
        (a valid index, but meaningless where ``keep`` is False); keep (B, B) bool: the
        anchor-positive pairs that ``semihard_negatives`` returns.
    """
    if fallback not in FALLBACKS:
        raise FaceNetEduError(f"fallback (no_semihard) must be 'easiest' or 'skip', got {fallback!r}.")
    dists = check_distance_matrix(dists, values=check).detach()
    labels = labels_for(labels, dists.shape[0], dists.device)
    ranks = _rank_matrix(dists, labels, margin)
    nearest_farther, num = ranks["hard"], ranks["num"]   # (B, B) rank of the first negative > d(a, p); (B, 1) negatives
    if fallback == "easiest":
        keep = ranks["positive_mask"] & (num > 0)
        rank = torch.where(nearest_farther < num, nearest_farther, (num - 1).clamp_min(0))  # else the farthest negative
    else:
        keep = ranks["positive_mask"] & (ranks["inside"] > nearest_farther)  # that negative is inside the margin: semi-hard
        rank = nearest_farther.clamp(max=dists.shape[0] - 1)                 # (a row without negatives: any index)
    return ranks["order"].gather(1, rank), keep


@torch.no_grad()
def semihard_negatives(dists: torch.Tensor, labels: torch.Tensor, margin: float,
                       fallback: str = "easiest") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """FaceNet's online choice: for every anchor-positive pair, the closest negative farther than the positive.

    The chosen negative n minimises d(a, n) subject to d(a, n) > d(a, p) (ties: the lower
    index). When it lies inside the margin it is the pair's hardest semi-hard negative;
    beyond the margin the pair is already satisfied. What happens to the pairs without a
    semi-hard negative is ``fallback``:

    - "easiest" (default, TensorFlow Addons' ``triplet_semihard_loss``, the usual FaceNet
      reimplementation): every pair whose anchor has a negative is kept. A pair whose
      nearest farther negative lies beyond the margin keeps it (its loss is 0); a pair
      with no negative farther than the positive (all hard) gets the anchor's farthest,
      easiest negative.
    - "skip" (pytorch-metric-learning's semi-hard miner): only pairs whose chosen
      negative is semi-hard are returned.

    The choice is made by ``semihard_negative_matrix`` for every pair at once; this
    function lists the kept pairs.

    Args:
        dists: (B, B) distance matrix (its gradient is not used: choosing is not differentiated).
        labels: (B,) identity labels.
        margin: the triplet-loss margin.
        fallback: "easiest" or "skip", see above.

    Returns:
        anchor_idx, positive_idx, negative_idx: three (M,) long tensors, one row per kept
        pair, sorted by anchor, then positive.
    """
    negative_idx, keep = semihard_negative_matrix(dists, labels, margin, fallback)  # (B, B) each
    anchor_idx, positive_idx = torch.nonzero(keep, as_tuple=True)                  # (M,) each, row order
    return anchor_idx, positive_idx, negative_idx[anchor_idx, positive_idx]


def select_negatives(dists: torch.Tensor, labels: torch.Tensor, anchor: int, positive: int, margin: float) -> dict:
    """Which negative each online strategy would use for one anchor-positive pair.

    Args:
        dists, labels, anchor, positive, margin: as in ``negative_categories``.

    Returns:
        {"batch-hard": index of the anchor's closest negative (whatever the positive), or None
        if the anchor has no negative; "semi-hard": the pair's negative from
        ``semihard_negatives`` (fallback "skip"), or None if it has no semi-hard negative;
        "batch-all": (N,) long tensor of every negative with a positive loss,
        d(a, n) < d(a, p) + margin}. Ties are broken by the lower index.
    """
    negative_idx, an_dists, _ = negative_categories(dists, labels, anchor, positive, margin)
    ap_dist = dists[anchor, positive].detach()
    batch_hard = int(negative_idx[an_dists.argmin()]) if len(negative_idx) else None
    anchor_idx, positive_idx, chosen = semihard_negatives(dists, labels, margin, fallback="skip")
    row = torch.nonzero((anchor_idx == anchor) & (positive_idx == positive)).flatten()
    semi_hard = int(chosen[row[0]]) if len(row) else None
    return {"batch-hard": batch_hard, "semi-hard": semi_hard, "batch-all": negative_idx[an_dists < ap_dist + margin]}
