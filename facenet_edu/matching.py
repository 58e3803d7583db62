"""Using embeddings: verification, identification against a gallery, thresholds, clustering.

After training, a new face needs no triplets: it goes through the network once
(``facenet_edu.faces.embed_faces``) and becomes a unit-length embedding. Everything
below compares such embeddings by Euclidean distance, which for unit vectors lies in
[0, 2]:

- verification: one distance to one reference, "same person" when it is at most a
  ``threshold``;
- identification: the nearest enrolled embedding in a ``Gallery``, "unknown" when even
  that one is farther than the threshold;
- clustering: group new faces with no names at all.

People never seen in training work exactly the same way: enrolling someone just
stores their embeddings; the network is not changed.
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

UNKNOWN = "unknown"
GALLERY_FORMAT = "facenet-edu-gallery"
GALLERY_VERSION = 1


def _as_embeddings(embeddings, what: str = "embeddings") -> np.ndarray:
    """(N, D) or (D,) array-like -> (N, D) float32 array of unit rows, or a FaceNetEduError saying what is wrong."""
    if isinstance(embeddings, torch.Tensor):
        embeddings = embeddings.detach().cpu().numpy()
    arr = np.asarray(embeddings, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FaceNetEduError(f"Expected {what} of shape (N, D) with N, D > 0, got shape {np.shape(embeddings)}.")
    if not np.isfinite(arr).all():
        raise FaceNetEduError(f"The {what} contain NaN or infinite values; the model may have diverged (lower lr).")
    norms = np.linalg.norm(arr, axis=1)
    if np.abs(norms - 1).max() > 1e-3:
        raise FaceNetEduError(
            f"The {what} must be L2-normalised (unit length), but norms range from {norms.min():.3g} to "
            f"{norms.max():.3g}; use facenet_edu.embed or torch.nn.functional.normalize."
        )
    return arr


def cross_distances(queries: np.ndarray, references: np.ndarray, reference_sq_norms: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances from each query to each reference with one matrix product.

    d^2 = |q|^2 + |r|^2 - 2 q.r, which is 2 - 2 q.r for unit vectors. The true squared
    norms are used rather than 1, and the sum is done in float64: float32 embeddings
    are unit-length only to about 1e-7, and with the shortcut that rounding alone
    would blur distances below about 1e-3.

    Args:
        queries: (Q, D) float array.
        references: (M, D) float array.
        reference_sq_norms: (M,) squared norms of ``references`` if already known.

    Returns:
        (Q, M) float64 array of distances.
    """
    q = np.asarray(queries, np.float64)
    r = np.asarray(references, np.float64)
    r_sq = (r * r).sum(1) if reference_sq_norms is None else reference_sq_norms  # (M,)
    squared = (q * q).sum(1)[:, None] + r_sq[None, :] - 2.0 * (q @ r.T)         # (Q, M)
    return np.sqrt(np.clip(squared, 0.0, None))  # rounding can push d^2 just below 0


# ---------------------------------------------------------------- verification


class VerifyResult(NamedTuple):
    """The answer to "are these two faces the same person?"."""

    same: bool
    distance: float
    threshold: float


def verify_embeddings(emb_a, emb_b, threshold: float) -> VerifyResult:
    """Same person when the distance between two embeddings is at most ``threshold``.

    Args:
        emb_a, emb_b: (D,) tensors or arrays, L2-normalised.
        threshold: an absolute distance chosen on validation pairs (``choose_threshold``),
            not the training margin.
    """
    a, b = _as_embeddings(emb_a), _as_embeddings(emb_b)
    if a.shape != b.shape or a.shape[0] != 1:
        raise FaceNetEduError(f"verify compares two single embeddings of the same size, got {a.shape} and {b.shape}.")
    distance = float(np.linalg.norm(a[0].astype(np.float64) - b[0]))
    return VerifyResult(distance <= threshold, distance, float(threshold))


def verify(
    model: nn.Module, image_a: ImageLike, image_b: ImageLike, threshold: float,
    detect: bool = False, on_no_face: NoFacePolicy = "error",
) -> VerifyResult:
    """Are two images the same person? Each goes through the network once; the distance decides.

    Args:
        model: an ``EmbeddingNet``.
        image_a, image_b: file paths, Pillow images or arrays.
        threshold: "same" when the distance is at most this (see ``choose_threshold``).
        detect: find and crop the face first (photographs); False for face crops.
    """
    embeddings = embed_faces(model, [image_a, image_b], detect=detect, on_no_face=on_no_face)  # (2, D)
    return verify_embeddings(embeddings[0], embeddings[1], threshold)


# ---------------------------------------------------------------- identification


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


# ---------------------------------------------------------------- thresholds


def _as_pairs(distances, is_same) -> tuple[np.ndarray, np.ndarray]:
    """Validate (P,) distances and (P,) same/different flags as float64 and bool arrays."""
    if isinstance(distances, torch.Tensor):
        distances = distances.detach().cpu().numpy()
    if isinstance(is_same, torch.Tensor):
        is_same = is_same.detach().cpu().numpy()
    d = np.asarray(distances, dtype=np.float64).ravel()
    same = np.asarray(is_same).ravel().astype(bool)
    if d.shape != same.shape:
        raise FaceNetEduError(f"distances and is_same must have one entry per pair, got {d.shape} and {same.shape}.")
    if d.size == 0:
        raise FaceNetEduError("No pairs given: distances is empty. Build pairs with facenet_edu.evaluate.make_pairs.")
    if not np.isfinite(d).all():
        raise FaceNetEduError("Some distances are NaN or infinite; check the embeddings (the model may have diverged).")
    return d, same


def threshold_candidates(distances: np.ndarray) -> np.ndarray:
    """Every distinct decision a threshold can make: midpoints between consecutive distinct distances, plus one below and one above all.

    Returns:
        (U + 1,) sorted array for U distinct distances; candidate i accepts exactly the
        i smallest distinct distances ("same" when distance <= threshold).
    """
    u = np.unique(distances)
    return np.concatenate([[u[0] - 1e-6], (u[:-1] + u[1:]) / 2, [u[-1] + 1e-6]])


def choose_threshold(distances, is_same, target_far: float | None = None) -> float:
    """Pick a verification threshold from labelled pairs: "same person" when distance <= threshold.

    The threshold is NOT the training margin. The margin only constrains RELATIVE
    distances during training (d(a, n) should exceed d(a, p) by ``margin``); it says
    nothing about where same-person pairs end and different-person pairs begin in
    absolute terms. The threshold is an absolute distance read off an ROC curve on
    validation pairs of people held out from training: a network trained with margin
    0.2 may separate same from different best at a distance of 0.9 or so.

    Candidates are the midpoints between consecutive distinct distances (plus one
    below and one above all), so each distinct decision is tried once.

    Args:
        distances: (P,) distances of validation pairs.
        is_same: (P,) bool, True for same-person pairs.
        target_far: None for the threshold of best accuracy (the first, smallest one on
            ties); else the largest candidate whose false-accept rate (the share of
            different-person pairs accepted) is at most ``target_far``.

    Returns:
        The threshold, a float.
    """
    d, same = _as_pairs(distances, is_same)
    candidates = threshold_candidates(d)                              # (C,)
    pos, neg = np.sort(d[same]), np.sort(d[~same])
    true_accepts = np.searchsorted(pos, candidates, side="right")     # (C,) positives with d <= t
    false_accepts = np.searchsorted(neg, candidates, side="right")    # (C,) negatives with d <= t
    if target_far is None:
        correct = true_accepts + (len(neg) - false_accepts)
        return float(candidates[np.argmax(correct)])
    if len(neg) == 0:
        raise FaceNetEduError("A false-accept rate needs different-person pairs, and there are none.")
    ok = false_accepts <= target_far * len(neg)
    return float(candidates[np.nonzero(ok)[0][-1]])  # candidate 0 accepts nothing, so ok[0] is always True


# ---------------------------------------------------------------- clustering


def cluster_embeddings(embeddings, threshold: float, linkage: str = "average") -> np.ndarray:
    """Group unlabelled faces: agglomerative clustering that stops merging at ``threshold``.

    Each face starts as its own cluster; the two closest clusters are merged again and
    again (closeness by ``linkage``: "average" distance between members, "single"
    nearest members, "complete" farthest members, "ward") until no two clusters are
    closer than ``threshold``. The number of people is not given: it comes out.

    Args:
        embeddings: (N, D) tensor or array, L2-normalised.
        threshold: linkage distance at or above which clusters are not merged; the
            verification threshold is a good start for "average".

    Returns:
        (N,) int array of cluster labels 0..C-1.
    """
    from sklearn.cluster import AgglomerativeClustering

    x = _as_embeddings(embeddings)
    if x.shape[0] == 1:
        return np.zeros(1, np.int64)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=threshold, linkage=linkage)
    return model.fit_predict(x.astype(np.float64)).astype(np.int64)


def clustering_scores(true_labels, predicted_labels) -> dict[str, float]:
    """How well clusters match identities: normalised mutual information and adjusted Rand index (1 = perfect, ~0 = chance)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    t = np.asarray(true_labels.cpu() if isinstance(true_labels, torch.Tensor) else true_labels).ravel()
    p = np.asarray(predicted_labels.cpu() if isinstance(predicted_labels, torch.Tensor) else predicted_labels).ravel()
    if t.shape != p.shape or t.size == 0:
        raise FaceNetEduError(f"Need one predicted label per true label, got {t.shape} and {p.shape}.")
    return {"nmi": float(normalized_mutual_info_score(t, p)), "ari": float(adjusted_rand_score(t, p))}
