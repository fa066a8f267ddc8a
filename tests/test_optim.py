"""Optimizers against torch.optim: the same parameters after N steps on the same gradients."""
from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest

import cnnkit
from cnnkit import nn, optim
from helpers import OPTIM_TOL as TOL, step_both, torch
from helpers import optimizer_problem as _problem


SGD_GRID = [dict(lr=0.1, momentum=m, dampening=d, nesterov=n, weight_decay=wd, maximize=mx)
            for m, d, n, wd, mx in itertools.product([0.0, 0.9], [0.0, 0.5], [False, True], [0.0, 0.01], [False, True])
            if not (n and (m == 0 or d != 0))]
ADAM_GRID = [dict(lr=0.01, betas=b, eps=e, weight_decay=wd, amsgrad=a, maximize=mx)
             for b, e, wd, a, mx in itertools.product([(0.9, 0.999), (0.5, 0.8)], [1e-8, 1e-3], [0.0, 0.1],
                                                      [False, True], [False, True])]
ADAMW_GRID = [dict(lr=0.01, weight_decay=wd, amsgrad=a, maximize=mx)
              for wd, a, mx in itertools.product([1e-2, 0.0, 0.5], [False, True], [False, True])]
CASES = ([("SGD", kw) for kw in SGD_GRID] + [("Adam", kw) for kw in ADAM_GRID] + [("AdamW", kw) for kw in ADAMW_GRID]
         + [("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True))])


def _run_both(name, kwargs, dtype, groups=None):
    params, grads = _problem(dtype)
    ck = [nn.Parameter(p) for p in params]
    th = [torch.nn.Parameter(torch.tensor(p)) for p in params]

    def grouped(ps):
        if groups is None:
            return ps
        return [dict(g, params=[ps[i] for i in g["params"]]) for g in groups]

    ck_opt = getattr(optim, name)(grouped(ck), **kwargs)
    th_opt = getattr(torch.optim, name)(grouped(th), **kwargs)
    config = f"{name} {kwargs} groups={groups} {np.dtype(dtype).name}"
    step_both(ck_opt, th_opt, ck, th, grads, config, dtype)
    return ck_opt, th_opt, ck, th, config


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_match_torch(dtype):
    for name, kwargs in CASES:
        ck_opt, th_opt, ck, th, config = _run_both(name, kwargs, dtype)
        for p, q in zip(ck, th):  # the optimizer state too, under torch's names
            ours, theirs = ck_opt.state.get(p, {}), th_opt.state[q]
            assert set(ours) == set(theirs), config
            for key, value in theirs.items():
                if key == "step":
                    assert ours[key] == int(value.item()), config
                else:
                    np.testing.assert_allclose(ours[key], value.numpy(), **TOL[dtype], err_msg=f"{key} [{config}]")


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_param_groups_with_their_own_options_match_torch(name):
    extra = {"momentum": 0.9} if name == "SGD" else {"betas": (0.8, 0.9)}
    groups = [{"params": [0, 2], "lr": 0.3, "weight_decay": 0.05, **extra}, {"params": [1]}]
    kwargs = {"lr": 0.05} if name == "SGD" else {"lr": 0.01}
    for dtype in (np.float32, np.float64):
        ck_opt, th_opt, *_ = _run_both(name, kwargs, dtype, groups=groups)
        assert ck_opt.param_groups[0]["lr"] == 0.3 and ck_opt.param_groups[1]["lr"] == kwargs["lr"]
        assert ck_opt.param_groups[1]["weight_decay"] == th_opt.param_groups[1]["weight_decay"]


def test_updates_in_place_in_parameter_dtype():
    p = nn.Parameter(np.ones(4, np.float32))
    data = p.data
    opt = optim.Adam([p], lr=0.1)
    p.grad = np.ones(4, np.float64)  # a float64 gradient does not upcast the float32 parameter
    opt.step()
    assert p.data is data and p.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if isinstance(v, np.ndarray))
    p.grad = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"gradient of shape \(3,\) for a parameter of shape \(4,\)"):
        opt.step()


def test_zero_grad_and_closure():
    p = nn.Parameter(np.array([1.0, -2.0], np.float32))
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == pytest.approx(5.0)
    np.testing.assert_allclose(p.data, [0.8, -1.6], rtol=1e-6)  # p - 0.1 * 2p
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and np.all(p.grad == 0)
    opt.zero_grad()
    assert p.grad is None
    opt.step()  # no gradient: nothing happens
    np.testing.assert_allclose(p.data, [0.8, -1.6], rtol=1e-6)


def test_training_a_model_matches_torch(rng):
    """End to end: the same model, data and SGD-with-momentum steps give the same weights as torch."""
    cnnkit.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2))
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    x = rng.standard_normal((8, 1, 6, 6)).astype(np.float32)
    y = rng.standard_normal((8, 2)).astype(np.float32)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        topt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        tloss = ((tmodel(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        losses.append(float(loss.item()))
        assert float(loss.item()) == pytest.approx(float(tloss.item()), rel=1e-4)
    assert losses[-1] < losses[0]
    for k, v in tmodel.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[k], v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01, amsgrad=True)),
                                         ("AdamW", dict(lr=0.01))])
def test_state_dict_round_trip_resumes_exactly(name, kwargs):
    params, grads = _problem(np.float32, seed=3)
    a = [nn.Parameter(p) for p in params]
    opt_a = getattr(optim, name)(a, **kwargs)
    for step_grads in grads[:3]:
        for p, g in zip(a, step_grads):
            p.grad = g
        opt_a.step()
    sd = opt_a.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2] and sd["param_groups"][0]["params"] == [0, 1, 2]
    b = [nn.Parameter(p.data) for p in a]  # a fresh copy of the model at this point
    opt_b = getattr(optim, name)(b, **kwargs)
    opt_b.load_state_dict(copy.deepcopy(sd))
    for arr in (v for s in sd["state"].values() for v in s.values() if isinstance(v, np.ndarray)):
        arr[...] = 1e6  # the state dict holds copies: mutating it changes neither optimizer
    for step_grads in grads[3:]:
        for p, q, g in zip(a, b, step_grads):
            p.grad = q.grad = g
        opt_a.step()
        opt_b.step()
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1)),
                                         ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
                                         ("AdamW", dict(lr=0.01))])
def test_loads_torch_optimizer_state_dict(name, kwargs):
    params, grads = _problem(np.float64, seed=4)
    th = [torch.nn.Parameter(torch.tensor(p)) for p in params]
    th_opt = getattr(torch.optim, name)(th, **kwargs)
    for step_grads in grads[:3]:
        for q, g in zip(th, step_grads):
            q.grad = None if g is None else torch.tensor(g)
        th_opt.step()
    ck = [nn.Parameter(q.detach().numpy()) for q in th]
    ck_opt = getattr(optim, name)(ck, **kwargs)
    ck_opt.load_state_dict(th_opt.state_dict())
    for step_grads in grads[3:]:
        for p, q, g in zip(ck, th, step_grads):
            p.grad = None if g is None else g.copy()
            q.grad = None if g is None else torch.tensor(g)
        ck_opt.step()
        th_opt.step()
    for p, q in zip(ck, th):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_constructor_errors():
    p = nn.Parameter(np.zeros(2, np.float32))
    with pytest.raises(ValueError, match="SGD: lr must be a finite non-negative number, got -0.1"):
        optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="momentum must be a finite non-negative number, got -1"):
        optim.SGD([p], momentum=-1)
    with pytest.raises(ValueError, match="weight_decay must be a finite non-negative number"):
        optim.SGD([p], weight_decay=-1e-3)
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0 and dampening = 0"):
        optim.SGD([p], nesterov=True)
    with pytest.raises(ValueError, match="Adam: eps must be a finite non-negative number"):
        optim.Adam([p], eps=-1.0)
    with pytest.raises(ValueError, match=r"Adam: betas\[1\] must be in \[0, 1\), got 1.0"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="AdamW: lr must be a finite non-negative number, got nan"):
        optim.AdamW([p], lr=float("nan"))
    with pytest.raises(ValueError, match="lr must be a finite non-negative number, got -1"):
        optim.SGD([{"params": [p], "lr": -1}], lr=0.1)  # per-group options are checked too
    # issue 10: a wrong type is a TypeError naming the argument, at construction (not at step())
    with pytest.raises(TypeError, match="SGD: momentum must be a finite non-negative number, got 'abc'"):
        optim.SGD([p], lr=0.1, momentum="abc")
    with pytest.raises(TypeError, match="SGD: dampening must be a finite number, got 'x'"):
        optim.SGD([p], lr=0.1, momentum=0.9, dampening="x")
    with pytest.raises(TypeError, match="Adam: amsgrad must be a bool, got 'yes'"):
        optim.Adam([p], amsgrad="yes")
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="got a single Parameter"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        optim.SGD({p}, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors, but parameter 0 is a ndarray"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="floating tensors, parameter 0 has dtype int64"):
        optim.SGD([cnnkit.Tensor(np.zeros(2, np.int64))], lr=0.1)
    with pytest.raises(ValueError, match="same parameter twice"):
        optim.SGD([p, p], lr=0.1)
    q = nn.Parameter(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p, q]}], lr=0.1)
    model = nn.Linear(2, 2)
    named = optim.SGD(model.named_parameters(), lr=0.1)  # (name, parameter) pairs, as torch
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]
    assert "SGD (\nParameter Group 0\n" in repr(named) and "lr: 0.1" in repr(named)


def test_load_state_dict_errors():
    a, b = nn.Parameter(np.zeros(2, np.float32)), nn.Parameter(np.zeros(3, np.float32))
    opt = optim.Adam([a, b])
    a.grad, b.grad = np.ones(2, np.float32), np.ones(3, np.float32)
    opt.step()
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="has 1 parameter groups, this optimizer has 2"):
        optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 has 2 parameters in the state dict, 1 in this optimizer"):
        optim.Adam([a]).load_state_dict(sd)
    other = optim.Adam([b, a])  # same count, swapped shapes
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(2,\), the parameter has shape \(3,\)"):
        other.load_state_dict(sd)
    assert other.state == {}  # nothing loaded
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
