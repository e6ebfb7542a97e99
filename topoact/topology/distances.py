"""Distances between persistence diagrams, and distance matrices across layers / runs.

Bottleneck: ``gudhi.bottleneck_distance``. Wasserstein: gudhi's Hera backend
(``gudhi.hera.wasserstein_distance``) — ``gudhi.wasserstein`` needs POT, which is not a topoact
dependency, and Hera is exact and ships with gudhi. Infinite bars: both functions match
essential bars to essential bars; if the counts differ the distance is ``inf``. Use
``clip=threshold`` to replace infinite deaths by a finite value first (the default in the
matrix functions, where the one infinite H0 bar is otherwise dropped: every connected cloud has
exactly one, so dropping it changes nothing).
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Union

import gudhi
import gudhi.hera
import numpy as np
from numpy.typing import ArrayLike

from .summaries import as_diagram

__all__ = ["DISTANCES", "bottleneck", "wasserstein", "distance_matrix"]

#: the diagram distances (``distance=`` everywhere; ``metric`` is the point metric)
DISTANCES = ("bottleneck", "wasserstein")

Clip = Union[None, str, float]


def _prep(dgm, clip: Clip) -> np.ndarray:
    d = as_diagram(dgm).copy()
    if clip is None:
        return d
    if clip == "drop":
        return d[np.isfinite(d[:, 1])]
    d[np.isinf(d[:, 1]), 1] = float(clip)
    return d


def bottleneck(a: ArrayLike, b: ArrayLike, *, clip: Clip = None) -> float:
    """Bottleneck distance between two diagrams.

    Parameters
    ----------
    a, b : array-like of shape (k, 2)
        Diagrams ``(birth, death)``; ``inf`` (or ``None``) deaths are essential bars.
    clip : None, 'drop' or float
        None keeps infinite bars, 'drop' removes them, a number replaces infinite deaths.

    Returns
    -------
    float
    """
    return float(gudhi.bottleneck_distance(_prep(a, clip), _prep(b, clip)))


def wasserstein(a: ArrayLike, b: ArrayLike, *, order: float = 1.0, internal_p: float = np.inf,
                clip: Clip = None) -> float:
    """p-Wasserstein distance between two diagrams (Hera).

    Parameters
    ----------
    a, b : array-like of shape (k, 2)
        Diagrams.
    order : float
        p of the Wasserstein distance.
    internal_p : float
        Ground metric L_internal_p.
    clip : None, 'drop' or float
        As in :func:`bottleneck`.

    Returns
    -------
    float
    """
    return float(gudhi.hera.wasserstein_distance(_prep(a, clip), _prep(b, clip), order=order,
                                                 internal_p=internal_p))


def _distance_fn(distance: str):
    if distance == "bottleneck":
        return bottleneck
    if distance == "wasserstein":
        return wasserstein
    raise ValueError(f"unknown diagram distance {distance!r}; use 'bottleneck' or 'wasserstein'")


def distance_matrix(diagrams: Sequence, *, distance: Optional[str] = None, clip: Clip = "drop",
                    others: Optional[Sequence] = None, metric: Optional[str] = None) -> np.ndarray:
    """Pairwise diagram distances.

    Parameters
    ----------
    diagrams : list of m arrays (k_i, 2)
        Diagrams of one homology dimension.
    distance : {'bottleneck', 'wasserstein'}
        The diagram distance (default 'bottleneck').
    clip : None, 'drop' or float
        Treatment of infinite bars (see :func:`bottleneck`).
    others : list of m' arrays, optional
        Then the (m, m') cross matrix is returned.
    metric : str, optional
        Deprecated alias of ``distance`` (one release).

    Returns
    -------
    ndarray
        (m, m) symmetric with zero diagonal, or (m, m') when ``others`` is given.
    """
    if metric is not None:
        warnings.warn("distance_matrix(metric=...) is deprecated; use distance=...",
                      DeprecationWarning, stacklevel=2)
        distance = distance or metric
    fn = _distance_fn(distance or "bottleneck")
    if others is not None:
        return np.array([[fn(a, b, clip=clip) for b in others] for a in diagrams]).reshape(
            len(diagrams), len(others))
    m = len(diagrams)
    M = np.zeros((m, m))
    for p in range(m):
        for q in range(p + 1, m):
            M[p, q] = M[q, p] = fn(diagrams[p], diagrams[q], clip=clip)
    return M
