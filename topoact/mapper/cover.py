"""Covers of the lens range: uniform (KeplerMapper 2.1.0 semantics), balanced (quantile), product.

A cover is fitted on lens values ((N,) or (N, k) float64) and yields *cover elements*: closed
boxes ``[lower, upper]`` (one per element, in KeplerMapper's product order, the last lens
dimension varying fastest). ``transform(lens)`` returns ``[(element_index, members)]`` for the
non-empty elements only (KeplerMapper drops empty hypercubes too), ``members`` being sorted row
indices (int64). ``element_index`` is the position in the full grid, before dropping empties,
so the JSON field ``interval`` names the real interval (an int for 1-D, ``[i, j]`` for 2-D).

UniformCover reproduces ``kmapper.Cover(n_cubes, perc_overlap)`` bit for bit:
``bounds = (min, max)`` of the lens, ``inset = (range - (n-1)/n * range) / 2``,
``radius = range / (2 n (1 - p))`` (inf when p = 1), centers ``linspace(min + inset,
max - inset, n)`` and membership ``lens >= center - radius and lens <= center + radius``
(both inclusive, all float64). A constant lens gives range 0: every element is the single
value and contains every point (as in KeplerMapper).

BalancedCover (1-D): sort the lens and take ``n`` runs of ``m = N / ((1 - p)(n - 1) + 1)``
consecutive points, evenly spaced from the first point to the last (stride ``(N - m)/(n - 1)``),
so every element has the same count and neighbouring elements share ``p * m`` points
(KeplerMapper's definition of overlap, counted in points instead of lens units). Each element is then the closed lens-value range
spanned by its points, so tied lens values are never split between elements.

ProductCover(cover_x, cover_y): 2-D cover, the product of two 1-D covers fitted on each column.
"""
from __future__ import annotations

from itertools import product
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..config import check_range
from .config import check_overlap
from .params import Params

__all__ = ["Cover", "UniformCover", "BalancedCover", "ProductCover", "make_cover"]


def _as_lens(lens) -> np.ndarray:
    lens = np.asarray(lens, dtype=np.float64)
    if lens.ndim == 1:
        lens = lens[:, None]
    if lens.ndim != 2 or lens.shape[1] not in (1, 2):
        raise ValueError(f"lens values must be (N,) or (N, 2), got shape {lens.shape}")
    if lens.shape[0] == 0:
        raise ValueError("lens is empty (0 points): nothing to cover")
    if not np.all(np.isfinite(lens)):
        raise ValueError("lens values contain NaN or inf")
    return lens


class Cover(Params):
    """Base class. Learned: ``lower_`` / ``upper_`` (n_elements, k), ``grid_index_``."""

    def fit(self, lens: ArrayLike) -> "Cover":  # pragma: no cover - abstract
        """Fit the cover elements on lens values (N,) or (N, k) float64. Returns self."""
        raise NotImplementedError

    @property
    def n_elements_(self) -> int:
        """Number of cover elements (empty ones included)."""
        return len(self.lower_)

    def transform(self, lens: ArrayLike) -> list[tuple[int, np.ndarray]]:
        """Non-empty cover elements as ``[(element_index, sorted member rows)]``."""
        lens = _as_lens(lens)
        out = []
        if lens.shape[1] == 1:
            order = np.argsort(lens[:, 0], kind="stable")
            values = lens[order, 0]
            starts = np.searchsorted(values, self.lower_[:, 0], side="left")
            stops = np.searchsorted(values, self.upper_[:, 0], side="right")
            for e, (a, b) in enumerate(zip(starts, stops)):
                if b > a:
                    out.append((e, np.sort(order[a:b])))
            return out
        for e in range(self.n_elements_):
            mask = np.all((lens >= self.lower_[e]) & (lens <= self.upper_[e]), axis=1)
            if mask.any():
                out.append((e, np.flatnonzero(mask)))
        return out

    def fit_transform(self, lens: ArrayLike) -> list[tuple[int, np.ndarray]]:
        """``fit(lens).transform(lens)``: the non-empty elements of lens values (N,) or (N, k)."""
        return self.fit(lens).transform(lens)

    def find(self, values: ArrayLike) -> list[list[int]]:
        """Element indices whose closed box contains each lens value ((M,) or (M, k))."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[:, None]
        inside = np.all((values[:, None, :] >= self.lower_[None]) &
                        (values[:, None, :] <= self.upper_[None]), axis=2)
        return [np.flatnonzero(row).tolist() for row in inside]

    def element_label(self, e: int) -> int | list[int]:
        """JSON ``interval`` value of element ``e``: int (1-D) or [i, j] (2-D)."""
        g = self.grid_index_[e]
        return int(g[0]) if len(g) == 1 else [int(x) for x in g]


class UniformCover(Cover):
    """Equal-width overlapping intervals, exactly ``kmapper.Cover(n_cubes, perc_overlap)``.

    Parameters
    ----------
    n_intervals : int or sequence of int (one per lens dimension)
    overlap : float in [0, 1] or sequence
    """

    def __init__(self, n_intervals: int | Sequence[int] = 10, overlap: float | Sequence[float] = 0.3):
        self.n_intervals = n_intervals
        self.overlap = overlap

    def fit(self, lens: ArrayLike) -> "UniformCover":
        """Fit the cover elements on lens values (N,) or (N, k) float64. Returns self."""
        lens = _as_lens(lens)
        k = lens.shape[1]
        n = np.array([check_range("n_intervals", v, 1, integer=True)
                      for v in np.broadcast_to(np.asarray(self.n_intervals), (k,))], np.int64)
        p = np.array([check_overlap(v) for v in np.broadcast_to(np.asarray(self.overlap), (k,))])
        lo, hi = lens.min(axis=0), lens.max(axis=0)
        ranges = hi - lo
        inner_range = ((n - 1) / n) * ranges
        inset = (ranges - inner_range) / 2
        with np.errstate(divide="ignore"):
            radius = ranges / (2 * n * (1 - p))
        centers_1d = [np.linspace(b + r, c - r, num=m) for b, c, m, r in zip(lo, hi, n, inset)]
        centers = np.array([np.array(c) for c in product(*centers_1d)])
        self.bounds_ = (lo, hi)
        self.radius_ = radius
        self.centers_ = centers
        self.lower_ = centers - radius
        self.upper_ = centers + radius
        self.grid_index_ = np.array(list(product(*[range(m) for m in n])))
        return self


class BalancedCover(Cover):
    """Quantile intervals with (almost) equal point counts on a 1-D lens.

    Parameters
    ----------
    n_intervals : int
    overlap : float in [0, 1)
        Fraction of an element's points shared with each neighbour.
    """

    def __init__(self, n_intervals: int = 10, overlap: float = 0.3):
        self.n_intervals = n_intervals
        self.overlap = overlap

    def fit(self, lens: ArrayLike) -> "BalancedCover":
        """Fit quantile elements on a 1-D lens (N,) float64. Returns self."""
        lens = _as_lens(lens)
        if lens.shape[1] != 1:
            raise ValueError("BalancedCover needs a 1-D lens; use ProductCover for 2-D lenses")
        n = check_range("n_intervals", self.n_intervals, 1, integer=True)
        p = check_overlap(self.overlap)
        values = np.sort(lens[:, 0])
        N = len(values)
        # n runs of m points each, evenly spaced from first to last point: the stride is
        # (N - m) / (n - 1) and neighbours share m - stride = overlap * m points
        m = N / ((1.0 - p) * (n - 1) + 1.0)
        stride = (N - m) / (n - 1) if n > 1 else 0.0
        lower, upper = [], []
        for k in range(n):
            a = int(np.clip(round(k * stride), 0, N - 1))
            b = int(np.clip(round(k * stride + m), a + 1, N))
            lower.append(values[a])
            upper.append(values[b - 1])
        self.lower_ = np.array(lower)[:, None]
        self.upper_ = np.array(upper)[:, None]
        self.grid_index_ = np.arange(n)[:, None]
        return self


class ProductCover(Cover):
    """Product of two 1-D covers for a 2-D lens (element (i, j): x in I_i and y in J_j)."""

    def __init__(self, cover_x: Cover | None = None, cover_y: Cover | None = None):
        self.cover_x = cover_x
        self.cover_y = cover_y

    def fit(self, lens: ArrayLike) -> "ProductCover":
        """Fit ``cover_x`` on column 0 and ``cover_y`` on column 1 of a 2-D lens (N, 2). Returns self."""
        lens = _as_lens(lens)
        if lens.shape[1] != 2:
            raise ValueError("ProductCover needs a 2-D lens (N, 2)")
        cx = self.cover_x.fit(lens[:, 0])
        cy = self.cover_y.fit(lens[:, 1])
        pairs = list(product(range(cx.n_elements_), range(cy.n_elements_)))
        self.lower_ = np.array([[cx.lower_[i, 0], cy.lower_[j, 0]] for i, j in pairs])
        self.upper_ = np.array([[cx.upper_[i, 0], cy.upper_[j, 0]] for i, j in pairs])
        self.grid_index_ = np.array(pairs)
        return self


def make_cover(name: str, n_intervals: int = 10, overlap: float = 0.3, n_dims: int = 1) -> Cover:
    """Cover from a CLI/JSON name: 'uniform' or 'balanced' (product of two for 2-D lenses)."""
    if name == "uniform":
        return UniformCover(n_intervals, overlap)
    if name == "balanced":
        if n_dims == 2:
            return ProductCover(BalancedCover(n_intervals, overlap),
                                BalancedCover(n_intervals, overlap))
        return BalancedCover(n_intervals, overlap)
    raise ValueError(f"unknown cover {name!r}; choose uniform or balanced")
