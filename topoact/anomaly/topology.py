"""Topological evidence from a layer's saved Mapper graph.

For each image, from the Mapper nodes that hold it:

- ``node``: the first node holding the row (the app jumps there), -1 when in none;
- ``node_label_share``: (N, C) label mix of the image's nodes (members of all its nodes pooled,
  the image itself left out) — the Mapper analogue of the k-NN label share;
- ``isolated``: the image lies in a small connected component of the graph (at most
  ``max(small, 1 % of N)`` images) — a pocket of data cut off from the rest;
- ``accuracy_drop``: model accuracy on the image's nodes minus the run's accuracy (negative =
  the model does worse there).

How it is used (measured with ``benchmarks/anomalies.py``): the node label share can be mixed
into the label score with ``topology_weight``; the isolated / accuracy-drop facts go into the
reason strings ("in a Mapper component of 4 images cut off from the rest of layer3") either way.
"""
from __future__ import annotations

import numpy as np

from ..components import connected_components

__all__ = ["mapper_evidence", "topology_reasons", "node_shares", "node_of_row"]


def mapper_evidence(graph: dict, labels: np.ndarray, predictions: np.ndarray, n_classes: int, *,
                    small: int = 5) -> dict:
    """Per-image evidence from a Mapper graph dict (``{"nodes": [{"id", "members"}], "edges"}``).

    Returns
    -------
    dict with ``node`` (N,) int64, ``node_label_share`` (N, C) float32, ``in_graph`` (N,) bool,
    ``isolated`` (N,) bool, ``component_size`` (N,) int64, ``accuracy_drop`` (N,) float64
    """
    graph = graph.to_dict() if hasattr(graph, "to_dict") else graph
    n = len(labels)
    nodes = graph.get("nodes", [])
    ids = [int(node["id"]) for node in nodes]
    position = {node_id: i for i, node_id in enumerate(ids)}
    node_of = np.full(n, -1, np.int64)
    counts = np.zeros((n, n_classes), np.float64)
    correct_sum = np.zeros(n)
    member_sum = np.zeros(n)
    correct = (labels == predictions).astype(np.float64)
    node_rows = []
    for node in nodes:
        members = np.asarray(node["members"], np.int64)
        node_rows.append(members)
        if not len(members):
            continue
        unset = members[node_of[members] < 0]
        node_of[unset] = int(node["id"])
        label_counts = np.bincount(labels[members], minlength=n_classes).astype(np.float64)
        counts[members] += label_counts
        correct_sum[members] += correct[members].sum()
        member_sum[members] += len(members)
    in_graph = node_of >= 0
    # leave the image itself out of its nodes' label mix (once per node holding it)
    times = np.zeros(n)
    for members in node_rows:
        times[members] += 1
    counts[np.arange(n), labels] -= times
    totals = counts.sum(axis=1, keepdims=True)
    share = np.where(totals > 0, counts / np.where(totals > 0, totals, 1), 0.0).astype(np.float32)
    overall = float(correct.mean()) if n else 0.0
    accuracy_drop = np.where(member_sum > 0, correct_sum / np.where(member_sum > 0, member_sum, 1) - overall, 0.0)
    # components of the node graph, sized in images
    src = [position[int(e["source"])] for e in graph.get("edges", []) if int(e["source"]) in position]
    dst = [position[int(e["target"])] for e in graph.get("edges", []) if int(e["source"]) in position]
    component_size = np.zeros(n, np.int64)
    if ids:
        comp = connected_components(len(ids), src, dst)
        comp_members: dict[int, set] = {}
        for i, members in enumerate(node_rows):
            comp_members.setdefault(int(comp[i]), set()).update(members.tolist())
        for rows in comp_members.values():
            idx = np.fromiter(rows, np.int64, len(rows))
            component_size[idx] = len(rows)
    limit = max(small, int(0.01 * n))
    isolated = in_graph & (component_size <= limit)
    return {"node": node_of, "node_label_share": share, "in_graph": in_graph, "isolated": isolated,
            "component_size": component_size, "accuracy_drop": accuracy_drop}


def topology_reasons(evidence: dict, labels: np.ndarray, class_names, layer: str, rows) -> dict[int, str]:
    """Plain-words topological facts for ``rows`` (empty string when nothing stands out)."""
    def name(c):
        return class_names[c] if 0 <= c < len(class_names) else str(c)

    out = {}
    share = evidence["node_label_share"]
    for row in rows:
        row = int(row)
        parts = []
        if not evidence["in_graph"][row]:
            out[row] = ""
            continue
        if evidence["isolated"][row]:
            parts.append(f"in a Mapper component of {int(evidence['component_size'][row])} images cut off "
                         f"from the rest of {layer}")
        if share[row].sum() > 0:
            mine = float(share[row, labels[row]])
            if mine < 0.5 and share[row].max() >= 0.5:
                top = int(np.argmax(share[row]))
                parts.append(f"its {layer} Mapper node is {share[row, top]:.0%} '{name(top)}', "
                             f"{mine:.0%} '{name(labels[row])}'")
        if evidence["accuracy_drop"][row] <= -0.2:
            parts.append(f"model accuracy in its {layer} node is {-evidence['accuracy_drop'][row]:.0%} "
                         "below the run's")
        out[row] = "; ".join(parts)
    return out


def node_shares(graph: dict, flags: np.ndarray) -> np.ndarray:
    """Share of each node's members that are flagged: (n_nodes,) in [0, 1] (nodes in graph order).

    Parameters
    ----------
    graph : Mapper graph dict (or an object with ``to_dict()``)
    flags : (N,) bool, one per run row
    """
    graph = graph.to_dict() if hasattr(graph, "to_dict") else graph
    flags = np.asarray(flags, bool)
    return np.array([flags[np.asarray(node["members"], np.int64)].mean() if len(node["members"]) else 0.0
                     for node in graph.get("nodes", [])], np.float64)


def node_of_row(graph: dict, row: int) -> int | None:
    """Id of the first node holding ``row`` (the one with the most members of the row's nodes
    would be arbitrary too; the first is stable), or None when the row is in no node."""
    graph = graph.to_dict() if hasattr(graph, "to_dict") else graph
    for node in graph.get("nodes", []):
        if int(row) in set(int(m) for m in node["members"]):
            return int(node["id"])
    return None
