"""Mapper on a run directory: normalised parameters, cache keys, build / sweep / locate.

Used by the CLI and the Dash app (recompute from the UI, sweep table, attaching new images).

``mapper_params(...)`` returns the normalised JSON-able parameter dict; ``graph_key(params)``
is its ``stable_hash``; ``build_run_graph(run, layer, params)`` returns the saved graph when
that key exists, else fits, saves (``run.save_graph``, with node means) and returns it.

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

import numpy as np

from ..hashing import stable_hash
from .cluster import DBSCAN, SingleLinkage
from .cover import make_cover
from .lens import ArrayLens, KNNDistance, L1Norm, L2Norm, PCALens, PredictionLens, UMAPLens
from .pipeline import Mapper
from .stats import periods_from_meta

logger = logging.getLogger(__name__)

__all__ = ["mapper_params", "graph_key", "mapper_from_params", "build_run_graph", "sweep_run",
           "locate_points"]

LENSES = ("l2", "l1", "pca", "pca2", "knn", "umap", "maxprob", "entropy", "class")


def mapper_params(lens="l2", cover="uniform", intervals=10, overlap=0.3, clusterer="dbscan",
                  eps="auto", eps_scale=1.0, min_samples=3, metric="euclidean",
                  backend="topoact", knn_k=5, class_index=None, threshold=None) -> dict:
    """Normalised, validated, JSON-able Mapper parameters (the input of ``graph_key``)."""
    if lens not in LENSES:
        raise ValueError(f"unknown lens {lens!r}; choose from {', '.join(LENSES)}")
    if cover not in ("uniform", "balanced"):
        raise ValueError(f"unknown cover {cover!r}; choose uniform or balanced")
    if clusterer not in ("dbscan", "single"):
        raise ValueError(f"unknown clusterer {clusterer!r}; choose dbscan or single")
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be euclidean or cosine, got {metric!r}")
    if backend not in ("topoact", "kmapper"):
        raise ValueError(f"backend must be topoact or kmapper, got {backend!r}")
    intervals = int(intervals)
    overlap = float(overlap)
    if intervals < 1:
        raise ValueError(f"intervals must be >= 1, got {intervals}")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap must be in [0, 1], got {overlap}")
    lens_d: dict = {"name": lens}
    if lens == "knn":
        lens_d["k"] = int(knn_k)
    if lens == "class":
        if class_index is None:
            raise ValueError("lens 'class' needs class_index")
        lens_d["class_index"] = int(class_index)
    cl: dict = {"name": clusterer, "metric": metric}
    if clusterer == "dbscan":
        if isinstance(eps, str) and eps != "auto":
            try:
                eps = float(eps)
            except ValueError:
                raise ValueError(f"eps must be a number or 'auto', got {eps!r}") from None
        if not isinstance(eps, str) and not float(eps) > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        cl.update(eps="auto" if eps == "auto" else float(eps), eps_scale=float(eps_scale),
                  min_samples=int(min_samples))
    else:
        cl["threshold"] = None if threshold is None else float(threshold)
    return {"lens": lens_d, "cover": {"name": cover, "intervals": intervals, "overlap": overlap},
            "clusterer": cl, "backend": backend}


def graph_key(params: dict) -> str:
    """Stable cache key of normalised params."""
    return stable_hash(params)


def _lens(p: dict):
    name = p["name"]
    if name == "l2":
        return L2Norm()
    if name == "l1":
        return L1Norm()
    if name in ("pca", "pca2"):
        return PCALens(1 if name == "pca" else 2)
    if name == "knn":
        return KNNDistance(p.get("k", 5))
    if name == "umap":
        return UMAPLens()
    if name == "maxprob":
        return PredictionLens("max")
    if name == "entropy":
        return PredictionLens("entropy")
    return PredictionLens("class", class_index=p["class_index"])


def mapper_from_params(params: dict, n_jobs: int = 2) -> Mapper:
    """A ``Mapper`` configured from ``mapper_params`` output."""
    lens = _lens(params["lens"])
    n_dims = 2 if params["lens"]["name"] == "pca2" else 1
    cv = params["cover"]
    cover = make_cover(cv["name"], cv["intervals"], cv["overlap"], n_dims)
    cl = params["clusterer"]
    if cl["name"] == "dbscan":
        clusterer = DBSCAN(eps=cl["eps"], metric=cl["metric"], min_samples=cl["min_samples"],
                           eps_scale=cl["eps_scale"])
    else:
        clusterer = SingleLinkage(threshold=cl["threshold"], metric=cl["metric"])
    return Mapper(lens, cover, clusterer, n_jobs=n_jobs, backend=params.get("backend", "topoact"))


def _run_context(run):
    def get(name):
        try:
            return getattr(run, name)
        except (FileNotFoundError, KeyError, AttributeError):
            return None
    kinds = get("attribute_kinds") or {}
    meta = get("attributes_meta")
    if meta is None:                        # older runs / fakes: read meta.json's entry
        meta = (getattr(run, "meta", None) or {}).get("attributes_meta")
    if callable(meta):
        meta = meta()
    return {"labels": get("labels"), "predictions": get("predictions"),
            "attributes": get("attributes") or {},
            "attribute_kinds": kinds,
            "attribute_periods": periods_from_meta(meta or {}, kinds),
            "probabilities": get("probabilities")}


def build_run_graph(run, layer: str, params: dict, *, progress=None, should_cancel=None,
                    n_jobs: int = 2) -> dict:
    """Graph dict of ``layer`` for ``params`` (cached in the run by ``graph_key(params)``)."""
    key = graph_key(params)
    if key in run.graph_keys(layer):
        logger.info("graph %s of layer %s found in cache", key, layer)
        return run.graph(layer, key)
    X = run.activations(layer)
    ctx = _run_context(run)
    mapper = mapper_from_params(params, n_jobs=n_jobs)
    graph = mapper.fit(X, labels=ctx["labels"], predictions=ctx["predictions"],
                       attributes=ctx["attributes"], attribute_kinds=ctx["attribute_kinds"],
                       attribute_periods=ctx["attribute_periods"],
                       probabilities=ctx["probabilities"], progress=progress,
                       should_cancel=should_cancel, layer=layer, key=key)
    data = graph.to_dict()
    data["params"] = dict(params, eps_resolved=mapper.eps_,
                          timings={k: round(v, 4) for k, v in mapper.timings_.items()})
    run.save_graph(layer, data, key, graph.node_means)
    return run.graph(layer, key)


def sweep_run(run, layer: str, grid: dict | None = None, *, progress=None) -> list:
    """Sweep summaries (list of dicts, see ``sweep.sweep``) on a run's layer.

    ``grid`` keys: intervals, overlaps, eps_scales (lists), lens, cover, metric, min_samples,
    eps. Each summary also carries ``params`` (``mapper_params`` of that setting) and ``key``,
    so the app can build / open that graph with ``build_run_graph``.
    """
    from .sweep import sweep

    grid = dict(grid or {})
    lens_name = grid.pop("lens", "l2")
    cover = grid.pop("cover", "uniform")
    metric = grid.pop("metric", "euclidean")
    min_samples = int(grid.pop("min_samples", 3))
    eps = grid.pop("eps", None)
    eps = None if eps in (None, "auto") else float(eps)
    intervals = grid.pop("intervals", (20, 40, 60))
    overlaps = grid.pop("overlaps", grid.pop("overlap", (0.2, 0.3)))
    scales = grid.pop("eps_scales", grid.pop("eps_scale", (1.0, 1.25)))
    if grid:
        raise ValueError(f"unknown sweep grid keys: {sorted(grid)}")
    ctx = _run_context(run)
    X = run.activations(layer)
    res = sweep(X, intervals, overlaps, scales, lens=_lens({"name": lens_name}), cover=cover,
                metric=metric, min_samples=min_samples, eps=eps, labels=ctx["labels"],
                predictions=ctx["predictions"], probabilities=ctx["probabilities"],
                progress=progress)
    for r in res:
        p = mapper_params(lens=lens_name, cover=cover, intervals=r["intervals"],
                          overlap=r["overlap"], eps="auto" if eps is None else eps,
                          eps_scale=r["eps_scale"], min_samples=min_samples, metric=metric)
        r["params"] = p
        r["key"] = graph_key(p)
    return res


def locate_points(run, layer: str, graph_dict: dict, vectors, probabilities=None) -> list:
    """Node ids each new activation vector (M, D) falls into (module docstring rule)."""
    params = graph_dict["params"]
    V = np.atleast_2d(np.asarray(vectors, np.float32))
    X = run.activations(layer)
    if V.shape[1] != X.shape[1]:
        raise ValueError(f"vectors have dimension {V.shape[1]}, layer {layer!r} has {X.shape[1]}")
    mapper = mapper_from_params({k: params[k] for k in ("lens", "cover", "clusterer")})
    lens = mapper._steps()[0]
    if isinstance(lens, (UMAPLens, ArrayLens)):
        raise ValueError(f"cannot place new points with a {lens.name} lens")
    ctx = _run_context(run)
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
    cover = mapper.cover.fit(run_lens)
    cl = params["clusterer"]
    metric = cl["metric"]
    eps = params.get("eps_resolved") if cl["name"] == "dbscan" else None
    if cl["name"] == "dbscan" and eps is None:
        eps = float(cl["eps"])
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
