"""topoact's Mapper engine: lens -> cover -> per-element clustering -> nerve -> statistics.

Quick use::

    from topoact.mapper import Mapper, MapperConfig, L2Norm, UniformCover, DBSCAN
    graph = Mapper(L2Norm(), UniformCover(40, 0.3), DBSCAN(eps="auto")).fit(X, labels=y).graph_
    graph = MapperConfig(n_intervals=40, overlap=0.3).mapper().fit_transform(X, labels=y)
    graph.to_dict()   # the run's "Mapper graph JSON"

or ``build_graph(X, labels=y, n_intervals=40, overlap=0.3) -> MapperGraph``. On a run:
``build_run_graph(run, layer, MapperConfig(...))`` (cached under ``config.key``); the run-level
default is ``build_default_graph(run, layer)``: parameters chosen from the data by the
unsupervised rule of :mod:`topoact.mapper.auto`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..lazy import lazy_exports
from ..progress import Cancelled

if TYPE_CHECKING:
    from .config import MapperConfig
    from .graph import MapperGraph

_MODULES = {
    "auto": ["AutoChoice", "Criterion", "auto_choice", "build_default_graph", "choose_config"],
    "cluster": ["DBSCAN", "SingleLinkage", "SklearnClusterer", "auto_eps", "make_clusterer"],
    "config": ["MapperConfig"],
    "cover": ["BalancedCover", "ProductCover", "UniformCover", "make_cover"],
    "embedding": ["layer_embedding"],
    "export": ["node_members_csv", "save_graph_json", "save_kmapper_html"],
    "graph": ["MapperGraph"],
    "layout": ["GraphLayout", "layout_graph"],
    "lens": ["ArrayLens", "KNNDistance", "L1Norm", "L2Norm", "PCALens", "PredictionLens", "UMAPLens"],
    "pipeline": ["EmptyGraphError", "Mapper"],
    "run_graphs": ["build_run_graph", "ensure_layout", "graph_key", "locate_points", "mapper_from_params",
                   "mapper_params", "run_context", "sweep_run"],
    "sweep": ["sweep"],
}
# imported on first use: ``from topoact.mapper import Mapper, DBSCAN`` (a script, the benchmark)
# then loads the engine without the run, auto-choice and export modules
__getattr__, __dir__, _LAZY = lazy_exports(__name__, _MODULES)
__all__ = sorted(["Cancelled", "build_graph", *_LAZY])


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
    from .config import MapperConfig

    config = config if config is not None else MapperConfig.from_dict(params)
    mapper = config.mapper(n_jobs=n_jobs)
    graph = mapper.fit_transform(X, labels=labels, predictions=predictions, attributes=attributes,
                                 attribute_kinds=attribute_kinds, probabilities=probabilities,
                                 layer=layer, key=config.key)
    graph.params = dict(config.to_dict(), eps_resolved=mapper.eps_)
    return graph
