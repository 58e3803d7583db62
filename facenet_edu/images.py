"""Reading any image Pillow understands, or an array, as one greyscale array in [0, 1].

Limits: an image may have at most ``MAX_IMAGE_PIXELS`` pixels (50 megapixels, more
than any phone photograph) and sides of at least ``MIN_IMAGE_SIDE`` pixels. A file
above the limit is refused from its header, before it is decoded, so a small file that
claims a huge picture (a "decompression bomb") never takes the memory it asks for.
Both limits raise ``FaceNetEduError``, so a dataset folder skips such files like any
other unreadable one.

Pixel values, one rule wherever an image enters (a file or an array): integer pixels
are scaled by their type's range (8-bit by 255, 16-bit by 65535); FLOAT pixels (a float
TIFF, Pillow mode "F", a float array) must be finite and lie in [0, 1] already. A
float image with NaN or infinite pixels, or with values outside [0, 1] (such as 0..255),
is refused rather than guessed at: one bright ``inf`` pixel would otherwise rescale or
clip the whole face and change the verdict.
"""

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import FaceNetEduError

ImageLike = str | Path | np.ndarray | torch.Tensor | Image.Image
MAX_IMAGE_PIXELS = 50_000_000   # 50 megapixels: any real photograph; a 13000 x 13000 picture is refused
MIN_IMAGE_SIDE = 8              # smaller images hold no face the detector (30 px) or the network (32 px) can use


def check_image_size(height: int, width: int, where: str = "The image") -> None:
    """Raise unless an image of ``height`` x ``width`` pixels is within ``MIN_IMAGE_SIDE`` and ``MAX_IMAGE_PIXELS``."""
    if height * width > MAX_IMAGE_PIXELS:
        raise FaceNetEduError(
            f"{where} is {width} x {height} pixels ({height * width / 1e6:.0f} megapixels), above the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; shrink it first (a face needs only a few hundred pixels)."
        )
    if min(height, width) < MIN_IMAGE_SIDE:
        raise FaceNetEduError(
            f"{where} is only {width} x {height} pixels; a face needs at least {MIN_IMAGE_SIDE} pixels a side "
            "(the network looks at 32 x 32 or more). Use a larger image."
        )


def check_float_pixels(arr: np.ndarray, where: str = "The image") -> np.ndarray:
    """Return float pixels ``arr`` as float32 if all are finite and in [0, 1], else raise (the module's float rule).

    Args:
        arr: (H, W) float array.
        where: the image, for the message (a file name, or "The image array").
    """
    arr = np.asarray(arr, dtype=np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        raise FaceNetEduError(f"{where} has {int((~finite).sum())} NaN or infinite pixel(s); a face image needs finite "
                              "pixel values. Clean or re-export the image.")
    if arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise FaceNetEduError(
            f"{where} has float pixels from {arr.min():.3g} to {arr.max():.3g}; float images must lie in [0, 1] "
            "(divide 8-bit values by 255), or save the image as 8- or 16-bit integers."
        )
    return arr


def pil_to_grey(image: Image.Image, where: str = "The image") -> np.ndarray:
    """Convert a Pillow image of any mode to a (H, W) float32 array in [0, 1].

    EXIF rotation is applied; 16-bit greyscale (PNG, PGM) is divided by 65535 and
    32-bit integer greyscale is scaled by a guess at its bit depth; float greyscale
    (mode "F", such as a float TIFF) must be finite and in [0, 1] (``check_float_pixels``,
    ``where`` names the image in the message); transparent pixels
    (RGBA, LA, palette with transparency) are composited on white; CMYK, palette,
    RGB and bilevel images go through Pillow's "L" mode.
    """
    source_format = image.format
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode.startswith("I;16") or (mode == "I" and source_format == "PPM"):
        # Pillow opens 16-bit PGM/PPM as "I" already scaled to 0..65535, whatever maxval the file had
        return np.asarray(image, dtype=np.float32) / 65535.0
    if mode == "F":  # float pixels: the float rule, no guessing from the content
        return check_float_pixels(np.asarray(image, dtype=np.float32), where)
    if mode == "I":
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
    float arrays must be finite and already lie in [0, 1] (``check_float_pixels``).
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
    return check_float_pixels(arr, "The image array")


def read_image(image: ImageLike) -> np.ndarray:
    """Read a file path, Pillow image or array as a (H, W) float32 greyscale array in [0, 1].

    Raises:
        FaceNetEduError: the file is missing, is a folder, is not an image, is damaged,
            is outside the size limits (``check_image_size``), or has float pixels that
            are not finite or not in [0, 1] (``check_float_pixels``).
    """
    if isinstance(image, Image.Image):
        check_image_size(image.height, image.width)
        return pil_to_grey(image)
    if isinstance(image, (np.ndarray, torch.Tensor)):
        grey = array_to_grey(image)
        check_image_size(*grey.shape)
        return grey
    path = Path(image)
    if path.is_dir():
        raise FaceNetEduError(f"{path} is a folder, not an image; give an image file.")
    if not path.is_file():
        raise FaceNetEduError(f"{path}: no such file. Check the path.")
    try:
        with warnings.catch_warnings():  # Pillow warns above 89 megapixels; such files are refused below anyway
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:  # reads the header only
                check_image_size(opened.height, opened.width, str(path))
                opened.load()
                return pil_to_grey(opened, str(path))
    except Image.DecompressionBombError as err:  # Pillow refuses above 179 megapixels before we see the size
        raise FaceNetEduError(f"{path} claims a picture above the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
                              f"({err}); shrink it first.") from err
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise FaceNetEduError(f"{path}: cannot be read as an image ({err}). Use a JPEG, PNG, PGM or similar file.") from err
