"""Run-level persistence: what the CLI and the app call.

``layer_persistence(run, layer, ...)`` = landmarks -> sparse Rips (:mod:`.rips`) -> bootstrap band
-> summaries, barcodes, landscapes, representative cycles; a JSON-able dict cached as
``run.results_dir('persistence') / f'{layer}-{key}.json'`` where ``key =
stable_hash((layer, params, model hash, n rows))``. ``progress(fraction, message)`` is called
between steps and ``should_cancel()`` polled (raises :class:`Cancelled`).

Landmarks clamp: if the layer has fewer rows than ``n_landmarks``, all rows are used and a
warning is logged (see :mod:`.landmarks`).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from ..hashing import stable_hash
from ._validation import Cancelled, check_cancel, check_points  # noqa: F401 (re-export)
from .bootstrap import bottleneck_bootstrap
from .cycles import representative_cycles
from .distances import distance_matrix
from .landmarks import Landmarks
from .rips import sparse_rips
from .summaries import (as_diagram, barcode, diagram_to_json, landscape, scalar_summaries,
                        significant_mask)

log = logging.getLogger(__name__)
VERSION = 1


def _model_hash(run):
    meta = getattr(run, "meta", {}) or {}
    model = meta.get("model", {}) if isinstance(meta.get("model"), dict) else {}
    return model.get("hash") or meta.get("model_hash")


def persistence_key(run, layer, params) -> str:
    return stable_hash({"layer": layer, "params": params, "model": _model_hash(run),
                        "n": int(getattr(run, "n", 0) or 0), "v": VERSION})


def _cache_path(run, layer, key) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in layer)
    return Path(run.results_dir("persistence")) / f"{safe}-{key}.json"


def compute_persistence(X, *, n_landmarks=1000, metric="euclidean", max_dim=1, pca=None,
                        n_bootstrap=20, alpha=0.05, seed=0, threshold="auto",
                        landmark_method="maxmin", progress=None, should_cancel=None) -> dict:
    """The whole pipeline on an array (n, d); same output as :func:`layer_persistence`."""
    def report(f, msg):
        if progress is not None:
            progress(float(f), msg)
        check_cancel(should_cancel)

    X = check_points(X, name="activations")
    timings = {}
    t0 = time.perf_counter()
    report(0.0, "selecting landmarks")
    lm = Landmarks(n_landmarks, method=landmark_method, metric=metric, pca=pca, seed=seed).fit(X)
    P = lm.points_
    check_points(P, name="landmark points")
    timings["landmarks"] = time.perf_counter() - t0
    report(0.1, f"persistence of {len(P)} landmarks")
    t0 = time.perf_counter()
    res = sparse_rips(P, metric=metric, max_dim=max_dim, threshold=threshold, seed=seed,
                      should_cancel=should_cancel, keep_edges=True)
    timings["persistence"] = time.perf_counter() - t0
    timings.update({f"persistence_{k}": v for k, v in res.timings.items()})
    T = res.threshold if max_dim >= 1 else res.enclosing_radius
    clip = max(T, res.enclosing_radius if max_dim == 0 else T)

    band = [None] * (max_dim + 1)
    boot = None
    if n_bootstrap:
        report(0.4, "bootstrap")
        t0 = time.perf_counter()
        # exact full diagram: resamples use the certified 'auto' policy (exact too); else the
        # same truncation threshold, so full and resampled diagrams are comparable
        fixed = T if (max_dim >= 1 and not res.exact) else ("auto" if max_dim == 1 else
                                                             "enclosing")

        def diagram_fn(Q):
            return sparse_rips(Q, metric=metric, max_dim=max_dim, threshold=fixed,
                               seed=seed).diagrams

        def sub(f, msg):
            report(0.4 + 0.5 * f, msg)

        # the H0 infinite bar is compared clipped at the enclosing radius (both have exactly one)
        boot = bottleneck_bootstrap(P, diagram_fn, res.diagrams, n_bootstrap=n_bootstrap,
                                    alpha=alpha, seed=seed, clip=clip, metric=metric, progress=sub,
                                    should_cancel=should_cancel)
        band = boot["band"]
        timings["bootstrap"] = time.perf_counter() - t0
    report(0.9, "summaries")
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
    out = {
        "version": VERSION,
        "n_points": int(X.shape[0]), "n_features": int(X.shape[1]),
        "landmarks": lm.indices_.tolist(),
        "covering_radius": lm.covering_radius_,
        "diagrams": [diagram_to_json(d) for d in dgms],
        "bars": bars,
        "band": band,
        "bootstrap": None if boot is None else {k: boot[k] for k in ("c", "alpha", "n_bootstrap")},
        "summaries": scalar_summaries(dgms, band, clip),
        "landscapes": {str(d): landscape(dgms[d], threshold=clip).tolist()
                       for d in range(1, max_dim + 1)},
        "cycles": cycles,
        "threshold": float(T), "enclosing_radius": float(res.enclosing_radius),
        "exact": res.exact, "n_truncated": res.n_truncated,
        "n_edges": res.n_edges, "n_simplices": res.n_simplices,
        "timings": timings,
    }
    report(1.0, "done")
    return out


def layer_persistence(run, layer, *, n_landmarks=1000, metric="euclidean", max_dim=1, pca=None,
                      n_bootstrap=20, alpha=0.05, seed=0, threshold="auto",
                      landmark_method="maxmin", progress=None, should_cancel=None,
                      recompute=False) -> dict:
    """Persistence summary of one layer of a run, cached in ``run.results_dir('persistence')``.

    Returns
    -------
    dict (JSON-able): ``diagrams`` (per dim, [[birth, death|null]]), ``bars``, ``band`` (2c per
    dim), ``summaries``, ``landscapes``, ``landmarks`` (row indices), ``cycles`` (vertices =
    landmark positions, rows = run rows), ``params``, ``key``, ``timings``, ``cached``.
    """
    if layer not in list(run.layers):
        raise ValueError(f"unknown layer {layer!r}; the run has {list(run.layers)}")
    params = {"n_landmarks": int(n_landmarks), "metric": metric, "max_dim": int(max_dim),
              "pca": pca, "n_bootstrap": int(n_bootstrap), "alpha": float(alpha),
              "seed": int(seed), "threshold": threshold, "landmark_method": landmark_method}
    key = persistence_key(run, layer, params)
    path = _cache_path(run, layer, key)
    if path.exists() and not recompute:
        out = json.loads(path.read_text())
        out["cached"] = True
        if progress is not None:
            progress(1.0, "loaded from cache")
        return out
    X = run.activations(layer)
    out = compute_persistence(np.asarray(X), progress=progress, should_cancel=should_cancel,
                              **params)
    out.update({"layer": layer, "params": params, "key": key})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    out["cached"] = False
    return out


def layer_distance_matrix(runs, layers=None, *, dim=1, metric="bottleneck", progress=None,
                          should_cancel=None, point_metric=None, **persistence_params) -> dict:
    """Diagram distances between layers of one run, or the same layers across runs.

    Parameters
    ----------
    runs : a run or a list of runs; with one run the result is (L, L) over its layers, with
        two or more the rows/columns are all (run, layer) pairs (the cross blocks compare the
        same layer across models)
    layers : list of layer names (default: all of the first run's layers)
    dim : homology dimension compared
    metric : the diagram distance, 'bottleneck' or 'wasserstein'
    point_metric : the metric of the activation vectors passed to :func:`layer_persistence` as
        its ``metric`` ('euclidean' or 'cosine'; None = its default)
    **persistence_params : other keyword arguments of :func:`layer_persistence`

    Returns
    -------
    {"labels": ["run0:layer", ...], "matrix": [[...]], "dim", "metric"}
    """
    runs = runs if isinstance(runs, (list, tuple)) else [runs]
    layers = list(layers) if layers is not None else list(runs[0].layers)
    if point_metric is not None:
        persistence_params["metric"] = point_metric
    items = [(r, k, layer) for k, r in enumerate(runs) for layer in layers]
    dgms, labels = [], []
    for n, (r, k, layer) in enumerate(items):
        check_cancel(should_cancel)
        res = layer_persistence(r, layer, should_cancel=should_cancel, **persistence_params)
        d = as_diagram(res["diagrams"][dim]) if dim < len(res["diagrams"]) else np.zeros((0, 2))
        d[np.isinf(d[:, 1]), 1] = res["threshold"] if dim > 0 else np.nan
        dgms.append(d[np.isfinite(d[:, 1])])
        labels.append(layer if len(runs) == 1 else f"run{k}:{layer}")
        if progress is not None:
            progress((n + 1) / len(items), f"persistence of {labels[-1]}")
    M = distance_matrix(dgms, metric=metric)
    return {"labels": labels, "matrix": M.tolist(), "dim": dim, "metric": metric}


def load_persistence(run, layer, key) -> dict:
    """A cached :func:`layer_persistence` result by its key (``FileNotFoundError`` if absent)."""
    path = _cache_path(run, layer, key)
    if not path.exists():
        raise FileNotFoundError(f"no cached persistence result {key!r} for layer {layer!r}")
    out = json.loads(path.read_text())
    out["cached"] = True
    return out


def cached_persistence(run, layer=None) -> list[dict]:
    """The persistence results cached in the run, newest first, without loading them fully.

    Returns
    -------
    list of {"layer", "key", "path", "mtime"}; ``layer`` filters to one layer. The layer of a
    file is read from its JSON only when its name is ambiguous (not needed in practice: file
    names are ``<safe layer>-<key>.json`` and keys contain no '-').
    """
    root = Path(run.results_dir("persistence"))
    if not root.is_dir():
        return []
    layers = list(run.layers) if layer is None else [layer]
    out = []
    for lay in layers:
        safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in lay)
        for path in root.glob(f"{safe}-*.json"):
            key = path.stem[len(safe) + 1:]
            if "-" in key or _cache_path(run, lay, key) != path:
                continue  # another layer whose safe name starts with this one
            out.append({"layer": lay, "key": key, "path": str(path),
                        "mtime": path.stat().st_mtime})
    return sorted(out, key=lambda e: -e["mtime"])


# -- Mapper-graph persistence with bootstrap significance ----------------------------------------

def mapper_rebuild(run, layer, graph, *, n_jobs=1):
    """``rebuild(indices) -> graph dict`` for :func:`graph_bootstrap`, from a saved graph's params.

    The resampled rows ``X[indices]`` (duplicates kept) go through the same Mapper
    (:func:`topoact.mapper.run_graphs.mapper_from_params`) with the graph's saved parameters,
    with two choices that make the bootstrap measure *sampling* variability, not parameter
    re-estimation: DBSCAN's eps is fixed to the graph's resolved eps (``eps_resolved``, no
    re-estimated knee), and the lens is the one fitted on the whole layer, evaluated on the
    resampled rows (a PCA lens is not refitted). The cover is refitted on the resampled lens
    values, as Mapper does.
    """
    from ..mapper.run_graphs import _run_context, mapper_from_params

    params = graph.get("params") or {}
    missing = [k for k in ("lens", "cover", "clusterer") if k not in params]
    if missing:
        raise ValueError(f"graph has no saved Mapper params {missing}; build it with "
                         "topoact.mapper.run_graphs.build_run_graph")
    p = {k: params[k] for k in ("lens", "cover", "clusterer")}
    p["backend"] = params.get("backend", "topoact")
    cl = dict(p["clusterer"])
    if cl.get("name") == "dbscan" and params.get("eps_resolved") is not None:
        cl.update(eps=float(params["eps_resolved"]), eps_scale=1.0)
    p["clusterer"] = cl
    X = run.activations(layer)
    ctx = _run_context(run)
    lens_full = mapper_from_params(p, n_jobs=n_jobs).compute_lens(
        X, probabilities=ctx["probabilities"])

    def rebuild(indices):
        idx = np.asarray(indices, np.int64)
        mapper = mapper_from_params(p, n_jobs=n_jobs)
        mapper.compute_node_means = False
        g = mapper.fit(np.asarray(X[idx]),
                       lens_values=lens_full[idx])
        return g.to_dict()

    return rebuild


def mapper_graph_persistence(run, layer, key=None, n_bootstrap=20, *, alpha=0.05, seed=0,
                             lens_index=0, n_jobs=1, progress=None, should_cancel=None,
                             recompute=False) -> dict:
    """Extended persistence of a saved Mapper graph with bootstrap significance (cached).

    Parameters
    ----------
    run : run with ``graph(layer, key)``, ``activations(layer)`` and ``results_dir(kind)``
    layer : layer name; key : graph key (None = the layer's default graph)
    n_bootstrap : resamples B (0 = diagrams only, no significance)

    Returns
    -------
    dict (JSON-able): ``diagrams`` {family: [[lens_min, lens_max], ...]} (families of
    :mod:`.graph_persistence`), ``features`` (longest first, each with ``significant``),
    ``c``, ``band`` (= 2c, lens units; None without bootstrap), ``distances``, ``graph_key``,
    ``n_bootstrap``, ``alpha``, ``cached``. Cached as
    ``run.results_dir('graph_persistence') / f'{layer}-{graph_key}-{hash}.json'``.
    """
    from .graph_persistence import extended_diagrams, graph_bootstrap, graph_features

    if layer not in list(run.layers):
        raise ValueError(f"unknown layer {layer!r}; the run has {list(run.layers)}")
    if int(n_bootstrap) < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    graph = run.graph(layer, key)
    gkey = graph.get("key") or key or "default"
    h = stable_hash({"graph": gkey, "B": int(n_bootstrap), "alpha": float(alpha),
                     "seed": int(seed), "lens_index": int(lens_index), "v": VERSION})
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in layer)
    path = Path(run.results_dir("graph_persistence")) / f"{safe}-{gkey}-{h}.json"
    if path.exists() and not recompute:
        out = json.loads(path.read_text())
        out["cached"] = True
        return out
    dgms = extended_diagrams(graph, lens_index=lens_index)
    out = {"layer": layer, "graph_key": gkey, "n_bootstrap": int(n_bootstrap),
           "alpha": float(alpha), "diagrams": {f: d.tolist() for f, d in dgms.items()}}
    if n_bootstrap:
        rebuild = mapper_rebuild(run, layer, graph, n_jobs=n_jobs)
        boot = graph_bootstrap(graph, rebuild, int(graph["n_points"]), n_bootstrap=n_bootstrap,
                               alpha=alpha, seed=seed, lens_index=lens_index, progress=progress,
                               should_cancel=should_cancel)
        out.update(c=boot["c"], band=boot["band"], distances=boot["distances"],
                   features=boot["features"])
    else:
        out.update(c=None, band=None, distances=[], features=graph_features(dgms, None))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    tmp.replace(path)
    out["cached"] = False
    return out
