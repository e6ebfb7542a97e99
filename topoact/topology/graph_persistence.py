"""Extended persistence of a Mapper graph with the lens as filter, and its bootstrap.

Following Carrière & Oudot ("Structure and stability of the one-dimensional Mapper") and gudhi's
``CoverComplex``: each node gets the filtration value of its ``mean_lens`` (first component for
a 2-D lens, or ``lens_index``), each edge the max of its endpoints; gudhi's
``SimplexTree.extend_filtration`` + ``extended_persistence`` return the four families, named:

=========  =====================  ==========================================================
gudhi      name here              meaning (lens range = [birth, death] in lens units)
=========  =====================  ==========================================================
Ord0       ``downward_branches``  a branch that starts at a local minimum and merges upward
Rel1       ``upward_branches``    a branch that ends at a local maximum
Ext0       ``components``         a connected component, from its lens min to its lens max
Ext1       ``loops``              an independent loop, spanning the lens range it covers
=========  =====================  ==========================================================

Significance: ``graph_bootstrap`` resamples the data rows with replacement, rebuilds the graph
with a caller-supplied ``rebuild(indices) -> graph dict`` (so this module does not depend on the
Mapper engine), and takes the ``1 - alpha`` quantile ``c`` of the bottleneck distances between the
full and resampled extended diagrams (all families together, as gudhi's CoverComplex does); a
feature with |death - birth| > 2c is significant.
"""
from __future__ import annotations

from typing import Callable, Optional

import gudhi
import numpy as np

from ..progress import CancelFn, ProgressFn, report
from ._validation import check_cancel
from .distances import bottleneck

__all__ = ["FAMILIES", "extended_diagrams", "graph_features", "graph_bootstrap"]

FAMILIES = ("downward_branches", "upward_branches", "components", "loops")


def _node_value(node, lens_index):
    v = node["mean_lens"]
    if isinstance(v, (list, tuple, np.ndarray)):
        v = v[lens_index]
    v = float(v)
    if not np.isfinite(v):
        raise ValueError(f"node {node['id']} has a non-finite mean_lens {v}")
    return v


def extended_diagrams(graph: dict, *, lens_index: int = 0) -> dict[str, np.ndarray]:
    """Extended persistence diagrams of a Mapper graph.

    Parameters
    ----------
    graph : dict
        Graph dict (``nodes`` with ``id`` and ``mean_lens``, ``edges`` with ``source`` and
        ``target``), as ``MapperGraph.to_dict()`` writes it.
    lens_index : int
        Lens component used as the filter when the lens is multi-dimensional.

    Returns
    -------
    dict
        family -> array (k, 2) of (lens_min, lens_max) values; 'loops' and
        'upward_branches' have birth > death in gudhi's convention for the relative part —
        they are returned as (min, max) too.
    """
    nodes = graph.get("nodes", [])
    if not nodes:
        raise ValueError("graph has no nodes")
    ids = {int(nd["id"]): k for k, nd in enumerate(nodes)}
    st = gudhi.SimplexTree()
    for nd in nodes:
        st.insert([ids[int(nd["id"])]], filtration=_node_value(nd, lens_index))
    for e in graph.get("edges", []):
        a, b = ids[int(e["source"])], ids[int(e["target"])]
        if a != b:
            st.insert([a, b], filtration=max(st.filtration([a]), st.filtration([b])))
    st.make_filtration_non_decreasing()
    st.extend_filtration()
    fams = st.extended_persistence(min_persistence=-1)
    out = {}
    for name, fam in zip(FAMILIES, fams):
        arr = np.array([[min(bd), max(bd)] for _, bd in fam], dtype=np.float64).reshape(-1, 2)
        out[name] = arr[arr[:, 1] > arr[:, 0]]
    return out


def _all(dgms):
    return np.vstack([dgms[f] for f in FAMILIES]) if dgms else np.zeros((0, 2))


def graph_features(dgms: dict[str, np.ndarray], band: float | None = None) -> list[dict]:
    """Flat list of the features of extended diagrams, longest first.

    Parameters
    ----------
    dgms : dict
        family -> array (k, 2), as :func:`extended_diagrams` returns.
    band : float or None
        Significance band 2c (None: every feature counts as significant).

    Returns
    -------
    list of dict
        ``{family, lens_min, lens_max, persistence, significant}``.
    """
    out = []
    for fam in FAMILIES:
        for lo, hi in dgms[fam]:
            out.append({"family": fam, "lens_min": float(lo), "lens_max": float(hi),
                        "persistence": float(hi - lo),
                        "significant": bool(band is None or hi - lo > band)})
    return sorted(out, key=lambda f: -f["persistence"])


def graph_bootstrap(graph: dict, rebuild: Callable[[np.ndarray], dict], n_points: int, *,
                    n_bootstrap: int = 20, alpha: float = 0.05, seed: int = 0,
                    lens_index: int = 0, progress: Optional[ProgressFn] = None,
                    should_cancel: Optional[CancelFn] = None) -> dict:
    """Bottleneck bootstrap band for the extended diagram of a Mapper graph.

    Parameters
    ----------
    graph : dict
        The full graph (see :func:`extended_diagrams`).
    rebuild : callable
        ``rebuild(indices int64 (n_points,)) -> graph dict`` on the resampled rows.
    n_points : int
        Number of data rows the graph was built on.
    n_bootstrap, alpha, seed, lens_index
        Resamples B (>= 1), 1 - confidence, resampling seed, filter component.
    progress : callable, optional
        ``progress(done, total, message)`` after each resample.
    should_cancel : callable, optional
        Polled before each resample (raises :class:`~topoact.progress.Cancelled`).

    Returns
    -------
    dict
        ``c``, ``band`` (= 2c), ``distances`` (B,), ``alpha``, ``n_bootstrap`` and
        ``features`` of the full graph marked significant or not.
    """
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    full = extended_diagrams(graph, lens_index=lens_index)
    rng = np.random.default_rng(seed)
    dist = np.zeros(n_bootstrap)
    for b in range(n_bootstrap):
        check_cancel(should_cancel)
        idx = rng.integers(0, n_points, size=n_points)
        g = rebuild(idx)
        boot = extended_diagrams(g, lens_index=lens_index) if g.get("nodes") else None
        dist[b] = bottleneck(_all(full), _all(boot) if boot else np.zeros((0, 2)))
        report(progress, b + 1, n_bootstrap, f"graph bootstrap {b + 1}/{n_bootstrap}")
    c = float(np.quantile(dist, 1 - alpha, method="higher"))
    return {"c": c, "band": 2 * c, "distances": dist.tolist(), "alpha": alpha,
            "n_bootstrap": n_bootstrap, "features": graph_features(full, 2 * c)}
