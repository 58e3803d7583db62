"""Checkpoints: one file that rebuilds the model with everything needed to use it, written whole and checked on load.

A checkpoint holds the model's settings (``ModelConfig``, which includes its
preprocessing: input size, face crop and crop border), its weights, the training settings,
the verification threshold chosen on validation people, and provenance (plain values
such as the dataset name and the people held out for evaluation).

Safety, in the order it happens:

- writing goes to a temporary file in the same folder, then ``os.replace``: a crash
  leaves the old checkpoint or the new one, never half of either;
- loading uses ``torch.load(..., weights_only=True)``: only tensors and plain values
  are unpickled, so a file never runs code;
- everything read is then checked (format marker, version, every config field, every
  tensor's name, shape, dtype and finiteness, the threshold), and any problem is one
  ``FaceNetEduError`` naming the file and what is wrong.
"""

from dataclasses import asdict, fields
from pathlib import Path
from typing import NamedTuple

import torch

from .errors import FaceNetEduError, check_threshold, check_version
from .files import write_atomically
from .model import EmbeddingNet, ModelConfig
from .runtime import resolve_device

CHECKPOINT_FORMAT = "facenet-edu-checkpoint"
# 1: threshold and provenance mixed in "extra"; 2: threshold and provenance apart; 3: model_config holds
# ``crop`` ("aligned" or "box"). Versions 1 and 2 predate aligned crops: they load with crop="box".
CHECKPOINT_VERSION = 3
CROP_BEFORE_VERSION_3 = "box"
PLAIN_TYPES = (str, int, float, bool, type(None))
_KEYS = {
    1: {"format", "version", "model_config", "state_dict", "train_config", "extra"},
    2: {"format", "version", "model_config", "state_dict", "train_config", "threshold", "provenance"},
    3: {"format", "version", "model_config", "state_dict", "train_config", "threshold", "provenance"},
}


class Checkpoint(NamedTuple):
    """What ``read_checkpoint`` returns: the model and everything needed to use it.

    Attributes:
        model: the ``EmbeddingNet`` in eval mode; ``model.config`` holds its input size,
            face crop and crop border (``image_size``, ``crop``, ``crop_margin``).
        threshold: the verification threshold stored at training time, or None.
        provenance: plain values saved with the model (dataset, held-out people, ...),
            plus ``train_config``, the training settings as a dict (empty if unknown).
        path: the file it was read from.
    """

    model: EmbeddingNet
    threshold: float | None
    provenance: dict
    path: Path


def _check_plain(value, where: str) -> None:
    """Raise unless ``value`` is built of str, int, float, bool, None, lists, tuples and str-keyed dicts."""
    if isinstance(value, PLAIN_TYPES):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, where)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise FaceNetEduError(f"{where}: keys must be strings, got {key!r}.")
            _check_plain(item, where)
        return
    raise FaceNetEduError(f"{where}: only plain values (str, numbers, lists, dicts) can be stored, got {type(value).__name__}.")


def _check_threshold(threshold, where: str) -> float | None:
    """None (no threshold stored) or ``errors.check_threshold``'s one rule: a finite distance >= 0."""
    return None if threshold is None else check_threshold(threshold, where)


def is_checkpoint_file(path: str | Path) -> bool:
    """Whether ``path`` is a file that carries the facenet-edu checkpoint marker (of any version, even if damaged inside).

    Cheap and safe (``weights_only=True``): the test ``save_checkpoint`` and ``train --out``
    use before replacing a file, so that neither overwrites a photo, a gallery or anything
    else that is not a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        return False
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch file at all: a zip error, an unpickling error, a decode error ...
        return False
    return isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT


def save_checkpoint(path: str | Path, model: EmbeddingNet, config=None, *, threshold: float | None = None,
                    **provenance) -> None:
    """Write ``model`` and everything needed to use it to ``path``, all or nothing.

    Args:
        path: the file to write; its folder must exist. An existing file is replaced
            only once the new one is complete, and only if it is a checkpoint
            (``is_checkpoint_file``) or empty: a photo or a gallery is never overwritten.
        model: an ``EmbeddingNet``.
        config: the ``TrainConfig`` it was trained with, or None.
        threshold: the verification threshold (a distance >= 0), or None.
        **provenance: plain values to keep with the model (``dataset="att"``,
            ``test_identities=[...]``); read back as ``Checkpoint.provenance``.

    Raises:
        FaceNetEduError: the folder is missing or not writable, ``path`` is a file that is
            not a checkpoint, the threshold is not a finite distance, or a provenance value is not plain.
    """
    path = Path(path)
    if path.exists() and not is_checkpoint_file(path) and not (path.is_file() and path.stat().st_size == 0):
        raise FaceNetEduError(f"{path} exists and is not a facenet-edu checkpoint; it is left as it is. "
                              "Choose another file name (or move that file away first).")
    threshold = _check_threshold(threshold, "save_checkpoint")
    for reserved in ("train_config",):
        if reserved in provenance:
            raise FaceNetEduError(f"save_checkpoint: {reserved!r} is stored by the checkpoint itself; pass config= instead.")
    _check_plain(provenance, "save_checkpoint provenance")
    train_config = asdict(config) if config is not None else {}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "train_config": train_config,
        "threshold": threshold,
        "provenance": dict(provenance),
    }
    write_atomically(path, lambda handle: torch.save(payload, handle))


def _model_config(raw, version: int, where: str) -> ModelConfig:
    """The checked ``ModelConfig`` of a file of format ``version``; files before version 3 get crop="box"."""
    if not isinstance(raw, dict):
        raise FaceNetEduError(f"{where}: model_config must be a dict, got {type(raw).__name__}.")
    known = {f.name for f in fields(ModelConfig)}
    if version < 3:  # written before aligned crops existed: the face box crop is the one the model was trained with
        known.discard("crop")
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise FaceNetEduError(f"{where}: model_config has unknown fields {unknown}; it was written by another program or damaged.")
    missing = sorted(known - set(raw) - {"crop_margin"})  # crop_margin came later; older files use the default
    if missing:
        raise FaceNetEduError(f"{where}: model_config lacks {missing}; the file is damaged.")
    if version < 3:
        raw = {**raw, "crop": CROP_BEFORE_VERSION_3}
    try:
        return ModelConfig(**raw)
    except FaceNetEduError as err:
        raise FaceNetEduError(f"{where}: model_config: {err}") from None


def _check_state_dict(state_dict, model: EmbeddingNet, where: str) -> None:
    if not isinstance(state_dict, dict):
        raise FaceNetEduError(f"{where}: state_dict must be a dict of tensors, got {type(state_dict).__name__}.")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    extra = [str(k) for k in state_dict if k not in expected]
    if missing or extra:
        parts = ([f"missing {missing[:3]}" + (" ..." if len(missing) > 3 else "")] if missing else []) + (
            [f"unexpected {extra[:3]}" + (" ..." if len(extra) > 3 else "")] if extra else [])
        raise FaceNetEduError(f"{where}: the weights do not fit the model_config ({'; '.join(parts)}); the file is damaged.")
    for name, want in expected.items():
        got = state_dict[name]
        if not isinstance(got, torch.Tensor):
            raise FaceNetEduError(f"{where}: weight {name} is a {type(got).__name__}, not a tensor; the file is damaged.")
        if got.shape != want.shape or got.dtype != want.dtype:
            raise FaceNetEduError(f"{where}: weight {name} has shape {tuple(got.shape)} and dtype {got.dtype}, "
                                  f"the model needs {tuple(want.shape)} and {want.dtype}; the file is damaged.")
        if got.is_floating_point() and not torch.isfinite(got).all():
            raise FaceNetEduError(f"{where}: weight {name} holds NaN or infinite values; the training diverged or the file is damaged.")


def read_checkpoint(path: str | Path, device: str | torch.device | None = None) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``, check all of it, and rebuild the model in eval mode.

    Version 1 files (threshold kept among the extra values) are read too; files of
    versions 1 and 2 predate aligned crops and load with ``config.crop == "box"``. It runs past
    60 lines because it checks every part of the file in one pass, in the order the
    parts are read, so each message can name what was wrong.

    Args:
        path: the checkpoint file.
        device: where to put the model ("cpu", "cuda", ...; checked first); None: ``pick_device()``,
            the same default as ``TrainConfig.device`` (docs/architecture.md, "Devices").

    Returns:
        A ``Checkpoint`` (model, threshold, provenance, path).

    Raises:
        FaceNetEduError: the file is missing, is not a facenet-edu checkpoint, comes
            from a newer version, or holds anything damaged (config, weights,
            threshold); the message names the file and the problem. Loading never runs
            code from the file (``weights_only=True``).
    """
    path = Path(path)
    device = resolve_device(device)
    if path.is_dir():
        raise FaceNetEduError(f"{path} is a folder, not a checkpoint file.")
    if not path.is_file():
        raise FaceNetEduError(f"{path}: no such checkpoint file. Train one with `python -m facenet_edu train`.")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # UnpicklingError (code refused), RuntimeError (zip), EOFError, ...
        raise FaceNetEduError(f"{path} is not a facenet-edu checkpoint ({type(err).__name__}); "
                              "it is damaged, truncated or another kind of file.") from err
    where = str(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise FaceNetEduError(f"{path} is not a facenet-edu checkpoint (no '{CHECKPOINT_FORMAT}' marker).")
    version = check_version(payload.get("version"), CHECKPOINT_VERSION, where, "checkpoint format")
    keys = set(map(str, payload))
    required = _KEYS[version] - {"train_config", "extra", "provenance", "threshold"}
    if required - keys:
        raise FaceNetEduError(f"{where}: lacks {sorted(required - keys)}; the file is damaged.")
    if keys - _KEYS[version]:
        raise FaceNetEduError(f"{where}: unexpected entries {sorted(keys - _KEYS[version])}; written by another program or damaged.")
    config = _model_config(payload["model_config"], version, where)
    train_config = payload.get("train_config") or {}
    if not isinstance(train_config, dict):
        raise FaceNetEduError(f"{where}: train_config must be a dict, got {type(train_config).__name__}.")
    if version == 1:
        provenance = dict(payload.get("extra") or {}) if isinstance(payload.get("extra") or {}, dict) else None
        if provenance is None:
            raise FaceNetEduError(f"{where}: 'extra' must be a dict; the file is damaged.")
        threshold = provenance.pop("threshold", None)
    else:
        provenance, threshold = payload.get("provenance") or {}, payload.get("threshold")
        if not isinstance(provenance, dict):
            raise FaceNetEduError(f"{where}: provenance must be a dict, got {type(provenance).__name__}.")
    _check_plain(provenance, f"{where}: provenance")
    _check_plain(train_config, f"{where}: train_config")
    threshold = _check_threshold(threshold, where)
    model = EmbeddingNet(config)
    _check_state_dict(payload["state_dict"], model, where)
    model.load_state_dict(payload["state_dict"])
    return Checkpoint(model.to(device).eval(), threshold, {**provenance, "train_config": train_config}, path)


def load_checkpoint(path: str | Path, device: str | torch.device | None = None) -> EmbeddingNet:
    """Rebuild the model saved by ``save_checkpoint``, in eval mode, on ``device`` (None: ``pick_device()``).

    Raises:
        FaceNetEduError: see ``read_checkpoint``.
    """
    return read_checkpoint(path, device).model

