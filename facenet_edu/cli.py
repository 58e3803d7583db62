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
import os
import sys
from dataclasses import fields

from .datasets import DATASETS, load_dataset
from .errors import FaceNetEduError, check_number
from .face_commands import cmd_enroll, cmd_identify, cmd_verify
from .model_commands import MODEL_OPTIONS, TRAIN_OPTIONS, cmd_evaluate, cmd_train


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


def cmd_data(args: argparse.Namespace) -> int:
    print(load_dataset(args.dataset, args.data_dir).summary())
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
