"""The gallery: nearest person or "unknown", checked against brute force; one file written whole; everything checked on load."""

import json

import numpy as np
import pytest
import torch

from facenet_edu.errors import FaceNetEduError
from facenet_edu.faces import embed_faces
from facenet_edu.gallery import Gallery
from facenet_edu.gallery_file import GALLERY_VERSION
from facenet_edu.matching import UNKNOWN
from facenet_edu.model import EmbeddingNet, ModelConfig, model_fingerprint
from unit_vectors import at, chord, random_unit


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return EmbeddingNet(ModelConfig(width=8, embedding_dim=16, image_size=32))


def _hand_gallery() -> Gallery:
    gallery = Gallery()
    gallery.enroll_embeddings("alice", np.stack([at(0), at(10)]))
    gallery.enroll_embeddings("bob", at(90))
    gallery.enroll_embeddings("carol", torch.from_numpy(at(180)))
    return gallery


def test_identify_nearest_person_or_unknown():
    gallery = _hand_gallery()
    assert gallery.names == ["alice", "bob", "carol"] and len(gallery) == 3 and gallery.num_embeddings == 4
    near_alice = gallery.identify(at(5), threshold=0.5)
    assert near_alice.name == "alice" and near_alice.distance == pytest.approx(chord(5), abs=1e-5)
    # 45 degrees: alice's nearest image (10 deg) is 35 deg away, bob 45 deg; carol 135 deg
    between = gallery.identify(at(45), threshold=0.5, top_k=5)
    assert between.name == UNKNOWN and between.distance == pytest.approx(chord(35), abs=1e-5)
    assert [n for n, _ in between.top_k] == ["alice", "bob", "carol"]  # distinct people, nearest first
    assert [d for _, d in between.top_k] == pytest.approx([chord(35), chord(45), chord(135)], abs=1e-5)
    assert gallery.identify(at(45), threshold=0.7).name == "alice"
    assert len(gallery.identify(at(45), threshold=0.7, top_k=2).top_k) == 2


def test_nearest_neighbour_not_centroid():
    gallery = Gallery()
    gallery.enroll_embeddings("alice", np.stack([at(0), at(100)]))  # mean direction 50 degrees
    gallery.enroll_embeddings("bob", at(60))
    result = gallery.identify(at(95), threshold=1.0)
    assert result.name == "alice" and result.distance == pytest.approx(chord(5), abs=1e-5)  # a centroid rule would say bob


def test_identification_matches_brute_force_on_a_random_gallery():
    embeddings, queries = random_unit(60, 8, 0), random_unit(7, 8, 1)
    owners = np.random.default_rng(2).integers(0, 9, 60)
    gallery = Gallery(threshold=1.2)
    for i in range(60):
        gallery.enroll_embeddings(f"p{owners[i]}", embeddings[i])
    batch = gallery.identify_embeddings(queries, top_k=3)
    for q, result in zip(queries, batch):
        best = {}
        for e, o in zip(embeddings, owners):
            d = float(np.linalg.norm(q - e))
            best[f"p{o}"] = min(best.get(f"p{o}", 9.0), d)
        ranked = sorted(best.items(), key=lambda kv: kv[1])
        assert [n for n, _ in result.top_k] == [n for n, _ in ranked[:3]]
        assert [d for _, d in result.top_k] == pytest.approx([d for _, d in ranked[:3]], abs=1e-5)
        assert result.name == (ranked[0][0] if ranked[0][1] <= 1.2 else UNKNOWN)
        alone = gallery.identify(q)  # one at a time gives the same answer, with the stored threshold
        assert alone.name == result.name and alone.distance == pytest.approx(result.distance, abs=1e-9)


def test_remove_forgets_a_person_and_keeps_the_others():
    gallery = _hand_gallery()
    gallery.remove("alice")
    assert gallery.names == ["bob", "carol"] and gallery.num_embeddings == 2
    assert gallery.identify(at(170), threshold=0.5).name == "carol"
    assert gallery.identify(at(5), threshold=0.5).name == UNKNOWN
    np.testing.assert_allclose(gallery.embeddings_of("bob"), at(90)[None])
    with pytest.raises(FaceNetEduError, match="not enrolled"):
        gallery.remove("alice")
    gallery.remove("bob")
    gallery.remove("carol")
    with pytest.raises(FaceNetEduError, match="enrol someone first"):
        gallery.identify(at(0), threshold=1.0)


def test_gallery_refuses_bad_input():
    with pytest.raises(FaceNetEduError, match="enrol someone first"):
        Gallery().identify(at(0), threshold=1.0)
    gallery = _hand_gallery()
    with pytest.raises(FaceNetEduError, match="NaN"):
        gallery.enroll_embeddings("dave", np.array([np.nan, 1.0]))
    with pytest.raises(FaceNetEduError, match="NaN"):
        gallery.identify(np.array([np.nan, 1.0], np.float32), threshold=1.0)
    with pytest.raises(FaceNetEduError, match="2-D embeddings"):
        gallery.enroll_embeddings("dave", np.array([1.0, 0.0, 0.0]))
    with pytest.raises(FaceNetEduError, match="name"):
        gallery.enroll_embeddings(UNKNOWN, at(0))
    with pytest.raises(FaceNetEduError, match="threshold"):
        gallery.identify(at(0))
    with pytest.raises(FaceNetEduError, match="embed an image first"):
        gallery.identify(np.zeros((40, 40), np.float32), threshold=1.0)
    for bad in ["a\nb", "tab\there", "", "   ", 42, "x" * 201]:
        with pytest.raises(FaceNetEduError, match="(?i)name"):
            gallery.enroll_embeddings(bad, at(0))
    for bad in [float("nan"), -0.1, "0.5"]:
        with pytest.raises(FaceNetEduError, match="threshold"):
            gallery.identify(at(0), threshold=bad)
    with pytest.raises(FaceNetEduError, match="top_k"):
        gallery.identify(at(0), threshold=1.0, top_k=0)


def test_images_are_embedded_by_the_caller_then_enrolled(model):
    rng = np.random.default_rng(0)
    faces = [rng.random((40, 40)).astype(np.float32) for _ in range(3)]
    embeddings = embed_faces(model, faces, detect=False)  # (3, 16): the caller's step
    gallery = Gallery(model_fingerprint=model_fingerprint(model))
    gallery.enroll_embeddings("ann", embeddings[:2])
    gallery.enroll_embeddings("ben", embeddings[2])
    assert gallery.names == ["ann", "ben"] and gallery.num_embeddings == 3
    result = gallery.identify(embed_faces(model, [faces[2]], detect=False)[0], threshold=1e-3)
    assert result.name == "ben" and result.distance < 1e-3


def test_a_gallery_refuses_another_model(model):
    gallery = Gallery()
    gallery.use_model(model_fingerprint(model))  # a new gallery adopts the first model
    gallery.use_model(model_fingerprint(model))
    other = EmbeddingNet(ModelConfig(width=8, embedding_dim=16, image_size=32))  # same size, other weights
    with pytest.raises(FaceNetEduError, match="another model"):
        gallery.use_model(model_fingerprint(other))


def test_gallery_round_trip_without_pickle(tmp_path):
    gallery = _hand_gallery()
    gallery.threshold = 0.75
    gallery.model_fingerprint = "0123456789abcdef"
    gallery.save(tmp_path / "people.gal")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["people.gal"]  # one file, at exactly the name given
    with np.load(tmp_path / "people.gal", allow_pickle=False) as arrays:
        assert arrays["embeddings"].dtype == np.float32 and arrays["embeddings"].shape == (4, 2)
        assert arrays["person"].tolist() == [0, 0, 1, 2]
        meta = json.loads(arrays["meta"].tobytes().decode())
    assert meta["names"] == ["alice", "bob", "carol"] and meta["embedding_dim"] == 2 and meta["version"] == GALLERY_VERSION
    loaded = Gallery.load(tmp_path / "people.gal")
    assert loaded.names == gallery.names and loaded.threshold == 0.75 and loaded.model_fingerprint == "0123456789abcdef"
    for name in gallery.names:
        np.testing.assert_array_equal(loaded.embeddings_of(name), gallery.embeddings_of(name))
    assert loaded.identify(at(45)) == gallery.identify(at(45))
    Gallery().save(tmp_path / "empty")
    assert len(Gallery.load(tmp_path / "empty")) == 0


def test_damaged_or_missing_gallery_files_raise(tmp_path):
    with pytest.raises(FaceNetEduError, match="No gallery"):
        Gallery.load(tmp_path / "nothing")
    (tmp_path / "g").write_bytes(b"not a zip file")
    with pytest.raises(FaceNetEduError, match="not a readable"):
        Gallery.load(tmp_path / "g")


def test_galleries_named_alike_do_not_collide(tmp_path):
    a, b = Gallery(), Gallery()
    a.enroll_embeddings("ann", at(0))
    b.enroll_embeddings("ben", at(90))
    a.save(tmp_path / "team.a")
    b.save(tmp_path / "team.b")
    assert Gallery.load(tmp_path / "team.a").names == ["ann"] and Gallery.load(tmp_path / "team.b").names == ["ben"]


def test_format_1_galleries_are_still_read(tmp_path):
    """A gallery written before format 2: stem.npz (embeddings, person) + stem.json (names, threshold)."""
    np.savez(tmp_path / "old.npz", embeddings=np.stack([at(0), at(10), at(90)]), person=np.array([0, 0, 1]))
    (tmp_path / "old.json").write_text(json.dumps({"format": "facenet-edu-gallery", "version": 1, "names": ["ann", "ben"],
                                                   "embedding_dim": 2, "num_embeddings": 3, "threshold": 0.5}))
    for name in ["old", "old.npz", "old.json"]:
        gallery = Gallery.load(tmp_path / name)
        assert gallery.names == ["ann", "ben"] and gallery.threshold == 0.5 and gallery.model_fingerprint is None
        assert gallery.identify(at(85)).name == "ben"


