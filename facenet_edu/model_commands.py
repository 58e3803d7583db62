"""The commands that make or measure a model: ``train`` (from scratch or fine-tuning ``--init``) and ``evaluate``.

Also the one place a ``--checkpoint`` or ``--init`` value becomes a checkpoint
(``open_checkpoint``), and the checks on ``train``'s and ``evaluate``'s outputs.
"""

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace

from .data import FaceDataset
from .splits import split_by_identity
from .datasets import load_dataset
from .errors import FaceNetEduError, check_number

# TrainConfig fields offered by `train`: their defaults, types and (for the loss) choices come from the dataclass.
TRAIN_OPTIONS = {
    "loss": "training objective",
    "margin": "the triplet (or contrastive) margin; a training constraint, not the threshold",
    "num_steps": "optimiser steps",
    "lr": "Adam learning rate",
    "p": "identities per batch",
    "k": "images per identity in a batch",
    "device": "cuda or cpu (default: cuda when available)",
    "seed": "seed of the data, the split, the model and the batches",
}
MODEL_OPTIONS = {"embedding_dim": "size of the embedding", "width": "channels of the network's first block",
                 "image_size": "faces are resized to this side, in pixels",
                 "crop": "how a photo's face is cut out: aligned (5 landmarks warped onto a template) or box "
                         "(the face box grown by --crop-margin)",
                 "crop_margin": "--crop box only: border added around the face box on each side, as a fraction of its side"}
MIN_TRAIN_PEOPLE = 4  # after the test split: 2 to learn from (a P x K batch needs P >= 2) and 2 to choose the threshold


def open_checkpoint(value: str):
    """The one place a ``--checkpoint`` (or ``--init``) value becomes a checked ``Checkpoint``.

    ``course`` means the course model shipped with the package; anything else is a file.
    """
    from .checkpoint import read_checkpoint
    from .course import COURSE_NAME, read_course_checkpoint

    return read_course_checkpoint() if value == COURSE_NAME else read_checkpoint(value)


def _prepared(dataset: FaceDataset, model_config, detect: bool) -> FaceDataset:
    """A dataset's faces prepared as ``model_config`` says; synthetic faces are crops already (no detector)."""
    from .course import needs_detector
    from .faces import prepare_dataset_counted

    prepared = prepare_dataset_counted(dataset, model_config, detect=detect and needs_detector(dataset))
    if prepared.no_face:
        print(f"no face found in {len(prepared.no_face)} of {len(dataset)} images; used them whole")
    return prepared.dataset


def _check_init_settings(args: argparse.Namespace, init) -> None:
    """Refuse model settings given on the command line that differ from the initial model's (``--init``).

    Fine-tuning keeps the network (sizes) and preprocessing (``image_size``, ``crop_margin``)
    of the model it starts from, so none of them can be applied; silently dropping them
    would save a model the user did not ask for.
    """
    config = init.model.config
    given = getattr(args, "given", set())
    conflicts = [name for name in MODEL_OPTIONS if name in given and getattr(args, name) != getattr(config, name)]
    if conflicts:
        asked = ", ".join(f"--{name.replace('_', '-')} {getattr(args, name)}" for name in conflicts)
        has = ", ".join(f"{name} {getattr(config, name)}" for name in conflicts)
        raise FaceNetEduError(f"{asked}: the initial model {args.init} has {has}, and fine-tuning keeps the network and "
                              "preprocessing of the model it starts from. Drop these options, or train from scratch "
                              "without --init.")


def _is_checkpoint(path) -> bool:
    """Whether ``path`` holds a facenet-edu checkpoint (only such a file may be replaced by ``train``)."""
    from .checkpoint import is_checkpoint_file

    return is_checkpoint_file(path)


def _is_results_file(path) -> bool:
    """Whether ``path`` holds results written by ``evaluate --json`` (a JSON object of methods, each with metrics)."""
    try:
        if os.path.getsize(path) > 10_000_000:
            return False
        with open(path, encoding="utf-8") as handle:
            results = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return (isinstance(results, dict) and len(results) > 0
            and all(isinstance(m, dict) and "verification_accuracy" in m for m in results.values()))


def _checkpoint_bytes(model) -> int:
    """An estimate of a checkpoint's size on disk: its weights, plus room for the settings and the zip."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values()) + 1_000_000


def _save_or_keep(out: str, save) -> None:
    """Call ``save(path)`` for ``out``; if that fails, save to the system's temporary folder and say where.

    Raises:
        FaceNetEduError: always after a failed save: where the model was kept instead, or
            that it could not be kept anywhere.
    """
    try:
        save(out)
        return
    except FaceNetEduError as err:
        failure = str(err)
    fd, kept = tempfile.mkstemp(prefix="facenet-edu-unsaved-", suffix=".pt")
    os.close(fd)
    try:
        save(kept)
    except FaceNetEduError as err:
        os.unlink(kept)
        raise FaceNetEduError(f"{failure} Keeping the model in {tempfile.gettempdir()} failed too ({err}); "
                              "the training run is lost.") from None
    raise FaceNetEduError(f"{failure} The trained model was kept in {kept}; move it where you want it "
                          f"(mv {kept} {out}).")


def _validation_split(train_set: FaceDataset, seed: int) -> tuple[FaceDataset, FaceDataset]:
    """Split the training people into (fit, validation); the threshold is chosen on the validation people."""
    people = train_set.num_identities
    if people < MIN_TRAIN_PEOPLE:
        raise FaceNetEduError(
            f"Only {people} people remain for training after the test split; training needs at least "
            f"{MIN_TRAIN_PEOPLE} (2 to learn from, 2 to choose the threshold). Use more people or a lower --test-fraction."
        )
    return split_by_identity(train_set, num_test_identities=max(2, round(0.2 * people)), seed=seed + 1)


def cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import save_checkpoint
    from .course import train_with_threshold
    from .pairs import make_pairs
    from .files import check_output
    from .model import EmbeddingNet, ModelConfig
    from .runtime import seed_everything
    from .train import TrainConfig

    # Everything that can be checked is checked before the data is loaded and the steps run.
    model_config = ModelConfig(**{name: getattr(args, name) for name in MODEL_OPTIONS})
    init = open_checkpoint(args.init) if args.init else None
    if init is not None:  # fine-tuning keeps the network and the preprocessing of the model it starts from
        _check_init_settings(args, init)
        model_config = init.model.config
    config = TrainConfig(**{name: getattr(args, name) for name in TRAIN_OPTIONS})
    size = _checkpoint_bytes(init.model if init is not None else EmbeddingNet(model_config))
    check_output(args.out, "facenet-edu checkpoint", _is_checkpoint, inputs=[init.path if init else None],
                 needed_bytes=size)
    seed_everything(args.seed)
    provenance = {"dataset": args.dataset, "seed": args.seed, "init": args.init,
                  "command": "python -m facenet_edu " + " ".join(sys.argv[1:] if args.argv is None else args.argv)}
    if args.dataset == "lfw":
        return _train_on_lfw(args, model_config, config, init, provenance)
    dataset = load_dataset(args.dataset, args.data_dir, seed=args.seed)
    train_set, test_set = split_by_identity(dataset, test_fraction=args.test_fraction, seed=args.seed)
    fit_set, val_set = _validation_split(train_set, args.seed)
    make_pairs(val_set.labels, seed=args.seed)  # raises now, not after training, if the threshold cannot be chosen
    fit_set, val_set = (_prepared(part, model_config, args.detect) for part in (fit_set, val_set))
    config = replace(config, p=min(config.p, fit_set.num_identities))
    model, history, threshold = train_with_threshold(model_config, fit_set, val_set, config,
                                                     init.model if init is not None else None)
    test_names = sorted({test_set.names[c] for c in test_set.labels.tolist()})
    _save_or_keep(args.out, lambda path: save_checkpoint(
        path, model, config, threshold=float(threshold), **provenance, seconds=round(history.seconds, 1),
        split={"test_fraction": args.test_fraction, "seed": args.seed}, test_identities=test_names))
    print(f"trained {config.num_steps} steps in {history.seconds:.0f} s; final loss {history.loss[-1]:.3f}")
    print(f"verification threshold {threshold:.3f} (chosen on {val_set.num_identities} validation people)")
    print(f"saved {args.out}; {len(test_names)} people held out for `evaluate`")
    return 0


def _train_on_lfw(args: argparse.Namespace, model_config, config, init, provenance: dict) -> int:
    """``train --dataset lfw``: LFW's people minus the DevTest people (tested on by ``evaluate --dataset lfw``)."""
    from .checkpoint import save_checkpoint
    from .course import train_on_lfw

    result = train_on_lfw(args.data_dir, model_config, config, num_val_people=args.val_people,
                          init=init.model if init is not None else None)
    _save_or_keep(args.out, lambda path: save_checkpoint(path, result.model, config, threshold=result.threshold,
                                                         **{**provenance, **result.provenance}))
    print(f"trained {config.num_steps} steps on {result.provenance['train_people']} LFW people in "
          f"{result.history.seconds:.0f} s; final loss {result.history.loss[-1]:.3f}")
    print(f"verification threshold {result.threshold:.3f}, {result.provenance['threshold_far_1e-2']:.3f} for a false-accept rate "
          f"of 1e-2 (chosen on {result.provenance['validation_people']} validation people)")
    print(f"saved {args.out}; LFW's DevTest people were left out: `evaluate --dataset lfw` tests on them")
    return 0


def _evaluate_on_lfw(args: argparse.Namespace, checkpoint) -> dict:
    from .course import evaluate_on_lfw_pairs

    print("evaluating on LFW's 1,000 DevTest pairs (963 people, never trained on by `train --dataset lfw`)")
    return evaluate_on_lfw_pairs(checkpoint.model, args.data_dir, "devtest", baselines=args.baselines)


def _held_out_split(dataset: FaceDataset, provenance: dict) -> tuple[FaceDataset, FaceDataset, str]:
    """(train, test, what) for ``evaluate``: the split recorded at training time when it applies, else a fresh one."""
    split, held_out = provenance.get("split"), provenance.get("test_identities")
    if isinstance(split, dict) and {"test_fraction", "seed"} <= set(split):
        test_fraction = check_number("the checkpoint's split test_fraction", split["test_fraction"], 0.0, 1.0)
        seed = check_number("the checkpoint's split seed", split["seed"], 0, integer=True)
        train_set, test_set = split_by_identity(dataset, test_fraction=test_fraction, seed=seed)
        names = sorted({test_set.names[c] for c in test_set.labels.tolist()})
        if held_out is None or names == sorted(map(str, held_out)):
            return train_set, test_set, f"evaluating on the {test_set.num_identities} people held out in training"
    train_set, test_set = split_by_identity(dataset, test_fraction=0.25, seed=0)
    return train_set, test_set, (f"evaluating on {test_set.num_identities} people (the checkpoint records no "
                                 "held-out people for this dataset, so some may have been seen in training)")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import HEADLINE_METRICS, evaluate_model, format_metrics_table
    from .files import check_output

    checkpoint = open_checkpoint(args.checkpoint)
    if args.json:
        check_output(args.json, "results file written by `evaluate --json`", _is_results_file,
                     inputs=[checkpoint.path, args.data_dir])
    model, provenance = checkpoint.model, checkpoint.provenance
    if args.dataset == "lfw":
        results = _evaluate_on_lfw(args, checkpoint)
    else:
        same_data = provenance.get("dataset") == args.dataset
        seed = provenance.get("seed", 0) if same_data else 0
        dataset = load_dataset(args.dataset, args.data_dir, seed=check_number("the checkpoint's seed", seed, 0, integer=True))
        train_set, test_set, what = _held_out_split(dataset, provenance if same_data else {})
        print(what)
        train_set, test_set = (_prepared(part, model.config, args.detect) for part in (train_set, test_set))
        results = evaluate_model(model, test_set, baselines=args.baselines, train_dataset=train_set)
    print(format_metrics_table(results, tuple(k for k in HEADLINE_METRICS if k in results["model"])))
    if args.json:
        from .files import write_atomically

        write_atomically(args.json, lambda handle: handle.write(json.dumps(results, indent=2).encode()))
        print(f"wrote {args.json}")
    return 0
