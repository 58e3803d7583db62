"""Pictures of faces and of the embedding space: the package's colours, figures, faces, triplets, UMAP maps.

Every function returns its matplotlib ``Figure`` and draws nothing on screen by itself.
Figures this module creates are closed in pyplot straight away (no figure is left
behind, none is shown twice): make the figure the last expression of a notebook cell,
or call ``display(fig)``. Functions that take ``ax=`` draw into your axes instead and
return ``ax.figure``. Plots of distances and rates are in ``metric_plots``.
"""

import warnings
from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from .errors import FaceNetEduError
from .inputs import to_numpy

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


def figure_and_axes(ax: Axes | None, figsize) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new figure of size ``figsize`` and its one axes when ``ax`` is None."""
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
    fig, ax = figure_and_axes(ax, (6.5, 5.5))
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
