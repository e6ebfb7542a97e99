"""umap-learn with numba's on-disk cache switched on for its compiled functions.

umap-learn compiles most of its numba functions without ``cache=True``, so every new process
compiles them again. On 5,000 CIFAR ResNet-20 ``layer1`` vectors a UMAP fit took 12.5-15.8 s in a
fresh process, 7-9 s of it compiling; every ``topoact mapper`` command and every app start that
computes an embedding paid it. :func:`import_umap` turns numba's cache on for the module-level
numba functions of umap-learn and pynndescent (``Dispatcher.enable_caching``). numba then stores
their machine code beside their sources, or in its user cache directory when that is read-only
(``NUMBA_CACHE_DIR`` moves it). The cache is keyed by source file, signature and CPU, so a later
process loads it instead of compiling: the same fit then took 5.3-6.4 s. The embedding is the
same (tested). Functions pynndescent builds at run time (closures) still compile each time.
"""
from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["import_umap"]

# ``import umap`` imports every module concerned, so one pass is enough. No lock: two threads
# doing it at once only switch a dispatcher twice, and a lock held at a fork would hang a job
_switched = False


def import_umap() -> ModuleType:
    """``import umap``, with numba's disk cache on for umap-learn's and pynndescent's functions.

    Returns
    -------
    module
        The ``umap`` package.
    """
    global _switched
    import umap

    if not _switched:
        from numba.core.caching import NullCache
        from numba.core.registry import CPUDispatcher

        for name, module in list(sys.modules.items()):
            if module is not None and name.split(".")[0] in ("umap", "pynndescent"):
                for value in list(vars(module).values()):
                    if isinstance(value, CPUDispatcher) and isinstance(value._cache, NullCache):
                        value.enable_caching()
        _switched = True
    return umap
