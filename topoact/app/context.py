"""AppContext: the run and the job manager every panel gets, plus cached graph services.

Panels never load a graph file or lay it out themselves; they ask the context, which caches
per ``(layer, key)``: the graph dict, its layout positions, per-node colour values and the
exemplar order of a node (members sorted by distance to the node's mean activation vector).
Stores in the browser hold only keys (layer, graph key, node id); the figure gets node
summaries, never member lists, so a run of 100,000 images costs the browser nothing extra.
"""
from __future__ import annotations

import csv
import io
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .jobs import JobManager

logger = logging.getLogger(__name__)

__all__ = ["AppContext", "COLOR_BUILTINS"]

#: colour options besides per-image attributes: value -> label
COLOR_BUILTINS = {
    "majority": "majority class",
    "purity": "purity",
    "mean_lens": "mean lens",
    "accuracy": "accuracy on members",
    "size": "size (members)",
    "mean_norm": "mean L2 norm",
}


class _LRU:
    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key, make):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value


def _json_float(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@dataclass
class AppContext:
    """What a panel's ``layout(ctx)`` and ``register(app, ctx)`` receive.

    Attributes
    ----------
    run : topoact.store.Run
    jobs : JobManager
    compare_run : a second Run on the same images (``topoact serve RUN_A RUN_B``), or None
    """

    run: Any
    jobs: JobManager
    compare_run: Any = None
    _graphs: _LRU = field(default_factory=lambda: _LRU(16), repr=False)
    _positions: _LRU = field(default_factory=lambda: _LRU(32), repr=False)
    _values: _LRU = field(default_factory=lambda: _LRU(64), repr=False)
    _exemplars: _LRU = field(default_factory=lambda: _LRU(64), repr=False)
    _labels: dict = field(default_factory=dict, repr=False)

    @property
    def reduction(self) -> str:
        """The run's spatial reduction (``meta["reduction"]``, or ``meta["reduce"]``)."""
        meta = self.run.meta
        return str(meta.get("reduction") or meta.get("reduce") or "gap")

    # -- graphs ---------------------------------------------------------------------------------
    def graph_keys(self, layer: str) -> list[str]:
        return self.run.graph_keys(layer)

    def default_key(self, layer: str) -> str | None:
        """The key of the layer's default graph (None when the layer has no graph yet)."""
        pointer = self._default_pointer(layer)
        if pointer is not None:
            return pointer
        try:
            return self.run.graph(layer)["key"]
        except FileNotFoundError:
            keys = self.run.graph_keys(layer)
            return keys[0] if keys else None

    def _default_pointer(self, layer: str) -> str | None:
        """Read ``graphs/<layer>/default.json`` directly (no need to parse a large graph file)."""
        import json

        try:
            from topoact.store import DEFAULT_GRAPH, GRAPHS, layer_filename

            path = self.run.path / GRAPHS / layer_filename(layer) / f"{DEFAULT_GRAPH}.json"
            key = json.loads(path.read_text())["key"]
        except Exception:  # noqa: BLE001 - no pointer (or another store layout): fall back
            return None
        return key if key in self.run.graph_keys(layer) else None

    def graph(self, layer: str, key: str | None) -> dict:
        """The graph dict (cached); ``key=None`` means the layer's default graph."""
        key = key or self.default_key(layer)
        if key is None:
            raise FileNotFoundError(f"no Mapper graph saved for layer {layer!r}")
        return self._graphs.get((layer, key), lambda: self.run.graph(layer, key))

    def graph_label(self, layer: str, key: str) -> str | None:
        """Short description of a saved graph: node count and parameters (None if unreadable)."""
        if (layer, key) not in self._labels:
            try:
                graph = self.graph(layer, key)
            except Exception as exc:  # noqa: BLE001 - a broken file should not hide the others
                logger.warning("cannot read graph %s/%s: %s", layer, key, exc)
                return None
            self._labels[(layer, key)] = f"{len(graph['nodes'])} nodes — {describe_params(graph.get('params'))}"
        return self._labels[(layer, key)]

    def positions(self, layer: str, key: str) -> np.ndarray:
        from topoact.figures.graph import graph_layout

        return self._positions.get((layer, key), lambda: graph_layout(self.graph(layer, key), seed=0))

    def node(self, layer: str, key: str, node_id: int) -> dict:
        graph = self.graph(layer, key)
        for node in graph["nodes"]:
            if int(node["id"]) == int(node_id):
                return node
        raise KeyError(f"graph {key!r} of layer {layer!r} has no node {node_id}")

    # -- colours --------------------------------------------------------------------------------
    def color_options(self) -> list[dict]:
        options = [{"label": v, "value": k} for k, v in COLOR_BUILTINS.items()]
        kinds = self.attribute_kinds()
        for name in sorted(self.run.attributes):
            kind = kinds.get(name, "linear")
            options.append({"label": f"attribute: {name} ({kind})", "value": f"attr:{name}"})
        return options

    def attribute_kinds(self) -> dict[str, str]:
        kinds = getattr(self.run, "attribute_kinds", None)
        if callable(kinds):
            kinds = kinds()
        return dict(kinds or self.run.meta.get("attribute_kinds", {}) or {})

    def attribute_period(self, name: str) -> float:
        """Period of a circular attribute: from the run's meta, else from the reopened dataset's
        ``attributes_meta()``, else 2 pi."""
        meta = self.run.meta.get("attributes_meta")
        if meta is None:
            meta = self._graphs.get(("attributes_meta",), self._dataset_attributes_meta)
        return float((meta.get(name) or {}).get("period", 2 * math.pi))

    def _dataset_attributes_meta(self) -> dict:
        spec = (self.run.meta.get("dataset") or {}).get("spec")
        if not spec:
            return {}
        try:
            from topoact.data import open_dataset

            dataset = open_dataset(spec)
            return dict(dataset.attributes_meta()) if hasattr(dataset, "attributes_meta") else {}
        except Exception as exc:  # noqa: BLE001 - only a colour-scale nicety
            logger.info("cannot reopen the dataset for attribute periods: %s", exc)
            return {}

    def node_values(self, layer: str, key: str, color_by: str) -> tuple[np.ndarray, str, float | None]:
        """Per-node colour values ``(values, kind, period)`` for a colour option."""
        return self._values.get((layer, key, color_by), lambda: self._node_values(layer, key, color_by))

    def _node_values(self, layer: str, key: str, color_by: str):
        graph = self.graph(layer, key)
        nodes = graph["nodes"]
        if color_by.startswith("attr:"):
            name = color_by[5:]
            if name not in self.run.attributes:
                raise KeyError(f"unknown attribute {name!r}; attributes: {sorted(self.run.attributes)}")
            attr = np.asarray(self.run.attributes[name], dtype=float)
            kind = self.attribute_kinds().get(name, "linear")
            period = self.attribute_period(name) if kind == "circular" else None
            values = np.array([_member_summary(attr[np.asarray(n["members"], dtype=np.int64)], kind, period)
                               for n in nodes])
            return values, ("circular" if kind == "circular" else "linear"), period
        if color_by == "size":
            return np.array([float(n["size"]) for n in nodes]), "linear", None
        if color_by == "mean_lens":
            vals = []
            for n in nodes:
                v = n.get("mean_lens")
                vals.append(float(v[0]) if isinstance(v, (list, tuple)) else (np.nan if v is None else float(v)))
            return np.array(vals), "linear", None
        if color_by == "mean_norm" and any("mean_norm" not in n for n in nodes):
            acts = self.run.activations(layer)
            return np.array([_mean_norm(acts, n["members"]) for n in nodes]), "linear", None
        if color_by == "accuracy" and any("accuracy" not in n for n in nodes):
            correct = self.run.labels == self.run.predictions
            return np.array([correct[np.asarray(n["members"])].mean() for n in nodes]), "linear", None
        if color_by in ("purity", "accuracy", "mean_norm"):
            return np.array([float(n.get(color_by, np.nan)) for n in nodes]), "linear", None
        raise KeyError(f"unknown colour option {color_by!r}")

    # -- nodes ----------------------------------------------------------------------------------
    def node_mean(self, layer: str, key: str, node_id: int) -> np.ndarray:
        """(D,) mean activation vector of a node (from the saved node means when present)."""
        graph = self.graph(layer, key)
        position = next(k for k, n in enumerate(graph["nodes"]) if int(n["id"]) == int(node_id))
        means = None
        if graph.get("node_means") and hasattr(self.run, "node_means"):
            means = self._graphs.get(("means", layer, key), lambda: self.run.node_means(layer, key))
        if means is not None and len(means) == len(graph["nodes"]):
            return np.asarray(means[position], dtype=np.float64)
        members = np.sort(np.asarray(graph["nodes"][position]["members"], dtype=np.int64))
        return _chunked_mean(self.run.activations(layer), members)

    def exemplar_rows(self, layer: str, key: str, node_id: int) -> np.ndarray:
        """Member rows of a node, most typical first (closest to the node mean, ties by row)."""
        def make():
            node = self.node(layer, key, node_id)
            members = np.sort(np.asarray(node["members"], dtype=np.int64))
            mean = self.node_mean(layer, key, node_id)
            acts = self.run.activations(layer)
            dist = np.empty(len(members))
            for start in range(0, len(members), 8192):
                block = np.asarray(acts[members[start:start + 8192]], dtype=np.float64)
                dist[start:start + 8192] = ((block - mean) ** 2).sum(1)
            return members[np.lexsort((members, dist))]
        return self._exemplars.get((layer, key, int(node_id)), make)

    def node_statistics(self, layer: str, key: str, node_id: int) -> dict:
        """Per-node statistics for the node panel (JSON-able)."""
        node = self.node(layer, key, node_id)
        members = np.asarray(node["members"], dtype=np.int64)
        labels = self.run.labels[members]
        preds = self.run.predictions[members]
        names = self.run.class_names
        counts = {int(k): int(v) for k, v in node.get("label_counts", {}).items()} or \
            {int(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))}
        total = max(sum(counts.values()), 1)
        acts = self.run.activations(layer)
        stats = {
            "node": int(node_id), "size": int(node["size"]),
            "label_counts": {names[k] if k < len(names) else str(k): v
                             for k, v in sorted(counts.items(), key=lambda kv: -kv[1])},
            "majority": names[max(counts, key=counts.get)] if counts else None,
            "purity": _json_float(node.get("purity", max(counts.values()) / total if counts else None)),
            "mean_lens": node.get("mean_lens"),
            "mean_norm": _json_float(node.get("mean_norm", _mean_norm(acts, members))),
            "accuracy": _json_float(node.get("accuracy", float((labels == preds).mean()) if len(members) else None)),
            "interval": node.get("interval"),
            "attributes": {},
        }
        kinds = self.attribute_kinds()
        for name, values in sorted(self.run.attributes.items()):
            vals = np.asarray(values, dtype=float)[members]
            kind = kinds.get(name, "linear")
            finite = vals[np.isfinite(vals)]
            if kind == "categorical":
                uniq, cnt = np.unique(finite, return_counts=True)
                summary = {"counts": {str(_json_float(u)): int(c) for u, c in zip(uniq, cnt)}}
            elif kind == "circular":
                period = self.attribute_period(name)
                summary = {"circular_mean": _json_float(_member_summary(vals, "circular", period)),
                           "resultant_length": _json_float(_resultant(finite, period)), "period": period}
            else:
                summary = {"mean": _json_float(finite.mean()) if finite.size else None,
                           "std": _json_float(finite.std()) if finite.size else None}
            summary["n"] = int(finite.size)
            stats["attributes"][name] = summary
        return stats

    def members_csv(self, layer: str, key: str, node_id: int) -> str:
        """The node's members as CSV: row, id, path, label, prediction (names too), correct."""
        node = self.node(layer, key, node_id)
        members = np.sort(np.asarray(node["members"], dtype=np.int64))
        names = self.run.class_names
        ids, paths = self.run.ids, self.run.paths
        labels, preds = self.run.labels, self.run.predictions
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["row", "id", "path", "label", "label_name", "prediction", "prediction_name", "correct"])
        for row in members.tolist():
            lab, pred = int(labels[row]), int(preds[row])
            writer.writerow([row, ids[row], paths[row] if paths[row] is not None else "", lab,
                             names[lab] if lab < len(names) else "", pred,
                             names[pred] if pred < len(names) else "", int(lab == pred)])
        return out.getvalue()


def describe_params(params: dict | None) -> str:
    """``lens=l2, cover=uniform×10/0.3, dbscan(euclidean, eps=auto)``-style summary of Mapper params."""
    if not params:
        return "?"
    lens, cover, cl = params.get("lens"), params.get("cover"), params.get("clusterer")
    parts = []
    if isinstance(lens, dict):
        parts.append(f"lens={lens.get('name')}")
    if isinstance(cover, dict):
        parts.append(f"{cover.get('name')} {cover.get('intervals')}×{cover.get('overlap')}")
    if isinstance(cl, dict):
        eps = params.get("eps_resolved")
        eps_text = f"eps={cl.get('eps')}" + (f"→{eps:.3g}" if isinstance(eps, (int, float)) else "")
        if cl.get("eps_scale") not in (None, 1.0):
            eps_text += f"×{cl.get('eps_scale')}"
        parts.append(f"{cl.get('name')}({cl.get('metric')}, {eps_text})" if cl.get("name") == "dbscan"
                     else f"{cl.get('name')}({cl.get('metric')})")
    if not parts:
        parts = [f"{k}={v}" for k, v in params.items() if not isinstance(v, (dict, list))][:6]
    return ", ".join(parts)


def _resultant(values: np.ndarray, period: float) -> float:
    if values.size == 0:
        return float("nan")
    angles = np.asarray(values) * (2 * math.pi / period)
    return float(np.hypot(np.cos(angles).mean(), np.sin(angles).mean()))


def _member_summary(values: np.ndarray, kind: str, period: float | None) -> float:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan")
    if kind == "circular":
        angles = values * (2 * math.pi / period)
        mean = math.atan2(np.sin(angles).mean(), np.cos(angles).mean()) % (2 * math.pi)
        return mean * period / (2 * math.pi)
    return float(values.mean())


def _chunked_mean(acts: np.ndarray, rows: np.ndarray) -> np.ndarray:
    total = np.zeros(acts.shape[1], dtype=np.float64)
    for start in range(0, len(rows), 8192):
        total += np.asarray(acts[rows[start:start + 8192]], dtype=np.float64).sum(0)
    return total / max(len(rows), 1)


def _mean_norm(acts: np.ndarray, members) -> float:
    rows = np.sort(np.asarray(members, dtype=np.int64))
    if rows.size == 0:
        return float("nan")
    total = 0.0
    for start in range(0, len(rows), 8192):
        total += np.linalg.norm(np.asarray(acts[rows[start:start + 8192]], dtype=np.float64), axis=1).sum()
    return total / len(rows)
