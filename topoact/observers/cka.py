"""Linear centred kernel alignment (CKA, Kornblith et al. 2019) between layers and runs.

``CKA(X, Y) = ||Xc^T Yc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with ``Xc``, ``Yc`` the
column-centred activations (n x Dx, n x Dy). It is 1 for X against itself, invariant to
orthogonal transforms and isotropic scaling of either side, and near 0 for unrelated data.

Scaling to 100,000 images without any n x n matrix:

* :class:`StreamingCKA` (the default) accumulates ``X^T X``, ``Y^T Y``, ``X^T Y`` and the column
  sums in float64 over row chunks and centres at the end (``Xc^T Yc = X^T Y - n mx my^T``): the
  result equals full CKA exactly (up to float rounding), memory is O(D^2), time O(n D^2). All
  layers of a run are done in ONE pass over the rows (the Gram matrix of the concatenated
  layers), so each activation file is read once.
* :func:`minibatch_cka` (Nguyen et al. 2021) averages unbiased HSIC estimates over minibatches of
  b rows (b x b Gram matrices): for layers too wide for D x D accumulators (``max_width``).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ..progress import CancelFn, ProgressFn, check_cancelled, report
from ..results import Result, ResultCache

__all__ = ["linear_cka", "linear_cka_gram", "minibatch_cka", "StreamingCKA", "CKAMatrix", "cka_matrix",
           "effective_rank"]

CACHE_VERSION = 1
#: widest pair (Dx + Dy) accumulated exactly; wider layers use minibatch CKA
MAX_WIDTH = 8192


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of (n, Dx) and (n, Dy) activations of the same n images (feature-space form)."""
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"CKA needs the same images on both sides: {X.shape[0]} vs {Y.shape[0]} rows")
    X = X - X.mean(axis=0)
    Y = Y - Y.mean(axis=0)
    xy = np.linalg.norm(X.T @ Y) ** 2
    denom = np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)
    return float(xy / denom) if denom > 0 else 0.0


def linear_cka_gram(X: np.ndarray, Y: np.ndarray) -> float:
    """Reference: linear CKA through the n x n centred Gram matrices (small n only)."""
    n = X.shape[0]
    H = np.eye(n) - 1.0 / n
    K = H @ (np.asarray(X, np.float64) @ np.asarray(X, np.float64).T) @ H
    L = H @ (np.asarray(Y, np.float64) @ np.asarray(Y, np.float64).T) @ H
    return float((K * L).sum() / np.sqrt((K * K).sum() * (L * L).sum()))


def _unbiased_hsic(K: np.ndarray, L: np.ndarray) -> float:
    n = K.shape[0]
    K = K.copy()
    L = L.copy()
    np.fill_diagonal(K, 0)
    np.fill_diagonal(L, 0)
    ones = np.ones(n)
    term = (K * L).sum() + (ones @ K @ ones) * (ones @ L @ ones) / ((n - 1) * (n - 2)) \
        - 2.0 / (n - 2) * (ones @ K) @ (L @ ones)
    return float(term / (n * (n - 3)))


def minibatch_cka(X: np.ndarray, Y: np.ndarray, batch_size: int = 1024, seed: int = 0, *,
                  should_cancel: CancelFn | None = None) -> float:
    """Minibatch linear CKA (Nguyen et al. 2021): unbiased HSIC averaged over random batches.

    Parameters
    ----------
    X, Y : (n, Dx), (n, Dy) arrays (memory maps are read one batch at a time)
    batch_size : rows per minibatch (>= 4); the last partial batch is dropped when < 4 rows
    """
    n = X.shape[0]
    if n != Y.shape[0]:
        raise ValueError(f"CKA needs the same images on both sides: {n} vs {Y.shape[0]} rows")
    order = np.random.default_rng(seed).permutation(n)
    xy = xx = yy = 0.0
    for start in range(0, n, batch_size):
        rows = np.sort(order[start:start + batch_size])
        if len(rows) < 4:
            break
        check_cancelled(should_cancel, "CKA")
        A = np.asarray(X[rows], np.float64)
        B = np.asarray(Y[rows], np.float64)
        K, L = A @ A.T, B @ B.T
        xy += _unbiased_hsic(K, L)
        xx += _unbiased_hsic(K, K)
        yy += _unbiased_hsic(L, L)
    return float(xy / np.sqrt(xx * yy)) if xx > 0 and yy > 0 else 0.0


class StreamingCKA:
    """Exact linear CKA between all pairs of several (n, D_i) matrices, in one pass over rows.

    Parameters
    ----------
    chunk_size : rows read at a time

    Attributes
    ----------
    gram_ : (sum D, sum D) centred cross-product matrix of the concatenated layers
    widths_ : D_i per matrix
    n_ : rows seen

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> round(StreamingCKA(chunk_size=64).fit([X, 2 * X]).matrix()[0, 1], 6)
    1.0
    """

    def __init__(self, chunk_size: int = 8192):
        self.chunk_size = chunk_size

    def fit(self, matrices: Sequence[np.ndarray], *, progress: ProgressFn | None = None,
            should_cancel: CancelFn | None = None) -> "StreamingCKA":
        if not matrices:
            raise ValueError("StreamingCKA needs at least one matrix")
        n = matrices[0].shape[0]
        for M in matrices:
            if M.ndim != 2 or M.shape[0] != n:
                raise ValueError(f"all matrices need the same rows (images): got {[m.shape for m in matrices]}")
        self.widths_ = [int(M.shape[1]) for M in matrices]
        total = sum(self.widths_)
        G = np.zeros((total, total), np.float64)
        s = np.zeros(total, np.float64)
        for start in range(0, n, self.chunk_size):
            check_cancelled(should_cancel, "CKA")
            Z = np.concatenate([np.asarray(M[start:start + self.chunk_size], np.float64) for M in matrices], axis=1)
            G += Z.T @ Z
            s += Z.sum(axis=0)
            report(progress, min(start + self.chunk_size, n), n, "CKA cross-products")
        self.n_ = n
        self.gram_ = G - np.outer(s, s) / max(n, 1)
        return self

    def block(self, i: int, j: int) -> np.ndarray:
        """Centred cross-product ``Xc_i^T Xc_j`` (D_i, D_j)."""
        edges = np.concatenate([[0], np.cumsum(self.widths_)])
        return self.gram_[edges[i]:edges[i + 1], edges[j]:edges[j + 1]]

    def matrix(self) -> np.ndarray:
        """(k, k) CKA between all pairs of the fitted matrices."""
        k = len(self.widths_)
        self_norm = np.array([np.linalg.norm(self.block(i, i)) for i in range(k)])
        out = np.zeros((k, k))
        for i in range(k):
            for j in range(i, k):
                denom = self_norm[i] * self_norm[j]
                value = np.linalg.norm(self.block(i, j)) ** 2 / denom if denom > 0 else 0.0
                out[i, j] = out[j, i] = value
        return out

    def covariance(self, i: int) -> np.ndarray:
        """(D_i, D_i) covariance of matrix ``i`` (for :func:`effective_rank`)."""
        return self.block(i, i) / max(self.n_ - 1, 1)


def effective_rank(covariance: np.ndarray) -> float:
    """Effective rank (Roy & Vetterli 2007): exp of the entropy of the normalised eigenvalues."""
    eig = np.clip(np.linalg.eigvalsh(np.asarray(covariance, np.float64)), 0, None)
    total = eig.sum()
    if total <= 0:
        return 0.0
    p = eig[eig > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


@dataclasses.dataclass
class CKAMatrix(Result):
    """CKA between the layers of run A (rows) and run B (cols): ``values[i][j]``.

    ``method`` is "streaming" (exact) or "minibatch" (when a pair was too wide);
    ``effective_rank`` maps each layer of A (and of B, prefixed "B:" when B is another run) to
    the effective rank of its activations, a free by-product of the same pass.
    """

    kind = "cka"

    rows: list
    cols: list
    values: list
    method: str = "streaming"
    effective_rank: dict = dataclasses.field(default_factory=dict)


def _same_images(run_a, run_b) -> None:
    if run_a is run_b:
        return
    if run_a.n != run_b.n or list(run_a.ids) != list(run_b.ids):
        raise ValueError(f"CKA across runs needs the same images in the same order: {run_a.path} "
                         f"has {run_a.n} rows, {run_b.path} has {run_b.n} (or their image ids differ)")


def cka_matrix(run_a, run_b=None, layers_a: Sequence[str] | None = None, layers_b: Sequence[str] | None = None,
               *, chunk_size: int = 8192, cache: bool = True, progress: ProgressFn | None = None,
               should_cancel: CancelFn | None = None) -> CKAMatrix:
    """Linear CKA between every layer of ``run_a`` and every layer of ``run_b`` (default: ``run_a``).

    Returns
    -------
    CKAMatrix (rows = layers of A, cols = layers of B), cached in ``<run_a>/cka/`` when ``run_b``
    is None or the same run.
    """
    from .probes import _check_layers

    same = run_b is None or run_b is run_a or getattr(run_b, "path", None) == run_a.path
    run_b = run_a if run_b is None else run_b
    _same_images(run_a, run_b)
    layers_a = _check_layers(run_a, layers_a)
    layers_b = _check_layers(run_b, layers_b if layers_b is not None or not same else layers_a)
    store = ResultCache(run_a, "cka", CACHE_VERSION)
    all_layers = sorted(set(layers_a) | set(layers_b)) if same else layers_a
    key = store.key(all_layers, {"rows": layers_a, "cols": layers_b, "chunk_size": chunk_size})
    if cache and same:
        data = store.load(all_layers, key)
        if data is not None:
            return CKAMatrix.from_dict(data)
    if same:
        names = list(dict.fromkeys(list(layers_a) + list(layers_b)))
        mats = [run_a.activations(name) for name in names]
        index_a = [names.index(n) for n in layers_a]
        index_b = [names.index(n) for n in layers_b]
        prefix = [""] * len(names)
    else:
        names = list(layers_a) + list(layers_b)
        mats = [run_a.activations(n) for n in layers_a] + [run_b.activations(n) for n in layers_b]
        index_a = list(range(len(layers_a)))
        index_b = list(range(len(layers_a), len(names)))
        prefix = [""] * len(layers_a) + ["B:"] * len(layers_b)
    widths = [m.shape[1] for m in mats]
    method = "streaming"
    if sum(widths) <= MAX_WIDTH:
        sc = StreamingCKA(chunk_size).fit(mats, progress=progress, should_cancel=should_cancel)
        full = sc.matrix()
        values = full[np.ix_(index_a, index_b)]
        ranks = {prefix[i] + names[i]: effective_rank(sc.covariance(i)) for i in range(len(names))}
    else:
        method = "mixed"
        values = np.zeros((len(index_a), len(index_b)))
        ranks = {}
        for a, i in enumerate(index_a):
            for b, j in enumerate(index_b):
                check_cancelled(should_cancel, "CKA")
                if widths[i] + widths[j] <= MAX_WIDTH:
                    values[a, b] = StreamingCKA(chunk_size).fit([mats[i], mats[j]]).matrix()[0, 1]
                else:
                    values[a, b] = minibatch_cka(mats[i], mats[j], should_cancel=should_cancel)
                report(progress, a * len(index_b) + b + 1, len(index_a) * len(index_b), "CKA pairs")
    result = CKAMatrix(rows=list(layers_a), cols=list(layers_b),
                       values=np.round(values, 6).tolist(), method=method, effective_rank=ranks)
    if cache and same:
        store.save(all_layers, key, result.to_dict())
    return result
