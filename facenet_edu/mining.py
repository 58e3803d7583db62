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
distance once; then, for every anchor-positive pair, two binary searches find where
its hard, semi-hard and easy negatives start and stop in that order. Counting costs
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
    sorted_an, order = torch.where(negative_mask, dists, inf).sort(dim=1, stable=True)  # (B, B), nearest first, ties by index
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
    hard, semi_hard, easy = ranks["hard"], ranks["inside"] - ranks["hard"], ranks["num"] - ranks["inside"]
    return {"easy": int(easy.sum()), "semi-hard": int(semi_hard.sum()), "hard": int(hard.sum())}


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

    Args:
        dists: (B, B) distance matrix (its gradient is not used: choosing is not differentiated).
        labels: (B,) identity labels.
        margin: the triplet-loss margin.
        fallback: "easiest" or "skip", see above.

    Returns:
        anchor_idx, positive_idx, negative_idx: three (M,) long tensors, one row per kept
        pair, sorted by anchor, then positive.
    """
    if fallback not in FALLBACKS:
        raise FaceNetEduError(f"fallback (no_semihard) must be 'easiest' or 'skip', got {fallback!r}.")
    dists = check_distance_matrix(dists).detach()
    labels = labels_for(labels, dists.shape[0], dists.device)
    ranks = _negative_ranks(dists, labels, margin)
    nearest_farther, num = ranks["hard"], ranks["num"]      # (M,) rank of the first negative > d(a, p); negatives
    if fallback == "easiest":
        keep = num > 0
        rank = torch.where(nearest_farther < num, nearest_farther, num - 1)  # else the farthest negative
    else:
        keep = ranks["inside"] > nearest_farther            # that negative is inside the margin: semi-hard
        rank = nearest_farther
    anchor_idx, positive_idx = ranks["anchor_idx"][keep], ranks["positive_idx"][keep]
    return anchor_idx, positive_idx, ranks["order"][anchor_idx, rank[keep]]


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
