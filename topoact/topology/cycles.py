"""Representative cycles of H1 bars.

gudhi's ``persistence_pairs`` gives, for each H1 bar, the edge (u, v) whose insertion at the
birth value b created the class. A shortest path from u to v (Dijkstra, edge lengths as
weights) in the graph of edges with filtration < b, closed by the edge (u, v), is a cycle in the
Rips complex at scale b whose class is born at b — the usual geometric representative (it is
a genuine representative when the class is the one created by (u, v); shortest-path choices can
differ from the cohomology algorithm's cocycle but lie on the same loop for a clean feature).
Returned as vertex indices into the point cloud the diagram was computed on (landmarks).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra


def shortest_cycle(n: int, edges: tuple[np.ndarray, np.ndarray, np.ndarray],
                   birth_edge: Sequence[int], birth: float) -> list[int] | None:
    """Cycle through ``birth_edge`` using only edges of length < ``birth``.

    Parameters
    ----------
    n : number of vertices
    edges : (i, j, w) arrays, the sparse 1-skeleton (any superset of the edges < birth)
    birth_edge : (u, v)
    birth : float

    Returns
    -------
    list of vertex indices [u, ..., v] (the closing edge v-u is implicit), or None when u and v
    are not connected below ``birth``.
    """
    i, j, w = edges
    keep = w < birth
    u, v = int(birth_edge[0]), int(birth_edge[1])
    if not keep.any():
        return None
    eps = np.finfo(np.float64).tiny
    g = coo_matrix((np.asarray(w[keep], np.float64) + eps, (i[keep], j[keep])), shape=(n, n)).tocsr()
    dist, pred = dijkstra(g, directed=False, indices=u, return_predecessors=True)
    if not np.isfinite(dist[v]):
        return None
    path = [v]
    while path[-1] != u:
        path.append(int(pred[path[-1]]))
    return path[::-1]


def representative_cycles(n: int, edges: tuple[np.ndarray, np.ndarray, np.ndarray],
                          pairs: Sequence[tuple], bars: np.ndarray, *,
                          limit: int = 20) -> list[dict]:
    """Cycles for the given H1 bars.

    Parameters
    ----------
    pairs : list of (birth simplex, death simplex, birth, death) from :func:`rips.sparse_rips`
    bars : array (k, 2) of the bars to explain (e.g. the significant ones)

    Returns
    -------
    list of {birth, death (None=inf), birth_edge, vertices (None when not recoverable)}
    """
    out = []
    for b, d in np.asarray(bars, dtype=np.float64).reshape(-1, 2)[:limit]:
        match = None
        for bs, ds, fb, fd in pairs:
            if abs(fb - b) <= 1e-9 * max(1.0, abs(b)) and (
                    (np.isinf(d) and np.isinf(fd)) or abs(fd - d) <= 1e-9 * max(1.0, abs(d))):
                match = (bs, fb)
                break
        verts = shortest_cycle(n, edges, match[0], match[1]) if match else None
        out.append({"birth": float(b), "death": None if np.isinf(d) else float(d),
                    "birth_edge": match[0] if match else None, "vertices": verts})
    return out
