"""Feature-visualization panel: synthesize images for the clicked node (or an exemplar row).

Methods (issue 6): "Visualize" (node direction, default), "Inverse set at level…" (level as a
fraction of the real exemplars' range), "Class-agnostic from exemplars", "With generator
prior" (DGN-AM, enabled when a generator exists for the layer; "Train generator" starts one
as a job).

Choices made here:

* **Channel picker.** A multi-select list of the layer's channels (the valid range
  ``0..C-1`` is shown next to it) and a "levels" field: one level per picked channel
  (``0.2, 0.8``), or one value for all; empty -> the "level" field. One channel is an inverse
  set, several are the intersection of their inverse sets. With a node selected the request
  is tied to that node's layer; without one, the selected layer (``ids.LAYER``) is used.
  Without picked channels the inverse set is taken along the node's direction.
* **DGN-AM side by side.** "With generator prior" runs the pixel-space node visualization
  with the same steps, batch and seed first (a cache hit when it was already run) and then
  DGN-AM, and shows both in two labelled columns, so the user sees what the prior changes.
* **Exemplar -> class-agnostic.** Clicking an exemplar image in the node panel fills the
  "row" field, selects the class-agnostic method and starts the job for that one image (the
  result waits in this tab). A filled "row" with the class-agnostic method always means that
  exemplar, even when a node is selected; clear it to run on the node's top exemplars.

* **Only the chosen method's fields.** Each field sits in a wrapper ``<control>-field`` whose
  visibility a callback sets from the method (:data:`FIELDS_BY_METHOD`, :func:`field_styles`).
  Every field has a tooltip and an error line; a bad value gets a message in words there
  (:func:`form_errors`) and the request is not started.
* **Headers that name what was visualized** (:func:`result_title`): "Layer layer3, node 12:
  synthesized input", "Layer conv2, channels 3, 7: inverse set at levels 0.2, 0.8". The
  class-agnostic result is shown beside its source image ("source image #431 (cat)"), one
  pair per source.
* **Metrics in words**: every metric row carries a sentence saying what it measures
  (:data:`METRIC_HELP`, :func:`metric_rows`).
* **First preview after 32 steps.** The job passes ``preview=`` to the service
  (:func:`topoact.features.render.optimize` calls it every 32 steps); :class:`PreviewProgress`
  writes the current images through the job's progress outputs (a third one, ``PREVIEW``), so
  the picture appears early and refines until the result replaces it.

Every request is written into the ``REQUEST`` store; a background callback on it runs the
request in a worker process (progress bar, cancel; :mod:`topoact.app.background`) through the
disk cache of :mod:`topoact.features.service`, so a repeat is instant and survives a restart.
Placeholders are shown while a job runs; the synthesized PNGs (tiny, 32 px for CIFAR models) are
sent as data URIs and drawn pixelated next to the request's metrics.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import base64
import io
import logging
import time

import numpy as np
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from topoact.app import ids
from topoact.app.background import PROGRESS_DEFAULT, BarProgress, job_options
from topoact.app.help import error_id, field
from topoact.app.panels import while_shown
from topoact.app.panels.node import EXEMPLAR_PICKED
from topoact.app.routes import image_url
from topoact.progress import ProgressFn

if TYPE_CHECKING:
    from dash import Dash

    from topoact.app.context import AppContext
    from topoact.store import Run


logger = logging.getLogger(__name__)

TAB_LABEL = "Feature visualization"

METHOD = "topoact-features-method"
STEPS = "topoact-features-steps"
BATCH = "topoact-features-batch"
SEED = "topoact-features-seed"
LEVEL = "topoact-features-level"
CHANNELS = "topoact-features-channels"
LEVELS = "topoact-features-levels"
CHANNEL_RANGE = "topoact-features-channel-range"
ROW = "topoact-features-row"
WEIGHT = "topoact-features-weight"
RUN_BUTTON = "topoact-features-run"
CANCEL = "topoact-features-cancel"
TRAIN_BUTTON = "topoact-features-train"
REQUEST = "topoact-features-request"
STATUS = "topoact-features-status"
PROGRESS = "topoact-features-progress"
PROGRESS_TEXT = "topoact-features-progress-text"
RESULTS = "topoact-features-results"
TARGET = "topoact-features-target"
#: this panel's tab (``topoact.app.shell.tab_value``) and the store that says it is shown (``while_shown``)
TAB_VALUE = "tab-features"
SHOWN = "topoact-store-features-shown"
PREVIEW = "topoact-features-preview"
METHOD_HELP_LINE = "topoact-features-method-help"

THUMB_PX = 128
#: steps between two previews (render.optimize's default)
PREVIEW_EVERY = 32

#: the form's fields, in order, and which of them each method uses
FIELDS = (STEPS, BATCH, SEED, LEVEL, CHANNELS, LEVELS, WEIGHT, ROW)
FIELDS_BY_METHOD = {
    "node": (STEPS, BATCH, SEED),
    "inverse": (STEPS, BATCH, SEED, LEVEL, CHANNELS, LEVELS),
    "class_agnostic": (STEPS, BATCH, SEED, WEIGHT, ROW),
    "dgn": (STEPS, BATCH, SEED),
}

#: what each method does, in words (the line under the method choice)
METHOD_HELP = {
    "node": "Synthesizes images that drive the node's direction (the mean activation of its images) as high as "
            "possible, starting from noise.",
    "inverse": "Synthesizes images whose activation reaches a given level (not the maximum) on the node's "
               "direction or on picked channels: what the layer sees at that level (an inverse set).",
    "class_agnostic": "Starts from real images (an exemplar row, or the node's top exemplars) and amplifies what "
                      "the layer responds to while staying close to the source, so the change shows what the layer "
                      "detects in that image.",
    "dgn": "Like 'Visualize', but the images come out of a generator trained to invert the layer (DGN-AM), "
           "which keeps them closer to natural images; shown next to the pixel-space result.",
}

#: tooltip texts of the fields
FIELD_HELP = {
    STEPS: "Optimisation steps. More steps give a sharper image and take proportionally longer; a first "
           f"preview appears after {PREVIEW_EVERY} steps.",
    BATCH: "How many images to synthesize at once (different random starts, pushed apart so they differ). "
           "Class-agnostic on a node: how many of its top exemplars to start from.",
    SEED: "Random seed of the starting images: the same seed gives the same images (and an instant cache hit).",
    LEVEL: "Target activation as a fraction of the range seen on the real images: 0 = their lowest, 1 = their "
           "highest.",
    CHANNELS: "Units (channels) of the layer to hold at a level; several channels must reach their levels at "
              "once (the intersection of their inverse sets). None: the node's direction.",
    LEVELS: "One level per picked channel (e.g. 0.2, 0.8), or one level for all; empty uses the level field.",
    WEIGHT: "How strongly the result is kept close to the source image while the layer's response is amplified. "
            "Higher: closer to the source.",
    ROW: "The exemplar image (its row in the run) to start from. Empty: the node's top exemplars.",
}

#: what each metric means, in words: key -> (name, explanation)
METRIC_HELP = {
    "activation_mean": ("activation (mean)", "How strongly the synthesized images drive the target: their "
                        "activation along the node's direction, mean over the images."),
    "activation_max": ("activation (max)", "The same for the strongest synthesized image."),
    "members_activation_mean": ("node's images (mean)", "The same activation for the real images in the node; "
                                "a good visualization exceeds it."),
    "members_activation_max": ("node's images (max)", "The strongest real image of the node."),
    "requested_level": ("requested level", "The activation asked for (from the level fraction and the range of "
                        "the real images)."),
    "reached_level": ("reached level (mean)", "The activation the synthesized images actually reached."),
    "inverse_distance": ("inverse-set distance", "How far the reached activation is from the requested level, as "
                         "a fraction of the real images' range (0 = exactly on the level)."),
    "fraction_within": ("within tolerance", "Share of the synthesized images that reached the level within the "
                        "tolerance (1 = all of them)."),
    "gain_mean": ("activation gain", "The layer's response to the result divided by its response to the source "
                  "image (above 1 = amplified)."),
    "pixel_distance_mean": ("distance to the source", "Root-mean-square pixel difference between result and source "
                            "image (pixel values 0-1; 0 = unchanged)."),
    "pixel_diversity": ("pixel diversity", "How different the synthesized images are from each other in pixels "
                        "(0 = all the same)."),
    "feature_diversity": ("feature diversity", "How different they are in the layer's activations (0 = all the "
                          "same)."),
    "confidence_mean": ("model's confidence", "The model's probability for the class it predicts on the "
                        "synthesized images, mean over the images."),
}
METHOD_OPTIONS = [
    {"label": "Visualize (node direction)", "value": "node"},
    {"label": "Inverse set at level…", "value": "inverse"},
    {"label": "Class-agnostic from exemplars", "value": "class_agnostic"},
    {"label": "With generator prior (DGN-AM)", "value": "dgn"},
]


def _number(id_, value, **kw):
    # no min / max: the browser would withhold an out-of-range value, and the user would get no message
    return dcc.Input(id=id_, type="number", value=value, style={"width": "6em"}, **kw)


def field_styles(method: str | None) -> list[dict]:
    """Style of each field wrapper of :data:`FIELDS` for ``method``: shown or ``display: none``."""
    shown = FIELDS_BY_METHOD.get(method or "node", FIELDS_BY_METHOD["node"])
    return [{"display": "block"} if f in shown else {"display": "none"} for f in FIELDS]


def _whole(value, lo, hi=None):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not number.is_integer() or number < lo or (hi is not None and number > hi):
        return None
    return int(number)


def form_errors(method: str | None, steps: Any, batch: Any, seed: Any, level: Any, levels: Any,
                weight: Any, row: Any, n_rows: int | None = None, channels: Any = None) -> dict[str, str]:
    """A message in words for every bad value among the fields ``method`` uses, by control id.

    Parameters
    ----------
    method : str
        The chosen method (fields it does not use are not checked).
    steps, batch, seed, level, levels, weight, row
        The field values as the browser sends them.
    n_rows : int, optional
        Images in the run (the valid rows are 0 .. n_rows - 1).
    channels : list of int, optional
        The picked channels (several levels must match them one to one).

    Returns
    -------
    dict
        ``{control_id: message}``; empty when every used field is fine.
    """
    used = FIELDS_BY_METHOD.get(method or "node", FIELDS_BY_METHOD["node"])
    errors = {}
    if STEPS in used and _whole(steps, 1, 4096) is None:
        errors[STEPS] = f"Steps must be a whole number from 1 to 4096 (got {steps!r})."
    if BATCH in used and _whole(batch, 1, 32) is None:
        errors[BATCH] = f"Images must be a whole number from 1 to 32 (got {batch!r})."
    if SEED in used and _whole(seed, 0) is None:
        errors[SEED] = f"Seed must be a whole number, 0 or more (got {seed!r})."
    if LEVEL in used:
        try:
            ok = level is not None and 0 <= float(level) <= 1
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors[LEVEL] = f"Level must be a number from 0 to 1 (got {level!r})."
    if LEVELS in used:
        try:
            per = parse_levels(levels) or []
            bad = [v for v in per if not 0 <= v <= 1]
            n_channels = len(channels) if isinstance(channels, (list, tuple)) else 0
            if bad:
                errors[LEVELS] = f"Levels must lie from 0 to 1 (got {bad[0]:g})."
            elif len(per) > 1 and len(per) != n_channels:
                errors[LEVELS] = (f"{len(per)} levels for {n_channels} picked channel(s): give one level per "
                                  "channel, or a single level for all.")
        except ValueError as exc:
            errors[LEVELS] = f"Levels: {exc}; write numbers from 0 to 1 separated by commas."
    if WEIGHT in used:
        try:
            ok = weight is not None and float(weight) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors[WEIGHT] = f"Distance weight must be a number, 0 or more (got {weight!r})."
    if ROW in used and row not in (None, ""):
        hi = None if n_rows is None else n_rows - 1
        if _whole(row, 0, hi) is None:
            errors[ROW] = ("Row must be a whole number" + (f" from 0 to {hi}" if hi is not None else ", 0 or more")
                           + f" (the run's images), got {row!r}.")
    return errors


def layout(ctx: AppContext) -> html.Div:
    """Method choice, the method's fields, run / cancel / train buttons, progress, preview, results."""
    fields = {
        STEPS: field("steps", _number(STEPS, 256), help=FIELD_HELP[STEPS], control_id=STEPS, width="7em"),
        BATCH: field("images", _number(BATCH, 4), help=FIELD_HELP[BATCH], control_id=BATCH, width="7em"),
        SEED: field("seed", _number(SEED, 0), help=FIELD_HELP[SEED], control_id=SEED, width="7em"),
        LEVEL: field("level (0-1)", _number(LEVEL, 0.5, step=0.05), help=FIELD_HELP[LEVEL], control_id=LEVEL,
                     width="8em"),
        CHANNELS: field("channels", html.Div([
            dcc.Dropdown(id=CHANNELS, options=[], value=[], multi=True, placeholder="none: node direction"),
            html.Span("", id=CHANNEL_RANGE, style={"fontSize": "0.8em", "color": "#777"})]),
            help=FIELD_HELP[CHANNELS], control_id=CHANNELS, width="14em"),
        LEVELS: field("levels per channel", dcc.Input(id=LEVELS, type="text", placeholder="e.g. 0.2, 0.8",
                                                      style={"width": "9em"}),
                      help=FIELD_HELP[LEVELS], control_id=LEVELS, width="10em"),
        WEIGHT: field("distance weight", _number(WEIGHT, 1.0, step=0.1), help=FIELD_HELP[WEIGHT],
                      control_id=WEIGHT, width="9em"),
        ROW: field("exemplar row", _number(ROW, None), help=FIELD_HELP[ROW], control_id=ROW, width="9em"),
    }
    visible = field_styles("node")
    return html.Div([
        html.Div("Select a node in the graph tab, or give an exemplar row.", id=TARGET,
                 style={"margin": "0.4em 0", "fontWeight": "bold"}),
        dcc.RadioItems(id=METHOD, options=METHOD_OPTIONS, value="node", inline=True,
                       inputStyle={"marginLeft": "0.8em", "marginRight": "0.3em"}),
        html.Div(METHOD_HELP["node"], id=METHOD_HELP_LINE, style={"fontSize": "0.8em", "color": "#555",
                                                                   "margin": "0.2em 0 0.4em"}),
        html.Div([html.Div(fields[f], id=f"{f}-field", style=style) for f, style in zip(FIELDS, visible)],
                 style={"display": "flex", "flexWrap": "wrap", "alignItems": "flex-start", "gap": "0.8em"}),
        html.Div([
            html.Button("Visualize", id=RUN_BUTTON, n_clicks=0, className="btn btn-primary btn-sm"),
            html.Button("Cancel", id=CANCEL, n_clicks=0, disabled=True,
                        className="btn btn-outline-secondary btn-sm", style={"marginLeft": "0.5em"}),
            html.Button("Train generator", id=TRAIN_BUTTON, n_clicks=0, className="btn btn-outline-primary btn-sm",
                        style={"marginLeft": "0.5em"}),
            html.Progress(id=PROGRESS, value=PROGRESS_DEFAULT[0], max="1",
                          style={"marginLeft": "1em", "width": "12em"}),
            html.Span(id=PROGRESS_TEXT, style={"marginLeft": "0.6em", "fontSize": "0.85em"}),
            html.Span(id=STATUS, style={"marginLeft": "0.6em", "fontSize": "0.85em"}),
        ], style={"margin": "0.5em 0"}),
        dcc.Store(id=REQUEST),
        dcc.Store(id=SHOWN, data=None),
        html.Div(id=PREVIEW),
        html.Div(id=RESULTS),
    ])


def _parse_list(text, convert, what: str) -> list | None:
    """'a, b; c' -> [convert(a), ...]; empty -> None; raises ValueError naming the bad entry."""
    if text is None or not str(text).strip():
        return None
    out = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if part:
            try:
                out.append(convert(part))
            except ValueError:
                raise ValueError(f"{what} {part!r} is not {'an integer' if convert is int else 'a number'}") from None
    return out or None


def parse_channels(text: str | None) -> list[int] | None:
    """'3, 7' -> [3, 7]; empty -> None; raises ValueError naming the bad entry."""
    return _parse_list(text, int, "channel")


def parse_levels(text: str | None) -> list[float] | None:
    """'0.2, 0.8' -> [0.2, 0.8]; empty -> None; raises ValueError naming the bad entry."""
    return _parse_list(text, float, "level")


def _channel_list(channels) -> list[int] | None:
    if channels is None or isinstance(channels, str):
        return parse_channels(channels)
    if isinstance(channels, (int, float)):
        return [int(channels)]
    return [int(c) for c in channels] or None


def build_request(node_store, method, steps, batch, seed, level, channels, weight, row,
                  levels=None, layer=None) -> dict:
    """The JSON-able request a job runs (validated lightly here, fully by the service).

    ``channels``: list of ints (the picker) or text ``'3, 7'``; ``levels``: text with one
    level per channel (or one for all); ``layer``: the selected layer, used when no node is
    selected (channel inverse sets, exemplar rows).
    """
    method = method or "node"
    params = {"steps": int(steps or 256), "seed": int(seed or 0)}
    chans = _channel_list(channels) if method == "inverse" else None
    exemplar = method == "class_agnostic" and row is not None
    if method != "class_agnostic":
        params["batch"] = int(batch or 4)
    elif node_store and not exemplar:
        params["n_images"] = int(batch or 4)
    if method == "inverse":
        lv = 0.5 if level is None else float(level)
        per = parse_levels(levels)
        if chans:
            if per is None:
                per = [lv] * len(chans)
            elif len(per) == 1:
                per = per * len(chans)
            elif len(per) != len(chans):
                raise ValueError(f"{len(chans)} channels but {len(per)} levels: give one level per "
                                 "channel or a single level for all")
            params["channel"] = chans if len(chans) > 1 else chans[0]
            params["level"] = per if len(chans) > 1 else per[0]
        else:
            params["level"] = per[0] if per else lv
    if method == "class_agnostic":
        params["weight"] = float(1.0 if weight is None else weight)
    node_layer = (node_store or {}).get("layer")
    if exemplar:
        if not (node_layer or layer):
            raise ValueError("select a layer first")
        return {"kind": "exemplar", "row": int(row), "layer": node_layer or layer, "method": method,
                "params": params}
    if node_store:
        return {"kind": "node", "layer": node_store["layer"], "graph_key": node_store.get("graph_key"),
                "node": int(node_store["node"]), "method": method, "params": params}
    if method == "inverse" and chans:
        if not layer:
            raise ValueError("select a layer first")
        params.pop("channel")
        return {"kind": "units", "layer": layer, "channel": chans, "method": method, "params": params}
    if row is not None:
        raise ValueError("an exemplar row supports only the class-agnostic method")
    raise ValueError("select a node (or give an exemplar row, or pick channels for an inverse set) first")


def run_request(run: Run, request: dict, layer: str | None, progress: ProgressFn | None = None,
                preview: Any = None) -> dict:
    """Background-job body: call :mod:`topoact.features.service` for a request.

    Parameters
    ----------
    run : topoact.store.Run
    request : dict
        From :func:`build_request`.
    layer : str or None
        The selected layer (used by exemplar requests without a node).
    progress : callable, optional
        :mod:`topoact.progress` protocol, one bar for the whole request (a DGN-AM request runs
        pixel space on the first half and DGN-AM on the second).
    preview : callable, optional
        ``preview(step, images (B, 3, H, W) in [0, 1])``, passed to the service, which calls it
        every 32 steps of a computed request (:func:`topoact.features.render.optimize`).

    Returns
    -------
    dict
        The service's result, or ``{"comparison": [pixel, dgn]}``.
    """
    from topoact.features import service
    from topoact.progress import Stage

    def stage(start=0.0, stop=1.0, label=""):
        return Stage(progress, start, stop, label) if progress else None

    if request["kind"] == "node" and request["method"] == "dgn":
        # pixel space first (same steps / batch / seed; a cache hit when already run), then DGN-AM
        pixel_params = {k: v for k, v in request["params"].items() if k in ("steps", "batch", "seed")}
        pixel = service.visualize_node(run, request["layer"], request["graph_key"], request["node"], "node",
                                       pixel_params, progress=stage(0.0, 0.5, "pixel space"), preview=preview)
        dgn = service.visualize_node(run, request["layer"], request["graph_key"], request["node"], "dgn",
                                     request["params"], progress=stage(0.5, 1.0, "DGN-AM"), preview=preview)
        return {"comparison": [pixel, dgn]}
    if request["kind"] == "node":
        return service.visualize_node(run, request["layer"], request["graph_key"], request["node"],
                                      request["method"], request["params"], progress=stage(), preview=preview)
    if request["kind"] == "units":
        return service.visualize_units(run, request["layer"], request["channel"], request["method"],
                                       request["params"], progress=stage(), preview=preview)
    return service.visualize_exemplar(run, request.get("layer") or layer, request["row"], request["method"],
                                      request["params"], progress=stage(), preview=preview)


def _data_uri(path) -> str:
    with open(path, "rb") as handle:
        return "data:image/png;base64," + base64.b64encode(handle.read()).decode()


def _mean(values) -> float | None:
    try:
        array = np.asarray(values, float)
    except (TypeError, ValueError):
        return None
    return float(array.mean()) if array.size else None


def metric_rows(metrics: dict) -> list[tuple[str, str, str]]:
    """(name, value, what it means) of every metric a result has, in :data:`METRIC_HELP` order.

    Derived rows: ``requested_level`` / ``reached_level`` / ``inverse_distance`` from an inverse
    set's ``levels`` / ``values`` / ``relative_error``; ``confidence_mean`` from ``confidence``.
    """
    values = dict(metrics)
    derived = {"requested_level": "levels", "reached_level": "values", "inverse_distance": "relative_error",
               "confidence_mean": "confidence"}
    for key, source in derived.items():
        if source in metrics and key not in values:
            mean = _mean(metrics[source])
            if mean is not None:
                values[key] = mean
    rows = []
    for key, (name, meaning) in METRIC_HELP.items():
        value = values.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            rows.append((name, f"{value:.3g}", meaning))
    return rows


def _metric_text(metrics: dict) -> list:
    cell = {"paddingRight": "1em", "verticalAlign": "top"}
    rows = [html.Tr([html.Td(name, style={**cell, "color": "#555"}), html.Td(value, style=cell),
                     html.Td(meaning, style={"fontSize": "0.9em", "color": "#666"})])
            for name, value, meaning in metric_rows(metrics)]
    return [html.Table(rows, className="topoact-feature-metrics", style={"fontSize": "0.85em"})]


def _numbers(values) -> str:
    values = values if isinstance(values, (list, tuple)) else [values]
    return ", ".join(f"{float(v):.3g}" if isinstance(v, float) else str(v) for v in values)


def _plural(word: str, values) -> str:
    return word + ("s" if isinstance(values, (list, tuple)) and len(values) > 1 else "")


def result_title(result: dict) -> str:
    """A header naming what was visualized, e.g. ``"Layer layer3, node 12: synthesized input"``."""
    method, layer, target = result.get("method"), result.get("layer"), result.get("target") or {}
    params = result.get("params") or {}
    if "node" in target:
        where = f"Layer {layer}, node {target['node']}"
    elif "channel" in target:
        where = f"Layer {layer}, {_plural('channel', target['channel'])} {_numbers(target['channel'])}"
    else:
        where = f"Layer {layer}"
    if method == "inverse":
        if "level" in params:  # the fraction of the real images' range, as typed
            levels, word = params["level"], "level"
        else:  # the activation value it stands for (what the service records)
            levels, word = target.get("levels"), "activation level"
        what = "inverse set at " + (f"{_plural(word, levels)} {_numbers(levels)}" if levels is not None
                                    else "the chosen level")
        if "node" in target and target.get("channels"):
            what += f" of {_plural('channel', target['channels'])} {_numbers(target['channels'])}"
    elif method == "class_agnostic":
        rows = target.get("rows") or ([target["row"]] if "row" in target else [])
        what = ("class-agnostic visualization of " + (f"source image #{rows[0]}" if len(rows) == 1
                                                      else f"its {len(rows)} top exemplars"))
    elif method == "dgn":
        what = "synthesized input with the generator prior (DGN-AM)"
    else:
        what = "synthesized input"
    return f"{where}: {what}"


def source_title(run: Run, row: int) -> str:
    """``"source image #431 (cat)"`` (the class from the run's labels, when known)."""
    names, labels = run.label_names, run.labels
    label = int(labels[row]) if 0 <= row < len(labels) else -1
    return f"source image #{row}" + (f" ({names[label]})" if 0 <= label < len(names) else "")


def _image(src: str, title: str, class_name: str = "topoact-feature-image") -> html.Img:
    return html.Img(src=src, className=class_name, title=title,
                    style={"width": f"{THUMB_PX}px", "height": f"{THUMB_PX}px", "imageRendering": "pixelated",
                           "marginRight": "3px"})


def _column(header: str, images: list, class_name: str) -> html.Div:
    return html.Div([html.Div(header, className="topoact-feature-header",
                              style={"fontWeight": "bold", "fontSize": "0.85em", "marginBottom": "0.2em"}),
                     html.Div(images, style={"display": "flex", "flexWrap": "wrap"})],
                    className=class_name, style={"marginRight": "1.5em"})


def result_children(run: Run, result: dict) -> list:
    """A header naming what was visualized, the images (pixelated data URIs) and the metrics in words.

    A class-agnostic result is shown as pairs: each source image (``/topoact/image/<row>.png``)
    beside the result started from it.
    """
    title = result_title(result)
    images = [_image(_data_uri(run.path / rel), f"{title} · {rel}") for rel in result["images"]]
    rows = (result.get("metrics") or {}).get("rows") or (result.get("target") or {}).get("rows") or []
    if not rows and "row" in (result.get("target") or {}):
        rows = [result["target"]["row"]]
    if result.get("method") == "class_agnostic" and rows and len(rows) == len(images):
        pairs = [html.Div([_column(source_title(run, int(r)), [_image(image_url(int(r)), source_title(run, int(r)),
                                                                       "topoact-feature-source")],
                                   "topoact-feature-source-column"),
                           _column("result", [img], "topoact-feature-result-column")],
                          className="topoact-feature-pair", style={"display": "flex", "marginBottom": "0.4em"})
                 for r, img in zip(rows, images)]
        body = html.Div(pairs, style={"display": "flex", "flexWrap": "wrap", "gap": "0.5em 2em"})
    else:
        body = html.Div(images, style={"display": "flex", "flexWrap": "wrap"})
    note = (f"loaded from the run's cache" if result.get("cached")
            else f"computed in {result.get('seconds', 0):.1f} s")
    return [html.Div(title, className="topoact-feature-title", style={"fontWeight": "bold", "margin": "0.3em 0"}),
            body,
            html.Div(f"{result['method']} · {note}", style={"fontSize": "0.8em", "color": "#555", "margin": "0.3em 0"}),
            *_metric_text(result.get("metrics", {}))]


COMPARE_TITLES = ("Pixel space (no prior)", "DGN-AM (generator prior)")


def comparison_children(run: Run, results: list) -> list:
    """Pixel-space and DGN-AM results of one node in two labelled columns."""
    columns = []
    for title, result in zip(COMPARE_TITLES, results):
        columns.append(html.Div([html.Div(title, style={"fontWeight": "bold", "fontSize": "0.9em"}),
                                 *result_children(run, result)],
                                className="topoact-feature-column",
                                style={"flex": "1", "minWidth": "14em", "paddingRight": "1em"}))
    return [html.Div(columns, className="topoact-feature-compare",
                     style={"display": "flex", "flexWrap": "wrap", "alignItems": "flex-start"})]


def job_children(run: Run, result: Any) -> list | None:
    """Children for a finished job's result (one result or a DGN-vs-pixel comparison)."""
    if isinstance(result, dict) and "comparison" in result:
        return comparison_children(run, result["comparison"])
    if isinstance(result, dict) and "images" in result:
        return result_children(run, result)
    return None


def channel_count(run: Run, layer: str | None) -> int | None:
    """Number of channels (units) of a collected layer, or None."""
    if not layer or layer not in run.layers:
        return None
    shape = run.activations(layer).shape
    return int(shape[1]) if len(shape) > 1 else None


def placeholders(n: int) -> list:
    """``n`` grey boxes shown where the synthesized images will appear."""
    return [html.Div(style={"width": f"{THUMB_PX}px", "height": f"{THUMB_PX}px", "background": "#eee",
                            "display": "inline-block", "marginRight": "3px"},
                     className="topoact-feature-placeholder") for _ in range(max(1, n))]


def png_data_uris(images: Any) -> list[str]:
    """PNG data URIs of images of shape (B, 3, H, W) with values in [0, 1] (a tensor or an array)."""
    from PIL import Image

    array = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)
    out = []
    for image in array:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        out.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    return out


def preview_children(step: int, images: Any, steps: int | None = None) -> list:
    """What the preview area shows after ``step`` steps: a caption and the current images."""
    caption = f"Preview after {step}" + (f" of {steps}" if steps else "") + " steps (refining…)"
    return [html.Div(caption, className="topoact-feature-preview-caption",
                     style={"fontSize": "0.85em", "color": "#555"}),
            html.Div([_image(src, f"preview, step {step}", "topoact-feature-preview") for src in png_data_uris(images)],
                     style={"display": "flex", "flexWrap": "wrap", "opacity": "0.85"})]


class PreviewProgress:
    """Progress of a feature job with a preview: Dash ``set_progress`` of three outputs
    (bar value, progress text, preview children).

    Called as the library's progress protocol (through :class:`~topoact.app.background.BarProgress`,
    throttled); :meth:`preview` is the ``preview(step, images)`` callback of the service and
    writes the current images at once.

    Parameters
    ----------
    set_progress : callable
        Dash's ``set_progress`` of a background callback with the three progress outputs.
    steps : int, optional
        The request's steps (shown in the preview caption).
    """

    def __init__(self, set_progress: Any, steps: int | None = None):
        self._set = set_progress
        self.steps = steps
        self.children: list = []
        self._last = (PROGRESS_DEFAULT[0], "")
        self.bar = BarProgress(self._forward)

    def _forward(self, value_text: tuple) -> None:
        self._last = tuple(value_text)
        self._set((*self._last, self.children))

    def __call__(self, done: float, total: float, message: str = "") -> None:
        self.bar(done, total, message)

    def preview(self, step: int, images: Any) -> None:
        """Show ``images`` (B, 3, H, W) in [0, 1], the state after ``step`` steps."""
        self.children = preview_children(step, images, self.steps)
        self._set((*self._last, self.children))

    def elapsed(self) -> float:
        """Seconds since the job started."""
        return self.bar.elapsed()


def register(app: Dash, ctx: AppContext) -> None:
    """Target display, requests (button or exemplar click), the background jobs, cancel."""

    # the target line and the layer's options are drawn while the tab is shown (not on every click)
    while_shown(app, SHOWN, TAB_VALUE, Input(ids.NODE, "data"), Input(ids.LAYER, "data"))

    @app.callback(Output(TARGET, "children"), Output(METHOD, "options"),
                  Output(CHANNELS, "options"), Output(CHANNEL_RANGE, "children"),
                  Input(SHOWN, "data"), State(ids.NODE, "data"), State(ids.LAYER, "data"),
                  prevent_initial_call=True)
    def show_target(_shown, node_store, layer):
        from topoact.features import service

        layer = (node_store or {}).get("layer") or layer
        has_gen = bool(layer) and layer in ctx.run.layers and service.generator_available(ctx.run, layer)
        options = [dict(o, disabled=(o["value"] == "dgn" and not has_gen)) for o in METHOD_OPTIONS]
        n = channel_count(ctx.run, layer)
        channel_options = [{"label": str(c), "value": c} for c in range(n or 0)]
        valid = f"valid: 0–{n - 1} ({n} in {layer})" if n else "no layer selected"
        if not node_store:
            text = ("No node selected: pick channels for an inverse set of layer "
                    f"{layer}, or give an exemplar row for the class-agnostic method."
                    if layer else "No node selected: give an exemplar row for the class-agnostic method.")
            return text, options, channel_options, valid
        return (f"Node {node_store['node']} · layer {node_store['layer']}"
                + (" · generator available: DGN-AM is shown next to pixel space" if has_gen
                   else " · no generator for this layer yet"), options, channel_options, valid)

    @app.callback([Output(f"{f}-field", "style") for f in FIELDS], Output(METHOD_HELP_LINE, "children"),
                  Input(METHOD, "value"))
    def show_fields(method):
        return *field_styles(method), METHOD_HELP.get(method or "node", "")

    form_inputs = (STEPS, BATCH, SEED, LEVEL, LEVELS, WEIGHT, ROW)

    @app.callback([Output(error_id(f), "children") for f in form_inputs],
                  Input(METHOD, "value"), [Input(f, "value") for f in form_inputs], Input(CHANNELS, "value"))
    def check_form(method, *values):
        *values, channels = values
        errors = form_errors(method, *values, n_rows=ctx.run.n, channels=channels)
        return [errors.get(f, "") for f in form_inputs]

    def _request(request: dict, layer, batch) -> tuple:
        n = 1 if request["kind"] == "exemplar" else int(batch or 4)
        return {"request": request, "layer": layer, "at": time.time()}, "queued", placeholders(n)

    @app.callback(Output(REQUEST, "data"), Output(STATUS, "children"), Output(RESULTS, "children"),
                  Input(RUN_BUTTON, "n_clicks"),
                  State(ids.NODE, "data"), State(ids.LAYER, "data"), State(METHOD, "value"),
                  State(STEPS, "value"), State(BATCH, "value"), State(SEED, "value"),
                  State(LEVEL, "value"), State(CHANNELS, "value"), State(WEIGHT, "value"),
                  State(ROW, "value"), State(LEVELS, "value"), prevent_initial_call=True)
    def submit(n_clicks, node_store, layer, method, steps, batch, seed, level, channels, weight, row, levels):
        if not n_clicks:
            raise PreventUpdate
        if form_errors(method, steps, batch, seed, level, levels, weight, row, n_rows=ctx.run.n, channels=channels):
            return no_update, "not started: correct the fields marked in red", no_update
        try:
            request = build_request(node_store, method, steps, batch, seed, level, channels, weight, row,
                                    levels=levels, layer=layer)
        except ValueError as exc:
            return no_update, f"error: {exc}", no_update
        return _request(request, layer, batch)

    @app.callback(Output(ROW, "value"), Output(METHOD, "value"),
                  Output(REQUEST, "data", allow_duplicate=True), Output(STATUS, "children", allow_duplicate=True),
                  Output(RESULTS, "children", allow_duplicate=True),
                  Output(ids.TABS, "value", allow_duplicate=True),
                  Input(EXEMPLAR_PICKED, "data"),
                  State(ids.NODE, "data"), State(ids.LAYER, "data"), State(STEPS, "value"),
                  State(SEED, "value"), State(WEIGHT, "value"), prevent_initial_call=True)
    def exemplar_clicked(picked, node_store, layer, steps, seed, weight):
        """An exemplar image clicked in the node panel (``EXEMPLAR_PICKED``, real clicks only)."""
        try:
            row = int(picked["row"])
        except (KeyError, TypeError, ValueError):
            raise PreventUpdate from None
        try:
            request = build_request(node_store, "class_agnostic", steps, 1, seed, None, None, weight, row,
                                    layer=layer)
        except ValueError as exc:
            return no_update, no_update, no_update, f"error: {exc}", no_update, no_update
        stored, status, holder = _request(request, layer, 1)
        # Show the result where it appears: the feature-visualization tab.
        return row, "class_agnostic", stored, f"class-agnostic from exemplar row {row}: {status}", holder, \
            TAB_VALUE

    options = job_options(PROGRESS, PROGRESS_TEXT, cancel=CANCEL, buttons=[RUN_BUTTON])
    options["progress"] = [*options["progress"], Output(PREVIEW, "children")]
    options["progress_default"] = [*options["progress_default"], []]

    @app.callback(Output(STATUS, "children", allow_duplicate=True), Output(RESULTS, "children", allow_duplicate=True),
                  Input(REQUEST, "data"), **options)
    def visualize(set_progress, stored):
        """Runs in a worker process; previews go out through the third progress output."""
        if not stored:
            raise PreventUpdate
        bar = PreviewProgress(set_progress, (stored["request"].get("params") or {}).get("steps"))
        try:
            result = run_request(ctx.run, stored["request"], stored.get("layer"), bar, preview=bar.preview)
        except Exception as exc:  # noqa: BLE001 - shown in the panel
            return f"error: {exc}", []
        children = job_children(ctx.run, result)
        if children is None:
            return f"done: {result}", no_update
        return f"done ({bar.elapsed():.1f} s)", children

    @app.callback(Output(STATUS, "children", allow_duplicate=True), Output(RESULTS, "children", allow_duplicate=True),
                  Input(CANCEL, "n_clicks"), prevent_initial_call=True)
    def cancelled(n_clicks):
        if not n_clicks:
            raise PreventUpdate
        return "cancelled", []

    @app.callback(Output(STATUS, "children", allow_duplicate=True),
                  Input(TRAIN_BUTTON, "n_clicks"), State(ids.NODE, "data"), State(ids.LAYER, "data"),
                  **job_options(PROGRESS, PROGRESS_TEXT, cancel=CANCEL, buttons=[TRAIN_BUTTON]))
    def train(set_progress, n_clicks, node_store, layer):
        """Runs in a worker process: train a DGN-AM generator for the layer."""
        from topoact.features import service

        if not n_clicks:
            raise PreventUpdate
        layer = (node_store or {}).get("layer") or layer
        if not layer:
            return "select a layer first"
        bar = BarProgress(set_progress)
        try:
            service.train_generator_for_run(ctx.run, layer, progress=bar)
        except Exception as exc:  # noqa: BLE001
            return f"error: {exc}"
        return f"generator for {layer} trained ({bar.elapsed():.1f} s)"
