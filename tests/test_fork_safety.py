"""A process that ran numba's parallel kernels (UMAP, the persistence certificate) can still fork
workers: the app forks its background jobs from the server process."""
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
