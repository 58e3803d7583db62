"""Accuracy on people never seen in training: one or more checkpoints, their fine-tuned copies and the classic baselines, side by side.

    .venv/bin/python benchmarks/accuracy.py --lfw-dir ../shared/data/lfw_home      # the course model, about 6 min on 2 cores
    .venv/bin/python benchmarks/accuracy.py --checkpoint aligned=a.pt --checkpoint box=b.pt   # two twins, about 12 min
    .venv/bin/python benchmarks/accuracy.py --from-scratch       # also the small network trained on 30 AT&T people only
    FACENET_EDU_FAST=1 .venv/bin/python benchmarks/accuracy.py   # a quick smoke run, numbers not meaningful

``--checkpoint`` may be given several times, each ``LABEL=PATH``, ``course`` (the shipped
model) or a bare path (labelled by its file name); every section prints one row per
checkpoint (and per fine-tuned copy) in the same table. The baselines (raw pixels,
eigenfaces) are prepared once per distinct preprocessing (crop, border, size) among the
checkpoints, each row labelled with its crop, and each checkpoint is held against the
baselines of its own crop: a twin with box crops and one with aligned crops are each
compared with pixels cut the same way.

LFW DevTest: LFW's 1,000 official DevTest pairs (500 same, 500 different; 963 people the
course model never saw), faces cut with LFW's known landmarks (aligned crop) or known face
box (box crop), no detection. Verification accuracy by LFW's protocol (threshold chosen on
9 folds, tested on the 10th), ROC AUC and TAR at FAR 1e-2 / 1e-3. Eigenfaces are fitted
on photos of the course model's own training people. LFW is read from --lfw-dir,
$FACENET_EDU_LFW or the download cache.

AT&T: the 400 photos go through ``faces.prepare_dataset_counted`` as each checkpoint says
(detector, crop, border, size; a photo with no face found is used whole, and the table
counts them), then the 40 people are split into 4 identity-disjoint folds: each fold's 30
training people are used to fine-tune the checkpoint and to fit eigenfaces, and the fold's
10 other people are the test. Verification accuracy (LFW protocol on the fold's pairs),
closed-set rank-1 and open-set DIR at a false-alarm rate of 1e-2 (half the test people
enrolled with one photo, the other half strangers).

Detection: ``faces.find_faces`` (MTCNN, what the aligned crop uses) on LFW photos enlarged
to 640 x 640 and AT&T frames pasted on a 640 x 480 background, with the photo sets and
the timing of ``benchmarks/detection.py``; median and 90th percentile against the limit.

The goals block at the end compares each figure of this run with the goal set for it.
"""

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS.parent))
sys.path.insert(1, str(BENCHMARKS))  # the sibling script detection.py

import detection  # noqa: E402  (benchmarks/detection.py)
from facenet_edu import EmbeddingNet, fast_mode, identity_folds, load_dataset, seed_everything  # noqa: E402
from facenet_edu.baselines import Eigenfaces, raw_pixel_features  # noqa: E402
from facenet_edu.checkpoint import Checkpoint, read_checkpoint  # noqa: E402
from facenet_edu.course import COURSE_NAME, evaluate_on_lfw_pairs, read_course_checkpoint  # noqa: E402
from facenet_edu.data import FaceDataset, find_att_faces  # noqa: E402
from facenet_edu.errors import FaceNetEduError  # noqa: E402
from facenet_edu.evaluate import evaluate_embeddings  # noqa: E402
from facenet_edu.faces import find_faces, prepare_dataset_counted  # noqa: E402
from facenet_edu.haar import haar_available  # noqa: E402
from facenet_edu.lfw_lists import find_lfw_home  # noqa: E402
from facenet_edu.model import ModelConfig, embed  # noqa: E402
from facenet_edu.train import TrainConfig, train_copy  # noqa: E402

LFW_COLUMNS = ["verification_accuracy", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3"]
ATT_COLUMNS = ["verification_accuracy", "rank1", "dir_at_far_1e-2"]
LFW_GOAL = 0.92            # LFW DevTest verification accuracy
LFW_LEAD_GOAL = 0.25       # ... and at least this far above eigenfaces and raw pixels (accuracy, 0.25 = 25 points)
ATT_GOAL = 0.95            # AT&T fine-tuned, mean of the 4 folds
ATT_LEAD_GOAL = 0.08       # ... and at least this far above both baselines
DETECTION_LIMIT_MS = detection.LIMIT_MS  # median time per 640-pixel photo
NUM_FOLDS = 4


class Entry(NamedTuple):
    """One checkpoint to measure: its label in the tables and what was read."""

    label: str
    checkpoint: Checkpoint


# ---------------------------------------------------------------------------------------------- checkpoints
def parse_checkpoint_arg(text: str) -> tuple[str, str]:
    """``LABEL=PATH``, ``course`` or a bare path as (label, what to read: a path or ``COURSE_NAME``).

    Raises:
        FaceNetEduError: an empty label or path.
    """
    if text == COURSE_NAME:
        return COURSE_NAME, COURSE_NAME
    label, sep, path = text.partition("=")
    if not sep or "/" in label or "\\" in label:  # a bare path (it may hold "=" in a folder name)
        label, path = Path(text).stem, text
    if not label.strip() or not path.strip():
        raise FaceNetEduError(f"--checkpoint {text!r}: give LABEL=PATH, 'course', or a checkpoint file.")
    return label.strip(), path


def read_entries(texts: list[str]) -> list[Entry]:
    """Read every checkpoint named on the command line, before any long work.

    Raises:
        FaceNetEduError: a bad ``--checkpoint`` value, two with the same label, or a file that is not a checkpoint.
    """
    entries: list[Entry] = []
    for text in texts:
        label, source = parse_checkpoint_arg(text)
        if any(entry.label == label for entry in entries):
            raise FaceNetEduError(f"Two checkpoints are labelled {label!r}; give each its own: --checkpoint LABEL=PATH.")
        checkpoint = read_course_checkpoint() if source == COURSE_NAME else read_checkpoint(source)
        entries.append(Entry(label, checkpoint))
    return entries


def preprocessing_key(config: ModelConfig) -> tuple:
    """What decides how a face is cut for a model: (crop, image size, border); the border matters for box crops only."""
    return config.crop, config.image_size, config.crop_margin if config.crop == "box" else None


def crop_name(config: ModelConfig) -> str:
    """The preprocessing in a few words, for the tables: "box 0.05, 64px" or "aligned, 64px"."""
    crop, size, border = preprocessing_key(config)
    return f"{crop}{f' {border:g}' if border is not None else ''}, {size}px"


# ---------------------------------------------------------------------------------------------- tables
def cell(values: list[float]) -> str:
    """Mean, ± std when there are several values; "-" for a figure that could not be computed."""
    if not values or not np.all(np.isfinite(values)):
        return "-"
    return f"{np.mean(values):.3f}" + (f" ± {np.std(values):.3f}" if len(values) > 1 else "")


def print_table(title: str, rows: dict[str, dict], columns: list[str]) -> None:
    """Methods as rows: the crop, the metric cells (mean ± std over folds), photos with no face, train time.

    Args:
        rows: {method: {"crop": str, "no_face": str, "train_seconds": [s], metric: [values]}}.
    """
    print(f"\n{title}")
    width = max(len("method"), *(len(method) for method in rows)) + 2
    header = (f"{'method':<{width}}{'crop':>16}" + "".join(f"{c:>24}" for c in columns)
              + f"{'no face':>12}{'train time (s)':>16}")
    print(header)
    print("-" * len(header))
    for method, row in rows.items():
        seconds = row.get("train_seconds", [])
        time_cell = f"{np.mean(seconds):.0f}" if seconds and np.mean(seconds) > 0 else "-"
        print(f"{method:<{width}}{row['crop']:>16}" + "".join(f"{cell(row.get(c, [])):>24}" for c in columns)
              + f"{row['no_face']:>12}{time_cell:>16}")


def metric(metrics: dict, name: str) -> float:
    """One figure of ``evaluate_embeddings``'s metrics, NaN (printed "-") where it was left out."""
    return float(metrics.get(name, float("nan")))  # DIR is left out when a test set is too small for it


# ---------------------------------------------------------------------------------------------- LFW
def lfw_section(entries: list[Entry], lfw_dir) -> dict[str, dict[str, float]]:
    """LFW DevTest for every checkpoint, baselines once per preprocessing; returns {label: {"model", "raw pixels", "eigenfaces": accuracy}}."""
    start = time.perf_counter()
    rows: dict[str, dict] = {}
    baseline_rows: dict[str, dict] = {}
    baselines: dict[tuple, dict] = {}  # preprocessing key -> {"raw_pixels": metrics, "eigenfaces": metrics}
    stds: list[str] = []
    figures: dict[str, dict[str, float]] = {}
    for entry in entries:
        config = entry.checkpoint.model.config
        key = preprocessing_key(config)
        results = evaluate_on_lfw_pairs(entry.checkpoint.model, lfw_dir, baselines=key not in baselines,
                                        num_eigenface_images=500 if fast_mode() else 4000)
        if key not in baselines:
            baselines[key] = {name: results[name] for name in ("raw_pixels", "eigenfaces")}
            for name, title in (("raw_pixels", "raw pixels"), ("eigenfaces", "eigenfaces")):
                baseline_rows[f"{title} ({crop_name(config)})"] = {
                    "crop": crop_name(config), "no_face": "-", **{c: [results[name][c]] for c in LFW_COLUMNS}}
        model = results["model"]
        rows[entry.label] = {"crop": crop_name(config), "no_face": "-", **{c: [model[c]] for c in LFW_COLUMNS},
                             "train_seconds": [float(entry.checkpoint.provenance.get("seconds", 0.0) or 0.0)]}
        stds.append(f"{entry.label}: {model['verification_accuracy']:.3f} ± {model['verification_std']:.3f}")
        figures[entry.label] = {"model": model["verification_accuracy"],
                                "raw pixels": baselines[key]["raw_pixels"]["verification_accuracy"],
                                "eigenfaces": baselines[key]["eigenfaces"]["verification_accuracy"]}
    rows.update(baseline_rows)
    print_table(f"LFW DevTest, 1,000 official pairs of 963 unseen people; faces cut from LFW's known landmarks (aligned) "
                f"or known face box (box), no detection; baselines once per crop (evaluated in "
                f"{time.perf_counter() - start:.0f} s)", rows, LFW_COLUMNS)
    print("verification accuracy ± std over LFW's 10 folds: " + "; ".join(stds))
    return figures


# ---------------------------------------------------------------------------------------------- AT&T
def att_section(entries: list[Entry], att_dir, num_steps: int, from_scratch: bool,
                seed: int) -> dict[str, dict[str, float]]:
    """AT&T in 4 identity-disjoint folds for every checkpoint; returns {label: {"model" (fine-tuned), "raw pixels", "eigenfaces": mean accuracy}}."""
    att = load_dataset("att", att_dir)
    prepared: dict[tuple, tuple[FaceDataset, int]] = {}  # preprocessing key -> (prepared faces, photos with no face)
    for entry in entries:
        config = entry.checkpoint.model.config
        key = preprocessing_key(config)
        if key not in prepared:
            start = time.perf_counter()
            counted = prepare_dataset_counted(att, config, detect=True)
            prepared[key] = (counted.dataset, len(counted.no_face))
            print(f"AT&T prepared for {crop_name(config)} in {time.perf_counter() - start:.0f} s: "
                  f"no face found in {len(counted.no_face)} of {len(att)} photos", flush=True)
    rows: dict[str, dict] = {}

    def add(name: str, config: ModelConfig, metrics: dict, seconds: float = 0.0) -> None:
        _, no_face = prepared[preprocessing_key(config)]
        row = rows.setdefault(name, {"crop": crop_name(config), "no_face": f"{no_face} of {len(att)}",
                                     "train_seconds": [], **{c: [] for c in ATT_COLUMNS}})
        for c in ATT_COLUMNS:
            row[c].append(metric(metrics, c))
        row["train_seconds"].append(seconds)

    def trained(train_set: FaceDataset, init: EmbeddingNet, fold_seed: int, fine_tune: bool) -> tuple[EmbeddingNet, float]:
        seed_everything(fold_seed)  # any global random draw during training (batches come from the config's seed)
        lr = 2e-4 if fine_tune else 2e-3  # fine-tuning moves the weights gently
        model, history = train_copy(init, train_set, TrainConfig(num_steps=num_steps, p=16, k=4, lr=lr, seed=fold_seed,
                                                                  progress=False))
        return model, history.seconds

    def folds(config: ModelConfig) -> list[tuple[FaceDataset, FaceDataset]]:
        return identity_folds(prepared[preprocessing_key(config)][0], num_folds=NUM_FOLDS, seed=seed)  # same people

    tuned_name = {entry.label: f"{entry.label} + fine-tune ({num_steps} st.)" for entry in entries}
    for entry in entries:
        model, config = entry.checkpoint.model, entry.checkpoint.model.config
        for f, (train_set, test_set) in enumerate(folds(config)):
            print(f"AT&T {entry.label}: fold {f + 1} of {NUM_FOLDS}", flush=True)
            add(f"{entry.label} (as is)", config, evaluate_embeddings(embed(model, test_set.images), test_set.labels, seed))
            tuned, seconds = trained(train_set, model, seed + f, fine_tune=True)
            add(tuned_name[entry.label], config,
                evaluate_embeddings(embed(tuned, test_set.images), test_set.labels, seed), seconds)
    if from_scratch:  # once per distinct network and preprocessing: it does not start from any checkpoint
        done: set[tuple] = set()
        for entry in entries:
            config = entry.checkpoint.model.config
            if tuple(sorted(asdict(config).items())) in done:
                continue
            done.add(tuple(sorted(asdict(config).items())))
            for f, (train_set, test_set) in enumerate(folds(config)):
                print(f"AT&T from scratch like {entry.label}: fold {f + 1} of {NUM_FOLDS}", flush=True)
                seed_everything(seed + f)
                scratch, seconds = trained(train_set, EmbeddingNet(config), seed + f, fine_tune=False)
                add(f"from scratch like {entry.label} ({num_steps} st.)", config,
                    evaluate_embeddings(embed(scratch, test_set.images), test_set.labels, seed), seconds)
    baseline_names: dict[tuple, tuple[str, str]] = {}
    for entry in entries:
        config = entry.checkpoint.model.config
        key = preprocessing_key(config)
        if key in baseline_names:
            continue
        baseline_names[key] = (f"raw pixels ({crop_name(config)})", f"eigenfaces ({crop_name(config)})")
        for train_set, test_set in folds(config):
            add(baseline_names[key][0], config, evaluate_embeddings(raw_pixel_features(test_set.images), test_set.labels, seed))
            eigenfaces = Eigenfaces(num_components=50).fit(train_set.images)
            add(baseline_names[key][1], config,
                evaluate_embeddings(eigenfaces.transform(test_set.images), test_set.labels, seed))
    print_table(f"AT&T faces, {NUM_FOLDS} identity-disjoint folds (30 people to fine-tune on, 10 unseen to test), "
                "mean ± std over folds; each checkpoint's own crop from faces.prepare_dataset_counted (no face: "
                "photos used whole); baselines once per crop", rows, ATT_COLUMNS)
    figures = {}
    for entry in entries:
        raw_name, eigen_name = baseline_names[preprocessing_key(entry.checkpoint.model.config)]
        figures[entry.label] = {"model": float(np.mean(rows[tuned_name[entry.label]]["verification_accuracy"])),
                                "raw pixels": float(np.mean(rows[raw_name]["verification_accuracy"])),
                                "eigenfaces": float(np.mean(rows[eigen_name]["verification_accuracy"]))}
    return figures


# ---------------------------------------------------------------------------------------------- detection
def detection_section(lfw_dir, att_dir, count: int) -> dict[str, tuple[float, float, int, int]]:
    """``find_faces`` on 640-pixel photos (``benchmarks/detection.py``'s sets); returns {set: (median ms, p90 ms, no face, photos)}."""
    import cv2

    sets: dict[str, list[np.ndarray]] = {}
    try:
        sets["LFW 250->640x640"] = detection.lfw_photos(find_lfw_home(lfw_dir, download=False), count)
    except FaceNetEduError as err:
        print(f"\nDetection on LFW skipped: {err}")
    try:
        if att_dir is not None:
            sets["AT&T on 640x480"] = detection.att_photos(Path(att_dir), count)
    except OSError as err:
        print(f"\nDetection on AT&T skipped: {err}")
    figures = {}
    header = f"{'photos':<20} {'median ms':>10} {'p90 ms':>8} {'max ms':>8} {'limit ms':>9} {'CPU ms':>7} {'no face found':>14}"
    print(f"\nDetection: faces.find_faces (MTCNN from a tenth of the shorter side) per 640-pixel photo, "
          f"OpenCV {cv2.__version__} with {cv2.getNumThreads()} threads")
    print(header + "\n" + "-" * len(header))
    for name, photos in sets.items():
        times, cpu_ms, missed = detection.measure(lambda photo: len(find_faces(photo)), photos)
        figures[name] = (float(np.median(times)), float(np.percentile(times, 90)), missed, len(photos))
        print(f"{name:<20} {np.median(times):>10.1f} {np.percentile(times, 90):>8.1f} {max(times):>8.1f} "
              f"{DETECTION_LIMIT_MS:>9.0f} {cpu_ms:>7.1f} {f'{missed} of {len(photos)}':>14}")
    if haar_available():
        print("box crops on this OpenCV cut around the Haar cascade's box, not find_faces' "
              "(benchmarks/detection.py times both)")
    return figures


# ---------------------------------------------------------------------------------------------- goals
def verdict(reached: float, goal: float, unit: str, scale: float, higher_is_better: bool = True) -> str:
    """ "met (+x unit)" or "MISSED by x unit"; ``scale`` turns the figures into ``unit`` (100: accuracy to points)."""
    if not np.isfinite(reached):
        return "not measured"
    gap = (reached - goal if higher_is_better else goal - reached) * scale
    return f"met, {gap:.1f} {unit} to spare" if gap >= 0 else f"MISSED by {-gap:.1f} {unit}"


def goals_section(lfw: dict, att: dict, detected: dict, labels: list[str]) -> None:
    """Each goal, the figure this run reached, and whether it is met or by how much it is missed."""
    lines: list[tuple[str, str, str, str]] = []

    def accuracy_goals(section: str, figures: dict, goal: float, lead: float) -> None:
        for label in labels:
            got = figures.get(label)
            if got is None:
                lines.append((f"{section} >= {goal:.2f}", label, "-", "not measured"))
                continue
            lines.append((f"{section} >= {goal:.2f}", label, f"{got['model']:.3f}", verdict(got["model"], goal, "points", 100)))
            for baseline in ("eigenfaces", "raw pixels"):
                above = got["model"] - got[baseline]
                lines.append((f"{section} >= {100 * lead:.0f} points above {baseline}", label,
                              f"{100 * above:+.1f} points", verdict(above, lead, "points", 100)))

    accuracy_goals("LFW DevTest", lfw, LFW_GOAL, LFW_LEAD_GOAL)
    accuracy_goals(f"AT&T fine-tuned, mean of {NUM_FOLDS} folds,", att, ATT_GOAL, ATT_LEAD_GOAL)
    if not detected:
        lines.append((f"detection, median per 640-px photo <= {DETECTION_LIMIT_MS:.0f} ms", "-", "-", "not measured"))
    for name, (median, p90, missed, count) in detected.items():
        lines.append((f"detection, median per 640-px photo <= {DETECTION_LIMIT_MS:.0f} ms", name,
                      f"{median:.0f} ms (p90 {p90:.0f}; no face {missed} of {count})",
                      verdict(median, DETECTION_LIMIT_MS, "ms", 1, higher_is_better=False)))
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    print("\nGoals (every figure from this run)")
    header = f"{'goal':<{widths[0]}}  {'for':<{widths[1]}}  {'reached':>{widths[2]}}  verdict"
    print(header + "\n" + "-" * (len(header) + 20))
    for goal, who, reached, result in lines:
        print(f"{goal:<{widths[0]}}  {who:<{widths[1]}}  {reached:>{widths[2]}}  {result}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", action="append", default=None, metavar="LABEL=PATH",
                        help="a checkpoint to measure, as LABEL=PATH, 'course' (the shipped model) or a path; "
                             "give it several times to compare (default: course)")
    parser.add_argument("--lfw-dir", help="an LFW copy in scikit-learn's layout (default: $FACENET_EDU_LFW or data/)")
    parser.add_argument("--att-dir", help="the AT&T faces (default: ../shared/data/att_faces or $FACENET_EDU_ATT)")
    parser.add_argument("--num-steps", type=int, default=None, help="fine-tuning steps per AT&T fold (default 300; 5 in fast mode)")
    parser.add_argument("--from-scratch", action="store_true", help="also train the network on each fold's 30 people only")
    parser.add_argument("--detection-count", type=int, default=None, help="photos per detection set (default 40; 5 in fast mode)")
    parser.add_argument("--skip-lfw", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    num_steps = args.num_steps or (5 if fast_mode() else 300)
    count = args.detection_count or (5 if fast_mode() else 40)
    if num_steps < 1 or count < 1:
        parser.error("--num-steps and --detection-count must be at least 1.")
    try:
        entries = read_entries(args.checkpoint or [COURSE_NAME])
    except FaceNetEduError as err:
        parser.error(str(err))
    for entry in entries:
        provenance = entry.checkpoint.provenance
        where = ", ".join(str(provenance[k]) for k in ("device", "machine") if provenance.get(k))
        print(f"checkpoint {entry.label}: {entry.checkpoint.path}; {entry.checkpoint.model.config}"
              + (f"; trained on {where}" if where else ""))
    print(f"{torch.get_num_threads()} torch CPU threads{'; fast mode: a smoke run, figures not meaningful' if fast_mode() else ''}",
          flush=True)
    labels = [entry.label for entry in entries]
    lfw_figures: dict = {}
    if not args.skip_lfw:
        try:
            lfw_figures = lfw_section(entries, args.lfw_dir)
        except FaceNetEduError as err:
            print(f"\nLFW skipped: {err}")
    att_figures: dict = {}
    att_dir = args.att_dir or find_att_faces()
    if att_dir is None:
        print("\nAT&T faces not found (pass --att-dir or set FACENET_EDU_ATT); skipping them")
    else:
        try:
            att_figures = att_section(entries, att_dir, num_steps, args.from_scratch, args.seed)
        except FaceNetEduError as err:
            print(f"\nAT&T skipped: {err}")
    detected = detection_section(args.lfw_dir, att_dir, count)
    goals_section(lfw_figures, att_figures, detected, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
