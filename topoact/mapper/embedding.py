"""2-D embeddings of a layer (UMAP, PCA), computed once and cached with the run.

``layer_embedding(run, layer, method, seed)`` returns the (N, 2) float64 coordinates of every
row of ``layer``. They serve twice: as the lens of ``umap2`` / ``pca2`` Mapper graphs (so the
automatic choice of :mod:`topoact.mapper.auto` and every later graph on the same lens fit UMAP
once), and as the linked 2-D scatter a UI shows beside the graph.

Storage: ``<run>/embeddings/<layer>-<key>.json`` (a :class:`~topoact.results.ResultCache`
entry: method, seed, shape, and the layer's fingerprint) and the coordinates beside it in
``<layer>-<key>.npy`` (plain NPY, readable without topoact). An entry whose layer fingerprint
changed since (a rewritten layer) or whose NPY is missing or of the wrong shape is recomputed,
never served. Above ``UMAP_FIT_ROWS`` rows UMAP is fitted on a seeded sample of that many rows and
the others are placed among them (:mod:`topoact.mapper.landmarks`: a full UMAP of a million rows
takes hours here). UMAP (umap-learn, seeded, ``n_neighbors=15``, ``min_dist=0.1``) is deterministic
for a fixed seed on one machine; its first call in a process JIT-compiles numba code (about
20 s on an idle core of this machine), which is why the coordinates are cached.
"""
from __future__ import annotations

import logging

import numpy as np

from .. import npyfile
from ..fileio import save_npy
from ..progress import ProgressFn, report
from ..results import ResultCache
from ..store import RunLike

logger = logging.getLogger(__name__)

__all__ = ["layer_embedding", "cached_embedding", "compute_embedding", "EMBEDDING_METHODS"]

EMBEDDING_METHODS = ("umap", "pca")
#: above this many rows UMAP is fitted on a seeded sample and the other rows are placed among
#: them (:mod:`topoact.mapper.landmarks`); at or below it, on every row
UMAP_FIT_ROWS = 20000
#: bump when the computation changes meaning (old files are then not reused)
_VERSION = 1


def compute_embedding(X, method: str = "umap", seed: int = 0, progress: ProgressFn | None = None) -> np.ndarray:
    """(N, 2) float64 embedding of X (N, D): seeded UMAP or the first two principal components.

    Parameters
    ----------
    X : (N, D) array
    method : {'umap', 'pca'}
    seed : UMAP's random seed (and of its landmark sample above ``UMAP_FIT_ROWS`` rows)
    progress : callable(done, total, message), optional (placing rows among UMAP's landmarks)

    Returns
    -------
    (N, 2) float64 array
    """
    from .lens import PCALens, UMAPLens

    if method not in EMBEDDING_METHODS:
        raise ValueError(f"embedding method must be one of {EMBEDDING_METHODS}, got {method!r}")
    if method == "pca":
        return np.asarray(PCALens(2).fit_transform(X), np.float64)
    lens = UMAPLens(n_components=2, seed=seed, fit_rows=UMAP_FIT_ROWS)
    return np.asarray(lens.fit(X, progress=progress).transform(X), np.float64)


def _entry(run: RunLike, layer: str, method: str, seed: int):
    """(cache, key, params) of a layer's embedding entry (validates ``method``)."""
    if method not in EMBEDDING_METHODS:
        raise ValueError(f"embedding method must be one of {EMBEDDING_METHODS}, got {method!r}")
    params = {"method": method, "seed": int(seed) if method == "umap" else 0}
    if method == "umap" and run.activations(layer).shape[0] > UMAP_FIT_ROWS:
        # a landmark embedding is another result than a full UMAP: its own cache entry
        params["fit_rows"] = UMAP_FIT_ROWS
    cache = ResultCache(run, "embeddings", version=_VERSION)
    return cache, cache.key(layer, params), params


def cached_embedding(run: RunLike, layer: str, method: str = "umap", seed: int = 0) -> np.ndarray | None:
    """The layer's cached (N, 2) float64 embedding, or None when it is not (validly) cached.

    Never computes anything: a UI asks this first to decide whether a slow UMAP must run as a
    background job. An entry from a rewritten layer (other fingerprint), a missing NPY or one
    of the wrong shape or with non-finite values counts as not cached.

    Parameters
    ----------
    run : Run
    layer : layer name
    method : {'umap', 'pca'}
    seed : UMAP's random seed (ignored by PCA)

    Returns
    -------
    (N, 2) float64 array or None
    """
    cache, key, _ = _entry(run, layer, method, seed)
    if cache.load(layer, key) is None:
        return None
    npy = cache.path(layer, key).with_suffix(".npy")
    if not npy.is_file():
        return None
    values = npyfile.load(npy)
    n = run.activations(layer).shape[0]
    if values.shape == (n, 2) and np.all(np.isfinite(values)):
        return values.astype(np.float64, copy=False)
    logger.warning("%s has shape %s, expected (%d, 2); recomputing", npy, values.shape, n)
    return None


def layer_embedding(run: RunLike, layer: str, method: str = "umap", seed: int = 0,
                    progress: ProgressFn | None = None) -> np.ndarray:
    """The (N, 2) float64 embedding of a run's layer, cached under ``<run>/embeddings/``.

    Parameters
    ----------
    run : Run
    layer : layer name
    method : {'umap', 'pca'}
    seed : UMAP's random seed (ignored by PCA)
    progress : callable(done, total, message), optional
        Told when the computation starts and ends (UMAP reports no steps of its own).

    Returns
    -------
    (N, 2) float64 array, row i for row i of ``run.activations(layer)``.
    """
    cache, key, params = _entry(run, layer, method, seed)
    values = cached_embedding(run, layer, method, seed)
    if values is not None:
        report(progress, 1, 1, f"{method.upper()} of {layer} from cache")
        return values
    X = run.activations(layer)
    report(progress, 0, 1, f"{method.upper()} of {layer} ({X.shape[0]:,} images)")
    values = compute_embedding(X, method, params["seed"], progress=progress)
    json_path = cache.path(layer, key, create=True)
    save_npy(json_path.with_suffix(".npy"), values)
    cache.save(layer, key, dict(params, shape=list(values.shape), file=json_path.with_suffix(".npy").name))
    report(progress, 1, 1, f"{method.upper()} of {layer} done")
    return values
