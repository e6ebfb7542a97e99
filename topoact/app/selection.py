"""Selections of images (lasso / box in the graph or the embedding view): small pure helpers.

A selection lives in the store ``ids.SELECTION`` as ``{"layer", "rows", "source", "nodes"}``
(``rows``: image row indices of the run; ``source``: ``"graph"`` or ``"embedding"``;
``nodes``: the graph nodes it came from, or None). These helpers turn it into what the views
show: the label mix of the rows, the nodes of a graph that hold them, one page of an image
grid, and the rows picked by a plotly selection in the embedding scatter. Nothing here draws
or talks to Dash, so the helpers are tested on their own.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from topoact.app.validate import BadInput

__all__ = ["SOURCES", "make_selection", "selection_rows", "label_mix", "grid_page",
           "class_groups", "rows_from_points"]

#: where a selection can come from
SOURCES = ("graph", "embedding")


def make_selection(layer: str, rows: Iterable[int], source: str, nodes: Sequence[int] | None = None) -> dict:
    """The ``ids.SELECTION`` store value for ``rows`` (sorted, unique, plain ints).

    Parameters
    ----------
    layer : str
    rows : iterable of int
        Image row indices.
    source : {'graph', 'embedding'}
    nodes : sequence of int, optional
        The graph nodes the rows came from (graph selections).

    Returns
    -------
    dict
        ``{"layer", "rows", "source", "nodes"}``.
    """
    if source not in SOURCES:
        raise ValueError(f"selection source must be one of {SOURCES}, got {source!r}")
    unique = np.unique(np.asarray(list(rows), dtype=np.int64))
    return {"layer": str(layer), "rows": unique.tolist(), "source": source,
            "nodes": None if nodes is None else [int(n) for n in nodes]}


def selection_rows(selection: Mapping[str, Any] | None, layer: str | None, n_rows: int) -> np.ndarray | None:
    """The validated (k,) int64 rows of a stored selection of ``layer``, or None when it has none.

    A selection of another layer is not this layer's (None). Rows outside ``[0, n_rows)`` or
    not whole numbers are bad input.

    Parameters
    ----------
    selection : dict or None
        The ``ids.SELECTION`` store.
    layer : str or None
        The layer shown.
    n_rows : int
        Images in the run.

    Raises
    ------
    BadInput
        Naming the problem (rows out of range, not a list of whole numbers).
    """
    if not selection or selection.get("layer") != layer:
        return None
    rows = selection.get("rows")
    if rows is None:
        return None
    if not isinstance(rows, (list, tuple)):
        raise BadInput(f"selection rows must be a list of image rows, got {type(rows).__name__}")
    try:
        values = np.asarray(rows, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise BadInput("selection rows must be whole numbers") from None
    if values.size and (not np.all(np.isfinite(values)) or np.any(values != np.round(values))):
        raise BadInput("selection rows must be whole numbers")
    out = np.unique(values.astype(np.int64))
    if out.size and (out[0] < 0 or out[-1] >= n_rows):
        bad = int(out[0] if out[0] < 0 else out[-1])
        raise BadInput(f"selection row {bad} is outside this run's images 0–{n_rows - 1}")
    return out


def label_mix(labels: np.ndarray, rows: np.ndarray) -> dict[int, int]:
    """``{label: count}`` of the selected rows, most frequent first (ties by label).

    Parameters
    ----------
    labels : (N,) int array
        The run's labels.
    rows : (k,) int array
        Selected rows.
    """
    values, counts = np.unique(np.asarray(labels)[np.asarray(rows, dtype=np.int64)], return_counts=True)
    order = np.lexsort((values, -counts))
    return {int(values[i]): int(counts[i]) for i in order}


def grid_page(rows: np.ndarray, page: int, size: int) -> tuple[np.ndarray, int, int]:
    """One page of an image grid: ``(rows of the page, page number, pages)``.

    The page number is clamped to ``[0, pages - 1]`` (a selection that shrank keeps a valid page).

    Parameters
    ----------
    rows : (k,) int array
    page : int
        Wanted page, 0-based.
    size : int
        Images per page (> 0).
    """
    if size <= 0:
        raise ValueError(f"page size must be positive, got {size}")
    pages = max(1, -(-len(rows) // size))
    page = min(max(int(page or 0), 0), pages - 1)
    return np.asarray(rows)[page * size:(page + 1) * size], page, pages


def class_groups(labels: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """``[(label, rows of that label ascending), ...]`` by label: the scatter's traces, in order.

    Trace ``k`` of the embedding figure holds ``class_groups(labels)[k]``: a plotly point
    ``(curveNumber, pointIndex)`` is row ``groups[curveNumber][1][pointIndex]``.
    """
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    values, starts = np.unique(labels[order], return_index=True)
    bounds = list(starts[1:]) + [len(order)]
    return [(int(v), order[s:e]) for v, s, e in zip(values, starts, bounds)]


def rows_from_points(groups: Sequence[tuple[int, np.ndarray]], picked: Mapping[str, Sequence[int]]) -> np.ndarray:
    """Rows of the points picked in the scatter: ``picked`` maps a trace number to point indices.

    Parameters
    ----------
    groups : :func:`class_groups` of the run's labels
    picked : {str(curveNumber): [pointIndex, ...]}
        Traces beyond the class traces (none today) are ignored; indices out of a trace are
        bad input.

    Returns
    -------
    (k,) int64 array, sorted and unique.
    """
    parts = []
    for curve, indices in picked.items():
        k = int(curve)
        if not 0 <= k < len(groups):
            continue
        members = groups[k][1]
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(members)):
            raise BadInput(f"point {int(idx.max())} is not in trace {k} of {len(members)} points")
        parts.append(members[idx])
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
