"""The words on a frame: the title (the configuration) and the output-size formula
with the numbers substituted, written so that each ``AXIS_out = EXPR = VALUE`` part
evaluates in Python (with ``floor``/``ceil``) to the size the layers compute.

The formulas are the ones in :mod:`cnnkit._core.window` (convolution, transposed
convolution) and :mod:`cnnkit._core.pool` (PyTorch's pooling rule).
"""
from __future__ import annotations

from typing import Sequence

from .options import OpSpec


def size_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in shape)


def axis_names(n: int) -> list[str]:
    return ["L"] if n == 1 else ["H", "W"]


def padding_text(pads: Sequence[Sequence[int]], given) -> str:
    """``1``, ``1x2``, ``(top 0, bottom 1, left 2, right 0)``; ``same (0,1 | 0,1)``."""
    pads = [tuple(p) for p in pads]
    if all(lo == hi for lo, hi in pads):
        sym = [lo for lo, _ in pads]
        body = str(sym[0]) if len(set(sym)) == 1 else size_text(sym)
    else:
        names = (["left", "right"],) if len(pads) == 1 else (["top", "bottom"], ["left", "right"])
        body = "(" + ", ".join(f"{a} {lo}, {b} {hi}" for (a, b), (lo, hi) in zip(names, pads)) + ")"
    if isinstance(given, str):
        return f"{given.lower()} = {body}"
    return body


def _axis_parts(spec: OpSpec, stage) -> list[str]:
    """``EXPR = VALUE`` per spatial axis of one stage."""
    parts = []
    spatial, out = stage.x.shape[1:], stage.out.shape[1:]
    for a, (i, k, s, d, o) in enumerate(zip(spatial, stage.kernel, stage.stride, stage.dilation, out)):
        lo, hi = stage.pads[a]
        if stage.kind == "conv":
            expr = f"floor(({i} + {lo} + {hi} - {d}*({k} - 1) - 1) / {s}) + 1"
        elif stage.kind == "transposed":
            expr = f"({i} - 1)*{s} - {lo} - {hi} + {d}*({k} - 1) + {stage.output_padding[a]} + 1"
        else:
            rnd = "ceil" if stage.ceil_mode else "floor"
            span = f"{d}*({k} - 1) - 1" if stage.kind == "max_pool" else f"{k}"  # average pooling has no dilation
            expr = f"{rnd}(({i} + 2*{lo} - {span}) / {s}) + 1"
            if stage.ceil_mode and ((-(-(i + 2 * lo - (d * (k - 1) + 1)) // s)) * s >= i + lo):
                expr += " - 1"  # PyTorch drops a last window that would start in the right padding
        parts.append(f"{expr} = {o}")
    return parts


def formula(spec: OpSpec, stages) -> str:
    """``H_out = W_out = floor((5 + 0 + 0 - 1*(3 - 1) - 1) / 2) + 1 = 2``, per stage for
    the two-stage ops (``"; "`` between parts)."""
    names = axis_names(spec.ndim)
    pieces = []
    for stage in stages:
        parts = _axis_parts(spec, stage)
        prefix = f"{stage.name}: " if len(stages) > 1 else ""
        if len(stages) > 1 and all(k == 1 for k in stage.kernel) and all(v == 1 for v in stage.stride) \
                and not any(map(any, stage.pads)):  # the pointwise stage
            pieces.append(f"{prefix}keeps {size_text(stage.out.shape[1:])}")
        elif spec.kind == "separable":  # each pass changes one axis
            axis = 0 if stage is stages[0] else 1
            pieces.append(f"{prefix}{names[axis]}_out = {parts[axis]}")
        elif len(set(parts)) == 1:
            pieces.append(prefix + " = ".join(f"{a}_out" for a in names) + f" = {parts[0]}")
        else:
            pieces.append(prefix + "; ".join(f"{a}_out = {p}" for a, p in zip(names, parts)))
    return "; ".join(pieces)


def title(spec: OpSpec, in_shape, out_shapes, params: dict, padding_given, backward: bool, view: str) -> str:
    C, spatial = in_shape[0], in_shape[1:]
    inp = size_text(spatial) + (f" x {C} channels" if C > 1 else "")
    out_shape = out_shapes[-1]
    out = size_text(out_shape[1:])
    if out_shape[0] > 1 or C > 1:
        out += f" x {out_shape[0]} channel" + ("s" if out_shape[0] > 1 else "")
    window = "window" if spec.is_pool else "kernel"
    parts = [f"input {inp}", f"{window} {size_text(params['kernel_size'])}",
             f"stride {padding_text([(s, s) for s in params['stride']], None)}",
             f"padding {padding_text(params['padding'], padding_given)}",
             f"dilation {padding_text([(d, d) for d in params['dilation']], None)}"]
    if spec.kind == "avg_pool":
        parts.pop()
    if any(params.get("output_padding", [])):
        parts.append(f"output_padding {padding_text([(p, p) for p in params['output_padding']], None)}")
    if params.get("ceil_mode"):
        parts.append("ceil_mode")
    if params.get("count_include_pad") is False:
        parts.append("count_include_pad=False")
    if params.get("groups", 1) > 1 and spec.kind in ("conv", "transposed"):
        parts.append(f"groups {params['groups']}")
    head = f"{spec.name}" + (" backward" if backward else "") + (" (scatter view)" if view == "scatter" else "")
    return f"{head}: " + ", ".join(parts) + f" -> output {out}"


def notes(spec: OpSpec, stages, params: dict, backward: bool, view: str = "direct") -> list[str]:
    """One-line explanations shown under the title."""
    out: list[str] = []
    kind = spec.kind
    if kind == "transposed" and view == "scatter":
        s = stages[0].stride
        crop = "; padding crops the border of the sum" if any(map(any, stages[0].pads)) else ""
        out.append(f"each input cell adds its value times the kernel onto the output, neighbouring copies "
                   f"{padding_text([(v, v) for v in s], None)} apart{crop}")
    elif kind == "transposed":
        dp = stages[0].params()["direct_padding"]
        s = stages[0].stride
        if all(v == 1 for v in s):
            inserted = "no zeros inserted"
        elif len(set(s)) == 1:
            inserted = f"{s[0] - 1} zero{'s' if s[0] > 2 else ''} inserted between neighbouring cells"
        else:
            inserted = f"{'/'.join(str(v - 1) for v in s)} zeros inserted between neighbouring cells (per axis)"
        border = (f"padded {padding_text(dp, None)}" if all(v >= 0 for pair in dp for v in pair)
                  else f"padded {padding_text(dp, None)} (negative: cropped)")
        out.append(f"= a direct convolution over the input with {inserted}, {border} "
                   f"(= dilation*(k - 1) - padding, + output_padding at the end), and the kernel rotated 180 degrees")
    dil = params["dilation"]
    if any(d > 1 for d in dil):
        k = params["kernel_size"]
        spans = [(kk - 1) * d + 1 for kk, d in zip(k, dil)]
        out.append(f"dilation {padding_text([(d, d) for d in dil], None)}: the {size_text(k)} taps span "
                   f"(k - 1)*d + 1 = {size_text(spans)} "
                   f"cells, skipping the cells between them (the study text's # - # - #)")
    groups = params.get("groups", 1)
    if groups > 1 and kind in ("conv", "transposed"):
        cin, cout = stages[0].x.shape[0], stages[0].out.shape[0]
        out.append(f"groups {groups}: each group of {cin // groups} input channel{'s' if cin // groups > 1 else ''} "
                   f"makes {cout // groups} output channel{'s' if cout // groups > 1 else ''}; "
                   f"{stages[0].w.size} weights instead of {stages[0].w.size * groups} without groups")
    if kind == "max_pool":
        out.append("windows are padded with -inf; on ties the first maximum (row-major) wins, as PyTorch")
    if kind == "avg_pool":
        if params.get("count_include_pad", True):
            out.append("divisor counts the zero padding (count_include_pad=True, PyTorch's default)")
        else:
            out.append("divisor counts only the input cells of each window (count_include_pad=False)")
    if kind == "separable":
        k = params["kernel_size"]
        col = ", ".join(f"{v:g}" for v in stages[0].w.ravel())
        row = ", ".join(f"{v:g}" for v in stages[1].w.ravel())
        out.append(f"a {k[0]}x1 then a 1x{k[1]} convolution = one {k[0]}x{k[1]} convolution with the kernel "
                   f"outer(column [{col}], row [{row}]): {k[0] + k[1]} weights instead of {k[0] * k[1]}")
    if kind == "depthwise_separable":
        c, o = params["in_channels"], params["out_channels"]
        kh, kw = params["kernel_size"]
        out.append(f"weights: {c}*{kh}*{kw} + {c}*{o} = {c * kh * kw + c * o} (depthwise + pointwise) vs "
                   f"{c}*{o}*{kh}*{kw} = {c * o * kh * kw} for a plain {kh}x{kw} convolution")
        out.append(f"the study text's 16 -> 32 layer: 16*{kh}*{kw} + 16*32 = {16 * kh * kw + 16 * 32} vs "
                   f"16*32*{kh}*{kw} = {16 * 32 * kh * kw}")
    if backward:
        if kind in ("conv", "separable", "depthwise_separable"):
            out.append("grad_input = conv_transpose(grad_output, w): each upstream cell sends grad*w back "
                       "along its window")
        elif kind == "transposed":
            out.append("grad_input = conv(grad_output, w): each upstream cell sends grad*w back to the inputs "
                       "that reached it")
        elif kind == "max_pool":
            out.append("each upstream gradient goes whole to its window's argmax; overlapping windows add up")
        else:
            out.append("each upstream gradient is split evenly over its window (grad / divisor per cell)")
    return out
