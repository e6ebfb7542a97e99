"""topoact's Mapper engine: lens -> cover -> per-element clustering -> nerve -> statistics.

Quick use::

    from topoact.mapper import Mapper, MapperConfig, L2Norm, UniformCover, DBSCAN
    graph = Mapper(L2Norm(), UniformCover(40, 0.3), DBSCAN(eps="auto")).fit(X, labels=y).graph_
    graph = MapperConfig(n_intervals=40, overlap=0.3).mapper().fit_transform(X, labels=y)
    graph.to_dict()   # the run's "Mapper graph JSON"

or ``build_graph(X, labels=y, n_intervals=40, overlap=0.3) -> MapperGraph``. On a run:
``build_run_graph(run, layer, MapperConfig(...))`` (cached under ``config.key``).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..progress import Cancelled
from .cluster import DBSCAN, SingleLinkage, SklearnClusterer, auto_eps, make_clusterer
from .config import MapperConfig
from .cover import BalancedCover, ProductCover, UniformCover, make_cover
from .export import node_members_csv, save_graph_json, save_kmapper_html
from .graph import MapperGraph
from .lens import ArrayLens, KNNDistance, L1Norm, L2Norm, PCALens, PredictionLens, UMAPLens
from .pipeline import EmptyGraphError, Mapper
from .run_graphs import (build_run_graph, graph_key, locate_points, mapper_from_params,
                         mapper_params, run_context, sweep_run)
from .sweep import sweep

__all__ = [
    "Mapper", "MapperConfig", "MapperGraph", "Cancelled", "EmptyGraphError", "build_graph",
    "L2Norm", "L1Norm", "PCALens", "KNNDistance", "UMAPLens", "PredictionLens", "ArrayLens",
    "UniformCover", "BalancedCover", "ProductCover", "make_cover",
    "DBSCAN", "SingleLinkage", "SklearnClusterer", "make_clusterer", "auto_eps",
    "sweep", "save_graph_json", "node_members_csv", "save_kmapper_html",
    "mapper_params", "graph_key", "mapper_from_params", "build_run_graph", "sweep_run",
    "locate_points", "run_context",
]


def build_graph(X: Any, labels: np.ndarray | None = None, predictions: np.ndarray | None = None,
                attributes: Mapping[str, np.ndarray] | None = None,
                attribute_kinds: Mapping[str, str] | None = None,
                probabilities: np.ndarray | None = None, *, config: MapperConfig | None = None,
                n_jobs: int = 2, layer: str = "", **params: Any) -> MapperGraph:
    """The Mapper graph of X (N, D) for a :class:`MapperConfig` (or its fields as keywords).

    Parameters
    ----------
    X : (N, D) array
    labels, predictions : (N,) int arrays, optional
    attributes, attribute_kinds : per-row attributes, optional
    probabilities : (N, C), needed by prediction lenses
    config : MapperConfig; else ``params`` are its fields (lens, cover, n_intervals, overlap,
        clusterer, eps, eps_scale, min_samples, metric, backend, ...)

    Returns
    -------
    MapperGraph with ``node_means`` ((K, D) float32) and ``params`` (the config's JSON form plus
    ``eps_resolved``); ``key`` is ``config.key``.
    """
    config = config if config is not None else MapperConfig.from_dict(params)
    mapper = config.mapper(n_jobs=n_jobs)
    graph = mapper.fit_transform(X, labels=labels, predictions=predictions, attributes=attributes,
                                 attribute_kinds=attribute_kinds, probabilities=probabilities,
                                 layer=layer, key=config.key)
    graph.params = dict(config.to_dict(), eps_resolved=mapper.eps_)
    return graph
