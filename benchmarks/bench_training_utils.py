"""Optimizer steps, padding, separable convolution and batching against PyTorch CPU.

Run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench_training_utils.py
Set CNNKIT_BENCH_THREADS=1 to limit torch to one thread (on a loaded 2-core machine torch's
two OpenMP threads spin against other processes and its timings become erratic).
Prints a ratio table (cnnkit time / torch time, lower is better; median of repeats, both
measured in the same run with torch limited to the same number of threads) and writes
JSON to benchmarks/results/bench_training_utils_<threads>t.json.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cnnkit  # noqa: E402
import cnnkit.functional as F  # noqa: E402
from cnnkit import nn, optim  # noqa: E402
from cnnkit.data import DataLoader  # noqa: E402

THREADS = int(os.environ.get("CNNKIT_BENCH_THREADS", "2"))  # torch threads; 2 cores on the reference machine
REPEATS = 7


def timeit(fn, repeats=REPEATS):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times))


def bench_optimizer(name, kwargs, sizes):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in sizes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in sizes]
    ck = [nn.Parameter(a) for a in arrays]
    th = [torch.nn.Parameter(torch.tensor(a)) for a in arrays]
    for p, g in zip(ck, grads):
        p.grad = g
    for q, g in zip(th, grads):
        q.grad = torch.tensor(g)
    ck_opt = getattr(optim, name)(ck, **kwargs)
    th_opt = getattr(torch.optim, name)(th, **kwargs)
    return timeit(ck_opt.step), timeit(th_opt.step)


def bench_pad(mode):
    x = np.random.default_rng(0).standard_normal((16, 16, 64, 64)).astype(np.float32)
    g = np.ones((16, 16, 68, 68), np.float32)
    xt = torch.tensor(x, requires_grad=True)
    gt = torch.tensor(g)

    def ours():
        t = cnnkit.Tensor(x, requires_grad=True)
        F.pad(t, (2, 2, 2, 2), mode=mode).backward(g)

    def theirs():
        xt.grad = None
        torch.nn.functional.pad(xt, (2, 2, 2, 2), mode=mode).backward(gt)

    return timeit(ours), timeit(theirs)


def bench_separable():
    cnnkit.manual_seed(0)
    layer = nn.SeparableConv2d(32, 64, 3, padding=1)
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False),
                                 torch.nn.Conv2d(32, 64, 1))
    x = np.random.default_rng(0).standard_normal((8, 32, 32, 32)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)

    def ours():
        t = cnnkit.Tensor(x, requires_grad=True)
        layer(t).sum().backward()

    def theirs():
        xt.grad = None
        tmodel(xt).sum().backward()

    return timeit(ours, 5), timeit(theirs, 5)


def bench_loader():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60000, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 60000)
    loader = DataLoader((x, y), batch_size=64, shuffle=True, generator=0)
    tloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)),
                                          batch_size=64, shuffle=True)

    def ours():
        for _ in loader:
            pass

    def theirs():
        for _ in tloader:
            pass

    return timeit(ours, 3), timeit(theirs, 3)


def main():
    torch.set_num_threads(THREADS)
    sizes = [(1000, 1000), (512, 256), (4096,)]
    cases = {
        "SGD momentum step (1.1M params)": lambda: bench_optimizer("SGD", dict(lr=0.1, momentum=0.9), sizes),
        "Adam step (1.1M params)": lambda: bench_optimizer("Adam", dict(lr=1e-3), sizes),
        "AdamW amsgrad step (1.1M params)": lambda: bench_optimizer("AdamW", dict(lr=1e-3, amsgrad=True), sizes),
        "pad reflect fwd+bwd (16,16,64,64)": lambda: bench_pad("reflect"),
        "pad replicate fwd+bwd": lambda: bench_pad("replicate"),
        "pad circular fwd+bwd": lambda: bench_pad("circular"),
        "pad constant fwd+bwd": lambda: bench_pad("constant"),
        "SeparableConv2d 32->64 fwd+bwd (8,32,32,32)": bench_separable,
        "DataLoader epoch 60000x1x28x28, bs 64, shuffled": bench_loader,
    }
    results = []
    print(f"{'case':52s} {'cnnkit ms':>10s} {'torch ms':>10s} {'ratio':>7s}")
    for name, fn in cases.items():
        (ck_med, ck_min), (th_med, th_min) = fn()
        ratio = ck_med / th_med
        results.append(dict(case=name, cnnkit_median_s=ck_med, cnnkit_min_s=ck_min, torch_median_s=th_med,
                            torch_min_s=th_min, ratio_median=ratio))
        print(f"{name:52s} {ck_med * 1e3:10.2f} {th_med * 1e3:10.2f} {ratio:7.2f}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(torch=torch.__version__, numpy=np.__version__, threads=THREADS, python=platform.python_version())
    (out / f"bench_training_utils_{THREADS}t.json").write_text(json.dumps(dict(meta=meta, results=results), indent=2))


if __name__ == "__main__":
    main()
