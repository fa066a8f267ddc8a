"""Run an experiment: schedule its runs (variant x seed) on a backend, keep each finished run,
then assemble ``results.json`` and ``figure.png`` (:mod:`cnnkit.lab.results`).

Backends (the runs are independent, so any pool of processes can take them):

* ``local`` (default): a ``concurrent.futures.ProcessPoolExecutor`` of ``workers`` processes
  (spawn context), each with one BLAS/OpenMP thread: the thread variables of
  :data:`SINGLE_THREAD_ENV` are set when the workers start, before they import NumPy;
* ``ray``: Ray tasks of one CPU each (``pip install "cnnkit[lab]"``), on the cluster at
  ``$RAY_ADDRESS`` (where cnnkit must be importable) or on a local one started with
  ``ray.init(num_cpus=workers)``, which is shut down afterwards.

Every run calls the same :func:`execute_run` with one BLAS thread and its own seed
(:func:`cnnkit.lab.experiment.run_seed`), so the numbers are the same whichever backend
and worker ran it. A run's file is written as soon as it finishes; on Ctrl-C the
unfinished runs are cancelled and ``--resume`` later runs only those.
"""
from __future__ import annotations

import contextlib
import datetime
import logging
import multiprocessing
import os
import signal
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Callable, Iterator

from .._optional import require
from ..training.progress import Progress
from .experiment import PROFILES, Experiment
from .figure import render
from .results import (FIGURE_FILE, RESULTS_FILE, RunStore, command_line, machine_info, summarize_variant,
                      write_json, SCHEMA)

BACKENDS = ("local", "ray")
#: Set in every worker before NumPy loads: one thread per worker, so that ``workers``
#: workers use ``workers`` cores and a run's arithmetic never depends on a thread count.
SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                                            "BLIS_NUM_THREADS")}
DEFAULT_OUT = Path("runs") / "lab"

Job = tuple[str, int]  # (variant, seed)


def execute_run(name: str, variant: str, seed: int, config: dict) -> dict:
    """One run of experiment ``name`` (in a worker): the experiment's ``run`` plus its wall time."""
    from .experiments import get_experiment

    t0 = time.perf_counter()
    run = get_experiment(name).run(variant, seed, config)
    run["seed"] = int(seed)
    run["wall_time_s"] = time.perf_counter() - t0
    return run


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it cancels the runs


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for processes started inside the block; restore them after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class LocalBackend:
    """``workers`` spawned processes on this machine, one BLAS thread each."""

    name = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> "LocalBackend":
        self.executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_init)
        return self

    def submit(self, fn: Callable, *args):
        """``fn(*args)`` in a worker (a future); workers started here get :data:`SINGLE_THREAD_ENV`."""
        with _environment(SINGLE_THREAD_ENV):  # a worker process starts during a submit
            return self.executor.submit(fn, *args)

    def run(self, name: str, config: dict, jobs: list[Job]) -> Iterator[tuple[Job, dict]]:
        """Yield ``(job, run)`` as the runs finish (in any order)."""
        futures = {self.submit(execute_run, name, v, s, config): (v, s) for v, s in jobs}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                yield futures[f], f.result()

    def __exit__(self, exc_type, *exc) -> None:
        if self.executor is None:
            return
        if exc_type is None:
            self.executor.shutdown(wait=True)
            return
        self.executor.shutdown(wait=False, cancel_futures=True)
        processes = getattr(self.executor, "_processes", None) or {}
        for p in list(processes.values()):  # runs in progress are lost anyway: stop them now
            with contextlib.suppress(Exception):
                p.terminate()
        for p in list(processes.values()):
            with contextlib.suppress(Exception):
                p.join(timeout=5)


class RayBackend:
    """Ray tasks of one CPU each; see the module docstring."""

    name = "ray"

    def __init__(self, workers: int):
        self.workers, self.ray, self.started, self.refs = workers, None, False, {}

    def __enter__(self) -> "RayBackend":
        ray = self.ray = require("ray", extra="lab", purpose="--backend ray")
        if ray.is_initialized():
            return self
        env = dict(SINGLE_THREAD_ENV)
        address = os.environ.get("RAY_ADDRESS")
        common = dict(log_to_driver=False, logging_level=logging.WARNING)
        if address:
            ray.init(address=address, runtime_env={"env_vars": env}, **common)
        else:  # a local cluster: its workers import this cnnkit
            package_root = str(Path(__file__).resolve().parents[2])
            env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
            env.update({k: os.environ[k] for k in ("CNNKIT_DATA", "XDG_CACHE_HOME") if k in os.environ})
            ray.init(num_cpus=self.workers, include_dashboard=False, object_store_memory=128 * 1024 ** 2,
                     runtime_env={"env_vars": env}, **common)
        self.started = True
        return self

    def run(self, name: str, config: dict, jobs: list[Job]) -> Iterator[tuple[Job, dict]]:
        ray = self.ray
        task = ray.remote(num_cpus=1, max_retries=0)(execute_run)
        self.refs = {task.remote(name, v, s, config): (v, s) for v, s in jobs}
        while self.refs:
            ready, _ = ray.wait(list(self.refs), num_returns=1)
            for ref in ready:
                job = self.refs.pop(ref)
                yield job, ray.get(ref)

    def __exit__(self, exc_type, *exc) -> None:
        ray = self.ray
        if ray is None:
            return
        try:
            for ref in self.refs:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
        finally:
            self.refs = {}
            if self.started:
                ray.shutdown()


def make_backend(backend: str, workers: int):
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    return (LocalBackend if backend == "local" else RayBackend)(workers)


def assemble(exp: Experiment, config: dict, seeds: list[int], runs: dict[Job, dict], timing: dict,
             command: str) -> dict:
    """``results.json``'s object from the finished runs (see :mod:`cnnkit.lab.results`)."""
    variants = []
    for variant in exp.variants(config):
        info = exp.describe(variant, config)
        variants.append(summarize_variant(variant, info, [runs[(variant, s)] for s in seeds]))
    result = {"schema": SCHEMA, "experiment": exp.name, "claim": exp.claim, "quote": exp.quote,
              "measures": exp.measures, "config": config, "seeds": list(seeds), "variants": variants,
              "extra": exp.analyse(config), "timing": timing, "machine": machine_info(), "command": command}
    result["verdict"] = exp.verdict(result)
    return result


def run_experiment(name: str, *, profile: str = "full", seeds: int | None = None, out: str | os.PathLike = DEFAULT_OUT,
                   backend: str = "local", workers: int = 2, resume: bool = False, overrides: dict | None = None,
                   progress: bool = True, log: Callable[[str], None] = print, command: str | None = None,
                   on_run: Callable[[str, int], None] | None = None) -> dict:
    """Run experiment ``name`` and write ``out/name/results.json`` and ``figure.png``.

    ``profile``: ``full``, ``quick`` or ``tiny``; ``seeds``: how many (default: the profile's);
    ``overrides``: config keys to change. Returns the results object, or
    ``{"status": "interrupted", "done", "total"}`` after Ctrl-C (finished runs are kept;
    ``resume=True`` runs only the missing ones). ``on_run(variant, seed)`` is called after
    each run is saved.
    """
    from .experiments import get_experiment

    exp = get_experiment(name)
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    config = exp.config(profile, overrides)
    n_seeds = exp.default_seeds(profile) if seeds is None else seeds
    if not isinstance(n_seeds, int) or isinstance(n_seeds, bool) or n_seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    limit = exp.max_seeds(config)
    if limit is not None and n_seeds > limit:
        raise ValueError(f"{name}: at most {limit} seeds with this config (one per fold), got {n_seeds}")
    seed_list = list(range(n_seeds))
    jobs = [(v, s) for v in exp.variants(config) for s in seed_list]
    store = RunStore(Path(out) / name, name)
    be = make_backend(backend, workers)
    if resume:
        done = store.load(config, jobs)
    else:
        store.clear()
        done = {}
    todo = [j for j in jobs if j not in done]
    if todo:
        exp.prepare(config)
    log(f"{name}: {len(jobs)} runs ({len(exp.variants(config))} variants x {n_seeds} seeds, {profile} profile)"
        + (f", {len(done)} already done" if done else "") + f", {backend} backend, {workers} workers")
    started, t0 = datetime.datetime.now().astimezone().isoformat(timespec="seconds"), time.perf_counter()
    bar = Progress(len(jobs), name, enabled=progress, initial=len(done), unit="run", leave=True)
    interrupted = False
    try:
        if todo:
            with be:
                for (variant, seed), run in be.run(name, config, todo):
                    store.save(variant, seed, config, run)
                    done[(variant, seed)] = run
                    bar.update(1)
                    if on_run is not None:
                        on_run(variant, seed)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    if interrupted:
        log(f"{name}: interrupted; {len(done)} of {len(jobs)} runs kept in {store.runs_dir} "
            f"(continue with --resume)")
        return {"status": "interrupted", "done": len(done), "total": len(jobs)}
    timing = {"wall_s": time.perf_counter() - t0, "runs_wall_s": sum(r["wall_time_s"] for r in done.values()),
              "runs_resumed": len(jobs) - len(todo), "backend": backend, "workers": workers, "started": started,
              "finished": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    result = assemble(exp, config, seed_list, done, timing, command if command is not None else command_line())
    timing["wall_s"] = time.perf_counter() - t0  # runs, summaries and analyses (result["timing"] is this dict)
    store.folder.mkdir(parents=True, exist_ok=True)
    write_json(store.folder / RESULTS_FILE, result)
    render(exp.panels(result), store.folder / FIGURE_FILE, title=f"{name}: {exp.claim}")
    log(f"{name}: {result['verdict']['summary']}")
    log(f"wrote {store.folder / RESULTS_FILE} and {store.folder / FIGURE_FILE} ({timing['wall_s']:.0f} s)")
    return result
