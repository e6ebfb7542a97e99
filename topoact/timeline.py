"""The timeline of a series: one layer's Mapper graphs over the checkpoints, lined up.

``build_timeline(series, layer)`` builds (or reads from each step's run) the layer's graph with
ONE configuration at every step, matches consecutive graphs node to node
(:func:`topoact.mapper.matching.match_graphs`), names splits / merges / births / deaths, lays the
graphs out so that a persisting node keeps its place, and adds per-step summaries:

* ``accuracy`` (predictions vs labels when the classes match the model), ``probe_accuracy``
  (the class probe's held-out accuracy when probes were computed for the step, else None);
* Mapper: ``nodes``, ``edges``, ``components``, ``loops`` (independent cycles), ``purity``
  (size-weighted share of the majority label), ``coverage``;
* persistence of the layer's point cloud (landmarks, no bootstrap; optional): the summaries of
  H0 / H1 and the bottleneck distance of the H1 diagram to the previous step's.

Layout: the first step keeps its stored layout; step t starts from step t-1's aligned positions
(``layout_graph(previous=...)`` keeps matched nodes in place and starts the others next to
their matched neighbours) and a persisting node is then pulled back to within ``max_motion``
layout units of where it was (so positions of persisting nodes move by at most that bound).

Embeddings for a linked scatter view: :func:`aligned_embeddings` projects each step on its two
principal components and rotates / reflects / scales them onto the previous step's
(orthogonal Procrustes on the same rows), so a point cloud that did not change does not jump.

The result (:class:`Timeline`, JSON: ``{"steps": [...], "matches": [{"from": [step, node],
"to": [step, node], "jaccard": j}], "events": [{"kind", "step", "from": [[step, node]...],
"to": [...]}], "layouts": {step: [[x, y]...]}, ...}``) is cached in ``<series>/timeline/``,
guarded by every step's layer fingerprint; ``topoact timeline SERIES --layer L --out FILE.json``
writes it.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from .fileio import read_json, safe_name, write_json
from .progress import CancelFn, ProgressFn, Stage, check_cancelled, report
from .results import Result

if TYPE_CHECKING:
    from .mapper.config import MapperConfig
    from .mapper.graph import MapperGraph
    from .mapper.matching import GraphMatching
    from .series import Series
    from .store import Run

__all__ = ["Timeline", "build_timeline", "load_timeline", "timeline_config", "align_layouts",
           "aligned_embeddings", "step_summary", "node_history", "DEFAULT_MAX_MOTION"]

log = logging.getLogger(__name__)

#: bound on the layout motion of a persisting node between two steps (layout units: ideal edge = 1)
DEFAULT_MAX_MOTION = 1.0
_CACHE_KIND = "timeline"


@dataclasses.dataclass
class Timeline(Result):
    """Per-step summaries, node matches, events and aligned layouts of one layer over a series.

    Attributes
    ----------
    layer : str
    key : str, the Mapper configuration's key (the graph of every step)
    params : dict, ``MapperConfig.to_dict()``
    steps : list of dict, one summary per step (:func:`step_summary`, plus ``step``)
    matches : list of dict ``{"from": [step, node], "to": [step, node], "jaccard": j}``
    events : list of dict ``{"kind", "step", "from": [[step, node], ...], "to": [...]}``
        (``step`` is the later step of the pair)
    layouts : dict ``str(step) -> [[x, y] per node]`` (aligned positions)
    max_motion : float, the motion bound of persisting nodes
    inputs : dict ``str(step) -> layer fingerprint`` the result was computed from
    """

    kind: ClassVar[str] = "timeline"
    schema_version: ClassVar[int] = 1

    layer: str
    key: str
    params: dict
    steps: list
    matches: list
    events: list
    layouts: dict
    max_motion: float = DEFAULT_MAX_MOTION
    inputs: dict = dataclasses.field(default_factory=dict)

    @property
    def step_numbers(self) -> list[int]:
        """The steps, in order."""
        return [int(s["step"]) for s in self.steps]

    def events_at(self, step: int, kind: str | None = None) -> list[dict]:
        """Events between the previous step and ``step`` (of one ``kind`` when given)."""
        return [e for e in self.events if e["step"] == int(step) and (kind is None or e["kind"] == kind)]


def timeline_config(series: "Series", layer: str) -> "MapperConfig":
    """The Mapper configuration a timeline uses by default: the last step's default graph's
    configuration when it has one (and it is not a UMAP lens: one UMAP fit per step is slow),
    else a 2-D PCA product cover of 12 intervals, overlap 0.3 (one of the automatic candidates).

    Parameters
    ----------
    series : Series
    layer : str

    Returns
    -------
    MapperConfig
    """
    from .mapper.config import MapperConfig

    last = series.run(series.steps[-1])
    key = last.default_graph_key(layer) if layer in last.layers else None
    if key is not None:
        config = last.graph(layer, key).config
        if config is not None and not config.lens.startswith("umap"):
            return config
    return MapperConfig(lens="pca2", n_intervals=12, overlap=0.3)


def _purity(graph: "MapperGraph") -> float | None:
    sizes = graph.sizes
    values = [(s.get("purity"), n) for s, n in zip(graph.stats, sizes) if s.get("purity") is not None]
    if not values:
        return None
    p, n = np.array(values, np.float64).T
    return float((p * n).sum() / n.sum())


def _probe_accuracy(run: "Run", layer: str) -> float | None:
    """The default class probe's accuracy when it was computed for this run (never computed here)."""
    from .observers.probes import CACHE_VERSION, ProbeConfig
    from .results import ResultCache

    try:
        store = ResultCache(run, "probes", CACHE_VERSION)
        data = store.load(layer, store.key(layer, ProbeConfig()))
    except (OSError, ValueError, KeyError):
        return None
    return None if data is None else float(data["accuracy"])


def step_summary(run: "Run", layer: str, graph: "MapperGraph", *, persistence: Any = None) -> dict:
    """Accuracy, probe accuracy, Mapper and persistence numbers of one step.

    Parameters
    ----------
    run : Run
    layer : str
    graph : MapperGraph of ``layer`` in ``run``
    persistence : PersistenceResult, optional

    Returns
    -------
    dict
        ``accuracy``, ``probe_accuracy``, ``nodes``, ``edges``, ``components``, ``loops``,
        ``purity``, ``coverage`` and, with ``persistence``, ``persistence`` (H0 / H1 summaries).
    """
    labels = run.labels
    accuracy = (float((run.predictions == labels).mean())
                if run.labels_match_model and len(labels) and (labels >= 0).all() else None)
    summary = graph.summary()
    out = {"accuracy": accuracy, "probe_accuracy": _probe_accuracy(run, layer),
           "nodes": summary["nodes"], "edges": summary["edges"], "components": summary["components"],
           "loops": summary["cycles"], "purity": _purity(graph),
           "coverage": summary["covered_points"] / max(graph.n_points, 1)}
    if persistence is not None:
        out["persistence"] = persistence.summaries
    return out


def align_layouts(graphs: Sequence["MapperGraph"], matchings: Sequence["GraphMatching"], *,
                  max_motion: float = DEFAULT_MAX_MOTION, min_jaccard: float = 0.3) -> list[np.ndarray]:
    """Node positions of consecutive graphs, each started from the previous one (module docstring).

    Parameters
    ----------
    graphs : list of MapperGraph (T), consecutive steps
    matchings : list of GraphMatching (T - 1), ``matchings[t]`` between graphs t and t + 1
    max_motion : float > 0
        Bound on the distance a matched (persisting) node moves between two steps.
    min_jaccard : float
        Member Jaccard index for the layout to keep a previous position.

    Returns
    -------
    list of (K_t, 2) float64 arrays
    """
    from .mapper.layout import GraphLayout, layout_graph

    if max_motion <= 0:
        raise ValueError(f"max_motion must be > 0, got {max_motion}")
    if len(matchings) != max(len(graphs) - 1, 0):
        raise ValueError(f"{len(matchings)} matchings for {len(graphs)} graphs; need one per consecutive pair")
    out: list[np.ndarray] = []
    previous = None
    for t, graph in enumerate(graphs):
        if t == 0:
            layout = graph.layout if graph.layout is not None else layout_graph(graph)
            pos = np.asarray(layout.positions, np.float64).copy()
        else:
            pos = layout_graph(graph, previous=previous, match_jaccard=min_jaccard).positions.astype(np.float64)
            for i, j in matchings[t - 1].pairs:
                delta = pos[j] - out[-1][i]
                dist = float(np.hypot(*delta))
                if dist > max_motion:
                    pos[j] = out[-1][i] + delta * (max_motion / dist)
        out.append(pos)
        previous = copy.copy(graph)
        previous.layout = GraphLayout(pos, np.zeros(len(pos), np.int64))
    return out


def _procrustes(Y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Y (N, 2) rotated / reflected / scaled and shifted onto ref (orthogonal Procrustes)."""
    from scipy.linalg import orthogonal_procrustes

    mu_y, mu_r = Y.mean(0), ref.mean(0)
    A, B = Y - mu_y, ref - mu_r
    R, scale = orthogonal_procrustes(A, B)
    norm = float((A ** 2).sum())
    s = scale / norm if norm > 0 else 1.0
    return A @ R * s + mu_r


def aligned_embeddings(runs: Sequence["Run"], layer: str) -> list[np.ndarray]:
    """2-D PCA embeddings of one layer in consecutive runs, each Procrustes-aligned to the previous.

    Parameters
    ----------
    runs : list of Run on the same rows (a series' runs)
    layer : str

    Returns
    -------
    list of (N, 2) float64 arrays
    """
    from .mapper.embedding import layer_embedding

    out: list[np.ndarray] = []
    for run in runs:
        Y = np.asarray(layer_embedding(run, layer, "pca"), np.float64)
        out.append(_procrustes(Y, out[-1]) if out else Y)
    return out


def _cache_path(series: "Series", layer: str, key: str, create: bool = False):
    return series.results_dir(_CACHE_KIND, create=create) / f"{safe_name(layer)}-{safe_name(key)}.json"


def _inputs(series: "Series", layer: str) -> dict:
    return {str(s): series.run(s).fingerprint(layer) for s in series.steps}


def load_timeline(series: "Series", layer: str, key: str | None = None) -> Timeline | None:
    """The cached timeline of ``layer`` (for ``key``, default: :func:`timeline_config`'s), or None
    when it was not built or was built from other data.

    Parameters
    ----------
    series : Series
    layer : str
    key : str, optional

    Returns
    -------
    Timeline or None
    """
    key = key or timeline_config(series, layer).key
    path = _cache_path(series, layer, key)
    if not path.is_file():
        return None
    data = read_json(path)
    if data.get("inputs") != _inputs(series, layer):
        log.info("timeline %s of %s was built from other data; not used", key, layer)
        return None
    return Timeline.from_dict(data)


def _event_records(matching: "GraphMatching", before: int, after: int) -> list[dict]:
    return [{"kind": e["kind"], "step": after, "from": [[before, n] for n in e["from"]],
             "to": [[after, n] for n in e["to"]]} for e in matching.events]


def build_timeline(series: "Series", layer: str, config: "MapperConfig | dict | None" = None, *,
                   persistence: bool = True, n_landmarks: int = 200, max_motion: float = DEFAULT_MAX_MOTION,
                   min_jaccard: float = 0.3, recompute: bool = False, progress: ProgressFn | None = None,
                   should_cancel: CancelFn | None = None) -> Timeline:
    """Graphs, matches, events, aligned layouts and summaries of ``layer`` over a series (cached).

    Parameters
    ----------
    series : Series
    layer : str
    config : MapperConfig or its dict, optional
        The graph of every step (default :func:`timeline_config`).
    persistence : bool
        Add point-cloud persistence summaries and diagram distances (``n_landmarks`` landmarks).
    n_landmarks : int
    max_motion : float
        Layout motion bound of persisting nodes (:func:`align_layouts`).
    min_jaccard : float
        Smallest member Jaccard index of a matched pair.
    recompute : bool
        Ignore a cached timeline.
    progress, should_cancel : the :mod:`topoact.progress` protocol

    Returns
    -------
    Timeline

    Raises
    ------
    UnknownLayerError
        ``layer`` is not a layer of the series.
    """
    from .errors import UnknownLayerError
    from .mapper.config import MapperConfig
    from .mapper.matching import match_graphs
    from .mapper.run_graphs import build_run_graph

    if layer not in series.layers:
        raise UnknownLayerError(layer, series.layers)
    config = MapperConfig.coerce(config) if config is not None else timeline_config(series, layer)
    if not recompute:
        cached = load_timeline(series, layer, config.key)
        if cached is not None:
            report(progress, 1, 1, "timeline loaded from the series' cache")
            return cached
    steps = series.steps
    T = len(steps)
    graphs: list[MapperGraph] = []
    summaries: list[dict] = []
    previous_h1 = None
    for t, step in enumerate(steps):
        check_cancelled(should_cancel, "timeline")
        run = series.run(step)
        stage = Stage(progress, 0.9 * t / T, 0.9 * (t + 1) / T, f"step {step}: graph")
        graph = build_run_graph(run, layer, config, progress=stage, should_cancel=should_cancel, n_jobs=1,
                                previous=graphs[-1] if graphs else None)
        graphs.append(graph)
        pers = None
        if persistence:
            from .topology.run_persistence import layer_persistence

            pers = layer_persistence(run, layer, n_landmarks=min(n_landmarks, run.n), n_bootstrap=0,
                                     should_cancel=should_cancel)
        summary = {"step": step, **step_summary(run, layer, graph, persistence=pers)}
        if pers is not None:
            from .topology.distances import bottleneck

            h1 = pers.diagram(1)
            summary["h1_distance_to_previous"] = (None if previous_h1 is None
                                                  else float(bottleneck(previous_h1, h1, clip="drop")))
            previous_h1 = h1
        summaries.append(summary)
    report(progress, 0.9, 1, "matching nodes")
    aligned_embeddings(series.runs(), layer)      # the PCA of every step, cached in its run for the app
    matchings = [match_graphs(graphs[t], graphs[t + 1], min_jaccard=min_jaccard) for t in range(T - 1)]
    layouts = align_layouts(graphs, matchings, max_motion=max_motion, min_jaccard=min_jaccard)
    matches, events = [], []
    for t, m in enumerate(matchings):
        before, after = steps[t], steps[t + 1]
        matches += [{"from": [before, int(i)], "to": [after, int(j)], "jaccard": round(float(jac), 4)}
                    for (i, j), jac in zip(m.pairs, m.jaccard)]
        events += _event_records(m, before, after)
        summaries[t + 1]["events"] = m.counts()
    result = Timeline(layer=layer, key=config.key, params=config.to_dict(), steps=summaries, matches=matches,
                      events=events, layouts={str(s): np.round(p, 4).tolist() for s, p in zip(steps, layouts)},
                      max_motion=float(max_motion), inputs=_inputs(series, layer))
    write_json(_cache_path(series, layer, config.key, create=True), result.to_dict())
    report(progress, 1, 1, "timeline done")
    return result


def node_history(timeline: Timeline, step: int, node: int, graphs: dict[int, "MapperGraph"] | None = None) -> dict:
    """Where a node comes from: its chain of matched ancestors, the event that created it and
    its label mix along the chain.

    Parameters
    ----------
    timeline : Timeline
    step : int
    node : int, node id in the graph of ``step``
    graphs : {step: MapperGraph}, optional: adds the label mix per step along the chain

    Returns
    -------
    dict
        ``chain``: ``[[step, node], ...]`` oldest first (matched ancestors, then ``node``);
        ``appeared``: the first step of the chain; ``origin``: the event that started the chain
        (``{"kind": "split"|"merge"|"birth", "from": [[step, node]...]}``) or None when the
        chain starts at the first step; ``label_mix``: ``[{step, label_counts, purity}]``.
    """
    back = {tuple(m["to"]): tuple(m["from"]) for m in timeline.matches}
    chain = [(int(step), int(node))]
    while chain[0] in back:
        chain.insert(0, back[chain[0]])
    # the event that started the chain (a split child that is also its parent's match continues
    # the parent's chain: then the split it came out of is the origin)
    origin = None
    for e in timeline.events:
        if e["kind"] == "persist":
            continue
        if list(chain[0]) in e["to"] or (e["kind"] == "split" and any(list(c) in e["to"] for c in chain[1:])):
            origin = {"kind": e["kind"], "from": e["from"], "step": e["step"]}
    mix = []
    if graphs:
        for s, n in chain:
            if s in graphs:
                stats = graphs[s].stats[n]
                mix.append({"step": s, "label_counts": stats.get("label_counts", {}),
                            "purity": stats.get("purity")})
    return {"chain": [list(c) for c in chain], "appeared": chain[0][0], "origin": origin, "label_mix": mix}
