"""The files of an experiment, and the schema of ``results.json``.

``DIR/NAME/runs/VARIANT-seedK.json``: one finished run (written atomically as soon as it
finishes, so Ctrl-C keeps it): ``{"experiment", "variant", "seed", "config", "run"}``.

``DIR/NAME/results.json`` (schema :data:`SCHEMA`), written when every run is there::

    experiment, claim, quote, measures, config, seeds: [0, 1, ...],
    variants: [{name, params, macs, receptive_field,
                runs: [{seed, test_accuracy, train_time_s, wall_time_s, curve, [metrics]}],
                mean_accuracy, std_accuracy, [metrics: {key: {mean, std}}], ...}],
    extra: {...experiment-specific numbers...},
    verdict: {status, summary, checks: [{what, status, detail}], rule},
    timing: {wall_s, runs_wall_s, runs_resumed, backend, workers, started, finished},
    machine: {platform, python, numpy, blas, cpus, load_average}, command, schema

``std_accuracy`` is the sample standard deviation (``None`` for one seed).
"""
from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write
from .stats import aggregate, mean_std

SCHEMA = 1
RESULTS_FILE, FIGURE_FILE, RUNS_DIR = "results.json", "figure.png", "runs"
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")

TOP_KEYS = ("experiment", "claim", "config", "seeds", "variants", "verdict", "timing", "machine")
VARIANT_KEYS = ("name", "params", "macs", "receptive_field", "runs", "mean_accuracy", "std_accuracy")
RUN_KEYS = ("seed", "test_accuracy", "train_time_s", "curve")


def write_json(path: Path, obj) -> None:
    """``obj`` as indented JSON, atomically (``NaN``/``inf`` are refused: they are not JSON)."""
    with atomic_write(path, "results") as f:
        f.write((json.dumps(obj, indent=1, allow_nan=False, ensure_ascii=False) + "\n").encode())


def read_json(path: Path, what: str = "results") -> dict:
    try:
        obj = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); delete it or run again") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: {what} must be a JSON object, got {type(obj).__name__}")
    return obj


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name must be lowercase letters, digits, '-' and '.', got {name!r}")
    return name


# ------------------------------------------------------------------ run files
class RunStore:
    """The finished runs of one experiment in ``folder/runs/``."""

    def __init__(self, folder: str | os.PathLike, experiment: str):
        self.folder, self.experiment = Path(folder), experiment
        self.runs_dir = self.folder / RUNS_DIR

    def path(self, variant: str, seed: int) -> Path:
        return self.runs_dir / f"{check_name('variant', variant)}-seed{int(seed)}.json"

    def save(self, variant: str, seed: int, config: dict, run: dict) -> Path:
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        path = self.path(variant, seed)
        write_json(path, {"experiment": self.experiment, "variant": variant, "seed": int(seed), "config": config,
                          "run": run})
        return path

    def clear(self) -> None:
        """Forget finished runs (a run without ``--resume`` starts over)."""
        if self.runs_dir.is_dir():
            for p in self.runs_dir.glob("*-seed*.json"):
                p.unlink()
        for name in (RESULTS_FILE, FIGURE_FILE):
            (self.folder / name).unlink(missing_ok=True)

    def load(self, config: dict, jobs: list[tuple[str, int]]) -> dict[tuple[str, int], dict]:
        """The runs of ``jobs`` already finished with this ``config``; a run file written with
        another config is an error (the numbers would mix two set-ups)."""
        done = {}
        for variant, seed in jobs:
            path = self.path(variant, seed)
            if not path.is_file():
                continue
            saved = read_json(path, "run file")
            if saved.get("experiment") != self.experiment or saved.get("variant") != variant:
                raise ValueError(f"resume: {path} holds another run ({saved.get('experiment')}/{saved.get('variant')})")
            old = saved.get("config", {})
            if old != config:
                diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
                raise ValueError(f"resume: {path} was run with a different config ("
                                 + ", ".join(f"{k}: {old.get(k)!r} then, {config.get(k)!r} now" for k in diff)
                                 + "); run again without --resume to start over")
            done[(variant, seed)] = saved["run"]
        return done


# ------------------------------------------------------------------ results
def machine_info() -> dict:
    """Where the numbers were measured: platform, Python, NumPy and its BLAS, CPU count, load."""
    blas = None
    try:
        config = np.show_config(mode="dicts")  # NumPy >= 2
        build = config.get("Build Dependencies", {}).get("blas", {})
        blas = f"{build.get('name', '?')} {build.get('version', '')}".strip()
    except TypeError:  # pragma: no cover - NumPy 1.x
        pass
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__, "blas": blas,
            "cpus": os.cpu_count(), "load_average": [round(v, 2) for v in os.getloadavg()],
            "blas_threads_per_worker": 1}


def summarize_variant(name: str, info: dict, runs: list[dict]) -> dict:
    """A variant's entry: its static ``info`` (params, macs, ...), the runs sorted by seed,
    mean and sample std of the test accuracy, and the mean/std of every per-run metric."""
    runs = sorted(runs, key=lambda r: r["seed"])
    mean, std = mean_std(r["test_accuracy"] for r in runs)
    entry = {"name": name, **info, "runs": runs, "mean_accuracy": mean, "std_accuracy": std,
             "mean_train_time_s": mean_std(r["train_time_s"] for r in runs)[0]}
    metrics = aggregate([r["metrics"] for r in runs if "metrics" in r]) if all("metrics" in r for r in runs) else None
    if metrics:
        entry["metrics"] = metrics
    return entry


def validate(obj: dict, source: str = "results") -> dict:
    """Check ``obj`` against the schema (module docstring); ``ValueError`` naming what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"{source}: must be a JSON object")
    missing = [k for k in TOP_KEYS if k not in obj]
    if missing:
        raise ValueError(f"{source}: missing keys {missing}")
    if obj.get("schema", SCHEMA) != SCHEMA:
        raise ValueError(f"{source}: schema {obj.get('schema')!r}, this cnnkit reads schema {SCHEMA}")
    if not isinstance(obj["variants"], list) or not obj["variants"]:
        raise ValueError(f"{source}: variants must be a non-empty list")
    for v in obj["variants"]:
        gone = [k for k in VARIANT_KEYS if k not in v]
        if gone:
            raise ValueError(f"{source}: variant {v.get('name')!r} lacks {gone}")
        if not v["runs"]:
            raise ValueError(f"{source}: variant {v['name']!r} has no runs")
        for r in v["runs"]:
            gone = [k for k in RUN_KEYS if k not in r]
            if gone:
                raise ValueError(f"{source}: a run of {v['name']!r} lacks {gone}")
            acc = r["test_accuracy"]
            if not isinstance(acc, (int, float)) or not 0.0 <= acc <= 1.0 or math.isnan(acc):
                raise ValueError(f"{source}: a run of {v['name']!r} has test_accuracy {acc!r}, expected 0..1")
    if not isinstance(obj["verdict"], dict) or "status" not in obj["verdict"] or "checks" not in obj["verdict"]:
        raise ValueError(f"{source}: verdict must hold 'status' and 'checks'")
    return obj


def load_results(folder: str | os.PathLike) -> list[dict]:
    """Every valid ``*/results.json`` under ``folder``, in file-name order of the experiment folders."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no results folder {folder} (run `cnnkit lab run NAME --out {folder}` first)")
    return [validate(read_json(p), str(p)) for p in sorted(folder.glob(f"*/{RESULTS_FILE}"))]


def command_line() -> str:
    """The command that is running, as typed (``python3 -m cnnkit ...`` shown as ``cnnkit ...``)."""
    argv = list(sys.argv)
    if argv and (argv[0].endswith("cnnkit") or argv[0].endswith("__main__.py")):
        argv[0] = "cnnkit"
    return " ".join(argv)
