"""cnnkit lab's runner: determinism, resume after an interruption, the Ray backend, the CLI, the report."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnkit.lab.report import build_report
from cnnkit.lab.results import load_results, read_json
from cnnkit.lab.runner import SINGLE_THREAD_ENV, LocalBackend, run_experiment

ROOT = Path(__file__).resolve().parents[1]
NAME = "inductive-bias"  # MNIST-1D: generated, no data set needed; a tiny run takes a second
VOLATILE = {"train_time_s", "wall_time_s", "mean_train_time_s", "timing", "machine", "command"}


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    """MNIST-1D's cache in a temporary folder (the workers inherit the environment)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The tiny run with 2 seeds on the local backend, 2 workers."""
    return run_experiment(NAME, profile="tiny", seeds=2, out=tmp_path_factory.mktemp("reference"), workers=2,
                          progress=False, log=quiet)


def stable(obj):
    """``obj`` without what depends on the clock or the machine."""
    if isinstance(obj, dict):
        return {k: stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [stable(v) for v in obj]
    return obj


def quiet(line: str) -> None:
    pass


def test_workers_have_one_blas_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = dict(os.environ)
    with LocalBackend(1) as backend:
        info = backend.submit(threadpoolctl.threadpool_info).result(timeout=60)
        env = {k: backend.submit(os.getenv, k).result(timeout=60) for k in SINGLE_THREAD_ENV}
    blas = [pool for pool in info if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
    assert set(env.values()) == {"1"} and dict(os.environ) == before  # this process keeps its own settings


@pytest.mark.slow
def test_same_numbers_after_an_interruption_and_resume(tmp_path, reference):
    finished = []

    def interrupt(variant, seed):
        finished.append((variant, seed))
        if len(finished) == 2:
            raise KeyboardInterrupt  # as Ctrl-C while the other runs are going

    out = tmp_path / "c"
    status = run_experiment(NAME, profile="tiny", seeds=2, out=out, workers=1, progress=False, log=quiet,
                            on_run=interrupt)
    assert status == {"status": "interrupted", "done": 2, "total": 6}
    kept = sorted(p.name for p in (out / NAME / "runs").iterdir())
    assert kept == sorted(f"{v}-seed{s}.json" for v, s in finished) and not (out / NAME / "results.json").exists()

    rerun = []
    resumed = run_experiment(NAME, profile="tiny", seeds=2, out=out, workers=2, progress=False, log=quiet,
                             resume=True, on_run=lambda v, s: rerun.append((v, s)))
    assert len(rerun) == 4 and not set(rerun) & set(finished)
    # another pool size and schedule, the same numbers
    assert resumed["timing"]["runs_resumed"] == 2 and stable(resumed) == stable(reference)
    assert stable(read_json(out / NAME / "results.json")) == stable(reference)

    with pytest.raises(ValueError, match="different config.*epochs: 1 then, 2 now"):
        run_experiment(NAME, profile="tiny", seeds=2, out=out, workers=1, progress=False, log=quiet, resume=True,
                       overrides={"epochs": 2})


@pytest.mark.slow
def test_ray_backend_gives_the_local_numbers(tmp_path, reference):
    ray = pytest.importorskip("ray")
    on_ray = run_experiment(NAME, profile="tiny", seeds=2, out=tmp_path, backend="ray", workers=2, progress=False,
                            log=quiet)
    assert not ray.is_initialized()  # the local cluster it started is shut down
    assert on_ray["timing"]["backend"] == "ray" and stable(on_ray) == stable(reference)


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cnnkit", "lab", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=240, **kw)


def test_cli_list_and_errors(tmp_path):
    out = _cli("list")
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and len(lines) == 8
    assert [line.split()[0] for line in lines] == ["stacking", "dilation", "separable", "pooling", "normalization",
                                                    "activation", "text-head", "inductive-bias"]
    for args, message in [(("run", "nope"), "unknown experiment 'nope'"),
                          (("run", NAME, "--set", "nope=1"), "unknown config key 'nope'"),
                          (("report", "--out", str(tmp_path / "none")), "no results folder")]:
        out = _cli(*args)
        assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_cli_run_interrupt_resume_and_report(tmp_path):
    pytest.importorskip("mnist1d", reason="the MNIST-1D experiments need the lab extra")
    out = tmp_path / "runs"
    args = ("run", NAME, "--tiny", "--seeds", "3", "--set", "epochs=40", "--out", str(out), "--workers", "1",
            "--no-progress")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "cnnkit", "lab", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = out / NAME / "runs"

    def finished() -> list:  # a run's file once written (atomic writes go through a hidden .tmp first)
        return [p for p in runs.iterdir() if not p.name.startswith(".")] if runs.is_dir() else []

    deadline = time.monotonic() + 120
    while not finished() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # Ctrl-C after the first finished run
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    kept = len(finished())
    assert not [p for p in runs.iterdir() if p.name.startswith(".")]  # no temporary file left behind
    assert 1 <= kept < 9 and "continue with --resume" in stdout and "Traceback" not in stderr

    done = _cli(*args, "--resume")
    assert done.returncode == 0, done.stderr
    result = read_json(out / NAME / "results.json")
    assert result["timing"]["runs_resumed"] == kept and all(len(v["runs"]) == 3 for v in result["variants"])

    doc = tmp_path / "docs" / "LAB.md"
    rep = _cli("report", "--out", str(out), "--doc", str(doc))
    assert rep.returncode == 0, rep.stderr
    text = doc.read_text()
    assert (tmp_path / "docs" / "lab" / f"{NAME}.png").is_file() and f"](lab/{NAME}.png)" in text
    for v in result["variants"]:  # every number comes from results.json
        assert f"{100 * v['mean_accuracy']:.2f} ± {100 * v['std_accuracy']:.2f} (n=3)" in text
    for c in result["verdict"]["checks"]:
        assert c["detail"] in text and c["status"] in text
    assert f"cnnkit lab run {NAME} --tiny --seeds 3" in text and "Not run yet: stacking" in text
    assert build_report(load_results(out), {NAME: f"lab/{NAME}.png"}) == text  # the same input, the same report
