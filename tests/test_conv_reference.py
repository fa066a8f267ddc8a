"""The reference convolution (cnnkit/_core/conv_reference.py), the teaching path and the
PyTorch-free oracle of the fast engine: equal to PyTorch on a grid of geometries, its
transposed direction the adjoint of its forward, its weight gradient equal to finite
differences of ``<conv(x, w), g>``."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from cnnkit._core import conv_reference as ref
from cnnkit._core.window import conv_output_shape
from tests.helpers import numerical_grad, torch

TF = torch.nn.functional if torch is not None else None

GRID = list(itertools.product((1, 2), (1, 2), (0, 1), (1, 2), (1, 2)))  # rank, stride, pad, dilation, groups


def _case(rank, stride, pad, dilation, groups, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 4) + (7, 6)[:rank])
    w = rng.standard_normal((6, 4 // groups) + (3, 2)[:rank])
    b = rng.standard_normal(6)
    st, dl, pads = (stride,) * rank, (dilation,) * rank, ((pad, pad),) * rank
    out_shape = conv_output_shape(x.shape[2:], w.shape[2:], st, pads, dl)
    return x, w, b, st, pads, dl, out_shape


@pytest.mark.skipif(torch is None, reason="PyTorch is required")
@pytest.mark.parametrize("rank,stride,pad,dilation,groups", GRID)
def test_reference_equals_torch(rank, stride, pad, dilation, groups):
    x, w, b, st, pads, dl, out_shape = _case(rank, stride, pad, dilation, groups, GRID.index(
        (rank, stride, pad, dilation, groups)))
    conv = {1: TF.conv1d, 2: TF.conv2d}[rank]
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    yt = conv(xt, wt, torch.tensor(b), stride=stride, padding=pad, dilation=dilation, groups=groups)
    y = ref.conv_nd(x, w, st, pads, dl, groups, out_shape, bias=b)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ref.conv_transpose_nd(g, w, x.shape[2:], st, pads, dl, groups), xt.grad.numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.conv_weight_grad(x, g, w.shape[2:], st, pads, dl, groups), wt.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rank,stride,pad,dilation,groups", GRID[::3])
def test_transposed_is_the_adjoint(rank, stride, pad, dilation, groups):
    """``<conv(x), y> = <x, conv_transpose(y)>``, no PyTorch involved."""
    x, w, _, st, pads, dl, out_shape = _case(rank, stride, pad, dilation, groups, 11)
    y = np.random.default_rng(2).standard_normal((2, 6) + out_shape)
    lhs = np.vdot(ref.conv_nd(x, w, st, pads, dl, groups, out_shape), y)
    rhs = np.vdot(x, ref.conv_transpose_nd(y, w, x.shape[2:], st, pads, dl, groups))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs))


def test_weight_gradient_is_finite_differences():
    x, w, _, st, pads, dl, out_shape = _case(2, 2, 1, 1, 2, 12)
    g = np.random.default_rng(3).standard_normal((2, 6) + out_shape)
    num = numerical_grad(lambda: float(np.vdot(ref.conv_nd(x, w, st, pads, dl, 2, out_shape), g)), w)
    np.testing.assert_allclose(ref.conv_weight_grad(x, g, w.shape[2:], st, pads, dl, 2), num, rtol=1e-6, atol=1e-8)


def test_doctests():
    import doctest

    from cnnkit._core import conv_reference
    from cnnkit._core.fast import threads

    for module in (conv_reference, threads):
        result = doctest.testmod(module, verbose=False)
        assert result.failed == 0 and result.attempted > 0, module.__name__
