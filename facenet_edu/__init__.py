"""facenet-edu: FaceNet-style face recognition, explained by running it.

The notebooks in ``notebooks/`` tell the story; this package holds every piece they
reuse. Importing it only defines things: no seeding, no downloads, no warnings.

Modules, by concept (``docs/architecture.md`` lists every one): ``data``, ``datasets``,
``splits`` and ``synthetic`` (faces and people), ``sampling`` (P x K batches), ``augment``,
``model`` (the embedding network), ``distances``, ``mining`` (triplet choice), ``losses``
and ``center_loss``, ``train`` and ``offline`` (offline mining), ``checkpoint``, ``faces``
(a new image to an embedding), ``matching`` (the rules for "same person" and "unknown"),
``gallery``, ``pairs``, ``verification``, ``open_set`` and ``evaluate`` (the protocols),
``baselines`` (raw pixels, eigenfaces), ``viz`` (faces and embedding maps),
``metric_plots`` (plots of what was measured) and ``widgets`` (interactive explorers).
"""

from . import (baselines, course, distances, evaluate, faces, gallery, inputs, lfw, losses, matching, metric_plots, mining,
               offline, open_set, pairs, verification, viz)
from .augment import AugmentConfig, augment
from .checkpoint import Checkpoint, load_checkpoint, read_checkpoint, save_checkpoint
from .course import load_course_model, prepare_split, read_course_checkpoint
from .data import (
    FaceDataset,
    load_course_faces,
    read_image_folder,
    synthetic_dataset,
)
from .datasets import load_dataset
from .splits import CourseSplit, course_split, identity_folds, split_by_identity, split_off_identities
from .errors import FaceNetEduError
from .exercises import check  # fe.exercises.check(name, fn): the exercises at the end of each notebook
from .faces import embed_faces, prepare_dataset, prepare_face
from .images import read_image
from .center_loss import CenterLoss
from .losses import (
    batch_all_triplet_loss,
    batch_hard_triplet_loss,
    batch_semihard_triplet_loss,
    contrastive_loss,
    triplet_loss,
)
from .gallery import Gallery
from .matching import UNKNOWN, choose_threshold, cluster_embeddings, is_same_person, name_or_unknown, verify
from .distances import pairwise_distances
from .mining import mine_triplets
from .model import EmbeddingNet, ModelConfig, embed, model_fingerprint
from .runtime import fast_mode, pick_device, seed_everything
from .sampling import PKSampler
from .synthetic import make_synthetic_faces
from .train import History, TrainConfig, train, train_copy


def __getattr__(name: str):
    """Import ``facenet_edu.widgets`` on first use (it loads ipywidgets, which only notebooks need)."""
    if name == "widgets":
        import importlib

        return importlib.import_module(".widgets", __name__)
    raise AttributeError(f"module 'facenet_edu' has no attribute {name!r}")


__version__ = "0.1.0"
