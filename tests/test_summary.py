"""``cnnkit.summary``: the seed's parameter counts, and every number against torchinfo
(parameters, output shapes) and torch's FLOP counter (multiply-adds) for the same
architecture built in PyTorch."""
from __future__ import annotations

import doctest
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cnnkit
from cnnkit import nn
from cnnkit.analysis import summary as summary_fn
from cnnkit.analysis import zoo
from helpers import optional, torch

torchinfo = optional("torchinfo")
ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------ the seed's numbers
def test_depthwise_separable_656_vs_standard_4608():
    """'16×3×3+16×32×1×1=656个参数，远少于上面的16×32×3×3=4608个参数' — via summary totals."""
    sep, shape = zoo.build("separable")
    std, _ = zoo.build("conv-16-32")
    s_sep, s_std = cnnkit.summary(sep, shape), cnnkit.summary(std, shape)
    assert s_sep.total_params == 16 * 3 * 3 + 16 * 32 * 1 * 1 == 656
    assert s_std.total_params == 16 * 32 * 3 * 3 == 4608
    assert s_sep.leaf_rows[-1].output_shape == s_std.leaf_rows[-1].output_shape == (1, 32, 30, 30)
    # the work shrinks by the same factor: 30*30 output positions per weight
    assert (s_sep.total_macs, s_std.total_macs) == (656 * 30 * 30, 4608 * 30 * 30)
    leaves = [r.params for r in s_sep.leaf_rows]
    assert leaves == [16 * 3 * 3, 16 * 32], "depthwise 3x3 then pointwise 1x1"


def test_seed_transposed_restores_5x5_from_2x2():
    """'将一张5×5大小的图像输入到卷积层，其中步幅为2，卷积核为3×3 ... 则卷积层会输出2×2的图像' and back."""
    model, shape = zoo.build("seed-transposed")
    s = cnnkit.summary(model, shape)
    assert [(r.type, r.input_shape, r.output_shape) for r in s.leaf_rows] == [
        ("Conv2d", (1, 1, 5, 5), (1, 1, 2, 2)), ("ConvTranspose2d", (1, 1, 2, 2), (1, 1, 5, 5))]
    text = str(s)
    assert "[1, 1, 2, 2]" in text and "[1, 1, 5, 5]" in text


def test_stacked_3x3_and_dilated_zoo_tables():
    vgg = cnnkit.summary(*zoo.build("vgg-block"))
    c5 = cnnkit.summary(*zoo.build("conv5x5"))
    dil = cnnkit.summary(*zoo.build("dilated"))
    assert (vgg.total_params, c5.total_params, dil.total_params) == (18, 25, 9)
    for s in (vgg, c5, dil):
        assert s.leaf_rows[-1].rf_size == (5, 5) and s.leaf_rows[-1].output_shape == (1, 1, 5, 5)
    assert "5x5 (3x3 read)" in str(dil)  # the dilated field has holes: 9 pixels for 9 weights


# ---------------------------------------------------- torchinfo and FLOP counter
def _pairs():
    """(id, cnnkit builder, torch builder, input shape, frozen layer index or None)."""
    tnn = torch.nn
    return [
        ("conv-groups-dilation-transposed-linear",
         lambda: nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 8, 3, groups=4, dilation=2, padding="same"),
                               nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), nn.Conv2d(4, 4, 1, bias=False),
                               nn.Flatten(), nn.Linear(4 * 10 * 10, 10)),
         lambda: tnn.Sequential(tnn.Conv2d(3, 8, 3, stride=2, padding=1), tnn.Conv2d(8, 8, 3, groups=4, dilation=2, padding="same"),
                                tnn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), tnn.Conv2d(4, 4, 1, bias=False),
                                tnn.Flatten(), tnn.Linear(4 * 10 * 10, 10)),
         (2, 3, 10, 10), None),
        ("1d-transposed-output-padding",
         lambda: nn.Sequential(nn.Conv1d(2, 4, 5, stride=2), nn.ConvTranspose1d(4, 6, 3, stride=3, output_padding=1, groups=2),
                               nn.Flatten(), nn.Linear(6 * 28, 3, bias=False)),
         lambda: tnn.Sequential(tnn.Conv1d(2, 4, 5, stride=2), tnn.ConvTranspose1d(4, 6, 3, stride=3, output_padding=1, groups=2),
                                tnn.Flatten(), tnn.Linear(6 * 28, 3, bias=False)),
         (3, 2, 21), 1),
        ("nested",
         lambda: nn.Sequential(nn.Sequential(nn.Conv2d(1, 4, 5), nn.Sequential(nn.Conv2d(4, 4, 3, stride=2))),
                               nn.Flatten(), nn.Sequential(nn.Linear(4 * 5 * 5, 12), nn.Linear(12, 2))),
         lambda: tnn.Sequential(tnn.Sequential(tnn.Conv2d(1, 4, 5), tnn.Sequential(tnn.Conv2d(4, 4, 3, stride=2))),
                                tnn.Flatten(), tnn.Sequential(tnn.Linear(4 * 5 * 5, 12), tnn.Linear(12, 2))),
         (1, 1, 15, 15), 0),
    ]


def _torch_macs(module, in_shape) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        module(torch.zeros(in_shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2  # torch counts a multiply-add as 2 FLOPs, bias additions not at all


@pytest.mark.parametrize("pair", _pairs(), ids=lambda p: p[0])
def test_against_torchinfo_and_flop_counter(pair):
    name, ck_build, th_build, shape, frozen = pair
    ck, th = ck_build(), th_build()
    if frozen is not None:  # one leaf frozen on both sides: trainable vs non-trainable
        ck_leaf = [m for _, m in ck.named_modules() if m._parameters and not list(m.children())][frozen]
        th_leaf = [m for m in th.modules() if list(m.parameters(recurse=False)) and not list(m.children())][frozen]
        ck_leaf.requires_grad_(False)
        th_leaf.requires_grad_(False)
    ours = cnnkit.summary(ck, shape)
    ref = torchinfo.summary(th, input_size=shape, verbose=0)
    assert (ours.total_params, ours.trainable_params) == (ref.total_params, ref.trainable_params), name
    ref_leaves = [layer for layer in ref.summary_list if layer.is_leaf_layer]
    th_leaves = [m for m in th.modules() if not list(m.children())]
    assert len(ours.leaf_rows) == len(ref_leaves) == len(th_leaves)
    for row, layer, module in zip(ours.leaf_rows, ref_leaves, th_leaves):
        where = f"[{name}] {row.name} ({row.type})"
        assert row.type == layer.class_name, where
        assert list(row.output_shape) == list(layer.output_size), where
        assert list(row.input_shape) == list(layer.input_size), where
        assert (row.params, row.trainable_params) == (layer.num_params, layer.trainable_params), where
        assert row.macs == _torch_macs(module, tuple(layer.input_size)), where
        bias = getattr(module, "bias", None)
        bias_term = 0 if bias is None else bias.numel() * row.output_shape[0] * math.prod(row.output_shape[2:])
        if "Transpose" in row.type:  # torchinfo: every output unit as if it saw the whole kernel
            assert layer.macs == row.output_shape[0] * math.prod(row.output_shape[2:]) * layer.num_params, where
        elif row.type in ("Conv1d", "Conv2d", "Linear"):  # torchinfo adds the bias to the multiply-adds
            assert layer.macs == row.macs + bias_term, where
    assert ours.total_macs == sum(_torch_macs(m, tuple(lay.input_size)) for m, lay in zip(th_leaves, ref_leaves))


def test_linear_on_a_sequence_counts_every_position():
    """torchinfo counts ``N * params`` for Linear whatever the middle axes; we count every position."""
    s = cnnkit.summary(nn.Linear(7, 5, bias=False), (3, 4, 7))
    assert s.total_macs == _torch_macs(torch.nn.Linear(7, 5, bias=False), (3, 4, 7)) == 3 * 4 * 5 * 7


# ------------------------------------------------------------ table and totals
def test_table_columns_are_aligned_and_totals_present():
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Sequential(nn.Conv2d(6, 16, 5, stride=2), nn.Conv2d(16, 16, 3)),
                          nn.Flatten(), nn.Linear(16 * 10 * 10, 10))
    s = cnnkit.summary(model, (1, 1, 32, 32))
    text = str(s)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("Layer (type)"))
    rows = lines[lines.index(header) + 2: lines.index(header) + 2 + len(s.rows)]
    col = header.index("Output shape")
    assert all(r[col - 2:col] == "  " and r[col] == "[" for r in rows), "Output shape column misaligned"
    for label in ("├─0 (Conv2d)", "│  ├─1.0 (Conv2d)", "│  └─1.1 (Conv2d)", "└─3 (Linear)"):
        assert any(r.startswith(label) for r in rows), label
    for line in (f"Total params: {s.total_params:,}", "Trainable params:", "Non-trainable params: 0",
                 f"Total mult-adds: {s.total_macs:,}"):
        assert line in text
    assert s.total_params == 156 + 2416 + 2320 + 16010
    assert s.activation_bytes == 4 * (6 * 28 * 28 + 16 * 12 * 12 + 16 * 10 * 10 + 1600 + 10)
    assert s.param_bytes == 4 * s.total_params and s.input_bytes == 4 * 32 * 32
    assert s["1.1"].rf_size == (5 + 4 + 4, 5 + 4 + 4) and s["1.1"].field[0].jump == 2


def test_depth_folds_containers():
    model = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3)), nn.Flatten())
    full = cnnkit.summary(model, (1, 1, 8, 8))
    folded = cnnkit.summary(model, (1, 1, 8, 8), depth=1)
    assert [r.name for r in full] == ["", "0", "0.0", "0.1", "1"]
    assert [r.name for r in folded] == ["", "0", "1"]
    assert folded["0"].collapsed and folded["0"].params == 20 + 38 and folded["0"].macs == full.total_macs
    assert "58" in next(line for line in str(folded).splitlines() if line.startswith("├─0 (Sequential)"))
    assert folded.total_params == full.total_params and folded.total_macs == full.total_macs
    assert [r.name for r in cnnkit.summary(model, (1, 1, 8, 8), depth=0)] == [""]


def test_shared_layer_counted_once_and_frozen_params():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(conv, conv)
    s = cnnkit.summary(model, (1, 2, 6, 6))
    assert len(s.leaf_rows) == 2 and s.total_params == conv.weight.size + conv.bias.size
    assert s.total_macs == 2 * 2 * 36 * 2 * 9
    conv.bias.requires_grad = False
    s = cnnkit.summary(model, (1, 2, 6, 6))
    assert (s.trainable_params, s.non_trainable_params) == (36, 2)
    assert "(2 frozen)" in str(s)


def test_forward_is_restored_and_modes_kept():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(5, 5))
    model.train()
    with pytest.raises(ValueError, match=r"summary: .* failed in 1 \(Linear\) with input shape \(1, 2, 4, 4\)"):
        cnnkit.summary(model, (1, 1, 6, 6))
    assert all("forward" not in m.__dict__ for m in model.modules())
    assert all(m.training for m in model.modules())
    ok = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Identity())
    own = lambda x: x * 1.0  # noqa: E731  an instance-level forward must survive too
    object.__setattr__(ok[1], "forward", own)
    cnnkit.summary(ok, (1, 1, 6, 6))
    assert ok[1].__dict__.pop("forward") is own
    assert all("forward" not in m.__dict__ for m in ok.modules()) and ok.training
    assert ok(np.zeros((1, 1, 6, 6), np.float32)).shape == (1, 2, 4, 4)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(input_shape=(1, 0, 4)), ValueError, r"input_shape must be .* positive ints.*\(1, 0, 4\)"),
    (dict(input_shape="1,1,4,4"), ValueError, r"input_shape"),
    (dict(input_shape=(1, 1, 4, 4), depth=-1), ValueError, r"depth must be a non-negative int, got -1"),
    (dict(input_shape=(1, 1, 4, 4), dtype="not-a-dtype"), TypeError, r"dtype"),
    (dict(input_shape=(1, 1, 4, 4), dtype=np.complex64), TypeError, r"dtype must be a floating or integer"),
])
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cnnkit.summary(nn.Conv2d(1, 1, 3), **kwargs)
    with pytest.raises(TypeError, match="model must be a cnnkit.nn.Module, got str"):
        cnnkit.summary("lenet5", (1, 1, 32, 32))


def test_fields_follow_functional_ops_in_forward():
    """A tensor made by an op inside ``forward`` (not a module) keeps its field: by shape, or
    by matching axis sizes after a permute (a Conv1d over the time axis of (N, T, F))."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3, stride=2)

        def forward(self, x):
            return self.b(self.a(x) * 2.0)

    s = cnnkit.summary(Net(), (1, 1, 12, 12))
    assert s["b"].rf_size == (5, 5) and s[""].rf_size == (5, 5)

    class Seq(nn.Module):  # (N, C, L) -> conv -> (N, L, C) -> Linear over channels -> back -> conv
        def __init__(self):
            super().__init__()
            self.conv1, self.lin, self.conv2 = nn.Conv1d(6, 4, 3), nn.Linear(4, 5), nn.Conv1d(5, 2, 3)

        def forward(self, x):
            return self.conv2(self.lin(self.conv1(x).transpose(1, 2)).transpose(1, 2))

    s = cnnkit.summary(Seq(), (2, 6, 20))
    assert [s[n].rf_size for n in ("conv1", "lin", "conv2")] == [(3,), (3,), (5,)]
    assert s["lin"].output_shape == (2, 18, 5)


def test_doctests():
    import importlib
    for name in ("cnnkit.analysis.receptive_field", "cnnkit.analysis.summary"):
        mod = importlib.import_module(name)
        result = doctest.testmod(sys.modules[name], verbose=False)
        assert result.failed == 0 and result.attempted > 0, (name, result)
        assert mod is sys.modules[name]


# --------------------------------------------------------------------- CLI
def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cnnkit", *args], capture_output=True, text=True, cwd=cwd or ROOT,
                          timeout=120)


def test_cli_summary_zoo_and_errors(tmp_path):
    out = _cli("summary", "separable")
    assert out.returncode == 0, out.stderr
    assert "Total params: 656" in out.stdout and "[1, 32, 30, 30]" in out.stdout
    out = _cli("summary", "list")
    assert out.returncode == 0 and all(name in out.stdout for name in zoo.ZOO)
    out = _cli("summary", "conv5x5", "--input-shape", "1,1,0,4")
    assert out.returncode == 2 and "--input-shape must be positive ints" in out.stderr
    out = _cli("summary", "no-such-model")
    assert out.returncode == 2 and "unknown" not in out.stdout and "no-such-model" in out.stderr


def test_cli_summary_python_file_and_checkpoint(tmp_path):
    script = tmp_path / "net.py"
    script.write_text("from cnnkit import nn\nmodel = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Conv2d(3, 1, 3))\n")
    out = _cli("summary", str(script), "--input-shape", "1,1,8,8")
    assert out.returncode == 0, out.stderr
    assert "Total params: 58" in out.stdout and "5x5" in out.stdout
    out = _cli("summary", str(script))
    assert out.returncode == 2 and "--input-shape" in out.stderr
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    model, _ = zoo.build("dilated", seed=3)
    ckpt = tmp_path / "dilated_epoch1.safetensors"
    safetensors_numpy.save_file(dict(model.state_dict()), str(ckpt))
    out = _cli("summary", str(ckpt))
    assert out.returncode == 0, out.stderr
    assert "Total params: 9" in out.stdout
    other = tmp_path / "weights.safetensors"
    safetensors_numpy.save_file(dict(model.state_dict()), str(other))
    assert _cli("summary", str(other)).returncode == 2
    assert _cli("summary", str(other), "--model", "dilated").returncode == 0
    loaded, _ = zoo.resolve_model(str(other), "dilated")
    np.testing.assert_array_equal(loaded.weight.data, model.weight.data)


# ------------------------------------------------ with the project's other layers
def _layer_pairs():
    tnn = torch.nn
    return [
        ("lenet-bn-pools-dropout-adaptive",
         lambda: nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(6, 16, 5), nn.LeakyReLU(0.1), nn.AvgPool2d(3, stride=2, ceil_mode=True),
                               nn.Dropout(0.5), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10), nn.Tanh()),
         lambda: tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.BatchNorm2d(6), tnn.ReLU(), tnn.MaxPool2d(2),
                                tnn.Conv2d(6, 16, 5), tnn.LeakyReLU(0.1), tnn.AvgPool2d(3, stride=2, ceil_mode=True),
                                tnn.Dropout(0.5), tnn.AdaptiveAvgPool2d(1), tnn.Flatten(), tnn.Linear(16, 10), tnn.Tanh()),
         (2, 1, 28, 28)),
        ("1d-bn-layernorm-maxpool",
         lambda: nn.Sequential(nn.Conv1d(3, 8, 5, dilation=2), nn.BatchNorm1d(8), nn.MaxPool1d(3, stride=2, padding=1),
                               nn.LayerNorm(8), nn.AdaptiveMaxPool1d(2), nn.Flatten(), nn.Linear(16, 4)),
         lambda: tnn.Sequential(tnn.Conv1d(3, 8, 5, dilation=2), tnn.BatchNorm1d(8), tnn.MaxPool1d(3, stride=2, padding=1),
                                tnn.LayerNorm(8), tnn.AdaptiveMaxPool1d(2), tnn.Flatten(), tnn.Linear(16, 4)),
         (2, 3, 24)),
    ]


@pytest.mark.parametrize("pair", _layer_pairs(), ids=lambda p: p[0])
def test_layers_against_torchinfo_and_flop_counter(pair):
    """Normalisation layers: one multiply-add per output element here; torch's FLOP counter
    counts none and torchinfo ``N * 2C`` (both documented in cnnkit.analysis.summary)."""
    name, ck_build, th_build, shape = pair
    ck, th = ck_build(), th_build().eval()
    ours = cnnkit.summary(ck, shape)
    ref = torchinfo.summary(th, input_size=shape, verbose=0)
    assert (ours.total_params, ours.trainable_params) == (ref.total_params, ref.trainable_params)
    ref_leaves = [layer for layer in ref.summary_list if layer.is_leaf_layer]
    th_leaves = [m for m in th.modules() if not list(m.children())]
    assert [r.type for r in ours.leaf_rows] == [layer.class_name for layer in ref_leaves]
    for row, layer, module in zip(ours.leaf_rows, ref_leaves, th_leaves):
        where = f"[{name}] {row.name} ({row.type})"
        assert list(row.output_shape) == list(layer.output_size), where
        assert row.params == layer.num_params, where
        if "Norm" in row.type:
            assert row.macs == math.prod(row.output_shape) and _torch_macs(module, tuple(layer.input_size)) == 0, where
        else:
            assert row.macs == _torch_macs(module, tuple(layer.input_size)), where


def test_embedding_model_against_torchinfo():
    tnn = torch.nn

    class Ck(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.conv, self.fc = nn.Embedding(30, 6), nn.Conv1d(6, 5, 3), nn.Linear(5, 2)

        def forward(self, tokens):
            return self.fc(self.conv(self.emb(tokens).transpose(1, 2)).max(dim=2))

    class Th(tnn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.conv, self.fc = tnn.Embedding(30, 6), tnn.Conv1d(6, 5, 3), tnn.Linear(5, 2)

        def forward(self, tokens):
            return self.fc(self.conv(self.emb(tokens).transpose(1, 2)).amax(dim=2))

    ours = cnnkit.summary(Ck(), (4, 12), dtype=np.int64)
    ref = torchinfo.summary(Th(), input_data=torch.zeros((4, 12), dtype=torch.long), verbose=0)
    assert ours.total_params == ref.total_params == 30 * 6 + 5 * 6 * 3 + 5 + 5 * 2 + 2
    ref_leaves = [layer for layer in ref.summary_list if layer.is_leaf_layer]
    assert [list(r.output_shape) for r in ours.leaf_rows] == [list(layer.output_size) for layer in ref_leaves]
    assert ours["emb"].macs == 0 and ours["conv"].macs == 4 * 5 * 10 * 6 * 3
    assert ours["conv"].rf_size == (3,)  # three tokens
