"""Mapper on a run directory: build / sweep / locate, keyed by :class:`MapperConfig`.

Used by the CLI and the Dash app (recompute from the UI, sweep table, attaching new images).

``build_run_graph(run, layer, config)`` returns the saved graph when ``config.key`` exists in the
run, else fits, checks that the graph is not empty, saves it (``run.save_graph``, with node
means) and returns it -- a :class:`~topoact.mapper.MapperGraph` either way. Building never moves
the layer's default graph unless asked (``default=True``, or ``default=None``: only when the
layer has no default yet). ``mapper_params`` / ``graph_key`` / ``mapper_from_params`` are the
deprecated dict-based spellings of ``MapperConfig`` / ``config.key`` / ``config.mapper()``.

``locate_points`` rule for a new image's activation vector v (documented choice):
1. its lens value is computed with the lens fitted on the run's layer (L2 / L1 / PCA / kNN
   directly; prediction lenses need ``probabilities`` of the new images; user-array and UMAP
   lenses cannot place new points and raise ValueError);
2. the cover (refitted on the run's lens values, exactly as in the fit) gives the elements
   whose closed interval contains that value -- none when it lies outside the lens range;
3. in each such element, v joins the node of its nearest member among that element's nodes
   if that distance (the clusterer's metric) is <= eps (DBSCAN: a point within eps of a member
   would be density-reachable from it or its neighbourhood); for other clusterers the nearest
   member's node is taken without a threshold.
The result per vector is the sorted list of node ids (possibly empty).
"""
from __future__ import annotations

import logging
import warnings
from typing import Any, Mapping

import numpy as np

from ..progress import CancelFn, ProgressFn
from ..store import RunLike
from .config import MapperConfig
from .graph import MapperGraph
from .layout import layout_graph
from .lens import ArrayLens, KNNDistance, PredictionLens, UMAPLens
from .pipeline import STORED_EXEMPLARS, Mapper
from .stats import periods_from_meta, typical_rows

logger = logging.getLogger(__name__)

__all__ = ["mapper_params", "graph_key", "mapper_from_params", "build_run_graph", "sweep_run",
           "locate_points", "run_context", "ensure_layout"]

ConfigLike = MapperConfig | Mapping[str, Any]


def mapper_params(**params: Any) -> MapperConfig:
    """Deprecated: use ``MapperConfig(...)`` (old keyword ``intervals`` is ``n_intervals``)."""
    warnings.warn("mapper_params(...) is deprecated; use topoact.mapper.MapperConfig(...)",
                  DeprecationWarning, stacklevel=2)
    return MapperConfig.from_dict(params)


def graph_key(params: ConfigLike) -> str:
    """Graph cache key of a configuration (``MapperConfig.coerce(params).key``)."""
    return MapperConfig.coerce(params).key


def mapper_from_params(params: ConfigLike, n_jobs: int = 2) -> Mapper:
    """Deprecated: use ``MapperConfig.mapper(n_jobs)``."""
    warnings.warn("mapper_from_params is deprecated; use MapperConfig.mapper()",
                  DeprecationWarning, stacklevel=2)
    return MapperConfig.coerce(params).mapper(n_jobs=n_jobs)


def run_context(run: RunLike) -> dict:
    """What a Mapper fit reads from a run besides the activations.

    Returns
    -------
    dict with ``labels`` / ``predictions`` ((N,) or None), ``probabilities`` ((N, C) or None),
    ``attributes`` ({name: (N,)}), ``attribute_kinds`` and ``attribute_periods`` ({name: ...}).
    """
    def get(name):
        try:
            return getattr(run, name)
        except (FileNotFoundError, KeyError, AttributeError):
            return None
    kinds = get("attribute_kinds") or {}
    meta = get("attributes_meta") or {}
    # Node accuracy compares labels with predictions: meaningless when the data set's classes
    # were not matched onto the model's (Run.labels_match_model), so it is left out then.
    matched = getattr(run, "labels_match_model", True)
    return {"labels": get("labels"), "predictions": get("predictions") if matched else None,
            "attributes": get("attributes") or {},
            "attribute_kinds": kinds,
            "attribute_periods": periods_from_meta(meta, kinds),
            "probabilities": get("probabilities")}


def build_run_graph(run: RunLike, layer: str, config: ConfigLike | None = None, *,
                    progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
                    n_jobs: int = 2, default: bool | None = False,
                    annotate: Mapping[str, Any] | None = None,
                    previous: MapperGraph | None = None) -> MapperGraph:
    """The Mapper graph of ``layer`` for ``config`` (cached in the run under ``config.key``).

    Parameters
    ----------
    run : Run
    layer : layer name
    config : MapperConfig (or its dict form / a graph's params; None = defaults)
    progress, should_cancel : the :mod:`topoact.progress` protocol
    n_jobs : threads clustering cover elements
    default : make the graph the layer's default: True always, None only when the layer has no
        default yet, False never (the default; exploring never moves the default)
    annotate : extra entries of ``graph.params`` saved with the graph (e.g. ``{"auto": ...}``,
        the automatic choice); a cached graph without them is saved again with them
    previous : a graph of the same layer with a layout (e.g. the one on screen): the new graph's
        layout keeps the positions of the nodes it shares with it (``layout.layout_graph``)

    Returns
    -------
    MapperGraph

    Raises
    ------
    EmptyGraphError
        When the parameters give a graph with no nodes (nothing is saved, the default is
        untouched); the message says why and suggests a range.
    """
    config = MapperConfig.coerce(config)
    key = config.key
    inputs = {layer: run.fingerprint(layer)}
    cached = key in run.graph_keys(layer)
    if cached:
        stored = run.graph(layer, key).params.get("inputs")
        if stored is not None and stored != inputs:
            # The layer was rewritten (or damaged) since this graph was built: never serve it.
            logger.warning("graph %s of layer %s was built from other data (%s, now %s); rebuilding",
                           key, layer, stored, inputs)
            cached = False
        else:
            logger.info("graph %s of layer %s found in cache", key, layer)
    if not cached:
        X = run.activations(layer)
        ctx = run_context(run)
        mapper = config.mapper(n_jobs=n_jobs)
        lens_values = None
        if config.lens in ("umap2", "pca2"):
            from .embedding import layer_embedding    # cached with the run, shared with the app
            lens_values = layer_embedding(run, layer, "umap" if config.lens == "umap2" else "pca",
                                          seed=config.seed)
        graph = mapper.fit_transform(
            X, labels=ctx["labels"], predictions=ctx["predictions"],
            attributes=ctx["attributes"], attribute_kinds=ctx["attribute_kinds"],
            attribute_periods=ctx["attribute_periods"], probabilities=ctx["probabilities"],
            lens_values=lens_values, progress=progress, should_cancel=should_cancel, layer=layer,
            key=key)
        graph.params = dict(config.to_dict(), eps_resolved=mapper.eps_, inputs=inputs,
                            timings={k: round(v, 4) for k, v in mapper.timings_.items()},
                            **dict(annotate or {}))
        graph.layout = layout_graph(graph, previous=previous)
        run.save_graph(layer, graph, key)
    else:
        # graphs saved before layouts existed (or without this annotation) are completed once
        graph = ensure_layout(run, layer, key, previous)
        changed = _add_exemplars(run, layer, graph)
        if any(graph.params.get(k) != v for k, v in dict(annotate or {}).items()):
            graph.params.update(annotate or {})
            changed = True
        if changed:
            run.save_graph(layer, graph, key)
    if default or (default is None and run.default_graph_key(layer) is None):
        run.set_default_graph(layer, key)
    return run.graph(layer, key)


def _add_exemplars(run: RunLike, layer: str, graph: MapperGraph) -> bool:
    """Give a graph saved before nodes stored their first exemplars those exemplars (True when
    it changed; it needs its node means)."""
    if graph.node_means is None or all("exemplars" in st for st in graph.stats):
        return False
    rows = typical_rows(run.activations(layer), graph.members, graph.node_means, STORED_EXEMPLARS)
    for st, r in zip(graph.stats, rows):
        st["exemplars"] = r.tolist()
    return True


def ensure_layout(run: RunLike, layer: str, key: str | None = None,
                  previous: MapperGraph | None = None) -> MapperGraph:
    """A saved graph (the layer's default when ``key`` is None) with its layout: graphs saved
    before layouts existed get one now, saved with them once (``layout.layout_graph``).

    Parameters
    ----------
    run : Run
    layer : layer name
    key : graph key, optional
    previous : graph whose node positions are kept for matching nodes, optional

    Returns
    -------
    MapperGraph with ``layout`` set
    """
    graph = run.graph(layer, key)
    if graph.layout is None:
        graph.layout = layout_graph(graph, previous=previous)
        run.save_graph(layer, graph, graph.key)
    return graph


def sweep_run(run: RunLike, layer: str, grid: Mapping[str, Any] | None = None, *,
              progress: ProgressFn | None = None, n_jobs: int = 2, scheduler: Any = None) -> list[dict]:
    """Sweep summaries (list of dicts, see ``sweep.sweep``) on a run's layer.

    ``scheduler`` runs each setting as a Dask task (``sweep.sweep``; same graphs).

    ``grid`` keys: ``n_intervals``, ``overlaps``, ``eps_scales`` (lists) and any other
    :class:`MapperConfig` field (lens, cover, metric, min_samples, eps, ...) held fixed
    (deprecated aliases: ``intervals``, ``overlap``, ``eps_scale``). Each summary also carries
    ``params`` (the ``MapperConfig.to_dict()`` of that setting) and ``key``, so the app can
    build / open that graph with ``build_run_graph``.
    """
    from .sweep import sweep

    grid = dict(grid or {})
    for old, new in (("intervals", "n_intervals"), ("overlap", "overlaps"),
                     ("eps_scale", "eps_scales")):
        if old in grid:
            warnings.warn(f"sweep grid key {old!r} is deprecated, use {new!r}",
                          DeprecationWarning, stacklevel=2)
            grid.setdefault(new, grid.pop(old))
            grid.pop(old, None)
    n_intervals = _as_list(grid.pop("n_intervals", (20, 40, 60)))
    overlaps = _as_list(grid.pop("overlaps", (0.2, 0.3)))
    scales = _as_list(grid.pop("eps_scales", (1.0, 1.25)))
    if grid.get("clusterer", "dbscan") != "dbscan":
        raise ValueError("only clusterer 'dbscan' is swept")
    base = MapperConfig.from_dict(grid)
    configs = [base.replace(n_intervals=n, overlap=p, eps_scale=s)
               for n in n_intervals for p in overlaps for s in scales]   # validates every setting
    ctx = run_context(run)
    X = run.activations(layer)
    res = sweep(X, n_intervals, overlaps, scales, lens=base.make_lens(), cover=base.cover,
                metric=base.metric, min_samples=base.min_samples,
                eps=None if base.eps == "auto" else base.eps, labels=ctx["labels"],
                predictions=ctx["predictions"], probabilities=ctx["probabilities"],
                progress=progress, n_jobs=n_jobs, scheduler=scheduler)
    by_setting = {(c.n_intervals, c.overlap, c.eps_scale): c for c in configs}
    for r in res:
        c = by_setting[(r["n_intervals"], r["overlap"], r["eps_scale"])]
        r["params"] = c.to_dict()
        r["key"] = c.key
    return res


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def locate_points(run: RunLike, layer: str, graph: MapperGraph | Mapping[str, Any], vectors: np.ndarray,
                  probabilities: np.ndarray | None = None) -> list[list[int]]:
    """Node ids each new activation vector falls into (module docstring rule).

    Parameters
    ----------
    run : Run
    layer : layer name
    graph : MapperGraph (or its dict form) built on ``layer``
    vectors : (M, D) activation vectors of new images
    probabilities : (M, C), needed for prediction lenses

    Returns
    -------
    M sorted lists of node ids (possibly empty).
    """
    graph_dict = graph.to_dict() if isinstance(graph, MapperGraph) else graph
    params = graph_dict["params"]
    config = MapperConfig.from_params(params)
    V = np.atleast_2d(np.asarray(vectors, np.float32))
    X = run.activations(layer)
    if V.shape[1] != X.shape[1]:
        raise ValueError(f"vectors have dimension {V.shape[1]}, layer {layer!r} has {X.shape[1]}")
    lens = config.make_lens()
    if isinstance(lens, (UMAPLens, ArrayLens)):
        raise ValueError(f"cannot place new points with a {lens.name} lens (lens {config.lens!r}): "
                         "its values are fitted on the run's own rows and a new image has no "
                         "exact position in them; locate new images in a graph built with lens "
                         "l2, l1, pca, pca2 or knn")
    ctx = run_context(run)
    run_lens = lens.fit_transform(X, probabilities=ctx["probabilities"])
    if isinstance(lens, PredictionLens):
        if probabilities is None:
            raise ValueError("a prediction lens needs the new images' probabilities")
        new_lens = PredictionLens(lens.kind, lens.class_index).fit(
            V, probabilities=probabilities).transform(V)
    elif isinstance(lens, KNNDistance):
        from .cluster import kth_neighbor_distance
        new_lens = kth_neighbor_distance(V, lens.reference_, lens.k, "euclidean")
    else:
        new_lens = lens.transform(V)
    cover = config.make_cover().fit(run_lens)
    metric = config.metric
    eps = params.get("eps_resolved") if config.clusterer == "dbscan" else None
    if config.clusterer == "dbscan" and eps is None:
        eps = float(config.eps)
    by_interval: dict = {}
    for node in graph_dict["nodes"]:
        iv = node["interval"]
        by_interval.setdefault(tuple(iv) if isinstance(iv, list) else iv, []).append(node)
    out = []
    for i, elements in enumerate(cover.find(new_lens)):
        found = set()
        for e in elements:
            nodes = by_interval.get(cover.element_label(e) if not isinstance(cover.element_label(e), list)
                                    else tuple(cover.element_label(e)), [])
            if not nodes:
                continue
            rows = np.concatenate([np.asarray(n["members"]) for n in nodes])
            owner = np.concatenate([[n["id"]] * len(n["members"]) for n in nodes])
            M = np.asarray(X[np.sort(rows)], np.float64)
            owner = owner[np.argsort(rows)]
            v = V[i].astype(np.float64)
            if metric == "cosine":
                nv = np.linalg.norm(v)
                nm = np.linalg.norm(M, axis=1)
                d = 1.0 - (M @ v) / np.where(nm * nv > 0, nm * nv, np.inf)
            else:
                d = np.linalg.norm(M - v, axis=1)
            j = int(np.argmin(d))
            if eps is None or d[j] <= eps:
                found.add(int(owner[j]))
        out.append(sorted(found))
    return out
