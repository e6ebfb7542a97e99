"""The page shell: top bar with the run summary, shared stores and the tabs."""
from __future__ import annotations

from types import ModuleType
from typing import Any

from dash import dcc, html

from . import ids


def run_summary(run: Any) -> list:
    """Top-bar items: model, dataset, N, layers, reduction, skipped images.

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
        return html.Span([html.B(f"{label} "), str(value)], title=title, style={"marginRight": "1.5em"})

    skipped_title = "\n".join(f"{s.get('path') or s.get('id')}: {s.get('reason')}" for s in skipped[:20]
                              if isinstance(s, dict)) if isinstance(skipped, list) else None
    return [
        html.Span("topoact", style={"fontWeight": "bold", "fontSize": "1.2em", "marginRight": "2em"}),
        item("model", model_text),
        item("data", data_text or "?"),
        item("N", f"{run.n:,}"),
        item("layers", len(run.layers)),
        item("reduction", reduction if isinstance(reduction, str) else (reduction or "?")),
        item("skipped", n_skipped, title=skipped_title or None),
    ]


def tab_value(module: ModuleType) -> str:
    """Stable tab id of a panel module (``tab-features`` for ``topoact.app.panels.features``)."""
    return "tab-" + module.__name__.rsplit(".", 1)[-1]


def shell_layout(ctx: Any, main_panels: list[ModuleType], tab_panels: list[tuple[str, ModuleType]]) -> html.Div:
    """The page: top bar, the shared stores, the Mapper tab (graph + node panels) and one tab per panel."""
    run = ctx.run
    from .panels.graph import initial_layer

    first_layer = initial_layer(ctx)
    main = html.Div(
        [html.Div(main_panels[0].layout(ctx), style={"flex": "3 1 0", "minWidth": "0"}),
         html.Div(main_panels[1].layout(ctx), style={"flex": "2 1 0", "minWidth": "0", "marginLeft": "1em"})],
        style={"display": "flex", "alignItems": "flex-start"},
    )
    tabs = [dcc.Tab(label="Mapper graph", value="main", children=main)]
    for label, module in tab_panels:
        tabs.append(dcc.Tab(label=label, value=tab_value(module), children=module.layout(ctx)))
    return html.Div([
        html.Div(run_summary(run), id=ids.TOP_BAR,
                 style={"padding": "0.6em 1em", "background": "#f3f3f6", "borderBottom": "1px solid #ddd",
                        "fontFamily": "sans-serif", "fontSize": "0.9em"}),
        dcc.Store(id=ids.LAYER, data=first_layer),
        dcc.Store(id=ids.GRAPH_KEY, data=None),
        dcc.Store(id=ids.NODE, data=None),
        dcc.Store(id=ids.CLASS, data=None),
        dcc.Store(id=ids.UPLOAD, data=None),
        dcc.Store(id=ids.HIGHLIGHT, data=None),
        dcc.Tabs(id=ids.TABS, value="main", children=tabs),
    ], style={"fontFamily": "sans-serif"})
