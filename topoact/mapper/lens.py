"""Lenses (filter functions): map an (N, D) activation matrix to (N,) or (N, 2) lens values.

Every lens is a small scikit-learn-style estimator: ``__init__`` stores parameters, ``fit``
validates and learns, ``transform`` maps, and the learned state ends in ``_``. All work is
chunked over rows (``chunk_size`` rows at a time) so an (N, D) float32 memmap is never
copied whole. Lens values are returned as float64 (N,) for 1-D lenses and (N, 2) for 2-D ones,
which is what KeplerMapper's cover sees after it prepends its id column, so the uniform cover
gives the same intervals here and in the KeplerMapper reference backend.

Choices (where the issue is silent):
- ``L2Norm`` / ``L1Norm`` are computed in float64 from float32 rows (TopoAct's lens).
- ``KNNDistance(k)`` is the distance to the k-th nearest *other* point, computed exactly against
  all rows (brute force, chunked, float32 matrix products with a float64 norm correction) for
  N <= ``max_exact`` and against a seeded random reference sample of ``max_exact`` rows otherwise.
- ``PredictionLens`` reads stored probabilities (N, C), not the activations: ``kind='max'``
  (max probability), ``'entropy'`` (natural log), ``'class'`` (probability of ``class_index``).
- ``ArrayLens`` wraps any user array of N or (N, 2) values.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..config import check_range
from ..progress import ProgressFn
from .params import Params, resolve_seed
from .umap_cache import import_umap

__all__ = [
    "Lens", "L2Norm", "L1Norm", "PCALens", "KNNDistance", "UMAPLens", "PredictionLens",
    "ArrayLens",
]


def _check_X(X) -> None:
    if not hasattr(X, "shape") or len(X.shape) != 2:
        raise ValueError(f"X must be a 2-D (N, D) array, got shape {getattr(X, 'shape', None)}")
    if X.shape[0] == 0:
        raise ValueError("X is empty (0 rows): cannot compute a lens")


def _chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(n, start + size)


class Lens(Params):
    """Base class: ``fit(X, **context) -> self``, ``transform(X) -> (N,) | (N, 2)``."""

    chunk_size = 8192
    n_components = 1

    def fit(self, X: ArrayLike, **context: Any) -> "Lens":
        """Validate and learn from X (N, D) (``context``: e.g. ``probabilities`` (N, C)). Returns self."""
        _check_X(X)
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:  # pragma: no cover - abstract
        """Lens values of X (N, D): (N,) or (N, 2) float64."""
        raise NotImplementedError

    def fit_transform(self, X: ArrayLike, **context: Any) -> np.ndarray:
        """``fit(X, **context).transform(X)``: (N,) or (N, 2) float64 lens values."""
        return self.fit(X, **context).transform(X)



class _NormLens(Lens):
    ord = 2

    def __init__(self, chunk_size: int = 8192):
        self.chunk_size = chunk_size

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Row norms of X (N, D): (N,) float64, computed chunk by chunk."""
        _check_X(X)
        out = np.empty(X.shape[0], dtype=np.float64)
        for a, b in _chunks(X.shape[0], self.chunk_size):
            block = np.asarray(X[a:b], dtype=np.float64)
            out[a:b] = np.linalg.norm(block, ord=self.ord, axis=1)
        return out


class L2Norm(_NormLens):
    """Euclidean norm of each row (TopoAct / TopoBERT lens). Returns (N,) float64."""
    ord = 2


class L1Norm(_NormLens):
    """L1 norm of each row. Returns (N,) float64."""
    ord = 1


class PCALens(Lens):
    """Projection on the first 1 or 2 principal components (covariance accumulated in chunks).

    Parameters
    ----------
    n_components : {1, 2}
    """

    def __init__(self, n_components: int = 1, chunk_size: int = 8192):
        self.n_components = n_components
        self.chunk_size = chunk_size

    def fit(self, X: ArrayLike, **context: Any) -> "PCALens":
        """Principal directions of X (N, D) from a covariance accumulated in chunks. Returns self."""
        _check_X(X)
        if self.n_components not in (1, 2):
            raise ValueError(f"PCALens n_components must be 1 or 2, got {self.n_components}")
        n, d = X.shape
        total = np.zeros(d)
        gram = np.zeros((d, d))
        for a, b in _chunks(n, self.chunk_size):
            block = np.asarray(X[a:b], dtype=np.float64)
            total += block.sum(0)
            gram += block.T @ block
        self.mean_ = total / n
        cov = gram / n - np.outer(self.mean_, self.mean_)
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1][: self.n_components]
        comps = vecs[:, order].T
        # deterministic sign: largest-magnitude loading positive
        signs = np.sign(comps[np.arange(len(comps)), np.abs(comps).argmax(1)])
        signs[signs == 0] = 1
        self.components_ = comps * signs[:, None]
        self.explained_variance_ = vals[order]
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Projections of X (N, D): (N,) or (N, 2) float64."""
        out = np.empty((X.shape[0], self.n_components))
        for a, b in _chunks(X.shape[0], self.chunk_size):
            out[a:b] = (np.asarray(X[a:b], dtype=np.float64) - self.mean_) @ self.components_.T
        return out[:, 0] if self.n_components == 1 else out


class KNNDistance(Lens):
    """Density lens: euclidean distance to the k-th nearest other row.

    Parameters
    ----------
    k : int
    max_exact : int
        Above this many rows, distances are taken to a seeded random sample of rows.
    """

    def __init__(self, k: int = 5, max_exact: int = 20000, seed: int = 0,
                 random_state: int | None = None):
        self.k = k
        self.max_exact = max_exact
        self.seed = seed
        self.random_state = random_state

    def fit(self, X: ArrayLike, **context: Any) -> "KNNDistance":
        """Keep the reference rows (all, or a seeded sample of ``max_exact``) of X (N, D). Returns self."""
        _check_X(X)
        if int(self.k) < 1:
            raise ValueError(f"KNNDistance k must be >= 1, got {self.k}")
        n = X.shape[0]
        if n <= self.k:
            raise ValueError(f"KNNDistance k={self.k} needs more than k rows, got {n}")
        if n > self.max_exact:
            rng = np.random.default_rng(resolve_seed(self.seed, self.random_state, "KNNDistance"))
            idx = np.sort(rng.choice(n, self.max_exact, replace=False))
        else:
            idx = np.arange(n)
        self.reference_index_ = idx
        self.n_fit_ = n
        self.reference_ = np.asarray(X[idx], dtype=np.float32)
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """(N,) float64 distance of each row of X (N, D) to its k-th nearest other reference row."""
        from .cluster import kth_neighbor_distance
        # a row is not its own neighbour: map rows to their position in the reference
        n = X.shape[0]
        pos = np.full(n, -1, dtype=np.int64)
        if n == self.n_fit_:
            pos[self.reference_index_] = np.arange(len(self.reference_index_))
        return kth_neighbor_distance(X, self.reference_, self.k, metric="euclidean",
                                     exclude_self=True, q_index=pos)


#: up to this many rows the UMAP lens gives umap-learn an exact k-NN (:func:`exact_knn`, BLAS).
#: umap-learn's own choices cost more here: below 4,096 rows it computes every pairwise distance
#: through a per-pair Python callable in scikit-learn (50 s per fit on a 4,000-image demo layer),
#: above it it runs NN-descent, whose numba code compiles for 46-62 s in every new process (the
#: CLI's whole ``topoact mapper`` on 5,000 CIFAR images was 80 s compile of 104 s). The exact
#: k-NN took 14 s at 20,000 x 512 in float64 (2 cores, load 3), NN-descent 1.6 s after its
#: compile; beyond 20,000 rows NN-descent wins.
EXACT_KNN_ROWS = 20000


def exact_knn(X: np.ndarray, k: int, metric: str = "euclidean") -> tuple[np.ndarray, np.ndarray, None]:
    """The exact k nearest rows of every row of X (N, D), itself first, as umap-learn's
    ``precomputed_knn``: ((N, k) int32 indices, (N, k) float32 distances, None).

    Distances are computed in float64 (float32's ``|x|^2 - 2 x.y + |y|^2`` leaves a row ~1e-3
    away from itself, and UMAP's local connectivity reads the first non-zero distance), and a
    row's distance to itself is set to exactly 0, as in umap-learn's own small-data path, so the
    fuzzy graph equals umap-learn's.
    """
    from sklearn.neighbors import NearestNeighbors

    X64 = np.asarray(X, dtype=np.float64)
    dist, idx = NearestNeighbors(n_neighbors=k, algorithm="brute", metric=metric).fit(X64).kneighbors(X64)
    dist[:, 0] = 0.0
    return idx.astype(np.int32), dist.astype(np.float32), None


class UMAPLens(Lens):
    """UMAP embedding (umap-learn, seeded: one thread, deterministic) with 1 or 2 components.

    Above ``fit_rows`` rows UMAP is fitted on a seeded sample of ``fit_rows`` rows and the
    others are placed among them (:mod:`topoact.mapper.landmarks`): a full UMAP of a million
    rows takes hours on a small machine. ``fit_rows=None`` always fits every row.
    """

    def __init__(self, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
                 metric: str = "euclidean", seed: int = 0, random_state: int | None = None,
                 fit_rows: int | None = EXACT_KNN_ROWS):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.seed = seed
        self.random_state = random_state
        self.fit_rows = fit_rows

    def fit(self, X: ArrayLike, progress: ProgressFn | None = None, **context: Any) -> "UMAPLens":
        """Fit UMAP on X (N, D) (on its landmarks above ``fit_rows`` rows). Returns self.

        Learned: ``embedding_`` (N, n_components), ``landmarks_`` (M,) rows UMAP was fitted on
        (all rows at or below ``fit_rows``), ``model_`` (the umap-learn estimator).
        """
        _check_X(X)
        try:
            umap = import_umap()
        except ImportError as exc:
            raise ImportError(
                "UMAPLens needs the optional dependency umap-learn: pip install umap-learn"
            ) from exc
        seed = resolve_seed(self.seed, self.random_state, "UMAPLens")
        n = X.shape[0]
        if self.fit_rows is not None and n > check_range("fit_rows", self.fit_rows, self.n_neighbors + 1,
                                                         integer=True):
            landmarks = np.sort(np.random.default_rng(seed).choice(n, int(self.fit_rows), replace=False))
        else:
            landmarks = np.arange(n)
        X32 = np.asarray(X[landmarks] if len(landmarks) < n else X, dtype=np.float32)
        knn = (None, None, None)
        if X32.shape[0] <= EXACT_KNN_ROWS and self.metric in ("euclidean", "cosine"):
            knn = exact_knn(X32, min(self.n_neighbors, X32.shape[0]), self.metric)
        self.model_ = umap.UMAP(n_components=self.n_components, n_neighbors=self.n_neighbors,
                                min_dist=self.min_dist, metric=self.metric, n_jobs=1,
                                random_state=seed, precomputed_knn=knn)
        with warnings.catch_warnings():
            # "transforming new data ... unavailable" with a precomputed k-NN: new rows are
            # placed among the fitted ones instead (transform)
            warnings.filterwarnings("ignore", message="precomputed_knn", category=UserWarning)
            fitted = np.asarray(self.model_.fit_transform(X32), np.float64)
        self.landmarks_ = landmarks
        self._landmark_rows = X32
        if len(landmarks) < n:
            from .landmarks import place_by_landmarks
            self.embedding_ = place_by_landmarks(X, landmarks, X32, fitted, self.n_neighbors, self.metric,
                                                 progress=progress)
        else:
            self.embedding_ = fitted
        self._fit_shape = X.shape
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """UMAP embedding of X (N, D): (N,) or (N, 2) float64 (rows other than the fitted ones are
        placed among the fitted rows, :mod:`topoact.mapper.landmarks`)."""
        if X.shape == self._fit_shape:
            out = self.embedding_
        else:
            from .landmarks import place_rows
            out = place_rows(np.asarray(X, np.float32), self._landmark_rows, self.embedding_[self.landmarks_],
                             self.n_neighbors, self.metric)
        out = np.asarray(out, dtype=np.float64)
        return out[:, 0] if self.n_components == 1 else out


class PredictionLens(Lens):
    """Model-based lens from stored class probabilities.

    Parameters
    ----------
    kind : {'max', 'entropy', 'class'}
    class_index : int, needed for ``kind='class'``
    probabilities : (N, C) array, optional; else taken from ``fit(X, probabilities=...)``.
    """

    def __init__(self, kind: str = "max", class_index: int | None = None, probabilities: np.ndarray | None = None):
        self.kind = kind
        self.class_index = class_index
        self.probabilities = probabilities

    def fit(self, X: ArrayLike, probabilities: np.ndarray | None = None, **context: Any) -> "PredictionLens":
        """Check the (N, C) probabilities (own ones first, else the given ones) against X (N, D). Returns self."""
        _check_X(X)
        p = self.probabilities if self.probabilities is not None else probabilities
        if p is None:
            raise ValueError("PredictionLens needs stored probabilities (N, C); none were given")
        p = np.asarray(p, dtype=np.float64)
        if p.ndim != 2 or p.shape[0] != X.shape[0]:
            raise ValueError(f"probabilities must be (N={X.shape[0]}, C), got {p.shape}")
        if self.kind not in ("max", "entropy", "class"):
            raise ValueError(f"PredictionLens kind must be max|entropy|class, got {self.kind!r}")
        if self.kind == "class" and not (self.class_index is not None
                                          and 0 <= self.class_index < p.shape[1]):
            raise ValueError(f"class_index must be in [0, {p.shape[1]}), got {self.class_index}")
        self.probabilities_ = p
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """(N,) float64: max probability, entropy, or the probability of ``class_index``."""
        p = self.probabilities_
        if X.shape[0] != p.shape[0]:
            raise ValueError("PredictionLens can only transform the rows it was fitted on")
        if self.kind == "max":
            return p.max(1)
        if self.kind == "entropy":
            with np.errstate(divide="ignore", invalid="ignore"):
                return -np.where(p > 0, p * np.log(p), 0.0).sum(1)
        return p[:, self.class_index].copy()


class ArrayLens(Lens):
    """A user-supplied lens: (N,) or (N, 2) values."""

    def __init__(self, values: np.ndarray | None = None):
        self.values = values

    def fit(self, X: ArrayLike, **context: Any) -> "ArrayLens":
        """Check that the values are (N,) or (N, 2) and finite for X (N, D). Returns self."""
        _check_X(X)
        v = np.asarray(self.values, dtype=np.float64)
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        if v.shape[0] != X.shape[0] or v.ndim not in (1, 2) or (v.ndim == 2 and v.shape[1] != 2):
            raise ValueError(f"ArrayLens values must be (N={X.shape[0]},) or (N, 2), got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError("ArrayLens values contain NaN or inf")
        self.values_ = v
        self.n_components = 1 if v.ndim == 1 else 2
        return self

    def transform(self, X: ArrayLike) -> np.ndarray:
        """A copy of the values: (N,) or (N, 2) float64."""
        return self.values_.copy()
