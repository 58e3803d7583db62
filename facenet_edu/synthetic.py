"""Synthetic greyscale faces: the embedded default dataset, made offline in about a second.

Each identity is a fixed set of shape and tone parameters (face outline, eye spacing
and size, brows, nose, mouth, hairline, skin and hair tones). Each image of that
identity adds nuisance that a face recogniser must learn to ignore: a shift, a small
rotation and scale, the direction of the light, an expression (smile, raised brows,
half-closed eyes), sometimes glasses or a hat, a background and pixel noise.

Everything is drawn with smooth masks on a coordinate grid, for all images at once,
so 1,000 images of 64x64 take about a second on a CPU.
"""

import math

import torch

# Identity parameters: name -> (low, high) of a uniform draw, in face coordinates
# where the face is centred at the origin and the image spans [-1, 1].
IDENTITY_RANGES = {
    "face_w": (0.50, 0.72),      # half-width of the face ellipse
    "face_h": (0.66, 0.86),      # half-height of the face ellipse
    "jaw": (0.0, 0.35),          # how much the chin narrows
    "skin": (0.45, 0.85),        # skin tone
    "hair": (0.0, 0.45),         # hair tone
    "hairline": (-0.62, -0.22),  # y of the hairline (negative is up)
    "hair_volume": (0.0, 0.18),  # hair beyond the face outline
    "eye_dx": (0.17, 0.32),      # half the distance between the eyes
    "eye_y": (-0.22, -0.02),
    "eye_w": (0.06, 0.12),
    "eye_h": (0.035, 0.07),
    "iris": (0.0, 0.35),         # iris tone
    "brow_dy": (0.09, 0.17),     # brow height above the eye
    "brow_tilt": (-0.35, 0.35),  # radians; positive lifts the outer end
    "brow_thick": (0.015, 0.04),
    "brow_tone": (0.0, 0.4),
    "nose_len": (0.12, 0.30),
    "nose_w": (0.035, 0.09),
    "mouth_y": (0.28, 0.50),
    "mouth_w": (0.12, 0.26),
    "mouth_thick": (0.018, 0.045),
    "lip": (0.15, 0.45),         # lip tone
    "mole_x": (-0.4, 0.4),       # a small mark: present for some identities
    "mole_y": (-0.1, 0.5),
    "mole_on": (0.0, 1.0),
}


def _identity_params(num_identities: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Draw each identity parameter uniformly in its range. Returns name -> (num_identities,)."""
    params = {}
    for name, (low, high) in IDENTITY_RANGES.items():
        params[name] = low + (high - low) * torch.rand(num_identities, generator=generator)
    params["mole_on"] = (params["mole_on"] < 0.35).float()
    return params


def _ellipse(x: torch.Tensor, y: torch.Tensor, cx, cy, rx, ry, sharp: float = 40.0) -> torch.Tensor:
    """Soft mask (values in [0, 1]) of an axis-aligned ellipse. x, y: (N, H, W); the rest broadcast as (N, 1, 1)."""
    r = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
    return torch.sigmoid(sharp * (1.0 - r))


def _col(t: torch.Tensor) -> torch.Tensor:
    """(N,) -> (N, 1, 1) so a per-image value broadcasts over the pixel grid."""
    return t.view(-1, 1, 1)


def make_synthetic_faces(
    num_identities: int = 40,
    images_per_identity: int = 10,
    image_size: int = 64,
    seed: int = 0,
    difficulty: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate greyscale synthetic faces, deterministically under ``seed``.

    Long (about 120 lines) on purpose: it draws one part after another (pose, background,
    hair, face, eyes, brows, nose, mouth, glasses, light, noise) in the order a reader follows, and every
    part shares the same per-image pose arrays; split into helpers, those arrays would
    be passed around a dozen times.

    Args:
        num_identities: how many different people.
        images_per_identity: images drawn for each person.
        image_size: height and width in pixels (square images).
        seed: the same seed gives the same images, bit for bit, on the CPU.
        difficulty: scales every nuisance (pose, light, expression, noise); 0 gives
            one identical image per person, 1 is the default used in the course.

    Returns:
        images: (N, 1, image_size, image_size) float tensor in [0, 1], with
            N = num_identities * images_per_identity, grouped by identity.
        labels: (N,) long tensor, identity index of each image.
    """
    if num_identities < 1 or images_per_identity < 1:
        raise ValueError("num_identities and images_per_identity must both be at least 1")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}")
    g = torch.Generator().manual_seed(seed)
    ident = _identity_params(num_identities, g)
    labels = torch.arange(num_identities).repeat_interleave(images_per_identity)
    n = labels.numel()
    p = {k: _col(v[labels]) for k, v in ident.items()}  # each (N, 1, 1)

    def nuisance(scale: float) -> torch.Tensor:
        return _col((torch.rand(n, generator=g) * 2 - 1) * scale * difficulty)

    # Pose: shift, rotation and scale applied to the sampling grid.
    shift_x, shift_y = nuisance(0.10), nuisance(0.10)
    angle = nuisance(math.radians(12))
    zoom = 0.85 * (1.0 + nuisance(0.10))  # 0.85: the face fills most of the frame
    lin = torch.linspace(-1, 1, image_size)
    gy, gx = torch.meshgrid(lin, lin, indexing="ij")  # (H, W)
    gx, gy = gx.unsqueeze(0), gy.unsqueeze(0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    x = (cos * (gx - shift_x) + sin * (gy - shift_y)) * zoom  # (N, H, W) in face coordinates
    y = (-sin * (gx - shift_x) + cos * (gy - shift_y)) * zoom

    # Expression: smile curvature, brow raise, eye openness.
    smile = nuisance(1.0)
    brow_raise = nuisance(0.05)
    eye_open = (1.0 + nuisance(0.45)).clamp(0.25, 1.5)

    # Background: a tone and a gradient, independent of identity.
    bg_tone = 0.5 + nuisance(0.3)
    bg_dir = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
    img = bg_tone + 0.15 * difficulty * (torch.cos(bg_dir) * gx + torch.sin(bg_dir) * gy)

    # Hair: a larger ellipse behind the face, kept above the hairline on the face.
    hair_mask = _ellipse(x, y, 0.0, -0.08, p["face_w"] + p["hair_volume"], p["face_h"] + p["hair_volume"])
    hair_mask = hair_mask * torch.sigmoid(30 * (p["hairline"] + 0.25 - y))
    img = img * (1 - hair_mask) + p["hair"] * hair_mask

    # Face: an ellipse whose lower half narrows towards the chin.
    narrow = 1.0 - p["jaw"] * torch.clamp(y, min=0) / p["face_h"]
    face = _ellipse(x / narrow.clamp(min=0.3), y, 0.0, 0.0, p["face_w"], p["face_h"])
    face = face * torch.sigmoid(30 * (y - p["hairline"]))  # hair covers the forehead above the hairline
    img = img * (1 - face) + p["skin"] * face

    def paint(mask: torch.Tensor, tone: torch.Tensor | float) -> None:
        nonlocal img
        img = img * (1 - mask) + tone * mask

    for side in (-1.0, 1.0):
        ex = side * p["eye_dx"]
        eye = _ellipse(x, y, ex, p["eye_y"], p["eye_w"], p["eye_h"] * eye_open)
        paint(eye, 0.95)
        paint(eye * _ellipse(x, y, ex, p["eye_y"], p["eye_h"] * 0.9, p["eye_h"] * 0.9), p["iris"])
        # Brow: a thin ellipse rotated by the tilt (mirrored on the two sides).
        by = p["eye_y"] - p["brow_dy"] - brow_raise
        t = side * p["brow_tilt"]
        bx_, by_ = x - ex, y - by
        u = torch.cos(t) * bx_ + torch.sin(t) * by_
        v = -torch.sin(t) * bx_ + torch.cos(t) * by_
        paint(_ellipse(u, v, 0.0, 0.0, p["eye_w"] * 1.3, p["brow_thick"]), p["brow_tone"])

    # Nose: a darker vertical ellipse with a shadow on the side away from the light.
    nose_cy = p["eye_y"] + 0.05 + p["nose_len"] / 2
    paint(0.5 * _ellipse(x, y, 0.0, nose_cy, p["nose_w"], p["nose_len"] / 2), p["skin"] * 0.7)
    paint(_ellipse(x, y, 0.0, nose_cy + p["nose_len"] / 2, p["nose_w"] * 1.2, 0.025), p["skin"] * 0.45)

    # Mouth: a parabola-bent band; smile bends its ends up or down.
    my = p["mouth_y"] + 0.25 * smile * (x / p["mouth_w"]) ** 2 * p["mouth_w"]
    mouth = torch.sigmoid(40 * (1 - (x / p["mouth_w"]) ** 2)) * torch.sigmoid(
        40 * (1 - ((y - my) / p["mouth_thick"]) ** 2)
    )
    paint(mouth, p["lip"])
    paint(p["mole_on"] * _ellipse(x, y, p["mole_x"] * p["face_w"], p["mole_y"], 0.025, 0.025), 0.1)

    # Occlusions: glasses for about a quarter of the images, a hat brim for about a tenth.
    glasses = _col((torch.rand(n, generator=g) < 0.25 * difficulty).float())
    for side in (-1.0, 1.0):
        ex = side * p["eye_dx"]
        ring = _ellipse(x, y, ex, p["eye_y"], p["eye_w"] * 1.6, p["eye_h"] * 2.4) - _ellipse(
            x, y, ex, p["eye_y"], p["eye_w"] * 1.35, p["eye_h"] * 2.0
        )
        paint(glasses * ring.clamp(min=0), 0.05)
    bridge = _ellipse(x, y, 0.0, p["eye_y"], p["eye_dx"] - p["eye_w"] * 1.35, 0.012)
    paint(glasses * bridge, 0.05)
    hat = _col((torch.rand(n, generator=g) < 0.10 * difficulty).float())
    hat_tone = _col(torch.rand(n, generator=g) * 0.3)
    paint(hat * torch.sigmoid(30 * (p["hairline"] - 0.05 - y)), hat_tone)

    # Light: a directional gradient multiplied on the picture, then contrast and noise.
    light_dir = torch.rand(n, 1, 1, generator=g) * 2 * math.pi
    light = 1.0 + 0.35 * difficulty * (torch.cos(light_dir) * gx + torch.sin(light_dir) * gy)
    img = img * light
    contrast = 1.0 + nuisance(0.25)
    img = (img - 0.5) * contrast + 0.5 + nuisance(0.08)
    noise_std = (0.02 + 0.03 * torch.rand(n, 1, 1, generator=g)) * difficulty
    img = img + noise_std * torch.randn(img.shape, generator=g)
    return img.clamp(0.0, 1.0).unsqueeze(1), labels
