"""Learning-rate schedulers: get_last_lr sequences equal torch's."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from cnnkit import nn, optim
from cnnkit.optim import lr_scheduler as ck_sched
from helpers import torch

th_sched = torch.optim.lr_scheduler
N_STEPS = 40

# name -> function(module, optimizer) building the scheduler with the same arguments in both libraries
SCHEDULES = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[9, 2, 5, 5], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
    "CosineAnnealingLR-T7": lambda m, o: m.CosineAnnealingLR(o, T_max=7),
    "LinearLR-warmup": lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=4),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=10),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=3),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda e: 0.95 ** e),
    "SequentialLR-warmup-cosine": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.CosineAnnealingLR(o, T_max=20)], milestones=[5]),
}


def _optimizers():
    p, q = nn.Parameter(np.zeros(2, np.float32)), nn.Parameter(np.zeros(3, np.float32))
    tp, tq = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    ours = optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.02}], lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD([{"params": [tp]}, {"params": [tq], "lr": 0.02}], lr=0.1, momentum=0.9)
    return ours, theirs


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_lr_sequence_equals_torch(name):
    ours_opt, theirs_opt = _optimizers()
    ours, theirs = SCHEDULES[name](ck_sched, ours_opt), SCHEDULES[name](th_sched, theirs_opt)
    seq_ours, seq_theirs = [ours.get_last_lr()], [theirs.get_last_lr()]
    for _ in range(N_STEPS):
        ours_opt.step()
        theirs_opt.step()
        ours.step()
        theirs.step()
        seq_ours.append(ours.get_last_lr())
        seq_theirs.append(theirs.get_last_lr())
        assert [g["lr"] for g in ours_opt.param_groups] == seq_ours[-1]
    assert len(seq_ours) == N_STEPS + 1
    for epoch, (a, b) in enumerate(zip(seq_ours, seq_theirs)):
        assert a == b, f"{name} epoch {epoch}: {a} vs torch {b}"  # same recursion, same rounding: bitwise equal


def test_cosine_recursion_follows_closed_form():
    opt, _ = _optimizers()
    base, eta_min, T = [0.1, 0.02], 0.001, 10
    sched = ck_sched.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    for t in range(1, 3 * T + 1):
        sched.step()
        closed = [eta_min + (b - eta_min) * (1 + math.cos(math.pi * t / T)) / 2 for b in base]
        assert sched.get_last_lr() == pytest.approx(closed, rel=1e-12), f"epoch {t}"


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR-warmup",
                                  "ConstantLR"])
def test_step_with_epoch_uses_closed_form_as_torch(name):
    ours_opt, theirs_opt = _optimizers()
    ours, theirs = SCHEDULES[name](ck_sched, ours_opt), SCHEDULES[name](th_sched, theirs_opt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates step(epoch)
        for epoch in (7, 3, 12, 1):
            ours.step(epoch)
            theirs.step(epoch)
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-15), f"{name} epoch {epoch}"


@pytest.mark.parametrize("name", ["MultiStepLR", "CosineAnnealingLR", "SequentialLR-warmup-cosine", "LambdaLR"])
def test_state_dict_is_json_and_resumes(name):
    opt_a, _ = _optimizers()
    a = SCHEDULES[name](ck_sched, opt_a)
    for _ in range(8):
        opt_a.step()
        a.step()
    state = json.loads(json.dumps(a.state_dict()))  # plain data: survives JSON (checkpoint metadata)
    opt_b, _ = _optimizers()
    b = SCHEDULES[name](ck_sched, opt_b)
    b.load_state_dict(state)
    for group_b, group_a in zip(opt_b.param_groups, opt_a.param_groups):
        group_b["lr"] = group_a["lr"]  # the optimizer's lr is restored with the optimizer's state
    for _ in range(12):
        a.step()
        b.step()
        assert a.get_last_lr() == b.get_last_lr()


def test_scheduler_errors():
    opt, _ = _optimizers()
    with pytest.raises(TypeError, match="is not a cnnkit Optimizer"):
        ck_sched.StepLR(object(), step_size=1)
    with pytest.raises(ValueError, match="step_size must be a positive int, got 0"):
        ck_sched.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max must be a positive int"):
        ck_sched.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match=r"start_factor must be in \(0, 1\], got 0"):
        ck_sched.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match=r"factor must be a finite number in \[0, 1\], got 2.0"):
        ck_sched.ConstantLR(opt, factor=2.0)
    # issue 10: type errors at construction, naming the argument, not at step()
    with pytest.raises(TypeError, match="StepLR: gamma must be a finite number, got 'x'"):
        ck_sched.StepLR(opt, 1, gamma="x")
    with pytest.raises(TypeError, match="ExponentialLR: gamma must be a finite number, got 'x'"):
        ck_sched.ExponentialLR(opt, gamma="x")
    with pytest.raises(TypeError, match="MultiStepLR: milestones must be an int, got 'a'"):
        ck_sched.MultiStepLR(opt, ["a"])
    with pytest.raises(TypeError, match="StepLR: step_size must be a positive int, got 1.5"):
        ck_sched.StepLR(opt, step_size=1.5)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas, got 1"):
        ck_sched.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="len\\(milestones\\) = len\\(schedulers\\) - 1"):
        ck_sched.SequentialLR(opt, [ck_sched.StepLR(opt, 2)], milestones=[3])
    fresh, _ = _optimizers()
    with pytest.raises(KeyError, match="initial_lr"):
        ck_sched.StepLR(fresh, step_size=2, last_epoch=4)
