"""cnnkit against PyTorch CPU, each library in its own process, in alternating rounds, at 1
thread and at N threads.

Run (the ``env -u`` lets OpenBLAS pick its kernel for this CPU; tests never use it)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench.py --suite conv
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench.py --suite layers
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/bench.py --suite train

Method. One worker process per library (``_worker.py``): ``torch``, ``cnnkit`` and, for the
convolution rows, ``im2col`` (a textbook NumPy im2col: cnnkit's reference convolution, with
BLAS's threads as its only parallelism). Only one process computes at a time; the others wait
on a pipe. For each row, ``--rounds`` rounds; each round measures, for each thread count and
each pass, every library once, in an order that rotates from round to round (so no library
is always first or always after the same one), each measurement after a ``--cooldown`` pause
(the previous process's idle threads stop spinning) and a warm-up call, averaging as many calls
as fit in ``--min-time`` seconds. Per row and pass the table gives each library's median
milliseconds over the rounds, the ratio cnnkit / PyTorch of their *best* rounds (lower is
better), and each library's scaling factor (best time at 1 thread / best time at N threads).

The machine, the load average before and after, the library versions, BLAS, the git commit
and the command are recorded with the results (``benchmarks/results/``, JSON and Markdown).
Headline numbers need an idle machine: when the 1-minute load average at the start is above
1 (after waiting up to ``--wait`` minutes for it to drop), the tool refuses to run, unless
``--not-headline`` is given, which marks every output file and table as not headline.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _workloads  # noqa: E402

LOAD_LIMIT = 1.0
SUITE_DEFAULTS = {  # rounds, seconds per measurement, libraries
    "conv": (7, 0.15, ("torch", "cnnkit", "im2col")),
    "layers": (7, 0.15, ("torch", "cnnkit")),
    "train": (3, 0.0, ("torch", "cnnkit")),
}


def load1() -> float:
    return os.getloadavg()[0]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class Worker:
    """A library's worker process, driven over its stdin/stdout."""

    def __init__(self, lib: str):
        self.lib = lib
        self.proc = subprocess.Popen([sys.executable, str(HERE / "_worker.py"), lib], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.info = self._read()

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.lib} worker exited (see its error above)")
        return json.loads(line)

    def time(self, **request) -> float:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        if "error" in answer:
            raise RuntimeError(f"{self.lib} worker: {answer['error']}\n{answer.get('trace', '')}")
        return answer["ms"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def wait_for_idle(minutes: float) -> float:
    load = load1()
    deadline = time.time() + 60 * minutes
    while load > LOAD_LIMIT and time.time() < deadline:
        print(f"load average {load:.2f} > {LOAD_LIMIT}: waiting 60 s", flush=True)
        time.sleep(60)
        load = load1()
    return load


def summarize(rounds: dict, libs, threads) -> dict:
    """Per pass: medians and best rounds per library and thread count, ratios and scaling."""
    out = {}
    for p, by_lib in rounds.items():
        s = {}
        for lib, by_t in by_lib.items():
            for t, times in by_t.items():
                s[f"{lib}_{t}t_median_ms"] = statistics.median(times)
                s[f"{lib}_{t}t_best_ms"] = min(times)
                s[f"{lib}_{t}t_rounds_ms"] = times
        for t in threads:
            if "cnnkit" in by_lib and "torch" in by_lib:
                s[f"ratio_{t}t"] = s[f"cnnkit_{t}t_best_ms"] / s[f"torch_{t}t_best_ms"]
            if "cnnkit" in by_lib and "im2col" in by_lib:
                s[f"vs_im2col_{t}t"] = s[f"cnnkit_{t}t_best_ms"] / s[f"im2col_{t}t_best_ms"]
        if len(threads) > 1:
            lo, hi = threads[0], threads[-1]
            for lib in by_lib:
                s[f"{lib}_scaling"] = s[f"{lib}_{lo}t_best_ms"] / s[f"{lib}_{hi}t_best_ms"]
        out[p] = s
    return out


def markdown(results: list[dict], threads, headline: bool, meta: dict) -> str:
    lo, hi = threads[0], threads[-1]
    has_im2col = any("im2col_%dt_median_ms" % hi in s for r in results for s in r["passes"].values())
    head = [f"row | pass | cnnkit ms {lo}t | torch ms {lo}t | ratio {lo}t"]
    if len(threads) > 1:
        head.append(f"cnnkit ms {hi}t | torch ms {hi}t | ratio {hi}t | cnnkit x{hi} | torch x{hi}")
    if has_im2col:
        head.append(f"im2col ms {hi}t | cnnkit / im2col {hi}t")
    cols = " | ".join(head).split(" | ")
    lines = []
    if not headline:
        lines.append(f"**NOT HEADLINE**: load average {meta['load_before']:.2f} at the start (> {LOAD_LIMIT}).\n")
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        for p, s in r["passes"].items():
            cells = [r["row"], p, f"{s[f'cnnkit_{lo}t_median_ms']:.2f}", f"{s[f'torch_{lo}t_median_ms']:.2f}",
                     f"{s[f'ratio_{lo}t']:.2f}"]
            if len(threads) > 1:
                cells += [f"{s[f'cnnkit_{hi}t_median_ms']:.2f}", f"{s[f'torch_{hi}t_median_ms']:.2f}",
                          f"{s[f'ratio_{hi}t']:.2f}", f"{s['cnnkit_scaling']:.2f}", f"{s['torch_scaling']:.2f}"]
            if has_im2col:
                key = f"im2col_{hi}t_median_ms"
                cells += [f"{s[key]:.2f}", f"{s[f'vs_im2col_{hi}t']:.2f}"] if key in s else ["", ""]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=sorted(SUITE_DEFAULTS), default="conv")
    parser.add_argument("--rows", nargs="*", help="substrings selecting rows of the suite (default: all)")
    parser.add_argument("--threads", type=int, nargs="+",
                        help="thread counts, lowest first (default: 1 and the cores available)")
    parser.add_argument("--rounds", type=int, help="alternating rounds per row (suite default)")
    parser.add_argument("--min-time", type=float, help="seconds per measurement (suite default)")
    parser.add_argument("--cooldown", type=float, default=0.2, help="pause before each measurement (s)")
    parser.add_argument("--libs", nargs="+", help="libraries to run (suite default)")
    parser.add_argument("--wait", type=float, default=15.0, help="minutes to wait for the load to drop")
    parser.add_argument("--not-headline", action="store_true",
                        help="run even on a busy machine; outputs are marked as not headline")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    rounds_n, min_time, libs = SUITE_DEFAULTS[args.suite]
    rounds_n = args.rounds or rounds_n
    min_time = args.min_time if args.min_time is not None else min_time
    libs = tuple(args.libs or libs)
    threads = sorted(set(args.threads or (1, len(os.sched_getaffinity(0)))))
    rows = [r for r in _workloads.ROWS if r.suite == args.suite and (not args.rows or any(s in r.name for s in args.rows))]
    if not rows:
        parser.error(f"no row of suite {args.suite!r} matches {args.rows}")

    load_before = wait_for_idle(args.wait) if not args.not_headline else load1()
    headline = load_before <= LOAD_LIMIT
    if not headline and not args.not_headline:
        print(f"refusing to measure headline numbers: 1-minute load average {load_before:.2f} > {LOAD_LIMIT} "
              f"after waiting {args.wait:g} min (--not-headline measures anyway, marked as such)", file=sys.stderr)
        return 3
    meta = {
        "suite": args.suite, "command": " ".join([Path(sys.executable).name] + sys.argv), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu_model(), "cores": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
        "platform": platform.platform(), "git": git_commit(), "threads": threads, "rounds": rounds_n,
        "min_time_s": min_time, "cooldown_s": args.cooldown, "load_before": load_before, "headline": headline,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_", "MKL", "CNNKIT", "MALLOC"))},
    }
    workers = {lib: Worker(lib) for lib in libs}
    meta["libraries"] = {lib: w.info for lib, w in workers.items()}
    print(f"{meta['cpu']}, {meta['affinity']} cores | git {meta['git']} | threads {threads} | {rounds_n} rounds | "
          f"load {load_before:.2f}" + ("" if headline else " (NOT HEADLINE)"), flush=True)
    results = []
    try:
        for row in rows:
            row_libs = [lib for lib in libs if lib != "im2col" or row.kind in ("conv", "transpose")]
            data = {p: {lib: {t: [] for t in threads} for lib in row_libs} for p in row.passes}
            for r in range(rounds_n):
                order = row_libs[r % len(row_libs):] + row_libs[:r % len(row_libs)]
                for t in threads:
                    for p in row.passes:
                        for lib in order:
                            data[p][lib][t].append(workers[lib].time(
                                row=row.name, **{"pass": p}, threads=t, min_time=min_time, cooldown=args.cooldown,
                                warmup=row.kind != "lenet5_epoch"))
            passes = summarize(data, row_libs, threads)
            results.append({"row": row.name, "passes": passes})
            print(f"{row.name}: " + "; ".join(
                f"{p} " + ", ".join(f"{t}t {s[f'ratio_{t}t']:.2f}x" for t in threads) for p, s in passes.items()),
                flush=True)
    finally:
        for w in workers.values():
            w.close()
    meta["load_after"] = load1()
    table = markdown(results, threads, headline, meta)
    print()
    print(table)
    print(f"\nload average before {load_before:.2f}, after {meta['load_after']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"bench-{args.suite}-{time.strftime('%Y%m%d-%H%M%S')}" + ("" if headline else "-not-headline")
    (args.out / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(
        f"`{meta['command']}` — {meta['date']}, git {meta['git']}, {meta['cpu']} ({meta['affinity']} cores), "
        f"load {load_before:.2f} -> {meta['load_after']:.2f}\n\n{table}\n")
    print(f"wrote {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
