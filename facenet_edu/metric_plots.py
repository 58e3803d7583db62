"""Plots of what is measured on embeddings: distance histograms, the negatives of a triplet, training curves, ROC, DIR.

Figures are made as in ``viz`` (returned, already closed in pyplot; ``ax=`` draws into
your axes and returns ``ax.figure``), in its colours.

Plots draw what the caller computed: metrics, thresholds and ROC curves come in as
arguments (from ``facenet_edu.evaluate`` and ``matching``, which this module never
imports). The two conveniences that start from embeddings only take their distances
(``distances.all_pair_distances``) or the kinds of negative (``mining.negative_categories``).

Artists that tests and students may want to find carry a ``gid``: "threshold",
"margin", "band", "positive", "roc", "operating-point", and the category names.
"""

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .distances import all_pair_distances
from .errors import FaceNetEduError
from .inputs import to_numpy
from .mining import negative_categories
from .viz import CATEGORY_COLORS, DIFFERENT_COLOR, SAME_COLOR, figure_and_axes, new_figure


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
    fig, ax = figure_and_axes(ax, (6.0, 3.6))
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
    fig, ax = figure_and_axes(ax, (7.0, 2.4))
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
    """Loss, share of active pairs or triplets (loss > 0; which, the loss says), and mean same / different-person distance per step.

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
    active_ax.set_title("share active (loss > 0)", fontsize=10)
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
    fig, ax = figure_and_axes(ax, (4.5, 4.2))
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
    fig, ax = figure_and_axes(ax, (5.5, 4.2))
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
