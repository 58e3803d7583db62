"""Interactive explorers for the notebooks: move a slider, watch the embedding space answer.

Each explorer is built by one function from plain arguments (embeddings, labels,
images, a model), so it works with any dataset. It returns a ``VBox`` that exposes its
controls and its current state as attributes, e.g.::

    w = margin_explorer(embeddings, labels)
    w.margin_slider.value = 0.5        # observers run at once, also from plain Python
    w.counts                           # {"easy": ..., "semi-hard": ..., "hard": ...}

Every number a student should read is also shown as HTML text with a stable CSS class
(``fe-count-easy``, ``fe-far``, ...), so a browser test can read it. The logic lives in
``mining``, ``losses``, ``matching`` and ``viz``; the widgets only wire it to controls.
Distances are computed once per widget; sliders update on release
(``continuous_update=False``), so they stay responsive with a few thousand points.
"""

import io
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
import torch
from IPython import get_ipython
from IPython.display import display
from PIL import Image

from . import viz
from .errors import FaceNetEduError
from .evaluate import all_pair_distances, roc_curve_dists
from .faces import prepare_face
from .images import read_image
from .losses import batch_all_triplet_loss, batch_semihard_triplet_loss
from .matching import Gallery, choose_threshold
from .mining import count_triplet_categories, negative_categories, pair_masks, pairwise_distances, select_negatives
from .model import embed


def _show(output: widgets.Output, fig, clear: bool = True) -> None:
    """Show ``fig`` (a figure from ``viz``, already closed in pyplot) in ``output``, replacing what was there.

    Outside a Jupyter kernel (plain Python, tests) there is nothing to show it on, so nothing happens.
    """
    if get_ipython() is None:
        return
    with output:
        if clear:
            output.clear_output(wait=True)
        display(fig)


def _span(css_class: str, text: str, color: str | None = None) -> str:
    style = f' style="color:{color};font-weight:bold"' if color else ' style="font-weight:bold"'
    return f'<span class="{css_class}"{style}>{text}</span>'


def _prepare(embeddings, labels) -> tuple[torch.Tensor, torch.Tensor]:
    embeddings = torch.as_tensor(embeddings, dtype=torch.float32).detach().cpu()
    labels = torch.as_tensor(labels).long().cpu().ravel()
    if embeddings.ndim != 2 or len(embeddings) != len(labels):
        raise FaceNetEduError(f"Need (N, D) embeddings and N labels, got {tuple(embeddings.shape)} and {tuple(labels.shape)}.")
    return embeddings, labels


def _valid_pairs(dists: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(M, 2) anchor-positive pairs whose anchor also has a negative; error if there is none."""
    positive_mask, negative_mask = pair_masks(labels)
    pairs = torch.nonzero(positive_mask & negative_mask.any(dim=1, keepdim=True))  # (M, 2)
    if len(pairs) == 0:
        raise FaceNetEduError("No valid triplet: the explorer needs two or more people, one of them with two or more images.")
    return pairs


def _median_pair(dists: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """The anchor-positive pair of median distance: a typical pair, with negatives on both sides."""
    pairs = _valid_pairs(dists, labels)
    ap_dists = dists[pairs[:, 0], pairs[:, 1]]
    anchor, positive = pairs[ap_dists.argsort()[len(pairs) // 2]].tolist()
    return anchor, positive


# ---------------------------------------------------------------- margin explorer

class MarginExplorer(widgets.VBox):
    """See ``margin_explorer``. State: ``counts``, ``losses``, ``loss``, ``active_fraction``."""

    def __init__(self, embeddings, labels, margin: float, anchor: int | None, positive: int | None,
                 retrain: Callable[[float], torch.Tensor] | None, max_margin: float, batch_all: bool):
        self.embeddings, self.labels = _prepare(embeddings, labels)
        self.show_batch_all = batch_all
        self.dists = pairwise_distances(self.embeddings)                    # (B, B), computed once
        if anchor is None or positive is None:
            anchor, positive = _median_pair(self.dists, self.labels)
        self.anchor, self.positive = int(anchor), int(positive)
        self.pair_distances, self.pair_is_same = all_pair_distances(self.embeddings, self.labels)  # (P,) once
        self.retrain_fn = retrain
        self.margin_slider = widgets.FloatSlider(value=margin, min=0.0, max=max_margin, step=0.01, description="margin",
                                                 continuous_update=False, readout_format=".2f")
        self.summary = widgets.HTML()
        self.plot_output = widgets.Output()
        children = [self.margin_slider, self.summary, self.plot_output]
        self.retrained = self.retrain_points = self.counts_after = None
        if retrain is not None:
            self.retrain_button = widgets.Button(description="Retrain with this margin", icon="refresh",
                                                 layout=widgets.Layout(width="240px"))
            self.retrain_status = widgets.HTML()
            self.retrain_output = widgets.Output()
            self.retrain_button.on_click(lambda _: self.run_retrain())
            children += [widgets.HBox([self.retrain_button, self.retrain_status]), self.retrain_output]
        super().__init__(children=children)
        self.margin_slider.observe(lambda _: self.update(), names="value")
        self.update()

    def update(self) -> None:
        """Recount the triplet categories and losses at the slider's margin, and redraw."""
        margin = float(self.margin_slider.value)
        self.counts = count_triplet_categories(self.dists, self.labels, margin)
        total = sum(self.counts.values())
        self.active_fraction = (self.counts["hard"] + self.counts["semi-hard"]) / total if total else 0.0
        self.losses = {"semi-hard": float(batch_semihard_triplet_loss(self.embeddings, self.labels, margin).loss)}
        if self.show_batch_all:
            self.losses["batch-all"] = float(batch_all_triplet_loss(self.embeddings, self.labels, margin).loss)
        self.loss = self.losses["semi-hard"]
        c, n = viz.CATEGORY_COLORS, {kind: f"{count:,}" for kind, count in self.counts.items()}
        batch_all = (f"; batch-all loss (mean over active triplets) "
                     f"{_span('fe-loss-batch-all', format(self.losses['batch-all'], '.4f'))}" if self.show_batch_all else "")
        self.summary.value = (
            f"<div>At margin {margin:.2f}, of {total:,} valid triplets: "
            f"hard {_span('fe-count-hard', n['hard'], c['hard'])}, "
            f"semi-hard {_span('fe-count-semi-hard', n['semi-hard'], c['semi-hard'])}, "
            f"easy {_span('fe-count-easy', n['easy'], c['easy'])} "
            f"({self.active_fraction:.1%} still give a loss).<br>"
            f"Semi-hard triplet loss (FaceNet) {_span('fe-loss', f'{self.loss:.4f}')}{batch_all}."
            "</div>"
        )
        fig, axes = viz.new_figure(1, 2, figsize=(13.0, 3.4), width_ratios=[1, 1.25])
        viz.plot_pair_histograms(self.pair_distances, self.pair_is_same, margin=margin, ax=axes[0, 0],
                                 title="all pairs")
        viz.plot_negative_axis(self.dists, self.labels, self.anchor, self.positive, margin, ax=axes[0, 1])
        axes[0, 1].set_title(f"negatives of anchor #{self.anchor} with positive #{self.positive}", fontsize=10)
        self.figure = fig
        _show(self.plot_output, fig)

    def run_retrain(self) -> None:
        """Call ``retrain(margin)``, then show UMAP maps before and after on one shared map."""
        margin = float(self.margin_slider.value)
        self.retrain_button.disabled = True
        self.retrain_status.value = f"retraining with margin {margin:.2f}..."
        try:
            new = torch.as_tensor(self.retrain_fn(margin), dtype=torch.float32).detach().cpu()
            if new.shape != self.embeddings.shape:
                raise FaceNetEduError(f"retrain(margin) must return embeddings of the same images, shape "
                                      f"{tuple(self.embeddings.shape)}; got {tuple(new.shape)}.")
            self.retrained = new
            reducer = viz.fit_umap(torch.cat([self.embeddings, new]))        # one map for both
            points = viz.project(reducer, torch.cat([self.embeddings, new]))  # (2B, 2)
            self.retrain_points = (points[: len(new)], points[len(new):])
            self.counts_after = count_triplet_categories(pairwise_distances(new), self.labels, margin)
        finally:
            self.retrain_button.disabled = False
        c = self.counts_after
        self.retrain_status.value = (f"after retraining with margin {margin:.2f}: hard {c['hard']:,}, "
                                     f"semi-hard {c['semi-hard']:,}, easy {c['easy']:,}")
        fig, axes = viz.new_figure(1, 2, figsize=(12.0, 5.0))
        limits = _limits(self.retrain_points)
        for ax, pts, title in zip(axes[0], self.retrain_points, ("before", f"after retraining, margin {margin:.2f}")):
            viz.plot_embedding_2d(pts, self.labels, title=title, ax=ax, limits=limits)
        self.retrain_figure = fig
        _show(self.retrain_output, fig)


def margin_explorer(embeddings, labels, margin: float = 0.2, anchor: int | None = None, positive: int | None = None,
                    retrain: Callable[[float], torch.Tensor] | None = None, max_margin: float = 1.0,
                    batch_all: bool = True) -> MarginExplorer:
    """A margin slider that recounts easy / semi-hard / hard triplets and the triplet loss.

    Args:
        embeddings: (B, D) tensor, L2-normalised (a few thousand at most).
        labels: (B,) identity labels.
        margin: the slider's starting value.
        anchor, positive: the pair drawn on the negative axis (default: the pair of median distance).
        retrain: optional ``retrain(margin) -> (B, D) embeddings`` of the same images after brief
            training with that margin; adds a "Retrain with this margin" button.
        max_margin: the slider's maximum.
        batch_all: also compute the batch-all loss, the slowest part of a slider move (seconds at
            B = 2000 on a busy 2-core laptop); turn it off for thousands of points.

    Returns:
        the widget; ``w.margin_slider``, ``w.counts``, ``w.losses`` ({"semi-hard": float, "batch-all": float}),
        ``w.loss`` (the semi-hard one), ``w.active_fraction``,
        after a retrain ``w.retrained``, ``w.retrain_points``, ``w.counts_after``.
    """
    return MarginExplorer(embeddings, labels, margin, anchor, positive, retrain, max_margin, batch_all)


def _limits(point_sets: Sequence[np.ndarray], pad: float = 0.05):
    """((xmin, xmax), (ymin, ymax)) covering every point of every set, padded."""
    stacked = np.concatenate([np.asarray(p) for p in point_sets])
    low, high = stacked.min(axis=0), stacked.max(axis=0)
    extra = (high - low) * pad + 1e-6
    return (low[0] - extra[0], high[0] + extra[0]), (low[1] - extra[1], high[1] + extra[1])


# ---------------------------------------------------------------- negative explorer

class NegativeExplorer(widgets.VBox):
    """See ``negative_explorer``. State: ``anchor``, ``positive``, ``shown``, ``selected``."""

    def __init__(self, embeddings, labels, images, margin: float, names: Sequence[str] | None):
        self.embeddings, self.labels = _prepare(embeddings, labels)
        self.images, self.names = images, names
        self.dists = pairwise_distances(self.embeddings)                    # (B, B), computed once
        pairs = _valid_pairs(self.dists, self.labels)
        self._positives = {}
        for a, p in pairs.tolist():
            self._positives.setdefault(a, []).append(p)
        anchor, positive = _median_pair(self.dists, self.labels)
        self.anchor_dropdown = widgets.Dropdown(
            options=[(f"#{a} {viz.identity_name(self.labels[a], names)}", a) for a in sorted(self._positives)],
            value=anchor, description="anchor")
        self.positive_dropdown = widgets.Dropdown(options=self._positive_options(anchor), value=positive,
                                                  description="positive")
        self.margin_slider = widgets.FloatSlider(value=margin, min=0.0, max=1.0, step=0.01, description="margin",
                                                 continuous_update=False, readout_format=".2f")
        self.summary = widgets.HTML()
        self.plot_output = widgets.Output()
        super().__init__(children=[widgets.HBox([self.anchor_dropdown, self.positive_dropdown]), self.margin_slider,
                                   self.summary, self.plot_output])
        self._changing_anchor = False
        self.anchor_dropdown.observe(self._anchor_changed, names="value")
        self.positive_dropdown.observe(lambda _: self._changing_anchor or self.update(), names="value")
        self.margin_slider.observe(lambda _: self.update(), names="value")
        self.update()

    def _positive_options(self, anchor: int) -> list[tuple[str, int]]:
        return [(f"#{p}  d(a,p) = {float(self.dists[anchor, p]):.3f}", p) for p in self._positives[anchor]]

    def _anchor_changed(self, _=None) -> None:
        self._changing_anchor = True                  # the options change fires the positive's observer
        try:
            options = self._positive_options(self.anchor_dropdown.value)
            self.positive_dropdown.options = options
            self.positive_dropdown.value = options[0][1]
        finally:
            self._changing_anchor = False
        self.update()

    def update(self) -> None:
        """Find the negatives to show and the one each strategy would use, and redraw."""
        anchor, positive = int(self.anchor_dropdown.value), int(self.positive_dropdown.value)
        margin = float(self.margin_slider.value)
        self.anchor, self.positive = anchor, positive
        negative_idx, an_dists, categories = negative_categories(self.dists, self.labels, anchor, positive, margin)
        self.selected = select_negatives(self.dists, self.labels, anchor, positive, margin)
        easy = [(float(d), int(n)) for n, d, c in zip(negative_idx, an_dists, categories) if c == "easy"]
        self.shown = {"hardest": self.selected["batch-hard"], "semi-hard": self.selected["semi-hard"],
                      "easy": min(easy)[1] if easy else None}
        ap_dist = float(self.dists[anchor, positive])
        c = viz.CATEGORY_COLORS
        hard, semi, active = self.selected["batch-hard"], self.selected["semi-hard"], len(self.selected["batch-all"])
        self.summary.value = (
            f"<div>d(a,p) = {ap_dist:.3f}. Which negative would each loss use?<br>"
            f"batch-hard: the anchor's closest negative {_span('fe-batch-hard', f'#{hard}')}; "
            f"semi-hard: the closest negative farther than the positive but inside the margin "
            f"{_span('fe-semi-hard', f'#{semi}' if semi is not None else 'none')}; "
            f"batch-all: every negative with a loss, {_span('fe-batch-all', str(active))} "
            f"of {len(negative_idx)}.</div>"
        )
        fig = viz.new_figure(figsize=(11.0, 5.2))[0]
        fig.clear()
        grid = fig.add_gridspec(2, 5, height_ratios=[1.2, 1])
        faces = [("anchor", anchor, None), ("positive", positive, None), ("hardest", self.shown["hardest"], "hard"),
                 ("semi-hard", self.shown["semi-hard"], "semi-hard"), ("closest easy", self.shown["easy"], "easy")]
        for col, (what, index, category) in enumerate(faces):
            ax = fig.add_subplot(grid[0, col])
            if index is None:
                ax.set_axis_off()
                ax.set_title(f"no {what} negative", fontsize=9)
                continue
            title = f"{what} #{index}" + ("" if col == 0 else f"\nd = {float(self.dists[anchor, index]):.3f}")
            viz.draw_face(ax, self.images[index], title, c.get(category))
        viz.plot_negative_axis(self.dists, self.labels, anchor, positive, margin, ax=fig.add_subplot(grid[1, :]))
        self.figure = fig
        _show(self.plot_output, fig)


def negative_explorer(embeddings, labels, images, margin: float = 0.2,
                      names: Sequence[str] | None = None) -> NegativeExplorer:
    """Pick an anchor and a positive; see its hardest, a semi-hard and an easy negative.

    Shows the faces with their distances, the negative axis, and which negative batch-hard,
    semi-hard and batch-all would use (``mining.select_negatives``).

    Args:
        embeddings: (B, D) tensor, L2-normalised; labels: (B,) identity labels.
        images: (B, 1, H, W) faces in [0, 1], the images the embeddings came from.
        margin: the margin slider's starting value; names: optional names indexed by label.

    Returns:
        the widget; ``w.anchor_dropdown``, ``w.positive_dropdown``, ``w.margin_slider``;
        ``w.selected`` ({"batch-hard": idx, "semi-hard": idx or None, "batch-all": LongTensor}) and
        ``w.shown`` ({"hardest", "semi-hard", "easy"}: the negatives drawn, idx or None).
    """
    return NegativeExplorer(embeddings, labels, images, margin, names)


# ---------------------------------------------------------------- training snapshots

class SnapshotExplorer(widgets.VBox):
    """See ``snapshot_explorer``. State: ``frame``, ``step``, ``points`` (every frame's (M, 2) positions)."""

    def __init__(self, snapshots, labels, reducer, is_unseen, names, images, fit_on: str, seed: int):
        if not snapshots:
            raise FaceNetEduError("No snapshots to show: train with a probe set so History.snapshots is filled.")
        if fit_on not in ("final", "all"):
            raise FaceNetEduError(f"fit_on must be 'final' or 'all', got {fit_on!r}.")
        self.steps = [int(step) for step, _ in snapshots]
        frames = [torch.as_tensor(e, dtype=torch.float32).detach().cpu() for _, e in snapshots]
        self.labels, self.is_unseen, self.names, self.images = labels, is_unseen, names, images
        if reducer is None and fit_on == "all":                             # one map fitted on every frame
            reducer = viz.fit_umap(torch.cat(frames), seed=seed)
            stacked = viz.project(reducer, torch.cat(frames))
            self.points = list(np.split(stacked, np.cumsum([len(f) for f in frames])[:-1]))
        else:                                                               # fitted on the final frame
            reducer = reducer if reducer is not None else viz.fit_umap(frames[-1], seed=seed)
            self.points = [viz.project(reducer, f) for f in frames]         # every projection, once
        self.reducer = reducer
        self.limits = _limits(self.points)
        self.frame_slider = widgets.IntSlider(value=len(frames) - 1, min=0, max=len(frames) - 1, step=1,
                                              description="snapshot", continuous_update=False)
        self.play = widgets.Play(value=len(frames) - 1, min=0, max=len(frames) - 1, interval=700, description="play")
        widgets.jslink((self.play, "value"), (self.frame_slider, "value"))
        self.summary = widgets.HTML()
        self.plot_output = widgets.Output()
        super().__init__(children=[widgets.HBox([self.play, self.frame_slider, self.summary]), self.plot_output])
        self.frame_slider.observe(lambda _: self.update(), names="value")
        self.update()

    def update(self) -> None:
        """Redraw the frame the slider points at (projections are precomputed)."""
        self.frame = int(self.frame_slider.value)
        self.step = self.steps[self.frame]
        self.summary.value = (f"<div>training step {_span('fe-snapshot-step', str(self.step))} "
                              f"(snapshot {self.frame + 1} of {len(self.steps)})</div>")
        fig = viz.plot_embedding_2d(self.points[self.frame], self.labels, names=self.names, images=self.images,
                                    is_unseen=self.is_unseen, title=f"step {self.step}", limits=self.limits)
        self.figure = fig
        _show(self.plot_output, fig)


def snapshot_explorer(snapshots: Sequence[tuple[int, torch.Tensor]], labels, reducer=None, is_unseen=None,
                      names: Sequence[str] | None = None, images=None, fit_on: str = "final",
                      seed: int = 0) -> SnapshotExplorer:
    """A slider (and play button) over training snapshots, drawn on one shared UMAP map.

    Args:
        snapshots: [(step, (M, D) embeddings of a fixed probe set)], e.g. ``History.snapshots``.
        labels: (M,) identity labels of the probe set.
        reducer: a fitted map (``viz.fit_umap``); default: fitted here, see ``fit_on``.
        is_unseen: optional (M,) bool mask of identities not trained on (hollow markers).
        names: optional names indexed by label; images: optional (M, 1, H, W) thumbnails.
        fit_on: "final" fits the map on the last snapshot and places the others on it;
            "all" fits it on every snapshot stacked (slower, exact for every frame).
        seed: UMAP's random_state.

    Returns:
        the widget; ``w.frame_slider``, ``w.frame``, ``w.step``, ``w.points``, ``w.reducer``.
    """
    return SnapshotExplorer(snapshots, labels, reducer, is_unseen, names, images, fit_on, seed)


# ---------------------------------------------------------------- threshold explorer

def _error_rates(distances: np.ndarray, is_same: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """False accept and false reject rates at each threshold; "same" when distance <= threshold (as ``matching``)."""
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    pos, neg = np.sort(distances[is_same]), np.sort(distances[~is_same])
    far = np.searchsorted(neg, thresholds, side="right") / max(len(neg), 1)        # different people accepted
    frr = 1.0 - np.searchsorted(pos, thresholds, side="right") / max(len(pos), 1)  # same person rejected
    return far, frr


class ThresholdExplorer(widgets.VBox):
    """See ``threshold_explorer``. State: ``far``, ``frr``, ``accuracy``, ``flipped``."""

    def __init__(self, distances, is_same, pair_images, threshold: float | None, step: float):
        self.distances = np.asarray(torch.as_tensor(distances).detach().cpu(), dtype=np.float64).ravel()
        self.is_same = np.asarray(torch.as_tensor(is_same).cpu()).astype(bool).ravel()
        if self.distances.shape != self.is_same.shape or len(self.distances) == 0:
            raise FaceNetEduError(f"Need one same/different flag per pair distance, got "
                                  f"{self.distances.shape} and {self.is_same.shape}.")
        self.pair_images = pair_images
        if threshold is None:                                         # best accuracy, on the slider's grid
            threshold = round(choose_threshold(self.distances, self.is_same) / step) * step
        self.initial_threshold = float(threshold)
        self.initial_accepted = self.distances <= self.initial_threshold
        top = float(np.ceil(max(self.distances.max() * 1.05, self.initial_threshold, 2.0) / step) * step)
        self.threshold_slider = widgets.FloatSlider(value=self.initial_threshold, min=0.0, max=top, step=step,
                                                    description="threshold", continuous_update=False,
                                                    readout_format=".2f")
        fpr, tpr, _ = roc_curve_dists(self.distances, self.is_same)          # the ROC, once
        self.roc = (fpr, tpr)
        self.summary = widgets.HTML()
        self.plot_output = widgets.Output()
        super().__init__(children=[self.threshold_slider, self.summary, self.plot_output])
        self.threshold_slider.observe(lambda _: self.update(), names="value")
        self.update()

    def update(self) -> None:
        """Recompute the error rates and flipped pairs at the slider's threshold, and redraw."""
        threshold = float(self.threshold_slider.value)
        far, frr = _error_rates(self.distances, self.is_same, threshold)
        self.far, self.frr = float(far[0]), float(frr[0])
        accepted = self.distances <= threshold
        self.accuracy = float((accepted == self.is_same).mean())
        self.flipped = np.flatnonzero(accepted != self.initial_accepted)
        self.summary.value = (
            f"<div>\"same person\" when distance &le; {threshold:.2f}: "
            f"false accepts {_span('fe-far', f'{self.far:.1%}')} of different-person pairs, "
            f"false rejects {_span('fe-frr', f'{self.frr:.1%}')} of same-person pairs, "
            f"accuracy {_span('fe-accuracy', f'{self.accuracy:.1%}')}; "
            f"{_span('fe-flipped', str(len(self.flipped)))} of {len(self.distances):,} pairs changed their "
            f"verdict since threshold {self.initial_threshold:.2f}.</div>"
        )
        shown = self.flipped[:6] if self.pair_images is not None else []
        self.pairs_figure = None
        fig, axes = viz.new_figure(1, 2, figsize=(11.0, 3.8), width_ratios=[1, 1.6])
        viz.plot_roc(*self.roc, operating_point=(self.far, 1.0 - self.frr), ax=axes[0, 0])
        viz.plot_pair_histograms(self.distances, self.is_same, threshold=threshold, ax=axes[0, 1])
        self.figure = fig
        _show(self.plot_output, fig)
        if len(shown):
            pairs_fig, pair_axes = viz.new_figure(2, len(shown), figsize=(1.6 * len(shown), 3.6))
            for col, i in enumerate(shown):
                verdict = "accepted" if accepted[i] else "rejected"
                truth = "same" if self.is_same[i] else "different"
                correct = accepted[i] == self.is_same[i]
                for row in range(2):
                    viz.draw_face(pair_axes[row, col], self.pair_images[i][row],
                                  f"{truth}, d = {self.distances[i]:.2f}\nnow {verdict}" if row == 0 else None,
                                  "green" if correct else "red")
            self.pairs_figure = pairs_fig
            _show(self.plot_output, pairs_fig, clear=False)


def threshold_explorer(distances, is_same, pair_images=None, threshold: float | None = None,
                       step: float = 0.01) -> ThresholdExplorer:
    """A verification-threshold slider over the ROC curve and the pair-distance histograms.

    "Same person" means distance <= threshold (as in ``matching``). Shows the false accept
    rate (FAR, share of different-person pairs accepted), the false reject rate (FRR, share
    of same-person pairs rejected) and which pairs flip relative to the starting threshold.

    Args:
        distances: (P,) distances of test pairs; is_same: (P,) bool, True for same-person pairs.
        pair_images: optional, ``pair_images[i]`` holds the two faces of pair i (e.g. (P, 2, H, W));
            up to six flipped pairs are then drawn.
        threshold: starting value; default the best-accuracy threshold (``matching.choose_threshold``)
            rounded to ``step``.
        step: the slider's step.

    Returns:
        the widget; ``w.threshold_slider``, ``w.far``, ``w.frr``, ``w.accuracy``, ``w.flipped``
        (indices of pairs whose verdict differs from the one at ``w.initial_threshold``), ``w.roc``.
    """
    return ThresholdExplorer(distances, is_same, pair_images, threshold, step)


# ---------------------------------------------------------------- new face matcher

class NewFaceMatcher(widgets.VBox):
    """See ``new_face_matcher``. State: ``face``, ``identification``, ``verdict``, ``error``."""

    def __init__(self, model_or_embed_fn, gallery: Gallery, sample_images, threshold, image_size, detect, top_k):
        if isinstance(model_or_embed_fn, torch.nn.Module):
            model = model_or_embed_fn
            self.embed_fn = lambda face: embed(model, face)
            image_size = image_size or model.config.image_size
        elif callable(model_or_embed_fn):
            self.embed_fn = model_or_embed_fn
        else:
            raise FaceNetEduError("Pass a trained EmbeddingNet or a function from a (1, 1, S, S) face to its embedding.")
        if image_size is None:
            raise FaceNetEduError("With an embedding function, also pass image_size (the network's input side).")
        self.gallery, self.image_size, self.top_k = gallery, int(image_size), top_k
        self.threshold = float(threshold if threshold is not None else gallery.threshold or float("nan"))
        if not np.isfinite(self.threshold):
            raise FaceNetEduError("No threshold given and the gallery stores none; pass threshold= (see choose_threshold).")
        self.sample_images = dict(sample_images or {})
        self.face = self.identification = self.verdict = self.error = self.figure = None
        self.upload = widgets.FileUpload(accept="image/*", multiple=False, description="Upload a photo")
        self.sample_dropdown = widgets.Dropdown(options=[("choose a sample", None)] + [(n, n) for n in self.sample_images],
                                                value=None, description="or a sample")
        self.detect_checkbox = widgets.Checkbox(value=detect, description="find the face first (photographs)")
        self.summary = widgets.HTML("<div>Upload a photo or choose a sample.</div>")
        self.plot_output = widgets.Output()
        super().__init__(children=[widgets.HBox([self.upload, self.sample_dropdown]), self.detect_checkbox,
                                   self.summary, self.plot_output])
        self.upload.observe(self._uploaded, names="value")
        self.sample_dropdown.observe(self._sample_chosen, names="value")

    def _uploaded(self, change) -> None:
        if not change["new"]:
            return
        item = change["new"][0]
        try:
            with Image.open(io.BytesIO(bytes(item["content"]))) as image:
                image.load()
                self.match(read_image(image), item.get("name", "upload"))
        except (OSError, ValueError) as err:
            self._fail(f"{item.get('name', 'the file')} cannot be read as an image ({err}); use a JPEG or PNG.")

    def _sample_chosen(self, change) -> None:
        if change["new"] is not None:
            self.match(self.sample_images[change["new"]], change["new"])

    def _fail(self, message: str) -> None:
        self.error, self.face, self.identification, self.verdict = message, None, None, None
        self.summary.value = f'<div class="fe-match-error" style="color:#d62728">{message}</div>'
        self.figure = None
        if get_ipython() is not None:
            self.plot_output.clear_output()

    def match(self, image, source: str = "image") -> None:
        """Crop the face (detect if asked), embed it once, and identify it in the gallery."""
        try:
            face = prepare_face(image, self.image_size, detect=self.detect_checkbox.value)  # (1, 1, S, S)
        except FaceNetEduError as err:
            self._fail(str(err))
            return
        embedding = torch.as_tensor(self.embed_fn(face)).detach().cpu().reshape(-1)     # (D,)
        self.error, self.face = None, face[0, 0].numpy()
        self.identification = self.gallery.identify(embedding, threshold=self.threshold, top_k=self.top_k)
        self.verdict = self.identification.name
        rows = "".join(f"<tr><td>{name}</td><td>{dist:.3f}</td></tr>" for name, dist in self.identification.top_k)
        self.summary.value = (
            f"<div>{source}: {_span('fe-verdict', self.verdict)} (nearest distance "
            f"{self.identification.distance:.3f}, threshold {self.threshold:.2f})"
            f"<table><tr><th>nearest people</th><th>distance</th></tr>{rows}</table></div>"
        )
        fig, axes = viz.new_figure(1, 2, figsize=(7.0, 2.8), width_ratios=[1, 2])
        viz.draw_face(axes[0, 0], self.face, f"{source}\nas the network sees it")
        names = [name for name, _ in self.identification.top_k][::-1]
        dists = [dist for _, dist in self.identification.top_k][::-1]
        axes[0, 1].barh(names, dists, color=["#2ca02c" if d <= self.threshold else "#7f7f7f" for d in dists])
        axes[0, 1].axvline(self.threshold, color="black", linestyle="--", gid="threshold",
                           label=f"threshold {self.threshold:.2f}")
        axes[0, 1].set_xlabel("distance to the person's nearest enrolled face")
        axes[0, 1].legend(fontsize=8, loc="lower right")
        self.figure = fig
        _show(self.plot_output, fig)


def new_face_matcher(model_or_embed_fn, gallery: Gallery, sample_images: dict | None = None,
                     threshold: float | None = None, image_size: int | None = None, detect: bool = True,
                     top_k: int = 3) -> NewFaceMatcher:
    """Upload a photo (or pick a sample) and see who the gallery says it is.

    The face is found and cropped (``faces.prepare_face``), embedded with one forward pass,
    and compared with the gallery (``Gallery.identify``): the nearest people with their
    distances, and the verdict, a name or "unknown" when even the nearest is farther than
    the threshold.

    Args:
        model_or_embed_fn: a trained ``EmbeddingNet``, or a function from a (1, 1, S, S) face to its embedding.
        gallery: the enrolled people.
        sample_images: optional {name: image path or (H, W) array} offered in a dropdown.
        threshold: verification threshold; default the gallery's own.
        image_size: the network's input side (taken from the model when a model is given).
        detect: start with face detection on (photographs); off for face crops.
        top_k: how many nearest people to list.

    Returns:
        the widget; ``w.upload``, ``w.sample_dropdown``, ``w.detect_checkbox``, ``w.match(image)``;
        ``w.face`` ((S, S) crop), ``w.identification``, ``w.verdict``, ``w.error`` (message or None).
    """
    return NewFaceMatcher(model_or_embed_fn, gallery, sample_images, threshold, image_size, detect, top_k)
