"""Splitting people into parts, so that nobody tested is ever trained on.

``split_by_identity`` is the one split: every image of a person lands on the same side.
``identity_folds`` repeats it for cross-validation, ``split_off_identities`` names the
people, and ``course_split`` is the course's one split of AT&T's people (24 fit,
6 validation, 10 test) that notebooks 01 and 03 to 07 share.
"""

from typing import NamedTuple

import torch

from .data import FaceDataset
from .errors import FaceNetEduError


class CourseSplit(NamedTuple):
    """The course's one split of people: each person's images are all in one part.

    Attributes:
        fit: the people the notebooks' small networks train on (24 of AT&T's 40).
        val: the people thresholds are chosen on (6).
        test: the people every reported figure is measured on (10); nobody trains on them,
            and the course model has never seen any AT&T face.
    """

    fit: FaceDataset
    val: FaceDataset
    test: FaceDataset

    def resize(self, size: int | tuple[int, int]) -> "CourseSplit":
        """Every part resized (``FaceDataset.resize``)."""
        return CourseSplit(*(part.resize(size) for part in self))


def course_split(dataset: FaceDataset) -> CourseSplit:
    """The split of people shared by the notebooks: a quarter test, 15 % validation, the rest to fit.

    On AT&T's 40 people that is 10 test, 6 validation and 24 fit people; the same
    people at any image size, since the split depends only on the labels.
    """
    people = dataset.num_identities
    num_test, num_val = max(1, round(0.25 * people)), max(1, round(0.15 * people))
    if people - num_test - num_val < 2:
        raise FaceNetEduError(f"The course split needs at least 4 people (2 to fit, 1 validation, 1 test); this dataset has {people}.")
    train_val, test = split_by_identity(dataset, num_test_identities=num_test, seed=0)
    fit, val = split_by_identity(train_val, num_test_identities=num_val, seed=1)
    return CourseSplit(fit, val, test)


def split_by_identity(
    dataset: FaceDataset, num_test_identities: int | None = None, test_fraction: float = 0.25, seed: int = 0
) -> tuple[FaceDataset, FaceDataset]:
    """Split into (train, test) by identity, so no test person is ever seen in training.

    Args:
        num_test_identities: how many people go to the test set; by default
            ``round(test_fraction * num_identities)``, at least 1.
        seed: which people are drawn for the test set.
    """
    people = dataset.labels.unique()
    n_test = num_test_identities if num_test_identities is not None else max(1, round(test_fraction * len(people)))
    if not 0 < n_test < len(people):
        raise FaceNetEduError(f"Cannot put {n_test} of {len(people)} identities in the test set; both sides need people.")
    return split_off_identities(dataset, _shuffled_identities(dataset, seed)[:n_test])


def identity_folds(dataset: FaceDataset, num_folds: int = 4, seed: int = 0) -> list[tuple[FaceDataset, FaceDataset]]:
    """Identity-disjoint cross-validation: ``num_folds`` (train, test) pairs, each person tested exactly once."""
    people = dataset.labels.unique()
    if num_folds < 2 or num_folds > len(people):
        raise FaceNetEduError(f"Need 2 to {len(people)} folds for {len(people)} identities, got {num_folds}.")
    return [split_off_identities(dataset, chunk) for chunk in torch.tensor_split(_shuffled_identities(dataset, seed), num_folds)]


def split_off_identities(dataset: FaceDataset, people) -> tuple[FaceDataset, FaceDataset]:
    """(everyone else, these people): every image of the given identities on one side, the rest on the other.

    Args:
        dataset: the images to split.
        people: labels of the identities to split off (tensor, array or list).
    """
    chosen = torch.isin(dataset.labels, torch.as_tensor(people, dtype=dataset.labels.dtype))
    return dataset.subset(torch.nonzero(~chosen).squeeze(1)), dataset.subset(torch.nonzero(chosen).squeeze(1))


def _shuffled_identities(dataset: FaceDataset, seed: int) -> torch.Tensor:
    """The dataset's distinct labels in a random order drawn from ``seed`` (the same order for the same seed)."""
    people = dataset.labels.unique()
    return people[torch.randperm(len(people), generator=torch.Generator().manual_seed(seed))]
