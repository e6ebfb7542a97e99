"""Plotly figures of persistence results.

Pure functions of a :class:`~topoact.topology.results.PersistenceResult` (or its ``to_dict()``
JSON form) and of :class:`~topoact.topology.results.LayerDistances`.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..topology.results import as_result_dict

__all__ = ["COLORS", "barcode_figure", "diagram_figure", "distance_heatmap", "significance_label",
           "sorted_bars", "shown_text"]

#: bar colour by significance: red beyond the 2c band, grey within it
COLORS = {True: "#d62728", False: "#9e9e9e"}
#: legend name of bars / points inside the band
NOISE_LABEL = "not significant (inside the band)"


def significance_label(res: Any) -> str:
    """Legend name of significant bars and points, e.g. ``"significant (bootstrap, 95 %)"``.

    Without a bootstrap (no band) only infinite bars count: ``"significant (infinite bars only)"``.
    """
    res = as_result_dict(res)
    boot = res.get("bootstrap") or {}
    if not boot or not any(b is not None for b in res.get("band") or []):
        return "significant (infinite bars only; no bootstrap)"
    return f"significant (bootstrap, {100 * (1 - float(boot.get('alpha', 0.05))):.0f} %)"


def _dgm(res, dim):
    rows = res["diagrams"][dim] if dim < len(res["diagrams"]) else []
    return np.array([[b, np.inf if d is None else d] for b, d in rows], float).reshape(-1, 2)


def _top(res):
    d = [r[1] for dg in res["diagrams"] for r in dg if r[1] is not None]
    return max([res.get("threshold") or 0.0] + d) * 1.05 or 1.0


def sorted_bars(res: Any, dim: int) -> list[dict]:
    """The bars of dimension ``dim``, longest first (infinite bars first, ties by index).

    Parameters
    ----------
    res : PersistenceResult or its dict

    Returns
    -------
    list of dict
        The result's bar dicts (``dim, birth, death, persistence, significant, index``).
    """
    res = as_result_dict(res)
    bars = [b for b in res["bars"] if b["dim"] == dim]
    return sorted(bars, key=lambda b: (b["death"] is not None, -(b["death"] or 0.0) + b["birth"], b["index"]))


def shown_text(res: Any, dims: Sequence[int], max_bars: Optional[int]) -> str:
    """In words, how many bars a barcode with ``max_bars`` per dimension shows.

    Returns
    -------
    str
        e.g. ``"showing the 200 longest of 714 H1 bars"`` or ``"showing all 12 H0 bars"``,
        dimensions joined by "; ".
    """
    parts = []
    for dim in dims:
        n = len(sorted_bars(res, dim))
        k = n if max_bars is None else min(n, int(max_bars))
        parts.append(f"showing all {n} H{dim} bars" if k == n else f"showing the {k} longest of {n} H{dim} bars")
    return "; ".join(parts)


def barcode_figure(res: Any, dims: Sequence[int] = (0, 1), *, max_bars: Optional[int] = 200,
                   click_targets: bool = False,
                   selected: Optional[Sequence[int]] = None) -> go.Figure:
    """Horizontal barcode, longest first; red = significant (beyond the 2c band), grey = noise.

    Parameters
    ----------
    res : PersistenceResult or its dict
    dims : sequence of int
        Dimensions drawn, stacked top to bottom with a gap of two rows.
    max_bars : int or None
        At most this many bars per dimension (the longest ones); None draws all. The title
        says how many are shown of how many (:func:`shown_text`).
    click_targets : bool
        Add one marker at the middle of every bar (trace ``"bars"``, same ``customdata``) so a
        bar can be clicked anywhere near its middle, not only at its ends.
    selected : (dim, index), optional
        Draw that bar again on top in blue, thicker (trace ``"selected"``).

    Returns
    -------
    plotly Figure
        Traces ``"H<d> significant"`` (red) / ``"H<d> noise"`` (grey) in the legend groups
        titled :func:`significance_label` and "not significant (inside the band)" (an empty
        trace ``"none"`` keeps the first group in the legend when no drawn bar is significant),
        one line segment per bar; each point's ``customdata`` is [dim, index in the diagram]. Infinite
        (truncated) bars end at the right edge, 5 % beyond the largest finite death or the
        threshold.
    """
    res = as_result_dict(res)
    top = _top(res)
    sig_name = significance_label(res)
    fig = go.Figure()
    y = 0
    for dim in dims:
        bars = sorted_bars(res, dim)[:max_bars]
        for sig in (True, False):
            sel = [(k, b) for k, b in enumerate(bars) if b["significant"] == sig]
            if not sel:
                continue
            xs, ys, cd = [], [], []
            for k, b in sel:
                end = top if b["death"] is None else b["death"]
                xs += [b["birth"], end, None]
                ys += [y + k, y + k, None]
                cd += [[dim, b["index"]]] * 3
            group = "significant" if sig else "noise"
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", line={"color": COLORS[sig], "width": 3},
                name=f"H{dim} {group}", legendgroup=group,
                legendgrouptitle={"text": sig_name if sig else NOISE_LABEL},
                customdata=cd, meta={"dim": dim, "significant": sig},
                hovertemplate="H%d bar %%{x:.3g}<extra></extra>" % dim))
        if click_targets and bars:
            ends = [top if b["death"] is None else b["death"] for b in bars]
            fig.add_trace(go.Scatter(
                x=[(b["birth"] + e) / 2 for b, e in zip(bars, ends)],
                y=[y + k for k in range(len(bars))], mode="markers", name="bars", showlegend=False,
                marker={"size": 8, "color": [COLORS[b["significant"]] for b in bars], "opacity": 0.6},
                customdata=[[dim, b["index"]] for b in bars],
                hovertemplate=[f"H{dim} [{b['birth']:.3g}, "
                               f"{'inf' if b['death'] is None else format(b['death'], '.3g')})"
                               f"{' significant' if b['significant'] else ''}<extra></extra>"
                               for b in bars]))
        if selected is not None and int(selected[0]) == dim:
            hit = [k for k, b in enumerate(bars) if b["index"] == int(selected[1])]
            if hit:
                b = bars[hit[0]]
                fig.add_trace(go.Scatter(
                    x=[b["birth"], top if b["death"] is None else b["death"]],
                    y=[y + hit[0]] * 2, mode="lines", name="selected", showlegend=False,
                    line={"color": "#1f77b4", "width": 6}, customdata=[[dim, b["index"]]] * 2,
                    hoverinfo="skip"))
        y += len(bars) + 2
    if not any(t.name.endswith(" significant") for t in fig.data):  # keep the legend entry, saying "none"
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"color": COLORS[True], "width": 3},
                                 name="none", legendgroup="significant", legendgrouptitle={"text": sig_name},
                                 hoverinfo="skip"))
    fig.update_layout(xaxis_title="scale (distance in activation space)",
                      yaxis={"visible": False, "autorange": "reversed"},
                      title=f"Barcode, longest bars first ({shown_text(res, dims, max_bars)})",
                      legend={"orientation": "h", "y": -0.15},
                      margin={"l": 20, "r": 20, "t": 40, "b": 40})
    return fig


def diagram_figure(res: Any, dims: Sequence[int] = (0, 1)) -> go.Figure:
    """Persistence diagram with the diagonal, each dimension's band and significant points marked.

    Parameters
    ----------
    res : PersistenceResult or its dict
    dims : sequence of int
        Dimensions drawn: per dimension trace ``"H<d>"`` of every point (red when significant,
        grey otherwise) and trace ``"H<d> significant"`` drawing the significant ones again,
        larger and outlined, in the legend group titled :func:`significance_label`;
        ``customdata`` [dim, index in the diagram]; symbol by dimension.

    Returns
    -------
    plotly Figure
        Points below ``death = birth + 2c`` (the shaded band) are not significant; infinite
        deaths are drawn at the top edge.
    """
    res = as_result_dict(res)
    top = _top(res)
    sig_name = significance_label(res)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="diagonal",
                             line={"color": "black", "width": 1}))
    symbols = {0: "circle", 1: "diamond", 2: "square"}
    for dim in dims:
        d = _dgm(res, dim)
        band = res["band"][dim] if dim < len(res["band"]) else None
        if band is not None:
            fig.add_trace(go.Scatter(
                x=[0, top, top, 0], y=[0, top, min(top + band, top * 1.2), band], fill="toself",
                mode="lines", line={"width": 0}, opacity=0.2, name=f"H{dim} band 2c={band:.3g}"))
        if len(d) == 0:
            continue
        sig = np.zeros(len(d), bool)
        for b in res["bars"]:
            if b["dim"] == dim and b["significant"]:
                sig[b["index"]] = True
        death = np.where(np.isinf(d[:, 1]), top, d[:, 1])
        fig.add_trace(go.Scatter(
            x=d[:, 0], y=death, mode="markers", name=f"H{dim}",
            marker={"symbol": symbols.get(dim, "circle"), "size": 7,
                    "color": [COLORS[bool(f)] for f in sig]},
            customdata=np.c_[np.full(len(d), dim), np.arange(len(d))],
            hovertemplate="birth %{x:.3g}<br>death %{y:.3g}<extra></extra>"))
        rows = np.flatnonzero(sig)
        if len(rows):  # drawn again on top, larger, outlined: the legend entry of significance
            fig.add_trace(go.Scatter(
                x=d[rows, 0], y=death[rows], mode="markers", name=f"H{dim} significant",
                legendgroup="significant", legendgrouptitle={"text": sig_name},
                marker={"symbol": symbols.get(dim, "circle"), "size": 11, "color": COLORS[True],
                        "line": {"width": 1.5, "color": "black"}},
                customdata=np.c_[np.full(len(rows), dim), rows], meta={"dim": dim, "significant": True},
                hovertemplate="birth %{x:.3g}<br>death %{y:.3g} · significant<extra></extra>"))
    fig.update_layout(xaxis_title="birth (scale)", yaxis_title="death (scale)", title="Persistence diagram",
                      legend={"orientation": "h", "y": -0.2},
                      margin={"l": 40, "r": 20, "t": 40, "b": 40})
    return fig


def distance_heatmap(result: Any) -> go.Figure:
    """Heat map of a :func:`~topoact.topology.run_persistence.layer_distance_matrix` result
    (``LayerDistances`` or its dict; a dict of the old form with ``metric`` naming the diagram
    distance is read too)."""
    result = as_result_dict(result)
    distance = result.get("distance") or result.get("metric", "")
    fig = go.Figure(go.Heatmap(z=result["matrix"], x=result["labels"], y=result["labels"],
                               colorscale="Viridis", colorbar={"title": distance}))
    fig.update_layout(title=f"H{result['dim']} {distance} distance between layers",
                      yaxis={"autorange": "reversed"})
    return fig
