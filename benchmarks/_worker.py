"""One benchmark worker process: times the rows of :mod:`_workloads` for one library, on
request of the driver (``bench.py``), so that each library runs in a process of its own
(its threads, allocator and caches undisturbed by the other's).

Protocol: JSON lines. The worker prints ``{"ready": ..., versions}`` once, then answers each
request ``{"row": name, "pass": p, "threads": n, "min_time": s, "cooldown": s, "warmup": bool}`` with
``{"ms": mean milliseconds per call}`` (or ``{"error": message}``) and exits on end of input.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's cnnkit
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

import _workloads  # noqa: E402
from _timing import mean_seconds_per_call  # noqa: E402


def _set_threads(lib: str, n: int) -> None:
    if lib == "torch":
        import torch

        torch.set_num_threads(n)
    elif lib == "cnnkit":
        import cnnkit

        cnnkit.set_num_threads(n)  # BLAS stays single-threaded: cnnkit's workers call it
    else:  # the textbook im2col: its only parallelism is BLAS
        from threadpoolctl import threadpool_limits

        threadpool_limits(n, user_api="blas")


def _versions(lib: str) -> dict:
    info = {"library": lib, "python": platform.python_version(), "numpy": np.__version__, "pid": os.getpid()}
    if lib == "torch":
        import torch

        info["torch"] = torch.__version__
        info["torch_config"] = torch.__config__.parallel_info().splitlines()[:6]
    else:
        import cnnkit

        info["cnnkit"] = cnnkit.__version__
        if lib == "cnnkit":  # what cnnkit runs with: BLAS set to one thread at its first parallel op
            from cnnkit._core.fast.threads import ensure_single_threaded_blas

            ensure_single_threaded_blas()
        try:
            from threadpoolctl import threadpool_info

            info["blas"] = [{k: i.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                            for i in threadpool_info() if i.get("user_api") == "blas"]
        except ImportError:
            info["blas"] = "threadpoolctl not installed"
    return info


def main() -> int:
    lib = sys.argv[1]
    cache: dict[str, dict] = {}
    print(json.dumps({"ready": True, **_versions(lib)}), flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            row = _workloads.ROWS_BY_NAME[req["row"]]
            if row.name not in cache:
                cache[row.name] = _workloads.callables(row, lib)
            fns = cache[row.name]
            _set_threads(lib, req["threads"])
            if req.get("cooldown", 0) > 0:  # the other process's idle threads stop spinning meanwhile
                time.sleep(req["cooldown"])
            seconds = mean_seconds_per_call(fns[req["pass"]], req["min_time"], warmup=req.get("warmup", True))
            print(json.dumps({"ms": seconds * 1e3}), flush=True)
        except Exception as exc:  # reported to the driver, which stops
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
