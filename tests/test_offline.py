"""Training procedures around ``train``: offline mining (with the current network) and training copies."""

import pytest
import torch

from facenet_edu.data import synthetic_dataset
from facenet_edu.distances import pairwise_distances
from facenet_edu.errors import FaceNetEduError
from facenet_edu.mining import mine_triplets, semihard_negatives
from facenet_edu.model import EmbeddingNet, ModelConfig, embed
from facenet_edu.offline import mine_offline
from facenet_edu.train import TrainConfig, train_copy


def as_set(triplets) -> set:
    return set(zip(*(t.tolist() for t in triplets)))


# ---------------------------------------------------------------- offline mining

def _tiny_model_and_images(num_people=5, per_person=4, seed=0):
    torch.manual_seed(seed)  # the model's initial weights; tests own their seeding
    model = EmbeddingNet(ModelConfig(embedding_dim=8, width=4, image_size=32))
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(num_people * per_person, 1, 32, 32, generator=g)
    labels = torch.arange(num_people).repeat_interleave(per_person)
    return model, images, labels


def test_mine_offline_returns_valid_triplets_of_the_requested_kind():
    model, images, labels = _tiny_model_and_images()
    model.train()
    dists = pairwise_distances(embed(model, images))
    semi = as_set(semihard_negatives(dists, labels, 0.5, fallback="skip"))  # FaceNet's one negative per pair
    num = min(10, len(semi))
    assert num > 0
    triplets = mine_offline(model, images, labels, "semi-hard", 0.5, num, torch.Generator().manual_seed(1))
    assert model.training, "mine_offline must leave the model in the mode it found it"
    assert all(len(t) == num for t in triplets)
    assert as_set(triplets) <= semi and len(as_set(triplets)) == num  # drawn without replacement
    again = mine_offline(model, images, labels, "semi-hard", 0.5, num, torch.Generator().manual_seed(1))
    assert all(torch.equal(x, y) for x, y in zip(triplets, again))


def test_mine_offline_tops_up_with_random_valid_triplets():
    model, images, labels = _tiny_model_and_images()
    dists = pairwise_distances(embed(model, images))
    hard = as_set(mine_triplets(None, labels, "hard", 0.5, dists=dists))
    num = len(hard) + 500
    triplets = mine_offline(model, images, labels, "hard", 0.5, num, torch.Generator().manual_seed(2))
    got = list(zip(*(t.tolist() for t in triplets)))
    assert len(got) == num
    assert hard <= set(got)
    y = labels.tolist()
    assert all(a != p and y[a] == y[p] and y[n] != y[a] for a, p, n in got)


def test_mine_offline_subset_and_errors():
    model, images, labels = _tiny_model_and_images(num_people=6, per_person=5)
    triplets = mine_offline(model, images, labels, "all", 0.2, 50, torch.Generator().manual_seed(3), subset_size=12)
    assert len(torch.cat(triplets).unique()) <= 12
    with pytest.raises(FaceNetEduError, match="No valid triplet"):
        mine_offline(model, images, torch.zeros_like(labels), "all", 0.2, 5, torch.Generator().manual_seed(0))
    with pytest.raises(FaceNetEduError, match="choose one of"):
        mine_offline(model, images, labels, "hardest", 0.2, 5, torch.Generator().manual_seed(0))



# ---------------------------------------------------------------- training copies


def test_train_copy_leaves_the_initial_model_alone_and_repeats_exactly():
    torch.manual_seed(0)
    initial = EmbeddingNet(ModelConfig(embedding_dim=8, width=4, image_size=32))
    before = {k: v.clone() for k, v in initial.state_dict().items()}
    data = synthetic_dataset(num_identities=6, images_per_identity=4, image_size=32, seed=0)
    config = TrainConfig(num_steps=3, p=3, k=2, device="cpu", progress=False)
    first, history = train_copy(initial, data, config)
    second, _ = train_copy(initial, data, config)
    assert first is not initial and len(history.loss) == 3
    assert all(torch.equal(v, initial.state_dict()[k]) for k, v in before.items())          # untouched
    assert any(not torch.equal(v, first.state_dict()[k]) for k, v in before.items())        # the copy trained
    assert all(torch.equal(v, second.state_dict()[k]) for k, v in first.state_dict().items())  # same start, same run
