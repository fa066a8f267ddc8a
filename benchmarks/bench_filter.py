"""Filtering speed: cnnkit's separable and 2-D paths against OpenCV and scipy.

A normalised Gaussian (3x3, 5x5, 15x15) on a 2048x2048 float32 image, border
reflect101 (OpenCV's default = scipy "mirror"), all in the same run:

* cnnkit ``filter2d(separable=True)`` and ``filter2d(separable=False)``
  (default workers = min(cpu_count, 4) threads over row bands);
* OpenCV ``cv2.filter2D`` (2-D; OpenCV switches to a DFT for kernels >= 11x11)
  and ``cv2.sepFilter2D`` (two 1-D passes), with ``cv2.setNumThreads`` = cnnkit's workers;
* scipy ``ndimage.correlate`` (2-D) and ``ndimage.correlate1d`` along each axis.

Median of repeats, timed round-robin across the methods; prints a table of times and ratios (time / cnnkit separable)
and writes JSON to benchmarks/results/bench_filter.json. Run as
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench_filter.py``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from cnnkit.filtering import filter2d  # noqa: E402
from cnnkit.kernels import gaussian, gaussian_1d, separate  # noqa: E402


def interleaved_medians(methods: dict, repeats: dict) -> dict:
    """Median time of each method, timed round-robin (one call of each method per
    round) so that load changes on a shared machine hit every method alike."""
    times = {name: [] for name in methods}
    for name, fn in methods.items():
        fn()  # warm-up
    for r in range(max(repeats.values())):
        for name, fn in methods.items():
            if r < repeats[name]:
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2048, help="image side (default 2048)")
    parser.add_argument("--kernels", type=int, nargs="+", default=[3, 5, 15], help="Gaussian sizes")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per method (median)")
    args = parser.parse_args()

    import cv2
    import scipy
    import scipy.ndimage as ndi

    workers = min(os.cpu_count() or 1, 4)
    cv2.setNumThreads(workers)
    rng = np.random.default_rng(0)
    image = rng.random((args.size, args.size), dtype=np.float32) * 255

    rows, records = [], []
    for ks in args.kernels:
        k2 = gaussian(ks).astype(np.float32)
        g = gaussian_1d(ks).astype(np.float32)
        col, row = (f.astype(np.float32) for f in separate(k2))
        methods = {
            "cnnkit separable": lambda: filter2d(image, k2, border="reflect101", separable=True),
            "cnnkit 2-D": lambda: filter2d(image, k2, border="reflect101", separable=False),
            "cv2.filter2D": lambda: cv2.filter2D(image, -1, k2, borderType=cv2.BORDER_REFLECT_101),
            "cv2.sepFilter2D": lambda: cv2.sepFilter2D(image, -1, g, g, borderType=cv2.BORDER_REFLECT_101),
            "scipy correlate": lambda: ndi.correlate(image, k2, mode="mirror"),
            "scipy correlate1d x2": lambda: ndi.correlate1d(ndi.correlate1d(image, col, axis=0, mode="mirror"),
                                                            row, axis=1, mode="mirror"),
        }
        reference = ndi.correlate(image.astype(np.float64), k2.astype(np.float64), mode="mirror")
        errors = {name: float(np.abs(fn().astype(np.float64) - reference).max()) for name, fn in methods.items()}
        repeats = {name: max(3, args.repeats // 2) if name in ("scipy correlate", "cnnkit 2-D") and ks >= 11
                   else args.repeats for name in methods}
        times = interleaved_medians(methods, repeats)
        for name in methods:
            records.append({"kernel": ks, "method": name, "seconds": times[name], "max_abs_err": errors[name]})
        base = times["cnnkit separable"]
        rows.append((ks, times, base))

    names = list(rows[0][1])
    print(f"Gaussian filter on a {args.size}x{args.size} float32 image, border reflect101, "
          f"median of {args.repeats} (2-D 15x15 paths: fewer); cnnkit workers = cv2 threads = {workers}")
    print("time in ms (ratio = time / cnnkit separable; > 1 means slower than cnnkit separable)")
    header = f"{'kernel':>7} | " + " | ".join(f"{n:>22}" for n in names)
    print(header)
    print("-" * len(header))
    for ks, times, base in rows:
        cells = [f"{times[n] * 1e3:8.2f} ({times[n] / base:5.2f}x)" for n in names]
        print(f"{f'{ks}x{ks}':>7} | " + " | ".join(f"{c:>22}" for c in cells))
    print("cnnkit 2-D / separable speed-up: " + ", ".join(
        f"{ks}x{ks}: {times['cnnkit 2-D'] / base:.1f}x" for ks, times, base in rows))

    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "bench_filter", "image": [args.size, args.size], "dtype": "float32", "border": "reflect101",
        "workers": workers, "repeats": args.repeats, "numpy": np.__version__, "opencv": cv2.__version__,
        "scipy": scipy.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
        "results": records,
    }
    path = out_dir / "bench_filter.json"
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
