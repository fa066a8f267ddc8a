"""Every fast path at 1, 2 and 3 threads: equal to the reference (PyTorch-free) and to
PyTorch, and bitwise equal across thread counts (forward and every gradient).

Shapes are small, so the budgets are shrunk to make the engine cut them into many tiles
(samples, or single rows) and blocks (pooling planes, norm channels and rows): more tasks
than threads, run in whatever order the threads take them.
"""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit._core import conv_reference as ref
from cnnkit._core import pool as serial_pool
from cnnkit._core.fast import blocks, tiles
from cnnkit._core.fast import conv as fast_conv
from cnnkit._core.fast import transpose as tr
from cnnkit._core.window import as_tuple, resolve_padding, transposed_output_shape
from tests.helpers import compare_with_torch

torch = pytest.importorskip("torch", reason="PyTorch is the oracle of every test here")
TF = torch.nn.functional

THREADS = (1, 2, 3)
MODES = {"sample_tiles": dict(TILE_BYTES=20000), "row_tiles": dict(TILE_BYTES=1)}
TOL64 = dict(rtol=1e-10, atol=1e-11)


@pytest.fixture(autouse=True)
def _small_budgets(monkeypatch):
    """Many tasks for small shapes; torch single-threaded (its tiny ops are fastest so)."""
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 256)
    old = cnnkit.get_num_threads(), torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    cnnkit.set_num_threads(old[0])
    torch.set_num_threads(old[1])


def _set_mode(monkeypatch, mode: str, algorithm: str) -> None:
    for name, value in MODES[mode].items():
        monkeypatch.setattr(tiles, name, value)
    if algorithm != "auto":
        monkeypatch.setattr(tr, "choose", lambda *a: algorithm)


def _run(fn, arrays, g):
    """Forward value and the gradient of every input, as NumPy arrays."""
    tensors = [cnnkit.Tensor(a, requires_grad=np.issubdtype(a.dtype, np.floating)) for a in arrays]
    y = fn(*tensors)
    y.backward(g)
    return [y.numpy()] + [t.grad for t in tensors if t.requires_grad]


def _clear_plans() -> None:
    """Forget the cached tile plans, so each thread count makes its own."""
    fast_conv._forward_plan.cache_clear()
    tr._scatter_plan.cache_clear()


def _bitwise_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bytes (NaNs and signed zeros included)."""
    return a.dtype == b.dtype and a.shape == b.shape and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


def _across_threads(fn, arrays, g, config: str):
    """``_run`` at every thread count; asserts bitwise equality and returns the results."""
    results = {}
    for n in THREADS:
        cnnkit.set_num_threads(n)
        _clear_plans()
        results[n] = _run(fn, arrays, g)
    for n in THREADS[1:]:
        for i, (a, b) in enumerate(zip(results[THREADS[0]], results[n])):
            assert _bitwise_equal(a, b), f"[{config}] output {i}: {n} threads differ from {THREADS[0]} thread"
    return results[THREADS[0]]


def _check_torch(fn_ck, fn_th, arrays, config: str) -> None:
    for n in THREADS:
        cnnkit.set_num_threads(n)
        compare_with_torch(fn_ck, fn_th, arrays, config=f"{config}, {n} threads")


# ------------------------------------------------------------------ convolutions
CONV = [  # id, x shape, w shape, keyword arguments
    ("conv2d 3x3 p1", (3, 4, 9, 8), (6, 4, 3, 3), dict(padding=1)),
    ("conv2d s2 asym", (3, 4, 9, 8), (6, 4, 3, 2), dict(stride=2, padding=((1, 0), (2, 1)))),
    ("conv2d d2 g2", (2, 4, 10, 9), (6, 2, 3, 3), dict(dilation=2, groups=2, padding=2)),
    ("depthwise", (3, 4, 9, 8), (4, 1, 3, 3), dict(padding=1, groups=4)),
    ("depthwise x2 s2", (2, 4, 9, 8), (8, 1, 3, 3), dict(stride=2, padding=1, groups=4)),
    ("conv1d", (3, 5, 17), (4, 5, 3), dict(padding=1)),
    ("conv3d", (2, 2, 5, 6, 4), (3, 2, 2, 3, 2), dict(padding=1, stride=(1, 2, 1))),
]
TRANSPOSED = [
    ("conv_transpose2d 4x4 s2", (2, 4, 5, 6), (4, 3, 4, 4), dict(stride=2, padding=1)),
    ("conv_transpose1d s3 op2", (3, 4, 7), (4, 2, 3), dict(stride=3, padding=1, output_padding=2)),
    ("conv_transpose2d depthwise", (2, 4, 5, 5), (4, 1, 3, 3), dict(stride=2, padding=1, groups=4)),
]


def _geometry(n, x_shape, w_shape, kw, transposed):
    stride = as_tuple(kw.get("stride", 1), n, "stride")
    dilation = as_tuple(kw.get("dilation", 1), n, "dilation")
    pads = resolve_padding(kw.get("padding", 0), x_shape[2:], w_shape[2:], stride, dilation)
    return stride, pads, dilation, kw.get("groups", 1)


def _conv_reference(x, w, b, g, kw):
    """Forward and gradients of ``conv_nd`` from the reference convolution."""
    n = x.ndim - 2
    stride, pads, dilation, groups = _geometry(n, x.shape, w.shape, kw, False)
    y = ref.conv_nd(x, w, stride, pads, dilation, groups, g.shape[2:], bias=b)
    gx = ref.conv_transpose_nd(g, w, x.shape[2:], stride, pads, dilation, groups)
    gw = ref.conv_weight_grad(x, g, w.shape[2:], stride, pads, dilation, groups)
    return [y, gx, gw, g.sum(axis=(0,) + tuple(range(2, g.ndim)))]


def _transposed_reference(x, w, b, g, kw):
    n = x.ndim - 2
    stride, pads, dilation, groups = _geometry(n, x.shape, w.shape, kw, True)
    y = ref.conv_transpose_nd(x, w, g.shape[2:], stride, pads, dilation, groups, bias=b)
    gx = ref.conv_nd(g, w, stride, pads, dilation, groups, x.shape[2:])
    gw = ref.conv_weight_grad(g, x, w.shape[2:], stride, pads, dilation, groups)
    return [y, gx, gw, g.sum(axis=(0,) + tuple(range(2, g.ndim)))]


def _conv_fns(n, transposed, kw):
    name = f"conv_transpose{n}d" if transposed else f"conv{n}d"
    padding = kw.get("padding", 0)
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):  # PyTorch lacks (before, after) pairs
        th_kw = {k: v for k, v in kw.items() if k != "padding"}
        flat = [v for pair in reversed(padding) for v in pair]
        th = lambda x, w, b: getattr(TF, name)(TF.pad(x, flat), w, b, **th_kw)  # noqa: E731
    else:
        th = lambda x, w, b: getattr(TF, name)(x, w, b, **kw)  # noqa: E731
    return (lambda x, w, b: getattr(F, name)(x, w, b, **kw)), th


@pytest.mark.parametrize("algorithm", ("scatter", "phases"))
@pytest.mark.parametrize("mode", tuple(MODES))
@pytest.mark.parametrize("case", CONV + TRANSPOSED, ids=lambda c: c[0])
def test_conv_family(case, mode, algorithm, monkeypatch):
    name, x_shape, w_shape, kw = case
    transposed = case in TRANSPOSED
    _set_mode(monkeypatch, mode, algorithm)
    n = len(x_shape) - 2
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    out_ch = w_shape[1] * kw.get("groups", 1) if transposed else w_shape[0]
    ck, th = _conv_fns(n, transposed, kw)
    config = f"{name} {mode} {algorithm}"
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(x_shape).astype(dtype)
        w = rng.standard_normal(w_shape).astype(dtype)
        b = rng.standard_normal(out_ch).astype(dtype)
        with torch.no_grad():
            y_shape = th(*(torch.from_numpy(a) for a in (x, w, b))).shape
        g = rng.standard_normal(tuple(y_shape)).astype(dtype)
        got = _across_threads(ck, [x, w, b], g, f"{config} {np.dtype(dtype).name}")
        if dtype == np.float64:  # the reference convolution, no PyTorch involved
            expected = (_transposed_reference if transposed else _conv_reference)(x, w, b, g, kw)
            for i, (a, e) in enumerate(zip(got, expected)):
                np.testing.assert_allclose(a, e, **TOL64, err_msg=f"[{config}] vs reference, output {i}")
        else:
            _check_torch(ck, th, [x, w, b], f"{config} float32")


def test_tiles_and_blocks_really_split_the_work(monkeypatch):
    """The budgets of this file give more tiles than threads (the tests above run in parallel)."""
    _set_mode(monkeypatch, "sample_tiles", "phases")
    assert len(tiles.split(3, 9, 4 * 9 * 4 * 10)) >= 3
    _set_mode(monkeypatch, "row_tiles", "phases")
    assert len(tiles.split(3, 9, 4 * 9 * 4 * 10)) == 27
    assert len(blocks.split(24, 100)) == 12


# ------------------------------------------------------------------ pooling
POOL = [
    ("max 2x2", "max_pool2d", dict(kernel_size=2)),
    ("max 3x3 s2 p1", "max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
    ("max1d 3 d2 ceil", "max_pool1d", dict(kernel_size=3, dilation=2, ceil_mode=True)),
    ("avg 3x3 s2 p1 exclude", "avg_pool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ("avg3d 2", "avg_pool3d", dict(kernel_size=2)),
    ("adaptive avg 3", "adaptive_avg_pool2d", dict(output_size=3)),
    ("adaptive max 4", "adaptive_max_pool2d", dict(output_size=4)),
]
SERIAL = {  # the single-threaded forward of each op, for the comparison with the block-wise run
    "max_pool2d": None, "max_pool1d": None, "avg_pool2d": None, "avg_pool3d": None,
    "adaptive_avg_pool2d": lambda x, kw: serial_pool.adaptive_avg_forward(x, (kw["output_size"],) * 2),
    "adaptive_max_pool2d": lambda x, kw: serial_pool.adaptive_max_forward(x, (kw["output_size"],) * 2)[0],
}


@pytest.mark.parametrize("case", POOL, ids=lambda c: c[0])
def test_pooling(case):
    name, op, kw = case
    rank = int(op[-2]) if op[-2].isdigit() else 2
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 5) + (11, 10, 9)[:rank]).astype(np.float32)
    ck = lambda t: getattr(F, op)(t, **kw)  # noqa: E731
    th = lambda t: getattr(TF, op)(t, **kw)  # noqa: E731
    with torch.no_grad():
        g = rng.standard_normal(tuple(th(torch.from_numpy(x)).shape)).astype(np.float32)
    got = _across_threads(ck, [x], g, name)
    if SERIAL[op] is not None:
        np.testing.assert_allclose(got[0], SERIAL[op](x, kw), rtol=1e-6, atol=1e-7, err_msg=f"[{name}] vs serial")
    _check_torch(ck, th, [x], name)


# ------------------------------------------------------------------ norms
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, 6, 5, 7), (40, 5)], ids=["2d", "1d"])
def test_batch_norm(shape, training):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    w, b = rng.uniform(0.5, 1.5, c).astype(np.float32), rng.standard_normal(c).astype(np.float32)
    stats = {}

    def ck(t, tw, tb):
        rm, rv = np.linspace(-1, 1, c).astype(np.float32), np.linspace(0.5, 2, c).astype(np.float32)
        out = F.batch_norm(t, rm, rv, tw, tb, training=training, momentum=0.1)
        stats["ck"] = (rm, rv)
        return out

    def th(t, tw, tb):
        rm, rv = torch.linspace(-1, 1, c), torch.linspace(0.5, 2, c)
        out = TF.batch_norm(t, rm, rv, tw, tb, training=training, momentum=0.1)
        stats["th"] = (rm, rv)
        return out

    g = rng.standard_normal(shape).astype(np.float32)
    _across_threads(ck, [x, w, b], g, f"batch_norm {shape} training={training}")
    _check_torch(ck, th, [x, w, b], f"batch_norm {shape} training={training}")
    for a, e in zip(stats["ck"], stats["th"]):
        np.testing.assert_allclose(a, e.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm(affine):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 6, 5)).astype(np.float32)
    shape = (6, 5)
    arrays = [x] + ([rng.uniform(0.5, 1.5, shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32)]
                    if affine else [])
    g = rng.standard_normal(x.shape).astype(np.float32)
    ck = lambda t, *wb: F.layer_norm(t, shape, *wb)  # noqa: E731
    th = lambda t, *wb: TF.layer_norm(t, shape, *wb)  # noqa: E731
    _across_threads(ck, arrays, g, f"layer_norm affine={affine}")
    _check_torch(ck, th, arrays, f"layer_norm affine={affine}")


@pytest.mark.parametrize("shape", [(7, 5), (3, 2, 5), (5,)], ids=["rows", "3d", "vector"])
def test_linear_blocks(shape, monkeypatch):
    """Products cut into row or column blocks (BLOCK_MACS shrunk) for forward and both gradients."""
    from cnnkit._core.fast import matmul

    monkeypatch.setattr(matmul, "BLOCK_MACS", 8)
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((9, shape[-1])).astype(np.float32)
    b = rng.standard_normal(9).astype(np.float32)
    g = rng.standard_normal(shape[:-1] + (9,)).astype(np.float32)
    _across_threads(F.linear, [x, w, b], g, f"linear {shape}")
    _check_torch(F.linear, TF.linear, [x, w, b], f"linear {shape}")


def test_relu_blocks():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 5, 7, 6)).astype(np.float32)
    x[0, 0, 0, :3] = (0.0, np.nan, -0.0)
    g = rng.standard_normal(x.shape).astype(np.float32)
    _across_threads(F.relu, [x], g, "relu")
    _check_torch(F.relu, TF.relu, [np.nan_to_num(x)], "relu")


# ------------------------------------------------------------------ a training step
@pytest.mark.parametrize("mode", tuple(MODES))
def test_lenet5_training_step(mode, monkeypatch):
    """Loss, logits and every parameter gradient of LeNet-5: bitwise equal at 1, 2 and 3 threads,
    and equal to PyTorch from the same weights."""
    from cnnkit.models import lenet5

    _set_mode(monkeypatch, mode, "auto")
    cnnkit.manual_seed(0)
    model = lenet5()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((10, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, 10)
    results = {}
    for n in THREADS:
        cnnkit.set_num_threads(n)
        _clear_plans()
        model.zero_grad()
        logits = model(cnnkit.Tensor(x))
        loss = F.cross_entropy(logits, y)
        loss.backward()
        results[n] = [logits.numpy(), loss.numpy()] + [p.grad.copy() for p in model.parameters()]
    for n in THREADS[1:]:
        for i, (a, b) in enumerate(zip(results[1], results[n])):
            assert _bitwise_equal(a, b), f"LeNet-5 {mode}: array {i} at {n} threads differs from 1 thread"
    tnn = torch.nn
    twin = tnn.Sequential(tnn.Conv2d(1, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                          tnn.ReLU(), tnn.Linear(84, 10))
    params = [p for m in twin if hasattr(m, "weight") for p in (m.weight, m.bias)]
    with torch.no_grad():
        for tp, cp in zip(params, model.parameters()):
            tp.copy_(torch.from_numpy(np.asarray(cp.data)))
    t_logits = twin(torch.from_numpy(x))
    TF.cross_entropy(t_logits, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(results[1][0], t_logits.detach().numpy(), rtol=1e-4, atol=1e-5)
    for i, (a, p) in enumerate(zip(results[1][2:], params)):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"parameter {i}")
