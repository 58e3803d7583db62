"""Accuracy on people never seen in training: the course model, fine-tuned copies and the classic baselines, side by side.

    .venv/bin/python benchmarks/accuracy.py                      # LFW DevTest and AT&T (4 folds), about 15 min on 2 cores
    .venv/bin/python benchmarks/accuracy.py --from-scratch       # also the small network trained on 30 AT&T people only
    .venv/bin/python benchmarks/accuracy.py --checkpoint my.pt   # another checkpoint instead of the course model
    FACENET_EDU_FAST=1 .venv/bin/python benchmarks/accuracy.py   # a quick smoke run, numbers not meaningful

LFW DevTest: LFW's 1,000 official DevTest pairs (500 same, 500 different; 963 people the
course model never saw). Verification accuracy by LFW's protocol (threshold chosen on 9
folds, tested on the 10th), ROC AUC and TAR at FAR 1e-2 / 1e-3. Eigenfaces are fitted on
photos of the course model's own training people. LFW is read from --lfw-dir,
$FACENET_EDU_LFW or the download cache.

AT&T: the 40 people split into 4 identity-disjoint folds: each fold's 30 training people
are used to fine-tune the course model (``--init course``) and to fit eigenfaces, and the
fold's 10 other people are the test. Verification accuracy (LFW protocol on the fold's
pairs), closed-set rank-1 and open-set DIR at a false-alarm rate of 1e-2 (half the test
people enrolled with one photo, the other half strangers). Every face is prepared as the
checkpoint says (face detector, crop border, size), the baselines included.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facenet_edu import EmbeddingNet, fast_mode, identity_folds, load_dataset, seed_everything  # noqa: E402
from facenet_edu.baselines import Eigenfaces, raw_pixel_features  # noqa: E402
from facenet_edu.checkpoint import read_checkpoint  # noqa: E402
from facenet_edu.course import COURSE_NAME, evaluate_on_lfw_pairs, read_course_checkpoint  # noqa: E402
from facenet_edu.faces import prepare_dataset  # noqa: E402
from facenet_edu.data import find_att_faces  # noqa: E402
from facenet_edu.errors import FaceNetEduError  # noqa: E402
from facenet_edu.evaluate import evaluate_embeddings  # noqa: E402
from facenet_edu.model import embed  # noqa: E402
from facenet_edu.train import TrainConfig, train_copy  # noqa: E402

LFW_COLUMNS = ["verification_accuracy", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3"]
ATT_COLUMNS = ["verification_accuracy", "rank1", "dir_at_far_1e-2"]


def print_table(title: str, rows: dict[str, dict[str, list[float]]], columns: list[str]) -> None:
    """Methods as rows; each cell the mean (± std when there are several values)."""
    print(f"\n{title}")
    header = f"{'method':<26}" + "".join(f"{c:>24}" for c in columns) + f"{'train time (s)':>16}"
    print(header)
    print("-" * len(header))
    for method, metrics in rows.items():
        cells = []
        for c in columns:
            values = metrics[c]
            cells.append(f"{np.mean(values):.3f}" + (f" ± {np.std(values):.3f}" if len(values) > 1 else ""))
        seconds = metrics.get("train_seconds", [0.0])
        time_cell = f"{np.mean(seconds):.0f}" if np.mean(seconds) else "-"
        print(f"{method:<26}" + "".join(f"{cell:>24}" for cell in cells) + f"{time_cell:>16}")


def lfw_section(checkpoint, lfw_dir) -> None:
    start = time.perf_counter()
    results = evaluate_on_lfw_pairs(checkpoint.model, lfw_dir, baselines=True)
    seconds = checkpoint.provenance.get("seconds", 0.0)
    rows = {
        "course model": {**{c: [results["model"][c]] for c in LFW_COLUMNS}, "train_seconds": [seconds]},
        "raw pixels": {c: [results["raw_pixels"][c]] for c in LFW_COLUMNS},
        "eigenfaces": {c: [results["eigenfaces"][c]] for c in LFW_COLUMNS},
    }
    print_table(f"LFW DevTest, 1,000 official pairs of 963 unseen people (evaluated in {time.perf_counter() - start:.0f} s)",
                rows, LFW_COLUMNS)
    print(f"course model: verification accuracy {results['model']['verification_accuracy']:.3f} "
          f"± {results['model']['verification_accuracy_std']:.3f} over LFW's 10 folds")


def att_section(checkpoint, num_steps: int, from_scratch: bool, seed: int) -> None:
    att = find_att_faces()
    if att is None:
        print("\nAT&T faces not found (set FACENET_EDU_ATT); skipping them")
        return
    config = checkpoint.model.config
    data = prepare_dataset(load_dataset("att", att), config, detect=True)
    rows: dict[str, dict[str, list[float]]] = {}

    def add(name: str, metrics: dict, seconds: float = 0.0) -> None:
        row = rows.setdefault(name, {c: [] for c in [*ATT_COLUMNS, "train_seconds"]})
        for c in ATT_COLUMNS:
            row[c].append(metrics[c])
        row["train_seconds"].append(seconds)

    def trained(train_set, init: EmbeddingNet | None, fold_seed: int) -> tuple[EmbeddingNet, float]:
        seed_everything(fold_seed)  # the from-scratch network's initial weights
        lr = 2e-4 if init is not None else 2e-3  # fine-tuning moves the weights gently
        model, history = train_copy(init if init is not None else EmbeddingNet(config), train_set,
                                    TrainConfig(num_steps=num_steps, p=16, k=4, lr=lr, seed=fold_seed, progress=False))
        return model, history.seconds

    for f, (train_set, test_set) in enumerate(identity_folds(data, num_folds=4, seed=seed)):
        print(f"AT&T fold {f + 1} of 4", flush=True)
        labels = test_set.labels
        add("course model (as is)", evaluate_embeddings(embed(checkpoint.model, test_set.images), labels, seed))
        tuned, seconds = trained(train_set, checkpoint.model, seed + f)
        add(f"course + fine-tune ({num_steps} st.)", evaluate_embeddings(embed(tuned, test_set.images), labels, seed), seconds)
        if from_scratch:
            scratch, seconds = trained(train_set, None, seed + f)
            add(f"from scratch ({num_steps} st.)", evaluate_embeddings(embed(scratch, test_set.images), labels, seed), seconds)
        add("raw pixels", evaluate_embeddings(raw_pixel_features(test_set.images), labels, seed))
        eigenfaces = Eigenfaces(num_components=50).fit(train_set.images)
        add("eigenfaces", evaluate_embeddings(eigenfaces.transform(test_set.images), labels, seed))
    print_table("AT&T faces, 4 identity-disjoint folds (30 people to fine-tune on, 10 unseen to test), mean ± std over folds",
                rows, ATT_COLUMNS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=COURSE_NAME, help="a checkpoint file, or 'course' (default)")
    parser.add_argument("--lfw-dir", help="an LFW copy in scikit-learn's layout (default: $FACENET_EDU_LFW or data/)")
    parser.add_argument("--num-steps", type=int, default=None, help="fine-tuning steps per AT&T fold (default 300; 5 in fast mode)")
    parser.add_argument("--from-scratch", action="store_true", help="also train the network on each fold's 30 people only")
    parser.add_argument("--skip-lfw", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    num_steps = args.num_steps or (5 if fast_mode() else 300)
    checkpoint = read_course_checkpoint() if args.checkpoint == COURSE_NAME else read_checkpoint(args.checkpoint)
    print(f"checkpoint {args.checkpoint}: {checkpoint.model.config}; {torch.get_num_threads()} CPU threads", flush=True)
    try:
        if not args.skip_lfw:
            lfw_section(checkpoint, args.lfw_dir)
    except FaceNetEduError as err:
        print(f"\nLFW skipped: {err}")
    att_section(checkpoint, num_steps, args.from_scratch, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
