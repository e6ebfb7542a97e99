"""Words for the app: what each control does, shown in tooltips, and the one way to lay out a field.

Every control gets a caption, an info mark with a tooltip saying what it does (in words a new
user understands), and an error line under it that callbacks fill when its value is bad
(``error_id(control_id)``). Texts live in :data:`HELP` so panels and tests share them.
"""
from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

#: tooltip texts, by topic (keys are stable: panels and tests refer to them)
HELP: dict[str, str] = {
    "layer": "The network layer whose activation vectors (one per image) are shown.",
    "graph": "Saved Mapper graphs of this layer, by their parameters; * marks the layer's default graph "
             "(the one opened first).",
    "colour": "What a node's colour shows: the majority class of its images, their purity, accuracy, "
              "size or any per-image attribute averaged over the node.",
    "class": "Fade every node that holds no image of this class.",
    "edge_weight": "Hide edges whose Jaccard overlap (shared images / images in either node) is below this "
                   "value. The marks are quantiles of this graph's edge weights.",
    "node_id": "Open a node by its number.",
    "lens": "The lens maps each activation vector to one or two numbers; Mapper slices the data along "
            "them. A 2-D UMAP or PCA lens keeps more of the layer's shape than a norm.",
    "cover": "How the lens range is cut into overlapping intervals: uniform (equal width) or balanced "
             "(equal numbers of images per interval).",
    "n_intervals": "Intervals per lens dimension. More intervals: smaller, more numerous nodes.",
    "overlap": "Fraction (0–0.95) by which neighbouring intervals overlap. Images in an overlap can fall "
               "in two nodes, which is what creates edges.",
    "clusterer": "How the images of one interval are split into nodes: DBSCAN (density) or single "
                 "linkage.",
    "eps": "DBSCAN's neighbourhood radius, in activation-space distance units, or 'auto' (picked from "
           "the distances to each image's nearest neighbours).",
    "metric": "Distance between activation vectors: euclidean, or cosine (angle only, ignores length).",
    "min_samples": "Images a DBSCAN neighbourhood needs to start a node; smaller keeps small groups.",
}


def error_id(control_id: str) -> str:
    """Id of the error line under the control ``control_id`` (filled by callbacks, empty when fine)."""
    return f"{control_id}-error"


def info_mark(target_id: str, text: str) -> html.Span:
    """A small ⓘ with a tooltip ``text`` (``target_id`` must be unique on the page)."""
    return html.Span([
        html.Span("ⓘ", id=target_id, className="topoact-info", style={"cursor": "help", "marginLeft": "0.25em",
                                                                    "color": "#6c757d"}),
        dbc.Tooltip(text, target=target_id, placement="top"),
    ])


def field(label: str, control: Any, *, help: str | None = None, control_id: str | None = None,
          width: str = "11em") -> html.Div:
    """A form field: caption (with a tooltip when ``help`` is given), the control, its error line.

    Parameters
    ----------
    label : str
        Caption in words (with units where the value has one).
    control : dash component
    help : str, optional
        Tooltip text (usually ``HELP[topic]``).
    control_id : str, optional
        The control's id; when given, an empty error line ``error_id(control_id)`` follows it.
    width : str
        CSS width of the field.
    """
    caption = [html.Span(label)]
    if help:
        caption.append(info_mark(f"{control_id or label.replace(' ', '-')}-info", help))
    children = [html.Label(caption, className="form-label mb-0", style={"fontSize": "0.8em", "color": "#555"}),
                control]
    if control_id:
        children.append(html.Div(id=error_id(control_id), className="text-danger",
                                 style={"fontSize": "0.75em", "minHeight": "0"}))
    return html.Div(children, style={"width": width})
