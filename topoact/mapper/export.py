"""Export a Mapper graph: JSON (+ node means .npy), node members CSV, KeplerMapper HTML.

``save_graph_json(graph_dict, path, node_means=None)`` writes ``path`` and, with node means,
``<stem>.node_means.npy`` beside it (the JSON's ``node_means`` field names that file).
``load_graph_json(path) -> (dict, node_means or None)``.
``node_members_csv(graph_dict, node_id, ids=None, paths=None, labels=None, predictions=None,
class_names=None) -> str`` gives one row per member: row, id, path, label, label_name,
prediction, prediction_name (columns without data are left empty).
``kmapper_graph(graph_dict)`` builds KeplerMapper's graph dict (``cube{interval}_cluster{k}``
node names, ``links``, ``simplices``, ``meta_data``) and ``save_kmapper_html(graph_dict, path,
color_values=None, title=...)`` renders it with ``kmapper.KeplerMapper.visualize``.
"""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

__all__ = ["save_graph_json", "load_graph_json", "node_members_csv", "kmapper_graph",
           "save_kmapper_html"]


def save_graph_json(graph_dict: dict, path, node_means=None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dict(graph_dict)
    if node_means is not None:
        name = f"{path.stem}.node_means.npy"
        np.save(path.parent / name, np.asarray(node_means, np.float32))
        data["node_means"] = name
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)
    return path


def load_graph_json(path):
    path = Path(path)
    data = json.loads(path.read_text())
    means = None
    name = data.get("node_means")
    if name and (path.parent / name).is_file():
        means = np.load(path.parent / name)
    return data, means


def node_members_csv(graph_dict: dict, node_id: int, ids=None, paths=None, labels=None,
                     predictions=None, class_names=None) -> str:
    """CSV text of one node's members (see module docstring)."""
    nodes = {n["id"]: n for n in graph_dict["nodes"]}
    if node_id not in nodes:
        raise KeyError(f"node {node_id} not in graph (ids 0..{len(nodes) - 1})")

    def name(c):
        return class_names[c] if class_names is not None and 0 <= c < len(class_names) else ""

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["row", "id", "path", "label", "label_name", "prediction", "prediction_name"])
    for r in nodes[node_id]["members"]:
        lab = int(labels[r]) if labels is not None else None
        pred = int(predictions[r]) if predictions is not None else None
        w.writerow([r, ids[r] if ids is not None else "",
                    (paths[r] or "") if paths is not None else "",
                    "" if lab is None else lab, "" if lab is None else name(lab),
                    "" if pred is None else pred, "" if pred is None else name(pred)])
    return buf.getvalue()


def kmapper_graph(graph_dict: dict) -> dict:
    """KeplerMapper-format graph dict from a topoact graph dict."""
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
    params = graph_dict.get("params", {})
    cover = params.get("cover", {})
    return {"nodes": nodes, "links": dict(links),
            "simplices": [[k] for k in nodes] + [[a, b] for a in links for b in links[a]],
            "meta_data": {"projection": str(params.get("lens", {}).get("name", "custom")),
                          "n_cubes": cover.get("n_intervals"),
                          "perc_overlap": cover.get("overlap"),
                          "clusterer": str(params.get("clusterer")), "scaler": "None",
                          "nerve_min_intersection": 1},
            "meta_nodes": {}}


def save_kmapper_html(graph_dict: dict, path, color_values=None, title="topoact Mapper graph",
                      custom_tooltips=None, color_function_name="value") -> Path:
    """Standalone HTML via ``kmapper.KeplerMapper.visualize`` (color_values: (N,) per row)."""
    import kmapper as km

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
