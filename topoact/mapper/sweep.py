"""Parameter sweep: intervals x overlap x clustering scale in one call, reusing work.

``sweep(X, n_intervals=[...], overlaps=[...], eps_scales=[...], lens=L2Norm(), cover='uniform',
metric='euclidean', min_samples=3, labels=None, ...) -> list[dict]``

Reuse: the lens values and the k-distance sample (auto eps) are computed once. For DBSCAN on a
1-D lens, all neighbour pairs that any setting can need are found in ONE pass
(:func:`band_pairs`): rows sorted by lens, pairs (a, b) with ``|lens_a - lens_b| <= W`` (W = the
widest cover element over all settings, or the largest eps for the L2-norm lens with euclidean
distance) and distance <= the largest eps, by float32 block products (one augmented product per
row block gives the distance approximation) with a rigorous rounding margin. Each pair keeps the
index of the smallest eps it is within (1 byte; pairs within the margin of an eps are re-checked
in float64 from X, once). Each cover element is a contiguous range of the sorted rows, so a
setting's DBSCAN of an element reads a slice of the pair lists and gives sklearn's labels.
Graphs are therefore identical to individual ``Mapper.fit`` calls (tested). Other clusterers or
2-D lenses fall back to one ``Mapper.fit`` per setting (lens cached).

The clustering of the elements runs in a numba kernel (``_sweep_kernel``, GIL released) on
sweeps of at least ``KERNEL_MIN_ROWS`` rows; its import and first call (about 1 s of CPU in a new
process) start in a thread when the sweep starts and overlap the pair pass. Smaller sweeps use
its numpy twin :func:`cover_clusters_numpy`, which needs no numba. Measured in new processes
(12 settings, synthetic ReLU-like 512-D data; numpy / kernel): 20,000 rows 1.56-1.70 s /
1.87-2.13 s, 30,000 rows 2.45-2.56 s / 2.43-2.75 s, 50,000 rows 4.9-5.3 s / 4.0-4.3 s. Where
numba fails to import or load, large sweeps fall back to the twin with a warning.

Cost and memory (measured, 100k x 512 synthetic ReLU data, 12 settings): the pair pass is
most of the time (12.6 of 15.0 s). Projection lower-bound pruning (``pairs.py``) was tried per
lens band and was slower: at the largest eps (1.25 x the knee) the pairs are dense (~23M pairs
among 50k rows), so nearly every PCA-tree leaf reaches > 60% of the band and the bound prunes
nothing; the lens window is the effective pruning here. The pairs are kept as CSR over the sorted
positions: int32 partner and uint8 eps level, 5 bytes a pair (peak 0.88 GB; KeplerMapper peaks
at ~1.5 GB). The row blocks of the pair pass run on ``n_jobs`` threads with one BLAS thread each
(the candidate extraction is single-threaded numpy), and so do the (intervals, overlap) groups.
Results do not depend on ``n_jobs`` (tested).

Each summary: n_intervals (also under the deprecated name ``intervals``), overlap, eps_scale, eps, nodes, edges, components, cycles,
mean_purity, covered_points, seconds; ``graph`` (MapperGraph) when ``return_graphs=True``.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import product

import numpy as np
from threadpoolctl import threadpool_limits

from ..progress import ProgressFn, report
from .cluster import (DBSCAN, clusters_from_labels, eps_from_kdistances, kdistance_sample,
                      labels_from_pairs)
from .cover import make_cover
from .lens import L2Norm, Lens
from .pipeline import Mapper
from .stats import row_norms

logger = logging.getLogger(__name__)

__all__ = ["sweep", "band_pairs", "element_reach", "cover_clusters_numpy"]

#: sweeps of at least this many rows cluster with the numba kernel (measured crossover)
KERNEL_MIN_ROWS = 30_000


def _exact_values(X, pa, pb, metric, chunk=65536):
    """Exact float64 comparison values: squared euclidean, or cosine distance."""
    out = np.empty(len(pa))
    for c0 in range(0, len(pa), chunk):
        A = np.asarray(X[pa[c0:c0 + chunk]], np.float64)
        B = np.asarray(X[pb[c0:c0 + chunk]], np.float64)
        if metric == "cosine":
            na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
            A /= np.where(na > 0, na, 1)[:, None]
            B /= np.where(nb > 0, nb, 1)[:, None]
            out[c0:c0 + chunk] = 1.0 - np.einsum("ij,ij->i", A, B)
        else:
            d = A - B
            out[c0:c0 + chunk] = np.einsum("ij,ij->i", d, d)
    return out


def element_reach(ls: np.ndarray, elements: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """For each sorted position, one past the last position that shares a cover element with it.

    Parameters
    ----------
    ls : ndarray (N,)
        Lens values sorted ascending.
    elements : list of (lower (m,), upper (m,)) arrays
        The closed lens intervals of every cover element of every setting.

    Returns
    -------
    ndarray of int64 (N,), non-decreasing: position ``a`` shares an element with ``b > a``
    only if ``b < reach[a]`` (elements are ranges of sorted positions).
    """
    N = len(ls)
    best = np.zeros(N + 1, np.int64)
    for lower, upper in elements:
        starts = np.searchsorted(ls, np.asarray(lower, np.float64).ravel(), "left")
        stops = np.searchsorted(ls, np.asarray(upper, np.float64).ravel(), "right")
        np.maximum.at(best, np.minimum(starts, N), stops)
    return np.maximum.accumulate(best[:N])


def band_pairs(X: Any, lens: np.ndarray, width: float, eps: float | Sequence[float],
               metric: str = "euclidean", block: int = 512, chunk: int = 16384, n_jobs: int = 2,
               elements: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
               ) -> tuple[np.ndarray, "BandPairs", np.ndarray]:
    """Neighbour pairs within the largest eps among rows whose 1-D lens values differ by <= width,
    each with the smallest of the given eps values it is within (exact, as DBSCAN decides).

    With ``elements`` (the lens intervals of all cover elements of all settings, see
    :func:`element_reach`) a row block is compared only with the rows that share an element
    with one of its rows (27 % fewer products for the 12-setting sweep at 20k x 512); every
    pair inside an element is still found.

    Returns
    -------
    order : (N,) rows sorted by lens
    pairs : :class:`BandPairs` over the sorted positions
    self_ok : (N,) bool in row order.
    """
    eps_levels = np.unique(np.atleast_1d(np.asarray(eps, np.float64)))
    if len(eps_levels) > 255:
        raise ValueError(f"band_pairs: at most 255 eps values, got {len(eps_levels)}")
    eps_max = float(eps_levels[-1])
    N, D = X.shape
    if N >= 2 ** 31:
        raise ValueError(f"band_pairs: at most 2**31 - 1 rows (int32 positions), got {N}")
    order = np.argsort(lens, kind="stable")
    ls = lens[order]
    Zr = np.empty((N, D + 2), np.float32)             # [z, 1, (1 - tol) sq] (see below)
    Z = Zr[:, :D]
    for a in range(0, N, chunk):                      # sorted float32 copy (unit rows for cosine)
        Z[a:a + chunk] = np.asarray(X[order[a:a + chunk]], np.float32)
    self_ok = np.ones(N, bool)
    if metric == "cosine":
        nrm = np.sqrt(np.einsum("ij,ij->i", Z, Z, dtype=np.float64))
        zero = nrm == 0
        if zero.any() and eps_max >= 1.0:
            raise ValueError("cosine sweep with eps >= 1 on data with zero rows is not supported")
        Z[~zero] /= nrm[~zero, None].astype(np.float32)
        self_ok[order[zero]] = False
        # the approximation is 2 x the cosine distance; the exact check compares the distance
        thresholds, exact_thresholds = 2.0 * eps_levels, eps_levels
    else:
        zero = np.zeros(N, bool)
        thresholds = exact_thresholds = eps_levels * eps_levels
    thr = float(thresholds[-1])
    mean = Z[~zero].mean(0, dtype=np.float64).astype(np.float32) if (~zero).any() else 0
    Z[~zero] -= mean
    sq = np.einsum("ij,ij->i", Z, Z, dtype=np.float64)
    tol = 2e-6 * np.sqrt(D) + 1e-6
    # float32 in place: d2' = (1 - tol)(sq_a + sq_b) - 2 G <= thr  <=>  d2 <= thr + margin
    sqa = ((1.0 - tol) * sq).astype(np.float32)
    thr32 = np.float32(thr * (1 + 1e-12))
    # one product gives d2': [-2 z_a, sqa_a, 1] . [z_b, 1, sqa_b] (as pairs._Collector)
    Zr[:, D] = 1.0
    Zr[:, D + 1] = sqa
    any_zero = bool(zero.any())
    reach = element_reach(ls, elements) if elements is not None else None

    def one(s):
        e = min(N, s + block)
        hi = int(np.searchsorted(ls, ls[e - 1] + width, "right"))
        if reach is not None:
            hi = max(e, min(hi, int(reach[e - 1])))
        Lb = np.empty((e - s, D + 2), np.float32)
        np.multiply(Z[s:e], np.float32(-2.0), out=Lb[:, :D])
        Lb[:, D] = sqa[s:e]
        Lb[:, D + 1] = 1.0
        G = Lb @ Zr[s:hi].T
        flat = np.flatnonzero(G <= thr32)
        g = G.ravel()[flat]
        ia, ib = np.divmod(flat, hi - s)
        upper = ib > ia                               # each pair once (col > row), no self pairs
        ia, ib, g = ia[upper].astype(np.int32), ib[upper].astype(np.int32), g[upper]
        ia += s
        ib += s
        if any_zero:
            keep = ~zero[ia] & ~zero[ib]
            ia, ib, g = ia[keep], ib[keep], g[keep]
        # value = d2' + tol (sq_a + sq_b), within margin of the true value (rigorous bound)
        margin = tol * (sq[ia] + sq[ib])
        value = g + margin
        margin += 1e-12 * thr
        level = np.zeros(len(ia), np.uint8)
        unsure = np.zeros(len(ia), bool)
        for t in thresholds:                          # a pair is out at t, in, or re-checked
            level += value > t + margin
            unsure |= (value > t - margin) & (value <= t + margin)
        if unsure.any():
            u = np.flatnonzero(unsure)
            exact = _exact_values(X, order[ia[u]], order[ib[u]], metric)
            level[u] = np.searchsorted(exact_thresholds, exact, "left")
        kept = level < len(thresholds)
        counts = np.bincount(ia[kept] - s, minlength=e - s)
        return counts, ib[kept], level[kept]

    # n_jobs threads, one BLAS thread each: the candidate extraction (nonzero, gathers) is
    # single-threaded numpy and would otherwise leave a core idle between products
    with threadpool_limits(1 if n_jobs > 1 else None), ThreadPoolExecutor(n_jobs) as pool:
        parts = list(pool.map(one, range(0, N, block)))
    del Z, Zr
    indptr = np.zeros(N + 1, np.int64)
    np.cumsum(np.concatenate([p[0] for p in parts]), out=indptr[1:])
    nbr = np.concatenate([p[1] for p in parts])
    level = np.concatenate([p[2] for p in parts])
    return order, BandPairs(indptr, nbr, level, tuple(eps_levels.tolist())), self_ok


class BandPairs:
    """The pairs of :func:`band_pairs` over sorted positions, by first position (CSR): position
    ``a``'s partners are ``nbr[indptr[a]:indptr[a + 1]]`` (int32, ascending, all ``> a``) and
    ``level`` (uint8) holds, for each pair, the index in ``eps`` (ascending) of the smallest eps
    the pair is within. 5 bytes a pair: at 100,000 x 512 the pair lists dominate the memory."""

    def __init__(self, indptr: np.ndarray, nbr: np.ndarray, level: np.ndarray, eps: tuple):
        self.indptr, self.nbr, self.level, self.eps = indptr, nbr, level, eps

    def __len__(self):
        return len(self.nbr)

    def inside(self, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pa, pb, level) of the pairs with both positions in [p0, p1), by pa then pb."""
        a, b, level = _pairs_inside(self.indptr, self.nbr, self.level, p0, p1)
        return a + p0, b + p0, level


def _pairs_inside(indptr, nbr, level, p0, p1):
    """(a, b, level) of the CSR pairs with both positions in [p0, p1), as int64 offsets from p0."""
    k0, k1 = indptr[p0], indptr[p1]
    a = np.repeat(np.arange(p1 - p0), np.diff(indptr[p0:p1 + 1]))
    b = nbr[k0:k1].astype(np.int64) - p0
    keep = b < p1 - p0
    return a[keep], b[keep], level[k0:k1][keep]


def cover_clusters_numpy(indptr, nbr, level, order, self_ok, starts, stops, j, min_samples):
    """numpy twin of :func:`._sweep_kernel.cover_clusters` (same arguments, same result): no
    numba import and first call (about 1 s of CPU in a new process), so small sweeps use it."""
    rows, sizes, element = [], [], []
    for e, (p0, p1) in enumerate(zip(starts.tolist(), stops.tolist())):
        n = p1 - p0
        if n < min_samples:
            continue
        a, b, pair_level = _pairs_inside(indptr, nbr, level, p0, p1)
        keep = pair_level <= j
        element_rows = order[p0:p1]
        # positions are in lens order; sklearn's (ascending rows) numbers the clusters
        lab = labels_from_pairs(n, a[keep], b[keep], self_ok[p0:p1], min_samples, key=element_rows)
        clusters = clusters_from_labels(element_rows, lab)
        rows.extend(clusters)
        sizes.extend(len(c) for c in clusters)
        element.extend([e] * len(clusters))
    return (np.concatenate(rows) if rows else np.empty(0, np.int64), np.array(sizes, np.int64),
            np.array(element, np.int64))


class _KernelLoader:
    """Imports :mod:`._sweep_kernel` (numba: about 0.5 s) and loads its compiled code in a
    thread, so that it overlaps the band pass (numpy and BLAS, which release the GIL)."""

    def __init__(self):
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._load, name="topoact-sweep-kernel", daemon=True)
        self._thread.start()

    def _load(self):
        try:
            from ._sweep_kernel import cover_clusters
            empty = np.zeros(1, np.int64)         # the sweep's argument types: load or compile now
            cover_clusters(empty, np.zeros(0, np.int32), np.zeros(0, np.uint8), empty,
                           np.ones(1, bool), empty, empty, 0, 1)
        except Exception as exc:                  # reported by get(), in the caller's thread
            self._error = exc

    def get(self):
        """The kernel, or its numpy twin (same clusters) where numba fails to import or load
        (a broken install or cache): a slower sweep, not a failed one."""
        self._thread.join()
        if self._error is not None:
            logger.warning("sweep: numba kernel unavailable (%r); clustering with numpy", self._error)
            return cover_clusters_numpy
        from ._sweep_kernel import cover_clusters
        return cover_clusters


def sweep(X: Any, n_intervals: Sequence[int] = (20, 40, 60), overlaps: Sequence[float] = (0.2, 0.3),
          eps_scales: Sequence[float] = (1.0, 1.25), *, lens: Lens | None = None,
          cover: str = "uniform", metric: str = "euclidean", min_samples: int = 3,
          eps: float | None = None, labels: np.ndarray | None = None,
          predictions: np.ndarray | None = None, lens_values: np.ndarray | None = None,
          probabilities: np.ndarray | None = None, return_graphs: bool = False, n_jobs: int = 2,
          progress: ProgressFn | None = None, intervals: Sequence[int] | None = None,
          scheduler: Any = None) -> list[dict]:
    """Mapper graphs for every (n_intervals, overlap, eps_scale) setting (module docstring).

    Parameters
    ----------
    X : (N, D) array
    n_intervals, overlaps, eps_scales : the grid (``intervals`` is a deprecated alias)
    lens : Lens (default L2Norm()); cover : 'uniform' | 'balanced'
    metric, min_samples : DBSCAN's
    eps : base eps (else automatic from the k-distance knee); the DBSCAN eps of a setting is
        ``eps_from_kdistances(kd, scale)`` for auto, or ``eps * scale`` for a given eps
    labels, predictions : (N,) optional; lens_values : (N,) precomputed; probabilities : (N, C)
    return_graphs : also return each MapperGraph under ``graph``
    n_jobs : threads; progress : ``progress(done, total, message)`` per finished setting
    scheduler : str or distributed.Client, optional
        Each setting is one Dask task, a ``Mapper.fit`` with the shared lens values and eps
        (graphs identical to the in-process sweep; a run's ``.npy`` layer is read by the workers
        from the file, an in-memory ``X`` is scattered to them once). None: the block's
        :func:`topoact.distributed.use_scheduler`, else in-process.

    Returns
    -------
    One summary dict per setting (module docstring).
    """
    if intervals is not None:
        import warnings
        warnings.warn("sweep(intervals=...) is deprecated, use n_intervals=...",
                      DeprecationWarning, stacklevel=2)
        n_intervals = intervals
    intervals = n_intervals
    t_start = time.perf_counter()
    lens = lens if lens is not None else L2Norm()
    base = Mapper(lens=lens, cover=make_cover(cover, 10, 0.3), n_jobs=n_jobs,
                  compute_node_means=False)
    if lens_values is None:
        lens_values = base.compute_lens(X, probabilities=probabilities)
    lens_values = np.asarray(lens_values, np.float64)
    settings = list(product(intervals, overlaps, eps_scales))
    if not settings:
        raise ValueError("empty sweep grid")
    if eps is None:
        kd = kdistance_sample(X, min_samples, metric)
        eps_of = {s: eps_from_kdistances(kd, s) for s in eps_scales}
    else:
        eps_of = {s: float(f"{float(eps) * s:.6g}") for s in eps_scales}
    from ..distributed.tasks import resolve_scheduler

    scheduler = resolve_scheduler(scheduler)
    if scheduler is not None:
        return _sweep_on_dask(scheduler, X, settings, eps_of, lens_values, progress,
                              dict(lens=lens, cover=cover, metric=metric, min_samples=min_samples, labels=labels,
                                   predictions=predictions, return_graphs=return_graphs))
    results = []
    if lens_values.ndim != 1:
        for k, (n, p, s) in enumerate(settings):
            t0 = time.perf_counter()
            m = Mapper(lens=lens, cover=make_cover(cover, n, p, lens_values.shape[1]),
                       clusterer=DBSCAN(eps_of[s], metric, min_samples), n_jobs=n_jobs,
                       compute_node_means=False)
            g = m.fit_transform(X, labels=labels, predictions=predictions, lens_values=lens_values)
            results.append(_summary(n, p, s, eps_of[s], g, time.perf_counter() - t0, return_graphs))
            report(progress, k + 1, len(settings), "sweep settings")
        return results
    # numba's import and first call (about 1 s of CPU, overlapping the band pass) pay off only
    # on large sweeps; small ones use the numpy twin (same clusters)
    kernel = _KernelLoader() if X.shape[0] >= KERNEL_MIN_ROWS else None
    covers = {}
    width = 0.0
    for n, p in product(intervals, overlaps):
        c = make_cover(cover, n, p).fit(lens_values)
        covers[(n, p)] = c
        width = max(width, float(np.max(c.upper_ - c.lower_)))
    eps_max = max(eps_of.values())
    if isinstance(lens, L2Norm) and metric == "euclidean":
        # |‖x‖ - ‖y‖| <= ‖x - y‖: pairs within eps have lens values within eps
        width = min(width, eps_max * (1 + 1e-7) + 1e-12)
    t0 = time.perf_counter()
    order, pairs, self_ok_rows = band_pairs(
        X, lens_values, width, list(eps_of.values()), metric, n_jobs=max(1, int(n_jobs or 1)),
        elements=[(c.lower_[:, 0], c.upper_[:, 0]) for c in covers.values()])
    logger.info("sweep: %d candidate pairs in %.2fs", len(pairs), time.perf_counter() - t0)
    ls = lens_values[order]
    self_ok_sorted = self_ok_rows[order]
    level_of = {s: pairs.eps.index(eps_of[s]) for s in eps_scales}
    norms = row_norms(X)  # every setting's graph statistics read them: computed once, not per setting
    cover_clusters = kernel.get() if kernel is not None else cover_clusters_numpy

    def group(n, p):
        """The settings of one (intervals, overlap): its elements' DBSCAN clusters at each eps
        (one kernel call, GIL released), then each setting's graph."""
        c = covers[(n, p)]
        starts = np.searchsorted(ls, c.lower_[:, 0], "left").astype(np.int64)
        stops = np.searchsorted(ls, c.upper_[:, 0], "right").astype(np.int64)
        out = []
        for s in eps_scales:
            t1 = time.perf_counter()
            rows, sizes, element = cover_clusters(pairs.indptr, pairs.nbr, pairs.level, order,
                                                  self_ok_sorted, starts, stops, level_of[s],
                                                  int(min_samples))
            members = np.split(rows, np.cumsum(sizes)[:-1]) if len(sizes) else []
            m = Mapper(lens=lens, cover=c, clusterer=DBSCAN(eps_of[s], metric, min_samples),
                       n_jobs=1, compute_node_means=False)
            m.lens_values_ = lens_values
            m.eps_ = eps_of[s]
            g = m.graph_from_members(X, members, [c.element_label(e) for e in element.tolist()],
                                     labels=labels, predictions=predictions, norms=norms)
            out.append(_summary(n, p, s, eps_of[s], g, time.perf_counter() - t1, return_graphs))
        return out

    groups = list(product(intervals, overlaps))
    workers = max(1, min(int(n_jobs or 1), len(groups)))
    with ThreadPoolExecutor(workers) as pool:       # the kernel and numpy release the GIL
        for res in pool.map(lambda np_: group(*np_), groups):
            results.extend(res)
            report(progress, len(results), len(settings), "sweep settings")
    logger.info("sweep of %d settings in %.2fs", len(settings), time.perf_counter() - t_start)
    return results


def _setting_task(data: Any, lens_values: np.ndarray, fixed: dict, setting: tuple) -> dict:
    """A Dask task: the summary of one sweep setting ``(n_intervals, overlap, eps_scale, eps)``."""
    from ..distributed.tasks import NpyRows, ZarrRows

    n, p, s, eps = setting
    X = data.array() if isinstance(data, (NpyRows, ZarrRows)) else data
    t0 = time.perf_counter()
    cover = make_cover(fixed["cover"], n, p, lens_values.shape[1] if lens_values.ndim > 1 else 1)
    m = Mapper(lens=fixed["lens"], cover=cover, clusterer=DBSCAN(eps, fixed["metric"], fixed["min_samples"]),
               n_jobs=1, compute_node_means=False)
    g = m.fit_transform(X, labels=fixed["labels"], predictions=fixed["predictions"], lens_values=lens_values)
    return _summary(n, p, s, eps, g, time.perf_counter() - t0, fixed["return_graphs"])


def _sweep_on_dask(scheduler: Any, X: Any, settings: list, eps_of: dict, lens_values: np.ndarray,
                   progress: ProgressFn | None, fixed: dict) -> list[dict]:
    """Every setting as a Dask task (:func:`_setting_task`), summaries in the settings' order."""
    from ..distributed.tasks import file_rows, map_tasks

    data = file_rows(X) or np.asarray(X)
    items = [(n, p, s, eps_of[s]) for n, p, s in settings]
    results: list = [None] * len(items)
    for done, (i, summary) in enumerate(map_tasks(scheduler, _setting_task, items, shared=(data, lens_values, fixed),
                                                  what="sweep"), start=1):
        results[i] = summary
        report(progress, done, len(items), "sweep settings")
    return results


def _summary(n, p, s, eps, g, seconds, return_graphs):
    # "intervals" repeats n_intervals for one release (deprecated name, read by older callers)
    out = {"n_intervals": int(n), "intervals": int(n), "overlap": float(p), "eps_scale": float(s), "eps": float(eps),
           **g.summary(), "seconds": seconds}
    if return_graphs:
        out["graph"] = g
    return out
