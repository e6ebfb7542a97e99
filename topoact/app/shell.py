"""The page shell: navbar with the run summary, shared stores, the URL, help and the tabs.

The first tab ("Mapper graph") holds the main panels side by side (graph | embedding | node,
about 42 / 28 / 30 % of the width; a missing optional panel leaves its share to the others). The
page is a column as tall as the window (``100vh``): the navbar and the tab bar take what they
need and each main panel fills the rest and scrolls inside itself, so the page never scrolls
(styles in ``assets/topoact.css``; the Bootstrap 5 theme is served from ``assets/``, no CDN).
"""
from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from . import ids, urlstate
from .help import HOW_TO_READ, graph_name

if TYPE_CHECKING:
    from dash import Dash

    from .context import AppContext

#: the shown graph's name in the navbar (its parameters in words, never its hash)
GRAPH_NAME = "topoact-shell-graph-name"
HELP_BUTTON = "topoact-shell-help-button"
HELP_PANEL = "topoact-shell-help"
#: flex share of each main panel's column (percent of the width when all are present)
COLUMN_SHARE = {"graph": 42, "embedding": 28, "node": 30}


def run_summary(run: Any) -> list:
    """Navbar items: model, dataset, images, layers, reduction, skipped images.

    Parameters
    ----------
    run : topoact.store.Run

    Returns
    -------
    list of dash components
    """
    meta = run.meta
    model = meta.get("model", {})
    model_text = model.get("spec", "?") if isinstance(model, dict) else str(model)
    dataset = meta.get("dataset", {})
    data_text = dataset.get("name") or dataset.get("spec") if isinstance(dataset, dict) else dataset
    if isinstance(data_text, dict):
        data_text = data_text.get("path") or data_text.get("name") or data_text.get("kind") or str(data_text)
    skipped = run.report.get("skipped", []) if isinstance(run.report, dict) else []
    n_skipped = len(skipped) if isinstance(skipped, list) else int(skipped or 0)
    reduction = meta.get("reduce") or meta.get("reduction")

    def item(label: str, value: Any, title: str | None = None) -> html.Span:
        return html.Span([html.Span(f"{label} ", className="topoact-nav-label"), str(value)], title=title,
                         className="topoact-nav-item")

    skipped_title = "\n".join(f"{s.get('path') or s.get('id')}: {s.get('reason')}" for s in skipped[:20]
                              if isinstance(s, dict)) if isinstance(skipped, list) else None
    items = [
        item("model", model_text),
        item("data", data_text or "?"),
        item("images", f"{run.n:,}"),
        item("layers", len(run.layers)),
        item("spatial reduction", reduction if isinstance(reduction, str) else (reduction or "?"),
             title="how a conv layer's feature map becomes one vector per image"),
    ]
    if n_skipped:
        items.append(item("skipped", f"{n_skipped:,} images", title=skipped_title or None))
    return items


def tab_value(module: ModuleType) -> str:
    """Stable tab id of a panel module (``tab-features`` for ``topoact.app.panels.features``)."""
    return "tab-" + panel_name(module)


def panel_name(module: ModuleType) -> str:
    """``graph`` for ``topoact.app.panels.graph``."""
    return module.__name__.rsplit(".", 1)[-1]


def help_panel() -> dbc.Offcanvas:
    """The "How to read this graph" panel (opened from the navbar)."""
    body = []
    for heading, text in HOW_TO_READ:
        body += [html.H6(heading, className="mt-3 mb-1"), html.P(text, className="small mb-1")]
    return dbc.Offcanvas(body, id=HELP_PANEL, title="How to read this graph", is_open=False, placement="end",
                         scrollable=True)


def navbar(run: Any) -> dbc.Navbar:
    """The top bar: name, run summary, the shown graph's name and the help button."""
    return dbc.Navbar(dbc.Container([
        dbc.NavbarBrand("topoact", className="me-3 fw-bold"),
        html.Div(run_summary(run), id=ids.TOP_BAR, className="topoact-nav-summary"),
        html.Span(id=GRAPH_NAME, className="topoact-nav-graph ms-auto", title="the graph shown in the Mapper tab"),
        dbc.Button("How to read this graph", id=HELP_BUTTON, size="sm", color="light", outline=True,
                   className="ms-3 text-nowrap"),
    ], fluid=True, className="flex-nowrap"), color="dark", dark=True, className="topoact-navbar py-1")


def walk(component: Any):
    """``component`` and every component under it, depth first (a Dash layout tree)."""
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and hasattr(child, "to_plotly_json"):
            yield from walk(child)


def fit_graph(panel: Any) -> Any:
    """Let the Mapper figure (``ids.GRAPH``) follow its column's height (the column is sized from
    the window by the stylesheet): plotly's ``responsive`` mode, which ignores a fixed figure height."""
    for component in walk(panel):
        if isinstance(component, dcc.Graph) and getattr(component, "id", None) == ids.GRAPH:
            component.responsive = True
    return panel


def main_columns(ctx: AppContext, main_panels: list[ModuleType]) -> html.Div:
    """The first tab: one column per main panel, sized by :data:`COLUMN_SHARE`."""
    columns = []
    for module in main_panels:
        name = panel_name(module)
        columns.append(html.Div(fit_graph(module.layout(ctx)), id=f"topoact-col-{name}",
                                className=f"topoact-col topoact-col-{name}",
                                style={"flex": f"{COLUMN_SHARE.get(name, 30)} 1 0"}))
    return html.Div(columns, className="topoact-main")


def shell_layout(ctx: AppContext, main_panels: list[ModuleType], tab_panels: list[tuple[str, ModuleType]]) -> html.Div:
    """The page: navbar, the shared stores, the URL, the Mapper tab (main panels) and one tab per panel."""
    from .panels.graph import initial_layer, initial_selection

    run = ctx.run
    first_layer = initial_layer(ctx)
    # compact tabs as wide as their label (one line, not stretched over the width)
    tab_style = {"padding": "0.3rem 0.9rem", "lineHeight": "1.3", "width": "auto", "flex": "0 0 auto",
                 "whiteSpace": "nowrap"}
    tabs = [dcc.Tab(label="Mapper graph", value="main", children=main_columns(ctx, main_panels),
                    style=tab_style, selected_style=tab_style)]
    for label, module in tab_panels:
        tabs.append(dcc.Tab(label=label, value=tab_value(module), children=module.layout(ctx),
                            style=tab_style, selected_style=tab_style))
    return html.Div([
        navbar(run),
        help_panel(),
        dcc.Location(id=ids.URL, refresh=False),
        *urlstate.stores(),
        dcc.Store(id=ids.LAYER, data=first_layer),
        # the opening graph is drawn in the layout (graph panel), so its key is known at once
        dcc.Store(id=ids.GRAPH_KEY, data=initial_selection(ctx)),
        dcc.Store(id=ids.NODE, data=None),
        dcc.Store(id=ids.CLASS, data=None),
        dcc.Store(id=ids.UPLOAD, data=None),
        dcc.Store(id=ids.HIGHLIGHT, data=None),
        dcc.Store(id=ids.SELECTION, data=None),
        dcc.Tabs(id=ids.TABS, value="main", children=tabs, parent_className="topoact-tabs-parent",
                 className="topoact-tabs", content_className="topoact-tab-content"),
    ], className="topoact-page")


def register(app: Dash, ctx: AppContext) -> None:
    """The shell's callbacks: the shown graph's name in the navbar, the help panel."""

    @app.callback(Output(GRAPH_NAME, "children"), Input(ids.GRAPH_KEY, "data"))
    def name_graph(selection):
        if not selection:
            return ""
        try:
            graph = ctx.graph(selection["layer"], selection["key"])
        except Exception:  # noqa: BLE001 - a graph that cannot be read has no name
            return selection["layer"]
        default = ctx.default_key(selection["layer"]) == selection["key"]
        return [html.Span(selection["layer"], className="fw-semibold me-2"),
                graph_name(graph.get("params"), len(graph.get("nodes", []))),
                html.Span(" (default)" if default else "", className="text-white-50")]

    @app.callback(Output(HELP_PANEL, "is_open"), Input(HELP_BUTTON, "n_clicks"), State(HELP_PANEL, "is_open"),
                  prevent_initial_call=True)
    def toggle_help(n_clicks, is_open):
        if not n_clicks:
            raise PreventUpdate
        return not is_open
