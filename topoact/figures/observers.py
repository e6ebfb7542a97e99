"""Plotly figures of observer results (pure functions of their JSON dicts, see topoact.observers)."""
from __future__ import annotations

import base64
import io
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["depth_figure", "cka_figure", "unit_share_figure", "label_proportion_figure",
           "unit_scores_figure", "unit_relevance_figure", "spatial_relevance_figure", "compare_depth_figure"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _add_probe_traces(fig, curves: dict, row: int, dash: str = "solid", prefix: str = "", show_controls=True):
    layers = curves["layers"]
    for i, (target, values) in enumerate(curves["probes"].items()):
        color = PALETTE[i % len(PALETTE)]
        acc = [values[layer]["accuracy"] for layer in layers]
        lo = [values[layer]["ci"][0] for layer in layers]
        hi = [values[layer]["ci"][1] for layer in layers]
        fig.add_trace(go.Scatter(x=layers, y=acc, name=f"{prefix}{target}", mode="lines+markers",
                                 line=dict(color=color, dash=dash),
                                 error_y=dict(type="data", symmetric=False,
                                              array=np.subtract(hi, acc), arrayminus=np.subtract(acc, lo)),
                                 legendgroup=f"{prefix}{target}"), row=row, col=1)
        if show_controls:
            fig.add_trace(go.Scatter(x=layers, y=[values[layer]["shuffled"] for layer in layers],
                                     name=f"{prefix}{target} shuffled", mode="lines",
                                     line=dict(color=color, dash="dot", width=1), legendgroup=f"{prefix}{target}"),
                          row=row, col=1)
            fig.add_trace(go.Scatter(x=layers, y=[values[layer]["chance"] for layer in layers],
                                     name=f"{prefix}{target} majority", mode="lines",
                                     line=dict(color=color, dash="dash", width=1), legendgroup=f"{prefix}{target}"),
                          row=row, col=1)


def _add_structure_traces(fig, curves: dict, dash: str = "solid", prefix: str = ""):
    layers = curves["layers"]
    fig.add_trace(go.Scatter(x=layers, y=[curves["effective_rank"][layer] for layer in layers],
                             name=f"{prefix}effective rank", mode="lines+markers",
                             line=dict(color="#444", dash=dash)), row=2, col=1)
    mapper = curves.get("mapper") or {}
    if any(mapper.get(layer) for layer in layers):
        for key, color in (("mean_purity", "#2ca02c"), ("components", "#ff7f0e"), ("loops", "#9467bd")):
            fig.add_trace(go.Scatter(x=layers, y=[(mapper.get(layer) or {}).get(key) for layer in layers],
                                     name=f"{prefix}Mapper {key.replace('_', ' ')}", mode="lines+markers",
                                     line=dict(color=color, dash=dash)), row=3, col=1)
    pers = curves.get("persistence") or {}
    if any(pers.get(layer) for layer in layers):
        fig.add_trace(go.Scatter(x=layers, y=[(pers.get(layer) or {}).get("longest_h1") for layer in layers],
                                 name=f"{prefix}longest H1 bar", mode="lines+markers",
                                 line=dict(color="#17becf", dash=dash)), row=3, col=1)


def _figure(height: int):
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=("probe accuracy (bars: 95% CI; dotted: shuffled, dashed: majority)",
                                        "effective rank", "Mapper graph / persistence"))
    fig.update_layout(height=height, margin=dict(l=50, r=20, t=40, b=40), legend=dict(font=dict(size=10)))
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    return fig


def depth_figure(curves: dict, *, height: int = 720) -> go.Figure:
    """Curves over depth of one run (:class:`topoact.observers.depth.DepthCurves` dict); the tunnel
    is shaded from its first layer to the last."""
    fig = _figure(height)
    _add_probe_traces(fig, curves, 1)
    _add_structure_traces(fig, curves)
    tunnel = curves.get("tunnel")
    if tunnel:
        fig.add_vrect(x0=tunnel["index"], x1=len(curves["layers"]) - 1, fillcolor="#d62728", opacity=0.08,
                      line_width=0, annotation_text="tunnel", annotation_position="top left")
    return fig


def compare_depth_figure(curves_a: dict, curves_b: dict, names: Sequence[str] = ("A", "B"), *,
                         height: int = 720) -> go.Figure:
    """Two runs' curves overlaid (B dashed); the x axis is the union of layer names in A's order
    then B's."""
    fig = _figure(height)
    for curves, dash, name in ((curves_a, "solid", names[0]), (curves_b, "dash", names[1])):
        _add_probe_traces(fig, curves, 1, dash=dash, prefix=f"{name}: ", show_controls=False)
        _add_structure_traces(fig, curves, dash=dash, prefix=f"{name}: ")
    return fig


def cka_figure(cka: dict, *, title: str = "linear CKA", height: int = 460) -> go.Figure:
    """Heat map of ``{"rows", "cols", "values"}`` (rows top to bottom in depth order)."""
    values = np.asarray(cka["values"], float)
    fig = go.Figure(go.Heatmap(z=values, x=cka["cols"], y=cka["rows"], zmin=0, zmax=1, colorscale="Viridis",
                               text=np.round(values, 2), texttemplate="%{text}",
                               hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=height, margin=dict(l=80, r=20, t=40, b=60))
    return fig


def unit_share_figure(units: dict, *, height: int = 360) -> go.Figure:
    """Share of units denoting each target, per layer (heat map: targets x layers)."""
    layers = list(units["layers"])
    targets = units["targets"]
    z = [[units["layers"][layer][t]["share"] for layer in layers] for t in targets]
    fig = go.Figure(go.Heatmap(z=z, x=layers, y=targets, zmin=0, zmax=1, colorscale="Blues",
                               hovertemplate="%{y} in %{x}: %{z:.0%} of units<extra></extra>"))
    fig.update_layout(title="share of units that denote each target", height=height,
                      margin=dict(l=100, r=20, t=40, b=40))
    return fig


def label_proportion_figure(units: dict, target: str, *, height: int = 320) -> go.Figure:
    """The paper's depth plot for one target: label proportion of each denoting unit (dots) and
    their mean (line) per layer."""
    layers = list(units["layers"])
    fig = go.Figure()
    xs, ys = [], []
    for layer in layers:
        lp = units["label_proportion"].get(layer) or []
        for u in units["layers"][layer][target]["denoting"]:
            xs.append(layer)
            ys.append(lp[u] if u < len(lp) else None)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="units", marker=dict(size=5, opacity=0.4)))
    fig.add_trace(go.Scatter(x=layers, y=[units["layers"][layer][target]["label_proportion"] for layer in layers],
                             mode="lines+markers", name="mean"))
    fig.update_layout(title=f"label proportion of units denoting {target}", height=height,
                      yaxis=dict(range=[0, 1.02], title="majority-class share of top images"),
                      margin=dict(l=60, r=20, t=40, b=40))
    return fig


def unit_scores_figure(units: dict, layer: str, target: str, *, height: int = 300) -> go.Figure:
    """Per-unit scores of one layer for one target, sorted; the threshold as a line."""
    entry = units["layers"][layer][target]
    scores = np.asarray(entry["scores"])
    order = np.argsort(-scores)
    fig = go.Figure(go.Bar(x=[f"u{u}" for u in order], y=scores[order],
                           marker_color=["#d62728" if u in set(entry["denoting"]) else "#9e9e9e" for u in order],
                           hovertemplate="unit %{x}: %{y:.3f}<extra></extra>"))
    fig.add_hline(y=entry["threshold"], line_dash="dash", annotation_text="threshold (control)")
    fig.update_layout(title=f"{layer}: units denoting {target} (red)", height=height,
                      margin=dict(l=50, r=20, t=40, b=40), xaxis=dict(showticklabels=len(scores) <= 64))
    return fig


def unit_relevance_figure(matrix: Sequence[Sequence[float]], outputs: Sequence, *, layer: str = "",
                          height: int = 320) -> go.Figure:
    """Heat map of relevance (probe weight x activation) per output (rows) and unit (columns)."""
    z = np.asarray(matrix, float)
    bound = float(np.abs(z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z, y=[str(o) for o in outputs], x=[f"u{u}" for u in range(z.shape[1])],
                               zmin=-bound, zmax=bound, colorscale="RdBu", reversescale=True,
                               hovertemplate="%{y}, %{x}: %{z:.3f}<extra></extra>"))
    fig.update_layout(title=f"{layer}: relevance per unit (probe weight x activation, class mean)",
                      height=height, margin=dict(l=100, r=20, t=40, b=40))
    return fig


def _png_uri(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def spatial_relevance_figure(result: dict, *, height: int = 360) -> go.Figure:
    """The image with the relevance map (red: for the output, blue: against) overlaid."""
    image = np.asarray(result["image"], np.uint8)
    R = np.asarray(result["upsampled"], float)
    bound = float(np.abs(R).max()) or 1.0
    h, w = R.shape
    fig = go.Figure()
    fig.add_layout_image(dict(source=_png_uri(image), xref="x", yref="y", x=-0.5, y=-0.5, sizex=w, sizey=h,
                              sizing="stretch", layer="below"))
    fig.add_trace(go.Heatmap(z=R, zmin=-bound, zmax=bound, colorscale="RdBu", reversescale=True, opacity=0.55,
                             hovertemplate="(%{x}, %{y}): %{z:.3f}<extra></extra>"))
    fig.update_xaxes(range=[-0.5, w - 0.5], showticklabels=False)
    fig.update_yaxes(range=[h - 0.5, -0.5], showticklabels=False, scaleanchor="x")
    fig.update_layout(title=f"{result['layer']}, image {result['row']}: relevance for {result['output']}",
                      height=height, margin=dict(l=20, r=20, t=40, b=20))
    return fig
