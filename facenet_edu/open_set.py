"""Open-set identification: a gallery of some people, probes from them and from strangers.

The detection-and-identification rate (DIR) against the false-alarm rate (FAR): how many
enrolled people are found and named, for how many strangers let in. The rule for
"unknown" is ``matching.identify_or_unknown``'s, the same as ``Gallery.identify``'s.
"""

from collections.abc import Sequence

import numpy as np

from .distances import cross_distances
from .errors import FaceNetEduError
from .inputs import as_features, as_labels
from .matching import choose_threshold


def open_set_scores(embeddings, labels, strangers, gallery_per_person: int = 1) -> dict[str, np.ndarray]:
    """One open-set trial: every probe's nearest enrolled person and distance.

    Protocol:
    1. Every person not in ``strangers`` is ENROLLED: the first ``gallery_per_person``
       images (in dataset order) of each form the gallery.
    2. Probes: every other image of an enrolled person (known probes) and every image of
       a stranger (unknown probes).
    3. Each probe's nearest gallery image gives its nearest person and distance.

    Args:
        embeddings: (N, D) tensor or array; labels: (N,) identities.
        strangers: the identities that play strangers (never enrolled).
        gallery_per_person: images enrolled per person.

    Returns:
        {"probe": (Q,) image indices, known probes first, "nearest_distance": (Q,),
        "nearest_label": (Q,), "right_person": (Q,) bool (nearest person is the probe's own),
        "is_known": (Q,) bool (the probe's person is enrolled)}: the input of ``open_set_curve``.
    """
    labels = as_labels(labels)
    x = as_features(embeddings, labels)
    strangers = set(np.asarray(strangers).ravel().tolist())
    people = np.unique(labels)
    enrolled = [p for p in people if p not in strangers]
    if not enrolled or len(enrolled) == len(people):
        raise FaceNetEduError("Open-set identification needs at least one enrolled person and at least one stranger.")
    gallery_idx, known_probes, unknown_probes = [], [], []
    for person in people:
        idx = np.nonzero(labels == person)[0]
        if person in strangers:
            unknown_probes += idx.tolist()
        else:
            gallery_idx += idx[:gallery_per_person].tolist()
            known_probes += idx[gallery_per_person:].tolist()
    if not known_probes:
        raise FaceNetEduError(
            f"No known probes: the enrolled people have at most {gallery_per_person} image(s) each, all used for the gallery."
        )
    gallery_idx, probes = np.array(gallery_idx), np.array(known_probes + unknown_probes)
    dists = cross_distances(x[probes], x[gallery_idx])  # (probes, gallery)
    nearest = dists.argmin(1)
    nearest_label = labels[gallery_idx[nearest]]
    return {
        "probe": probes,
        "nearest_distance": dists[np.arange(len(probes)), nearest].astype(np.float64),
        "nearest_label": nearest_label,
        "right_person": nearest_label == labels[probes],
        "is_known": np.arange(len(probes)) < len(known_probes),
    }


def _scores_arrays(scores: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(scores["nearest_distance"], dtype=np.float64).ravel()
    right = np.asarray(scores["right_person"]).astype(bool).ravel()
    known = np.asarray(scores["is_known"]).astype(bool).ravel()
    if not (len(d) == len(right) == len(known)):
        raise FaceNetEduError(f"Need one distance, right-person flag and known flag per probe, got {len(d)}, {len(right)}, {len(known)}.")
    if not known.any() or known.all():
        raise FaceNetEduError("An open-set curve needs both probes of enrolled people and probes of strangers.")
    return d, right, known


def open_set_curve(scores: dict, thresholds=None) -> dict[str, np.ndarray]:
    """Detection and identification rate (DIR) against false-alarm rate (FAR) as the threshold moves.

    A probe is accepted when its nearest enrolled person is at most the threshold away
    (else the answer is "unknown"). At each threshold:

    - FAR = share of stranger probes accepted (each is then named as someone it is not);
    - DIR = share of known probes whose nearest enrolled person is the right one AND
      within the threshold. DIR never exceeds the closed-set rank-1 of the known probes.

    Args:
        scores: ``open_set_scores`` of one trial, or several trials' merged with ``merge_open_set_scores``.
        thresholds: (T,) thresholds; default every distinct nearest distance, preceded by
            -inf (nothing accepted), so the curve runs from (0, 0) to (1, rank-1).

    Returns:
        {"thresholds": (T,), "far": (T,), "dir": (T,)}.
    """
    d, right, known = _scores_arrays(scores)
    if thresholds is None:
        thresholds = np.r_[-np.inf, np.unique(d)]
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    strangers = np.sort(d[~known])
    found = np.sort(d[known & right])
    far = np.searchsorted(strangers, thresholds, side="right") / len(strangers)
    dir_ = np.searchsorted(found, thresholds, side="right") / int(known.sum())
    return {"thresholds": thresholds, "far": far, "dir": dir_}


def open_set_threshold(scores: dict, target_far: float) -> float:
    """The largest threshold at which at most ``target_far`` of the stranger probes are accepted.

    Candidates as in ``matching.choose_threshold`` (midpoints between distinct distances).
    With S stranger probes, FAR can only be measured in steps of 1 / S: a target below
    1 / S allows no false alarm at all.
    """
    d, _, known = _scores_arrays(scores)
    # the strangers play the different-person pairs: the threshold lets at most target_far of them in
    return choose_threshold(d, is_same=known, target_far=target_far)


def merge_open_set_scores(trials: Sequence[dict]) -> dict[str, np.ndarray]:
    """Several trials' ``open_set_scores`` as one (their probes pooled), plus "trial": (Q,) the trial of each probe."""
    if not trials:
        raise FaceNetEduError("merge_open_set_scores needs at least one trial.")
    merged = {key: np.concatenate([np.asarray(t[key]) for t in trials]) for key in trials[0]}
    merged["trial"] = np.concatenate([np.full(len(t["probe"]), k) for k, t in enumerate(trials)])
    return merged


def open_set_dir_at_far(
    embeddings, labels, far: float = 0.01, known_fraction: float = 0.5, gallery_per_person: int = 1, seed: int = 0
) -> dict:
    """Open-set identification: detection and identification rate (DIR) at a false-alarm rate.

    Protocol:
    1. The identities are shuffled (``default_rng(seed).permutation``); the first
       ``round(known_fraction * P)`` (at least 1, at most P - 1) are KNOWN, the rest UNKNOWN.
    2. Gallery, probes and nearest distances as in ``open_set_scores`` (the unknown people are the strangers).
    3. The threshold is the largest at which at most ``far`` of the unknown probes are
       accepted (false alarms): ``open_set_threshold``.
    4. DIR = share of known probes whose nearest gallery image is the right person AND
       within the threshold (``open_set_curve`` at that threshold).

    Returns:
        {"dir", "far" (the false-alarm rate reached), "threshold", "rank1_known" (the
        closed-set rank-1 of the known probes, the ceiling for DIR), "num_known_probes",
        "num_unknown_probes"}, all floats.
    """
    labels = as_labels(labels)
    people = np.unique(labels)
    if len(people) < 2:
        raise FaceNetEduError("Open-set identification needs at least two people: some known, some strangers.")
    num_known = int(min(max(round(known_fraction * len(people)), 1), len(people) - 1))
    shuffled = people[np.random.default_rng(seed).permutation(len(people))]
    scores = open_set_scores(embeddings, labels, shuffled[num_known:], gallery_per_person)
    threshold = open_set_threshold(scores, far)
    at = open_set_curve(scores, [threshold])
    known = scores["is_known"]
    return {
        "dir": float(at["dir"][0]),
        "far": float(at["far"][0]),
        "threshold": float(threshold),
        "rank1_known": float(scores["right_person"][known].mean()),
        "num_known_probes": float(known.sum()),
        "num_unknown_probes": float((~known).sum()),
    }
