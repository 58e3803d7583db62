"""The LFW reader: offline copies, pair lists, identity exclusion, the shared preprocessing, and its messages."""

import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from facenet_edu import faces, haar, lfw, lfw_lists
from facenet_edu.errors import FaceNetEduError
from facenet_edu.images import read_image


@pytest.fixture
def cache_in(tmp_path, monkeypatch):
    """Point the download cache (and so the prepared-face cache) at a temporary folder."""
    monkeypatch.setenv("FACENET_EDU_DATA", str(tmp_path / "cache_home"))
    monkeypatch.delenv(lfw_lists.LFW_ENV_VAR, raising=False)
    return tmp_path / "cache_home"


def test_an_offline_copy_is_read_without_writing_into_it_and_test_people_are_left_out(tmp_path, cache_in, make_fake_lfw):
    home = make_fake_lfw(tmp_path / "copy", {"Ann_A": 3, "Bob_B": 2, "Cy_C": 1, "Di_D": 2, "Ed_E": 4},
                     same=[("Bob_B", 1, 2)], different=[("Bob_B", 1, "Cy_C", 1)])
    before = sorted(str(p) for p in home.rglob("*"))
    for given in (home, home.parent):  # lfw_home itself, or the folder that holds it
        people = lfw.load_lfw_people(given, image_size=32, crop_margin=0.05, progress=False)
        names = {people.names[c] for c in people.labels.tolist()}
        assert names == {"Ann_A", "Di_D", "Ed_E"}  # Bob_B and Cy_C are DevTest people
        assert len(people) == 3 + 2 + 4
    assert sorted(str(p) for p in home.rglob("*")) == before  # nothing written into the copy
    assert list((cache_in / "cache").glob("lfw_people_*.npz"))  # the cache went under data/
    kept = lfw.load_lfw_people(home, image_size=32, exclude=(), min_images=2, progress=False)
    assert {kept.names[c] for c in kept.labels.tolist()} == {"Ann_A", "Bob_B", "Di_D", "Ed_E"}


def test_the_env_var_points_at_a_copy(tmp_path, cache_in, monkeypatch, make_fake_lfw):
    home = make_fake_lfw(tmp_path / "copy", {"Ann_A": 2, "Bob_B": 2}, same=[("Ann_A", 1, 2)], different=[("Ann_A", 1, "Bob_B", 2)])
    monkeypatch.setenv(lfw_lists.LFW_ENV_VAR, str(home))
    assert lfw_lists.find_lfw_home() == home
    pairs = lfw.load_lfw_pairs(which="devtest", image_size=32)
    assert pairs.images.shape == (3, 1, 32, 32)
    assert pairs.is_same.tolist() == [True, False]
    assert pairs.people == {"Ann_A", "Bob_B"}


def test_pair_images_are_the_photos_each_line_names(tmp_path, cache_in, make_fake_lfw):
    home = make_fake_lfw(tmp_path / "copy", {"Ann_A": 2, "Bob_B": 3}, same=[("Bob_B", 3, 1)], different=[("Ann_A", 2, "Bob_B", 3)])
    pairs = lfw.load_lfw_pairs(home, image_size=32)
    first_a = lfw.prepare_lfw_photo(home / "lfw_funneled" / "Bob_B" / "Bob_B_0003.jpg", 32, 0.05)[0]
    assert torch.equal(pairs.images[pairs.index_a[0]], first_a)
    assert torch.equal(pairs.images[pairs.index_b[1]], first_a)  # the same photo, stored once
    assert pairs.index_a[0] != pairs.index_b[0]


def test_missing_or_wrong_folders_say_what_to_do(tmp_path, cache_in, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FaceNetEduError, match="no LFW photos there.*lfw_funneled"):
        lfw_lists.find_lfw_home(tmp_path / "empty")
    with pytest.raises(FaceNetEduError, match="Pass --data-dir"):
        lfw_lists.find_lfw_home(download=False)
    import sklearn.datasets

    def offline(**kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(sklearn.datasets, "fetch_lfw_pairs", offline)
    with pytest.raises(FaceNetEduError, match=r"Could not download LFW.*--data-dir"):
        lfw_lists.find_lfw_home()
    with pytest.raises(FaceNetEduError, match="pair list"):
        lfw_lists.read_pair_list(tmp_path / "pairsDevTest.txt")


def test_an_lfw_photo_and_a_new_photo_take_the_same_tensor_path(tmp_path, monkeypatch):
    """A training face is prepared exactly as a new photo whose detector finds LFW's landmarks (or face box)."""
    from facenet_edu.align import LFW_LANDMARKS
    from facenet_edu.detector import Face

    path = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (250, 250, 3), dtype=np.uint8)).save(path)
    monkeypatch.setattr(faces, "detect_faces", lambda grey, **kw: [Face(lfw.LFW_FACE_BOX, LFW_LANDMARKS, 0.99)])
    for image_size in (32, 48, 64):
        assert torch.equal(lfw.prepare_lfw_photo(path, image_size, 0.05), faces.prepare_face(path, image_size))
    monkeypatch.setattr(faces, "face_boxes", lambda grey: [lfw.LFW_FACE_BOX])
    for crop_margin in (0.0, 0.05, 0.2):
        new_photo = faces.prepare_face(path, 48, crop_margin=crop_margin, crop="box")
        assert torch.equal(lfw.prepare_lfw_photo(path, 48, crop_margin, crop="box"), new_photo)


def test_the_pair_lists_match_scikit_learns_reading(lfw_dir, tmp_path):
    """Our parser against scikit-learn's fetch_lfw_pairs, on a writable mirror of the shared copy (as its README says)."""
    from sklearn.datasets import fetch_lfw_pairs

    home = tmp_path / "lfw_home"
    home.mkdir()
    (home / "lfw_funneled").symlink_to(lfw_dir / "lfw_funneled")
    for name in ("pairsDevTrain.txt", "pairsDevTest.txt", "pairs.txt"):
        (home / name).write_bytes((lfw_dir / name).read_bytes())
    theirs = fetch_lfw_pairs(subset="test", data_home=str(tmp_path), resize=0.1, download_if_missing=False)
    rows = lfw_lists.read_pair_list(lfw_dir / "pairsDevTest.txt")
    assert len(rows) == len(theirs.target) == 1000
    assert [a == b for a, _, b, _, _ in rows] == theirs.target.astype(bool).tolist()


@pytest.mark.skipif(not haar.haar_available(), reason="this OpenCV has no Haar cascade (OpenCV 5 moved it to opencv-contrib)")
def test_haar_finds_lfw_face_box_on_lfw_photos(lfw_dir):
    files = sorted((lfw_dir / "lfw_funneled").glob("*/*.jpg"))
    chosen = np.random.default_rng(1).choice(len(files), 40, replace=False)
    boxes = []
    for i in chosen:
        found = haar.haar_face_boxes(read_image(files[i]))
        if found:  # the detector may also find a second, smaller face; take the one nearest the centre
            boxes.append(min(found, key=lambda b: abs(b[0] + b[2] / 2 - 125) + abs(b[1] + b[3] / 2 - 125)))
    assert len(boxes) >= 36
    assert np.abs(np.median(np.array(boxes), axis=0) - np.array(lfw.LFW_FACE_BOX)).max() <= 4


def test_devtest_people_are_never_trained_on(lfw_dir, cache_in):
    pairs = lfw.load_lfw_pairs(lfw_dir, "devtest", image_size=32)
    assert len(pairs) == 1000 and int(pairs.is_same.sum()) == 500
    assert pairs.people == lfw_lists.lfw_people_in(lfw_dir, "devtest")
    assert len(pairs.people) == 963
