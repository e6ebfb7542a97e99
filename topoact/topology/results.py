"""Typed results of the run-level persistence computations (:class:`topoact.results.Result`).

Every result is a dataclass with ``to_dict()`` (the JSON written to the run's cache, with
``kind`` and ``schema_version``) and ``from_dict()``. ``cached`` says whether *this call*
loaded the result from the run's cache (True) or computed it (False); it is not written to disk.

Diagrams are stored as JSON lists ``[[birth, death], ...]`` with ``None`` for an infinite
death; :meth:`PersistenceResult.diagram` gives the (k, 2) float array with ``inf``.

Schema history: version 1 was the plain dict of topoact <= 0.1 (same field names, plus
``version``); it is read by ``from_dict`` unchanged.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Optional

import numpy as np

from ..results import Result
from .summaries import as_diagram

__all__ = ["PersistenceResult", "GraphPersistenceResult", "LayerDistances", "as_result_dict"]

@dataclasses.dataclass
class _CallResult(Result):
    """A result whose ``cached`` field describes the call that returned it; not written."""

    def to_dict(self) -> dict:
        """JSON form (without ``cached``)."""
        out = super().to_dict()
        out.pop("cached", None)
        return out


@dataclasses.dataclass
class PersistenceResult(_CallResult):
    """Persistence of one point cloud (a layer's landmarks): diagrams, band, summaries, cycles.

    Attributes
    ----------
    n_points, n_features : int
        Shape of the input (rows of the layer, vector length).
    landmarks : list of int
        Row indices of the landmarks, in selection order (length m).
    covering_radius : float or None
        Max-min covering radius of the landmarks (None for random landmarks).
    diagrams : list of lists
        Per dimension d, ``[[birth, death or None], ...]``.
    bars : list of dict
        Barcode, longest first per dimension (see :func:`~topoact.topology.summaries.barcode`).
    band : list of (float or None)
        Significance band 2c per dimension (None without bootstrap).
    bootstrap : dict or None
        ``c``, ``alpha``, ``n_bootstrap`` of the band.
    summaries : dict
        Scalar summaries per dimension (``h0``, ``h1``, ..., ``longest_h1``).
    landscapes : dict
        ``"d" -> landscape vector`` for d >= 1 (5 x 100 values).
    cycles : list of dict
        Representative cycles of the significant H1 bars (``vertices`` = landmark positions,
        ``rows`` = run rows).
    threshold, enclosing_radius : float
        Rips threshold used and the enclosing radius of the landmarks.
    exact : bool
        The diagrams equal the full Rips diagrams (see :mod:`topoact.topology.rips`).
    n_truncated, n_edges, n_simplices : int
        Bars cut at the threshold, edges and simplices of the complex.
    timings : dict
        Seconds per step.
    layer, key : str or None
        Layer name and cache key (run-level results).
    params : dict or None
        ``PersistenceConfig.to_dict()`` of the parameters.
    cached : bool
        This call loaded the result from the run's cache (not stored).
    """

    kind: ClassVar[str] = "persistence"
    schema_version: ClassVar[int] = 2

    n_points: int
    n_features: int
    landmarks: list
    covering_radius: Optional[float]
    diagrams: list
    bars: list
    band: list
    bootstrap: Optional[dict]
    summaries: dict
    landscapes: dict
    cycles: list
    threshold: float
    enclosing_radius: float
    exact: bool
    n_truncated: int
    n_edges: int
    n_simplices: int
    timings: dict = dataclasses.field(default_factory=dict)
    layer: Optional[str] = None
    params: Optional[dict] = None
    key: Optional[str] = None
    cached: bool = False

    def diagram(self, dim: int) -> np.ndarray:
        """The dimension-``dim`` diagram as a float array (k, 2), ``inf`` for infinite deaths."""
        return as_diagram(self.diagrams[dim]) if dim < len(self.diagrams) else np.zeros((0, 2))


@dataclasses.dataclass
class GraphPersistenceResult(_CallResult):
    """Extended persistence of a Mapper graph with bootstrap significance.

    Attributes
    ----------
    layer, graph_key : str
        The graph's layer and key.
    diagrams : dict
        family -> ``[[lens_min, lens_max], ...]`` (families of
        :mod:`topoact.topology.graph_persistence`).
    features : list of dict
        Longest first, each with ``family``, ``lens_min``, ``lens_max``, ``persistence``,
        ``significant``.
    n_bootstrap : int
        Resamples B (0: no band).
    alpha : float
        1 - confidence level.
    c, band : float or None
        Bootstrap quantile and band 2c, in lens units (None without bootstrap).
    distances : list of float
        The B bottleneck distances of the resamples.
    params : dict or None
        ``GraphPersistenceConfig.to_dict()``.
    key : str or None
        Cache key.
    cached : bool
        This call loaded the result from the run's cache (not stored).
    """

    kind: ClassVar[str] = "graph_persistence"
    schema_version: ClassVar[int] = 2

    layer: str
    graph_key: str
    diagrams: dict
    features: list
    n_bootstrap: int
    alpha: float
    c: Optional[float] = None
    band: Optional[float] = None
    distances: list = dataclasses.field(default_factory=list)
    params: Optional[dict] = None
    key: Optional[str] = None
    cached: bool = False


@dataclasses.dataclass
class LayerDistances(Result):
    """Diagram distances between layers (or the same layers across runs).

    Attributes
    ----------
    labels : list of str
        One label per row/column (``layer`` or ``run<k>:layer``).
    matrix : list of lists
        (L, L) symmetric distances with zero diagonal.
    dim : int
        Homology dimension compared.
    distance : {'bottleneck', 'wasserstein'}
        The diagram distance.
    metric : {'euclidean', 'cosine'}
        The point metric the diagrams were computed with.
    """

    kind: ClassVar[str] = "layer_distances"
    schema_version: ClassVar[int] = 1

    labels: list
    matrix: list
    dim: int
    distance: str
    metric: str

    def array(self) -> np.ndarray:
        """The matrix as a float array (L, L)."""
        return np.asarray(self.matrix, dtype=np.float64)


def as_result_dict(result: Any) -> dict:
    """The JSON dict of a result object, or the dict itself (figures accept both)."""
    if hasattr(result, "to_dict"):
        out = result.to_dict()
        if hasattr(result, "cached"):
            out["cached"] = result.cached
        return out
    return dict(result)
