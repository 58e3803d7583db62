"""The embedding space during training: a slider over snapshots, on one fixed UMAP map."""

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from .. import viz
from ..errors import FaceNetEduError
from ._common import shared_limits, show, span


# ---------------------------------------------------------------- training snapshots

class SnapshotExplorer(widgets.VBox):
    """See ``snapshot_explorer``. State: ``frame``, ``step``, ``points`` (every frame's (M, 2) positions)."""

    def __init__(self, snapshots, labels, reducer, is_unseen, names, images, fit_on: str, seed: int,
                 max_thumbnails: int):
        if not snapshots:
            raise FaceNetEduError("No snapshots to show: train with a probe set so History.snapshots is filled.")
        if fit_on not in ("final", "all"):
            raise FaceNetEduError(f"fit_on must be 'final' or 'all', got {fit_on!r}.")
        self.steps = [int(step) for step, _ in snapshots]
        frames = [torch.as_tensor(e, dtype=torch.float32).detach().cpu() for _, e in snapshots]
        self.labels, self.is_unseen, self.names, self.images = labels, is_unseen, names, images
        self.max_thumbnails = int(max_thumbnails)
        if reducer is None and fit_on == "all":                             # one map fitted on every frame
            reducer = viz.fit_umap(torch.cat(frames), seed=seed)
            stacked = viz.project(reducer, torch.cat(frames))
            self.points = list(np.split(stacked, np.cumsum([len(f) for f in frames])[:-1]))
        else:                                                               # fitted on the final frame
            reducer = reducer if reducer is not None else viz.fit_umap(frames[-1], seed=seed)
            self.points = [viz.project(reducer, f) for f in frames]         # every projection, once
        self.reducer = reducer
        self.limits = shared_limits(self.points)
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
        self.summary.value = (f"<div>training step {span('fe-snapshot-step', str(self.step))} "
                              f"(snapshot {self.frame + 1} of {len(self.steps)})</div>")
        fig = viz.plot_embedding_2d(self.points[self.frame], self.labels, names=self.names, images=self.images,
                                    is_unseen=self.is_unseen, title=f"step {self.step}", limits=self.limits,
                                    max_thumbnails=self.max_thumbnails)
        self.figure = fig
        show(self.plot_output, fig)

    def filmstrip(self, num_frames: int = 4) -> Figure:
        """``num_frames`` evenly spaced frames side by side, first and last included, on the shared view.

        What the slider shows, as one static figure a saved notebook keeps (no thumbnails:
        at this size they would hide the points). ``self.filmstrip_frames`` holds the
        frame indices drawn.
        """
        frames = np.unique(np.linspace(0, len(self.steps) - 1, max(1, num_frames)).round().astype(int))
        self.filmstrip_frames = [int(f) for f in frames]
        fig, axes = viz.new_figure(1, len(frames), figsize=(4.2 * len(frames), 4.2))
        for ax, frame in zip(axes[0], self.filmstrip_frames):
            viz.plot_embedding_2d(self.points[frame], self.labels, names=self.names, is_unseen=self.is_unseen,
                                  ax=ax, limits=self.limits, title=f"step {self.steps[frame]}")
        return fig


def snapshot_explorer(snapshots: Sequence[tuple[int, torch.Tensor]], labels, reducer=None, is_unseen=None,
                      names: Sequence[str] | None = None, images=None, fit_on: str = "final",
                      seed: int = 0, max_thumbnails: int = 20) -> SnapshotExplorer:
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
        max_thumbnails: at most this many faces drawn on a frame (evenly spaced), so they
            do not bury the points.

    Returns:
        the widget; ``w.frame_slider``, ``w.frame``, ``w.step``, ``w.points``, ``w.reducer``;
        ``w.filmstrip(num_frames)`` draws a few frames side by side as one static figure.
    """
    return SnapshotExplorer(snapshots, labels, reducer, is_unseen, names, images, fit_on, seed, max_thumbnails)
