"""Persistent homology of layer activations and of Mapper graphs (gudhi / ripser based).

One idea per module: :mod:`.landmarks`, :mod:`.pairwise` (blockwise distances), :mod:`.mst`
(exact H0), :mod:`.rips` (default complex, see its docstring), :mod:`.certificate`, :mod:`.summaries`,
:mod:`.bootstrap`, :mod:`.cycles`, :mod:`.graph_persistence`, :mod:`.distances`,
:mod:`.config` (parameter objects), :mod:`.results` (typed results),
:mod:`.run_persistence` (run-level, cached), :mod:`.cli`.
"""
from ..progress import Cancelled
from .bootstrap import bottleneck_bootstrap
from .certificate import cone_free_edges
from .config import GraphPersistenceConfig, PersistenceConfig
from .cycles import representative_cycles, shortest_cycle
from .distances import bottleneck, distance_matrix, wasserstein
from .graph_persistence import extended_diagrams, graph_bootstrap, graph_features
from .landmarks import Landmarks, maxmin_landmarks, random_landmarks
from .results import GraphPersistenceResult, LayerDistances, PersistenceResult
from .rips import RipsResult, ripser_rips, sparse_rips
from .run_persistence import (compute_persistence, graph_persistence_key, layer_distance_matrix,
                              layer_persistence, load_persistence, mapper_graph_persistence,
                              mapper_rebuild, persistence_key)
from .summaries import barcode, landscape, persistence_image, scalar_summaries

__all__ = [
    "Cancelled", "GraphPersistenceConfig", "GraphPersistenceResult", "LayerDistances",
    "Landmarks", "PersistenceConfig", "PersistenceResult", "RipsResult", "barcode", "bottleneck",
    "bottleneck_bootstrap", "compute_persistence", "cone_free_edges", "distance_matrix",
    "extended_diagrams", "graph_bootstrap", "graph_features", "graph_persistence_key",
    "landscape", "layer_distance_matrix", "layer_persistence", "load_persistence",
    "mapper_graph_persistence", "mapper_rebuild", "maxmin_landmarks", "persistence_image",
    "persistence_key", "random_landmarks", "representative_cycles", "ripser_rips",
    "scalar_summaries", "shortest_cycle", "sparse_rips", "wasserstein",
]
