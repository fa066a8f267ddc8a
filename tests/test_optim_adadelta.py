"""Adadelta against torch.optim.Adadelta: the same parameters and state after N steps."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from cnnkit import nn, optim
from cnnkit.checkpoint import load_training_state, save_training_state
from helpers import OPTIM_TOL as TOL, step_both as _step_both, torch
from helpers import optimizer_problem as _problem

GRID = [dict(lr=lr, rho=rho, eps=eps, weight_decay=wd, maximize=mx)
        for lr, rho, eps, wd, mx in itertools.product([1.0, 0.1], [0.9, 0.95], [1e-6, 1e-2], [0.0, 0.05],
                                                      [False, True])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adadelta_matches_torch(dtype):
    for kwargs in GRID:
        params, grads = _problem(dtype)
        ck = [nn.Parameter(p) for p in params]
        th = [torch.nn.Parameter(torch.tensor(p)) for p in params]
        ck_opt, th_opt = optim.Adadelta(ck, **kwargs), torch.optim.Adadelta(th, **kwargs)
        config = f"Adadelta {kwargs} {np.dtype(dtype).name}"
        _step_both(ck_opt, th_opt, ck, th, grads, config, dtype)
        for p, q in zip(ck, th):
            ours, theirs = ck_opt.state[p], th_opt.state[q]
            assert set(ours) == set(theirs), config
            assert ours["step"] == int(theirs["step"].item()), config
            for key in ("square_avg", "acc_delta"):
                assert ours[key].dtype == dtype
                np.testing.assert_allclose(ours[key], theirs[key].numpy(), **TOL[dtype], err_msg=f"{key} [{config}]")


def test_adadelta_defaults_and_groups_match_torch():
    params, grads = _problem(np.float32, seed=1)
    ck = [nn.Parameter(p) for p in params]
    th = [torch.nn.Parameter(torch.tensor(p)) for p in params]
    groups = lambda ps: [{"params": [ps[0], ps[2]], "lr": 0.5, "rho": 0.99}, {"params": [ps[1]]}]  # noqa: E731
    ck_opt, th_opt = optim.Adadelta(groups(ck)), torch.optim.Adadelta(groups(th))
    assert ck_opt.defaults == {k: th_opt.defaults[k] for k in ck_opt.defaults}
    _step_both(ck_opt, th_opt, ck, th, grads, "groups", np.float32)


def test_adadelta_state_dict_round_trip_resumes_identically(tmp_path):
    params, grads = _problem(np.float64, seed=2)
    a = [nn.Parameter(p.copy()) for p in params]
    opt_a = optim.Adadelta(a, rho=0.95)
    for step_grads in grads[:3]:
        for p, g in zip(a, step_grads):
            p.grad = None if g is None else g.copy()
        opt_a.step()
    model = nn.Module()
    for i, p in enumerate(a):
        model.register_parameter(f"p{i}", p)
    save_training_state(tmp_path / "s.safetensors", model, opt_a)
    b_model = nn.Module()
    b = [nn.Parameter(np.zeros_like(p)) for p in params]
    for i, p in enumerate(b):
        b_model.register_parameter(f"p{i}", p)
    opt_b = optim.Adadelta(b, rho=0.95)
    load_training_state(tmp_path / "s.safetensors", b_model, opt_b)
    for step_grads in grads[3:]:
        for pa, pb, g in zip(a, b, step_grads):
            pa.grad = None if g is None else g.copy()
            pb.grad = None if g is None else g.copy()
        opt_a.step()
        opt_b.step()
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.data, pb.data)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-1.0), "lr must be a finite non-negative number, got -1.0"),
    (dict(rho=1.5), r"rho must be a finite number in \[0, 1\], got 1.5"),
    (dict(eps=-1e-6), "eps must be a finite non-negative number, got -1e-06"),
    (dict(weight_decay=-0.1), "weight_decay must be a finite non-negative number, got -0.1"),
])
def test_adadelta_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.Adadelta([nn.Parameter(np.zeros(2, np.float32))], **kwargs)
