"""The loss path as it was before issue 21 (host syncs removed), kept verbatim to test that nothing changed.

Copied from ``facenet_edu/losses.py`` and ``facenet_edu/mining.py`` at commit f270eba (only
the imports are new, and ``CenterLoss`` takes its constructor from the package). Not
used by the package; ``tests/test_losses.py`` compares values and gradients with it.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F

import facenet_edu.center_loss
from facenet_edu.distances import pairwise_distances, safe_sqrt
from facenet_edu.errors import FaceNetEduError
from facenet_edu.inputs import check_distance_matrix, check_embeddings, labels_for
from facenet_edu.mining import FALLBACKS, pair_masks


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


_CHUNK_ELEMENTS = 1 << 22  # elements of one (pairs, B) block in batch_all_triplet_loss


class LossResult(NamedTuple):
    """A loss and what it saw in the batch.

    Attributes:
        loss: scalar tensor to call ``.backward()`` on.
        num_valid: how many terms the loss could use (triplets, anchor-positive pairs,
            anchors or pairs, depending on the loss; see each docstring).
        num_active: how many of them have a loss > 0, i.e. still teach the network something.
        mean_ap_dist: mean distance over all same-person pairs of the batch, in the
            distance the loss uses; 0.0 when there is no such pair.
        mean_an_dist: mean distance over all different-person pairs; 0.0 when there is none.
            (Every batch loss reports these two the same way, so curves compare across
            losses; 0.0 never hides anything because ``num_valid`` is then 0 too.)
    """

    loss: torch.Tensor
    num_valid: int
    num_active: int
    mean_ap_dist: float
    mean_an_dist: float


def _distances_and_labels(embeddings, labels, squared: bool, dists) -> tuple[torch.Tensor, torch.Tensor]:
    """The (B, B) distance matrix (the one given, or computed once here) and the (B,) labels on its device."""
    check_embeddings(embeddings)
    dists = pairwise_distances(embeddings, squared) if dists is None else check_distance_matrix(dists)
    if dists.shape[0] != embeddings.shape[0]:
        raise FaceNetEduError(f"dists is {tuple(dists.shape)} but there are {embeddings.shape[0]} embeddings.")
    return dists, labels_for(labels, embeddings.shape[0], dists.device)


def _zero(embeddings: torch.Tensor) -> torch.Tensor:
    """A loss of exactly 0 that is still connected to the graph (its gradient is zeros)."""
    return embeddings.sum() * 0.0


@torch.no_grad()
def _pair_means(dists: torch.Tensor, positive_mask: torch.Tensor, negative_mask: torch.Tensor) -> tuple[float, float]:
    ap = float(dists[positive_mask].mean()) if positive_mask.any() else 0.0
    an = float(dists[negative_mask].mean()) if negative_mask.any() else 0.0
    return ap, an


def batch_all_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
                           squared: bool = False, dists: torch.Tensor | None = None) -> LossResult:
    """"Batch all" (Hermans et al. 2017): mean loss over the active triplets among all valid ones.

    A triplet is active when d(a, n) < d(a, p) + margin (hard or semi-hard). The value
    equals ``triplet_loss`` on exactly those triplets, but is computed without listing
    them: the mean of d(a, p) - d(a, n) + margin over active triplets is
    (sum_ap w_ap d(a, p) - sum_an w_an d(a, n)) / T + margin, where w_ap (w_an) counts
    the active triplets using that pair and T all active triplets. The counts are found
    pair by pair, so memory is O(B^2) and the time O(B^2 K) for P x K batches.

    Args:
        embeddings: (B, D) tensor, L2-normalised.
        labels: (B,) identity labels.
        margin: the triplet margin.
        squared: use squared distances, as in FaceNet's paper.
        dists: (B, B) ``pairwise_distances(embeddings, squared)`` if already computed
            (then ``squared`` is not used); the loss backpropagates through it.

    Returns:
        LossResult; num_valid counts valid triplets, num_active the active ones.
        The loss is 0 when no triplet is active.
    """
    dists, labels = _distances_and_labels(embeddings, labels, squared, dists)  # (B, B), (B,)
    positive_mask, negative_mask = pair_masks(labels)
    with torch.no_grad():
        ap_weights = torch.zeros_like(dists)                   # (B, B): active triplets per (a, p)
        an_weights = torch.zeros_like(dists)                   # (B, B): active triplets per (a, n)
        pair_anchor, pair_positive = torch.nonzero(positive_mask, as_tuple=True)
        chunk = max(1, _CHUNK_ELEMENTS // max(1, len(labels)))
        for start in range(0, len(pair_anchor), chunk):
            a, p = pair_anchor[start : start + chunk], pair_positive[start : start + chunk]
            active = negative_mask[a] & (dists[a] < dists[a, p][:, None] + margin)  # (c, B)
            ap_weights[a, p] = active.sum(dim=1).to(dists.dtype)
            an_weights.index_add_(0, a, active.to(dists.dtype))
        num_active = int(ap_weights.sum())
        num_valid = int(negative_mask.sum(dim=1)[pair_anchor].sum())
    ap_mean, an_mean = _pair_means(dists, positive_mask, negative_mask)
    if num_active == 0:
        return LossResult(_zero(dists), num_valid, 0, ap_mean, an_mean)
    loss = ((ap_weights * dists).sum() - (an_weights * dists).sum()) / num_active + margin
    return LossResult(loss, num_valid, num_active, ap_mean, an_mean)


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
                            squared: bool = False, dists: torch.Tensor | None = None) -> LossResult:
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

    Returns:
        LossResult; num_valid counts anchors with a positive and a negative, num_active
        those with a positive loss.
    """
    dists, labels = _distances_and_labels(embeddings, labels, squared, dists)  # (B, B), (B,)
    positive_mask, negative_mask = pair_masks(labels)
    valid = positive_mask.any(dim=1) & negative_mask.any(dim=1)  # (B,) anchors
    ap_mean, an_mean = _pair_means(dists, positive_mask, negative_mask)
    if not valid.any():
        return LossResult(_zero(dists), 0, 0, ap_mean, an_mean)
    hardest_positive = torch.where(positive_mask, dists, torch.zeros_like(dists)).amax(dim=1)          # (B,)
    hardest_negative = torch.where(negative_mask, dists, torch.full_like(dists, float("inf"))).amin(dim=1)  # (B,)
    losses = F.relu(hardest_positive[valid] - hardest_negative[valid] + margin)
    return LossResult(losses.mean(), int(valid.sum()), int((losses > 0).sum()), ap_mean, an_mean)


def batch_semihard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float, squared: bool = False,
                                no_semihard: str = "easiest", dists: torch.Tensor | None = None) -> LossResult:
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

    Returns:
        LossResult; num_valid counts anchor-positive pairs whose anchor has a negative,
        num_active the pairs with a positive loss.
    """
    dists, labels = _distances_and_labels(embeddings, labels, squared, dists)  # (B, B), (B,)
    positive_mask, negative_mask = pair_masks(labels)
    ap_mean, an_mean = _pair_means(dists, positive_mask, negative_mask)
    num_valid = int((positive_mask & negative_mask.any(dim=1, keepdim=True)).sum())  # pairs whose anchor has a negative
    anchor_idx, positive_idx, negative_idx = semihard_negatives(dists, labels, margin, fallback=no_semihard)  # (M,) each
    losses = F.relu(dists[anchor_idx, positive_idx] - dists[anchor_idx, negative_idx] + margin)  # (M,)
    loss = losses.mean() if len(losses) else _zero(dists)
    return LossResult(loss, num_valid, int((losses > 0).sum()), ap_mean, an_mean)


def contrastive_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float,
                     dists: torch.Tensor | None = None) -> LossResult:
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

    Returns:
        LossResult; num_valid counts pairs, num_active positive pairs at distance > 0
        plus negative pairs closer than the margin.
    """
    if dists is None:
        squared = pairwise_distances(embeddings, squared=True)  # (B, B)
        dists = safe_sqrt(squared)
    else:
        squared = dists**2                                      # (B, B)
    dists, labels = _distances_and_labels(embeddings, labels, False, dists)
    positive_mask, negative_mask = pair_masks(labels)
    upper = torch.ones_like(positive_mask).triu(diagonal=1)   # each pair once
    positive_mask, negative_mask = positive_mask & upper, negative_mask & upper
    ap_mean, an_mean = _pair_means(dists, positive_mask, negative_mask)
    loss = _zero(dists)
    if positive_mask.any():
        loss = loss + squared[positive_mask].mean()
    if negative_mask.any():
        loss = loss + F.relu(margin - dists[negative_mask]).pow(2).mean()
    with torch.no_grad():
        num_active = int((dists[positive_mask] > 0).sum()) + int((dists[negative_mask] < margin).sum())
    return LossResult(loss, int(positive_mask.sum() + negative_mask.sum()), num_active, ap_mean, an_mean)


class CenterLoss(facenet_edu.center_loss.CenterLoss):
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

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> LossResult:
        """Classification + center loss of a batch, then (in training mode) move the centers.

        Args:
            embeddings: (B, D) tensor, L2-normalised.
            labels: (B,) identity labels in 0..num_classes-1.

        Returns:
            LossResult; num_valid and num_active are B, mean_ap_dist is the mean distance
            of each embedding to its own center, mean_an_dist the mean distance to the
            nearest other center (0.0 with a single class).
        """
        check_embeddings(embeddings)
        labels = labels_for(labels, embeddings.shape[0], embeddings.device)
        if len(labels) == 0:
            raise FaceNetEduError("CenterLoss got an empty batch.")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise FaceNetEduError(
                f"Labels must lie in 0..{self.num_classes - 1} for this CenterLoss; got {int(labels.min())}..{int(labels.max())}."
            )
        own_centers = self.centers[labels]                                    # (B, D), a copy
        center_term = ((embeddings - own_centers) ** 2).sum(dim=1).mean()
        loss = F.cross_entropy(self.logits(embeddings), labels) + self.lambda_c / 2 * center_term
        with torch.no_grad():
            to_centers = torch.cdist(embeddings.detach(), self.centers)        # (B, C)
            ap_mean = float(to_centers.gather(1, labels[:, None]).mean())
            an_mean = 0.0
            if self.num_classes > 1:
                an_mean = float(to_centers.scatter(1, labels[:, None], float("inf")).amin(dim=1).mean())
            if self.training and self.alpha > 0:
                counts = torch.bincount(labels, minlength=self.num_classes).to(self.centers.dtype)  # (C,)
                diff = torch.zeros_like(self.centers).index_add_(0, labels, own_centers - embeddings.detach())
                self.centers -= self.alpha * diff / (1 + counts)[:, None]
        return LossResult(loss, len(labels), len(labels), ap_mean, an_mean)
