"""Identification: a ``Gallery`` of named people answers "who is this?", or "unknown".

Enrolling someone stores the embeddings of their images (one forward pass each); the
network is not changed, so people never seen in training are enrolled the same way.
A query is compared by Euclidean distance with every enrolled embedding at once (one
matrix product, ``matching.cross_distances``).
"""

import json
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import torch
import torch.nn as nn

from .errors import FaceNetEduError
from .faces import NoFacePolicy, embed_faces
from .images import ImageLike
from .matching import UNKNOWN, _as_embeddings, cross_distances

GALLERY_FORMAT = "facenet-edu-gallery"
GALLERY_VERSION = 1


class Identification(NamedTuple):
    """Who a face is: the nearest enrolled person, or ``"unknown"`` when even they are too far.

    ``top_k`` lists distinct people, nearest first, each with their best distance.
    """

    name: str
    distance: float
    top_k: list[tuple[str, float]]


class Gallery:
    """Named people, each enrolled from one or more embeddings; answers "who is this?".

    Decision rule (nearest neighbour, the classic): a query's distance to a person is
    the distance to that person's NEAREST enrolled embedding (not to their mean); the
    answer is the nearest person, or ``"unknown"`` when that distance exceeds the
    threshold. All distances come from one matrix product, so 100,000 enrolled
    embeddings answer a query in milliseconds (``benchmarks/gallery.py``).

    Enrolling changes no weights: someone the network never saw in training is
    enrolled by embedding their images (one forward pass each) and storing the result.

    Args:
        threshold: default threshold for ``identify``; saved with the gallery.
    """

    def __init__(self, threshold: float | None = None):
        self.threshold = threshold
        self._names: list[str] = []
        self._lookup: dict[str, int] = {}  # name -> index into _names
        # one (K, D) float64 embeddings array and (K,) person index per enrolment, merged on the next query
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []
        self._cache: tuple | None = None

    def _stored(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """All embeddings grouped by person: (M, D) float64, (M,) person index sorted, (M,) squared norms, (P,) group starts."""
        if self._cache is None:
            if self._parts:
                embeddings = np.concatenate([e for e, _ in self._parts])
                person = np.concatenate([p for _, p in self._parts])
                order = np.argsort(person, kind="stable")  # each person's rows together, in enrolment order
                embeddings, person = embeddings[order], person[order]
                self._parts = [(embeddings, person)]
            else:
                embeddings, person = np.empty((0, 0), np.float64), np.empty(0, np.int64)
            starts = np.searchsorted(person, np.arange(len(self._names)))
            self._cache = (embeddings, person, (embeddings * embeddings).sum(1), starts)
        return self._cache

    # -------------------------------------------------- contents

    @property
    def names(self) -> list[str]:
        """Enrolled people, in enrolment order."""
        return list(self._names)

    def __len__(self) -> int:
        """Number of enrolled people."""
        return len(self._names)

    @property
    def num_embeddings(self) -> int:
        """Number of enrolled embeddings (several per person are allowed)."""
        return sum(len(p) for _, p in self._parts)  # few parts: they are merged on each query

    @property
    def embedding_dim(self) -> int | None:
        """Size of the enrolled embeddings; None while the gallery is empty."""
        return int(self._parts[0][0].shape[1]) if self._parts else None

    def embeddings_of(self, name: str) -> np.ndarray:
        """(K, D) float64 array of the embeddings enrolled for ``name``, in enrolment order."""
        index = self._index(name)
        embeddings, person, _, _ = self._stored()
        return embeddings[person == index]

    def _index(self, name: str) -> int:
        if name not in self._lookup:
            shown = ", ".join(self._names[:10]) + (", ..." if len(self._names) > 10 else "")
            raise FaceNetEduError(f"{name!r} is not enrolled; enrolled people: {shown or 'none'}.")
        return self._lookup[name]

    # -------------------------------------------------- enrolment

    def enroll_embeddings(self, name: str, embeddings) -> None:
        """Add embeddings for ``name`` (a new person, or more images of someone enrolled).

        Args:
            name: the person's name; not empty and not ``"unknown"``.
            embeddings: (K, D) or (D,) tensor or array, L2-normalised.
        """
        if not isinstance(name, str) or not name.strip() or name == UNKNOWN:
            raise FaceNetEduError(f"A person needs a non-empty name other than {UNKNOWN!r}, got {name!r}.")
        new = _as_embeddings(embeddings).astype(np.float64)  # (K, D)
        if self._parts and new.shape[1] != self.embedding_dim:
            raise FaceNetEduError(
                f"This gallery holds {self.embedding_dim}-D embeddings, got {new.shape[1]}-D ones; "
                "enrol with the same model that built the gallery."
            )
        if name not in self._lookup:
            self._lookup[name] = len(self._names)
            self._names.append(name)
        self._parts.append((new, np.full(new.shape[0], self._lookup[name], np.int64)))
        self._cache = None

    def enroll(
        self, name: str, images: Sequence[ImageLike] | ImageLike, model: nn.Module,
        detect: bool = False, on_no_face: NoFacePolicy = "error",
    ) -> None:
        """Embed ``images`` with ``model`` (one forward pass each) and enrol them under ``name``.

        Args:
            images: one image or a list of file paths, Pillow images or arrays.
            detect: find and crop the face first (photographs); False for face crops.
        """
        if isinstance(images, (str, Path)) or not isinstance(images, Sequence):
            images = [images]
        if len(images) == 0:
            raise FaceNetEduError(f"Give at least one image to enrol {name!r}.")
        self.enroll_embeddings(name, embed_faces(model, images, detect=detect, on_no_face=on_no_face))

    def remove(self, name: str) -> None:
        """Forget ``name`` and all their embeddings."""
        index = self._index(name)
        embeddings, person, _, _ = self._stored()
        keep = person != index
        embeddings, person = embeddings[keep], person[keep]
        person = person - (person > index)  # later people move down one place
        del self._names[index]
        self._lookup = {n: i for i, n in enumerate(self._names)}
        self._parts = [(embeddings, person)] if len(person) else []
        self._cache = None

    # -------------------------------------------------- identification

    def person_distances(self, embeddings) -> np.ndarray:
        """Distance of each query to each enrolled person (to that person's nearest embedding).

        Args:
            embeddings: (Q, D) or (D,) queries, L2-normalised.

        Returns:
            (Q, P) float64 array; column p is ``names[p]``.
        """
        if not self._parts:
            raise FaceNetEduError("The gallery is empty: enrol someone first (Gallery.enroll or `enroll`).")
        queries = _as_embeddings(embeddings, "query embeddings")
        if queries.shape[1] != self.embedding_dim:
            raise FaceNetEduError(
                f"The gallery holds {self.embedding_dim}-D embeddings but the query is {queries.shape[1]}-D; "
                "use the model that built the gallery."
            )
        stored, _, sq_norms, starts = self._stored()
        dists = cross_distances(queries, stored, sq_norms)     # (Q, M), columns grouped by person
        return np.minimum.reduceat(dists, starts, axis=1)      # (Q, P): each person's nearest embedding

    def identify_embeddings(self, embeddings, threshold: float | None = None, top_k: int = 5) -> list[Identification]:
        """Identify many queries at once.

        Args:
            embeddings: (Q, D) or (D,) tensor or array, L2-normalised.
            threshold: "unknown" when the nearest person is farther than this; defaults
                to the gallery's own ``threshold``.
            top_k: how many distinct people to list per query, nearest first.

        Returns:
            One ``Identification`` per query.
        """
        threshold = self._threshold(threshold)
        per_person = self.person_distances(embeddings)  # (Q, P)
        k = max(1, min(top_k, per_person.shape[1]))
        if k < per_person.shape[1]:  # only the k nearest people need sorting
            nearest = np.argpartition(per_person, k - 1, axis=1)[:, :k]                           # (Q, k), unordered
            order = np.argsort(np.take_along_axis(per_person, nearest, axis=1), axis=1, kind="stable")
            nearest = np.take_along_axis(nearest, order, axis=1)                                  # (Q, k), nearest first
        else:
            nearest = np.argsort(per_person, axis=1, kind="stable")                               # (Q, P)
        results = []
        for row, people in zip(per_person, nearest):
            ranked = [(self._names[p], float(row[p])) for p in people]
            name, distance = ranked[0]
            results.append(Identification(name if distance <= threshold else UNKNOWN, distance, ranked[:top_k]))
        return results

    def identify(
        self, query, threshold: float | None = None, top_k: int = 5,
        model: nn.Module | None = None, detect: bool = False, on_no_face: NoFacePolicy = "error",
    ) -> Identification:
        """Who is this? The nearest enrolled person, or ``"unknown"`` when farther than ``threshold``.

        Args:
            query: an embedding, (D,) tensor or array (1-D means embedding), or an image
                (file path, Pillow image, (H, W) array) which is embedded with ``model``.
            threshold: an absolute distance; defaults to the gallery's ``threshold``.
            top_k: how many distinct people to list, nearest first.
            model: needed when ``query`` is an image.
            detect: find and crop the face first (photographs only).
        """
        is_embedding = isinstance(query, (np.ndarray, torch.Tensor)) and query.ndim == 1
        if not is_embedding:
            if model is None:
                raise FaceNetEduError("To identify an image, pass model=...; or pass its (D,) embedding instead.")
            query = embed_faces(model, [query], detect=detect, on_no_face=on_no_face)[0]
        return self.identify_embeddings(query, threshold, top_k)[0]

    def _threshold(self, threshold: float | None) -> float:
        if threshold is None:
            threshold = self.threshold
        if threshold is None:
            raise FaceNetEduError("No threshold given and the gallery stores none; pass threshold= (see choose_threshold).")
        return float(threshold)

    # -------------------------------------------------- files

    @staticmethod
    def _paths(path: str | Path) -> tuple[Path, Path]:
        path = Path(path)
        return path.with_suffix(".npz"), path.with_suffix(".json")

    def save(self, path: str | Path) -> None:
        """Write ``path.npz`` (embeddings float32, person index) and ``path.json`` (names, sizes, threshold, version)."""
        npz_path, json_path = self._paths(path)
        embeddings, person, _, _ = self._stored()
        np.savez(npz_path, embeddings=embeddings.astype(np.float32), person=person)
        meta = {
            "format": GALLERY_FORMAT, "version": GALLERY_VERSION, "names": self._names,
            "embedding_dim": self.embedding_dim, "num_embeddings": self.num_embeddings, "threshold": self.threshold,
        }
        json_path.write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "Gallery":
        """Read a gallery written by ``save`` (no pickle is involved)."""
        npz_path, json_path = cls._paths(path)
        if not json_path.is_file() or not npz_path.is_file():
            raise FaceNetEduError(f"No gallery at {json_path.with_suffix('')}: expected {json_path.name} and {npz_path.name}.")
        try:
            meta = json.loads(json_path.read_text())
            with np.load(npz_path, allow_pickle=False) as arrays:
                embeddings, person = arrays["embeddings"], arrays["person"]
        except (ValueError, KeyError, OSError) as err:
            raise FaceNetEduError(f"{npz_path}: not a readable facenet-edu gallery ({err}).") from err
        if not isinstance(meta, dict) or meta.get("format") != GALLERY_FORMAT:
            raise FaceNetEduError(f"{json_path}: not a facenet-edu gallery file.")
        if meta.get("version") != GALLERY_VERSION:
            raise FaceNetEduError(f"{json_path}: gallery format version {meta.get('version')}, this code reads {GALLERY_VERSION}.")
        gallery = cls(meta.get("threshold"))
        names = [str(n) for n in meta["names"]]
        if len(set(names)) != len(names):
            raise FaceNetEduError(f"{json_path}: a name appears twice; the file is damaged.")
        if person.shape != (embeddings.shape[0],) or set(person.tolist()) != set(range(len(names))):
            raise FaceNetEduError(f"{npz_path}: embeddings, person indices and names do not match; the files are damaged.")
        gallery._names = names
        gallery._lookup = {n: i for i, n in enumerate(names)}
        if len(person):
            gallery._parts = [(embeddings.astype(np.float64), person.astype(np.int64))]
        return gallery
