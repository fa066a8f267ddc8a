"""cnnkit.animate's frame data against PyTorch, cnnkit.functional and naive loops
(tests/animate_reference.py), over seeded grids of configurations."""
from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from animate_reference import avg_divisor, conv_terms, first_max, pool_terms, transposed_terms
from cnnkit.animate import OPS, FrameData, frame_data, parse_padding, parse_size

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def arr(nested) -> np.ndarray:
    return np.asarray(nested, dtype=np.float64)


def t(a) -> "torch.Tensor":
    return torch.tensor(np.asarray(a, dtype=np.float64))


def term_sets(data: FrameData, stage: int | None = None) -> dict:
    frames = data.frames if stage is None else data.stage_frames(stage)
    out = {}
    for f in frames:
        pairs = [(tuple(x["input_index"]), tuple(x["kernel_index"])) for x in f["terms"]]
        assert len(pairs) == len(set(pairs)), f"duplicate terms in {f}"
        out[tuple(f["output_index"])] = set(pairs)
    return out


def evaluate_formula(text: str) -> list[int]:
    """Every ``X_out = ... = EXPR = VALUE`` part: EXPR evaluated (floor/ceil) must equal VALUE."""
    values = []
    for part in text.split(";"):
        if "_out" not in part:
            continue
        expr, value = part.split(": ")[-1].rsplit(" = ", 1)
        expr = expr.split(" = ")[-1]
        got = eval(expr, {"floor": math.floor, "ceil": math.ceil, "__builtins__": {}})
        assert got == int(value), f"{expr} = {got}, the formula says {value}"
        values.append(got)
    return values


def check_common(data: FrameData, out_ref: np.ndarray, config: str) -> None:
    out = arr(data.output)
    assert out.shape == out_ref.shape, f"[{config}] shape {out.shape} vs torch {out_ref.shape}"
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12, err_msg=config)
    for i, stage in enumerate(data.stage_list()):  # one frame per output cell of each stage, in raster order
        frames, y = (data.stage_frames(i), arr(stage["output"])) if data.stages else (data.frames, out)
        assert [tuple(f["output_index"]) for f in frames] == list(np.ndindex(y.shape)), f"[{config}] raster order"
        assert all(f["value"] == pytest.approx(y[tuple(f["output_index"])]) for f in frames), config
    sizes = evaluate_formula(data.output_size_formula)
    assert set(sizes) <= set(out.shape[1:]) and sizes, f"[{config}] {data.output_size_formula}"
    back = FrameData.from_dict(json.loads(json.dumps(data.to_dict(), allow_nan=False)))
    assert back.to_dict() == data.to_dict()


# ----------------------------------------------------------- convolution
PADDINGS_2D = [0, 1, 2, (1, 0), "same", "valid", ((0, 1), (2, 0)), ((2, 1), (0, 1))]
PADDINGS_1D = [0, 1, 2, "same", "valid", ((0, 1),), ((2, 0),)]


def conv_grid():
    rng = np.random.default_rng(7)
    out = []
    for n, paddings in ((1, PADDINGS_1D), (2, PADDINGS_2D)):
        for stride, dilation, padding in itertools.product((1, 2, 3), (1, 2, 3), paddings):
            size = int(rng.integers(5, 9))
            kernel = int(rng.integers(1, 4))
            channels = int(rng.integers(1, 3))
            out.append((n, size, kernel, stride, dilation, padding, channels, int(rng.integers(0, 100))))
    return out


def torch_pads(pads, n):
    """Explicit pairs as torch.nn.functional.pad's argument (last axis first)."""
    return [v for lo_hi in reversed(pads) for v in lo_hi]


@pytest.mark.parametrize("n,size,kernel,stride,dilation,padding,channels,seed", conv_grid())
def test_conv_frames_match_torch_and_naive_loops(n, size, kernel, stride, dilation, padding, channels, seed):
    config = f"conv{n}d size={size} k={kernel} s={stride} d={dilation} p={padding} C={channels} seed={seed}"
    op = f"conv{n}d"
    try:
        data = frame_data(op, input_size=size, kernel_size=kernel, stride=stride, padding=padding,
                          dilation=dilation, channels=channels, seed=seed)
    except ValueError as exc:  # only when the dilated kernel is larger than the padded input
        assert "larger than the padded input" in str(exc) and "\n" not in str(exc), config
        return
    x, w = arr(data.input), arr(data.kernel)
    pads = [tuple(p) for p in data.params["padding"]]
    ref = getattr(TF, op)(TF.pad(t(x)[None], torch_pads(pads, n)), t(w), stride=stride, dilation=dilation)[0]
    check_common(data, ref.numpy(), config)
    np.testing.assert_array_equal(arr(data.output), getattr(F, op)(x[None], w, stride=stride, padding=padding,
                                                                    dilation=dilation).numpy()[0])
    assert term_sets(data) == conv_terms(x.shape, arr(data.output).shape, (kernel,) * n, (stride,) * n, pads,
                                         (dilation,) * n), config
    for f in data.frames:
        total = sum(x[tuple(tt["input_index"])] * w[tuple(tt["kernel_index"])] for tt in f["terms"])
        assert total == pytest.approx(f["value"]), config
    if padding == "same":  # TensorFlow's SAME: out = ceil(in / stride)
        assert arr(data.output).shape[1:] == (-(-size // stride),) * n, config


@pytest.mark.parametrize("kind,n,channels,out_channels,groups", [
    (kind, n, c, o, g) for kind in ("conv", "transposed") for n in (1, 2)
    for c, o, g in ((4, 2, 2), (2, 4, 2), (4, 4, 4), (3, 3, 3), (4, 2, 1), (2, 2, 1))])
def test_grouped_frames_match_torch_and_naive_loops(kind, n, channels, out_channels, groups):
    op = f"conv{n}d" if kind == "conv" else f"conv_transpose{n}d"
    config = f"{op} C={channels} O={out_channels} groups={groups}"
    stride = 1 if kind == "conv" else 2
    data = frame_data(op, input_size=4 if kind == "conv" else 2, kernel_size=2, stride=stride, channels=channels,
                      out_channels=out_channels, groups=groups, seed=channels + out_channels, backward=True)
    x, w = arr(data.input), arr(data.kernel)
    wshape = (out_channels, channels // groups) if kind == "conv" else (channels, out_channels // groups)
    assert w.shape[:2] == wshape and data.params["groups"] == groups, config
    xt, wt = t(x)[None].requires_grad_(), t(w)
    fn = getattr(TF, op)
    ref = fn(xt, wt, stride=stride, groups=groups)
    check_common(data, ref[0].detach().numpy(), config)
    terms = conv_terms if kind == "conv" else transposed_terms
    pads = [(0, 0)] * n
    assert term_sets(data) == terms(x.shape, arr(data.output).shape, (2,) * n, (stride,) * n, pads, (1,) * n,
                                    groups=groups), config
    ref.backward(t(arr(data.grad_output))[None])
    np.testing.assert_allclose(arr(data.grad_input), xt.grad[0].numpy(), rtol=1e-12, atol=1e-12, err_msg=config)
    assert (f"groups {groups}" in data.title) == (groups > 1), config


def transposed_grid():
    rng = np.random.default_rng(11)
    out = []
    for n in (1, 2):
        for stride, dilation in itertools.product((1, 2, 3), (1, 2, 3)):
            for op_pad in range(max(stride, dilation)):
                for padding in (0, 1, ((0, 2),) * n, "same"):
                    if padding == "same" and op_pad:
                        continue
                    out.append((n, int(rng.integers(2, 5)), int(rng.integers(1, 4)), stride, dilation, padding,
                                op_pad, int(rng.integers(1, 3)), int(rng.integers(0, 100))))
    return out


@pytest.mark.parametrize("n,size,kernel,stride,dilation,padding,output_padding,channels,seed", transposed_grid())
def test_transposed_frames_match_torch_and_the_scatter_definition(n, size, kernel, stride, dilation, padding,
                                                                   output_padding, channels, seed):
    config = (f"conv_transpose{n}d size={size} k={kernel} s={stride} d={dilation} p={padding} "
              f"op={output_padding} C={channels} seed={seed}")
    op = f"conv_transpose{n}d"
    try:
        data = frame_data(op, input_size=size, kernel_size=kernel, stride=stride, padding=padding,
                          dilation=dilation, output_padding=output_padding, channels=channels, seed=seed)
    except ValueError as exc:
        assert "not positive" in str(exc) and "\n" not in str(exc), config
        return
    x, w = arr(data.input), arr(data.kernel)
    pads = [tuple(p) for p in data.params["padding"]]
    opad = data.params["output_padding"]
    # torch: no padding, then crop (lo, hi - output_padding) per axis: the definition of the padding
    full = getattr(TF, op)(t(x)[None], t(w), stride=stride, dilation=dilation)[0]
    ref = full
    for axis, ((lo, hi), extra) in enumerate(zip(pads, opad)):
        length = full.shape[1 + axis]
        ref = torch.narrow(TF.pad(ref, [0, 0] * (n - 1 - axis) + [0, extra]), 1 + axis, lo, length + extra - lo - hi)
    check_common(data, ref.numpy(), config)
    assert term_sets(data) == transposed_terms(x.shape, arr(data.output).shape, (kernel,) * n, (stride,) * n, pads,
                                               (dilation,) * n), config
    for f in data.frames:
        total = sum(x[tuple(tt["input_index"])] * w[tuple(tt["kernel_index"])] for tt in f["terms"])
        assert total == pytest.approx(f["value"]), config
    # the direct form's padding is dilation*(k - 1) - padding, + output_padding at the end
    assert data.params["direct_padding"] == [[dilation * (kernel - 1) - lo, dilation * (kernel - 1) - hi + e]
                                             for (lo, hi), e in zip(pads, opad)]
    # the scatter view regroups exactly the same terms by input cell
    groups = data.scatter_groups()
    assert [tuple(g["input_index"]) for g in groups] == list(np.ndindex(x.shape))
    assert sum(len(g["targets"]) for g in groups) == sum(len(f["terms"]) for f in data.frames)


def pool_grid():
    rng = np.random.default_rng(13)
    out = []
    for n, kind in itertools.product((1, 2), ("max", "avg")):
        for kernel, stride, ceil_mode in itertools.product((2, 3), (1, 2, 3), (False, True)):
            for padding in range(kernel // 2 + 1):
                for dilation in ((1, 2) if kind == "max" else (1,)):
                    out.append((kind, n, int(rng.integers(4, 8)), kernel, stride, padding, dilation, ceil_mode,
                                int(rng.integers(1, 3)), int(rng.integers(0, 100))))
    return out


@pytest.mark.parametrize("kind,n,size,kernel,stride,padding,dilation,ceil_mode,channels,seed", pool_grid())
def test_pool_frames_match_torch_and_naive_loops(kind, n, size, kernel, stride, padding, dilation, ceil_mode,
                                                 channels, seed):
    config = f"{kind}_pool{n}d size={size} k={kernel} s={stride} p={padding} d={dilation} ceil={ceil_mode} C={channels}"
    op = f"{kind}_pool{n}d"
    try:
        data = frame_data(op, input_size=size, kernel_size=kernel, stride=stride, padding=padding,
                          dilation=dilation, ceil_mode=ceil_mode, channels=channels, seed=seed, backward=True)
    except ValueError as exc:
        assert "too small" in str(exc) and "\n" not in str(exc), config
        return
    x = arr(data.input)
    xt = t(x)[None].requires_grad_()
    if kind == "max":
        ref, idx = getattr(TF, op)(xt, kernel, stride, padding, dilation, ceil_mode, return_indices=True)
    else:
        ref = getattr(TF, op)(xt, kernel, stride, padding, ceil_mode)
    check_common(data, ref[0].detach().numpy(), config)
    assert "kernel" not in data.to_dict()
    k_, s_, p_, d_ = (kernel,) * n, (stride,) * n, (padding,) * n, (dilation,) * n
    sets = term_sets(data)
    assert sets == pool_terms(x.shape, arr(data.output).shape, k_, s_, p_, d_), config
    g = arr(data.grad_output)
    ref.backward(t(g)[None])
    np.testing.assert_allclose(arr(data.grad_input), xt.grad[0].numpy(), rtol=1e-12, atol=1e-12, err_msg=config)
    for f in data.frames:
        vals = [x[tuple(tt["input_index"])] for tt in f["terms"]]
        if kind == "max":
            assert tuple(f["argmax"]) == first_max(x, sets[tuple(f["output_index"])]), config
            flat = int(idx[0][tuple(f["output_index"])])
            assert tuple(f["argmax"]) == (f["output_index"][0],) + np.unravel_index(flat, x.shape[1:]), config
            assert max(vals) == f["value"]
            assert f["routes"] == [{"input_index": f["argmax"], "amount": f["grad"]}]
        else:
            div = avg_divisor(x.shape, f["output_index"], k_, s_, p_)
            assert f["divisor"] == div, config
            assert sum(vals) / div == pytest.approx(f["value"]), config
            assert all(r["amount"] == pytest.approx(f["grad"] / div) for r in f["routes"])
            assert [r["input_index"] for r in f["routes"]] == [tt["input_index"] for tt in f["terms"]]
    assert_routes_sum_to(data.frames, arr(data.grad_input), config)


@pytest.mark.parametrize("n,size,kernel,stride,padding,ceil_mode", [
    (n, size, k, s, p, c) for n, size in ((1, 7), (2, 5), (2, 6)) for k in (2, 3) for s in (1, 2)
    for p in range(1, k // 2 + 1) for c in (False, True)])
def test_mean_pool_without_the_padding_in_the_divisor_matches_torch(n, size, kernel, stride, padding, ceil_mode):
    config = f"avg_pool{n}d size={size} k={kernel} s={stride} p={padding} ceil={ceil_mode} count_include_pad=False"
    op = f"avg_pool{n}d"
    data = frame_data(op, input_size=size, kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode,
                      count_include_pad=False, seed=size + kernel, backward=True)
    assert data.params["count_include_pad"] is False
    x = arr(data.input)
    xt = t(x)[None].requires_grad_()
    ref = getattr(TF, op)(xt, kernel, stride, padding, ceil_mode, count_include_pad=False)
    check_common(data, ref[0].detach().numpy(), config)
    ref.backward(t(arr(data.grad_output))[None])
    np.testing.assert_allclose(arr(data.grad_input), xt.grad[0].numpy(), rtol=1e-12, atol=1e-12, err_msg=config)
    k_, s_, p_ = (kernel,) * n, (stride,) * n, (padding,) * n
    for f in data.frames:
        div = avg_divisor(x.shape, f["output_index"], k_, s_, p_, count_include_pad=False)
        assert f["divisor"] == div == len(f["terms"]), config  # only the real input cells count
        assert sum(x[tuple(tt["input_index"])] for tt in f["terms"]) / div == pytest.approx(f["value"]), config
    assert_routes_sum_to(data.frames, arr(data.grad_input), config)
    with_pad = frame_data(op, input_size=size, kernel_size=kernel, stride=stride, padding=padding,
                          ceil_mode=ceil_mode, seed=size + kernel)
    assert with_pad.frames[0]["divisor"] > data.frames[0]["divisor"], config  # the corner window touches padding


def assert_routes_sum_to(frames, grad_input: np.ndarray, config: str) -> None:
    acc = np.zeros_like(grad_input)
    for f in frames:
        for r in f["routes"]:
            acc[tuple(r["input_index"])] += r["amount"]
    np.testing.assert_allclose(acc, grad_input, rtol=1e-12, atol=1e-12, err_msg=f"routes [{config}]")


# --------------------------------------------------------------- backward
@pytest.mark.parametrize("op,kw", [
    ("conv2d", dict(input_size=5, stride=2)),                     # the seed's 5x5 -> 2x2
    ("conv2d", dict(input_size=(5, 6), stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2), channels=2)),
    ("conv1d", dict(input_size=7, kernel_size=3, stride=3, padding="same", dilation=2)),
    ("conv_transpose2d", dict(input_size=3, stride=2, padding=1, output_padding=1)),
    ("conv_transpose1d", dict(input_size=4, kernel_size=2, stride=3, channels=3)),
])
def test_convolution_backward_routes_are_the_transposed_convolution(op, kw):
    data = frame_data(op, backward=True, seed=3, **kw)
    x, w, g = arr(data.input), arr(data.kernel), arr(data.grad_output)
    p = data.params
    n = len(p["kernel_size"])
    xt = t(x)[None].requires_grad_()
    pads = [tuple(v) for v in p["padding"]]
    if op.startswith("conv_transpose"):
        out = getattr(TF, op)(xt, t(w), stride=p["stride"], padding=[lo for lo, _ in pads],
                              output_padding=p["output_padding"], dilation=p["dilation"])
        # grad_input is the convolution of the output gradient with the same weight
        assert np.allclose(arr(data.grad_input), getattr(TF, f"conv{n}d")(
            t(g)[None], t(w), stride=p["stride"], padding=[lo for lo, _ in pads], dilation=p["dilation"])[0].numpy())
    else:
        out = getattr(TF, op)(TF.pad(xt, torch_pads(pads, n)), t(w), stride=p["stride"], dilation=p["dilation"])
        # grad_input is the transposed convolution of the output gradient (cropped by the padding)
        gt = getattr(TF, f"conv_transpose{n}d")(t(g)[None], t(w), stride=p["stride"], dilation=p["dilation"])[0]
        full = np.zeros((x.shape[0],) + tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[1:], pads)))
        full[(slice(None),) + tuple(slice(0, m) for m in gt.shape[1:])] = gt.numpy()
        crop = full[(slice(None),) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[1:], pads))]
        np.testing.assert_allclose(arr(data.grad_input), crop, atol=1e-12)
    out.backward(t(g)[None])
    np.testing.assert_allclose(arr(data.grad_input), xt.grad[0].numpy(), atol=1e-12)
    for f in data.frames:
        assert f["grad"] == g[tuple(f["output_index"])]
        assert [r["amount"] for r in f["routes"]] == [f["grad"] * w[tuple(tt["kernel_index"])] for tt in f["terms"]]
    assert_routes_sum_to(data.frames, arr(data.grad_input), op)


def test_max_pool_routes_ties_to_the_first_maximum_and_accumulates_overlaps():
    x = [[1, 9, 9], [9, 2, 0], [0, 9, 9]]   # ties everywhere; the middle cells are shared by 4 windows
    data = frame_data("max_pool2d", input=x, kernel_size=2, stride=1, backward=True)
    assert [f["argmax"] for f in data.frames] == [[0, 0, 1], [0, 0, 1], [0, 1, 0], [0, 2, 1]]
    g = arr(data.grad_output)[0]
    expected = np.zeros((3, 3))
    expected[0, 1] = g[0, 0] + g[0, 1]
    expected[1, 0], expected[2, 1] = g[1, 0], g[1, 1]
    np.testing.assert_array_equal(arr(data.grad_input)[0], expected)


# ------------------------------------------------------------- composites
def test_separable_is_a_column_then_a_row_pass_and_equals_the_outer_product():
    data = frame_data("separable", input_size=(6, 7), kernel=([1, 2, 1], [1, 0, -1]), padding="same", stride=(1, 2),
                      seed=5)
    x = arr(data.input)
    np.testing.assert_array_equal(arr(data.kernel)[0, 0], np.outer([1, 2, 1], [1, 0, -1]))
    ref = TF.conv2d(TF.pad(t(x)[None], torch_pads(data.params["padding"], 2)), t(data.kernel), stride=(1, 2))[0]
    check_common(data, ref.numpy(), "separable")
    first, second = data.stages
    assert np.shape(first["kernel"]) == (1, 1, 3, 1) and np.shape(second["kernel"]) == (1, 1, 1, 3)
    assert second["input"] == first["output"]
    for i, st in enumerate(data.stages):
        p = st["params"]
        assert term_sets(data, i) == conv_terms(np.shape(st["input"]), np.shape(st["output"]), p["kernel_size"],
                                                p["stride"], p["padding"], p["dilation"])
    assert [f["stage"] for f in data.frames] == [0] * len(data.stage_frames(0)) + [1] * len(data.stage_frames(1))
    assert "6 weights instead of 9" in " ".join(data.notes)


def test_depthwise_separable_stages_parameter_counts_and_backward():
    data = frame_data("depthwise-separable", input_size=4, channels=3, backward=True, seed=2)
    x = arr(data.input)
    dw, pw = arr(data.stages[0]["kernel"]), arr(data.stages[1]["kernel"])
    assert dw.shape == (3, 1, 3, 3) and pw.shape == (6, 3, 1, 1)
    xt = t(x)[None].requires_grad_()
    ref = TF.conv2d(TF.conv2d(xt, t(dw), groups=3), t(pw))
    check_common(data, ref[0].detach().numpy(), "depthwise-separable")
    np.testing.assert_allclose(arr(data.output), TF.conv2d(t(x)[None], t(data.kernel))[0].numpy(), atol=1e-12)
    ref.backward(t(data.grad_output)[None])
    np.testing.assert_allclose(arr(data.grad_input), xt.grad[0].numpy(), atol=1e-12)
    # backward frames: the pointwise stage first, then the depthwise one
    stages = [f["stage"] for f in data.frames]
    assert stages == sorted(stages, reverse=True)
    assert data.stages[0]["grad_output"] == data.stages[1]["grad_input"]
    for i, st in enumerate(data.stages):
        p = st["params"]
        assert term_sets(data, i) == conv_terms(np.shape(st["input"]), np.shape(st["output"]), p["kernel_size"],
                                                p["stride"], p["padding"], p["dilation"], p["groups"])
        assert_routes_sum_to(data.stage_frames(i), arr(st["grad_input"]), st["name"])
    # the parameter counts on the frame are those of cnnkit's own layers
    def count(m):
        return sum(p.data.size for p in m.parameters())
    notes = " ".join(data.notes)
    for c_in, c_out in ((3, 6), (16, 32)):
        sep = count(cnnkit.nn.SeparableConv2d(c_in, c_out, 3, bias=False))
        plain = count(cnnkit.nn.Conv2d(c_in, c_out, 3, bias=False))
        assert f"= {sep}" in notes and f"= {plain}" in notes
    assert "656" in notes and "4608" in notes


# ------------------------------------------------------------------ others
def test_seeded_values_are_small_integers_and_reproducible():
    a = frame_data("conv2d", input_size=5, seed=4)
    b = frame_data("conv2d", input_size=5, seed=4)
    c = frame_data("conv2d", input_size=5, seed=5)
    assert a.to_dict() == b.to_dict() and a.input != c.input
    x, w = arr(a.input), arr(a.kernel)
    assert (x == np.round(x)).all() and x.min() >= 0 and x.max() <= 3
    assert (w == np.round(w)).all() and w.min() >= -1 and w.max() <= 2


def test_json_holds_exactly_the_issue_keys():
    d = frame_data("max_pool1d", input_size=5, backward=True).to_dict()
    for key in ("op", "params", "input", "output", "frames", "grad_output", "grad_input"):
        assert key in d
    assert {"stride", "padding", "dilation", "output_padding", "kernel_size"} <= set(d["params"])
    assert set(d["frames"][0]) == {"output_index", "terms", "value", "argmax", "grad", "routes"}
    assert set(d["frames"][0]["terms"][0]) == {"input_index", "kernel_index"}
    conv = frame_data("conv1d", input_size=5).to_dict()
    assert "kernel" in conv and "grad_output" not in conv and set(conv["frames"][0]) == {"output_index", "terms",
                                                                                          "value"}


def test_title_states_the_configuration():
    d = frame_data("conv2d", input_size=5, stride=2, padding=((0, 1), (2, 0)), dilation=2)
    assert d.title.startswith("conv2d: input 5x5, kernel 3x3, stride 2, padding (top 0, bottom 1, left 2, right 0)")
    assert d.title.endswith("-> output 1x2")
    same = frame_data("conv2d", input_size=6, stride=2, padding="same")
    assert "padding same = (top 0, bottom 1, left 0, right 1)" in same.title   # the odd pixel at the end


BAD = [
    (dict(op="conv3d", input_size=5), ValueError, "op must be one of"),
    (dict(op="conv2d", input_size=3, kernel_size=5), ValueError, "larger than the padded input"),
    (dict(op="conv_transpose2d", input_size=3, stride=2, output_padding=2), ValueError, "output_padding"),
    (dict(op="conv2d", input_size=5, output_padding=1), ValueError, "output_padding"),
    (dict(op="conv2d", input_size=0), ValueError, "input_size"),
    (dict(op="conv2d", input_size=17), ValueError, "input_size"),
    (dict(op="conv2d", input_size=(5, 5, 5)), ValueError, "input_size"),
    (dict(op="conv2d", input_size="5"), TypeError, "input_size"),
    (dict(op="conv2d", input_size=5, stride=0), ValueError, "stride"),
    (dict(op="conv2d", input_size=5, dilation=1.5), TypeError, "dilation"),
    (dict(op="conv2d", input_size=5, padding="half"), ValueError, "padding"),
    (dict(op="conv2d", input_size=5, padding=-1), ValueError, "padding"),
    (dict(op="max_pool2d", input_size=5, padding="same"), ValueError, "padding"),
    (dict(op="max_pool2d", input_size=5, kernel_size=2, padding=2), ValueError, "padding"),
    (dict(op="avg_pool1d", input_size=5, dilation=2), ValueError, "dilation"),
    (dict(op="max_pool1d", input_size=5, kernel=[1, 2]), ValueError, "kernel"),
    (dict(op="conv2d", input_size=5, ceil_mode=True), ValueError, "ceil_mode"),
    (dict(op="max_pool2d", input_size=5, count_include_pad=False), ValueError, "count_include_pad"),
    (dict(op="max_pool2d", input_size=5, groups=2), ValueError, "groups"),
    (dict(op="conv2d", input_size=5, channels=3, groups=2), ValueError, "groups must divide"),
    (dict(op="conv2d", input_size=5, out_channels=9), ValueError, "out_channels"),
    (dict(op="conv2d", input_size=5, groups=1.0), TypeError, "groups"),
    (dict(op="avg_pool2d", input_size=5, count_include_pad="no"), TypeError, "count_include_pad"),
    (dict(op="conv2d", input_size=5, view="scatter"), ValueError, "view"),
    (dict(op="conv_transpose1d", input_size=5, view="sideways"), ValueError, "view"),
    (dict(op="conv2d", input_size=5, channels=5), ValueError, "channels"),
    (dict(op="separable", input_size=5, channels=2), ValueError, "channels"),
    (dict(op="conv2d", input_size=5, backward="yes"), TypeError, "backward"),
    (dict(op="conv2d", input=[[1, 2], [3, float("nan")]]), ValueError, "input"),
    (dict(op="conv2d", input=[1, 2, 3]), ValueError, "input"),
    (dict(op="conv2d", input=[["a"]]), TypeError, "input"),
    (dict(op="conv2d", input_size=4, input=np.zeros((5, 5))), ValueError, "input_size"),
    (dict(op="conv2d", input_size=5, kernel=np.ones((2, 2))), ValueError, "kernel"),
    (dict(op="separable", input_size=5, kernel=[1, 2, 1]), ValueError, "kernel"),
    (dict(op="depthwise-separable", input_size=5, channels=2, kernel=(np.ones((2, 3, 3)), np.ones((4, 3)))),
     ValueError, "pointwise"),
    (dict(op="conv2d"), TypeError, "input_size"),
    (dict(op="conv2d", input_size=5, seed=1.5), TypeError, "seed"),
]


@pytest.mark.parametrize("kw,exc,word", BAD, ids=[f"{k['op']}-{w}-{i}" for i, (k, _, w) in enumerate(BAD)])
def test_bad_arguments_give_one_line_errors_naming_the_argument(kw, exc, word):
    kw = dict(kw)
    op = kw.pop("op")
    with pytest.raises(exc) as info:
        frame_data(op, **kw)
    msg = str(info.value)
    assert word in msg and "\n" not in msg, msg


def test_cli_strings_parse_to_frame_data_arguments():
    assert parse_size("5", "x") == (5,) and parse_size("5x7", "x") == (5, 7)
    assert parse_padding("same", 2) == "same" and parse_padding("VALID", 1) == "valid"
    assert parse_padding("1", 2) == 1 and parse_padding("1x2", 2) == (1, 2)
    assert parse_padding("0,1,2,0", 2) == ((0, 1), (2, 0)) and parse_padding("2,1", 1) == ((2, 1),)
    for bad, n in (("1,2,3", 2), ("1,2", 2), ("a", 1), ("1x2x3", 2), ("", 1)):
        with pytest.raises(ValueError, match="padding"):
            parse_padding(bad, n)
    with pytest.raises(ValueError, match="--input"):
        parse_size("5by5", "--input")
    assert set(OPS) == {"conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "max_pool2d",
                        "avg_pool1d", "avg_pool2d", "separable", "depthwise-separable"}


def test_from_dict_rejects_unknown_or_missing_keys():
    d = frame_data("conv1d", input_size=4).to_dict()
    with pytest.raises(ValueError, match="unknown keys"):
        FrameData.from_dict({**d, "colour": "red"})
    with pytest.raises(ValueError, match="lacks"):
        FrameData.from_dict({k: v for k, v in d.items() if k != "frames"})
    with pytest.raises(TypeError):
        FrameData.from_dict([d])
    assert re.match(r"L_out = floor\(\(4 \+ 0 \+ 0 - 1\*\(3 - 1\) - 1\) / 1\) \+ 1 = 2$", d["output_size_formula"])
