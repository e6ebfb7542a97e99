"""One validation of what callbacks receive from the browser.

Stores live in the browser and can be edited or crafted by whoever talks to the server, so
every callback that reads a node, layer, graph key or number from a store goes through these
functions. A bad value raises :class:`BadInput` with a message in words; callbacks show that
message where their output would have been (never an HTTP 500).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BadInput", "NodeRef", "node_ref", "layer_name", "graph_key", "whole_number"]

_KEY = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class BadInput(ValueError):
    """A callback input that is not a valid value; the message says which and why."""


@dataclass(frozen=True)
class NodeRef:
    """A validated (layer, graph key, node id) of the run."""

    layer: str
    graph_key: str
    node: int


def layer_name(ctx: Any, value: Any) -> str:
    """``value`` when it is one of the run's layers, else :class:`BadInput` listing them."""
    layers = list(ctx.run.layers)
    if not isinstance(value, str) or value not in layers:
        raise BadInput(f"unknown layer {value!r}; this run has {', '.join(layers)}")
    return value


def graph_key(ctx: Any, layer: str, value: Any) -> str:
    """``value`` when it names a saved graph of ``layer``, else :class:`BadInput`."""
    if not isinstance(value, str) or not _KEY.fullmatch(value) or value not in ctx.run.graph_keys(layer):
        raise BadInput(f"no saved graph {value!r} for layer {layer!r}")
    return value


def whole_number(value: Any, name: str, *, low: int = 0, high: int | None = None,
                 default: int | None = None) -> int:
    """``value`` as an int in [low, high] (``default`` when None), else :class:`BadInput`."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadInput(f"{name} must be a whole number, got {value!r}")
    try:
        number = int(value)
        if float(value) != number:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise BadInput(f"{name} must be a whole number, got {value!r}") from None
    if number < low or (high is not None and number > high):
        upper = "" if high is None else f" and at most {high}"
        raise BadInput(f"{name} must be at least {low}{upper}, got {number}")
    return number


def node_ref(ctx: Any, store: Any) -> NodeRef:
    """Validate a node store ``{"layer", "graph_key", "node"}`` against the run's saved graphs."""
    if not isinstance(store, dict):
        raise BadInput("no node is selected")
    layer = layer_name(ctx, store.get("layer"))
    key = graph_key(ctx, layer, store.get("graph_key"))
    n_nodes = len(ctx.graph(layer, key)["nodes"])
    node = whole_number(store.get("node"), "node id", low=0, high=max(n_nodes - 1, 0))
    if n_nodes == 0:
        raise BadInput(f"graph {key!r} has no nodes")
    return NodeRef(layer, key, node)
