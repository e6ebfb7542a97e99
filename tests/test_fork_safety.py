"""The app forks its background jobs from a threaded server: a forked child must not hang on
anything the server held at the fork (numba's parallel kernels, the np.load lock, a Run property's
first computation, OpenBLAS's threaded products)."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_child_forked_after_a_parallel_kernel_runs_it_too():
    code = textwrap.dedent("""
        import os
        import numpy as np
        from scipy.spatial.distance import cdist
        from topoact.topology.certificate import cone_free_edges

        X = np.random.default_rng(0).normal(size=(120, 6))
        D = cdist(X, X)
        T = float(np.median(D))
        parent = cone_free_edges(D, T, kernel="numba")
        pid = os.fork()
        if pid == 0:
            child = cone_free_edges(D, T, kernel="numba")
            same = all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(parent, child))
            os._exit(0 if same else 3)
        _, status = os.waitpid(pid, 0)
        import numba
        print(numba.threading_layer(), os.waitstatus_to_exitcode(status))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={k: v for k, v in __import__("os").environ.items() if k != "NUMBA_THREADING_LAYER"})
    assert out.returncode == 0, out.stderr
    layer, child_exit = out.stdout.split()
    assert layer == "workqueue"
    assert child_exit == "0", out.stderr


def _child_exit_after_a_fork_inside(setup: str, holder: str, check: str) -> int:
    """Exit code of a child forked while a thread runs ``holder()`` (which sets ``entered`` and
    waits for ``release``), the child evaluating ``check``: 0 when true, -14 when it hung."""
    code = textwrap.dedent(setup) + textwrap.dedent(f"""
        thread = threading.Thread(target={holder})
        thread.start()
        entered.wait(30)
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)                # a hang ends the child with SIGALRM, not the test run
            os._exit(0 if {check} else 3)
        release.set()
        thread.join()
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


def test_a_child_forked_while_another_thread_loads_an_npy_file_can_load_too(tmp_path):
    """The app forks jobs while request threads read the run: the np.load lock must not be
    inherited held (the Layers tab's depth job hung on it in a full suite run)."""
    setup = f"""
        import os, signal, threading
        import numpy as np
        from topoact import npyfile

        path = {str(tmp_path / "x.npy")!r}
        np.save(path, np.arange(6.0))
        entered, release = threading.Event(), threading.Event()

        def reader():                       # a request thread inside npyfile.load at fork time
            with npyfile._LOCK:
                entered.set()
                release.wait(30)
    """
    assert _child_exit_after_a_fork_inside(setup, "reader", "npyfile.load(path).sum() == 15.0") == 0


def test_a_child_forked_while_another_thread_computes_a_run_property_can_compute_it_too():
    """Run's cached properties take no lock: on Python 3.11 functools' holds one per property
    class-wide during a first computation, and a child forked meanwhile would inherit it held."""
    from topoact.store import Run, cached_property

    assert all(isinstance(Run.__dict__[name], cached_property) for name in ("labels", "predictions", "attributes"))
    setup = """
        import os, signal, threading
        from topoact.store import cached_property

        entered, release = threading.Event(), threading.Event()

        class Box:
            def __init__(self, slow):
                self.slow = slow

            @cached_property
            def value(self):
                if self.slow:               # a request thread reading a run at fork time
                    entered.set()
                    release.wait(30)
                return 42
    """
    assert _child_exit_after_a_fork_inside(setup, "lambda: Box(True).value", "Box(False).value == 42") == 0


def test_a_job_forked_while_a_server_thread_multiplies_large_matrices_runs_threaded_blas(tmp_path):
    """OpenBLAS's threaded products hold a process-wide lock: a job forked while a request thread
    was inside one inherited it held, and hung in its own first large product (the Layers tab's
    depth job, in ``StreamingCKA.fit``). Once the app has its job manager, the server's BLAS runs
    on one thread and a forked job gets its threads back."""
    setup = f"""
        import os, signal, threading
        import numpy as np
        from threadpoolctl import threadpool_info
        from topoact.app.background import make_manager

        threads_before = max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
        make_manager({str(tmp_path)!r})
        entered, release = threading.Event(), threading.Event()
        A = np.random.default_rng(0).normal(size=(1500, 1500))
        Z = np.random.default_rng(1).normal(size=(4000, 500))

        def multiply():                     # a request thread in large products (a PCA) at fork time
            while not release.is_set():
                A.T @ A
                entered.set()

        def job_blas_works():
            threads = max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
            return threads == threads_before and np.allclose((Z.T @ Z)[0, 0], (Z[:, 0] ** 2).sum())
    """
    assert _child_exit_after_a_fork_inside(setup, "multiply", "job_blas_works()") == 0
