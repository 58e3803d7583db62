"""The LFW reader under careless input: stale or damaged caches, damaged pair lists, bad photos, links.

Every loaded face is compared with the photo read by hand (``prepare_lfw_photo`` on the
file the folder or the pair line names), so a stale cache cannot pass.
"""

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from facenet_edu import lfw, lfw_lists
from facenet_edu.errors import FaceNetEduError

SIZE, MARGIN = 32, 0.05


@pytest.fixture
def cache_in(tmp_path, monkeypatch):
    """Point the download cache (and so the prepared-face cache) at a temporary folder."""
    monkeypatch.setenv("FACENET_EDU_DATA", str(tmp_path / "cache_home"))
    monkeypatch.delenv(lfw_lists.LFW_ENV_VAR, raising=False)
    return tmp_path / "cache_home" / "cache"


@pytest.fixture
def home(tmp_path, cache_in, make_fake_lfw):
    """Four people; Bob_B and Cy_C are the DevTest people."""
    return make_fake_lfw(tmp_path / "copy", {"Ann_A": 2, "Bob_B": 2, "Cy_C": 2, "Di_D": 1},
                         same=[("Bob_B", 1, 2)], different=[("Bob_B", 1, "Cy_C", 2)])


@pytest.fixture
def no_photo_reading(monkeypatch):
    """After this, any attempt to read a photo fails the test: what loads comes from the cache."""
    def refuse(*args, **kwargs):
        raise AssertionError("a photo was read although the cache should have served it")

    return lambda: monkeypatch.setattr(lfw, "prepare_lfw_photo", refuse)


def save_photo(path: Path, seed: int, quality: int = 95) -> None:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (250, 250, 3), dtype=np.uint8)).save(path, quality=quality)


def read_by_hand(home: Path, size: int = SIZE) -> dict[str, torch.Tensor]:
    """{name: (n, 1, S, S)} from every real person folder's *.jpg files, in name order (the slow, obvious reading)."""
    out = {}
    for folder in sorted((home / "lfw_funneled").iterdir()):
        if folder.is_dir() and not folder.is_symlink():
            files = sorted(f for f in folder.glob("*.jpg") if not f.is_symlink())
            if files:
                out[folder.name] = torch.cat([lfw.prepare_lfw_photo(f, size, MARGIN) for f in files])
    return out


def faces_by_person(dataset) -> dict[str, torch.Tensor]:
    return {dataset.names[c]: dataset.images[dataset.labels == c] for c in dataset.labels.unique().tolist()}


def assert_people_match(dataset, expected: dict) -> None:
    got = faces_by_person(dataset)
    assert got.keys() == expected.keys()
    for name, faces in expected.items():
        assert torch.equal(got[name], faces), name


def pairs_by_hand(home: Path, size: int = SIZE) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    """(face a, face b, same person) for each line of the DevTest list, each photo read from the file it names."""
    lines = [line.split() for line in (home / "pairsDevTest.txt").read_text().splitlines()[1:] if line.strip()]
    rows = [(p[0], p[1], p[0], p[2]) if len(p) == 3 else tuple(p) for p in lines]
    return [tuple(lfw.prepare_lfw_photo(home / "lfw_funneled" / name / f"{name}_{int(number):04d}.jpg", size, MARGIN)[0]
                  for name, number in ((a, i), (b, j))) + (len(p) == 3,) for (a, i, b, j), p in zip(rows, lines)]


def assert_pairs_match(pairs, expected: list) -> None:
    assert len(pairs) == len(expected)
    for i, (face_a, face_b, same) in enumerate(expected):
        assert torch.equal(pairs.images[pairs.index_a[i]], face_a) and torch.equal(pairs.images[pairs.index_b[i]], face_b)
        assert bool(pairs.is_same[i]) is same


def people(home, **kwargs):
    return lfw.load_lfw_people(home, SIZE, MARGIN, progress=False, **kwargs)


# ---------------------------------------------------------------------------------------------- 1. stale caches
def test_a_swapped_person_an_added_photo_and_an_edited_photo_rebuild_the_people_cache(home, no_photo_reading):
    assert_people_match(people(home, exclude=()), read_by_hand(home))
    cy_photos = read_by_hand(home)["Cy_C"]
    # swap Cy_C (a DevTest person) for Ed_E: same number of people, as the old key saw it
    for f in (home / "lfw_funneled" / "Cy_C").iterdir():
        f.unlink()
    (home / "lfw_funneled" / "Cy_C").rmdir()
    (home / "lfw_funneled" / "Ed_E").mkdir()
    for n in (1, 2):
        save_photo(home / "lfw_funneled" / "Ed_E" / f"Ed_E_{n:04d}.jpg", 900 + n)
    trained_on = people(home)
    assert "Ed_E" in faces_by_person(trained_on) and "Cy_C" not in trained_on.names
    assert not any(torch.equal(face, cy) for face in trained_on.images for cy in cy_photos)
    save_photo(home / "lfw_funneled" / "Ann_A" / "Ann_A_0003.jpg", 700)  # an added photo
    assert_people_match(people(home, exclude=()), read_by_hand(home))
    edited = home / "lfw_funneled" / "Ann_A" / "Ann_A_0001.jpg"  # an edited photo, saved later
    before = edited.stat().st_mtime_ns
    save_photo(edited, 701)
    os.utime(edited, ns=(before + 2 * 10**9, before + 2 * 10**9))
    expected = read_by_hand(home)
    assert_people_match(people(home, exclude=()), expected)
    no_photo_reading()  # unchanged copy: the cache serves it, no photo is read
    assert_people_match(people(home, exclude=()), expected)


def test_a_photo_replaced_with_the_same_size_and_modification_time_is_noticed(home):
    """What ``cp --preserve`` or ``rsync -a`` does: only the status-change time tells the new photo from the old."""
    photo = home / "lfw_funneled" / "Ann_A" / "Ann_A_0002.jpg"
    people(home, exclude=())
    old, stat = photo.read_bytes(), photo.stat()
    time.sleep(0.05)  # more than a tick of the file system's clock
    save_photo(photo, 702, quality=75)
    new = photo.read_bytes()
    assert len(new) < len(old)  # the fixture saved at quality 95; a JPEG decoder ignores what follows its end marker
    photo.write_bytes(new + bytes(len(old) - len(new)))
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (photo.stat().st_size, photo.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert_people_match(people(home, exclude=()), read_by_hand(home))


def test_an_edited_pair_list_rebuilds_the_pairs_cache(home, no_photo_reading):
    assert_pairs_match(lfw.load_lfw_pairs(home, image_size=SIZE, crop_margin=MARGIN), pairs_by_hand(home))
    (home / "pairsDevTest.txt").write_text("1\nAnn_A\t2\t1\nDi_D\t1\tAnn_A\t2\n")  # same length, other photos
    expected = pairs_by_hand(home)
    pairs = lfw.load_lfw_pairs(home, image_size=SIZE, crop_margin=MARGIN)
    assert_pairs_match(pairs, expected)
    assert pairs.people == {"Ann_A", "Di_D"}
    no_photo_reading()
    assert_pairs_match(lfw.load_lfw_pairs(home, image_size=SIZE, crop_margin=MARGIN), expected)


def test_each_preprocessing_has_its_own_cache(home, cache_in, no_photo_reading):
    settings = ((32, 0.05, "box"), (48, 0.05, "box"), (32, 0.2, "box"), (32, 0.05, "aligned"))
    for size, margin, crop in settings:
        faces = lfw.load_lfw_people(home, size, margin, exclude=(), progress=False, crop=crop).images
        assert faces.shape[-1] == size
    no_photo_reading()
    again = lfw.load_lfw_people(home, 32, 0.2, exclude=(), progress=False, crop="box").images
    assert len(list(cache_in.glob("lfw_people_*.npz"))) == len(settings)
    assert not torch.equal(again, lfw.load_lfw_people(home, 32, 0.05, exclude=(), progress=False, crop="box").images)
    assert not torch.equal(lfw.load_lfw_people(home, 32, 0.05, exclude=(), progress=False, crop="aligned").images,
                           lfw.load_lfw_people(home, 32, 0.05, exclude=(), progress=False, crop="box").images)


def test_the_preprocessing_is_described_in_one_place():
    assert lfw.lfw_preprocessing(64, 0.1) == {"image_size": 64, "crop_margin": 0.1, "crop": "aligned"}
    assert lfw.lfw_preprocessing(64, 0.1, "box") == {"image_size": 64, "crop_margin": 0.1, "crop": "box"}
    assert lfw._cache_key(lfw.lfw_preprocessing(64, 0.1)) != lfw._cache_key(lfw.lfw_preprocessing(64, 0.2))
    assert lfw._cache_key(lfw.lfw_preprocessing(64, 0.1)) != lfw._cache_key(lfw.lfw_preprocessing(64, 0.1, "box"))
    with pytest.raises(FaceNetEduError, match="crop must be one of"):
        lfw.lfw_preprocessing(64, 0.1, "tight")
    for image_size, crop_margin, bad in ((0, 0.1, "image_size"), ("64", 0.1, "image_size"), (64.0, 0.1, "image_size"),
                                         (64, float("nan"), "crop_margin"), (64, -0.1, "crop_margin"), (4096, 0.1, "image_size")):
        with pytest.raises(FaceNetEduError, match=bad):  # the sentence names the setting that is wrong
            lfw.lfw_preprocessing(image_size, crop_margin)


# ---------------------------------------------------------------------------------------------- 2-4. pair lists
def write_list(tmp_path: Path, content: bytes | str) -> Path:
    path = tmp_path / "pairsDevTest.txt"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


GOOD_ROWS = "Ann_A\t1\t2\nAnn_A\t1\tBob_B\t1\n"


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    ("\n \n", "empty"),
    ("abc\n" + GOOD_ROWS, "line 1: the header"),
    ("1e3\n" + GOOD_ROWS, "line 1: the header"),
    ("0\n", "line 1: the header"),
    ("-1\n" + GOOD_ROWS, "line 1: the header"),
    ("1 2 3\n" + GOOD_ROWS, "line 1: the header"),
    ("9" * 5000 + "\n" + GOOD_ROWS, "line 1: the header"),
    ("500\n" + GOOD_ROWS * 6, "promises 1000 pairs.*has 12; it ends at line 13"),
    ("1\n" + GOOD_ROWS * 2, "promises 2 pairs.*has 4; line 4 is one too many"),
    ("2 1\n" + GOOD_ROWS, "promises 4 pairs"),
    ("1\nAnn_A\t1\tBob_B\t1\nAnn_A\t1\t2\n", "line 2: expected a same-person line"),
    ("1\nAnn_A\t1\t2\nAnn_A\t1\t2\n", "line 3: expected a different-people line"),
    ("1\nAnn_A\t1\t1\n" + "Ann_A\t1\tBob_B\t1\n", "line 2: .*photo 1 with itself"),
    ("1\nAnn_A\t1\t2\nAnn_A\t1\tAnn_A\t2\n", "line 3: .*names Ann_A twice"),
    ("1\n../../../tmp/x/evil\t1\t2\n" + "Ann_A\t1\tBob_B\t1\n", "line 2: '../../../tmp/x/evil' is not a person's name"),
    ("1\nAnn_A\t1\t2\n/etc/passwd\t1\tBob_B\t1\n", "line 3: '/etc/passwd' is not"),
    ("1\n..\t1\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: '..' is not"),
    ("1\nAnn\\..\\x\t1\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: .* is not a person's name"),
    ("1\nC:evil\t1\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: 'C:evil' is not"),
    ("1\nAnn\x07A\t1\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: .* is not a person's name"),
    ("1\nAnn\u200bA\t1\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: .* is not a person's name"),
    ("1\nAnn_A\tx\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: the photo number 'x'"),
    ("1\nAnn_A\t-1\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: the photo number '-1'"),
    ("1\nAnn_A\t1e3\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: the photo number '1e3'"),
    ("1\nAnn_A\t0\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: the photo number '0'"),
    ("1\nAnn_A\t+1\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: the photo number '\\+1'"),
    ("1\nAnn_A\t\u0661\t2\nAnn_A\t1\tBob_B\t1\n", "line 2: the photo number"),  # an Arabic-Indic digit one
    ("1\nAnn_A\t1\t2\nAnn_A\t1\tBob_B\t1.5\n", "line 3: the photo number '1.5'"),
    (b"1\nAnn_A\t1\t2\nJos\xe9\t1\tBob_B\t1\n", "byte 15 is not UTF-8"),
])
def test_a_damaged_pair_list_is_one_clear_error_naming_the_file_and_line(tmp_path, content, message):
    path = write_list(tmp_path, content)
    with pytest.raises(FaceNetEduError, match=message) as caught:
        lfw_lists.read_pair_list(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_a_folder_or_unreadable_file_is_no_pair_list(tmp_path):
    with pytest.raises(FaceNetEduError, match="no such LFW pair list"):
        lfw_lists.read_pair_list(tmp_path)


def test_view_2_lists_give_each_fold_its_same_then_different_pairs(tmp_path):
    path = write_list(tmp_path, "\ufeff2 1\r\nAnn_A 1 2\r\nAnn_A 1 Bob_B 1\r\n\r\nBob_B 1 2\r\nBob_B 2 Cy_C 3\r\n")
    assert lfw_lists.read_pair_list(path) == [("Ann_A", 1, "Ann_A", 2, 0), ("Ann_A", 1, "Bob_B", 1, 0),
                                        ("Bob_B", 1, "Bob_B", 2, 1), ("Bob_B", 2, "Cy_C", 3, 1)]
    with pytest.raises(FaceNetEduError, match="line 4: expected a same-person line"):
        lfw_lists.read_pair_list(write_list(tmp_path, "2 1\nAnn_A 1 2\nAnn_A 1 Bob_B 1\nBob_B 2 Cy_C 3\nBob_B 1 2\n"))


def test_a_damaged_pair_list_stops_every_loader_before_any_photo_is_read(home, no_photo_reading):
    (home / "pairsDevTest.txt").write_text("1\n../../copy/lfw_home/lfw_funneled/Ann_A\t1\t2\nAnn_A\t1\tBob_B\t1\n")
    no_photo_reading()
    for load in (lambda: lfw.load_lfw_pairs(home, image_size=SIZE), lambda: people(home)):
        with pytest.raises(FaceNetEduError, match="line 2: .* is not a person's name"):
            load()


def test_the_real_pair_lists_have_the_documented_shape(lfw_dir):
    for name, folds, per_kind in (("pairsDevTrain.txt", 1, 1100), ("pairsDevTest.txt", 1, 500), ("pairs.txt", 10, 300)):
        rows = lfw_lists.read_pair_list(lfw_dir / name)
        assert len(rows) == folds * 2 * per_kind
        for fold in range(folds):
            in_fold = rows[fold * 2 * per_kind:(fold + 1) * 2 * per_kind]
            assert {r[4] for r in in_fold} == {fold}
            assert [a == b for a, _, b, _, _ in in_fold] == [True] * per_kind + [False] * per_kind


# ---------------------------------------------------------------------------------------------- 5. empty copies
def test_an_empty_photo_folder_or_nobody_left_is_refused_clearly(tmp_path, cache_in, make_fake_lfw):
    empty = tmp_path / "empty" / "lfw_home"
    (empty / "lfw_funneled").mkdir(parents=True)
    (empty / "pairsDevTest.txt").write_text("1\nAnn_A\t1\t2\nAnn_A\t1\tBob_B\t1\n")
    with pytest.raises(FaceNetEduError, match="no photos found"):
        people(empty)
    (empty / "lfw_funneled" / "Ann_A").mkdir(parents=True)  # a person folder without photos
    with pytest.raises(FaceNetEduError, match="no photos found"):
        people(empty)
    small = make_fake_lfw(tmp_path / "small", {"Ann_A": 2, "Bob_B": 1}, same=[("Ann_A", 1, 2)],
                          different=[("Ann_A", 1, "Bob_B", 1)])
    with pytest.raises(FaceNetEduError, match="no person has at least 1 readable photos, without the people of devtest"):
        people(small)
    with pytest.raises(FaceNetEduError, match="min_images"):
        people(small, exclude=(), min_images=0)


# ---------------------------------------------------------------------------------------------- 6. damaged caches
def damage(**changes):
    """A cache file with some arrays changed (None: removed), everything else as the good file had it."""
    def write(path: Path, arrays: dict) -> None:
        changed = {**arrays, **{k: v(arrays) if callable(v) else v for k, v in changes.items()}}
        np.savez(path, **{k: v for k, v in changed.items() if v is not None})
    return write


def raw(make_bytes):
    return lambda path, arrays: path.write_bytes(make_bytes(path.read_bytes()))


DAMAGES = {
    "truncated": raw(lambda b: b[: len(b) // 2]),
    "empty": raw(lambda b: b""),
    "noise": raw(lambda b: np.random.default_rng(0).integers(0, 256, len(b), dtype=np.uint8).tobytes()),
    "a .npy, not an .npz": lambda path, arrays: np.save(open(path, "wb"), arrays["images"]),
    "pickled objects": damage(images=lambda a: a["images"].astype(object)),
    "no format version": damage(format_version=None),
    "an extra array": damage(labels=np.zeros(3, np.int64)),
    "no skipped list": damage(skipped=None),
    "format version 1": damage(format_version=np.int64(1)),
    "format version 3": damage(format_version=np.int64(3)),
    "format version as text": damage(format_version=np.str_("2")),
    "another key": damage(key=lambda a: np.str_(str(a["key"])[::-1])),
    "a key of bytes": damage(key=lambda a: np.bytes_(str(a["key"]).encode())),
    "float64 faces": damage(images=lambda a: a["images"].astype(np.float64)),
    "uint8 faces": damage(images=lambda a: (a["images"] * 255).astype(np.uint8)),
    "32-pixel faces for 48": damage(images=lambda a: a["images"][:, :, :32, :32].copy()),
    "no channel axis": damage(images=lambda a: a["images"][:, 0]),
    "one face short": damage(images=lambda a: a["images"][:-1]),
    "one face too many": damage(images=lambda a: np.concatenate([a["images"], a["images"][:1]])),
    "a NaN": damage(images=lambda a: np.where(np.arange(a["images"].size).reshape(a["images"].shape) == 5, np.nan,
                                              a["images"]).astype(np.float32)),
    "an infinity": damage(images=lambda a: np.full_like(a["images"], np.inf)),
    "values above 1": damage(images=lambda a: a["images"] * 2),
    "negative values": damage(images=lambda a: a["images"] - 0.5),
    "skipped out of range": damage(skipped=np.array([99], np.int64)),
    "skipped as floats": damage(skipped=np.array([], np.float64)),
}


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_people_cache_is_rebuilt(home, cache_in, no_photo_reading, how):
    first = lfw.load_lfw_people(home, 48, MARGIN, exclude=(), progress=False)
    (path,) = cache_in.glob("lfw_people_*.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    DAMAGES[how](path, arrays)
    again = lfw.load_lfw_people(home, 48, MARGIN, exclude=(), progress=False)
    assert_people_match(again, read_by_hand(home, 48))
    assert torch.equal(again.images, first.images) and again.skipped == []
    no_photo_reading()  # the rebuilt file is whole again
    assert torch.equal(lfw.load_lfw_people(home, 48, MARGIN, exclude=(), progress=False).images, first.images)


@pytest.mark.parametrize("how", ["truncated", "32-pixel faces for 48", "one face short", "a NaN", "another key"])
def test_a_damaged_pairs_cache_is_rebuilt(home, cache_in, how):
    lfw.load_lfw_pairs(home, image_size=48, crop_margin=MARGIN)
    (path,) = cache_in.glob("lfw_devtest_*.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    DAMAGES[how](path, arrays)
    assert_pairs_match(lfw.load_lfw_pairs(home, image_size=48, crop_margin=MARGIN), pairs_by_hand(home, 48))


def test_a_failed_cache_write_leaves_no_file_and_loses_no_result(home, cache_in, monkeypatch):
    def dies_halfway(handle, **arrays):
        handle.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", dies_halfway)
    assert_people_match(people(home, exclude=()), read_by_hand(home))
    assert list(cache_in.iterdir()) == []  # neither a half cache nor its temporary file
    monkeypatch.undo()
    assert_people_match(people(home, exclude=()), read_by_hand(home))


# ---------------------------------------------------------------------------------------------- 7. bad photos
def test_an_unreadable_photo_is_skipped_and_listed_in_the_people_and_refused_in_the_pairs(home, no_photo_reading):
    bad = home / "lfw_funneled" / "Ann_A" / "Ann_A_0002.jpg"
    bad.write_bytes(b"not a jpeg")
    (home / "pairsDevTest.txt").write_text("1\nAnn_A\t1\t2\nAnn_A\t1\tBob_B\t1\n")
    with pytest.raises(FaceNetEduError, match=r"1 photos of pairsDevTest.txt cannot be read, e.g. .*Ann_A_0002.jpg"):
        lfw.load_lfw_pairs(home, image_size=SIZE)
    ann_first = lfw.prepare_lfw_photo(home / "lfw_funneled" / "Ann_A" / "Ann_A_0001.jpg", SIZE, MARGIN)
    for _ in range(2):  # built, then from the cache: the same list
        with pytest.warns(UserWarning, match="Skipped 1 LFW photos"):
            dataset = people(home, exclude=())
        assert dataset.skipped == [str(bad)]
        assert torch.equal(faces_by_person(dataset)["Ann_A"], ann_first)
        assert len(dataset) == 6
        no_photo_reading()


def test_a_missing_pair_photo_is_refused(home):
    (home / "lfw_funneled" / "Cy_C" / "Cy_C_0002.jpg").unlink()
    with pytest.raises(FaceNetEduError, match="1 photos of pairsDevTest.txt are missing.*Cy_C_0002.jpg"):
        lfw.load_lfw_pairs(home, image_size=SIZE)


# ---------------------------------------------------------------------------------------------- 8. links
def test_linked_folders_and_photos_are_not_followed(home):
    photos = home / "lfw_funneled"
    before = sorted(str(p) for p in home.rglob("*"))
    (photos / "Evil_E").symlink_to(photos, target_is_directory=True)        # the whole copy as one person
    (photos / "Twin_T").symlink_to(photos / "Bob_B", target_is_directory=True)  # a DevTest person under a new name
    (photos / "Ann_A" / "Ann_A_0009.jpg").symlink_to(photos / "Bob_B" / "Bob_B_0001.jpg")
    with pytest.warns(UserWarning, match="Skipped 3 LFW photos or linked folders"):
        dataset = people(home)
    assert sorted(dataset.skipped) == sorted(str(p) for p in (photos / "Evil_E", photos / "Twin_T",
                                                             photos / "Ann_A" / "Ann_A_0009.jpg"))
    assert "Evil_E" not in dataset.names and "Twin_T" not in dataset.names
    bob = read_by_hand(home)["Bob_B"]
    assert not any(torch.equal(face, b) for face in dataset.images for b in bob)
    assert_people_match(dataset, {k: v for k, v in read_by_hand(home).items() if k not in ("Bob_B", "Cy_C")})
    (home / "pairsDevTest.txt").write_text("1\nTwin_T\t1\t2\nAnn_A\t1\tDi_D\t1\n")
    with pytest.raises(FaceNetEduError, match="missing \\(or links, not followed\\).*Twin_T"):
        lfw.load_lfw_pairs(home, image_size=SIZE)
    for link in (photos / "Evil_E", photos / "Twin_T", photos / "Ann_A" / "Ann_A_0009.jpg"):
        link.unlink()
    (home / "pairsDevTest.txt").write_text("1\nBob_B\t1\t2\nBob_B\t1\tCy_C\t2\n")
    assert sorted(str(p) for p in home.rglob("*")) == before  # only what the test itself changed


def test_a_linked_photo_folder_is_read(tmp_path, home):
    """``lfw_funneled`` itself may be a link (scikit-learn's README suggests a mirror made so)."""
    mirror = tmp_path / "mirror" / "lfw_home"
    mirror.mkdir(parents=True)
    (mirror / "lfw_funneled").symlink_to(home / "lfw_funneled", target_is_directory=True)
    (mirror / "pairsDevTest.txt").write_bytes((home / "pairsDevTest.txt").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_people_match(people(mirror, exclude=()), read_by_hand(home))
