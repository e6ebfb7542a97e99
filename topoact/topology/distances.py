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

import gudhi
import gudhi.hera
import numpy as np

from .summaries import as_diagram


def _prep(dgm, clip):
    d = as_diagram(dgm).copy()
    if clip is None:
        return d
    if clip == "drop":
        return d[np.isfinite(d[:, 1])]
    d[np.isinf(d[:, 1]), 1] = float(clip)
    return d


def bottleneck(a, b, *, clip=None) -> float:
    """Bottleneck distance between two diagrams (k, 2)."""
    return float(gudhi.bottleneck_distance(_prep(a, clip), _prep(b, clip)))


def wasserstein(a, b, *, order=1.0, internal_p=np.inf, clip=None) -> float:
    """p-Wasserstein distance (Hera), ``order`` = p, ground metric L_internal_p."""
    return float(gudhi.hera.wasserstein_distance(_prep(a, clip), _prep(b, clip), order=order,
                                                 internal_p=internal_p))


def _metric_fn(metric):
    if metric == "bottleneck":
        return bottleneck
    if metric == "wasserstein":
        return wasserstein
    raise ValueError(f"unknown diagram distance {metric!r}; use 'bottleneck' or 'wasserstein'")


def distance_matrix(diagrams, *, metric="bottleneck", clip="drop", others=None) -> np.ndarray:
    """Pairwise diagram distances.

    Parameters
    ----------
    diagrams : list of m diagrams (k_i, 2) (one homology dimension)
    others : optional list of m' diagrams; then the (m, m') cross matrix is returned
    Returns
    -------
    (m, m) symmetric with zero diagonal, or (m, m') when ``others`` is given
    """
    fn = _metric_fn(metric)
    if others is not None:
        return np.array([[fn(a, b, clip=clip) for b in others] for a in diagrams]).reshape(
            len(diagrams), len(others))
    m = len(diagrams)
    M = np.zeros((m, m))
    for p in range(m):
        for q in range(p + 1, m):
            M[p, q] = M[q, p] = fn(diagrams[p], diagrams[q], clip=clip)
    return M
