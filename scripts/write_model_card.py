"""Measure the shipped course model and write its model card (MODEL_CARD.md) and figures (card.json).

    .venv/bin/python scripts/write_model_card.py --lfw-dir ../shared/data/lfw_home

Every figure in the card is computed here from the committed checkpoint, never typed in;
tests/test_course.py recomputes the DevTest figures and checks they are the card's.
Run it after retraining the course model with the command the card gives.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from facenet_edu.course import COURSE_CARD, COURSE_CHECKPOINT, COURSE_DIR, att_figures, evaluate_on_lfw_pairs, read_course_checkpoint  # noqa: E402
from facenet_edu.data import find_att_faces  # noqa: E402
from facenet_edu.files import write_atomically  # noqa: E402

CARD_TEMPLATE = """# The course model

A small triplet network (FaceNet-style, semi-hard online mining) trained on the people of
Labeled Faces in the Wild, shipped with facenet-edu so that the notebooks, the demo and the
command line can use a network that has seen real scale. Load it with
`facenet_edu.load_course_model()` or `--checkpoint course`; fine-tune it with `train --init course`.

Every figure below was computed by `scripts/write_model_card.py` from `course.pt` itself;
`tests/test_course.py` recomputes the LFW DevTest figures from the shipped weights.

## Network and preprocessing
- `EmbeddingNet`: four conv blocks (width {width}, doubled each block), global average pooling, a linear
  layer to {embedding_dim} numbers, L2 normalisation. {num_parameters:,} parameters, {file_kb:.0f} KB.
- Input: {crop_text}, {image_size}x{image_size} greyscale. Training, evaluation, `verify`, `identify` and the
  gallery all prepare faces this way.

## Data and people
- Trained on {train_people} LFW people with at least two photos ({train_images} photos), never on any
  person of LFW's `pairsDevTest.txt` (963 people): the test below is identity-disjoint, as FaceNet's.
- {validation_people} further LFW people (also outside DevTest) chose the verification threshold
  ({threshold:.3f}, best accuracy on their pairs) and the threshold for "unknown" at a false-accept
  rate of 1e-2 ({threshold_far:.3f}).

## Training
- Command: `{command}`
- Seed {seed}; {num_steps} steps of P x K = {p} x {k} faces; semi-hard triplet loss, margin {margin};
  Adam, lr {lr} with warm-up and cosine decay; flips, small rotations, shifts and lighting changes.
- Time: {seconds:.0f} s for the training loop (reading and cropping the photos the first time adds about a
  minute) on {device} ({machine}); `benchmarks/training_speed.py` measures the step rate of your machine.
- Two recipes. The **GPU recipe** is the command above when it names `--device cuda`. The **CPU recipe**,
  for a machine without a GPU, keeps within 15 minutes on a 2-core CPU (its time is in `benchmarks/README.md`):
  `{cpu_command}`. It is the same code with a narrower network, a smaller batch and fewer steps.

## What it reaches
LFW DevTest, the 1,000 official pairs (LFW protocol: threshold chosen on 9 folds, tested on the 10th):

| method | verification accuracy | ROC AUC | TAR at FAR 1e-2 | TAR at FAR 1e-3 |
|---|---|---|---|---|
{lfw_rows}

AT&T faces, all 40 people, none seen in training (model as shipped, no fine-tuning; faces through the detector):

| method | verification accuracy | rank-1 | DIR at FAR 1e-2 |
|---|---|---|---|
{att_rows}

`benchmarks/accuracy.py` adds the AT&T folds with fine-tuning.

## Thresholds: "same person" and "unknown"
Both thresholds above were chosen on LFW validation people's pairs: {threshold:.3f} for the best accuracy,
{threshold_far:.3f} for a false-accept rate of 1e-2 on pairs. Pairs are not galleries: which threshold says
"unknown" well depends on the gallery and the strangers it meets. Notebook 06 puts every threshold the course
uses side by side on the same galleries and strangers, with the share of enrolled people found and of
strangers let in at each ([06 · Every threshold for 'unknown', side by side](../../notebooks/06_new_faces.ipynb#Every-threshold-for-'unknown',-side-by-side)).
For "unknown", choose the threshold on galleries like yours, for the share of strangers you can accept.

## Limits
- 64x64 greyscale and a small network: far below modern face recognition (FaceNet reached 0.99 on LFW
  with 200 million photos of 8 million people). It is a teaching model.
- LFW is mostly frontal photos of public figures, mostly men and mostly lighter-skinned; accuracy on other
  people, poses and cameras is not measured here and will be lower.
- Never use it to make decisions about real people.

## Terms
LFW is published by the University of Massachusetts, Amherst, for research. Cite Huang, Ramesh, Berg and
Learned-Miller, "Labeled Faces in the Wild: A Database for Studying Face Recognition in Unconstrained
Environments", 2007. The deep-funneled alignment: Huang, Mattar, Lee and Learned-Miller, 2012.
"""


CPU_COMMAND = ("python -m facenet_edu train --dataset lfw --data-dir path/to/lfw_home --num-steps 4000 --p 16 --k 4 "
               "--width 16 --seed 0 --out course.pt")


def row(name: str, metrics: dict, keys: list[str]) -> str:
    return f"| {name} | " + " | ".join(f"{metrics[k]:.3f}" for k in keys) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", help="an LFW copy in scikit-learn's layout (default: $FACENET_EDU_LFW or data/)")
    args = parser.parse_args()
    checkpoint = read_course_checkpoint()
    model, provenance, train_config = checkpoint.model, checkpoint.provenance, checkpoint.provenance["train_config"]
    lfw = evaluate_on_lfw_pairs(model, args.lfw_dir, baselines=True)
    att_dir = find_att_faces()
    att = att_figures(model, att_dir, args.lfw_dir) if att_dir else {}
    card = {"lfw_devtest": lfw, "att_all_40": att, "threshold": checkpoint.threshold, "provenance": provenance}
    lfw_keys = ["verification_accuracy", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3"]
    att_keys = ["verification_accuracy", "rank1", "dir_at_far_1e-2"]
    names = {"model": "course model", "raw_pixels": "raw pixels", "eigenfaces": "eigenfaces"}
    config = model.config
    if config.crop == "aligned":
        crop_text = ("the 5 landmarks MTCNN finds (eyes, nose tip, mouth corners) warped by a similarity transform onto "
                     "LFW's median landmarks (`align.TEMPLATE`; for LFW's own aligned photos, those median landmarks)")
    else:
        crop_text = (f"the face box (OpenCV's Haar cascade where OpenCV has it, else MTCNN's box, for a new photo; "
                     f"for LFW's aligned photos the median Haar box) grown by a border of {config.crop_margin} of its side")
    text = CARD_TEMPLATE.format(
        crop_text=crop_text, cpu_command=CPU_COMMAND,
        width=model.config.width, embedding_dim=model.config.embedding_dim,
        image_size=model.config.image_size, num_parameters=sum(p.numel() for p in model.parameters()),
        file_kb=COURSE_CHECKPOINT.stat().st_size / 1024, threshold=checkpoint.threshold,
        threshold_far=provenance["threshold_far_1e-2"], **{k: provenance[k] for k in (
            "train_people", "train_images", "validation_people", "command", "seconds", "device", "machine")},
        **{k: train_config[k] for k in ("seed", "num_steps", "p", "k", "margin", "lr")},
        lfw_rows="\n".join(row(names[m], v, lfw_keys) for m, v in lfw.items()),
        att_rows="\n".join(row(names[m], v, att_keys) for m, v in att.items()) or "| (AT&T faces not found) | | | |",
    )
    write_atomically(COURSE_CARD, lambda f: f.write(json.dumps(card, indent=2).encode()))
    write_atomically(COURSE_DIR / "MODEL_CARD.md", lambda f: f.write(text.encode()))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
