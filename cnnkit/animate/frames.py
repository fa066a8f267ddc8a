"""Frame data: what each frame of an animation shows, computed by cnnkit's own ops.

:func:`frame_data` returns a :class:`FrameData`, a plain object (nested lists, JSON
ready) that the GIF renderer, tests, notebooks and the web explorer all read:

* ``input`` ``(C, *S)``, ``kernel`` (PyTorch's weight layout: ``(O, C/groups, *K)`` for a
  convolution, ``(C, O/groups, *K)`` for a transposed one; absent for pools) and
  ``output`` ``(O, *S_out)``, from :mod:`cnnkit.functional` on that input;
* ``params``: ``stride``, ``padding`` as ``[[lo, hi], ...]`` per axis (resolved, e.g.
  from ``"same"``), ``dilation``, ``output_padding``, ``kernel_size``;
* ``frames``: one per output cell in raster order (channel first), each
  ``{"output_index", "terms": [{"input_index", "kernel_index"}], "value"}`` where
  ``terms`` are exactly the real input cells (never padding) that meet a kernel tap
  for that output cell. Every index is a full index into the array it names. For a
  transposed convolution the terms are the input cells whose scattered kernel lands
  on the cell; max pooling adds ``"argmax"`` (the input cell of the window's first
  maximum), mean pooling ``"divisor"``;
* with ``backward=True``: ``grad_output`` (small integers), ``grad_input`` (cnnkit's
  autograd), and per frame ``"grad"`` (the upstream cell) and ``"routes":
  [{"input_index", "amount"}]``: convolutions send ``grad * weight`` back along
  every term (so ``grad_input`` is the transposed convolution of ``grad_output``),
  max pooling sends the whole gradient to the argmax, mean pooling ``grad / divisor``
  to every real cell of the window;
* the two-stage ops (``separable``, ``depthwise-separable``) keep each stage's
  arrays in ``stages`` and mark frames with ``"stage"``; ``kernel`` is then the
  equivalent single convolution's weight.

The term sets come from cnnkit's sliding-window core
(:func:`cnnkit._core.window.gather` applied to a map of input positions) and the
output sizes from the functions the layers use (``conv_output_shape``,
``transposed_output_shape``, ``pool_output_shape``).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields

import numpy as np

from .. import functional as F
from .._core import pool as core_pool
from .._core.window import (conv_output_shape, gather, pad, resolve_padding, transposed_output_shape)
from ..autograd import Tensor
from ..functional.conv import _transposed_pads
from . import text
from .options import (MAX_CHANNELS, MAX_SIZE, OpSpec, _is_int, check_bool, check_channels, check_view,
                      int_tuple, op_spec)

__all__ = ["FrameData", "frame_data"]

INPUT_RANGE = {"conv": (0, 3), "pool": (0, 9)}   # seeded input values, inclusive
KERNEL_RANGE = (-1, 2)
GRAD_RANGE = (1, 3)


@dataclass
class FrameData:
    """Everything an animation shows, as plain data (see the module docstring).

    ``to_dict()`` is the JSON object of ``cnnkit animate --data``; ``from_dict`` reads it back.
    """

    op: str
    params: dict
    input: list
    output: list
    frames: list
    kernel: list | None = None
    title: str = ""
    output_size_formula: str = ""
    view: str = "direct"
    backward: bool = False
    grad_output: list | None = None
    grad_input: list | None = None
    stages: list | None = None
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {"op": self.op, "params": self.params, "input": self.input}
        if self.kernel is not None:
            d["kernel"] = self.kernel
        d.update(output=self.output, frames=self.frames, title=self.title,
                 output_size_formula=self.output_size_formula, view=self.view, backward=self.backward)
        if self.backward:
            d.update(grad_output=self.grad_output, grad_input=self.grad_input)
        if self.stages is not None:
            d["stages"] = self.stages
        d["notes"] = self.notes
        return copy.deepcopy(d)

    @classmethod
    def from_dict(cls, d: dict) -> "FrameData":
        if not isinstance(d, dict):
            raise TypeError(f"FrameData.from_dict needs a dict, got {type(d).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"frame data has unknown keys {unknown}")
        missing = [k for k in ("op", "params", "input", "output", "frames") if k not in d]
        if missing:
            raise ValueError(f"frame data lacks the keys {missing}")
        op_spec(d["op"])
        return cls(**copy.deepcopy(d))

    # ------------------------------------------------------------ helpers
    @property
    def spec(self) -> OpSpec:
        return op_spec(self.op)

    def stage_list(self) -> list[dict]:
        """The stages as dicts with ``name, kind, params, input, kernel, output`` (one for a
        single op), so a renderer handles every op the same way."""
        if self.stages is not None:
            return self.stages
        stage = {"name": self.op, "op": self.op, "kind": self.spec.kind, "params": self.params,
                 "input": self.input, "kernel": self.kernel, "output": self.output}
        if self.backward:
            stage.update(grad_output=self.grad_output, grad_input=self.grad_input)
        return [stage]

    def stage_frames(self, stage: int) -> list[dict]:
        return [f for f in self.frames if f.get("stage", 0) == stage]

    def scatter_groups(self, stage: int = 0) -> list[dict]:
        """The terms regrouped by input cell (raster order): ``[{"input_index", "targets":
        [{"output_index", "kernel_index"}]}]``: what each input cell spreads onto the
        output, the study text's view of a transposed convolution."""
        groups: dict[tuple, list] = {}
        for f in self.stage_frames(stage):
            for t in f["terms"]:
                groups.setdefault(tuple(t["input_index"]), []).append(
                    {"output_index": f["output_index"], "kernel_index": t["kernel_index"]})
        shape = np.shape(self.stage_list()[stage]["input"])
        return [{"input_index": list(idx), "targets": groups.get(idx, [])} for idx in np.ndindex(*shape)]


# ------------------------------------------------------------------ stages
@dataclass
class _Stage:
    """One primitive op over one array: a (grouped) convolution, a transposed
    convolution or a pooling, with its geometry resolved."""

    name: str
    kind: str  # conv | transposed | max_pool | avg_pool
    x: np.ndarray  # (C, *S)
    w: np.ndarray | None
    kernel: tuple
    stride: tuple
    dilation: tuple
    padding: object  # as given to cnnkit.functional
    groups: int = 1
    output_padding: tuple = ()
    ceil_mode: bool = False
    count_include_pad: bool = True  # avg pool: does the divisor count the zero padding?
    pads: tuple = ()  # resolved (lo, hi) per axis, set by _run
    out: np.ndarray | None = None
    argmax: np.ndarray | None = None  # max pool: flat input index per output cell
    divisor: object = None  # avg pool

    @property
    def n(self) -> int:
        return len(self.kernel)

    @property
    def fn_name(self) -> str:
        base = {"conv": "conv", "transposed": "conv_transpose", "max_pool": "max_pool", "avg_pool": "avg_pool"}
        return f"{base[self.kind]}{self.n}d"

    def call(self, x):
        """The cnnkit.functional op on ``x`` ``(1, C, *S)`` (a Tensor or array)."""
        fn = getattr(F, self.fn_name)
        if self.kind == "conv":
            return fn(x, self.w, stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)
        if self.kind == "transposed":
            return fn(x, self.w, stride=self.stride, padding=self.padding, output_padding=self.output_padding,
                      groups=self.groups, dilation=self.dilation)
        if self.kind == "max_pool":
            return fn(x, self.kernel, self.stride, self.padding, self.dilation, self.ceil_mode, return_indices=True)
        return fn(x, self.kernel, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def params(self) -> dict:
        p = {"kernel_size": list(self.kernel), "stride": list(self.stride),
             "padding": [list(pair) for pair in self.pads], "dilation": list(self.dilation),
             "output_padding": list(self.output_padding) or [0] * self.n}
        if self.kind in ("conv", "transposed"):
            p["groups"] = self.groups
        if self.kind == "transposed":
            p["direct_padding"] = [list(pair) for pair in direct_padding(self)]
        if self.kind in ("max_pool", "avg_pool"):
            p["ceil_mode"] = self.ceil_mode
            if self.kind == "avg_pool":
                p["count_include_pad"] = self.count_include_pad
        return p


def direct_padding(stage) -> tuple[tuple[int, int], ...]:
    """Transposed convolution as a direct one: the padding ``(d*(k-1) - lo, d*(k-1) - hi +
    output_padding)`` per axis of the zero-inserted input (negative: that much is cropped)."""
    return tuple((d * (k - 1) - lo, d * (k - 1) - hi + op)
                 for k, d, (lo, hi), op in zip(stage.kernel, stage.dilation, stage.pads, stage.output_padding))


def _run(stage: _Stage) -> None:
    """Output (and argmax / divisor) from cnnkit.functional; the resolved padding."""
    out = stage.call(stage.x[None])
    if stage.kind == "max_pool":
        out, idx = out
        stage.argmax = idx.numpy()[0]
    stage.out = out.numpy()[0]
    spatial = stage.x.shape[1:]
    if stage.kind == "conv":
        stage.pads = resolve_padding(stage.padding, spatial, stage.kernel, stage.stride, stage.dilation)
        shape = conv_output_shape(spatial, stage.kernel, stage.stride, stage.pads, stage.dilation)
    elif stage.kind == "transposed":
        stage.pads, stage.output_padding = _transposed_pads(stage.fn_name, stage.padding, spatial, stage.kernel,
                                                            stage.stride, stage.dilation, stage.output_padding, stage.n)
        shape = transposed_output_shape(spatial, stage.kernel, stage.stride, stage.pads, stage.dilation,
                                        stage.output_padding)
    else:
        p = stage.padding
        stage.pads = tuple((q, q) for q in p)
        shape = core_pool.pool_output_shape(spatial, stage.kernel, stage.stride, p, stage.dilation, stage.ceil_mode)
        if stage.kind == "avg_pool":
            stage.divisor = core_pool.avg_divisor(spatial, stage.kernel, stage.stride, p, shape,
                                                  stage.count_include_pad, None, np.float64)
    if tuple(stage.out.shape[1:]) != tuple(shape):  # the op and the size function the layers use must agree
        raise AssertionError(f"{stage.fn_name}: output {stage.out.shape[1:]} but the size function gives {shape}")


def _taps(stage: _Stage) -> tuple[np.ndarray, np.ndarray]:
    """``(taps, kmap)``: ``taps[o, j]`` is the flat spatial index of the input cell that
    kernel tap ``j`` meets at output position ``o`` (``-1``: padding or an inserted
    zero), and ``kmap[j]`` the flat kernel index of tap ``j``.

    Built by running cnnkit's window gather on a map of input positions: for a
    convolution or pooling over the padded input; for a transposed convolution over
    the zero-inserted, padded input with the kernel flipped (its direct form)."""
    spatial = stage.x.shape[1:]
    out_shape = stage.out.shape[1:]
    index = np.arange(1, math.prod(spatial) + 1, dtype=np.int64).reshape((1, 1) + spatial)  # 0 marks "no input"
    if stage.kind == "transposed":
        dilated = np.zeros((1, 1) + tuple((i - 1) * s + 1 for i, s in zip(spatial, stage.stride)), dtype=np.int64)
        dilated[(Ellipsis,) + tuple(slice(None, None, s) for s in stage.stride)] = index
        pads = direct_padding(stage)
        grown = pad(dilated, tuple((max(lo, 0), max(hi, 0)) for lo, hi in pads))
        field_ = grown[(Ellipsis,) + tuple(slice(max(-lo, 0), n - max(-hi, 0))
                                           for (lo, hi), n in zip(pads, grown.shape[2:]))]
        col = gather(field_, stage.kernel, (1,) * stage.n, stage.dilation, out_shape)
        kmap = np.arange(math.prod(stage.kernel))[::-1]  # flipping every axis reverses the row-major order
    else:
        pads = (core_pool.window_pads(spatial, stage.kernel, stage.stride, stage.padding, stage.dilation, out_shape)
                if stage.kind in ("max_pool", "avg_pool") else stage.pads)
        col = gather(pad(index, pads), stage.kernel, stage.stride, stage.dilation, out_shape)
        kmap = np.arange(math.prod(stage.kernel))
    taps = col.reshape(math.prod(stage.kernel), math.prod(out_shape)).T - 1
    return taps, kmap


def _num(v) -> float | int | None:
    """A JSON number: integral floats as ints, non-finite as None."""
    v = float(v)
    if not math.isfinite(v):
        return None
    return int(v) if v == int(v) and abs(v) < 2 ** 53 else v


def _nested(a: np.ndarray) -> list:
    return np.vectorize(_num, otypes=[object])(a).tolist() if a.size else a.tolist()


def _frames(stage: _Stage, stage_index: int | None) -> list[dict]:
    taps, kmap = _taps(stage)
    spatial, kernel = stage.x.shape[1:], stage.kernel
    out_ch, in_ch = stage.out.shape[0], stage.x.shape[0]
    pooled = stage.kind in ("max_pool", "avg_pool")
    frames = []
    for o_index in np.ndindex(*stage.out.shape):
        o, pos = o_index[0], o_index[1:]
        if pooled:
            channels = [o]
        else:
            cin_g, cout_g = in_ch // stage.groups, out_ch // stage.groups
            group = o // cout_g
            channels = range(group * cin_g, (group + 1) * cin_g)
        terms = []
        for c in channels:
            for j, t in enumerate(taps[np.ravel_multi_index(pos, stage.out.shape[1:])]):
                if t < 0:
                    continue
                k = [int(v) for v in np.unravel_index(kmap[j], kernel)]
                if pooled:
                    kidx = k
                elif stage.kind == "conv":
                    kidx = [o, c - group * cin_g] + k
                else:
                    kidx = [c, o - group * cout_g] + k
                terms.append({"input_index": [int(c)] + [int(v) for v in np.unravel_index(t, spatial)],
                              "kernel_index": kidx})
        frame = {"output_index": [int(v) for v in o_index], "terms": terms, "value": _num(stage.out[o_index])}
        if stage_index is not None:
            frame = {"stage": stage_index, **frame}
        if stage.kind == "max_pool":
            frame["argmax"] = [int(o)] + [int(v) for v in np.unravel_index(int(stage.argmax[o_index]), spatial)]
        if stage.kind == "avg_pool":
            div = stage.divisor
            frame["divisor"] = _num(div if np.isscalar(div) else div[pos])
        frames.append(frame)
    return frames


def _backward(stage: _Stage, frames: list[dict], g: np.ndarray) -> np.ndarray:
    """Add ``grad`` and ``routes`` to ``frames``; return cnnkit's input gradient of the stage."""
    for f in frames:
        gv = float(g[tuple(f["output_index"])])
        f["grad"] = _num(gv)
        if stage.kind in ("conv", "transposed"):
            f["routes"] = [{"input_index": t["input_index"], "amount": _num(gv * stage.w[tuple(t["kernel_index"])])}
                           for t in f["terms"]]
        elif stage.kind == "max_pool":
            real = any(t["input_index"] == f["argmax"] for t in f["terms"])
            f["routes"] = [{"input_index": f["argmax"], "amount": _num(gv)}] if real else []
        else:
            f["routes"] = [{"input_index": t["input_index"], "amount": _num(gv / f["divisor"])} for t in f["terms"]]
    x = Tensor(stage.x[None].copy(), requires_grad=True)
    out = stage.call(x)
    (out[0] if isinstance(out, tuple) else out).backward(g[None])
    return x.grad[0]


def _stage_dict(stage: _Stage, backward: bool, g=None, gx=None) -> dict:
    d = {"name": stage.name, "op": stage.fn_name, "kind": stage.kind, "params": stage.params(),
         "input": _nested(stage.x), "kernel": None if stage.w is None else _nested(stage.w),
         "output": _nested(stage.out)}
    if backward:
        d.update(grad_output=_nested(g), grad_input=_nested(gx))
    return d


# ------------------------------------------------------------- arguments
def _array(value, name: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a (nested) list or array of numbers, got {type(value).__name__}") from None
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must hold finite numbers")
    return a


def _input_array(value, input_size, spec: OpSpec, channels: int, rng) -> np.ndarray:
    n = spec.ndim
    if value is None:
        if input_size is None:
            raise TypeError("frame_data needs input_size (or input values)")
        size = int_tuple(input_size, n, "input_size", minimum=1, maximum=MAX_SIZE)
        lo, hi = INPUT_RANGE["pool" if spec.is_pool else "conv"]
        return rng.integers(lo, hi + 1, size=(channels,) + size).astype(np.float64)
    a = _array(value, "input")
    if a.ndim == n and channels == 1:
        a = a[None]
    if a.ndim != n + 1:
        raise ValueError(f"input must have shape (channels, *spatial) with {n} spatial axes, got shape {a.shape}")
    if a.shape[0] != channels:
        raise ValueError(f"input has {a.shape[0]} channels but channels={channels}")
    if any(s > MAX_SIZE for s in a.shape[1:]):
        raise ValueError(f"input must be at most {MAX_SIZE} cells per axis (every cell is drawn), got {a.shape[1:]}")
    if input_size is not None and int_tuple(input_size, n, "input_size", minimum=1) != a.shape[1:]:
        raise ValueError(f"input_size {input_size!r} does not match the input's shape {a.shape[1:]}")
    return a


def _kernel_array(value, shape: tuple, name: str, rng) -> np.ndarray:
    """Seeded small integers of ``shape``, or ``value`` reshaped to it (axes of size 1 may be left out)."""
    if value is None:
        return rng.integers(KERNEL_RANGE[0], KERNEL_RANGE[1] + 1, size=shape).astype(np.float64)
    a = _array(value, name)
    if tuple(d for d in a.shape if d != 1) != tuple(d for d in shape if d != 1):
        raise ValueError(f"{name} must have shape {shape} (axes of size 1 may be left out), got {a.shape}")
    return a.reshape(shape)


def _pool_padding(padding, n: int, spec: OpSpec) -> tuple[int, ...]:
    if isinstance(padding, str) or (isinstance(padding, (tuple, list)) and any(isinstance(p, (tuple, list))
                                                                                 for p in padding)):
        raise ValueError(f"padding of {spec.name} must be an int or one int per axis (pooling pads both sides "
                         f"equally, as PyTorch), got {padding!r}")
    return int_tuple(padding, n, "padding", minimum=0)


def _check_grouping(out_channels, groups, channels: int, spec: OpSpec) -> tuple[int, int]:
    """``(out_channels, groups)`` checked: ints, only for (transposed) convolutions, ``groups``
    dividing both channel counts (PyTorch's rule)."""
    for name, value in (("out_channels", out_channels), ("groups", groups)):
        if not _is_int(value):
            raise TypeError(f"{name} must be an int, got {value!r}")
    if (out_channels, groups) != (1, 1) and spec.kind not in ("conv", "transposed"):
        raise ValueError(f"out_channels and groups are options of (transposed) convolutions, not of {spec.name}")
    if not 1 <= out_channels <= MAX_CHANNELS:
        raise ValueError(f"out_channels must be between 1 and {MAX_CHANNELS} (every channel is drawn), got {out_channels}")
    if groups < 1 or channels % groups or out_channels % groups:
        raise ValueError(f"groups must divide channels ({channels}) and out_channels ({out_channels}), got {groups}")
    return int(out_channels), int(groups)


def frame_data(op: str, *, input_size=None, kernel_size=None, stride=None, padding=0, dilation=1, output_padding=0,
               channels: int = 1, seed: int = 0, backward: bool = False, input=None, kernel=None,
               ceil_mode: bool = False, count_include_pad: bool = True, view: str = "direct",
               out_channels: int = 1, groups: int = 1) -> FrameData:
    """The frames of ``op`` (one of :data:`cnnkit.animate.OPS`) on a small seeded input.

    ``input_size`` ``H[, W]`` (or ``input`` values ``(C, *S)``); ``kernel_size``
    (default 3, pools 2); ``stride`` (default 1, pools ``kernel_size`` as PyTorch),
    ``dilation``, ``output_padding`` (transposed only) as ints or per axis; ``padding`` an int, a tuple, ``"same"``, ``"valid"`` or ``(lo, hi)``
    pairs per axis (pools: ints only); ``channels`` input channels (a convolution sums them
    into one output channel; ``depthwise-separable`` maps ``C -> 2C`` as the study text's 16 -> 32);
    ``seed`` for the small integer values; ``kernel`` overrides the weights (``separable``:
    ``(column, row)``; ``depthwise-separable``: ``(depthwise (C, k, k), pointwise (O, C))``);
    ``out_channels`` and ``groups`` for (transposed) convolutions, as PyTorch's layers (each group of
    ``channels / groups`` input channels makes ``out_channels / groups`` outputs; ``groups = channels =
    out_channels`` is depthwise); ``ceil_mode`` for pools; ``count_include_pad`` for mean pooling (PyTorch's: does each
    window's divisor count the zero padding? default True); ``view`` ``"direct"`` or ``"scatter"`` (transposed only: how the
    renderer draws it; the data are the same). ``backward=True`` adds the gradient routes.

    >>> d = frame_data("conv2d", input_size=5, stride=2)      # the study text's 5x5 -> 2x2
    >>> np.shape(d.output), len(d.frames), len(d.frames[0]["terms"])
    ((1, 2, 2), 4, 9)
    """
    spec = op_spec(op)
    n = spec.ndim
    channels = check_channels(channels, spec)
    backward = check_bool(backward, "backward")
    ceil_mode = check_bool(ceil_mode, "ceil_mode")
    count_include_pad = check_bool(count_include_pad, "count_include_pad")
    view = check_view(view, spec)
    if not _is_int(seed):
        raise TypeError(f"seed must be an int, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    x = _input_array(input, input_size, spec, channels, rng)
    ksize = int_tuple(spec.default_kernel if kernel_size is None else kernel_size, n, "kernel_size",
                      minimum=1, maximum=MAX_SIZE)
    if stride is None:
        stride = ksize if spec.is_pool else 1
    stride = int_tuple(stride, n, "stride", minimum=1, maximum=MAX_SIZE)
    dilation = int_tuple(dilation, n, "dilation", minimum=1, maximum=MAX_SIZE)
    output_padding = int_tuple(output_padding, n, "output_padding", minimum=0)
    if spec.kind != "transposed" and any(output_padding):
        raise ValueError(f"output_padding is an option of transposed convolutions, not of {spec.name}")
    if ceil_mode and not spec.is_pool:
        raise ValueError(f"ceil_mode is an option of pooling, not of {spec.name}")
    if not count_include_pad and spec.kind != "avg_pool":
        raise ValueError(f"count_include_pad is an option of mean pooling, not of {spec.name}")
    if spec.kind == "avg_pool" and any(d != 1 for d in dilation):
        raise ValueError(f"dilation is not an option of {spec.name} (PyTorch's average pooling has none), "
                         f"got {dilation}")
    if spec.is_pool and kernel is not None:
        raise ValueError(f"{spec.name} has no kernel weights to set (its window is kernel_size)")
    C = channels
    O, groups = _check_grouping(out_channels, groups, C, spec)

    if spec.kind in ("conv", "transposed"):
        wshape = (O, C // groups) + ksize if spec.kind == "conv" else (C, O // groups) + ksize
        stages = [_Stage(spec.name, spec.kind, x, _kernel_array(kernel, wshape, "kernel", rng), ksize, stride,
                         dilation, padding, groups=groups, output_padding=output_padding)]
    elif spec.is_pool:
        stages = [_Stage(spec.name, spec.kind, x, None, ksize, stride, dilation, _pool_padding(padding, n, spec),
                         ceil_mode=ceil_mode, count_include_pad=count_include_pad)]
    else:
        stages = _composite_stages(spec, x, kernel, ksize, stride, dilation, padding, rng)
    try:
        _run(stages[0])
        for prev, stage in zip(stages, stages[1:]):
            stage.x = prev.out
            _run(stage)
    except ValueError as exc:  # one line that names the op
        msg = str(exc)
        raise ValueError(msg if msg.startswith(spec.name) else f"{spec.name}: {msg}") from None

    composite = len(stages) > 1
    per_stage = [_frames(s, i if composite else None) for i, s in enumerate(stages)]
    grads: list = [None] * len(stages)
    gx_list: list = [None] * len(stages)
    if backward:
        g = rng.integers(GRAD_RANGE[0], GRAD_RANGE[1] + 1, size=stages[-1].out.shape).astype(np.float64)
        for i in reversed(range(len(stages))):
            grads[i] = g
            g = gx_list[i] = _backward(stages[i], per_stage[i], g)
    order = reversed(range(len(stages))) if backward else range(len(stages))
    frames = [f for i in order for f in per_stage[i]]

    first, last = stages[0], stages[-1]
    if composite:
        params = _composite_params(spec, stages, ksize, stride, dilation)
        weight = _equivalent_weight(spec, stages)
    else:
        params, weight = first.params(), (None if first.w is None else _nested(first.w))
    data = FrameData(
        op=spec.name, params=params, input=_nested(x), output=_nested(last.out), frames=frames, kernel=weight,
        view=view, backward=backward,
        grad_output=_nested(grads[-1]) if backward else None,
        grad_input=_nested(gx_list[0]) if backward else None,
        stages=[_stage_dict(s, backward, grads[i], gx_list[i]) for i, s in enumerate(stages)] if composite else None,
    )
    data.title = text.title(spec, x.shape, [s.out.shape for s in stages], params, padding, backward, view)
    data.output_size_formula = text.formula(spec, stages)
    data.notes = text.notes(spec, stages, params, backward, view)
    return data


# ------------------------------------------------------------ composites
def _composite_stages(spec: OpSpec, x, kernel, ksize, stride, dilation, padding, rng) -> list[_Stage]:
    C = x.shape[0]
    if spec.kind == "separable":
        if kernel is not None and (not isinstance(kernel, (tuple, list)) or len(kernel) != 2):
            raise ValueError("kernel of separable must be a pair (column (kh,), row (kw,)), "
                             f"e.g. ([1, 2, 1], [1, 0, -1]) for Sobel, got {kernel!r}")
        col = _kernel_array(None if kernel is None else kernel[0], (ksize[0],), "kernel column", rng)
        row = _kernel_array(None if kernel is None else kernel[1], (ksize[1],), "kernel row", rng)
        pads = resolve_padding(padding, x.shape[1:], ksize, stride, dilation)
        (t, b), (lft, r) = pads
        return [
            _Stage(f"column pass {ksize[0]}x1", "conv", x, col.reshape(1, 1, -1, 1), (ksize[0], 1),
                   (stride[0], 1), (dilation[0], 1), ((t, b), (0, 0))),
            _Stage(f"row pass 1x{ksize[1]}", "conv", None, row.reshape(1, 1, 1, -1), (1, ksize[1]),
                   (1, stride[1]), (1, dilation[1]), ((0, 0), (lft, r))),
        ]
    if kernel is not None and (not isinstance(kernel, (tuple, list)) or len(kernel) != 2):
        raise ValueError("kernel of depthwise-separable must be a pair (depthwise (C, kh, kw), pointwise (O, C)), "
                         f"got {kernel!r}")
    dw = _kernel_array(None if kernel is None else kernel[0], (C, 1) + ksize, "kernel depthwise", rng)
    if kernel is None:
        pw = _kernel_array(None, (2 * C, C, 1, 1), "kernel pointwise", rng)
    else:
        pw = _array(kernel[1], "kernel pointwise")
        if pw.ndim not in (2, 4) or pw.shape[1] != C or (pw.ndim == 4 and pw.shape[2:] != (1, 1)):
            raise ValueError(f"kernel pointwise must have shape (O, {C}) or (O, {C}, 1, 1), got {pw.shape}")
        if not 1 <= pw.shape[0] <= 2 * MAX_CHANNELS:
            raise ValueError(f"kernel pointwise must have 1 to {2 * MAX_CHANNELS} output channels, got {pw.shape[0]}")
        pw = pw.reshape(pw.shape[0], C, 1, 1)
    return [
        _Stage(f"depthwise {'x'.join(map(str, ksize))}", "conv", x, dw, ksize, stride, dilation, padding, groups=C),
        _Stage("pointwise 1x1", "conv", None, pw, (1, 1), (1, 1), (1, 1), 0),
    ]


def _composite_params(spec, stages, ksize, stride, dilation) -> dict:
    first, last = stages[0], stages[-1]
    if spec.kind == "separable":
        pads = [list(first.pads[0]), list(last.pads[1])]
    else:
        pads = [list(p) for p in first.pads]
    return {"kernel_size": list(ksize), "stride": list(stride), "padding": pads, "dilation": list(dilation),
            "output_padding": [0, 0], "in_channels": int(first.x.shape[0]), "out_channels": int(last.out.shape[0])}


def _equivalent_weight(spec, stages) -> list:
    """The one convolution the two stages equal: ``outer(column, row)``, or
    ``W[o, c] = pointwise[o, c] * depthwise[c]``."""
    a, b = stages[0].w, stages[1].w
    if spec.kind == "separable":
        return _nested(np.einsum("i,j->ij", a[0, 0, :, 0], b[0, 0, 0, :])[None, None])
    return _nested(b[:, :, 0, 0][:, :, None, None] * a[:, 0][None])
