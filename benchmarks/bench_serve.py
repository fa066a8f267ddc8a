"""Load on the explorer: 8 concurrent clients x 200 predictions each to ``cnnkit serve`` on 127.0.0.1.

The server is the real command (``python3 -m cnnkit serve --no-browser --port 0``) in its own
process, with its default worker setup (model replicas = CPU count, at most 4). Each client is a
thread with its own keep-alive HTTP connection (httpx) sending its predictions back to back. Two
request kinds, one after the other:

* ``draw``: what the Draw page sends while you draw: the canvas as 140x140 pixels (``drawing``),
  which the server turns into an MNIST-style digit (``to_mnist_digit``), then the prediction with
  every layer's activations (a ~60 KB answer);
* ``pixels``: a 28x28 MNIST digit (``pixels``) with ``"activations": false``: the prediction alone.

Latency is measured per request from send to the parsed answer; every answer must be a 200 with a
predicted class. Prints a table and writes benchmarks/results/bench_serve.json. It waits (up to
``--max-wait`` seconds) for the 1-minute load average to drop below ``--max-load`` and records the
load before and after. Run as ``python3 benchmarks/bench_serve.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_for_quiet(max_load: float, max_wait: float) -> float:
    start = time.monotonic()
    while (load := load_average()) >= max_load and time.monotonic() - start < max_wait:
        print(f"1-minute load {load:.2f} >= {max_load}: waiting", flush=True)
        time.sleep(30)
    return load


def start_server() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "cnnkit", "serve", "--no-browser", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if not found:
        proc.kill()
        raise RuntimeError(f"cnnkit serve did not start: {line}{proc.stdout.read()}")
    return proc, found.group(1)


def run(url: str, body: dict, clients: int, requests: int) -> dict:
    import httpx
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client() -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            http.get("healthz")
            barrier.wait()
            for _ in range(requests):
                t0 = time.perf_counter()
                try:
                    r = http.post("api/predict", json=body)
                    ok = r.status_code == 200 and r.json().get("predicted") in range(10)
                    why = "" if ok else f"{r.status_code} {r.text[:80]}"
                except httpx.HTTPError as exc:
                    why = repr(exc)
                dt = time.perf_counter() - t0
                with lock:
                    (failures.append(why) if why else latencies.append(dt))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    ms = sorted(1000 * v for v in latencies)
    q = (lambda p: ms[min(len(ms) - 1, int(round(p / 100 * (len(ms) - 1))))]) if ms else (lambda p: float("nan"))
    return {"requests": clients * requests, "succeeded": len(latencies), "failed": len(failures),
            "failures": failures[:5], "p50_ms": q(50), "p95_ms": q(95), "p99_ms": q(99), "max_ms": ms[-1] if ms else None,
            "mean_ms": statistics.fmean(ms) if ms else None, "wall_s": wall, "per_second": len(latencies) / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200, help="predictions per client")
    parser.add_argument("--max-load", type=float, default=1.0)
    parser.add_argument("--max-wait", type=float, default=1800.0)
    args = parser.parse_args()

    from cnnkit.data import to_mnist_digit
    from serve_helpers import stroke_digit
    drawing = stroke_digit(140)
    kinds = {"draw": {"drawing": drawing.tolist()},
             "pixels": {"pixels": to_mnist_digit(drawing, invert=False).tolist(), "activations": False}}

    load_before = wait_for_quiet(args.max_load, args.max_wait)
    proc, url = start_server()
    try:
        results = {kind: run(url, body, args.clients, args.requests) for kind, body in kinds.items()}
    finally:
        proc.terminate()
        proc.wait(10)
    load_after = load_average()
    print(f"cnnkit serve on {url}: {args.clients} clients x {args.requests} predictions each; "
          f"1-minute load {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} CPUs")
    print(f"{'request':8} {'ok':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7}")
    for kind, r in results.items():
        print(f"{kind:8} {r['succeeded']:>5}/{r['requests']:<4} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} "
              f"{r['p99_ms']:8.1f} {r['max_ms']:8.1f} {r['per_second']:7.1f}")
        for f in r["failures"]:
            print(f"  failed: {f}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_serve.json").write_text(json.dumps({
        "clients": args.clients, "requests_per_client": args.requests, "load_before": load_before,
        "load_after": load_after, "cpus": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "results": results}, indent=2))
    return 0 if all(r["failed"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
