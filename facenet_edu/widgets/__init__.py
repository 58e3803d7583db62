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

from ._common import static_view
from .playground import TripletPlayground, playground_figure, triplet_playground
from .snapshots import SnapshotExplorer, snapshot_explorer
from .triplets import MarginExplorer, NegativeExplorer, margin_explorer, negative_explorer
from .verification import NewFaceMatcher, ThresholdExplorer, new_face_matcher, threshold_explorer

__all__ = [
    "MarginExplorer", "NegativeExplorer", "NewFaceMatcher", "SnapshotExplorer", "ThresholdExplorer", "TripletPlayground",
    "margin_explorer", "negative_explorer", "new_face_matcher", "playground_figure", "snapshot_explorer",
    "static_view", "threshold_explorer", "triplet_playground",
]
