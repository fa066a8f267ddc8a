"""Tensor and the reverse-mode engine, against PyTorch (values, dtypes and every
gradient) and float64 finite differences (tests/helpers.py)."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
from cnnkit import Function, Tensor
from helpers import compare_with_torch, gradcheck, torch

DTYPES = [np.float32, np.float64]


def _rand(rng, shape, dtype=np.float64, low=None, high=None):
    if low is not None:
        return rng.uniform(low, high, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _away_from_zero(rng, shape, dtype):
    """Values with |v| in [0.5, 2] and a random sign (safe denominators)."""
    return (rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)).astype(dtype)


def _dt(dtype) -> str:
    return np.dtype(dtype).name


# ----------------------------------------------------------------- arithmetic
BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((2, 1, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((2, 3, 1), (1, 1, 5)),
]
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("op", list(BINARY))
def test_binary_broadcasting(op, shapes, dtype, rng):
    a = _rand(rng, shapes[0], dtype)
    b = _away_from_zero(rng, shapes[1], dtype)
    fn = BINARY[op]
    compare_with_torch(fn, fn, [a, b], config=f"{op} {shapes} {_dt(dtype)}")


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("op", ["radd", "rsub", "rmul", "rdiv", "neg", "pos", "ndarray_left"])
def test_scalar_and_unary_arithmetic(op, dtype, rng):
    a = _away_from_zero(rng, (3, 4), dtype)
    c = np.asarray(_rand(rng, (4,), dtype))
    fns = {
        "radd": lambda x: 2.5 + x + 1,
        "rsub": lambda x: 2.5 - x - 1,
        "rmul": lambda x: 3 * x * 0.5,
        "rdiv": lambda x: 2.0 / x / 4,
        "neg": lambda x: -x,
        "pos": lambda x: +x * 1,
        "ndarray_left": None,
    }
    if op == "ndarray_left":  # ndarray <op> Tensor must dispatch to the Tensor
        compare_with_torch(lambda x: c * x - c, lambda x: torch.tensor(c) * x - torch.tensor(c), [a],
                           config=f"{op} {_dt(dtype)}")
        return
    compare_with_torch(fns[op], fns[op], [a], config=f"{op} {_dt(dtype)}")


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("case", ["square", "cube_negative_base", "sqrt_exponent", "neg_exponent",
                                  "zero_exponent_at_zero", "tensor_exponent", "rpow"])
def test_pow(case, dtype, rng):
    pos = _rand(rng, (3, 4), dtype, 0.5, 2.0)
    anyx = _rand(rng, (3, 4), dtype)
    if case == "square":
        compare_with_torch(lambda x: x ** 2, lambda x: x ** 2, [anyx], config=case)
    elif case == "cube_negative_base":
        compare_with_torch(lambda x: x ** 3, lambda x: x ** 3, [anyx], config=case)
    elif case == "sqrt_exponent":
        compare_with_torch(lambda x: x ** 0.5, lambda x: x ** 0.5, [pos], config=case)
    elif case == "neg_exponent":
        compare_with_torch(lambda x: x ** -1.5, lambda x: x ** -1.5, [pos], config=case)
    elif case == "zero_exponent_at_zero":  # torch: d/dx x**0 = 0 even at x = 0 (not nan)
        x = np.array([0.0, 1.0, -2.0], dtype=dtype)
        compare_with_torch(lambda t: t ** 0, lambda t: t ** 0, [x], config=case)
    elif case == "tensor_exponent":  # both gradients; negative bases with integer exponents
        base = np.concatenate([pos.ravel(), np.array([-2.0, -1.5, 0.0, 0.0], dtype=dtype)])
        expo = np.concatenate([_rand(rng, (12,), dtype, -1.0, 2.0), np.array([2.0, 3.0, 2.0, 0.0], dtype=dtype)])
        compare_with_torch(lambda x, y: x ** y, lambda x, y: x ** y, [base, expo], grad_inputs=[True, False],
                           config=case)
        compare_with_torch(lambda x, y: x ** y, lambda x, y: x ** y, [base[:12], expo[:12]], config=case)
        compare_with_torch(lambda x, y: x ** y, lambda x, y: x ** y, [base[-2:], expo[-2:]], config=case)
    elif case == "rpow":
        compare_with_torch(lambda x: 2.0 ** x, lambda x: 2.0 ** x, [anyx], config=case)


# --------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)),
    ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (5, 3, 4)),
    ((3,), (5, 3, 4)),
    ((5, 2, 3), (3,)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=lambda s: f"{s[0]}@{s[1]}")
def test_matmul(shapes, dtype, rng):
    a, b = _rand(rng, shapes[0], dtype), _rand(rng, shapes[1], dtype)
    fn = lambda x, y: x @ y  # noqa: E731
    compare_with_torch(fn, fn, [a, b], config=f"matmul {shapes} {_dt(dtype)}")
    compare_with_torch(fn, fn, [a, b], grad_inputs=[False, True], config=f"matmul rhs only {shapes}")


def test_matmul_gradcheck(rng):
    gradcheck(lambda x, y: (x @ y).exp(), [_rand(rng, (2, 2, 3)) * 0.3, _rand(rng, (3, 4)) * 0.3],
              config="exp(batched @ 2-D)")


# ----------------------------------------------------------------- reductions
REDUCE_DIMS = [None, 0, -1, 1, (0, 2), (-1, 0), ()]  # () reduces every dim, as in torch


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("keepdim", [False, True], ids=["", "keepdim"])
@pytest.mark.parametrize("dim", REDUCE_DIMS, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean(name, dim, keepdim, dtype, rng):
    x = _rand(rng, (2, 3, 4), dtype)
    if dim is None:
        ck = lambda t: getattr(t, name)()  # noqa: E731
        th = ck
        if keepdim:
            ck = lambda t: getattr(t, name)(None, keepdim=True)  # noqa: E731
            th = lambda t: getattr(t, name)(dim=(0, 1, 2), keepdim=True)  # noqa: E731
    else:
        ck = th = lambda t: getattr(t, name)(dim, keepdim=keepdim)  # noqa: E731
    compare_with_torch(ck, th, [x], config=f"{name} dim={dim} keepdim={keepdim} {_dt(dtype)}")


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("keepdim", [False, True], ids=["", "keepdim"])
@pytest.mark.parametrize("dim", REDUCE_DIMS, ids=str)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_min_like_amax(ties, dim, keepdim, dtype, rng):
    """Ties split the gradient evenly among the maxima, as torch.amax/amin."""
    if ties:
        x = rng.integers(0, 3, size=(2, 3, 4)).astype(dtype)  # many repeated maxima
    else:
        x = rng.permutation(24).reshape(2, 3, 4).astype(dtype) / 7
    th_dim = (0, 1, 2) if dim is None else dim
    for ours, theirs in (("max", torch.amax), ("min", torch.amin)):
        compare_with_torch(lambda t: getattr(t, ours)(dim, keepdim=keepdim),
                           lambda t: theirs(t, dim=th_dim, keepdim=keepdim), [x],
                           config=f"{ours} dim={dim} keepdim={keepdim} ties={ties} {_dt(dtype)}")


def test_max_tie_split_value():
    x = Tensor(np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 2.0, 0.0, 1.0]]), requires_grad=True)
    x.max(dim=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0, 0]])


# ---------------------------------------------------------------------- shape
SHAPE_OPS = {
    "reshape": (lambda t: t.reshape(4, 6), None),
    "reshape_tuple_infer": (lambda t: t.reshape((-1, 2)), None),
    "view": (lambda t: t.view(2, 12), None),
    "permute": (lambda t: t.permute(2, 0, 1), None),
    "permute_neg_tuple": (lambda t: t.permute((-1, 1, 0)), lambda t: t.permute(2, 1, 0)),
    "transpose": (lambda t: t.transpose(0, 2), None),
    "transpose_default": (lambda t: t.transpose(), lambda t: t.transpose(-2, -1)),
    "T_2d": (lambda t: t.reshape(6, 4).T, lambda t: t.reshape(6, 4).T),
    "unsqueeze_squeeze": (lambda t: t.unsqueeze(1).unsqueeze(-1).squeeze(1), None),
    "flatten": (lambda t: t.flatten(1), None),
    "reshape_then_sum": (lambda t: (t.reshape(3, 8) * 2).sum(0), None),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("name", list(SHAPE_OPS))
def test_shape_ops(name, dtype, rng):
    ck, th = SHAPE_OPS[name]
    compare_with_torch(ck, th or ck, [_rand(rng, (2, 3, 4), dtype)], config=f"{name} {_dt(dtype)}")


# ------------------------------------------------------------------- indexing
INDEX_CASES = {
    "int": lambda t: t[1],
    "negative_int": lambda t: t[-1, 0],
    "slice": lambda t: t[:, 1:3],
    "step_slice": lambda t: t[:, ::2, 1:],
    "ellipsis_none": lambda t: t[..., None, 1],
    "list_repeated": lambda t: t[[0, 0, 1, 0]],
    "list_on_axis1_repeated": lambda t: t[:, [2, 0, 2, 2]],
    "two_lists": lambda t: t[[0, 1, 1], [2, 2, 0]],
    "list_with_slice_and_int": lambda t: t[[1, 1], :, 3],
}


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("name", list(INDEX_CASES))
def test_indexing(name, dtype, rng):
    fn = INDEX_CASES[name]
    compare_with_torch(fn, fn, [_rand(rng, (2, 3, 4), dtype)], config=f"index {name} {_dt(dtype)}")


def test_indexing_masks_and_tensor_indices(rng):
    x = _rand(rng, (3, 4))
    mask = x > 0.1
    idx = np.array([2, 0, 2])
    compare_with_torch(lambda t: t[mask], lambda t: t[torch.tensor(mask)], [x], config="bool mask")
    compare_with_torch(lambda t: t[Tensor(idx)], lambda t: t[torch.tensor(idx)], [x], config="int Tensor index")
    compare_with_torch(lambda t: t[Tensor(idx), 1:], lambda t: t[torch.tensor(idx), 1:], [x],
                       config="tuple with Tensor index")
    # negative steps exist in NumPy but not in torch: finite differences instead
    gradcheck(lambda t: t[::-1, ::-2] * 3, [x], config="negative step slice")


# ---------------------------------------------------------------- elementwise
UNARY = {
    "exp": (lambda t: t.exp(), None),
    "log": (lambda t: t.log(), "positive"),
    "sqrt": (lambda t: t.sqrt(), "positive"),
    "abs": (lambda t: t.abs(), None),
    "clamp_both": (lambda t: t.clamp(-0.5, 0.7), None),
    "clamp_min": (lambda t: t.clamp(min=0.1), None),
    "clamp_max": (lambda t: t.clamp(max=-0.2), None),
    "clip": (lambda t: t.clip(-0.3, 0.3), None),
    "relu": (lambda t: t.relu(), None),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, dtype, rng):
    fn, domain = UNARY[name]
    x = _rand(rng, (3, 5), dtype, 0.1, 3.0) if domain == "positive" else _rand(rng, (3, 5), dtype)
    compare_with_torch(fn, fn, [x], config=f"{name} {_dt(dtype)}")


@pytest.mark.parametrize("name", ["abs", "clamp_both", "clamp_min", "clamp_max", "relu"])
def test_unary_at_kinks(name):
    """Gradients exactly at the kinks follow torch: abs'(0)=0, clamp passes the
    gradient at the bounds (inclusive), relu'(0)=0."""
    fn = UNARY[name][0]
    x = np.array([-1.0, -0.5, -0.2, 0.0, 0.1, 0.7, 2.0], dtype=np.float32)
    compare_with_torch(fn, fn, [x], config=f"{name} at kinks")


def test_elementwise_gradcheck(rng):
    x = _rand(rng, (3, 4), np.float64, 0.2, 2.0)
    gradcheck(lambda t: (t.log() * t.sqrt()).exp() / (1 + t.abs()), [x], config="log*sqrt->exp/abs")
    gradcheck(lambda t: t.clamp(0.5, 1.5) ** 3, [x], config="clamp**3")


# ----------------------------------------------------------------- comparison
@pytest.mark.parametrize("op", ["lt", "le", "gt", "ge", "eq", "ne"])
def test_comparisons_have_no_grad(op, rng):
    a = rng.integers(0, 3, size=(3, 4)).astype(np.float32)
    b = rng.integers(0, 3, size=(4,)).astype(np.float32)
    ta, tb = Tensor(a, requires_grad=True), Tensor(b)
    fn = {"lt": lambda x, y: x < y, "le": lambda x, y: x <= y, "gt": lambda x, y: x > y,
          "ge": lambda x, y: x >= y, "eq": lambda x, y: x.eq(y), "ne": lambda x, y: x.ne(y)}[op]
    out = fn(ta, tb)
    ref = fn(torch.tensor(a), torch.tensor(b)).numpy()
    assert out.dtype == np.bool_ and not out.requires_grad and out.grad_fn is None
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(fn(ta, 1.0).numpy(), fn(torch.tensor(a), 1.0).numpy())


# ------------------------------------------------------- cat / stack / where
@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack(dim, dtype, rng):
    a, b, c = _rand(rng, (2, 3, 4), dtype), _rand(rng, (2, 3, 4), dtype), _rand(rng, (2, 3, 4), dtype)
    compare_with_torch(lambda *t: cnnkit.stack(t, dim=dim) * 2, lambda *t: torch.stack(t, dim=dim) * 2,
                       [a, b, c], config=f"stack dim={dim}")
    compare_with_torch(lambda *t: cnnkit.stack(t, dim=dim), lambda *t: torch.stack(t, dim=dim),
                       [a, b, c], grad_inputs=[True, False, True], config=f"stack partial dim={dim}")
    # cat of different sizes along dim
    sizes = [1, 3, 2]
    parts = []
    for s in sizes:
        shape = [2, 3, 4]
        shape[dim] = s
        parts.append(_rand(rng, tuple(shape), dtype))
    compare_with_torch(lambda *t: cnnkit.cat(t, dim=dim).exp(), lambda *t: torch.cat(t, dim=dim).exp(),
                       parts, config=f"cat dim={dim}")


@pytest.mark.parametrize("dtype", DTYPES, ids=_dt)
def test_where(dtype, rng):
    x, y = _rand(rng, (3, 4), dtype), _rand(rng, (4,), dtype)
    cond = x > 0
    compare_with_torch(lambda a, b: cnnkit.where(cond, a, b), lambda a, b: torch.where(torch.tensor(cond), a, b),
                       [x, y], config="where broadcast")
    compare_with_torch(lambda a: cnnkit.where(Tensor(cond), a, 0.0),
                       lambda a: torch.where(torch.tensor(cond), a, torch.tensor(0.0, dtype=a.dtype)),
                       [x], config="where scalar other")


# ------------------------------------------------------------ graph handling
def test_no_grad_and_enable_grad():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    with cnnkit.no_grad():
        y = x * 2
        assert not cnnkit.is_grad_enabled()
        with cnnkit.enable_grad():
            z = x * 3
    assert cnnkit.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None

    @cnnkit.no_grad()
    def decorated(t):
        return t * 2

    assert not decorated(x).requires_grad
    with pytest.raises(KeyError):
        with cnnkit.no_grad():
            raise KeyError("boom")
    assert cnnkit.is_grad_enabled()  # restored after an exception
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.sum().backward()


def test_detach():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    out = (x * d).sum()  # d is a constant: grad = d, not 4x
    out.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0, 6.0])
    assert d.grad is None
    assert np.shares_memory(x.detach().numpy(), x.numpy())


def test_accumulation_tensor_used_twice(rng):
    x = _rand(rng, (3, 4))
    compare_with_torch(lambda t: t * t + t.exp() * t - t[0], lambda t: t * t + t.exp() * t - t[0], [x],
                       config="used several times")
    compare_with_torch(lambda t: t @ t.T, lambda t: t @ t.T, [x], config="x @ x.T")
    # a diamond: two paths from x to the output through a shared intermediate
    compare_with_torch(lambda t: (lambda h: h.sum(0) * h.mean(0))(t.exp()),
                       lambda t: (lambda h: h.sum(0) * h.mean(0))(t.exp()), [x], config="diamond")


def test_backward_twice_accumulates_like_torch(rng):
    x = _rand(rng, (3,))
    t = Tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    out, tout = (t * t).sum(), (tt * tt).sum()
    out.backward()
    out.backward()
    tout.backward(retain_graph=True)
    tout.backward()
    np.testing.assert_allclose(t.grad, tt.grad.numpy())


def test_retain_grad_non_leaf(rng):
    x = _rand(rng, (2, 3))
    t = Tensor(x, requires_grad=True)
    h = t.exp()
    h.retain_grad()
    (h * h).sum().backward()
    tt = torch.tensor(x, requires_grad=True)
    th = tt.exp()
    th.retain_grad()
    (th * th).sum().backward()
    np.testing.assert_allclose(h.grad, th.grad.numpy())
    np.testing.assert_allclose(t.grad, tt.grad.numpy())
    h2 = t * 2
    h2.sum().backward()
    assert h2.grad is None  # non-leaf without retain_grad keeps no grad


def test_deep_chain_no_recursion_error():
    """5000 ops in a chain, and 3000 in a chain through a two-input op: the
    topological sort and the backward walk are iterative."""
    x = Tensor(np.full(3, 0.5, np.float64), requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 1.0001 ** 5000), rtol=1e-10)

    a = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    b = a
    for _ in range(3000):
        b = b + a * 0.001  # every step adds a second edge to the same leaf
    b.sum().backward()
    np.testing.assert_allclose(a.grad, np.full(2, 1.0 + 3000 * 0.001), rtol=1e-12)
    del y, b  # freeing a deep graph must not overflow the stack either


class _WrongShape(Function):
    def forward(self, a):
        return a.sum(axis=0)

    def backward(self, g):
        return (g,)  # forgot to broadcast back to the input's shape


class _WrongCount(Function):
    def forward(self, a):
        return a * 2

    def backward(self, g):
        return (g, g)


def test_engine_checks_gradient_shape_and_count():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"_WrongShape\.backward produced a gradient of shape \(3,\) "
                                           r"for an input of shape \(2, 3\)"):
        _WrongShape.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"_WrongCount\.backward returned 2 gradients for 1 inputs"):
        _WrongCount.apply(x).sum().backward()


def test_backward_errors():
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs; got shape \(2, 3\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(3,\), expected \(2, 3\)"):
        (x * 2).backward(np.ones(3, np.float32))
    (x * 2).backward(np.ones((2, 3), np.float32))  # an explicit grad of the right shape works
    np.testing.assert_allclose(x.grad, np.full((2, 3), 2.0))


# ------------------------------------------------------------------- dtypes
def test_float32_stays_float32_through_scalar_math():
    x = Tensor(np.linspace(0.5, 2, 6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    exprs = [x + 1, 1 + x, x - 2.5, 2.5 - x, x * 3, 0.1 * x, x / 7, 7.0 / x, x ** 2, x ** 0.5, 2 ** x, -x,
             x * np.float64(1.5), np.float64(1.5) * x, x.mean(), x.sum(1), x.exp(), x.log(), x.sqrt(),
             x.abs(), x.clamp(0.6, 1.5), x.max(), x @ x.T, cnnkit.where(x > 1, x, 0.0), x[0, [1, 1]]]
    for i, e in enumerate(exprs):
        assert e.dtype == np.float32, f"expression {i} gave {e.dtype}"
    sum(e.sum() for e in exprs).backward()
    assert x.grad.dtype == np.float32
    assert cnnkit.tensor([1.0, 2.0]).dtype == np.float32  # Python floats -> float32 as torch.tensor
    assert Tensor(3.5).dtype == np.float32
    # uint8 images times a Python float give float32 as in torch (int64 * float gives float64 in
    # NumPy's promotion, a known difference from torch's float32)
    assert (Tensor(np.arange(3, dtype=np.uint8)) * 0.5).dtype == np.float32
    assert (Tensor(np.arange(3, dtype=np.int32)) + 1).dtype == np.int32


def test_float64_stays_float64():
    x = Tensor(np.linspace(0.5, 2, 6).reshape(2, 3), requires_grad=True)
    assert x.dtype == np.float64
    out = ((x * 2.5 + 1) ** 2 / 3 - x.exp()).mean()
    assert out.dtype == np.float64
    out.backward()
    assert x.grad.dtype == np.float64
    assert cnnkit.tensor(np.array([1.0])).dtype == np.float64


def test_astype_roundtrip_gradient():
    x = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = x.double() * 3
    assert y.dtype == np.float64
    y.float().sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad, [3.0, 3.0])


def test_requires_grad_needs_floating_dtype():
    with pytest.raises(TypeError, match="requires_grad=True needs a floating dtype, got int64"):
        Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError, match="needs a floating dtype, got int64"):
        cnnkit.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="needs a floating dtype, got bool"):
        Tensor(np.array([True])).requires_grad_()
    assert Tensor(np.arange(3)).requires_grad_(False).requires_grad is False
