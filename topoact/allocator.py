"""glibc ``malloc`` thresholds suited to a forward pass's large, short-lived buffers.

A batch's forward pass allocates and frees activation buffers of 0.1-50 MB. glibc serves a block
above ``M_MMAP_THRESHOLD`` with a fresh ``mmap`` and unmaps it on ``free``, so the next batch
faults its pages in again (zero-filled by the kernel: system CPU time). glibc normally raises that
threshold when such blocks are freed (up to 32 MiB), but setting ``M_TRIM_THRESHOLD`` turns the
adaptation off, and Dask sets it for every worker it spawns (``MALLOC_TRIM_THRESHOLD_=65536`` in
``distributed.nanny.pre-spawn-environ``): a Dask worker then maps and unmaps every block over
128 KiB. Measured on this project's 2-core machine (torchvision resnet18, 224 px, batch 16, one
thread, five forward passes; user time 3.3 s in all three cases):

========================================  ============  ============
malloc setting                            system CPU    page faults
========================================  ============  ============
Dask worker (``MALLOC_TRIM_THRESHOLD_``)  1.79 s        843,000
glibc default                             0.59 s        271,000
:func:`tune_malloc`                       0.13 s        69,000
========================================  ============  ============

:func:`tune_malloc` fixes the two thresholds at the values glibc's own adaptation would reach at
its ceiling for the mmap threshold (32 MiB), with a trim threshold above a batch's working set
(256 MiB): freed buffers are reused instead of being returned to the kernel and faulted in again.
The price is that up to 256 MiB of freed memory may stay with the process. It is applied by
collection (in-process and on Dask workers) and before every Dask task topoact submits
(:func:`topoact.distributed.tasks.map_tasks`: a Mapper fit of 300,000 x 512 rows on
LocalCluster(2) took 57 s without it, 26 s with it), on Linux with glibc only;
``TOPOACT_MALLOC_TUNING=0`` leaves malloc alone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading

__all__ = ["tune_malloc", "malloc_tuned", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

log = logging.getLogger(__name__)

#: glibc's ceiling for its adaptive mmap threshold on 64-bit systems
MMAP_THRESHOLD = 32 * 1024 * 1024
#: above a batch's working set, so a batch's freed buffers stay in the heap for the next one
TRIM_THRESHOLD = 256 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3      # mallopt parameter numbers (malloc.h)

_lock = threading.Lock()
_tuned = False


def malloc_tuned() -> bool:
    """Whether :func:`tune_malloc` changed this process's malloc thresholds."""
    return _tuned


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds for batch-after-batch forward passes (once per process).

    Returns
    -------
    bool
        True when the thresholds are (now or already) set; False on a platform without glibc's
        ``mallopt`` or when ``TOPOACT_MALLOC_TUNING=0``.
    """
    global _tuned
    with _lock:
        if _tuned:
            return True
        if os.environ.get("TOPOACT_MALLOC_TUNING", "1").strip() == "0" or not sys.platform.startswith("linux"):
            return False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):      # musl and other libcs have no mallopt
            return False
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        # mallopt returns 1 on success; both or neither, so a half-applied setting is not reported as done
        _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        log.debug("malloc thresholds: mmap %d, trim %d (%s)", MMAP_THRESHOLD, TRIM_THRESHOLD,
                  "set" if _tuned else "refused")
        return _tuned
