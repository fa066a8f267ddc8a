"""The benchmark rows and, per library, the callables that are timed.

Libraries: ``cnnkit`` (its public API, autograd included), ``torch`` (PyTorch CPU, the same
computation), and ``im2col`` for the convolution rows: a textbook NumPy im2col (cnnkit's
reference convolution, :mod:`cnnkit._core.conv_reference`: pad, gather the windows, one
matmul; its adjoint and weight gradient), whose only parallelism is BLAS's threads.

Every row has two passes: ``fwd`` (no gradient recording) and ``fwd_bwd`` (forward, then the
gradients of every input from a fixed random upstream gradient); the LeNet-5 step row's
passes are the inference forward and one SGD training step, the epoch row's one epoch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

DTYPE = np.float32


@dataclass(frozen=True)
class Row:
    name: str
    kind: str  # conv, transpose, separable, pool, batch_norm, lenet5_step, lenet5_epoch
    x_shape: tuple
    w_shape: tuple = ()
    kwargs: dict = field(default_factory=dict)
    op: str = ""  # the functional name, for pooling rows
    suite: str = "conv"

    @property
    def passes(self) -> tuple[str, ...]:
        return {"lenet5_step": ("fwd", "step"), "lenet5_epoch": ("epoch",)}.get(self.kind, ("fwd", "fwd_bwd"))


N8 = (8, 64, 56, 56)
ROWS = [
    Row("conv2d 3x3 p1 64->64 56x56 N8", "conv", N8, (64, 64, 3, 3), dict(padding=1)),
    Row("conv2d 3x3 s2 p1 64->64 56x56 N8", "conv", N8, (64, 64, 3, 3), dict(stride=2, padding=1)),
    Row("conv2d 3x3 d2 p2 64->64 56x56 N8", "conv", N8, (64, 64, 3, 3), dict(padding=2, dilation=2)),
    Row("conv_transpose2d 4x4 s2 p1 64->64 28->56 N8", "transpose", (8, 64, 28, 28), (64, 64, 4, 4),
        dict(stride=2, padding=1)),
    Row("conv1d k3 p1 128->128 L256 N32", "conv", (32, 128, 256), (128, 128, 3), dict(padding=1)),
    Row("depthwise 3x3 p1 64ch 56x56 N8", "conv", N8, (64, 1, 3, 3), dict(padding=1, groups=64)),
    Row("separable 3x3 64->64 56x56 N8", "separable", N8, (64, 1, 3, 3), dict(padding=1)),
    Row("LeNet conv1 5x5 1->6 32x32 N64", "conv", (64, 1, 32, 32), (6, 1, 5, 5)),
    Row("LeNet conv2 5x5 6->16 14x14 N64", "conv", (64, 6, 14, 14), (16, 6, 5, 5)),
    Row("max_pool2d 2x2 64ch 56x56 N8", "pool", N8, op="max_pool2d", kwargs=dict(kernel_size=2), suite="layers"),
    Row("max_pool2d 3x3 s2 p1 64ch 56x56 N8", "pool", N8, op="max_pool2d",
        kwargs=dict(kernel_size=3, stride=2, padding=1), suite="layers"),
    Row("avg_pool2d 2x2 64ch 56x56 N8", "pool", N8, op="avg_pool2d", kwargs=dict(kernel_size=2), suite="layers"),
    Row("avg_pool2d 3x3 s2 p1 64ch 56x56 N8", "pool", N8, op="avg_pool2d",
        kwargs=dict(kernel_size=3, stride=2, padding=1), suite="layers"),
    Row("batch_norm train 64ch 56x56 N8", "batch_norm", N8, suite="layers"),
    Row("LeNet-5 step 1x32x32 N64 SGD", "lenet5_step", (64, 1, 32, 32), kwargs=dict(lr=0.01, momentum=0.9),
        suite="layers"),
    Row("LeNet-5 epoch MNIST 60000 Adam", "lenet5_epoch", (64, 1, 32, 32), kwargs=dict(lr=2e-3), suite="train"),
]
ROWS_BY_NAME = {r.name: r for r in ROWS}


def _closures(lib: str, op, arrays, gy) -> dict[str, Callable]:
    """``fwd`` (no gradient recording) and ``fwd_bwd`` (the gradients of every array from the
    upstream gradient ``gy``) of ``op(*arrays)`` in ``lib`` (``torch`` or ``cnnkit``)."""
    if lib == "torch":
        import torch

        plain = [torch.from_numpy(a.copy()) for a in arrays]
        leaves = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
        gy_t = torch.from_numpy(gy)

        def fwd():
            with torch.no_grad():
                op(*plain)

        def fwd_bwd():
            for t in leaves:
                t.grad = None
            op(*leaves).backward(gy_t)

        return {"fwd": fwd, "fwd_bwd": fwd_bwd}
    import cnnkit

    leaves = [cnnkit.Tensor(a, requires_grad=True) for a in arrays]

    def fwd():
        with cnnkit.no_grad():
            op(*arrays)

    def fwd_bwd():
        for t in leaves:
            t.grad = None
        op(*leaves).backward(gy)

    return {"fwd": fwd, "fwd_bwd": fwd_bwd}


def _arrays(row: Row, out_ch: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(row.x_shape).astype(DTYPE)
    w = (rng.standard_normal(row.w_shape) * 0.1).astype(DTYPE) if row.w_shape else None
    b = rng.standard_normal(out_ch).astype(DTYPE) if row.w_shape else None
    return rng, x, w, b


# ---------------------------------------------------------------- convolutions
def _geometry(row: Row):
    from cnnkit._core.window import as_tuple, resolve_padding

    n = len(row.x_shape) - 2
    stride = as_tuple(row.kwargs.get("stride", 1), n, "stride")
    dilation = as_tuple(row.kwargs.get("dilation", 1), n, "dilation")
    pads = resolve_padding(row.kwargs.get("padding", 0), row.x_shape[2:], row.w_shape[2:], stride, dilation)
    return stride, pads, dilation, row.kwargs.get("groups", 1)


def _conv_callables(row: Row, lib: str) -> dict[str, Callable]:
    import torch

    n = len(row.x_shape) - 2
    transposed = row.kind == "transpose"
    out_ch = row.w_shape[1] * row.kwargs.get("groups", 1) if transposed else row.w_shape[0]
    rng, x, w, b = _arrays(row, out_ch)
    name = f"conv_transpose{n}d" if transposed else f"conv{n}d"
    with torch.no_grad():
        y_shape = tuple(getattr(torch.nn.functional, name)(
            torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **row.kwargs).shape)
    gy = rng.standard_normal(y_shape).astype(DTYPE)
    if lib in ("torch", "cnnkit"):
        if lib == "torch":
            fn = getattr(torch.nn.functional, name)
        else:
            import cnnkit.functional as F

            fn = getattr(F, name)
        return _closures(lib, lambda x, w, b: fn(x, w, b, **row.kwargs), (x, w, b), gy)
    if lib == "im2col":
        from cnnkit._core import conv_reference as ref

        stride, pads, dilation, groups = _geometry(row)
        axes = (0,) + tuple(range(2, gy.ndim))
        if transposed:
            def fwd():
                ref.conv_transpose_nd(x, w, y_shape[2:], stride, pads, dilation, groups, bias=b)

            def fwd_bwd():
                fwd()
                ref.conv_nd(gy, w, stride, pads, dilation, groups, x.shape[2:])
                ref.conv_weight_grad(gy, x, w.shape[2:], stride, pads, dilation, groups)
                gy.sum(axis=axes)
        else:
            def fwd():
                ref.conv_nd(x, w, stride, pads, dilation, groups, y_shape[2:], bias=b)

            def fwd_bwd():
                fwd()
                ref.conv_transpose_nd(gy, w, x.shape[2:], stride, pads, dilation, groups)
                ref.conv_weight_grad(x, gy, w.shape[2:], stride, pads, dilation, groups)
                gy.sum(axis=axes)
        return {"fwd": fwd, "fwd_bwd": fwd_bwd}
    raise ValueError(lib)


def _separable_callables(row: Row, lib: str) -> dict[str, Callable]:
    """Depthwise 3x3 (no bias) then pointwise 1x1 with bias: cnnkit.nn.SeparableConv2d and the
    PyTorch pair of convolutions with the same weights."""
    import torch

    c = row.x_shape[1]
    rng, x, _, _ = _arrays(row, c)
    wd = (rng.standard_normal(row.w_shape) * 0.1).astype(DTYPE)
    wp = (rng.standard_normal((c, c, 1, 1)) * 0.1).astype(DTYPE)
    bp = rng.standard_normal(c).astype(DTYPE)
    gy = rng.standard_normal((row.x_shape[0], c) + row.x_shape[2:]).astype(DTYPE)
    if lib == "torch":
        model = torch.nn.Sequential(torch.nn.Conv2d(c, c, 3, groups=c, bias=False, **row.kwargs),
                                    torch.nn.Conv2d(c, c, 1))
        with torch.no_grad():
            model[0].weight.copy_(torch.from_numpy(wd))
            model[1].weight.copy_(torch.from_numpy(wp))
            model[1].bias.copy_(torch.from_numpy(bp))
        xt, xg, gy_t = torch.from_numpy(x), torch.from_numpy(x.copy()).requires_grad_(True), torch.from_numpy(gy)

        def fwd():
            with torch.no_grad():
                model(xt)

        def fwd_bwd():
            model.zero_grad()
            xg.grad = None
            model(xg).backward(gy_t)

        return {"fwd": fwd, "fwd_bwd": fwd_bwd}
    if lib == "cnnkit":
        import cnnkit
        from cnnkit import nn

        layer = nn.SeparableConv2d(c, c, 3, **row.kwargs)
        layer.load_state_dict({"depthwise.weight": wd, "pointwise.weight": wp, "pointwise.bias": bp})
        xc = cnnkit.Tensor(x, requires_grad=True)

        def fwd():
            with cnnkit.no_grad():
                layer(x)

        def fwd_bwd():
            layer.zero_grad()
            xc.grad = None
            layer(xc).backward(gy)

        return {"fwd": fwd, "fwd_bwd": fwd_bwd}
    raise ValueError(lib)


# ---------------------------------------------------------------- layers
def _layer_callables(row: Row, lib: str) -> dict[str, Callable]:
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal(row.x_shape).astype(DTYPE)
    c = row.x_shape[1]
    if lib == "torch":
        ns = torch.nn.functional
        stats = torch.zeros(c), torch.ones(c)
    else:
        import cnnkit.functional as ns

        stats = np.zeros(c, DTYPE), np.ones(c, DTYPE)
    if row.kind == "batch_norm":
        arrays = (x, rng.uniform(0.5, 1.5, c).astype(DTYPE), rng.standard_normal(c).astype(DTYPE))
        op = lambda t, tw, tb: ns.batch_norm(t, *stats, tw, tb, training=True)  # noqa: E731
        y_shape = x.shape
    else:
        arrays = (x,)
        op = lambda t: getattr(ns, row.op)(t, **row.kwargs)  # noqa: E731
        with torch.no_grad():
            y_shape = tuple(getattr(torch.nn.functional, row.op)(torch.from_numpy(x), **row.kwargs).shape)
    return _closures(lib, op, arrays, rng.standard_normal(y_shape).astype(DTYPE))


def torch_lenet5():
    import torch.nn as tnn

    return tnn.Sequential(tnn.Conv2d(1, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                          tnn.ReLU(), tnn.Linear(84, 10))


def _lenet5_initial(seed: int = 0):
    """cnnkit's seeded LeNet-5 initial weights as arrays (both libraries start from these)."""
    import cnnkit
    from cnnkit.models import lenet5

    cnnkit.manual_seed(seed)
    return [np.array(p.data) for p in lenet5().parameters()]


def _lenet5_models(lib: str):
    weights = _lenet5_initial()
    if lib == "torch":
        import torch

        model = torch_lenet5()
        params = [p for m in model if hasattr(m, "weight") for p in (m.weight, m.bias)]
        with torch.no_grad():
            for p, a in zip(params, weights):
                p.copy_(torch.from_numpy(a))
        return model
    from cnnkit.models import lenet5

    model = lenet5()
    for p, a in zip(model.parameters(), weights):
        p.data[...] = a
    return model


def _lenet5_step_callables(row: Row, lib: str) -> dict[str, Callable]:
    """LeNet-5 (ReLU + max pooling) from the same weights: inference forward, and one SGD step
    (zero_grad, forward, cross-entropy, backward, update) on a fixed batch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(row.x_shape).astype(DTYPE)
    y = rng.integers(0, 10, row.x_shape[0])
    model = _lenet5_models(lib)
    if lib == "torch":
        import torch

        opt = torch.optim.SGD(model.parameters(), **row.kwargs)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def fwd():
            with torch.no_grad():
                model(xt)

        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt), yt).backward()
            opt.step()

        return {"fwd": fwd, "step": step}
    import cnnkit
    import cnnkit.functional as F
    from cnnkit import optim

    opt = optim.SGD(model.parameters(), **row.kwargs)

    def fwd():
        with cnnkit.no_grad():
            model(cnnkit.Tensor(x))

    def step():
        opt.zero_grad()
        F.cross_entropy(model(cnnkit.Tensor(x)), y).backward()
        opt.step()

    return {"fwd": fwd, "step": step}


def _lenet5_epoch_callables(row: Row, lib: str) -> dict[str, Callable]:
    """One epoch of the README's main job on both sides: 60,000 MNIST images prepared per batch
    (:func:`cnnkit.training.mnist.prepare_images`), the same shuffled order
    (:func:`cnnkit.training.loop.epoch_order`), batch 64, Adam lr 2e-3, cross-entropy, running
    loss/accuracy. cnnkit runs its real loop (:func:`cnnkit.training.loop.train_epoch`)."""
    from cnnkit.data import load_mnist
    from cnnkit.training.loop import epoch_order
    from cnnkit.training.mnist import prepare_images

    images, labels = load_mnist("train")
    labels = labels.astype(np.int64)
    batch = row.x_shape[0]
    model = _lenet5_models(lib)
    counter = iter(range(10**6))
    if lib == "torch":
        import torch
        import torch.nn.functional as TF

        opt = torch.optim.Adam(model.parameters(), **row.kwargs)

        def epoch():
            order = epoch_order(len(images), next(counter), 0)
            loss_sum, correct = 0.0, 0
            model.train()
            for i in range(0, len(images), batch):
                idx = order[i:i + batch]
                xb, yb = torch.from_numpy(prepare_images(images[idx])), torch.from_numpy(labels[idx])
                logits = model(xb)
                loss = TF.cross_entropy(logits, yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(idx)
                correct += int((logits.detach().argmax(1) == yb).sum())

        return {"epoch": epoch}
    import cnnkit.functional as F
    from cnnkit import optim
    from cnnkit.training.loop import train_epoch

    opt = optim.Adam(model.parameters(), **row.kwargs)

    def epoch():
        train_epoch(model, opt, F.cross_entropy, images, labels, batch_size=batch, epoch=next(counter), seed=0,
                    prepare=prepare_images, progress=False)

    return {"epoch": epoch}


def callables(row: Row, lib: str) -> dict[str, Callable] | None:
    """The timed callables of ``row`` for ``lib``, or ``None`` when ``lib`` has no such row."""
    if lib == "im2col" and row.kind not in ("conv", "transpose"):
        return None
    if row.kind in ("conv", "transpose"):
        return _conv_callables(row, lib)
    if row.kind == "separable":
        return _separable_callables(row, lib)
    if row.kind in ("pool", "batch_norm"):
        return _layer_callables(row, lib)
    if row.kind == "lenet5_step":
        return _lenet5_step_callables(row, lib)
    if row.kind == "lenet5_epoch":
        return _lenet5_epoch_callables(row, lib)
    raise ValueError(row.kind)
