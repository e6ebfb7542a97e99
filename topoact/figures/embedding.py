"""The 2-D embedding scatter of a layer (every image a point, coloured by class), as a plotly dict.

Built for 100,000 points:

* WebGL (``scattergl``), one trace per class in label order (so the legend names the classes,
  in the graph's class colours, :func:`topoact.figures.graph.class_color`); trace ``k`` holds
  the rows of :func:`topoact.app.selection.class_groups`-style group ``k`` (rows of one label,
  ascending).
* Coordinates go as float32 typed arrays (plotly's ``{"dtype", "bdata"}`` base64 encoding),
  rounded to 1e-5 of the data's extent (the screen never resolves more); the row index of each
  point is ``customdata`` (int32 typed array) and the hover text is one ``hovertemplate`` per
  trace: no per-point strings. 100,000 points cost about 1.1 MB of JSON.
* Highlighting (a selection made elsewhere) uses plotly's own ``selectedpoints`` per trace, with
  the unselected points faded: :func:`trace_selection` gives the values, so a view patches
  ``data[k].selectedpoints`` instead of redrawing.
* A clicked Mapper node's members are not part of the figure: :func:`member_points` gives
  their coordinates (typed arrays) for the app's 2-D canvas drawn over the plot. Any change to
  a 100,000-point WebGL figure (a ``selectedpoints`` patch, or even one small extra trace)
  makes plotly recompute and redraw every point: 0.1 to 1.2 s of browser time measured.
* Lasso is the default drag mode; ``uirevision`` keeps zoom and pan across patches.
"""
from __future__ import annotations

import base64
from typing import Sequence

import numpy as np

from .graph import class_color

__all__ = ["embedding_figure", "member_points", "mix_figure", "trace_selection", "typed_array", "UNSELECTED_OPACITY"]

#: opacity of points outside a highlighted selection
UNSELECTED_OPACITY = 0.08


def typed_array(values: np.ndarray, dtype: str) -> dict:
    """plotly's base64 typed-array encoding of ``values`` as ``dtype`` ('f4', 'i4', ...).

    Parameters
    ----------
    values : (n,) array
    dtype : numpy dtype string understood by plotly.js ('f4', 'f8', 'i4', 'u1', ...)
    """
    data = np.ascontiguousarray(np.asarray(values).astype(dtype, copy=False))
    return {"dtype": dtype, "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def _marker_size(n: int) -> float:
    """Point diameter in px: large for a few hundred points, 3 px for 100,000."""
    return float(np.clip(9.0 - 1.3 * np.log10(max(n, 1)), 2.5, 7.0))


def trace_selection(groups: Sequence[tuple[int, np.ndarray]], rows: np.ndarray | None) -> list[list[int] | None]:
    """``selectedpoints`` of every class trace for the selected ``rows`` (None: nothing highlighted).

    Parameters
    ----------
    groups : [(label, (n_k,) rows ascending), ...]
        The traces' rows (as drawn by :func:`embedding_figure`).
    rows : (k,) int array or None

    Returns
    -------
    list
        Per trace: the point indices to show selected, or None (no highlight: all shown).
    """
    if rows is None:
        return [None] * len(groups)
    rows = np.asarray(rows, dtype=np.int64)
    out = []
    for _, members in groups:
        out.append(np.flatnonzero(np.isin(members, rows, assume_unique=True)).tolist())
    return out


def _rounded(coords: np.ndarray) -> np.ndarray:
    """Coordinates rounded to 1e-5 of the data's extent (the screen never resolves more)."""
    coords = np.asarray(coords, dtype=np.float64)
    extent = float(np.ptp(coords, axis=0).max()) if len(coords) else 1.0
    step = (extent or 1.0) * 1e-5
    return np.round(coords / step) * step


def member_points(coords: np.ndarray, rows: np.ndarray | None) -> dict:
    """``x``, ``y`` and ``rows`` (typed arrays) of some images' points, as drawn by :func:`embedding_figure`.

    Parameters
    ----------
    coords : (N, 2) float array
        The drawn embedding (row i is image i).
    rows : (k,) int array or None
        The rows (None: no points).

    Returns
    -------
    dict
        ``{"x": f4, "y": f4, "rows": i4}`` in plotly's typed-array encoding (:func:`typed_array`).
    """
    rows = np.zeros(0, np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    points = _rounded(coords)[rows] if len(rows) else np.zeros((0, 2))
    return {"x": typed_array(points[:, 0], "f4"), "y": typed_array(points[:, 1], "f4"), "rows": typed_array(rows, "i4")}


def embedding_figure(coords: np.ndarray, groups: Sequence[tuple[int, np.ndarray]], class_names: Sequence[str], *,
                     selected: np.ndarray | None = None, height: int = 420, title: str | None = None,
                     revision: str | None = None) -> dict:
    """The scatter of an (N, 2) embedding as a plotly figure dict (one WebGL trace per class).

    Parameters
    ----------
    coords : (N, 2) float array
        Row i is image i.
    groups : [(label, (n_k,) int rows ascending), ...]
        Rows per class, one trace each, in this order.
    class_names : names of the labels
    selected : (k,) int array, optional
        Rows drawn highlighted (the others faded).
    height : pixels
    title : str, optional
        Small caption in the plot's top-left corner.
    revision : str, optional
        plotly ``uirevision``: zoom and pan survive figure updates with the same value.

    Returns
    -------
    dict
        ``{"data": [...], "layout": {...}}``, ready for ``dcc.Graph(figure=...)``.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"embedding coordinates must be (N, 2), got shape {coords.shape}")
    rounded = _rounded(coords)
    size = _marker_size(len(coords))
    highlights = trace_selection(groups, selected)
    data = []
    for (label, rows), points in zip(groups, highlights):
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        trace = {
            "type": "scattergl", "mode": "markers", "name": name,
            "x": typed_array(rounded[rows, 0], "f4"), "y": typed_array(rounded[rows, 1], "f4"),
            "customdata": typed_array(rows, "i4"),
            "hovertemplate": f"{name}<br>image row %{{customdata}}<extra></extra>",
            "marker": {"color": class_color(label), "size": size, "opacity": 0.8},
            "selected": {"marker": {"opacity": 1.0}},
            "unselected": {"marker": {"opacity": UNSELECTED_OPACITY}},
            "selectedpoints": points,
        }
        data.append(trace)
    layout = {
        "height": height, "margin": {"l": 10, "r": 10, "t": 28 if title else 10, "b": 10},
        "dragmode": "lasso", "hovermode": "closest", "plot_bgcolor": "white",
        "xaxis": {"visible": False}, "yaxis": {"visible": False},
        "legend": {"orientation": "h", "y": -0.02, "yanchor": "top", "font": {"size": 10},
                   "itemsizing": "constant"},
        "uirevision": revision or "embedding",
    }
    if title:
        layout["title"] = {"text": title, "x": 0.01, "y": 0.99, "font": {"size": 12}}
    return {"data": data, "layout": layout}


def mix_figure(label_counts: dict, class_names: Sequence[str], height: int = 44) -> dict:
    """The label mix of a selection as one thin stacked bar (share per class, class colours).

    Parameters
    ----------
    label_counts : {label: count}
        Drawn in this order (most frequent first from :func:`topoact.app.selection.label_mix`).
    class_names : names of the labels
    height : pixels

    Returns
    -------
    dict
        A plotly figure dict (an empty axis-less strip when ``label_counts`` is empty).
    """
    total = float(sum(label_counts.values())) or 1.0
    data = []
    for label, count in label_counts.items():
        k = int(label)
        name = class_names[k] if 0 <= k < len(class_names) else str(k)
        data.append({"type": "bar", "orientation": "h", "y": [""], "x": [count / total], "name": name,
                     "marker": {"color": class_color(k)}, "customdata": [count],
                     "hovertemplate": f"{name}: %{{customdata}} images (%{{x:.0%}})<extra></extra>"})
    layout = {"barmode": "stack", "height": height, "showlegend": False, "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
              "xaxis": {"visible": False, "range": [0, 1]}, "yaxis": {"visible": False},
              "plot_bgcolor": "white"}
    return {"data": data, "layout": layout}
