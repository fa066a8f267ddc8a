"""cnnkit's thread layer (cnnkit/_core/fast/threads.py): the thread-count API and its
environment variable, single-threaded BLAS, and the semantics of a parallel region
(order of results, exceptions, nesting, concurrent callers, fork)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cnnkit
from cnnkit._core.fast import threads

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def num_threads():
    """Set cnnkit's thread count inside a test; restored afterwards."""
    old = cnnkit.get_num_threads()
    yield cnnkit.set_num_threads
    cnnkit.set_num_threads(old)


def _python(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != threads.ENV_VAR}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=120)


# ------------------------------------------------------------------ the API
def test_set_and_get(num_threads):
    num_threads(3)
    assert cnnkit.get_num_threads() == 3
    num_threads(1)
    assert cnnkit.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2", None])
def test_set_num_threads_rejects(bad, num_threads):
    with pytest.raises(ValueError, match=r"set_num_threads: n must be a positive integer, got"):
        num_threads(bad)


def test_default_is_the_available_cores_and_env_overrides():
    """The cores available (1 without threadpoolctl, see below); CNNKIT_NUM_THREADS overrides."""
    code = "import os, cnnkit; print(cnnkit.get_num_threads(), len(os.sched_getaffinity(0)))"
    got, cores = _python(code).stdout.split()
    assert got == (cores if threads.blas_controllable() else "1")
    assert _python(code, CNNKIT_NUM_THREADS="3").stdout.split()[0] == "3"
    bad = _python(code, CNNKIT_NUM_THREADS="many")
    assert bad.returncode != 0
    assert "environment variable CNNKIT_NUM_THREADS must be a positive integer, got 'many'" in bad.stderr


@pytest.mark.skipif(not threads.blas_controllable(), reason="threadpoolctl is not installed")
def test_blas_is_single_threaded_after_first_use():
    code = ("import numpy as np, cnnkit, cnnkit.functional as F\n"
            "from threadpoolctl import threadpool_info\n"
            "F.conv2d(np.ones((2, 3, 8, 8), np.float32), np.ones((4, 3, 3, 3), np.float32))\n"
            "print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[1]"


def test_without_threadpoolctl_the_default_is_one_thread_and_results_hold():
    """A NumPy-only install cannot limit BLAS: cnnkit then defaults to 1 thread (NumPy's own
    behaviour) and set_num_threads still works, with the same results."""
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'threadpoolctl': raise ImportError('blocked')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import numpy as np, cnnkit, cnnkit.functional as F\n"
            "x = np.random.default_rng(0).standard_normal((16, 8, 24, 24)).astype(np.float32)\n"
            "w = np.random.default_rng(1).standard_normal((8, 8, 3, 3)).astype(np.float32)\n"
            "n = cnnkit.get_num_threads()\n"
            "one = F.conv2d(x, w, padding=1).numpy()\n"
            "cnnkit.set_num_threads(3)\n"
            "three = F.conv2d(x, w, padding=1).numpy()\n"
            "print(n, np.array_equal(one, three))")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "True"]


# ------------------------------------------------------------------ regions
def test_results_in_task_order_on_several_threads(num_threads):
    num_threads(3)
    seen = set()

    def task(i):
        seen.add(threading.get_ident())
        time.sleep(0.01)  # releases the GIL: every thread gets some tasks
        return i * i

    assert threads.run(task, 9) == [i * i for i in range(9)]
    assert len(seen) >= 2, "a region with sleeping tasks ran on one thread only"


def test_first_exception_by_index_is_raised_after_all_tasks(num_threads):
    num_threads(2)
    done = []

    def task(i):
        time.sleep(0.002)
        done.append(i)
        if i in (3, 5):
            raise KeyError(i)
        return i

    with pytest.raises(KeyError) as info:
        threads.run(task, 8)
    assert info.value.args == (3,)
    assert sorted(done) == list(range(8))
    assert threads.run(lambda i: i, 4) == [0, 1, 2, 3]  # the pool still works


def test_nested_and_concurrent_regions_are_correct(num_threads):
    num_threads(2)
    inner = threads.run(lambda i: threads.run(lambda j: (i, j, threads.in_task()), 3), 4)
    assert inner == [[(i, j, True) for j in range(3)] for i in range(4)]
    results = {}

    def caller(k):
        results[k] = threads.run(lambda i: (k, i), 50)

    callers = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert results == {k: [(k, i) for i in range(50)] for k in range(3)}


def test_single_thread_runs_in_the_caller(num_threads):
    num_threads(1)
    me = threading.get_ident()
    assert threads.run(lambda i: threading.get_ident(), 5) == [me] * 5


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_fresh_pool(num_threads):
    num_threads(2)
    assert threads.run(lambda i: i, 4) == [0, 1, 2, 3]  # the parent's pool exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a region must not wait for the parent's (absent) workers
        try:
            ok = threads.run(lambda i: time.sleep(0.001) or i, 6) == list(range(6))
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    os.close(read)
