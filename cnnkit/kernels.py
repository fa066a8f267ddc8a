"""The classic image kernels, a registry of them by name, and spatial separability.

Every matrix here is written for **correlation** (``mode="correlate"`` of
:func:`cnnkit.filtering.filter2d`, like ``cv2.filter2D`` and like the
"convolution" of a CNN layer): ``out[y, x] = sum_ij K[i, j] * img[y + i - a_y, x + j - a_x]``
with the anchor ``a = k // 2``. So ``sobel_x`` is OpenCV's ``[[-1, 0, 1], ...]``
and responds positively where intensity grows to the right; textbooks that
*convolve* write the mirrored matrix ``[[1, 0, -1], ...]``. The six kernels of
the study text's table are symmetric up to sign under a 180-degree turn, so the
distinction does not matter for them.

"The study text" (in code: ``seed``) is the Chinese-language tutorial on CNN
layers that cnnkit follows; its table of classic kernels (卷积作用 / 卷积核,
"what the kernel does" / "kernel") is :data:`SEED_KERNELS`, with its Chinese
labels in ``KernelInfo.seed_label`` and their English in :data:`SEED_LABELS_EN`.

>>> get_kernel("sharpen")
array([[ 0., -1.,  0.],
       [-1.,  5., -1.],
       [ 0., -1.,  0.]])
>>> column, row = separate(get_kernel("sobel_x"))
>>> column, row
(array([1., 2., 1.]), array([-1.,  0.,  1.]))
"""
from __future__ import annotations

import math
import re
from typing import NamedTuple, Optional

import numpy as np

from ._validate import check_number

__all__ = [
    "KernelInfo", "KERNELS", "SEED_KERNELS", "SEED_LABELS_EN", "seed_label_text", "get_kernel", "kernel_names", "describe",
    "gaussian", "gaussian_1d", "box", "separate", "format_kernel", "as_kernel",
]


class KernelInfo(NamedTuple):
    """One registry entry, a ``(matrix, description, seed_label)`` tuple: the
    matrix (read-only float64 ``(kh, kw)``), a one-line description, and the
    (Chinese) label the study text's table gives it (``None`` when the kernel is
    not in that table; English in :data:`SEED_LABELS_EN`)."""

    matrix: np.ndarray
    description: str
    seed_label: Optional[str] = None


def _m(rows, scale: float = 1.0) -> np.ndarray:
    m = np.array(rows, dtype=np.float64) * scale
    m.setflags(write=False)
    return m


# ------------------------------------------------------------ parametric kernels
#: OpenCV's fixed tables (getGaussianKernel with sigma <= 0 and size <= 9).
_OPENCV_SMALL_GAUSSIANS = {
    1: [1.0],
    3: [0.25, 0.5, 0.25],
    5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
    7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
    9: [v / 256 for v in (4, 13, 30, 51, 60, 51, 30, 13, 4)],
}

#: The largest side the kernel factories build (:func:`gaussian`, :func:`box`, ``gaussian:SIZE``):
#: a 1025 x 1025 float64 kernel is 8 MB, and filtering with it costs a million
#: multiply-adds per pixel; ``gaussian:30001`` would need 7 GB before filtering anything.
MAX_KERNEL_SIZE = 1025


def _check_size(family: str, size, odd: bool) -> int:
    what = "an odd positive int" if odd else "a positive int"
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"{family}: size must be {what}, got {size!r}")
    if size < 1 or (odd and size % 2 == 0):
        raise ValueError(f"{family}: size must be {what}" + (" (the kernel needs a centre)" if odd else "")
                         + f", got {size}")
    if size > MAX_KERNEL_SIZE:
        raise ValueError(f"{family}: size {size} is too large: at most {MAX_KERNEL_SIZE} (a {size}x{size} kernel "
                         f"would take {size * size * 8 / 1e9:.1f} GB)")
    return int(size)


def gaussian_1d(size: int, sigma: float | None = None) -> np.ndarray:
    """Normalised 1-D Gaussian of odd ``size`` (float64, sums to 1).

    ``g[i] = exp(-(i - size//2)^2 / (2 sigma^2)) / Z``. When ``sigma`` is
    ``None`` it follows OpenCV's ``getGaussianKernel`` exactly: sizes 1 to 9
    use OpenCV's fixed tables (``[1, 2, 1] / 4``, ``[1, 4, 6, 4, 1] / 16``, ...;
    so ``gaussian(3)`` is the study text's ``gaussian_blur``), larger sizes
    ``sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8``.
    """
    size = _check_size("gaussian", size, odd=True)
    if sigma is None:
        if size in _OPENCV_SMALL_GAUSSIANS:
            return np.array(_OPENCV_SMALL_GAUSSIANS[size], dtype=np.float64)
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    sigma = check_number(sigma, "sigma", "gaussian", positive=True)
    x = np.arange(size, dtype=np.float64) - size // 2
    g = np.exp(-(x * x) / (2.0 * float(sigma) ** 2))
    return g / g.sum()


def gaussian(size: int, sigma: float | None = None) -> np.ndarray:
    """Normalised 2-D Gaussian ``(size, size)``: ``outer(g, g)`` of :func:`gaussian_1d`
    (so it sums to 1 and is separable by construction)."""
    g = gaussian_1d(size, sigma)
    return np.outer(g, g)


def box(size: int) -> np.ndarray:
    """Box (mean) filter ``ones((size, size)) / size**2``. Even sizes are allowed
    (anchored at ``size // 2``, as scipy and OpenCV do)."""
    size = _check_size("box", size, odd=False)
    return np.full((size, size), 1.0 / (size * size))


# --------------------------------------------------------------------- registry
#: name -> KernelInfo. The first six are the study text's table, in its order.
KERNELS: dict[str, KernelInfo] = {
    "identity": KernelInfo(_m([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
                           "returns the image unchanged", "输出原图"),
    "edge_cross": KernelInfo(_m([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
                             "diagonal edge detector: differences across the two diagonals",
                             "边缘检测（突出边缘差异）"),
    "edge_laplacian": KernelInfo(_m([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
                                 "8-neighbour Laplacian edge detector: centre minus its neighbours",
                                 "边缘检测（突出中间值）"),
    "sharpen": KernelInfo(_m([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
                          "sharpen: identity plus the 4-neighbour Laplacian", "图像锐化"),
    "box_blur": KernelInfo(_m(np.ones((3, 3)), 1 / 9), "3x3 box (mean) blur", "方块模糊"),
    "gaussian_blur": KernelInfo(_m([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
                                "3x3 Gaussian blur (binomial [1, 2, 1] / 4 in each direction)", "高斯模糊"),
    "sobel_x": KernelInfo(_m([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
                          "Sobel derivative along x (columns), smoothed along y; = cv2.Sobel(dx=1, dy=0)"),
    "sobel_y": KernelInfo(_m([[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
                          "Sobel derivative along y (rows), smoothed along x; = cv2.Sobel(dx=0, dy=1)"),
    "prewitt_x": KernelInfo(_m([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
                            "Prewitt derivative along x, box-smoothed along y"),
    "prewitt_y": KernelInfo(_m([[-1, -1, -1], [0, 0, 0], [1, 1, 1]]),
                            "Prewitt derivative along y, box-smoothed along x"),
    "laplacian": KernelInfo(_m([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
                            "4-neighbour Laplacian (second derivative); = cv2.Laplacian(ksize=1)"),
}

#: The six kernels of the study text's table, in its order.
SEED_KERNELS: tuple[str, ...] = ("identity", "edge_cross", "edge_laplacian", "sharpen", "box_blur", "gaussian_blur")

#: The study text's (Chinese) labels in English.
SEED_LABELS_EN: dict[str, str] = {
    "输出原图": "output the original image",
    "边缘检测（突出边缘差异）": "edge detection (brings out differences across edges)",
    "边缘检测（突出中间值）": "edge detection (brings out the centre value)",
    "图像锐化": "image sharpening",
    "方块模糊": "box blur",
    "高斯模糊": "Gaussian blur",
}


def seed_label_text(name: str) -> str:
    """``'图像锐化 "image sharpening"'`` for a kernel of the study text's table, ``''`` otherwise."""
    info = KERNELS.get(name)
    if info is None or not info.seed_label:
        return ""
    return f'{info.seed_label} "{SEED_LABELS_EN[info.seed_label]}"'


_PARAMETRIC = {
    "gaussian": "gaussian:SIZE[:SIGMA]  normalised SIZE x SIZE Gaussian (odd SIZE; SIGMA defaults as in OpenCV)",
    "box": "box:SIZE  SIZE x SIZE box (mean) filter",
}
_PARAM_RE = re.compile(r"^(gaussian|box):(\d{1,9})(?::([0-9.eE+-]+))?$")


def kernel_names() -> list[str]:
    """Names accepted by :func:`get_kernel` (without the parametric forms)."""
    return list(KERNELS)


def _unknown(name) -> ValueError:
    return ValueError(
        f"unknown kernel {name!r}; known kernels: {', '.join(KERNELS)}; "
        f"parametric: gaussian:SIZE[:SIGMA], box:SIZE"
    )


def get_kernel(name: str) -> np.ndarray:
    """The named kernel as a new float64 ``(kh, kw)`` array.

    ``name`` is a registry name (see :data:`KERNELS`) or a parametric form
    ``"gaussian:SIZE"``, ``"gaussian:SIZE:SIGMA"``, ``"box:SIZE"``. Unknown
    names raise ``ValueError`` listing every known name.
    """
    if not isinstance(name, str):
        raise TypeError(f"kernel name must be a str, got {type(name).__name__}")
    info = KERNELS.get(name)
    if info is not None:
        return np.array(info.matrix)
    match = _PARAM_RE.match(name.strip())
    if match is None:
        raise _unknown(name)
    family, size, sigma = match.group(1), int(match.group(2)), match.group(3)
    if family == "box":
        if sigma is not None:
            raise ValueError(f"box takes one parameter (box:SIZE), got {name!r}")
        return box(size)
    try:
        sigma_value = None if sigma is None else float(sigma)
    except ValueError:
        raise ValueError(f"gaussian sigma in {name!r} is not a number") from None
    return gaussian(size, sigma_value)


def describe(name: str) -> str:
    """One-line description of a registry name or parametric form."""
    info = KERNELS.get(name)
    if info is not None:
        return info.description
    kernel = get_kernel(name)  # validates, raises for unknown names
    family = name.split(":", 1)[0]
    if family == "box":
        return f"{kernel.shape[0]}x{kernel.shape[1]} box (mean) filter"
    return f"{kernel.shape[0]}x{kernel.shape[1]} normalised Gaussian"


def as_kernel(kernel, name: str = "kernel") -> np.ndarray:
    """Validate a kernel: a non-empty 2-D array of finite real numbers
    (bool and complex rejected). Returned as float64 unless already float32/float64."""
    if isinstance(kernel, str):
        return get_kernel(kernel)
    arr = np.asarray(kernel)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be a 2-D array of real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D matrix (kh, kw), got shape {arr.shape}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite numbers, got {arr.tolist()}")
    return arr


# ------------------------------------------------------------------ separability
def _integer_factors(k: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Exact factors of an integer-valued rank-1 matrix: column = the pivot
    column divided by the gcd of its entries (a primitive integer vector),
    row = pivot row / column[pivot] (then integers too)."""
    ki = np.rint(k).astype(np.int64)
    j = int(np.argmax(np.abs(ki).sum(axis=0)))
    col = ki[:, j]
    g = math.gcd(*(int(v) for v in col))
    if g == 0:
        return None
    col = col // g
    i = int(np.argmax(np.abs(col)))
    if col[i] < 0:
        col = -col
    if np.any(ki[i, :] % col[i]):
        return None
    row = ki[i, :] // col[i]
    if not np.array_equal(np.outer(col, row), ki):
        return None
    return col.astype(np.float64), row.astype(np.float64)


def separate(kernel, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray] | None:
    """Split a rank-1 kernel ``K (kh, kw)`` into ``(column (kh,), row (kw,))``
    with ``np.outer(column, row) == K``; ``None`` when ``K`` is not rank 1.

    Filtering with ``K`` then equals filtering the columns with ``column`` and
    the rows with ``row`` (two 1-D passes: ``kh + kw`` instead of ``kh * kw``
    multiplies per pixel). Rank 1 means, from the SVD ``K = U S V^T``,
    ``S[1] <= tol * S[0]`` and the factors reproduce ``K`` to within
    ``tol * max|K|``. An all-zero kernel has rank 0 and gives ``None``.

    Scale and sign convention (factors are only defined up to ``c -> a c``,
    ``r -> r / a``):

    * if ``K`` divided by its smallest non-zero ``|entry|`` ``m`` is integer-valued,
      ``column`` is a primitive integer vector (gcd 1) and ``row`` carries the
      rest (integers times ``m``): Sobel-x gives ``[1, 2, 1]`` and ``[-1, 0, 1]``
      (the study text's ``[1, 0, -1]`` is the convolution form, the same up to sign),
      the 3x3 Gaussian gives ``[1, 2, 1]`` and ``[1, 2, 1] / 16``, the box ``[1, 1, 1]``
      and ``[1, 1, 1] / 9``;
    * otherwise the factors are balanced, ``sqrt(S[0]) U[:, 0]`` and
      ``sqrt(S[0]) V[0]`` (a normalised 2-D Gaussian gives its 1-D Gaussian twice);
    * in both cases the largest ``|entry|`` of ``column`` (the first, on ties) is positive.

    >>> separate(get_kernel("gaussian_blur"))[0]
    array([1., 2., 1.])
    >>> separate(get_kernel("sharpen")) is None
    True
    """
    k = as_kernel(kernel).astype(np.float64)
    if not (isinstance(tol, (int, float)) and tol >= 0):
        raise ValueError(f"separate: tol must be a non-negative number, got {tol!r}")
    peak = np.abs(k).max()
    if peak == 0:
        return None
    u, s, vt = np.linalg.svd(k)
    if s.size > 1 and s[1] > tol * s[0]:
        return None
    bound = tol * peak

    nonzero = np.abs(k[k != 0])
    m = nonzero.min()
    scaled = k / m
    if np.allclose(scaled, np.rint(scaled), rtol=0, atol=1e-9 * max(1.0, np.abs(scaled).max())):
        factors = _integer_factors(scaled)
        if factors is not None:
            col, row = factors[0], factors[1] * m
            if np.abs(np.outer(col, row) - k).max() <= bound:
                return col, row

    col = math.sqrt(s[0]) * u[:, 0]
    row = math.sqrt(s[0]) * vt[0]
    i = int(np.argmax(np.abs(col)))
    if col[i] < 0:
        col, row = -col, -row
    if np.abs(np.outer(col, row) - k).max() > bound:
        return None
    return col, row


# -------------------------------------------------------------------- display
def _fraction_scale(k: np.ndarray) -> int | None:
    """``d`` such that ``k * d`` is integer-valued with small ``d`` (for printing
    ``ones / 9`` as ``1/9 x [[1, 1, 1], ...]``), or None."""
    for d in range(1, 1025):
        scaled = k * d
        if np.allclose(scaled, np.rint(scaled), rtol=0, atol=1e-9 * d):
            return d
    return None


def format_kernel(kernel, precision: int = 4) -> str:
    """The kernel as aligned rows of text; integer multiples of ``1/d`` (``d <= 1024``)
    are printed as ``1/d x`` an integer matrix, other values with ``precision`` digits.

    >>> print(format_kernel(get_kernel("box_blur")))
    1/9 x
    [ 1  1  1 ]
    [ 1  1  1 ]
    [ 1  1  1 ]
    """
    k = as_kernel(kernel).astype(np.float64)
    d = _fraction_scale(k)
    header = None
    if d is not None:
        cells = [[str(int(v)) for v in row] for row in np.rint(k * d)]
        if d != 1:
            header = f"1/{d} x"
    else:
        cells = [[f"{v:.{precision}g}" for v in row] for row in k]
    width = max(len(c) for row in cells for c in row)
    lines = ["[ " + "  ".join(c.rjust(width) for c in row) + " ]" for row in cells]
    return "\n".join(([header] if header else []) + lines)
