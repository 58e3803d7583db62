"""The shipped course model on all 40 AT&T people with four ways of cutting out the face, side by side.

    .venv/bin/python benchmarks/att_crops.py                     # about 1 min on 2 cores
    .venv/bin/python benchmarks/att_crops.py --att-dir DIR       # another copy of the AT&T faces

The course model was trained on LFW with ``crop="box"`` (Haar box grown by its
``crop_margin``); it never saw aligned crops, so the aligned row is only a first look at
how far the new preprocessing is from what the model knows, not a verdict on alignment.
Rows: the whole 92x112 frame (no detection), the Haar box crop (the model's own), the
same crop around MTCNN's box (``facenet_edu.detector``), and the aligned crop (MTCNN's
landmarks warped onto ``align.TEMPLATE``). An image where the detector finds no face is
used whole; the "no face" column counts them. Metrics: ``evaluate.evaluate_embeddings``
(verification accuracy by the LFW protocol on all same-person pairs and as many
different-person pairs, mean ± std over 3 pair seeds; ROC AUC and rank-1 on all pairs).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facenet_edu.align import align_face  # noqa: E402
from facenet_edu.course import load_course_model  # noqa: E402
from facenet_edu.data import find_att_faces  # noqa: E402
from facenet_edu.datasets import load_dataset  # noqa: E402
from facenet_edu.detector import detect_faces  # noqa: E402
from facenet_edu.evaluate import evaluate_embeddings  # noqa: E402
from facenet_edu.faces import crop_face, to_network_input  # noqa: E402
from facenet_edu.haar import haar_face_boxes  # noqa: E402
from facenet_edu.model import embed  # noqa: E402

SEEDS = (0, 1, 2)


def crops(grey: np.ndarray, image_size: int, crop_margin: float) -> tuple[dict[str, torch.Tensor], set[str]]:
    """The four network inputs (1, 1, S, S) of one AT&T frame, and the names of the rows that found no face."""
    whole = to_network_input(grey, image_size)
    haar = haar_face_boxes(grey)
    mtcnn = detect_faces(grey)
    inputs = {
        "whole frame": whole,
        "Haar box": to_network_input(crop_face(grey, haar[0], crop_margin), image_size) if haar else whole,
        "MTCNN box": to_network_input(crop_face(grey, mtcnn[0].box, crop_margin), image_size) if mtcnn else whole,
        "aligned": torch.from_numpy(align_face(grey, mtcnn[0].landmarks, image_size))[None, None] if mtcnn else whole,
    }
    missed = ({"Haar box"} if not haar else set()) | ({"MTCNN box", "aligned"} if not mtcnn else set())
    return inputs, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--att-dir", default=None, help="the AT&T faces (default: ../shared/data/att_faces or $FACENET_EDU_ATT)")
    args = parser.parse_args()
    att = load_dataset("att", args.att_dir or find_att_faces())
    model = load_course_model()
    config = model.config
    start = time.perf_counter()
    rows: dict[str, list[torch.Tensor]] = {}
    missed: dict[str, int] = {}
    for grey in att.images[:, 0].numpy():
        inputs, no_face = crops(grey, config.image_size, config.crop_margin)
        for name, tensor in inputs.items():
            rows.setdefault(name, []).append(tensor)
            missed[name] = missed.get(name, 0) + (name in no_face)
    print(f"AT&T: {len(att)} images of {att.num_identities} people, course model (crop={config.crop!r}, "
          f"crop_margin {config.crop_margin:g}, {config.image_size}px); crops made in {time.perf_counter() - start:.0f} s")
    header = f"{'crop':<12} {'no face':>7} {'verification accuracy':>24} {'roc_auc':>8} {'tar@far1e-2':>12} {'rank1':>6}"
    print(header + "\n" + "-" * len(header))
    for name, tensors in rows.items():
        embeddings = embed(model, torch.cat(tensors))  # (400, 128)
        runs = [evaluate_embeddings(embeddings, att.labels, seed) for seed in SEEDS]
        accuracy = np.array([run["verification_accuracy"] for run in runs])
        first = runs[0]
        print(f"{name:<12} {missed[name]:>7} {accuracy.mean():>16.3f} ± {accuracy.std():.3f} {first['roc_auc']:>8.3f} "
              f"{first['tar_at_far_1e-2']:>12.3f} {first['rank1']:>6.3f}")


if __name__ == "__main__":
    main()
