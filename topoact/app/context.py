"""AppContext: the open run every panel gets, plus cached, read-only graph services.

Panels never read the run's files; they ask the context, which asks :class:`topoact.store.Run`
and the Mapper engine (:mod:`topoact.mapper.stats`, :mod:`topoact.mapper.export`) and caches the
answers in memory per ``(layer, graph key)`` — saved graph files never change under their key
(the key is a hash of the parameters), so these caches never go stale. The default graph of a
layer is *not* cached: it changes when a user presses "Set as default".

Stores in the browser hold only keys (layer, graph key, node id); figures get node summaries,
never member lists, so a run of 100,000 images costs the browser nothing extra.
"""
from __future__ import annotations

import logging
import math
from functools import lru_cache
from typing import Any, Callable, TypeVar

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["AppContext", "COLOR_BUILTINS", "cached", "describe_params"]

#: colour options besides per-image attributes: value -> label
COLOR_BUILTINS = {
    "majority": "majority class",
    "purity": "purity",
    "mean_lens": "mean lens",
    "accuracy": "accuracy on members",
    "size": "size (members)",
    "mean_norm": "mean L2 norm",
}

F = TypeVar("F", bound=Callable[..., Any])


def cached(maxsize: int) -> Callable[[F], F]:
    """``functools.lru_cache`` for a function of hashable keys (layer, graph key, node id…).

    The app's one in-memory cache: every cached service and panel helper uses it, keyed by the
    values that identify a result (never by ``id()`` of an array).

    Parameters
    ----------
    maxsize : int
        Entries kept; the least recently used is dropped first.
    """
    return lru_cache(maxsize=maxsize)  # type: ignore[return-value]


class AppContext:
    """What a panel's ``layout(ctx)`` and ``register(app, ctx)`` receive.

    Parameters
    ----------
    run : topoact.store.Run
        The open run (anything satisfying :class:`topoact.store.RunLike` plus the graph methods).

    Attributes
    ----------
    run : topoact.store.Run
    compare_run : topoact.store.Run or None
        A second run on the same images (``topoact serve RUN_A RUN_B``), or None.
    """

    def __init__(self, run: Any, compare_run: Any = None):
        self.run = run
        self.compare_run = compare_run
        # per-instance caches (a module-level lru_cache would keep every run alive)
        self._graph = cached(16)(self._load_graph)
        self._positions = cached(32)(self._layout)
        self._node_index = cached(16)(self._index_nodes)
        self._incidence = cached(8)(self._member_incidence)
        self._values = cached(64)(self._node_values)
        self._exemplars = cached(64)(self._exemplar_rows)
        self._labels = cached(256)(self._graph_label)
        self._thumbs = cached(4096)(self._thumbnail)

    @property
    def reduction(self) -> str:
        """The run's spatial reduction of conv / token layers (``meta["reduce"]``)."""
        meta = self.run.meta
        return str(meta.get("reduce") or meta.get("reduction") or "gap")

    # -- graphs ---------------------------------------------------------------------------------
    def graph_keys(self, layer: str) -> list[str]:
        """Keys of the graphs saved for ``layer`` (sorted)."""
        return self.run.graph_keys(layer)

    def default_key(self, layer: str) -> str | None:
        """Key of the layer's saved default graph, else its first saved graph, else None."""
        key = self.run.default_graph_key(layer)
        if key is not None:
            return key
        keys = self.run.graph_keys(layer)
        return keys[0] if keys else None

    def set_default(self, layer: str, key: str) -> None:
        """Make the saved graph ``key`` the layer's default (the graph the app opens next time)."""
        self.run.set_default_graph(layer, key)

    def _load_graph(self, layer: str, key: str) -> tuple[dict, np.ndarray | None]:
        graph = self.run.graph(layer, key)
        if getattr(graph, "layout", False) is None and hasattr(self.run, "save_graph"):
            # a graph saved before layouts existed gets its stored layout once (the library's
            # ``ensure_layout``): positions then never change when it is recoloured or reopened
            from topoact.mapper.run_graphs import ensure_layout

            graph = ensure_layout(self.run, layer, key)
        if hasattr(graph, "to_dict"):
            return graph.to_dict(), getattr(graph, "node_means", None)
        return graph, None

    def graph(self, layer: str, key: str | None) -> dict:
        """The graph as a JSON-able dict (cached); ``key=None`` means the layer's default graph.

        Raises
        ------
        FileNotFoundError
            When the layer has no saved graph.
        """
        key = key or self.default_key(layer)
        if key is None:
            raise FileNotFoundError(f"no Mapper graph saved for layer {layer!r}")
        return self._graph(layer, key)[0]

    def graph_label(self, layer: str, key: str) -> str | None:
        """Short description of a saved graph: node count and parameters (None if unreadable)."""
        return self._labels(layer, key)

    def _graph_label(self, layer: str, key: str) -> str | None:
        try:
            graph = self.graph(layer, key)
        except Exception as exc:  # noqa: BLE001 - a broken file should not hide the others
            logger.warning("cannot read graph %s/%s: %s", layer, key, exc)
            return None
        return f"{len(graph['nodes'])} nodes — {describe_params(graph.get('params'))}"

    def positions(self, layer: str, key: str) -> np.ndarray:
        """(K, 2) stored layout positions of the graph's nodes (see :meth:`layout`)."""
        return self._positions(layer, key)[0]

    def layout(self, layer: str, key: str) -> tuple[np.ndarray, dict | None]:
        """The graph's stored layout (:mod:`topoact.mapper.layout`): positions and glyph summary.

        Returns
        -------
        positions : (K, 2) float array, in the order of ``graph["nodes"]``
        summary : dict or None
            ``{"position": [x, y], "nodes": [ids], "n_components": c}``: the tiny components
            collapsed into one glyph (None when nothing is collapsed).
        """
        return self._positions(layer, key)

    def _layout(self, layer: str, key: str) -> tuple[np.ndarray, dict | None]:
        graph = self.graph(layer, key)
        stored = graph.get("layout")
        if stored and len(stored.get("positions", ())) == len(graph["nodes"]):
            positions = np.asarray(stored["positions"], dtype=np.float64).reshape(-1, 2)
            return positions, stored.get("summary")
        from topoact.figures.graph import graph_layout  # a graph object without a stored layout

        return graph_layout(graph, seed=0), None

    def node(self, layer: str, key: str, node_id: int) -> dict:
        """The node dict (members and statistics) of node ``node_id``.

        Raises
        ------
        KeyError
            When the graph has no such node.
        """
        graph = self.graph(layer, key)
        position = self._node_index(layer, key).get(int(node_id))
        if position is None:
            raise KeyError(f"graph {key!r} of layer {layer!r} has no node {node_id}")
        return graph["nodes"][position]

    def _index_nodes(self, layer: str, key: str) -> dict[int, int]:
        return {int(n["id"]): k for k, n in enumerate(self.graph(layer, key)["nodes"])}

    def node_rows(self, layer: str, key: str, node_ids: list[int]) -> np.ndarray:
        """Sorted union of the member rows of some nodes (unknown ids are ignored).

        Returns
        -------
        (n,) int64 array of image rows
        """
        index = self._node_index(layer, key)
        nodes = self.graph(layer, key)["nodes"]
        parts = [np.asarray(nodes[index[int(i)]]["members"], np.int64) for i in node_ids if int(i) in index]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)

    def nodes_with_rows(self, layer: str, key: str, rows: list[int] | np.ndarray) -> list[int]:
        """Ids of the nodes holding at least one of ``rows`` (image rows), in graph order."""
        flat, owner = self._incidence(layer, key)
        nodes = self.graph(layer, key)["nodes"]
        chosen = np.zeros(int(self.run.n), bool)
        rows = np.asarray(rows, np.int64)
        chosen[rows[(rows >= 0) & (rows < chosen.size)]] = True
        hit = np.zeros(len(nodes), bool)
        hit[owner[chosen[flat]]] = True
        return [int(nodes[k]["id"]) for k in np.flatnonzero(hit)]

    def _member_incidence(self, layer: str, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(member rows of every node concatenated, node position of each): one pass per graph."""
        nodes = self.graph(layer, key)["nodes"]
        flat = np.concatenate([np.asarray(n["members"], np.int64) for n in nodes]) if nodes else np.zeros(0, np.int64)
        owner = np.repeat(np.arange(len(nodes)), [len(n["members"]) for n in nodes])
        return flat, owner

    def edge_weights(self, layer: str, key: str) -> np.ndarray:
        """(E,) Jaccard weights of the graph's edges."""
        return np.array([float(e.get("weight", 1.0)) for e in self.graph(layer, key).get("edges", [])])

    # -- colours --------------------------------------------------------------------------------
    def color_options(self) -> list[dict]:
        """Options of the colour dropdown: the built-ins, then every per-image attribute."""
        options = [{"label": v, "value": k} for k, v in COLOR_BUILTINS.items()]
        kinds = self.attribute_kinds()
        for name in sorted(self.run.attributes):
            kind = kinds.get(name, "linear")
            options.append({"label": f"attribute: {name} ({kind})", "value": f"attr:{name}"})
        from topoact.anomaly import KIND_NAMES, run_kinds

        options += [{"label": f"anomaly share: {KIND_NAMES[kind]}", "value": f"anomaly:{kind}"}
                    for kind in run_kinds(self.run)]
        return options

    def attribute_kinds(self) -> dict[str, str]:
        """``{attribute: "linear" | "circular" | "categorical"}`` of the run."""
        return dict(self.run.attribute_kinds or {})

    def attribute_periods(self) -> dict[str, float]:
        """Period of every circular attribute, from the run's ``attributes_meta`` (2 pi if absent)."""
        from topoact.mapper.stats import periods_from_meta

        return periods_from_meta(self.run.attributes_meta, self.attribute_kinds())

    def attribute_period(self, name: str) -> float:
        """Period of the circular attribute ``name`` (2 pi when the run does not say)."""
        return float(self.attribute_periods().get(name, 2 * math.pi))

    def node_values(self, layer: str, key: str, color_by: str) -> tuple[np.ndarray, str, float | None]:
        """Per-node colour values for a colour option.

        Returns
        -------
        values : (K,) float array (NaN where undefined)
        kind : "linear" or "circular"
        period : float or None (circular attributes only)
        """
        return self._values(layer, key, color_by)

    def _node_values(self, layer: str, key: str, color_by: str):
        nodes = self.graph(layer, key)["nodes"]
        if color_by.startswith("attr:"):
            name = color_by[5:]
            if name not in self.run.attributes:
                raise KeyError(f"unknown attribute {name!r}; attributes: {sorted(self.run.attributes)}")
            kind = self.attribute_kinds().get(name, "linear")
            period = self.attribute_period(name) if kind == "circular" else None
            summaries = [self.node_statistics(layer, key, n["id"])["attributes"].get(name, {}) for n in nodes]
            values = np.array([_finite(s.get("mean")) for s in summaries])
            return values, ("circular" if kind == "circular" else "linear"), period
        if color_by.startswith("anomaly:"):  # share of members flagged at the default thresholds
            from topoact.anomaly import cached_anomalies, run_kinds
            from topoact.anomaly.topology import node_shares

            # read, never computed here (the server process): computing is the Anomalies tab's job
            table = cached_anomalies(self.run, kinds=run_kinds(self.run))
            if table is None:
                raise ValueError("no anomaly scores yet: open the Anomalies tab to compute them")
            table = table.sort_values("row")
            return node_shares({"nodes": nodes}, table[f"is_{color_by[8:]}"].to_numpy()), "linear", None
        if color_by == "size":
            return np.array([float(n["size"]) for n in nodes]), "linear", None
        if color_by == "mean_lens":
            vals = [n.get("mean_lens") for n in nodes]
            return np.array([_finite(v[0] if isinstance(v, (list, tuple)) else v) for v in vals]), "linear", None
        if color_by in ("purity", "accuracy", "mean_norm"):
            return np.array([_finite(self.node_statistics(layer, key, n["id"])[color_by]) for n in nodes]), \
                "linear", None
        raise KeyError(f"unknown colour option {color_by!r}")

    # -- nodes ----------------------------------------------------------------------------------
    def node_mean(self, layer: str, key: str, node_id: int) -> np.ndarray:
        """(D,) mean activation vector of a node: the saved node means, else computed by the library."""
        from topoact.mapper.stats import node_means

        graph, means = self._graph(layer, key or self.default_key(layer))
        position = next(k for k, n in enumerate(graph["nodes"]) if int(n["id"]) == int(node_id))
        if means is not None and len(means) == len(graph["nodes"]):
            return np.asarray(means[position], dtype=np.float64)
        members = np.asarray(graph["nodes"][position]["members"], dtype=np.int64)
        return np.asarray(node_means(self.run.activations(layer), [members])[0], dtype=np.float64)

    def exemplar_rows(self, layer: str, key: str, node_id: int, limit: int | None = None) -> np.ndarray:
        """Member rows of a node, most typical first (closest to the node mean, ties by row):
        all of them, or the first ``limit`` (from the graph's stored exemplars when they are
        enough: no ranking of a large node's members on a click)."""
        if limit is not None:
            node = self.node(layer, key, node_id)
            stored = node.get("exemplars")
            if stored is not None and len(stored) >= min(int(limit), int(node["size"])):
                return np.asarray(stored[:limit], dtype=np.int64)
        return self._exemplars(layer, key, int(node_id))[:limit]

    def _exemplar_rows(self, layer: str, key: str, node_id: int) -> np.ndarray:
        from topoact.mapper.stats import typical_rows

        members = np.sort(np.asarray(self.node(layer, key, node_id)["members"], dtype=np.int64))
        mean = self.node_mean(layer, key, node_id)
        return typical_rows(self.run.activations(layer), [members], mean[None])[0]

    def thumbnail(self, row: int) -> bytes:
        """JPEG bytes of row ``row``'s small thumbnail (``routes.THUMB_SIDE`` px; cached)."""
        return self._thumbs(int(row))

    def _thumbnail(self, row: int) -> bytes:
        from topoact.app.routes import THUMB_SIDE, encode_image

        return encode_image(self.run, row, THUMB_SIDE, "JPEG")

    def node_statistics(self, layer: str, key: str, node_id: int) -> dict:
        """The library's statistics of a node (:func:`topoact.mapper.stats.node_statistics`).

        Graphs built by the engine carry them; for an older graph file without some of them,
        the library computes them for this node from the run.

        Returns
        -------
        dict
            ``label_counts``, ``majority_label``, ``purity``, ``accuracy``, ``mean_lens``,
            ``mean_norm``, ``attributes`` (see :mod:`topoact.mapper.stats`), plus ``id``,
            ``size`` and ``interval``.
        """
        node = self.node(layer, key, node_id)
        wanted = ("label_counts", "majority_label", "purity", "accuracy", "mean_norm", "attributes")
        if all(k in node for k in wanted) and set(node["attributes"]) >= set(self.run.attributes):
            return node
        from topoact.mapper.stats import node_statistics, row_norms

        rows = np.sort(np.asarray(node["members"], dtype=np.int64))
        run = self.run
        stats = node_statistics([np.arange(len(rows))], labels=run.labels[rows], predictions=run.predictions[rows],
                                norms=row_norms(np.asarray(run.activations(layer)[rows])),
                                attributes={k: np.asarray(v)[rows] for k, v in run.attributes.items()},
                                attribute_kinds=self.attribute_kinds(),
                                attribute_periods=self.attribute_periods())[0]
        stats.pop("mean_lens")  # the lens is the graph's: keep the node's own value
        return {**node, **stats}

    def members_csv(self, layer: str, key: str, node_id: int) -> str:
        """The node's members as CSV (:func:`topoact.mapper.export.node_members_csv`)."""
        from topoact.mapper.export import node_members_csv

        run = self.run
        return node_members_csv(self.graph(layer, key), int(node_id), ids=run.ids, paths=run.paths,
                                labels=run.labels, predictions=run.predictions, class_names=run.class_names,
                                label_names=run.label_names)


def describe_params(params: dict | None) -> str:
    """``lens=l2, uniform 10×0.3, dbscan(euclidean, eps=auto)``-style summary of Mapper params."""
    if not params:
        return "?"
    lens, cover, cl = params.get("lens"), params.get("cover"), params.get("clusterer")
    parts = []
    if isinstance(lens, dict):
        parts.append(f"lens={lens.get('name')}")
    if isinstance(cover, dict):
        n = cover.get("n_intervals", cover.get("intervals"))
        parts.append(f"{cover.get('name')} {n}×{cover.get('overlap')}")
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


def _finite(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float("nan")
    return value if math.isfinite(value) else float("nan")
