"""Plotly figures of Mapper graphs (and the small charts around them).

Everything here takes the JSON-able graph dict of ``docs/design.md`` (plus plain arrays) and
returns a ``plotly.graph_objects.Figure``; nothing touches the run directory or Dash, so the
figures work in a notebook too.

Choices:

* Layout: a seeded Fruchterman-Reingold (spring) layout weighted by the edges' Jaccard weight,
  computed with networkx (a kmapper dependency), each connected component laid out on its own
  in a square box of side ~ sqrt(size) and the boxes shelf-packed in rows, largest first, so
  small components do not drift off to the border. Deterministic for a given graph and seed.
* Nodes: area proportional to member count (marker diameter ~ sqrt(size), 6-34 px); one trace
  per majority class when colouring by class (so the legend lists classes), otherwise one
  trace with a colour bar; circular values use the cyclic ``Twilight`` scale spanning one period.
  Each marker carries its node id in ``customdata`` as ``[id]`` (click -> node id); plain lists,
  because plotly's binary array encoding does not reach Dash's ``clickData``.
* Class highlight (TopoAct): nodes without a member of the class fade to opacity 0.12.
* Edges: one line trace, drawn only for Jaccard weight >= ``edge_threshold``.
* Marked nodes (e.g. where an uploaded image falls) get a thick red ring; the selected node a
  black one.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "graph_layout", "graph_figure", "marker_traces", "node_rings", "composition_figure", "sweep_figure",
    "empty_figure", "CLASS_COLORS",
]

CLASS_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1", "#636363",
)
FADED_OPACITY = 0.12


def class_color(label: int) -> str:
    """The colour of class ``label`` (a fixed palette, cycling after 20 classes)."""
    return CLASS_COLORS[int(label) % len(CLASS_COLORS)]


# -- layout -------------------------------------------------------------------------------------
def graph_layout(graph: dict, seed: int = 0, iterations: int | None = None) -> np.ndarray:
    """Deterministic 2-D positions of a Mapper graph's nodes.

    Parameters
    ----------
    graph : Mapper graph dict (``nodes`` with ``id``, ``edges`` with ``source``/``target``/``weight``)
    seed : random seed of the spring layout
    iterations : spring-layout iterations (default: 50, fewer for graphs of > 2,000 nodes)

    Returns
    -------
    positions : (n_nodes, 2) float array in the order of ``graph["nodes"]``
    """
    import networkx as nx

    nodes = [int(n["id"]) for n in graph["nodes"]]
    if not nodes:
        return np.zeros((0, 2))
    index = {node: i for i, node in enumerate(nodes)}
    g = nx.Graph()
    g.add_nodes_from(nodes)
    for edge in graph.get("edges", []):
        g.add_edge(int(edge["source"]), int(edge["target"]), weight=float(edge.get("weight", 1.0)) + 0.05)
    if iterations is None:
        iterations = 50 if len(nodes) <= 2000 else 20
    components = sorted(nx.connected_components(g), key=lambda c: (-len(c), min(c)))
    # each component is laid out alone in a square box (side ~ sqrt(size)); the boxes are
    # shelf-packed, largest first, into rows about as wide as the total is tall
    boxes = []
    for comp in components:
        comp = sorted(comp)
        side = 0.5 if len(comp) <= 2 else max(1.0, math.sqrt(len(comp)) / 3.0)
        if len(comp) == 1:
            coords = np.array([[0.5, 0.5]])
        elif len(comp) == 2:
            coords = np.array([[0.0, 0.5], [1.0, 0.5]])
        else:
            pos = nx.spring_layout(g.subgraph(comp), seed=seed, iterations=iterations, weight="weight")
            coords = np.array([pos[n] for n in comp])
            lo, hi = coords.min(0), coords.max(0)
            coords = (coords - lo) / np.where(hi - lo > 0, hi - lo, 1.0)
        boxes.append((comp, side, coords))
    row_width = max(max(side for _, side, _ in boxes), 1.3 * math.sqrt(sum((side + 0.3) ** 2 for _, side, _ in boxes)))
    positions = np.zeros((len(nodes), 2))
    x, y, row_height = 0.0, 0.0, 0.0
    for comp, side, coords in boxes:
        if x > 0 and x + side > row_width:
            x, y, row_height = 0.0, y - row_height - 0.3, 0.0
        inner = 0.8 * side
        for n, c in zip(comp, coords):
            positions[index[n]] = (x + 0.1 * side + c[0] * inner, y - 0.1 * side - (1 - c[1]) * inner)
        x += side + 0.3
        row_height = max(row_height, side)
    return positions


# -- main figure --------------------------------------------------------------------------------
def _marker_sizes(sizes: np.ndarray) -> np.ndarray:
    sizes = np.asarray(sizes, dtype=float)
    if sizes.size == 0:
        return sizes
    root = np.sqrt(sizes)
    lo, hi = root.min(), root.max()
    if hi <= lo:
        return np.full_like(root, 14.0)
    return 6.0 + 28.0 * (root - lo) / (hi - lo)


def _hover(node: dict, class_names: Sequence[str], extra: str = "") -> str:
    counts = sorted(((int(k), int(v)) for k, v in node.get("label_counts", {}).items()), key=lambda kv: -kv[1])
    top = ", ".join(f"{class_names[k] if k < len(class_names) else k}: {v}" for k, v in counts[:4])
    text = (f"node {node['id']}<br>size {node['size']}<br>purity {node.get('purity', float('nan')):.2f}"
            f"<br>{top}")
    return text + (f"<br>{extra}" if extra else "")


def graph_figure(
    graph: dict,
    positions: np.ndarray,
    *,
    color_by: str = "majority",
    values: np.ndarray | None = None,
    color_kind: str = "linear",
    period: float | None = None,
    class_names: Sequence[str] = (),
    highlight_class: int | None = None,
    edge_threshold: float = 0.0,
    selected_node: int | None = None,
    marked_nodes: Iterable[int] = (),
    title: str | None = None,
    height: int = 600,
    show_legend: bool = True,
) -> go.Figure:
    """The interactive Mapper graph figure.

    Parameters
    ----------
    graph : Mapper graph dict
    positions : (n_nodes, 2) from :func:`graph_layout`
    color_by : ``"majority"`` (one trace per majority class, with a legend) or the name of the
        quantity in ``values`` (shown on the colour bar)
    values : (n_nodes,) float values when ``color_by != "majority"`` (NaN draws grey)
    color_kind : ``"linear"`` or ``"circular"`` (cyclic colour scale over ``[0, period]``)
    highlight_class : label index; nodes without members of it are faded
    edge_threshold : minimum Jaccard weight of the edges drawn
    selected_node, marked_nodes : node ids drawn with a black / red ring
    """
    nodes = graph["nodes"]
    ids = np.array([int(n["id"]) for n in nodes], dtype=int)
    index = {int(i): k for k, i in enumerate(ids)}
    sizes = np.array([int(n["size"]) for n in nodes])
    marker_size = _marker_sizes(sizes)
    if highlight_class is not None:
        key = str(int(highlight_class))
        contains = np.array([int(n.get("label_counts", {}).get(key, 0)) > 0 for n in nodes], dtype=bool)
        opacity = np.where(contains, 1.0, FADED_OPACITY)
    else:
        contains = np.ones(len(nodes), dtype=bool)
        opacity = np.ones(len(nodes))
    marked = [int(m) for m in marked_nodes]

    fig = go.Figure()
    # edges
    xs, ys = [], []
    for edge in graph.get("edges", []):
        if float(edge.get("weight", 1.0)) < edge_threshold:
            continue
        a, b = index.get(int(edge["source"])), index.get(int(edge["target"]))
        if a is None or b is None:
            continue
        xs += [positions[a, 0], positions[b, 0], None]
        ys += [positions[a, 1], positions[b, 1], None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                             line=dict(color="rgba(120,120,120,0.6)", width=1.2), name="edges"))

    rings = node_rings(ids, selected_node, marked)
    hovers = [_hover(n, class_names) for n in nodes]
    scatter = go.Scattergl if len(nodes) > 3000 else go.Scatter

    if color_by == "majority":
        majority = np.array([int(n.get("majority_label", -1)) for n in nodes])
        for label, sel in zip(*_majority_groups(majority)):
            name = class_names[label] if 0 <= label < len(class_names) else str(label)
            fig.add_trace(scatter(
                x=positions[sel, 0], y=positions[sel, 1], mode="markers", name=name,
                customdata=[[int(ids[k])] for k in sel], text=[hovers[k] for k in sel], hoverinfo="text",
                marker=dict(size=marker_size[sel], color=class_color(label), opacity=opacity[sel],
                            line=dict(color=[rings[0][k] for k in sel], width=[rings[1][k] for k in sel])),
            ))
    else:
        vals = np.asarray(values, dtype=float) if values is not None else np.full(len(nodes), np.nan)
        marker = dict(size=marker_size, color=vals, opacity=opacity, showscale=True,
                      colorbar=dict(title=dict(text=color_by), thickness=14),
                      line=dict(color=rings[0], width=rings[1]))
        if color_kind == "circular":
            marker.update(colorscale="Twilight", cmin=0.0, cmax=float(period or 2 * math.pi))
        else:
            marker.update(colorscale="Viridis")
            finite = vals[np.isfinite(vals)]
            if finite.size:
                marker.update(cmin=float(finite.min()), cmax=float(finite.max()) if finite.max() > finite.min()
                              else float(finite.min()) + 1e-9)
        text = [f"{h}<br>{color_by}: {v:.3g}" for h, v in zip(hovers, vals)]
        fig.add_trace(scatter(x=positions[:, 0], y=positions[:, 1], mode="markers", name=color_by,
                              customdata=[[int(i)] for i in ids], text=text, hoverinfo="text", marker=marker, showlegend=False))
    fig.update_layout(
        title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        hovermode="closest", clickmode="event", dragmode="pan", plot_bgcolor="white",
        showlegend=show_legend and color_by == "majority",
        legend=dict(title=dict(text="majority class"), itemsizing="constant", x=1.01, xanchor="left", y=1),
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
        uirevision=f"{graph.get('layer')}/{graph.get('key')}",
    )
    return fig


def _majority_groups(majority: np.ndarray) -> tuple[list[int], list[np.ndarray]]:
    """The majority-class traces: labels in order and the node positions of each."""
    labels = sorted(set(majority.tolist()))
    return labels, [np.flatnonzero(majority == label) for label in labels]


def marker_traces(graph: dict, color_by: str = "majority") -> list[list[int]]:
    """Node ids of each marker trace of :func:`graph_figure`, in trace order (trace 0 is the edges).

    Lets a caller restyle markers of a drawn figure (e.g. a ``dash.Patch`` of the selection
    ring) without rebuilding it.

    Parameters
    ----------
    graph : dict
        The Mapper graph dict the figure was drawn from.
    color_by : str
        The figure's ``color_by``: one trace per majority class for ``"majority"``, else one.

    Returns
    -------
    list of list of int
        ``out[i]`` = node ids of trace ``i + 1``, in point order.
    """
    ids = [int(n["id"]) for n in graph["nodes"]]
    if color_by != "majority":
        return [ids]
    majority = np.array([int(n.get("majority_label", -1)) for n in graph["nodes"]])
    return [[ids[k] for k in sel] for sel in _majority_groups(majority)[1]]


def node_rings(node_ids: Sequence[int], selected_node: int | None = None,
               marked_nodes: Iterable[int] = ()) -> tuple[list[str], list[float]]:
    """Marker outline colours and widths: a red ring for marked nodes, black for the selected one.

    Parameters
    ----------
    node_ids : sequence of int
        Node ids, in point order.
    selected_node : int, optional
        The clicked node.
    marked_nodes : iterable of int
        Nodes to ring in red (an uploaded image's nodes, a persistence cycle's nodes).

    Returns
    -------
    (colors, widths) : two lists of len(node_ids)
    """
    marked = {int(m) for m in marked_nodes}
    colors, widths = [], []
    for node_id in node_ids:
        if int(node_id) in marked:
            color, width = "#e00000", 4.0
        elif selected_node is not None and int(node_id) == int(selected_node):
            color, width = "#000000", 3.0
        else:
            color, width = "rgba(40,40,40,0.7)", 0.6
        colors.append(color)
        widths.append(width)
    return colors, widths


# -- small charts -------------------------------------------------------------------------------
def composition_figure(label_counts: dict, class_names: Sequence[str], *, kind: str = "bar",
                       height: int = 260) -> dict:
    """Class composition of a node: a bar (default) or pie chart of its label counts.

    Returned as a plain plotly figure dict (``go.Figure(result)`` makes an object of it): it is
    drawn on every node click, and building and serialising a validated ``go.Figure`` was 75 %
    of that callback's server time (~6 of 8 ms).

    Parameters
    ----------
    label_counts : {label: count}
    class_names : names of the label values
    kind : 'bar' or 'pie'
    height : pixels
    """
    items = sorted(((int(k), int(v)) for k, v in label_counts.items()), key=lambda kv: -kv[1])
    names = [class_names[k] if 0 <= k < len(class_names) else str(k) for k, _ in items]
    counts = [v for _, v in items]
    colors = [class_color(k) for k, _ in items]
    layout: dict = {"height": height, "margin": {"l": 10, "r": 10, "t": 10, "b": 10}}
    if kind == "pie":
        trace = {"type": "pie", "labels": names, "values": counts, "marker": {"colors": colors}, "sort": False}
    else:
        trace = {"type": "bar", "x": names, "y": counts, "marker": {"color": colors}}
        layout["yaxis"] = {"title": {"text": "members"}}
    return {"data": [trace], "layout": layout}


def sweep_figure(summaries: Sequence[dict], *, x: str = "intervals", y: str = "overlap",
                 metric: str = "nodes", height: int = 320) -> go.Figure:
    """Heat map of one sweep summary metric over two parameters (click a cell to pick a setting).

    Each summary dict needs ``params`` (with ``x`` and ``y``) and ``metric``. Where several
    settings share a cell (a third swept parameter), the first one is shown.
    """
    xs = sorted({s["params"][x] for s in summaries})
    ys = sorted({s["params"][y] for s in summaries})
    z = np.full((len(ys), len(xs)), np.nan)
    custom = np.full((len(ys), len(xs)), -1, dtype=int)
    for k, s in enumerate(summaries):
        i, j = ys.index(s["params"][y]), xs.index(s["params"][x])
        if custom[i, j] < 0:
            value = s.get(metric)
            z[i, j] = float(value) if value is not None else np.nan
            custom[i, j] = k
    fig = go.Figure(go.Heatmap(z=z, x=[str(v) for v in xs], y=[str(v) for v in ys], customdata=custom.tolist(),
                               colorscale="Viridis", colorbar=dict(title=dict(text=metric)),
                               texttemplate="%{z:.3~g}", hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z}}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=x, yaxis_title=y)
    return fig


def empty_figure(message: str, height: int = 400) -> go.Figure:
    """A blank figure with ``message`` in its middle (no data yet, or an error)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=15, color="#666"))
    fig.update_layout(height=height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      plot_bgcolor="white", margin=dict(l=10, r=10, t=10, b=10))
    return fig
