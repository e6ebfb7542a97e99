"""Sparse Vietoris-Rips persistence with gudhi on a data-driven threshold (the default complex).

Why this default
----------------
Landmark clouds here are 1k-20k points in up to 512-D. Alpha / witness complexes need a low
dimensional embedding (alpha is exponential in the ambient dimension) and would change the
distances; the Rips filtration works on the distances themselves, is what ripser computes, and
is stable. Its cost is the number of triangles, so we build only what is needed:

1. all edges below a cap are found in float32 row blocks (never an N x N matrix); the cap is the
   smaller of the enclosing radius and the distance at which the mean degree reaches
   ``max_degree`` (estimated from a seeded sample of rows);
2. **H0 is exact** and computed without the complex: the MST of the complete graph
   (:mod:`.mst`; Borůvka passes join components the threshold graph leaves apart);
3. **H1 (and H2)**: the flag complex of the edges below a threshold ``T`` is inserted into a
   gudhi SimplexTree (``insert_batch``), edge-collapsed when it pays (``collapse_edges``, exact
   for the whole filtration), expanded to ``max_dim + 1`` and reduced by gudhi's persistent *cohomology*
   algorithm over Z/2 (ripser's default field). ``T`` starts at the distance giving mean degree
   ``degree`` and is raised (edge count doubled) while some H1 bar is still alive at ``T``, until
   every bar has died, the cap is reached or the predicted number of simplices exceeds
   ``max_simplices`` (memory guard; gudhi needs ~90 bytes per simplex).
   ``collapse='auto'`` collapses edges when the predicted flag complex has more than 30
   simplices per edge (measured: collapse costs more than it saves on sparse high-D
   thresholds, and saves 2-10x on dense or low-dimensional ones).

What is exact and what is truncated
-----------------------------------
* H0: always exact (equal to ripser's H0).
* H1/H2 bars that die at or below ``T``: exact (the filtration below ``T`` is the full Rips
  filtration).
* Bars still alive at ``T`` are reported with death ``inf`` and counted in ``n_truncated``; their
  true death is > ``T``.
* If ``T`` is below the enclosing radius, a class *born* above ``T`` cannot be seen. When ``T``
  reaches the enclosing radius (``exact=True``) the whole diagram equals ripser's.
Pass ``threshold='enclosing'`` to force the exact computation (can be very large in high-D),
or a number to fix ``T``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import gudhi
import numpy as np

from ._validation import check_cancel, check_metric, check_points
from .mst import h0_diagram, mst_edges
from .pairwise import distances_to, iter_blocks, prepare

log = logging.getLogger(__name__)


@dataclass
class RipsResult:
    """Diagrams (list indexed by dimension, arrays (k, 2)) and how they were obtained."""

    diagrams: list
    threshold: float
    enclosing_radius: float
    exact: bool
    n_truncated: int
    n_edges: int
    n_simplices: int
    pairs: dict = field(default_factory=dict)   # dim -> [(birth simplex, death simplex, b, d)]
    mst: tuple | None = None                    # (edges (n-1, 2), weights (n-1,))
    edges: tuple | None = None                  # (i, j, w) sorted by w, all edges <= cap
    timings: dict = field(default_factory=dict)


def _sample_threshold(Y, sq, metric, degree, seed, n_sample=256):
    n = Y.shape[0]
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=min(n, n_sample), replace=False)
    d = distances_to(Y, sq, rows, metric).ravel()
    q = min(1.0, max(degree, 1) / max(n - 1, 1))
    return float(np.quantile(d[d > 0] if (d > 0).any() else d, q))


def threshold_edges(Y, sq, metric, cap, block=1024, should_cancel=None):
    """All edges (i < j) with distance <= cap, sorted by distance, plus the enclosing radius."""
    n = Y.shape[0]
    rows_i, rows_j, vals, enc = [], [], [], np.inf
    for s, D in iter_blocks(Y, sq, metric, block):
        check_cancel(should_cancel)
        enc = min(enc, float(D.max(axis=1).min()))
        ii, jj = np.nonzero(D <= cap)
        keep = (ii + s) < jj
        ii, jj = ii[keep], jj[keep]
        rows_i.append((ii + s).astype(np.int32))
        rows_j.append(jj.astype(np.int32))
        vals.append(D[ii, jj])
    i, j, w = np.concatenate(rows_i), np.concatenate(rows_j), np.concatenate(vals)
    order = np.argsort(w, kind="stable")
    return i[order], j[order], w[order].astype(np.float64), enc


def _predict_simplices(n, i, j, max_dim, seed, n_sample=200):
    """Estimate vertices + edges + triangles (+ tetrahedra not counted) of the flag complex."""
    m = len(i)
    if m == 0 or max_dim < 1:
        return n + m
    from scipy.sparse import coo_matrix
    A = coo_matrix((np.ones(m, np.int8), (i, j)), shape=(n, n))
    A = (A + A.T).tocsr()
    rng = np.random.default_rng(seed)
    verts = rng.choice(n, size=min(n, n_sample), replace=False)
    tri = 0.0
    for v in verts:
        nb = A.indices[A.indptr[v]:A.indptr[v + 1]]
        if len(nb) > 1:
            tri += A[nb][:, nb].nnz / 2
    return int(n + m + tri * n / len(verts) / 3)


def _gudhi_persistence(n, i, j, w, max_dim, collapse):
    collapse = 8 if collapse is True else int(collapse)
    st = gudhi.SimplexTree()
    st.insert_batch(np.arange(n, dtype=np.int32)[None, :], np.zeros(n))
    if len(w):
        st.insert_batch(np.vstack([i, j]).astype(np.int32), w)
    for _ in range(collapse):
        before = st.num_simplices()
        st.collapse_edges(1)
        if st.num_simplices() == before:
            break
    st.expansion(max_dim + 1)
    st.compute_persistence(homology_coeff_field=2, min_persistence=0,
                           persistence_dim_max=False)
    return st


def sparse_rips(X, *, metric="euclidean", max_dim=1, threshold="auto", degree=16,
                max_degree=None, max_simplices=8_000_000, collapse="auto", seed=0, block=1024,
                should_cancel=None, keep_edges=False) -> RipsResult:
    """Rips persistence diagrams of a point cloud (see the module docstring for exactness).

    Parameters
    ----------
    X : array (n_points, n_features)
    metric : 'euclidean' or 'cosine'
    max_dim : 1 or 2, highest homology dimension
    threshold : 'auto' (adaptive), 'enclosing' (exact) or a float
    degree : mean degree of the first threshold tried by 'auto'
    max_degree : mean degree of the edge cap (default ``max(256, 4 * degree)``)
    max_simplices : memory guard on the predicted complex size
    collapse : 'auto', or number of gudhi edge-collapse iterations (0 = none)

    Returns
    -------
    RipsResult with ``diagrams[d]`` of shape (k_d, 2), ``inf`` deaths for bars alive at the end.
    """
    X = check_points(X)
    check_metric(metric)
    if max_dim not in (0, 1, 2):
        raise ValueError(f"max_dim must be 0, 1 or 2, got {max_dim!r}")
    n = X.shape[0]
    timings = {}
    t0 = time.perf_counter()
    Y, sq = prepare(X, metric)
    if threshold == "enclosing":
        cap = np.inf
    elif threshold == "auto":
        md = max_degree if max_degree is not None else max(256, 4 * degree)
        cap = _sample_threshold(Y, sq, metric, md, seed)
    else:
        cap = float(threshold)
        if not cap > 0:
            raise ValueError(f"threshold must be positive, got {threshold!r}")
    i, j, w, enc = threshold_edges(Y, sq, metric, cap, block, should_cancel)
    if cap > enc:
        keep = w <= enc
        i, j, w = i[keep], j[keep], w[keep]
        cap = enc
    timings["edges"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    medges, mweights = mst_edges(n, i, j, w, Y, sq, metric, block)
    h0 = h0_diagram(mweights)
    timings["h0_mst"] = time.perf_counter() - t0
    check_cancel(should_cancel)

    diagrams, pairs = [h0], {}
    T, st, m = 0.0, None, 0
    if max_dim >= 1:
        t0 = time.perf_counter()
        if threshold == "auto":
            T0 = min(cap, _sample_threshold(Y, sq, metric, degree, seed))
            m = int(np.searchsorted(w, T0, side="right"))
            if _predict_simplices(n, i, j, max_dim, seed) <= min(2_000_000, max_simplices):
                m = len(w)  # small enough: go straight to the cap (one round, no regrowth)
        else:
            m = len(w)
        while True:
            check_cancel(should_cancel)
            predicted = _predict_simplices(n, i[:m], j[:m], max_dim, seed)
            if st is not None and predicted > max_simplices:
                log.info("stopping threshold growth: predicted %d simplices > %d",
                         predicted, max_simplices)
                break
            if st is None and predicted > max_simplices and threshold == "auto":
                # shrink the first threshold until the complex fits
                while m > n and predicted > max_simplices:
                    m //= 2
                    predicted = _predict_simplices(n, i[:m], j[:m], max_dim, seed)
            c = collapse
            if collapse == "auto":
                c = 8 if predicted > 30 * max(m, 1) else 0
            st_new = _gudhi_persistence(n, i[:m], j[:m], w[:m], max_dim, c)
            st, m_used = st_new, m
            alive = sum(int(np.isinf(st.persistence_intervals_in_dimension(d)[:, 1]).sum())
                        if len(st.persistence_intervals_in_dimension(d)) else 0
                        for d in range(1, max_dim + 1))
            if threshold != "auto" or alive == 0 or m >= len(w):
                break
            m = min(len(w), 2 * m)
        m = m_used
        T = float(w[m - 1]) if m else 0.0
        if threshold == "auto" and m < len(w):
            T = float(w[m - 1])  # bars dying at exactly w[m-1] are inside; strictly above unseen
        for d in range(1, max_dim + 1):
            dg = st.persistence_intervals_in_dimension(d)
            dg = np.asarray(dg, np.float64).reshape(-1, 2)
            diagrams.append(dg[dg[:, 1] > dg[:, 0]])
        for b, dth in st.persistence_pairs():
            dim = len(b) - 1
            if 1 <= dim <= max_dim:
                fb = float(st.filtration(b))
                fd = float(st.filtration(dth)) if len(dth) else np.inf
                if fd > fb:
                    pairs.setdefault(dim, []).append(
                        (list(map(int, b)), list(map(int, dth)), fb, fd))
        timings["h1_gudhi"] = time.perf_counter() - t0
    n_trunc = sum(int(np.isinf(d[:, 1]).sum()) for d in diagrams[1:])
    exact = bool(max_dim == 0 or (m >= len(w) and cap >= enc))
    return RipsResult(
        diagrams=diagrams, threshold=T if max_dim >= 1 else float(cap), enclosing_radius=enc,
        exact=exact, n_truncated=n_trunc, n_edges=int(m), n_simplices=int(st.num_simplices())
        if st is not None else n, pairs=pairs, mst=(medges, mweights),
        edges=(i, j, w) if keep_edges else None, timings=timings)
