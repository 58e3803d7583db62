"""Augmentation for greyscale faces, on batched tensors: flip, small affine, brightness, contrast, gamma."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """How strong each augmentation is; ``AugmentConfig.none()`` turns them all off."""

    flip: bool = True
    max_rotation_deg: float = 10.0
    max_shift: float = 0.06      # fraction of the image size
    max_scale: float = 0.08      # zoom in or out by up to this fraction
    brightness: float = 0.15     # added, up to +-
    contrast: float = 0.2        # multiplied around the mean, 1 +- this
    gamma: float = 0.25          # exponent exp(+-this)

    @classmethod
    def none(cls) -> "AugmentConfig":
        return cls(False, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def augment(images: torch.Tensor, generator: torch.Generator, config: AugmentConfig | None = None) -> torch.Tensor:
    """Randomly flip, rotate, shift, scale and relight a batch of images.

    Args:
        images: (B, 1, H, W) float tensor in [0, 1], on any device.
        generator: a CPU ``torch.Generator``; the random draws are made on the CPU
            so the same seed gives the same augmentation on the CPU and the GPU.
        config: strengths; defaults to ``AugmentConfig()``.

    Returns:
        (B, 1, H, W) tensor in [0, 1], on the device of ``images``.
    """
    cfg = config or AugmentConfig()
    b = images.shape[0]

    def uniform(scale: float) -> torch.Tensor:
        return ((torch.rand(b, generator=generator) * 2 - 1) * scale).to(images.device)

    angle = uniform(math.radians(cfg.max_rotation_deg))
    scale = 1.0 + uniform(cfg.max_scale)
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0).to(images.device) if cfg.flip else torch.ones(b, device=images.device)
    tx, ty = uniform(2 * cfg.max_shift), uniform(2 * cfg.max_shift)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * (1 + uniform(cfg.contrast)).view(b, 1, 1, 1) + mean + uniform(cfg.brightness).view(b, 1, 1, 1)
    out = out.clamp(0.0, 1.0) ** torch.exp(uniform(cfg.gamma)).view(b, 1, 1, 1)
    return out.clamp(0.0, 1.0)
