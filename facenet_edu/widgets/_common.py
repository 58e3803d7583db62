"""What every explorer shares: showing a figure, bold numbers with a CSS class, the pair to start from.

The module is private to ``facenet_edu.widgets`` (its name starts with ``_``); the names
in it are public so that the explorers' modules can share them.
"""

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from IPython import get_ipython
from IPython.display import display

from ..errors import FaceNetEduError
from ..mining import pair_masks


def show(output: widgets.Output, fig, clear: bool = True) -> None:
    """Show ``fig`` (a figure from ``viz``, already closed in pyplot) in ``output``, replacing what was there.

    The output remembers the figures it shows (``output.figures``) for ``static_view``.
    Outside a Jupyter kernel (plain Python, tests) there is nothing to show them on.
    """
    shown = [] if clear else list(getattr(output, "figures", []))
    output.figures = [*shown, fig]
    if get_ipython() is None:
        return
    with output:
        if clear:
            output.clear_output(wait=True)
        display(fig)


def _parts(widget: widgets.Widget):
    """The widget and everything inside it, depth first, in the order they are drawn."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _parts(child)


def static_view(widget: widgets.Widget) -> list:
    """Show what an explorer shows now as plain outputs: its readouts (HTML) and its figures.

    A widget's view lives in the running kernel; a notebook saved to a code-hosting
    site or opened before Run All shows nothing of it. Call this after building an
    explorer so the saved notebook keeps a picture of its default view.

    Returns:
        The HTML texts and figures shown, in order (also when not in a kernel, for tests).
    """
    from IPython.display import HTML

    shown = []
    for part in _parts(widget):
        if isinstance(part, widgets.HTML) and part.value.strip():
            shown.append(part.value)
        for fig in getattr(part, "figures", []):
            shown.append(fig)
    if get_ipython() is not None:
        display(HTML("<i>A still of the explorer above, as it starts (for reading without running):</i>"))
        for item in shown:
            display(HTML(item) if isinstance(item, str) else item)
    return shown


def span(css_class: str, text: str, color: str | None = None) -> str:
    style = f' style="color:{color};font-weight:bold"' if color else ' style="font-weight:bold"'
    return f'<span class="{css_class}"{style}>{text}</span>'


def valid_pairs(labels: torch.Tensor) -> torch.Tensor:
    """(M, 2) anchor-positive pairs whose anchor also has a negative; error if there is none."""
    positive_mask, negative_mask = pair_masks(labels)
    pairs = torch.nonzero(positive_mask & negative_mask.any(dim=1, keepdim=True))  # (M, 2)
    if len(pairs) == 0:
        raise FaceNetEduError("No valid triplet: the explorer needs two or more people, one of them with two or more images.")
    return pairs


def median_pair(dists: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """The anchor-positive pair of median distance: a typical pair, with negatives on both sides."""
    pairs = valid_pairs(labels)
    ap_dists = dists[pairs[:, 0], pairs[:, 1]]
    anchor, positive = pairs[ap_dists.argsort()[len(pairs) // 2]].tolist()
    return anchor, positive


def shared_limits(point_sets: Sequence[np.ndarray], pad: float = 0.05):
    """((xmin, xmax), (ymin, ymax)) covering every point of every set, padded."""
    stacked = np.concatenate([np.asarray(p) for p in point_sets])
    low, high = stacked.min(axis=0), stacked.max(axis=0)
    extra = (high - low) * pad + 1e-6
    return (low[0] - extra[0], high[0] + extra[0]), (low[1] - extra[1], high[1] + extra[1])
