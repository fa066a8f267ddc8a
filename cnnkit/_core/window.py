"""The N-d sliding-window core: argument checks, padding, output sizes, and the
gather (im2col) / scatter-add (col2im) pair.

Conventions, in one place:

* arrays are channels-first: ``(N, C, *spatial)`` with ``n = len(spatial)``;
* ``dilation`` starts at 1 (1 = a dense kernel); a kernel of size ``k`` and
  dilation ``d`` spans ``(k - 1) * d + 1`` input positions;
* padding is resolved to one ``(before, after)`` pair per spatial axis;
* ``"same"`` follows TensorFlow / JAX ``padtype_to_pads``, for any stride and
  dilation: ``out = ceil(in / stride)``, total pad
  ``max((out - 1) * stride + (k - 1) * dilation + 1 - in, 0)``, with the odd
  pixel at the end (PyTorch accepts ``"same"`` only for stride 1, where both agree);
* ``"valid"`` is no padding;
* output size of a convolution: ``floor((in + before + after - (k - 1) * d - 1) / s) + 1``
  and of a transposed convolution:
  ``(in - 1) * s - before - after + (k - 1) * d + output_padding + 1``.
"""
from __future__ import annotations

import itertools
import numbers
from typing import Iterator, Sequence

import numpy as np

Pads = tuple[tuple[int, int], ...]


# --------------------------------------------------------------- argument checks
def as_tuple(value, n: int, name: str, *, minimum: int | None = None) -> tuple[int, ...]:
    """``value`` (an int or a sequence of ``n`` ints) as an ``n``-tuple of ints.

    Raises ``TypeError``/``ValueError`` naming ``name`` for anything else, and
    for values below ``minimum``.
    """
    if isinstance(value, (numbers.Integral,)) and not isinstance(value, bool):
        out = (int(value),) * n
    elif isinstance(value, (tuple, list)) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value
    ):
        if len(value) == 1 and n > 1:
            value = tuple(value) * n
        if len(value) != n:
            raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
        out = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if minimum is not None and any(v < minimum for v in out):
        qualifier = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {qualifier}, got {value!r}")
    return out


def same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding for one axis: ``(before, after)``, odd pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                    dilation: Sequence[int], name: str = "padding") -> Pads:
    """Any accepted padding form as one ``(before, after)`` pair per spatial axis.

    Accepted: an int; a tuple of ``n`` ints (symmetric); a tuple of ``n``
    ``(before, after)`` pairs (asymmetric, e.g. ``((top, bottom), (left, right))``);
    ``"valid"``; ``"same"`` (TensorFlow semantics, any stride and dilation).
    """
    n = len(spatial)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0),) * n
        if mode == "same":
            return tuple(same_pads(i, k, s, d) for i, k, s, d in zip(spatial, kernel, stride, dilation))
        raise ValueError(f"{name} must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    is_pair = [isinstance(p, (tuple, list)) for p in padding] if isinstance(padding, (tuple, list)) else []
    if any(is_pair) and not all(is_pair):
        raise TypeError(f"{name} must be an int, a tuple of {n} ints or a tuple of {n} (before, after) pairs, "
                        f"not a mix of ints and pairs, got {padding!r}")
    if is_pair and all(is_pair):
        if len(padding) != n or any(len(p) != 2 for p in padding):
            raise ValueError(
                f"{name} as pairs must have {n} (before, after) pairs, got {padding!r}"
            )
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for p in padding for v in p):
            raise TypeError(f"{name} pairs must hold ints, got {padding!r}")
        pairs = tuple((int(p[0]), int(p[1])) for p in padding)
    else:
        sym = as_tuple(padding, n, name)
        pairs = tuple((p, p) for p in sym)
    if any(v < 0 for pair in pairs for v in pair):
        raise ValueError(f"{name} must be non-negative, got {padding!r}")
    return pairs


def conv_output_shape(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                      pads: Pads, dilation: Sequence[int], *, fn_name: str = "") -> tuple[int, ...]:
    """Output spatial shape of a convolution; ``ValueError`` (prefixed with
    ``fn_name``) when the dilated kernel is larger than the padded input."""
    out = []
    prefix = f"{fn_name}: " if fn_name else ""
    for axis, (i, k, s, (lo, hi), d) in enumerate(zip(spatial, kernel, stride, pads, dilation)):
        span = (k - 1) * d + 1
        if i + lo + hi < span:
            raise ValueError(
                f"{prefix}kernel size {tuple(kernel)} (dilation {tuple(dilation)}) spans {span} on spatial axis {axis}, "
                f"larger than the padded input size {i + lo + hi} (input {tuple(spatial)}, padding {pads})"
            )
        out.append((i + lo + hi - span) // s + 1)
    return tuple(out)


def transposed_output_shape(spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int],
                            pads: Pads, dilation: Sequence[int],
                            output_padding: Sequence[int]) -> tuple[int, ...]:
    """Output spatial shape of a transposed convolution (see module docstring)."""
    out = tuple((i - 1) * s - lo - hi + (k - 1) * d + op + 1
                for i, k, s, (lo, hi), d, op in zip(spatial, kernel, stride, pads, dilation, output_padding))
    if any(o <= 0 for o in out):
        raise ValueError(
            f"transposed convolution output size {out} is not positive (input {tuple(spatial)}, "
            f"kernel {tuple(kernel)}, stride {tuple(stride)}, padding {pads})"
        )
    return out


# ------------------------------------------------------------------ padding
def pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    """Zero-pad the trailing ``len(pads)`` axes of ``x``; returns ``x`` itself when no padding."""
    if not any(lo or hi for lo, hi in pads):
        return x
    lead = x.ndim - len(pads)
    shape = x.shape[:lead] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[lead:], pads))
    out = np.zeros(shape, dtype=x.dtype)
    out[(Ellipsis,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[lead:], pads))] = x
    return out


def crop(x: np.ndarray, pads: Pads) -> np.ndarray:
    """Undo :func:`pad`: a view without the padding (negative pads are not allowed)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    lead = x.ndim - len(pads)
    return x[(Ellipsis,) + tuple(slice(lo, n - hi) for n, (lo, hi) in zip(x.shape[lead:], pads))]


# --------------------------------------------------------- gather / scatter
def kernel_offsets(kernel: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """All kernel positions, in row-major (C) order."""
    return itertools.product(*(range(k) for k in kernel))


def offset_slices(offset: Sequence[int], out_shape: Sequence[int], stride: Sequence[int],
                  dilation: Sequence[int]) -> tuple[slice, ...]:
    """The strided slice of a padded input that kernel position ``offset`` reads
    for every output position: ``offset * dilation + out_index * stride``."""
    return tuple(slice(o * d, o * d + (n - 1) * s + 1, s)
                 for o, n, s, d in zip(offset, out_shape, stride, dilation))


def gather(xp: np.ndarray, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
           out_shape: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
    """im2col: ``(N, C, *S_padded)`` -> ``(N, C, *kernel, *out_shape)``.

    ``col[n, c, *k, *o] = xp[n, c, *(k * dilation + o * stride)]``, built with
    one strided-slice copy per kernel position (no fancy indexing).
    """
    n_sp = len(kernel)
    if out is None:
        out = np.empty(xp.shape[:2] + tuple(kernel) + tuple(out_shape), dtype=xp.dtype)
    for off in kernel_offsets(kernel):
        out[(slice(None), slice(None)) + off] = xp[(Ellipsis,) + offset_slices(off, out_shape, stride, dilation)]
    assert out.ndim == 2 + 2 * n_sp
    return out


def scatter_add(col: np.ndarray, xp: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                dilation: Sequence[int], out_shape: Sequence[int]) -> np.ndarray:
    """col2im, the adjoint of :func:`gather`: adds ``col`` ``(N, C, *kernel, *out_shape)``
    into ``xp`` ``(N, C, *S_padded)`` in place and returns it. Overlapping windows
    accumulate; one strided-slice ``+=`` per kernel position."""
    for off in kernel_offsets(kernel):
        xp[(Ellipsis,) + offset_slices(off, out_shape, stride, dilation)] += col[(slice(None), slice(None)) + off]
    return xp


def window_view(xp: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                dilation: Sequence[int], out_shape: Sequence[int]) -> np.ndarray:
    """A read-only strided *view* ``(N, C, *out_shape, *kernel)`` of the windows
    (no copy): ``view[n, c, *o, *k] = xp[n, c, *(o * stride + k * dilation)]``.
    Used by pooling, where a reduction over the last axes needs no im2col copy."""
    n_sp = len(kernel)
    lead = xp.shape[:-n_sp]
    sp_strides = xp.strides[-n_sp:]
    shape = lead + tuple(out_shape) + tuple(kernel)
    strides = (xp.strides[:-n_sp] + tuple(st * s for st, s in zip(sp_strides, stride))
               + tuple(st * d for st, d in zip(sp_strides, dilation)))
    return np.lib.stride_tricks.as_strided(xp, shape=shape, strides=strides, writeable=False)
