"""Mapper estimator: lens -> cover -> clustering per cover element -> nerve -> statistics.

``Mapper(lens, cover, clusterer, n_jobs, backend).fit(X, labels=None, predictions=None,
attributes=None) -> MapperGraph``. Learned attributes: ``graph_``, ``lens_values_``, ``eps_``
(DBSCAN only), ``elements_`` (non-empty cover elements), ``timings_``.

Caching (giotto-tda style): the lens values and the clusterer's global preparation (auto eps)
are cached on the estimator keyed by the identity/shape of X and the step's parameters, so
``mapper.set_params(cover=...)`` or a new overlap followed by ``fit(X)`` recomputes only the
cover, clustering and nerve. Node order is KeplerMapper's: cover elements in grid order, then
clusters by number inside an element. Elements with fewer than ``clusterer.min_points`` rows
are skipped (KeplerMapper: DBSCAN's min_samples, else n_clusters / min_cluster_size, else 2).

Parallelism: elements are clustered on a thread pool of ``n_jobs`` threads (largest element
first) with BLAS limited to one thread per worker (threadpoolctl): numpy's matrix products and
scipy's graph code release the GIL, so two cores are used without copying X to processes.
Measured at 100k x 512 on 2 cores: two interval threads with BLAS at one thread each took
2.9-3.5 s wall / 3.5 s CPU, one interval at a time with BLAS at two threads 5.6-10.5 s wall /
8-12 s CPU (OpenBLAS threads spin on the many small products), so threads over elements it is.
``backend='kmapper'`` runs the same fit through KeplerMapper 2.1.0 (reference; see
``kmapper_backend``).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .cluster import DBSCAN, make_clusterer
from .cover import Cover, UniformCover
from .graph import MapperGraph
from .lens import L2Norm, Lens
from .params import Params
from .stats import node_means as _node_means, node_statistics, row_norms

logger = logging.getLogger(__name__)

__all__ = ["Mapper", "Cancelled", "describe"]


class Cancelled(RuntimeError):
    """Raised when ``should_cancel()`` returns True during a fit."""


def describe(step) -> dict:
    """JSON-able {'name': ..., **params} of a lens / cover / clusterer."""
    params = {k: v for k, v in step.get_params().items()
              if isinstance(v, (int, float, str, bool, type(None), list, tuple, dict))}
    return {"name": step.name, **params}


def _x_token(X):
    return (id(X), tuple(X.shape), str(X.dtype))


class Mapper(Params):
    """Mapper graph builder (scikit-learn style; see module docstring).

    Parameters
    ----------
    lens : Lens, default L2Norm()
    cover : Cover, default UniformCover(10, 0.3)
    clusterer : DBSCAN | SingleLinkage | sklearn clusterer, default DBSCAN(eps='auto')
    n_jobs : int, threads clustering cover elements in parallel
    backend : {'topoact', 'kmapper'}
    compute_node_means : bool, also compute the (K, D) mean activation vectors
    """

    def __init__(self, lens: Lens | None = None, cover: Cover | None = None, clusterer=None,
                 n_jobs: int = 2, backend: str = "topoact", compute_node_means: bool = True):
        self.lens = lens
        self.cover = cover
        self.clusterer = clusterer
        self.n_jobs = n_jobs
        self.backend = backend
        self.compute_node_means = compute_node_means

    def set_params(self, **params) -> "Mapper":
        for k, v in params.items():
            if k not in self.get_params():
                raise ValueError(f"unknown Mapper parameter {k!r}")
            setattr(self, k, v)
        return self

    # -- steps (each cached) ----------------------------------------------------------------
    def _steps(self):
        lens = self.lens if self.lens is not None else L2Norm()
        cover = self.cover if self.cover is not None else UniformCover(10, 0.3)
        clusterer = make_clusterer(self.clusterer if self.clusterer is not None
                                   else DBSCAN(eps="auto", metric="euclidean", min_samples=3))
        return lens, cover, clusterer

    def compute_lens(self, X, **context) -> np.ndarray:
        lens, _, _ = self._steps()
        token = (_x_token(X), repr(lens))
        cache = getattr(self, "_lens_cache", None)
        if cache is None or cache[0] != token:
            values = lens.fit_transform(X, **context)
            self._lens_cache = (token, values)
        return self._lens_cache[1]

    def _prepare_clusterer(self, X, clusterer):
        token = (_x_token(X), repr(clusterer))
        cache = getattr(self, "_cluster_cache", None)
        if cache is not None and cache[0] == token:
            for k, v in cache[1].items():
                setattr(clusterer, k, v)
            return clusterer
        clusterer.prepare(X)
        learned = {k: v for k, v in vars(clusterer).items() if k.endswith("_")}
        self._cluster_cache = (token, learned)
        return clusterer

    # -- fit --------------------------------------------------------------------------------
    def fit(self, X, labels=None, predictions=None, attributes=None, attribute_kinds=None,
            attribute_periods=None, probabilities=None, lens_values=None, progress=None,
            should_cancel=None, layer: str = "", key: str = "") -> MapperGraph:
        """Build the Mapper graph of X (N, D).

        Parameters
        ----------
        X : (N, D) array (float32 memmap fine)
        labels, predictions : (N,) int arrays, optional (node purity / accuracy)
        attributes : {name: (N,)}, attribute_kinds : {name: kind}, optional
        attribute_periods : {name: period}, optional, period of circular attributes (2*pi
            for those missing; see ``stats.periods_from_meta`` for a run's attributes_meta)
        probabilities : (N, C), needed by PredictionLens
        lens_values : (N,) or (N, 2), optional precomputed lens (skips the lens step)
        progress : callable(done, total), optional; should_cancel : callable() -> bool

        Returns
        -------
        MapperGraph (also stored as ``graph_``)
        """
        t0 = time.perf_counter()
        if not hasattr(X, "shape") or len(X.shape) != 2:
            raise ValueError(f"X must be a 2-D (N, D) array, got {type(X).__name__}")
        N = X.shape[0]
        if N == 0:
            raise ValueError("X is empty (0 rows): cannot build a Mapper graph")
        for name, arr in (("labels", labels), ("predictions", predictions)):
            if arr is not None and len(arr) != N:
                raise ValueError(f"{name} has {len(arr)} entries, X has {N} rows")
        if self.backend not in ("topoact", "kmapper"):
            raise ValueError(f"backend must be 'topoact' or 'kmapper', got {self.backend!r}")
        lens, cover, clusterer = self._steps()
        if lens_values is None:
            lens_values = self.compute_lens(X, probabilities=probabilities)
        lens_values = np.asarray(lens_values, np.float64)
        if lens_values.shape[0] != N:
            raise ValueError(f"lens values have {lens_values.shape[0]} rows, X has {N}")
        self.lens_values_ = lens_values
        t_lens = time.perf_counter()
        clusterer = self._prepare_clusterer(X, clusterer)
        self.eps_ = getattr(clusterer, "eps_", None)
        t_prep = time.perf_counter()
        cover.fit(lens_values)
        self.cover_ = cover
        elements = cover.transform(lens_values)
        self.elements_ = elements
        if self.backend == "kmapper":
            from .kmapper_backend import kmapper_members
            members, intervals = kmapper_members(X, lens_values, cover, clusterer)
        else:
            members, intervals = self._cluster_elements(X, elements, cover, clusterer,
                                                        progress, should_cancel)
        t_cluster = time.perf_counter()
        graph = self.graph_from_members(X, members, intervals, labels=labels,
                                        predictions=predictions, attributes=attributes,
                                        attribute_kinds=attribute_kinds,
                                        attribute_periods=attribute_periods, layer=layer, key=key)
        self.graph_ = graph
        t_end = time.perf_counter()
        self.timings_ = {"lens": t_lens - t0, "prepare": t_prep - t_lens,
                         "cluster": t_cluster - t_prep, "graph": t_end - t_cluster,
                         "total": t_end - t0}
        logger.info("Mapper: %s in %.2fs", graph, t_end - t0)
        return graph

    def params_dict(self) -> dict:
        lens, cover, clusterer = self._steps()
        out = {"lens": describe(lens), "cover": describe(cover),
               "clusterer": describe(clusterer), "backend": self.backend}
        if getattr(self, "eps_", None) is not None:
            out["eps_resolved"] = self.eps_
        return out

    def graph_from_members(self, X, members, intervals, *, labels=None, predictions=None,
                           attributes=None, attribute_kinds=None, attribute_periods=None,
                           layer="", key=""):
        norms = getattr(self, "_norm_cache", None)
        if norms is None or norms[0] != _x_token(X):
            self._norm_cache = (_x_token(X), row_norms(X))
        stats = node_statistics(members, labels=labels, predictions=predictions,
                                lens_values=self.lens_values_, norms=self._norm_cache[1],
                                attributes=attributes, attribute_kinds=attribute_kinds,
                                attribute_periods=attribute_periods)
        means = _node_means(X, members) if self.compute_node_means else None
        return MapperGraph(members, X.shape[0], intervals=intervals, stats=stats,
                           node_means=means, params=self.params_dict(), layer=layer, key=key)

    def _cluster_elements(self, X, elements, cover, clusterer, progress=None, should_cancel=None):
        work = [(e, rows) for e, rows in elements if len(rows) >= clusterer.min_points]
        results: dict = {}
        total = len(work)
        done = 0

        def run(item):
            if should_cancel is not None and should_cancel():
                raise Cancelled("Mapper fit cancelled")
            e, rows = item
            return e, rows, clusterer.labels(X, rows)

        def collect(res):
            nonlocal done
            e, rows, lab = res
            results[e] = (rows, lab)
            done += 1
            if progress is not None:
                progress(done, total)

        order = sorted(work, key=lambda it: -len(it[1]))
        if self.n_jobs and self.n_jobs > 1 and len(order) > 1:
            from threadpoolctl import threadpool_limits
            with threadpool_limits(limits=1, user_api="blas"):
                with ThreadPoolExecutor(max_workers=int(self.n_jobs)) as pool:
                    futures = [pool.submit(run, it) for it in order]
                    try:
                        for f in futures:
                            collect(f.result())
                    except BaseException:
                        for f in futures:
                            f.cancel()
                        raise
        else:
            for it in order:
                collect(run(it))
        members, intervals = [], []
        for e in sorted(results):
            rows, lab = results[e]
            for c in np.unique(lab):
                if c < 0:
                    continue
                members.append(np.sort(rows[lab == c]))
                intervals.append(cover.element_label(e))
        return members, intervals
