"""Embedding panel: every image of the layer as a point in 2-D, linked with the graph, and a grid.

* The scatter: :func:`topoact.mapper.embedding.layer_embedding` coordinates of ``ids.LAYER``
  (UMAP or PCA, a small switch), drawn by :func:`topoact.figures.embedding.embedding_figure`
  (WebGL, one trace per class in the graph's class colours, typed arrays: 100,000 points).
  PCA is computed in the server (fast, cached with the run). A UMAP that is not cached yet runs
  as a background job (progress bar, cancel) while the PCA scatter is shown; when it is ready
  the scatter switches to it.
* Lasso or box selection in the scatter writes ``ids.SELECTION`` (``source: "embedding"``). The
  browser first reduces plotly's ``selectedData`` to ``{trace: [point indices]}`` (a 50,000-point
  selection would otherwise send every point's coordinates to the server), the server maps
  those to image rows (:func:`topoact.app.selection.rows_from_points`).
* A selection made in the graph (``source: "graph"``) highlights its rows in the scatter, the
  other points faded, through a ``Patch`` of the traces' ``selectedpoints`` (no figure re-sent),
  built in the browser (its rows are in the store already, :data:`HIGHLIGHT_JS`).
* A clicked node (``ids.NODE``): its members are ringed in black on a 2-D canvas laid over the
  plot (:data:`MEMBERS_JS`, redrawn after every plotly draw, so it follows zoom and pan). The
  server sends their coordinates (:data:`MEMBERS`, typed arrays; the browser holds no member
  lists). Any plotly update of the 100,000-point WebGL figure, even one small extra trace,
  costs 0.1-1.2 s of browser time, which held up the node panel's exemplars after a click;
  drawing 5,000 rings on a canvas costs a few ms.
* Below the scatter: the selection's size, its label mix (one stacked bar in class colours) and
  a paged grid of its images (the app's thumbnail route, as the node panel's exemplars), and a
  button that clears the selection.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np
from dash import Input, Output, Patch, State, callback_context, dcc, html
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.overlay import OVERLAY_JS
from topoact.app.background import BarProgress, job_options, show_cancelled
from topoact.app.context import cached
from topoact.app.help import field, info_mark
from topoact.app.routes import thumb_url
from topoact.app.selection import (class_groups, grid_page, label_mix, make_selection, rows_from_points,
                                   selection_rows)
from topoact.app.validate import BadInput
from topoact.figures.embedding import embedding_figure, member_points, mix_figure, trace_selection
from topoact.figures.graph import empty_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext

logger = logging.getLogger(__name__)

TAB_LABEL = "Embedding"

# component ids
SCATTER = "topoact-embedding-scatter"
METHOD = "topoact-embedding-method"
STATUS = "topoact-embedding-status"
PROGRESS = "topoact-embedding-progress"
PROGRESS_TEXT = "topoact-embedding-progress-text"
CANCEL = "topoact-embedding-cancel"
JOB = "topoact-store-embedding-job"          # {"layer", "at"}: a UMAP to compute in the background
READY = "topoact-store-embedding-ready"      # {"layer", "method", "seconds"}: a computed embedding
PICK = "topoact-store-embedding-pick"        # {"layer", "points": {trace: [point indices]}} | None
#: {"layer", "node": [graph key, node], "x", "y", "rows"} | None: the clicked node's members, drawn
#: over the scatter (coordinates of the drawn embedding, typed arrays)
MEMBERS = "topoact-store-embedding-members"
#: set by the browser once the members are drawn (the clientside callback needs an output)
MEMBERS_DRAWN = "topoact-store-embedding-members-drawn"
#: class of the canvas laid over the scatter's plot area
MEMBERS_CANVAS = "topoact-embedding-members-canvas"
SUMMARY = "topoact-embedding-summary"
MIX = "topoact-embedding-mix"
GRID = "topoact-embedding-grid"
PAGE_STORE = "topoact-store-embedding-page"
PREV = "topoact-embedding-prev"
NEXT = "topoact-embedding-next"
PAGE_TEXT = "topoact-embedding-page-text"
CLEAR = "topoact-embedding-clear"

#: images per page of the grid
GRID_PAGE = 40
THUMB_PX = 48
SCATTER_HEIGHT = 340

#: tooltip texts of this panel's controls
HELP = {
    "method": "How the layer's activation vectors are placed in 2-D. PCA: the two directions of largest "
              "variance (instant, linear). UMAP: keeps each image's nearest neighbours together, so "
              "groups the network separates show as islands (computed once per layer in the background, "
              "then cached with the run).",
    "scatter": "Every image of the layer is one point, coloured by its true class. Drag a lasso (or pick "
               "the box tool) to select images: they are listed below and their nodes are shown in the "
               "graph. A selection in the graph, or a clicked node, highlights its images here.",
    "grid": "The selected images, page by page. Border: green = predicted correctly, red = misclassified.",
    "mix": "Share of each true class among the selected images.",
}

#: browser side of the highlight (same result as :func:`highlight_patch` with ``clear_outline``):
#: a graph selection's rows (sorted) are matched against each class trace's ascending rows
#: (its ``customdata``) in one merge pass, and written as a ``dash_clientside.Patch``
HIGHLIGHT_JS = """function(selection, layer, figure) {
    const nu = window.dash_clientside.no_update;
    if (!figure || !figure.data || !figure.data.length || figure.data[0].customdata === undefined) return nu;
    if (selection && selection.layer === layer && selection.source === 'embedding') return nu;
    const rows = (selection && selection.layer === layer && Array.isArray(selection.rows))
        ? Float64Array.from(selection.rows).sort() : null;  // any writer's order
    const decode = (spec) => {
        if (Array.isArray(spec) || ArrayBuffer.isView(spec)) return spec;
        const text = atob(spec.bdata), bytes = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
        return new Int32Array(bytes.buffer);
    };
    const patch = new window.dash_clientside.Patch();
    figure.data.forEach((trace, k) => {
        let points = null;
        if (rows) {
            const members = decode(trace.customdata);
            points = [];
            for (let i = 0, j = 0; i < members.length && j < rows.length;) {
                if (members[i] === rows[j]) { points.push(i); i++; j++; }
                else if (members[i] < rows[j]) i++;
                else j++;
            }
        }
        patch.assign(['data', k, 'selectedpoints'], points);
    });
    patch.assign(['layout', 'selections'], []);
    return patch.build();
}"""

#: browser side of the node highlight: rings the clicked node's members on a canvas over the plot
#: area (:mod:`topoact.app.overlay`), in data coordinates through plotly's axes, redrawn after each
#: plotly draw (zoom, pan, resize) and when the members change; ``canvas.topoactRows`` holds the
#: rows drawn (tests)
MEMBERS_JS = """function(members, graphId) {
    %(overlay)s
    const decode = (spec, Type) => {
        if (!spec) return new Type(0);
        if (Array.isArray(spec) || ArrayBuffer.isView(spec)) return Type.from(spec);
        const text = atob(spec.bdata), bytes = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
        return new Type(bytes.buffer);
    };
    window.topoactWhenPlotted(graphId, gd => {
        gd.topoactMembers = members ? {x: decode(members.x, Float32Array), y: decode(members.y, Float32Array),
                                       rows: decode(members.rows, Int32Array)} : null;
        window.topoactOverlay(gd, '%(canvas)s', (c, gd, canvas) => {
            const m = gd.topoactMembers;
            canvas.topoactRows = m ? Array.from(m.rows) : null;
            if (!m || !m.rows.length) return;
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const size = (gd._fullData && gd._fullData.length) ? gd._fullData[0].marker.size : 4;
            c.strokeStyle = 'rgba(0,0,0,0.9)'; c.lineWidth = 1.2;
            // one ring per whole pixel, stroked 256 at a time: a node's members crowd a small area,
            // and one path of 36,000 overlapping circles stalled the page's rasterizer for 10 s
            const r = size / 2 + 1.5, seen = new Set();
            let k = 0;
            c.beginPath();
            for (let i = 0; i < m.rows.length; i++) {
                const px = Math.round(xa._offset + xa.c2p(m.x[i])), py = Math.round(ya._offset + ya.c2p(m.y[i]));
                if (seen.has(px * 65536 + py)) continue;
                seen.add(px * 65536 + py);
                c.moveTo(px + r, py); c.arc(px, py, r, 0, 2 * Math.PI);
                if (++k %% 256 === 0) { c.stroke(); c.beginPath(); }
            }
            c.stroke();
        })();
    });
    return window.dash_clientside.no_update;  // drawn; a store write would cost a renderer pass
}""" % {"overlay": OVERLAY_JS, "canvas": MEMBERS_CANVAS}

_row = {"display": "flex", "flexWrap": "wrap", "gap": "0.6em", "alignItems": "center"}


# -- layout ---------------------------------------------------------------------------------------
def _initial_method(ctx: AppContext) -> str:
    """UMAP when the first layer shown already has a cached UMAP (nothing to wait for), else PCA."""
    from topoact.mapper.embedding import cached_embedding

    try:
        from topoact.app.panels.graph import initial_layer

        layer = initial_layer(ctx)
    except Exception:  # noqa: BLE001 - the graph panel's helper is a convenience, not a need
        layer = ctx.run.layers[0] if ctx.run.layers else None
    try:
        return "umap" if layer is not None and cached_embedding(ctx.run, layer, "umap") is not None else "pca"
    except Exception:  # noqa: BLE001 - a damaged cache is recomputed later; start with PCA
        return "pca"


def layout(ctx: AppContext) -> html.Div:
    """Method switch, job bar, scatter, and the selection summary with its image grid."""
    method = dcc.RadioItems(id=METHOD, options=[{"label": " UMAP", "value": "umap"},
                                                {"label": " PCA", "value": "pca"}],
                            value=_initial_method(ctx), inline=True, inputStyle={"marginLeft": "0.6em"})
    job = html.Div([
        html.Progress(id=PROGRESS, max="1", value="0", style={"width": "8em"}),
        html.Span(id=PROGRESS_TEXT, style={"fontSize": "0.8em", "color": "#555"}),
        html.Button("cancel", id=CANCEL, n_clicks=0, disabled=True, title="Stop computing the UMAP layout", className="btn btn-sm btn-outline-secondary"),
    ], style=_row)
    header = html.Div([
        html.Span(["Images in 2-D", info_mark(f"{SCATTER}-info", HELP["scatter"])], style={"fontWeight": "bold"}),
        field("layout", method, help=HELP["method"], control_id=METHOD, width="auto"),
    ], style={**_row, "justifyContent": "space-between"})
    summary = html.Div([
        html.Div([html.Span(id=SUMMARY, children="No selection: drag a lasso over the points."),
                  info_mark(f"{MIX}-info", HELP["mix"]),
                  html.Button("Clear selection", id=CLEAR, n_clicks=0, title="Forget the selection, in both views", className="btn btn-sm btn-outline-secondary",
                              style={"marginLeft": "auto"})], style=_row),
        dcc.Graph(id=MIX, figure=mix_figure({}, []), config={"displayModeBar": False},
                  style={"height": "46px"}),
        html.Div([html.Button("‹ prev", id=PREV, n_clicks=0, disabled=True, title="Previous page of selected images", className="btn btn-sm btn-light"),
                  html.Span(id=PAGE_TEXT, style={"fontSize": "0.8em", "color": "#555"}),
                  html.Button("next ›", id=NEXT, n_clicks=0, disabled=True, title="Next page of selected images", className="btn btn-sm btn-light"),
                  info_mark(f"{GRID}-info", HELP["grid"])], style=_row),
        html.Div(id=GRID, style={"display": "flex", "flexWrap": "wrap", "gap": "2px", "marginTop": "0.3em"}),
        dcc.Store(id=PAGE_STORE, data=0),
    ], style={"fontSize": "0.85em"})
    return html.Div([
        header,
        html.Div(id=STATUS, style={"fontSize": "0.8em", "color": "#666", "minHeight": "1.2em"}),
        job,
        dcc.Graph(id=SCATTER, figure=empty_figure("loading…", height=SCATTER_HEIGHT),
                  config={"displaylogo": False, "scrollZoom": True,
                          "modeBarButtonsToRemove": ["autoScale2d", "toImage"]},
                  style={"height": f"{SCATTER_HEIGHT + 10}px"}),
        summary,
        dcc.Store(id=JOB, data=None), dcc.Store(id=READY, data=None), dcc.Store(id=PICK, data=None),
        dcc.Store(id=MEMBERS, data=None), dcc.Store(id=MEMBERS_DRAWN, data=None),
    ])


# -- helpers --------------------------------------------------------------------------------------
def coordinates(ctx: AppContext, layer: str, method: str) -> tuple[np.ndarray, str]:
    """``(coords, method drawn)``: the cached or PCA coordinates of ``layer`` for a method choice.

    UMAP that is not cached yet is not computed here (that is the background job's work): the
    PCA coordinates are returned instead, with method ``"pca"``.
    """
    from topoact.mapper.embedding import cached_embedding, layer_embedding

    if method == "umap":
        coords = cached_embedding(ctx.run, layer, "umap")
        if coords is not None:
            return coords, "umap"
    return layer_embedding(ctx.run, layer, "pca"), "pca"


def grid_images(ctx: AppContext, rows: np.ndarray) -> list[html.Img]:
    """Thumbnails of ``rows`` from the app's thumbnail route, as the node panel's exemplars (titles: row,
    label, prediction; border: green = predicted correctly, red = misclassified)."""
    run = ctx.run
    names, label_names = run.class_names, run.label_names
    labels, preds = run.labels, run.predictions
    images = []
    for row in np.asarray(rows).tolist():
        lab, pred = int(labels[row]), int(preds[row])
        title = (f"row {row} · label {label_names[lab] if lab < len(label_names) else lab} · "
                 f"predicted {names[pred] if pred < len(names) else pred}")
        images.append(html.Img(src=thumb_url(row), title=title, className="topoact-grid-image",
                               style={"width": f"{THUMB_PX}px", "height": f"{THUMB_PX}px", "objectFit": "cover",
                                      "imageRendering": "pixelated",
                                      "border": "2px solid " + ("#2a2" if lab == pred else "#d22")}))
    return images


def _ringed(node_store: dict | None, layer: str | None) -> list | None:
    """``[graph key, node]`` of the clicked node when it is of ``layer``, else None."""
    if not node_store or node_store.get("layer") != layer:
        return None
    return [node_store.get("graph_key"), node_store.get("node")]


def members_data(ctx: AppContext, coords: np.ndarray, node_store: dict | None, layer: str | None) -> dict | None:
    """:data:`MEMBERS` data: the clicked node's member rows and their points in ``coords``.

    Parameters
    ----------
    coords : (N, 2) float array
        The embedding the scatter draws.
    node_store : ``ids.NODE`` data, ``{"layer", "graph_key", "node"}`` or None
    layer : the layer the scatter shows

    Returns
    -------
    dict or None
        ``{"layer", "node": [graph key, node], "x", "y", "rows"}`` (typed arrays, rows sorted),
        None when no node of ``layer`` is selected (or it cannot be read).
    """
    node = _ringed(node_store, layer)
    if node is None:
        return None
    try:
        members = ctx.node(layer, node[0], int(node[1]))["members"]
    except (KeyError, TypeError, ValueError, FileNotFoundError):
        return None
    rows = np.unique(np.asarray(members, dtype=np.int64))
    return {"layer": layer, "node": node, **member_points(coords, rows)}


def highlight_patch(groups: list, rows: np.ndarray | None, clear_outline: bool = False) -> Patch:
    """A ``Patch`` of the scatter setting every class trace's ``selectedpoints`` (None: none faded).

    Parameters
    ----------
    groups : the scatter's traces as ``[(label, rows), ...]`` (:func:`topoact.app.selection.class_groups`)
    rows : (k,) int array or None
        Rows to highlight.
    clear_outline : bool
        Also remove a lasso / box outline drawn earlier (plotly then reports an empty
        selection, which :func:`register`'s ``select`` ignores unless the store holds a
        selection made in the scatter: so not for node clicks, which keep that selection).
    """
    patch = Patch()
    for k, points in enumerate(trace_selection(groups, rows)):
        patch["data"][k]["selectedpoints"] = points
    if clear_outline:
        patch["layout"]["selections"] = []
    return patch


# -- callbacks ------------------------------------------------------------------------------------
def register(app: Dash, ctx: AppContext) -> None:
    """Scatter drawing, the UMAP job, lasso -> SELECTION, highlighting, summary and grid."""
    run = ctx.run
    groups_of = cached(1)(lambda: class_groups(np.asarray(run.labels)))

    def scatter(layer, method, selection, node_store):
        """(figure, status, MEMBERS data) of the scatter of ``layer``."""
        if not layer:
            return empty_figure("no layer", height=SCATTER_HEIGHT), "", None
        try:
            coords, drawn = coordinates(ctx, layer, method or "pca")
            try:
                selected = selection_rows(selection, layer, run.n)
            except BadInput:
                selected = None
            fig = embedding_figure(coords, groups_of(), run.label_names, selected=selected, height=SCATTER_HEIGHT,
                                   revision=f"{layer}/{drawn}")
        except Exception as exc:  # noqa: BLE001 - show, don't crash the page
            logger.exception("cannot draw the embedding of %s", layer)
            return empty_figure(f"cannot draw the embedding: {exc}", height=SCATTER_HEIGHT), f"error: {exc}", None
        status = f"{drawn.upper()} of layer {layer} · {len(coords):,} images"
        if method == "umap" and drawn != "umap":
            status += " · UMAP is being computed (showing PCA meanwhile)"
        return fig, status, members_data(ctx, coords, node_store, layer)

    # READY is not an input here: Dash would hold this callback until the UMAP job that a method
    # or layer change may start has finished, and the user would wait for the PCA scatter too
    @app.callback(Output(SCATTER, "figure"), Output(STATUS, "children"), Output(MEMBERS, "data"),
                  Input(ids.LAYER, "data"), Input(METHOD, "value"), State(ids.SELECTION, "data"),
                  State(ids.NODE, "data"))
    def draw(layer, method, selection, node_store):
        return scatter(layer, method, selection, node_store)

    @app.callback(Output(SCATTER, "figure", allow_duplicate=True), Output(STATUS, "children", allow_duplicate=True),
                  Output(MEMBERS, "data", allow_duplicate=True),
                  Input(READY, "data"), State(ids.LAYER, "data"), State(METHOD, "value"), State(ids.SELECTION, "data"),
                  State(ids.NODE, "data"), prevent_initial_call=True)
    def draw_ready(ready, layer, method, selection, node_store):
        """A finished UMAP replaces the PCA scatter if the user still wants that layer's UMAP."""
        if not ready or ready.get("layer") != layer or method != ready.get("method"):
            raise PreventUpdate
        return scatter(layer, method, selection, node_store)

    @app.callback(Output(JOB, "data"), Input(ids.LAYER, "data"), Input(METHOD, "value"))
    def request_umap(layer, method):
        """An uncached UMAP of the shown layer becomes a background job."""
        from topoact.mapper.embedding import cached_embedding

        if not layer or method != "umap" or cached_embedding(run, layer, "umap") is not None:
            raise PreventUpdate
        return {"layer": layer, "at": time.time()}

    @app.callback(Output(READY, "data"), Input(JOB, "data"),
                  **job_options(PROGRESS, PROGRESS_TEXT, cancel=CANCEL))
    def compute_umap(set_progress, request):
        from topoact.mapper.embedding import layer_embedding

        if not request:
            raise PreventUpdate
        bar = BarProgress(set_progress)
        layer_embedding(run, request["layer"], "umap", progress=bar)
        return {"layer": request["layer"], "method": "umap", "seconds": round(bar.elapsed(), 2)}

    show_cancelled(app, CANCEL, STATUS)

    # lasso / box: the browser keeps only (trace, point index) of each selected point
    app.clientside_callback(
        """function(sel, layer) {
            if (!sel || !sel.points || !sel.points.length) return null;
            const picked = {};
            for (const p of sel.points) {
                (picked[p.curveNumber] = picked[p.curveNumber] || []).push(p.pointIndex);
            }
            return {layer: layer, points: picked};
        }""",
        Output(PICK, "data"), Input(SCATTER, "selectedData"), State(ids.LAYER, "data"),
        prevent_initial_call=True,
    )

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True), Input(PICK, "data"),
                  State(ids.SELECTION, "data"), prevent_initial_call=True)
    def select(pick, current):
        if not pick:  # plotly's deselect (double click): drop a selection made here
            if current and current.get("source") == "embedding":
                return None
            raise PreventUpdate
        try:
            rows = rows_from_points(groups_of(), pick.get("points") or {})
        except (BadInput, TypeError, ValueError) as exc:
            logger.warning("ignored a bad scatter selection: %s", exc)
            raise PreventUpdate
        return make_selection(pick["layer"], rows, "embedding")

    # a selection made in the graph (or cleared): highlighted in the browser, the rows are already
    # there; a server round trip would cost as much as the redraw it avoids
    app.clientside_callback(
        HIGHLIGHT_JS,
        Output(SCATTER, "figure", allow_duplicate=True),
        Input(ids.SELECTION, "data"), State(ids.LAYER, "data"), State(SCATTER, "figure"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(MEMBERS, "data", allow_duplicate=True),
        Input(ids.NODE, "data"),
        State(ids.LAYER, "data"), State(METHOD, "value"), State(MEMBERS, "data"),
        prevent_initial_call=True,
    )
    def highlight_node(node_store, layer, method, shown):
        """A clicked node's members (on the server: the browser does not hold member lists), in
        the coordinates the scatter is drawn with; no node (a new graph) clears them."""
        if not layer or (shown or {}).get("node") == _ringed(node_store, layer):
            raise PreventUpdate  # nothing changes (e.g. page load: no node before, none now)
        try:
            coords, _ = coordinates(ctx, layer, method or "pca")
        except Exception:  # noqa: BLE001 - the scatter itself shows why it cannot be drawn
            raise PreventUpdate from None
        return members_data(ctx, coords, node_store, layer)

    app.clientside_callback(MEMBERS_JS, Output(MEMBERS_DRAWN, "data"), Input(MEMBERS, "data"),
                            State(SCATTER, "id"), prevent_initial_call=True)

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True), Input(CLEAR, "n_clicks"),
                  prevent_initial_call=True)
    def clear(n_clicks):
        if not n_clicks:
            raise PreventUpdate
        return None

    @app.callback(
        Output(SUMMARY, "children"), Output(MIX, "figure"), Output(GRID, "children"), Output(PAGE_TEXT, "children"),
        Output(PREV, "disabled"), Output(NEXT, "disabled"), Output(PAGE_STORE, "data"),
        Input(ids.SELECTION, "data"), Input(ids.LAYER, "data"), Input(PREV, "n_clicks"), Input(NEXT, "n_clicks"),
        State(PAGE_STORE, "data"),
    )
    def summary(selection, layer, _prev, _next, page):
        try:
            rows = selection_rows(selection, layer, run.n)
        except BadInput as exc:
            return f"Selection not shown: {exc}", mix_figure({}, []), [], "", True, True, 0
        if rows is None or not len(rows):
            text = "No selection: drag a lasso over the points." if rows is None else "The selection is empty."
            return text, mix_figure({}, []), [], "", True, True, 0
        trigger = callback_context.triggered_id
        page = (page or 0) + {NEXT: 1, PREV: -1}[trigger] if trigger in (PREV, NEXT) else 0
        shown, page, pages = grid_page(rows, page, GRID_PAGE)
        mix = label_mix(run.labels, rows)
        where = "the embedding" if selection.get("source") == "embedding" else "the graph"
        text = f"{len(rows):,} images selected in {where} · {len(mix)} classes"
        first = page * GRID_PAGE
        page_text = f"images {first + 1}–{first + len(shown)} of {len(rows):,} (page {page + 1} of {pages})"
        return (text, mix_figure(mix, run.label_names), grid_images(ctx, shown), page_text, page == 0,
                page >= pages - 1, page)

