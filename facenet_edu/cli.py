"""``python -m facenet_edu``: data summaries, training, evaluation, verification, a gallery, and the demo.

Every command that a student can give bad input (a missing or corrupt image, no face,
an empty gallery, a file that is not a checkpoint) exits with status 2 and one line
starting with ``error:``, never a traceback.
"""

import argparse
import json
import sys
from pathlib import Path

from .data import DATASETS, load_dataset, split_by_identity
from .errors import FaceNetEduError


def _add_dataset_args(parser: argparse.ArgumentParser, default: str = "synthetic") -> None:
    parser.add_argument("--dataset", choices=DATASETS, default=default, help="which faces (default: %(default)s)")
    parser.add_argument("--data-dir", help="folder to read (att, folder) or download cache (olivetti, lfw)")


def _add_detect_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detect", dest="detect", action="store_true", default=True,
                        help="find the face with OpenCV's Haar cascade and crop it (default)")
    parser.add_argument("--no-detect", dest="detect", action="store_false",
                        help="the images are already face crops (AT&T, synthetic)")


def cmd_data(args: argparse.Namespace) -> int:
    print(load_dataset(args.dataset, args.data_dir).summary())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .matching import choose_threshold
    from .evaluate import make_pairs
    from .model import EmbeddingNet, ModelConfig, embed
    from .runtime import seed_everything
    from .train import TrainConfig, save_checkpoint, train

    seed_everything(args.seed)
    model_config = ModelConfig(embedding_dim=args.embedding_dim, image_size=args.image_size)
    dataset = load_dataset(args.dataset, args.data_dir, image_size=args.image_size, seed=args.seed)
    train_set, test_set = split_by_identity(dataset, test_fraction=args.test_fraction, seed=args.seed)
    fit_set, val_set = split_by_identity(train_set, test_fraction=0.2, seed=args.seed + 1)
    config = TrainConfig(loss=args.loss, margin=args.margin, num_steps=args.num_steps, lr=args.lr,
                         p=min(args.p, fit_set.num_identities), k=args.k, device=args.device, seed=args.seed)
    model = EmbeddingNet(model_config)
    history = train(model, fit_set, config)
    # The verification threshold is chosen on held-out validation people, never set to the margin.
    i, j, is_same = make_pairs(val_set.labels, seed=args.seed)
    val_emb = embed(model, val_set.images)
    threshold = choose_threshold((val_emb[i] - val_emb[j]).norm(dim=1).numpy(), is_same)
    test_names = sorted({test_set.names[c] for c in test_set.labels.tolist()})
    save_checkpoint(args.out, model, config, dataset=args.dataset, threshold=float(threshold), test_identities=test_names)
    print(f"trained {config.num_steps} steps in {history.seconds:.0f} s; final loss {history.loss[-1]:.3f}")
    print(f"verification threshold {threshold:.3f} (chosen on {val_set.num_identities} validation people)")
    print(f"saved {args.out}; {len(test_names)} people held out for `evaluate`")
    return 0


def _checkpoint_extra(path: str) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True).get("extra", {})


def cmd_evaluate(args: argparse.Namespace) -> int:
    import torch

    from .evaluate import evaluate_model
    from .faces import prepare_faces
    from .train import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    extra = _checkpoint_extra(args.checkpoint)
    dataset = load_dataset(args.dataset, args.data_dir)
    held_out = set(extra.get("test_identities", [])) if extra.get("dataset") == args.dataset else set()
    is_test = torch.tensor([dataset.names[c] in held_out for c in dataset.labels.tolist()])
    if held_out and is_test.any():
        test_set, train_set = dataset.subset(torch.nonzero(is_test).squeeze(1)), dataset.subset(torch.nonzero(~is_test).squeeze(1))
        print(f"evaluating on the {test_set.num_identities} people held out in training")
    else:
        train_set, test_set = split_by_identity(dataset, test_fraction=0.25, seed=0)
        print(f"evaluating on {test_set.num_identities} people (the checkpoint did not list held-out people for this dataset)")
    size = model.config.image_size
    test_set.images = prepare_faces(list(test_set.images[:, 0]), size, detect=args.detect, on_no_face="whole")
    train_set = train_set.resize(size)
    results = evaluate_model(model, test_set, baselines=args.baselines, train_dataset=train_set)
    keys = ["verification_accuracy", "roc_auc", "tar_at_far_1e-2", "tar_at_far_1e-3", "rank1"]
    print(f"{'method':<12}" + "".join(f"{k:>24}" for k in keys))
    for method, metrics in results.items():
        print(f"{method:<12}" + "".join(f"{metrics[k]:>24.3f}" for k in keys))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


def _threshold(args: argparse.Namespace) -> float:
    if args.threshold is not None:
        return args.threshold
    stored = _checkpoint_extra(args.checkpoint).get("threshold")
    if stored is None:
        raise FaceNetEduError("This checkpoint stores no verification threshold; pass --threshold.")
    return float(stored)


def cmd_verify(args: argparse.Namespace) -> int:
    from .matching import verify
    from .train import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    result = verify(model, args.image_a, args.image_b, _threshold(args), detect=args.detect)
    verdict = "same person" if result.same else "different people"
    print(f"{verdict}: distance {result.distance:.3f} (threshold {result.threshold:.3f})")
    return 0


def cmd_enroll(args: argparse.Namespace) -> int:
    from .gallery import Gallery
    from .train import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    gallery = Gallery.load(args.gallery) if Path(args.gallery).with_suffix(".json").exists() else Gallery()
    gallery.enroll(args.name, args.images, model=model, detect=args.detect)
    gallery.save(args.gallery)
    print(f"enrolled {args.name} from {len(args.images)} image(s); the gallery holds {len(gallery.names)} people")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    from .gallery import Gallery
    from .train import load_checkpoint

    model = load_checkpoint(args.checkpoint)
    if not Path(args.gallery).with_suffix(".json").exists():
        raise FaceNetEduError(f"{args.gallery}: no gallery there; enrol someone first with `enroll`.")
    gallery = Gallery.load(args.gallery)
    result = gallery.identify(args.image, _threshold(args), top_k=args.top_k, model=model, detect=args.detect)
    print(f"{result.name} (distance {result.distance:.3f})")
    for name, distance in result.top_k:
        print(f"  {name:<20} {distance:.3f}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, num_steps=args.num_steps, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m facenet_edu", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="print a short summary of a dataset")
    _add_dataset_args(p)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train a triplet network and save a checkpoint")
    _add_dataset_args(p)
    p.add_argument("--loss", default="semi-hard", choices=["semi-hard", "batch-hard", "batch-all", "contrastive", "center"])
    p.add_argument("--margin", type=float, default=0.2)
    p.add_argument("--num-steps", type=int, default=1000)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--p", type=int, default=16, help="identities per batch")
    p.add_argument("--k", type=int, default=4, help="images per identity in a batch")
    p.add_argument("--embedding-dim", type=int, default=128)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--test-fraction", type=float, default=0.25, help="share of people held out for evaluate")
    p.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="model.pt")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="verification and identification on people unseen in training")
    p.add_argument("--checkpoint", required=True)
    _add_dataset_args(p)
    _add_detect_args(p)
    p.add_argument("--baselines", action="store_true", help="also evaluate raw pixels and eigenfaces")
    p.add_argument("--json", help="write the results to this file")
    p.set_defaults(func=cmd_evaluate)

    for name, helptext, func in [("verify", "are two images the same person?", cmd_verify),
                                 ("identify", "who is this, or unknown?", cmd_identify)]:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--checkpoint", required=True)
        p.add_argument("--threshold", type=float, help="distance threshold (default: the checkpoint's)")
        _add_detect_args(p)
        if name == "verify":
            p.add_argument("image_a")
            p.add_argument("image_b")
        else:
            p.add_argument("--gallery", required=True, help="gallery file stem (G.npz + G.json)")
            p.add_argument("--top-k", type=int, default=3)
            p.add_argument("image")
        p.set_defaults(func=func)

    p = sub.add_parser("enroll", help="add a named person to a gallery")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--gallery", required=True, help="gallery file stem (G.npz + G.json)")
    p.add_argument("--name", required=True)
    _add_detect_args(p)
    p.add_argument("images", nargs="+")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("demo", help="the whole story on synthetic faces, offline, in about two minutes")
    p.add_argument("--out", default="demo_output", help="folder for the figures")
    p.add_argument("--num-steps", type=int, default=None, help="training steps (default: 600, 40 in fast mode)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FaceNetEduError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
