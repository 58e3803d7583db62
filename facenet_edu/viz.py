"""Plots of faces and of the embedding space: identities, triplets, UMAP maps, distance histograms, ROC.

Every function returns its matplotlib ``Figure`` and draws nothing on screen by itself.
Figures this module creates are closed in pyplot straight away (no figure is left
behind, none is shown twice): make the figure the last expression of a notebook cell,
or call ``display(fig)``. Functions that take ``ax=`` draw into your axes instead and
return ``ax.figure``.

Plots draw what the caller computed: metrics, thresholds and ROC curves come in as
arguments (from ``facenet_edu.evaluate`` and ``matching``, which this module never
imports). The two conveniences that start from embeddings only take their distances
(``distances.all_pair_distances``) or the kinds of negative (``mining.negative_categories``).

Artists that tests and students may want to find carry a ``gid``: "threshold",
"margin", "band", "positive", "roc", "operating-point", and the category names.
"""

import warnings
from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from .distances import all_pair_distances
from .errors import FaceNetEduError
from .inputs import to_numpy
from .mining import negative_categories

# One colour per kind of negative, used by every plot and widget of the package.
CATEGORY_COLORS = {"hard": "#d62728", "semi-hard": "#ff7f0e", "easy": "#2ca02c"}
SAME_COLOR, DIFFERENT_COLOR = "#1f77b4", "#9467bd"   # same-person / different-person pairs

# 40 qualitative colours: tab20 dark shades, tab20 light shades, then tab20b by hue group.
_TAB20, _TAB20B = matplotlib.colormaps["tab20"].colors, matplotlib.colormaps["tab20b"].colors
IDENTITY_COLORS = [_TAB20[i] for i in (*range(0, 20, 2), *range(1, 20, 2))] + [
    _TAB20B[group + shade] for shade in range(4) for group in range(0, 20, 4)
]


def identity_color(label: int) -> tuple:
    """The colour of one identity; the same label always gets the same colour (cycling after 40)."""
    return IDENTITY_COLORS[int(label) % len(IDENTITY_COLORS)]


def _image(image) -> np.ndarray:
    """One image as (H, W) greyscale or (H, W, 3) colour, from a tensor or array of any leading 1-dims."""
    arr = to_numpy(image)
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[0] == 3:          # (3, H, W) -> (H, W, 3)
        arr = arr.transpose(1, 2, 0)
    if arr.ndim not in (2, 3):
        raise FaceNetEduError(f"Cannot show an image of shape {arr.shape}; expected (H, W) or (1, H, W).")
    return arr


def new_figure(nrows: int = 1, ncols: int = 1, figsize=None, **kwargs) -> tuple[Figure, np.ndarray]:
    """A new figure and its (nrows, ncols) array of axes, already closed in pyplot.

    Closed means pyplot keeps no reference (no leak) and Jupyter shows it only when it is
    the cell's value or passed to ``display`` (never twice).
    """
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained", **kwargs)
    plt.close(fig)
    return fig, axes


def _axes(ax: Axes | None, figsize) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, axes = new_figure(figsize=figsize)
    return fig, axes[0, 0]


def draw_face(ax: Axes, image, title: str | None = None, color=None) -> None:
    """Show one face (tensor or array, (H, W) or (1, H, W), values in [0, 1]) in ``ax``, without ticks."""
    arr = _image(image)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=9, color=color or "black")


def identity_name(label: int, names: Sequence[str] | None) -> str:
    """``names[label]``, or "id <label>" when there are no names."""
    return str(names[int(label)]) if names is not None and 0 <= int(label) < len(names) else f"id {int(label)}"


def show_identities(images, labels, names: Sequence[str] | None = None, num_identities: int = 6,
                    per_identity: int = 6) -> Figure:
    """A grid of faces: one row per identity (the first ``num_identities`` labels), its name on the left.

    Args:
        images: (N, 1, H, W) or (N, H, W) tensor or array in [0, 1].
        labels: (N,) identity labels; ``names[label]`` is the identity's name.
        names: optional names of the identities.
        num_identities: rows to show; per_identity: images per row (at most).
    """
    labels = to_numpy(labels).ravel()
    identities = np.unique(labels)[:num_identities]
    if len(identities) == 0:
        raise FaceNetEduError("No images to show: the dataset is empty.")
    fig, axes = new_figure(len(identities), per_identity, figsize=(1.1 * per_identity, 1.25 * len(identities)))
    for row, label in enumerate(identities):
        indices = np.flatnonzero(labels == label)[:per_identity]
        for col in range(per_identity):
            ax = axes[row, col]
            if col < len(indices):
                draw_face(ax, images[int(indices[col])])
            else:
                ax.set_axis_off()
            for spine in ax.spines.values():
                spine.set_visible(False)
        axes[row, 0].set_ylabel(identity_name(label, names), fontsize=9, color=identity_color(label))
    return fig


def show_triplet(images, anchor_idx: int, positive_idx: int, negative_idx: int, ap_dist: float, an_dist: float,
                 category: str) -> Figure:
    """The anchor, positive and negative faces of one triplet, with d(a, p), d(a, n) and its category.

    Args:
        images: (N, 1, H, W) or (N, H, W) tensor or array in [0, 1].
        anchor_idx, positive_idx, negative_idx: indices into ``images``.
        ap_dist, an_dist: d(anchor, positive) and d(anchor, negative).
        category: "hard", "semi-hard" or "easy".
    """
    fig, axes = new_figure(1, 3, figsize=(6.0, 2.6))
    color = CATEGORY_COLORS.get(category, "black")
    draw_face(axes[0, 0], images[int(anchor_idx)], f"anchor #{int(anchor_idx)}")
    draw_face(axes[0, 1], images[int(positive_idx)], f"positive #{int(positive_idx)}\nd(a,p) = {ap_dist:.3f}")
    draw_face(axes[0, 2], images[int(negative_idx)], f"negative #{int(negative_idx)}\nd(a,n) = {an_dist:.3f}", color)
    fig.suptitle(f"{category} triplet: d(a,n) - d(a,p) = {an_dist - ap_dist:+.3f}", color=color)
    return fig


# ---------------------------------------------------------------- UMAP maps of the embedding space

def fit_umap(embeddings, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1):
    """Fit a 2-D UMAP on embeddings; reuse it with ``project`` so several snapshots share one map.

    With a seed UMAP is deterministic and single-threaded. The first call in a Python
    process compiles UMAP's numba code (tens of seconds); later calls are much faster.

    Args:
        embeddings: (N, D) tensor or array (unit vectors; Euclidean metric), N >= 5.
        seed: random_state of UMAP.
        n_neighbors, min_dist: UMAP's settings (n_neighbors is capped at N - 1).

    Returns:
        the fitted ``umap.UMAP`` reducer.
    """
    x = to_numpy(embeddings).astype(np.float32)
    if x.ndim != 2 or len(x) < 5:
        raise FaceNetEduError(f"UMAP needs at least 5 embeddings of shape (N, D), got shape {x.shape}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ImportWarning)   # "Tensorflow not installed; ParametricUMAP unavailable"
        import umap                                       # slow import (numba), so only when a map is needed
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(x) - 1), min_dist=min_dist,
                        metric="euclidean", random_state=seed, n_jobs=1)
    return reducer.fit(x)


def project(reducer, embeddings) -> np.ndarray:
    """Place embeddings on a fitted UMAP map.

    Args:
        reducer: from ``fit_umap``.
        embeddings: (N, D) tensor or array.

    Returns:
        (N, 2) array; exactly the fitted layout when ``embeddings`` is the data the map was fitted on.
    """
    x = to_numpy(embeddings).astype(np.float32)
    fitted = getattr(reducer, "_raw_data", None)
    if fitted is not None and fitted.shape == x.shape and np.array_equal(fitted, x):
        return np.asarray(reducer.embedding_).copy()
    return np.asarray(reducer.transform(x))


def plot_embedding_2d(points_2d, labels, names: Sequence[str] | None = None, images=None, is_unseen=None,
                      title: str | None = None, ax: Axes | None = None, max_thumbnails: int = 150,
                      limits: tuple[tuple[float, float], tuple[float, float]] | None = None) -> Figure:
    """A 2-D map of the embeddings, one colour per identity.

    Args:
        points_2d: (N, 2) positions (from ``project``).
        labels: (N,) identity labels; names: optional names indexed by label.
        images: optional (N, 1, H, W) faces; up to ``max_thumbnails`` evenly spaced ones are drawn at their points.
        is_unseen: optional (N,) bool mask; unseen identities (not trained on) are hollow circles,
            training identities filled circles.
        title: axes title; ax: draw here instead of a new figure.
        limits: fixed ((xmin, xmax), (ymin, ymax)) so that several frames are comparable.
    """
    points = to_numpy(points_2d)
    labels = to_numpy(labels).ravel()
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(labels):
        raise FaceNetEduError(f"Need (N, 2) points and N labels, got {points.shape} and {labels.shape}.")
    fig, ax = _axes(ax, (6.5, 5.5))
    colors = np.array([identity_color(label) for label in labels]).reshape(-1, 3)
    unseen = np.zeros(len(labels), bool) if is_unseen is None else to_numpy(is_unseen).astype(bool).ravel()
    seen = ~unseen
    ax.scatter(points[seen, 0], points[seen, 1], c=colors[seen], s=22, marker="o", linewidths=0, gid="training")
    if unseen.any():
        ax.scatter(points[unseen, 0], points[unseen, 1], facecolors="none", edgecolors=colors[unseen], s=30,
                   marker="o", linewidths=1.2, gid="unseen")
    if images is not None:
        for i in np.unique(np.linspace(0, len(points) - 1, min(max_thumbnails, len(points))).astype(int)):
            face = _image(images[int(i)])
            thumb = OffsetImage(face, cmap="gray" if face.ndim == 2 else None, zoom=20 / max(face.shape[:2]))
            ax.add_artist(AnnotationBbox(thumb, points[i], frameon=True, pad=0.05,
                                         bboxprops={"edgecolor": colors[i], "linewidth": 1.5}))
    identities = np.unique(labels)
    handles = []
    if len(identities) <= 12:
        handles += [Line2D([], [], marker="o", linestyle="", color=identity_color(label), label=identity_name(label, names))
                    for label in identities]
    if unseen.any():
        handles += [Line2D([], [], marker="o", linestyle="", color="gray", label="training identity"),
                    Line2D([], [], marker="o", linestyle="", markerfacecolor="none", color="gray",
                           label="unseen identity")]
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="best", framealpha=0.8)
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"UMAP of {len(points)} embeddings, {len(identities)} identities", fontsize=10)
    return fig


# ---------------------------------------------------------------- distances

def plot_pair_histograms(distances, is_same, margin: float | None = None, threshold: float | None = None,
                         ax: Axes | None = None, title: str | None = None, bins=None) -> Figure:
    """Histograms of same-person and different-person pair distances (each normalised to area 1).

    The margin is relative (each negative should be ``margin`` farther than each positive),
    so it is drawn as an arrow of length ``margin`` starting at the mean same-person distance.
    The verification threshold is an absolute distance, drawn as a dashed vertical line.

    Args:
        distances: (P,) pair distances; is_same: (P,) bool, True for same-person pairs.
        margin: optional training margin; threshold: optional verification threshold.
        ax: draw here; title: axes title; bins: histogram bins (default 40 bins over [0, max]).
    """
    distances = to_numpy(distances).astype(float).ravel()
    is_same = to_numpy(is_same).astype(bool).ravel()
    if len(distances) != len(is_same) or len(distances) == 0:
        raise FaceNetEduError(f"Need one same/different flag per pair distance, got {len(distances)} and {len(is_same)}.")
    fig, ax = _axes(ax, (6.0, 3.6))
    if bins is None:
        bins = np.linspace(0.0, max(float(distances.max()), threshold or 0.0, 1e-6) * 1.02, 41)
    for mask, color, who in ((is_same, SAME_COLOR, "same person"), (~is_same, DIFFERENT_COLOR, "different people")):
        if mask.any():
            ax.hist(distances[mask], bins=bins, density=True, alpha=0.55, color=color,
                    label=f"{who} ({int(mask.sum()):,} pairs)")
    top = ax.get_ylim()[1]
    if margin is not None and is_same.any():
        start = float(distances[is_same].mean())
        ax.axvline(start, color=SAME_COLOR, linewidth=1, linestyle=":", label=f"mean same-person distance {start:.2f}")
        ax.annotate("", xy=(start + margin, 0.9 * top), xytext=(start, 0.9 * top), gid="margin",
                    arrowprops={"arrowstyle": "->", "color": "black", "linewidth": 1.5})
        ax.text(start, 0.93 * top, f"margin (relative) = {margin:g}", fontsize=8, va="bottom")
        ax.set_ylim(0, 1.15 * top)
    if threshold is not None:
        ax.axvline(threshold, color="black", linestyle="--", linewidth=1.5, gid="threshold",
                   label=f"threshold = {threshold:.2f}")
    ax.set_xlabel("distance between the two embeddings")
    ax.set_ylabel("density")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))   # outside: never hides the arrow
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_distance_histograms(embeddings, labels, margin: float | None = None, threshold: float | None = None,
                             ax: Axes | None = None, title: str | None = None, bins=None) -> Figure:
    """Same-person vs different-person distance histograms over every pair of ``embeddings``.

    Args:
        embeddings: (N, D) tensor, L2-normalised; labels: (N,) identity labels.
        margin, threshold, ax, title, bins: as in ``plot_pair_histograms``.
    """
    distances, is_same = all_pair_distances(embeddings, labels)
    return plot_pair_histograms(distances, is_same, margin, threshold, ax, title, bins)


def plot_distance_histograms_before_after(before_embeddings, after_embeddings, labels, margin: float | None = None,
                                          threshold: float | None = None,
                                          titles: tuple[str, str] = ("before training", "after training")) -> Figure:
    """The distance histograms of two sets of embeddings of the same images side by side, on the same bins.

    Args:
        before_embeddings, after_embeddings: (N, D) tensors of the same N images.
        labels: (N,) identity labels; margin, threshold: as in ``plot_pair_histograms``.
    """
    pairs = [all_pair_distances(e, labels) for e in (before_embeddings, after_embeddings)]
    top = max(float(d.max()) for d, _ in pairs)
    bins = np.linspace(0.0, max(top, threshold or 0.0, 1e-6) * 1.02, 41)
    fig, axes = new_figure(1, 2, figsize=(11.0, 3.6), sharex=True)
    for ax, (distances, is_same), title in zip(axes[0], pairs, titles):
        plot_pair_histograms(distances, is_same, margin, threshold, ax=ax, title=title, bins=bins)
    return fig


def plot_negative_axis(dists: torch.Tensor, labels, anchor: int, positive: int, margin: float,
                       ax: Axes | None = None) -> Figure:
    """Every negative of one anchor-positive pair as a point on the distance axis, coloured by category.

    The positive's distance d(a, p) is a vertical line, the band [d(a, p), d(a, p) + margin]
    where negatives are semi-hard is shaded; hard negatives lie left of it, easy ones right.

    Args:
        dists: (B, B) distance matrix; labels: (B,) identity labels.
        anchor, positive: indices of two different images of the same person.
        margin: the triplet-loss margin.
    """
    negative_idx, an_dists, categories = negative_categories(dists, labels, anchor, positive, margin)
    an_dists = to_numpy(an_dists).astype(float)
    categories = np.array(categories)
    ap_dist = float(dists[anchor, positive])
    fig, ax = _axes(ax, (7.0, 2.4))
    ax.axvspan(ap_dist, ap_dist + margin, color=CATEGORY_COLORS["semi-hard"], alpha=0.15, gid="band",
               label="semi-hard band [d(a,p), d(a,p) + margin]")
    jitter = ((np.arange(len(an_dists)) * 0.618034) % 1.0 - 0.5) * 0.6   # deterministic vertical spread
    for category, color in CATEGORY_COLORS.items():
        mask = categories == category
        ax.scatter(an_dists[mask], jitter[mask], color=color, s=18, gid=category,
                   label=f"{category}: {int(mask.sum())}")
    ax.axvline(ap_dist, color="black", linewidth=2, gid="positive", label=f"positive d(a,p) = {ap_dist:.3f}")
    ax.set_ylim(-0.6, 0.6)
    ax.set_yticks([])
    ax.set_xlim(0, max(float(an_dists.max(initial=0.0)), ap_dist + margin) * 1.05 + 1e-6)
    ax.set_xlabel(f"distance d(a, n) from anchor #{anchor} (margin {margin:g})")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


# ---------------------------------------------------------------- training and verification

def _series(history, name: str) -> list:
    value = history.get(name) if isinstance(history, dict) else getattr(history, name, None)
    if value is None:
        raise FaceNetEduError(f"The training history has no {name!r}; pass a train.History or a dict of lists.")
    return list(value)


def plot_training_curves(history) -> Figure:
    """Loss, fraction of active triplets, and mean same / different-person distance per step.

    Args:
        history: a ``train.History`` or a dict with lists ``step``, ``loss``, ``active_fraction``,
            ``mean_ap_dist``, ``mean_an_dist`` of equal length.
    """
    steps = _series(history, "step")
    if not steps:
        raise FaceNetEduError("The training history is empty: train for at least one step first.")
    fig, axes = new_figure(1, 3, figsize=(12.0, 3.2))
    loss_ax, active_ax, dist_ax = axes[0]
    loss_ax.plot(steps, _series(history, "loss"), color="black")
    loss_ax.set_title("loss", fontsize=10)
    active_ax.plot(steps, _series(history, "active_fraction"), color=CATEGORY_COLORS["semi-hard"])
    active_ax.set_ylim(0, 1.02)
    active_ax.set_title("fraction of active triplets (loss > 0)", fontsize=10)
    dist_ax.plot(steps, _series(history, "mean_ap_dist"), color=SAME_COLOR, label="same person d(a,p)")
    dist_ax.plot(steps, _series(history, "mean_an_dist"), color=DIFFERENT_COLOR, label="different people d(a,n)")
    dist_ax.set_title("mean distance in the batch", fontsize=10)
    dist_ax.legend(fontsize=8)
    for ax in axes[0]:
        ax.set_xlabel("step")
    return fig


def plot_roc(fpr, tpr, operating_point: tuple[float, float] | None = None, label: str | None = None,
             ax: Axes | None = None, log_far: bool = False) -> Figure:
    """ROC curve of verification: true accept rate against false accept rate (FAR).

    Args:
        fpr: (T,) false accept rates; tpr: (T,) true accept rates (1 - false reject rate).
        operating_point: optional (far, tar) of the chosen threshold, drawn as a dot.
        label: legend label of the curve; ax: draw here.
        log_far: logarithmic FAR axis (points with FAR = 0 are left out), to read TAR at FAR = 1e-3.
    """
    fpr, tpr = to_numpy(fpr).astype(float).ravel(), to_numpy(tpr).astype(float).ravel()
    if len(fpr) != len(tpr) or len(fpr) == 0:
        raise FaceNetEduError(f"fpr and tpr must be non-empty and of equal length, got {len(fpr)} and {len(tpr)}.")
    fig, ax = _axes(ax, (4.5, 4.2))
    keep = fpr > 0 if log_far else np.ones(len(fpr), bool)
    ax.plot(fpr[keep], tpr[keep], color=SAME_COLOR, label=label or "ROC", gid="roc")
    if log_far:
        ax.set_xscale("log")
        ax.set_xlim(max(float(fpr[keep].min(initial=1.0)), 1e-5) / 1.5, 1.0)
    else:
        ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=1, label="chance")
        ax.set_xlim(-0.01, 1.01)
    if operating_point is not None and (not log_far or operating_point[0] > 0):
        far, tar = operating_point
        ax.plot([far], [tar], "o", color="black", gid="operating-point", label=f"threshold: FAR {far:.1%}, TAR {tar:.1%}")
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false accept rate (FAR)" + (", log scale" if log_far else ""))
    ax.set_ylabel("true accept rate (1 - FRR)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


# Colours of the methods compared in one picture: never an identity's colour, never repeated.
METHOD_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def plot_dir_far(curves: dict, operating_points: dict | None = None, target_far: float | None = None,
                 ax: Axes | None = None, title: str | None = None) -> Figure:
    """Open-set identification: detection and identification rate (DIR) against false-alarm rate (FAR).

    One line per method (each its own colour from ``METHOD_COLORS``); the chosen
    threshold of each is a dot, with error bars when a spread is given.

    Args:
        curves: {method: (far, dir)} arrays, e.g. from ``open_set.open_set_curve``.
        operating_points: optional {method: (far, dir)} or (far, dir, far_std, dir_std)
            at the chosen threshold; drawn as dots (gid "operating-point").
        target_far: optional stated false-alarm rate, a dotted vertical line (gid "target-far").
        ax: draw here; title: axes title.
    """
    if not curves:
        raise FaceNetEduError("plot_dir_far needs at least one curve.")
    if len(curves) > len(METHOD_COLORS):
        raise FaceNetEduError(f"At most {len(METHOD_COLORS)} curves in one picture, got {len(curves)}.")
    fig, ax = _axes(ax, (5.5, 4.2))
    for color, (method, (far, dir_)) in zip(METHOD_COLORS, curves.items()):
        far, dir_ = to_numpy(far).astype(float).ravel(), to_numpy(dir_).astype(float).ravel()
        if len(far) != len(dir_) or len(far) == 0:
            raise FaceNetEduError(f"{method}: far and dir must be non-empty and of equal length, got {len(far)} and {len(dir_)}.")
        ax.step(far, dir_, where="post", color=color, label=method, gid="dir-far")
        point = (operating_points or {}).get(method)
        if point is not None:
            x, y = point[0], point[1]
            xerr, yerr = (point[2], point[3]) if len(point) == 4 else (None, None)
            drawn = ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", color=color, markeredgecolor="black",
                                capsize=3, label=f"{method} at its threshold: FAR {x:.0%}, DIR {y:.0%}")
            drawn.lines[0].set_gid("operating-point")
    if target_far is not None:
        ax.axvline(target_far, color="gray", linestyle=":", gid="target-far", label=f"stated FAR {target_far:.0%}")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_xlabel("false-alarm rate: strangers accepted (FAR)")
    ax.set_ylabel("enrolled people found and named (DIR)")
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return fig
