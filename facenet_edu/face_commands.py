"""The commands on new photos of faces: ``verify`` two photos, ``enroll`` a person in a gallery, ``identify`` a photo.

Each embeds the photos with a checkpoint's model (``model_commands.open_checkpoint``)
and compares them by distance against a threshold, the checkpoint's unless given.
"""

import argparse
import os

from .errors import FaceNetEduError
from .model_commands import open_checkpoint


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


def cmd_verify(args: argparse.Namespace) -> int:
    from .matching import verify

    checkpoint = open_checkpoint(args.checkpoint)
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
    checkpoint = open_checkpoint(args.checkpoint)
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

    checkpoint = open_checkpoint(args.checkpoint)
    threshold = _threshold(args, checkpoint)
    gallery = Gallery.load(args.gallery)
    gallery.use_model(model_fingerprint(checkpoint.model))
    embedding = _embed_photos(checkpoint.model, [args.image], args.detect)[0]  # (D,)
    result = gallery.identify(embedding, threshold, top_k=args.top_k)
    print(f"{result.name} (distance {result.distance:.3f})")
    for name, distance in result.top_k:
        print(f"  {name:<20} {distance:.3f}")
    return 0
