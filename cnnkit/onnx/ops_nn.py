"""Table entries for the layers: convolution, pooling, normalisation, linear,
embedding, activations, dropout, flatten and maxout.

Each entry writes cnnkit's op (``to_onnx``) and reads the ONNX node back
(``from_onnx``) into the matching :mod:`cnnkit.nn` layer when its weights are
initializers (a Parameter each), else into a functional graph step.
"""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from .. import nn
from .._core.pool import adaptive_avg_matrix, adaptive_ranges, avg_divisor, pool_output_shape
from .._core.window import same_pads, transposed_output_shape
from ..functional import activation as A
from ..functional import conv as C
from ..functional import drop as D
from ..functional.linear import Linear as LinearOp
from ..functional import norm as N
from ..functional import pool as P
from ..functional import sparse as S
from ..autograd import basic_ops as B
from .table import pads_from_onnx, pads_to_onnx, pattern, register, symmetric_or_pairs

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_CONV_T = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}
_CONV_F = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T_F = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAXPOOL = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_AVGPOOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_ADAPTIVE_AVG = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}
_ADAPTIVE_MAX = {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d}
_BATCHNORM = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}


def f32(value: float) -> float:
    """An ONNX float attribute (stored as float32) as the shortest decimal that reads back the same."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


def _spatial_n(node, b, weight: np.ndarray | None, x_name: str, kernel) -> int:
    if weight is not None:
        return weight.ndim - 2
    if kernel is not None:
        return len(kernel)
    rank = b.rank(x_name)
    if rank is None:
        raise b.fail(node, "cannot tell the number of spatial axes (no kernel_shape, no static input rank)")
    return rank - 2


def _window_pads(node, b, a: dict, n: int, kernel, stride, dilation, x_name: str, runtime_lower: bool = False):
    """``(before, after)`` per spatial axis from ``pads`` / ``auto_pad``; ``"same"`` for SAME_UPPER
    (cnnkit's "same" puts the odd pixel at the end, as SAME_UPPER) when the input's spatial shape
    is not static, and then ``"same_lower"`` for SAME_LOWER if ``runtime_lower`` (pools find their
    pads per call), else an error."""
    auto = a["auto_pad"]
    if auto == "NOTSET":
        return pads_from_onnx(a["pads"], n) if a["pads"] is not None else ((0, 0),) * n
    if auto == "VALID":
        return ((0, 0),) * n
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        shape = b.static_shape(x_name)
        if shape is None or any(s is None for s in shape[2:]):
            if auto == "SAME_UPPER" or runtime_lower:
                return "same" if auto == "SAME_UPPER" else "same_lower"
            raise b.fail(node, "auto_pad=SAME_LOWER needs a static input shape")
        pairs = tuple(same_pads(i, k, s, d) for i, k, s, d in zip(shape[2:], kernel, stride, dilation))
        return pairs if auto == "SAME_UPPER" else tuple((hi, lo) for lo, hi in pairs)
    raise b.fail(node, f"attribute auto_pad={auto!r} is not supported (NOTSET, VALID, SAME_UPPER, SAME_LOWER)")


def _window_attrs(node, b, n: int, extra: dict | None = None):
    spec = dict(kernel_shape=None, strides=None, pads=None, dilations=None, auto_pad="NOTSET")
    spec.update(extra or {})
    a = b.attrs(node, **spec)
    stride = tuple(a["strides"]) if a["strides"] is not None else (1,) * n
    dilation = tuple(a["dilations"]) if a["dilations"] is not None else (1,) * n
    for name, v in (("strides", stride), ("dilations", dilation)):
        if len(v) != n or any(s < 1 for s in v):
            raise b.fail(node, f"attribute {name}={list(v)} must hold {n} positive ints")
    return a, stride, dilation


# ------------------------------------------------------------ convolution
@register("Conv", exports=(C.ConvNd,), layer="Conv1d / Conv2d / Conv3d")
class Conv:
    """Convolution, every padding form (SAME with stride > 1, asymmetric) as explicit pads; groups, dilation."""

    def to_onnx(rec, ctx):
        p = rec.params
        ins = [ctx.inp(0), ctx.inp(1)] + ([ctx.inp(2)] if rec.inputs[2] is not None else [])
        return ctx.node("Conv", ins, kernel_shape=ctx.shape(1)[2:], strides=p["stride"],
                        pads=pads_to_onnx(p["pads"]), dilations=p["dilation"], group=p["groups"])

    def from_onnx(node, b):
        w = b.const(node.input[1])
        n = _spatial_n(node, b, w, node.input[0], None)
        a, stride, dilation = _window_attrs(node, b, n, {"group": 1})
        kernel = tuple(w.shape[2:]) if w is not None else tuple(a["kernel_shape"] or ())
        if a["kernel_shape"] is not None and tuple(a["kernel_shape"]) != kernel:
            raise b.fail(node, f"attribute kernel_shape={list(a['kernel_shape'])} does not match the weight's {kernel}")
        if n not in _CONV:
            raise b.fail(node, f"a convolution with {n} spatial axes is not supported (1, 2 or 3)")
        pads = _window_pads(node, b, a, n, kernel, stride, dilation, node.input[0])
        padding = pads if isinstance(pads, str) else symmetric_or_pairs(pads)
        has_bias = b.has(node, 2)
        bias = b.const(node.input[2]) if has_bias else None
        if w is None or (has_bias and bias is None):  # weights computed in the graph: a functional step
            fn = _CONV_F[n]
            return b.step(node, lambda x, w_, b_=None: fn(x, w_, b_, stride, padding, dilation, a["group"]))
        layer = b.build(node, _CONV[n], w.shape[1] * a["group"], w.shape[0], kernel, stride=stride,
                        padding=padding, dilation=dilation, groups=a["group"], bias=has_bias, dtype=w.dtype)
        layer.weight = b.param(node.input[1])
        if has_bias:
            layer.bias = b.param(node.input[2])
        b.layer(node, layer, params=node.input[1:])


@register("ConvTranspose", exports=(C.ConvTransposeNd,), layer="ConvTranspose1d / ConvTranspose2d")
class ConvTranspose:
    """Transposed convolution with output_padding, groups and dilation (3-D: a functional step)."""

    def to_onnx(rec, ctx):
        p = rec.params
        n = len(p["stride"])
        kernel = ctx.shape(1)[2:]
        base = transposed_output_shape(ctx.shape(0)[2:], kernel, p["stride"], p["pads"], p["dilation"], (0,) * n)
        out_pad = [o - q for o, q in zip(p["out_shape"], base)]
        pads = [list(pair) for pair in p["pads"]]
        extra = [0] * n
        for a_, s in enumerate(p["stride"]):
            if out_pad[a_] >= s:  # onnxruntime refuses output_padding >= stride: fold it into the end padding,
                fold = min(out_pad[a_], pads[a_][1])  # and pad the rest (positions no input reaches: bias only)
                pads[a_][1] -= fold
                out_pad[a_] -= fold
                if out_pad[a_] >= s:
                    extra[a_], out_pad[a_] = out_pad[a_], 0
        attrs = dict(kernel_shape=kernel, strides=p["stride"], pads=pads_to_onnx(pads), dilations=p["dilation"],
                     group=p["groups"], output_padding=out_pad)
        has_bias = rec.inputs[2] is not None
        if not any(extra):
            ins = [ctx.inp(0), ctx.inp(1)] + ([ctx.inp(2)] if has_bias else [])
            return ctx.node("ConvTranspose", ins, **attrs)
        y = ctx.node("ConvTranspose", [ctx.inp(0), ctx.inp(1)], **attrs)
        y = ctx.node("Pad", [y, ctx.ints([0] * (2 + n) + [0, 0] + extra, "pads")], mode="constant")
        if has_bias:
            y = ctx.node("Add", [y, ctx.node("Reshape", [ctx.inp(2), ctx.ints([-1] + [1] * n, "bias_shape")])])
        return y

    def from_onnx(node, b):
        w = b.const(node.input[1])
        n = _spatial_n(node, b, w, node.input[0], None)
        a, stride, dilation = _window_attrs(node, b, n, {"group": 1, "output_padding": None, "output_shape": None})
        if a["output_shape"] is not None:
            raise b.fail(node, "attribute output_shape is not supported (give pads and output_padding)")
        if a["auto_pad"] not in ("NOTSET", "VALID"):
            raise b.fail(node, f"attribute auto_pad={a['auto_pad']!r} is not supported for ConvTranspose "
                               "(NOTSET or VALID)")
        kernel = tuple(w.shape[2:]) if w is not None else tuple(a["kernel_shape"] or ())
        pads = _window_pads(node, b, a, n, kernel, stride, dilation, node.input[0])
        padding = symmetric_or_pairs(pads)
        out_pad = tuple(a["output_padding"]) if a["output_padding"] is not None else (0,) * n
        has_bias = b.has(node, 2)
        bias = b.const(node.input[2]) if has_bias else None
        if w is None or n not in _CONV_T or (has_bias and bias is None):
            if n not in _CONV_T_F:
                raise b.fail(node, f"a transposed convolution with {n} spatial axes is not supported")
            fn = _CONV_T_F[n]
            return b.step(node, lambda x, w_, b_=None: fn(x, w_, b_, stride, padding, out_pad, a["group"], dilation))
        layer = b.build(node, _CONV_T[n], w.shape[0], w.shape[1] * a["group"], kernel, stride=stride,
                        padding=padding, dilation=dilation, groups=a["group"], bias=has_bias,
                        output_padding=out_pad, dtype=w.dtype)
        layer.weight = b.param(node.input[1])
        if has_bias:
            layer.bias = b.param(node.input[2])
        b.layer(node, layer, params=node.input[1:])


@pattern("ConvTranspose + Pad + Add", "ConvTranspose1d / ConvTranspose2d", "ConvTransposeNd (output_padding >= stride)")
def conv_transpose_padded(node, b) -> bool:
    """``ConvTranspose`` (no bias) + ``Pad`` (zeros after the spatial axes) [+ ``Add`` of ``Reshape(bias)``]
    is one transposed convolution whose output_padding is the sum (what cnnkit writes when
    output_padding >= stride, which onnxruntime refuses)."""
    if node.op_type != "ConvTranspose" or b.has(node, 2) or b.is_graph_output(node.output[0]):
        return False
    users = b.consumers(node.output[0])
    w, rank = b.const(node.input[1]), b.rank(node.input[0])
    if w is None or rank is None or len(users) != 1 or users[0].op_type != "Pad" or w.ndim - 2 not in _CONV_T:
        return False
    pad_node, n = users[0], w.ndim - 2
    pads = b.const(pad_node.input[1]) if b.has(pad_node, 1) else None
    if (pads is None or len(pads) != 2 * rank or any(pads[:rank + 2]) or b.has(pad_node, 2) or b.has(pad_node, 3)
            or b.peek(pad_node).get("mode", b"constant") not in (b"constant", "constant")):
        return False
    extra = [int(v) for v in pads[rank + 2:]]
    chain, out, bias_name = [node, pad_node], pad_node.output[0], None
    adds = b.consumers(out)
    if len(adds) == 1 and adds[0].op_type == "Add" and not b.is_graph_output(out):
        other = adds[0].input[1] if adds[0].input[0] == out else adds[0].input[0]
        reshape = b.producer.get(other)
        src = reshape.input[0] if reshape is not None and reshape.op_type == "Reshape" else other
        bias = b.const(src)
        if bias is not None and bias.shape == (w.shape[1] * b.peek(node).get("group", 1),):
            chain, out, bias_name = chain + [adds[0]], adds[0].output[0], src
    a, stride, dilation = _window_attrs(node, b, n, {"group": 1, "output_padding": None, "output_shape": None})
    if a["output_shape"] is not None or a["auto_pad"] != "NOTSET":
        return False
    out_pad = [p + e for p, e in zip(a["output_padding"] or [0] * n, extra)]
    if any(o >= max(s, d) for o, s, d in zip(out_pad, stride, dilation)):
        return False
    layer = b.build(node, _CONV_T[n], w.shape[0], w.shape[1] * a["group"], tuple(w.shape[2:]), stride=stride,
                    padding=symmetric_or_pairs(_window_pads(node, b, a, n, w.shape[2:], stride, dilation,
                                                            node.input[0])),
                    dilation=dilation, groups=a["group"], bias=bias_name is not None, output_padding=tuple(out_pad),
                    dtype=w.dtype)
    layer.weight = b.param(node.input[1])
    if bias_name is not None:
        layer.bias = b.param(bias_name)
    b.layer(node, layer, outputs=[out], params=[node.input[1]] + ([bias_name] if bias_name else []), claim=chain)
    return True


# ---------------------------------------------------------------- pooling
#: ``metadata_props`` key on a MaxPool / AveragePool written for an adaptive pool whose sizes divide:
#: its output size, so that it is read back as the same (bit-exact) adaptive layer.
ADAPTIVE_HINT = "cnnkit.adaptive_output_size"


def _adaptive_hint(node, b, n: int, a: dict, kernel, stride) -> tuple[int, ...] | None:
    """The output size an adaptive-pool hint gives, when the node is exactly that pool."""
    hint = next((p.value for p in node.metadata_props if p.key == ADAPTIVE_HINT), None)
    shape = b.static_shape(node.input[0])
    if hint is None or shape is None or len(shape) != n + 2:
        return None
    try:
        out = tuple(int(v) for v in hint.split(","))
    except ValueError:
        return None
    pads = a["pads"] or [0] * (2 * n)
    if (len(out) != n or a["auto_pad"] != "NOTSET" or any(pads) or a.get("ceil_mode", 0) or tuple(kernel) != tuple(stride)
            or any(d != 1 for d in a["dilations"] or [1] * n)
            or any(i is None or i != k * o for i, k, o in zip(shape[2:], kernel, out))):
        return None
    return out


def _ceil_mode(ctx, spatial, kernel, stride, padding, dilation, out_shape) -> bool:
    for ceil in (False, True):
        if pool_output_shape(spatial, kernel, stride, padding, dilation, ceil) == tuple(out_shape):
            return ceil
    raise ctx.fail(f"the output size {tuple(out_shape)} matches neither floor nor ceil mode")


def _pool_layer_args(node, b, n: int, a: dict, stride, dilation):
    """``(kernel, padding, pads)``: ``padding`` the one int per axis of a cnnkit pooling layer, or
    ``None`` when no layer holds the node's ``pads`` (the ``(before, after)`` pairs, or ``"same"`` /
    ``"same_lower"`` found per call): asymmetric padding (TensorFlow's SAME with an even window or
    stride), or padding wider than half the window."""
    kernel = tuple(a["kernel_shape"] or ())
    if len(kernel) != n:
        raise b.fail(node, f"attribute kernel_shape={list(kernel)} must hold {n} ints")
    pads = _window_pads(node, b, a, n, kernel, stride, dilation, node.input[0], runtime_lower=True)
    if isinstance(pads, str) or any(lo != hi or lo > k // 2 for (lo, hi), k in zip(pads, kernel)):
        return kernel, None, pads
    return kernel, tuple(lo for lo, _ in pads), pads


_POOL_F = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d, ("max", 3): F.max_pool3d,
           ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d, ("avg", 3): F.avg_pool3d}


def _explicitly_padded_pool(node, b, kind: str, a: dict, kernel, stride, dilation, pads) -> None:
    """Pooling whose padding no cnnkit layer takes, as a graph step: pad explicitly (``-inf`` for
    max, ``0`` for mean), then pool without padding. ONNX's mean pooling without
    ``count_include_pad`` divides each window by its input cells only: the step multiplies by
    ``window size / that count`` (computed from the padded ones-mask)."""
    where = f"attribute pads={a['pads']} (auto_pad={a['auto_pad']})"
    if a["ceil_mode"]:
        raise b.fail(node, f"{where}: asymmetric or wide pooling padding with ceil_mode=1 is not supported")
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if not isinstance(pads, str) and any(lo >= sp or hi >= sp for (lo, hi), sp in zip(pads, spans)):
        raise b.fail(node, f"{where}: padding as wide as the window {list(kernel)} (windows of padding only) "
                           "is not supported")
    pool, size = _POOL_F[(kind, len(kernel))], math.prod(kernel)

    def pairs(x):
        if not isinstance(pads, str):
            return pads
        upper = tuple(same_pads(i, k, s, d) for i, k, s, d in zip(x.shape[2:], kernel, stride, dilation))
        return upper if pads == "same" else tuple((hi, lo) for lo, hi in upper)

    def torch_order(pp):  # F.pad's (last_before, last_after, second_last_before, ...)
        return tuple(v for lo, hi in reversed(pp) for v in (lo, hi))

    if kind == "max":
        def fn(x):
            return pool(F.pad(x, torch_order(pairs(x)), value=-math.inf), kernel, stride, 0, dilation)
    else:
        include = bool(a["count_include_pad"])

        def fn(x):
            pp = pairs(x)
            y = pool(F.pad(x, torch_order(pp)), kernel, stride, 0)
            if include:
                return y
            ones = np.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
            counts = np.rint(pool(F.pad(ones, torch_order(pp)), kernel, stride, 0).numpy() * size)
            return y * (size / counts).astype(x.dtype)
    b.step(node, fn, inputs=node.input[:1], outputs=node.output[:1])


@register("MaxPool", exports=(P.MaxPoolNd,), layer="MaxPool1d / MaxPool2d / MaxPool3d")
class MaxPool:
    """Max pooling with padding, dilation, ceil_mode; asymmetric/SAME pads as a -inf Pad step (no Indices output).

    Asymmetric or SAME padding (what TensorFlow writes) has no cnnkit layer: it is imported as a
    graph step that pads with -inf and pools without padding (ceil_mode=1 with it is refused)."""

    def to_onnx(rec, ctx):
        p = rec.params
        padding = tuple(lo for lo, _ in p["pads"])
        ceil = _ceil_mode(ctx, ctx.shape(0)[2:], p["kernel"], p["stride"], padding, p["dilation"], p["out_shape"])
        return ctx.node("MaxPool", [ctx.inp(0)], kernel_shape=p["kernel"], strides=p["stride"],
                        pads=list(padding) * 2, dilations=p["dilation"], ceil_mode=int(ceil))

    def from_onnx(node, b):
        n = _spatial_n(node, b, None, node.input[0], b.peek(node).get("kernel_shape"))
        a, stride, dilation = _window_attrs(node, b, n, {"ceil_mode": 0, "storage_order": 0})
        if len(node.output) > 1 and b.is_used(node.output[1]):
            raise b.fail(node, "the Indices output of MaxPool is not supported")
        kernel, padding, pads = _pool_layer_args(node, b, n, a, stride, dilation)
        if padding is None:
            return _explicitly_padded_pool(node, b, "max", a, kernel, stride, dilation, pads)
        adaptive = _adaptive_hint(node, b, n, a, kernel, stride)
        if adaptive is not None:
            return b.layer(node, _ADAPTIVE_MAX[n](adaptive), outputs=node.output[:1])
        b.layer(node, _MAXPOOL[n](kernel, stride, padding, dilation, ceil_mode=bool(a["ceil_mode"])),
                outputs=node.output[:1])


@register("AveragePool", exports=(P.AvgPoolNd,), layer="AvgPool1d / AvgPool2d / AvgPool3d")
class AveragePool:
    """Mean pooling with padding, ceil_mode, count_include_pad; asymmetric/SAME pads as a Pad step; divisor_override as a Mul.

    Asymmetric or SAME padding is imported as a graph step: pad with 0, pool, and without
    count_include_pad (ONNX's default) scale each window by its size over its input cells."""

    def to_onnx(rec, ctx):
        p = rec.params
        spatial = ctx.shape(0)[2:]
        padding = tuple(lo for lo, _ in p["pads"])
        ceil = _ceil_mode(ctx, spatial, p["kernel"], p["stride"], padding, (1,) * len(padding), p["out_shape"])
        dtype = ctx.value_dtype(0)
        divisors = {flag: avg_divisor(spatial, p["kernel"], p["stride"], padding, p["out_shape"], flag, None, dtype)
                    for flag in (True, False)}
        same = [flag for flag, d in divisors.items() if np.array_equal(np.asarray(d), np.asarray(p["divisor"]))]
        include = same[0] if same else True
        y = ctx.node("AveragePool", [ctx.inp(0)], kernel_shape=p["kernel"], strides=p["stride"],
                     pads=list(padding) * 2, ceil_mode=int(ceil), count_include_pad=int(include))
        if same:
            return y
        # divisor_override: AveragePool divides by the counted window, so multiply by count / override
        scale = np.asarray(divisors[True], dtype=np.float64) / np.asarray(p["divisor"], dtype=np.float64)
        return ctx.node("Mul", [y, ctx.const(scale.astype(dtype), "divisor_scale")])

    def from_onnx(node, b):
        n = _spatial_n(node, b, None, node.input[0], b.peek(node).get("kernel_shape"))
        a, stride, dilation = _window_attrs(node, b, n, {"ceil_mode": 0, "count_include_pad": 0})
        if any(d != 1 for d in dilation):
            raise b.fail(node, f"attribute dilations={list(dilation)}: dilated average pooling is not supported")
        kernel, padding, pads = _pool_layer_args(node, b, n, a, stride, dilation)
        if padding is None:
            return _explicitly_padded_pool(node, b, "avg", a, kernel, stride, dilation, pads)
        adaptive = _adaptive_hint(node, b, n, a, kernel, stride)
        if adaptive is not None:
            return b.layer(node, _ADAPTIVE_AVG[n](adaptive))
        b.layer(node, _AVGPOOL[n](kernel, stride, padding, ceil_mode=bool(a["ceil_mode"]),
                                  count_include_pad=bool(a["count_include_pad"])))


@pattern("AveragePool + Mul", "AvgPool2d / AvgPool3d (divisor_override)", "AvgPoolNd (divisor_override)")
def avg_pool_divisor_override(node, b) -> bool:
    """``AveragePool(count_include_pad=1)`` then ``Mul`` by ``window count / d`` (what cnnkit writes for
    ``divisor_override=d``) is ``AvgPool2d/3d(divisor_override=d)``."""
    if node.op_type != "AveragePool" or b.is_graph_output(node.output[0]):
        return False
    users = b.consumers(node.output[0])
    shape = b.static_shape(node.input[0])
    if len(users) != 1 or users[0].op_type != "Mul" or shape is None or len(shape) not in (4, 5) or None in shape[2:]:
        return False
    mul = users[0]
    scale = b.const(mul.input[1] if mul.input[0] == node.output[0] else mul.input[0])
    a = b.peek(node)
    n = len(shape) - 2
    kernel, stride = tuple(a.get("kernel_shape", ())), tuple(a.get("strides", [1] * n))
    pads = tuple(a.get("pads", [0] * 2 * n))
    if (scale is None or not a.get("count_include_pad", 0) or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
            or len(kernel) != n or pads[:n] != pads[n:] or set(a) - {"kernel_shape", "strides", "pads", "ceil_mode",
                                                                      "count_include_pad", "auto_pad"}):
        return False
    padding = pads[:n]
    try:
        out = pool_output_shape(shape[2:], kernel, stride, padding, (1,) * n, bool(a.get("ceil_mode", 0)))
    except ValueError:
        return False
    counted = np.asarray(avg_divisor(shape[2:], kernel, stride, padding, out, True, None, np.float64), np.float64)
    override = np.round(counted / np.asarray(scale, np.float64)).ravel()
    if override.size == 0 or override[0] == 0 or not np.all(override == override[0]):
        return False
    d = int(override[0])
    expected = (counted / d).astype(scale.dtype)
    if np.shape(scale) not in ((), (1,), np.shape(counted)) or not np.all(expected == scale):
        return False
    b.layer(node, _AVGPOOL[n](kernel, stride, padding, ceil_mode=bool(a.get("ceil_mode", 0)), count_include_pad=True,
                              divisor_override=d), outputs=mul.output[:1], claim=[node, mul])
    return True


def _adaptive_to_onnx(rec, ctx, kind: str):
    """Global pool for output 1, a plain pool when the sizes divide, else one reduction per axis."""
    spatial, out = ctx.shape(0)[2:], tuple(rec.params["out_shape"])
    x = ctx.inp(0)
    if all(o == 1 for o in out):
        return ctx.node("GlobalMaxPool" if kind == "Max" else "GlobalAveragePool", [x])
    if all(i % o == 0 for i, o in zip(spatial, out)):
        k = [i // o for i, o in zip(spatial, out)]
        op = "MaxPool" if kind == "Max" else "AveragePool"
        return ctx.node(op, [x], kernel_shape=k, strides=k, pads=[0] * (2 * len(k)),
                        metadata={ADAPTIVE_HINT: ",".join(map(str, out))})
    rank = 2 + len(spatial)
    y = x
    hint = {ADAPTIVE_HINT: ",".join(map(str, out))}
    for axis, (i, o) in enumerate(zip(spatial, out)):
        if i == o:
            continue
        ax = 2 + axis
        if kind == "Avg":  # cnnkit's averaging matrix (PyTorch's windows), applied along the axis
            mat = ctx.const(adaptive_avg_matrix(i, o, ctx.value_dtype(0)).T.copy(), f"adaptive_matrix_{axis}")
            if ax == rank - 1:
                y = ctx.node("MatMul", [y, mat], metadata=hint)
            else:
                perm = list(range(rank))
                perm[ax], perm[-1] = perm[-1], perm[ax]
                y = ctx.node("Transpose", [y], perm=perm, metadata=hint)
                y = ctx.node("MatMul", [y, mat], metadata=hint)
                y = ctx.node("Transpose", [y], perm=perm, metadata=hint)
        else:
            starts, ends = adaptive_ranges(i, o)
            pieces = [ctx.node("ReduceMax", [ctx.node("Slice", [y, ctx.ints([s], "starts"), ctx.ints([e], "ends"),
                                                                ctx.ints([ax], "axes")]),
                                             ctx.ints([ax], "axes")], keepdims=1)
                      for s, e in zip(starts, ends)]
            y = ctx.node("Concat", pieces, axis=ax)
    return y


def _global_pool(onnx_op: str, kind: str, exports, layers: dict, reduce: str, note: str) -> None:
    """Adaptive pooling (``kind``: "Avg" or "Max") exported; the global pool read back as ``layers[n](1)``."""

    class Global:
        def to_onnx(rec, ctx):
            return _adaptive_to_onnx(rec, ctx, kind)

        def from_onnx(node, b):
            b.attrs(node)
            rank = b.rank(node.input[0])
            if rank is None or rank - 2 not in layers:
                return b.step(node, lambda x: getattr(x, reduce)(dim=tuple(range(2, x.ndim)), keepdim=True))
            b.layer(node, layers[rank - 2](1))
    register(onnx_op, exports=exports, layer=f"{layers[1].__name__[:-2]}1d/2d/3d(1)", note=note)(Global)


_global_pool("GlobalAveragePool", "Avg", (P.AdaptiveAvgPoolNd,), _ADAPTIVE_AVG, "mean",
             "adaptive mean pooling: GlobalAveragePool (output 1), AveragePool (sizes divide), "
             "else MatMul by the averaging matrix per axis")
_global_pool("GlobalMaxPool", "Max", (P.AdaptiveMaxPoolNd,), _ADAPTIVE_MAX, "max",
             "adaptive max pooling: GlobalMaxPool (output 1), MaxPool (sizes divide), "
             "else Slice + ReduceMax + Concat per axis")


@pattern("Transpose + MatMul chain", "AdaptiveAvgPool1d/2d/3d", "AdaptiveAvgPoolNd (sizes do not divide)")
def adaptive_avg_chain(node, b) -> bool:
    """The Transpose / MatMul chain cnnkit writes for an adaptive mean pool whose sizes do not divide
    (marked with the output size) is that pool, when every matrix is the averaging matrix of its axis."""
    hint = next((p.value for p in node.metadata_props if p.key == ADAPTIVE_HINT), None)
    if hint is None or node.op_type not in ("Transpose", "MatMul"):
        return False
    shape = b.static_shape(node.input[0])
    if shape is None or len(shape) - 2 not in _ADAPTIVE_AVG:
        return False
    try:
        out = tuple(int(v) for v in hint.split(","))
    except ValueError:
        return False
    chain, cur = [], node
    while True:
        chain.append(cur)
        users = b.consumers(cur.output[0])
        if (len(users) != 1 or b.is_graph_output(cur.output[0]) or users[0].op_type not in ("Transpose", "MatMul")
                or next((p.value for p in users[0].metadata_props if p.key == ADAPTIVE_HINT), None) != hint):
            break
        cur = users[0]
    rank, axes, done = len(shape), list(range(len(shape))), {}
    for n_ in chain:  # follow which input axis sits where; each MatMul reduces the last one
        if n_.op_type == "Transpose":
            perm = b.peek(n_).get("perm")
            if perm is None or sorted(perm) != list(range(rank)):
                return False
            axes = [axes[p] for p in perm]
        else:
            mat, ax = b.const(n_.input[1]), axes[-1]
            if mat is None or ax < 2 or ax in done or shape[ax] is None or len(out) != rank - 2:
                return False
            want = adaptive_avg_matrix(shape[ax], out[ax - 2], mat.dtype).T
            if mat.shape != want.shape or not np.array_equal(mat, want):
                return False
            done[ax] = out[ax - 2]
    if axes != list(range(rank)) or any(shape[a] != out[a - 2] for a in range(2, rank) if a not in done):
        return False
    b.layer(node, _ADAPTIVE_AVG[rank - 2](out), outputs=chain[-1].output[:1], claim=chain)
    return True


# ---------------------------------------------------------- normalisation
#: ``metadata_props`` key on a normalisation node: the affine inputs the layer does not have
#: ("weight", "bias"), written as ones / zeros; read back as a layer without them.
ABSENT_HINT = "cnnkit.absent"


def _absent(rec, bias: bool = True) -> dict[str, str] | None:
    names = [n for n, v in (("weight", rec.inputs[1]), ("bias", rec.inputs[2])) if v is None and (bias or n == "weight")]
    return {ABSENT_HINT: ",".join(names)} if names else None


def _absent_ok(node, b, consts: dict[str, np.ndarray | None]) -> set[str]:
    """The affine parameters a node's hint says are absent, when they hold ones / zeros indeed."""
    hint = next((p.value for p in node.metadata_props if p.key == ABSENT_HINT), "")
    fill = {"weight": 1, "bias": 0}
    names = {n for n in hint.split(",") if n in fill}
    return {n for n in names if consts.get(n) is not None and np.all(consts[n] == fill[n])}
@register("BatchNormalization", exports=(N.BatchNorm,), layer="BatchNorm1d / BatchNorm2d / BatchNorm3d")
class BatchNormalization:
    """Batch norm in eval mode (running statistics); ONNX's momentum is 1 - PyTorch's."""

    def to_onnx(rec, ctx):
        p = rec.params
        if p["training"]:
            raise ctx.fail("batch norm normalises with the batch's own statistics here (track_running_stats="
                           "False, or training mode); only running statistics can be exported")
        c = ctx.shape(0)[1]
        dtype = ctx.value_dtype(0)
        scale = ctx.inp(1) if rec.inputs[1] is not None else ctx.const(np.ones(c, dtype), "scale")
        bias = ctx.inp(2) if rec.inputs[2] is not None else ctx.const(np.zeros(c, dtype), "bias")
        mean = ctx.inp(p["running_mean"], dtype=dtype)
        var = ctx.inp(p["running_var"], dtype=dtype)
        return ctx.node("BatchNormalization", [ctx.inp(0), scale, bias, mean, var], epsilon=float(p["eps"]),
                        momentum=float(1.0 - p["momentum"]), metadata=_absent(rec))

    def from_onnx(node, b):
        a = b.attrs(node, epsilon=1e-5, momentum=0.9, training_mode=0)
        if a["training_mode"]:
            raise b.fail(node, "attribute training_mode=1 is not supported (eval-mode batch norm only)")
        if any(b.is_used(o) for o in node.output[1:]):
            raise b.fail(node, "the running_mean / running_var outputs are not supported")
        consts = [b.const(name) for name in node.input[1:5]]
        rank = b.rank(node.input[0])
        if any(c is None for c in consts) or rank not in _BATCHNORM:
            eps = a["epsilon"]
            return b.step(node, lambda x, s, bb, m, v: F.batch_norm(x, m.data, v.data, s, bb, False, 0.1, eps),
                          outputs=node.output[:1])
        scale, bias, mean, var = consts
        absent = _absent_ok(node, b, {"weight": scale, "bias": bias})
        affine = "weight" not in absent
        layer = b.build(node, _BATCHNORM[rank], scale.shape[0], eps=f32(a["epsilon"]),
                        momentum=round(1.0 - a["momentum"], 6), affine=affine,
                        bias=affine and "bias" not in absent, dtype=scale.dtype)
        if affine:
            layer.weight = b.param(node.input[1])
        if layer.bias is not None:
            layer.bias = b.param(node.input[2])
        layer.running_mean = mean.astype(scale.dtype)
        layer.running_var = var.astype(scale.dtype)
        b.layer(node, layer, params=node.input[3:5] + node.input[1:3], outputs=node.output[:1])


@register("LayerNormalization", exports=(N.LayerNorm,), layer="LayerNorm")
class LayerNormalization:
    """Layer norm over the trailing axes (axis = -len(normalized_shape))."""

    def to_onnx(rec, ctx):
        k = rec.params["k"]
        shape, dtype = ctx.shape(0)[-k:], ctx.value_dtype(0)
        scale = ctx.inp(1) if rec.inputs[1] is not None else ctx.const(np.ones(shape, dtype), "scale")
        ins = [ctx.inp(0), scale] + ([ctx.inp(2)] if rec.inputs[2] is not None else [])
        return ctx.node("LayerNormalization", ins, axis=-k, epsilon=float(rec.params["eps"]),
                        metadata=_absent(rec, bias=False))

    def from_onnx(node, b):
        a = b.attrs(node, axis=-1, epsilon=1e-5, stash_type=1)
        if any(b.is_used(o) for o in node.output[1:]):
            raise b.fail(node, "the Mean / InvStdDev outputs are not supported")
        rank = b.rank(node.input[0])
        axis = a["axis"]
        k = -axis if axis < 0 else (rank - axis if rank is not None else None)
        scale = b.const(node.input[1])
        bias = b.const(node.input[2]) if b.has(node, 2) else None
        if k is None or k < 1 or scale is None or scale.ndim != k or (b.has(node, 2) and (bias is None or
                                                                                           bias.shape != scale.shape)):
            eps = a["epsilon"]

            def step(x, s, bb=None):
                kk = x.ndim - (axis % x.ndim)
                return F.layer_norm(x, x.shape[-kk:], s, bb, eps)
            return b.step(node, step, outputs=node.output[:1])
        affine = bias is not None or "weight" not in _absent_ok(node, b, {"weight": scale})
        layer = b.build(node, nn.LayerNorm, scale.shape, eps=f32(a["epsilon"]), elementwise_affine=affine,
                        bias=bias is not None, dtype=scale.dtype)
        if affine:
            layer.weight = b.param(node.input[1])
        if bias is not None:
            layer.bias = b.param(node.input[2])
        b.layer(node, layer, params=node.input[1:], outputs=node.output[:1])


@register("Dropout", exports=(D.Dropout,), layer="Dropout")
class Dropout:
    """Dropout: the identity in eval mode (nothing is written); read back as nn.Dropout(ratio)."""

    def to_onnx(rec, ctx):
        raise ctx.fail("dropout in training mode (a functional call with training=True) cannot be exported; "
                       "pass training=self.training")

    def from_onnx(node, b):
        b.attrs(node, seed=None)
        ratio = b.const(node.input[1]) if b.has(node, 1) else np.float32(0.5)
        training = b.const(node.input[2]) if b.has(node, 2) else np.bool_(False)
        if ratio is None or training is None or bool(training):
            raise b.fail(node, "only inference-mode Dropout with a constant ratio is supported")
        if len(node.output) > 1 and b.is_used(node.output[1]):
            raise b.fail(node, "the mask output of Dropout is not supported")
        b.layer(node, nn.Dropout(f32(float(ratio))), outputs=node.output[:1])


# --------------------------------------------------------------- dense
@register("Gemm", exports=(LinearOp,), layer="Linear")
class Gemm:
    """Linear on (N, in): Gemm with transB=1 (on more axes: MatMul by the transposed weight, Add)."""

    def to_onnx(rec, ctx):
        has_bias = rec.inputs[2] is not None
        if len(ctx.shape(0)) == 2:
            ins = [ctx.inp(0), ctx.inp(1)] + ([ctx.inp(2)] if has_bias else [])
            return ctx.node("Gemm", ins, transB=1)
        y = ctx.node("MatMul", [ctx.inp(0), ctx.node("Transpose", [ctx.inp(1)], perm=[1, 0])])
        return ctx.node("Add", [y, ctx.inp(2)]) if has_bias else y

    def from_onnx(node, b):
        a = b.attrs(node, alpha=1.0, beta=1.0, transA=0, transB=0)
        w = b.const(node.input[1])
        c = b.const(node.input[2]) if b.has(node, 2) else None
        if (w is not None and w.ndim == 2 and not a["transA"] and a["alpha"] == 1.0 and b.const(node.input[0]) is None
                and (not b.has(node, 2) or (c is not None and a["beta"] == 1.0 and c.size == (w.shape[0] if a["transB"]
                                                                                               else w.shape[1])))):
            weight = w if a["transB"] else w.T
            layer = b.build(node, nn.Linear, weight.shape[1], weight.shape[0], bias=c is not None, dtype=w.dtype)
            layer.weight = b.param(node.input[1], transpose=not a["transB"])
            if c is not None:
                layer.bias = b.param(node.input[2], reshape=(weight.shape[0],))
            return b.layer(node, layer, params=node.input[1:])
        alpha, beta = a["alpha"], a["beta"]

        def step(x, w_, c_=None):
            y = (x.T if a["transA"] else x) @ (w_.T if a["transB"] else w_)
            y = y * alpha if alpha != 1.0 else y
            return y if c_ is None else y + (c_ * beta if beta != 1.0 else c_)
        b.step(node, step)


@pattern("MatMul (+ Add)", "Linear", "Linear (input of 3+ axes)")
def linear_from_matmul(node, b) -> bool:
    """``MatMul(x, W)`` (+ ``Add(., bias)``) with a constant 2-D ``W``, or with ``Transpose(W)``, is
    ``nn.Linear`` (PyTorch writes Linear on 3-D inputs so; cnnkit writes MatMul by a Transpose of the weight)."""
    if (node.op_type != "MatMul" or b.const(node.input[0]) is not None
            or any(p.key == ADAPTIVE_HINT for p in node.metadata_props)):
        return False
    src = b.producer.get(node.input[1])
    weight_name, transpose = node.input[1], True
    if (src is not None and src.op_type == "Transpose" and b.const(src.input[0]) is not None
            and b.const(src.input[0]).ndim == 2 and list(b.peek(src).get("perm", [1, 0])) == [1, 0]
            and len(b.users.get(node.input[1], [])) == 1 and not b.is_graph_output(node.input[1])):
        weight_name, transpose = src.input[0], False  # Linear's weight is W itself
    elif b.const(node.input[1]) is None:
        return False
    w = b.const(weight_name)
    if w is None or w.ndim != 2:
        return False
    out_features, in_features = (w.shape[1], w.shape[0]) if transpose else w.shape
    nodes, bias_name = [node], None
    users = b.consumers(node.output[0])
    if len(users) == 1 and users[0].op_type == "Add" and not b.is_graph_output(node.output[0]):
        add = users[0]
        other = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        bias = b.const(other)
        if bias is not None and bias.shape == (out_features,):
            nodes, bias_name = [node, add], other
    layer = b.build(node, nn.Linear, in_features, out_features, bias=bias_name is not None, dtype=w.dtype)
    layer.weight = b.param(weight_name, transpose=transpose)
    if bias_name is not None:
        layer.bias = b.param(bias_name)
    b.layer(node, layer, outputs=nodes[-1].output[:1], params=[weight_name] + ([bias_name] if bias_name else []),
            claim=nodes)
    return True


#: ``metadata_props`` key on a Gather written for an Embedding with ``padding_idx`` (its row gets no gradient).
PADDING_IDX_HINT = "cnnkit.padding_idx"


@register("Gather", exports=(S.Embedding,), layer="Embedding (constant 2-D data, axis 0)")
class Gather:
    """Embedding lookup: Gather(weight, indices, axis=0); other Gathers are indexing steps."""

    def to_onnx(rec, ctx):
        pad = rec.params.get("padding_idx")
        return ctx.node("Gather", [ctx.inp(0), ctx.inp(1)], axis=0,
                        metadata=None if pad is None else {PADDING_IDX_HINT: str(int(pad))})

    def from_onnx(node, b):
        a = b.attrs(node, axis=0)
        data = b.const(node.input[0])
        if data is not None and data.ndim == 2 and a["axis"] == 0 and b.const(node.input[1]) is None:
            hint = next((p.value for p in node.metadata_props if p.key == PADDING_IDX_HINT), None)
            pad = int(hint) if hint is not None and hint.isdigit() and int(hint) < data.shape[0] else None
            layer = b.build(node, nn.Embedding, data.shape[0], data.shape[1], padding_idx=pad, dtype=data.dtype)
            layer.weight = b.param(node.input[0])
            return b.layer(node, layer, inputs=node.input[1:2], params=node.input[:1])
        axis = a["axis"]

        def step(x, idx):
            ax = axis % x.ndim
            return x[(slice(None),) * ax + (np.asarray(idx.data),)]
        b.step(node, step)


# ------------------------------------------------------------- activations
def _activation(onnx_op: str, exports, layer_cls, attrs: dict, make) -> None:
    """An entry for an elementwise activation. ``attrs``: ONNX attribute -> (default when
    reading, the value from a record when writing); ``make(attributes) -> layer``."""

    class Act:
        def to_onnx(rec, ctx):
            return ctx.node(onnx_op, [ctx.inp(0)], **{k: get(rec.params) for k, (_, get) in attrs.items()})

        def from_onnx(node, b):
            b.layer(node, make(b.attrs(node, **{k: default for k, (default, _) in attrs.items()})))
    register(onnx_op, exports=exports, layer=layer_cls.__name__, note=f"{layer_cls.__name__} and its functional form")(Act)


_activation("Relu", (A.ReLU,), nn.ReLU, {}, lambda a: nn.ReLU())
_activation("LeakyRelu", (A.LeakyReLU,), nn.LeakyReLU, {"alpha": (0.01, lambda p: float(p["slope"]))},
            lambda a: nn.LeakyReLU(f32(a["alpha"])))
_activation("Elu", (A.ELU,), nn.ELU, {"alpha": (1.0, lambda p: float(p["alpha"]))}, lambda a: nn.ELU(f32(a["alpha"])))
_activation("Tanh", (A.Tanh,), nn.Tanh, {}, lambda a: nn.Tanh())
_activation("Sigmoid", (A.Sigmoid,), nn.Sigmoid, {}, lambda a: nn.Sigmoid())
_activation("Softmax", (A.Softmax,), nn.Softmax, {"axis": (-1, lambda p: int(p["dim"]))},
            lambda a: nn.Softmax(dim=a["axis"]))
_activation("LogSoftmax", (A.LogSoftmax,), nn.LogSoftmax, {"axis": (-1, lambda p: int(p["dim"]))},
            lambda a: nn.LogSoftmax(dim=a["axis"]))


@register("Flatten", layer="Flatten (axis 1)")
class Flatten:
    """Flatten(axis=1) is nn.Flatten(); written for reshapes (N, ...) -> (N, -1) (see Reshape)."""

    def from_onnx(node, b):
        a = b.attrs(node, axis=1)
        if a["axis"] == 1:
            return b.layer(node, nn.Flatten())
        axis = a["axis"]

        def step(x):
            k = axis % x.ndim if x.ndim else 0
            return x.reshape(int(math.prod(x.shape[:k])), -1)
        b.step(node, step)


@pattern("Reshape + ReduceMax", "Maxout", "Reshape, MaxAlong (F.maxout)")
def maxout_from_reshape(node, b) -> bool:
    """``Reshape(x, [N, C/p, p, ...])`` + ``ReduceMax(axes=[d + 1], keepdims=0)`` is ``nn.Maxout(p, dim=d)``
    (what cnnkit writes for Maxout)."""
    if node.op_type != "Reshape" or not b.has(node, 1):
        return False
    shape, in_shape = b.const(node.input[1]), b.static_shape(node.input[0])
    users = b.consumers(node.output[0])
    if shape is None or in_shape is None or len(users) != 1 or users[0].op_type != "ReduceMax" \
            or b.is_graph_output(node.output[0]) or b.peek(node).get("allowzero", 0):
        return False
    red = users[0]
    ra = b.peek(red)
    axes = b.const(red.input[1]) if b.has(red, 1) else ra.get("axes")
    if axes is None or len(np.atleast_1d(axes)) != 1 or ra.get("keepdims", 1) != 0:
        return False
    target = [int(s) for s in shape]
    d = int(np.atleast_1d(axes)[0]) % len(target) - 1
    if d < 1 or len(target) != len(in_shape) + 1 or in_shape[d] is None:
        return False
    lead_ok = all(t == s or (k == 0 and t in (0, -1)) for k, (t, s) in enumerate(zip(target[:d], in_shape[:d])))
    if not lead_ok or target[d] * target[d + 1] != in_shape[d] or tuple(target[d + 2:]) != tuple(in_shape[d + 1:]):
        return False
    b.layer(node, nn.Maxout(target[d + 1], dim=d), outputs=red.output[:1], claim=[node, red])
    return True
