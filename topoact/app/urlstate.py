"""The view in the address bar: layer, graph, colouring and selected node.

``?layer=conv2&graph=<key>&colour=majority&node=12`` is kept in ``ids.URL`` (a ``dcc.Location``
with ``refresh=False``: writing it pushes a browser history entry without reloading the page).

* view -> URL (:data:`WRITE_JS`, a clientside callback: no request): each change of the shown
  graph (hence of the layer), colouring or node writes the query, unless it is already the URL's
  (no duplicate entries) or a view from the URL is still being restored.
* URL -> view (``read_url``, on page load and when Back / Forward change the address; the
  browser does not pass on the echo of :data:`WRITE_JS`'s own write, :data:`FILTER_JS`): the
  colour and a node of the shown graph are set at once; another graph or layer is set through
  the graph panel's own dropdowns: a layer change first lists the layer's graphs (and shows its
  default), then ``follow_layer`` picks the asked graph and ``follow`` its node once it is shown. Until then
  the target waits in :data:`PENDING` and :data:`WRITE_JS` stays quiet, so restoring a view never
  writes intermediate views into the history (no URL -> dropdown -> URL loop).

Values that do not name something of the run (unknown layer, graph, colouring or node) are
ignored; the view then writes its own state back to the URL.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from dash import Input, Output, State, dcc, no_update
from dash.exceptions import PreventUpdate

from . import ids

if TYPE_CHECKING:
    from dash import Dash

    from .context import AppContext

#: {"layer", "graph", "colour", "node", "at"} | None: a view from the URL still being restored
PENDING = "topoact-url-pending"
#: a restore that has not finished after this many seconds no longer holds the URL back
PENDING_TTL = 30.0


#: :data:`PENDING` until the URL has been read once: the page's first view must not overwrite the
#: address it was opened with
BOOT = {"boot": True}


#: ``{"search", "at"}``: an address to read (page load, Back, Forward), forwarded by the browser
READ = "topoact-url-read"

#: browser side of the URL -> view direction: an address change is passed to ``read_url`` unless it
#: is the echo of :data:`WRITE_JS`'s own write (a request per click or recolouring for nothing); the
#: echo is recognised once, so Forward to that same address later is read. The queries written and
#: not yet echoed are kept in the page (``window.topoactUrlWritten``, oldest first), not in a store:
#: a store write costs the Dash renderer a pass over every mounted component, twice per click or
#: recolouring. A list, not the last query only: a second click can write its query before the
#: first one's echo arrives, and that echo, taken for an address change, would select the first
#: node again. Echoes come in order, so one drops the queries written before it too.
FILTER_JS = """function(search) {
    const nu = window.dash_clientside.no_update;
    if (search === null || search === undefined) return nu;  // the address is not read yet
    const written = window.topoactUrlWritten || [];
    const at = written.indexOf(search);
    if (at >= 0) {
        window.topoactUrlWritten = written.slice(at + 1);
        return nu;
    }
    return {search: search, at: Date.now()};
}"""


#: view -> URL (in the browser): one history entry per change of graph, colouring or
#: node, as ``?layer=…&graph=…&colour=…&node=…`` (the node only when it is of the shown graph);
#: nothing while a restore is pending (:data:`PENDING`, whose ``at`` is the server's clock in
#: seconds: the TTL assumes the browser's clock is within seconds of it) or when the URL holds the
#: view already (no duplicate entries)
WRITE_JS = """function(selection, colour, node, pending, search) {
    const nu = window.dash_clientside.no_update;
    if (!selection) return nu;
    if (pending && (pending.boot || Date.now() / 1000 - Number(pending.at || 0) < %(ttl)s)) return nu;
    const query = new URLSearchParams({layer: selection.layer, graph: selection.key});
    if (colour) query.set('colour', colour);
    if (node && node.graph_key === selection.key && node.node !== null && node.node !== undefined)
        query.set('node', String(Math.trunc(node.node)));
    const text = '?' + query.toString();
    if (text === (search || '')) return nu;
    window.topoactUrlWritten = (window.topoactUrlWritten || []).concat([text]).slice(-32);  // echo not read (FILTER_JS)
    return text;
}""" % {"ttl": PENDING_TTL}


def stores() -> list:
    """The module's stores (included by the shell)."""
    return [dcc.Store(id=PENDING, data=BOOT), dcc.Store(id=READ, data=None)]


def parse_query(search: str | None) -> dict:
    """``{"layer", "graph", "colour", "node"}`` from a URL query (missing keys are None; ``node``
    an int or None)."""
    values = parse_qs((search or "").lstrip("?"))

    def first(name: str) -> str | None:
        return values.get(name, [None])[0] or None

    node = first("node")
    try:
        node = int(node) if node is not None else None
    except ValueError:
        node = None
    return {"layer": first("layer"), "graph": first("graph"), "colour": first("colour"), "node": node}


def resolve(ctx: AppContext, target: dict) -> dict | None:
    """``target`` checked against the run: None for an unknown layer; an unknown graph becomes
    the layer's default, an unknown colouring or node None."""
    layer = target.get("layer")
    if layer not in ctx.run.layers:
        return None
    keys = ctx.graph_keys(layer)
    graph = target.get("graph") if target.get("graph") in keys else ctx.default_key(layer)
    colours = {option["value"] for option in ctx.color_options()}
    node = target.get("node") if graph else None
    if node is not None:
        try:
            ctx.node(layer, graph, int(node))
        except (KeyError, IndexError, ValueError):
            node = None
    return {"layer": layer, "graph": graph, "colour": target.get("colour") if target.get("colour") in colours
            else None, "node": node}


def _live(pending: dict | None) -> bool:
    if not pending:
        return False
    return bool(pending.get("boot")) or time.time() - float(pending.get("at", 0)) < PENDING_TTL


def _node_store(layer: str, key: str, node: int | None) -> dict | None:
    return None if node is None else {"layer": layer, "graph_key": key, "node": int(node)}


def register(app: Dash, ctx: AppContext) -> None:
    """The URL <-> view callbacks (see the module docstring)."""

    # view -> URL in the browser: it only moves data the page holds (no request per click)
    app.clientside_callback(
        WRITE_JS,
        Output(ids.URL, "search"),
        Input(ids.GRAPH_KEY, "data"), Input(ids.COLOR_DROPDOWN, "value"), Input(ids.NODE, "data"),
        Input(PENDING, "data"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )

    app.clientside_callback(FILTER_JS, Output(READ, "data"), Input(ids.URL, "search"))

    @app.callback(
        Output(ids.LAYER_DROPDOWN, "value", allow_duplicate=True),
        Output(ids.KEY_DROPDOWN, "value", allow_duplicate=True),
        Output(ids.COLOR_DROPDOWN, "value", allow_duplicate=True),
        Output(ids.NODE, "data", allow_duplicate=True),
        Output(PENDING, "data"),
        Input(READ, "data"),
        State(ids.LAYER, "data"), State(ids.GRAPH_KEY, "data"), State(ids.COLOR_DROPDOWN, "value"),
        State(ids.NODE, "data"), State(PENDING, "data"),
        prevent_initial_call=True,
    )
    def read_url(read, layer, selection, colour, node_store, pending):
        """URL -> view (page load, Back, Forward; :data:`FILTER_JS` leaves out the echo of our own
        writes): set only what differs.

        The page opens with its graph drawn, so a node may be clicked before the address is
        first read: a URL naming no node then does not clear it."""
        search = (read or {}).get("search")
        if search is None:  # the Location has not read the address yet
            raise PreventUpdate
        target = resolve(ctx, parse_query(search))
        if target is None:  # nothing (known) to restore: the view may write the URL from now on
            return no_update, no_update, no_update, no_update, None
        colour_out = target["colour"] if target["colour"] and target["colour"] != colour else no_update
        shown_layer = selection["layer"] if selection else layer
        shown_key = selection["key"] if selection else None
        pending = dict(target, at=time.time())
        if target["layer"] != shown_layer:
            return target["layer"], no_update, colour_out, no_update, pending
        if target["graph"] and target["graph"] != shown_key:
            return no_update, target["graph"], colour_out, no_update, pending
        shown_node = node_store.get("node") if node_store and node_store.get("graph_key") == shown_key else None
        booting = bool((pending or {}).get("boot"))
        node_out = (_node_store(target["layer"], shown_key, target["node"])
                    if target["node"] != shown_node and not (booting and target["node"] is None) else no_update)
        return no_update, no_update, colour_out, node_out, None

    @app.callback(
        Output(ids.KEY_DROPDOWN, "value", allow_duplicate=True),
        Output(PENDING, "data", allow_duplicate=True),
        Input(ids.KEY_DROPDOWN, "options"),
        State(ids.LAYER, "data"), State(PENDING, "data"),
        prevent_initial_call=True,
    )
    def follow_layer(options, layer, pending):
        """After a layer change from the URL: pick the asked graph once the layer's graphs are listed.

        Triggered by the options (not by the shown graph): a callback chain through the graph
        dropdown's value and back would be a dependency cycle, whose second step Dash skips.
        """
        if not _live(pending) or not pending.get("graph") or layer != pending.get("layer"):
            raise PreventUpdate
        if pending["graph"] in {option["value"] for option in options or []}:
            return pending["graph"], no_update
        return no_update, None  # the graph is gone: show what the layer shows

    @app.callback(
        Output(ids.NODE, "data", allow_duplicate=True),
        Output(PENDING, "data", allow_duplicate=True),
        Input(ids.GRAPH_KEY, "data"),
        State(PENDING, "data"),
        prevent_initial_call=True,
    )
    def follow(selection, pending):
        """Finish restoring a view once the graph panel shows the asked graph: select its node."""
        if not selection or not _live(pending) or selection["layer"] != pending.get("layer"):
            raise PreventUpdate
        graph = pending.get("graph")
        if graph and selection["key"] != graph:
            if graph in ctx.graph_keys(selection["layer"]):
                raise PreventUpdate  # the layer's default is shown first; the asked graph follows
            return no_update, None
        return _node_store(selection["layer"], selection["key"], pending.get("node")) or no_update, None
