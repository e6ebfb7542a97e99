"""The view lives in the URL: query <-> view functions, and in a real browser the round trip (a URL
opens its layer, graph, colouring and node) and the Back button (returns to the previous node, then
to the previous layer)."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from dash.testing.wait import until

from app_fixtures import FIXTURE_FORM, GRAPH_LAYER, fresh_run_dir, small_run, small_run_dir  # noqa: F401

from topoact.app import create_app, ids
from topoact.app.urlstate import parse_query, resolve, view_query

OTHER_LAYER = "conv1"


def _two_layer_run(path):
    """The fixture run with a second saved graph, on ``conv1`` (its default)."""
    from topoact.mapper import MapperConfig, run_graphs
    from topoact.store import open_run

    run = open_run(path)
    run_graphs.build_run_graph(run, OTHER_LAYER, MapperConfig(**dict(FIXTURE_FORM, n_intervals=3)), default=True)
    return open_run(path)


# -- the query itself -------------------------------------------------------------------------------
def test_query_round_trip_and_unknown_values(small_run_dir):
    from topoact.app.context import AppContext
    from topoact.store import open_run

    ctx = AppContext(open_run(small_run_dir))
    key = ctx.default_key(GRAPH_LAYER)
    selection = {"layer": GRAPH_LAYER, "key": key}
    query = view_query(selection, "purity", {"layer": GRAPH_LAYER, "graph_key": key, "node": 2})
    assert parse_query(query) == {"layer": GRAPH_LAYER, "graph": key, "colour": "purity", "node": 2}
    # a node of another graph is not part of this view
    assert "node" not in view_query(selection, "purity", {"layer": GRAPH_LAYER, "graph_key": "other", "node": 2})
    assert view_query(None, "purity", None) == ""
    assert resolve(ctx, parse_query(query)) == parse_query(query)
    # unknown layer: nothing to restore; unknown graph / colour / node: the default graph, no colour, no node
    assert resolve(ctx, parse_query("?layer=nope&graph=x")) is None
    n_nodes = len(ctx.graph(GRAPH_LAYER, key)["nodes"])
    odd = resolve(ctx, parse_query(f"?layer={GRAPH_LAYER}&graph=feedbeef&colour=rainbow&node={n_nodes + 5}"))
    assert odd == {"layer": GRAPH_LAYER, "graph": key, "colour": None, "node": None}
    assert parse_query("?node=abc")["node"] is None


# -- in the browser ---------------------------------------------------------------------------------
def _shown_node(dash_duo) -> int | None:
    match = re.match(r"Node (\d+)", dash_duo.find_element(f"#{ids.NODE_TITLE}").text)
    return int(match.group(1)) if match else None


def _shown_key(dash_duo) -> str:
    return dash_duo.find_element(f"#{ids.NODE_COUNT}").text.split("graph ")[-1].split(" ")[0]


def _url(dash_duo) -> dict:
    query = parse_qs(urlparse(dash_duo.driver.current_url).query)
    return {k: v[0] for k, v in query.items()}


def _type_node(dash_duo, node: int) -> None:
    box = dash_duo.find_element(f"#{ids.NODE_INPUT}")
    box.clear()
    box.send_keys(f"{node}\n")


def test_a_url_opens_its_layer_graph_colouring_and_node(dash_duo, fresh_run_dir):
    from topoact.app.panels.graph import initial_layer
    from topoact.mapper import MapperConfig, run_graphs

    run = _two_layer_run(fresh_run_dir)
    # a second, non-default graph of conv2: the URL asks for it on a layer the app does not open on
    key = run_graphs.build_run_graph(run, GRAPH_LAYER, MapperConfig(**dict(FIXTURE_FORM, n_intervals=5)),
                                     default=False).key
    app = create_app(fresh_run_dir)
    ctx = app.topoact_context
    assert initial_layer(ctx) != GRAPH_LAYER and ctx.default_key(GRAPH_LAYER) != key
    nodes = ctx.graph(GRAPH_LAYER, key)["nodes"]
    node = max(nodes, key=lambda n: n["size"])["id"]
    colour = next(o["value"] for o in ctx.color_options() if o["value"] not in ("majority",))
    dash_duo.start_server(app)
    # the app opens on conv1 (its first layer with a graph): the view goes layer -> its default graph ->
    # the asked graph -> the node, and only the asked view reaches the URL
    dash_duo.driver.get(f"{dash_duo.server_url}/?layer={GRAPH_LAYER}&graph={key}&colour={colour}&node={node}")
    until(lambda: _shown_node(dash_duo) == node, 40, msg="the URL's node")
    assert _shown_key(dash_duo) == key
    assert GRAPH_LAYER in dash_duo.find_element(f"#{ids.LAYER_DROPDOWN}").text
    until(lambda: _url(dash_duo) == {"layer": GRAPH_LAYER, "graph": key, "colour": colour, "node": str(node)}, 10,
          msg="the URL kept as asked (no intermediate view written over it)")
    # the colouring dropdown shows the URL's colouring
    label = next(o["label"] for o in ctx.color_options() if o["value"] == colour)
    assert str(label) in dash_duo.find_element(f"#{ids.COLOR_DROPDOWN}").text


def test_back_button_returns_to_the_previous_node_then_layer(dash_duo, fresh_run_dir):
    from topoact.app.panels.graph import initial_layer

    run = _two_layer_run(fresh_run_dir)
    app = create_app(fresh_run_dir)
    start = initial_layer(app.topoact_context)
    other_layer = GRAPH_LAYER if start == OTHER_LAYER else OTHER_LAYER
    dash_duo.start_server(app)
    key = run.default_graph_key(start)
    until(lambda: _url(dash_duo).get("graph") == key, 40, msg="the first view in the URL")
    first, second = 0, 1
    _type_node(dash_duo, first)
    until(lambda: _url(dash_duo).get("node") == str(first), 15, msg="the first node in the URL")
    _type_node(dash_duo, second)
    until(lambda: _url(dash_duo).get("node") == str(second) and _shown_node(dash_duo) == second, 15,
          msg="the second node shown and in the URL")
    dash_duo.driver.back()
    until(lambda: _shown_node(dash_duo) == first, 15, msg="Back: the previous node")
    assert _url(dash_duo).get("node") == str(first)
    # another layer, then Back: the previous layer's graph and node again
    dash_duo.select_dcc_dropdown(f"#{ids.LAYER_DROPDOWN}", value=other_layer)
    other = run.default_graph_key(other_layer)
    until(lambda: _shown_key(dash_duo) == other and _url(dash_duo).get("layer") == other_layer, 30,
          msg="the other layer's graph")
    dash_duo.driver.back()
    until(lambda: _shown_key(dash_duo) == key and _shown_node(dash_duo) == first, 30,
          msg="Back: the previous layer, graph and node")
    assert _url(dash_duo) == {"layer": start, "graph": key, "colour": "majority", "node": str(first)}
