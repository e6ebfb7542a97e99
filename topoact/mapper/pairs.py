"""Exact eps-neighbour pairs of a cover element, without an n x n matrix (DBSCAN's distance work).

``neighbor_pairs(X, rows, eps, metric)`` returns every pair (a < b) of ``X[rows]`` whose
distance is <= eps exactly as sklearn decides it (squared euclidean <= eps**2; cosine distance
``1 - <x/|x|, y/|y|> <= eps``, zero rows excluded), in local positions.

How (all exact; only the amount of work changes):

1. The rows are read from X (a float32 memmap is fine) in chunks, centred on the element mean
   (unit rows first for cosine) and kept as float32 ``Z`` with float64 squared norms ``sq``.
   No float64 copy of the element is kept.
2. *Candidate test.* ``d2' = (1 - tol)(sq_a + sq_b) - 2 <z_a, z_b>`` in float32, in place on
   the matrix product; a pair is a candidate when ``d2' <= thr`` (thr = eps**2, or 2 eps for
   unit rows), i.e. its float32 distance is <= thr + tol (sq_a + sq_b), tol =
   2e-6 sqrt(D) + 1e-6 (the float32 rounding margin). Candidates whose float32 distance is
   below thr - tol (sq_a + sq_b) are neighbours; the few in between are re-checked in float64
   from X with sklearn's formula.
3. *Pruning, projection path* (elements of >= ``PRUNE_MIN_ROWS`` rows, D >= 16): an
   orthonormal basis V (D x k, k = ``n_components`` = 16 by default) of the top principal
   directions of a fixed, evenly spaced sample of the element's rows; with P = Z V and the
   residual norm R = sqrt(|z|^2 - |P|^2), the vector (P, R) satisfies
   ``|(P_a, R_a) - (P_b, R_b)|^2 = |P(a - b)|^2 + (|r_a| - |r_b|)^2 <= |z_a - z_b|^2`` (a
   projection shortens, and the residual part obeys the reverse triangle inequality), so that
   (k + 1)-D distance is a lower bound computable with a cheap (k + 1)-wide matrix product and
   the same ``sq``. Rows are ordered by a PCA tree (split at the median of the projected
   coordinate of largest variance until a leaf has <= ``leaf_size`` rows), so a leaf is
   spatially compact; for each leaf only the columns that some row of the leaf may reach
   (lower bound within thr, with a doubled rounding margin) are gathered and multiplied
   exactly. A leaf whose reachable columns exceed 60% of the remaining rows multiplies the
   contiguous range instead (no gather).
4. *Pruning, window path* (small elements, small D, or when it prunes more): rows sorted by
   their distance to the element mean or to the origin (whichever leaves fewer pairs), and a
   row block only meets rows within ``thr`` in that key (triangle inequality).

Measured on the benchmark's synthetic ReLU data (100k x 512, 40 intervals, 30% overlap): the
triangle window prunes nothing there (every element is narrower than eps in both keys), while
the projection bound (k = 16) leaves ~12% of the exact product work (leaves of 64) and the whole
fit went from 17.9 s to ~3.2 s of single-thread CPU time. Leaves of 128 rows are the default
(fewer, larger gathers; ~20% faster than 64 on 40k-row elements, equal at 10k). The projection
path has a fixed cost per element (basis, tree, bound products); timed per element against the
window path on the same data (elements of 10k-50k-row fits, one thread), it is slower below
~1,000 rows (1.7-2.3x the time at 250-400 rows, 1.0-1.1x at 700-900) and faster above (0.6-0.8x
at 1,400-2,200 rows, 0.5x at 4,000-5,000), hence ``PRUNE_MIN_ROWS`` = 1024.

Exactness does not depend on the basis, the sample or the ordering: they only change which
pairs are skipped, and a pair is skipped only when a rigorous lower bound (with a rounding
margin larger than float32's) exceeds eps.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.typing import ArrayLike

from ..masks import nonzero_2d

__all__ = ["neighbor_pairs", "NeedsFallback", "PRUNE_MIN_ROWS"]

PRUNE_MIN_ROWS = 1024
_BLOCK = 512
#: rows per float64 temporary: 1024 x 512 doubles (4 MB) stay in cache; 8192-row chunks (32 MB,
#: a fresh mmap each) made loading a 2,000-row element 2-3x slower (measured)
_CHUNK = 1024
_PROBE_CELLS = 1 << 23          # lower-bound block size in matrix entries (~32 MB of float32)


class NeedsFallback(Exception):
    """Cosine with eps >= 1 and zero rows: sklearn's own DBSCAN is used instead."""


def _tolerance(D: int) -> float:
    return 2e-6 * np.sqrt(D) + 1e-6


def _load(X, rows, metric):
    """float32 centred rows Z (n', D) of the usable rows, their float64 squared norms,
    origin norms, the usable mask (n,) and positions ``use`` (n',), and the centre.

    A float32 X is gathered once and centred in place in that copy (half the reads of a
    memmap, no second array); other dtypes are read twice, chunk by chunk."""
    n = len(rows) if rows is not None else X.shape[0]
    D = X.shape[1]
    once = np.dtype(X.dtype) == np.float32
    if once:
        if rows is not None and isinstance(X, np.ndarray):
            Z = np.asarray(X[rows], dtype=np.float32)     # fancy indexing already copied
        else:
            Z = np.array(X[rows] if rows is not None else X, dtype=np.float32)
        source, rows = Z, None
    else:
        source = X

    def get(a, b):
        return np.asarray(source[rows[a:b]] if rows is not None else source[a:b], dtype=np.float64)

    total = np.zeros(D)
    ok = np.ones(n, bool)
    onorm = np.empty(n)
    for a in range(0, n, _CHUNK):                 # pass 1: norms, usable rows, mean
        B = get(a, a + _CHUNK)
        nrm = np.sqrt(np.einsum("ij,ij->i", B, B))
        if metric == "cosine":
            good = nrm > 0
            ok[a:a + len(B)] = good
            B = B[good] / nrm[good, None]
            nrm = np.where(good, 1.0, 0.0)
        onorm[a:a + len(nrm)] = nrm
        total += B.sum(0)
    use = np.flatnonzero(ok)
    center = total / max(len(use), 1)
    onorm = onorm[use]
    if not once:
        Z = np.empty((len(use), D), np.float32)
    sq = np.empty(len(use))
    for a in range(0, n, _CHUNK):                 # pass 2: centred float64 -> float32 + sq
        B = get(a, a + _CHUNK)
        good = ok[a:a + len(B)]
        p0 = int(np.count_nonzero(ok[:a]))        # <= a: in place, rows move only forward
        if metric == "cosine":
            B = B[good]
            B /= np.sqrt(np.einsum("ij,ij->i", B, B))[:, None]
        B -= center
        sq[p0:p0 + len(B)] = np.einsum("ij,ij->i", B, B)
        Z[p0:p0 + len(B)] = B
    return Z[:len(use)], sq, onorm, ok, use, center


def _exact(X, rows, pa, pb, metric, thr_sq, eps, chunk=65536):
    """float64 re-check (sklearn's formula) of local pairs (pa, pb)."""
    keep = np.empty(len(pa), dtype=bool)
    for c0 in range(0, len(pa), chunk):
        ga, gb = pa[c0:c0 + chunk], pb[c0:c0 + chunk]
        if rows is not None:
            ga, gb = rows[ga], rows[gb]
        A = np.asarray(X[ga], np.float64)
        B = np.asarray(X[gb], np.float64)
        if metric == "cosine":
            A /= np.sqrt(np.einsum("ij,ij->i", A, A))[:, None]
            B /= np.sqrt(np.einsum("ij,ij->i", B, B))[:, None]
            keep[c0:c0 + chunk] = (1.0 - np.einsum("ij,ij->i", A, B)) <= eps
        else:
            A -= B
            keep[c0:c0 + chunk] = np.einsum("ij,ij->i", A, A) <= thr_sq
    return keep


class _Collector:
    """Candidate test on float32 product blocks; collects sure and unsure pairs.

    ``Zr`` (m, D + 2) float32 holds the ordered centred rows followed by the columns
    ``1`` and ``sqa = (1 - tol) sq``; a row block is multiplied as ``[-2 z, sqa, 1]``, so
    one matrix product gives ``d2' = sqa_a + sqa_b - 2 <z_a, z_b>`` (module docstring, 2.).
    """

    def __init__(self, Zr, sq, thr_sq, tol, sink=None, local=None):
        self.sink, self.local = sink, local   # sink: sure pairs go there (local positions), not kept
        self.Zr = Zr
        self.D = Zr.shape[1] - 2
        self.sq = sq
        self.thr = float(thr_sq)
        self.thr32 = np.float32(thr_sq * (1 + 1e-12))
        self.tol = tol
        self.A, self.B, self.UA, self.UB = [], [], [], []

    def left(self, a0, b0):
        Zl = np.empty((b0 - a0, self.D + 2), np.float32)
        np.multiply(self.Zr[a0:b0, :self.D], np.float32(-2.0), out=Zl[:, :self.D])
        Zl[:, self.D] = self.Zr[a0:b0, self.D + 1]
        Zl[:, self.D + 1] = 1.0
        return Zl

    def block(self, a0, b0, cols):
        """Rows a0..b0 (ordered positions) against ``cols``: a slice or an index array.

        Only pairs with column > row are kept.
        """
        Zb = self.Zr[cols]
        G = self.left(a0, b0) @ Zb.T
        ia, ib = nonzero_2d(G <= self.thr32)
        if len(ia) == 0:
            return
        val = G[ia, ib].astype(np.float64)
        ia = ia + a0
        ib = ib + cols.start if isinstance(cols, slice) else cols[ib]
        upper = ib > ia
        if not upper.all():
            ia, ib, val = ia[upper], ib[upper], val[upper]
        s = self.sq[ia] + self.sq[ib]
        sure = val <= self.thr - 2.0 * self.tol * s - 1e-12 * self.thr
        if self.sink is not None:
            self.sink(self.local[ia[sure]], self.local[ib[sure]])
        else:
            self.A.append(ia[sure])
            self.B.append(ib[sure])
        if not sure.all():
            self.UA.append(ia[~sure])
            self.UB.append(ib[~sure])

    @staticmethod
    def cat(L):
        return np.concatenate(L) if L else np.empty(0, np.int64)


def _pca_basis(Z, k, sample=256, oversample=8, power_iterations=2, seed=0):
    """Orthonormal (D, k) float64 basis close to the top-k principal directions of an evenly
    spaced row sample (seeded randomized range finder in float32; any orthonormal basis keeps
    the bound exact, a better one only prunes more, so only the final re-orthonormalisation is
    float64: the bound needs |V^T x| <= |x|)."""
    idx = np.unique(np.linspace(0, len(Z) - 1, min(len(Z), sample)).astype(np.int64))
    S = np.asarray(Z[idx], np.float32)
    S = S - S.mean(0)
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((S.shape[1], min(k + oversample, S.shape[1]))).astype(np.float32)
    for _ in range(power_iterations + 1):
        Q, _ = np.linalg.qr(S.T @ (S @ Q))
    _, _, vt = np.linalg.svd(S @ Q, full_matrices=False)
    V, _ = np.linalg.qr((Q @ vt[:k].T).astype(np.float64))
    return np.ascontiguousarray(V)


def _tree_leaves(P, leaf_size):
    """PCA-tree order of the rows of P (n, k): (order, leaf start positions incl. n)."""
    order_parts = []
    stack = [np.arange(len(P))]
    while stack:
        idx = stack.pop()
        if len(idx) <= leaf_size:
            order_parts.append(idx)
            continue
        sub = P[idx]
        step = max(1, len(idx) // 512)                  # variance from <= ~1024 rows
        dim = int(np.argmax(sub[::step].var(axis=0)))
        h = len(idx) // 2
        o = np.argpartition(sub[:, dim], h)             # median split, O(n)
        stack.append(idx[o[h:]])
        stack.append(idx[o[:h]])
    sizes = np.array([len(p) for p in order_parts])
    return np.concatenate(order_parts), np.concatenate([[0], np.cumsum(sizes)])


def _augment(Z, order, sq_ordered, tol):
    """(m, D + 2) float32: rows of Z in ``order``, then 1, then (1 - tol) sq."""
    m, D = Z.shape
    Zr = np.empty((m, D + 2), np.float32)
    for a in range(0, m, _CHUNK):
        Zr[a:a + _CHUNK, :D] = Z[order[a:a + _CHUNK]]
    Zr[:, D] = 1.0
    Zr[:, D + 1] = (1.0 - tol) * sq_ordered
    return Zr


def _window_cost(key, thr):
    ks = np.sort(key)
    return int((np.searchsorted(ks, ks + thr * (1 + 1e-9) + 1e-12, "right")
                - np.arange(len(ks))).sum())


def neighbor_pairs(X: ArrayLike, rows: np.ndarray | None, eps: float, metric: str = "euclidean",
                   block: int = _BLOCK, n_components: int = 16, leaf_size: int = 128,
                   prune: str = "auto", sink: Callable[[np.ndarray, np.ndarray], None] | None = None
                   ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
    """All pairs (a < b) of ``X[rows]`` (local positions) within ``eps``, exactly as sklearn.

    Parameters
    ----------
    X : (N, D) array; rows : (n,) int array or None (all rows)
    eps : float; metric : {'euclidean', 'cosine'}
    n_components : int, k of the projection lower bound
    leaf_size : int, rows per PCA-tree leaf (exact product block)
    prune : {'auto', 'projection', 'window'}
    sink : optional ``sink(a, b)``: the pairs are passed to it block by block (local positions,
        each pair once, ``a < b`` not guaranteed) instead of being returned, so their number
        does not bound memory (:class:`topoact.mapper.cluster.PairStreamLabels`)

    Returns
    -------
    a, b : (P,) int64 local positions with a < b (None, None with a ``sink``)
    self_ok : (n,) bool, whether a row is its own neighbour (False only for zero rows, cosine)
    """
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    if prune not in ("auto", "projection", "window"):
        raise ValueError(f"prune must be 'auto', 'projection' or 'window', got {prune!r}")
    rows = None if rows is None else np.asarray(rows, np.int64)
    Z, sq, onorm, ok, use, _ = _load(X, rows, metric)
    empty = (np.empty(0, np.int64), np.empty(0, np.int64), ok)
    if metric == "cosine":
        if eps >= 1.0 and not ok.all():
            raise NeedsFallback
        thr_sq = 2.0 * float(eps)          # |u - v|^2 = 2 * cosine distance
    else:
        thr_sq = float(eps) ** 2
    m, D = Z.shape
    if m < 2:
        return empty
    thr = np.sqrt(thr_sq)
    tol = _tolerance(D)
    k = min(int(n_components), D // 4)
    full = m * (m + 1) // 2
    # window keys: distance to the mean (sqrt sq) or to the origin
    keys = [np.sqrt(sq), onorm]
    costs = [_window_cost(kk, thr) for kk in keys]
    best = int(np.argmin(costs))
    use_projection = prune == "projection" or (
        prune == "auto" and m >= PRUNE_MIN_ROWS and k >= 4 and costs[best] > 0.3 * full)
    if use_projection and k >= 1:
        V = _pca_basis(Z, k)
        k = V.shape[1]                            # fewer when the element has fewer rows
        P = np.empty((m, k))
        for a in range(0, m, _CHUNK):
            P[a:a + _CHUNK] = Z[a:a + _CHUNK].astype(np.float64) @ V
        R = np.sqrt(np.maximum(sq - np.einsum("ij,ij->i", P, P), 0.0))
        order, starts = _tree_leaves(P, int(leaf_size))
        sq = sq[order]
        col = _Collector(_augment(Z, order, sq, tol), sq, thr_sq, tol, sink, use[order])
        del Z
        # lower bound in one product: [-2 P', sql, 1] . [P', 1, sql] = sql_a + sql_b - 2 P'a.P'b
        sql = (1.0 - 2.0 * tol) * sq
        Pl = np.empty((m, k + 3), np.float32)
        Pr = np.empty((m, k + 3), np.float32)
        Pr[:, :k] = P[order]
        Pr[:, k] = R[order]
        Pl[:, :k + 1] = -2.0 * Pr[:, :k + 1]
        Pl[:, k + 1] = sql
        Pl[:, k + 2] = 1.0
        Pr[:, k + 1] = 1.0
        Pr[:, k + 2] = sql
        del P, R
        probe_rows = int(np.clip(_PROBE_CELLS // m, leaf_size, 1024))
        li = 0
        n_leaves = len(starts) - 1
        while li < n_leaves:
            lj = li + 1                                   # leaves li .. lj-1 form a probe block
            while lj < n_leaves and starts[lj + 1] - starts[li] <= probe_rows:
                lj += 1
            s, e = int(starts[li]), int(starts[lj])
            C = (Pl[s:e] @ Pr[s:].T) <= col.thr32
            for q in range(li, lj):
                a, b = int(starts[q]), int(starts[q + 1])
                cols = np.flatnonzero(C[a - s:b - s, a - s:].any(axis=0))
                if len(cols) == 0:
                    continue
                if len(cols) > 0.6 * (m - a):
                    col.block(a, b, slice(a, m))
                else:
                    col.block(a, b, cols + a)
            li = lj
    else:
        key = keys[best]
        order = np.argsort(key, kind="stable")
        key = key[order]
        sq = sq[order]
        col = _Collector(_augment(Z, order, sq, tol), sq, thr_sq, tol, sink, use[order])
        del Z
        limit = key + thr * (1 + 1e-9) + 1e-12
        for s in range(0, m, block):
            e = min(m, s + block)
            hi = int(np.searchsorted(key, limit[e - 1], "right"))
            col.block(s, e, slice(s, hi))
    a_loc = _Collector.cat(col.A)
    b_loc = _Collector.cat(col.B)
    ua, ub = _Collector.cat(col.UA), _Collector.cat(col.UB)
    if sink is not None:
        if len(ua):
            keep = _exact(X, rows, use[order[ua]], use[order[ub]], metric, thr_sq, eps)
            sink(use[order[ua[keep]]], use[order[ub[keep]]])
        return None, None, ok
    if len(ua):
        keep = _exact(X, None if rows is None else rows, use[order[ua]], use[order[ub]],
                      metric, thr_sq, eps)
        a_loc = np.concatenate([a_loc, ua[keep]])
        b_loc = np.concatenate([b_loc, ub[keep]])
    if len(a_loc) == 0:
        return empty
    a = use[order[a_loc]]
    b = use[order[b_loc]]
    return np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64), ok
