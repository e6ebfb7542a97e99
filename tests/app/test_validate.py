"""Crafted callback inputs: every node/layer/key/limit the browser can send gets a message in
words from the callback, never an HTTP 500 (posted exactly as the browser posts them)."""
from __future__ import annotations

import json

import pytest

from app_fixtures import GRAPH_LAYER, small_run  # noqa: F401
from topoact.app import create_app, ids


@pytest.fixture(scope="module")
def client_and_ctx(small_run):
    from topoact.store import open_run

    path, bundle = small_run
    app = create_app(open_run(path, model=bundle))
    return app.server.test_client(), app.topoact_context, app


def _post(client, app, input_id, output_id, values):
    deps = json.loads(client.get("/_dash-dependencies").data)
    dep = next(d for d in deps if output_id in d["output"] and any(i["id"] == input_id for i in d["inputs"]))
    spec = dep["output"]
    parts = spec.strip(".").split("...") if spec.startswith("..") else [spec]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    body = {"output": spec, "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [{"id": i["id"], "property": i["property"], "value": values.get(i["id"])} for i in dep["inputs"]],
            "state": [{"id": s["id"], "property": s["property"], "value": values.get(s["id"])} for s in dep["state"]],
            "changedPropIds": [f"{input_id}.{dep['inputs'][0]['property']}"]}
    return client.post("/_dash-update-component", json=body)


def _key(ctx):
    return ctx.default_key(GRAPH_LAYER) or ctx.run.graph_keys(GRAPH_LAYER)[0]


@pytest.mark.parametrize("store, message", [
    ({"layer": "nope", "graph_key": "x", "node": 0}, "unknown layer 'nope'"),
    ({"layer": GRAPH_LAYER, "graph_key": "../../etc", "node": 0}, "no saved graph"),
    ({"layer": GRAPH_LAYER, "graph_key": "KEY", "node": 999999}, "node id must be at least 0 and at most"),
    ({"layer": GRAPH_LAYER, "graph_key": "KEY", "node": "zero"}, "node id must be a whole number"),
    ({"layer": GRAPH_LAYER, "graph_key": "KEY", "node": [1]}, "node id must be a whole number"),
    (["not", "a", "dict"], "no node is selected"),
])
def test_crafted_node_stores_get_a_message_from_every_node_callback(client_and_ctx, store, message):
    client, ctx, app = client_and_ctx
    if isinstance(store, dict) and store.get("graph_key") == "KEY":
        store = dict(store, graph_key=_key(ctx))
    for output_id in (ids.NODE_STATS, ids.EXEMPLARS):
        response = _post(client, app, ids.NODE, output_id, {ids.NODE: store})
        assert response.status_code == 200, (output_id, response.data[:300])
        assert message in response.get_data(as_text=True), (output_id, response.data[:300])
    response = _post(client, app, ids.CSV_BUTTON, ids.CSV_DOWNLOAD, {ids.CSV_BUTTON: 1, ids.NODE: store})
    assert response.status_code == 200 and message in response.get_data(as_text=True)


@pytest.mark.parametrize("limit", ["ten", -5, 1e12, {"x": 1}])
def test_a_non_numeric_or_absurd_exemplar_limit_gets_a_message(client_and_ctx, limit):
    client, ctx, app = client_and_ctx
    store = {"layer": GRAPH_LAYER, "graph_key": _key(ctx), "node": 0}
    response = _post(client, app, ids.MORE_BUTTON, ids.EXEMPLARS,
                     {ids.MORE_BUTTON: 1, ids.NODE: store, ids.EXEMPLAR_LIMIT: limit})
    assert response.status_code == 200
    assert "exemplar limit must" in response.get_data(as_text=True)


def test_a_valid_store_still_shows_the_node(client_and_ctx):
    client, ctx, app = client_and_ctx
    store = {"layer": GRAPH_LAYER, "graph_key": _key(ctx), "node": 0}
    response = _post(client, app, ids.NODE, ids.NODE_STATS, {ids.NODE: store})
    assert response.status_code == 200 and "images" in response.get_data(as_text=True)
    response = _post(client, app, ids.CSV_BUTTON, ids.CSV_DOWNLOAD, {ids.CSV_BUTTON: 1, ids.NODE: store})
    assert response.status_code == 200 and "row,id,path,label" in response.get_data(as_text=True)
