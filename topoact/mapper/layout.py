"""A Mapper graph's layout, computed once and stored with the graph.

``layout_graph(graph, previous=None, seed=0) -> GraphLayout`` places every node:

1. Components are found (``graph.component_labels()``) and ordered by node count, then by
   member rows, largest first.
2. *Tiny* components (at most ``tiny_max`` nodes: singletons and pairs by default) are collapsed
   into one summary glyph: ``GraphLayout.summary`` holds the glyph's position and the list of
   their nodes, so a UI draws one marker and expands it on demand (the collapsed nodes have
   positions too, in a compact grid under the glyph). When every component is tiny nothing is
   collapsed (there would be nothing else to show).
3. Each other component gets a force-directed layout: Fruchterman-Reingold in numpy with the
   ideal edge length fixed at 1 layout unit (so a component of n nodes spans about sqrt(n)
   units: area grows with size, the layout is scale-aware), seeded random start, 60 iterations
   with a linearly cooling step; repulsion is all-pairs (chunked, O(n^2) per step) up to 1,000
   nodes and, above, only between nodes closer than 3 units (Fruchterman and Reingold's own
   grid variant; pairs from scipy's k-d tree, O(n) per step); attraction along the edges,
   weighted by their Jaccard weight.
4. Components are packed by size with shelf packing: largest first, left to right in rows
   of a width chosen to give a roughly square picture, one unit of gap; the summary glyph comes
   last.

Stability when a graph is recomputed (``previous`` = the old graph with its layout): each new
node is matched one-to-one to an old node by member overlap (greedy on Jaccard index, pairs
with Jaccard >= ``match_jaccard`` only). Matched nodes keep their old positions exactly; the
unmatched nodes of a component with matches start at the mean position of their matched
neighbours (or of the component's matched nodes) and move by a shortened, cooler
force-directed pass with the matched nodes held fixed. Components without any match are laid
out afresh and packed in a new shelf below everything else. So the picture stays put when the
colouring changes (the layout is a stored array) and when a recompute keeps nodes.

The layout is stored in the graph JSON (``"layout"``, see :meth:`GraphLayout.to_dict`); graph
files written before it open with ``graph.layout = None`` and get one on demand.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:
    from .graph import MapperGraph

__all__ = ["GraphLayout", "layout_graph", "force_layout", "match_nodes"]

_GAP = 1.0


@dataclasses.dataclass
class GraphLayout:
    """Node positions of one graph.

    Attributes
    ----------
    positions : (K, 2) float64, the position of every node (collapsed ones included)
    component : (K,) int64, component rank of each node (0 = largest component)
    summary : dict or None, the glyph of the collapsed tiny components:
        ``{"position": [x, y], "nodes": [ids], "n_components": c}``
    seed : int, the seed of the random start
    matched : int, nodes placed at a previous layout's positions
    """

    positions: np.ndarray
    component: np.ndarray
    summary: dict | None = None
    seed: int = 0
    matched: int = 0

    kind = "mapper_layout"
    schema_version = 1

    @property
    def collapsed(self) -> list[int]:
        """Node ids collapsed into the summary glyph (empty when nothing was collapsed)."""
        return list(self.summary["nodes"]) if self.summary else []

    def to_dict(self) -> dict:
        """JSON form: positions rounded to 4 decimals."""
        return {"kind": self.kind, "schema_version": self.schema_version,
                "positions": np.round(self.positions, 4).tolist(),
                "component": self.component.astype(int).tolist(),
                "summary": self.summary, "seed": self.seed, "matched": self.matched}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "GraphLayout":
        """Read the JSON form back."""
        if int(data.get("schema_version", 1)) > cls.schema_version:
            raise ValueError(f"graph layout has schema_version {data['schema_version']}; this "
                             f"topoact reads up to {cls.schema_version}: upgrade topoact")
        pos = np.asarray(data["positions"], np.float64).reshape(-1, 2)
        return cls(pos, np.asarray(data["component"], np.int64), data.get("summary"),
                   int(data.get("seed", 0)), int(data.get("matched", 0)))


def force_layout(n: int, sources: np.ndarray, targets: np.ndarray, weights: np.ndarray | None = None,
                 *, init: np.ndarray | None = None, fixed: np.ndarray | None = None,
                 iterations: int = 60, step: float | None = None, seed: int = 0,
                 chunk: int = 1024, dense_max: int = 1000, cutoff: float = 3.0) -> np.ndarray:
    """Fruchterman-Reingold positions with ideal edge length 1 (numpy, all-pairs repulsion).

    Parameters
    ----------
    n : number of nodes
    sources, targets : (E,) int edge end points (0..n-1)
    weights : (E,) float edge weights (attraction factor), default 1
    init : (n, 2) start positions, default seeded uniform in a sqrt(n) x sqrt(n) square
    fixed : (n,) bool, nodes that do not move
    iterations : number of steps; step : first step length (default sqrt(n) / 10), cooled
        linearly to 0
    seed : seed of the random start
    chunk : rows of the repulsion computed at once (memory: chunk x n x 2 floats)
    dense_max : above this many nodes, repulsion acts only between nodes closer than ``cutoff``
        (Fruchterman and Reingold's grid variant, pairs from a k-d tree): O(n) per step

    Returns
    -------
    (n, 2) float64 positions
    """
    rng = np.random.default_rng(seed)
    side = max(1.0, float(np.sqrt(n)))
    pos = (rng.random((n, 2)) * side if init is None else np.array(init, np.float64, copy=True))
    if n == 1:
        return pos
    fixed = np.zeros(n, bool) if fixed is None else np.asarray(fixed, bool)
    w = np.ones(len(sources)) if weights is None else np.asarray(weights, np.float64)
    s, t = np.asarray(sources, np.int64), np.asarray(targets, np.int64)
    temp = side / 10.0 if step is None else float(step)
    cool = temp / (iterations + 1)
    tree_cls = None
    if n > dense_max:
        from scipy.spatial import cKDTree as tree_cls
    for _ in range(iterations):
        disp = np.zeros((n, 2))
        if tree_cls is None:
            for a in range(0, n, chunk):
                b = min(n, a + chunk)
                delta = pos[a:b, None, :] - pos[None, :, :]            # (c, n, 2)
                d2 = np.maximum((delta ** 2).sum(-1), 1e-4)
                disp[a:b] = (delta / d2[..., None]).sum(1)              # repulsion k^2 / d, k = 1
        else:
            # grid variant of Fruchterman-Reingold: repulsion only within ``cutoff``
            pairs = tree_cls(pos).query_pairs(cutoff, output_type="ndarray")
            i, j = pairs[:, 0], pairs[:, 1]
            delta = pos[i] - pos[j]
            push = delta / np.maximum((delta ** 2).sum(1), 1e-4)[:, None]
            for axis in (0, 1):
                disp[:, axis] += (np.bincount(i, push[:, axis], n) - np.bincount(j, push[:, axis], n))
        delta = pos[s] - pos[t]
        d = np.maximum(np.sqrt((delta ** 2).sum(1)), 1e-2)
        pull = delta * (w * d)[:, None]                             # attraction d^2 / k
        for axis in (0, 1):
            disp[:, axis] += np.bincount(t, pull[:, axis], n) - np.bincount(s, pull[:, axis], n)
        length = np.maximum(np.sqrt((disp ** 2).sum(1)), 1e-2)
        move = disp * (np.minimum(length, temp) / length)[:, None]
        move[fixed] = 0.0
        pos += move
        temp -= cool
    return pos


def match_nodes(new: "MapperGraph", old: "MapperGraph", min_jaccard: float = 0.5) -> dict[int, int]:
    """One-to-one matching of new nodes to old nodes by member overlap.

    Greedy on the Jaccard index of member rows (largest first; ties to the same cover element,
    then the nearest node id), pairs with Jaccard >= ``min_jaccard`` only. Both graphs must be built on the same rows (``n_points``).

    Returns
    -------
    {new node id: old node id}
    """
    from .graph import membership_matrix

    if new.n_points != old.n_points or not new.n_nodes or not old.n_nodes:
        return {}
    A = membership_matrix(new.members, new.n_points).astype(np.float64)
    B = membership_matrix(old.members, old.n_points).astype(np.float64)
    inter = (A.T @ B).tocoo()
    sa, sb = new.sizes.astype(np.float64), old.sizes.astype(np.float64)
    jac = inter.data / (sa[inter.row] + sb[inter.col] - inter.data)
    # ties (nodes with equal member sets) go to the node of the same cover element, then the
    # nearest id, so an unchanged graph matches itself exactly
    same = np.array([new.intervals[i] == old.intervals[j] for i, j in zip(inter.row, inter.col)])
    out: dict[int, int] = {}
    used: set[int] = set()
    for k in np.lexsort((np.abs(inter.row - inter.col), ~same, -jac)):
        if jac[k] < min_jaccard:
            break
        i, j = int(inter.row[k]), int(inter.col[k])
        if i not in out and j not in used:
            out[i] = j
            used.add(j)
    return out


def _shelf_pack(boxes: list[tuple[float, float]], width: float, top: float = 0.0
                ) -> list[tuple[float, float]]:
    """Lower-left corners of boxes (w, h), packed left to right in rows of ``width``, rows going
    down (y decreasing) from ``top``."""
    out = []
    x, y, row_h = 0.0, top, 0.0
    for w, h in boxes:
        if x > 0 and x + w > width:
            x, y, row_h = 0.0, y - row_h - _GAP, 0.0
        out.append((x, y - h))
        x += w + _GAP
        row_h = max(row_h, h)
    return out


def layout_graph(graph: "MapperGraph", previous: "MapperGraph | None" = None, *, seed: int = 0,
                 tiny_max: int = 2, iterations: int = 60, match_jaccard: float = 0.5) -> GraphLayout:
    """The layout of a Mapper graph (module docstring): packed components, tiny ones collapsed.

    Parameters
    ----------
    graph : MapperGraph
    previous : MapperGraph with a ``layout``, optional: matched nodes keep their positions
    seed : seed of the force-directed starts
    tiny_max : components with at most this many nodes are collapsed into the summary glyph
    iterations : force-directed steps per component
    match_jaccard : minimum member Jaccard index for a node to keep a previous position

    Returns
    -------
    GraphLayout
    """
    K = graph.n_nodes
    pos = np.zeros((K, 2))
    comp_rank = np.zeros(K, np.int64)
    if K == 0:
        return GraphLayout(pos, comp_rank, None, seed, 0)
    labels = graph.component_labels()
    n_comp = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=n_comp)
    rows = np.bincount(labels, weights=graph.sizes, minlength=n_comp)
    order = np.lexsort((np.arange(n_comp), -rows, -counts))      # largest first, stable
    rank = np.empty(n_comp, np.int64)
    rank[order] = np.arange(n_comp)
    comp_rank = rank[labels]
    tiny = counts <= tiny_max
    if tiny.all():
        tiny[:] = False
    old_layout = getattr(previous, "layout", None) if previous is not None else None
    matches = match_nodes(graph, previous, match_jaccard) if old_layout is not None else {}
    src, dst, wts = graph.sources, graph.targets, graph.weights
    placed_boxes: list[tuple[np.ndarray, np.ndarray]] = []   # (lower-left, upper-right) kept
    fresh: list[tuple[int, np.ndarray]] = []                 # (component, local positions)
    for c in order:
        if tiny[c]:
            continue
        nodes = np.flatnonzero(labels == c)
        local = np.full(K, -1)
        local[nodes] = np.arange(len(nodes))
        emask = labels[src] == c
        es, et, ew = local[src[emask]], local[dst[emask]], wts[emask]
        matched = np.array([int(v) in matches for v in nodes])
        seed_c = seed + int(rank[c])
        if matched.any():
            init = np.zeros((len(nodes), 2))
            init[matched] = old_layout.positions[[matches[int(v)] for v in nodes[matched]]]
            centre = init[matched].mean(0)
            rng = np.random.default_rng(seed_c)
            for i in np.flatnonzero(~matched):
                nbrs = np.concatenate([et[(es == i)], es[(et == i)]])
                nbrs = nbrs[matched[nbrs]]
                base = init[nbrs].mean(0) if len(nbrs) else centre
                init[i] = base + rng.normal(scale=0.3, size=2)
            p = (force_layout(len(nodes), es, et, ew, init=init, fixed=matched,
                              iterations=max(10, iterations // 3), step=1.0, seed=seed_c)
                 if (~matched).any() else init)
            pos[nodes] = p
            placed_boxes.append((p.min(0), p.max(0)))
        else:
            p = force_layout(len(nodes), es, et, ew, iterations=iterations, seed=seed_c)
            fresh.append((c, p - p.min(0)))
    # pack the fresh components (and the glyph) below what kept its place
    tiny_nodes = np.flatnonzero(tiny[labels])
    # collapsed nodes in a compact grid, largest component first; matched ones stay put
    ordered = tiny_nodes[np.lexsort((tiny_nodes, comp_rank[tiny_nodes]))]
    kept = np.array([int(v) in matches for v in ordered], bool)
    pos[ordered[kept]] = old_layout.positions[[matches[int(v)] for v in ordered[kept]]] \
        if kept.any() else np.zeros((0, 2))
    loose = ordered[~kept]
    side = int(np.ceil(np.sqrt(len(loose)))) if len(loose) else 0
    boxes = [tuple(np.maximum(p.max(0), 0.0)) for _, p in fresh]
    glyph_in_pack = len(loose) > 0 and not kept.any()
    if glyph_in_pack:
        boxes.append((float(side - 1), float(side - 1)))
    if placed_boxes:
        lo = np.min([b[0] for b in placed_boxes], 0)
        hi = np.max([b[1] for b in placed_boxes], 0)
        left, top, width = lo[0], lo[1] - 2 * _GAP, max(hi[0] - lo[0], 1.0)
    else:
        area = sum((w + _GAP) * (h + _GAP) for w, h in boxes)
        widest = max((w for w, _ in boxes), default=1.0)
        left, top, width = 0.0, 0.0, max(widest, float(np.sqrt(area)) * 1.2)
    corners = _shelf_pack(boxes, width, top)
    for (c, p), (x, y) in zip(fresh, corners):
        pos[labels == c] = p + np.array([left + x, y])
    summary = None
    if len(tiny_nodes):
        if glyph_in_pack:
            origin = np.array([left + corners[-1][0], corners[-1][1]])
        elif len(loose):                                   # new tiny nodes below the kept ones
            origin = np.array([pos[ordered[kept], 0].min(), pos[ordered[kept], 1].min() - side])
        if len(loose):
            grid = np.stack([np.arange(len(loose)) % side, np.arange(len(loose)) // side], 1)
            pos[loose] = origin + grid
        p = pos[ordered]
        centre = (p.min(0) + p.max(0)) / 2
        summary = {"position": [round(float(centre[0]), 4), round(float(centre[1]), 4)],
                   "nodes": [int(v) for v in ordered], "n_components": int(tiny.sum())}
    # rounded as stored, so a layout in memory equals the one read back from the graph file
    return GraphLayout(np.round(pos, 4), comp_rank, summary, seed, len(matches))
