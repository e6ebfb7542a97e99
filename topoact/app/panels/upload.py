"""Upload an image: run it through the run's model and show which nodes it falls into.

A background callback (worker process, progress bar; :mod:`topoact.app.background`) decodes the
upload with the library's bounded decoder (:func:`topoact.data.bounded_decode.decode_data_url`:
size checked from the header, shrunk, every refusal in words), runs
:func:`topoact.collection.activations_for_images` with the run's reduction and seed, and for
every layer with a graph (the selected graph for the selected layer, the default graph for the
others) :func:`topoact.mapper.run_graphs.locate_points` gives the nodes the image's activation
vector falls into. The result goes to the shared ``ids.UPLOAD`` store; the graph figures ring
those nodes in red. The model's prediction for the image is shown too.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options
from topoact.progress import ProgressFn, report

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext


logger = logging.getLogger(__name__)

TAB_LABEL = "Upload an image"
UPLOAD_PROGRESS_TEXT = "topoact-upload-progress-text"


def locate_image(ctx: AppContext, image: Any, selection: dict | None, progress: ProgressFn | None = None) -> dict:
    """Where ``image`` falls in every layer's graph.

    Parameters
    ----------
    ctx : topoact.app.context.AppContext
    image : PIL.Image.Image
    selection : dict or None
        ``{"layer", "key"}`` of the shown graph (used for its layer; default graphs elsewhere).
    progress : callable, optional
        :mod:`topoact.progress` protocol.

    Returns
    -------
    dict
        ``{"layers": {layer: {"graph_key", "nodes"[, "error"]}}, "prediction", "probability"}``.
    """
    import numpy as np

    from topoact.collection import activations_for_images
    from topoact.mapper import run_graphs

    run = ctx.run
    steps = 2 + len(run.layers)
    report(progress, 0, steps, "loading the model")
    bundle = run.model()
    report(progress, 1, steps, "forward pass")
    acts, probabilities = activations_for_images(bundle, [image], run.layers, ctx.reduction,
                                                 int(run.meta.get("seed", 0) or 0))
    probs = np.asarray(probabilities)[0]
    result = {"layers": {}, "prediction": int(np.argmax(probs)), "probability": float(np.max(probs))}
    for k, layer in enumerate(run.layers):
        report(progress, 2 + k, steps, f"locating in {layer}")
        key = selection["key"] if selection and selection.get("layer") == layer else ctx.default_key(layer)
        if key is None:
            continue
        try:
            nodes = run_graphs.locate_points(run, layer, ctx.graph(layer, key),
                                             np.asarray(acts[layer], dtype=np.float32),
                                             probabilities=np.asarray(probabilities, dtype=np.float32))[0]
        except ValueError as exc:  # e.g. a UMAP lens cannot place new points
            result["layers"][layer] = {"graph_key": key, "nodes": [], "error": str(exc)}
            continue
        result["layers"][layer] = {"graph_key": key, "nodes": [int(n) for n in nodes]}
    return result


def result_lines(result: dict, class_names: list[str], name: str | None) -> list:
    """The status lines of a located upload: the prediction, then the nodes per layer."""
    pred = result["prediction"]
    lines = [html.Div(f"{name or 'image'}: predicted "
                      f"{class_names[pred] if pred < len(class_names) else pred} ({result['probability']:.2f})")]
    for layer, entry in result["layers"].items():
        if entry.get("error"):
            lines.append(html.Div(f"{layer}: {entry['error']}"))
            continue
        nodes = entry["nodes"]
        lines.append(html.Div(f"{layer}: nodes {', '.join(map(str, nodes)) if nodes else '(none: outside every node)'}"))
    return lines


def layout(ctx: AppContext) -> html.Div:
    """The drop zone, progress, status and preview."""
    return html.Div([
        html.P("Drop an image to run it through the run's model and see which nodes of each layer it "
               "falls into (ringed in red in the graphs).", style={"fontSize": "0.85em", "color": "#555"}),
        dcc.Upload(id=ids.UPLOAD_INPUT, children=html.Div(["Drag and drop or ", html.A("select an image")]),
                   accept="image/*", multiple=False,
                   style={"width": "24em", "height": "4em", "lineHeight": "4em", "borderWidth": "1px",
                          "borderStyle": "dashed", "borderRadius": "5px", "textAlign": "center"}),
        html.Button("Clear", id=ids.UPLOAD_CLEAR, n_clicks=0, style={"marginTop": "0.4em"}),
        html.Div([html.Progress(id=ids.UPLOAD_PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "12em"}),
                  html.Span(id=UPLOAD_PROGRESS_TEXT, style={"marginLeft": "0.8em"})], style={"fontSize": "0.85em"}),
        html.Div(id=ids.UPLOAD_STATUS, style={"fontSize": "0.9em", "margin": "0.5em 0"}),
        html.Img(id=ids.UPLOAD_PREVIEW, style={"maxWidth": "128px", "imageRendering": "pixelated"}),
    ])


def register(app: Dash, ctx: AppContext) -> None:
    """Locate an upload (background job), preview it, clear it."""

    @app.callback(
        Output(ids.UPLOAD, "data"), Output(ids.UPLOAD_STATUS, "children"),
        Input(ids.UPLOAD_INPUT, "contents"), State(ids.UPLOAD_INPUT, "filename"), State(ids.GRAPH_KEY, "data"),
        **job_options(ids.UPLOAD_PROGRESS, UPLOAD_PROGRESS_TEXT),
    )
    def upload(set_progress, contents, filename, selection):
        """Runs in a worker process."""
        from topoact.data.bounded_decode import decode_data_url

        if not contents:
            raise PreventUpdate
        try:
            image = decode_data_url(contents)
            result = locate_image(ctx, image, selection, BarProgress(set_progress))
        except Exception as exc:  # noqa: BLE001 - a refused upload or a model error, shown in words
            return no_update, f"error: {exc}"
        result["name"] = filename
        return result, result_lines(result, ctx.run.class_names, filename)

    @app.callback(Output(ids.UPLOAD_PREVIEW, "src"), Input(ids.UPLOAD_INPUT, "contents"),
                  prevent_initial_call=True)
    def preview(contents):
        return contents

    @app.callback(Output(ids.UPLOAD, "data", allow_duplicate=True),
                  Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
                  Input(ids.UPLOAD_CLEAR, "n_clicks"), prevent_initial_call=True)
    def clear(n_clicks):
        if not n_clicks:
            raise PreventUpdate
        return None, ""
