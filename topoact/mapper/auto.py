"""The automatic default graph: Mapper parameters chosen from the data, without labels.

``choose_config(X, lens_values=...) -> AutoChoice`` fits every candidate configuration
(:func:`default_candidates`: 2-D lenses -- UMAP and PCA -- with product covers of 8 to 20
intervals a side, L2 / L1 norms with uniform and balanced covers, all with DBSCAN and the
automatic eps) and measures, with no label in sight:

``coverage``   fraction of rows in at least one node;
``nodes``      number of nodes;
``largest``    share of all rows in the largest node (a hub that swallows a quarter of the data
               says nothing about it);
``explained``  share of the activations' variance the nodes resolve: ``1 - sum_k SS_k / sum_k
               T_k`` over nodes k, ``SS_k`` the squared distances of node k's members to the
               node mean and ``T_k`` to the mean of all rows (a k-means-style R^2, overlapping
               nodes counted once per membership). Nodes that are tight regions of activation
               space score high; norm shells and hubs score low.
``stability``  agreement of two refits on seeded 80 % resamples of the rows (lens values
               kept, cover and clusterer refitted): on the rows both resamples share, every
               node of one refit is matched to its best node of the other by member Jaccard
               index; the size-weighted mean of those best Jaccards, averaged over both
               directions. 1 = the same nodes again.

The rule (documented, unsupervised): a candidate is *admissible* when coverage >= 0.85, the
node count is in the readable range (30 to 300 by default, lowered for small data sets to
``N / 20``) and the largest node holds at most 20 % of the rows. Among admissible candidates
the one with the highest ``score = explained * stability`` wins: nodes that resolve the
geometry *and* come back when the data are resampled. Then the winner's eps is refined: eps
scales 0.8 and 1.25 of the automatic eps are scored the same way and kept when better. When no
candidate is admissible, the one with the fewest failed conditions (then the highest score)
is taken and ``AutoChoice.reason`` says which conditions failed.

Why this rule (measured on ResNet-20, CIFAR-10, 5,000 test images; labels used only to check
it afterwards): on layer3, UMAP 2-D lenses score 0.55-0.59 (explained 0.61-0.71, stability
0.81-0.90), PCA 2-D 0.42-0.44, L2 norms 0.22-0.41 (with a 43 % hub at 10 intervals): the score
ranks the lens families in the order of their purity. The rule then picks UMAP 12 x 12 with eps
x 1.25 (96 nodes, coverage 0.998, size-weighted purity 0.801 for a model accuracy of 0.810) and,
on layer1, UMAP 12 x 12 (purity 0.312: the early layer stays impure, as it should). ResNet-32,
not used to design the rule, gives 0.824 for an accuracy of 0.829 on layer3 and 0.348 on layer1
(``python benchmarks/defaults.py``, load 9, which also shows the L2 / 10-interval graph at 0.26
and KeplerMapper's defaults at no node at all on layer3). These figures are with the UMAP lens's
exact k-NN (:data:`~topoact.mapper.lens.EXACT_KNN_ROWS`); with umap-learn's approximate
NN-descent they were 0.817 / 0.831 on layer3 and 0.331 / 0.347 on layer1.

Above ``max_rows`` rows (default 20,000) candidates are scored on a seeded sample of that many
rows (the final graph is then fitted on all rows). ``build_default_graph(run, layer)`` does it
on a run: UMAP / PCA lens values come from :func:`~topoact.mapper.embedding.layer_embedding`
(cached with the run), the choice is cached as a ``mapper_auto`` result (guarded by the layer's
fingerprint), the chosen graph is built with ``build_run_graph`` and carries the choice in
``graph.params["auto"]`` (every candidate's numbers, the rule, the winner) for the app to show.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..progress import CancelFn, ProgressFn, Stage, check_cancelled, report
from ..results import Result, ResultCache
from ..store import RunLike
from .cluster import eps_from_kdistances, kdistance_sample
from .config import LENSES_2D, MapperConfig
from .graph import MapperGraph, membership_matrix
from .lens import ArrayLens
from .params import resolve_seed
from .pipeline import EmptyGraphError, Mapper

logger = logging.getLogger(__name__)

__all__ = ["AutoChoice", "Criterion", "default_candidates", "choose_config", "score_members",
           "stability", "build_default_graph", "auto_choice"]

#: bump when the candidates or the rule change (cached choices are then recomputed)
_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Criterion:
    """Thresholds of the admissibility rule (module docstring).

    Parameters
    ----------
    min_coverage : share of rows that must be in some node
    node_range : (lo, hi) readable node counts; ``lo`` is lowered to ``max(2, N // 20)`` for
        small N
    max_largest : largest node's share of all rows
    eps_scales : eps scales tried on the winner (1.0 is always there)
    resample : share of rows of each stability refit
    """

    min_coverage: float = 0.85
    node_range: tuple[int, int] = (30, 300)
    max_largest: float = 0.2
    eps_scales: tuple[float, ...] = (0.8, 1.25)
    resample: float = 0.8

    def to_dict(self) -> dict:
        return {"min_coverage": self.min_coverage, "node_range": list(self.node_range),
                "max_largest": self.max_largest, "eps_scales": list(self.eps_scales),
                "resample": self.resample}


@dataclasses.dataclass
class AutoChoice(Result):
    """The automatic choice: the winning configuration and every candidate's numbers.

    Attributes
    ----------
    config : dict, the winner's ``MapperConfig.to_dict()``
    candidates : list of dict, per candidate: ``params``, ``label``, ``nodes``, ``coverage``,
        ``largest``, ``explained``, ``stability``, ``score``, ``admissible``, ``failed``
    winner : int, index of the winner in ``candidates``
    rule : str, the rule in words
    criterion : dict, its thresholds
    reason : str, why the winner won (in words)
    n_rows_scored : int, rows the candidates were scored on
    """

    kind = "mapper_auto"
    schema_version = 1

    config: dict
    candidates: list
    winner: int
    rule: str
    criterion: dict
    reason: str
    n_rows_scored: int

    @property
    def mapper_config(self) -> MapperConfig:
        """The winning :class:`MapperConfig`."""
        return MapperConfig.from_dict(self.config)


RULE = ("admissible: coverage >= {min_coverage}, nodes in [{lo}, {hi}], largest node <= "
        "{max_largest:.0%} of rows; among admissible candidates the highest score = explained "
        "variance x stability wins (no labels are used)")


def default_candidates() -> list[MapperConfig]:
    """The candidate configurations (module docstring), all DBSCAN with the automatic eps."""
    out = [MapperConfig(lens=lens, n_intervals=k, overlap=0.3)
           for lens in ("umap2", "pca2") for k in (8, 12, 16, 20)]
    out += [MapperConfig(lens="l2", cover=cover, n_intervals=k, overlap=0.3)
            for cover, ks in (("uniform", (10, 20)), ("balanced", (10, 20, 40))) for k in ks]
    out += [MapperConfig(lens="l1", cover=cover, n_intervals=k, overlap=0.3)
            for cover, k in (("uniform", 10), ("balanced", 20))]
    return out


def _label(c: MapperConfig) -> str:
    side = f"{c.n_intervals}x{c.n_intervals}" if c.lens in LENSES_2D else str(c.n_intervals)
    eps = "" if c.eps_scale == 1.0 else f", eps x{c.eps_scale:g}"
    return f"{c.lens} {c.cover} {side}{eps}"


def score_members(X: Any, members: Sequence[np.ndarray]) -> dict:
    """Coverage, node count, largest node share and explained variance of nodes of X (N, D).

    Parameters
    ----------
    X : (N, D) array
    members : K arrays of row indices

    Returns
    -------
    dict with ``nodes``, ``coverage``, ``largest``, ``explained`` (floats in [0, 1])
    """
    n = X.shape[0]
    if not members:
        return {"nodes": 0, "coverage": 0.0, "largest": 0.0, "explained": 0.0}
    covered = np.zeros(n, bool)
    mu = np.zeros(X.shape[1])
    for a in range(0, n, 8192):
        mu += np.asarray(X[a:a + 8192], np.float64).sum(0)
    mu /= n
    within = total = 0.0
    for m in members:
        covered[m] = True
        rows = np.asarray(X[np.sort(m)], np.float64)
        centred = rows - rows.mean(0)
        within += float((centred ** 2).sum())
        total += float(((rows - mu) ** 2).sum())
    return {"nodes": len(members), "coverage": float(covered.mean()),
            "largest": float(max(len(m) for m in members) / n),
            "explained": 0.0 if total <= 0 else float(1.0 - within / total)}


def stability(fit: Callable[[np.ndarray], list], n: int, *, share: float = 0.8, seed: int = 0) -> float:
    """Agreement of two refits on seeded resamples (module docstring), in [0, 1].

    Parameters
    ----------
    fit : ``fit(rows) -> list of node member arrays`` (global row indices) on those rows
    n : number of rows
    share : share of rows in each resample
    seed : resampling seed

    Returns
    -------
    float, the size-weighted best-match Jaccard averaged over both directions (0 when a refit
    is empty).
    """
    rng = np.random.default_rng(seed)
    size = max(2, int(round(share * n)))
    a, b = (np.sort(rng.choice(n, size, replace=False)) for _ in range(2))
    fits = [fit(a), fit(b)]
    shared = np.intersect1d(a, b)
    pos = np.full(n, -1)
    pos[shared] = np.arange(len(shared))
    mats = []
    for members in fits:
        kept = [pos[m][pos[m] >= 0] for m in members]
        kept = [m for m in kept if len(m)]
        if not kept:
            return 0.0
        mats.append(membership_matrix([np.sort(m) for m in kept], len(shared)).astype(np.float64))
    inter = (mats[0].T @ mats[1]).toarray()
    s0, s1 = (np.asarray(m.sum(0)).ravel() for m in mats)
    jac = inter / np.maximum(s0[:, None] + s1[None, :] - inter, 1)
    return float(((jac.max(1) * s0).sum() / s0.sum() + (jac.max(0) * s1).sum() / s1.sum()) / 2)


class _EpsMemo:
    """The k-distance curve of each row set, computed once per choice.

    Every candidate clusters the same rows (all of them, or the two seeded resamples) and the
    automatic eps depends only on those rows, ``min_samples`` and the metric; recomputing the
    curve per fit was a quarter of the choice's time (0.25 s per curve, 3 per candidate, on a
    4,000-image demo layer). The eps is the one ``DBSCAN.prepare`` would resolve.
    """

    def __init__(self) -> None:
        self._curves: dict = {}

    def clusterer(self, config: MapperConfig, Xr: np.ndarray, rows: np.ndarray | None):
        if config.clusterer != "dbscan" or config.eps != "auto":
            return config.make_clusterer()
        probe = config.make_clusterer()
        key = (None if rows is None else hashlib.sha1(np.ascontiguousarray(rows).tobytes()).hexdigest(),
               int(probe.min_samples), probe.metric, int(probe.sample_size),
               resolve_seed(probe.seed, probe.random_state, "DBSCAN"))
        if key not in self._curves:
            self._curves[key] = kdistance_sample(Xr, *key[1:])
        return config.make_clusterer(eps=eps_from_kdistances(self._curves[key], config.eps_scale))


def _fit_members(X, lens_values, config: MapperConfig, rows: np.ndarray | None = None,
                 memo: _EpsMemo | None = None) -> list:
    Xr = X if rows is None else np.asarray(X[rows])
    lv = lens_values if rows is None else lens_values[rows]
    clusterer = config.make_clusterer() if memo is None else memo.clusterer(config, Xr, rows)
    mapper = Mapper(ArrayLens(lv), config.make_cover(), clusterer, n_jobs=1,
                    compute_node_means=False)
    try:
        mapper.fit(Xr)
    except EmptyGraphError:
        return []
    members = mapper.graph_.members
    return members if rows is None else [rows[m] for m in members]


def _evaluate(X, lens_values, config: MapperConfig, crit: Criterion, lo: int, hi: int, seed: int,
              memo: _EpsMemo | None = None) -> dict:
    members = _fit_members(X, lens_values, config, memo=memo)
    row = {"label": _label(config), "params": config.to_dict(), **score_members(X, members)}
    row["stability"] = (stability(lambda r: _fit_members(X, lens_values, config, r, memo), X.shape[0],
                                  share=crit.resample, seed=seed) if members else 0.0)
    row["score"] = row["explained"] * row["stability"]
    failed = []
    if row["coverage"] < crit.min_coverage:
        failed.append(f"coverage {row['coverage']:.2f} < {crit.min_coverage}")
    if not lo <= row["nodes"] <= hi:
        failed.append(f"{row['nodes']} nodes outside [{lo}, {hi}]")
    if row["largest"] > crit.max_largest:
        failed.append(f"largest node {row['largest']:.0%} > {crit.max_largest:.0%}")
    row["failed"] = failed
    row["admissible"] = not failed
    for k in ("coverage", "largest", "explained", "stability", "score"):
        row[k] = round(row[k], 4)
    return row


def _best(rows: list[dict]) -> int:
    return min(range(len(rows)), key=lambda i: (len(rows[i]["failed"]), -rows[i]["score"], i))


def choose_config(X: Any, lens_values: Mapping[str, np.ndarray] | Callable[[str], np.ndarray], *,
                  candidates: Sequence[MapperConfig] | None = None,
                  criterion: Criterion | None = None, seed: int = 0, max_rows: int = 20000,
                  progress: ProgressFn | None = None,
                  should_cancel: CancelFn | None = None) -> AutoChoice:
    """Choose the Mapper configuration of X (N, D) by the unsupervised rule (module docstring).

    Parameters
    ----------
    X : (N, D) array
    lens_values : ``{lens name: (N,) or (N, 2) values}`` or a function ``lens name -> values``
        (lenses missing from a dict are computed by ``MapperConfig.make_lens``)
    candidates : configurations to compare (default :func:`default_candidates`); their
        ``eps_scale`` is refined on the winner when ``eps`` is 'auto'
    criterion : thresholds (default :class:`Criterion`)
    seed : seed of the resamples (and of the row sample above ``max_rows``)
    max_rows : score on a seeded sample of this many rows when N is larger
    progress, should_cancel : the :mod:`topoact.progress` protocol

    Returns
    -------
    AutoChoice
    """
    crit = criterion or Criterion()
    cands = list(candidates) if candidates is not None else default_candidates()
    if not cands:
        raise ValueError("choose_config needs at least one candidate configuration")
    n = X.shape[0]
    rows = None
    if n > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))
    Xs = np.asarray(X if rows is None else X[rows], np.float32)
    lo, hi = crit.node_range
    lo = min(lo, max(2, Xs.shape[0] // 20))
    values: dict[str, np.ndarray] = {}

    def lens_of(name: str, config: MapperConfig) -> np.ndarray:
        if name not in values:
            if callable(lens_values):
                v = lens_values(name)
            elif name in lens_values:
                v = lens_values[name]
            else:
                v = config.make_lens().fit_transform(X)
            v = np.asarray(v, np.float64)
            values[name] = v if rows is None else v[rows]
        return values[name]

    total = len(cands) + len(crit.eps_scales)
    memo = _EpsMemo()
    results = []
    for i, c in enumerate(cands):
        check_cancelled(should_cancel, "automatic Mapper choice")
        results.append(_evaluate(Xs, lens_of(c.lens, c), c, crit, lo, hi, seed, memo))
        report(progress, i + 1, total, f"scored {results[-1]['label']}")
    best = _best(results)
    winner = MapperConfig.from_dict(results[best]["params"])
    if winner.clusterer == "dbscan" and winner.eps == "auto":
        for j, scale in enumerate(crit.eps_scales):
            check_cancelled(should_cancel, "automatic Mapper choice")
            c = winner.replace(eps_scale=float(scale))
            results.append(_evaluate(Xs, lens_of(c.lens, c), c, crit, lo, hi, seed, memo))
            report(progress, len(cands) + j + 1, total, f"scored {results[-1]['label']}")
        best = _best(results)
    w = results[best]
    if w["admissible"]:
        others = [r["score"] for k, r in enumerate(results) if r["admissible"] and k != best]
        reason = (f"{w['label']}: the highest score {w['score']:.3f} (explained {w['explained']:.2f}"
                  f" x stability {w['stability']:.2f}) of {sum(r['admissible'] for r in results)} "
                  f"admissible candidates" + (f" (next {max(others):.3f})" if others else ""))
    else:
        reason = (f"{w['label']}: no candidate met every condition; this one failed the fewest "
                  f"({'; '.join(w['failed'])}), score {w['score']:.3f}")
    rule = RULE.format(min_coverage=crit.min_coverage, lo=lo, hi=hi, max_largest=crit.max_largest)
    logger.info("automatic Mapper choice: %s", reason)
    return AutoChoice(config=w["params"], candidates=results, winner=best, rule=rule,
                      criterion=dict(crit.to_dict(), node_range=[lo, hi]), reason=reason,
                      n_rows_scored=int(Xs.shape[0]))


def _run_lens_values(run: RunLike, layer: str) -> Callable[[str], np.ndarray]:
    from .embedding import layer_embedding

    def values(name: str) -> np.ndarray:
        if name == "umap2":
            return layer_embedding(run, layer, "umap", seed=0)
        if name == "pca2":
            return layer_embedding(run, layer, "pca")
        return MapperConfig(lens=name).make_lens().fit_transform(run.activations(layer))
    return values


def auto_choice(run: RunLike, layer: str, *, criterion: Criterion | None = None,
                progress: ProgressFn | None = None,
                should_cancel: CancelFn | None = None) -> AutoChoice:
    """The automatic choice for a run's layer, cached as a ``mapper_auto`` result.

    Parameters
    ----------
    run : Run
    layer : layer name
    criterion : thresholds (default :class:`Criterion`)
    progress, should_cancel : the :mod:`topoact.progress` protocol

    Returns
    -------
    AutoChoice (recomputed when the layer's data changed since it was cached)
    """
    crit = criterion or Criterion()
    cache = ResultCache(run, "mapper_auto", version=_VERSION)
    key = cache.key(layer, crit.to_dict())
    data = cache.load(layer, key)
    if data is not None:
        return AutoChoice.from_dict(data)
    choice = choose_config(run.activations(layer), _run_lens_values(run, layer), criterion=crit,
                           progress=progress, should_cancel=should_cancel)
    cache.save(layer, key, choice.to_dict())
    return choice


def build_default_graph(run: RunLike, layer: str, *, criterion: Criterion | None = None,
                        progress: ProgressFn | None = None, should_cancel: CancelFn | None = None,
                        n_jobs: int = 2, default: bool | None = None) -> MapperGraph:
    """Build (or open) the automatically chosen graph of a run's layer.

    Parameters
    ----------
    run : Run
    layer : layer name
    criterion : thresholds (default :class:`Criterion`)
    progress, should_cancel : the :mod:`topoact.progress` protocol (choice: first 80 %)
    n_jobs : threads clustering cover elements
    default : as in ``build_run_graph`` (None: make it the default when the layer has none)

    Returns
    -------
    MapperGraph whose ``params["auto"]`` holds the :class:`AutoChoice` (rule, every
    candidate's numbers, the reason).
    """
    from .run_graphs import build_run_graph

    choice = auto_choice(run, layer, criterion=criterion, progress=Stage(progress, 0.0, 0.8),
                         should_cancel=should_cancel)
    return build_run_graph(run, layer, choice.mapper_config, progress=Stage(progress, 0.8, 1.0),
                           should_cancel=should_cancel, n_jobs=n_jobs, default=default,
                           annotate={"auto": choice.to_dict()})
