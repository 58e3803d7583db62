"""The triplet playground: watch 3-D embeddings train on the sphere, move the margin, see the gap follow.

All the logic is ``facenet_edu.playground`` (a pure step function over an immutable
state); this module only draws a state and wires controls to those functions.

Unlike the other explorers, the picture is an ``ipywidgets.Image`` holding a PNG that
the widget renders itself, not a figure displayed in an ``Output``: an animation
replaces its picture several times a second, and an ``Output`` that is cleared and
redrawn that often flickers and renders each figure twice (once to measure its tight
bounding box). The figure is built once and only its data change from frame to frame.
"""

import io

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .. import viz
from ..playground import (
    PLAYGROUND_LOSSES,
    PlaygroundConfig,
    PlaygroundState,
    new_playground,
    playground_step,
    reset_playground,
    with_settings,
)
from ._common import span

STRATEGY_NAMES = {"hardest": "hardest (batch-hard)", "semi-hard": "semi-hard (FaceNet)", "all": "all (batch-all)"}
COLLAPSED_BELOW = 0.1   # mean different-person distance under which the readout says "collapsed"


class PlaygroundFigure:
    """A figure of one playground state, redrawn in place with ``update``.

    Left: the embeddings on the unit sphere (a wireframe), one colour per person. Right:
    the closest-pair gap (closest different-person pair minus farthest same-person pair)
    and the median anchor gap over the steps, with the margin they are trained towards.

    Args:
        state: the state to draw first.
        figsize: inches; dpi: resolution of ``png()``.

    Attributes:
        figure: the matplotlib ``Figure`` (not registered in pyplot: nothing to close).
        points: one 3-D line artist (markers only) per person, gid ``person-<label>``.
    """

    def __init__(self, state: PlaygroundState, figsize=(9.0, 4.2), dpi: int = 72):
        self.dpi = dpi
        self.figure = Figure(figsize=figsize)
        self.figure.subplots_adjust(left=0.0, right=0.97, bottom=0.13, top=0.9, wspace=0.12)
        grid = self.figure.add_gridspec(1, 2, width_ratios=[1.15, 1])
        self.sphere_ax = self.figure.add_subplot(grid[0, 0], projection="3d")
        self.history_ax = self.figure.add_subplot(grid[0, 1])
        u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 19), np.linspace(0, np.pi, 10))  # (10, 19) angles
        self.sphere_ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v),
                                      color="lightgrey", linewidth=0.5)
        self.sphere_ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1))
        self.sphere_ax.set_box_aspect((1, 1, 1), zoom=1.25)
        self.sphere_ax.set_axis_off()           # the wireframe is the sphere; panes and ticks would only cost time
        self.people = sorted(set(state.labels.tolist()))
        self.points = []
        for label in self.people:
            (line,) = self.sphere_ax.plot([], [], [], linestyle="", marker="o", markersize=6,
                                          markeredgecolor="black", markeredgewidth=0.4,
                                          color=viz.identity_color(label), gid=f"person-{label}")
            self.points.append(line)
        ax = self.history_ax
        (self.gap_line,) = ax.plot([], [], color="black", gid="gap")
        (self.anchor_gap_line,) = ax.plot([], [], color="tab:blue", gid="anchor-gap")
        (self.margin_line,) = ax.plot([], [], color="grey", linestyle="--", drawstyle="steps-pre", gid="margin")
        ax.axhline(0.0, color="lightgrey", linewidth=0.8)
        ax.set(xlabel="training step", ylabel="distance")
        # A title instead of a legend, and few ticks: text is most of a frame's drawing time.
        ax.set_title("closest-pair gap (black), median anchor gap (blue), margin (dashed)", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(4, integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        self.update(state)

    def update(self, state: PlaygroundState) -> None:
        """Move the points and extend the curves to ``state``."""
        embeddings, labels = state.embeddings.numpy(), state.labels.numpy()
        for label, line in zip(self.people, self.points):
            x, y, z = embeddings[labels == label].T
            line.set_data_3d(x, y, z)
        self.sphere_ax.set_title(f"step {state.step}: {STRATEGY_NAMES[state.strategy]}, margin {state.margin:.2f}",
                                 fontsize=10)
        steps = [r.step for r in state.history]
        self.gap_line.set_data(steps, [r.gap for r in state.history])
        self.anchor_gap_line.set_data(steps, [r.median_anchor_gap for r in state.history])
        # "steps-pre": each record's margin over the steps that led to it, then the one the next steps will use
        self.margin_line.set_data(steps + steps[-1:], [r.margin for r in state.history] + [state.margin])
        ax = self.history_ax
        low = min(-0.25, *(r.gap for r in state.history))
        ax.set_xlim(0, max(10, steps[-1]))
        ax.set_ylim(low - 0.05, 1.3)

    def png(self) -> bytes:
        """The figure as PNG bytes (what the widget shows)."""
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=self.dpi, pil_kwargs={"compress_level": 1})  # speed over size
        return buffer.getvalue()


def playground_figure(state: PlaygroundState, figsize=(9.0, 4.2)) -> Figure:
    """A static figure of one playground state (the widget's picture): the sphere and the gap over the steps.

    Args:
        state: from ``facenet_edu.playground``; figsize: inches.
    """
    return PlaygroundFigure(state, figsize).figure


class TripletPlayground(widgets.VBox):
    """See ``triplet_playground``. State: ``state`` (a ``PlaygroundState``), ``frames``, ``figure``."""

    def __init__(self, config: PlaygroundConfig | None, margin: float, strategy: str, steps_per_frame: int,
                 interval_ms: int, max_margin: float):
        self.state = new_playground(config, margin, strategy)
        self.steps_per_frame = steps_per_frame
        self.frames = 0
        self.margin_slider = widgets.FloatSlider(value=margin, min=0.0, max=max_margin, step=0.01, description="margin",
                                                 continuous_update=False, readout_format=".2f")
        self.strategy_dropdown = widgets.Dropdown(options=[(STRATEGY_NAMES[s], s) for s in PLAYGROUND_LOSSES], value=strategy,
                                                  description="mining")
        self.play = widgets.Play(value=0, min=0, max=10**9, step=1, interval=interval_ms, description="play / pause",
                                 show_repeat=False)
        self.reset_button = widgets.Button(description="reset", icon="undo", layout=widgets.Layout(width="90px"))
        self.summary = widgets.HTML()
        self.drawing = PlaygroundFigure(self.state)
        self.figure = self.drawing.figure
        self.image = widgets.Image(format="png")
        self.image.figures = [self.figure]           # what static_view shows: the picture, redrawn in place
        super().__init__(children=[widgets.HBox([self.play, self.reset_button, self.strategy_dropdown]),
                                   self.margin_slider, self.summary, self.image])
        # A frame per step up of play's counter; its stop button and reset set it back to 0, which trains nothing.
        self.play.observe(lambda change: change.new > change.old and self.advance(), names="value")
        self.reset_button.on_click(lambda _: self.reset())
        self.margin_slider.observe(lambda change: self._set(margin=change.new), names="value")
        self.strategy_dropdown.observe(lambda change: self._set(strategy=change.new), names="value")
        self.redraw()

    def advance(self) -> None:
        """One frame: train ``steps_per_frame`` steps, then redraw (what each tick of play does)."""
        self.state = playground_step(self.state, self.steps_per_frame)
        self.frames += 1
        self.redraw()

    def reset(self) -> None:
        """Stop playing and go back to step 0, keeping the margin and the mining strategy."""
        self.play.playing = False
        self.play.value = 0
        self.state = reset_playground(self.state)
        self.redraw()

    def _set(self, **settings) -> None:
        self.state = with_settings(self.state, **settings)
        self.redraw()

    def redraw(self) -> None:
        """Write the readouts and redraw the picture from ``self.state``."""
        state, r = self.state, self.state.readouts
        beyond = r.gap >= state.margin
        verdict = "at least the margin" if beyond else "below the margin"
        collapsed = r.mean_an_dist < COLLAPSED_BELOW
        self.summary.value = (
            f"<div>Step {span('fe-steps', str(state.step))}. "
            f"Closest-pair gap {span('fe-gap', f'{r.gap:+.3f}', 'green' if beyond else 'firebrick')} "
            f"(closest different-person pair minus farthest same-person pair) against margin "
            f"{span('fe-margin', f'{state.margin:.2f}')}: {verdict}.<br>"
            f"Median anchor gap {span('fe-anchor-gap', f'{r.median_anchor_gap:+.3f}')} "
            f"(per anchor: closest negative minus farthest positive), "
            f"{span('fe-anchors-beyond', f'{r.fraction_beyond(state.margin):.0%}')} of the anchors at least the margin; "
            f"active triplets {span('fe-active', f'{r.active_fraction:.1%}')}, "
            f"{STRATEGY_NAMES[state.strategy]} loss {span('fe-playground-loss', f'{r.loss:.4f}')}.<br>"
            f"Mean distance: same person {span('fe-same', f'{r.mean_ap_dist:.3f}')}, "
            f"different people {span('fe-different', f'{r.mean_an_dist:.3f}')}"
            + (f" {span('fe-collapsed', 'collapsed: every face on one spot', 'firebrick')}" if collapsed else "")
            + ".</div>"
        )
        self.drawing.update(state)
        self.image.value = self.drawing.png()


def triplet_playground(config: PlaygroundConfig | None = None, margin: float = 0.2, strategy: str = "semi-hard",
                       steps_per_frame: int = 2, interval_ms: int = 200, max_margin: float = 1.0) -> TripletPlayground:
    """A small network with 3-D embeddings training live on a handful of people, drawn on the sphere.

    Play trains ``steps_per_frame`` steps per frame (``facenet_edu.playground.playground_step``)
    and redraws; the margin slider and the mining dropdown change what the next steps
    train for; reset goes back to the same start. The readouts compare the closest-pair gap (closest
    different-person pair minus farthest same-person pair) with the margin.

    Args:
        config: the faces, network and learning rate (``PlaygroundConfig()``: 8 people x 8 images).
        margin: the slider's starting value; strategy: "hardest", "semi-hard" or "all".
        steps_per_frame: training steps per tick of play.
        interval_ms: time between ticks (200: 5 frames a second, which the benchmark
            ``benchmarks/playground_speed.py`` checks a 2-core CPU keeps up with).
        max_margin: the slider's maximum (8 people on a sphere cannot all be more than about 1.2 apart).

    Returns:
        the widget; ``w.margin_slider``, ``w.strategy_dropdown``, ``w.play`` (each step up of its
        value is one frame), ``w.reset_button``; ``w.state`` (the current ``PlaygroundState``,
        with ``w.state.readouts``), ``w.frames``, ``w.figure``, ``w.image`` (its PNG).
    """
    return TripletPlayground(config, margin, strategy, steps_per_frame, interval_ms, max_margin)
