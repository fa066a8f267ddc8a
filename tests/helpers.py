"""The two independent oracles every op is tested against.

* :func:`compare_with_torch`: run the same function on cnnkit and on PyTorch
  with the same inputs, compare shape, dtype, forward values and the gradient
  of every input (tinygrad's ``helper_test_op``).
* :func:`gradcheck`: float64 central finite differences along random
  directions and per element, no PyTorch involved (Chainer's ``check_backward``).

Both raise ``AssertionError`` messages that include a ``config`` description so
a failing grid point can be reproduced.

Oracles that may be missing (a NumPy-only install): test modules get PyTorch,
scipy, OpenCV, scikit-image, torchinfo and Pillow through :func:`optional`. When
the package is absent, the name stands for a :class:`MissingOracle`: module-level
code such as ``TF = torch.nn.functional`` still runs, and a test that *uses* it
(calls it, enters it, iterates it) is skipped with the reason, so the
finite-difference and hand-computed tests of the same module still run.
"""
from __future__ import annotations

import importlib
from typing import Callable, Sequence

import numpy as np
import pytest

import cnnkit


class MissingOracle:
    """Stands for a package that is not installed (see the module docstring)."""

    def __init__(self, name: str, package: str):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_package", package)

    def __getattr__(self, attr: str):
        if attr.startswith("__"):  # let pytest and inspect probe it safely
            raise AttributeError(attr)
        return MissingOracle(f"{self._name}.{attr}", self._package)

    def __repr__(self) -> str:
        return f"<missing {self._name}>"

    def _skip(self, *args, **kwargs):
        pytest.skip(f"{self._package} is not installed (this test uses {self._name})", allow_module_level=True)

    __call__ = __enter__ = __iter__ = __getitem__ = _skip

    def __mro_entries__(self, bases):  # `class TorchNet(torch.nn.Module)` still defines; building one skips
        return (object,)


def optional(module: str):
    """``module`` imported, or a :class:`MissingOracle` standing for it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return MissingOracle(module, module.split(".")[0])


def available(obj) -> bool:
    """False for a :class:`MissingOracle`."""
    return not isinstance(obj, MissingOracle)


torch = optional("torch")  # tests that need PyTorch import it from here

TOL = {np.dtype(np.float32): dict(rtol=2e-4, atol=2e-5), np.dtype(np.float64): dict(rtol=1e-9, atol=1e-10)}


def _tol(dtype, scale: float = 1.0):
    t = TOL[np.dtype(dtype)]
    return dict(rtol=t["rtol"] * scale, atol=t["atol"] * scale)


def compare_with_torch(
    fn_ck: Callable,
    fn_torch: Callable,
    inputs: Sequence[np.ndarray],
    *,
    grad_inputs: Sequence[bool] | None = None,
    config: str = "",
    tol_scale: float = 1.0,
    seed: int = 0,
):
    """Compare ``fn_ck(*tensors)`` with ``fn_torch(*torch_tensors)``.

    ``inputs`` are NumPy arrays; floating ones require grad unless
    ``grad_inputs`` says otherwise. The output gradient is a fixed random array
    (not all ones, so that sums cannot hide errors). Tolerances scale with the
    magnitude of the values compared.
    """
    if not available(torch):
        pytest.skip("torch is not installed (compare_with_torch needs it as the oracle)")
    if grad_inputs is None:
        grad_inputs = [np.issubdtype(np.asarray(a).dtype, np.floating) for a in inputs]
    ck_in = [cnnkit.Tensor(a, requires_grad=g) for a, g in zip(inputs, grad_inputs)]
    th_in = [torch.tensor(a, requires_grad=bool(g)) for a, g in zip(inputs, grad_inputs)]
    out_ck = fn_ck(*ck_in)
    out_th = fn_torch(*th_in)
    ref = out_th.detach().numpy()
    got = out_ck.numpy()
    assert got.shape == ref.shape, f"[{config}] shape {got.shape} != torch {ref.shape}"
    assert got.dtype == ref.dtype, f"[{config}] dtype {got.dtype} != torch {ref.dtype}"
    scale = tol_scale * max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(got, ref, **_tol(ref.dtype, scale), err_msg=f"forward [{config}]")
    if not any(grad_inputs):
        return out_ck
    g = np.random.default_rng(seed).standard_normal(ref.shape).astype(ref.dtype)
    out_ck.backward(g)
    out_th.backward(torch.tensor(g))
    for i, (a, b, need) in enumerate(zip(ck_in, th_in, grad_inputs)):
        if not need:
            continue
        ref_g = b.grad.numpy() if b.grad is not None else np.zeros_like(a.data)
        assert a.grad is not None, f"[{config}] input {i} got no gradient"
        assert a.grad.shape == ref_g.shape and a.grad.dtype == ref_g.dtype, (
            f"[{config}] grad {i}: {a.grad.shape}/{a.grad.dtype} vs torch {ref_g.shape}/{ref_g.dtype}")
        gscale = tol_scale * max(1.0, float(np.abs(ref_g).max(initial=0.0)))
        np.testing.assert_allclose(a.grad, ref_g, **_tol(ref_g.dtype, gscale), err_msg=f"grad of input {i} [{config}]")
    return out_ck


def numerical_grad(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to every element of ``x`` (in place)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        idx = it.multi_index
        old = x[idx]
        x[idx] = old + eps
        fp = f()
        x[idx] = old - eps
        fm = f()
        x[idx] = old
        grad[idx] = (fp - fm) / (2 * eps)
    return grad


def gradcheck(fn: Callable, inputs: Sequence[np.ndarray], *, grad_inputs: Sequence[bool] | None = None,
              eps: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-7, config: str = "", seed: int = 0,
              elementwise_limit: int = 400) -> None:
    """Check cnnkit's analytic gradients of ``fn`` against float64 finite differences.

    The scalar is ``sum(fn(*inputs) * r)`` for a fixed random ``r``. Inputs with
    at most ``elementwise_limit`` elements are checked element by element; larger
    ones along 3 random directions (``d/dt f(x + t v) = <grad, v>``).
    """
    inputs = [np.array(a, dtype=np.float64) if np.issubdtype(np.asarray(a).dtype, np.floating) else np.asarray(a)
              for a in inputs]
    if grad_inputs is None:
        grad_inputs = [np.issubdtype(a.dtype, np.floating) for a in inputs]
    rng = np.random.default_rng(seed)
    tensors = [cnnkit.Tensor(a, requires_grad=g) for a, g in zip(inputs, grad_inputs)]
    out = fn(*tensors)
    r = rng.standard_normal(out.shape)
    (out * cnnkit.Tensor(r)).sum().backward()

    def scalar() -> float:
        with cnnkit.no_grad():
            return float(np.sum(fn(*[cnnkit.Tensor(a) for a in inputs]).numpy() * r))

    for i, (a, t, need) in enumerate(zip(inputs, tensors, grad_inputs)):
        if not need:
            continue
        assert t.grad is not None, f"[{config}] input {i} got no gradient"
        if a.size <= elementwise_limit:
            num = numerical_grad(scalar, a, eps)
            np.testing.assert_allclose(t.grad, num, rtol=rtol, atol=atol, err_msg=f"finite differences, input {i} [{config}]")
        else:
            for _ in range(3):
                v = rng.standard_normal(a.shape)
                base = a.copy()
                a[...] = base + eps * v
                fp = scalar()
                a[...] = base - eps * v
                fm = scalar()
                a[...] = base
                num = (fp - fm) / (2 * eps)
                ana = float(np.sum(t.grad * v))
                assert abs(num - ana) <= rtol * max(1.0, abs(num)), (
                    f"directional finite difference, input {i} [{config}]: numeric {num} vs analytic {ana}")


# ------------------------------------------------------------- optimizers
OPTIM_SHAPES = [(3, 4), (5,), (2, 1, 3)]
OPTIM_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}


def optimizer_problem(dtype, seed: int = 0, n_steps: int = 6):
    """Initial parameters (:data:`OPTIM_SHAPES`) and a gradient per step for optimizer tests;
    parameter 1 gets no gradient (``None``) in step 2, which every optimizer must skip."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in OPTIM_SHAPES]
    grads = [[None if (step == 2 and i == 1) else rng.standard_normal(s).astype(dtype)
              for i, s in enumerate(OPTIM_SHAPES)] for step in range(n_steps)]
    return params, grads


def step_both(ck_opt, th_opt, ck, th, grads, config: str, dtype) -> None:
    """Feed the same gradients to a cnnkit and a torch optimizer step by step, asserting
    after every step that the parameters agree (and kept their dtype)."""
    for step, step_grads in enumerate(grads):
        for p, q, g in zip(ck, th, step_grads):
            p.grad = None if g is None else g.copy()
            q.grad = None if g is None else torch.tensor(g)
        ck_opt.step()
        th_opt.step()
        for i, (p, q) in enumerate(zip(ck, th)):
            assert p.dtype == dtype
            np.testing.assert_allclose(p.data, q.detach().numpy(), **OPTIM_TOL[dtype],
                                       err_msg=f"param {i} after step {step + 1} [{config}]")
