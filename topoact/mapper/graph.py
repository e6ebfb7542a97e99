"""MapperGraph: the result of a Mapper fit (nodes, edges, statistics) and its JSON form.

Edges come from the (row, node) memberships sorted by row: every two nodes holding the same row
form a pair, and counting equal pairs gives each intersection size (the entries of ``M^T M``
for the (N, K) membership matrix M) without an N x N or K x K matrix, and without importing
``scipy.sparse`` (0.15-0.3 s, most of a first small fit). An edge joins two nodes that
share at least one row (KeplerMapper's ``GraphNerve(min_intersection=1)``); its ``weight`` is the
Jaccard index ``shared / (|A| + |B| - shared)``.

``to_dict()`` gives exactly the "Mapper graph JSON" of docs/design.md: node ids are ints 0..n-1
in (cover element, cluster number) order -- KeplerMapper's node order -- and members are sorted
row indices. The JSON carries ``kind: "mapper_graph"`` and ``schema_version``
(:data:`SCHEMA_VERSION`); files without one (written before the field existed) are version 0
and read the same way; ``layout`` (node positions, :mod:`topoact.mapper.layout`) is an optional
field, absent (None) in older files. ``Run.graph()`` returns this same class. Topology without
networkx: components by :func:`topoact.components.connected_components`, independent cycles =
E - V + C (the first Betti number of the graph).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..components import connected_components

if TYPE_CHECKING:
    from scipy import sparse

    from .config import MapperConfig
    from .layout import GraphLayout

__all__ = ["MapperGraph", "membership_matrix", "graph_edges", "SCHEMA_VERSION"]

#: version of the graph JSON written by ``MapperGraph.to_dict`` (0 = files without the field)
SCHEMA_VERSION = 1


def membership_matrix(members: Sequence[np.ndarray], n_points: int) -> "sparse.csr_matrix":
    """(N, K) int32 CSR matrix, ``M[i, k] = 1`` when row i is in node k.

    Parameters
    ----------
    members : K sorted (n_k,) int arrays of row indices
    n_points : N, the number of rows

    Returns
    -------
    (N, K) scipy CSR matrix.
    """
    from scipy import sparse

    sizes = [len(m) for m in members]
    rows = np.concatenate([np.asarray(m, np.int64) for m in members]) if members else np.empty(0, np.int64)
    cols = np.repeat(np.arange(len(members)), sizes)
    return sparse.csr_matrix((np.ones(len(rows), np.int32), (rows, cols)),
                             shape=(n_points, len(members)))


def graph_edges(members: Sequence[np.ndarray], n_points: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges of the nerve (nodes sharing at least one row).

    Parameters
    ----------
    members : K sorted (n_k,) int arrays of row indices
    n_points : ignored (the edges no longer go through the (N, K) membership matrix); accepted
        so that older callers need not change

    Returns
    -------
    source, target : (E,) int64 with source < target, sorted
    shared : (E,) int64 rows in both nodes
    jaccard : (E,) float64 ``shared / (|A| + |B| - shared)``
    """
    if len(members) < 2:
        e = np.empty(0, np.int64)
        return e, e, e, np.empty(0)
    K = len(members)
    sizes = np.array([len(m) for m in members], np.int64)
    rows = np.concatenate([np.asarray(m, np.int64) for m in members])
    nodes = np.repeat(np.arange(K, dtype=np.int64), sizes)
    order = np.argsort(rows, kind="stable")        # by row; nodes ascending within a row
    rows, nodes = rows[order], nodes[order]
    codes = []
    for d in range(1, len(rows)):                  # the d-th next membership of the same row
        same = np.flatnonzero(rows[d:] == rows[:-d])
        if not len(same):
            break                                  # a row's memberships are contiguous
        codes.append(nodes[same] * K + nodes[same + d])
    if not codes:
        e = np.empty(0, np.int64)
        return e, e, e, np.empty(0)
    pairs, shared = np.unique(np.concatenate(codes), return_counts=True)
    s, t = pairs // K, pairs % K
    jac = shared / (sizes[s] + sizes[t] - shared)
    return s, t, shared.astype(np.int64), jac


class MapperGraph:
    """Nodes (member rows), edges and per-node statistics of one Mapper graph.

    Parameters
    ----------
    members : list of (n_k,) int arrays, sorted row indices of each node
    n_points : int, number of rows N of the data the graph was built on
    intervals : list, the cover element of each node (int, or [i, j] for 2-D covers)
    stats : list of dict, per-node statistics (see ``topoact.mapper.stats``)
    node_means : (K, D) float32 array or None, mean activation vector of each node
    params : dict, the JSON form of the parameters (``MapperConfig.to_dict()`` plus
        ``eps_resolved`` / ``timings``; older graphs hold the nested form of ``mapper_params``)
    layer, key : metadata copied into the JSON
    edges : (source, target, shared, weight) arrays, optional (computed when None)
    node_means_file : name of the saved node means file (kept by ``from_dict``), optional
    layout : :class:`~topoact.mapper.layout.GraphLayout`, optional: node positions computed once
        (``layout_graph``) and stored in the JSON's ``"layout"`` (None in files without one)
    """

    kind = "mapper_graph"
    schema_version = SCHEMA_VERSION

    def __init__(self, members: Sequence[Any], n_points: int, intervals: Sequence[Any] | None = None,
                 stats: Sequence[dict] | None = None, node_means: np.ndarray | None = None,
                 params: Mapping[str, Any] | None = None, layer: str = "", key: str = "",
                 edges: tuple | None = None, node_means_file: str | None = None,
                 layout: "GraphLayout | None" = None):
        self.members = [np.asarray(m, dtype=np.int64) for m in members]
        self.n_points = int(n_points)
        self.intervals = list(intervals) if intervals is not None else [0] * len(self.members)
        self.stats = list(stats) if stats is not None else [{} for _ in self.members]
        self.node_means = node_means
        self.params = dict(params or {})
        self.layer = layer
        self.key = key
        self.node_means_file = node_means_file
        self.layout = layout
        if layout is not None and len(layout.positions) != len(self.members):
            raise ValueError(f"layout has {len(layout.positions)} positions, graph has "
                             f"{len(self.members)} nodes")
        for m in self.members:
            if len(m) and (m.min() < 0 or m.max() >= self.n_points):
                raise ValueError("node members must be row indices in [0, n_points)")
        if edges is None:
            edges = graph_edges(self.members)
        self.sources, self.targets, self.shared, self.weights = edges

    # -- topology ---------------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        """Number of nodes K."""
        return len(self.members)

    @property
    def n_edges(self) -> int:
        """Number of edges E."""
        return len(self.sources)

    @property
    def sizes(self) -> np.ndarray:
        """(K,) int64 number of member rows of each node."""
        return np.array([len(m) for m in self.members], np.int64)

    def component_labels(self) -> np.ndarray:
        """(K,) connected-component number of each node (numbered by smallest node)."""
        return connected_components(self.n_nodes, self.sources, self.targets)

    @property
    def n_components(self) -> int:
        """Number of connected components of the graph."""
        return int(len(np.unique(self.component_labels()))) if self.n_nodes else 0

    @property
    def n_cycles(self) -> int:
        """Independent cycles (first Betti number) = E - V + C."""
        return self.n_edges - self.n_nodes + self.n_components

    def degrees(self) -> np.ndarray:
        """(K,) number of edges at each node."""
        return (np.bincount(self.sources, minlength=self.n_nodes)
                + np.bincount(self.targets, minlength=self.n_nodes))

    def member_sets(self) -> list:
        """Node member sets as frozensets (for comparisons)."""
        return [frozenset(m.tolist()) for m in self.members]

    @property
    def config(self) -> "MapperConfig | None":
        """The :class:`~topoact.mapper.config.MapperConfig` the graph was built with (None
        when its params are not a Mapper configuration, e.g. a graph built from objects)."""
        from .config import MapperConfig

        try:
            return MapperConfig.from_params(self.params)
        except (KeyError, TypeError, ValueError):
            return None

    def summary(self) -> dict:
        """nodes, edges, components, cycles, mean_purity, covered_points."""
        purities = [s.get("purity") for s in self.stats if s.get("purity") is not None]
        return {"nodes": self.n_nodes, "edges": self.n_edges, "components": self.n_components,
                "cycles": self.n_cycles,
                "mean_purity": float(np.mean(purities)) if purities else None,
                "covered_points": int(len(np.unique(np.concatenate(self.members))))
                if self.members else 0}

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self, node_means_file: str | None = None) -> dict:
        """The "Mapper graph JSON" (docs/design.md) with ``kind`` and ``schema_version``.

        ``layout`` (:meth:`GraphLayout.to_dict`) is there only when the graph has one.
        ``node_means`` names the file of the (K, D) node means: ``node_means_file`` when given,
        else ``<key>.node_means.npy`` when the graph has node means and a key, else None.
        """
        nodes = []
        for k, m in enumerate(self.members):
            node = {"id": k, "members": m.tolist(), "size": int(len(m)),
                    "interval": self.intervals[k]}
            node.update(self.stats[k])
            nodes.append(node)
        edges = [{"source": int(s), "target": int(t), "weight": float(w), "shared": int(c)}
                 for s, t, w, c in zip(self.sources, self.targets, self.weights, self.shared)]
        if node_means_file is None:
            node_means_file = self.node_means_file
        if node_means_file is None and self.key and self.node_means is not None:
            node_means_file = f"{self.key}.node_means.npy"
        out = {"kind": self.kind, "schema_version": SCHEMA_VERSION,
               "layer": self.layer, "key": self.key, "params": self.params,
               "n_points": self.n_points, "nodes": nodes, "edges": edges,
               "node_means": node_means_file}
        if self.layout is not None:
            out["layout"] = self.layout.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], node_means: np.ndarray | None = None) -> "MapperGraph":
        """Read the JSON form back (any schema version up to :data:`SCHEMA_VERSION`).

        Parameters
        ----------
        data : dict from ``to_dict()`` or a graph JSON file
        node_means : (K, D) array, optional
        """
        version = int(data.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise ValueError(f"Mapper graph has schema_version {version}; this topoact reads up "
                             f"to {SCHEMA_VERSION}: upgrade topoact")
        if "n_points" not in data or "nodes" not in data:
            raise ValueError("not a Mapper graph: 'nodes' and 'n_points' are required")
        nodes = sorted(data["nodes"], key=lambda n: n["id"])
        if [n["id"] for n in nodes] != list(range(len(nodes))):
            raise ValueError("graph node ids must be 0..n-1")
        fixed = {"id", "members", "size", "interval"}
        stats = [{k: v for k, v in n.items() if k not in fixed} for n in nodes]
        edges = data.get("edges")
        edge_arrays = None
        if edges is not None:
            edge_arrays = (np.array([e["source"] for e in edges], np.int64),
                           np.array([e["target"] for e in edges], np.int64),
                           np.array([e["shared"] for e in edges], np.int64),
                           np.array([e["weight"] for e in edges], np.float64))
        from .layout import GraphLayout

        layout = GraphLayout.from_dict(data["layout"]) if data.get("layout") else None
        return cls([n["members"] for n in nodes], data["n_points"],
                   intervals=[n.get("interval", 0) for n in nodes], stats=stats,
                   node_means=node_means, params=data.get("params"), layer=data.get("layer", ""),
                   key=data.get("key", ""), edges=edge_arrays,
                   node_means_file=data.get("node_means") if isinstance(data.get("node_means"), str) else None,
                   layout=layout)

    def __repr__(self):
        return (f"MapperGraph(nodes={self.n_nodes}, edges={self.n_edges}, "
                f"components={self.n_components}, cycles={self.n_cycles}, n_points={self.n_points})")
