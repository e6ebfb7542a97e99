"""Words for the app: what each control does, shown in tooltips, and the one way to lay out a field.

Every control gets a caption, an info mark with a tooltip saying what it does (in words a new
user understands), and an error line under it that callbacks fill when its value is bad
(``error_id(control_id)``). Texts live in :data:`HELP` so panels and tests share them.
"""
from __future__ import annotations

from typing import Any

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
    "sweep_intervals": "Interval counts to try, separated by commas (whole numbers, e.g. 4, 6, 8). One graph "
                       "is built per combination with the overlaps and eps scales.",
    "sweep_overlaps": "Overlap fractions to try, separated by commas (each between 0 and 1, e.g. 0.2, 0.3).",
    "sweep_scales": "Multipliers of the automatic DBSCAN eps to try (each > 0; 1.0 = the automatic eps, "
                    "0.8 = 20 % smaller neighbourhoods).",
    "sweep_metric": "Which summary of each graph colours the heat map: node, edge, component or cycle "
                    "counts, or the mean node purity (share of a node's images in its majority class).",
    "why": "How the layer's default graph was chosen from the data: every candidate's numbers and the rule "
           "(no labels are used to choose).",
}

#: lens names in words (graph names, the form's lens choices)
LENS_NAMES: dict[str, str] = {
    "l2": "L2 norm", "l1": "L1 norm", "pca": "PCA 1-D", "pca2": "PCA 2-D", "umap": "UMAP 1-D",
    "umap2": "UMAP 2-D", "knn": "k-NN distance", "maxprob": "max probability", "entropy": "prediction entropy",
    "class": "class score",
}

#: the "How to read this graph" text: (heading, paragraph) pairs
HOW_TO_READ: list[tuple[str, str]] = [
    ("What a node is", "A node is a group of images (1 to thousands) whose activation vectors in the chosen "
     "layer are close to each other and fall in the same slice of the lens. Its area grows with the number of "
     "images it holds; hover over it for its size and label mix."),
    ("What an edge is", "Two nodes are joined when they share at least one image (neighbouring slices "
     "overlap). The edge weight is the Jaccard overlap, from 0 to 1: shared images ÷ images in either node. "
     "Use 'min edge weight' to hide weak edges."),
    ("Colour", "By default a node takes the colour of the class most of its images belong to; 'colour by' "
     "switches to purity (0–1: share of the majority class), accuracy (0–1: share predicted correctly), "
     "size (images) or any per-image attribute averaged over the node."),
    ("Lens and cover", "The lens maps each image's activation vector to 1 or 2 numbers (e.g. a 2-D UMAP "
     "embedding). The cover cuts the lens range into overlapping intervals (12 × 12 tiles with 40 % overlap "
     "means neighbouring tiles share 40 % of their width); each tile's images are clustered (DBSCAN) into "
     "nodes. Branches and loops in the graph are shapes of the data; separate components are groups the "
     "layer keeps apart."),
    ("Selecting images", "Click a node to see its statistics and its most typical images on the right; type "
     "a node number in 'node id'; drag a lasso or a box in the graph or in the embedding view to select "
     "images in both. The address bar keeps the view (layer, graph, colour, node): bookmark or share it, "
     "and the browser's Back button returns to the previous view."),
    ("The default graph", "Each layer opens on a graph chosen from the data without labels ('Why this "
     "graph?' under Mapper parameters shows the candidates and scores). Computing other graphs never "
     "replaces it; only 'Set as default' does."),
]


def graph_name(params: dict | None, n_nodes: int | None = None) -> str:
    """A graph named by its parameters, in words: ``"UMAP 2-D · 12×12 · 40 % overlap · 89 nodes"``.

    Parameters
    ----------
    params : dict or None
        The graph's stored ``params`` (any schema :meth:`topoact.mapper.MapperConfig.from_params` reads).
    n_nodes : int, optional
        Its node count (appended when given).

    Returns
    -------
    str
        Never a hash; ``"Mapper graph"`` when the parameters cannot be read.
    """
    from topoact.mapper import MapperConfig

    parts: list[str] = []
    try:
        config = MapperConfig.from_params(params or {})
    except Exception:  # noqa: BLE001 - an unknown old format still gets a name
        config = None
    if config is not None and params:
        n = config.n_intervals
        lens = LENS_NAMES.get(config.lens, config.lens)
        if config.lens == "knn":
            lens += f" (k = {config.knn_k})"
        elif config.lens == "class" and config.class_index is not None:
            lens += f" {config.class_index}"
        parts.append(lens)
        cover = f"{n}×{n}" if config.n_lens_dims == 2 else f"{n} intervals"
        parts.append(cover + (" balanced" if config.cover == "balanced" else ""))
        parts.append(f"{config.overlap * 100:.0f} % overlap")
        if config.clusterer == "single":
            parts.append("single linkage" + (f" ≤ {config.threshold:g}" if config.threshold else ""))
        else:
            if config.eps != "auto":
                parts.append(f"eps {config.eps:g}")
            if config.eps_scale != 1.0:
                parts.append(f"eps ×{config.eps_scale:g}")
            if config.min_samples != 3:
                parts.append(f"min {config.min_samples} images")
        if config.metric != "euclidean":
            parts.append(config.metric)
        if config.backend != "topoact":
            parts.append("KeplerMapper" if config.backend == "kmapper" else config.backend)
    else:
        parts.append("Mapper graph")
    if n_nodes is not None:
        parts.append(f"{n_nodes:,} nodes")
    return " · ".join(parts)


def error_id(control_id: str) -> str:
    """Id of the error line under the control ``control_id`` (filled by callbacks, empty when fine)."""
    return f"{control_id}-error"


def info_mark(target_id: str, text: str) -> html.Span:
    """A small ⓘ whose tooltip says ``text`` (``target_id`` must be unique on the page).

    ONE Dash component: the text is the mark's ``data-help`` attribute, shown by the page's single
    help tooltip (``assets/topoact-help.js``, delegated hover and focus listeners). A
    ``dbc.Tooltip`` per mark mounted 3 more components each (Overlay, Popper), hidden, and every
    mounted component costs the Dash renderer work on each store update of every interaction.

    Parameters
    ----------
    target_id : str
        The mark's id.
    text : str
        What the control does, in words.

    Returns
    -------
    dash.html.Span
    """
    # a CSS-drawn circled "i" (the ⓘ character is missing from many fonts)
    return html.Span("i", id=target_id, className="topoact-info", tabIndex="0",
                     **{"aria-label": text, "data-help": text})


def help_text(component: Any) -> str | None:
    """The tooltip text of an info mark made by :func:`info_mark` (None for any other component)."""
    props = component.to_plotly_json().get("props", {}) if hasattr(component, "to_plotly_json") else {}
    return props.get("data-help")


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
    caption: list = [label]  # the caption's text without a component of its own
    if help:
        caption.append(info_mark(f"{control_id or label.replace(' ', '-')}-info", help))
    children = [html.Label(caption, className="form-label mb-0", style={"fontSize": "0.8em", "color": "#555"}),
                control]
    if control_id:
        children.append(html.Div(id=error_id(control_id), className="text-danger",
                                 style={"fontSize": "0.75em", "minHeight": "0"}))
    return html.Div(children, style={"width": width})
