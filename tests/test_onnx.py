"""cnnkit.onnx.export / load on a seeded grid of every layer and configuration.

For each model: one export (example batch 2, dynamic batch) that passes
``onnx.checker.check_model(full_check=True)``; ``value_info`` for every intermediate
tensor with the shapes onnx's reference evaluator computes; onnxruntime's output
equal to cnnkit's (relative error <= 1e-5 of the output range) at batch 1 and 7;
the reference evaluator agreeing; and ``load`` giving back a model with the same
state_dict keys whose outputs AND parameter gradients are bit-identical.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from onnx_helpers import assert_close, onnx, ort_session, reference

import cnnkit
import cnnkit.functional as F
from cnnkit import nn
from cnnkit.analysis.zoo import build
from cnnkit.models import lenet5, textcnn

co = pytest.importorskip("cnnkit.onnx")


def _dims(value_info) -> tuple:
    return tuple(d.dim_param or (d.dim_value if d.HasField("dim_value") else "?")
                 for d in value_info.type.tensor_type.shape.dim)


def _inputs(spec, n: int, seed: int) -> np.ndarray:
    shape, high = spec
    rng = np.random.default_rng(seed)
    if high is not None:
        return rng.integers(0, high, (n,) + shape).astype(np.int64)
    return rng.standard_normal((n,) + shape).astype(np.float32)


def verify(model: nn.Module, spec, config: str, *, grads: bool = True) -> None:
    model.eval()
    proto = co.export(model, None, _inputs(spec, 2, 0))
    onnx.checker.check_model(proto, full_check=True)
    g = proto.graph
    assert [i.name for i in g.input] == ["input"] and [o.name for o in g.output] == ["output"]
    assert _dims(g.input[0])[0] == "N" and _dims(g.output[0])[0] == "N", config

    # initializers: the state_dict keys, and constants named after the node that reads them
    inits = {i.name for i in g.initializer}
    assert {k for k, _ in model.named_parameters()} <= inits, config
    assert all(name in model.state_dict() or name.startswith("/") for name in inits), (config, inits)

    x7 = _inputs(spec, 7, 1)
    with cnnkit.no_grad():
        expected = model(cnnkit.tensor(x7)).numpy()

    # value_info of every intermediate tensor, checked against the reference evaluator's arrays
    inter = [o for n in g.node for o in n.output if o != "output"]
    info = {v.name: _dims(v) for v in g.value_info}
    assert set(inter) <= set(info), f"[{config}] no value_info for {set(inter) - set(info)}"
    results = reference(proto).run(inter + ["output"], {"input": x7})
    for name, arr in zip(inter, results[:-1]):
        want = info[name]
        assert len(want) == arr.ndim and all(d in ("?", "N") or d == s for d, s in zip(want, arr.shape)), \
            f"[{config}] value_info {name}: {want} but the tensor is {arr.shape}"
        assert all(s == 7 for d, s in zip(want, arr.shape) if d == "N"), f"[{config}] {name}: N is not the batch"
    assert_close(results[-1], expected, "reference evaluator", config)

    session = ort_session(proto)
    for n in (1, 7):
        x = x7[:n]
        with cnnkit.no_grad():
            want = model(cnnkit.tensor(x)).numpy()
        assert_close(session.run(None, {"input": x})[0], want, "onnxruntime", f"{config}, batch {n}")

    back = co.load(proto)
    got = back(x7).numpy()
    assert got.dtype == expected.dtype and np.array_equal(got, expected), \
        f"[{config}] round trip differs by {np.abs(got - expected).max()}"
    sd, sd_back = model.state_dict(), back.state_dict()
    assert {k for k, _ in model.named_parameters()} <= set(sd_back), (config, sorted(sd_back))
    for k, v in sd_back.items():
        assert k in sd and np.array_equal(v, sd[k]), (config, k)
    if grads:  # the imported model trains like the original: the same gradients, bit for bit
        weights = np.random.default_rng(2).standard_normal(expected.shape).astype(expected.dtype)
        floating = np.issubdtype(x7.dtype, np.floating)
        input_grads = []
        for m in (model, back):
            m.zero_grad()
            x = cnnkit.tensor(x7, requires_grad=floating)
            (m(x) * weights).sum().backward()
            input_grads.append(x.grad)
        if floating:
            assert np.array_equal(*input_grads), f"[{config}] input gradients differ"
        theirs = dict(back.named_parameters())
        for k, p in model.named_parameters():
            assert theirs[k].requires_grad and np.array_equal(theirs[k].grad, p.grad), (config, k)


# ------------------------------------------------------------------ the grid
def _sample(product, k: int, seed: int):
    items = list(product)
    rng = np.random.default_rng(seed)
    return [items[i] for i in sorted(rng.choice(len(items), size=min(k, len(items)), replace=False))]


CONV_CLS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
SIZE = {1: (11,), 2: (7, 8), 3: (5, 6, 5)}
PADDINGS = ["int", "tuple", "same", "valid", "pairs"]


def _padding(form: str, n: int):
    return {"int": 1, "tuple": tuple(range(1, n + 1)), "same": "same", "valid": "valid",
            "pairs": tuple((a % 2, (a + 1) % 3) for a in range(n))}[form]


CONV_GRID = _sample(itertools.product((1, 2, 3), PADDINGS, (1, 2), (1, 2), (1, 2), (True, False)), 24, seed=0)
CONV_T_GRID = [c for c in itertools.product((1, 2), (1, 2, 3), (0, 1), (0, 1), (1, 2), (1, 2))
               if c[3] < max(c[1], c[5])]  # output_padding < stride or dilation
CONV_T_GRID = _sample(CONV_T_GRID, 12, seed=1) + [(1, 1, 0, 1, 1, 2)]  # output_padding >= stride (Pad + Add)
POOL_GRID = _sample(itertools.product((1, 2, 3), (2, 3), (1, 2), (0, 1), (1, 2), (False, True)), 14, seed=2)
AVG_GRID = _sample(itertools.product((1, 2, 3), (2, 3), (1, 2), (0, 1), (False, True), (False, True)), 12, seed=3)


def _bn(cls, c: int, affine: bool = True):
    bn = cls(c, affine=affine)
    rng = np.random.default_rng(c)
    bn.running_mean[:] = rng.standard_normal(c)
    bn.running_var[:] = rng.uniform(0.5, 2.0, c)
    if affine:
        bn.weight.data[:] = rng.uniform(0.5, 1.5, c)
        bn.bias.data[:] = rng.standard_normal(c)
    return bn


class Residual(nn.Module):
    """A custom module written with functional calls and tensor methods."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.scale = nn.Parameter(np.float32([0.5, 1.0, 2.0]))

    def forward(self, x):
        h = F.leaky_relu(self.conv(x), 0.1) * self.scale.reshape(1, 3, 1, 1) + x
        pooled = h.mean(dim=(2, 3))                      # (N, 3)
        corner = h[:, :2, 0, -1]                         # (N, 2)
        stacked = cnnkit.stack([pooled[:, 0], corner[:, 1]], dim=1)
        y = cnnkit.cat([pooled, corner, stacked], dim=1)  # (N, 7)
        y = (y.clamp(-3.0, 3.0) ** 2 + 1.0).sqrt().log() - y.abs().exp() / 4
        return F.softmax(y.permute(1, 0), dim=1).permute(1, 0) + h.sum(dim=(1, 2, 3), keepdim=True).reshape(-1, 1)


MODELS: dict[str, tuple] = {}
for n, pad, stride, dil, groups, bias in CONV_GRID:
    MODELS[f"Conv{n}d-pad={pad}-s{stride}-d{dil}-g{groups}-bias={bias}"] = (
        lambda n=n, pad=pad, stride=stride, dil=dil, groups=groups, bias=bias: CONV_CLS[n](
            2, 4, 3, stride=stride, padding=_padding(pad, n), dilation=dil, groups=groups, bias=bias),
        (2,) + SIZE[n], None)
for mode in ("reflect", "replicate", "circular"):
    MODELS[f"Conv2d-padding_mode={mode}"] = (lambda mode=mode: nn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode=mode),
                                             (2, 6, 7), None)
for n, s, p, op, g, d in CONV_T_GRID:
    MODELS[f"ConvTranspose{n}d-s{s}-p{p}-op{op}-g{g}-d{d}"] = (
        lambda n=n, s=s, p=p, op=op, g=g, d=d: {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}[n](
            4, 6, 3, stride=s, padding=p, output_padding=op, groups=g, dilation=d), (4,) + SIZE[n][:n], None)
MODELS["DepthwiseConv2d-m2-s2-same"] = (lambda: nn.DepthwiseConv2d(3, 3, depth_multiplier=2, stride=2, padding="same"),
                                        (3, 7, 8), None)
MODELS["SeparableConv2d"] = (lambda: nn.SeparableConv2d(4, 6, 3, depth_multiplier=2, padding=1), (4, 6, 6), None)
MODELS["SpatiallySeparableConv2d-same-s2"] = (lambda: nn.SpatiallySeparableConv2d(3, 4, (3, 5), stride=2,
                                                                                   padding="same"), (3, 9, 9), None)
for n, k, s, p, d, ceil in POOL_GRID:
    MODELS[f"MaxPool{n}d-k{k}-s{s}-p{p}-d{d}-ceil={ceil}"] = (
        lambda n=n, k=k, s=s, p=p, d=d, ceil=ceil: {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}[n](
            k, s, p, d, ceil_mode=ceil), (2,) + SIZE[n], None)
for n, k, s, p, ceil, cip in AVG_GRID:
    MODELS[f"AvgPool{n}d-k{k}-s{s}-p{p}-ceil={ceil}-count_include_pad={cip}"] = (
        lambda n=n, k=k, s=s, p=p, ceil=ceil, cip=cip: {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}[n](
            k, s, p, ceil_mode=ceil, count_include_pad=cip), (2,) + SIZE[n], None)
MODELS["AvgPool2d-divisor_override=5"] = (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=5),
                                          (2, 8, 9), None)
for n, out in [(1, 1), (1, 4), (2, 1), (2, (3, 2)), (2, (4, None)), (3, (2, 3, 1)), (3, 1), (2, (3, 4))]:
    for kind, cls in (("Avg", {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}),
                      ("Max", {1: nn.AdaptiveMaxPool1d, 2: nn.AdaptiveMaxPool2d, 3: nn.AdaptiveMaxPool3d})):
        MODELS[f"Adaptive{kind}Pool{n}d-{out}"] = (lambda cls=cls, n=n, out=out: cls[n](out), (2,) + SIZE[n], None)
for name, factory, shape in [
        ("BatchNorm1d-(N,C)", lambda: _bn(nn.BatchNorm1d, 5), (5,)),
        ("BatchNorm1d-(N,C,L)", lambda: _bn(nn.BatchNorm1d, 3), (3, 6)),
        ("BatchNorm2d", lambda: _bn(nn.BatchNorm2d, 3), (3, 4, 5)),
        ("BatchNorm2d-affine=False", lambda: _bn(nn.BatchNorm2d, 3, affine=False), (3, 4, 5)),
        ("BatchNorm3d", lambda: _bn(nn.BatchNorm3d, 2), (2, 3, 4, 3)),
        ("LayerNorm-1", lambda: nn.LayerNorm(6), (3, 6)),
        ("LayerNorm-2", lambda: nn.LayerNorm((4, 5), eps=1e-3), (3, 4, 5)),
        ("LayerNorm-no-affine", lambda: nn.LayerNorm(5, elementwise_affine=False), (5,)),
        ("LayerNorm-no-bias", lambda: nn.LayerNorm(5, bias=False), (2, 5)),
        ("ReLU", lambda: nn.ReLU(), (3, 4)),
        ("LeakyReLU-0.2", lambda: nn.LeakyReLU(0.2), (3, 4)),
        ("ELU-0.7", lambda: nn.ELU(0.7), (3, 4)),
        ("Tanh", lambda: nn.Tanh(), (3, 4)),
        ("Sigmoid", lambda: nn.Sigmoid(), (3, 4)),
        ("Softmax-1", lambda: nn.Softmax(dim=1), (3, 4)),
        ("Softmax-(-1)", lambda: nn.Softmax(dim=-1), (3, 4)),
        ("LogSoftmax-1", lambda: nn.LogSoftmax(dim=1), (5,)),
        ("Maxout-2", lambda: nn.Maxout(2), (6, 3, 3)),
        ("Maxout-3-after-conv", lambda: nn.Sequential(nn.Conv2d(2, 6, 3), nn.Maxout(3)), (2, 5, 5)),
        ("Maxout-dim2", lambda: nn.Maxout(2, dim=2), (3, 4)),
        ("Dropout-eval", lambda: nn.Sequential(nn.Conv2d(2, 3, 1), nn.Dropout(0.5), nn.Dropout2d(0.3)), (2, 3, 3)),
        ("Linear", lambda: nn.Linear(5, 3), (5,)),
        ("Linear-no-bias", lambda: nn.Linear(5, 3, bias=False), (5,)),
        ("Linear-3d-input", lambda: nn.Linear(5, 3), (4, 5)),
        ("Linear-3d-no-bias", lambda: nn.Linear(5, 3, bias=False), (4, 5)),
        ("Flatten", lambda: nn.Sequential(nn.Flatten(), nn.Linear(24, 2)), (2, 3, 4)),
        ("Flatten-start2", lambda: nn.Flatten(start_dim=2), (2, 3, 4)),
        ("Identity", lambda: nn.Identity(), (3,)),
        ("custom-functional-module", Residual, (3, 5, 5)),
        ("lenet5", lambda: lenet5(), (1, 32, 32)),
        ("lenet5-classic", lambda: lenet5("classic"), (1, 32, 32)),
]:
    MODELS[name] = (factory, shape, None)
MODELS["Embedding"] = (lambda: nn.Embedding(10, 4, padding_idx=0), (6,), 10)
MODELS["zoo-textcnn"] = (lambda: build("textcnn")[0], (40,), 1000)
MODELS["textcnn-ln-head"] = (lambda: textcnn(50, embed_dim=8, windows=(2, 3), maps=4, head="ln"), (9,), 50)


@pytest.mark.parametrize("config", list(MODELS))
def test_export_matches_onnxruntime_reference_and_round_trip(config):
    factory, shape, high = MODELS[config]
    cnnkit.manual_seed(sum(map(ord, config)))
    model = factory()
    if not list(model.children()):  # a bare layer: in a Sequential, so that its keys ("0.weight") have a path
        model = nn.Sequential(model)
    verify(model, (shape, high), config)


def test_grid_covers_every_exportable_layer():
    """Every layer of cnnkit.nn (losses and containers aside) appears in the grid."""
    skip = {"Module", "Sequential", "ModuleList", "Parameter", "CrossEntropyLoss", "NLLLoss", "MSELoss",
            "BCEWithLogitsLoss", "init", "Dropout1d"}
    layers = {name for name in nn.__all__ if name not in skip}
    seen = set()
    for config, (factory, _, _) in MODELS.items():
        cnnkit.manual_seed(0)
        seen |= {type(m).__name__ for m in factory().modules()}
    assert layers - seen <= {"ConvTranspose3d"}, sorted(layers - seen)
