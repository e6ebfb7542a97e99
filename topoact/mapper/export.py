"""Export a Mapper graph: JSON (+ node means .npy), node members CSV, KeplerMapper HTML.

``save_graph_json(graph, path, node_means=None)`` writes ``path`` atomically and, with node means,
``<stem>.node_means.npy`` beside it (the JSON's ``node_means`` field names that file); read it
back with ``MapperGraph.from_dict(topoact.fileio.read_json(path))``.
Every function takes a :class:`MapperGraph` or its dict form.
``node_members_csv(graph, node_id, ids=None, paths=None, labels=None, predictions=None,
class_names=None) -> str`` gives one row per member: row, id, path, label, label_name,
prediction, prediction_name (columns without data are left empty).
``kmapper_graph(graph_dict)`` builds KeplerMapper's graph dict (``cube{interval}_cluster{k}``
node names, ``links``, ``simplices``, ``meta_data``) and ``save_kmapper_html(graph_dict, path,
color_values=None, title=...)`` renders it with ``kmapper.KeplerMapper.visualize``.
"""
from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..fileio import save_npy, write_json
from .graph import MapperGraph

__all__ = ["save_graph_json", "node_members_csv", "kmapper_graph", "save_kmapper_html"]

GraphLike = MapperGraph | Mapping[str, Any]


def _as_dict(graph: GraphLike) -> Mapping[str, Any]:
    return graph.to_dict() if isinstance(graph, MapperGraph) else graph


def save_graph_json(graph: GraphLike, path: str | os.PathLike,
                    node_means: np.ndarray | None = None) -> Path:
    """Write the graph JSON (atomic) and, with node means ((K, D); default: the graph's own),
    ``<stem>.node_means.npy`` beside it. Returns the JSON path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if node_means is None and isinstance(graph, MapperGraph):
        node_means = graph.node_means
    data = dict(_as_dict(graph))
    data["node_means"] = None
    if node_means is not None:
        name = f"{path.stem}.node_means.npy"
        save_npy(path.parent / name, np.asarray(node_means, np.float32))
        data["node_means"] = name
    return write_json(path, data, indent=None)


def node_members_csv(graph: GraphLike, node_id: int, ids: Sequence[str] | None = None,
                     paths: Sequence[str | None] | None = None, labels: np.ndarray | None = None,
                     predictions: np.ndarray | None = None,
                     class_names: Sequence[str] | None = None,
                     label_names: Sequence[str] | None = None) -> str:
    """CSV text of one node's members (see module docstring).

    Parameters
    ----------
    graph : MapperGraph or its dict form
    node_id : node id
    ids, paths : (N,) per-row image ids / paths, optional
    labels, predictions : (N,) int arrays, optional
    class_names : names of the model's classes (names ``predictions``), optional
    label_names : names of the label values, optional (default ``class_names``; they differ when
        a data set's classes were not matched onto the model's, see ``Run.label_names``)
    """
    graph_dict = _as_dict(graph)
    nodes = {n["id"]: n for n in graph_dict["nodes"]}
    if node_id not in nodes:
        raise KeyError(f"node {node_id} not in graph (ids 0..{len(nodes) - 1})")

    def name(c, names):
        return names[c] if names is not None and 0 <= c < len(names) else ""

    if label_names is None:
        label_names = class_names

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row", "id", "path", "label", "label_name", "prediction", "prediction_name"])
    for r in nodes[node_id]["members"]:
        lab = int(labels[r]) if labels is not None else None
        pred = int(predictions[r]) if predictions is not None else None
        w.writerow([r, ids[r] if ids is not None else "",
                    (paths[r] or "") if paths is not None else "",
                    "" if lab is None else lab, "" if lab is None else name(lab, label_names),
                    "" if pred is None else pred, "" if pred is None else name(pred, class_names)])
    return buf.getvalue()


def kmapper_graph(graph: GraphLike) -> dict:
    """KeplerMapper-format graph dict (``nodes``, ``links``, ``simplices``, ``meta_data``)."""
    from .config import MapperConfig

    graph_dict = _as_dict(graph)
    counter: dict = defaultdict(int)
    names = {}
    for n in graph_dict["nodes"]:
        iv = n.get("interval", 0)
        iv = "_".join(map(str, iv)) if isinstance(iv, list) else str(iv)
        names[n["id"]] = f"cube{iv}_cluster{counter[iv]}"
        counter[iv] += 1
    nodes = {names[n["id"]]: list(n["members"]) for n in graph_dict["nodes"]}
    links: dict = defaultdict(list)
    for e in graph_dict["edges"]:
        links[names[e["source"]]].append(names[e["target"]])
    params = graph_dict.get("params") or {}
    try:            # flat MapperConfig params, or the nested dicts of older graph files
        config = MapperConfig.from_params(params)
        projection, n_cubes, overlap = config.lens, config.n_intervals, config.overlap
        clusterer = (f"DBSCAN(eps={params.get('eps_resolved', config.eps)}, "
                     f"min_samples={config.min_samples}, metric={config.metric!r})"
                     if config.clusterer == "dbscan" else
                     f"SingleLinkage(threshold={config.threshold}, metric={config.metric!r})")
    except (KeyError, TypeError, ValueError):       # a graph built from objects
        lens, cover = params.get("lens") or {}, params.get("cover") or {}
        projection = lens.get("name", "custom") if isinstance(lens, Mapping) else str(lens)
        n_cubes = cover.get("n_intervals", cover.get("intervals")) if isinstance(cover, Mapping) else None
        overlap = cover.get("overlap") if isinstance(cover, Mapping) else None
        clusterer = str(params.get("clusterer"))
    return {"nodes": nodes, "links": dict(links),
            "simplices": [[k] for k in nodes] + [[a, b] for a in links for b in links[a]],
            "meta_data": {"projection": str(projection), "n_cubes": n_cubes,
                          "perc_overlap": overlap, "clusterer": clusterer, "scaler": "None",
                          "nerve_min_intersection": 1},
            "meta_nodes": {}}


def save_kmapper_html(graph: GraphLike, path: str | os.PathLike,
                      color_values: np.ndarray | None = None, title: str = "topoact Mapper graph",
                      custom_tooltips: np.ndarray | None = None,
                      color_function_name: str = "value") -> Path:
    """Standalone HTML via ``kmapper.KeplerMapper.visualize``.

    Parameters
    ----------
    graph : MapperGraph or its dict form
    path : the .html file
    color_values : (N,) per-row values to colour nodes by (default zeros)
    custom_tooltips : (N,) per-row tooltips, optional
    """
    import kmapper as km

    graph_dict = _as_dict(graph)
    km_graph = kmapper_graph(graph_dict)
    if color_values is None:
        color_values = np.zeros(graph_dict["n_points"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    km.KeplerMapper(verbose=0).visualize(km_graph, path_html=str(path), title=title,
                                         color_values=np.asarray(color_values, np.float64),
                                         color_function_name=color_function_name,
                                         custom_tooltips=custom_tooltips)
    return path
