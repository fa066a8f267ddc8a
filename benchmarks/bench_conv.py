"""Convolution throughput: cnnkit vs PyTorch CPU, in the same process.

Run (the ``env -u`` lets OpenBLAS pick its kernel for this CPU; tests do not use it)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench_conv.py [--repeats 7] [--rows NAME ...]

For every row, ``--repeats`` rounds run PyTorch and cnnkit interleaved (torch
forward, cnnkit forward, torch forward+backward, cnnkit forward+backward), each
timing as many calls as fit in ``--min-time`` seconds. The table reports the
median time per call and ``ratio = cnnkit / torch`` (lower is better); ``best``
is the ratio of the fastest rounds, and ``spread`` the (max - min) / median of
the per-round ratios, a measure of the noise from other processes sharing the
machine (the load average before and after the run is printed too).
Forward+backward computes the gradients of input, weight and bias.
Results go to ``benchmarks/results/bench_conv-<timestamp>.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cnnkit  # noqa: E402
from _timing import mean_seconds_per_call  # noqa: E402
import cnnkit.functional as F  # noqa: E402

THREADS = 2
#: Pause before each measurement so that the other library's idle threads stop spinning.
COOLDOWN_S = 0.3


@dataclass
class Row:
    name: str
    kind: str  # "conv" or "transpose"
    x_shape: tuple
    w_shape: tuple
    kwargs: dict
    depthwise: bool = False


ROWS = [
    Row("conv2d 3x3 p1 64->64 56x56 N8", "conv", (8, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
    Row("conv2d 3x3 s2 p1 64->64 56x56 N8", "conv", (8, 64, 56, 56), (64, 64, 3, 3), dict(stride=2, padding=1)),
    Row("conv2d 3x3 d2 p2 64->64 56x56 N8", "conv", (8, 64, 56, 56), (64, 64, 3, 3), dict(padding=2, dilation=2)),
    Row("depthwise 3x3 p1 64ch 56x56 N8", "conv", (8, 64, 56, 56), (64, 1, 3, 3), dict(padding=1, groups=64),
        depthwise=True),
    Row("conv_transpose2d 4x4 s2 p1 64->64 28->56 N8", "transpose", (8, 64, 28, 28), (64, 64, 4, 4),
        dict(stride=2, padding=1)),
    Row("conv1d k3 p1 128->128 L256 N32", "conv", (32, 128, 256), (128, 128, 3), dict(padding=1)),
    Row("LeNet conv1 5x5 1->6 32x32 N64", "conv", (64, 1, 32, 32), (6, 1, 5, 5), {}),
    Row("LeNet conv2 5x5 6->16 14x14 N64", "conv", (64, 6, 14, 14), (16, 6, 5, 5), {}),
]


def _fns(row: Row):
    import torch
    import torch.nn.functional as TF

    nd = len(row.x_shape) - 2
    if row.kind == "conv":
        ck = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
        th = {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}[nd]
        out_ch = row.w_shape[0]
    else:
        ck = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[nd]
        th = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d}[nd]
        out_ch = row.w_shape[1] * row.kwargs.get("groups", 1)
    return ck, th, out_ch


def _time(fn, min_time: float) -> float:
    """One measurement, after the cool-down pause (see ``_timing``)."""
    return mean_seconds_per_call(fn, min_time, cooldown_s=COOLDOWN_S)


def bench_row(row: Row, repeats: int, min_time: float, dtype=np.float32) -> dict:
    import torch

    ck, th, out_ch = _fns(row)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(row.x_shape).astype(dtype)
    w = (rng.standard_normal(row.w_shape) * 0.1).astype(dtype)
    b = rng.standard_normal(out_ch).astype(dtype)
    kw = row.kwargs

    with torch.no_grad():
        y_shape = th(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **kw).shape
    gy = rng.standard_normal(tuple(y_shape)).astype(dtype)
    gy_t = torch.from_numpy(gy)

    def ck_fwd():
        with cnnkit.no_grad():
            ck(x, w, b, **kw)

    xt, wt, bt = (torch.from_numpy(a.copy()) for a in (x, w, b))

    def th_fwd():
        with torch.no_grad():
            th(xt, wt, bt, **kw)

    xc, wc, bc = (cnnkit.Tensor(a, requires_grad=True) for a in (x, w, b))

    def ck_fwd_bwd():
        for t in (xc, wc, bc):
            t.grad = None
        ck(xc, wc, bc, **kw).backward(gy)

    xg, wg, bg = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, w, b))

    def th_fwd_bwd():
        for t in (xg, wg, bg):
            t.grad = None
        th(xg, wg, bg, **kw).backward(gy_t)

    rounds = {"torch_fwd": [], "cnnkit_fwd": [], "torch_fwd_bwd": [], "cnnkit_fwd_bwd": []}
    for _ in range(repeats):
        rounds["torch_fwd"].append(_time(th_fwd, min_time))
        rounds["cnnkit_fwd"].append(_time(ck_fwd, min_time))
        rounds["torch_fwd_bwd"].append(_time(th_fwd_bwd, min_time))
        rounds["cnnkit_fwd_bwd"].append(_time(ck_fwd_bwd, min_time))
    result = {"row": row.name, "x": row.x_shape, "w": row.w_shape, "kwargs": kw, "depthwise": row.depthwise,
              "dtype": np.dtype(dtype).name}
    for key in ("fwd", "fwd_bwd"):
        t_ck = statistics.median(rounds["cnnkit_" + key])
        t_th = statistics.median(rounds["torch_" + key])
        per_round = [a / b for a, b in zip(rounds["cnnkit_" + key], rounds["torch_" + key])]
        result[key] = {
            "cnnkit_ms": t_ck * 1e3, "torch_ms": t_th * 1e3, "ratio": t_ck / t_th,
            "ratio_spread": (max(per_round) - min(per_round)) / statistics.median(per_round),
            "best_ratio": min(rounds["cnnkit_" + key]) / min(rounds["torch_" + key]),
            "cnnkit_rounds_ms": [t * 1e3 for t in rounds["cnnkit_" + key]],
            "torch_rounds_ms": [t * 1e3 for t in rounds["torch_" + key]],
        }
    return result


def blas_description() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to report the BLAS kernel)"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas" and "numpy" in i.get("filepath", "")]
    infos = infos or [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
                     f"threads={i.get('num_threads')}" for i in infos) or "none found"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11, help="interleaved rounds per row (median reported)")
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds timed per measurement")
    parser.add_argument("--threads", type=int, default=THREADS,
                        help="torch and BLAS threads (the comparison is defined at 2; 1 is steadier on a busy machine)")
    parser.add_argument("--rows", nargs="*", help="substrings selecting rows (default: all)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the JSON")
    args = parser.parse_args(argv)

    threads = args.threads
    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads, user_api="blas")
    except ImportError:
        pass

    rows = [r for r in ROWS if not args.rows or any(s in r.name for s in args.rows)]
    header = {
        "cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads,
        "numpy": np.__version__, "torch": torch.__version__, "blas": blas_description(),
        "python": platform.python_version(),
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS")},
        "repeats": args.repeats, "min_time_s": args.min_time, "loadavg_before": _loadavg(),
    }
    print(f"cnnkit conv benchmark | {header['cpu']}, {header['cores']} cores, {threads} threads | "
          f"numpy {header['numpy']}, torch {header['torch']} | BLAS: {header['blas']}")
    print(f"median of {args.repeats} interleaved rounds; ratio = cnnkit / torch; float32; "
          f"load average before: {header['loadavg_before']}")
    hdr = (f"{'row':44s} | {'fwd ck ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'best':>5s} {'spread':>6s} | "
           f"{'f+b ck ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'best':>5s} {'spread':>6s}")
    print(hdr)
    print("-" * len(hdr))
    results = []
    for row in rows:
        r = bench_row(row, args.repeats, args.min_time)
        results.append(r)
        f, fb = r["fwd"], r["fwd_bwd"]
        print(f"{row.name:44s} | {f['cnnkit_ms']:9.2f} {f['torch_ms']:9.2f} {f['ratio']:6.2f} "
              f"{f['best_ratio']:5.2f} {f['ratio_spread']:6.0%} | {fb['cnnkit_ms']:9.2f} {fb['torch_ms']:9.2f} "
              f"{fb['ratio']:6.2f} {fb['best_ratio']:5.2f} {fb['ratio_spread']:6.0%}", flush=True)
    header["loadavg_after"] = _loadavg()
    print(f"load average after: {header['loadavg_after']}")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench_conv-{threads}t-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"header": header, "rows": results}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
