"""topoact's Mapper engine: lens -> cover -> per-element clustering -> nerve -> statistics.

Quick use::

    from topoact.mapper import Mapper, L2Norm, UniformCover, DBSCAN
    graph = Mapper(L2Norm(), UniformCover(40, 0.3), DBSCAN(eps="auto")).fit(X, labels=y)
    graph.to_dict()   # the run's "Mapper graph JSON"

or ``build_graph(X, labels=y, intervals=40, overlap=0.3) -> dict``.
"""
from __future__ import annotations

from .cluster import DBSCAN, SingleLinkage, SklearnClusterer, auto_eps, make_clusterer
from .cover import BalancedCover, ProductCover, UniformCover, make_cover
from .export import load_graph_json, node_members_csv, save_graph_json, save_kmapper_html
from .graph import MapperGraph
from .lens import (ArrayLens, KNNDistance, L1Norm, L2Norm, PCALens, PredictionLens, UMAPLens,
                   make_lens)
from .pipeline import Cancelled, Mapper
from .run_graphs import (build_run_graph, graph_key, locate_points, mapper_from_params,
                         mapper_params, sweep_run)
from .sweep import sweep

__all__ = [
    "Mapper", "MapperGraph", "Cancelled", "build_graph",
    "L2Norm", "L1Norm", "PCALens", "KNNDistance", "UMAPLens", "PredictionLens", "ArrayLens",
    "make_lens", "UniformCover", "BalancedCover", "ProductCover", "make_cover",
    "DBSCAN", "SingleLinkage", "SklearnClusterer", "make_clusterer", "auto_eps",
    "sweep", "save_graph_json", "load_graph_json", "node_members_csv", "save_kmapper_html",
    "mapper_params", "graph_key", "mapper_from_params", "build_run_graph", "sweep_run",
    "locate_points",
]


def build_graph(X, labels=None, predictions=None, attributes=None, attribute_kinds=None,
                probabilities=None, *, n_jobs: int = 2, layer: str = "", **params) -> dict:
    """Graph dict (design.md "Mapper graph JSON") of X (N, D).

    ``params`` are ``mapper_params`` keywords (lens, cover, intervals, overlap, clusterer, eps,
    eps_scale, min_samples, metric, backend, ...). The node means array is returned under the
    extra key ``"node_means_array"`` ((K, D) float32) for the caller to save beside the JSON.
    """
    p = mapper_params(**params)
    mapper = mapper_from_params(p, n_jobs=n_jobs)
    g = mapper.fit(X, labels=labels, predictions=predictions, attributes=attributes,
                   attribute_kinds=attribute_kinds, probabilities=probabilities, layer=layer,
                   key=graph_key(p))
    data = g.to_dict()
    data["params"] = dict(p, eps_resolved=mapper.eps_)
    data["node_means_array"] = g.node_means
    return data
