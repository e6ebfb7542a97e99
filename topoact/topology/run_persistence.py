"""Run-level persistence: what the CLI and the app call.

``layer_persistence(run, layer, config)`` = landmarks -> sparse Rips (:mod:`.rips`) -> bootstrap
band -> summaries, barcodes, landscapes, representative cycles, returned as a
:class:`~topoact.topology.results.PersistenceResult` and cached through
:class:`topoact.results.ResultCache` in ``<run>/persistence/<layer>-<key>.json``, where ``key``
= :func:`persistence_key` (layer, :class:`~topoact.topology.config.PersistenceConfig`, model
hash, engine version). The cached file records the fingerprint of the layer it was computed
from; a layer rewritten since is recomputed, never served stale. ``result.cached`` tells whether
this call loaded it (True) or computed it (False).

Progress follows :mod:`topoact.progress`: ``progress(done, total, message)`` between steps
(fractions of 1.0 here, one monotone bar), ``should_cancel()`` polled (raises
:class:`~topoact.progress.Cancelled`; nothing is cached then).

Landmarks clamp: if the layer has fewer rows than ``n_landmarks``, all rows are used and a
warning is logged (see :mod:`.landmarks`).
"""
from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np

from ..errors import UnknownLayerError
from ..fileio import read_json, safe_name
from ..progress import CancelFn, ProgressFn, Stage, report
from ..results import ResultCache
from ._validation import Cancelled, check_cancel, check_points  # noqa: F401 (re-export)
from .bootstrap import bottleneck_bootstrap
from .config import GraphPersistenceConfig, PersistenceConfig
from .cycles import representative_cycles
from .distances import DISTANCES, distance_matrix
from .landmarks import Landmarks
from .results import GraphPersistenceResult, LayerDistances, PersistenceResult
from .rips import sparse_rips
from .summaries import barcode, diagram_to_json, landscape, scalar_summaries, significant_mask

if TYPE_CHECKING:
    from ..store import RunLike

__all__ = ["compute_persistence", "layer_persistence", "persistence_key", "load_persistence",
           "cached_persistence", "layer_distance_matrix", "mapper_rebuild",
           "mapper_graph_persistence", "graph_persistence_key"]

log = logging.getLogger(__name__)
#: engine version in the cache keys: bump when results change meaning
VERSION = 4  # 3: the bootstrap band is a normal-fit quantile; 4: H1 by engine "columns" (threshold = enclosing radius)

ConfigLike = Union[PersistenceConfig, Mapping[str, Any], None]


def _config(config: ConfigLike, params: Mapping[str, Any], cls=PersistenceConfig):
    """A config from a config object, a dict and/or keyword overrides."""
    if isinstance(config, cls):
        return config.replace(**params) if params else config
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a {cls.__name__} or a dict, got {type(config).__name__}")
    return cls.from_dict(dict(config or {}), **params)


def _check_layer(run, layer: str) -> None:
    if layer not in list(run.layers):
        raise UnknownLayerError(layer, run.layers)


def _cache(run) -> ResultCache:
    return ResultCache(run, PersistenceResult.kind, VERSION)


def persistence_key(run: RunLike, layer: str, config: ConfigLike = None, **params) -> str:
    """Cache key of :func:`layer_persistence` for ``(layer, config)`` in ``run``.

    Parameters
    ----------
    run : Run
        The run (its model hash enters the key).
    layer : str
        Layer name.
    config : PersistenceConfig or dict, optional
        Parameters; keyword arguments override fields (defaults: ``PersistenceConfig()``).

    Returns
    -------
    str
        The key the result is (or would be) cached under.
    """
    return _cache(run).key(layer, _config(config, params))


def compute_persistence(X: np.ndarray, config: ConfigLike = None, *,
                        progress: Optional[ProgressFn] = None,
                        should_cancel: Optional[CancelFn] = None, scheduler: Any = None,
                        **params) -> PersistenceResult:
    """The whole pipeline on an array; same result as :func:`layer_persistence` (not cached).

    Parameters
    ----------
    X : array of shape (n_points, n_features)
        Finite activation vectors.
    config : PersistenceConfig or dict, optional
        Parameters; keyword arguments (``n_landmarks=...``) override its fields.
    progress : callable, optional
        ``progress(done, total, message)`` (:mod:`topoact.progress`), as fractions of 1.
    should_cancel : callable, optional
        Polled between steps; True raises :class:`~topoact.progress.Cancelled`.
    scheduler : str or distributed.Client, optional
        Run the bootstrap resamples as Dask tasks (same band; None: the block's
        :func:`topoact.distributed.use_scheduler`, else in-process).

    Returns
    -------
    PersistenceResult
        With ``params`` set, ``layer`` and ``key`` None.
    """
    cfg = _config(config, params)

    def step(fraction: float, message: str) -> None:
        report(progress, fraction, 1.0, message)
        check_cancel(should_cancel)

    X = check_points(X, name="activations")
    metric, max_dim, seed = cfg.metric, cfg.max_dim, cfg.seed
    timings = {}
    t0 = time.perf_counter()
    step(0.0, "selecting landmarks")
    lm = Landmarks(cfg.n_landmarks, method=cfg.landmark_method, metric=metric, pca=cfg.pca,
                   seed=seed).fit(X)
    P = lm.points_
    check_points(P, name="landmark points")
    timings["landmarks"] = time.perf_counter() - t0
    step(0.1, f"persistence of {len(P)} landmarks")
    t0 = time.perf_counter()
    res = sparse_rips(P, metric=metric, max_dim=max_dim, threshold=cfg.threshold, seed=seed,
                      should_cancel=should_cancel, keep_edges=True)
    timings["persistence"] = time.perf_counter() - t0
    timings.update({f"persistence_{k}": v for k, v in res.timings.items()})
    T = res.threshold if max_dim >= 1 else res.enclosing_radius
    clip = max(T, res.enclosing_radius if max_dim == 0 else T)

    band = [None] * (max_dim + 1)
    boot = None
    if cfg.n_bootstrap:
        step(0.4, "bootstrap")
        t0 = time.perf_counter()
        # exact full diagram: resamples use the certified 'auto' policy (exact too); else the
        # same truncation threshold, so full and resampled diagrams are comparable
        fixed = T if (max_dim >= 1 and not res.exact) else ("auto" if max_dim == 1 else
                                                             "enclosing")

        def diagram_fn(Q):
            return sparse_rips(Q, metric=metric, max_dim=max_dim, threshold=fixed,
                               seed=seed).diagrams

        # the H0 infinite bar is compared clipped at the enclosing radius (both have exactly one)
        boot = bottleneck_bootstrap(P, diagram_fn, res.diagrams, n_bootstrap=cfg.n_bootstrap,
                                    alpha=cfg.alpha, seed=seed, clip=clip, metric=metric,
                                    progress=Stage(progress, 0.4, 0.9, "bootstrap"),
                                    should_cancel=should_cancel, scheduler=scheduler)
        band = boot["band"]
        timings["bootstrap"] = time.perf_counter() - t0
    step(0.9, "summaries")
    dgms = res.diagrams
    bars = [b for d, dg in enumerate(dgms) for b in barcode(dg, band[d], dim=d)]
    cycles = []
    if max_dim >= 1 and len(dgms[1]):
        sig = dgms[1][significant_mask(dgms[1], band[1])] if band[1] is not None else \
            dgms[1][np.argsort(dgms[1][:, 0] - dgms[1][:, 1])[:5]]
        sig = sig[np.argsort(sig[:, 0] - np.where(np.isinf(sig[:, 1]), clip, sig[:, 1]))]
        cycles = representative_cycles(len(P), res.edges, res.pairs.get(1, []), sig)
        for c in cycles:
            c["rows"] = None if c["vertices"] is None else [int(lm.indices_[v]) for v in c["vertices"]]
    out = PersistenceResult(
        n_points=int(X.shape[0]), n_features=int(X.shape[1]),
        landmarks=lm.indices_.tolist(), covering_radius=lm.covering_radius_,
        diagrams=[diagram_to_json(d) for d in dgms], bars=bars, band=band,
        bootstrap=None if boot is None else {k: boot[k] for k in ("c", "alpha", "n_bootstrap")},
        summaries=scalar_summaries(dgms, band, clip),
        landscapes={str(d): landscape(dgms[d], threshold=clip).tolist()
                    for d in range(1, max_dim + 1)},
        cycles=cycles, threshold=float(T), enclosing_radius=float(res.enclosing_radius),
        exact=res.exact, n_truncated=res.n_truncated, n_edges=res.n_edges,
        n_simplices=res.n_simplices, timings=timings, params=cfg.to_dict())
    report(progress, 1.0, 1.0, "computed")
    return out


def layer_persistence(run: RunLike, layer: str, config: ConfigLike = None, *,
                      progress: Optional[ProgressFn] = None,
                      should_cancel: Optional[CancelFn] = None, recompute: bool = False,
                      scheduler: Any = None, **params) -> PersistenceResult:
    """Persistence of one layer of a run, cached in the run (see the module docstring).

    Parameters
    ----------
    run : Run
        A run (:class:`topoact.store.RunLike`).
    layer : str
        Layer name (:class:`~topoact.errors.UnknownLayerError` if the run has no such layer).
    config : PersistenceConfig or dict, optional
        Parameters; keyword arguments (``n_landmarks=500`` ...) override its fields.
    progress, should_cancel : callable, optional
        :mod:`topoact.progress` protocol.
    recompute : bool
        Ignore a cached result and compute again (the cache is overwritten).
    scheduler : str or distributed.Client, optional
        Run the bootstrap resamples as Dask tasks (:func:`compute_persistence`); not part of the
        cache key: the result is the same.

    Returns
    -------
    PersistenceResult
        With ``layer``, ``params``, ``key`` set; ``cached`` True when loaded from the cache.
    """
    _check_layer(run, layer)
    cfg = _config(config, params)
    cache = _cache(run)
    key = cache.key(layer, cfg)
    if not recompute:
        data = cache.load(layer, key)
        if data is not None:
            report(progress, 1.0, 1.0, "loaded from the run's cache")
            return dataclasses.replace(PersistenceResult.from_dict(data), cached=True)
    X = run.activations(layer)
    out = compute_persistence(np.asarray(X), cfg, progress=progress, should_cancel=should_cancel,
                              scheduler=scheduler)
    out.layer, out.key = layer, key
    cache.save(layer, key, out.to_dict())
    out.cached = False
    return out


def layer_distance_matrix(runs: Union[RunLike, Sequence[RunLike]],
                          layers: Optional[Sequence[str]] = None, *, dim: int = 1,
                          distance: Optional[str] = None, metric: Optional[str] = None,
                          config: ConfigLike = None, progress: Optional[ProgressFn] = None,
                          should_cancel: Optional[CancelFn] = None,
                          point_metric: Optional[str] = None,
                          **persistence_params) -> LayerDistances:
    """Diagram distances between layers of one run, or the same layers across runs.

    Parameters
    ----------
    runs : Run or list of Run
        With one run the result is (L, L) over its layers; with two or more, rows and
        columns are all (run, layer) pairs (the cross blocks compare the same layer across
        models).
    layers : list of str, optional
        Layer names (default: all of the first run's layers).
    dim : int
        Homology dimension compared.
    distance : {'bottleneck', 'wasserstein'}
        The diagram distance (default 'bottleneck').
    metric : {'euclidean', 'cosine'}, optional
        The point metric of the activation vectors, as in :class:`PersistenceConfig`.
        Deprecated: ``metric='bottleneck'|'wasserstein'`` (the diagram distance, before it was
        named ``distance``) still works for one release, with a ``DeprecationWarning``.
    config : PersistenceConfig or dict, optional
        Persistence parameters of every layer; ``**persistence_params`` override its fields.
    progress, should_cancel : callable, optional
        :mod:`topoact.progress` protocol (one bar over all layers).
    point_metric : str, optional
        Deprecated alias of ``metric``.

    Returns
    -------
    LayerDistances
        ``labels`` (``layer`` or ``run<k>:layer``), ``matrix`` (L, L), ``dim``, ``distance``,
        ``metric``.
    """
    if metric in DISTANCES:
        warnings.warn("layer_distance_matrix(metric=...) for the diagram distance is deprecated; "
                      "use distance=... (metric is the point metric)", DeprecationWarning,
                      stacklevel=2)
        if distance is not None and distance != metric:
            raise ValueError(f"distance={distance!r} contradicts metric={metric!r}")
        distance, metric = metric, None
    if point_metric is not None:
        warnings.warn("layer_distance_matrix(point_metric=...) is deprecated; use metric=...",
                      DeprecationWarning, stacklevel=2)
        if metric is not None and metric != point_metric:
            raise ValueError(f"metric={metric!r} contradicts point_metric={point_metric!r}")
        metric = point_metric
    distance = distance or "bottleneck"
    if distance not in DISTANCES:
        raise ValueError(f"unknown diagram distance {distance!r}; use 'bottleneck' or "
                         "'wasserstein'")
    if metric is not None:
        persistence_params["metric"] = metric
    cfg = _config(config, persistence_params)
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    layers = list(layers) if layers is not None else list(runs[0].layers)
    items = [(r, k, layer) for k, r in enumerate(runs) for layer in layers]
    dgms, labels = [], []
    for n, (r, k, layer) in enumerate(items):
        check_cancel(should_cancel)
        label = layer if len(runs) == 1 else f"run{k}:{layer}"
        res = layer_persistence(r, layer, cfg, should_cancel=should_cancel,
                                progress=Stage(progress, n / len(items), (n + 1) / len(items),
                                               f"persistence of {label}"))
        d = res.diagram(dim)
        d[np.isinf(d[:, 1]), 1] = res.threshold if dim > 0 else np.nan
        dgms.append(d[np.isfinite(d[:, 1])])
        labels.append(label)
    M = distance_matrix(dgms, distance=distance)
    return LayerDistances(labels=labels, matrix=M.tolist(), dim=int(dim), distance=distance,
                          metric=cfg.metric)


def load_persistence(run: RunLike, layer: str, key: str) -> PersistenceResult:
    """A cached :func:`layer_persistence` result by its key.

    Parameters
    ----------
    run : Run
    layer : str
    key : str
        As :func:`persistence_key` or :func:`cached_persistence` give it.

    Returns
    -------
    PersistenceResult
        With ``cached=True``.

    Raises
    ------
    FileNotFoundError
        When no result with that key is cached for the layer, or when it was computed from
        other data than the layer holds now (recompute it then).
    """
    _check_layer(run, layer)
    cache = _cache(run)
    if not cache.path(layer, key).is_file():
        raise FileNotFoundError(f"no cached persistence result {key!r} for layer {layer!r}")
    data = cache.load(layer, key)
    if data is None:
        why = ("was written by an older topoact without input fingerprints"
               if "inputs" not in read_json(cache.path(layer, key)) else
               "was computed from other data than the layer holds now")
        raise FileNotFoundError(f"cached persistence result {key!r} of layer {layer!r} {why}; "
                                "recompute it")
    return dataclasses.replace(PersistenceResult.from_dict(data), cached=True)


def cached_persistence(run: RunLike, layer: Optional[str] = None) -> list[dict]:
    """The persistence results cached in the run, newest first, without loading them.

    Parameters
    ----------
    run : Run
    layer : str, optional
        Only this layer's results.

    Returns
    -------
    list of dict
        ``{"layer", "key", "path", "mtime"}``. File names are ``<safe layer>-<key>.json``
        (:func:`topoact.fileio.safe_name`; keys contain no '-').
    """
    root = Path(run.results_dir(PersistenceResult.kind))
    if not root.is_dir():
        return []
    layers = list(run.layers) if layer is None else [layer]
    out = []
    for lay in layers:
        safe = safe_name(lay)
        for path in root.glob(f"{safe}-*.json"):
            key = path.stem[len(safe) + 1:]
            if "-" in key:
                continue  # another layer whose safe name starts with this one
            out.append({"layer": lay, "key": key, "path": str(path),
                        "mtime": path.stat().st_mtime})
    return sorted(out, key=lambda e: -e["mtime"])


# -- Mapper-graph persistence with bootstrap significance ----------------------------------------

def _graph_dict(graph: Any) -> dict:
    """The JSON dict of a saved graph (``MapperGraph`` or its dict form)."""
    return graph.to_dict() if hasattr(graph, "to_dict") else dict(graph)


def mapper_rebuild(run: RunLike, layer: str, graph: Any, *,
                   n_jobs: int = 1) -> Callable[[np.ndarray], dict]:
    """``rebuild(indices) -> graph dict`` for :func:`graph_bootstrap`, from a saved graph's params.

    The resampled rows ``X[indices]`` (duplicates kept) go through the same Mapper
    (:meth:`topoact.mapper.MapperConfig.mapper` of the graph's saved parameters), with two
    choices that make the bootstrap measure *sampling* variability, not parameter
    re-estimation: DBSCAN's eps is fixed to the graph's resolved eps (``eps_resolved``, no
    re-estimated knee), and the lens is the one fitted on the whole layer, evaluated on the
    resampled rows (a PCA lens is not refitted). The cover is refitted on the resampled lens
    values, as Mapper does.

    Parameters
    ----------
    run : Run
        Source of the activations and (for prediction lenses) ``probabilities`` (N, C).
    layer : str
        The graph's layer.
    graph : MapperGraph or dict
        A saved graph whose ``params`` hold its configuration (and ``eps_resolved``).
    n_jobs : int
        Threads of each rebuild.

    Returns
    -------
    callable
        ``rebuild(indices int64 (n,)) -> graph dict`` on ``X[indices]``.
    """
    from ..mapper.config import MapperConfig

    params = _graph_dict(graph).get("params") or {}
    if "lens" not in params:
        raise ValueError("graph has no saved Mapper params; build it with "
                         "topoact.mapper.run_graphs.build_run_graph")
    config = MapperConfig.from_params(params)
    if config.clusterer == "dbscan" and params.get("eps_resolved") is not None:
        config = config.replace(eps=float(params["eps_resolved"]), eps_scale=1.0)
    X = run.activations(layer)
    lens_full = config.mapper(n_jobs=n_jobs, compute_node_means=False).compute_lens(
        X, probabilities=run.probabilities)

    def rebuild(indices: np.ndarray) -> dict:
        idx = np.asarray(indices, np.int64)
        mapper = config.mapper(n_jobs=n_jobs, compute_node_means=False)
        return mapper.fit_transform(np.asarray(X[idx]), lens_values=lens_full[idx]).to_dict()

    return rebuild


def _graph_cache(run) -> ResultCache:
    return ResultCache(run, GraphPersistenceResult.kind, VERSION)


def graph_persistence_key(run: RunLike, layer: str, graph_key: str,
                          config: Union[GraphPersistenceConfig, Mapping, None] = None,
                          **params) -> str:
    """Cache key of :func:`mapper_graph_persistence` for a graph and its parameters.

    Parameters
    ----------
    run : Run
    layer : str
    graph_key : str
        The saved graph's key.
    config : GraphPersistenceConfig or dict, optional
        Keyword arguments override its fields.

    Returns
    -------
    str
    """
    cfg = _config(config, params, GraphPersistenceConfig)
    return _graph_cache(run).key(layer, {"graph": graph_key, **cfg.to_dict()})


def mapper_graph_persistence(run: RunLike, layer: str, key: Optional[str] = None,
                             n_bootstrap: Optional[int] = None, *,
                             config: Union[GraphPersistenceConfig, Mapping, None] = None,
                             n_jobs: int = 1, progress: Optional[ProgressFn] = None,
                             should_cancel: Optional[CancelFn] = None, recompute: bool = False,
                             **params) -> GraphPersistenceResult:
    """Extended persistence of a saved Mapper graph with bootstrap significance (cached).

    Parameters
    ----------
    run : Run
        With ``graph(layer, key)``, ``activations(layer)``, ``probabilities``.
    layer : str
        Layer name.
    key : str, optional
        Graph key (None = the layer's default graph).
    n_bootstrap : int, optional
        Resamples B (0 = diagrams only, no significance); overrides ``config``.
    config : GraphPersistenceConfig or dict, optional
        ``n_bootstrap``, ``alpha``, ``seed``, ``lens_index``; keyword arguments override.
    n_jobs : int
        Threads of each Mapper rebuild.
    progress, should_cancel : callable, optional
        :mod:`topoact.progress` protocol.
    recompute : bool
        Ignore a cached result.

    Returns
    -------
    GraphPersistenceResult
        Cached in ``<run>/graph_persistence/<layer>-<key>.json``.
    """
    from .graph_persistence import extended_diagrams, graph_bootstrap, graph_features

    _check_layer(run, layer)
    if n_bootstrap is not None:
        params["n_bootstrap"] = n_bootstrap
    cfg = _config(config, params, GraphPersistenceConfig)
    graph = run.graph(layer, key).to_dict()
    gkey = graph.get("key") or key or "default"
    cache = _graph_cache(run)
    ckey = cache.key(layer, {"graph": gkey, **cfg.to_dict()})
    if not recompute:
        data = cache.load(layer, ckey)
        if data is not None:
            report(progress, 1.0, 1.0, "loaded from the run's cache")
            return dataclasses.replace(GraphPersistenceResult.from_dict(data), cached=True)
    dgms = extended_diagrams(graph, lens_index=cfg.lens_index)
    out = GraphPersistenceResult(layer=layer, graph_key=gkey, n_bootstrap=cfg.n_bootstrap,
                                 alpha=cfg.alpha, diagrams={f: d.tolist() for f, d in dgms.items()},
                                 features=graph_features(dgms, None), params=cfg.to_dict(),
                                 key=ckey)
    if cfg.n_bootstrap:
        rebuild = mapper_rebuild(run, layer, graph, n_jobs=n_jobs)
        boot = graph_bootstrap(graph, rebuild, int(graph["n_points"]),
                               n_bootstrap=cfg.n_bootstrap, alpha=cfg.alpha, seed=cfg.seed,
                               lens_index=cfg.lens_index, progress=progress,
                               should_cancel=should_cancel)
        out.c, out.band, out.distances = boot["c"], boot["band"], boot["distances"]
        out.features = boot["features"]
    cache.save(layer, ckey, out.to_dict())
    report(progress, 1.0, 1.0, "computed")
    return out
