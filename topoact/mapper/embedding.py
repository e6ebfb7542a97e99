"""2-D embeddings of a layer (UMAP, PCA), computed once and cached with the run.

``layer_embedding(run, layer, method, seed)`` returns the (N, 2) float64 coordinates of every
row of ``layer``. They serve twice: as the lens of ``umap2`` / ``pca2`` Mapper graphs (so the
automatic choice of :mod:`topoact.mapper.auto` and every later graph on the same lens fit UMAP
once), and as the linked 2-D scatter a UI shows beside the graph.

Storage: ``<run>/embeddings/<layer>-<key>.json`` (a :class:`~topoact.results.ResultCache`
entry: method, seed, shape, and the layer's fingerprint) and the coordinates beside it in
``<layer>-<key>.npy`` (plain NPY, readable without topoact). An entry whose layer fingerprint
changed since (a rewritten layer) or whose NPY is missing or of the wrong shape is recomputed,
never served. UMAP (umap-learn, seeded, ``n_neighbors=15``, ``min_dist=0.1``) is deterministic
for a fixed seed on one machine; its first call in a process JIT-compiles numba code (about
20 s on an idle core of this machine), which is why the coordinates are cached.
"""
from __future__ import annotations

import logging

import numpy as np

from ..fileio import save_npy
from ..results import ResultCache
from ..store import RunLike

logger = logging.getLogger(__name__)

__all__ = ["layer_embedding", "compute_embedding", "EMBEDDING_METHODS"]

EMBEDDING_METHODS = ("umap", "pca")
#: bump when the computation changes meaning (old files are then not reused)
_VERSION = 1


def compute_embedding(X, method: str = "umap", seed: int = 0) -> np.ndarray:
    """(N, 2) float64 embedding of X (N, D): seeded UMAP or the first two principal components.

    Parameters
    ----------
    X : (N, D) array
    method : {'umap', 'pca'}
    seed : UMAP's random seed

    Returns
    -------
    (N, 2) float64 array
    """
    from .lens import PCALens, UMAPLens

    if method not in EMBEDDING_METHODS:
        raise ValueError(f"embedding method must be one of {EMBEDDING_METHODS}, got {method!r}")
    lens = UMAPLens(n_components=2, seed=seed) if method == "umap" else PCALens(2)
    return np.asarray(lens.fit_transform(X), np.float64)


def layer_embedding(run: RunLike, layer: str, method: str = "umap", seed: int = 0) -> np.ndarray:
    """The (N, 2) float64 embedding of a run's layer, cached under ``<run>/embeddings/``.

    Parameters
    ----------
    run : Run
    layer : layer name
    method : {'umap', 'pca'}
    seed : UMAP's random seed (ignored by PCA)

    Returns
    -------
    (N, 2) float64 array, row i for row i of ``run.activations(layer)``.
    """
    if method not in EMBEDDING_METHODS:
        raise ValueError(f"embedding method must be one of {EMBEDDING_METHODS}, got {method!r}")
    params = {"method": method, "seed": int(seed) if method == "umap" else 0}
    cache = ResultCache(run, "embeddings", version=_VERSION)
    key = cache.key(layer, params)
    X = run.activations(layer)
    entry = cache.load(layer, key)
    npy = cache.path(layer, key).with_suffix(".npy")
    if entry is not None and npy.is_file():
        values = np.load(npy)
        if values.shape == (X.shape[0], 2) and np.all(np.isfinite(values)):
            return values.astype(np.float64, copy=False)
        logger.warning("%s has shape %s, expected (%d, 2); recomputing", npy, values.shape, X.shape[0])
    values = compute_embedding(X, method, params["seed"])
    json_path = cache.path(layer, key, create=True)
    save_npy(json_path.with_suffix(".npy"), values)
    cache.save(layer, key, dict(params, shape=list(values.shape), file=json_path.with_suffix(".npy").name))
    return values
