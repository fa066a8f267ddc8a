"""cnnkit's worker threads: the thread count, single-threaded BLAS, and parallel regions.

A *parallel region* runs ``n`` independent tasks ``fn(0) ... fn(n - 1)`` on a pool of
persistent worker threads plus the calling thread, and returns their results in task
order. NumPy releases the GIL inside copies, ufunc loops and matmul, so the tasks' array
work overlaps; only their Python glue is serialised.

* **Thread count.** :func:`get_num_threads` / :func:`set_num_threads` (PyTorch's names);
  the default comes from the environment variable ``CNNKIT_NUM_THREADS``, else from the
  cores this process may run on (``len(os.sched_getaffinity(0))``).
* **BLAS.** Every task calls BLAS itself, so BLAS must not start threads of its own:
  at the first parallel region cnnkit sets NumPy's BLAS (OpenBLAS, MKL, BLIS) to one
  thread with ``threadpoolctl`` (a process-wide setting; NumPy matrix products outside
  cnnkit then run on one core too). Without ``threadpoolctl`` (a NumPy-only install)
  cnnkit cannot change BLAS's threads, so its default is **1 thread** there, which keeps
  the behaviour of a plain NumPy program (BLAS threads inside large matrix products);
  ``set_num_threads(n)`` still works, and results stay correct, but BLAS's and cnnkit's
  threads may then compete for the cores. ``pip install threadpoolctl`` (the ``threads``
  extra, part of ``all``) enables the default.
* **Memory.** When the pool starts, glibc's trim and mmap thresholds are raised (see
  :func:`_keep_freed_memory`; not when ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``
  or ``MALLOC_TOP_PAD_`` is set): freed memory is kept for reuse instead of being faulted in
  again by every call of every thread.
* **Determinism.** How a problem is cut into tasks depends on its sizes only, never on the
  thread count, and tasks' partial results are combined by the caller in task order; which
  thread runs a task does not change its arithmetic. Results are therefore bitwise
  identical for every thread count (tested at 1, 2 and 3 threads, and without
  ``threadpoolctl`` at 1 and 3).

A region started from inside a task, or while another thread's region is running, runs
its tasks serially in the calling thread (same tasks, same results). After ``fork`` the
child starts a fresh pool.
"""
from __future__ import annotations

import itertools
import numbers
import os
import threading
from typing import Any, Callable, Sequence

ENV_VAR = "CNNKIT_NUM_THREADS"

_state_lock = threading.Lock()
_num_threads: int | None = None
_pool: "_Pool | None" = None
_blas_done = False
_local = threading.local()


# ---------------------------------------------------------------- the thread count
def default_num_threads() -> int:
    """The cores available to this process (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def blas_controllable() -> bool:
    """True when ``threadpoolctl`` is installed, so cnnkit can run BLAS single-threaded."""
    from ..._optional import is_available

    return is_available("threadpoolctl")


def _check_count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _from_environment() -> int | None:
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"environment variable {ENV_VAR} must be a positive integer, got {raw!r}") from None
    return _check_count(value, f"environment variable {ENV_VAR}")


def get_num_threads() -> int:
    """The number of threads cnnkit's parallel regions use (the calling thread included).

    Set by :func:`set_num_threads`; initially ``CNNKIT_NUM_THREADS`` if set, else the cores
    available to the process, or 1 when ``threadpoolctl`` is missing (see the module docstring).
    """
    global _num_threads
    if _num_threads is None:
        with _state_lock:
            if _num_threads is None:
                env = _from_environment()
                if env is not None:
                    _num_threads = env
                else:
                    _num_threads = default_num_threads() if blas_controllable() else 1
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (``n >= 1``; the calling thread is one of them), as ``torch.set_num_threads``.

    Results do not depend on ``n``: only the speed does.

    >>> import cnnkit
    >>> old = cnnkit.get_num_threads()
    >>> cnnkit.set_num_threads(1); cnnkit.get_num_threads()
    1
    >>> cnnkit.set_num_threads(old)
    """
    global _num_threads
    n = _check_count(n, "set_num_threads: n")
    with _state_lock:
        _num_threads = n


def ensure_single_threaded_blas() -> None:
    """Once per process: BLAS to one thread (every worker calls BLAS on its own)."""
    global _blas_done
    if _blas_done:
        return
    with _state_lock:
        if not _blas_done:
            if blas_controllable():
                from threadpoolctl import threadpool_limits

                threadpool_limits(limits=1, user_api="blas")
            _blas_done = True


# ---------------------------------------------------------------- the pool
class _Job:
    """One parallel region: tasks handed out by an atomic counter, results kept by index."""

    def __init__(self, fn: Callable[[int], Any], n: int):
        self.fn, self.n = fn, n
        self.next_index = itertools.count().__next__  # atomic in CPython
        self.results: list[Any] = [None] * n
        self.errors: dict[int, BaseException] = {}
        self.finished = 0
        self.active = 0
        self.cancelled = False
        self.cv = threading.Condition()

    def run(self) -> None:
        with self.cv:
            self.active += 1
        try:
            while not self.cancelled:
                i = self.next_index()
                if i >= self.n:
                    break
                try:
                    self.results[i] = self.fn(i)
                except BaseException as exc:  # re-raised by the caller of the region
                    self.errors[i] = exc
                with self.cv:
                    self.finished += 1
                    if self.finished == self.n:
                        self.cv.notify_all()
        finally:
            with self.cv:
                self.active -= 1
                self.cv.notify_all()

    def wait(self) -> None:
        with self.cv:
            while not (self.finished == self.n or (self.cancelled and self.active == 0)):
                self.cv.wait()


class _Pool:
    """``size - 1`` daemon worker threads waiting for jobs; the caller is the last worker."""

    def __init__(self, size: int):
        self.size = size
        self.busy = threading.Lock()  # one region at a time
        self._cv = threading.Condition()
        self._job: _Job | None = None
        self._generation = 0
        self._threads = [threading.Thread(target=self._work, name=f"cnnkit-worker-{i}", daemon=True)
                         for i in range(size - 1)]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        _local.in_task = True
        seen = 0
        while True:
            with self._cv:
                while self._generation == seen:
                    self._cv.wait()
                seen, job = self._generation, self._job
            if job is None:  # shut down
                return
            job.run()

    def run(self, job: _Job) -> None:
        with self._cv:
            self._job = job
            self._generation += 1
            self._cv.notify_all()
        _local.in_task = True
        try:
            job.run()
            job.wait()
        except BaseException:
            job.cancelled = True
            job.wait()
            raise
        finally:
            _local.in_task = False

    def shutdown(self) -> None:
        with self._cv:
            self._job = None
            self._generation += 1
            self._cv.notify_all()


#: glibc's thresholds while the pool runs (unless set in the environment): memory freed by
#: any thread is kept for reuse up to this much instead of being returned to the kernel.
MALLOC_KEEP_BYTES = 64 * 2**20


def _keep_freed_memory() -> None:
    """Raise glibc's trim and mmap thresholds. With worker threads, glibc gives each thread an
    arena and trims it as soon as a large block is freed, so the next call faults every page
    in again: a LeNet-5 step on 2 threads took ~1,400 page faults and 4-5 ms of system time
    (0 at 1 thread; BENCHMARKS.md). A process-wide setting, like ``MALLOC_TRIM_THRESHOLD_``."""
    if any(os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_trim_threshold, MALLOC_KEEP_BYTES)
    mallopt(m_mmap_threshold, min(MALLOC_KEEP_BYTES, 32 * 2**20))  # glibc's maximum


def _get_pool(size: int) -> _Pool:
    global _pool
    with _state_lock:
        if _pool is None or _pool.size != size:
            if _pool is not None:
                _pool.shutdown()
            else:
                _keep_freed_memory()
            _pool = _Pool(size)
        return _pool


def _after_fork_in_child() -> None:
    global _pool
    _pool = None  # the parent's worker threads do not exist in the child
    _local.__dict__.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def in_task() -> bool:
    """True inside a task of a parallel region (nested regions run serially)."""
    return getattr(_local, "in_task", False)


def run(fn: Callable[[int], Any], n: int, parallel: bool = True) -> list[Any]:
    """``[fn(0), ..., fn(n - 1)]``, the calls spread over :func:`get_num_threads` threads.

    ``parallel=False`` (e.g. tasks too small to be worth a hand-off) runs them in order in
    the calling thread; so does a nested region, or one started while another is running.
    The first exception (by task index) is re-raised after every started task finished.
    """
    ensure_single_threaded_blas()
    threads = get_num_threads()
    if n <= 1 or threads == 1 or not parallel or in_task():
        return [fn(i) for i in range(n)]
    pool = _get_pool(threads)
    if not pool.busy.acquire(blocking=False):
        return [fn(i) for i in range(n)]
    try:
        job = _Job(fn, n)
        pool.run(job)
    finally:
        pool.busy.release()
    if job.errors:
        raise job.errors[min(job.errors)]
    return job.results


def run_tasks(tasks: Sequence[Callable[[], Any]], parallel: bool = True) -> list[Any]:
    """:func:`run` over a list of argument-free callables."""
    return run(lambda i: tasks[i](), len(tasks), parallel)
