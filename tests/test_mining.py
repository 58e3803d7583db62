"""Distances and triplet mining, checked against explicit loops and pytorch-metric-learning."""

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.miners import TripletMarginMiner
from sklearn.metrics.pairwise import euclidean_distances

from facenet_edu import mining
from facenet_edu.errors import FaceNetEduError
from host_waits import HostWaits
from facenet_edu.distances import pairwise_distances
from facenet_edu.mining import (
    STRATEGIES,
    count_triplet_categories,
    mine_triplets,
    negative_categories,
    select_negatives,
    semihard_negatives,
    triplet_kind_masks,
    valid_triplet_mask,
)


# ---------------------------------------------------------------- slow, obvious versions

def brute_category(ap: float, an: float, margin: float) -> str:
    """FaceNet's three kinds, written as plainly as possible (ties d_an == d_ap count as hard)."""
    if an <= ap:
        return "hard"
    if an < ap + margin:
        return "semi-hard"
    return "easy"


def brute_triplets(dists: torch.Tensor, labels: torch.Tensor, strategy: str, margin: float) -> set:
    d, y = dists.tolist(), labels.tolist()
    found = set()
    for a, p, n in itertools.product(range(len(y)), repeat=3):
        if a != p and y[a] == y[p] and y[n] != y[a]:
            if strategy == "all" or brute_category(d[a][p], d[a][n], margin) == strategy:
                found.add((a, p, n))
    return found


def as_set(triplets) -> set:
    return set(zip(*(t.tolist() for t in triplets)))


def random_batch(seed: int, num_people: int = 4, per_person: int = 4, dim: int = 8):
    g = torch.Generator().manual_seed(seed)
    embeddings = F.normalize(torch.randn(num_people * per_person, dim, generator=g, dtype=torch.float64), dim=1)
    labels = torch.arange(num_people).repeat_interleave(per_person)
    return embeddings, labels[torch.randperm(len(labels), generator=g)]


def grid_batch(seed: int, size: int = 14, dim: int = 3, values: int = 3, num_people: int = 4):
    """Integer points from a tiny grid: many exactly equal distances (ties), all computed exactly."""
    g = torch.Generator().manual_seed(seed)
    embeddings = torch.randint(0, values, (size, dim), generator=g).double()
    labels = torch.randint(0, num_people, (size,), generator=g)
    return embeddings, labels


# ---------------------------------------------------------------- distances

def test_pairwise_distances_match_loops_and_sklearn():
    embeddings, _ = random_batch(0)
    dists = pairwise_distances(embeddings)
    loops = torch.tensor([[float(torch.linalg.norm(x - y)) for y in embeddings] for x in embeddings], dtype=torch.float64)
    torch.testing.assert_close(dists, loops)
    torch.testing.assert_close(dists, torch.from_numpy(euclidean_distances(embeddings.numpy())))
    torch.testing.assert_close(pairwise_distances(embeddings, squared=True), loops**2)
    assert torch.equal(dists.diagonal(), torch.zeros(len(embeddings), dtype=torch.float64))
    assert torch.equal(dists, dists.T)


def test_pairwise_distances_exact_on_integer_grid():
    embeddings, _ = grid_batch(1)
    loops = torch.tensor([[float(((x - y) ** 2).sum()) for y in embeddings] for x in embeddings], dtype=torch.float64)
    assert torch.equal(pairwise_distances(embeddings, squared=True), loops)


def test_gradients_finite_at_zero_distance():
    embeddings = torch.ones(6, 4).div(2).requires_grad_()    # all identical: every distance is 0
    dists = pairwise_distances(embeddings)
    assert torch.equal(dists, torch.zeros(6, 6))
    dists.sum().backward()
    assert torch.isfinite(embeddings.grad).all()
    twins = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)  # one zero pair among others
    pairwise_distances(twins).sum().backward()
    assert torch.isfinite(twins.grad).all()


def test_nan_embeddings_raise_a_clear_error():
    embeddings, labels = random_batch(2)
    embeddings[3, 1] = float("nan")
    with pytest.raises(FaceNetEduError, match="NaN"):
        pairwise_distances(embeddings)
    with pytest.raises(FaceNetEduError, match="NaN"):
        mine_triplets(embeddings, labels, "semi-hard", 0.2)


def test_unknown_strategy_lists_the_choices():
    embeddings, labels = random_batch(3)
    with pytest.raises(FaceNetEduError, match="semi-hard") as info:
        mine_triplets(embeddings, labels, "semihard", 0.2)
    assert all(name in str(info.value) for name in STRATEGIES)


# ---------------------------------------------------------------- mine_triplets against loops

@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("seed", [0, 1])
def test_mine_triplets_match_loops_on_random_embeddings(strategy, seed):
    embeddings, labels = random_batch(seed)
    dists = pairwise_distances(embeddings)
    expected = brute_triplets(dists, labels, strategy, 0.3)
    mined = mine_triplets(embeddings, labels, strategy, 0.3)
    assert len(mined[0]) == len(expected) and as_set(mined) == expected
    assert all(t.dtype == torch.long for t in mined)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("squared", [True, False])
def test_mine_triplets_match_loops_with_ties(strategy, squared):
    for seed in range(3):
        embeddings, labels = grid_batch(seed)
        dists = pairwise_distances(embeddings, squared=squared)
        margin = 1.0  # with squared distances on a grid, d_an == d_ap + margin happens exactly
        expected = brute_triplets(dists, labels, strategy, margin)
        assert as_set(mine_triplets(embeddings, labels, strategy, margin, squared=squared)) == expected


def test_grid_batches_really_contain_ties():
    embeddings, labels = grid_batch(0)
    dists = pairwise_distances(embeddings, squared=True).tolist()
    y = labels.tolist()
    ties = boundary = 0
    for a, p, n in itertools.product(range(len(y)), repeat=3):
        if a != p and y[a] == y[p] and y[n] != y[a]:
            ties += dists[a][n] == dists[a][p]
            boundary += dists[a][n] == dists[a][p] + 1.0
    assert ties > 0 and boundary > 0


def test_precomputed_dists_give_the_same_triplets():
    embeddings, labels = random_batch(4, num_people=5, per_person=3)
    reference = {s: as_set(mine_triplets(embeddings, labels, s, 0.3)) for s in STRATEGIES}
    dists = pairwise_distances(embeddings)
    for s in STRATEGIES:
        assert as_set(mine_triplets(None, labels, s, 0.3, dists=dists)) == reference[s]


def test_degenerate_batches_have_no_triplets():
    embeddings, _ = random_batch(5)
    one_person = torch.zeros(len(embeddings), dtype=torch.long)
    singletons = torch.arange(len(embeddings))
    for labels in (one_person, singletons):
        for s in STRATEGIES:
            assert len(mine_triplets(embeddings, labels, s, 0.2)[0]) == 0
        assert count_triplet_categories(pairwise_distances(embeddings), labels, 0.2) == {"easy": 0, "semi-hard": 0, "hard": 0}


def test_mining_runs_on_a_large_batch_without_a_cubic_tensor():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(128).repeat_interleave(8)          # B = 1024, P x K = 128 x 8
    centers = F.normalize(torch.randn(128, 32, generator=g), dim=1)[labels]
    embeddings = F.normalize(centers + 0.15 * torch.randn(1024, 32, generator=g), dim=1)
    dists = pairwise_distances(embeddings)
    counts = count_triplet_categories(dists, labels, 0.2)
    for strategy in ("hard", "semi-hard"):
        assert len(mine_triplets(None, labels, strategy, 0.2, dists=dists)[0]) == counts[strategy]
    assert sum(counts.values()) == 1024 * 7 * 1016


# ---------------------------------------------------------------- pytorch-metric-learning

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mine_triplets_agree_with_pytorch_metric_learning(seed):
    """PML measures triplet_margin = d_an - d_ap: "hard" is <= 0, "semihard" in (0, margin],
    "easy" > margin, and its "all" means every margin violator (<= margin). On continuous
    random data (no d_an - d_ap exactly equal to the margin) these are our hard, semi-hard,
    easy, and hard + semi-hard triplets."""
    embeddings, labels = random_batch(seed, num_people=5, per_person=4, dim=6)
    margin = 0.25
    distance = LpDistance(normalize_embeddings=False)
    ours = {s: as_set(mine_triplets(embeddings, labels, s, margin)) for s in STRATEGIES}
    pml = {t: as_set(TripletMarginMiner(margin=margin, type_of_triplets=t, distance=distance)(embeddings, labels))
           for t in ("hard", "semihard", "easy", "all")}
    assert ours["hard"] == pml["hard"]
    assert ours["semi-hard"] == pml["semihard"]
    assert ours["easy"] == pml["easy"]
    assert ours["hard"] | ours["semi-hard"] == pml["all"]
    assert all(len(ours[s]) > 0 for s in ("hard", "semi-hard", "easy"))


# ---------------------------------------------------------------- invariants (hypothesis)

batches = st.tuples(st.integers(0, 10_000), st.integers(4, 16), st.integers(1, 4), st.sampled_from([0.0, 1.0, 2.0, 0.5]))


@settings(max_examples=50, deadline=None)
@given(batches, st.booleans())
def test_categories_partition_all_triplets(batch, squared):
    seed, size, num_people, margin = batch
    embeddings, labels = grid_batch(seed, size=size, num_people=num_people)
    dists = pairwise_distances(embeddings, squared=squared)
    mined = {s: as_set(mine_triplets(None, labels, s, margin, dists=dists)) for s in STRATEGIES}
    kinds = [mined["hard"], mined["semi-hard"], mined["easy"]]
    assert set().union(*kinds) == mined["all"]
    assert sum(map(len, kinds)) == len(mined["all"])  # disjoint
    d, y = dists.tolist(), labels.tolist()
    for a, p, n in mined["all"]:
        assert a != p and y[a] == y[p] and y[n] != y[a]
    for a, p, n in mined["hard"]:
        assert d[a][n] <= d[a][p]
    for a, p, n in mined["semi-hard"]:
        assert d[a][p] < d[a][n] < d[a][p] + margin
    for a, p, n in mined["easy"]:
        assert d[a][n] >= d[a][p] + margin
    counts = count_triplet_categories(dists, labels, margin)
    assert counts == {s: len(mined[s]) for s in ("easy", "semi-hard", "hard")}


# ---------------------------------------------------------------- per-pair teaching views

def test_negative_categories_match_loops():
    embeddings, labels = grid_batch(7, size=16, num_people=3)
    dists = pairwise_distances(embeddings, squared=True)
    y, d = labels.tolist(), dists.tolist()
    for a, p in itertools.permutations(range(len(y)), 2):
        if y[a] != y[p]:
            continue
        negative_idx, an_dists, names = negative_categories(dists, labels, a, p, 1.0)
        expected = [n for n in range(len(y)) if y[n] != y[a]]
        assert negative_idx.tolist() == expected
        assert an_dists.tolist() == [d[a][n] for n in expected]
        assert names == [brute_category(d[a][p], d[a][n], 1.0) for n in expected]


def test_negative_categories_reject_a_non_pair():
    embeddings, labels = grid_batch(8)
    dists = pairwise_distances(embeddings)
    other = int(torch.nonzero(labels != labels[0])[0])
    with pytest.raises(FaceNetEduError, match="same person"):
        negative_categories(dists, labels, 0, other, 0.2)
    with pytest.raises(FaceNetEduError, match="same person"):
        negative_categories(dists, labels, 0, 0, 0.2)


def test_select_negatives_match_loops():
    checked_none = checked_some = 0
    for seed in range(4):
        embeddings, labels = grid_batch(seed, size=16, num_people=3)
        dists = pairwise_distances(embeddings, squared=True)
        y, d = labels.tolist(), dists.tolist()
        margin = 2.0
        for a, p in itertools.permutations(range(len(y)), 2):
            if y[a] != y[p]:
                continue
            negatives = [n for n in range(len(y)) if y[n] != y[a]]
            chosen = select_negatives(dists, labels, a, p, margin)
            hardest = min(negatives, key=lambda n: (d[a][n], n)) if negatives else None
            semi = [n for n in negatives if d[a][p] < d[a][n] < d[a][p] + margin]
            assert chosen["batch-hard"] == hardest
            assert chosen["semi-hard"] == (min(semi, key=lambda n: (d[a][n], n)) if semi else None)
            assert chosen["batch-all"].tolist() == [n for n in negatives if d[a][n] < d[a][p] + margin]
            checked_none += chosen["semi-hard"] is None
            checked_some += chosen["semi-hard"] is not None
    assert checked_none > 0 and checked_some > 0


# ---------------------------------------------------------------- FaceNet's semi-hard choice, against the mask definition

def reference_semihard(dists: torch.Tensor, labels: torch.Tensor, margin: float, fallback: str) -> set:
    """The plain definition: the valid triplet mask, the three conditions, then a choice per (a, p) pair."""
    kinds = triplet_kind_masks(dists, labels, margin)                     # (B, B, B) masks, [a, p, n]
    valid = valid_triplet_mask(labels)
    farther = kinds["semi-hard"] | kinds["easy"]                          # d(a, n) > d(a, p)
    chosen = set()
    for a, p in torch.nonzero(valid.any(dim=2)).tolist():
        candidates = torch.nonzero(farther[a, p]).flatten().tolist()
        if candidates:
            n = min(candidates, key=lambda n: (float(dists[a, n]), n))   # the closest farther negative, lower index on ties
            if fallback == "easiest" or kinds["semi-hard"][a, p, n]:
                chosen.add((a, p, n))
        elif fallback == "easiest":                                       # all hard: the farthest negative
            negatives = torch.nonzero(valid[a, p]).flatten().tolist()
            chosen.add((a, p, max(negatives, key=lambda n: float(dists[a, n]))))
    return chosen


def test_kind_masks_are_the_brute_force_categories():
    embeddings, labels = grid_batch(3, size=12, num_people=3)
    dists = pairwise_distances(embeddings)
    kinds = triplet_kind_masks(dists, labels, 1.0)
    for kind, mask in kinds.items():
        assert set(map(tuple, torch.nonzero(mask).tolist())) == brute_triplets(dists, labels, kind, 1.0)
    assert torch.equal(kinds["hard"] | kinds["semi-hard"] | kinds["easy"], valid_triplet_mask(labels))


@pytest.mark.parametrize("fallback", ["easiest", "skip"])
@pytest.mark.parametrize("seed", range(6))
def test_semihard_negatives_match_the_mask_definition(seed, fallback):
    embeddings, labels = grid_batch(seed, size=14, num_people=3) if seed % 2 else random_batch(seed)
    dists = pairwise_distances(embeddings)
    for margin in (0.0, 0.3, 1.0, 3.0):
        fast = semihard_negatives(dists, labels, margin, fallback=fallback)
        expected = reference_semihard(dists, labels, margin, fallback)
        got = as_set(fast)
        if fallback == "easiest":  # the farthest negative may tie: compare the chosen distances there
            assert {(a, p) for a, p, _ in got} == {(a, p) for a, p, _ in expected}
            by_pair = {(a, p): n for a, p, n in expected}
            assert all(float(dists[a, n]) == float(dists[a, by_pair[a, p]]) for a, p, n in got)
        else:
            assert got == expected
        assert fast[0].tolist() == sorted(fast[0].tolist())               # sorted by anchor


def test_semihard_negatives_pick_one_negative_per_pair_and_check_fallback():
    embeddings, labels = random_batch(0)
    dists = pairwise_distances(embeddings)
    anchor_idx, positive_idx, _ = semihard_negatives(dists, labels, 0.2)
    pairs = list(zip(anchor_idx.tolist(), positive_idx.tolist()))
    assert len(pairs) == len(set(pairs)) == 16 * 3                        # every pair once (4 people x 4 images)
    with pytest.raises(FaceNetEduError, match="easiest"):
        semihard_negatives(dists, labels, 0.2, fallback="hardest")


@pytest.mark.parametrize("fallback", ["easiest", "skip"])
@pytest.mark.parametrize("seed", range(4))
def test_semihard_negative_matrix_is_the_listed_choice_for_every_pair(seed, fallback):
    embeddings, labels = grid_batch(seed, size=14, num_people=3) if seed % 2 else random_batch(seed)
    dists = pairwise_distances(embeddings)
    for margin in (0.0, 0.3, 1.0, 3.0):
        negative_idx, keep = mining.semihard_negative_matrix(dists, labels, margin, fallback=fallback)
        assert negative_idx.shape == keep.shape == dists.shape                           # fixed size: no host sync
        assert ((negative_idx >= 0) & (negative_idx < len(labels))).all()                # safe to gather everywhere
        kept = {(a, p, int(negative_idx[a, p])) for a, p in torch.nonzero(keep).tolist()}
        expected = reference_semihard(dists, labels, margin, fallback)                   # the slow definition
        if fallback == "easiest":
            by_pair = {(a, p): n for a, p, n in expected}
            assert {(a, p) for a, p, _ in kept} == set(by_pair)
            assert all(float(dists[a, n]) == float(dists[a, by_pair[a, p]]) for a, p, n in kept)
        else:
            assert kept == expected


def test_semihard_negative_matrix_without_checks_makes_no_host_wait():
    embeddings, labels = random_batch(1)
    dists = pairwise_distances(embeddings)
    with HostWaits() as waits:
        mining.semihard_negative_matrix(dists, labels, 0.2, check=False)
    assert waits.count == 0
    with pytest.raises(FaceNetEduError, match="NaN"):
        mining.semihard_negative_matrix(dists * float("nan"), labels, 0.2)                # checked by default
