"""In-place changes between forward and backward (issue 10): version counters,
PyTorch's error for a modified saved tensor, in-place ops, and the Function
protocol (``recording``, tuple outputs)."""
from __future__ import annotations

import numpy as np
import pytest

import cnnkit
import cnnkit.functional as F
from cnnkit import Function, Tensor, nn, optim

MODIFIED = r"one of the variables needed for gradient computation has been modified by an inplace operation: " \
           r"\[float64 \(3,\)\], {}, is at version 1; expected version 0 instead"


def _pair():
    a = cnnkit.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = cnnkit.tensor(np.array([4.0, 5.0, 6.0]))
    return a, b


@pytest.mark.parametrize("change", ["zero_", "fill_", "copy_", "add_", "mul_", "setitem"])
def test_modified_saved_input_raises(change):
    """a * b saves b; changing b in place before backward would silently change a's gradient."""
    a, b = _pair()
    y = (a * b).sum()
    {"zero_": lambda: b.zero_(), "fill_": lambda: b.fill_(2.0), "copy_": lambda: b.copy_(np.ones(3)),
     "add_": lambda: b.add_(1.0), "mul_": lambda: b.mul_(2.0), "setitem": lambda: b.__setitem__(0, 9.0)}[change]()
    assert b._version == 1
    with pytest.raises(RuntimeError, match=MODIFIED.format("input 1 of Mul")):
        y.backward()


def test_torch_raises_in_the_same_cases():
    """The oracle: PyTorch refuses the same backward passes (and accepts the same ones)."""
    torch = pytest.importorskip("torch")
    a = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([4.0, 5.0, 6.0], dtype=torch.float64)
    y = (a * b).sum()
    b.zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    e = torch.tensor([1.0, 2.0], requires_grad=True).exp()
    out = e.sum()
    with torch.no_grad():
        e.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()
    c = torch.tensor([4.0, 5.0, 6.0], dtype=torch.float64)
    z = (a + c).sum()
    c.zero_()
    z.backward()  # Add saves nothing: fine


def test_unsaved_input_may_change():
    """a + b keeps neither input: changing b afterwards is harmless (as PyTorch)."""
    a, b = _pair()
    y = (a + b).sum()
    b.zero_()
    y.backward()
    np.testing.assert_array_equal(a.grad, [1, 1, 1])


def test_modified_saved_output_raises():
    """exp saves its result; changing the result in place is caught."""
    x = cnnkit.tensor(np.array([0.0, 1.0, 2.0]), requires_grad=True)
    e = x.exp()
    out = e.sum()
    with cnnkit.no_grad():
        e.mul_(2.0)
    with pytest.raises(RuntimeError, match=MODIFIED.format("the output of Exp")):
        out.backward()


def test_views_share_the_version():
    """A reshape (a view) changed in place changes its base: the base's saved copy is stale."""
    a, b = _pair()
    y = (a * b).sum()
    view = b.reshape(3, 1)
    assert np.shares_memory(view.numpy(), b.numpy())
    view.fill_(0.0)
    assert b._version == view._version == 1
    with pytest.raises(RuntimeError, match="input 1 of Mul"):
        y.backward()
    d = b.detach()
    d.zero_()
    assert b._version == 2


def test_optimizer_step_between_forward_and_backward_raises():
    """The classic mistake: step() before backward() of a graph that saved the weights."""
    cnnkit.manual_seed(0)
    layer = nn.Linear(3, 2).double()
    opt = optim.SGD(layer.parameters(), lr=0.1)
    x = np.ones((4, 3))
    loss = layer(x).sum()
    loss.backward()
    opt.step()  # fine: backward already ran
    loss = layer(cnnkit.tensor(x, requires_grad=True)).sum()
    opt.step()
    with pytest.raises(RuntimeError, match=r"input 1 of Linear, is at version 2; expected version 1"):
        loss.backward()


def test_load_state_dict_between_forward_and_backward_raises():
    layer = nn.Linear(3, 2).double()
    loss = layer(cnnkit.tensor(np.ones((1, 3)), requires_grad=True)).sum()
    layer.load_state_dict(layer.state_dict())
    with pytest.raises(RuntimeError, match="input 1 of Linear"):
        loss.backward()


def test_inplace_ops_values_and_grad_rules():
    t = cnnkit.tensor(np.arange(4.0))
    t.add_(np.ones(4), alpha=2).mul_(3.0)
    np.testing.assert_array_equal(t.numpy(), (np.arange(4.0) + 2) * 3)
    t[1:3] = cnnkit.tensor(np.array([-1.0, -2.0]))
    np.testing.assert_array_equal(t.numpy(), [6, -1, -2, 15])
    t.copy_(7)
    np.testing.assert_array_equal(t.numpy(), [7, 7, 7, 7])
    assert t._version == 4
    leaf = cnnkit.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad is being used in an in-place operation"):
        leaf.zero_()
    with pytest.raises(RuntimeError, match="not differentiable in cnnkit"):
        (leaf * 2).fill_(1.0)
    with cnnkit.no_grad():
        leaf.zero_()  # allowed, as in PyTorch (what optimizers do)
    assert leaf._version == 1


def test_batch_norm_eval_backward_unaffected_by_later_running_stat_updates(rng):
    """Eval-mode batch norm used to keep a reference to running_mean; a training
    forward updates it in place before the first graph's backward."""
    x = rng.standard_normal((4, 3, 2, 2))
    bn = nn.BatchNorm2d(3).double()
    bn.running_mean[...] = rng.standard_normal(3)
    reference = bn.eval()(cnnkit.tensor(x))  # weight gradient without any later update
    w_grad = None
    for interleave in (False, True):
        bn.zero_grad()
        bn.eval()
        y = bn(cnnkit.tensor(x))
        if interleave:
            bn.train()(cnnkit.tensor(rng.standard_normal((4, 3, 2, 2))))  # moves running_mean in place
        y.backward(np.ones_like(reference.numpy()))
        if w_grad is None:
            w_grad = bn.weight.grad.copy()
        else:
            np.testing.assert_allclose(bn.weight.grad, w_grad, rtol=1e-12)


# ------------------------------------------------------------ Function protocol
class _Spy(Function):
    seen: list = []

    def forward(self, x):
        _Spy.seen.append(self.recording)
        return x * 2, np.argmax(x, keepdims=True)

    def backward(self, g):
        return (g * 2,)


def test_recording_flag_and_tuple_outputs():
    """forward sees whether a graph is recorded; of a tuple, only the first output is differentiable."""
    _Spy.seen = []
    x = cnnkit.tensor(np.array([1.0, 3.0, 2.0]), requires_grad=True)
    y, arg = _Spy.apply(x)
    with cnnkit.no_grad():
        _Spy.apply(x)
    _Spy.apply(np.ones(3))
    assert _Spy.seen == [True, False, False]
    assert isinstance(arg, Tensor) and not arg.requires_grad and arg.grad_fn is None
    assert arg.numpy().tolist() == [1]
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 2, 2])


def test_max_pool_indices_come_back_as_a_plain_tensor():
    x = cnnkit.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    assert out.requires_grad and not idx.requires_grad and idx.dtype == np.int64
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[5, 7], [13, 15]])
    out.sum().backward()
    assert x.grad.sum() == 4
