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

import numpy as np

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


def kmapper_members(X, lens_values, cover, clusterer):
    """Node members (list of sorted int64 arrays) and intervals from KeplerMapper 2.1.0."""
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


def fit_kmapper(X, lens_values, n_intervals=10, overlap=0.3, eps=0.5, min_samples=3,
                metric="euclidean"):
    """KeplerMapper node member sets for the given lens and DBSCAN parameters."""
    clusterer = DBSCAN(eps=eps, min_samples=min_samples, metric=metric).prepare(X)
    return kmapper_members(X, lens_values, UniformCover(n_intervals, overlap), clusterer)[0]
