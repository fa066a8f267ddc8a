"""Feature visualisation: the input pattern a unit responds to most (activation maximisation).

:func:`visualize_unit` starts from small seeded noise ``x_0`` and climbs the
gradient of one unit's activation ``a(x)`` (Erhan et al. 2009; Simonyan et al.
2014; the regularisers of Yosinski et al. 2015 and Olah et al. 2017, "Feature
Visualization"). Step ``t``::

    x~    = roll(x_t, random shift in [-jitter, jitter] per spatial axis)      (jitter)
    g     = roll back( d a / d x (x~) ) - l2 * x_t                             (L2 decay)
    x'    = clip( x_t + lr * g / rms(g), value_range )                         (normalised step)
    every blur_every steps: x' = Gaussian blur of x' (sigma blur_sigma)        (blur)
    x_t+1 = x' if a(x') >= a(x_t), else retry with lr halved (up to
            max_halvings times), else x_t                                      (monotone)

so the unit's activation never falls from one step to the next: the regularisers
shape each step, but a step that would lose activation is shortened or skipped
(a plain fixed-step ascent overshoots at the kinks of ReLU and max pooling and at
the clipping bounds, and drops now and then).

The unit is ``A[0, channel, *position]`` of the layer's output ``A`` (default: the
centre position, so the pattern lies inside the unit's receptive field), the
channel mean over all positions with ``position="mean"``, or ``A[0, channel]``
for a layer without spatial axes (a linear layer's output unit).

:func:`depth_grid` runs it for every channel of several layers and adds each
unit's receptive-field box in input pixels (:func:`cnnkit.analysis.receptive_field`):
the study text's table (shallow layers: edges, deeper: parts, the top: whole digits) as data
for :func:`cnnkit.explain.render.save_depth_grid`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..analysis import receptive_field
from ..analysis.hooks import replace_output
from ..analysis.receptive_field import AxisField
from ..autograd import Tensor, no_grad
from ..kernels import gaussian_1d
from ..nn.module import Module
from ._common import check_positive_int, resolve_layer, untouched
from ._filters import separable_filter

__all__ = ["UnitPattern", "DepthLayer", "DepthGrid", "visualize_unit", "depth_grid"]


@dataclass
class UnitPattern:
    """The result of :func:`visualize_unit`.

    ``pattern`` ``(C, *S)``: the optimised input; ``activations`` ``(steps + 1,)``
    float64: the unit's activation on the (un-jittered) pattern at the start and
    after every step; ``position``: the unit's index in the layer's spatial axes
    (``None`` for the channel mean or a layer without spatial axes); ``box``: per
    input spatial axis ``(first, last)`` pixel of the unit's receptive field,
    clipped to the input (filled by :func:`depth_grid`, else ``None``).
    """

    layer: str
    channel: int
    position: tuple[int, ...] | None
    pattern: np.ndarray
    activations: np.ndarray
    box: tuple[tuple[int, int], ...] | None = None

    @property
    def start(self) -> float:
        return float(self.activations[0])

    @property
    def final(self) -> float:
        return float(self.activations[-1])


class _Reached(Exception):
    """Raised by the capture hook: the forward pass can stop once the layer has run."""


def _unit_value(model: Module, layer: Module, x: Tensor, channel: int, position, fn: str) -> Tensor:
    """The unit's activation (a scalar Tensor) for a batch of one input; the forward stops at the layer."""
    held: list = []

    def grab(out):
        held.append(out)
        raise _Reached

    try:
        with replace_output(layer, grab):
            model(x)
    except _Reached:
        pass
    if not held:
        raise ValueError(f"{fn}: the layer did not run in the forward pass")
    a = held[0]
    if not isinstance(a, Tensor) or a.ndim < 2:
        raise ValueError(f"{fn}: the layer's output must be (1, channels, ...), got {getattr(a, 'shape', a)}")
    if not 0 <= channel < a.shape[1]:
        raise ValueError(f"{fn}: channel {channel} is out of range for the layer's {a.shape[1]} channels")
    unit = a[0, channel]
    if a.ndim == 2:
        return unit
    if position == "mean":
        return unit.mean()
    return unit[tuple(position)]


def _position(shape: tuple[int, ...], position, fn: str):
    """The unit's spatial index for a layer output ``shape`` ``(1, K, *S_l)``."""
    if len(shape) == 2 or position == "mean":
        return None if len(shape) == 2 else "mean"
    spatial = shape[2:]
    if position in (None, "centre", "center"):
        return tuple(s // 2 for s in spatial)
    pos = tuple(int(p) for p in position)
    if len(pos) != len(spatial) or not all(0 <= p < s for p, s in zip(pos, spatial)):
        raise ValueError(f"{fn}: position {position!r} is not an index of the layer's spatial shape {spatial}")
    return pos


def visualize_unit(model: Module, layer, channel: int, steps: int = 128, lr: float = 0.05, *,
                   input_shape: Sequence[int] | None = None, start=None, position="centre", jitter: int = 1,
                   l2: float = 1e-3, blur_every: int = 4, blur_sigma: float = 0.5,
                   value_range: tuple[float, float] | None = None, seed: int = 0,
                   max_halvings: int = 6) -> UnitPattern:
    """Optimise an input to maximise one unit of ``layer`` (see the module docstring).

    ``input_shape``: ``(C, *S)`` of one input (or give ``start``, an array of that
    shape to start from instead of noise ``N(0, 0.1^2)`` drawn from ``seed``).
    ``value_range``: ``(lo, hi)`` to clip the pattern to (e.g. the normalised
    values of black and white), ``None`` for no clipping. ``jitter=0``,
    ``l2=0`` and ``blur_every=0`` give plain normalised gradient ascent (with the
    step halving that keeps it monotone; ``max_halvings=0`` only refuses a losing step).
    The model is left as it was.
    """
    fn = "visualize_unit"
    if not isinstance(model, Module):
        raise TypeError(f"{fn}: model must be a cnnkit.nn.Module, got {type(model).__name__}")
    name, module = resolve_layer(model, layer, fn)
    steps = check_positive_int(steps, "steps", fn)
    if not isinstance(channel, (int, np.integer)) or isinstance(channel, bool):
        raise TypeError(f"{fn}: channel must be an int, got {channel!r}")
    if not lr > 0:
        raise ValueError(f"{fn}: lr must be positive, got {lr!r}")
    if not isinstance(jitter, (int, np.integer)) or jitter < 0:
        raise ValueError(f"{fn}: jitter must be a non-negative int (pixels), got {jitter!r}")
    if not isinstance(blur_every, (int, np.integer)) or blur_every < 0:
        raise ValueError(f"{fn}: blur_every must be a non-negative int (0: no blur), got {blur_every!r}")
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    rng = np.random.default_rng(seed)
    if start is not None:
        x = np.array(start.data if isinstance(start, Tensor) else start, dtype=dtype, copy=True)
    elif input_shape is not None:
        x = rng.normal(0.0, 0.1, tuple(input_shape)).astype(dtype)
    else:
        raise ValueError(f"{fn}: give input_shape=(C, *S) or start=")
    if x.ndim < 2:
        raise ValueError(f"{fn}: one input has shape (C, *S), got {x.shape}")
    axes = tuple(range(1, x.ndim))
    taps = gaussian_1d(2 * int(np.ceil(2 * blur_sigma)) + 1, blur_sigma) if blur_every else None
    lo, hi = value_range if value_range is not None else (-np.inf, np.inf)
    x = np.clip(x, lo, hi).astype(dtype)

    with untouched(model):
        with no_grad():
            probe: list = []

            def grab(out):
                probe.append(tuple(out.shape))
                raise _Reached

            try:
                with replace_output(module, grab):
                    model(Tensor(x[None]))
            except _Reached:
                pass
        if not probe:
            raise ValueError(f"{fn}: layer {name!r} did not run in the forward pass")
        pos = _position(probe[0], position, fn)

        def activation(v: np.ndarray) -> float:
            with no_grad():
                return float(_unit_value(model, module, Tensor(v[None]), int(channel), pos, fn).data)

        history = [activation(x)]
        for t in range(steps):
            shift = tuple(int(s) for s in rng.integers(-jitter, jitter + 1, size=len(axes))) if jitter else None
            xj = np.roll(x, shift, axis=axes) if shift else x
            xt = Tensor(xj[None].copy(), requires_grad=True)
            _unit_value(model, module, xt, int(channel), pos, fn).backward()
            g = xt.grad[0] if xt.grad is not None else np.zeros_like(x)
            if shift:
                g = np.roll(g, tuple(-s for s in shift), axis=axes)
            g = g.astype(np.float64) - l2 * x
            rms = float(np.sqrt(np.mean(g * g)))
            step, now = (lr / rms if rms > 0 else 0.0), history[-1]
            for _ in range(max_halvings + 1):
                candidate = x + step * g
                if blur_every and (t + 1) % blur_every == 0:
                    candidate = separable_filter(candidate, taps, axes)
                candidate = np.clip(candidate, lo, hi).astype(dtype)
                value = activation(candidate)
                if value >= now:
                    x, now = candidate, value
                    break
                step /= 2
            history.append(now)
    return UnitPattern(name, int(channel), None if pos in (None, "mean") else pos, x, np.asarray(history))


@dataclass
class DepthLayer:
    """One layer of a :class:`DepthGrid`: its units' patterns and the field size per axis."""

    name: str
    units: list[UnitPattern]
    field_size: tuple[int, ...] | None  # receptive-field extent per input axis; None: the whole input

    @property
    def is_global(self) -> bool:
        return self.field_size is None


@dataclass
class DepthGrid:
    """The data of ``cnnkit explain depth``: per layer, every unit's optimised pattern."""

    input_shape: tuple[int, ...]
    layers: list[DepthLayer] = field(default_factory=list)


def _box(entries, pos, input_spatial: tuple[int, ...]) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...] | None]:
    """The unit's field ``((first, last) per axis)`` clipped to the input, and the field size (None: global)."""
    whole = tuple((0, n - 1) for n in input_spatial)
    if (entries is None or pos is None or len(entries) != len(input_spatial)
            or not all(isinstance(e, AxisField) for e in entries) or any(e.is_global for e in entries)):
        return whole, None
    box, sizes = [], []
    for e, p, n in zip(entries, pos, input_spatial):
        a, b = e.bounds(p)
        box.append((max(0, int(np.floor(a))), min(n - 1, int(np.ceil(b)))))
        sizes.append(int(e.size))
    return tuple(box), tuple(sizes)


def depth_grid(model: Module, layers: Sequence[str], input_shape: Sequence[int], channels: int | None = None,
               **kwargs) -> DepthGrid:
    """:func:`visualize_unit` for channels ``0..channels-1`` (default: all) of each of ``layers``,
    with each unit's receptive-field box. ``input_shape`` ``(C, *S)``; ``kwargs`` go to
    :func:`visualize_unit` (``steps``, ``lr``, ``value_range``, ``seed``, ...)."""
    shape = tuple(int(n) for n in input_shape)
    dtype = next((p.dtype for p in model.parameters()), np.dtype(np.float32))
    fields = {lf.name: lf for lf in receptive_field(model, (1,) + shape, dtype=dtype)}
    grid = DepthGrid(shape)
    for spec in layers:
        name, module = resolve_layer(model, spec, "depth_grid")
        lf = fields.get(name)
        out_shape = lf.output_shape if lf is not None else None
        if out_shape is None:
            raise ValueError(f"depth_grid: layer {name!r} is not a leaf layer with a recorded output")
        count = out_shape[1] if channels is None else min(int(channels), out_shape[1])
        units, size = [], None
        for c in range(count):
            u = visualize_unit(model, name, c, input_shape=shape, **kwargs)
            u.box, size = _box(lf.field, u.position, shape[1:])
            units.append(u)
        grid.layers.append(DepthLayer(name, units, size))
    return grid
