"""Losses, checked against explicit loops over triplets and pairs, and pytorch-metric-learning."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.losses import ContrastiveLoss, TripletMarginLoss
from pytorch_metric_learning.miners import TripletMarginMiner

import previous_losses
from facenet_edu import losses
from facenet_edu.distances import pairwise_distances
from facenet_edu.errors import FaceNetEduError
from facenet_edu.center_loss import CenterLoss
from facenet_edu.losses import (
    LossResult,
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    batch_semihard_triplet_loss,
    contrastive_loss,
    triplet_loss,
)
from host_waits import HostWaits

BATCH_LOSSES = [batch_all_triplet_loss, batch_hard_triplet_loss, batch_semihard_triplet_loss]


# ---------------------------------------------------------------- slow, obvious versions

def dist(e, i, j, squared=False):
    d2 = ((e[i] - e[j]) ** 2).sum()
    if squared:
        return d2
    return d2.sqrt() if d2 > 0 else d2 * 0.0


def valid_triplets(labels):
    y = labels.tolist()
    return [(a, p, n) for a, p, n in itertools.product(range(len(y)), repeat=3) if a != p and y[a] == y[p] and y[n] != y[a]]


def loop_batch_all(e, labels, margin, squared=False):
    terms = [dist(e, a, p, squared) - dist(e, a, n, squared) + margin for a, p, n in valid_triplets(labels)]
    active = [t for t in terms if t > 0]
    return (sum(active) / len(active) if active else torch.tensor(0.0, dtype=e.dtype)), len(terms), len(active)


def loop_batch_hard(e, labels, margin, squared=False):
    y, terms = labels.tolist(), []
    for a in range(len(y)):
        pos = [dist(e, a, p, squared) for p in range(len(y)) if p != a and y[p] == y[a]]
        neg = [dist(e, a, n, squared) for n in range(len(y)) if y[n] != y[a]]
        if pos and neg:
            terms.append(F.relu(max(pos) - min(neg) + margin))
    return (sum(terms) / len(terms) if terms else torch.tensor(0.0, dtype=e.dtype)), len(terms)


def loop_semihard(e, labels, margin, squared=False, no_semihard="easiest"):
    """TF Addons' rule ("easiest") or pytorch-metric-learning's ("skip"), pair by pair."""
    y, terms, num_pairs = labels.tolist(), [], 0
    for a, p in itertools.permutations(range(len(y)), 2):
        negatives = [n for n in range(len(y)) if y[n] != y[a]]
        if y[a] != y[p] or not negatives:
            continue
        num_pairs += 1
        ap = dist(e, a, p, squared)
        an = [dist(e, a, n, squared) for n in negatives]
        if no_semihard == "easiest":
            farther = [d for d in an if d > ap]
            chosen = min(farther) if farther else max(an)
            terms.append(F.relu(ap - chosen + margin))
        else:
            semi = [d for d in an if ap < d < ap + margin]
            if semi:
                terms.append(ap - min(semi) + margin)
    return (sum(terms) / len(terms) if terms else torch.tensor(0.0, dtype=e.dtype)), num_pairs


def loop_contrastive(e, labels, margin):
    y, pos, neg = labels.tolist(), [], []
    for i, j in itertools.combinations(range(len(y)), 2):
        if y[i] == y[j]:
            pos.append(dist(e, i, j, squared=True))
        else:
            neg.append(F.relu(margin - dist(e, i, j)) ** 2)
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return mean(pos) + mean(neg), len(pos) + len(neg)


def random_batch(seed, num_people=4, per_person=3, dim=5):
    g = torch.Generator().manual_seed(seed)
    embeddings = F.normalize(torch.randn(num_people * per_person, dim, generator=g, dtype=torch.float64), dim=1)
    labels = torch.arange(num_people).repeat_interleave(per_person)
    return embeddings, labels[torch.randperm(len(labels), generator=g)]


def grid_batch(seed, size=12, dim=3, num_people=3):
    """Integer points: exactly equal distances (ties), and d_an == d_ap + margin for integer margins when squared."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 3, (size, dim), generator=g).double(), torch.randint(0, num_people, (size,), generator=g)


def value_and_grad(fn, embeddings):
    x = embeddings.clone().requires_grad_()
    out = fn(x)
    loss = out.loss if isinstance(out, LossResult) else (out[0] if isinstance(out, tuple) else out)
    loss = torch.as_tensor(loss, dtype=x.dtype)
    grad = torch.autograd.grad(loss, x, allow_unused=True)[0] if loss.requires_grad else None
    return loss.detach(), (torch.zeros_like(x) if grad is None else grad), out


# ---------------------------------------------------------------- explicit triplets

def test_triplet_loss_matches_loop_and_paper_form():
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(7, 4, generator=g, dtype=torch.float64) for _ in range(3))
    for squared in (False, True):
        expected = sum(max(float(dist(torch.stack([a[i], p[i]]), 0, 1, squared) - dist(torch.stack([a[i], n[i]]), 0, 1, squared)) + 0.3, 0.0)
                       for i in range(7)) / 7
        assert float(triplet_loss(a, p, n, 0.3, squared=squared)) == pytest.approx(expected, rel=1e-12)


def test_triplet_loss_edge_cases():
    same = torch.ones(3, 4, requires_grad=True)
    loss = triplet_loss(same, same, same, 0.4)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(0.4) and torch.isfinite(same.grad).all()
    empty = torch.empty(0, 4, requires_grad=True)
    loss = triplet_loss(empty, empty, empty, 0.4)
    loss.backward()
    assert float(loss.detach()) == 0.0
    with pytest.raises(FaceNetEduError, match="same shape"):
        triplet_loss(torch.ones(3, 4), torch.ones(2, 4), torch.ones(3, 4), 0.2)
    with pytest.raises(FaceNetEduError, match="NaN"):
        triplet_loss(torch.full((3, 4), float("nan")), torch.ones(3, 4), torch.ones(3, 4), 0.2)


# ---------------------------------------------------------------- batch losses against loops

@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_all_matches_loop(seed, squared):
    embeddings, labels = random_batch(seed)
    ours, ours_grad, result = value_and_grad(lambda x: batch_all_triplet_loss(x, labels, 0.4, squared), embeddings)
    ref, ref_grad, (_, num_valid, num_active) = value_and_grad(lambda x: loop_batch_all(x, labels, 0.4, squared), embeddings)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours_grad, ref_grad)
    assert (result.num_valid, result.num_active) == (num_valid, num_active)
    assert 0 < num_active < num_valid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_hard_matches_loop(seed):
    embeddings, labels = random_batch(seed)
    ours, ours_grad, result = value_and_grad(lambda x: batch_hard_triplet_loss(x, labels, 0.4), embeddings)
    ref, ref_grad, (_, num_anchors) = value_and_grad(lambda x: loop_batch_hard(x, labels, 0.4), embeddings)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours_grad, ref_grad)
    assert result.num_valid == num_anchors == len(labels)


@pytest.mark.parametrize("no_semihard", ["easiest", "skip"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_batch_semihard_matches_loop(seed, no_semihard):
    embeddings, labels = random_batch(seed, num_people=3, per_person=4)
    fn = lambda x: batch_semihard_triplet_loss(x, labels, 0.3, no_semihard=no_semihard)  # noqa: E731
    ours, ours_grad, result = value_and_grad(fn, embeddings)
    ref, ref_grad, (_, num_pairs) = value_and_grad(lambda x: loop_semihard(x, labels, 0.3, no_semihard=no_semihard), embeddings)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours_grad, ref_grad)
    assert result.num_valid == num_pairs


def test_semihard_fallback_really_happens_in_these_batches():
    """The two no_semihard behaviours differ only when some pair has no farther negative; make sure we test that case."""
    embeddings, labels = random_batch(0, num_people=3, per_person=4)
    easiest = batch_semihard_triplet_loss(embeddings, labels, 0.3)
    skip = batch_semihard_triplet_loss(embeddings, labels, 0.3, no_semihard="skip")
    assert skip.num_active < easiest.num_active and float(skip.loss.detach()) != float(easiest.loss.detach())


@pytest.mark.parametrize("squared", [False, True])
def test_all_losses_match_loops_with_ties(squared):
    """On integer grids many distances tie; gradients may then pick different tied elements, so only values are compared."""
    for seed in range(4):
        e, labels = grid_batch(seed)
        margin = 1.0
        torch.testing.assert_close(batch_all_triplet_loss(e, labels, margin, squared).loss, loop_batch_all(e, labels, margin, squared)[0])
        torch.testing.assert_close(batch_hard_triplet_loss(e, labels, margin, squared).loss, loop_batch_hard(e, labels, margin, squared)[0])
        for mode in ("easiest", "skip"):
            torch.testing.assert_close(batch_semihard_triplet_loss(e, labels, margin, squared, no_semihard=mode).loss,
                                       torch.as_tensor(loop_semihard(e, labels, margin, squared, mode)[0], dtype=e.dtype))
        if not squared:
            torch.testing.assert_close(contrastive_loss(e, labels, 2.0).loss, torch.as_tensor(loop_contrastive(e, labels, 2.0)[0], dtype=e.dtype))


@pytest.mark.parametrize("seed", [0, 1])
def test_contrastive_matches_loop(seed):
    embeddings, labels = random_batch(seed)
    ours, ours_grad, result = value_and_grad(lambda x: contrastive_loss(x, labels, 1.2), embeddings)
    ref, ref_grad, (_, num_pairs) = value_and_grad(lambda x: loop_contrastive(x, labels, 1.2), embeddings)
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours_grad, ref_grad)
    assert result.num_valid == num_pairs == len(labels) * (len(labels) - 1) // 2


def test_reported_pair_distances_match_loops():
    embeddings, labels = random_batch(4)
    y = labels.tolist()
    ap = [float(dist(embeddings, i, j)) for i, j in itertools.permutations(range(len(y)), 2) if y[i] == y[j]]
    an = [float(dist(embeddings, i, j)) for i, j in itertools.permutations(range(len(y)), 2) if y[i] != y[j]]
    for fn in BATCH_LOSSES + [contrastive_loss]:
        result = fn(embeddings, labels, 0.2)
        assert result.mean_ap_dist == pytest.approx(sum(ap) / len(ap))
        assert result.mean_an_dist == pytest.approx(sum(an) / len(an))


# ---------------------------------------------------------------- pytorch-metric-learning

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_all_agrees_with_pml_triplet_margin_loss(seed):
    """PML's TripletMarginLoss with triplets_per_anchor="all" and its default AvgNonZeroReducer is "batch all"."""
    embeddings, labels = random_batch(seed, num_people=5, per_person=4)
    pml = TripletMarginLoss(margin=0.3, triplets_per_anchor="all", smooth_loss=False, distance=LpDistance(normalize_embeddings=False))
    ours, ours_grad, _ = value_and_grad(lambda x: batch_all_triplet_loss(x, labels, 0.3), embeddings)
    theirs, their_grad, _ = value_and_grad(lambda x: pml(x, labels), embeddings)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(ours_grad, their_grad)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_semihard_skip_agrees_with_pml_semihard_triplets(seed):
    """From PML's semi-hard triplets keep, per anchor-positive pair, the closest negative: that is our "skip" mode.
    (PML's semi-hard condition is 0 < d_an - d_ap <= margin, ours is strict at the margin; random data never sits on it.)"""
    embeddings, labels = random_batch(seed, num_people=4, per_person=4)
    distance = LpDistance(normalize_embeddings=False)
    a, p, n = TripletMarginMiner(margin=0.3, type_of_triplets="semihard", distance=distance)(embeddings, labels)
    dists = distance(embeddings)
    closest = {}
    for ai, pi, ni in zip(a.tolist(), p.tolist(), n.tolist()):
        closest[(ai, pi)] = min(closest.get((ai, pi), float("inf")), float(dists[ai, ni]))
    expected = sum(float(dists[ai, pi]) - an + 0.3 for (ai, pi), an in closest.items()) / len(closest)
    result = batch_semihard_triplet_loss(embeddings, labels, 0.3, no_semihard="skip")
    assert float(result.loss.detach()) == pytest.approx(expected, rel=1e-9)
    assert result.num_active == len(closest)


def test_contrastive_positive_term_agrees_with_pml():
    """PML's ContrastiveLoss hinges on d, not d^2, for negatives, so only the positive term aligns: with
    margin 0 (no negative term) and PML's squared distance, both are the mean of d^2 over positive pairs."""
    embeddings, labels = random_batch(5)
    pml = ContrastiveLoss(pos_margin=0, neg_margin=0, distance=LpDistance(normalize_embeddings=False, power=2))
    torch.testing.assert_close(contrastive_loss(embeddings, labels, 0.0).loss, pml(embeddings, labels))


# ---------------------------------------------------------------- degenerate batches

def test_collapse_every_triplet_loss_equals_the_margin():
    embeddings = torch.ones(12, 4, requires_grad=True)       # every embedding identical: all distances 0
    labels = torch.arange(4).repeat_interleave(3)
    for fn in BATCH_LOSSES:
        result = fn(embeddings, labels, 0.35)
        result.loss.backward()
        assert float(result.loss.detach()) == pytest.approx(0.35)
        assert result.num_active == result.num_valid > 0
        assert torch.isfinite(embeddings.grad).all()
    skip = batch_semihard_triplet_loss(embeddings, labels, 0.35, no_semihard="skip")
    assert float(skip.loss.detach()) == 0.0 and skip.num_active == 0  # no negative is farther than any positive
    contrastive = contrastive_loss(embeddings, labels, 0.35)
    assert float(contrastive.loss.detach()) == pytest.approx(0.35**2)


@pytest.mark.parametrize("fn", BATCH_LOSSES + [contrastive_loss])
def test_one_person_only_gives_zero_loss_with_a_gradient(fn):
    embeddings, _ = random_batch(6)
    x = embeddings.clone().requires_grad_()
    result = fn(x, torch.zeros(len(x), dtype=torch.long), 0.3)
    result.loss.backward()
    assert torch.isfinite(x.grad).all()
    assert result.mean_an_dist == 0.0
    if fn is contrastive_loss:  # the positive pairs still pull together
        assert float(result.loss.detach()) > 0 and result.num_valid == len(x) * (len(x) - 1) // 2
    else:
        assert float(result.loss.detach()) == 0.0 and result.num_valid == result.num_active == 0


@pytest.mark.parametrize("fn", BATCH_LOSSES)
def test_one_image_per_person_gives_zero_loss(fn):
    embeddings, _ = random_batch(7)
    x = embeddings.clone().requires_grad_()
    result = fn(x, torch.arange(len(x)), 0.3)
    result.loss.backward()
    assert float(result.loss.detach()) == 0.0 and result.num_valid == 0 and result.mean_ap_dist == 0.0
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("fn", BATCH_LOSSES + [contrastive_loss])
def test_nan_embeddings_raise(fn):
    embeddings, labels = random_batch(8)
    embeddings[0, 0] = float("nan")
    with pytest.raises(FaceNetEduError, match="NaN"):
        fn(embeddings, labels, 0.2)


def test_mismatched_labels_raise():
    embeddings, labels = random_batch(9)
    with pytest.raises(FaceNetEduError, match="one label per embedding"):
        batch_semihard_triplet_loss(embeddings, labels[:-1], 0.2)


# ---------------------------------------------------------------- center loss

def test_center_loss_value_matches_its_formula():
    embeddings, labels = random_batch(10, num_people=4, per_person=3)
    embeddings = embeddings.float()
    center = CenterLoss(4, 5, lambda_c=0.3, alpha=0.5, scale=16.0, generator=torch.Generator().manual_seed(0))
    center.centers.copy_(torch.randn(4, 5, generator=torch.Generator().manual_seed(1)))
    before = center.centers.clone()
    result = center.eval()(embeddings, labels)
    w = center.weight.detach()
    ce = 0.0
    for x, y in zip(embeddings, labels.tolist()):
        logits = [16.0 * float(x @ w[j]) / (float(x.norm()) * float(w[j].norm())) for j in range(4)]
        ce += -logits[y] + float(torch.logsumexp(torch.tensor(logits), 0))
    pull = sum(float(((x - before[y]) ** 2).sum()) for x, y in zip(embeddings, labels.tolist()))
    assert float(result.loss.detach()) == pytest.approx(ce / 12 + 0.3 / 2 * pull / 12, rel=1e-5)
    assert torch.equal(center.centers, before), "eval mode must not move the centers"
    own = [float((x - before[y]).norm()) for x, y in zip(embeddings, labels.tolist())]
    other = [min(float((x - before[j]).norm()) for j in range(4) if j != y) for x, y in zip(embeddings, labels.tolist())]
    assert result.mean_ap_dist == pytest.approx(sum(own) / 12, rel=1e-5)
    assert result.mean_an_dist == pytest.approx(sum(other) / 12, rel=1e-5)
    assert result.num_valid == result.num_active == 12


def test_center_update_follows_the_paper_rule():
    embeddings, labels = random_batch(11, num_people=3, per_person=4)
    embeddings, labels = embeddings.float(), labels.clone()
    labels[labels == 2] = 1                                  # class 2 absent: its center must not move
    center = CenterLoss(4, 5, alpha=0.5).train()
    center.centers.copy_(torch.randn(4, 5, generator=torch.Generator().manual_seed(2)))
    before = center.centers.clone()
    center(embeddings, labels)
    for j in range(4):
        members = [x for x, y in zip(embeddings, labels.tolist()) if y == j]
        delta = sum((before[j] - x for x in members), torch.zeros(5)) / (1 + len(members))
        torch.testing.assert_close(center.centers[j], before[j] - 0.5 * delta)
    assert "centers" in dict(center.named_buffers()) and "centers" not in dict(center.named_parameters())


def test_centers_converge_to_class_means_with_fixed_embeddings():
    embeddings, labels = random_batch(12, num_people=3, per_person=4)
    embeddings = embeddings.float()
    center = CenterLoss(3, 5, alpha=1.0).train()
    for _ in range(60):
        center(embeddings, labels)
    means = torch.stack([embeddings[labels == j].mean(0) for j in range(3)])
    torch.testing.assert_close(center.centers, means, atol=1e-5, rtol=0)


def test_center_loss_gradients_and_errors():
    embeddings = torch.ones(6, 5, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    center = CenterLoss(3, 5)
    result = center(embeddings, labels)
    result.loss.backward()
    assert torch.isfinite(embeddings.grad).all() and center.weight.grad is not None
    with pytest.raises(FaceNetEduError, match="Labels must lie"):
        center(torch.ones(2, 5), torch.tensor([0, 3]))
    with pytest.raises(FaceNetEduError, match="NaN"):
        center(torch.full((2, 5), float("nan")), torch.tensor([0, 1]))


# ---------------------------------------------------------------- a distance matrix computed once, passed in


@pytest.mark.parametrize("fn", [*BATCH_LOSSES, contrastive_loss])
@pytest.mark.parametrize("squared", [False, True])
def test_precomputed_dists_give_the_same_loss_and_gradient(fn, squared):
    if fn is contrastive_loss and squared:
        pytest.skip("the contrastive loss takes plain distances")
    embeddings, labels = random_batch(5)
    own = embeddings.clone().requires_grad_(True)
    given = embeddings.clone().requires_grad_(True)
    kwargs = {"squared": squared} if fn is not contrastive_loss else {}
    expected = fn(own, labels, 0.3, **kwargs)
    result = fn(given, labels, 0.3, dists=pairwise_distances(given, squared=squared))
    assert torch.allclose(result.loss, expected.loss)
    assert [float(x) for x in result[1:]] == pytest.approx([float(x) for x in expected[1:]])
    expected.loss.backward()
    result.loss.backward()
    assert torch.allclose(given.grad, own.grad)


def test_a_wrong_distance_matrix_is_refused():
    embeddings, labels = random_batch(0)
    with pytest.raises(FaceNetEduError, match="square"):
        batch_semihard_triplet_loss(embeddings, labels, 0.2, dists=torch.zeros(3, 4))
    with pytest.raises(FaceNetEduError, match="embeddings"):
        batch_all_triplet_loss(embeddings, labels, 0.2, dists=torch.zeros(3, 3))


# ---------------------------------------------------------------- the same results as before issue 21, with no host sync

def previous_batches():
    """A few batches of every shape the losses meet: P x K, uneven, ties, one person, singletons, float32."""
    for seed in range(4):
        e, y = random_batch(seed, num_people=3 + seed, per_person=2 + seed % 3, dim=6)
        yield e.float(), y                                            # float32, as in training
        yield e, y
    yield grid_batch(2, size=14, num_people=3)                        # exact ties
    yield random_batch(7, num_people=1, per_person=5)                 # one person: no negative
    yield random_batch(8, num_people=6, per_person=1)                 # nobody twice: no positive


def previous_cases():
    yield from ((fn.__name__, {"squared": sq}) for fn in BATCH_LOSSES for sq in (False, True))
    yield from (("batch_semihard_triplet_loss", {"no_semihard": "skip", "squared": sq}) for sq in (False, True))
    yield "contrastive_loss", {}


@pytest.mark.parametrize("name, kwargs", list(previous_cases()))
@pytest.mark.parametrize("check", [True, False])
def test_losses_give_the_same_values_and_gradients_as_before(name, kwargs, check):
    """The loss path rewritten without host syncs (masked sums, fixed sizes) against a verbatim copy of the old code."""
    for margin in (0.2, 0.5, 1.0):
        for embeddings, labels in previous_batches():
            new, new_grad, new_result = value_and_grad(
                lambda x: getattr(losses, name)(x, labels, margin, check=check, **kwargs), embeddings)
            old, old_grad, old_result = value_and_grad(
                lambda x: getattr(previous_losses, name)(x, labels, margin, **kwargs), embeddings)
            tolerance = {"rtol": 1e-5, "atol": 1e-6} if embeddings.dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
            torch.testing.assert_close(new, old, **tolerance)
            torch.testing.assert_close(new_grad, old_grad, **tolerance)
            assert (int(new_result.num_valid), int(new_result.num_active)) == (old_result.num_valid, old_result.num_active)
            torch.testing.assert_close(new_result.mean_ap_dist.item(), old_result.mean_ap_dist, **tolerance)
            torch.testing.assert_close(new_result.mean_an_dist.item(), old_result.mean_an_dist, **tolerance)


@pytest.mark.parametrize("check", [True, False])
def test_center_loss_gives_the_same_values_gradients_and_centers_as_before(check):
    embeddings, labels = random_batch(4, num_people=4, per_person=3)
    embeddings = embeddings.float()
    new_center = CenterLoss(4, 5, alpha=0.5, generator=torch.Generator().manual_seed(0)).train()
    old_center = previous_losses.CenterLoss(4, 5, alpha=0.5, generator=torch.Generator().manual_seed(0)).train()
    for step in range(3):                                             # the centers move between calls
        x = embeddings + 0.1 * step
        new, new_grad, new_result = value_and_grad(lambda e: new_center(e, labels, check=check), x)
        old, old_grad, old_result = value_and_grad(lambda e: old_center(e, labels), x)
        assert torch.equal(new, old) and torch.equal(new_grad, old_grad)
        assert torch.equal(new_center.centers, old_center.centers)
        assert int(new_result.num_valid) == int(new_result.num_active) == old_result.num_valid == len(labels)
        assert (new_result.mean_ap_dist.item(), new_result.mean_an_dist.item()) == (old_result.mean_ap_dist, old_result.mean_an_dist)


def test_loss_results_are_0d_tensors_that_read_as_numbers():
    embeddings, labels = random_batch(3)
    for result in (batch_semihard_triplet_loss(embeddings, labels, 0.2), CenterLoss(4, 5)(embeddings.float(), labels)):
        assert all(isinstance(x, torch.Tensor) and x.ndim == 0 and not x.requires_grad for x in result[1:])
        assert result.num_valid.dtype == result.num_active.dtype == torch.long
        assert isinstance(int(result.num_active), int) and isinstance(float(result.mean_ap_dist), float)
        assert f"{result.mean_ap_dist:.3f}" == f"{float(result.mean_ap_dist):.3f}"   # formats like a float


@pytest.mark.parametrize("fn", [*BATCH_LOSSES, contrastive_loss, CenterLoss(4, 5)])
def test_unchecked_losses_make_no_host_wait_and_turn_bad_embeddings_into_a_nan_loss(fn):
    """check=False, as train passes it: no host sync in the loss (given the distances); NaN embeddings give a NaN loss."""
    embeddings, labels = random_batch(6)
    embeddings = embeddings.float().requires_grad_()
    kwargs = {} if isinstance(fn, CenterLoss) else {"dists": pairwise_distances(embeddings)}
    with HostWaits() as waits:
        result = fn(embeddings, labels, *([] if isinstance(fn, CenterLoss) else [0.2]), check=False, **kwargs)
        result.loss.backward()
    assert waits.count == 0, waits.by_file
    for bad in (float("nan"), float("inf")):
        broken = embeddings.detach().clone()
        broken[2, 1] = bad
        kwargs = {} if isinstance(fn, CenterLoss) else {"dists": torch.cdist(broken, broken)}   # NaN rows
        result = fn(broken, labels, *([] if isinstance(fn, CenterLoss) else [0.2]), check=False, **kwargs)
        assert torch.isnan(result.loss)
        with pytest.raises(FaceNetEduError, match="NaN or infinite"):
            fn(broken, labels, *([] if isinstance(fn, CenterLoss) else [0.2]))                # the default checks


def test_fetch_numbers_reads_many_results_in_one_wait():
    embeddings, labels = random_batch(5)
    results = [fn(embeddings.float(), labels, 0.3) for fn in BATCH_LOSSES]
    results.append(LossResult(torch.tensor(0.5), 7, torch.tensor(3), torch.tensor(0.25), 1.5))  # Python numbers too
    with HostWaits() as waits:
        fetched = losses.fetch_numbers(results)
    assert waits.count == 0   # no int()/float() per field; the one transfer (tolist) is not an op this counter sees
    for result, numbers in zip(results, fetched):
        assert numbers.loss == float(result.loss)
        assert (numbers.num_valid, numbers.num_active) == (int(result.num_valid), int(result.num_active))
        assert (numbers.mean_ap_dist, numbers.mean_an_dist) == (float(result.mean_ap_dist), float(result.mean_an_dist))
        assert [type(x) for x in numbers] == [float, int, int, float, float]
    assert losses.fetch_numbers([]) == []
