"""topoact.mapper.umap_cache: a second process loads umap-learn's compiled functions from numba's
disk cache instead of compiling them, and the embedding does not change."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

FIT = textwrap.dedent("""
    import json
    import numpy as np
    import umap.layouts, umap.umap_
    from topoact.mapper.lens import UMAPLens

    X = np.random.default_rng(0).normal(size=(120, 8)).astype(np.float32)
    embedding = UMAPLens(n_components=2, n_neighbors=10, seed=0).fit(X).embedding_
    # compiled on first call (umap-learn compiles a few small helpers at import, before topoact runs)
    used = [umap.layouts._nb_optimize_layout_euclidean_single_epoch, umap.umap_.smooth_knn_dist,
            umap.umap_.compute_membership_strengths]
    print(json.dumps({"hits": [sum(f.stats.cache_hits.values()) for f in used],
                      "misses": [sum(f.stats.cache_misses.values()) for f in used],
                      "embedding": embedding.round(6).tolist()}))
""")


def _fit_in_a_new_process():
    out = subprocess.run([sys.executable, "-c", FIT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_umaps_compiled_functions_from_the_disk_cache():
    # numba's default cache location, as for a user (a temporary NUMBA_CACHE_DIR would also make
    # pynndescent recompile its ~100 eagerly compiled functions: a minute of this test)
    first = _fit_in_a_new_process()                   # compiles and saves (or loads an earlier save)
    second = _fit_in_a_new_process()
    assert second["misses"] == [0, 0, 0] and second["hits"] == [1, 1, 1]  # loaded, not compiled
    assert second["embedding"] == first["embedding"]


def test_import_umap_switches_the_cache_on_once_and_returns_the_package():
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    from topoact.mapper.umap_cache import import_umap

    umap = import_umap()
    assert umap.UMAP.__name__ == "UMAP"
    dispatchers = [f for f in vars(umap.umap_).values() if isinstance(f, CPUDispatcher)]
    assert dispatchers and not any(isinstance(f._cache, NullCache) for f in dispatchers)
    assert import_umap() is umap
