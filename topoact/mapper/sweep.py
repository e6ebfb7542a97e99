"""Parameter sweep: intervals x overlap x clustering scale in one call, reusing work.

``sweep(X, intervals=[...], overlaps=[...], eps_scales=[...], lens=L2Norm(), cover='uniform',
metric='euclidean', min_samples=3, labels=None, ...) -> list[dict]``

Reuse: the lens values and the k-distance sample (auto eps) are computed once. For DBSCAN on a
1-D lens, all neighbour pairs that any setting can need are found in ONE pass: rows sorted by
lens, pairs (a, b) with ``|lens_a - lens_b| <= W`` (W = the widest cover element over all
settings) and distance <= the largest eps, by float32 block products with a float64 re-check
near eps (as in ``cluster.neighbor_pairs``). Each cover element is a contiguous range of the
sorted rows, so a setting's pairs in an element are a slice of the pair list; pairs close to a
smaller eps are re-checked in float64 again, then ``labels_from_pairs`` gives sklearn's DBSCAN
labels. Graphs are therefore identical to individual ``Mapper.fit`` calls (tested).
Other clusterers or 2-D lenses fall back to one ``Mapper.fit`` per setting (lens cached).

Each summary: intervals, overlap, eps_scale, eps, nodes, edges, components, cycles,
mean_purity, covered_points, seconds; ``graph`` (MapperGraph) when ``return_graphs=True``.
"""
from __future__ import annotations

import logging
import time
from itertools import product

import numpy as np

from .cluster import DBSCAN, eps_from_kdistances, kdistance_sample, labels_from_pairs
from .cover import make_cover
from .lens import L2Norm
from .pipeline import Mapper

logger = logging.getLogger(__name__)

__all__ = ["sweep", "band_pairs"]


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


def band_pairs(X, lens, width, eps_max, metric="euclidean", block=512, chunk=16384):
    """Neighbour pairs within eps_max among rows whose 1-D lens values differ by <= width.

    Returns
    -------
    order : (N,) rows sorted by lens; pa, pb : sorted positions (pa < pb), sorted by pa;
    value : (P,) float32 approximation (squared euclidean, or 2 x cosine distance);
    margin : (P,) float32 rounding margin of value; self_ok : (N,) bool in row order.
    """
    N, D = X.shape
    order = np.argsort(lens, kind="stable")
    ls = lens[order]
    Z = np.empty((N, D), np.float32)
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
        thr = 2.0 * eps_max
    else:
        zero = np.zeros(N, bool)
        thr = float(eps_max) ** 2
    mean = Z[~zero].mean(0, dtype=np.float64).astype(np.float32) if (~zero).any() else 0
    Z[~zero] -= mean
    sq = np.einsum("ij,ij->i", Z, Z, dtype=np.float64)
    tol = 2e-6 * np.sqrt(D) + 1e-6
    # float32 in place: d2' = (1 - tol)(sq_a + sq_b) - 2 G <= thr  <=>  d2 <= thr + margin
    sqa = ((1.0 - tol) * sq).astype(np.float32)
    thr32 = np.float32(thr * (1 + 1e-12))
    PA, PB, V, M = [], [], [], []
    for s in range(0, N, block):
        e = min(N, s + block)
        hi = int(np.searchsorted(ls, ls[e - 1] + width, "right"))
        G = Z[s:e] @ Z[s:hi].T
        G *= np.float32(-2.0)
        G += sqa[s:e, None]
        G += sqa[None, s:hi]
        ia, ib = np.nonzero(G <= thr32)
        g = G[ia, ib].astype(np.float64)
        ia = ia + s
        ib = ib + s
        keep = (ib > ia) & ~zero[ia] & ~zero[ib]
        ia, ib, g = ia[keep], ib[keep], g[keep]
        ssum = sq[ia] + sq[ib]
        PA.append(ia)
        PB.append(ib)
        V.append((g + tol * ssum).astype(np.float32))
        M.append((tol * ssum + 1e-12 * thr).astype(np.float32))
    cat = (lambda L, dt: np.concatenate(L).astype(dt) if L else np.empty(0, dt))
    return order, cat(PA, np.int64), cat(PB, np.int64), cat(V, np.float32), cat(M, np.float32), self_ok


def _select(X, order, pa, pb, val, mar, p0, p1, eps, metric, cache):
    """Pairs inside sorted range [p0, p1) within eps (float64 re-check near eps)."""
    i0, i1 = np.searchsorted(pa, [p0, p1], "left")
    a, b, v, m = pa[i0:i1], pb[i0:i1], val[i0:i1], mar[i0:i1]
    inside = b < p1
    a, b, v, m = a[inside], b[inside], v[inside], m[inside]
    thr = 2.0 * eps if metric == "cosine" else eps * eps
    keep = v <= thr - m
    unsure = np.flatnonzero(~keep & (v <= thr + m))
    if len(unsure):
        ga, gb = order[a[unsure]], order[b[unsure]]
        exact = _exact_values(X, ga, gb, metric)
        ok = exact <= (eps if metric == "cosine" else thr)
        keep[unsure] = ok
    return a[keep], b[keep]


def sweep(X, intervals=(20, 40, 60), overlaps=(0.2, 0.3), eps_scales=(1.0, 1.25), *,
          lens=None, cover="uniform", metric="euclidean", min_samples=3, eps=None,
          labels=None, predictions=None, lens_values=None, probabilities=None,
          return_graphs=False, n_jobs=2, progress=None) -> list:
    """Mapper graphs for every (intervals, overlap, eps_scale) setting (module docstring).

    ``eps`` fixes the base eps (else automatic from the k-distance knee); the DBSCAN eps of a
    setting is ``eps_from_kdistances(kd, scale)`` for auto, or ``eps * scale`` for a given eps.
    """
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
    results = []
    if lens_values.ndim != 1:
        for k, (n, p, s) in enumerate(settings):
            t0 = time.perf_counter()
            m = Mapper(lens=lens, cover=make_cover(cover, n, p, lens_values.shape[1]),
                       clusterer=DBSCAN(eps_of[s], metric, min_samples), n_jobs=n_jobs,
                       compute_node_means=False)
            g = m.fit(X, labels=labels, predictions=predictions, lens_values=lens_values)
            results.append(_summary(n, p, s, eps_of[s], g, time.perf_counter() - t0, return_graphs))
            if progress:
                progress(k + 1, len(settings))
        return results
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
    order, pa, pb, val, mar, self_ok_rows = band_pairs(X, lens_values, width, eps_max, metric)
    logger.info("sweep: %d candidate pairs in %.2fs", len(pa), time.perf_counter() - t0)
    ls = lens_values[order]
    self_ok_sorted = self_ok_rows[order]
    for k, (n, p, s) in enumerate(settings):
        t0 = time.perf_counter()
        c = covers[(n, p)]
        eps_s = eps_of[s]
        members, ivals = [], []
        starts = np.searchsorted(ls, c.lower_[:, 0], "left")
        stops = np.searchsorted(ls, c.upper_[:, 0], "right")
        for e, (p0, p1) in enumerate(zip(starts, stops)):
            if p1 - p0 < min_samples or p1 <= p0:
                continue
            a, b = _select(X, order, pa, pb, val, mar, p0, p1, eps_s, metric, None)
            rows = order[p0:p1]
            loc_order = np.argsort(rows, kind="stable")        # local = ascending row index
            rank = np.empty(p1 - p0, np.int64)
            rank[loc_order] = np.arange(p1 - p0)
            la, lb = rank[a - p0], rank[b - p0]
            lo, hi = np.minimum(la, lb), np.maximum(la, lb)
            srows = rows[loc_order]
            lab = labels_from_pairs(p1 - p0, lo, hi, self_ok_sorted[p0:p1][loc_order], min_samples)
            for cl in np.unique(lab):
                if cl >= 0:
                    members.append(srows[lab == cl])
                    ivals.append(c.element_label(e))
        base.lens_values_ = lens_values
        base.cover = c
        base.clusterer = DBSCAN(eps_s, metric, min_samples)
        base.eps_ = eps_s
        g = base.graph_from_members(X, members, ivals, labels=labels, predictions=predictions)
        results.append(_summary(n, p, s, eps_s, g, time.perf_counter() - t0, return_graphs))
        if progress:
            progress(k + 1, len(settings))
    logger.info("sweep of %d settings in %.2fs", len(settings), time.perf_counter() - t_start)
    return results


def _summary(n, p, s, eps, g, seconds, return_graphs):
    out = {"intervals": int(n), "overlap": float(p), "eps_scale": float(s), "eps": float(eps),
           **g.summary(), "seconds": seconds}
    if return_graphs:
        out["graph"] = g
    return out
