"""Triplets and the margin: how many negatives are easy, semi-hard or hard, and which one each miner picks."""

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import torch

from .. import metric_plots, viz
from ..errors import FaceNetEduError
from ..distances import all_pair_distances, pairwise_distances
from ..inputs import embeddings_and_labels
from ..losses import batch_all_triplet_loss, batch_semihard_triplet_loss
from ..mining import count_triplet_categories, negative_categories, select_negatives
from ._common import median_pair, shared_limits, show, span, valid_pairs


# ---------------------------------------------------------------- margin explorer

class MarginExplorer(widgets.VBox):
    """See ``margin_explorer``. State: ``counts``, ``losses``, ``loss``, ``active_fraction``."""

    def __init__(self, embeddings, labels, margin: float, anchor: int | None, positive: int | None,
                 retrain: Callable[[float], torch.Tensor] | None, max_margin: float, batch_all: bool):
        self.embeddings, self.labels = embeddings_and_labels(embeddings, labels)
        self.show_batch_all = batch_all
        self.dists = pairwise_distances(self.embeddings)                    # (B, B), computed once
        if anchor is None or positive is None:
            anchor, positive = median_pair(self.dists, self.labels)
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
        semihard = batch_semihard_triplet_loss(self.embeddings, self.labels, margin, dists=self.dists)  # no new matrix
        self.losses = {"semi-hard": float(semihard.loss)}
        if self.show_batch_all:
            self.losses["batch-all"] = float(batch_all_triplet_loss(self.embeddings, self.labels, margin, dists=self.dists).loss)
        self.loss = self.losses["semi-hard"]
        c, n = viz.CATEGORY_COLORS, {kind: f"{count:,}" for kind, count in self.counts.items()}
        batch_all = (f"; batch-all loss (mean over active triplets) "
                     f"{span('fe-loss-batch-all', format(self.losses['batch-all'], '.4f'))}" if self.show_batch_all else "")
        self.summary.value = (
            f"<div>At margin {margin:.2f}, of {total:,} valid triplets: "
            f"hard {span('fe-count-hard', n['hard'], c['hard'])}, "
            f"semi-hard {span('fe-count-semi-hard', n['semi-hard'], c['semi-hard'])}, "
            f"easy {span('fe-count-easy', n['easy'], c['easy'])} "
            f"({self.active_fraction:.1%} still give a loss).<br>"
            f"Semi-hard triplet loss (FaceNet) {span('fe-loss', f'{self.loss:.4f}')}{batch_all}."
            "</div>"
        )
        fig, axes = viz.new_figure(1, 2, figsize=(13.0, 3.4), width_ratios=[1, 1.25])
        metric_plots.plot_pair_histograms(self.pair_distances, self.pair_is_same, margin=margin, ax=axes[0, 0],
                                 title="all pairs")
        metric_plots.plot_negative_axis(self.dists, self.labels, self.anchor, self.positive, margin, ax=axes[0, 1])
        axes[0, 1].set_title(f"negatives of anchor #{self.anchor} with positive #{self.positive}", fontsize=10)
        self.figure = fig
        show(self.plot_output, fig)

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
        limits = shared_limits(self.retrain_points)
        for ax, pts, title in zip(axes[0], self.retrain_points, ("before", f"after retraining, margin {margin:.2f}")):
            viz.plot_embedding_2d(pts, self.labels, title=title, ax=ax, limits=limits)
        self.retrain_figure = fig
        show(self.retrain_output, fig)


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


# ---------------------------------------------------------------- negative explorer

class NegativeExplorer(widgets.VBox):
    """See ``negative_explorer``. State: ``anchor``, ``positive``, ``shown``, ``selected``."""

    def __init__(self, embeddings, labels, images, margin: float, names: Sequence[str] | None):
        self.embeddings, self.labels = embeddings_and_labels(embeddings, labels)
        self.images, self.names = images, names
        self.dists = pairwise_distances(self.embeddings)                    # (B, B), computed once
        pairs = valid_pairs(self.labels)
        self._positives = {}
        for a, p in pairs.tolist():
            self._positives.setdefault(a, []).append(p)
        anchor, positive = median_pair(self.dists, self.labels)
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
            f"batch-hard: the anchor's closest negative {span('fe-batch-hard', f'#{hard}')}; "
            f"semi-hard: the closest negative farther than the positive but inside the margin "
            f"{span('fe-semi-hard', f'#{semi}' if semi is not None else 'none')}; "
            f"batch-all: every negative with a loss, {span('fe-batch-all', str(active))} "
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
        metric_plots.plot_negative_axis(self.dists, self.labels, anchor, positive, margin,
                                        ax=fig.add_subplot(grid[1, :]))
        self.figure = fig
        show(self.plot_output, fig)


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
