"""Table entries for the tensor ops: arithmetic, reductions, shapes, indexing,
padding, casts, and the shape-computing operators PyTorch's exporter writes
(``Shape``, ``Gather`` on shapes, ``Concat``, ``Unsqueeze``...).

Imported, these are steps of the generic graph module, written with cnnkit's
tensor ops so that gradients flow through them; inputs that ONNX passes as
tensors but that are really arguments (shapes, axes, pads) are read from
their values when the step runs.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..autograd import Tensor, cat, where
from ..autograd import basic_ops as B
from ..autograd.tensor import _Cast
from ..functional import padding as PD
from .table import onnx, register

helper = onnx.helper
INT_MAX = 2 ** 63 - 1


def _ints(value) -> list[int]:
    """An ONNX int tensor argument (a Tensor or an array) as a list of Python ints."""
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    return [int(v) for v in np.atleast_1d(arr).ravel()]


def _const_tensor(array) -> Tensor:
    return Tensor._wrap(np.asarray(array))


# --------------------------------------------------------------- arithmetic
def _binary(onnx_op: str, op_class, fn, note: str | None = None) -> None:
    class Binary:
        def to_onnx(rec, ctx):
            dtype = ctx.out.dtype
            return ctx.node(onnx_op, [ctx.inp(0, dtype=dtype), ctx.inp(1, dtype=dtype)])

        def from_onnx(node, b):
            b.attrs(node)
            b.step(node, fn)
    register(onnx_op, exports=(op_class,), note=note or "elementwise, NumPy broadcasting")(Binary)


def _div(a, b_):
    if np.issubdtype(a.dtype, np.integer) and np.issubdtype(b_.dtype, np.integer):  # ONNX: truncate toward 0
        q = np.trunc(a.data / b_.data).astype(np.result_type(a.dtype, b_.dtype))
        return _const_tensor(q)
    return a / b_


_binary("Add", B.Add, lambda a, b_: a + b_)
_binary("Sub", B.Sub, lambda a, b_: a - b_)
_binary("Mul", B.Mul, lambda a, b_: a * b_)
_binary("Div", B.Div, _div)


def _unary(onnx_op: str, op_class, fn) -> None:
    class Unary:
        def to_onnx(rec, ctx):
            return ctx.node(onnx_op, [ctx.inp(0)])

        def from_onnx(node, b):
            b.attrs(node)
            b.step(node, fn)
    register(onnx_op, exports=(op_class,) if op_class else (), note="elementwise")(Unary)


_unary("Neg", B.Neg, lambda x: -x)
_unary("Exp", B.Exp, lambda x: x.exp())
_unary("Log", B.Log, lambda x: x.log())
_unary("Sqrt", B.Sqrt, lambda x: x.sqrt())
_unary("Abs", B.Abs, lambda x: x.abs())


@register("Pow", exports=(B.Pow,))
class Pow:
    """a ** b"""

    def to_onnx(rec, ctx):
        return ctx.node("Pow", [ctx.inp(0), ctx.inp(1)])

    def from_onnx(node, b):
        b.attrs(node)
        b.step(node, lambda a, e: a ** (e.data.astype(a.dtype) if np.issubdtype(a.dtype, np.floating) else e))


@register("Clip", exports=(B.Clamp,))
class Clip:
    """clamp(min, max)"""

    def to_onnx(rec, ctx):
        dtype = ctx.value_dtype(0)
        lo, hi = rec.params.get("lo"), rec.params.get("hi")
        ins = [ctx.inp(0),
               ctx.const(np.asarray(lo, dtype), "min") if lo is not None else "",
               ctx.const(np.asarray(hi, dtype), "max") if hi is not None else ""]
        while ins[-1] == "":
            ins.pop()
        return ctx.node("Clip", ins)

    def from_onnx(node, b):
        b.attrs(node)

        def step(x, lo=None, hi=None):
            return x.clamp(None if lo is None else lo.data.item(), None if hi is None else hi.data.item())
        b.step(node, step)


_binary("MatMul", B.MatMul, lambda a, c: a @ c,
        "a @ b (NumPy semantics); MatMul by a constant 2-D matrix (+ Add of a bias) is read as nn.Linear")


@register("Where", exports=(B.Where,))
class Where:
    """where(cond, a, b)"""

    def to_onnx(rec, ctx):
        dtype = ctx.out.dtype
        return ctx.node("Where", [ctx.inp(0, dtype=np.bool_), ctx.inp(1, dtype=dtype), ctx.inp(2, dtype=dtype)])

    def from_onnx(node, b):
        b.attrs(node)
        b.step(node, lambda c, x, y: where(c.data.astype(bool), x, y))


@register("Cast", exports=(_Cast,))
class Cast:
    """astype(dtype)"""

    def to_onnx(rec, ctx):
        return ctx.node("Cast", [ctx.inp(0)], to=helper.np_dtype_to_tensor_dtype(np.dtype(rec.params["dtype"])))

    def from_onnx(node, b):
        a = b.attrs(node, to=None, saturate=1, round_mode="up")
        try:
            dtype = helper.tensor_dtype_to_np_dtype(a["to"])
        except (KeyError, TypeError, ValueError):
            raise b.fail(node, f"attribute to={a['to']!r} is not a tensor type") from None
        b.step(node, lambda x: x.astype(dtype) if x.dtype != dtype else x)


# ----------------------------------------------------------------- reductions
def _reduction(onnx_op: str, exports, fn) -> None:
    class Reduce:
        def to_onnx(rec, ctx):
            op = rec.op
            if isinstance(op, tuple(exports[1:])):  # MaxAlong: one axis, dropped
                axes, keep = [op.axis], 0
            else:
                axes, keep = list(op.axes), int(op.keepdims)
            return ctx.node(onnx_op, [ctx.inp(0), ctx.ints(axes, "axes")], keepdims=keep)

        def from_onnx(node, b):
            a = b.attrs(node, axes=None, keepdims=1, noop_with_empty_axes=0)
            attr_axes = a["axes"]

            def step(x, axes=None):
                ax = _ints(axes) if axes is not None else (list(attr_axes) if attr_axes is not None else [])
                if not ax and a["noop_with_empty_axes"]:
                    return x
                return fn(x, tuple(v % x.ndim for v in ax) if ax else None, bool(a["keepdims"]))
            b.step(node, step)
    register(onnx_op, exports=exports, note="over the given axes; keepdims")(Reduce)


_reduction("ReduceSum", (B.Sum,), lambda x, d, k: x.sum(d, keepdim=k))
_reduction("ReduceMean", (B.Mean,), lambda x, d, k: x.mean(d, keepdim=k))
_reduction("ReduceMax", (B.Max, F.activation.MaxAlong), lambda x, d, k: x.max(d, keepdim=k))
_reduction("ReduceMin", (), lambda x, d, k: x.min(d, keepdim=k))


# --------------------------------------------------------------------- shapes
def _unit_axes(big: tuple, small: tuple) -> list[int] | None:
    """The axes of ``big`` whose removal leaves ``small`` (all of size 1), or ``None``."""
    if len(big) <= len(small):
        return None
    axes, j = [], 0
    for i, d in enumerate(big):
        if j < len(small) and d == small[j]:
            j += 1
        elif d == 1:
            axes.append(i)
        else:
            return None
    return axes if j == len(small) else None


@register("Reshape", exports=(B.Reshape,), batch_params=("shape",))
class Reshape:
    """reshape: written as Flatten ((N, ...) -> (N, -1)), Squeeze / Unsqueeze (unit axes) or Reshape, batch as 0 / -1."""

    def to_onnx(rec, ctx):
        src, dst = ctx.shape(0), ctx.out_shape
        if src == dst:
            return ctx.inp(0)
        dyn_in, dyn_out = ctx.dynamic_axes(0), ctx.dynamic_axes()
        rec2 = ctx.rec2 if ctx.w.dynamic else None
        src2 = tuple(np.shape(rec2.inputs[0].data)) if rec2 is not None else None
        dst2 = tuple(rec2.outputs[0].shape) if rec2 is not None else None
        removed = _unit_axes(src, dst)
        if removed is not None and not dyn_in & set(removed) and (src2 is None or _unit_axes(src2, dst2) == removed):
            return ctx.node("Squeeze", [ctx.inp(0), ctx.ints(removed, "axes")])
        added = _unit_axes(dst, src)
        if added is not None and not dyn_out & set(added) and (src2 is None or _unit_axes(dst2, src2) == added):
            return ctx.node("Unsqueeze", [ctx.inp(0), ctx.ints(added, "axes")])
        if (len(src) > 2 and len(dst) == 2 and dst[0] == src[0] and dst[1] == math.prod(src[1:])
                and dyn_in <= {0} and dyn_out <= {0}):
            return ctx.node("Flatten", [ctx.inp(0)], axis=1)
        if len(dyn_out) > 1:
            raise ctx.fail(f"reshape to {dst} has {len(dyn_out)} dimensions that change with the batch size; "
                           "export with dynamic_batch=False")
        target = list(dst)
        for k in dyn_out:
            target[k] = 0 if (k == 0 and 0 in dyn_in) else -1
        return ctx.node("Reshape", [ctx.inp(0), ctx.ints(target, "shape")])

    def from_onnx(node, b):
        a = b.attrs(node, allowzero=0)

        def step(x, shape):
            target = _ints(shape)
            if not a["allowzero"]:
                target = [x.shape[i] if v == 0 else v for i, v in enumerate(target)]
            return x.reshape(tuple(target))
        b.step(node, step)


@register("Squeeze")
class Squeeze:
    """remove unit axes (all of them without axes); written for reshapes that drop unit axes"""

    def from_onnx(node, b):
        b.attrs(node)

        def step(x, axes=None):
            if axes is None:
                return x.reshape(tuple(d for d in x.shape if d != 1))
            drop = {v % x.ndim for v in _ints(axes)}
            return x.reshape(tuple(d for i, d in enumerate(x.shape) if i not in drop))
        b.step(node, step)


@register("Unsqueeze")
class Unsqueeze:
    """insert unit axes; written for reshapes that add unit axes, indexing with None, stack"""

    def from_onnx(node, b):
        b.attrs(node)

        def step(x, axes):
            rank = x.ndim + len(_ints(axes))
            new = sorted(v % rank for v in _ints(axes))
            shape = list(x.shape)
            for v in new:
                shape.insert(v, 1)
            return x.reshape(tuple(shape))
        b.step(node, step)


@register("Transpose", exports=(B.Permute,))
class Transpose:
    """permute(perm)"""

    def to_onnx(rec, ctx):
        return ctx.node("Transpose", [ctx.inp(0)], perm=list(rec.op.axes))

    def from_onnx(node, b):
        a = b.attrs(node, perm=None)
        b.step(node, lambda x: x.permute(*(a["perm"] if a["perm"] is not None else reversed(range(x.ndim)))))


@register("Concat", exports=(B.Concat, B.Stack))
class Concat:
    """cat along an axis (stack: Unsqueeze each, then Concat)"""

    def to_onnx(rec, ctx):
        axis = rec.params.get("axis", 0)
        ins = [ctx.inp(i) for i in range(len(rec.inputs))]
        if isinstance(rec.op, B.Stack):
            axis = axis % len(ctx.out_shape)
            ins = [ctx.node("Unsqueeze", [v, ctx.ints([axis], "axes")]) for v in ins]
        return ctx.node("Concat", ins, axis=axis)

    def from_onnx(node, b):
        a = b.attrs(node, axis=None)
        if a["axis"] is None:
            raise b.fail(node, "attribute axis is required")
        b.step(node, lambda *xs: cat(list(xs), dim=a["axis"]))


def _basic_parts(index, ndim: int):
    parts = list(index) if isinstance(index, tuple) else [index]
    if any(p is Ellipsis for p in parts):
        k = parts.index(Ellipsis)
        real = sum(p is not None for p in parts) - 1
        parts[k:k + 1] = [slice(None)] * (ndim - real)
    real = sum(p is not None for p in parts)
    return parts + [slice(None)] * (ndim - real)


@register("Slice", exports=(B.GetItem,))
class Slice:
    """indexing: slices (any step) and ints as Slice + Squeeze, None as Unsqueeze, one index array as Gather"""

    def to_onnx(rec, ctx):
        index = rec.params["index"]
        shape = ctx.shape(0)
        parts = list(index) if isinstance(index, tuple) else [index]
        arrays = [k for k, p in enumerate(parts) if isinstance(p, (np.ndarray, list))]
        if arrays:
            if len(arrays) == 1 and all(isinstance(p, slice) and p == slice(None) for k, p in enumerate(parts)
                                        if k != arrays[0]):
                idx = np.asarray(parts[arrays[0]])
                if idx.dtype == bool:
                    raise ctx.fail("boolean-mask indexing cannot be exported")
                return ctx.node("Gather", [ctx.inp(0), ctx.const(idx.astype(np.int64), "indices")], axis=arrays[0])
            raise ctx.fail(f"advanced indexing {index!r} cannot be exported (one index array on one axis can)")
        parts = _basic_parts(index, len(shape))
        starts, ends, axes, steps, squeeze, unsqueeze = [], [], [], [], [], []
        axis = out_axis = 0
        for p in parts:
            if p is None:
                unsqueeze.append(out_axis)
                out_axis += 1
                continue
            if isinstance(p, slice):
                if p != slice(None):
                    step = 1 if p.step is None else int(p.step)
                    lo = p.start if p.start is not None else (0 if step > 0 else INT_MAX)
                    hi = p.stop if p.stop is not None else (INT_MAX if step > 0 else -INT_MAX)
                    starts.append(int(lo)), ends.append(int(hi)), axes.append(axis), steps.append(step)
                out_axis += 1
            else:  # an int: a slice of one, squeezed
                i = int(p)
                starts.append(i), ends.append(i + 1 if i != -1 else INT_MAX), axes.append(axis), steps.append(1)
                squeeze.append(axis)
            axis += 1
        y = ctx.inp(0)
        if axes:
            y = ctx.node("Slice", [y, ctx.ints(starts, "starts"), ctx.ints(ends, "ends"), ctx.ints(axes, "axes"),
                                   ctx.ints(steps, "steps")])
        if squeeze:
            y = ctx.node("Squeeze", [y, ctx.ints(squeeze, "squeeze_axes")])
        if unsqueeze:
            y = ctx.node("Unsqueeze", [y, ctx.ints(unsqueeze, "unsqueeze_axes")])
        if y == ctx.inp(0):
            return ctx.node("Identity", [y])
        return y

    def from_onnx(node, b):
        b.attrs(node)

        def step(x, starts, ends, axes=None, steps=None):
            s, e = _ints(starts), _ints(ends)
            ax = [v % x.ndim for v in _ints(axes)] if axes is not None else list(range(len(s)))
            st = _ints(steps) if steps is not None else [1] * len(s)
            index = [slice(None)] * x.ndim
            for a_, lo, hi, k in zip(ax, s, e, st):
                if k == 0:
                    raise ValueError("Slice: steps must not be 0")
                index[a_] = slice(lo, None if (k < 0 and hi < -x.shape[a_]) else hi, k)
            return x[tuple(index)]
        b.step(node, step)


@register("Shape")
class Shape:
    """the input's shape as int64 (PyTorch writes it for dynamic reshapes)"""

    def from_onnx(node, b):
        a = b.attrs(node, start=0, end=None)
        b.step(node, lambda x: _const_tensor(np.asarray(x.shape[a["start"]:a["end"]], dtype=np.int64)))


@register("Constant", layer="a constant")
class Constant:
    """a constant value"""

    def from_onnx(node, b):
        b.constant_node(node)


@register("ConstantOfShape")
class ConstantOfShape:
    """a tensor of the given shape filled with value"""

    def from_onnx(node, b):
        a = b.attrs(node, value=None)
        fill = onnx.numpy_helper.to_array(a["value"]) if a["value"] is not None else np.zeros(1, np.float32)
        b.step(node, lambda shape: _const_tensor(np.full(_ints(shape), fill.ravel()[0], dtype=fill.dtype)))


@register("Expand")
class Expand:
    """broadcast to a shape"""

    def from_onnx(node, b):
        b.attrs(node)

        def step(x, shape):
            target = np.broadcast_shapes(x.shape, tuple(_ints(shape)))
            return x if target == x.shape else x + np.zeros(target, dtype=x.dtype)
        b.step(node, step)


@register("Identity", layer="the same value (no step)")
class Identity:
    """the same tensor"""

    def from_onnx(node, b):
        b.attrs(node)
        b.alias(node, node.input[0], node.output[0])


# -------------------------------------------------------------------- padding
_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@register("Pad", exports=(PD.Pad,))
class Pad:
    """F.pad: constant (negative pads crop), reflect, edge (replicate), wrap (circular, opset 19)"""

    def to_onnx(rec, ctx):
        p = rec.params
        if p["mode"] == "circular":
            ctx.need_opset(19, "circular padding (Pad mode 'wrap')")
        rank = len(ctx.shape(0))
        lead = rank - len(p["pads"])
        pads = [0] * lead + [lo for lo, _ in p["pads"]] + [0] * lead + [hi for _, hi in p["pads"]]
        ins = [ctx.inp(0), ctx.ints(pads, "pads")]
        if p["mode"] == "constant" and p["value"]:
            ins.append(ctx.const(np.asarray(p["value"], dtype=ctx.value_dtype(0)), "value"))
        return ctx.node("Pad", ins, mode=_PAD_MODES[p["mode"]])

    def from_onnx(node, b):
        a = b.attrs(node, mode="constant")
        modes = {v: k for k, v in _PAD_MODES.items()}
        if a["mode"] not in modes:
            raise b.fail(node, f"attribute mode={a['mode']!r} is not supported ({', '.join(modes)})")
        mode = modes[a["mode"]]

        def step(x, pads, value=None, axes=None):
            flat = _ints(pads)
            ax = [v % x.ndim for v in _ints(axes)] if axes is not None else list(range(x.ndim))
            pairs = {axis: (flat[k], flat[k + len(ax)]) for k, axis in enumerate(ax)}
            first = min((axis for axis, pr in pairs.items() if pr != (0, 0)), default=None)
            if first is None:
                return x
            torch_pad = []
            for axis in reversed(range(first, x.ndim)):
                torch_pad += list(pairs.get(axis, (0, 0)))
            fill = float(value.data) if (value is not None and mode == "constant") else None
            return F.pad(x, tuple(torch_pad), mode=mode, value=fill)
        b.step(node, step)
