"""Pooling, batch-norm and LeNet-5 training-step throughput: cnnkit vs PyTorch CPU, in the same process.

Run (the ``env -u`` lets OpenBLAS pick its kernel for this CPU; tests do not use it)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench_layers.py [--repeats 7] [--rows NAME ...]

For every row, ``--repeats`` rounds run PyTorch and cnnkit interleaved (torch
forward, cnnkit forward, torch forward+backward, cnnkit forward+backward), each
timing as many calls as fit in ``--min-time`` seconds; each round also times
PyTorch with one thread. The table reports the median time per call and
``ratio = cnnkit / torch`` (lower is better; below 1 cnnkit is faster) against
PyTorch with 2 threads (the machine's cores), and against PyTorch with 1 thread:
on a machine shared with other processes PyTorch's 2-thread parallel regions
wait for a descheduled worker (times quantised to the scheduler tick), so the
1-thread column is the steadier comparison there. ``spread`` is
(max - min) / median of the per-round 2-thread ratios. Forward runs
without gradient recording (``no_grad`` on both sides); forward+backward
computes the input gradient (and, for batch norm, the weight and bias
gradients) from a fixed random upstream gradient. Both libraries use 2 threads.

The ``LeNet-5 step`` row times a whole model instead of one layer:
:func:`cnnkit.models.lenet5` (ReLU + max pooling) and the same PyTorch
``nn.Sequential`` starting from the same weights, on a fixed random
``(64, 1, 32, 32)`` float32 batch with fixed labels. Its first pass is the
inference forward (``no_grad``), its second one training step: ``zero_grad``,
forward, cross-entropy, backward, SGD update (lr 0.01, momentum 0.9).
Results go to ``benchmarks/results/bench_layers-<timestamp>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cnnkit  # noqa: E402
from _timing import mean_seconds_per_call  # noqa: E402
import cnnkit.functional as F  # noqa: E402

THREADS = 2


@dataclass
class Row:
    name: str
    op: str  # "max_pool2d", "avg_pool2d", "batch_norm" or "lenet5_step"
    x_shape: tuple
    kwargs: dict = field(default_factory=dict)


ROWS = [
    Row("max_pool2d 2x2 64ch 56x56 N8", "max_pool2d", (8, 64, 56, 56), dict(kernel_size=2)),
    Row("max_pool2d 3x3 s2 p1 64ch 56x56 N8", "max_pool2d", (8, 64, 56, 56), dict(kernel_size=3, stride=2, padding=1)),
    Row("avg_pool2d 2x2 64ch 56x56 N8", "avg_pool2d", (8, 64, 56, 56), dict(kernel_size=2)),
    Row("batch_norm train 64ch 56x56 N8", "batch_norm", (8, 64, 56, 56)),
    Row("LeNet-5 step 1x32x32 N64 SGD", "lenet5_step", (64, 1, 32, 32), dict(lr=0.01, momentum=0.9)),
]

#: Labels of the two timed passes: a layer's forward / forward+backward, or, for a whole-model
#: row, the inference forward / one training step (zero_grad, forward, loss, backward, update).
PASSES = {"lenet5_step": ("forward", "training step")}
DEFAULT_PASSES = ("forward", "forward+backward")


_time = mean_seconds_per_call


def _torch_lenet5():
    import torch.nn as tnn

    return tnn.Sequential(tnn.Conv2d(1, 6, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
                          tnn.MaxPool2d(2), tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                          tnn.ReLU(), tnn.Linear(84, 10))


def _lenet5_callables(row: Row, dtype):
    """LeNet-5 (ReLU + max pool, :func:`cnnkit.models.lenet5`) on both sides with the same
    initial weights: inference forward, and one SGD training step with cross-entropy."""
    import torch
    import torch.nn.functional as TF

    from cnnkit import optim
    from cnnkit.models import lenet5

    rng = np.random.default_rng(0)
    x = rng.standard_normal(row.x_shape).astype(dtype)
    y = rng.integers(0, 10, row.x_shape[0])
    cnnkit.manual_seed(0)
    ck_model = lenet5()
    th_model = _torch_lenet5()
    th_params = [p for m in th_model if hasattr(m, "weight") for p in (m.weight, m.bias)]
    with torch.no_grad():
        for tp, cp in zip(th_params, ck_model.parameters()):
            tp.copy_(torch.from_numpy(np.asarray(cp.data)))
    ck_opt = optim.SGD(ck_model.parameters(), **row.kwargs)
    th_opt = torch.optim.SGD(th_model.parameters(), **row.kwargs)
    x_t, y_t = torch.from_numpy(x), torch.from_numpy(y)

    def th_fwd():
        with torch.no_grad():
            th_model(x_t)

    def ck_fwd():
        with cnnkit.no_grad():
            ck_model(cnnkit.Tensor(x))

    def th_step():
        th_opt.zero_grad()
        TF.cross_entropy(th_model(x_t), y_t).backward()
        th_opt.step()

    def ck_step():
        ck_opt.zero_grad()
        F.cross_entropy(ck_model(cnnkit.Tensor(x)), y).backward()
        ck_opt.step()

    return th_fwd, ck_fwd, th_step, ck_step


def _callables(row: Row, dtype):
    """The four timed closures: torch / cnnkit, forward / forward+backward."""
    import torch
    import torch.nn.functional as TF

    if row.op == "lenet5_step":
        return _lenet5_callables(row, dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(row.x_shape).astype(dtype)
    c = row.x_shape[1]
    kw = row.kwargs
    if row.op == "batch_norm":
        w, b = rng.uniform(0.5, 1.5, c).astype(dtype), rng.standard_normal(c).astype(dtype)
        rm_ck, rv_ck = np.zeros(c, dtype), np.ones(c, dtype)
        rm_th, rv_th = torch.zeros(c, dtype=torch.from_numpy(x).dtype), torch.ones(c, dtype=torch.from_numpy(x).dtype)

        def ck_op(t, tw, tb):
            return F.batch_norm(t, rm_ck, rv_ck, tw, tb, training=True, momentum=0.1, eps=1e-5)

        def th_op(t, tw, tb):
            return TF.batch_norm(t, rm_th, rv_th, tw, tb, training=True, momentum=0.1, eps=1e-5)

        arrays = (x, w, b)
    else:
        ck_fn, th_fn = getattr(F, row.op), getattr(TF, row.op)

        def ck_op(t):
            return ck_fn(t, **kw)

        def th_op(t):
            return th_fn(t, **kw)

        arrays = (x,)

    with torch.no_grad():
        y_shape = th_op(*(torch.from_numpy(a) for a in arrays)).shape
    gy = rng.standard_normal(tuple(y_shape)).astype(dtype)
    gy_t = torch.from_numpy(gy)

    th_in = [torch.from_numpy(a.copy()) for a in arrays]
    th_grad = [torch.from_numpy(a.copy()).requires_grad_(True) for a in arrays]
    ck_grad = [cnnkit.Tensor(a, requires_grad=True) for a in arrays]

    def th_fwd():
        with torch.no_grad():
            th_op(*th_in)

    def ck_fwd():
        with cnnkit.no_grad():
            ck_op(*arrays)

    def th_fwd_bwd():
        for t in th_grad:
            t.grad = None
        th_op(*th_grad).backward(gy_t)

    def ck_fwd_bwd():
        for t in ck_grad:
            t.grad = None
        ck_op(*ck_grad).backward(gy)

    return th_fwd, ck_fwd, th_fwd_bwd, ck_fwd_bwd


def bench_row(row: Row, repeats: int, min_time: float, dtype=np.float32) -> dict:
    import torch

    th_fwd, ck_fwd, th_fwd_bwd, ck_fwd_bwd = _callables(row, dtype)
    keys = [f"{lib}_{p}" for p in ("fwd", "fwd_bwd") for lib in ("torch", "torch1", "cnnkit")]
    rounds: dict[str, list[float]] = {k: [] for k in keys}
    for _ in range(repeats):
        for p, th, ck in (("fwd", th_fwd, ck_fwd), ("fwd_bwd", th_fwd_bwd, ck_fwd_bwd)):
            torch.set_num_threads(THREADS)
            rounds[f"torch_{p}"].append(_time(th, min_time))
            rounds[f"cnnkit_{p}"].append(_time(ck, min_time))
            torch.set_num_threads(1)
            rounds[f"torch1_{p}"].append(_time(th, min_time))
    torch.set_num_threads(THREADS)
    result = {"row": row.name, "op": row.op, "x": row.x_shape, "kwargs": row.kwargs, "dtype": np.dtype(dtype).name}
    for key in ("fwd", "fwd_bwd"):
        t_ck = statistics.median(rounds["cnnkit_" + key])
        t_th = statistics.median(rounds["torch_" + key])
        t_th1 = statistics.median(rounds["torch1_" + key])
        per_round = [a / b for a, b in zip(rounds["cnnkit_" + key], rounds["torch_" + key])]
        result[key] = {
            "cnnkit_ms": t_ck * 1e3, "torch_ms": t_th * 1e3, "ratio": t_ck / t_th,
            "ratio_spread": (max(per_round) - min(per_round)) / statistics.median(per_round),
            "torch_1thread_ms": t_th1 * 1e3, "ratio_1thread": t_ck / t_th1,
            "cnnkit_rounds_ms": [t * 1e3 for t in rounds["cnnkit_" + key]],
            "torch_rounds_ms": [t * 1e3 for t in rounds["torch_" + key]],
            "torch_1thread_rounds_ms": [t * 1e3 for t in rounds["torch1_" + key]],
        }
    return result


def table(results: list[dict]) -> str:
    lines = ["| row | pass | cnnkit ms | torch ms (2 threads) | ratio | spread | torch ms (1 thread) | ratio vs 1 thread |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for key, label in zip(("fwd", "fwd_bwd"), PASSES.get(r["op"], DEFAULT_PASSES)):
            m = r[key]
            lines.append(f"| {r['row']} | {label} | {m['cnnkit_ms']:.2f} | {m['torch_ms']:.2f} | "
                         f"{m['ratio']:.2f}x | {m['ratio_spread']:.2f} | {m['torch_1thread_ms']:.2f} | "
                         f"{m['ratio_1thread']:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per timing (default 0.2)")
    parser.add_argument("--rows", nargs="*", help="substrings selecting rows by name")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(THREADS)
    rows = [r for r in ROWS if not args.rows or any(s in r.name for s in args.rows)]
    results = []
    for row in rows:
        res = bench_row(row, args.repeats, args.min_time)
        results.append(res)
        labels = PASSES.get(row.op, DEFAULT_PASSES)
        print(f"{row.name}: {labels[0]} {res['fwd']['ratio']:.2f}x, {labels[1]} {res['fwd_bwd']['ratio']:.2f}x",
              flush=True)
    print()
    print(table(results))
    meta = {
        "numpy": np.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(), "torch_threads": THREADS,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "repeats": args.repeats, "min_time_s": args.min_time,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench_layers-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
