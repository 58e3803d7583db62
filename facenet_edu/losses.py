"""Losses that shape the embedding space: triplet losses (three ways to pick triplets) and contrastive.

Center loss (a classifier and a center per identity) has its own module, ``center_loss``.

Every batch loss takes ``(embeddings, labels, margin)`` and returns a ``LossResult``:
the loss to backpropagate and the numbers a student should watch while training. Each
reads as the paper: the distance matrix (computed here once, or passed in as
``dists=`` when the caller already has it), the mining on it (``facenet_edu.mining``),
then the hinge. Distances are plain Euclidean by default (FaceNet's paper squares them;
pass ``squared=True`` for the paper's form), the same default as ``facenet_edu.mining``.

Degenerate batches never give NaN: a batch with no valid triplet (one person only,
or nobody with two images) gives a loss of exactly 0 that still has a gradient (of
zeros) and ``num_valid == 0``. Embeddings that contain NaN raise FaceNetEduError.

No host syncs: on a GPU, nothing here makes the CPU wait for the GPU's results, so
``train`` can queue step after step. Every size is known from the shapes (masks over
all B x B pairs, masked sums instead of boolean indexing), and the numbers of a
``LossResult`` stay 0-d tensors on the device until someone reads them. The one check
that must wait, that the embeddings are finite, is skipped with ``check=False``;
``train`` passes it and checks the loss for NaN every ``train.SYNC_EVERY`` steps
instead (a non-finite embedding then always makes the loss NaN).
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .distances import pairwise_distances, safe_sqrt
from .errors import FaceNetEduError
from .inputs import check_distance_matrix, check_embeddings, labels_for
from .mining import pair_masks, semihard_negative_matrix


class LossResult(NamedTuple):
    """A loss and what it saw in the batch.

    The four numbers are 0-d tensors on the loss's device, without gradient, so that a
    training step on a GPU never waits for them; read them with ``int(...)`` and
    ``float(...)`` (or ``.item()``), which fetches them, or format them directly
    (``f"{result.mean_ap_dist:.3f}"``).

    Attributes:
        loss: scalar tensor to call ``.backward()`` on.
        num_valid: 0-d long tensor, how many terms the loss could use (triplets,
            anchor-positive pairs, anchors or pairs, depending on the loss; see each docstring).
        num_active: 0-d long tensor, how many of them have a loss > 0, i.e. still teach
            the network something.
        mean_ap_dist: 0-d float tensor, mean distance over all same-person pairs of the
            batch, in the distance the loss uses; 0 when there is no such pair.
        mean_an_dist: 0-d float tensor, mean distance over all different-person pairs; 0
            when there is none. (Every batch loss reports these two the same way, so
            curves compare across losses; 0 never hides anything because ``num_valid``
            is then 0 too.)
    """

    loss: torch.Tensor
    num_valid: torch.Tensor
    num_active: torch.Tensor
    mean_ap_dist: torch.Tensor
    mean_an_dist: torch.Tensor


def fetch_numbers(results: list[LossResult]) -> list[LossResult]:
    """The same results as Python numbers, fetched from the device in one transfer (one host sync).

    ``int(result.num_active)`` on a GPU waits for the GPU each time it is called; a
    training loop that fetches its statistics every few steps calls this once instead.

    Args:
        results: LossResults whose fields are 0-d tensors (all on one device)
            or Python numbers.

    Returns:
        One LossResult per result, of Python numbers: ``loss`` and the means floats,
        the counts ints (for a history; there is nothing left to backpropagate).
    """
    tensors = [x.detach().reshape(1).to(torch.float64) for result in results for x in result if isinstance(x, torch.Tensor)]
    values = iter(torch.cat(tensors).tolist() if tensors else [])   # the one wait
    fetched = []
    for result in results:
        loss, num_valid, num_active, ap, an = (next(values) if isinstance(x, torch.Tensor) else x for x in result)
        fetched.append(LossResult(float(loss), int(num_valid), int(num_active), float(ap), float(an)))
    return fetched


def _distances_and_labels(embeddings, labels, squared: bool, dists, check: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The (B, B) distance matrix (the one given, or computed once here) and the (B,) labels on its device."""
    check_embeddings(embeddings, values=check and dists is not None)  # pairwise_distances checks its input itself
    dists = pairwise_distances(embeddings, squared, check) if dists is None else check_distance_matrix(dists, values=check)
    if dists.shape[0] != embeddings.shape[0]:
        raise FaceNetEduError(f"dists is {tuple(dists.shape)} but there are {embeddings.shape[0]} embeddings.")
    return dists, labels_for(labels, embeddings.shape[0], dists.device)


def _zero(embeddings: torch.Tensor) -> torch.Tensor:
    """A loss of exactly 0 that is still connected to the graph (its gradient is zeros); NaN if an embedding is not finite."""
    return embeddings.sum() * 0.0


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is True, 0 (with a zero gradient) where it is nowhere; no host sync."""
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum().clamp_min(1)


def finite_or_nan(loss: torch.Tensor, embeddings: torch.Tensor, checked: bool) -> torch.Tensor:
    """``loss``, made NaN when the embeddings were not checked and one is NaN or infinite (so ``train`` sees it)."""
    return loss if checked else loss + _zero(embeddings)


@torch.no_grad()
def _pair_means(dists: torch.Tensor, positive_mask: torch.Tensor, negative_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean distance over the same-person pairs and over the different-person pairs (0-d tensors; 0 when none)."""
    return _masked_mean(dists, positive_mask), _masked_mean(dists, negative_mask)


def triplet_loss(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float,
                 squared: bool = False) -> torch.Tensor:
    """FaceNet's triplet loss on explicit triplets: mean of max(d(a, p) - d(a, n) + margin, 0).

    Our default is the plain Euclidean distance; FaceNet's paper uses squared distances
    (``squared=True``). On unit vectors the plain distance lies in [0, 2], so a margin of
    about 0.2 to 0.5 is sensible.

    Args:
        anchor, positive, negative: (T, D) embeddings, row i forming triplet i.
        margin: how much farther than the positive each negative should be.
        squared: use squared distances, as in the paper.

    Returns:
        scalar tensor (0 with a zero gradient when T == 0).
    """
    for name, x in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        check_embeddings(x)
        if x.shape != anchor.shape:
            raise FaceNetEduError(f"anchor, positive and negative must have the same shape; {name} is {tuple(x.shape)}.")
    if len(anchor) == 0:
        return _zero(anchor) + _zero(positive) + _zero(negative)
    ap_dists = ((anchor - positive) ** 2).sum(dim=1)   # (T,) squared
    an_dists = ((anchor - negative) ** 2).sum(dim=1)   # (T,) squared
    if not squared:
        ap_dists, an_dists = safe_sqrt(ap_dists), safe_sqrt(an_dists)
    return F.relu(ap_dists - an_dists + margin).mean()


def batch_all_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
                           squared: bool = False, dists: torch.Tensor | None = None, check: bool = True) -> LossResult:
    """"Batch all" (Hermans et al. 2017): mean loss over the active triplets among all valid ones.

    A triplet is active when d(a, n) < d(a, p) + margin (hard or semi-hard). The value
    equals ``triplet_loss`` on exactly those triplets, but is computed without listing
    them: the mean of d(a, p) - d(a, n) + margin over active triplets is
    (sum_ap w_ap d(a, p) - sum_an w_an d(a, n)) / T + margin, where w_ap (w_an) counts
    the active triplets using that pair and T all active triplets. Each count is a
    binary search in the anchor's sorted distances, so memory is O(B^2) and time
    O(B^2 log B), with no size that depends on the data.

    Args:
        embeddings: (B, D) tensor, L2-normalised.
        labels: (B,) identity labels.
        margin: the triplet margin.
        squared: use squared distances, as in FaceNet's paper.
        dists: (B, B) ``pairwise_distances(embeddings, squared)`` if already computed
            (then ``squared`` is not used); the loss backpropagates through it.
        check: check that the embeddings (and ``dists``) are finite, which on a GPU makes
            the CPU wait for the GPU; ``train`` passes False and watches the loss instead
            (non-finite embeddings then give a NaN loss, not an error).

    Returns:
        LossResult; num_valid counts valid triplets, num_active the active ones.
        The loss is 0 when no triplet is active.
    """
    dists, labels = _distances_and_labels(embeddings, labels, squared, dists, check)  # (B, B), (B,)
    positive_mask, negative_mask = pair_masks(labels)
    with torch.no_grad():
        # (a, p) is in as many active triplets as the anchor has negatives n with d(a, n) < d(a, p) + margin:
        # a binary search in the anchor's sorted negative distances
        sorted_an = torch.where(negative_mask, dists, float("inf")).sort(dim=1).values      # (B, B)
        per_positive = torch.searchsorted(sorted_an, dists + margin)                      # (B, B) counts for (a, p)
        ap_counts = torch.where(positive_mask, per_positive, 0)                           # (B, B): active triplets per (a, p)
        # (a, n) is in as many as the anchor has positives p with d(a, p) + margin > d(a, n)
        sorted_ap_margin = torch.where(positive_mask, dists + margin, float("inf")).sort(dim=1).values  # (B, B)
        num_positives = positive_mask.sum(dim=1, keepdim=True)                            # (B, 1)
        per_negative = num_positives - torch.searchsorted(sorted_ap_margin, dists.contiguous(), right=True).clamp(max=num_positives)
        an_weights = torch.where(negative_mask, per_negative, 0).to(dists.dtype)          # (B, B): active triplets per (a, n)
        num_active = ap_counts.sum()                                                      # exact, in integers
        ap_weights = ap_counts.to(dists.dtype)
        num_valid = (num_positives * negative_mask.sum(dim=1, keepdim=True)).sum()
    ap_mean, an_mean = _pair_means(dists, positive_mask, negative_mask)
    loss = ((ap_weights * dists).sum() - (an_weights * dists).sum()) / num_active.clamp_min(1)
    loss = torch.where(num_active > 0, loss + margin, loss)   # exactly 0 (gradient zeros) when no triplet is active
    return LossResult(finite_or_nan(loss, embeddings, check), num_valid, num_active, ap_mean, an_mean)


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
                            squared: bool = False, dists: torch.Tensor | None = None, check: bool = True) -> LossResult:
    """"Batch hard" (Hermans et al. 2017): each anchor with its farthest positive and closest negative.

    loss = mean over anchors of max(max_p d(a, p) - min_n d(a, n) + margin, 0), over the
    anchors that have at least one positive and one negative in the batch.

    Args:
        embeddings: (B, D) tensor, L2-normalised.
        labels: (B,) identity labels.
        margin: the triplet margin.
        squared: use squared distances.
        dists: (B, B) ``pairwise_distances(embeddings, squared)`` if already computed
            (then ``squared`` is not used); the loss backpropagates through it.
        check: check that the embeddings (and ``dists``) are finite, which on a GPU makes
            the CPU wait for the GPU; ``train`` passes False and watches the loss instead
            (non-finite embeddings then give a NaN loss, not an error).

    Returns:
        LossResult; num_valid counts anchors with a positive and a negative, num_active
        those with a positive loss.
    """
    dists, labels = _distances_and_labels(embeddings, labels, squared, dists, check)  # (B, B), (B,)
    positive_mask, negative_mask = pair_masks(labels)
    valid = positive_mask.any(dim=1) & negative_mask.any(dim=1)  # (B,) anchors
    ap_mean, an_mean = _pair_means(dists, positive_mask, negative_mask)
    hardest_positive = torch.where(positive_mask, dists, torch.zeros_like(dists)).amax(dim=1)          # (B,)
    hardest_negative = torch.where(negative_mask, dists, torch.full_like(dists, float("inf"))).amin(dim=1)  # (B,)
    losses = F.relu(hardest_positive - hardest_negative + margin)   # (B,); -inf + margin -> 0 without a negative
    loss = _masked_mean(losses, valid)                              # 0 with a zero gradient when no anchor is valid
    num_active = (valid & (losses > 0)).sum()
    return LossResult(finite_or_nan(loss, embeddings, check), valid.sum(), num_active, ap_mean, an_mean)


def batch_semihard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float, squared: bool = False,
                                no_semihard: str = "easiest", dists: torch.Tensor | None = None,
                                check: bool = True) -> LossResult:
    """FaceNet's online semi-hard loss: every anchor-positive pair with its hardest semi-hard negative.

    As in the paper, in three lines: the distance matrix of the batch; for each pair
    (a, p) the negative FaceNet picks, the closest one still farther than the positive
    (``mining.semihard_negatives``); then the hinge max(d(a, p) - d(a, n) + margin, 0),
    averaged over the pairs. If that negative lies beyond the margin the pair's loss is
    simply 0. When no negative is farther than the positive (all are hard),
    ``no_semihard`` decides (the miner's ``fallback``):

    - "easiest" (default, as TensorFlow Addons' ``triplet_semihard_loss``): use the
      anchor's farthest negative. The loss is the mean over all pairs.
    - "skip" (as pytorch-metric-learning's semi-hard miner): such pairs, and pairs whose
      nearest farther negative is beyond the margin, have no semi-hard triplet and are
      left out; the loss is the mean over the pairs that have one.

    Args:
        embeddings: (B, D) tensor, L2-normalised.
        labels: (B,) identity labels.
        margin: the triplet margin.
        squared: use squared distances.
        no_semihard: "easiest" or "skip", see above.
        dists: (B, B) ``pairwise_distances(embeddings, squared)`` if already computed
            (then ``squared`` is not used); the loss backpropagates through it.
        check: check that the embeddings (and ``dists``) are finite, which on a GPU makes
            the CPU wait for the GPU; ``train`` passes False and watches the loss instead
            (non-finite embeddings then give a NaN loss, not an error).

    Returns:
        LossResult; num_valid counts anchor-positive pairs whose anchor has a negative,
        num_active the pairs with a positive loss.
    """
    dists, labels = _distances_and_labels(embeddings, labels, squared, dists, check)  # (B, B), (B,)
    positive_mask, negative_mask = pair_masks(labels)
    ap_mean, an_mean = _pair_means(dists, positive_mask, negative_mask)
    num_valid = (positive_mask & negative_mask.any(dim=1, keepdim=True)).sum()  # pairs whose anchor has a negative
    negative_idx, keep = semihard_negative_matrix(dists, labels, margin, fallback=no_semihard, check=False)  # (B, B) each
    losses = F.relu(dists - dists.gather(1, negative_idx) + margin)  # (B, B): the hinge of pair (a, p) with its negative
    loss = _masked_mean(losses, keep)                                # over the kept pairs; 0 when there is none
    num_active = (keep & (losses > 0)).sum()
    return LossResult(finite_or_nan(loss, embeddings, check), num_valid, num_active, ap_mean, an_mean)


def contrastive_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
                     dists: torch.Tensor | None = None, check: bool = True) -> LossResult:
    """Contrastive loss (Hadsell et al. 2006) on every pair of the batch.

    Same-person pairs are pulled together by d^2; different-person pairs are pushed
    apart by max(margin - d, 0)^2, until they are ``margin`` apart. Each pair is counted
    once (i < j). The two terms are averaged separately and added,
    loss = mean_pos d^2 + mean_neg max(margin - d, 0)^2, so that the many negative pairs
    of a P x K batch do not drown the few positive ones (Hadsell's 1/2 factors are
    dropped; they only rescale the learning rate). A term with no pair is 0.

    Args:
        embeddings: (B, D) tensor, L2-normalised.
        labels: (B,) identity labels.
        margin: distance beyond which a negative pair costs nothing (unit vectors: at most 2).
        dists: (B, B) ``pairwise_distances(embeddings)`` (plain, not squared) if already computed.
        check: check that the embeddings (and ``dists``) are finite, which on a GPU makes
            the CPU wait for the GPU; ``train`` passes False and watches the loss instead
            (non-finite embeddings then give a NaN loss, not an error).

    Returns:
        LossResult; num_valid counts pairs, num_active positive pairs at distance > 0
        plus negative pairs closer than the margin.
    """
    if dists is None:
        squared, labels = _distances_and_labels(embeddings, labels, True, None, check)  # (B, B), (B,)
        dists = safe_sqrt(squared)
    else:
        dists, labels = _distances_and_labels(embeddings, labels, False, dists, check)
        squared = dists**2                                      # (B, B)
    positive_mask, negative_mask = pair_masks(labels)
    upper = torch.ones_like(positive_mask).triu(diagonal=1)   # each pair once
    positive_mask, negative_mask = positive_mask & upper, negative_mask & upper
    ap_mean, an_mean = _pair_means(dists, positive_mask, negative_mask)
    loss = _zero(dists) + _masked_mean(squared, positive_mask) + _masked_mean(F.relu(margin - dists).pow(2), negative_mask)
    with torch.no_grad():
        num_active = (positive_mask & (dists > 0)).sum() + (negative_mask & (dists < margin)).sum()
    num_valid = positive_mask.sum() + negative_mask.sum()
    return LossResult(finite_or_nan(loss, embeddings, check), num_valid, num_active, ap_mean, an_mean)
