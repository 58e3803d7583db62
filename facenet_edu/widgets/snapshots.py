"""The embedding space during training: a slider over snapshots, on one fixed UMAP map."""

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch

from .. import viz
from ..errors import FaceNetEduError
from ._common import shared_limits, show, span


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
                                    is_unseen=self.is_unseen, title=f"step {self.step}", limits=self.limits)
        self.figure = fig
        show(self.plot_output, fig)


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
