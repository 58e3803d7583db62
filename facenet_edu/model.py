"""The embedding network: a small CNN for greyscale faces whose output lies on the unit hypersphere."""

import copy
import hashlib
import json
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import FaceNetEduError, check_number

MIN_IMAGE_SIZE = 32        # four 2x2 poolings leave 2x2 pixels; smaller inputs are refused
MAX_IMAGE_SIZE = 512       # a 64x64 face holds what this network can use; larger sizes only cost memory
MAX_EMBEDDING_DIM = 4096
MAX_WIDTH = 256            # 8 * 256 channels in the last block: about 19 M weights
CROPS = ("aligned", "box")  # how a photo's face is cut out for the network, see ModelConfig.crop


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network and its preprocessing from a checkpoint.

    Every field is checked on creation (so a damaged checkpoint cannot build a
    network that allocates gigabytes): ``embedding_dim`` 1 to ``MAX_EMBEDDING_DIM``,
    ``width`` 1 to ``MAX_WIDTH``, ``image_size`` ``MIN_IMAGE_SIZE`` to ``MAX_IMAGE_SIZE``,
    ``crop_margin`` 0 to 1, ``crop`` one of ``CROPS``.

    ``crop`` is how a photo's face becomes the network's square input
    (``facenet_edu.faces``): ``"aligned"`` (the default) warps the 5 detected landmarks
    onto a fixed template (``facenet_edu.align``), as FaceNet-style pipelines do;
    ``"box"`` cuts a square around the detector's face box grown by ``crop_margin`` on
    each side, the only crop before alignment existed, kept so that older checkpoints
    (which load with ``crop="box"``) get the crop they were trained with.
    ``crop_margin`` matters only for ``crop="box"``.

    Raises:
        FaceNetEduError: a field is out of range or of the wrong type.
    """

    embedding_dim: int = 128   # FaceNet used 128
    width: int = 16            # channels of the first block; doubled by each later block
    image_size: int = 64       # faces are resized to image_size x image_size before embedding
    crop_margin: float = 0.2   # crop="box" only: border around the face box, as a fraction of its side, on each side
    crop: str = "aligned"      # "aligned": landmarks warped onto the template; "box": square around the face box

    def __post_init__(self) -> None:
        check_number("embedding_dim", self.embedding_dim, 1, MAX_EMBEDDING_DIM, integer=True)
        check_number("width", self.width, 1, MAX_WIDTH, integer=True)
        check_number("image_size", self.image_size, MIN_IMAGE_SIZE, MAX_IMAGE_SIZE, integer=True)
        check_number("crop_margin", self.crop_margin, 0.0, 1.0)
        if not isinstance(self.crop, str) or self.crop not in CROPS:
            raise FaceNetEduError(f"crop must be one of {', '.join(map(repr, CROPS))}, got {self.crop!r}.")

    def to_dict(self) -> dict:
        """The fields as plain Python values (what a checkpoint stores)."""
        kinds = {"crop_margin": float, "crop": str}
        return {k: kinds.get(k, int)(v) for k, v in asdict(self).items()}


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class EmbeddingNet(nn.Module):
    """Four conv blocks, global average pooling, a linear layer, then L2 normalisation.

    The embedding IS the normalised output: no loss and no classifier sit on top at
    inference. Any input of at least 32x32 works (global pooling removes the size).

    Args:
        config: sizes; ``ModelConfig()`` gives 128-D embeddings of 64x64 faces.
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        w = self.config.width
        self.features = nn.Sequential(_block(1, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 8 * w))
        self.head = nn.Linear(8 * w, self.config.embedding_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Embed a batch.

        Args:
            images: (B, 1, H, W) float tensor in [0, 1], H and W at least 32.

        Returns:
            (B, embedding_dim) tensor, each row of unit L2 norm.
        """
        if images.ndim != 4 or images.shape[1] != 1:
            raise FaceNetEduError(f"The network takes greyscale batches (B, 1, H, W), got shape {tuple(images.shape)}.")
        if min(images.shape[-2:]) < MIN_IMAGE_SIZE:
            raise FaceNetEduError(f"Images must be at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels, got {tuple(images.shape[-2:])}.")
        x = self.features(images * 2 - 1)           # (B, 8w, H/16, W/16); inputs centred on 0
        x = x.mean(dim=(2, 3))                      # (B, 8w)
        return F.normalize(self.head(x), dim=1)     # (B, D), unit norm


CROSS_DEVICE_ATOL = 1e-2  # embeddings of one model on two devices (CPU vs CUDA with TF32 convolutions) agree this well


def model_device(model: nn.Module) -> torch.device:
    """The device a model lives on: that of its first parameter (or buffer); the CPU for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def check_images(images: torch.Tensor) -> torch.Tensor:
    """The network's input as float32 pixels in [0, 1], or a ``FaceNetEduError`` saying what is wrong.

    The rule: float tensors (float16, bfloat16, float32, float64) must hold finite values in
    [0, 1] and are converted to float32; uint8 tensors are read as 0..255 pixels and divided
    by 255; any other dtype (bool, other integers, complex) is refused. The images stay on
    their device.

    Args:
        images: (N, 1, H, W) tensor.

    Returns:
        (N, 1, H, W) float32 tensor in [0, 1] (``images`` itself when it already is one).
    """
    if not isinstance(images, torch.Tensor):
        raise FaceNetEduError(f"Images must be a (N, 1, H, W) tensor, got {type(images).__name__}; "
                              "for photographs (paths, Pillow images, arrays) use facenet_edu.embed_faces.")
    if images.ndim != 4 or images.shape[1] != 1:
        raise FaceNetEduError(f"The network takes greyscale batches (N, 1, H, W), got shape {tuple(images.shape)}.")
    if images.dtype == torch.uint8:
        return images.float() / 255
    if not images.is_floating_point():
        raise FaceNetEduError(f"Images of dtype {images.dtype} are not pixels; pass floats in [0, 1] or uint8 in 0..255.")
    if images.numel() == 0:
        return images.float()
    if not bool(torch.isfinite(images).all()):
        raise FaceNetEduError("The images contain NaN or infinite pixels; replace them (e.g. torch.nan_to_num) before embedding.")
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise FaceNetEduError(f"Pixels must lie in [0, 1], these lie in [{low:g}, {high:g}]; "
                              "divide 0..255 pixels by 255 (or pass them as uint8).")
    return images.float()


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, batch_size: int = 256, device: torch.device | str | None = None,
          train_mode: bool = False) -> torch.Tensor:
    """Embed images in batches, with no gradient, where the model lives: one forward pass per image, no triplets.

    The device contract (docs/architecture.md, "Devices"): the model runs on its own
    device; the images are moved there batch by batch; the embeddings come back on the
    CPU. So the same call works for a model on the CPU or a GPU, whatever device the
    images are on.

    Args:
        model: the embedding network, on any device.
        images: (N, 1, H, W) tensor on any device: floats in [0, 1] (float16, bfloat16 and
            float64 are converted to float32) or uint8 pixels 0..255 (divided by 255);
            NaN, infinity, values outside [0, 1] and other dtypes are refused (``check_images``).
        batch_size: images per forward pass.
        device: kept for older callers: None or the model's own device ("cuda" matches
            "cuda:0"). Another device is refused with a ``FaceNetEduError`` (move the model
            with ``model.to(device)`` instead); nothing is moved.
        train_mode: run in training mode, as ``train`` does: BatchNorm normalises each
            batch of ``batch_size`` images with that batch's own statistics. It runs on a
            copy of the model, so the model's running statistics are not changed. By
            default (False) the model runs in eval mode and is left in the mode it was in.

    Returns:
        (N, D) float32 CPU tensor of L2-normalised embeddings.

    Raises:
        FaceNetEduError: bad images (see above), or ``device`` disagrees with the model's device.
    """
    check_number("batch_size", batch_size, 1, integer=True)
    home = model_device(model)
    if device is not None:
        try:
            asked = torch.device(device)
        except (RuntimeError, TypeError, ValueError) as err:
            raise FaceNetEduError(f"Unknown device {device!r}; leave it unset: embed runs where the model is.") from err
        if asked.type != home.type or (asked.index is not None and asked.index != (home.index or 0)):
            raise FaceNetEduError(f"The model is on {home} but device={str(asked)!r} was asked; embed runs where the "
                                  f"model is: leave device unset, or move the model first (model.to({str(asked)!r})).")
    images = check_images(images)
    net = copy.deepcopy(model).train() if train_mode else model
    was_training = net.training
    if not train_mode:
        net.eval()
    try:
        out = []
        for i in range(0, images.shape[0], batch_size):
            embeddings = net(images[i : i + batch_size].to(home))  # (b, D) on the model's device
            if embeddings.is_meta:
                raise FaceNetEduError("The model's weights are on the meta device (not loaded); load a checkpoint "
                                      "or build the model on a real device before embedding.")
            out.append(embeddings.float().cpu())
    finally:
        net.train(was_training)
    if not out:
        return torch.empty(0, getattr(getattr(model, "config", None), "embedding_dim", 0))
    return torch.cat(out)


def model_fingerprint(model: nn.Module) -> str:
    """A short hash of a model's config and weights: equal for the same network, different after any change.

    A gallery stores the fingerprint of the model that embedded it, so embeddings from
    another model (whose distances would mean nothing) are refused.

    Args:
        model: an ``EmbeddingNet`` (any module works; its ``config``, if any, is included).

    Returns:
        16 hexadecimal characters (the start of a SHA-256).
    """
    digest = hashlib.sha256()
    config = getattr(model, "config", None)
    settings = config.to_dict() if config is not None else {}
    if settings.get("crop") == "box":  # as before crops had a name: older models keep their fingerprint, galleries still open
        del settings["crop"]
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]
