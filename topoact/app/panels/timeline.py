"""The Timeline tab: a layer's Mapper graph over a training series, with an epoch slider.

Shown only when the app's run belongs to a series (a step of one, or a run attached to one, as
the demo run: :func:`topoact.series.find_series`). The slider walks the series' steps; the
graph moves between the aligned layouts of :func:`topoact.timeline.build_timeline` (a persisting
node keeps its identity - plotly animates it from its old place - its colour, the majority
class, and its position within the motion bound). Clicking a node shows its history: the step it
appeared at, what it split from (or merged from, or that it was born), and its label mix over
time. Beside it, the images in the layer's 2-D PCA, Procrustes-aligned from step to step
(:func:`topoact.timeline.aligned_embeddings`; points keep their identity, so they glide between
steps), with the clicked node's images outlined. Curves under the graph: accuracy, purity,
components and loops per step. A layer without a
timeline yet gets one with "Build timeline" (a background job with progress and cancel).
"""
from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options, show_cancelled
from topoact.app.help import field
from topoact.figures.graph import class_color, empty_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext
    from topoact.series import Series
    from topoact.timeline import Timeline

logger = logging.getLogger(__name__)

TAB_LABEL = "Timeline"

LAYER = "topoact-timeline-layer"
SLIDER = "topoact-timeline-slider"
GRAPH = "topoact-timeline-graph"
CURVES = "topoact-timeline-curves"
HISTORY = "topoact-timeline-history"
BUILD = "topoact-timeline-build"
CANCEL = "topoact-timeline-cancel"
STATUS = "topoact-timeline-status"
PROGRESS = "topoact-timeline-progress"
PROGRESS_TEXT = "topoact-timeline-progress-text"
VERSION = "topoact-timeline-version"
EMBEDDING = "topoact-timeline-embedding"
#: images drawn in the embedding view (a fixed random subset above this)
MAX_POINTS = 2000
STEP_TEXT = "topoact-timeline-step"

HELP = {
    "layer": "The layer whose Mapper graph is followed over the checkpoints (one graph configuration "
             "for every step).",
    "slider": "Training steps (checkpoints) of the series; the graph moves to that step's layout. Nodes "
              "that persist keep their place (within a bound); splits, merges, births and deaths are counted.",
}


def series_of(ctx: AppContext) -> Series | None:
    """The series the app's run belongs to (None when it belongs to none)."""
    from topoact.series import find_series

    path = getattr(ctx.run, "path", None)
    return find_series(path) if path is not None else None


def available(ctx: AppContext) -> bool:
    """Whether the tab is shown: the run belongs to a series with at least one complete step."""
    series = series_of(ctx)
    return series is not None and bool(series.steps)


def identities(timeline: Timeline) -> dict[tuple[int, int], str]:
    """A stable id per (step, node): a matched node inherits its predecessor's id (for animation).

    Parameters
    ----------
    timeline : Timeline

    Returns
    -------
    dict mapping (step, node) to a string id
    """
    back = {tuple(m["to"]): tuple(m["from"]) for m in timeline.matches}
    out: dict[tuple[int, int], str] = {}
    for step in timeline.step_numbers:
        for node in range(len(timeline.layouts[str(step)])):
            prev = back.get((step, node))
            out[(step, node)] = out.get(prev, f"{step}:{node}") if prev else f"{step}:{node}"
    return out


def timeline_figure(graph: dict, positions: np.ndarray, ids: list[str], *, class_names: list[str],
                    selected: int | None = None, height: int = 520,
                    extent: tuple[float, float, float, float] | None = None) -> go.Figure:
    """One step's graph: edges and one marker trace with node identities as plotly ``ids``.

    Parameters
    ----------
    graph : Mapper graph dict
    positions : (K, 2) aligned positions
    ids : K strings, identities kept by persisting nodes
    class_names : label names (hover text)
    selected : node id drawn with a black ring
    height : pixels
    extent : (x0, x1, y0, y1) shared by every step (so the axes do not jump)

    Returns
    -------
    plotly.graph_objects.Figure
    """
    nodes = graph["nodes"]
    xs, ys = [], []
    for e in graph.get("edges", []):
        a, b = int(e["source"]), int(e["target"])
        xs += [positions[a, 0], positions[b, 0], None]
        ys += [positions[a, 1], positions[b, 1], None]
    majority = [int(n.get("majority_label", -1)) for n in nodes]
    sizes = np.array([int(n["size"]) for n in nodes], float)
    marker_size = 6 + 14 * np.sqrt(sizes / max(sizes.max(), 1.0)) if len(sizes) else []

    def hover(k: int, n: dict) -> str:
        label = class_names[majority[k]] if 0 <= majority[k] < len(class_names) else str(majority[k])
        return f"node {k} · {n['size']} images · majority {label} · purity {float(n.get('purity', 0)):.2f}"

    fig = go.Figure([
        go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False, name="edges",
                   line=dict(color="rgba(120,120,120,0.5)", width=1)),
        go.Scatter(x=positions[:, 0], y=positions[:, 1], ids=ids, mode="markers", showlegend=False, name="nodes",
                   customdata=[[k] for k in range(len(nodes))], hoverinfo="text",
                   text=[hover(k, n) for k, n in enumerate(nodes)],
                   marker=dict(size=marker_size, color=[class_color(m) for m in majority],
                               line=dict(color=["black" if k == selected else "white" for k in range(len(nodes))],
                                         width=[3 if k == selected else 0.5 for k in range(len(nodes))]))),
    ])
    axis = dict(visible=False)
    if extent is not None:
        x0, x1, y0, y1 = extent
        fig.update_xaxes(range=[x0 - 1, x1 + 1])
        fig.update_yaxes(range=[y0 - 1, y1 + 1])
    # layout.transition makes Plotly.react glide markers with the same id (no dcc.Graph animate=True:
    # its Plotly.animate kept re-running old frames, so markers oscillated and clicks missed them)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      xaxis=axis, yaxis=dict(axis, scaleanchor="x"), hovermode="closest", clickmode="event",
                      transition=dict(duration=500, easing="cubic-in-out"), uirevision="timeline")
    return fig


def curves_figure(timeline: Timeline) -> go.Figure:
    """Per-step accuracy, purity, components and loops (two y axes: shares and counts)."""
    steps = timeline.step_numbers
    fig = go.Figure()
    for key, name in (("accuracy", "accuracy"), ("purity", "graph purity"), ("probe_accuracy", "probe accuracy")):
        values = [row.get(key) for row in timeline.steps]
        if any(v is not None for v in values):
            fig.add_trace(go.Scatter(x=steps, y=values, mode="lines+markers", name=name))
    for key, name in (("components", "components"), ("loops", "loops")):
        fig.add_trace(go.Scatter(x=steps, y=[row.get(key) for row in timeline.steps], mode="lines+markers",
                                 name=name, yaxis="y2", line=dict(dash="dot")))
    fig.update_layout(height=260, margin=dict(l=40, r=40, t=10, b=30), xaxis=dict(title="step"),
                      yaxis=dict(title="share", range=[0, 1.02]), yaxis2=dict(title="count", overlaying="y", side="right"),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def embedding_figure(points: np.ndarray, rows: np.ndarray, labels: np.ndarray, *, members: set[int] = frozenset(),
                     extent: tuple[float, float, float, float] | None = None, height: int = 360) -> go.Figure:
    """Aligned 2-D embedding of the images ``rows`` (ids = row numbers, so plotly animates them).

    Parameters
    ----------
    points : (M, 2) coordinates of ``rows``
    rows : (M,) int row indices
    labels : (M,) int labels of ``rows``
    members : rows of the selected node (outlined)
    extent : (x0, x1, y0, y1) shared by every step
    height : pixels

    Returns
    -------
    plotly.graph_objects.Figure
    """
    chosen = np.array([int(r) in members for r in rows], bool)
    fig = go.Figure(go.Scatter(
        x=points[:, 0], y=points[:, 1], ids=[str(int(r)) for r in rows], mode="markers", hoverinfo="text",
        text=[f"image {int(r)}" for r in rows], showlegend=False, name="images",
        marker=dict(size=np.where(chosen, 9, 5), color=[class_color(int(lab)) for lab in labels],
                    opacity=np.where(chosen | (len(members) == 0), 0.9, 0.35),
                    line=dict(color="black", width=np.where(chosen, 1.5, 0)))))
    if extent is not None:
        fig.update_xaxes(range=[extent[0], extent[1]])
        fig.update_yaxes(range=[extent[2], extent[3]])
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), plot_bgcolor="white",
                      xaxis=dict(visible=False), yaxis=dict(visible=False), uirevision="timeline-embedding",
                      transition=dict(duration=500, easing="cubic-in-out"))
    return fig


def history_figure(history: dict, class_names: list[str]) -> go.Figure:
    """Stacked label counts of a node's chain, one bar per step."""
    mix = history["label_mix"]
    steps = [str(m["step"]) for m in mix]
    labels = sorted({int(k) for m in mix for k in m["label_counts"]})
    fig = go.Figure([go.Bar(x=steps, y=[int(m["label_counts"].get(str(lab), 0)) for m in mix],
                            name=class_names[lab] if 0 <= lab < len(class_names) else str(lab),
                            marker_color=class_color(lab)) for lab in labels])
    fig.update_layout(barmode="stack", height=220, margin=dict(l=40, r=10, t=10, b=30),
                      xaxis=dict(title="step", type="category"), yaxis=dict(title="images"))
    return fig


def layout(ctx: AppContext) -> html.Div:
    """Layer choice, build button, the epoch slider, the graph, the node history and the curves."""
    series = series_of(ctx)
    steps = series.steps if series is not None else []
    layers = series.layers if series is not None else []
    marks = {k: str(s) for k, s in enumerate(steps)}
    return html.Div([
        html.P(f"Training series in {series.path if series else '?'}: {len(steps)} checkpoints "
               f"(steps {', '.join(map(str, steps))}).", style={"fontSize": "0.85em", "color": "#555"}),
        html.Div([
            field("Layer", dcc.Dropdown(id=LAYER, options=layers, value=layers[0] if layers else None,
                                        clearable=False), help=HELP["layer"], control_id=LAYER),
            html.Button("Build timeline", id=BUILD, n_clicks=0, style={"height": "2.2em"}),
            html.Button("Cancel", id=CANCEL, n_clicks=0, disabled=True, style={"height": "2.2em"}),
            html.Progress(id=PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "10em"}),
            html.Span(id=PROGRESS_TEXT, style={"fontSize": "0.8em"}),
            html.Span(id=STATUS, style={"fontSize": "0.85em"}),
        ], style={"display": "flex", "gap": "0.8em", "alignItems": "flex-end", "flexWrap": "wrap"}),
        html.Div([
            field("Step (checkpoint)", dcc.Slider(id=SLIDER, min=0, max=max(len(steps) - 1, 0), step=1,
                                                  value=max(len(steps) - 1, 0), marks=marks, included=False,
                                                  allow_direct_input=False),
                  help=HELP["slider"], control_id=SLIDER, width="100%"),
            html.Div(id=STEP_TEXT, style={"fontSize": "0.85em", "marginTop": "0.3em"}),
        ], style={"margin": "0.8em 0"}),
        dcc.Store(id=VERSION, data=0),
        html.Div([
            html.Div(dcc.Graph(id=GRAPH, figure=empty_figure("", height=520),
                               config={"scrollZoom": True, "displayModeBar": False}),
                     style={"flex": "3 1 0", "minWidth": "0"}),
            html.Div([dcc.Graph(id=EMBEDDING, figure=empty_figure("", height=360),
                                config={"displayModeBar": False}),
                      html.Div("Click a node to see its history.", id=HISTORY)],
                     style={"flex": "2 1 0", "minWidth": "0", "fontSize": "0.85em"}),
        ], style={"display": "flex", "gap": "1em"}),
        dcc.Graph(id=CURVES, figure=empty_figure("", height=260), config={"displayModeBar": False}),
    ])


def register(app: Dash, ctx: AppContext) -> None:
    """Slider -> graph of that step; click -> node history; Build -> background timeline job."""
    from topoact.timeline import build_timeline, load_timeline, node_history

    series = series_of(ctx)
    if series is None:
        return
    class_names = list(series.run(series.steps[-1]).label_names)

    @functools.lru_cache(maxsize=8)
    def timeline_of(layer: str, _version: int) -> Timeline | None:
        try:
            return load_timeline(series, layer)
        except Exception:  # noqa: BLE001 - a damaged cache file is shown as "not built"
            logger.exception("timeline of %s unreadable", layer)
            return None

    @functools.lru_cache(maxsize=64)
    def graph_of(step: int, layer: str, key: str):
        return series.run(step).graph(layer, key)

    def step_view(layer: str, version: int, index: int) -> tuple[Timeline, int] | None:
        timeline = timeline_of(layer, version)
        if timeline is None:
            return None
        steps = timeline.step_numbers
        return timeline, steps[min(max(int(index or 0), 0), len(steps) - 1)]

    @app.callback(Output(GRAPH, "figure"), Output(STEP_TEXT, "children"), Output(CURVES, "figure"),
                  Input(SLIDER, "value"), Input(LAYER, "value"), Input(VERSION, "data"))
    def draw(index, layer, version):
        view = step_view(layer, version, index) if layer else None
        if view is None:
            text = f"no timeline of {layer} yet: press Build timeline"
            return empty_figure(text, height=520), text, empty_figure("", height=260)
        timeline, step = view
        ident = identities(timeline)
        all_pos = np.concatenate([np.asarray(p, float).reshape(-1, 2) for p in timeline.layouts.values()])
        extent = (all_pos[:, 0].min(), all_pos[:, 0].max(), all_pos[:, 1].min(), all_pos[:, 1].max())
        graph = graph_of(step, layer, timeline.key).to_dict()
        positions = np.asarray(timeline.layouts[str(step)], float).reshape(-1, 2)
        ids_ = [ident[(step, k)] for k in range(len(positions))]
        row = timeline.steps[timeline.step_numbers.index(step)]
        events = row.get("events") or {}
        acc = "n/a" if row.get("accuracy") is None else f"{row['accuracy']:.1%}"
        text = (f"step {step}: {row['nodes']} nodes, {row['components']} components, {row['loops']} loops, "
                f"accuracy {acc}" + ("; since the previous step: " + ", ".join(
                    f"{v} {k}" for k, v in events.items() if v) if events else ""))
        fig = timeline_figure(graph, positions, ids_, class_names=class_names, extent=extent)
        return fig, text, curves_figure(timeline)

    @functools.lru_cache(maxsize=4)
    def embeddings(layer: str, _version: int) -> tuple[dict[int, np.ndarray], np.ndarray, tuple]:
        from topoact.timeline import aligned_embeddings

        runs = series.runs()
        n = runs[0].n
        rows = (np.sort(np.random.default_rng(0).choice(n, MAX_POINTS, replace=False)) if n > MAX_POINTS
                else np.arange(n))
        coords = {s: y[rows] for s, y in zip(series.steps, aligned_embeddings(runs, layer))}
        stacked = np.concatenate(list(coords.values()))
        pad = 0.05 * (stacked.max(0) - stacked.min(0) + 1e-9)
        lo, hi = stacked.min(0) - pad, stacked.max(0) + pad
        return coords, rows, (lo[0], hi[0], lo[1], hi[1])

    @app.callback(Output(EMBEDDING, "figure"), Input(SLIDER, "value"), Input(LAYER, "value"),
                  Input(VERSION, "data"), Input(GRAPH, "clickData"))
    def draw_embedding(index, layer, version, click):
        view = step_view(layer, version, index) if layer else None
        if view is None:
            return empty_figure("", height=360)
        timeline, step = view
        coords, rows, extent = embeddings(layer, version)
        members: set[int] = set()
        from dash import ctx as callback_context

        # a click belongs to the graph of the step it was made on: only a fresh click outlines
        if callback_context.triggered_id == GRAPH and click and click.get("points") and "customdata" in click["points"][0]:
            node = int(click["points"][0]["customdata"][0])
            graph = graph_of(step, layer, timeline.key)
            if 0 <= node < graph.n_nodes:
                members = set(graph.members[node].tolist())
        labels = series.run(step).labels[rows]
        return embedding_figure(coords[step], rows, labels, members=members, extent=extent)

    @app.callback(Output(HISTORY, "children"), Input(GRAPH, "clickData"),
                  State(SLIDER, "value"), State(LAYER, "value"), State(VERSION, "data"), prevent_initial_call=True)
    def history(click, index, layer, version):
        if not click or not click.get("points") or "customdata" not in click["points"][0]:
            raise PreventUpdate
        view = step_view(layer, version, index)
        if view is None:
            raise PreventUpdate
        timeline, step = view
        node = int(click["points"][0]["customdata"][0])
        graphs = {s: graph_of(s, layer, timeline.key) for s in timeline.step_numbers}
        h = node_history(timeline, step, node, graphs)
        origin = h["origin"]
        if origin is None:
            where = f"present since the first step ({h['appeared']})"
        elif origin["kind"] == "birth":
            where = f"born at step {origin['step']}"
        else:
            parts = ", ".join(f"node {n} of step {s}" for s, n in origin["from"])
            where = f"{'split from' if origin['kind'] == 'split' else 'merged from'} {parts} at step {origin['step']}"
        chain = " → ".join(f"{s}:{n}" for s, n in h["chain"])
        return [html.B(f"node {node} at step {step}"), html.Div(f"appeared at step {h['appeared']}; {where}"),
                html.Div(f"matched chain (step:node): {chain}", style={"color": "#555"}),
                html.Div("label mix over time", style={"marginTop": "0.5em"}),
                dcc.Graph(id="topoact-timeline-history-mix", figure=history_figure(h, class_names),
                          config={"displayModeBar": False})]

    @app.callback(Output(VERSION, "data"), Output(STATUS, "children"),
                  Input(BUILD, "n_clicks"), State(LAYER, "value"), State(VERSION, "data"),
                  **job_options(PROGRESS, PROGRESS_TEXT, cancel=CANCEL, buttons=[BUILD]))
    def build(set_progress, n_clicks, layer, version):
        """Runs in a worker process; the timeline is cached in the series."""
        if not n_clicks or not layer:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        try:
            build_timeline(series, layer, progress=bar)
        except Exception as exc:  # noqa: BLE001 - shown next to the button
            logger.exception("timeline failed")
            return no_update, f"error: {exc}"
        return int(version or 0) + 1, f"timeline of {layer} ready ({bar.elapsed():.1f} s)"

    show_cancelled(app, CANCEL, STATUS)
