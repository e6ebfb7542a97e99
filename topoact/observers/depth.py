"""Curves over depth for one run, and the tunnel.

Per layer (in the run's order, which is the collection order: shallow to deep):

* probe accuracy (with its interval and controls) per target (:mod:`.probes`);
* effective rank of the activations (:func:`.cka.effective_rank`, from the same one-pass
  covariance that gives CKA);
* Mapper: mean purity (size-weighted), number of components and of loops (E - V + C) of the
  layer's default saved graph, when one was saved;
* persistence: significant H1 bars and the longest H1 bar of the newest cached persistence result
  of the layer, when one was cached (nothing is computed here).

The tunnel (Masarczyk et al. 2023) is marked at the first layer ``k`` from which probe accuracy of
the first target stops rising (no later layer gains more than ``tol``) while the effective rank
falls over the layers after ``k`` (last rank < rank at ``k`` by more than ``rank_drop``). None
when there is no such layer or fewer than three layers. A last layer as wide as the number of
classes (the logits) is left out: its rank is at most the number of classes by construction.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Sequence

import numpy as np

from ..progress import CancelFn, ProgressFn, Stage, check_cancelled
from ..results import Result
from .cka import StreamingCKA, effective_rank
from .probes import ProbeConfig, _check_layers, probe_layers

__all__ = ["DepthCurves", "depth_curves", "find_tunnel", "graph_summary", "persistence_summary"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class DepthCurves(Result):
    """``layers`` in depth order; ``probes[target]`` = {layer: {accuracy, ci, chance, shuffled}};
    ``effective_rank`` / ``dims`` / ``mapper`` / ``persistence`` per layer (None when absent);
    ``tunnel`` = {"layer", "index"} or None."""

    kind = "depth_curves"

    run: str
    layers: list
    probes: dict
    effective_rank: dict
    dims: dict
    mapper: dict
    persistence: dict
    tunnel: dict | None = None


def find_tunnel(layers: Sequence[str], accuracy: Sequence[float], rank: Sequence[float], *,
                tol: float = 0.01, rank_drop: float = 0.1) -> dict | None:
    """First layer after which accuracy stops rising (by more than ``tol``) while rank falls
    (relatively, by more than ``rank_drop``); ``{"layer", "index"}`` or None."""
    acc = np.asarray(accuracy, float)
    rank = np.asarray(rank, float)
    n = len(layers)
    if n < 3:
        return None
    for k in range(1, n - 1):
        if acc[k + 1:].max() > acc[k] + tol:
            continue
        if rank[-1] < rank[k] * (1 - rank_drop):
            return {"layer": layers[k], "index": int(k)}
    return None


def graph_summary(run, layer: str) -> dict | None:
    """Mean purity / components / loops of the layer's default Mapper graph (None if none saved)."""
    try:
        graph = run.graph(layer)
    except (FileNotFoundError, KeyError):
        return None
    if graph.n_nodes == 0:
        return {"nodes": 0, "mean_purity": None, "components": 0, "loops": 0}
    # components and loops (E - V + C) come from the graph itself; purity is size-weighted here
    sizes = np.array([len(m) for m in graph.members], float)
    purity = np.array([np.nan if s.get("purity") is None else s["purity"] for s in graph.stats], float)
    ok = np.isfinite(purity)
    mean_purity = float((purity[ok] * sizes[ok]).sum() / sizes[ok].sum()) if ok.any() else None
    return {"nodes": graph.n_nodes, "mean_purity": mean_purity, "components": graph.n_components,
            "loops": graph.n_cycles, "key": graph.key}


def persistence_summary(run, layer: str) -> dict | None:
    """Significant H1 bars and longest H1 bar of the newest cached persistence result, or None."""
    try:
        from ..topology.run_persistence import cached_persistence, load_persistence

        entries = cached_persistence(run, layer)
        if not entries:
            return None
        summaries = load_persistence(run, layer, entries[0]["key"]).summaries
    except Exception as exc:  # noqa: BLE001 - an unreadable cache must not stop the curves
        log.info("no persistence summary for %s: %s", layer, exc)
        return None
    h1 = summaries.get("h1", {})
    return {"significant_h1": h1.get("n_significant"), "longest_h1": summaries.get("longest_h1"),
            "key": entries[0]["key"]}


def depth_curves(run, layers: Sequence[str] | None = None, targets: Sequence[str] = ("label",), *,
                 probe: ProbeConfig | None = None, cache: bool = True, progress: ProgressFn | None = None,
                 should_cancel: CancelFn | None = None) -> DepthCurves:
    """All curves over depth for ``run`` (see module docstring); probes are cached in the run."""
    layers = _check_layers(run, layers)
    probe = probe or ProbeConfig()
    n_steps = len(targets) + 1
    probes = {}
    for i, target in enumerate(targets):
        report = probe_layers(run, layers, probe.replace(target=target), cache=cache,
                              progress=Stage(progress, i / n_steps, (i + 1) / n_steps, f"probes {target}"),
                              should_cancel=should_cancel)
        probes[report.target] = {layer: {k: v[k] for k in ("accuracy", "ci", "chance", "shuffled")}
                                 for layer, v in report.layers.items()}
    check_cancelled(should_cancel, "depth curves")
    ranks = {}
    for layer in layers:   # one layer at a time: a wide layer never shares memory with the others
        sc = StreamingCKA().fit([run.activations(layer)], should_cancel=should_cancel)
        ranks[layer] = effective_rank(sc.covariance(0))
    Stage(progress, (n_steps - 1) / n_steps, 1.0)(1, 1, "effective rank")
    first = next(iter(probes.values()), None)
    tunnel = None
    if first is not None:
        # A classifier output (as wide as the number of classes, last) has rank <= C by
        # construction: its low rank alone would mark a tunnel, so the rank test leaves it out.
        n_classes = len(getattr(run, "class_names", None) or [])
        considered = [layer for layer in layers
                      if not (layer == layers[-1] and n_classes and run.activations(layer).shape[1] == n_classes)]
        tunnel = find_tunnel(considered, [first[layer]["accuracy"] for layer in considered],
                             [ranks[layer] for layer in considered])
    return DepthCurves(run=str(run.path), layers=layers, probes=probes, effective_rank=ranks,
                       dims={layer: int(run.activations(layer).shape[1]) for layer in layers},
                       mapper={layer: graph_summary(run, layer) for layer in layers},
                       persistence={layer: persistence_summary(run, layer) for layer in layers},
                       tunnel=tunnel)
