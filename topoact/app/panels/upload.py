"""Upload an image: run it through the run's model and show which nodes it falls into.

The image (PNG/JPEG via ``dcc.Upload``) is decoded with Pillow, then a background job runs
``topoact.collect.activations_for_images(run.model(), [image], run.layers, reduction, seed)``
with the run's reduction and seed, and for every layer with a graph (the selected graph for
the selected layer, the default graph for the others) ``topoact.mapper.run_graphs.locate_points``
gives the nodes the image's activation vector falls into. The result goes to the shared
``ids.UPLOAD`` store; the graph figures ring those nodes in red. The model's prediction for the
image is shown too.
"""
from __future__ import annotations

import base64
import io
import logging

from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.jobs import describe_job

logger = logging.getLogger(__name__)

TAB_LABEL = "Upload an image"
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


def decode_upload(contents: str):
    """``data:image/...;base64,...`` -> PIL RGB image (clear errors for anything else)."""
    from PIL import Image, UnidentifiedImageError

    if not contents or "," not in contents:
        raise ValueError("the upload is empty")
    header, data = contents.split(",", 1)
    if ";base64" not in header:
        raise ValueError("the upload is not base64-encoded")
    raw = base64.b64decode(data, validate=False)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise ValueError(f"image too large ({len(raw) / 1e6:.1f} MB > {MAX_UPLOAD_BYTES / 1e6:.0f} MB)")
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read the upload as an image: {exc}") from None
    return image.convert("RGB")


def locate_image(ctx, image, selection: dict | None, progress=None, should_cancel=None) -> dict:
    """Where ``image`` falls: {"layers": {layer: {"graph_key", "nodes"}}, "prediction", "probability"}."""
    import numpy as np
    import torch

    from topoact.mapper import run_graphs

    try:
        from topoact.collection import activations_for_images
    except ImportError:  # pragma: no cover - older layout
        from topoact.collect import activations_for_images

    run = ctx.run
    if progress:
        progress(0.05, "loading the model")
    bundle = run.model()
    reduction = ctx.reduction
    seed = int(run.meta.get("seed", 0) or 0)
    if progress:
        progress(0.3, "forward pass")
    out = activations_for_images(bundle, [image], run.layers, reduction, seed)
    acts, probabilities = out if isinstance(out, tuple) else (out, None)
    if probabilities is None:
        with torch.no_grad():
            probabilities = torch.softmax(bundle.module(bundle.preprocess(image).unsqueeze(0)), dim=1).numpy()
    probs = np.asarray(probabilities)[0]
    result = {"layers": {}, "prediction": int(np.argmax(probs)), "probability": float(np.max(probs))}
    for k, layer in enumerate(run.layers):
        if should_cancel and should_cancel():
            break
        if progress:
            progress(0.4 + 0.6 * k / max(len(run.layers), 1), f"locating in {layer}")
        key = selection["key"] if selection and selection.get("layer") == layer else ctx.default_key(layer)
        if key is None:
            continue
        graph = ctx.graph(layer, key)
        try:
            nodes = run_graphs.locate_points(run, layer, graph, np.asarray(acts[layer], dtype=np.float32),
                                             probabilities=np.asarray(probabilities, dtype=np.float32))[0]
        except ValueError as exc:  # e.g. a UMAP lens cannot place new points
            result["layers"][layer] = {"graph_key": key, "nodes": [], "error": str(exc)}
            continue
        result["layers"][layer] = {"graph_key": key, "nodes": [int(n) for n in nodes]}
    return result


def layout(ctx):
    return html.Div([
        html.P("Drop an image to run it through the run's model and see which nodes of each layer it "
               "falls into (ringed in red in the graphs).", style={"fontSize": "0.85em", "color": "#555"}),
        dcc.Upload(id=ids.UPLOAD_INPUT, children=html.Div(["Drag and drop or ", html.A("select an image")]),
                   accept="image/*", multiple=False,
                   style={"width": "24em", "height": "4em", "lineHeight": "4em", "borderWidth": "1px",
                          "borderStyle": "dashed", "borderRadius": "5px", "textAlign": "center"}),
        html.Button("Clear", id=ids.UPLOAD_CLEAR, n_clicks=0, style={"marginTop": "0.4em"}),
        dcc.Store(id=ids.UPLOAD_JOB, data=None),
        html.Div(id=ids.UPLOAD_STATUS, style={"fontSize": "0.9em", "margin": "0.5em 0"}),
        html.Img(id=ids.UPLOAD_PREVIEW, style={"maxWidth": "128px", "imageRendering": "pixelated"}),
    ])


def register(app, ctx):
    @app.callback(
        Output(ids.UPLOAD_JOB, "data"), Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
        Output(ids.UPLOAD_PREVIEW, "src"), Output(ids.JOB_POLL, "disabled", allow_duplicate=True),
        Input(ids.UPLOAD_INPUT, "contents"), State(ids.UPLOAD_INPUT, "filename"), State(ids.GRAPH_KEY, "data"),
        prevent_initial_call=True,
    )
    def upload(contents, filename, selection):
        if not contents:
            raise PreventUpdate
        try:
            image = decode_upload(contents)
        except ValueError as exc:
            return no_update, f"error: {exc}", None, no_update
        from topoact.hashing import stable_hash

        params = {"image": stable_hash(contents), "selection": selection}
        key = ctx.jobs.submit("upload", params,
                              lambda progress, cancel: locate_image(ctx, image, selection, progress, cancel))
        return {"key": key, "name": filename}, "queued", contents, False

    @app.callback(
        Output(ids.UPLOAD_STATUS, "children"), Output(ids.UPLOAD, "data"),
        Output(ids.UPLOAD_JOB, "data", allow_duplicate=True),
        Input(ids.JOB_POLL, "n_intervals"), State(ids.UPLOAD_JOB, "data"),
        prevent_initial_call=True,
    )
    def poll(_n, job):
        phase, text, _status = describe_job(ctx.jobs, job)
        if phase == "idle":
            raise PreventUpdate
        if phase == "running":
            return text, no_update, no_update
        if phase != "done":
            return text, no_update, None
        result = dict(ctx.jobs.result(job["key"]), name=job.get("name"))
        names = ctx.run.class_names
        pred = result["prediction"]
        lines = [html.Div(f"{job.get('name') or 'image'}: predicted "
                          f"{names[pred] if pred < len(names) else pred} ({result['probability']:.2f})")]
        for layer, entry in result["layers"].items():
            nodes = entry["nodes"]
            if entry.get("error"):
                lines.append(html.Div(f"{layer}: {entry['error']}"))
                continue
            lines.append(html.Div(f"{layer}: nodes {', '.join(map(str, nodes)) if nodes else '(none: outside every node)'}"))
        return lines, result, None

    @app.callback(Output(ids.UPLOAD, "data", allow_duplicate=True),
                  Output(ids.UPLOAD_STATUS, "children", allow_duplicate=True),
                  Input(ids.UPLOAD_CLEAR, "n_clicks"), prevent_initial_call=True)
    def clear(n_clicks):
        if not n_clicks:
            raise PreventUpdate
        return None, ""
