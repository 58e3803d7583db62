"""``python -m facenet_edu``: data summaries, training, evaluation, verification, a gallery, and the demo.

Every command that a student can give bad input (a missing or corrupt image, no face,
an empty gallery, a file that is not a checkpoint, a setting out of range) exits with
status 2 and one line starting with ``error:``, never a traceback. Settings are
checked before any long work starts. Output cut short by a closed pipe
(``identify ... | head -1``) ends quietly with status 0.

Files the user keeps: an output (``train --out``, ``evaluate --json``, ``enroll
--gallery``) may replace only a file of the kind being written, never one of the same
command's inputs (``--init``, ``--checkpoint``), and is checked for a writable folder and
room on the disk before the work. ``train --init`` refuses model settings that differ
from the initial model's. If saving a trained model still fails, the model is kept in
the system's temporary folder and the error line says where.
"""

import argparse
import json
import os
import sys
import tempfile
from dataclasses import fields, replace

from .data import FaceDataset
from .datasets import DATASETS, load_dataset
from .splits import split_by_identity
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


class _Given(argparse.Action):
    """Store the value and remember that the user gave the option (``args.given``), so a default is never mistaken for a choice."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, "given", set(getattr(namespace, "given", set())) | {self.dest})


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one ``error:`` line (exit status 2), like every other error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _number(name: str, low: float | None = None, high: float | None = None, integer: bool = False):
    """An argparse ``type`` that accepts a finite number in [low, high] (a whole one when ``integer``)."""

    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
            return check_number(name, value, low, high, integer)
        except (ValueError, FaceNetEduError) as err:
            message = str(err) if isinstance(err, FaceNetEduError) else f"{name} must be a number, got {text!r}."
            raise argparse.ArgumentTypeError(message) from None

    return parse


def _open_checkpoint(value: str):
    """The one place a ``--checkpoint`` (or ``--init``) value becomes a checked ``Checkpoint``.

    ``course`` means the course model shipped with the package; anything else is a file.
    """
    from .checkpoint import read_checkpoint
    from .course import COURSE_NAME, read_course_checkpoint

    return read_course_checkpoint() if value == COURSE_NAME else read_checkpoint(value)


def _prepared(dataset: FaceDataset, name: str, model_config, detect: bool) -> FaceDataset:
    """A dataset's faces prepared as ``model_config`` says; synthetic faces are crops already (no detector)."""
    from .faces import prepare_dataset_counted

    prepared = prepare_dataset_counted(dataset, model_config, detect=detect and name != "synthetic")
    if prepared.no_face:
        print(f"no face found in {len(prepared.no_face)} of {len(dataset)} images; used them whole")
    return prepared.dataset


def _embed_photos(model, images: list, detect: bool):
    """Embed photos as the model's config says, telling the user where several faces were found: (K, D)."""
    from .faces import prepare_faces_and_counts
    from .model import embed

    config = model.config
    faces, counts = prepare_faces_and_counts(images, config.image_size, detect, crop_margin=config.crop_margin,
                                             crop=config.crop)  # (K, 1, S, S)
    for image, count in zip(images, counts):
        if count > 1:
            print(f"{image}: {count} faces found, used the largest")
    return embed(model, faces)


def _threshold(args: argparse.Namespace, checkpoint) -> float:
    """``--threshold`` if given (checked by its parser), else the threshold stored in the checkpoint."""
    if args.threshold is not None:
        return args.threshold
    if checkpoint.threshold is None:
        raise FaceNetEduError(f"{checkpoint.path} stores no verification threshold; pass --threshold.")
    return checkpoint.threshold


def _add_dataset_args(parser: argparse.ArgumentParser, default: str = "synthetic") -> None:
    parser.add_argument("--dataset", choices=DATASETS, default=default, help="which faces (default: %(default)s)")
    parser.add_argument("--data-dir", help="folder to read (att, folder) or download cache (olivetti, lfw)")


def _add_checkpoint_args(parser: argparse.ArgumentParser, threshold: bool = True) -> None:
    parser.add_argument("--checkpoint", required=True, help="a model saved by `train`, or `course` for the shipped course model")
    if threshold:
        parser.add_argument("--threshold", type=_number("--threshold", low=0.0),
                            help="distance threshold, >= 0 (default: the checkpoint's)")
    parser.add_argument("--detect", action=argparse.BooleanOptionalAction, default=True,
                        help="find the face (MTCNN) and crop it as the model was trained; --no-detect when the images "
                             "are already face crops (AT&T, synthetic) (default: detect)")


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


def cmd_data(args: argparse.Namespace) -> int:
    print(load_dataset(args.dataset, args.data_dir).summary())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import save_checkpoint
    from .evaluate import validation_threshold
    from .pairs import make_pairs
    from .files import check_output
    from .model import EmbeddingNet, ModelConfig
    from .runtime import seed_everything
    from .train import TrainConfig, train_copy

    # Everything that can be checked is checked before the data is loaded and the steps run.
    model_config = ModelConfig(**{name: getattr(args, name) for name in MODEL_OPTIONS})
    init = _open_checkpoint(args.init) if args.init else None
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
    fit_set, val_set = (_prepared(part, args.dataset, model_config, args.detect) for part in (fit_set, val_set))
    config = replace(config, p=min(config.p, fit_set.num_identities))
    start = init.model if init is not None else EmbeddingNet(model_config)
    model, history = train_copy(start, fit_set, config)
    threshold = validation_threshold(model, val_set, seed=args.seed)  # on held-out validation people, never the margin
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

    checkpoint = _open_checkpoint(args.checkpoint)
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
        train_set, test_set = (_prepared(part, args.dataset, model.config, args.detect) for part in (train_set, test_set))
        results = evaluate_model(model, test_set, baselines=args.baselines, train_dataset=train_set)
    print(format_metrics_table(results, tuple(k for k in HEADLINE_METRICS if k in results["model"])))
    if args.json:
        from .files import write_atomically

        write_atomically(args.json, lambda handle: handle.write(json.dumps(results, indent=2).encode()))
        print(f"wrote {args.json}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .matching import verify

    checkpoint = _open_checkpoint(args.checkpoint)
    threshold = _threshold(args, checkpoint)
    result = verify(checkpoint.model, args.image_a, args.image_b, threshold, detect=args.detect)
    verdict = "same person" if result.same else "different people"
    print(f"{verdict}: distance {result.distance:.3f} (threshold {result.threshold:.3f})")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from .files import check_writable
    from .gallery import Gallery
    from .gallery_file import check_name
    from .model import model_fingerprint

    check_name(args.name)
    checkpoint = _open_checkpoint(args.checkpoint)
    fingerprint = model_fingerprint(checkpoint.model)
    if os.path.exists(args.gallery):  # a damaged file, a file that is no gallery, another model: fail before embedding
        Gallery.load(args.gallery).use_model(fingerprint)
    # room for the new gallery beside the old one: the old file, the new embeddings (float32) and the record
    old_size = os.path.getsize(args.gallery) if os.path.isfile(args.gallery) else 0
    check_writable(args.gallery, old_size + 4 * len(args.images) * checkpoint.model.config.embedding_dim + 100_000)
    embeddings = _embed_photos(checkpoint.model, args.images, args.detect)  # (K, D); the slow part, outside the lock
    with Gallery.edit(args.gallery) as gallery:  # locked: load, add, save all or nothing
        gallery.use_model(fingerprint)
        gallery.enroll_embeddings(args.name, embeddings)
    print(f"enrolled {args.name} from {len(args.images)} image(s); the gallery holds {len(gallery)} people")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    from .gallery import Gallery
    from .model import model_fingerprint

    checkpoint = _open_checkpoint(args.checkpoint)
    threshold = _threshold(args, checkpoint)
    gallery = Gallery.load(args.gallery)
    gallery.use_model(model_fingerprint(checkpoint.model))
    embedding = _embed_photos(checkpoint.model, [args.image], args.detect)[0]  # (D,)
    result = gallery.identify(embedding, threshold, top_k=args.top_k)
    print(f"{result.name} (distance {result.distance:.3f})")
    for name, distance in result.top_k:
        print(f"  {name:<20} {distance:.3f}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, num_steps=args.num_steps, seed=args.seed)
    return 0


def _add_train_parser(sub) -> None:
    from .model import CROPS, ModelConfig
    from .train import LOSSES, TrainConfig

    p = sub.add_parser("train", help="train a triplet network and save a checkpoint")
    _add_dataset_args(p)
    for config_class, options in [(TrainConfig, TRAIN_OPTIONS), (ModelConfig, MODEL_OPTIONS)]:
        for field in fields(config_class):
            if field.name in options:
                kwargs = {"default": field.default, "help": options[field.name] + " (default: %(default)s)"}
                if options is MODEL_OPTIONS:
                    kwargs["action"] = _Given  # with --init, a model setting given must match the initial model
                if field.name == "loss":
                    kwargs["choices"] = LOSSES
                elif field.name == "crop":
                    kwargs["choices"] = CROPS
                elif field.default is not None:
                    kwargs["type"] = type(field.default)
                p.add_argument("--" + field.name.replace("_", "-"), **kwargs)
    p.add_argument("--test-fraction", type=_number("--test-fraction", 0.01, 0.9), default=0.25,
                   help="share of people held out for evaluate (default: %(default)s; with lfw the DevTest people are)")
    p.add_argument("--val-people", type=_number("--val-people", 2, integer=True), default=150,
                   help="lfw only: people held out to choose the threshold (default: %(default)s)")
    p.add_argument("--init", help="start from this checkpoint's weights and preprocessing (fine-tuning); `course` for "
                                  "the shipped course model; model settings given with it must match its own")
    p.add_argument("--detect", action=argparse.BooleanOptionalAction, default=True,
                   help="att, folder, olivetti: crop each face with the face detector, as new photos are "
                        "(default: detect; synthetic faces are crops already, lfw photos are aligned)")
    p.add_argument("--out", default="model.pt", help="checkpoint file to write; an existing file there must be a "
                                                     "checkpoint, and not --init's (default: %(default)s)")
    p.set_defaults(func=cmd_train)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m facenet_edu", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="print a short summary of a dataset")
    _add_dataset_args(p)
    p.set_defaults(func=cmd_data)

    _add_train_parser(sub)

    p = sub.add_parser("evaluate", help="verification and identification on people unseen in training")
    _add_checkpoint_args(p, threshold=False)
    _add_dataset_args(p)
    p.add_argument("--baselines", action="store_true", help="also evaluate raw pixels and eigenfaces")
    p.add_argument("--json", help="write the results to this file (an existing file there must be earlier results)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("verify", help="are two images the same person?")
    _add_checkpoint_args(p)
    p.add_argument("image_a")
    p.add_argument("image_b")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("identify", help="who is this, or unknown?")
    _add_checkpoint_args(p)
    p.add_argument("--gallery", required=True, help="the gallery file written by `enroll`")
    p.add_argument("--top-k", type=_number("--top-k", 1, integer=True), default=3, help="people to list (default: %(default)s)")
    p.add_argument("image")
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("enroll", help="add a named person to a gallery")
    _add_checkpoint_args(p, threshold=False)
    p.add_argument("--gallery", required=True, help="the gallery file, created if missing (exactly this name; "
                                                         "a link is followed and its target updated)")
    p.add_argument("--name", required=True)
    p.add_argument("images", nargs="+")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("demo", help="the whole story on synthetic faces, offline, in about two minutes")
    p.add_argument("--out", default="demo_output", help="folder for the figures")
    p.add_argument("--num-steps", type=_number("--num-steps", 1, integer=True), default=None,
                   help="training steps, >= 1 (default: 600, 40 in fast mode)")
    p.add_argument("--seed", type=_number("--seed", 0, integer=True), default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 done, 2 bad input, 130 interrupted)."""
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
    except SystemExit as stop:  # --help (0) or a usage error, already printed as one line (2)
        return stop.code if isinstance(stop.code, int) else 2
    try:
        status = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return status
    except FaceNetEduError as err:  # one line, even if the message quotes a file name with a newline in it
        print("error: " + "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(err)), file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader (head -1) has what it wanted; write nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
