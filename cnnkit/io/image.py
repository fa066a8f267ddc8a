"""Read and write PNG / JPEG images as NumPy arrays (Pillow, the ``image`` extra).

* :func:`read_image` returns ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB) arrays,
  uint8, or uint16 for 16-bit grayscale PNGs.
* :func:`write_image` writes uint8 / uint16 arrays, or float arrays by the rule of
  :func:`to_uint8`, atomically (a temporary file in the target's folder, then
  ``os.replace``): a failed write never leaves a partial file behind.

Errors name the path: ``FileNotFoundError`` for a missing file, ``ValueError``
for a file that is not an image, is truncated / corrupt, is a decompression bomb
(more pixels than Pillow's ``MAX_IMAGE_PIXELS``), a float image cnnkit cannot
represent, or not a regular file (a FIFO would block).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from .._optional import require
from .atomic import atomic_write
from .files import check_regular_file

__all__ = ["read_image", "write_image", "to_uint8", "to_mode", "rgb_to_gray", "WRITE_FORMATS"]

#: file extension -> Pillow format name for :func:`write_image`.
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _pil():
    return require("PIL.Image", extra="image", purpose="reading and writing images")


# ------------------------------------------------------------------ conversions
def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma, ``L = 0.299 R + 0.587 G + 0.114 B``, computed exactly as
    Pillow's ``convert("L")`` for uint8 (fixed point, rounded); float for other dtypes
    keeps the dtype (uint16 is rounded back to uint16)."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb_to_gray: expected an (H, W, 3) array, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
        return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)
    weights = np.array([0.299, 0.587, 0.114])
    gray = rgb @ weights
    if np.issubdtype(rgb.dtype, np.integer):
        return np.clip(np.rint(gray), 0, np.iinfo(rgb.dtype).max).astype(rgb.dtype)
    return gray.astype(rgb.dtype)


def to_mode(image: np.ndarray, mode: Optional[str]) -> np.ndarray:
    """Convert an ``(H, W)`` / ``(H, W, 3)`` array to ``mode``: ``None`` (as is),
    ``"L"`` (grayscale by :func:`rgb_to_gray`) or ``"RGB"`` (gray repeated 3 times)."""
    if mode is None:
        return image
    if mode == "L":
        return image if image.ndim == 2 else rgb_to_gray(image)
    if mode == "RGB":
        return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    raise ValueError(f"mode must be None, 'L' or 'RGB', got {mode!r}")


# ------------------------------------------------------------------------ read
def read_image(path, mode: Optional[str] = None) -> np.ndarray:
    """Read a PNG or JPEG (any format Pillow opens) as a NumPy array.

    Args:
        path: file path.
        mode: ``None`` keeps the file's kind: grayscale ``(H, W)`` (modes L, 1, LA,
            16-bit I;16) or RGB ``(H, W, 3)`` (RGB, RGBA, P, CMYK, ...; an alpha
            channel is dropped); ``"L"`` forces grayscale, ``"RGB"`` colour.

    Returns:
        uint8 array; uint16 for 16-bit grayscale PNGs (16-bit colour PNGs are
        reduced to 8 bits by Pillow). The EXIF orientation of photos is applied,
        as ``cv2.imread`` does.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a folder.
        ValueError: ``path`` is not an image, truncated / corrupt, too large
            (a decompression bomb), a float image outside 0..65535, or a FIFO / device.
        MissingDependency: Pillow is missing (``pip install -e ".[image]"``).
    """
    if mode not in (None, "L", "RGB"):
        raise ValueError(f"mode must be None, 'L' or 'RGB', got {mode!r}")
    Image = _pil()
    from PIL import ImageOps, UnidentifiedImageError

    path = check_regular_file(path, "image file")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that: refuse those too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
    except PermissionError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"{path} is too large to decode safely (more than Pillow's MAX_IMAGE_PIXELS = "
                         f"{Image.MAX_IMAGE_PIXELS} pixels; a decompression bomb?): {exc}") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path} is not an image Pillow can read (expected PNG or JPEG)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"{path} is truncated or corrupt and cannot be decoded: {exc}") from exc
    return to_mode(_pil_to_array(img, path), mode)


def _pil_to_array(img, path: Path) -> np.ndarray:
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(img).astype(np.uint16)
    if img.mode in ("I", "F"):
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535 or (img.mode == "F" and np.any(arr != np.rint(arr)))):
            kind = "32-bit float" if img.mode == "F" else "32-bit integer"
            raise ValueError(f"{path}: {kind} images (Pillow mode {img.mode}, e.g. a float TIFF) with values "
                             f"outside the integers 0..65535 are not supported (values {arr.min():g}..{arr.max():g}); "
                             f"cnnkit reads 8- and 16-bit images")
        return arr.astype(np.uint16)
    if img.mode in ("L", "1", "LA", "La"):
        return np.asarray(img.convert("L"))
    return np.asarray(img.convert("RGB"))


# ----------------------------------------------------------------------- write
def to_uint8(array: np.ndarray, value_range: str = "auto") -> np.ndarray:
    """The rule by which :func:`write_image` turns non-uint8 arrays into bytes.

    * uint8: unchanged. bool: False -> 0, True -> 255.
    * other integer types: must lie in ``[0, 255]``.
    * float (``value_range``): ``"unit"`` = values in ``[0, 1]``, scaled by 255;
      ``"byte"`` = values in ``[0, 255]``; ``"auto"`` picks ``"unit"`` when every
      value lies in ``[0, 1]`` and ``"byte"`` otherwise. Then rounded to nearest.
      Values outside the range or NaN raise ``ValueError`` (clip or normalise
      first: :func:`cnnkit.filtering.clip`, :func:`cnnkit.filtering.normalize`).
    """
    a = np.asarray(array)
    if value_range not in ("auto", "unit", "byte"):
        raise ValueError(f"value_range must be 'auto', 'unit' or 'byte', got {value_range!r}")
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"integer image values must lie in [0, 255] to be written as 8-bit, "
                             f"got range [{a.min()}, {a.max()}]")
        return a.astype(np.uint8)
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"image must be uint8, uint16, bool, integer or float, got dtype {a.dtype}")
    if np.isnan(a).any():
        raise ValueError("image contains NaN; cannot write it")
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if value_range == "auto":
        value_range = "unit" if lo >= 0 and hi <= 1 else "byte"
    top = 1.0 if value_range == "unit" else 255.0
    if lo < 0 or hi > top:
        raise ValueError(
            f"float image values must lie in [0, {top:g}] (value_range={value_range!r}), got [{lo:g}, {hi:g}]; "
            f"clip or normalise first"
        )
    return np.rint(a * (255.0 / top)).astype(np.uint8)


def write_image(path, array, *, value_range: str = "auto", quality: int = 95) -> Path:
    """Write ``array`` ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` as PNG or JPEG
    (chosen by the extension: ``.png``, ``.jpg``, ``.jpeg``), atomically.

    uint16 arrays are written as 16-bit grayscale PNG (``(H, W)`` only); all
    other dtypes are converted to uint8 by :func:`to_uint8` (``value_range``).
    ``quality`` is the JPEG quality (1-95). Returns the path written.

    The file is written to a temporary file in the same folder, flushed, and
    moved over ``path`` with ``os.replace``; on any error the temporary file is
    removed and an existing file at ``path`` is left untouched.
    """
    Image = _pil()
    path = Path(path)
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot tell the image format of {path}: use one of {', '.join(WRITE_FORMATS)}")
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.size == 0:
        raise ValueError(f"image to write to {path} must have shape (H, W), (H, W, 1) or (H, W, 3), got {a.shape}")
    if a.dtype == np.uint16:
        if fmt != "PNG" or a.ndim != 2:
            raise ValueError(f"uint16 images can only be written as grayscale PNG (writing {path}, shape {a.shape})")
        img = Image.fromarray(np.ascontiguousarray(a))
    else:
        img = Image.fromarray(np.ascontiguousarray(to_uint8(a, value_range)))
    options = {"quality": int(quality)} if fmt == "JPEG" else {}
    with atomic_write(path, "image") as handle:
        img.save(handle, format=fmt, **options)
    return path
