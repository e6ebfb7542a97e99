"""Persistent homology of layer activations and of Mapper graphs (gudhi based).

One idea per module: :mod:`.landmarks`, :mod:`.pairwise` (blockwise distances), :mod:`.mst`
(exact H0), :mod:`.rips` (default complex, see its docstring), :mod:`.certificate`, :mod:`.summaries`,
:mod:`.bootstrap`, :mod:`.cycles`, :mod:`.graph_persistence`, :mod:`.distances`,
:mod:`.run_persistence`, :mod:`.cli`.
"""
from ._validation import Cancelled
from .bootstrap import bottleneck_bootstrap
from .cycles import representative_cycles, shortest_cycle
from .distances import bottleneck, distance_matrix, wasserstein
from .graph_persistence import extended_diagrams, graph_bootstrap, graph_features
from .landmarks import Landmarks, maxmin_landmarks, random_landmarks
from .certificate import cone_free_edges
from .rips import RipsResult, ripser_rips, sparse_rips
from .run_persistence import (compute_persistence, layer_distance_matrix, layer_persistence,
                              mapper_graph_persistence, mapper_rebuild)
from .summaries import barcode, landscape, persistence_image, scalar_summaries

__all__ = [
    "Cancelled", "Landmarks", "RipsResult", "barcode", "bottleneck", "bottleneck_bootstrap",
    "cone_free_edges", "mapper_graph_persistence", "mapper_rebuild", "ripser_rips",
    "compute_persistence", "distance_matrix", "extended_diagrams", "graph_bootstrap",
    "graph_features", "landscape", "layer_distance_matrix", "layer_persistence",
    "maxmin_landmarks", "persistence_image", "random_landmarks", "representative_cycles",
    "scalar_summaries", "shortest_cycle", "sparse_rips", "wasserstein",
]
