"""Run-level entry points for the app and the CLI (JSON-able results, cached on disk).

``visualize_node`` / ``visualize_exemplar`` / ``visualize_units`` read what they need from a
run (docs/design.md: ``run.meta``, ``run.reduce_of``, ``run.activations``, ``run.graph``,
``run.node_means``, ``run.image``, ``run.model``, ``run.results_dir``), look the request up in
the feature cache *before* loading the model (a repeat costs a JSON read), otherwise
synthesize, store PNGs + manifest in ``run.results_dir('features')`` and return::

    {"key", "method", "layer", "target", "params", "images": [paths relative to the run dir],
     "metrics": {...}, "cached": bool, "seconds": float}

Choices made here:

* A node's direction is the mean of its members' stored (reduced) activations, as the Mapper
  engine saved it with the graph (``run.node_means``; computed from the members' rows only for
  graphs saved without means); its members' projections on that direction (mean, max) are
  reported next to the synthesized ones. Only the rows a request needs are read from the
  memory-mapped layer (a node's members; for levels over all rows, one column or one
  projection streamed in chunks), never the whole layer at once.
* Inverse-set levels are fractions of the range of the measure over **all** rows of the run
  (the real exemplars); ``params['level']`` (default 0.5) or, for an intersection,
  ``params['channel'] = [c1, c2, ...]`` with ``params['level'] = [l1, l2, ...]``. Without a
  channel the node's direction is the measure.
* Class-agnostic from a node uses its ``n_images`` (default 4) members with the highest
  projection on the node direction.
* DGN-AM needs a generator trained with :func:`train_generator_for_run` for that layer (saved
  as ``run.results_dir('generators')/<layer>.pt`` + ``.json``, see
  :mod:`topoact.features.generator`).
* Method names accept ``class-agnostic`` and ``class_agnostic``.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from topoact.errors import UnknownLayerError
from topoact.fileio import safe_name
from topoact.hashing import stable_hash
from topoact.progress import CancelFn, ProgressFn

from .cache import FeatureCache, make_key
from .generator import load_generator, save_generator, train_generator
from .methods import DGNAM, ClassAgnostic, InverseSet, LevelTarget, NodeVisualization
from .methods.node import projection
from .render import PreviewFn

if TYPE_CHECKING:
    from topoact.store import RunLike

__all__ = ["visualize_node", "visualize_exemplar", "visualize_units", "train_generator_for_run",
           "generator_path", "generator_available", "METHODS", "layer_reduce", "layer_reduction"]

#: rows per chunk when a measure over all rows of a layer is streamed
CHUNK_ROWS = 65536

log = logging.getLogger(__name__)

METHODS = {"node": NodeVisualization, "inverse": InverseSet, "class_agnostic": ClassAgnostic,
           "dgn": DGNAM}


def _method_name(method: str) -> str:
    name = str(method).replace("-", "_")
    if name not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of "
                         f"{', '.join(sorted(METHODS))} (or 'class-agnostic')")
    return name


def _bundle(run):
    return run.model()  # Run caches the loaded bundle


def _check_run_layer(run, layer: str) -> None:
    if layer not in list(run.layers):
        raise UnknownLayerError(layer, run.layers)


def layer_reduce(run: RunLike, layer: str) -> str:
    """The reduction ``layer`` was stored with (``'gap'`` for flat layers, where it is moot).

    Parameters
    ----------
    run : Run
    layer : str

    Returns
    -------
    str
        ``'gap'``, ``'center'`` or ``'random'``.
    """
    how = run.reduce_of(layer)
    return "gap" if how == "none" else how


#: deprecated name of :func:`layer_reduce` (one release)
layer_reduction = layer_reduce


def _model_hash(run) -> str:
    model = run.meta.get("model", {})
    if isinstance(model, dict) and model.get("hash"):
        return str(model["hash"])
    return stable_hash(model)


def _projection_all_rows(acts: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """Projection (N,) of every row of a (memory-mapped) layer, streamed in chunks."""
    return np.concatenate([projection(acts[s:s + CHUNK_ROWS], vector)
                           for s in range(0, len(acts), CHUNK_ROWS)])


def _split_params(method_cls, params: dict | None) -> tuple[dict, dict]:
    """Constructor parameters of the method (validated names) and request-level extras."""
    params = dict(params or {})
    ctor = method_cls().get_params()
    extras_allowed = {"level", "channel", "n_images"}
    unknown = set(params) - set(ctor) - extras_allowed
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for method {method_cls.name!r}; "
                         f"valid: {sorted(set(ctor) | extras_allowed)}")
    return ({k: v for k, v in params.items() if k in ctor},
            {k: v for k, v in params.items() if k in extras_allowed})


def _finish(run, cache: FeatureCache, entry: dict, cached: bool, seconds: float) -> dict:
    base = Path(run.path)
    return {"key": entry["key"], "method": entry["request"]["method"],
            "layer": entry["request"]["layer"], "target": entry["request"]["target"],
            "params": entry["request"]["params"],
            "images": [str(Path(p).relative_to(base)) for p in entry["paths"]],
            "metrics": entry["metrics"], "cached": cached, "seconds": seconds}


def _run_cached(run, layer, target, method_name, method, compute) -> dict:
    start = time.perf_counter()
    params = method.get_params()
    key = make_key(_model_hash(run), layer, target, method_name, params, params.get("seed", 0))
    cache = FeatureCache(run.results_dir("features"))
    entry = cache.get(key)
    if entry is not None:
        return _finish(run, cache, entry, True, time.perf_counter() - start)
    images, metrics = compute()
    request = {"model": _model_hash(run), "layer": layer, "target": target,
               "method": method_name, "params": params}
    entry = cache.put(key, images, request, metrics)
    return _finish(run, cache, entry, False, time.perf_counter() - start)


def _node(run, layer, graph_key, node_id):
    """(graph dict, node dict, position of the node in the graph's node list)."""
    graph = run.graph(layer, graph_key)
    graph = graph.to_dict() if hasattr(graph, "to_dict") else graph
    for position, node in enumerate(graph["nodes"]):
        if int(node["id"]) == int(node_id):
            return graph, node, position
    ids = [n["id"] for n in graph["nodes"]]
    raise ValueError(f"node {node_id} not in graph {graph.get('key', graph_key)!r} of layer "
                     f"{layer!r} (node ids {min(ids)}..{max(ids)})" if ids else
                     f"graph of layer {layer!r} has no nodes")


def _unit_images(run, bundle, rows) -> torch.Tensor:
    return torch.stack([bundle.to_unit_tensor(run.image(int(i))) for i in rows])


def _level_targets(acts: np.ndarray, extras: dict, vector) -> list[LevelTarget]:
    levels = extras.get("level", 0.5)
    channels = extras.get("channel")
    if channels is None:
        levels = levels if isinstance(levels, (int, float)) else levels[0]
        values = _projection_all_rows(acts, vector)
        return [LevelTarget.from_values("direction", values, float(levels),
                                        vector=[float(v) for v in vector])]
    channels = [channels] if isinstance(channels, (int, np.integer)) else list(channels)
    levels = [levels] * len(channels) if isinstance(levels, (int, float)) else list(levels)
    if len(levels) != len(channels):
        raise ValueError(f"{len(channels)} channels but {len(levels)} levels")
    targets = []
    for c, lv in zip(channels, levels):
        if not 0 <= int(c) < acts.shape[1]:
            raise ValueError(f"channel {c} out of range for a layer with {acts.shape[1]} channels")
        targets.append(LevelTarget.from_values("channel", np.asarray(acts[:, int(c)]), float(lv),
                                               index=int(c)))
    return targets


def _require_vector(vector):
    if vector is None:
        raise ValueError("this method needs a direction (a node) or a channel")
    return vector


def visualize_node(run: RunLike, layer: str, graph_key: str | None, node_id: int,
                   method: str = "node", params: dict | None = None, *,
                   progress: ProgressFn | None = None,
                   should_cancel: CancelFn | None = None,
                   preview: PreviewFn | None = None) -> dict:
    """Synthesize images for Mapper node ``node_id`` of graph ``graph_key`` on ``layer``.

    Parameters
    ----------
    run : Run
    layer : str
    graph_key : str or None
        Saved graph (None: the layer's default graph).
    node_id : int
    method : str
        'node' (default), 'inverse', 'class_agnostic' / 'class-agnostic', 'dgn'.
    params : dict, optional
        Method parameters (see the method classes) plus 'level', 'channel', 'n_images'.
    progress, should_cancel : callable, optional
        :mod:`topoact.progress` protocol.
    preview : callable, optional
        ``preview(step, images)`` called every 32 steps of a computed (not cached) request
        with the current images (B, 3, H, W) in [0, 1], for a first picture in the app.

    Returns
    -------
    dict
        The JSON-able dict described in the module docstring.
    """
    name = _method_name(method)
    _check_run_layer(run, layer)
    graph, node, position = _node(run, layer, graph_key, node_id)
    members = np.asarray(node["members"], dtype=np.int64)
    acts = run.activations(layer)                       # memory map: rows are read on demand
    member_rows = np.asarray(acts[members], dtype=np.float64)
    means = run.node_means(layer, graph.get("key", graph_key))
    vector = (np.asarray(means[position], np.float64) if means is not None
              else member_rows.mean(0))
    if not np.linalg.norm(vector) > 0:
        raise ValueError(f"node {node_id} has a zero mean activation; nothing to maximise")
    member_proj = projection(member_rows, vector)
    target = {"graph": graph.get("key", graph_key), "node": int(node_id),
              "members": stable_hash(members.tolist())}
    return _dispatch(run, layer, name, params, target, acts, vector, members, member_proj,
                     progress, should_cancel, preview)


def visualize_units(run: RunLike, layer: str, channel: int | Sequence[int], method: str = "inverse",
                    params: dict | None = None, *, progress: ProgressFn | None = None,
                    should_cancel: CancelFn | None = None,
                    preview: PreviewFn | None = None) -> dict:
    """Channel-level requests without a node.

    Parameters
    ----------
    run : Run
    layer : str
    channel : int or list of int
        Unit(s) of the stored vector.
    method : str
        'inverse' (a level, or an intersection of several channels' levels) or 'node' / 'dgn'
        (maximise one channel, i.e. its one-hot direction).
    params : dict, optional
        Method parameters plus 'level'.
    progress, should_cancel : callable, optional
        :mod:`topoact.progress` protocol.
    preview : callable, optional
        ``preview(step, images)`` called every 32 steps of a computed (not cached) request
        with the current images (B, 3, H, W) in [0, 1], for a first picture in the app.

    Returns
    -------
    dict
        As :func:`visualize_node`.
    """
    name = _method_name(method)
    _check_run_layer(run, layer)
    acts = run.activations(layer)                       # memory map: columns read on demand
    channels = [channel] if isinstance(channel, (int, np.integer)) else list(channel)
    for c in channels:
        if not 0 <= int(c) < acts.shape[1]:
            raise ValueError(f"channel {c} out of range for layer {layer!r} with {acts.shape[1]} channels")
    params = dict(params or {})
    params["channel"] = [int(c) for c in channels] if len(channels) > 1 else int(channels[0])
    vector = None
    if name in ("node", "dgn"):
        if len(channels) != 1:
            raise ValueError(f"method {name!r} takes a single channel")
        vector = np.zeros(acts.shape[1])
        vector[int(channels[0])] = 1.0
        params.pop("channel")
    target = {"channel": channels}
    member_proj = np.asarray(acts[:, int(channels[0])], dtype=np.float64)
    return _dispatch(run, layer, name, params, target, acts, vector, np.arange(len(acts)),
                     member_proj, progress, should_cancel, preview)


def _dispatch(run, layer, name, params, target, acts, vector, members, member_proj,
              progress, should_cancel, preview=None):
    cls = METHODS[name]
    ctor, extras = _split_params(cls, params)
    method = cls(**ctor)
    reduce = layer_reduce(run, layer)
    member_stats = {"members_activation_mean": float(member_proj.mean()),
                    "members_activation_max": float(member_proj.max())}

    if name == "node":
        _require_vector(vector)

        def compute():
            r = method.visualize(_bundle(run), layer, vector, reduce, progress, should_cancel,
                                 preview=preview)
            return r.images, {**r.metrics, **member_stats}

    elif name == "inverse":
        targets = _level_targets(acts, extras, vector)  # validates channels and levels now
        for t in targets:
            t.validate()
        target = {**target, "levels": [t.level for t in targets],
                  "channels": [t.index for t in targets]}

        def compute():
            r = method.visualize(_bundle(run), layer, targets, reduce, progress, should_cancel,
                                 preview=preview)
            return r.images, r.metrics

    elif name == "class_agnostic":
        n = int(extras.get("n_images", 4))
        order = np.argsort(-member_proj)[:n] if len(member_proj) == len(members) else np.arange(n)
        rows = [int(members[i]) for i in order]
        target = {**target, "rows": rows}

        def compute():
            bundle = _bundle(run)
            r = method.visualize(bundle, layer, _unit_images(run, bundle, rows), progress,
                                 should_cancel, preview=preview)
            return r.images, {**r.metrics, "rows": rows}

    else:  # dgn
        _require_vector(vector)
        path = generator_path(run, layer)
        if not path.exists():
            raise ValueError(f"no generator trained for layer {layer!r} (expected {path}); "
                             "train one with train_generator_for_run(run, layer)")
        target = {**target, "generator": stable_hash(path.stat().st_mtime_ns)}

        def compute():
            fit = load_generator(path)
            r = method.visualize(_bundle(run), fit, layer, vector, reduce, progress, should_cancel,
                                 preview=preview)
            return r.images, {**r.metrics, **member_stats}

    return _run_cached(run, layer, target, name, method, compute)


def visualize_exemplar(run: RunLike, layer: str, row_index: int, method: str = "class_agnostic",
                       params: dict | None = None, *, progress: ProgressFn | None = None,
                       should_cancel: CancelFn | None = None,
                       preview: PreviewFn | None = None) -> dict:
    """Class-agnostic feature visualization of one image (row ``row_index``) of the run.

    Parameters
    ----------
    run : Run
    layer : str
    row_index : int
        Row of the run (the source image).
    method : str
        Only 'class_agnostic' (or 'class-agnostic').
    params : dict, optional
        :class:`~topoact.features.methods.ClassAgnostic` parameters.
    progress, should_cancel : callable, optional
        :mod:`topoact.progress` protocol.
    preview : callable, optional
        ``preview(step, images)`` called every 32 steps of a computed (not cached) request
        with the current images (B, 3, H, W) in [0, 1], for a first picture in the app.

    Returns
    -------
    dict
        As :func:`visualize_node`.
    """
    name = _method_name(method)
    if name != "class_agnostic":
        raise ValueError(f"exemplars support only the 'class_agnostic' method, got {method!r}")
    _check_run_layer(run, layer)
    if not 0 <= int(row_index) < run.n:
        raise ValueError(f"row {row_index} out of range for a run of {run.n} images")
    ctor, extras = _split_params(ClassAgnostic, params)
    if extras:
        raise ValueError(f"parameters {sorted(extras)} do not apply to an exemplar")
    method = ClassAgnostic(**ctor)
    target = {"row": int(row_index)}

    def compute():
        bundle = _bundle(run)
        r = method.visualize(bundle, layer, _unit_images(run, bundle, [row_index]), progress,
                             should_cancel, preview=preview)
        return r.images, {**r.metrics, "rows": [int(row_index)]}

    return _run_cached(run, layer, target, name, method, compute)


def generator_path(run: RunLike, layer: str, *, create: bool = False) -> Path:
    """Where the DGN-AM generator of ``layer`` is (or would be) saved (``.pt``; ``.json`` beside).

    Parameters
    ----------
    run : Run
    layer : str
    create : bool
        Create the ``generators`` folder (only when writing).
    """
    return Path(run.results_dir("generators", create=create)) / f"{safe_name(layer)}.pt"


def generator_available(run: RunLike, layer: str) -> bool:
    """True when a generator of ``layer`` in the current (safe) format is saved in the run."""
    path = generator_path(run, layer)
    return path.exists() and path.with_suffix(".json").exists()


def train_generator_for_run(run: RunLike, layer: str, n_images: int | None = 2000, epochs: int = 20,
                            max_seconds: float | None = 180.0, seed: int = 0,
                            progress: ProgressFn | None = None,
                            should_cancel: CancelFn | None = None, **kwargs) -> dict:
    """Train and save a DGN-AM generator for ``layer`` on (up to ``n_images``) run images.

    Parameters
    ----------
    run : Run
    layer : str
    n_images : int or None
        Training images drawn (seeded) from the run (None: all).
    epochs, max_seconds, seed
        See :func:`~topoact.features.generator.train_generator`.
    progress, should_cancel : callable, optional
        :mod:`topoact.progress` protocol (one step per epoch).
    **kwargs
        Other :func:`~topoact.features.generator.train_generator` parameters.

    Returns
    -------
    dict
        The fit's metrics plus ``path`` (relative to the run directory).
    """
    _check_run_layer(run, layer)
    bundle = _bundle(run)
    n = run.n if n_images is None else min(int(n_images), run.n)
    rows = np.random.default_rng(seed).permutation(run.n)[:n]
    images = _unit_images(run, bundle, rows)
    fit = train_generator(bundle, images, layer, layer_reduce(run, layer), epochs=epochs,
                          max_seconds=max_seconds, seed=seed, progress=progress,
                          should_cancel=should_cancel, **kwargs)
    fit.model_hash = _model_hash(run)
    path = save_generator(fit, generator_path(run, layer, create=True))
    return {**fit.metrics, "path": str(path.relative_to(Path(run.path)))}
