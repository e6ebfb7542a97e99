"""topoact.allocator: malloc thresholds that let a batch reuse the previous batch's buffers.

Each case runs in a fresh interpreter, since the thresholds are process-wide and set once.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt is Linux-only")

#: page faults of 40 allocate-touch-free cycles of a 4 MiB buffer, before and after tune_malloc()
FAULTS = textwrap.dedent("""
    import json, resource, numpy as np
    from topoact.allocator import tune_malloc, malloc_tuned

    def faults():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(40):
            buffer = np.ones(1 << 20, dtype=np.float32)   # 4 MiB, every page written
            del buffer
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    first = faults()
    returned = tune_malloc()
    print(json.dumps({"before": first, "after": faults(), "returned": returned, "tuned": malloc_tuned()}))
""")


def _run(code: str, **env: str) -> str:
    environ = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536", **env}  # what Dask gives its workers
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True,
                          check=True, timeout=120).stdout.strip().splitlines()[-1]


def test_buffers_are_reused_after_tuning_under_dasks_trim_setting():
    import json

    out = json.loads(_run(FAULTS))
    assert out["returned"] and out["tuned"]
    # under MALLOC_TRIM_THRESHOLD_ each cycle maps a fresh 4 MiB block (1,024 pages); once tuned
    # the block is reused and almost never faulted in again
    assert out["before"] > 40 * 500, out
    assert out["after"] < out["before"] / 10, out


def test_opt_out_leaves_malloc_alone():
    import json

    out = json.loads(_run(FAULTS, TOPOACT_MALLOC_TUNING="0"))
    assert not out["returned"] and not out["tuned"]
    assert out["after"] > out["before"] / 2, out


def test_collection_tunes_malloc():
    code = textwrap.dedent("""
        import tempfile, torch
        from torch import nn
        import topoact
        from topoact.allocator import malloc_tuned

        net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 8))
        bundle = topoact.load_model(net, input_size=(32, 32), class_names=[str(i) for i in range(8)])
        before = malloc_tuned()
        with tempfile.TemporaryDirectory() as out:
            topoact.collect(bundle, "shapes:6", ["0"], out=out + "/run", batch_size=4, progress=False, num_workers=0)
        print(before, malloc_tuned())
    """)
    assert _run(code) == "False True"
