"""2-D filtering of grayscale and colour images with a kernel (``cv2.filter2D``,
``scipy.ndimage.correlate``), with the five classic border rules, the separable
fast path, and the display helpers.

Definition (``mode="correlate"``, anchor ``a = (kh // 2, kw // 2)`` as in scipy
and OpenCV, also for even-sized kernels)::

    out[y, x, c] = sum_{i < kh, j < kw} K[i, j] * img~[y + i - a_y, x + j - a_x, c]

``mode="convolve"`` is the same sum with ``K`` turned 180 degrees and the anchor
mirrored to ``(kh - 1 - a_y, kw - 1 - a_x)``, which is exactly
``scipy.ndimage.convolve``: ``out[y, x] = sum K[i, j] * img~[y - i + a_y, x - j + a_x]``.

``img~`` is the image extended beyond its edges by ``border`` (pattern for a row
``a b c d``; the same rule, repeated periodically, also holds for borders wider
than the image, exactly as scipy does):

============  ====================  ==================  =======================  ==============  =======================
border        extension             scipy.ndimage mode  OpenCV                   ``np.pad`` mode  :func:`window.pad` mode
============  ====================  ==================  =======================  ==============  =======================
zero          ``0 0 | a b c d | 0`` ``constant``, 0     ``BORDER_CONSTANT``, 0   ``constant``    ``constant``
reflect       ``b a | a b c d | d`` ``reflect``         ``BORDER_REFLECT``       ``symmetric``   ``symmetric``
reflect101    ``c b | a b c d | c`` ``mirror``          ``BORDER_REFLECT_101``   ``reflect``     ``reflect`` (PyTorch's)
replicate     ``a a | a b c d | d`` ``nearest``         ``BORDER_REPLICATE``     ``edge``        ``replicate``
wrap          ``c d | a b c d | a`` ``wrap``            ``BORDER_WRAP``          ``wrap``        ``circular``
============  ====================  ==================  =======================  ==============  =======================

The filter names are scipy's and OpenCV's (so ``"reflect"`` here is *not*
PyTorch's reflect, which is ``"reflect101"``); every border is one mode of
:func:`cnnkit._core.window.pad`, cnnkit's one padding function (:data:`PAD_MODES`).

(One exception: ``scipy.ndimage.correlate``/``convolve`` in ``"reflect"`` mode stop
being periodic once a border is 4 or more times the image side, e.g. a 16-tall
kernel on a 2-row image; scipy's own ``correlate1d``, ``np.pad`` and OpenCV agree
with each other and with us there.)

Our default is ``"zero"`` (a CNN layer's ``padding="same"``); OpenCV's default
is ``BORDER_REFLECT_101`` = ``"reflect101"``, scipy's ``"reflect"``.

Implementation: the image is processed in bands of rows. Each band is copied,
with its border rows and columns, into a small padded float buffer; the output
band is then accumulated from shifted slices of that buffer, one ``multiply`` +
``add`` per non-zero kernel weight (the same loop over kernel offsets as the
convolution core), or, on the separable path, from ``kh`` vertical then ``kw``
horizontal shifted slices. Scratch memory is a few bands, so an 8000 x 8000 x 3
image needs its output array and a few MB more.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np

from ._core.window import pad, pad_index
from ._validate import check_int
from .kernels import as_kernel, separate

__all__ = [
    "BORDERS", "SCIPY_MODES", "NUMPY_PAD_MODES", "OPENCV_BORDERS", "PAD_MODES", "filter2d", "border_indices", "pad_image",
    "clip", "normalize", "display_rule", "to_display",
]

Border = Literal["zero", "reflect", "replicate", "wrap", "reflect101"]
BORDERS: tuple[str, ...] = ("zero", "reflect", "replicate", "wrap", "reflect101")
#: border -> ``scipy.ndimage`` ``mode`` (with ``cval=0`` for ``constant``).
SCIPY_MODES = {"zero": "constant", "reflect": "reflect", "reflect101": "mirror", "replicate": "nearest", "wrap": "wrap"}
#: border -> ``np.pad`` ``mode``.
NUMPY_PAD_MODES = {"zero": "constant", "reflect": "symmetric", "reflect101": "reflect", "replicate": "edge",
                   "wrap": "wrap"}
#: border -> mode of :func:`cnnkit._core.window.pad` (the one padding function).
PAD_MODES = {"zero": "constant", "reflect": "symmetric", "reflect101": "reflect", "replicate": "replicate",
             "wrap": "circular"}
#: border -> name of the OpenCV border constant.
OPENCV_BORDERS = {"zero": "BORDER_CONSTANT", "reflect": "BORDER_REFLECT", "reflect101": "BORDER_REFLECT_101",
                  "replicate": "BORDER_REPLICATE", "wrap": "BORDER_WRAP"}
MODES = ("correlate", "convolve")

#: target number of output elements per band (fits the band, its buffer and a
#: temporary in a core's L2 cache).
BAND_ELEMENTS = 1 << 16


# ------------------------------------------------------------------- borders
def border_indices(index: np.ndarray, size: int, border: str) -> np.ndarray:
    """Map (possibly out-of-range) indices along an axis of length ``size`` to
    the source index that ``border`` reads there; ``-1`` means "zero" (only for
    ``border="zero"``). Periodic, so any distance from the edge works:
    ``reflect`` has period ``2 size``, ``reflect101`` period ``2 (size - 1)``
    (a single pixel is repeated), ``wrap`` period ``size``. It is
    :func:`cnnkit._core.window.pad_index` of the border's :data:`PAD_MODES` mode."""
    return pad_index(index, size, PAD_MODES[_check_border(border)])


def _check_border(border) -> str:
    if border not in BORDERS:
        raise ValueError(f"border must be one of {', '.join(map(repr, BORDERS))}, got {border!r}")
    return border


def pad_image(image: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], border: str = "reflect") -> np.ndarray:
    """Extend the two leading (spatial) axes of ``image`` ``(H, W, ...)`` by
    ``pads = ((top, bottom), (left, right))`` with ``border``; equal to
    ``np.pad(image, pads, mode=NUMPY_PAD_MODES[border])`` (it is :func:`cnnkit._core.window.pad`)."""
    border = _check_border(border)
    image = np.asarray(image)
    if image.ndim < 2:
        raise ValueError(f"pad_image: image must have shape (H, W, ...), got {image.shape}")
    return pad(image, tuple(pads) + ((0, 0),) * (image.ndim - 2), PAD_MODES[border])


# ------------------------------------------------------------------- checks
def _compute_dtype(dtype: np.dtype, name: str = "image") -> np.dtype:
    if dtype == np.float64:
        return np.dtype(np.float64)
    if dtype in (np.float32, np.float16):
        return np.dtype(np.float32)
    if np.issubdtype(dtype, np.integer) and dtype != np.bool_:
        return np.dtype(np.float32) if dtype.itemsize <= 2 else np.dtype(np.float64)
    raise TypeError(
        f"{name} must be uint8, uint16 (or another integer type) or float, got dtype {dtype}"
    )


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        image = np.asarray(image)
    if image.dtype == object:
        raise TypeError("image must be a numeric array (H, W) or (H, W, C)")
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"image must not be empty, got shape {image.shape}")
    return image


# ------------------------------------------------------------------ the core
class _Plan:
    """Everything one band needs: weights in the compute dtype, the anchor and,
    on the separable path, the two 1-D factors."""

    def __init__(self, kernel: np.ndarray, anchor: tuple[int, int], dtype: np.dtype,
                 factors: tuple[np.ndarray, np.ndarray] | None):
        self.kh, self.kw = kernel.shape
        self.top, self.left = anchor
        self.bottom, self.right = self.kh - 1 - anchor[0], self.kw - 1 - anchor[1]
        self.dtype = dtype
        if factors is None:
            self.taps2d = [((i, j), dtype.type(kernel[i, j])) for i, j in zip(*np.nonzero(kernel))]
        else:
            col, row = factors
            self.taps_col = [(i, dtype.type(col[i])) for i in np.nonzero(col)[0]]
            self.taps_row = [(j, dtype.type(row[j])) for j in np.nonzero(row)[0]]
        self.separable = factors is not None


def _accumulate(out: np.ndarray, tmp: np.ndarray, taps, source_slice) -> None:
    """``out = sum_t weight_t * source_slice(offset_t)`` with no allocation:
    ``tmp`` has ``out``'s shape; weights of +-1 skip the multiply."""
    if not taps:
        out[...] = 0
        return
    (first, w0), rest = taps[0], taps[1:]
    np.multiply(source_slice(first), w0, out=out)
    for off, w in rest:
        src = source_slice(off)
        if w == 1:
            np.add(out, src, out=out)
        elif w == -1:
            np.subtract(out, src, out=out)
        else:
            np.multiply(src, w, out=tmp)
            np.add(out, tmp, out=out)


def _fill_band(buf: np.ndarray, image: np.ndarray, r0: int, plan: _Plan, border: str) -> None:
    """Copy image rows ``r0 - top .. r0 + rows - top`` with the border's rule
    (:func:`border_indices`) and pad their columns (:func:`cnnkit._core.window.pad`)
    into ``buf`` (cast to the compute dtype)."""
    H = image.shape[0]
    n = buf.shape[0]
    rows = border_indices(np.arange(r0 - plan.top, r0 - plan.top + n), H, border)
    if rows[0] >= 0 and rows[-1] - rows[0] == n - 1 and np.all(np.diff(rows) == 1):
        band = image[rows[0]:rows[-1] + 1]  # the usual case: consecutive rows, a view
    else:
        band = image[np.maximum(rows, 0)]
        band[rows < 0] = 0  # "zero" border rows
    np.copyto(buf, pad(band, ((plan.left, plan.right), (0, 0)), PAD_MODES[border]), casting="unsafe")


def _run_bands(image: np.ndarray, out: np.ndarray, plan: _Plan, border: str, band: int, start: int,
               stop: int) -> None:
    """Filter output rows ``start:stop`` band by band, with private scratch buffers."""
    H, W, C = image.shape
    kh, kw = plan.kh, plan.kw
    buf = np.empty((band + kh - 1, W + kw - 1, C), dtype=plan.dtype)
    tmp = np.empty((band, W, C), dtype=plan.dtype)
    if plan.separable:
        vert = np.empty((band, W + kw - 1, C), dtype=plan.dtype)
        vtmp = np.empty_like(vert)
    for r0 in range(start, stop, band):
        rows = min(band, stop - r0)
        b = buf[:rows + kh - 1]
        _fill_band(b, image, r0, plan, border)
        o, t = out[r0:r0 + rows], tmp[:rows]
        if plan.separable:
            v = vert[:rows]
            _accumulate(v, vtmp[:rows], plan.taps_col, lambda i: b[i:i + rows])
            _accumulate(o, t, plan.taps_row, lambda j: v[:, j:j + W])
        else:
            _accumulate(o, t, plan.taps2d, lambda ij: b[ij[0]:ij[0] + rows, ij[1]:ij[1] + W])


def _use_separable(kernel: np.ndarray, separable, tol: float) -> tuple[np.ndarray, np.ndarray] | None:
    if separable is False:
        return None
    factors = separate(kernel, tol=tol)
    if separable is True:
        if factors is None:
            raise ValueError(f"separable=True but the kernel is not rank 1 (not separable): {kernel.tolist()}")
        return factors
    if separable != "auto":
        raise ValueError(f"separable must be 'auto', True or False, got {separable!r}")
    if factors is None:
        return None
    # worth it only when the two 1-D passes read fewer taps than the 2-D pass
    cost_1d = np.count_nonzero(factors[0]) + np.count_nonzero(factors[1])
    return factors if cost_1d < np.count_nonzero(kernel) else None


def filter2d(image, kernel, border: Border = "zero", mode: str = "correlate",
             separable: bool | str = "auto", *, workers: int | None = None) -> np.ndarray:
    """Filter an image with a 2-D kernel (see the module docstring for the formula).

    Args:
        image: ``(H, W)`` grayscale or ``(H, W, C)`` colour (each channel filtered
            on its own); uint8, uint16 (any integer type) or float.
        kernel: ``(kh, kw)`` matrix of finite numbers, or a kernel name
            (:func:`cnnkit.kernels.get_kernel`). Even sizes are anchored at ``k // 2``.
        border: ``"zero"`` (default: the zero padding of a CNN layer with
            ``padding="same"``), ``"reflect"``, ``"replicate"``, ``"wrap"`` or
            ``"reflect101"`` (OpenCV's default); semantics of ``scipy.ndimage``.
        mode: ``"correlate"`` (default; ``cv2.filter2D``, a CNN layer) or
            ``"convolve"`` (kernel turned 180 degrees; ``scipy.ndimage.convolve``).
        separable: ``"auto"`` takes two 1-D passes when the kernel is rank 1 and
            that reads fewer taps (see :func:`cnnkit.kernels.separate`; rank 1 to a
            relative tolerance of 1e-6 for float32 results, 1e-12 for float64, so
            both paths agree to the precision of the result); ``True`` forces it
            (``ValueError`` if the kernel is not rank 1); ``False`` never.
        workers: threads over row bands (NumPy releases the GIL in the loops);
            default ``min(os.cpu_count(), 4)``.

    Returns:
        float array of the image's shape: float64 for float64 input; float32 for
        float32, float16 and 8/16-bit integer input (float64 for wider integers).
        The kernel is cast to that dtype (no silent float64 upcast).

    >>> img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> filter2d(img, "identity")
    array([[ 0.,  1.,  2.,  3.],
           [ 4.,  5.,  6.,  7.],
           [ 8.,  9., 10., 11.]], dtype=float32)
    """
    image = _check_image(image)
    dtype = _compute_dtype(image.dtype)
    k = as_kernel(kernel)
    border = _check_border(border)
    if mode not in MODES:
        raise ValueError(f"mode must be 'correlate' or 'convolve', got {mode!r}")
    kh, kw = k.shape
    anchor = (kh // 2, kw // 2)
    if mode == "convolve":
        k = k[::-1, ::-1]
        anchor = (kh - 1 - anchor[0], kw - 1 - anchor[1])
    tol = 1e-6 if dtype == np.float32 else 1e-12
    factors = _use_separable(k, separable, tol)
    plan = _Plan(np.asarray(k, dtype=np.float64), anchor, dtype, factors)

    img3 = image if image.ndim == 3 else image[:, :, None]
    H, W, C = img3.shape
    out = np.empty((H, W, C), dtype=dtype)
    band = max(1, min(H, BAND_ELEMENTS // max(1, W * C)))
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    workers = check_int(workers, "workers", "filter2d", minimum=1)
    n_bands = -(-H // band)
    workers = min(int(workers), n_bands)
    if workers == 1:
        _run_bands(img3, out, plan, border, band, 0, H)
    else:
        # contiguous chunks of whole bands, one per thread
        per = -(-n_bands // workers) * band
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(_run_bands, img3, out, plan, border, band, s, min(H, s + per))
                       for s in range(0, H, per)]
            for f in futures:
                f.result()
    return out if image.ndim == 3 else out[:, :, 0]


# ------------------------------------------------------------------- display
def clip(image, lo: float = 0, hi: float = 255) -> np.ndarray:
    """Round to the nearest integer (half to even, like OpenCV's ``saturate_cast``)
    and clip to ``[lo, hi]``; uint8 when ``0 <= lo`` and ``hi <= 255``, uint16 when
    ``hi <= 65535``, else int64. NaN raises ``ValueError``."""
    a = np.asarray(image)
    if lo > hi:
        raise ValueError(f"clip: lo must be <= hi, got lo={lo}, hi={hi}")
    if np.issubdtype(a.dtype, np.floating) and np.isnan(a).any():
        raise ValueError("clip: image contains NaN")
    dtype = np.uint8 if lo >= 0 and hi <= 255 else np.uint16 if lo >= 0 and hi <= 65535 else np.int64
    return np.clip(np.rint(a), lo, hi).astype(dtype)


def normalize(image, dtype=None) -> np.ndarray:
    """Min-max scale to ``[0, 1]`` (float; float32 unless the input is float64),
    or, with ``dtype=np.uint8``, to ``[0, 255]`` rounded. A constant image gives zeros."""
    a = np.asarray(image)
    ftype = np.float64 if a.dtype == np.float64 else np.float32
    a = a.astype(ftype, copy=False)
    lo, hi = (a.min(), a.max()) if a.size else (0, 0)
    unit = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    if dtype is None:
        return unit
    if np.dtype(dtype) == np.uint8:
        return clip(unit * 255)
    raise ValueError(f"normalize: dtype must be None or np.uint8, got {dtype!r}")


def display_rule(kernel) -> str:
    """How to show a filtered image: ``"abs"`` for kernels whose weights sum to 0
    (derivative / edge kernels: the sign is a direction, the magnitude is the
    edge strength), ``"clip"`` otherwise (blurs, sharpen, identity keep the
    image's range)."""
    k = as_kernel(kernel).astype(np.float64)
    return "abs" if abs(k.sum()) <= 1e-9 * np.abs(k).sum() else "clip"


def to_display(result, rule: str, max_value: int = 255, percentile: float = 99.5) -> np.ndarray:
    """Turn a :func:`filter2d` result into displayable integers in ``[0, max_value]``
    (uint8 for 255, uint16 for 65535), all rounded half to even:

    * ``"clip"``: :func:`clip` to ``[0, max_value]``;
    * ``"abs"``: ``|r| * max_value / P``, clipped, where ``P`` is the ``percentile``-th
      percentile of ``|r|`` (``np.percentile``, linear; 100 gives ``max|r|``; when
      ``P`` is 0 the maximum is used, and an all-zero result stays 0). A high
      percentile rather than the maximum keeps a handful of extreme pixels from
      turning every other edge black;
    * ``"normalize"``: min-max to ``[0, max_value]``.
    """
    r = np.asarray(result)
    if rule == "clip":
        return clip(r, 0, max_value)
    if rule == "abs":
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
        a = np.abs(r)
        if a.size == 0:
            return clip(a, 0, max_value)
        peak = float(np.percentile(a, percentile))
        if peak <= 0:
            peak = float(a.max())
        return clip(a * (max_value / peak) if peak > 0 else a, 0, max_value)
    if rule == "normalize":
        return clip(normalize(r) * max_value, 0, max_value)
    raise ValueError(f"display rule must be 'clip', 'abs' or 'normalize', got {rule!r}")
