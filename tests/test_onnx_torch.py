"""PyTorch -> ONNX -> cnnkit equals PyTorch, and the imported model fine-tunes like PyTorch's.

The files come from ``torch.onnx.export(..., dynamo=False)``: the TorchScript exporter
(the dynamo exporter needs onnxscript, which is not installed), at its default opset
(20 for torch 2.13) and at 13 and 17 for the older forms of Reduce* and friends.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from onnx_helpers import assert_close, onnx

import cnnkit
import cnnkit.functional as F
from cnnkit import optim

torch = pytest.importorskip("torch")
co = pytest.importorskip("cnnkit.onnx")
tnn = torch.nn


def torch_to_onnx(model, x: np.ndarray, **kwargs):
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(model.eval(), (torch.from_numpy(x),), f, dynamo=False, input_names=["input"],
                          output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}}, **kwargs)
    return onnx.load_from_string(f.getvalue())


class Maxout(tnn.Module):
    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = pieces

    def forward(self, x):
        return x.view(x.shape[0], x.shape[1] // self.pieces, self.pieces, *x.shape[2:]).amax(2)


class TextCNN(tnn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = tnn.Embedding(50, 8)
        self.convs = tnn.ModuleList([tnn.Conv1d(8, 4, h) for h in (3, 4)])
        self.fc = tnn.Linear(8, 2)

    def forward(self, ids):
        x = self.embedding(ids).transpose(1, 2)
        pooled = [tnn.functional.adaptive_max_pool1d(torch.relu(conv(x)), 1).squeeze(2) for conv in self.convs]
        return self.fc(torch.cat(pooled, 1))


def _bn(bn):
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-1, 1)
    return bn


def lenet():
    return tnn.Sequential(tnn.Conv2d(1, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                          tnn.ReLU(), tnn.Linear(84, 10))


def small_cnn():
    return tnn.Sequential(tnn.Conv2d(1, 4, 3), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(36, 10))


CASES = {
    "lenet5": (lenet, (1, 32, 32), None, {}),
    "textcnn": (TextCNN, (12,), 50, {}),
    "conv-bn-relu (BN folded by the exporter)": (
        lambda: tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), _bn(tnn.BatchNorm2d(4)), tnn.ReLU()), (3, 6, 6), None, {}),
    "conv-bn-relu (no folding)": (
        lambda: tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), _bn(tnn.BatchNorm2d(4)), tnn.ReLU()), (3, 6, 6), None,
        {"do_constant_folding": False}),
    "linear-bn1d": (lambda: tnn.Sequential(tnn.Linear(3, 4), _bn(tnn.BatchNorm1d(4))), (3,), None, {}),
    "bn3d": (lambda: _bn(tnn.BatchNorm3d(2)), (2, 3, 4, 3), None, {"do_constant_folding": False}),
    "conv-same": (lambda: tnn.Conv2d(3, 4, 4, padding="same"), (3, 6, 7), None, {}),
    "conv-dilated-groups": (lambda: tnn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2), (4, 9, 8), None, {}),
    "conv1d-reflect": (lambda: tnn.Conv1d(2, 4, 3, padding=1, padding_mode="reflect"), (2, 7), None, {}),
    "conv2d-replicate": (lambda: tnn.Conv2d(2, 3, 3, padding=1, padding_mode="replicate"), (2, 5, 6), None, {}),
    "conv2d-circular": (lambda: tnn.Conv2d(2, 3, 3, padding=(1, 2), padding_mode="circular"), (2, 5, 6), None, {}),
    "conv3d": (lambda: tnn.Conv3d(2, 4, 3, stride=2, padding=1, groups=2), (2, 5, 6, 5), None, {}),
    "conv-transpose2d": (lambda: tnn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2,
                                                     dilation=2), (4, 5, 5), None, {}),
    "conv-transpose1d": (lambda: tnn.ConvTranspose1d(3, 2, 4, stride=3, padding=2, output_padding=1), (3, 6), None, {}),
    "depthwise-separable": (lambda: tnn.Sequential(tnn.Conv2d(4, 8, 3, groups=4, bias=False), tnn.Conv2d(8, 5, 1)),
                            (4, 6, 6), None, {}),
    "maxpool-ceil-dilation": (lambda: tnn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True), (3, 9, 9), None, {}),
    "maxpool1d": (lambda: tnn.MaxPool1d(2), (3, 9), None, {}),
    "avgpool-ceil-exclude-pad": (lambda: tnn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
                                 (3, 8, 9), None, {}),
    "avgpool-include-pad": (lambda: tnn.AvgPool2d(3, 2, 1, count_include_pad=True), (3, 8, 9), None, {}),
    "adaptive-avg-divisible": (lambda: tnn.Sequential(tnn.AdaptiveAvgPool2d((2, 3)), tnn.Flatten()), (3, 8, 9),
                               None, {}),
    "global-avg": (lambda: tnn.AdaptiveAvgPool2d(1), (3, 5, 4), None, {}),
    "adaptive-max-1d": (lambda: tnn.AdaptiveMaxPool1d(1), (3, 7), None, {}),
    "layernorm": (lambda: tnn.LayerNorm((4, 5)), (3, 4, 5), None, {}),
    "activations": (lambda: tnn.Sequential(tnn.LeakyReLU(0.2), tnn.ELU(0.7), tnn.Tanh(), tnn.Sigmoid()), (5,), None, {}),
    "softmax": (lambda: tnn.Softmax(dim=1), (4, 3), None, {}),
    "log-softmax": (lambda: tnn.LogSoftmax(dim=-1), (3, 5), None, {}),
    "maxout (computed reshape)": (lambda: tnn.Sequential(tnn.Conv2d(2, 6, 3), Maxout(2)), (2, 6, 6), None, {}),
    "maxout opset 13 (axes attribute)": (lambda: tnn.Sequential(tnn.Conv2d(2, 6, 3), Maxout(3)), (2, 6, 6), None,
                                         {"opset_version": 13}),
    "small cnn opset 17": (small_cnn, (1, 8, 8), None, {"opset_version": 17}),
    "linear-3d-input": (lambda: tnn.Linear(5, 4), (3, 5), None, {}),
    "dropout-eval": (lambda: tnn.Sequential(tnn.Linear(4, 4), tnn.Dropout(0.5)), (4,), None, {}),
    "embedding": (lambda: tnn.Embedding(10, 3), (5,), 10, {}),
}


def _x(shape, high, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if high is not None:
        return rng.integers(0, high, (n,) + shape).astype(np.int64)
    return rng.standard_normal((n,) + shape).astype(np.float32)


@pytest.mark.parametrize("case", list(CASES))
def test_torch_onnx_cnnkit_equals_torch(case):
    factory, shape, high, kwargs = CASES[case]
    torch.manual_seed(0)
    model = factory().eval()
    proto = torch_to_onnx(model, _x(shape, high, 2, 0), **kwargs)
    back = co.load(proto)
    floating = high is None
    for n in (1, 7):
        x = _x(shape, high, n, n)
        xt = torch.from_numpy(x).requires_grad_(floating)
        ref = model(xt)
        xc = cnnkit.tensor(x, requires_grad=floating)
        got = back(xc)
        assert_close(got.numpy(), ref.detach().numpy(), "torch -> onnx -> cnnkit", f"{case}, batch {n}")
        if floating:  # the imported graph is differentiable: the same input gradient as PyTorch
            weights = np.random.default_rng(3).standard_normal(ref.shape).astype(np.float32)
            (ref * torch.from_numpy(weights)).sum().backward()
            (got * weights).sum().backward()
            assert_close(xc.grad, xt.grad.numpy(), "torch -> onnx -> cnnkit (input gradient)", f"{case}, batch {n}")


def test_torch_cnn_fine_tunes_in_cnnkit_like_in_torch():
    """Three SGD steps on the imported CNN reach PyTorch's weights (the layers' parameters are trainable)."""
    torch.manual_seed(0)
    model = small_cnn()
    back = co.load(torch_to_onnx(model, _x((1, 8, 8), None, 2, 0)))
    names = [n for n, _ in model.named_parameters()]
    assert sorted(n for n, _ in back.named_parameters()) == sorted(names)  # "0.weight", ..., "4.bias"
    model.train(), back.train()
    opt_t = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt_c = optim.SGD(back.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = rng.standard_normal((8, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 10, 8)
        opt_t.zero_grad()
        tnn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt_t.step()
        opt_c.zero_grad()
        F.cross_entropy(back(x), y).backward()
        opt_c.step()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(back.get_parameter(name).numpy(), p.detach().numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)
