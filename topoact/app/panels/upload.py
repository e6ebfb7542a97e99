"""Upload an image: run it through the run's model and show which nodes it falls into.

A background callback (worker process, progress bar; :mod:`topoact.app.background`) decodes the
upload with the library's bounded decoder (:func:`topoact.data.bounded_decode.decode_data_url`:
size checked from the header, shrunk, every refusal in words), runs
:func:`topoact.collection.activations_for_images` with the run's reduction and seed, and for
every layer with a graph (the selected graph for the selected layer, the default graph for the
others) :func:`topoact.mapper.run_graphs.locate_points` gives the nodes the image's activation
vector falls into. The result goes to the shared ``ids.UPLOAD`` store; the graph figures ring
those nodes in red. The model's prediction for the image is shown too.

What the panel shows: the uploaded image in a 192 px box (:data:`PREVIEW_PX`; small images such
as 32-px CIFAR pictures are enlarged with sharp pixels, ``image-rendering: pixelated``) with a
caption giving its size, the prediction, and the nodes it falls in listed per layer, each saying
which graph they belong to (the graph in view or the layer's default graph). A refused upload
(not an image, too large) gets its reason in words under the drop zone.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options
from topoact.app.help import error_id, field
from topoact.progress import ProgressFn, report

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext


logger = logging.getLogger(__name__)

TAB_LABEL = "Upload an image"
UPLOAD_PROGRESS_TEXT = "topoact-upload-progress-text"
PREVIEW_CAPTION = "topoact-upload-preview-caption"
#: side of the preview box (px); smaller images are enlarged with sharp pixels
PREVIEW_PX = 192
UPLOAD_HELP = ("A PNG or JPEG photo. It is run through the run's model like the run's own images (same resizing "
               "and normalisation); the nodes it falls in are listed per layer and ringed in the graphs.")


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


def result_lines(result: dict, class_names: list[str], name: str | None,
                 shown: dict | None = None) -> list:
    """The status lines of a located upload: the prediction, then the nodes per layer.

    Parameters
    ----------
    result : dict
        From :func:`locate_image`.
    class_names : list of str
    name : str or None
        The uploaded file's name.
    shown : dict, optional
        ``{"layer", "key"}`` of the graph in view: its layer's line says "in the graph in view",
        the others "in the layer's default graph".
    """
    pred = result["prediction"]
    lines = [html.Div(f"{name or 'image'}: predicted "
                      f"{class_names[pred] if pred < len(class_names) else pred} ({result['probability']:.2f})",
                      style={"fontWeight": "bold"}),
             html.Div("Nodes it falls in, per layer:", style={"marginTop": "0.3em"})]
    grey = {"color": "#666", "fontSize": "0.9em"}
    for layer, entry in result["layers"].items():
        if entry.get("error"):
            lines.append(html.Div(f"{layer}: {entry['error']}"))
            continue
        nodes = entry["nodes"]
        which = ("the graph in view" if shown and shown.get("layer") == layer and shown.get("key") == entry["graph_key"]
                 else "the layer's default graph")
        text = f"nodes {', '.join(map(str, nodes))}" if nodes else "(none: outside every node)"
        lines.append(html.Div([html.Span(f"{layer}: {text}"), html.Span(f" · in {which}", style=grey)],
                              className="topoact-upload-layer"))
    return lines


def preview_view(contents: str | None, filename: str | None = None) -> tuple[str | None, dict, str, str]:
    """What the preview shows for an upload: ``(src, style, caption, error)``.

    The image is decoded with the library's bounded decoder (size checked first); it is drawn
    in a :data:`PREVIEW_PX` box, enlarged with sharp pixels when smaller than the box.
    ``error`` is a refusal in words ("" when the image is fine; src is None then).
    """
    from topoact.data.bounded_decode import decode_data_url

    style = {"width": f"{PREVIEW_PX}px", "height": f"{PREVIEW_PX}px", "objectFit": "contain",
             "border": "1px solid #ddd", "background": "#fafafa"}
    if not contents:
        return None, {**style, "display": "none"}, "", ""
    try:
        image = decode_data_url(contents)
    except Exception as exc:  # noqa: BLE001 - a refused upload, in words
        return None, {**style, "display": "none"}, "", f"This file cannot be used: {exc}."
    width, height = image.size
    enlarged = max(width, height) < PREVIEW_PX
    style["imageRendering"] = "pixelated" if enlarged else "auto"
    caption = (f"{filename or 'image'}: {width} × {height} px, shown at {PREVIEW_PX} px"
               + (" (enlarged, pixels kept sharp)" if enlarged else ""))
    return contents, style, caption, ""


def layout(ctx: AppContext) -> html.Div:
    """The drop zone (with its error line), progress, the large preview and the nodes per layer."""
    drop = dcc.Upload(id=ids.UPLOAD_INPUT, children=html.Div(["Drag and drop or ", html.A("select an image")]),
                      accept="image/*", multiple=False,
                      style={"width": "22em", "height": "4em", "lineHeight": "4em", "borderWidth": "1px",
                             "borderStyle": "dashed", "borderRadius": "5px", "textAlign": "center"})
    left = html.Div([
        field("image", drop, help=UPLOAD_HELP, control_id=ids.UPLOAD_INPUT, width="23em"),
        html.Button("Clear", id=ids.UPLOAD_CLEAR, n_clicks=0, className="btn btn-outline-secondary btn-sm",
                    style={"marginTop": "0.4em"}),
        html.Div([html.Progress(id=ids.UPLOAD_PROGRESS, value=PROGRESS_DEFAULT[0], max="1", style={"width": "12em"}),
                  html.Span(id=UPLOAD_PROGRESS_TEXT, style={"marginLeft": "0.8em"})],
                 style={"fontSize": "0.85em", "marginTop": "0.4em"}),
        html.Div(id=ids.UPLOAD_STATUS, style={"fontSize": "0.9em", "margin": "0.5em 0"}),
    ])
    right = html.Figure([
        html.Img(id=ids.UPLOAD_PREVIEW, alt="the uploaded image", style=preview_view(None)[1]),
        html.Figcaption(id=PREVIEW_CAPTION,
                        style={"fontSize": "0.8em", "color": "#555", "maxWidth": f"{PREVIEW_PX}px"}),
    ], style={"margin": "0"})
    return html.Div([
        html.P("Drop an image to run it through the run's model and see which nodes of each layer it "
               "falls into (ringed in the graphs).", style={"fontSize": "0.85em", "color": "#555"}),
        html.Div([left, right], style={"display": "flex", "gap": "2em", "alignItems": "flex-start",
                                       "flexWrap": "wrap"}),
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
        return result, result_lines(result, ctx.run.class_names, filename, selection)

    @app.callback(Output(ids.UPLOAD_PREVIEW, "src"), Output(ids.UPLOAD_PREVIEW, "style"),
                  Output(PREVIEW_CAPTION, "children"), Output(error_id(ids.UPLOAD_INPUT), "children"),
                  Input(ids.UPLOAD_INPUT, "contents"), State(ids.UPLOAD_INPUT, "filename"),
                  prevent_initial_call=True)
    def preview(contents, filename):
        return preview_view(contents, filename)

    @app.callback(Output(ids.UPLOAD, "data", allow_duplicate=True),
                  Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
                  Output(ids.UPLOAD_INPUT, "contents"),
                  Input(ids.UPLOAD_CLEAR, "n_clicks"), prevent_initial_call=True)
    def clear(n_clicks):
        """Forget the upload (the preview callback then hides the image)."""
        if not n_clicks:
            raise PreventUpdate
        return None, "", None
