"""Two runs side by side: curves overlaid, CKA across models, diagram distances, a short summary.

The runs must hold the same images in the same order for CKA (two models on one image set);
with two datasets (one model) the CKA block is left out and only the curves are compared.
Diagram distances are taken only from persistence results already cached in both runs for a
layer of the same name (nothing is computed here); the summary sentence says where the two
differ: the first layer pair whose CKA falls below 0.5, the largest gap in probe accuracy, and
each run's tunnel.
"""
from __future__ import annotations

import dataclasses
import logging

import numpy as np

from ..progress import CancelFn, ProgressFn, Stage
from ..results import Result
from .cka import cka_matrix
from .depth import depth_curves

__all__ = ["RunComparison", "compare_runs", "summarize"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class RunComparison(Result):
    """``cka`` = {"rows", "cols", "values"} (None without shared images); ``curves`` = [A, B]
    DepthCurves dicts; ``diagram_distances`` = {layer: {"bottleneck_h1"}}; ``summary`` text."""

    kind = "run_comparison"

    runs: list
    cka: dict | None
    curves: list
    diagram_distances: dict
    summary: str


def _diagram_distance(run_a, run_b, layer: str) -> dict | None:
    try:
        from ..topology.distances import bottleneck
        from ..topology.run_persistence import cached_persistence, load_persistence
        from ..topology.summaries import as_diagram

        out = {}
        entries = [cached_persistence(r, layer) for r in (run_a, run_b)]
        if not all(entries):
            return None
        data = [load_persistence(r, layer, e[0]["key"]) for r, e in zip((run_a, run_b), entries)]
        for dim in (0, 1):
            dgms = []
            for d in data:
                dg = as_diagram(d.diagrams[dim]) if dim < len(d.diagrams) else np.zeros((0, 2))
                dgms.append(dg[np.isfinite(dg[:, 1])])
            out[f"bottleneck_h{dim}"] = float(bottleneck(dgms[0], dgms[1]))
        return out
    except Exception as exc:  # noqa: BLE001 - missing or unreadable caches: no distance
        log.info("no diagram distance for %s: %s", layer, exc)
        return None


def summarize(names: list, cka: dict | None, curves: list, *, same: bool = False) -> str:
    """A few sentences on where two runs diverge (from JSON-able results); ``same``: one run,
    described by the CKA of consecutive layers."""
    a, b = names
    parts = []
    if same and cka is not None:
        rows, values = cka["rows"], np.asarray(cka["values"])
        steps = [(values[i, i + 1], rows[i], rows[i + 1]) for i in range(len(rows) - 1)]
        if steps:
            low = min(steps)
            parts.append(f"CKA of consecutive layers ranges {low[0]:.2f}-{max(steps)[0]:.2f}; the "
                         f"representation changes most from {low[1]} to {low[2]}.")
        curves = curves[:1]
        names = names[:1]
    elif cka is not None:
        rows, cols, values = cka["rows"], cka["cols"], np.asarray(cka["values"])
        common = [layer for layer in rows if layer in cols]
        if common:
            diag = [values[rows.index(l), cols.index(l)] for l in common]
            low = [l for l, v in zip(common, diag) if v < 0.5]
            parts.append(f"CKA of matching layers ranges {min(diag):.2f}-{max(diag):.2f}" +
                         (f"; they diverge from {low[0]} (CKA {diag[common.index(low[0])]:.2f})." if low
                          else "; no matching layer falls below 0.5."))
        else:
            best = values.max(axis=1)
            parts.append(f"best CKA per layer of {a}: " + ", ".join(f"{r} {v:.2f}" for r, v in zip(rows, best)) + ".")
    pa, pb = (c["probes"].get("label") or next(iter(c["probes"].values()), {}) for c in (curves + curves)[:2])
    shared = [layer for layer in pa if layer in pb] if not same else []
    if shared:
        gaps = [(pb[l]["accuracy"] - pa[l]["accuracy"], l) for l in shared]
        gap, layer = max(gaps, key=lambda g: abs(g[0]))
        parts.append(f"largest probe-accuracy gap at {layer}: {b} {'+' if gap >= 0 else ''}{100 * gap:.1f} points vs {a}.")
    for name, c in zip(names, curves):
        if c["probes"]:
            last = c["layers"][-1]
            target, values = next(iter(c["probes"].items()))
            parts.append(f"{name}: {target} probe {100 * values[last]['accuracy']:.1f}% at {last}" +
                         (f", tunnel from {c['tunnel']['layer']}." if c.get("tunnel") else ", no tunnel."))
    return " ".join(parts)


def compare_runs(run_a, run_b=None, *, targets=("label",), cache: bool = True,
                 progress: ProgressFn | None = None, should_cancel: CancelFn | None = None) -> RunComparison:
    """Compare two runs (``run_b`` defaults to ``run_a``: then only the within-run CKA matters)."""
    run_b = run_a if run_b is None else run_b
    names = [run_a.path.name, run_b.path.name]
    if names[0] == names[1] and run_a is not run_b:
        names = [str(run_a.path), str(run_b.path)]
    try:
        cka = cka_matrix(run_a, run_b, cache=cache, progress=Stage(progress, 0, 0.4, "CKA"),
                         should_cancel=should_cancel)
        cka_dict = {"rows": cka.rows, "cols": cka.cols, "values": cka.values}
    except ValueError as exc:
        log.info("no CKA between %s and %s: %s", *names, exc)
        cka_dict = None
    curves = [depth_curves(run_a, targets=targets, cache=cache, progress=Stage(progress, 0.4, 0.7, "curves A"),
                           should_cancel=should_cancel).to_dict()]
    curves.append(curves[0] if run_b is run_a else
                  depth_curves(run_b, targets=targets, cache=cache, progress=Stage(progress, 0.7, 1.0, "curves B"),
                               should_cancel=should_cancel).to_dict())
    distances = {}
    if run_b is not run_a:
        for layer in run_a.layers:
            if layer in run_b.layers:
                d = _diagram_distance(run_a, run_b, layer)
                if d is not None:
                    distances[layer] = d
    return RunComparison(runs=[str(run_a.path), str(run_b.path)], cka=cka_dict, curves=curves,
                         diagram_distances=distances, summary=summarize(names, cka_dict, curves, same=run_b is run_a))
