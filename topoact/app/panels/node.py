"""Node panel: statistics of the clicked node, its label mix, exemplar images and CSV download.

Exemplars are the node's members ordered by distance to the node's mean activation vector in
the graph's layer (most typical first); only the first ``PAGE`` (24) are sent, the small JPEG
thumbnails as ``data:`` URLs (about 1 kB each, cached in the server), so a click's one response
carries its images (24 requests to the thumbnail route took 0.07-0.3 s after it); "more" adds
the next page.
The images are ONE Dash component: the response fills the store ``ids.EXEMPLAR_DATA`` and
:data:`EXEMPLARS_JS` draws its ``<img>`` elements into the plain ``ids.EXEMPLARS`` box (24
``html.Img`` components with pattern-matching ids cost the Dash renderer work on every store
update of every later click). A click on an exemplar (one delegated listener) writes
``EXEMPLAR_PICKED`` with ``dash_clientside.set_props``, which asks for a class-agnostic
visualization of that image (the callback lives in the feature-visualization panel, which is
optional, so this panel does not depend on it).
The CSV holds every member: row, id, path, label, prediction (with names) and correctness.
"""
from __future__ import annotations

import logging
from html import escape
from typing import TYPE_CHECKING, Any

from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.fileio import safe_name
from topoact.app.routes import thumb_data_url, thumb_url
from topoact.app.validate import BadInput, NodeRef, node_ref, whole_number
from topoact.figures.graph import composition_figure, empty_figure

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext


logger = logging.getLogger(__name__)

PAGE = 24
THUMB_PX = 64
#: ``{"row", "at"}``: the exemplar image last clicked, written in the browser only for a real click
EXEMPLAR_PICKED = "topoact-store-exemplar-picked"
#: border colours of an exemplar predicted correctly / misclassified
BORDER = {True: "#2a2", False: "#d22"}

#: draws ``ids.EXEMPLAR_DATA`` (``{"images": [{"row", "src", "title", "ok"}], "error"}``) as ``<img>``
#: elements into the ``ids.EXEMPLARS`` box (React leaves the childless box's DOM children alone);
#: installs once per box the delegated click listener writing ``EXEMPLAR_PICKED``; the tab input
#: draws them again into a box a tab switch remounted
EXEMPLARS_JS = """function(data, _tab, boxId) {
    function draw(tries) {
        const box = document.getElementById(boxId);
        if (!box) { if (tries > 0) requestAnimationFrame(() => draw(tries - 1)); return; }
        if (!box.topoactPick) {
            box.topoactPick = e => {
                const img = e.target.closest && e.target.closest('img[data-row]');
                if (img && box.contains(img))
                    window.dash_clientside.set_props('%(picked)s', {data: {row: Number(img.dataset.row), at: Date.now()}});
            };
            box.addEventListener('click', box.topoactPick);
        }
        const out = [];
        if (data && data.error) {
            const div = document.createElement('div');
            div.className = 'topoact-error text-danger'; div.textContent = data.error;
            out.push(div);
        }
        for (const e of (data && data.images) || []) {
            const img = document.createElement('img');
            img.src = e.src; img.title = e.title; img.className = 'topoact-exemplar';
            img.dataset.row = e.row; img.style.width = img.style.height = '%(px)dpx';
            img.style.borderColor = e.ok ? '%(good)s' : '%(bad)s';
            out.push(img);
        }
        box.replaceChildren(...out);
        box.topoactDraws = (box.topoactDraws || 0) + 1;  // (tests: one draw per node click)
    }
    draw(10);
    return window.dash_clientside.no_update;
}""" % {"picked": EXEMPLAR_PICKED, "px": THUMB_PX, "good": BORDER[True], "bad": BORDER[False]}


def layout(ctx: AppContext) -> html.Div:
    """Title, statistics table, composition chart, CSV button, exemplar images and "more"."""
    return html.Div([
        html.H4("Click a node", id=ids.NODE_TITLE, style={"margin": "0.3em 0"}),
        html.Div(id=ids.NODE_STATS, style={"fontSize": "0.85em"}),
        dcc.Graph(id=ids.NODE_COMPOSITION, figure=empty_figure("no node selected", height=240),
                  config={"displayModeBar": False}, style={"height": "260px"}),
        html.Div([
            html.Button("Download members (CSV)", id=ids.CSV_BUTTON, n_clicks=0),
            dcc.Download(id=ids.CSV_DOWNLOAD),
        ], style={"margin": "0.4em 0"}),
        html.Div("Exemplars, most typical first (closest to the node's mean activation); border: green = "
                 "predicted correctly, red = misclassified", style={"fontSize": "0.85em", "color": "#555"}),
        html.Div(id=ids.EXEMPLARS, className="topoact-exemplars"),  # filled by EXEMPLARS_JS
        dcc.Store(id=ids.EXEMPLAR_DATA, data=None),
        dcc.Store(id=ids.EXEMPLAR_LIMIT, data=PAGE),
        dcc.Store(id=EXEMPLAR_PICKED, data=None),
        html.Button("more", id=ids.MORE_BUTTON, n_clicks=0, style={"display": "none"}),
    ])


def _fmt(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fmt(v, digits) for v in value) + ")"
    return str(value)


def stats_rows(stats: dict, class_names: list[str]) -> list[tuple[str, Any]]:
    """(label, value) rows of the node table from the library's node statistics.

    Parameters
    ----------
    stats : dict
        :meth:`topoact.app.context.AppContext.node_statistics` of a node.
    class_names : list of str
        The run's class names (labels are shown by name).
    """
    def name(label) -> str:
        k = int(label)
        return class_names[k] if 0 <= k < len(class_names) else str(k)

    counts = sorted(((name(k), int(v)) for k, v in (stats.get("label_counts") or {}).items()),
                    key=lambda kv: -kv[1])
    majority = stats.get("majority_label")
    rows = [("size", stats["size"]), ("majority", None if majority is None else name(majority)),
            ("purity", stats.get("purity")), ("accuracy on members", stats.get("accuracy")),
            ("mean lens", stats.get("mean_lens")), ("mean L2 norm", stats.get("mean_norm"))]
    if stats.get("interval") is not None:
        rows.append(("cover interval", stats["interval"]))
    rows.append(("labels", ", ".join(f"{k}: {v}" for k, v in counts[:10])))
    for attr, summary in sorted((stats.get("attributes") or {}).items()):
        if "counts" in summary:
            text = ", ".join(f"{k}: {v}" for k, v in list(summary["counts"].items())[:6])
        elif summary.get("mean") is None:
            continue  # attribute not defined for these images (e.g. orientation of shapes)
        elif "resultant" in summary:
            text = (f"circular mean {_fmt(summary['mean'])} of period {_fmt(summary['period'])} "
                    f"(R={_fmt(summary['resultant'], 2)})")
        else:
            text = f"mean {_fmt(summary['mean'])} ± {_fmt(summary.get('std'), 2)}"
        rows.append((attr, text))
    return rows


def stats_table(stats: dict, class_names: list[str]) -> dcc.Markdown:
    """The node table (see :func:`stats_rows`) as ONE component holding escaped HTML.

    Why not ``html.Table``: its 15 rows were 46 Dash components, and each component the page
    mounts costs the browser's Dash renderer work on every later update; a click replaced all
    46. As one component a node click drew 25-40 % sooner (``benchmarks/app_latency.py``)."""
    rows = "".join(f'<tr><td style="color:#555;padding-right:1em">{escape(str(k))}</td>'
                   f'<td>{escape(str(_fmt(v)))}</td></tr>' for k, v in stats_rows(stats, class_names))
    return dcc.Markdown(f"<table>{rows}</table>", dangerously_allow_html=True)


def exemplar_images(ctx: AppContext, ref: NodeRef, limit: int) -> tuple[list[dict], int]:
    """The first ``limit`` exemplars of a node (most typical first) and its size.

    Returns
    -------
    images : list of dict
        ``{"row", "src", "title", "ok"}`` per image: its row, its thumbnail as a ``data:`` URL
        (the route's URL when it cannot be read), a title in words, whether it was predicted
        correctly (drawn by :data:`EXEMPLARS_JS`).
    size : int
        The node's number of images.
    """
    rows = ctx.exemplar_rows(ref.layer, ref.graph_key, ref.node, limit)
    label_names, names = ctx.run.label_names, ctx.run.class_names
    labels, preds = ctx.run.labels, ctx.run.predictions
    images = []
    for row in rows.tolist():
        lab, pred = int(labels[row]), int(preds[row])
        title = f"row {row} · label {label_names[lab] if lab < len(label_names) else lab} · predicted {names[pred] if pred < len(names) else pred}"
        title += " · click: class-agnostic from this exemplar (Feature visualization tab)"
        try:  # the image inside the response: no request per image (see ``thumb_data_url``)
            src = thumb_data_url(ctx.thumbnail(row))
        except Exception:  # noqa: BLE001 - an unreadable image: the route answers 404 and logs why
            src = thumb_url(row)
        images.append({"row": int(row), "src": src, "title": title, "ok": lab == pred})
    return images, int(ctx.node(ref.layer, ref.graph_key, ref.node)["size"])


def exemplar_page(ctx: AppContext, node_store: dict | None, limit) -> tuple[dict, dict, str]:
    """``(ids.EXEMPLAR_DATA, "more" button style, "more" label)`` of the first ``limit`` exemplars of
    the stored node; a bad node or limit gives a message in words instead of the images."""
    if not node_store:
        return {"images": []}, {"display": "none"}, "more"
    try:
        ref = node_ref(ctx, node_store)
        limit = whole_number(limit, "exemplar limit", low=1, high=100_000, default=PAGE)
    except BadInput as exc:
        return {"images": [], "error": str(exc)}, {"display": "none"}, "more"
    images, total = exemplar_images(ctx, ref, limit)
    hidden = total <= len(images)
    return ({"images": images}, ({"display": "none"} if hidden else {"marginTop": "0.4em"}),
            f"more ({len(images)} of {total} shown)")


def node_summary(ctx: AppContext, node_store: dict | None) -> tuple[str, object, object]:
    """``(title, statistics table, composition figure)`` of the stored node (or why none is shown)."""
    if not node_store:
        return "Click a node", "", empty_figure("no node selected", height=240)
    try:
        ref = node_ref(ctx, node_store)
        stats = ctx.node_statistics(ref.layer, ref.graph_key, ref.node)
    except BadInput as exc:
        return "Node", str(exc), empty_figure(str(exc), height=240)
    except Exception as exc:  # noqa: BLE001
        logger.exception("node statistics failed")
        return "Node", f"error: {exc}", empty_figure(str(exc), height=240)
    title = f"Node {ref.node} · {stats['size']} images · layer {ref.layer}"
    fig = composition_figure(stats.get("label_counts", {}), ctx.run.label_names, height=240)
    return title, stats_table(stats, ctx.run.label_names), fig


def register(app: Dash, ctx: AppContext) -> None:
    """Node statistics, exemplars (paged) and the CSV download.

    A click is ONE request: the statistics and the first page of exemplars come back together
    (a second callback for the exemplars, chained on the page size the first one reset, cost a
    second round trip after the first response was drawn); "more" asks for the next page alone.
    """
    @app.callback(
        Output(ids.NODE_TITLE, "children"),
        Output(ids.NODE_STATS, "children"),
        Output(ids.NODE_COMPOSITION, "figure"),
        Output(ids.EXEMPLAR_DATA, "data"),
        Output(ids.MORE_BUTTON, "style"),
        Output(ids.MORE_BUTTON, "children"),
        Output(ids.EXEMPLAR_LIMIT, "data"),
        Input(ids.NODE, "data"),
    )
    def show_node(node_store):
        return (*node_summary(ctx, node_store), *exemplar_page(ctx, node_store, PAGE), PAGE)

    app.clientside_callback(EXEMPLARS_JS, Output(ids.EXEMPLARS, "title"), Input(ids.EXEMPLAR_DATA, "data"),
                            Input(ids.TABS, "value"), State(ids.EXEMPLARS, "id"))

    @app.callback(Output(ids.EXEMPLAR_DATA, "data", allow_duplicate=True),
                  Output(ids.MORE_BUTTON, "style", allow_duplicate=True),
                  Output(ids.MORE_BUTTON, "children", allow_duplicate=True),
                  Output(ids.EXEMPLAR_LIMIT, "data", allow_duplicate=True),
                  Input(ids.MORE_BUTTON, "n_clicks"), State(ids.EXEMPLAR_LIMIT, "data"), State(ids.NODE, "data"),
                  prevent_initial_call=True)
    def more(n_clicks, limit, node_store):
        """The next page of exemplars (the page size is kept in ``ids.EXEMPLAR_LIMIT``)."""
        if not n_clicks:
            raise PreventUpdate
        try:
            limit = whole_number(limit, "exemplar limit", low=1, high=100_000, default=PAGE) + PAGE
        except BadInput as exc:
            return {"images": [], "error": str(exc)}, {"display": "none"}, "more", PAGE
        return (*exemplar_page(ctx, node_store, limit), limit)

    @app.callback(Output(ids.CSV_DOWNLOAD, "data"), Output(ids.NODE_TITLE, "children", allow_duplicate=True),
                  Input(ids.CSV_BUTTON, "n_clicks"), State(ids.NODE, "data"), prevent_initial_call=True)
    def download(n_clicks, node_store):
        if not n_clicks or not node_store:
            raise PreventUpdate
        try:
            return csv_download(ctx, node_ref(ctx, node_store)), no_update
        except BadInput as exc:
            return no_update, f"CSV not made: {exc}"


def csv_download(ctx: AppContext, ref: NodeRef) -> dict:
    """The ``dcc.Download`` payload with a node's members as CSV (``ref`` from :func:`node_ref`)."""
    text = ctx.members_csv(ref.layer, ref.graph_key, ref.node)
    layer = safe_name(ref.layer)
    return dict(content=text, filename=f"{layer}-{ref.graph_key}-node{ref.node}.csv", type="text/csv")
