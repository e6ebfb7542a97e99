"""Plotly figures of Mapper graphs (and the small charts around them).

Everything here takes the JSON-able graph dict of ``docs/design.md`` (plus plain arrays) and
returns a ``plotly.graph_objects.Figure``; nothing touches the run directory or Dash, so the
figures work in a notebook too.

Choices:

* Layout: the graph's stored layout (:mod:`topoact.mapper.layout`: components packed by size,
  tiny components collapsed into one summary glyph), so positions never change with the
  colouring. :func:`graph_layout` (a networkx spring layout per component, shelf-packed) is the
  fallback for a graph dict without one.
* Nodes: area proportional to member count (marker diameter ~ sqrt(size), 6-34 px), all in ONE
  trace, larger nodes drawn first so a smaller node is on top of a larger one it overlaps.
  Plotly's "closest" picking inside one trace scores a point by its pointer distance relative
  to its marker radius (0 at the marker centre), so the node opened is the node whose centre is
  under the pointer even where markers overlap; several traces (one per class, as before)
  compared points across traces less reliably. Class colours per point, legend entries from
  legend-only traces; other colourings use a colour bar (circular values: the cyclic
  ``Twilight`` scale spanning one period). Each marker carries its node id in ``customdata``
  as ``[id]`` (click -> node id); plain lists, because plotly's binary array encoding does not
  reach Dash's ``clickData``. Above :data:`WEBGL_MIN_NODES` nodes, WebGL (``Scattergl``).
* Class highlight (TopoAct): nodes without a member of the class fade to opacity 0.12.
* Edges: one line trace, drawn only for Jaccard weight >= ``edge_threshold``.
* Rings: a persistence cycle's nodes get a thick red ring, the selected node a black one; an
  uploaded image's nodes a white star (a different shape, in no class colour).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

__all__ = [
    "graph_layout", "graph_figure", "drawn_order", "node_colors", "edge_lines", "node_rings", "label_mix",
    "weight_histogram", "weight_marks", "composition_figure", "sweep_figure", "empty_figure", "CLASS_COLORS",
    "NODE_TRACE", "UPLOAD_TRACE", "GLYPH_TRACE", "GLYPH_ID", "WEBGL_MIN_NODES", "HISTOGRAM_PX", "MARK_GAP",
    "GLYPH_GAP",
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
#: above this many nodes the markers and edges are drawn with WebGL (``go.Scattergl``)
WEBGL_MIN_NODES = 1000
#: trace indices of :func:`graph_figure` (0 is the edges); legend-only traces follow the glyph
NODE_TRACE, UPLOAD_TRACE, GLYPH_TRACE = 1, 2, 3
#: ``customdata`` of the summary glyph (node ids are >= 0)
GLYPH_ID = -1
#: marker outlines: (colour, width) of plain, selected (clicked) and cycle-marked nodes
PLAIN_RING = ("rgba(40,40,40,0.7)", 0.6)
SELECTED_RING = ("#000000", 3.0)
CYCLE_RING = ("#e00000", 4.0)
#: the uploaded image's nodes: a white star with a black outline on the node (no class colour
#: is white, and a star is not a ring, so it reads apart from the class colours and the
#: selected node's black ring)
UPLOAD_MARK = dict(symbol="star", size=15, color="#ffffff", line=dict(color="#000000", width=1.6))
SELECTION_FADED_OPACITY = 0.15


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
    text = f"node {node['id']}<br>size {node['size']}<br>purity {node.get('purity', float('nan')):.2f}"
    top = label_mix(node.get("label_counts", {}), class_names)
    return text + (f"<br>{top}" if top else "") + (f"<br>{extra}" if extra else "")


def label_mix(label_counts: dict, class_names: Sequence[str], top: int = 4) -> str:
    """``"cat: 12, dog: 3"``: the ``top`` most frequent labels of a node with their counts."""
    counts = sorted(((int(k), int(v)) for k, v in label_counts.items()), key=lambda kv: -kv[1])
    return ", ".join(f"{class_names[k] if 0 <= k < len(class_names) else k}: {v}" for k, v in counts[:top])


def drawn_order(graph: dict, summary: dict | None = None, expanded: bool = False) -> np.ndarray:
    """Which nodes the marker trace draws, in drawing order.

    Larger nodes are drawn first so a smaller node is never hidden under a larger one (ties by
    node id); the nodes of the collapsed tiny components (``summary["nodes"]``) are left out
    unless ``expanded``.

    Parameters
    ----------
    graph : dict
        The Mapper graph dict.
    summary : dict, optional
        The stored layout's glyph summary (``{"position", "nodes", "n_components"}``).
    expanded : bool
        Whether the glyph is unfolded (its nodes drawn).

    Returns
    -------
    (n_drawn,) int array
        Positions in ``graph["nodes"]``; point ``i`` of the marker trace is node
        ``graph["nodes"][order[i]]``.
    """
    nodes = graph["nodes"]
    ids = np.array([int(n["id"]) for n in nodes], dtype=np.int64)
    sizes = np.array([int(n["size"]) for n in nodes], dtype=np.int64)
    keep = np.ones(len(nodes), bool)
    if summary and summary.get("nodes") and not expanded:
        keep &= ~np.isin(ids, np.asarray(summary["nodes"], np.int64))
    index = np.flatnonzero(keep)
    return index[np.lexsort((ids[index], -sizes[index]))]


def node_colors(graph: dict, order: np.ndarray, color_by: str = "majority", values: np.ndarray | None = None,
                color_kind: str = "linear", period: float | None = None) -> dict:
    """The marker colour properties of the drawn nodes (what a recolouring changes, nothing else).

    Parameters
    ----------
    graph : dict
    order : (n_drawn,) int, from :func:`drawn_order`
    color_by : ``"majority"`` (class colours) or the name of the quantity in ``values``
    values : (K,) float per node of the graph (NaN draws grey), when ``color_by != "majority"``
    color_kind : ``"linear"`` or ``"circular"`` (cyclic scale over ``[0, period]``)

    Returns
    -------
    dict
        ``color``, ``colorscale``, ``cmin``, ``cmax``, ``showscale``, ``colorbar`` (None where
        unused, so a ``dash.Patch`` assigning them clears the previous colouring).
    """
    nodes = graph["nodes"]
    if color_by == "majority":
        return dict(color=[class_color(int(nodes[k].get("majority_label", -1))) for k in order],
                    colorscale=None, cmin=None, cmax=None, showscale=False, colorbar=None)
    vals = np.asarray(values, dtype=float) if values is not None else np.full(len(nodes), np.nan)
    vals = vals[order]
    out = dict(color=[float(v) if np.isfinite(v) else None for v in vals], showscale=True,
               colorbar=dict(title=dict(text=color_by), thickness=14))
    if color_kind == "circular":
        out.update(colorscale="Twilight", cmin=0.0, cmax=float(period or 2 * math.pi))
    else:
        finite = vals[np.isfinite(vals)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        out.update(colorscale="Viridis", cmin=lo, cmax=hi if hi > lo else lo + 1e-9)
    return out


def edge_lines(graph: dict, positions: np.ndarray, drawn: Iterable[int], edge_threshold: float = 0.0
               ) -> tuple[list, list]:
    """x and y of the edge trace: one None-separated polyline of the edges between drawn nodes
    with Jaccard weight >= ``edge_threshold``."""
    drawn = set(int(k) for k in drawn)
    index = {int(n["id"]): k for k, n in enumerate(graph["nodes"])}
    xs: list = []
    ys: list = []
    for edge in graph.get("edges", []):
        if float(edge.get("weight", 1.0)) < edge_threshold:
            continue
        a, b = index.get(int(edge["source"])), index.get(int(edge["target"]))
        if a is None or b is None or a not in drawn or b not in drawn:
            continue
        xs += [float(positions[a, 0]), float(positions[b, 0]), None]
        ys += [float(positions[a, 1]), float(positions[b, 1]), None]
    return xs, ys


def glyph_text(summary: dict | None, expanded: bool) -> str:
    """The glyph's label: ``"+37 small components (52 nodes)"`` (or how to fold them again)."""
    if not summary:
        return ""
    n_comp, n_nodes = int(summary.get("n_components", 0)), len(summary.get("nodes", ()))
    what = f"{n_comp} small component{'s' if n_comp != 1 else ''} ({n_nodes} node{'s' if n_nodes != 1 else ''})"
    return f"fold {what}" if expanded else f"+{what}"


#: the graph's right margin (pixels) when it shows a legend of classes or a colour bar
LEGEND_PX = 130

#: the summary glyph sits this share of the drawn nodes' height (at least one layout unit) under
#: the lowest of them
GLYPH_GAP = 0.08


def glyph_position(drawn: np.ndarray) -> tuple[float, float]:
    """Where the summary glyph is drawn: at the left edge of the drawn nodes and under the lowest
    of them, so that its label, written to its right, overlaps no node.

    (At the stored summary position, the centre of the folded components' box in the packing,
    its label ran over the neighbouring components.)

    Parameters
    ----------
    drawn : (K, 2) float
        Positions of the drawn nodes (the unfolded small components' included).

    Returns
    -------
    (x, y) : float
    """
    drawn = np.asarray(drawn, dtype=float).reshape(-1, 2)
    if not len(drawn):
        return 0.0, 0.0
    low, high = drawn.min(0), drawn.max(0)
    return float(low[0]), float(low[1] - max(GLYPH_GAP * (high[1] - low[1]), 1.0))


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
    upload_nodes: Iterable[int] = (),
    summary: dict | None = None,
    expanded: bool = False,
    hover: str = "text",
    webgl: bool | None = None,
    edge_canvas: bool = False,
    title: str | None = None,
    height: int = 600,
    show_legend: bool = True,
) -> go.Figure:
    """The interactive Mapper graph figure.

    Traces: 0 edges (one None-separated line trace), 1 every drawn node (:data:`NODE_TRACE`,
    one trace so picking compares every node; larger nodes first so smaller ones are on top;
    ``customdata`` ``[id]``), 2 stars on the uploaded image's nodes (:data:`UPLOAD_TRACE`,
    not pickable), 3 the summary glyph of the collapsed tiny components (:data:`GLYPH_TRACE`,
    ``customdata`` ``[GLYPH_ID]``, empty without a summary), then legend-only traces (one per
    majority class).

    Parameters
    ----------
    graph : Mapper graph dict
    positions : (n_nodes, 2) node positions (the stored layout), in the order of ``graph["nodes"]``
    color_by : ``"majority"`` (class colours, legend) or the name of the quantity in ``values``
        (shown on the colour bar)
    values : (n_nodes,) float values when ``color_by != "majority"`` (NaN draws grey)
    color_kind : ``"linear"`` or ``"circular"`` (cyclic colour scale over ``[0, period]``)
    highlight_class : label index; nodes without members of it are faded
    edge_threshold : minimum Jaccard weight of the edges drawn
    selected_node : node id drawn with a black ring
    marked_nodes : node ids drawn with a red ring (e.g. a persistence cycle)
    upload_nodes : node ids marked with a white star (where an uploaded image falls)
    summary : the stored layout's glyph summary; its nodes are drawn only when ``expanded``
    hover : ``"text"`` (plotly hover labels) or ``"none"`` (hover events only, for a tooltip)
    webgl : draw nodes and edges with WebGL; default: more than :data:`WEBGL_MIN_NODES` nodes
    edge_canvas : with WebGL, the edge trace keeps its lines but is not drawn by plotly
        (``visible=False``): the page draws them on a canvas under the WebGL nodes (the app's
        graph panel; a WebGL line trace of thousands of edges made every redraw of the figure
        0.6-0.9 s slower). SVG figures (small graphs) draw their edges themselves.
    """
    nodes = graph["nodes"]
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    order = drawn_order(graph, summary, expanded)
    ids = np.array([int(n["id"]) for n in nodes], dtype=int)
    marker_size = _marker_sizes(np.array([int(n["size"]) for n in nodes]))
    if highlight_class is not None:
        key = str(int(highlight_class))
        opacity = np.array([1.0 if int(n.get("label_counts", {}).get(key, 0)) > 0 else FADED_OPACITY
                            for n in nodes])
    else:
        opacity = np.ones(len(nodes))
    if webgl is None:
        webgl = len(nodes) > WEBGL_MIN_NODES
    scatter = go.Scattergl if webgl else go.Scatter

    fig = go.Figure()
    xs, ys = edge_lines(graph, positions, order, edge_threshold)
    fig.add_trace(scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", showlegend=False,
                          line=dict(color="rgba(120,120,120,0.6)", width=1.2), name="edges",
                          visible=False if edge_canvas and webgl else None))

    colors = node_colors(graph, order, color_by, values, color_kind, period)
    rings = node_rings(ids[order], selected_node, marked_nodes)
    line_color, line_width, node_opacity = rings[0], rings[1], opacity[order].tolist()
    if webgl:
        # WebGL re-parses every per-point colour string on any restyle (a recolour runs plotly's
        # whole calc step): uniform outlines and opacity as scalars cut a recolour by about a third
        line_color, line_width, node_opacity = (_scalar_if_uniform(v) for v in (line_color, line_width,
                                                                                 node_opacity))
    node_trace = dict(
        x=positions[order, 0].tolist(), y=positions[order, 1].tolist(), mode="markers", name="nodes",
        customdata=[[int(i)] for i in ids[order]], showlegend=False,
        marker=dict(size=np.round(marker_size[order], 2).tolist(), opacity=node_opacity,
                    line=dict(color=line_color, width=line_width),
                    **{k: v for k, v in colors.items() if v is not None}),
        unselected=dict(marker=dict(opacity=SELECTION_FADED_OPACITY)),
    )
    if hover == "text":
        vals = colors["color"] if color_by != "majority" else [None] * len(order)
        node_trace.update(hoverinfo="text", text=[
            _hover(nodes[k], class_names, "" if v is None else f"{color_by}: {v:.3g}") for k, v in zip(order, vals)])
    else:
        node_trace.update(hoverinfo="none")
    fig.add_trace(scatter(**node_trace))

    shown = set(order.tolist())
    up = [k for k, n in enumerate(nodes) if int(n["id"]) in {int(u) for u in upload_nodes} and k in shown]
    fig.add_trace(scatter(x=positions[up, 0].tolist(), y=positions[up, 1].tolist(), mode="markers",
                          name="uploaded image", hoverinfo="skip", showlegend=False, marker=UPLOAD_MARK))

    gx, gy, gtext = [], [], []
    if summary and summary.get("nodes"):
        x, y = glyph_position(positions[order])
        gx, gy, gtext = [x], [y], [glyph_text(summary, expanded)]
    fig.add_trace(go.Scatter(x=gx, y=gy, mode="markers+text", text=gtext, textposition="middle right",
                             cliponaxis=False,
                             customdata=[[GLYPH_ID]] * len(gx), name="small components", showlegend=False,
                             hoverinfo="none" if hover != "text" else "text",
                             hovertext=["click to " + ("fold" if expanded else "show") + " them"] * len(gx),
                             textfont=dict(size=11, color="#444"),
                             marker=dict(symbol="square", size=18, color="#f0f0f0",
                                         line=dict(color="#555", width=1.5))))

    majority = sorted({int(n.get("majority_label", -1)) for n in nodes})
    for label in majority:
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                 marker=dict(color=class_color(label), size=10)))
    fig.update_layout(
        # with a legend, a fixed right margin holds it or the colour bar (no autoexpand): the plot
        # area, hence every node's place on the screen, stays put when the colouring changes
        title=title, height=height, margin=dict(l=10, r=LEGEND_PX if show_legend else 10, t=40 if title else 10,
                                                b=10, autoexpand=not show_legend),
        hovermode="closest", clickmode="event", dragmode="pan", plot_bgcolor="white",
        showlegend=show_legend and color_by == "majority",
        legend=dict(title=dict(text="majority class"), itemsizing="constant", x=1.01, xanchor="left", y=1,
                    itemclick=False, itemdoubleclick=False),
        xaxis=dict(visible=False), yaxis=dict(visible=False, scaleanchor="x"),
        uirevision=f"{graph.get('layer')}/{graph.get('key')}",
    )
    return fig


def _scalar_if_uniform(values: list):
    """``values[0]`` when every value is the same (plotly then styles the trace once), else ``values``."""
    return values[0] if values and all(v == values[0] for v in values) else values


def node_rings(node_ids: Sequence[int], selected_node: int | None = None,
               marked_nodes: Iterable[int] = ()) -> tuple[list[str], list[float]]:
    """Marker outline colours and widths: red for marked nodes, black for the selected one.

    Parameters
    ----------
    node_ids : sequence of int
        Node ids, in point order.
    selected_node : int, optional
        The clicked node.
    marked_nodes : iterable of int
        Nodes to ring in red (a persistence cycle's nodes).

    Returns
    -------
    (colors, widths) : two lists of len(node_ids)
    """
    marked = {int(m) for m in marked_nodes}
    colors, widths = [], []
    for node_id in node_ids:
        if int(node_id) in marked:
            color, width = CYCLE_RING
        elif selected_node is not None and int(node_id) == int(selected_node):
            color, width = SELECTED_RING
        else:
            color, width = PLAIN_RING
        colors.append(color)
        widths.append(width)
    return colors, widths


# -- small charts -------------------------------------------------------------------------------
#: edge-weight slider marks are at least this share of the slider's range apart: a "0.12" label is
#: about 27 px wide and the slider about 150-250 px (1366 px window), so closer labels overlapped
MARK_GAP = 0.2


def weight_marks(weights: np.ndarray, quantiles: Sequence[float] = (0.0, 1.0, 0.5, 0.25, 0.75)
                 ) -> tuple[float, float, float, dict]:
    """Edge-weight slider settings spanning a graph's actual Jaccard weights.

    Parameters
    ----------
    weights : (E,) float, the graph's edge weights
    quantiles : the quantiles marked on the slider, by priority (the ends first): one closer than
        :data:`MARK_GAP` of the range to a mark already placed is left out

    Returns
    -------
    (low, high, step, marks) : the slider's range (weights rounded outwards to 0.01), a step of
        1/100 of it, and ``{value: label}`` marks at the weight quantiles (labels ``"0.12"``).
    """
    weights = np.asarray(weights, dtype=float)
    if weights.size == 0:
        return 0.0, 1.0, 0.01, {0.0: "0", 1.0: "1"}
    low = math.floor(float(weights.min()) * 100) / 100
    high = max(math.ceil(float(weights.max()) * 100) / 100, low + 0.01)
    marks: dict = {}
    for q in quantiles:
        value = round(float(np.quantile(weights, q)), 3)
        if all(abs(value - v) >= MARK_GAP * (high - low) for v in marks):  # labels that do not collide
            marks[value] = f"{value:.2f}"
    return low, high, round((high - low) / 100, 5), dict(sorted(marks.items()))


#: height of the edge-weight histogram: 22 px of bars, its "N of M edges drawn" line under them
HISTOGRAM_PX = 36


def weight_histogram(weights: np.ndarray, threshold: float = 0.0, bins: int = 24, height: int = HISTOGRAM_PX) -> dict:
    """A small histogram of a graph's edge weights, bars at or above ``threshold`` (drawn edges)
    in blue, below it (hidden edges) in grey; a plain figure dict (drawn on every slider move).

    Parameters
    ----------
    weights : (E,) float Jaccard weights
    threshold : the slider's value
    bins : number of bars
    height : pixels
    """
    weights = np.asarray(weights, dtype=float)
    layout = {"height": height, "margin": {"l": 4, "r": 4, "t": 2, "b": 12}, "bargap": 0.05,
              "xaxis": {"visible": False}, "yaxis": {"visible": False}, "plot_bgcolor": "white",
              "showlegend": False}
    if weights.size == 0:
        return {"data": [], "layout": layout}
    lo, hi = float(weights.min()), float(weights.max())
    counts, edges = np.histogram(weights, bins=bins, range=(lo, hi if hi > lo else lo + 1e-9))
    centres = (edges[:-1] + edges[1:]) / 2
    shown = edges[1:] > threshold  # a bar holding any drawn edge counts as drawn
    above = int((weights >= threshold).sum())
    trace = {"type": "bar", "x": centres.round(4).tolist(), "y": counts.tolist(),
             "width": float(edges[1] - edges[0]) * 0.95,
             "marker": {"color": ["#1f77b4" if s else "#c8c8c8" for s in shown]},
             "hovertemplate": "weight %{x:.3f}: %{y} edges<extra></extra>"}
    # under the bars (in the bottom margin): over them it hid bars, above them it met the slider's marks
    layout["annotations"] = [{"text": f"{above} of {weights.size} edges drawn", "x": 1, "y": 0, "xref": "paper",
                              "yref": "paper", "xanchor": "right", "yanchor": "top", "showarrow": False,
                              "font": {"size": 10, "color": "#555"}}]
    return {"data": [trace], "layout": layout}


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
        # automargin: with the fixed 10 px margins the counts and class names were cut off
        layout["yaxis"] = {"title": {"text": "members"}, "automargin": True}
        layout["xaxis"] = {"automargin": True}
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
