"""Single units: which unit alone denotes which attribute, and how label-specific that is by depth.

For every unit (activation dimension) of a layer and every target (:mod:`.targets`):

* ``score`` in [0, 1]: categorical targets -- ``2 |AUC - 0.5|`` of the unit for the best
  one-vs-rest class (AUC from ranks, ties averaged); linear targets -- ``|Spearman rho|``;
  circular targets -- the circular-linear correlation (Mardia) of the unit's ranks with
  ``(cos, sin)`` of the angle.
* control: the same scores with the target values permuted (seeded); ``threshold`` = the larger
  of ``min_score`` and the highest control score of the layer. A unit *denotes* the target when
  its score exceeds the threshold.
* ``share``: the fraction of the layer's units that denote the target.
* ``label_proportion`` (the paper's depth claim; our reading, as the issue leaves it open): the
  property a unit denotes is the set of images it fires on (its top ``top_fraction`` of
  activations); the label proportion is the share of that set's majority class. Reported per
  unit and, per target, the mean over the units that denote it -- one curve over depth per
  attribute. Class selectivity rising with depth shows up as rising curves.

Scores use at most ``max_rows`` images (a seeded subsample), enough for stable AUCs.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from scipy.stats import rankdata

from ..config import Config, check_range
from ..progress import CancelFn, ProgressFn, check_cancelled, report
from ..results import Result, ResultCache
from .targets import Target, available_targets, make_target

__all__ = ["UnitsConfig", "unit_scores", "label_proportions", "UnitsReport", "unit_report"]

CACHE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class UnitsConfig(Config):
    """Parameters of the single-unit analysis.

    Parameters
    ----------
    targets : target names (empty = "label" and every attribute of the run)
    min_score : smallest score that counts as denoting (2|AUC-0.5| or |correlation|), in (0, 1)
    top_fraction : share of images a unit "fires on" for the label proportion, in (0, 0.5]
    max_rows : images used (seeded subsample above it)
    seed : seed of the subsample and of the control permutation
    """

    targets: tuple = ()
    min_score: float = 0.5
    top_fraction: float = 0.1
    max_rows: int = 20_000
    seed: int = 0

    def _validate(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))
        check_range("min_score", self.min_score, 0, 1, lo_open=True, hi_open=True)
        check_range("top_fraction", self.top_fraction, 0, 0.5, lo_open=True)
        check_range("max_rows", self.max_rows, 10, integer=True)
        check_range("seed", self.seed, 0, integer=True)


def _ranks(X: np.ndarray) -> np.ndarray:
    return rankdata(X, axis=0).astype(np.float64)


def _corr(R: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(D,) Pearson correlation of each column of R with v."""
    Rc = R - R.mean(axis=0)
    vc = v - v.mean()
    denom = np.sqrt((Rc ** 2).sum(axis=0) * (vc ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, Rc.T @ vc / np.where(denom > 0, denom, 1), 0.0)


def unit_scores(X: np.ndarray, target: Target, values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Score of every unit for a target (see module docstring).

    Parameters
    ----------
    X : (n, D) activations of the target's rows
    target : the Target (gives the kind, the period and the values)
    values : (n,) values to use instead of ``target.values`` (the shuffled control)

    Returns
    -------
    scores : (D,) in [0, 1]
    best : (D,) the best class code for categorical targets, else the sign (+1 / -1) of the
        association
    """
    values = target.values if values is None else values
    R = _ranks(np.asarray(X, np.float64))
    n = len(values)
    if target.kind == "categorical":
        classes = np.unique(values)
        effects = np.zeros((len(classes), R.shape[1]))
        for k, c in enumerate(classes):
            pos = values == c
            n_pos = int(pos.sum())
            if n_pos in (0, n):
                continue
            auc = (R[pos].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * (n - n_pos))
            effects[k] = 2 * np.abs(auc - 0.5)
        best = np.argmax(effects, axis=0)
        return effects.max(axis=0), classes[best].astype(np.int64)
    if target.kind == "linear":
        rho = _corr(R, rankdata(values).astype(np.float64))
        return np.abs(rho), np.sign(rho).astype(np.int64)
    angles = 2 * np.pi * values / float(target.period)
    c, s = np.cos(angles), np.sin(angles)
    rxc, rxs, rcs = _corr(R, c), _corr(R, s), float(np.corrcoef(c, s)[0, 1])
    r2 = (rxc ** 2 + rxs ** 2 - 2 * rxc * rxs * rcs) / max(1 - rcs ** 2, 1e-12)
    return np.sqrt(np.clip(r2, 0, 1)), np.sign(rxc).astype(np.int64)


def label_proportions(X: np.ndarray, labels: np.ndarray, top_fraction: float = 0.1) -> np.ndarray:
    """(D,) share of the majority class among the images each unit fires on most (top fraction)."""
    X = np.asarray(X)
    k = max(1, int(round(top_fraction * X.shape[0])))
    top = np.argpartition(-X, k - 1, axis=0)[:k]          # (k, D) rows of the top activations
    top_labels = np.asarray(labels)[top]
    out = np.empty(X.shape[1])
    for d in range(X.shape[1]):
        out[d] = np.bincount(top_labels[:, d]).max() / k
    return out


@dataclasses.dataclass
class UnitsReport(Result):
    """Single-unit scores per layer (depth order) and per target.

    ``layers[L][target]`` = ``{"scores": [D], "best": [D], "threshold", "control_max",
    "share", "denoting": [unit indices], "label_proportion": mean over denoting units or None}``;
    ``label_proportion[L]`` = per-unit label proportions [D]; ``kinds`` = target kinds.
    """

    kind = "units"

    targets: list
    kinds: dict
    layers: dict
    label_proportion: dict
    config: dict

    def share(self) -> dict:
        """``{target: {layer: share of units denoting it}}``."""
        return {t: {layer: v[t]["share"] for layer, v in self.layers.items()} for t in self.targets}

    def depth_curves(self) -> dict:
        """``{target: {layer: mean label proportion of the units denoting it (or None)}}``."""
        return {t: {layer: v[t]["label_proportion"] for layer, v in self.layers.items()}
                for t in self.targets}


def _layer_units(X: np.ndarray, targets: list[Target], rows: np.ndarray, labels: np.ndarray | None,
                 config: UnitsConfig) -> tuple[dict, list | None]:
    rng = np.random.default_rng(config.seed)
    out = {}
    for target in targets:
        pick = np.isin(target.rows, rows)
        t_rows = target.rows[pick]
        values = target.values[pick]
        Xt = np.asarray(X[t_rows], np.float64)
        scores, best = unit_scores(Xt, target, values)
        control, _ = unit_scores(Xt, target, values[rng.permutation(len(values))])
        threshold = max(config.min_score, float(control.max()))
        denoting = np.flatnonzero(scores > threshold)
        out[target.name] = {"scores": np.round(scores, 5).tolist(), "best": best.tolist(),
                            "threshold": threshold, "control_max": float(control.max()),
                            "share": float(len(denoting) / max(X.shape[1], 1)),
                            "denoting": denoting.tolist(), "label_proportion": None}
    if labels is None:
        return out, None
    lp = label_proportions(np.asarray(X[rows]), labels[rows], config.top_fraction)
    for entry in out.values():
        idx = entry["denoting"]
        entry["label_proportion"] = float(lp[idx].mean()) if idx else None
    return out, np.round(lp, 5).tolist()


def unit_report(run, layers: Sequence[str] | None = None, config: UnitsConfig | None = None, *,
                cache: bool = True, progress: ProgressFn | None = None,
                should_cancel: CancelFn | None = None, **params) -> UnitsReport:
    """Single-unit analysis of ``layers`` (default: all, in the run's order) for several targets.

    Returns
    -------
    UnitsReport (cached per layer in ``<run>/units/``)
    """
    from .probes import _check_layers

    config = config or UnitsConfig.from_dict(params)
    layers = _check_layers(run, layers)
    names = list(config.targets) or available_targets(run)
    targets = [make_target(run, name) for name in names]
    n = run.n
    rows = np.arange(n)
    if n > config.max_rows:
        rows = np.sort(np.random.default_rng(config.seed).choice(n, config.max_rows, replace=False))
    labels = np.asarray(run.labels)
    labels = labels if (labels >= 0).all() else None
    store = ResultCache(run, "units", CACHE_VERSION)
    out, lps = {}, {}
    for i, layer in enumerate(layers):
        check_cancelled(should_cancel, "unit analysis")
        report(progress, i, len(layers), f"single units of {layer}")
        key = store.key(layer, {**config.to_dict(), "targets": names})
        data = store.load(layer, key) if cache else None
        if data is None:
            per_target, lp = _layer_units(run.activations(layer), targets, rows, labels, config)
            data = {"targets": per_target, "label_proportion": lp}
            if cache:
                store.save(layer, key, data)
        out[layer], lps[layer] = data["targets"], data["label_proportion"]
    report(progress, len(layers), len(layers), "single units done")
    return UnitsReport(targets=[t.name for t in targets], kinds={t.name: t.kind for t in targets},
                       layers=out, label_proportion=lps, config=config.to_dict())
