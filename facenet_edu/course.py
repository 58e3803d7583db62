"""The course model: a triplet network trained on LFW's people, shipped with the package.

FaceNet's lesson is that a triplet network learns *identity* when it sees many
people. The course model sees LFW's people with at least two photos, minus the
people of LFW's DevTest pairs, which it is then tested on (identity-disjoint, as in
FaceNet's verification). ``course_model/MODEL_CARD.md`` says how it was trained and
what it reaches; ``course_model/card.json`` holds the same figures for the test that
recomputes them from the shipped weights.

    model = load_course_model()                       # EmbeddingNet, eval mode
    checkpoint = read_course_checkpoint()             # + threshold and provenance
"""

import platform
from dataclasses import dataclass
from pathlib import Path

import torch

from .baselines import Eigenfaces, raw_pixel_features
from .checkpoint import Checkpoint, read_checkpoint
from .data import FaceDataset, read_att_faces
from .distances import pair_distances
from .errors import FaceNetEduError
from .evaluate import evaluate_embeddings, validation_threshold
from .verification import pair_metrics
from .faces import prepare_dataset
from .lfw import load_lfw_pairs, load_lfw_people
from .lfw_lists import find_lfw_home, lfw_people_in
from .model import EmbeddingNet, ModelConfig, embed
from .runtime import resolve_device
from .train import History, TrainConfig, train_copy
from .splits import CourseSplit, split_by_identity

COURSE_DIR = Path(__file__).resolve().parent / "course_model"
COURSE_CHECKPOINT = COURSE_DIR / "course.pt"
COURSE_CARD = COURSE_DIR / "card.json"
COURSE_NAME = "course"   # the value of --checkpoint / --init that means the shipped model


def read_course_checkpoint(device: str | torch.device | None = None) -> Checkpoint:
    """The shipped course model with its threshold and provenance, on ``device`` (None: ``pick_device()``)."""
    if not COURSE_CHECKPOINT.is_file():
        raise FaceNetEduError(
            f"The course model is missing from the installed package ({COURSE_CHECKPOINT}). "
            "Reinstall facenet-edu, or train one: python -m facenet_edu train --dataset lfw --out course.pt"
        )
    return read_checkpoint(COURSE_CHECKPOINT, device)


def needs_detector(dataset: FaceDataset) -> bool:
    """Whether a dataset's faces go through the face detector: photographs do; the synthetic faces are crops already."""
    return not dataset.source.startswith("synthetic")


def prepare_split(split: CourseSplit, model_config: ModelConfig) -> CourseSplit:
    """A split's faces as a model expects them (``prepare_dataset``): the course model's crop of each photograph.

    Photographs (AT&T, Olivetti) go through the face detector; the synthetic faces are
    already face crops and are only resized.

    Args:
        split: ``course_split`` of faces at their source size (``load_course_faces(image_size=None)``).
        model_config: the model's ``config`` (its ``image_size`` and ``crop_margin``).
    """
    detect = needs_detector(split.fit)
    return CourseSplit(*(prepare_dataset(part, model_config, detect=detect) for part in split))


def load_course_model(device: str | torch.device | None = None) -> EmbeddingNet:
    """The shipped course model, in eval mode, on ``device`` (None: ``pick_device()``): 128-D embeddings of 64x64 faces."""
    return read_course_checkpoint(device).model


@dataclass
class LFWTraining:
    """What ``train_on_lfw`` returns.

    Attributes:
        model: the trained network, eval mode.
        history: the training history (loss, active triplets, seconds).
        threshold: verification threshold with the best accuracy on the validation people's pairs.
        provenance: plain values describing the data and the run, for the checkpoint and the model card;
            ``provenance["threshold_far_1e-2"]`` is the threshold for "unknown" (false-accept rate 1e-2 on those pairs).
    """

    model: EmbeddingNet
    history: History
    threshold: float
    provenance: dict


def _machine(device: torch.device) -> str:
    """The machine a model was trained on, for its card: the GPU's name on CUDA, else the CPU's threads."""
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} torch threads"
    return f"{platform.machine()}, {where}, torch {torch.__version__}"


def train_with_threshold(model_config: ModelConfig, fit_set: FaceDataset, val_set: FaceDataset,
                         train_config: TrainConfig, init: EmbeddingNet | None = None) -> tuple[EmbeddingNet, History, float]:
    """Train a network on ``fit_set``; choose its verification threshold on ``val_set``'s people, never the margin.

    Args:
        init: start from a copy of this network (fine-tuning); None: a new ``EmbeddingNet(model_config)``.

    Returns:
        (model, history, threshold): the threshold with the best accuracy on the validation people's pairs.
    """
    model, history = train_copy(init if init is not None else EmbeddingNet(model_config), fit_set, train_config)
    return model, history, validation_threshold(model, val_set, seed=train_config.seed)


def train_on_lfw(data_dir: str | Path | None, model_config: ModelConfig, train_config: TrainConfig,
                 num_val_people: int = 150, init: EmbeddingNet | None = None) -> LFWTraining:
    """Train a triplet network on LFW's people, never on the DevTest people it is tested on.

    The people with at least two photos, minus the DevTest people, are split into
    training people and ``num_val_people`` validation people (for the thresholds).

    Args:
        data_dir: an LFW copy in scikit-learn's layout, or None (see ``facenet_edu.lfw_lists.find_lfw_home``).
        model_config: network and preprocessing (``image_size``, ``crop_margin``).
        train_config: loss, margin, steps, P x K, ...
        init: start from a copy of this network (fine-tuning); its config must equal ``model_config``.
    """
    people = load_lfw_people(data_dir, model_config.image_size, model_config.crop_margin, exclude=("devtest",), min_images=2,
                             crop=model_config.crop)
    fit_set, val_set = split_by_identity(people, num_test_identities=num_val_people, seed=train_config.seed)
    model, history, threshold = train_with_threshold(model_config, fit_set, val_set, train_config, init)
    provenance = {
        "dataset": "lfw",
        "train_people": fit_set.num_identities,
        "train_images": len(fit_set),
        "validation_people": val_set.num_identities,
        "excluded": f"every person of LFW's pairsDevTest.txt ({len(lfw_people_in(find_lfw_home(data_dir), 'devtest'))} people)",
        "seconds": round(history.seconds, 1),
        "device": str(resolve_device(train_config.device)),
        "machine": _machine(resolve_device(train_config.device)),
        "threshold_far_1e-2": validation_threshold(model, val_set, seed=train_config.seed, target_far=1e-2),
    }
    return LFWTraining(model, history, threshold, provenance)


def lfw_eigenfaces(model_config: ModelConfig, data_dir: str | Path | None = None, num_images: int = 4000,
                   seed: int = 0):
    """Eigenfaces (100) fitted on up to ``num_images`` photos of the course model's training people.

    The photos are prepared as ``model_config`` says, so the baseline sees what the network sees.
    """
    people = load_lfw_people(data_dir, model_config.image_size, model_config.crop_margin, exclude=("devtest",), min_images=2,
                             crop=model_config.crop)
    chosen = torch.randperm(len(people), generator=torch.Generator().manual_seed(seed))[:num_images]
    return Eigenfaces(num_components=100).fit(people.images[chosen])


def evaluate_on_lfw_pairs(model: EmbeddingNet, data_dir: str | Path | None = None, which: str = "devtest",
                          baselines: bool = False, num_eigenface_images: int = 4000, seed: int = 0) -> dict:
    """Verification on one of LFW's official pair lists, optionally next to raw pixels and eigenfaces.

    The pairs' photos get the model's own preprocessing. Eigenfaces are fitted on
    (up to ``num_eigenface_images`` photos of) the people the course model trains on.

    Returns:
        {"model": metrics, and with ``baselines`` "raw_pixels" and "eigenfaces"}; see ``verification.pair_metrics``.
    """
    config = model.config
    pairs = load_lfw_pairs(data_dir, which, config.image_size, config.crop_margin, crop=config.crop)
    is_same = pairs.is_same.numpy()
    results = {"model": pair_metrics(pair_distances(embed(model, pairs.images), pairs.index_a, pairs.index_b), is_same)}
    if baselines:
        results["raw_pixels"] = pair_metrics(pair_distances(raw_pixel_features(pairs.images), pairs.index_a, pairs.index_b), is_same)
        eigenfaces = lfw_eigenfaces(config, data_dir, num_eigenface_images, seed)
        results["eigenfaces"] = pair_metrics(pair_distances(eigenfaces.transform(pairs.images), pairs.index_a, pairs.index_b), is_same)
    return results


def att_figures(model: EmbeddingNet, att_dir: str | Path, lfw_dir: str | Path | None = None,
                num_eigenface_images: int = 4000, seed: int = 0) -> dict:
    """The model on all 40 AT&T people (none seen in training), next to raw pixels and eigenfaces.

    Faces go through the detector and the model's crop, the baselines' too. Eigenfaces
    are fitted on LFW photos of the course model's training people, so no method has
    seen an AT&T face.

    Returns:
        {"model", "raw_pixels", "eigenfaces"}: each the metrics of ``evaluate_embeddings``.
    """
    config = model.config
    faces = prepare_dataset(read_att_faces(att_dir), config, detect=True)
    eigenfaces = lfw_eigenfaces(config, lfw_dir, num_eigenface_images, seed)
    return {
        "model": evaluate_embeddings(embed(model, faces.images), faces.labels, seed),
        "raw_pixels": evaluate_embeddings(raw_pixel_features(faces.images), faces.labels, seed),
        "eigenfaces": evaluate_embeddings(eigenfaces.transform(faces.images), faces.labels, seed),
    }
