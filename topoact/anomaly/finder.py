"""Run-level anomaly finder: :func:`anomalies` (exported as ``topoact.anomalies``).

Reads a run's stored activations, labels and probabilities, computes every score kind
(:mod:`.labels`, :mod:`.outliers`, :mod:`.duplicates`, :mod:`.topology`), caches the per-image
columns in the run (``<run>/anomalies/<key>.json`` through
:class:`~topoact.results.ResultCache`, guarded by the layers' fingerprints) and returns the
table built by :mod:`.combine`. One k-NN search per layer serves the label, outlier and
duplicate scores.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidParameterError, UnknownLayerError
from ..hashing import array_hash
from ..progress import CancelFn, ProgressFn, Stage, check_cancelled, report
from ..results import ResultCache
from . import duplicates as dup
from . import labels as lab
from . import outliers as out
from . import topology as topo
from .neighbors import knn, projection_neighbours, unit_rows
from .combine import build_table, duplicate_reasons, outlier_reasons
from .params import KINDS, AnomalyConfig

__all__ = ["anomalies", "cached_anomalies", "anomaly_key", "run_kinds", "compute_columns", "VERSION"]

log = logging.getLogger(__name__)
VERSION = 1
KIND = "anomalies"


def _check_layers(run, layers: Optional[Iterable[str]]) -> list[str]:
    if layers is None:
        return list(run.layers)
    if isinstance(layers, str):
        layers = [name.strip() for name in layers.split(",") if name.strip()]
    layers = list(layers)
    if not layers:
        raise InvalidParameterError("layers is empty; give at least one of " + ", ".join(run.layers))
    for name in layers:
        if name not in run.layers:
            raise UnknownLayerError(name, run.layers, where=f"run {getattr(run, 'path', '')}")
    return layers


def _check_labels(run, labels, n_classes: int, kinds: Sequence[str]) -> np.ndarray:
    given = np.asarray(run.labels if labels is None else labels)
    if given.shape != (run.n,):
        raise InvalidParameterError(f"labels must have one entry per image ({run.n}), got shape {given.shape}")
    given = given.astype(np.int64)
    if "label_issue" in kinds:
        if len(given) and (given < 0).all():
            raise InvalidParameterError(
                f"run {getattr(run, 'path', '')} has no labels (every label is -1): label issues need "
                "the given labels; pass labels=... or leave 'label_issue' out of kinds")
        if (given < 0).any() or (given >= n_classes).any():
            bad = int(np.flatnonzero((given < 0) | (given >= n_classes))[0])
            raise InvalidParameterError(f"label of row {bad} is {given[bad]}, outside [0, {n_classes}); "
                                        "label issues need a valid label on every image")
    return given


def _check_k(config: AnomalyConfig, n: int) -> None:
    for name in ("k", "label_k"):
        value = getattr(config, name)
        if value >= n:
            raise InvalidParameterError(f"{name}={value} neighbours need at least {name}+1 images; "
                                        f"this run has N={n}")


def compute_columns(run, layers: Sequence[str], labels: np.ndarray, config: AnomalyConfig,
                    kinds: Sequence[str] = KINDS, *, graph_layer: Optional[str] = None,
                    progress: ProgressFn | None = None,
                    should_cancel: CancelFn | None = None, labels_match_model: bool = True,
                    scheduler: Any = None) -> dict:
    """Every per-image score and per-kind reason of a run, as JSON-able columns.

    Parameters
    ----------
    run : RunLike
    layers : layers to use (validated)
    labels : (N,) given labels (validated)
    kinds : subset of ``label_issue, outlier, duplicate``
    labels_match_model : False when ``labels`` index other classes than the model's (the
        class-conditional scores then use the predictions)
    scheduler : str or distributed.Client, optional
        Run the k-NN blocks as Dask tasks (:func:`.neighbors.knn`; same scores)

    Returns
    -------
    {column: list} with N entries each (see :func:`.combine.build_table`)
    """
    n = run.n
    k = config.k
    _check_k(config, n)
    P = np.asarray(run.probabilities, np.float32)
    n_classes = P.shape[1]
    predictions = np.asarray(run.predictions, np.int64)
    class_names = list(run.class_names) or [str(c) for c in range(n_classes)]
    in_range = labels_match_model and (labels >= 0).all() and (labels < n_classes).all()
    fit_labels = labels if in_range else predictions
    arrays = {name: run.activations(name) for name in layers}
    logits_layer = out.find_logits_layer(arrays, predictions, n_classes)
    space_layers = [name for name in layers if name != logits_layer] or list(layers)
    late = space_layers[-1]
    steps = len(layers) + 3
    cols: dict[str, object] = {}
    label_layers = [late] + ([logits_layer] if logits_layer else [])
    k_search = max(k, config.label_k)
    reference = None
    if n > config.exact_max:
        reference = np.sort(np.random.default_rng(config.seed).choice(n, config.exact_max, replace=False))
    knn_shares, maha_ranks, maha_scores = {}, {}, []
    late_neighbours = None
    for i, name in enumerate(layers):
        check_cancelled(should_cancel, "anomaly scores")
        report(progress, i, steps, f"neighbours and distances in {name}")
        X = arrays[name]
        if name in label_layers:
            U = unit_rows(X)
            sims, index = knn(U, k_search, reference=reference, should_cancel=should_cancel, scheduler=scheduler)
            knn_shares[name] = lab.knn_label_distribution(index[:, :config.label_k], fit_labels, n_classes)
            if name == late:
                cols["outlier_knn"] = out.rank01(out.knn_distance(sims[:, :k]))
                late_neighbours = (sims, index) if reference is None else projection_neighbours(U, seed=config.seed)
            del U
        if name in space_layers:
            maha = out.mahalanobis_distance(X, fit_labels)
            maha_scores.append(maha)
            maha_ranks[name] = out.rank01(maha)
            cols[f"outlier_mahalanobis_{name}"] = maha
    report(progress, len(layers), steps, "label probes")
    # -- labels -----------------------------------------------------------------------------
    knn_p = lab.smooth_shares(np.mean([knn_shares[name] for name in label_layers], axis=0), config.label_k)
    graph_evidence = None
    graph_layer = graph_layer or late
    try:
        graph = run.graph(graph_layer)
        graph_evidence = topo.mapper_evidence(graph, fit_labels, predictions, n_classes)
    except (FileNotFoundError, KeyError, ValueError) as error:
        log.info("no Mapper evidence for %s: %s", graph_layer, error)
    if "label_issue" in kinds:
        probe_p = None
        if config.label_method in ("ensemble", "probe"):
            probe_p = lab.probe_probabilities([arrays[name] for name in layers], labels, n_classes,
                                              folds=config.folds, max_rows=config.probe_max_rows,
                                              seed=config.seed,
                                              progress=Stage(progress, len(layers) / steps,
                                                             (len(layers) + 1) / steps, "label probes"),
                                              should_cancel=should_cancel)
            cols["label_issue_probe"] = lab.self_confidence_score(probe_p, labels)
        cols["label_issue_model"] = lab.self_confidence_score(P, labels)
        cols["label_issue_knn"] = lab.self_confidence_score(knn_p, labels)
        sources = {"model": [P], "knn": [knn_p], "probe": [probe_p],
                   "ensemble": [P, probe_p, knn_p]}[config.label_method]
        p_label = lab.geometric_label_probability(sources, labels)
        if graph_evidence is not None:
            share = graph_evidence["node_label_share"]
            cols["label_issue_topology"] = np.where(graph_evidence["in_graph"],
                                                    lab.self_confidence_score(share, labels), np.nan)
            if config.topology_weight > 0:
                w = np.where(graph_evidence["in_graph"] & (share.sum(1) > 0), config.topology_weight, 0.0)
                p_label = (1 - w) * p_label + w * share[np.arange(n), labels]
        cols["label_issue"] = np.clip(1.0 - p_label, 0.0, 1.0)
        reasons = lab.label_reasons(labels, class_names, {late: knn_shares[late]}, config.label_k, P, probe_p,
                                    np.arange(n))
        cols["reason_label"] = [reasons[i] for i in range(n)]
    else:
        cols["label_issue"] = np.full(n, np.nan)
        cols["reason_label"] = [""] * n
    report(progress, len(layers) + 1, steps, "outliers")
    check_cancelled(should_cancel, "anomaly scores")
    # -- outliers ---------------------------------------------------------------------------
    cols["outlier_max_softmax"] = out.max_softmax(P)
    cols["outlier_energy"] = (out.energy(np.asarray(arrays[logits_layer])) if logits_layer
                              else np.full(n, np.nan))
    if logits_layer is None:
        log.info("energy score left out: no stored layer holds the logits (stored probabilities "
                 "fix the logits only up to a per-row constant, which is the energy itself)")
    cols["outlier_mahalanobis"] = out.combine_ranks(maha_scores)
    method = config.outlier_method
    if method == "combined":
        logit_score = cols["outlier_energy"] if logits_layer else cols["outlier_max_softmax"]
        score = out.combine_max_z(maha_scores, np.asarray(logit_score, np.float64))  # see outliers.py
    else:
        score = out.rank01(np.asarray(cols[f"outlier_{method}"], np.float64))
        if np.isnan(score).all():
            raise InvalidParameterError(f"outlier_method={method!r} needs a stored logits layer; this run has none")
    cols["outlier"] = score
    logit_name = "energy" if logits_layer else "max-softmax"
    logit_column = cols["outlier_energy" if logits_layer else "outlier_max_softmax"]
    cols["reason_outlier"] = (outlier_reasons(maha_ranks, score, logit_column, logit_name)
                              if "outlier" in kinds else [""] * n)
    if "outlier" not in kinds:
        cols["outlier"] = np.full(n, np.nan)
    report(progress, len(layers) + 2, steps, "duplicates")
    # -- duplicates -------------------------------------------------------------------------
    if "duplicate" in kinds:
        sims, index = late_neighbours
        image = run.image if config.exact_duplicates else None
        groups = dup.duplicate_groups(sims, index, threshold=config.duplicate_similarity, image=image)
        cols["duplicate"] = groups["score"]
        cols["duplicate_of"] = groups["duplicate_of"]
        cols["duplicate_group"] = groups["group"]
        cols["exact_duplicate"] = groups["exact"]
        cols["reason_duplicate"] = duplicate_reasons(groups["duplicate_of"], groups["exact"],
                                                     groups["score"], late)
    else:
        cols["duplicate"] = np.full(n, np.nan)
        cols["duplicate_of"] = np.full(n, -1)
        cols["duplicate_group"] = np.full(n, -1)
        cols["exact_duplicate"] = np.zeros(n, bool)
        cols["reason_duplicate"] = [""] * n
    # -- topology ---------------------------------------------------------------------------
    if graph_evidence is not None:
        cols["node"] = graph_evidence["node"]
        cols["node_layer"] = [graph_layer] * n
        cols["isolated"] = graph_evidence["isolated"]
        reasons = topo.topology_reasons(graph_evidence, fit_labels, class_names, graph_layer, range(n))
        cols["reason_topology"] = [reasons[i] for i in range(n)]
    else:
        cols["node"] = np.full(n, -1)
        cols["node_layer"] = [""] * n
        cols["isolated"] = np.zeros(n, bool)
        cols["reason_topology"] = [""] * n
    cols["row"] = np.arange(n)
    cols["id"] = [str(i) for i in run.ids]
    cols["path"] = [p or "" for p in run.paths]
    cols["label_index"] = labels
    cols["prediction_index"] = predictions
    report(progress, steps, steps, "done")
    return {name: _jsonable(values) for name, values in cols.items()}


def _jsonable(values):
    array = np.asarray(values)
    if array.dtype.kind == "f":
        return [None if not np.isfinite(v) else float(v) for v in array.tolist()]
    return array.tolist()


def _from_json(columns: dict) -> dict:
    out_cols = {}
    for name, values in columns.items():
        if values and isinstance(values[0], (float, type(None))) and not isinstance(values[0], bool):
            out_cols[name] = np.array([np.nan if v is None else v for v in values], np.float64)
        else:
            out_cols[name] = values
    return out_cols


def anomalies(run, layers: Optional[Iterable[str]] = None, *, kinds: Sequence[str] = KINDS,
              labels: Optional[np.ndarray] = None, config: Optional[AnomalyConfig] = None,
              thresholds: Optional[dict] = None, graph_layer: Optional[str] = None, cache: bool = True,
              progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
              scheduler: Any = None, **params) -> pd.DataFrame:
    """Score every image of a run for label issues, outliers and duplicates.

    Parameters
    ----------
    run : a :class:`topoact.store.Run` (or a path to one)
    layers : layers to use (default: all stored layers); unknown -> ``UnknownLayerError``
    kinds : which scores to compute (``label_issue``, ``outlier``, ``duplicate``)
    labels : (N,) int labels to judge instead of the stored ones (e.g. after relabelling)
    config : an :class:`~topoact.anomaly.params.AnomalyConfig`; or give its fields as keywords
        (``k=20``, ``label_method="probe"``)
    thresholds : per-kind flag thresholds (default
        :data:`~topoact.anomaly.params.DEFAULT_THRESHOLDS`)
    graph_layer : layer whose saved Mapper graph gives the topological evidence (default: the
        late layer; no graph saved = no evidence)
    cache : read / write the columns in the run (``<run>/anomalies/``)
    progress, should_cancel : the :mod:`topoact.progress` protocol
    scheduler : str or distributed.Client, optional
        Run the k-NN blocks as Dask tasks (same scores; not part of the cache key). None: the
        block's :func:`topoact.distributed.use_scheduler`, else in-process.

    Returns
    -------
    pandas.DataFrame, one row per image, sorted by ``label_issue`` descending; columns ``row, id,
    path, label, prediction, label_issue, outlier, duplicate_of, reason`` first, then the flags
    (``is_label_issue``, ``is_outlier``, ``is_duplicate``), ``duplicate`` (score),
    ``duplicate_group``, ``exact_duplicate``, ``node`` / ``node_layer`` (Mapper node of the image),
    and the single scores (``label_issue_model|probe|knn|topology``, ``outlier_knn``,
    ``outlier_mahalanobis``, ``outlier_max_softmax``, ``outlier_energy``). Scores are in [0, 1]
    (higher = more suspicious) except the raw per-layer distances ``outlier_mahalanobis_<layer>``.

    Examples
    --------
    >>> table = topoact.anomalies(topoact.open_run("runs/r20"), layers=["layer3"])  # doctest: +SKIP
    >>> table.head(20)[["row", "label", "prediction", "label_issue", "reason"]]    # doctest: +SKIP
    """
    run, config, kinds, chosen, given, store, key = _prepare(run, layers, kinds, labels, config, graph_layer,
                                                             cache, params)
    names = _names(run, labels is None)
    if store is not None:
        hit = store.load(chosen, key)
        if hit is not None:
            report(progress, 1, 1, "cached")
            return build_table(_from_json(hit["columns"]), names, thresholds)
    columns = compute_columns(run, chosen, given, config, kinds, graph_layer=graph_layer,
                              progress=progress, should_cancel=should_cancel, scheduler=scheduler,
                              labels_match_model=labels is not None or getattr(run, "labels_match_model", True))
    if store is not None:
        store.save(chosen, key, {"params": config.to_dict(), "layers": chosen, "columns": columns})
    return build_table(_from_json(columns), names, thresholds)


def cached_anomalies(run, layers: Optional[Iterable[str]] = None, *, kinds: Sequence[str] = KINDS,
                     labels: Optional[np.ndarray] = None, config: Optional[AnomalyConfig] = None,
                     thresholds: Optional[dict] = None, graph_layer: Optional[str] = None,
                     **params) -> Optional[pd.DataFrame]:
    """The table :func:`anomalies` would return, read from the run's cache; None when not cached.

    Never computes (so it is safe where a long computation must not run, e.g. an app's server
    process). Parameters as in :func:`anomalies`.

    Returns
    -------
    pandas.DataFrame or None
    """
    run, config, kinds, chosen, given, store, key = _prepare(run, layers, kinds, labels, config, graph_layer,
                                                             True, params)
    hit = store.load(chosen, key)
    if hit is None:
        return None
    return build_table(_from_json(hit["columns"]), _names(run, labels is None), thresholds)


def anomaly_key(run, layers: Optional[Iterable[str]] = None, *, kinds: Sequence[str] = KINDS,
                labels: Optional[np.ndarray] = None, config: Optional[AnomalyConfig] = None,
                graph_layer: Optional[str] = None, **params) -> str:
    """Cache key of the table :func:`anomalies` computes with these arguments (16 hex digits).

    It changes when the parameters, the labels, the model or the Mapper graph giving the
    topological evidence change.
    """
    return _prepare(run, layers, kinds, labels, config, graph_layer, True, params)[-1]


def run_kinds(run) -> tuple[str, ...]:
    """The score kinds a run supports without extra input: all of :data:`KINDS`, less
    ``label_issue`` when its labels index other classes than the model's (``labels_match_model``)."""
    if getattr(run, "labels_match_model", True):
        return tuple(KINDS)
    return tuple(kind for kind in KINDS if kind != "label_issue")


def _prepare(run, layers, kinds, labels, config, graph_layer, cache: bool, params: dict) -> tuple:
    """Validated ``(run, config, kinds, layers, labels, store, key)`` of a call (store/key None
    without cache)."""
    if isinstance(run, (str, bytes)) or hasattr(run, "__fspath__"):
        from ..store import open_run
        run = open_run(run)
    if config is None:
        config = AnomalyConfig.from_dict(params)
    elif params:
        config = config.replace(**params)
    kinds = tuple(kinds)
    for kind in kinds:
        if kind not in KINDS:
            raise InvalidParameterError(f"unknown anomaly kind {kind!r}; choose from {', '.join(KINDS)}")
    if labels is None and "label_issue" in kinds and not getattr(run, "labels_match_model", True):
        raise InvalidParameterError(
            f"run {getattr(run, 'path', '')}: the data set's classes were not matched onto the model's "
            "(labels and predictions index different classes), so label issues cannot be judged; pass "
            "labels=... in the model's classes or leave 'label_issue' out of kinds")
    chosen = _check_layers(run, layers)
    n_classes = np.asarray(run.probabilities).shape[1]
    given = _check_labels(run, labels, n_classes, kinds)
    _check_k(config, run.n)
    store = key = None
    if cache:
        store = ResultCache(run, KIND, VERSION)
        key = store.key(chosen, {"config": config.to_dict(), "kinds": sorted(kinds),
                                 "labels": array_hash(given), "graph_layer": graph_layer,
                                 "graph": _graph_key(run, graph_layer or chosen[-1])})
    return run, config, kinds, chosen, given, store, key


def _names(run, stored_labels: bool) -> dict[str, list[str]]:
    """Names of the label and prediction indices: the run's ``label_names`` for its stored labels
    (the data set's own names when its classes were not matched onto the model's), the model's
    ``class_names`` for predictions and for labels the caller gave."""
    n_classes = np.asarray(run.probabilities).shape[1]
    classes = list(run.class_names) or [str(c) for c in range(n_classes)]
    label_names = list(getattr(run, "label_names", None) or []) if stored_labels else []
    return {"label": label_names or classes, "prediction": classes}


def _graph_key(run, layer: str):
    """Key of the graph the topological evidence would come from (None when none is saved)."""
    try:
        graph = run.graph(layer)
    except (FileNotFoundError, KeyError, ValueError):
        return None
    graph = graph.to_dict() if hasattr(graph, "to_dict") else graph
    return graph.get("key")
