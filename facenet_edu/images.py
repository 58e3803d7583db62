"""Reading any image Pillow understands, or an array, as one greyscale array in [0, 1]."""

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import FaceNetEduError

ImageLike = str | Path | np.ndarray | torch.Tensor | Image.Image


def pil_to_grey(image: Image.Image) -> np.ndarray:
    """Convert a Pillow image of any mode to a (H, W) float32 array in [0, 1].

    EXIF rotation is applied; 16-bit greyscale (PNG, PGM) is divided by 65535 and
    32-bit greyscale is scaled by a guess at its bit depth; transparent pixels
    (RGBA, LA, palette with transparency) are composited on white; CMYK, palette,
    RGB and bilevel images go through Pillow's "L" mode.
    """
    source_format = image.format
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode.startswith("I;16") or (mode == "I" and source_format == "PPM"):
        # Pillow opens 16-bit PGM/PPM as "I" already scaled to 0..65535, whatever maxval the file had
        return np.asarray(image, dtype=np.float32) / 65535.0
    if mode in ("I", "F"):
        arr = np.asarray(image, dtype=np.float32)
        top = arr.max() if arr.size else 1.0
        scale = 1.0 if top <= 1.0 else 255.0 if top <= 255 else 65535.0
        return np.clip(arr / scale, 0.0, 1.0)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def array_to_grey(array: np.ndarray | torch.Tensor) -> np.ndarray:
    """Convert an array (H, W), (H, W, C) or (C, H, W) with C in {1, 3, 4} to (H, W) float32 in [0, 1].

    Integer arrays are scaled by their type's range (uint8 by 255, uint16 by 65535);
    float arrays must already lie in [0, 1].
    """
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    arr = np.asarray(array)
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # (C, H, W) -> (H, W, C)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = arr[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's "L"
    if arr.ndim != 2 or min(arr.shape) == 0:
        raise FaceNetEduError(f"Expected an image array of shape (H, W) or (H, W, 3), got shape {np.shape(array)}.")
    if np.issubdtype(np.asarray(array).dtype, np.integer):
        arr = arr / float(np.iinfo(np.asarray(array).dtype).max)
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise FaceNetEduError("The image array contains NaN or infinite values; clean it before embedding.")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise FaceNetEduError(
            f"Float image arrays must lie in [0, 1] (got values from {arr.min():.3g} to {arr.max():.3g}); "
            "divide 8-bit images by 255."
        )
    return arr


def read_image(image: ImageLike) -> np.ndarray:
    """Read a file path, Pillow image or array as a (H, W) float32 greyscale array in [0, 1].

    Raises:
        FaceNetEduError: the file is missing, is not an image, or is damaged.
    """
    if isinstance(image, Image.Image):
        return pil_to_grey(image)
    if isinstance(image, (np.ndarray, torch.Tensor)):
        return array_to_grey(image)
    path = Path(image)
    if not path.is_file():
        raise FaceNetEduError(f"{path}: no such file. Check the path.")
    try:
        with Image.open(path) as opened:
            opened.load()
            return pil_to_grey(opened)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise FaceNetEduError(f"{path}: cannot be read as an image ({err}). Use a JPEG, PNG, PGM or similar file.") from err
