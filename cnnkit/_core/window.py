"""The N-d sliding-window core: argument checks, padding (:func:`pad`, the one
padding function, with its adjoint :func:`pad_backward`), output sizes, and the
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
#: The modes of :func:`pad`. The first four are PyTorch's (``torch.nn.functional.pad``);
#: ``symmetric`` (the edge repeated) is not, but filtering needs it (see :func:`pad`).
PAD_MODES: tuple[str, ...] = ("constant", "reflect", "replicate", "circular", "symmetric")

#: Above this many contiguous pieces per axis, :func:`pad` gathers with one ``np.take``
#: instead of one strided slice copy per piece (only wide periodic borders get there).
_MAX_PIECES = 16


def pad_index(positions, n: int, mode: str) -> np.ndarray:
    """The input position that each of ``positions`` (ints of any range, relative to
    an axis of length ``n``) reads under ``mode``; ``-1`` marks the fill value of
    ``"constant"``. The rules, for a row ``a b c d``::

        constant   0 0 | a b c d | 0 0      -1 outside 0..n-1
        reflect    c b | a b c d | c b      mirror without the edge, period 2 (n - 1)
        replicate  a a | a b c d | d d      clip(i, 0, n - 1)
        circular   c d | a b c d | a b      i mod n
        symmetric  b a | a b c d | d c      mirror with the edge, period 2 n

    Periodic, so any distance from the edge works (``np.pad`` and ``scipy.ndimage``
    extend the same way); a single pixel reflects onto itself.
    """
    i = np.asarray(positions, dtype=np.intp)
    if mode == "constant":
        return np.where((i >= 0) & (i < n), i, -1)
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode must be one of {', '.join(map(repr, PAD_MODES))}, got {mode!r}")
    if n < 1:
        raise ValueError(f"{mode} padding needs a non-empty axis, got size {n}")
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    if mode == "symmetric":
        i = i % (2 * n)
        return np.where(i >= n, 2 * n - 1 - i, i)
    if n == 1:  # reflect
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = i % period
    return np.where(i >= n, period - i, i)


def check_pads(pads, ndim: int, name: str = "pads") -> Pads:
    """``pads`` as a tuple of ``(before, after)`` int pairs for at most ``ndim`` trailing axes."""
    if not isinstance(pads, (tuple, list)) or not all(
            isinstance(p, (tuple, list)) and len(p) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in p) for p in pads):
        raise TypeError(f"{name} must be a sequence of (before, after) int pairs, got {pads!r}")
    if len(pads) > ndim:
        raise ValueError(f"{name} {tuple(map(tuple, pads))} pads {len(pads)} axes but the array has only {ndim}")
    return tuple((int(lo), int(hi)) for lo, hi in pads)


def _pieces(idx: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Split a 1-D index map into ``(start, stop, first, step)`` pieces, ``step`` in
    ``{-1, 0, 1}``: output positions ``start..stop-1`` read ``first + step * k``.
    Each piece is one strided slice copy (a broadcast for ``step = 0``)."""
    if len(idx) < 2:
        return [(0, len(idx), int(idx[0]), 1)] if len(idx) else []
    d = np.diff(idx)
    starts = np.concatenate(([0], np.flatnonzero(d[1:] != d[:-1]) + 1, [len(idx)]))
    pieces = []
    for start, stop in zip(starts[:-1].tolist(), starts[1:].tolist()):
        step = int(d[start]) if stop - start > 1 else 1
        if step not in (-1, 0, 1):  # not produced by the modes above, but stay correct
            pieces += [(k, k + 1, int(idx[k]), 1) for k in range(start, stop)]
        else:
            pieces.append((start, stop, int(idx[start]), step))
    return pieces


def _source(first: int, length: int, step: int) -> slice:
    if step == 1:
        return slice(first, first + length)
    if step == 0:
        return slice(first, first + 1)  # broadcast over the piece
    last = first - length + 1
    return slice(first, last - 1 if last > 0 else None, -1)


def _gather_axis(x: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """``np.take(x, idx, axis)`` by strided slice copies (``idx`` non-negative)."""
    pieces = _pieces(idx)
    if len(pieces) > _MAX_PIECES:
        return np.take(x, idx, axis=axis)
    out = np.empty(x.shape[:axis] + (len(idx),) + x.shape[axis + 1:], dtype=x.dtype)
    lead = (slice(None),) * axis
    for start, stop, first, step in pieces:
        out[lead + (slice(start, stop),)] = x[lead + (_source(first, stop - start, step),)]
    return out


def _scatter_axis(g: np.ndarray, idx: np.ndarray, n: int, axis: int) -> np.ndarray:
    """The adjoint of :func:`_gather_axis`: ``gx[..., idx[k], ...] += g[..., k, ...]``, ``gx`` of length ``n``."""
    gx = np.zeros(g.shape[:axis] + (n,) + g.shape[axis + 1:], dtype=g.dtype)
    pieces = _pieces(idx)
    lead = (slice(None),) * axis
    if len(pieces) > _MAX_PIECES:
        np.add.at(np.moveaxis(gx, axis, 0), idx, np.moveaxis(g, axis, 0))
        return gx
    for start, stop, first, step in pieces:
        part = g[lead + (slice(start, stop),)]
        if step == 0:
            part = part.sum(axis=axis, keepdims=True)
        gx[lead + (_source(first, stop - start, step),)] += part
    return gx


def _constant_slices(shape, pads: Pads) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """``(src, dst)``: the part of the input kept by ``pads`` (negative pads crop) and where it goes."""
    src, dst = [], []
    for n, (lo, hi) in zip(shape, pads):
        start, stop = max(-lo, 0), n - max(-hi, 0)
        kept = max(stop - start, 0)
        src.append(slice(start, start + kept))
        dst.append(slice(max(lo, 0), max(lo, 0) + kept))
    return (Ellipsis,) + tuple(src), (Ellipsis,) + tuple(dst)


def _crop_for_circular(shape, pads: Pads) -> tuple[tuple[slice, ...], Pads]:
    """PyTorch's circular padding crops the negative pads first and wraps the cropped axis."""
    keep = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(shape, pads))
    return (Ellipsis,) + keep, tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads)


def _padded_shape(shape, pads: Pads, mode: str) -> tuple[int, ...]:
    lead = len(shape) - len(pads)
    out = list(shape[:lead])
    for axis, (n, (lo, hi)) in enumerate(zip(shape[lead:], pads), start=lead):
        if n + lo + hi < 0:
            raise ValueError(f"padding axis {axis} of size {n} by ({lo}, {hi}) would give a negative size")
        if mode != "constant" and n == 0 and (lo > 0 or hi > 0):
            raise ValueError(f"{mode} padding of axis {axis}, which is empty (shape {tuple(shape)})")
        out.append(n + lo + hi)
    return tuple(out)


def pad(x: np.ndarray, pads, mode: str = "constant", value: float = 0.0) -> np.ndarray:
    """Pad the trailing ``len(pads)`` axes of ``x`` by one ``(before, after)`` pair each:
    the one padding function of cnnkit (``F.pad``, pooling and ``filter2d`` use it).

    ``mode`` is PyTorch's (``torch.nn.functional.pad``), with the rules of
    :func:`pad_index`: ``"constant"`` (``value``), ``"reflect"`` (mirror without
    the edge; = OpenCV ``BORDER_REFLECT_101``, scipy.ndimage ``"mirror"``, ``np.pad``
    ``"reflect"``), ``"replicate"`` (the edge value; OpenCV ``BORDER_REPLICATE``,
    scipy ``"nearest"``, ``np.pad`` ``"edge"``), ``"circular"`` (periodic; OpenCV
    ``BORDER_WRAP``, scipy and ``np.pad`` ``"wrap"``), and, beyond PyTorch,
    ``"symmetric"`` (mirror with the edge; OpenCV ``BORDER_REFLECT``, scipy
    ``"reflect"``, ``np.pad`` ``"symmetric"``). So "reflect" means PyTorch's
    reflect everywhere in cnnkit; OpenCV's and scipy's "reflect" is ``"symmetric"``.

    Negative pads crop, as PyTorch: for ``constant``, ``reflect``, ``replicate`` and
    ``symmetric`` output position ``i`` in ``-before .. n + after - 1`` reads
    ``pad_index(i)`` of the whole axis; ``circular`` crops first and wraps the
    cropped axis (PyTorch's rule). Borders wider than the axis repeat
    periodically, as ``np.pad`` does (``F.pad`` refuses them, as PyTorch).
    Returns ``x`` itself when every pad is 0.

    >>> pad(np.array([1, 2, 3]), [(2, 2)], "reflect")
    array([3, 2, 1, 2, 3, 2, 1])
    >>> pad(np.array([1, 2, 3]), [(2, -1)], "symmetric")
    array([2, 1, 1, 2])
    """
    pads = check_pads(pads, x.ndim)
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode must be one of {', '.join(map(repr, PAD_MODES))}, got {mode!r}")
    if not any(lo or hi for lo, hi in pads):
        return x
    lead = x.ndim - len(pads)
    shape = _padded_shape(x.shape, pads, mode)
    if mode == "constant":
        out = np.full(shape, value, dtype=x.dtype)
        src, dst = _constant_slices(x.shape[lead:], pads)
        out[dst] = x[src]
        return out
    if mode == "circular":
        keep, pads = _crop_for_circular(x.shape[lead:], pads)
        x = x[keep]
    for axis, (lo, hi) in enumerate(pads, start=lead):
        if lo or hi:
            n = x.shape[axis]
            x = _gather_axis(x, pad_index(np.arange(-lo, n + hi), n, mode), axis)
    return x


def pad_backward(g: np.ndarray, in_shape: Sequence[int], pads, mode: str = "constant") -> np.ndarray:
    """The adjoint of :func:`pad` (its backward): the gradient of ``x`` of shape
    ``in_shape`` from the gradient ``g`` of the padded array. Each output position
    sends its gradient to the input position it read (summed where several read one)."""
    in_shape = tuple(in_shape)
    pads = check_pads(pads, len(in_shape))
    lead = len(in_shape) - len(pads)
    if mode == "constant":
        gx = np.zeros(in_shape, dtype=g.dtype)
        src, dst = _constant_slices(in_shape[lead:], pads)
        gx[src] = g[dst]
        return gx
    full = in_shape
    if mode == "circular":
        keep, pads_kept = _crop_for_circular(in_shape[lead:], pads)
        in_shape = in_shape[:lead] + tuple(n - max(-lo, 0) - max(-hi, 0)
                                           for n, (lo, hi) in zip(in_shape[lead:], pads))
        pads = pads_kept
    for axis in reversed(range(lead, len(in_shape))):
        lo, hi = pads[axis - lead]
        if lo or hi:
            n = in_shape[axis]
            g = _scatter_axis(g, pad_index(np.arange(-lo, n + hi), n, mode), n, axis)
    if mode == "circular" and in_shape != full:
        gx = np.zeros(full, dtype=g.dtype)
        gx[keep] = g
        return gx
    return g


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
