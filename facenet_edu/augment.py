"""Augmentation for greyscale faces, on batched tensors: flip, small affine, brightness, contrast, gamma."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .runtime import to_device


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
        generator: a CPU ``torch.Generator``; the random draws are made on the CPU (one
            draw per batch) so the same seed gives the same augmentation on the CPU and the GPU.
        config: strengths; defaults to ``AugmentConfig()``.

    Returns:
        (B, 1, H, W) tensor in [0, 1], on the device of ``images``.
    """
    cfg = config or AugmentConfig()
    b = images.shape[0]
    # Every random number of the batch in one draw from the CPU generator, then one copy to the
    # images' device (not one per quantity): rows angle, scale, [flip], tx, ty, contrast, brightness,
    # gamma, in the order the draws were always made, so a seed gives the same augmentation as before.
    draws = torch.rand(8 if cfg.flip else 7, b, generator=generator)  # (7 or 8, B)
    rows = iter(draws)

    def uniform(scale: float) -> torch.Tensor:
        return (next(rows) * 2 - 1) * scale  # (B,)

    angle = uniform(math.radians(cfg.max_rotation_deg))
    scale = 1.0 + uniform(cfg.max_scale)
    flip = torch.where(next(rows) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(b)
    tx, ty = uniform(2 * cfg.max_shift), uniform(2 * cfg.max_shift)
    contrast, brightness, gamma = 1 + uniform(cfg.contrast), uniform(cfg.brightness), torch.exp(uniform(cfg.gamma))
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)  # (B, 2, 3)
    params = to_device(torch.cat([theta.reshape(b, 6), torch.stack([contrast, brightness, gamma], 1)], 1), images.device)
    theta, light = params[:, :6].reshape(b, 2, 3), params[:, 6:].T  # (B, 2, 3), (3, B): one copy to the device
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * light[0].view(b, 1, 1, 1) + mean + light[1].view(b, 1, 1, 1)
    out = out.clamp(0.0, 1.0) ** light[2].view(b, 1, 1, 1)
    return out.clamp(0.0, 1.0)
