"""Pooling with PyTorch's names and semantics, for any number of spatial axes
(the 1-D, 2-D and 3-D functions are one N-d op each, on :mod:`cnnkit._core.pool`).

* ``max_pool*d``: windows padded with ``-inf``; the gradient of each output goes
  to its window's maximum, the FIRST one (row-major) on ties, as PyTorch;
  overlapping windows accumulate. ``return_indices`` gives PyTorch's indices:
  the flat position in the unpadded input's spatial plane (``int64``).
* ``avg_pool*d``: zero padding; ``count_include_pad`` decides whether padded
  positions count in the divisor (positions that only ``ceil_mode`` adds past
  the padding never do). The gradient is spread evenly over each window.
* ``adaptive_*_pool*d``: window ``o`` of an axis covers
  ``[floor(o*in/out), ceil((o+1)*in/out))``; ``None`` in ``output_size`` keeps
  that axis' size.

Checks (as PyTorch): ``padding <= kernel_size // 2``; with ``ceil_mode`` the last
window must start inside the input or its left padding.
"""
from __future__ import annotations

import numbers

import numpy as np

from .._core.fast import pool as core  # cnnkit._core.pool, run on blocks of planes in parallel
from .._core.window import as_tuple
from .._validate import check_bool, check_int
from ..autograd import Function, Tensor
from ._validate import as_input


# ------------------------------------------------------------------ Functions
class MaxPoolNd(Function):
    """Max pooling of ``(N, C, *S)``; stores the argmax (kernel position) for backward.
    With ``return_indices`` forward returns ``(out, indices)`` (PyTorch's flat indices)."""

    def forward(self, x, kernel, stride, pads, dilation, out_shape, return_indices):
        self.in_spatial = x.shape[2:]
        self.params = (kernel, stride, pads, dilation)
        out, self.argmax = core.max_pool_forward(x, kernel, stride, pads, dilation, out_shape,
                                                 with_argmax=self.recording or return_indices)
        if not return_indices:
            return out
        return out, core.argmax_to_indices(self.argmax, self.in_spatial, kernel, stride, pads, dilation)

    def backward(self, g):
        kernel, stride, pads, dilation = self.params
        return (core.max_pool_backward(g, self.argmax, self.in_spatial, kernel, stride, pads, dilation),)


class AvgPoolNd(Function):
    """Mean pooling of ``(N, C, *S)``: window sums divided by ``divisor`` (scalar or array)."""

    def forward(self, x, kernel, stride, pads, out_shape, divisor):
        self.in_spatial = x.shape[2:]
        self.params = (kernel, stride, pads, divisor)
        return core.avg_pool_forward(x, kernel, stride, pads, out_shape, divisor)

    def backward(self, g):
        kernel, stride, pads, divisor = self.params
        return (core.avg_pool_backward(g, self.in_spatial, kernel, stride, pads, divisor),)


class AdaptiveAvgPoolNd(Function):
    """Mean over adaptive windows: one averaging matrix per axis, backward by the transposes."""

    def forward(self, x, out_shape):
        self.in_spatial = x.shape[2:]
        return core.adaptive_avg_forward(x, out_shape)

    def backward(self, g):
        return (core.adaptive_avg_backward(g, self.in_spatial),)


class AdaptiveMaxPoolNd(Function):
    """Maximum over adaptive windows; the gradient goes to each window's first maximum.
    With ``return_indices`` forward returns ``(out, indices)``."""

    def forward(self, x, out_shape, return_indices):
        self.in_spatial = x.shape[2:]
        out, self.flat = core.adaptive_max_forward(x, out_shape)
        return (out, self.flat.copy()) if return_indices else out

    def backward(self, g):
        return (core.scatter_flat(g, self.flat, self.in_spatial),)


# ----------------------------------------------------------------- arguments
def _batched(fn_name: str, n: int, input) -> tuple[Tensor, bool]:
    x = as_input(input, "input", fn_name)
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{fn_name}: input must have {n + 2} dimensions (N, C, *spatial) "
                         f"or {n + 1} (C, *spatial), got shape {x.shape}")
    unbatched = x.ndim == n + 1
    if 0 in x.shape[-(n + 1):]:  # as PyTorch: only the batch may be empty
        raise ValueError(f"{fn_name}: input must have non-zero channels and spatial sizes (only the batch "
                         f"may be empty), got shape {x.shape}")
    return (x.unsqueeze(0) if unbatched else x), unbatched


def _window_args(fn_name, n, x, kernel_size, stride, padding, dilation, ceil_mode):
    kernel = as_tuple(kernel_size, n, "kernel_size", minimum=1)
    stride = kernel if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        as_tuple(stride, n, "stride", minimum=1)
    padding = as_tuple(padding, n, "padding", minimum=0)
    dilation = as_tuple(dilation, n, "dilation", minimum=1)
    ceil_mode = check_bool(ceil_mode, "ceil_mode", fn_name)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{fn_name}: padding must be at most half of kernel_size, got padding={padding} "
                         f"and kernel_size={kernel}")
    try:
        out_shape = core.pool_output_shape(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    except ValueError as exc:
        raise ValueError(f"{fn_name}: {exc}") from None
    pads = core.window_pads(x.shape[2:], kernel, stride, padding, dilation, out_shape)
    return kernel, stride, padding, dilation, ceil_mode, pads, out_shape


def _unbatch(t: Tensor, unbatched: bool) -> Tensor:
    return t.squeeze(0) if unbatched else t


# -------------------------------------------------------------------- max
def _max_pool(n, fn_name, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, unbatched = _batched(fn_name, n, input)
    kernel, stride, _, dilation, _, pads, out_shape = _window_args(
        fn_name, n, x, kernel_size, stride, padding, dilation, ceil_mode)
    return_indices = check_bool(return_indices, "return_indices", fn_name)
    result = MaxPoolNd.apply(x, kernel=kernel, stride=stride, pads=pads, dilation=dilation, out_shape=out_shape,
                             return_indices=return_indices)
    if not return_indices:
        return _unbatch(result, unbatched)
    return tuple(_unbatch(t, unbatched) for t in result)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling, as ``torch.nn.functional.max_pool1d``: ``(N, C, L)`` or ``(C, L)`` ->
    ``(N, C, L_out)``, ``L_out = floor((L + 2*padding - dilation*(k-1) - 1) / stride) + 1``
    (``ceil`` with ``ceil_mode``); ``stride`` defaults to ``kernel_size``.

    >>> import numpy as np
    >>> max_pool1d(np.array([[[1., 3., 2., 5.]]]), 2).numpy()
    array([[[3., 5.]]])
    """
    return _max_pool(1, "max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling, as ``torch.nn.functional.max_pool2d``: ``(N, C, H, W)`` or ``(C, H, W)`` ->
    ``(N, C, H_out, W_out)``, ``H_out = floor((H + 2*pH - dH*(kH-1) - 1) / sH) + 1``.

    ``out[n, c, i, j] = max_{a, b} xpad[n, c, i*sH + a*dH, j*sW + b*dW]`` with ``-inf`` padding.
    With ``return_indices`` also returns the ``int64`` index ``h * W + w`` of each maximum.

    >>> import numpy as np
    >>> x = np.array([[[[1., 2., 5., 0.], [3., 4., 1., 1.], [0., 0., 2., 2.], [9., 0., 2., 7.]]]])
    >>> max_pool2d(x, 2).numpy()
    array([[[[4., 5.],
             [9., 7.]]]])
    """
    return _max_pool(2, "max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling, as ``torch.nn.functional.max_pool3d`` (the same N-d op)."""
    return _max_pool(3, "max_pool3d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# -------------------------------------------------------------------- mean
def _avg_pool(n, fn_name, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x, unbatched = _batched(fn_name, n, input)
    kernel, stride, padding, _, _, pads, out_shape = _window_args(
        fn_name, n, x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad = check_bool(count_include_pad, "count_include_pad", fn_name)
    if divisor_override is not None and check_int(divisor_override, "divisor_override", fn_name) == 0:
        raise ValueError(f"{fn_name}: divisor_override must be a non-zero int or None, got {divisor_override!r}")
    divisor = core.avg_divisor(x.shape[2:], kernel, stride, padding, out_shape, count_include_pad,
                               divisor_override, x.dtype)
    out = AvgPoolNd.apply(x, kernel=kernel, stride=stride, pads=pads, out_shape=out_shape, divisor=divisor)
    return _unbatch(out, unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True) -> Tensor:
    """1-D mean pooling, as ``torch.nn.functional.avg_pool1d``: ``(N, C, L)`` -> ``(N, C, L_out)``
    (output size as :func:`max_pool1d` without dilation).

    ``out[n, c, i] = sum_a xpad[n, c, i*s + a] / divisor``; the divisor is ``k`` with
    ``count_include_pad``, else the number of input (non-padding) positions in the window.

    >>> import numpy as np
    >>> avg_pool1d(np.array([[[1., 3., 2., 6.]]]), 2).numpy()
    array([[[2., 4.]]])
    """
    return _avg_pool(1, "avg_pool1d", input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    """2-D mean pooling, as ``torch.nn.functional.avg_pool2d``: ``(N, C, H, W)`` -> ``(N, C, H_out, W_out)``.

    ``out[n, c, i, j] = sum_{a, b} xpad[n, c, i*sH + a, j*sW + b] / divisor``; the divisor is
    ``divisor_override`` if given, else the window area, counting padded positions only with
    ``count_include_pad`` (the window is first clipped to the padded input).
    """
    return _avg_pool(2, "avg_pool2d", input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> Tensor:
    """3-D mean pooling, as ``torch.nn.functional.avg_pool3d`` (the same N-d op)."""
    return _avg_pool(3, "avg_pool3d", input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


# ---------------------------------------------------------------- adaptive
def _output_size(fn_name: str, n: int, output_size, spatial) -> tuple[int, ...]:
    if output_size is None or isinstance(output_size, numbers.Integral):
        sizes = (output_size,) * n
    elif isinstance(output_size, (tuple, list)) and len(output_size) == n:
        sizes = tuple(output_size)
    else:
        raise ValueError(f"{fn_name}: output_size must be an int, None or a tuple of {n} ints/None, "
                         f"got {output_size!r}")
    out = []
    for s, i in zip(sizes, spatial):
        if s is None:
            out.append(int(i))
        elif isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1:
            out.append(int(s))
        else:
            raise ValueError(f"{fn_name}: output_size entries must be positive ints or None, got {output_size!r}")
    if any(i < 1 for i in spatial):
        raise ValueError(f"{fn_name}: input spatial size must be positive, got {tuple(spatial)}")
    return tuple(out)


def _adaptive_avg(n, fn_name, input, output_size) -> Tensor:
    x, unbatched = _batched(fn_name, n, input)
    out_shape = _output_size(fn_name, n, output_size, x.shape[2:])
    return _unbatch(AdaptiveAvgPoolNd.apply(x, out_shape=out_shape), unbatched)


def _adaptive_max(n, fn_name, input, output_size, return_indices):
    x, unbatched = _batched(fn_name, n, input)
    out_shape = _output_size(fn_name, n, output_size, x.shape[2:])
    return_indices = check_bool(return_indices, "return_indices", fn_name)
    result = AdaptiveMaxPoolNd.apply(x, out_shape=out_shape, return_indices=return_indices)
    if not return_indices:
        return _unbatch(result, unbatched)
    return tuple(_unbatch(t, unbatched) for t in result)


def adaptive_avg_pool1d(input, output_size) -> Tensor:
    """As ``torch.nn.functional.adaptive_avg_pool1d``: ``(N, C, L)`` -> ``(N, C, output_size)``;
    output ``o`` is the mean of ``x[..., floor(o*L/out) : ceil((o+1)*L/out)]``."""
    return _adaptive_avg(1, "adaptive_avg_pool1d", input, output_size)


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """As ``torch.nn.functional.adaptive_avg_pool2d``: ``(N, C, H, W)`` -> ``(N, C, *output_size)``
    (an int means a square output, ``None`` keeps that axis). ``output_size=1`` is global average pooling.

    >>> import numpy as np
    >>> adaptive_avg_pool2d(np.arange(16.).reshape(1, 1, 4, 4), 1).numpy()
    array([[[[7.5]]]])
    """
    return _adaptive_avg(2, "adaptive_avg_pool2d", input, output_size)


def adaptive_avg_pool3d(input, output_size) -> Tensor:
    """As ``torch.nn.functional.adaptive_avg_pool3d`` (the same N-d op)."""
    return _adaptive_avg(3, "adaptive_avg_pool3d", input, output_size)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """As ``torch.nn.functional.adaptive_max_pool1d``: ``(N, C, L)`` -> ``(N, C, output_size)``."""
    return _adaptive_max(1, "adaptive_max_pool1d", input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """As ``torch.nn.functional.adaptive_max_pool2d``: ``(N, C, H, W)`` -> ``(N, C, *output_size)``;
    with ``return_indices`` also the ``int64`` flat index ``h * W + w`` of each maximum."""
    return _adaptive_max(2, "adaptive_max_pool2d", input, output_size, return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """As ``torch.nn.functional.adaptive_max_pool3d`` (the same N-d op)."""
    return _adaptive_max(3, "adaptive_max_pool3d", input, output_size, return_indices)
