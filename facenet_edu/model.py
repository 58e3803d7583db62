"""The embedding network: a small CNN for greyscale faces whose output lies on the unit hypersphere."""

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


@torch.no_grad()
def embed(model: nn.Module, images: torch.Tensor, batch_size: int = 256, device: torch.device | str | None = None) -> torch.Tensor:
    """Embed images in eval mode, in batches, with no gradient: one forward pass per image, no triplets.

    Args:
        images: (N, 1, H, W) float tensor in [0, 1].
        device: where to run; defaults to the model's device.

    Returns:
        (N, D) CPU tensor of L2-normalised embeddings.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        out = [model(images[i : i + batch_size].to(device)).cpu() for i in range(0, images.shape[0], batch_size)]
    finally:
        model.train(was_training)
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
