"""Convolutions with PyTorch's names, argument order and weight layouts, for
any number of spatial dimensions (``conv1d``/``conv2d``/``conv3d`` and the
transposed ones are one N-d op each).

Beyond PyTorch (TensorFlow/Keras semantics, see :mod:`cnnkit._core.window`):

* ``padding="same"`` for any stride and dilation: ``out = ceil(in / stride)``,
  the odd pixel of padding at the end;
* asymmetric padding as ``(before, after)`` pairs, e.g. ``((top, bottom), (left, right))``;
* transposed convolutions accept ``padding="same"`` (``out = in * stride``, as
  Keras ``Conv2DTranspose``) and ``"valid"``.

Depthwise convolution is ``groups=in_channels`` (depth multiplier
``out_channels // in_channels``); dilated (atrous) convolution is ``dilation > 1``.

Empty inputs: an empty batch gives an empty batch; zero input channels give the
empty sum, ``0`` (+ bias), of shape ``(N, out_channels, *out)`` (as ``linear`` with
zero in_features does in PyTorch; PyTorch's convolutions return a ``(N, 0, *out)``
tensor there instead, a deliberate difference); zero output channels give ``(N, 0, *out)``.
"""
from __future__ import annotations

import numpy as np

from .._core import conv as core
from .._validate import check_int
from .._core.window import (as_tuple, conv_output_shape, resolve_padding, same_pads,
                            transposed_output_shape)
from ..autograd import Function, Tensor
from ._validate import as_input, check_dtype_match


def _empty_sum(x: np.ndarray, w: np.ndarray, b, out_channels: int, out_shape) -> np.ndarray:
    """The convolution when the batch or a channel count is 0: every output is an
    empty sum, 0 (+ bias)."""
    out = np.zeros((x.shape[0], out_channels) + tuple(out_shape), dtype=x.dtype)
    if b is not None:
        out += b.reshape((1, -1) + (1,) * len(out_shape))
    return out


def _empty_grads(self, gy):
    """Gradients of :func:`_empty_sum`: zeros for input and weight, the summed output gradient for the bias."""
    x, w = self.saved
    need_x, need_w, need_b = self.needs_input_grad[:3]
    return (np.zeros_like(x) if need_x else None, np.zeros_like(w) if need_w else None,
            gy.sum(axis=(0,) + tuple(range(2, gy.ndim))) if need_b else None)


class ConvNd(Function):
    """Convolution (cross-correlation) of ``x (N, C, *S)`` with ``w (O, C/g, *K)``, plus bias."""

    def forward(self, x, w, b, stride, pads, dilation, groups, out_shape):
        self.save(x, w)
        self.params = (stride, pads, dilation, groups)
        if x.size == 0 or w.size == 0:
            return _empty_sum(x, w, b, w.shape[0], out_shape)
        return core.conv_nd(x, w, stride, pads, dilation, groups, out_shape, bias=b)

    def backward(self, gy):
        x, w = self.saved
        if x.size == 0 or w.size == 0:
            return _empty_grads(self, gy)
        stride, pads, dilation, groups = self.params
        need_x, need_w, need_b = self.needs_input_grad[:3]
        gx = core.conv_transpose_nd(gy, w, x.shape[2:], stride, pads, dilation, groups) if need_x else None
        gw = core.conv_weight_grad(x, gy, w.shape[2:], stride, pads, dilation, groups) if need_w else None
        gb = gy.sum(axis=(0,) + tuple(range(2, gy.ndim))) if need_b else None
        return gx, gw, gb


class ConvTransposeNd(Function):
    """Transposed convolution of ``x (N, Cin, *I)`` with ``w (Cin, Cout/g, *K)``, plus bias."""

    def forward(self, x, w, b, stride, pads, dilation, groups, out_shape):
        self.save(x, w)
        self.params = (stride, pads, dilation, groups)
        if x.size == 0 or w.size == 0:
            return _empty_sum(x, w, b, w.shape[1] * groups, out_shape)
        return core.conv_transpose_nd(x, w, out_shape, stride, pads, dilation, groups, bias=b)

    def backward(self, gy):
        x, w = self.saved
        if x.size == 0 or w.size == 0:
            return _empty_grads(self, gy)
        stride, pads, dilation, groups = self.params
        need_x, need_w, need_b = self.needs_input_grad[:3]
        # the adjoint of a transposed convolution is the convolution with the same weight
        gx = core.conv_nd(gy, w, stride, pads, dilation, groups, x.shape[2:]) if need_x else None
        gw = core.conv_weight_grad(gy, x, w.shape[2:], stride, pads, dilation, groups) if need_w else None
        gb = gy.sum(axis=(0,) + tuple(range(2, gy.ndim))) if need_b else None
        return gx, gw, gb


def _prepare(fn_name, n, input, weight, bias, groups, transposed):
    """Validate ranks, dtypes and channel counts; add a batch axis to unbatched input."""
    x = as_input(input, "input", fn_name)
    w = as_input(weight, "weight", fn_name)
    if w.ndim != n + 2:
        layout = "(in, out/groups, *kernel)" if transposed else "(out, in/groups, *kernel)"
        raise ValueError(f"{fn_name}: weight must have {n + 2} dimensions {layout}, got shape {w.shape}")
    unbatched = x.ndim == n + 1
    if x.ndim not in (n + 1, n + 2):
        raise ValueError(f"{fn_name}: input must have {n + 2} dimensions (N, C, *spatial) "
                         f"or {n + 1} (C, *spatial), got shape {x.shape}")
    if unbatched:
        x = x.unsqueeze(0)
    check_dtype_match(fn_name, input=x, weight=w)
    groups = check_int(groups, "groups", fn_name, minimum=1)
    c_in = x.shape[1]
    if transposed:
        if w.shape[0] != c_in:
            raise ValueError(f"{fn_name}: input has {c_in} channels but weight of shape {w.shape} "
                             f"expects in_channels={w.shape[0]}")
        if c_in % groups:
            raise ValueError(f"{fn_name}: in_channels={c_in} is not divisible by groups={groups}")
        out_ch = w.shape[1] * groups
    else:
        if c_in % groups:
            raise ValueError(f"{fn_name}: in_channels={c_in} is not divisible by groups={groups}")
        if w.shape[1] * groups != c_in:
            raise ValueError(f"{fn_name}: input has in_channels={c_in} but weight of shape {w.shape} "
                             f"with groups={groups} expects {w.shape[1] * groups} "
                             f"(weight.shape[1] * groups)")
        if w.shape[0] % groups:
            raise ValueError(f"{fn_name}: out_channels={w.shape[0]} is not divisible by groups={groups}")
        out_ch = w.shape[0]
    b = None
    if bias is not None:
        b = as_input(bias, "bias", fn_name)
        check_dtype_match(fn_name, input=x, bias=b)
        if b.shape != (out_ch,):
            raise ValueError(f"{fn_name}: bias must have shape ({out_ch},) (out_channels), got {b.shape}")
    if any(k < 1 for k in w.shape[2:]):
        raise ValueError(f"{fn_name}: kernel size must be positive, got weight shape {w.shape}")
    return x, w, b, groups, unbatched


def _conv(n, fn_name, input, weight, bias, stride, padding, dilation, groups):
    x, w, b, groups, unbatched = _prepare(fn_name, n, input, weight, bias, groups, transposed=False)
    # argument names carry the function name, so messages read "conv2d: stride must be positive, got 0"
    stride = as_tuple(stride, n, f"{fn_name}: stride", minimum=1)
    dilation = as_tuple(dilation, n, f"{fn_name}: dilation", minimum=1)
    kernel = w.shape[2:]
    pads = resolve_padding(padding, x.shape[2:], kernel, stride, dilation, name=f"{fn_name}: padding")
    out_shape = conv_output_shape(x.shape[2:], kernel, stride, pads, dilation, fn_name=fn_name)
    out = ConvNd.apply(x, w, b, stride=stride, pads=pads, dilation=dilation, groups=groups, out_shape=out_shape)
    return out.squeeze(0) if unbatched else out


def _transposed_pads(fn_name, padding, spatial, kernel, stride, dilation, output_padding, n):
    """Padding pairs and output padding for a transposed convolution.

    ``"same"`` makes ``out = in * stride`` (Keras ``Conv2DTranspose``): the
    padding is the SAME padding of the forward convolution whose input is
    ``in * stride`` long, and the remainder goes into ``output_padding``
    (so an explicit ``output_padding`` is refused with ``"same"``).
    """
    if isinstance(padding, str) and padding.lower() == "same":
        if any(output_padding):
            shown = output_padding[0] if len(set(output_padding)) == 1 else output_padding
            raise ValueError(f"{fn_name}: output_padding must be 0 with padding='same' (the output size is "
                             f"input * stride), got output_padding={shown}")
        pads = tuple(same_pads(i * s, k, s, d) for i, k, s, d in zip(spatial, kernel, stride, dilation))
        base = transposed_output_shape(spatial, kernel, stride, pads, dilation, (0,) * n)
        return pads, tuple(i * s - o for i, s, o in zip(spatial, stride, base))
    pads = resolve_padding(padding, spatial, kernel, stride, dilation, name=f"{fn_name}: padding")
    return pads, output_padding


def _conv_transpose(n, fn_name, input, weight, bias, stride, padding, output_padding, groups, dilation):
    x, w, b, groups, unbatched = _prepare(fn_name, n, input, weight, bias, groups, transposed=True)
    stride = as_tuple(stride, n, f"{fn_name}: stride", minimum=1)
    dilation = as_tuple(dilation, n, f"{fn_name}: dilation", minimum=1)
    output_padding = as_tuple(output_padding, n, f"{fn_name}: output_padding", minimum=0)
    for op, s, d in zip(output_padding, stride, dilation):
        if op >= s and op >= d:
            raise ValueError(f"{fn_name}: output_padding must be smaller than either stride or dilation, "
                             f"got output_padding={output_padding}, stride={stride}, dilation={dilation}")
    kernel = w.shape[2:]
    pads, output_padding = _transposed_pads(fn_name, padding, x.shape[2:], kernel, stride, dilation, output_padding, n)
    out_shape = transposed_output_shape(x.shape[2:], kernel, stride, pads, dilation, output_padding)
    out = ConvTransposeNd.apply(x, w, b, stride=stride, pads=pads, dilation=dilation, groups=groups,
                                out_shape=out_shape)
    return out.squeeze(0) if unbatched else out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution (cross-correlation), as ``torch.nn.functional.conv1d``.

    input ``(N, C_in, L)`` or ``(C_in, L)``; weight ``(C_out, C_in/groups, k)``;
    bias ``(C_out,)``; returns ``(N, C_out, L_out)`` with
    ``L_out = floor((L + pad_left + pad_right - dilation*(k-1) - 1) / stride) + 1``.
    ``padding``: int, ``((left, right),)``, ``"valid"`` or ``"same"`` (any stride).

    >>> import numpy as np
    >>> conv1d(np.array([[[1., 2., 3., 4.]]]), np.array([[[1., 0., -1.]]])).numpy()
    array([[[-2., -2.]]])
    """
    return _conv(1, "conv1d", input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    input ``(N, C_in, H, W)`` or ``(C_in, H, W)``; weight ``(C_out, C_in/groups, kH, kW)``;
    bias ``(C_out,)``; returns ``(N, C_out, H_out, W_out)``.
    ``padding``: int, ``(pH, pW)``, ``((top, bottom), (left, right))``, ``"valid"`` or
    ``"same"`` (TensorFlow semantics for any stride: ``H_out = ceil(H / stride)``).
    ``groups=C_in`` is depthwise convolution; ``dilation=2`` is atrous convolution.

    >>> import numpy as np
    >>> x = np.arange(25.).reshape(1, 1, 5, 5)
    >>> conv2d(x, np.ones((1, 1, 3, 3)), stride=2).shape   # the study text's 5x5 -> 2x2 example
    (1, 1, 2, 2)
    """
    return _conv(2, "conv2d", input, weight, bias, stride, padding, dilation, groups)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """3-D convolution, as ``torch.nn.functional.conv3d`` (same N-d core)."""
    return _conv(3, "conv3d", input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``.

    input ``(N, C_in, L)``; weight ``(C_in, C_out/groups, k)``; returns ``(N, C_out, L_out)`` with
    ``L_out = (L - 1)*stride - pad_left - pad_right + dilation*(k-1) + output_padding + 1``.
    It is the gradient of :func:`conv1d` with respect to its input.
    """
    return _conv_transpose(1, "conv_transpose1d", input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    input ``(N, C_in, H, W)``; weight ``(C_in, C_out/groups, kH, kW)``; returns
    ``(N, C_out, H_out, W_out)``, ``H_out = (H - 1)*stride - pad_top - pad_bottom
    + dilation*(kH-1) + output_padding + 1``. ``padding="same"`` gives ``H_out = H * stride``
    (Keras ``Conv2DTranspose``). Not the inverse of :func:`conv2d`: its adjoint.

    >>> import numpy as np
    >>> conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), stride=2).shape  # 2x2 -> 5x5
    (1, 1, 5, 5)
    """
    return _conv_transpose(2, "conv_transpose2d", input, weight, bias, stride, padding, output_padding,
                           groups, dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1) -> Tensor:
    """3-D transposed convolution, as ``torch.nn.functional.conv_transpose3d``."""
    return _conv_transpose(3, "conv_transpose3d", input, weight, bias, stride, padding, output_padding,
                           groups, dilation)
