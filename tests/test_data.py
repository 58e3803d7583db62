"""Datasets, the folder reader, identity splits, the P x K sampler and augmentation."""


import numpy as np
import pytest
import torch
from PIL import Image

from facenet_edu import (
    course_split,
    FaceNetEduError,
    PKSampler,
    augment,
    identity_folds,
    load_dataset,
    read_image_folder,
    split_by_identity,
    synthetic_dataset,
)
from facenet_edu.augment import AugmentConfig
from facenet_edu.data import FaceDataset, resize_images


def _write_people(root, sizes=((20, 16),) * 3, people=("alice", "bob")):
    for person in people:
        folder = root / person / "nested"
        folder.mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            Image.fromarray(np.full((h, w), 40 * i + 10, np.uint8)).save(folder / f"{i}.png")


def test_folder_reader_reads_every_person_recursively(tmp_path):
    _write_people(tmp_path)
    (tmp_path / "README.txt").write_text("not a person")
    ds = read_image_folder(tmp_path)
    assert ds.names == ["alice", "bob"]
    assert ds.images.shape == (6, 1, 20, 16)
    assert ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.skipped == []
    assert abs(ds.images[1].mean().item() - 50 / 255) < 1e-6


def test_folder_reader_reports_and_skips_corrupt_files(tmp_path):
    _write_people(tmp_path)
    (tmp_path / "alice" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "bob" / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match="Skipped 2 unreadable files"):
        ds = read_image_folder(tmp_path)
    assert len(ds) == 6
    assert sorted(p.split("/")[-1] for p in ds.skipped) == ["broken.png", "notes.txt"]


def test_folder_reader_empty_and_missing_folders_raise_clear_errors(tmp_path):
    with pytest.raises(FaceNetEduError, match="no readable images"):
        read_image_folder(tmp_path)
    (tmp_path / "carol").mkdir()
    with pytest.raises(FaceNetEduError, match="no readable images"):
        read_image_folder(tmp_path)
    with pytest.raises(FaceNetEduError, match="no such folder"):
        read_image_folder(tmp_path / "missing")


def test_folder_reader_resizes_mixed_sizes_to_the_most_common(tmp_path):
    _write_people(tmp_path, sizes=((20, 16), (20, 16), (40, 32)))
    ds = read_image_folder(tmp_path)
    assert ds.image_size == (20, 16)


def test_att_faces_are_read_with_natural_order(att_dir):
    ds = load_dataset("att", att_dir)
    assert (len(ds), ds.num_identities, ds.image_size) == (400, 40, (112, 92))
    assert ds.names[:3] == ["s1", "s2", "s3"] and ds.names[9] == "s10"
    first = np.asarray(Image.open(att_dir / "s1" / "1.pgm"), np.float32) / 255
    assert np.allclose(ds.images[0, 0].numpy(), first)


def test_resize_crops_centre_to_aspect_then_scales():
    images = torch.zeros(1, 1, 112, 92)
    images[:, :, 10:102] = 1.0  # the central 92 x 92 square is white, 10 rows above and below are black
    out = resize_images(images, (46, 46))
    assert out.shape == (1, 1, 46, 46)
    assert torch.allclose(out, torch.ones_like(out))


def test_synthetic_dataset_and_unknown_name():
    ds = synthetic_dataset(5, 4, image_size=32, seed=1)
    assert (len(ds), ds.num_identities, ds.image_size) == (20, 5, (32, 32))
    assert "synthetic" in ds.summary()
    with pytest.raises(FaceNetEduError, match="Unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(FaceNetEduError, match="needs --data-dir"):
        load_dataset("folder")


def test_split_by_identity_never_leaks_people():
    ds = synthetic_dataset(20, 3, image_size=32)
    train, test = split_by_identity(ds, num_test_identities=5, seed=4)
    assert set(train.labels.tolist()).isdisjoint(test.labels.tolist())
    assert (train.num_identities, test.num_identities, len(train) + len(test)) == (15, 5, 60)
    again, _ = split_by_identity(ds, num_test_identities=5, seed=4)
    assert torch.equal(again.labels, train.labels)
    with pytest.raises(FaceNetEduError):
        split_by_identity(ds, num_test_identities=20)


def test_identity_folds_test_each_person_once():
    ds = synthetic_dataset(12, 2, image_size=32)
    folds = identity_folds(ds, num_folds=4, seed=0)
    tested = [p for _, test in folds for p in test.labels.unique().tolist()]
    assert sorted(tested) == list(range(12))
    for train, test in folds:
        assert set(train.labels.tolist()).isdisjoint(test.labels.tolist())


def test_pk_sampler_batches_have_p_identities_of_k_images():
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 5 + [3] * 1 + [4] * 8)
    sampler = PKSampler(labels, p=3, k=4, num_batches=25, generator=torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 25
    for batch in batches:
        assert batch.shape == (12,)
        groups = labels[batch].view(3, 4)
        assert (groups == groups[:, :1]).all()          # K images of one identity per group
        assert groups[:, 0].unique().numel() == 3         # P different identities
        assert 3 not in groups                            # the one-image identity is skipped
        for group_idx, group in zip(batch.view(3, 4), groups):
            if int(group[0]) != 1:                        # identities with >= K images: no repeats
                assert group_idx.unique().numel() == 4
    again = list(PKSampler(labels, 3, 4, 25, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a, b) for a, b in zip(batches, again))


def test_pk_sampler_rejects_impossible_settings():
    with pytest.raises(FaceNetEduError, match="P >= 2"):
        PKSampler(torch.tensor([0, 0, 1, 1]), p=1, k=2, num_batches=1)
    with pytest.raises(FaceNetEduError, match="Only 1 identities"):
        PKSampler(torch.tensor([0, 0, 1]), p=2, k=2, num_batches=1)


def test_augment_keeps_shape_range_and_is_seeded():
    images = synthetic_dataset(2, 4, image_size=32).images
    out = augment(images, torch.Generator().manual_seed(0))
    again = augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, again)
    assert not torch.allclose(out, images)
    identity = augment(images, torch.Generator().manual_seed(0), AugmentConfig.none())
    assert torch.allclose(identity, images, atol=1e-5)


def test_augment_flip_only_mirrors():
    images = torch.rand(16, 1, 8, 8)
    cfg = AugmentConfig.none()
    cfg.flip = True
    out = augment(images, torch.Generator().manual_seed(1), cfg)
    for src, dst in zip(images, out):
        assert torch.allclose(dst, src, atol=1e-5) or torch.allclose(dst, src.flip(-1), atol=1e-5)


def test_dataset_validates_shapes():
    with pytest.raises(ValueError):
        FaceDataset(torch.zeros(3, 8, 8), torch.zeros(3, dtype=torch.long), ["a"])


def test_split_off_identities_puts_every_image_of_those_people_on_one_side():
    from facenet_edu.splits import split_off_identities

    data = synthetic_dataset(num_identities=6, images_per_identity=3, image_size=32, seed=0)
    rest, chosen = split_off_identities(data, [1, 4])
    assert sorted(chosen.labels.unique().tolist()) == [1, 4] and len(chosen) == 6
    assert not set(rest.labels.tolist()) & {1, 4} and len(rest) + len(chosen) == len(data)
    train, test = split_by_identity(data, num_test_identities=2, seed=5)
    again = split_off_identities(data, test.labels.unique())
    assert torch.equal(again[0].labels, train.labels) and torch.equal(again[1].images, test.images)


def test_course_split_puts_every_person_in_exactly_one_part_with_the_sizes_the_notebooks_state():
    dataset = synthetic_dataset(num_identities=40, images_per_identity=3, image_size=16, seed=0)
    split = course_split(dataset)
    people = [set(part.labels.tolist()) for part in split]
    assert [len(p) for p in people] == [24, 6, 10]
    assert people[0] | people[1] | people[2] == set(range(40))
    assert not (people[0] & people[1] or people[0] & people[2] or people[1] & people[2])
    assert sum(len(part) for part in split) == len(dataset)
    resized = course_split(dataset.resize(8))                    # the same people at any size
    assert [set(part.labels.tolist()) for part in resized] == people
    assert [set(part.labels.tolist()) for part in split.resize(8)] == people
    with pytest.raises(FaceNetEduError):
        course_split(synthetic_dataset(num_identities=3, images_per_identity=2, image_size=16))
