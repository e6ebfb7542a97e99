"""KeplerMapper 2.1.0 as a reference backend (the first version of topoact's Mapper).

``kmapper_members(X, lens_values, cover, clusterer)`` runs ``kmapper.KeplerMapper().map`` with
``kmapper.Cover(n_cubes, perc_overlap)`` and ``sklearn.cluster.DBSCAN(eps, min_samples,
metric)`` (or the wrapped sklearn clusterer) on the given lens values, and returns node members
in KeplerMapper's node order plus the cover element of each node. Used by ``Mapper(...,
backend='kmapper')``, the exactness tests and ``benchmarks/mapper.py``. ``fit_kmapper`` is the
plain-function form.
"""
from __future__ import annotations

import re

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .cluster import DBSCAN, SklearnClusterer
from .cover import UniformCover

__all__ = ["kmapper_members", "fit_kmapper"]


def _sk_clusterer(clusterer):
    if isinstance(clusterer, DBSCAN):
        from sklearn.cluster import DBSCAN as SkDBSCAN
        return SkDBSCAN(eps=clusterer.eps_, min_samples=int(clusterer.min_samples),
                        metric=clusterer.metric)
    if isinstance(clusterer, SklearnClusterer):
        return clusterer.estimator
    raise ValueError(f"the kmapper backend supports DBSCAN or sklearn clusterers, not {clusterer!r}")


def kmapper_members(X: ArrayLike, lens_values: ArrayLike, cover: UniformCover,
                    clusterer: Any) -> tuple[list[np.ndarray], list]:
    """Node members and intervals from KeplerMapper 2.1.0.

    Parameters
    ----------
    X : (N, D) array; lens_values : (N,) or (N, 2)
    cover : UniformCover (KeplerMapper's own cover); clusterer : prepared DBSCAN or SklearnClusterer

    Returns
    -------
    members : K sorted int64 arrays in KeplerMapper's node order
    intervals : the cover element of each node (int, or [i, j] for 2-D lenses)
    """
    import kmapper as km

    if not isinstance(cover, UniformCover):
        raise ValueError("the kmapper backend needs a UniformCover (KeplerMapper's own cover)")
    lens = np.asarray(lens_values, np.float64)
    lens2 = lens[:, None] if lens.ndim == 1 else lens
    km_cover = km.Cover(n_cubes=cover.n_intervals, perc_overlap=cover.overlap)
    mapper = km.KeplerMapper(verbose=0)
    graph = mapper.map(lens2, np.asarray(X), clusterer=_sk_clusterer(clusterer), cover=km_cover)
    # kmapper numbers only the non-empty cubes; map them back to grid elements
    cover.fit(lens)
    nonempty = [e for e, _ in cover.transform(lens)]
    members, intervals = [], []
    for name, rows in graph["nodes"].items():
        cube, cl = map(int, re.match(r"cube(\d+)_cluster(\d+)", name).groups())
        members.append(np.sort(np.asarray(rows, np.int64)))
        intervals.append((cube, cl, cover.element_label(nonempty[cube])))
    order = sorted(range(len(members)), key=lambda i: intervals[i][:2])
    return [members[i] for i in order], [intervals[i][2] for i in order]


def fit_kmapper(X: ArrayLike, lens_values: ArrayLike, n_intervals: int = 10, overlap: float = 0.3,
                eps: float = 0.5, min_samples: int = 3, metric: str = "euclidean") -> list[np.ndarray]:
    """KeplerMapper's node members (K sorted int64 arrays) of X (N, D) for the given lens values
    ((N,) or (N, 2)) and DBSCAN parameters."""
    clusterer = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).prepare(X)
    return kmapper_members(X, lens_values, UniformCover(n_intervals, overlap), clusterer)[0]
