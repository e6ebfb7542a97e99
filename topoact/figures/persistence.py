"""Plotly figures of persistence results.

Pure functions of a :class:`~topoact.topology.results.PersistenceResult` (or its ``to_dict()``
JSON form) and of :class:`~topoact.topology.results.LayerDistances`.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from ..topology.results import as_result_dict

__all__ = ["COLORS", "barcode_figure", "diagram_figure", "distance_heatmap"]

#: bar colour by significance: red beyond the 2c band, grey within it
COLORS = {True: "#d62728", False: "#9e9e9e"}


def _dgm(res, dim):
    rows = res["diagrams"][dim] if dim < len(res["diagrams"]) else []
    return np.array([[b, np.inf if d is None else d] for b, d in rows], float).reshape(-1, 2)


def _top(res):
    d = [r[1] for dg in res["diagrams"] for r in dg if r[1] is not None]
    return max([res.get("threshold") or 0.0] + d) * 1.05 or 1.0


def barcode_figure(res: Any, dims: Sequence[int] = (0, 1), *, max_bars: int = 200,
                   click_targets: bool = False,
                   selected: Optional[Sequence[int]] = None) -> go.Figure:
    """Horizontal barcode, longest first; red = significant (beyond the 2c band), grey = noise.

    Parameters
    ----------
    res : PersistenceResult or its dict
    dims : sequence of int
        Dimensions drawn, stacked top to bottom with a gap of two rows.
    max_bars : int
        At most this many bars per dimension (the longest ones).
    click_targets : bool
        Add one marker at the middle of every bar (trace ``"bars"``, same ``customdata``) so a
        bar can be clicked anywhere near its middle, not only at its ends.
    selected : (dim, index), optional
        Draw that bar again on top in blue, thicker (trace ``"selected"``).

    Returns
    -------
    plotly Figure
        Traces ``"H<d> significant"`` / ``"H<d> noise"`` hold one line segment per bar; each
        point's ``customdata`` is [dim, index in the diagram]. Infinite (truncated) bars end at
        the right edge, 5 % beyond the largest finite death or the threshold.
    """
    res = as_result_dict(res)
    top = _top(res)
    fig = go.Figure()
    y = 0
    for dim in dims:
        bars = [b for b in res["bars"] if b["dim"] == dim][:max_bars]
        for sig in (True, False):
            sel = [b for b in bars if b["significant"] == sig]
            if not sel:
                continue
            xs, ys, cd = [], [], []
            for b in sel:
                yy = y + bars.index(b)
                end = top if b["death"] is None else b["death"]
                xs += [b["birth"], end, None]
                ys += [yy, yy, None]
                cd += [[dim, b["index"]]] * 3
            fig.add_trace(go.Scatter(
                x=xs, y=ys, mode="lines", line={"color": COLORS[sig], "width": 3},
                name=f"H{dim} {'significant' if sig else 'noise'}", customdata=cd,
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
    fig.update_layout(xaxis_title="scale", yaxis={"visible": False, "autorange": "reversed"},
                      title="Barcode", margin={"l": 20, "r": 20, "t": 40, "b": 40})
    return fig


def diagram_figure(res: Any, dims: Sequence[int] = (0, 1)) -> go.Figure:
    """Persistence diagram with the diagonal and each dimension's significance band.

    Parameters
    ----------
    res : PersistenceResult or its dict
    dims : sequence of int
        Dimensions drawn (trace ``"H<d>"`` each, ``customdata`` [dim, index]).

    Returns
    -------
    plotly Figure
        Points below ``death = birth + 2c`` (the shaded band) are not significant; infinite
        deaths are drawn at the top edge.
    """
    res = as_result_dict(res)
    top = _top(res)
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
        death = np.where(np.isinf(d[:, 1]), top, d[:, 1])
        fig.add_trace(go.Scatter(
            x=d[:, 0], y=death, mode="markers", name=f"H{dim}",
            marker={"symbol": symbols.get(dim, "circle"), "size": 7},
            customdata=np.c_[np.full(len(d), dim), np.arange(len(d))],
            hovertemplate="birth %{x:.3g}<br>death %{y:.3g}<extra></extra>"))
    fig.update_layout(xaxis_title="birth", yaxis_title="death", title="Persistence diagram",
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
