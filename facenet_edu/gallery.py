"""Identification: a ``Gallery`` of named people answers "who is this?", or "unknown".

A gallery holds embeddings only. Embedding images is the caller's step
(``faces.embed_faces(model, images)``, one forward pass each); the network is not
changed, so people never seen in training are enrolled the same way. A query is
compared by Euclidean distance with every enrolled embedding at once (one matrix
product, ``distances.cross_distances``).

On disk a gallery is ONE file, at exactly the path given; its format has one owner,
``facenet_edu.gallery_file``, which writes it all or nothing and checks all of it on
load. ``Gallery.edit`` locks the file around load, change and save, so two enrolments
at once both land; a link to a gallery is followed (the target is locked and replaced).
"""

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from .distances import cross_distances
from .errors import FaceNetEduError, check_number, check_threshold
from .files import follow_link
from .gallery_file import check_name, gallery_file_exists, read_gallery_file, write_gallery_file
from .inputs import as_unit_embeddings
from .matching import name_or_unknown

try:  # advisory file locks (Linux, macOS); without them concurrent enrolments are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


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
        model_fingerprint: ``model.model_fingerprint(model)`` of the model whose
            embeddings this gallery holds; saved with it and checked by ``use_model``.
    """

    def __init__(self, threshold: float | None = None, model_fingerprint: str | None = None):
        self.threshold = None if threshold is None else check_threshold(threshold)
        self.model_fingerprint = model_fingerprint
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
            name: the person's name (see ``check_name``).
            embeddings: (K, D) or (D,) tensor or array, L2-normalised, made by the
                gallery's model (embed images first with ``faces.embed_faces``).
        """
        check_name(name)
        new = as_unit_embeddings(embeddings).astype(np.float64)  # (K, D)
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
        queries = as_unit_embeddings(embeddings, "query embeddings")
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
        check_number("top_k", top_k, 1, integer=True)
        k = min(top_k, per_person.shape[1])
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
            results.append(Identification(name_or_unknown(name, distance, threshold), distance, ranked[:top_k]))
        return results

    def identify(self, embedding, threshold: float | None = None, top_k: int = 5) -> Identification:
        """Who is this? The nearest enrolled person, or ``"unknown"`` when farther than ``threshold``.

        Args:
            embedding: one (D,) embedding, tensor or array, L2-normalised; embed an
                image first with ``faces.embed_faces(model, [image])[0]``.
            threshold: an absolute distance; defaults to the gallery's ``threshold``.
            top_k: how many distinct people to list, nearest first.
        """
        if np.ndim(embedding) != 1:
            raise FaceNetEduError(
                f"identify takes one (D,) embedding, got shape {tuple(np.shape(embedding))}; embed an image first "
                "(faces.embed_faces(model, [image])[0]) or use identify_embeddings for many."
            )
        return self.identify_embeddings(embedding, threshold, top_k)[0]

    def use_model(self, fingerprint: str) -> None:
        """Check that ``fingerprint`` (``model_fingerprint(model)``) is the model of this gallery's embeddings.

        A gallery that records no model yet (new, or of format 1) adopts this one.

        Raises:
            FaceNetEduError: the gallery was made with another model; distances across
                models mean nothing.
        """
        if self.model_fingerprint is None:
            self.model_fingerprint = fingerprint
        elif fingerprint != self.model_fingerprint:
            raise FaceNetEduError(
                f"This gallery was made with another model (fingerprint {self.model_fingerprint}, this one is "
                f"{fingerprint}); distances between their embeddings mean nothing. Use the checkpoint that "
                "enrolled the gallery, or enrol everyone again in a new gallery."
            )

    def _threshold(self, threshold: float | None) -> float:
        if threshold is None:
            threshold = self.threshold
        if threshold is None:
            raise FaceNetEduError("No threshold given and the gallery stores none; pass threshold= (see choose_threshold).")
        return check_threshold(threshold)

    # -------------------------------------------------- files

    def save(self, path: str | Path) -> None:
        """Write the gallery to ``path`` (exactly that name), all or nothing (``gallery_file.write_gallery_file``).

        Raises:
            FaceNetEduError: ``path`` exists and is not a facenet-edu gallery (it is
                left untouched), its folder is missing or not writable, or the disk is full.
        """
        embeddings, person, _, _ = self._stored()
        write_gallery_file(path, self._names, embeddings, person, self.threshold, self.model_fingerprint)

    @classmethod
    def load(cls, path: str | Path) -> "Gallery":
        """Read and check a gallery written by ``save`` (or a format-1 ``stem.npz`` + ``stem.json`` pair).

        Everything is checked (``gallery_file.read_gallery_file``).

        Raises:
            FaceNetEduError: no gallery there, or the file is damaged; the message names
                the file and what is wrong.
        """
        stored = read_gallery_file(path)
        gallery = cls(stored.threshold, stored.model_fingerprint)
        if stored.names:
            gallery._names = list(stored.names)
            gallery._lookup = {n: i for i, n in enumerate(stored.names)}
            gallery._parts = [(stored.embeddings, stored.person)]
        return gallery

    @classmethod
    @contextmanager
    def edit(cls, path: str | Path) -> Iterator["Gallery"]:
        """Lock the gallery at ``path``, load it (or start an empty one), let the caller change it, save it.

        Use as ``with Gallery.edit(path) as gallery: gallery.enroll_embeddings(...)``.
        The lock (``fcntl.flock`` on ``path + ".lock"``, left in place) makes a second
        ``edit`` of the same gallery wait, so two enrolments at once both land. If the
        block raises, nothing is written. Where ``fcntl`` does not exist (Windows),
        edits are not serialised.

        A ``path`` that is a symbolic link is followed: the gallery it points to is
        locked (``target.lock``), loaded and replaced, and the link stays a link, so
        every name for one gallery shares one lock and sees every enrolment.

        Raises:
            FaceNetEduError: the existing file is not a gallery or is damaged (it is left
                untouched), the folder is missing, or the disk is full (the old gallery
                is left as it was).
        """
        path = follow_link(path)
        if not path.parent.is_dir():
            raise FaceNetEduError(f"{path}: the folder {path.parent} does not exist; create it first.")
        if path.is_dir():
            raise FaceNetEduError(f"{path} is a folder; give the gallery's file name.")
        try:
            lock = open(path.with_name(path.name + ".lock"), "a")
        except OSError as err:
            raise FaceNetEduError(f"{path}: cannot write in {path.parent} ({err.strerror}).") from err
        with lock:
            if fcntl is not None:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                gallery = cls.load(path) if gallery_file_exists(path) else cls()
                yield gallery
                gallery.save(path)
            finally:
                if fcntl is not None:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


