"""Persistent homology of layer activations and of Mapper graphs (gudhi / ripser based).

One idea per module: :mod:`.landmarks`, :mod:`.pairwise` (blockwise distances), :mod:`.mst`
(exact H0), :mod:`.rips` (default complex, see its docstring), :mod:`.certificate`, :mod:`.summaries`,
:mod:`.bootstrap`, :mod:`.cycles`, :mod:`.graph_persistence`, :mod:`.distances`,
:mod:`.config` (parameter objects), :mod:`.results` (typed results),
:mod:`.run_persistence` (run-level, cached), :mod:`.cli`.
"""
from ..lazy import lazy_exports
from ..progress import Cancelled

_MODULES = {
    "bootstrap": ["bottleneck_bootstrap"],
    "certificate": ["cone_free_edges"],
    "config": ["GraphPersistenceConfig", "PersistenceConfig"],
    "cycles": ["representative_cycles", "shortest_cycle"],
    "distances": ["bottleneck", "distance_matrix", "wasserstein"],
    "graph_persistence": ["extended_diagrams", "graph_bootstrap", "graph_features"],
    "landmarks": ["Landmarks", "maxmin_landmarks", "random_landmarks"],
    "results": ["GraphPersistenceResult", "LayerDistances", "PersistenceResult"],
    "rips": ["RipsResult", "ripser_rips", "sparse_rips"],
    "run_persistence": ["compute_persistence", "graph_persistence_key", "layer_distance_matrix",
                        "layer_persistence", "load_persistence", "mapper_graph_persistence",
                        "mapper_rebuild", "persistence_key"],
    "summaries": ["barcode", "landscape", "persistence_image", "scalar_summaries"],
}
# imported on first use: the command line's parser imports .cli without scikit-learn
__getattr__, __dir__, _LAZY = lazy_exports(__name__, _MODULES)
__all__ = sorted(["Cancelled", *_LAZY])
