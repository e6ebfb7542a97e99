"""Mapper estimator: lens -> cover -> clustering per cover element -> nerve -> statistics.

``Mapper(lens, cover, clusterer, n_jobs, backend).fit(X, labels=None, ...)`` returns ``self``
with the graph in ``graph_`` (a :class:`MapperGraph`); ``fit_transform`` returns the graph
(giotto-tda's Mapper pipeline convention). Learned attributes: ``graph_``, ``lens_values_``
((N,) or (N, 2)), ``eps_`` (DBSCAN only), ``cover_``, ``elements_`` (non-empty cover
elements), ``timings_``. ``__init__`` only stores (scikit-learn conventions: ``get_params``,
``set_params`` with nested ``lens__k`` names and ``sklearn.base.clone`` work); validation is in
``fit``. ``Mapper.from_config(MapperConfig(...))`` builds one from the configuration object.

A parameter set whose graph has no nodes raises :class:`EmptyGraphError` (an
``InvalidParameterError``) saying why and which range to try.

Caching (giotto-tda style): the lens values and the clusterer's global preparation (auto eps)
are cached on the estimator, keyed by *content*: a fingerprint of X (``array_fingerprint``:
shape, dtype and the bytes of the whole array up to 16 MB, of 2048 evenly spaced rows above),
the step's class and ``get_params(deep=True)`` with arrays fingerprinted the same way (an
``ArrayLens``'s values, a ``PredictionLens``'s probabilities) and the probabilities given to
``fit``. So ``mapper.set_params(cover=...)`` followed by ``fit(X)`` recomputes only the cover,
clustering and nerve, and a new lens or new data never reuses old values. (Limit, documented:
above 16 MB an in-place edit of X that touches none of the sampled rows is not seen; pass a new
array or call ``clear_cache()``.) Node order is KeplerMapper's: cover elements in grid order,
then clusters by number inside an element. Elements with fewer than ``clusterer.min_points``
rows are skipped (KeplerMapper: DBSCAN's min_samples, else n_clusters / min_cluster_size,
else 2).

Parallelism: elements are clustered on a thread pool of ``n_jobs`` threads (largest element
first) with BLAS limited to one thread per worker (threadpoolctl): numpy's matrix products and
scipy's graph code release the GIL, so two cores are used without copying X to processes.
Measured at 100k x 512 on 2 cores: two interval threads with BLAS at one thread each took
2.9-3.5 s wall / 3.5 s CPU, one interval at a time with BLAS at two threads 5.6-10.5 s wall /
8-12 s CPU (OpenBLAS threads spin on the many small products), so threads over elements it is.
``backend='kmapper'`` runs the same fit through KeplerMapper 2.1.0 (reference; see
``kmapper_backend``). Progress follows :mod:`topoact.progress`: ``progress(done, total,
message)`` once per clustered element, ``should_cancel()`` polled before each element
(:class:`~topoact.progress.Cancelled`).
"""
from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

import numpy as np

from ..errors import InvalidParameterError
from ..progress import CancelFn, Cancelled, ProgressFn, check_cancelled, report
from .cluster import DBSCAN, clusters_from_labels, make_clusterer
from .cover import Cover, UniformCover
from .graph import MapperGraph
from .lens import L2Norm, Lens
from .params import Params
from .stats import node_means as _node_means, node_statistics, row_norms, typical_rows

logger = logging.getLogger(__name__)

__all__ = ["Mapper", "Cancelled", "EmptyGraphError", "describe", "array_fingerprint"]

#: arrays up to this many bytes are hashed whole by ``array_fingerprint``
FULL_HASH_BYTES = 16 << 20
#: exemplar rows stored per node (``stats["exemplars"]``, most typical first): the app's first page
STORED_EXEMPLARS = 24
_SAMPLE_ROWS = 2048


class EmptyGraphError(InvalidParameterError):
    """The parameters give a Mapper graph with no nodes (the message says why and what to try)."""


def describe(step: Params) -> dict:
    """JSON-able ``{'name': ..., **params}`` of a lens / cover / clusterer (non-JSON values,
    such as arrays, are left out)."""
    params = {k: v for k, v in step.get_params(deep=False).items()
              if isinstance(v, (int, float, str, bool, type(None), list, tuple, dict))}
    return {"name": step.name, **params}


def array_fingerprint(a: Any) -> str | None:
    """Content fingerprint of an array (None for None): shape, dtype and the bytes of the whole
    array up to ``FULL_HASH_BYTES``, of ``_SAMPLE_ROWS`` evenly spaced rows above.

    Parameters
    ----------
    a : (N, ...) array-like (a memory map is read only at the sampled rows)
    """
    if a is None:
        return None
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        a = np.asarray(a)
    digest = hashlib.blake2b(repr((tuple(a.shape), str(a.dtype))).encode(), digest_size=16)
    n = a.shape[0] if len(a.shape) else 0
    nbytes = int(np.prod(a.shape, dtype=np.int64)) * np.dtype(a.dtype).itemsize
    if nbytes <= FULL_HASH_BYTES or n <= _SAMPLE_ROWS:
        digest.update(memoryview(np.ascontiguousarray(a)).cast("B"))
    else:
        rows = np.linspace(0, n - 1, _SAMPLE_ROWS).astype(np.int64)
        digest.update(memoryview(np.ascontiguousarray(a[rows])).cast("B"))
    return digest.hexdigest()


def _token(value: Any) -> Any:
    """Hashable content token of a step parameter (arrays fingerprinted, estimators by params)."""
    if isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "dtype")):
        return ("array", array_fingerprint(value))
    if hasattr(value, "get_params"):
        return (type(value).__qualname__,
                tuple(sorted((k, _token(v)) for k, v in value.get_params(deep=False).items())))
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _token(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_token(v) for v in value)
    return repr(value)


class Mapper(Params):
    """Mapper graph builder (scikit-learn style; see module docstring).

    Parameters
    ----------
    lens : Lens, default L2Norm()
    cover : Cover, default UniformCover(10, 0.3)
    clusterer : DBSCAN | SingleLinkage | scikit-learn clusterer, default DBSCAN(eps='auto')
    n_jobs : int, threads clustering cover elements in parallel
    backend : {'topoact', 'kmapper'}
    compute_node_means : bool, also compute the (K, D) mean activation vectors
    scheduler : str or distributed.Client, optional
        Cluster the cover elements as Dask tasks (``local:N``, ``tcp://HOST:PORT`` or a Client;
        :func:`topoact.distributed.tasks.cluster_elements`); None: the block's
        :func:`topoact.distributed.use_scheduler`, else ``n_jobs`` threads. Same graph either way.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    >>> Mapper(L2Norm(), UniformCover(4, 0.3)).fit(X).graph_.n_nodes > 0
    True
    """

    def __init__(self, lens: Lens | None = None, cover: Cover | None = None, clusterer: Any = None,
                 n_jobs: int = 2, backend: str = "topoact", compute_node_means: bool = True,
                 scheduler: Any = None):
        self.lens = lens
        self.cover = cover
        self.clusterer = clusterer
        self.n_jobs = n_jobs
        self.backend = backend
        self.compute_node_means = compute_node_means
        self.scheduler = scheduler

    @classmethod
    def from_config(cls, config: Any, n_jobs: int = 2, compute_node_means: bool = True) -> "Mapper":
        """A Mapper from a :class:`~topoact.mapper.MapperConfig` (or its dict form)."""
        from .config import MapperConfig

        return MapperConfig.coerce(config).mapper(n_jobs=n_jobs, compute_node_means=compute_node_means)

    def clear_cache(self) -> "Mapper":
        """Forget cached lens values, clusterer preparation and row norms."""
        for name in ("_lens_cache", "_cluster_cache", "_norm_cache"):
            self.__dict__.pop(name, None)
        return self

    # -- steps (each cached) ----------------------------------------------------------------
    def _steps(self):
        lens = self.lens if self.lens is not None else L2Norm()
        cover = self.cover if self.cover is not None else UniformCover(10, 0.3)
        clusterer = make_clusterer(self.clusterer if self.clusterer is not None
                                   else DBSCAN(eps="auto", metric="euclidean", min_samples=3))
        return lens, cover, clusterer

    def compute_lens(self, X: Any, *, fingerprint: str | None = None, **context: Any) -> np.ndarray:
        """Lens values of X (N, D): (N,) or (N, 2) float64, cached by content (module docstring).

        ``context`` (e.g. ``probabilities`` (N, C)) is passed to the lens's ``fit``;
        ``fingerprint``: X's :func:`array_fingerprint` when the caller has it already.
        """
        lens, _, _ = self._steps()
        token = (fingerprint or array_fingerprint(X), _token(lens), _token(context))
        cache = self.__dict__.get("_lens_cache")
        if cache is None or cache[0] != token:
            values = lens.fit_transform(X, **context)
            self._lens_cache = (token, values)
        return self._lens_cache[1]

    def _prepare_clusterer(self, X, clusterer, fingerprint):
        token = (fingerprint, _token(clusterer))
        cache = self.__dict__.get("_cluster_cache")
        if cache is not None and cache[0] == token:
            for k, v in cache[1].items():
                setattr(clusterer, k, v)
            return clusterer
        clusterer.prepare(X)
        learned = {k: v for k, v in vars(clusterer).items() if k.endswith("_")}
        self._cluster_cache = (token, learned)
        return clusterer

    # -- fit --------------------------------------------------------------------------------
    def fit(self, X: Any, labels: np.ndarray | None = None, predictions: np.ndarray | None = None,
            attributes: Mapping[str, np.ndarray] | None = None,
            attribute_kinds: Mapping[str, str] | None = None,
            attribute_periods: Mapping[str, float] | None = None,
            probabilities: np.ndarray | None = None, lens_values: np.ndarray | None = None,
            progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
            layer: str = "", key: str = "") -> "Mapper":
        """Build the Mapper graph of X; the graph is stored in ``graph_``.

        Parameters
        ----------
        X : (N, D) array (float32 memmap fine)
        labels, predictions : (N,) int arrays, optional (node purity / accuracy)
        attributes : {name: (N,)}, attribute_kinds : {name: kind}, optional
        attribute_periods : {name: period}, optional, period of circular attributes (2*pi
            for those missing; see ``stats.periods_from_meta`` for a run's attributes_meta)
        probabilities : (N, C), needed by PredictionLens
        lens_values : (N,) or (N, 2), optional precomputed lens (skips the lens step)
        progress : ``progress(done, total, message)``; should_cancel : ``() -> bool``
        layer, key : metadata copied into the graph

        Returns
        -------
        self

        Raises
        ------
        EmptyGraphError
            The graph has no nodes (the message says why and suggests a range).
        Cancelled
            ``should_cancel()`` answered True.
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
        fingerprint = array_fingerprint(X)  # once per fit: it keys every cache below
        if lens_values is None:
            context = {} if probabilities is None else {"probabilities": probabilities}
            lens_values = self.compute_lens(X, fingerprint=fingerprint, **context)
        lens_values = np.asarray(lens_values, np.float64)
        if lens_values.shape[0] != N:
            raise ValueError(f"lens values have {lens_values.shape[0]} rows, X has {N}")
        self.lens_values_ = lens_values
        t_lens = time.perf_counter()
        clusterer = self._prepare_clusterer(X, clusterer, fingerprint)
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
        if not members:
            raise EmptyGraphError(self._empty_reason(N, elements, cover, clusterer))
        t_cluster = time.perf_counter()
        graph = self.graph_from_members(X, members, intervals, labels=labels,
                                        predictions=predictions, attributes=attributes,
                                        attribute_kinds=attribute_kinds,
                                        attribute_periods=attribute_periods, layer=layer, key=key,
                                        fingerprint=fingerprint)
        self.graph_ = graph
        t_end = time.perf_counter()
        self.timings_ = {"lens": t_lens - t0, "prepare": t_prep - t_lens,
                         "cluster": t_cluster - t_prep, "graph": t_end - t_cluster,
                         "total": t_end - t0}
        logger.info("Mapper: %s in %.2fs", graph, t_end - t0)
        return self

    def fit_transform(self, X: Any, **fit_params: Any) -> MapperGraph:
        """``fit(X, **fit_params).graph_``: the Mapper graph of X (N, D)."""
        return self.fit(X, **fit_params).graph_

    @staticmethod
    def _empty_reason(N: int, elements: list, cover: Cover, clusterer: Any) -> str:
        min_points = int(getattr(clusterer, "min_points", 2))
        n_intervals = getattr(cover, "n_intervals", None)
        big = sum(1 for _, rows in elements if len(rows) >= min_points)
        if big == 0:
            largest = max((len(rows) for _, rows in elements), default=0)
            suggest = max(1, N // (4 * min_points))
            return (f"the Mapper graph is empty: no cover element holds {min_points} rows (the "
                    f"clusterer's minimum; the largest holds {largest} of N={N} rows, "
                    f"n_intervals={n_intervals}). Use fewer intervals (n_intervals in [1, "
                    f"{suggest}] for this data) or a smaller min_samples.")
        eps = getattr(clusterer, "eps_", None)
        what = (f"DBSCAN eps={eps:.4g}, min_samples={int(clusterer.min_samples)}"
                if eps is not None else repr(clusterer))
        return (f"the Mapper graph is empty: the clusterer ({what}) marked every row of the "
                f"{big} cover elements with >= {min_points} rows as noise. Use eps='auto' (the "
                "k-distance knee) or a larger eps / eps_scale, or a smaller min_samples.")

    def params_dict(self) -> dict:
        """JSON-able description of the steps (lens, cover, clusterer, backend, eps_resolved)."""
        lens, cover, clusterer = self._steps()
        out = {"lens": describe(lens), "cover": describe(cover),
               "clusterer": describe(clusterer), "backend": self.backend}
        if getattr(self, "eps_", None) is not None:
            out["eps_resolved"] = self.eps_
        return out

    def graph_from_members(self, X: Any, members: list, intervals: list, *,
                           labels: np.ndarray | None = None, predictions: np.ndarray | None = None,
                           attributes: Mapping[str, np.ndarray] | None = None,
                           attribute_kinds: Mapping[str, str] | None = None,
                           attribute_periods: Mapping[str, float] | None = None,
                           layer: str = "", key: str = "", fingerprint: str | None = None,
                           norms: np.ndarray | None = None) -> MapperGraph:
        """The MapperGraph of given node members (K sorted (n_k,) row arrays) of X (N, D),
        with per-node statistics (needs ``lens_values_``) and node means (``fingerprint``: X's
        :func:`array_fingerprint` when the caller has it already; ``norms``: X's (N,) row norms
        when the caller has them, e.g. a sweep's settings sharing them)."""
        if norms is None:
            token = fingerprint or array_fingerprint(X)
            cached = self.__dict__.get("_norm_cache")
            if cached is None or cached[0] != token:
                self._norm_cache = (token, row_norms(X))
            norms = self._norm_cache[1]
        stats = node_statistics(members, labels=labels, predictions=predictions,
                                lens_values=self.lens_values_, norms=norms,
                                attributes=attributes, attribute_kinds=attribute_kinds,
                                attribute_periods=attribute_periods)
        means = _node_means(X, members) if self.compute_node_means else None
        if means is not None:
            # the first exemplars of every node, stored with the graph: a click on a node of a
            # million-row run then reads them instead of ranking up to 10^5 members (0.1-0.2 s)
            for st, rows in zip(stats, typical_rows(X, members, means, STORED_EXEMPLARS)):
                st["exemplars"] = rows.tolist()
        return MapperGraph(members, X.shape[0], intervals=intervals, stats=stats,
                           node_means=means, params=self.params_dict(), layer=layer, key=key)

    def _cluster_elements(self, X, elements, cover, clusterer, progress=None, should_cancel=None):
        work = [(e, rows) for e, rows in elements if len(rows) >= clusterer.min_points]
        results: dict = {}
        total = len(work)
        done = 0

        def run(item):
            check_cancelled(should_cancel, "Mapper fit")
            e, rows = item
            return e, rows, clusterer.labels(X, rows)

        def collect(res):
            nonlocal done
            e, rows, lab = res
            results[e] = (rows, lab)
            done += 1
            report(progress, done, total, "clustering cover elements")

        order = sorted(work, key=lambda it: -len(it[1]))
        scheduler = self.scheduler
        if scheduler is None and order:
            from ..distributed.scheduler import active_scheduler
            scheduler = active_scheduler()
        if scheduler is not None and order:
            from ..distributed.tasks import cluster_elements
            for res in cluster_elements(scheduler, X, clusterer, order, should_cancel):
                collect(res)
        elif self.n_jobs and self.n_jobs > 1 and len(order) > 1:
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
            clusters = clusters_from_labels(*results[e])
            members.extend(clusters)
            intervals.extend([cover.element_label(e)] * len(clusters))
        return members, intervals
