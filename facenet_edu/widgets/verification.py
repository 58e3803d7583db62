"""Using the trained network: the verification threshold, and matching a new face against a gallery."""

import io

import ipywidgets as widgets
import numpy as np
import torch
from IPython import get_ipython
from PIL import Image

from .. import metric_plots, viz
from ..errors import FaceNetEduError
from ..verification import roc_curve_dists
from ..faces import prepare_face
from ..gallery import Gallery
from ..images import read_image
from ..matching import accept_counts, choose_threshold, is_same_person
from ..model import embed
from ._common import show, span


# ---------------------------------------------------------------- threshold explorer

def _error_rates(distances: np.ndarray, is_same: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """False accept and false reject rates at each threshold; "same" when distance <= threshold (as ``matching``)."""
    true_accepts, false_accepts = accept_counts(distances, is_same, thresholds)
    far = false_accepts / max(int((~is_same).sum()), 1)        # different people accepted
    frr = 1.0 - true_accepts / max(int(is_same.sum()), 1)      # same person rejected
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
        self.initial_accepted = is_same_person(self.distances, self.initial_threshold)
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
        accepted = is_same_person(self.distances, threshold)
        self.accuracy = float((accepted == self.is_same).mean())
        self.flipped = np.flatnonzero(accepted != self.initial_accepted)
        self.summary.value = (
            f"<div>\"same person\" when distance &le; {threshold:.2f}: "
            f"false accepts {span('fe-far', f'{self.far:.1%}')} of different-person pairs, "
            f"false rejects {span('fe-frr', f'{self.frr:.1%}')} of same-person pairs, "
            f"accuracy {span('fe-accuracy', f'{self.accuracy:.1%}')}; "
            f"{span('fe-flipped', str(len(self.flipped)))} of {len(self.distances):,} pairs changed their "
            f"verdict since threshold {self.initial_threshold:.2f}.</div>"
        )
        shown = self.flipped[:6] if self.pair_images is not None else []
        self.pairs_figure = None
        fig, axes = viz.new_figure(1, 2, figsize=(11.0, 3.8), width_ratios=[1, 1.6])
        metric_plots.plot_roc(*self.roc, operating_point=(self.far, 1.0 - self.frr), ax=axes[0, 0])
        metric_plots.plot_pair_histograms(self.distances, self.is_same, threshold=threshold, ax=axes[0, 1])
        self.figure = fig
        show(self.plot_output, fig)
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
            show(self.plot_output, pairs_fig, clear=False)


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

    def __init__(self, model_or_embed_fn, gallery: Gallery, sample_images, threshold, image_size, detect, top_k,
                 crop_margin):
        if isinstance(model_or_embed_fn, torch.nn.Module):
            model = model_or_embed_fn
            self.embed_fn = lambda face: embed(model, face)
            image_size = image_size or model.config.image_size
            crop_margin = model.config.crop_margin if crop_margin is None else crop_margin
        elif callable(model_or_embed_fn):
            self.embed_fn = model_or_embed_fn
        else:
            raise FaceNetEduError("Pass a trained EmbeddingNet or a function from a (1, 1, S, S) face to its embedding.")
        if image_size is None:
            raise FaceNetEduError("With an embedding function, also pass image_size (the network's input side).")
        self.gallery, self.image_size, self.top_k, self.crop_margin = gallery, int(image_size), top_k, crop_margin
        # the model's crop (an embedding function gets faces.DEFAULT_CROP, "aligned")
        self.crop = getattr(getattr(model_or_embed_fn, "config", None), "crop", None)
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
            face = prepare_face(image, self.image_size, detect=self.detect_checkbox.value,
                                crop_margin=self.crop_margin, crop=self.crop)                  # (1, 1, S, S)
        except FaceNetEduError as err:
            self._fail(str(err))
            return
        embedding = torch.as_tensor(self.embed_fn(face)).detach().cpu().reshape(-1)     # (D,)
        self.error, self.face = None, face[0, 0].numpy()
        self.identification = self.gallery.identify(embedding, threshold=self.threshold, top_k=self.top_k)
        self.verdict = self.identification.name
        rows = "".join(f"<tr><td>{name}</td><td>{dist:.3f}</td></tr>" for name, dist in self.identification.top_k)
        self.summary.value = (
            f"<div>{source}: {span('fe-verdict', self.verdict)} (nearest distance "
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
        show(self.plot_output, fig)


def new_face_matcher(model_or_embed_fn, gallery: Gallery, sample_images: dict | None = None,
                     threshold: float | None = None, image_size: int | None = None, detect: bool = True,
                     top_k: int = 3, crop_margin: float | None = None) -> NewFaceMatcher:
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
        crop_margin: border around a detected face; default the model's ``config.crop_margin``
            (with an embedding function, ``faces.DEFAULT_CROP_MARGIN``).

    Returns:
        the widget; ``w.upload``, ``w.sample_dropdown``, ``w.detect_checkbox``, ``w.match(image)``;
        ``w.face`` ((S, S) crop), ``w.identification``, ``w.verdict``, ``w.error`` (message or None).
    """
    return NewFaceMatcher(model_or_embed_fn, gallery, sample_images, threshold, image_size, detect, top_k, crop_margin)
