"""Any of the course's datasets by name: the one entry point above the loaders of ``data`` and ``lfw``.

``data`` reads folders, AT&T and Olivetti; ``lfw`` builds LFW on top of ``data`` (and ``faces``);
this module sits above both so that asking for ``"lfw"`` by name imports nothing upwards.
"""

from pathlib import Path

from .data import FaceDataset, fetch_olivetti, read_att_faces, read_image_folder, synthetic_dataset
from .errors import FaceNetEduError
from .lfw import load_lfw_people

DATASETS = ("synthetic", "att", "olivetti", "lfw", "folder")


def load_dataset(name: str, data_dir: str | Path | None = None, image_size: int | None = None, seed: int = 0) -> FaceDataset:
    """Load a dataset by name: ``synthetic``, ``att`` or ``folder`` (read ``data_dir``), ``olivetti``, ``lfw``.

    Args:
        name: one of ``DATASETS``.
        data_dir: the folder to read (``att``, ``folder``) or the download cache (``olivetti``, ``lfw``).
        image_size: resize to this square size; ``None`` keeps the source size (64 for synthetic).
        seed: seed of the synthetic generator.
    """
    if name == "synthetic":
        dataset = synthetic_dataset(image_size=image_size or 64, seed=seed)
    elif name in ("att", "folder"):
        if data_dir is None:
            raise FaceNetEduError(f"--dataset {name} needs --data-dir, the folder with one subfolder per person.")
        dataset = read_att_faces(data_dir) if name == "att" else read_image_folder(data_dir)
    elif name == "olivetti":
        dataset = fetch_olivetti(data_dir)
    elif name == "lfw":
        dataset = load_lfw_people(data_dir, image_size or 64)
    else:
        raise FaceNetEduError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    return dataset.resize(image_size) if image_size else dataset
