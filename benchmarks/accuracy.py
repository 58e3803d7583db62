"""Accuracy on people never seen in training: triplet losses, center loss and the classic baselines, side by side.

    .venv/bin/python benchmarks/accuracy.py                  # AT&T (4 identity-disjoint folds) and synthetic faces
    .venv/bin/python benchmarks/accuracy.py --dataset synthetic --num-steps 300
    FACENET_EDU_FAST=1 .venv/bin/python benchmarks/accuracy.py   # a quick smoke run, numbers not meaningful

Protocol. AT&T: 40 people split into 4 identity-disjoint folds: each fold trains on
30 people and tests on the 10 it never saw; metrics are averaged over folds (mean and
spread). Synthetic: 60 people, 45 to train, 15 unseen. Every method sees the same
test images and the same pairs: verification accuracy with the LFW protocol (10
folds, threshold chosen on 9, tested on the 10th), TAR at FAR = 1e-2, closed-set
rank-1 (leave-one-out nearest neighbour among the test images). Eigenfaces are fitted
on the training people only. Training time is wall-clock on this machine's CPU.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facenet_edu import EmbeddingNet, ModelConfig, fast_mode, identity_folds, load_dataset, seed_everything  # noqa: E402
from facenet_edu.data import find_att_faces, split_by_identity, synthetic_dataset  # noqa: E402
from facenet_edu.evaluate import evaluate_model  # noqa: E402
from facenet_edu.train import TrainConfig, train  # noqa: E402

METHODS = {
    "triplet semi-hard": dict(loss="semi-hard", margin=0.2),
    "triplet batch-hard": dict(loss="batch-hard", margin=0.2),
    "center loss": dict(loss="center"),
}
COLUMNS = ["verification_accuracy", "tar_at_far_1e-2", "rank1"]


def run_fold(train_set, test_set, num_steps: int, seed: int) -> dict[str, dict]:
    """Train each method on ``train_set`` and evaluate everything on ``test_set``."""
    rows = {}
    baselines = None
    for name, settings in METHODS.items():
        seed_everything(seed)
        model = EmbeddingNet(ModelConfig(embedding_dim=64, width=16, image_size=64))
        cfg = TrainConfig(num_steps=num_steps, p=min(16, train_set.num_identities), k=4, seed=seed, progress=False, **settings)
        start = time.perf_counter()
        train(model, train_set, cfg)
        seconds = time.perf_counter() - start
        results = evaluate_model(model, test_set, baselines=baselines is None, train_dataset=train_set)
        if baselines is None:
            baselines = {k: v for k, v in results.items() if k != "model"}
        rows[name] = {**results["model"], "train_seconds": seconds}
        print(f"  {name}: trained in {seconds:.0f} s, verification accuracy "
              f"{results['model']['verification_accuracy']:.3f}", flush=True)   # progress: a full run takes about 50 min
    for name, metrics in baselines.items():
        rows[name.replace("_", " ")] = {**metrics, "train_seconds": 0.0}
    return rows


def summarise(fold_rows: list[dict[str, dict]]) -> dict[str, dict[str, tuple[float, float]]]:
    """Mean and standard deviation over folds of every metric of every method."""
    out = {}
    for method in fold_rows[0]:
        out[method] = {}
        for key in [*COLUMNS, "train_seconds"]:
            values = [rows[method][key] for rows in fold_rows]
            out[method][key] = (float(np.mean(values)), float(np.std(values)))
    return out


def print_table(title: str, summary: dict) -> None:
    print(f"\n{title}")
    header = f"{'method':<20}{'verification acc':>20}{'TAR@FAR=1e-2':>18}{'rank-1':>16}{'train time (s)':>16}"
    print(header)
    print("-" * len(header))
    for method, metrics in summary.items():
        cells = [f"{metrics[k][0]:.3f} ± {metrics[k][1]:.3f}" for k in COLUMNS]
        seconds = metrics["train_seconds"][0]
        print(f"{method:<20}{cells[0]:>20}{cells[1]:>18}{cells[2]:>16}{(f'{seconds:.0f}' if seconds else '-'):>16}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["att", "synthetic", "both"], default="both")
    parser.add_argument("--num-steps", type=int, default=None, help="training steps per method (default 600; 20 in fast mode)")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(2)
    num_steps = args.num_steps or (20 if fast_mode() else 600)
    print(f"{num_steps} training steps per method, {torch.get_num_threads()} CPU threads", flush=True)
    if args.dataset in ("att", "both"):
        att = find_att_faces()
        if att is None:
            print("\nAT&T faces not found (set FACENET_EDU_ATT); skipping them")
        else:
            data = load_dataset("att", att, image_size=64)
            folds = identity_folds(data, num_folds=args.folds, seed=args.seed)
            fold_rows = []
            for f, (tr, te) in enumerate(folds):
                print(f"AT&T fold {f + 1} of {args.folds}", flush=True)
                fold_rows.append(run_fold(tr, te, num_steps, args.seed + f))
            print_table(f"AT&T faces, {args.folds} identity-disjoint folds (30 people train, 10 unseen test)", summarise(fold_rows))
    if args.dataset in ("synthetic", "both"):
        data = synthetic_dataset(num_identities=60, images_per_identity=12, image_size=64, seed=args.seed)
        train_set, test_set = split_by_identity(data, num_test_identities=15, seed=args.seed)
        print_table("Synthetic faces (45 people train, 15 unseen test; one split)", summarise([run_fold(train_set, test_set, num_steps, args.seed)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
