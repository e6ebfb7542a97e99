"""Vietoris-Rips persistence on a data-driven, *certified* threshold (the default complex).

Default (``engine='auto'``, ``max_dim=1``) with the dense matrix: ``'columns'``
-------------------------------------------------------------------------------
One exact pass at the enclosing radius (:mod:`.h1_reduce`): the dense float32 matrix (below;
built while it fits in ``max_memory_gb``, :func:`dense_points_limit`: 30,894 points at the
default 4 GB, 1.6 GB at 20,000), H0 from its MST, and the H1 cohomology reduction of only the
columns that can matter, the cone-free non-MST edges of :mod:`.certificate`; every other edge
is in an apparent pair (triangles are ordered by their youngest facet, so this holds with tied
lengths too) or cleared by H0. No threshold steps: the previous default (below, still
``engine='gudhi-ripser'``) reran a full reduction at every growth step of ``T``, and on real
layers ``T`` had to reach 87 % of the edges, so it lost to ripser at 5,000 points.
Measured with ``benchmarks/persistence.py`` (2 shared cores, load 2.4-4.6, each row's peers in
the same run, the same diagrams: bottleneck 0): real layer3 at 5,000 points (all 12.5M edges)
ResNet-20 1.2 s against ripser 85 s and giotto-ph 158 s, ResNet-32 1.7 s against 73 s and
160 s; ReLU-like 512-D data at 5,000 points 2.1 s against 37 s and 30 s; at 20,000 points
18-28 s (load 2.8-4.6) and 1.95 GB peak (40,643 columns of 188M edges, exact, no truncated
bar; ripser agrees on the first 5,000 of them).

``engine='gudhi-ripser'`` etc.: a certified threshold
------------------------------------------------------
The complex is the Vietoris-Rips filtration of the landmarks, the same filtration ripser
computes, so "equal to ripser" is a checkable claim. It is reduced by **gudhi's ripser on a
sparse edge list** holding only the edges below a threshold ``T`` (cohomology, Z/2, implicit
coboundaries: no simplex is stored; when ``T`` keeps more than ``DENSE_FRACTION`` = 25 % of all
edges, as on real ResNet layers, on the dense matrix with threshold ``T`` instead, which ripser
enumerates much faster), and ``T`` is chosen so that the result is exact:

1. the dense (n, n) float32 distance matrix is computed in float64 row blocks and rounded once
   (as ripser does; 100 MB at n = 5,000; used while ``n <= max_dense_points``, 8,192 for these
   engines: ripser copies the matrix and the threshold steps build (n, n) masks);
2. **H0** is exact from the MST (Prim on the dense matrix, or scipy + Borůvka passes, :mod:`.mst`);
3. **where H1 can be born**: an edge with an *apex* (a vertex closer than its length to both
   ends) cannot create an H1 class, nor can an MST edge; :mod:`.certificate` lists the
   *cone-free* non-MST edges, whose longest length ``B`` bounds every H1 birth (on ReLU-like
   data they are exactly the H1 births);
4. ripser runs at ``T`` = one growth step (``growth`` = 1.3x the edges) above ``B``; while an H1
   bar is still alive at ``T`` the edge count is multiplied by ``growth`` and ripser rerun;
5. when no bar is alive at ``T >= B`` the certificate proves ``H1(VR(r)) = 0`` for all
   ``r >= T``: the diagram equals the full one (``exact=True``). Measured: bottleneck distance
   to ripser's diagram 0 (bit-identical values), with 10-25 % of the edges.

Above ``max_dense_points`` there is no certificate: edges up to a cap (first 4M) are found
blockwise (never n x n), ``T`` grows from mean degree ``degree`` (edges doubled) while bars are
alive, and when bars are still alive at the cap the edge list is rebuilt with twice the edges
(the budget grows up to ``max_memory_gb``; an integer ``max_edges`` is a hard cap instead). Bars
alive at the end have death ``inf`` (``n_truncated``) and ``exact`` is False; classes born above
``T`` are not seen. With the dense matrix the budget is every edge: no truncation.

Without the dense matrix the reducer (``engine=`` of :func:`ripser_rips`) is gudhi's ripser
(Glisse's rewrite, in gudhi >= 3.10): on the same edges it took 0.59 s where ripser.py took
1.42 s (real ResNet-20 layer3, 1,000 points, all 496k edges; 1.46x on synthetic circle data),
same bars. ``'ripser'`` (ripser.py) stays available. Boissonnat-Pritam edge collapse
(``gudhi.flag_filtration.edge_collapse.reduce_graph``, exact) was measured and not adopted: it
shrinks those 496k edges to 50k and ripser's time from 1.4 s to 0.16 s, but the collapse itself
took 24 s. ``engine='giotto'`` reduces the same sparse matrix with giotto-ph's multicore ripser
(``n_threads``), ``'giotto-collapse'`` with its edge collapse first; same diagram. Measured on
the loaded 2-core machine giotto-ph was slower than ripser.py on the certified sparse matrix
(42 s vs 34 s, 1.39M edges, 5k ReLU points, load 18), so it is an option, not the default.

Why this default (measurements in ``benchmarks/persistence.py``, 2 cores, 512-D)
--------------------------------------------------------------------------------
* **gudhi SimplexTree + persistent cohomology** (``engine='gudhi'``, kept for ``max_dim=2``):
  it must store every triangle (~90 bytes each); at the threshold exactness needs (10-20 % of
  edges at 1-5k points in 512-D) the flag complex has 10^8+ triangles, so it has to stop at a
  lower ``T`` and misses bars born above it (H1 bottleneck to ripser 2.7e-2 at 1k on the ReLU
  data). ``collapse_edges`` (Boissonnat-Pritam, exact) is what makes gudhi viable at the
  *certified* threshold: 1k ReLU points, T certified, 121k edges: without collapse 20.2 s and
  7.75M simplices, with collapse 3.0 s and 31k simplices, both exact -- but ripser on the same
  edges takes ~0.4 s (``collapse='auto'`` collapses when > 30 predicted simplices per edge; the
  previous measurement that collapse does not pay on the much sparser low thresholds stands).
  Plain ``gudhi.RipsComplex`` to dimension 2 passed 6 GB at 1k.
* **ripser dense** (the usual choice) reduces all n(n-1)/2 edges up to the enclosing radius;
  the same code on the certified sparse matrix does the same reduction on ~10 % of them.
* **witness / alpha complexes**: alpha needs a low-dimensional embedding (exponential in the
  ambient dimension) and a witness complex on landmarks is a *different* filtration (only
  interleaved with Rips), so neither can meet "diagram equal to ripser's"; not used.
* ``engine='gudhi'`` remains available (H2 and comparisons); gudhi is still the library for
  extended persistence of Mapper graphs, bottleneck / Wasserstein distances and
  vectorisations.

What is exact and what is truncated (both engines)
-------------------------------------------------
* H0: always exact (equal to ripser's H0).
* ``exact=True``: the whole diagram equals ripser's (certificate, or ``T`` = enclosing radius).
* otherwise bars alive at ``T`` are reported with death ``inf`` and counted in ``n_truncated``.
Pass ``threshold='enclosing'`` to force the full filtration, or a number to fix ``T``.

gudhi engine details (``engine='gudhi'``)
-----------------------------------------
Edges below a cap (mean degree ``max_degree``) are found in float32 blocks; the flag complex of
the edges below ``T`` goes into a SimplexTree (``insert_batch``), is edge-collapsed when it pays,
expanded to ``max_dim + 1`` and reduced by gudhi's persistent cohomology over Z/2. ``T`` starts
at mean degree ``degree`` and the edge count doubles while an H1 bar is alive, up to the cap or
``max_simplices`` predicted simplices.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Optional, Union

import gudhi
import numpy as np

from ..masks import nonzero_2d
from ..progress import CancelFn
from ._validation import check_cancel, check_metric, check_points
from .mst import dense_mst, h0_diagram, mst_edges
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
    #                                             ('columns': <= the last H1 birth, all that
    #                                             representative cycles use)
    timings: dict = field(default_factory=dict)


def _sample_threshold(Y, sq, metric, degree, seed, n_sample=256):
    n = Y.shape[0]
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=min(n, n_sample), replace=False)
    d = distances_to(Y, sq, rows, metric).ravel()
    q = min(1.0, max(degree, 1) / max(n - 1, 1))
    return float(np.quantile(d[d > 0] if (d > 0).any() else d, q))


def threshold_edges(Y: np.ndarray, sq: np.ndarray, metric: str, cap: float, block: int = 1024,
                    should_cancel: Optional[CancelFn] = None,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """All edges below a cap, found blockwise (no n x n matrix), and the enclosing radius.

    Parameters
    ----------
    Y : ndarray (n, d) and sq : ndarray (n,)
        Points and squared norms from :func:`~topoact.topology.pairwise.prepare`.
    metric : {'euclidean', 'cosine'}
    cap : float
        Longest edge kept.
    block : int
        Rows per distance block.
    should_cancel : callable, optional
        Polled per block (raises :class:`~topoact.progress.Cancelled`).

    Returns
    -------
    i, j : int32 arrays (m,) with i < j; w : float64 (m,) sorted ascending; enclosing radius
    """
    n = Y.shape[0]
    rows_i, rows_j, vals, enc = [], [], [], np.inf
    for s, D in iter_blocks(Y, sq, metric, block):
        check_cancel(should_cancel)
        enc = min(enc, float(D.max(axis=1).min()))
        ii, jj = nonzero_2d(D <= cap)
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


#: ``engine=`` of :func:`sparse_rips`: 'auto' (ripser for H0 + H1, gudhi for H2), ripser.py,
#: giotto-ph (multicore ripser, H0 + H1) or gudhi's SimplexTree
ENGINES = ("auto", "columns", "ripser", "gudhi-ripser", "giotto", "giotto-collapse", "gudhi")
#: reducers of the certified sparse matrix (H0 + H1), ``engine=`` of :func:`ripser_rips`
RIPSER_ENGINES = ("auto", "columns", "ripser", "gudhi-ripser", "giotto", "giotto-collapse")
#: bytes per edge of the sparse filtration (index + length arrays here, ripser's own copy)
EDGE_BYTES = 40
#: edges of the first blockwise scan without a dense matrix (then doubled while bars live)
FIRST_SCAN_EDGES = 4_000_000


#: above this fraction of all n(n-1)/2 edges the reducer gets the dense matrix and ``T`` instead
#: of the edge list: ripser's sparse coboundary enumeration then costs more than it saves (real
#: ResNet-20 layer3, 2,000 max-min landmarks, 79 % of the edges certified: 44 s sparse (ripser.py)
#: vs 5.4 s dense with the threshold (gudhi's ripser), same 2,833 bars)
DENSE_FRACTION = 0.25


def _ripser_dense(D, T, engine="gudhi-ripser", n_threads=2):
    """H1 diagram of the Rips filtration of the dense matrix ``D`` (n, n) up to ``T``."""
    if engine in ("giotto", "giotto-collapse"):
        from gph import ripser_parallel
        dg = ripser_parallel(D, metric="precomputed", maxdim=1, thresh=T, n_threads=n_threads,
                             collapse_edges=engine == "giotto-collapse")["dgms"][1]
    elif engine == "gudhi-ripser":
        try:
            from gudhi._ripser_ext import _full
        except ImportError:
            return _ripser_dense(D, T, "ripser")
        dg = _full(D, max_dimension=1, max_edge_length=T)[1]
    else:
        from ripser import ripser
        dg = ripser(D, distance_matrix=True, maxdim=1, thresh=T)["dgms"][1]
    return np.asarray(dg, np.float64).reshape(-1, 2)


def _ripser_diagram(n, i, j, w, engine="ripser", n_threads=2):
    """H1 diagram of the Rips filtration restricted to the given edges (sparse input):
    ripser.py, gudhi's ripser (``engine='gudhi-ripser'``) or giotto-ph's multicore ripser
    (``engine='giotto'``, with its edge collapse: ``'giotto-collapse'``)."""
    from scipy.sparse import coo_matrix
    S = coo_matrix((np.asarray(w, np.float32), (i, j)), shape=(n, n))
    if engine in ("giotto", "giotto-collapse"):
        from gph import ripser_parallel
        dg = ripser_parallel(S, metric="precomputed", maxdim=1, n_threads=n_threads,
                             collapse_edges=engine == "giotto-collapse")["dgms"][1]
        return np.asarray(dg, np.float64).reshape(-1, 2)
    if engine == "gudhi-ripser":
        # gudhi's own ripser (Glisse's rewrite) on the same edges: 2.4x ripser.py on real
        # ResNet-20 layer3 (1,000 points, all 496k edges, 0.59 s vs 1.42 s, same 525 bars)
        try:                        # gudhi's private binding (gudhi >= 3.10, pinned)
            from gudhi._ripser_ext import _sparse
        except ImportError:         # a future gudhi moved it: ripser.py, same diagram
            log.warning("gudhi's ripser binding not found: using ripser.py")
            return _ripser_diagram(n, i, j, w, "ripser")
        dg = _sparse(np.asarray(i, np.int32), np.asarray(j, np.int32),
                     np.asarray(w, np.float32), int(n), max_dimension=1)
        return np.asarray(dg[1] if len(dg) > 1 else np.empty((0, 2)), np.float64).reshape(-1, 2)
    from ripser import ripser
    return np.asarray(ripser(S, distance_matrix=True, maxdim=1)["dgms"][1], np.float64)


def _edges_upto(D, T):
    """Edges i < j with D[i, j] <= T from a dense matrix, sorted by length."""
    from ._dense_kernel import edges_at_most
    i, j = edges_at_most(D, T)
    w = D[i, j]
    order = np.argsort(w, kind="stable")
    return i[order].astype(np.int32), j[order].astype(np.int32), w[order].astype(np.float64)


#: bytes per entry of the (n, n) matrix the 'columns' engine holds: the float32 matrix plus
#: the float64 Gram block, the points and the kernels' buffers (measured peak at 20,000
#: ReLU-like 512-D points: 1.95 GB, of which ~0.35 GB is the interpreter and libraries)
DENSE_BYTES = 4.5
#: ``max_dense_points`` of the ripser-based engines (ripser copies the matrix, and the edge
#: lists of the threshold steps are (n, n) masks)
RIPSER_DENSE_POINTS = 8192


def dense_points_limit(max_memory_gb: float, engine: str = "auto") -> int:
    """Largest ``n`` whose dense matrix path fits in ``max_memory_gb`` (the default of
    ``max_dense_points``).

    Parameters
    ----------
    max_memory_gb : float
    engine : one of :data:`RIPSER_ENGINES`; the ripser-based ones keep
        :data:`RIPSER_DENSE_POINTS`

    Returns
    -------
    int (4 GB: 30,894 points for 'auto' / 'columns')
    """
    if engine not in ("auto", "columns"):
        return RIPSER_DENSE_POINTS
    return int((max_memory_gb * 2**30 / DENSE_BYTES) ** 0.5)


def _dense_ok(X, max_dense_points, certify):
    return np.shape(X)[0] <= max_dense_points and certify in ("auto", True)


def ripser_rips(X: np.ndarray, *, metric: str = "euclidean", threshold: Union[str, float] = "auto",
                degree: int = 32, certify: Union[str, bool] = "auto",
                max_dense_points: Optional[int] = None,
                max_edges: Optional[int] = None, growth: Optional[float] = None, seed: int = 0,
                block: int = 1024, k_apex: int = 16, should_cancel: Optional[CancelFn] = None,
                keep_edges: bool = False, max_memory_gb: float = 4.0,
                engine: str = "auto", n_threads: int = 2) -> RipsResult:
    """H0 + H1 with ripser on a sparse thresholded distance matrix, certified exact if possible.

    ``threshold='auto'``: start at the distance of mean degree ``degree`` (or, with the dense
    matrix, at the longest cone-free non-MST edge if that is larger: no bar is born above it);
    while some H1 bar is alive at ``T``, multiply the edge count by ``growth`` (default 1.3
    with the dense matrix, 2 without); then (``certify``, dense matrix, n <=
    ``max_dense_points``) raise ``T`` to the longest cone-free non-MST edge ``B``
    (:mod:`.certificate`) and repeat. When both conditions hold the diagram is exact
    (``exact=True``), otherwise bars alive at ``T`` get death ``inf``.

    The edge budget grows instead of truncating: with ``max_edges=None`` (default) the dense
    matrix offers every edge up to the enclosing radius, and without it the blockwise edge
    list is rebuilt with twice the edges while bars are alive at its cap, until
    ``max_memory_gb`` (~``EDGE_BYTES`` bytes per edge in ripser + numpy) is reached. An
    integer ``max_edges`` is a hard cap (bars alive there are truncated and counted).

    Parameters
    ----------
    X : array (n_points, n_features)
    metric : 'euclidean' or 'cosine'
    threshold : 'auto', 'enclosing' or a float
    certify : 'auto' (certificate when n <= ``max_dense_points``), True (required) or False
    max_dense_points : largest n for which the dense (n, n) float32 matrix is built (default:
        :func:`dense_points_limit` of ``max_memory_gb``, 30,894 points at 4 GB for the
        'columns' engine, 8,192 for the ripser-based ones)
    k_apex : nearest neighbours tried first as apexes by the certificate
    max_edges : None (the budget grows, bounded by ``max_memory_gb``) or a hard cap
    max_memory_gb : memory bound of the dense matrix (``max_dense_points``) and of the
        growing edge budget without it
    engine : 'auto' (default: 'columns' with the dense matrix, else 'gudhi-ripser'),
        'columns' (:mod:`.h1_reduce`: one exact pass at ``T`` = the enclosing radius that
        reduces only the cone-free columns; needs the dense matrix), 'gudhi-ripser' (gudhi's
        ripser, one thread, 1.5-2.4x ripser.py on the
        same edges), 'ripser' (ripser.py), 'giotto' or 'giotto-collapse' (giotto-ph's
        multicore ripser, without / with its edge collapse, on
        the same sparse matrix, ``n_threads`` threads; same diagram)

    Returns
    -------
    RipsResult with ``diagrams = [H0 (k0, 2), H1 (k1, 2)]``, ``pairs[1]`` = birth edges.
    """
    from .certificate import cone_free_edges, dense_distances
    if certify not in ("auto", True, False):
        raise ValueError(f"certify must be 'auto', True or False, got {certify!r}")
    X = check_points(X)
    if not max_memory_gb > 0:
        raise ValueError(f"max_memory_gb must be positive, got {max_memory_gb!r}")
    if max_dense_points is None:                # 'auto' with a hard edge cap: the ripser path
        max_dense_points = dense_points_limit(
            max_memory_gb, "gudhi-ripser" if engine == "auto" and max_edges is not None else engine)
    if growth is None:
        growth = 1.3 if _dense_ok(X, max_dense_points, certify) else 2.0
    if not growth > 1:
        raise ValueError(f"growth must be > 1, got {growth!r}")
    check_metric(metric)
    n = X.shape[0]
    if engine not in RIPSER_ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, RIPSER_ENGINES))}, "
                         f"got {engine!r}")
    if engine == "columns" and not _dense_ok(X, max_dense_points, certify):
        raise ValueError(f"engine='columns' needs the dense matrix: n <= max_dense_points "
                         f"({max_dense_points}) and certify 'auto' or True, got n={n}, "
                         f"certify={certify!r}")
    columns = engine == "columns" or (engine == "auto" and _dense_ok(X, max_dense_points, certify)
                                      and max_edges is None)
    engine = "gudhi-ripser" if engine in ("auto", "columns") else engine
    if max_edges is not None and not int(max_edges) > 0:
        raise ValueError(f"max_edges must be a positive integer or None, got {max_edges!r}")
    timings = {}
    t0 = time.perf_counter()
    Y, sq = prepare(X, metric)
    dense = _dense_ok(X, max_dense_points, certify)
    if max_edges is not None:
        budget = int(max_edges)
    elif dense:                                 # the matrix is held already: every edge
        budget = n * (n - 1) // 2 + 1
    else:
        budget = int(max_memory_gb * 2**30 / EDGE_BYTES)
    if certify is True and not dense:
        raise ValueError(f"certify=True needs n <= max_dense_points ({max_dense_points}), got {n}")
    if dense:
        D = dense_distances(X, metric, block, should_cancel)
        enc = float(D.max(axis=1).min())
    if threshold == "enclosing":
        T = np.inf
    elif threshold == "auto":
        T = np.inf if columns else _sample_threshold(Y, sq, metric, degree, seed)
    else:
        T = float(threshold)
        if not T > 0:
            raise ValueError(f"threshold must be positive, got {threshold!r}")
    if columns:
        return _columns_result(D, min(T, enc), enc, timings, t0, should_cancel, keep_edges)

    def scan(cap):
        """One blockwise pass: every edge up to ``cap`` (at most ``budget``), the radius, and
        whether the budget cut the list."""
        I, J, W, enc = threshold_edges(Y, sq, metric, cap, block, should_cancel)
        full = len(W) > budget
        if full:
            I, J, W = I[:budget], J[:budget], W[:budget]
            cap = float(np.nextafter(np.float32(W[-1]), np.float32(0)))
            keep = W <= cap
            I, J, W = I[keep], J[keep], W[keep]
        keep = W <= enc
        return I[keep], J[keep], W[keep], min(cap, enc), enc, full

    if not dense:
        # one blockwise pass up to a cap, then thresholds are prefixes; rebuilt with twice
        # the edges while bars are alive at the cap (within the budget)
        cap = T if threshold != "auto" else max(
            T, _sample_threshold(Y, sq, metric, 2.0 * min(budget, FIRST_SCAN_EDGES) / n, seed))
        I, J, W, cap, enc, full = scan(cap)

    def edges(T):
        if dense:
            return _edges_upto(D, min(T, enc))
        m = int(np.searchsorted(W, T, side="right"))
        return I[:m], J[:m], W[:m]

    T = min(T, enc) if dense else min(T, cap)
    i, j, w = edges(T)
    T = min(T, enc)
    timings["edges"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # the MST from the largest edge set at hand (a connected graph needs no Borůvka pass)
    medges, mweights = dense_mst(D) if dense else mst_edges(n, I, J, W, Y, sq, metric, block)
    h0 = h0_diagram(mweights)
    timings["h0_mst"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cone_free, certified, rounds = None, False, 0
    t_cert = 0.0
    if dense and threshold == "auto" and T < enc:
        # H1 births are cone-free non-MST edges: start at the longest one above T (if any)
        tc = time.perf_counter()
        cone_free = cone_free_edges(D, T, medges, k=k_apex, should_cancel=should_cancel)
        t_cert = time.perf_counter() - tc
        if len(cone_free[2]) and cone_free[2][-1] > T:
            # bars born near B die a little above it: start one growth step above B
            B = float(cone_free[2][-1])
            m_b = int(np.count_nonzero(D <= B) - n) // 2
            T = min(enc, max(B, _sample_threshold(Y, sq, metric, 2.0 * growth * m_b / n, seed)))
            i, j, w = edges(T)
    while True:
        check_cancel(should_cancel)
        last = len(w) > budget
        if last:
            log.warning("%d edges below %.4g exceed the edge budget %d: truncating the "
                        "filtration", len(w), T, budget)
            i, j, w = i[:budget], j[:budget], w[:budget]
            T = float(np.nextafter(np.float32(w[-1]), np.float32(0)))
            keep = w <= T
            i, j, w = i[keep], j[keep], w[keep]
        tr = time.perf_counter()
        if dense and len(w) > DENSE_FRACTION * n * (n - 1) / 2:
            h1 = _ripser_dense(D, float(np.float32(w[-1])) if len(w) else 0.0, engine, n_threads)
        else:
            h1 = _ripser_diagram(n, i, j, w, engine, n_threads)
        rounds += 1
        alive = int(np.isinf(h1[:, 1]).sum())
        log.debug("ripser round %d: T=%.5g, %d edges, %d alive, %.2f s", rounds, T, len(w),
                  alive, time.perf_counter() - tr)
        if threshold != "auto" or T >= enc or last:
            certified = T >= enc
            break
        if alive:
            # double the edge count (dense: exact quantile of the matrix; else resample)
            T_new = _sample_threshold(Y, sq, metric, 2.0 * growth * max(len(w), n) / n, seed)
            if not dense and T >= cap:
                if cap >= enc or full or max_edges is not None:
                    log.info("stopping threshold growth at %d edges (edge budget)", len(w))
                    break
                # grow the budget: rebuild the edge list with twice the edges
                I, J, W, cap, enc, full = scan(max(T_new, _sample_threshold(
                    Y, sq, metric, 2.0 * growth * len(W) / n, seed), 1.01 * cap))
                log.info("edge list rebuilt up to %.4g: %d edges", cap, len(W))
            T_new = min(max(T_new, 1.01 * T), enc if dense else cap)
        elif dense:
            tc = time.perf_counter()
            if cone_free is None:
                cone_free = cone_free_edges(D, T, medges, k=k_apex, should_cancel=should_cancel)
            t_cert += time.perf_counter() - tc
            above = cone_free[2] > T
            if not above.any():
                certified = True
                break
            T_new = float(cone_free[2][above].max())
        else:
            break
        T = float(T_new)
        i, j, w = edges(T)
    timings["h1_ripser"] = time.perf_counter() - t0 - t_cert
    timings["certificate"] = t_cert
    h1 = h1[h1[:, 1] > h1[:, 0]]
    # birth edge of each bar: the edge whose (float32) length equals the birth
    pairs = []
    wf = w.astype(np.float32)
    for b, d in h1:
        k = int(np.searchsorted(wf, np.float32(b)))
        k = min(k, len(wf) - 1)
        pairs.append(([int(i[k]), int(j[k])], None, float(b), float(d)))
    log.info("ripser H1: %d bars, T=%.4g, enclosing %.4g, %d edges, %d rounds, exact=%s",
             len(h1), T, enc, len(w), rounds, certified)
    n_trunc = int(np.isinf(h1[:, 1]).sum())
    return RipsResult(diagrams=[h0, h1], threshold=float(T), enclosing_radius=float(enc),
                      exact=bool(certified and n_trunc == 0), n_truncated=n_trunc,
                      n_edges=int(len(w)), n_simplices=int(n + len(w)), pairs={1: pairs},
                      mst=(medges, mweights), edges=(i, j, w) if keep_edges else None,
                      timings=timings)


def _columns_result(D, T, enc, timings, t0, should_cancel, keep_edges):
    """:func:`ripser_rips` with ``engine='columns'``: H0 from the MST and H1 from
    :func:`~.h1_reduce.h1_cohomology`, in one pass at ``T``."""
    from ._dense_kernel import count_at_most
    from .h1_reduce import h1_cohomology
    n = D.shape[0]
    timings["edges"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    medges, mweights = dense_mst(D)             # one MST for H0 and the reduction's clearing
    h0 = h0_diagram(mweights)
    timings["h0_mst"] = time.perf_counter() - t0
    h1, info = h1_cohomology(D, T, should_cancel, mst=medges)
    timings.update({f"h1_{k}": v for k, v in info["timings"].items() if k != "mst"})
    n_edges = count_at_most(D, T)
    pairs = [([int(a), int(b)], None, float(bd[0]), float(bd[1]))
             for (a, b), bd in zip(info["edges"], h1)]
    n_trunc = int(np.isinf(h1[:, 1]).sum())
    log.info("columns H1: %d bars, T=%.4g, enclosing %.4g, %d columns, %d additions",
             len(h1), T, enc, info["columns"], info["additions"])
    return RipsResult(diagrams=[h0, h1], threshold=float(T), enclosing_radius=float(enc),
                      exact=bool(T >= enc and n_trunc == 0), n_truncated=n_trunc,
                      n_edges=n_edges, n_simplices=n + n_edges, pairs={1: pairs},
                      mst=(medges, mweights),
                      edges=_edges_upto(D, min(T, float(h1[:, 0].max(initial=0.0))))
                      if keep_edges else None, timings=timings)


def sparse_rips(X: np.ndarray, *, metric: str = "euclidean", max_dim: int = 1,
                threshold: Union[str, float] = "auto", degree: int = 16,
                max_degree: Optional[int] = None, max_simplices: int = 8_000_000,
                collapse: Union[str, int, bool] = "auto", seed: int = 0, block: int = 1024,
                should_cancel: Optional[CancelFn] = None, keep_edges: bool = False,
                engine: str = "auto", **ripser_params) -> RipsResult:
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
    engine : one of :data:`ENGINES` ('giotto' needs the giotto-ph package)

    Returns
    -------
    RipsResult with ``diagrams[d]`` of shape (k_d, 2), ``inf`` deaths for bars alive at the end.
    """
    X = check_points(X)
    check_metric(metric)
    if max_dim not in (0, 1, 2):
        raise ValueError(f"max_dim must be 0, 1 or 2, got {max_dim!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    if engine != "auto" and engine in RIPSER_ENGINES and max_dim != 1:
        raise ValueError(f"engine={engine!r} computes H0 and H1 only (max_dim=1)")
    if engine in RIPSER_ENGINES and (engine != "auto" or max_dim == 1):
        return ripser_rips(X, metric=metric, threshold=threshold, seed=seed, block=block,
                           should_cancel=should_cancel, keep_edges=keep_edges,
                           engine=engine,
                           **ripser_params)
    if ripser_params:
        raise TypeError(f"unexpected arguments for engine='gudhi': {sorted(ripser_params)}")
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
