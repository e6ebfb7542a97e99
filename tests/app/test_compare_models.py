"""The same layer of a second model in the Neighbouring-layers tab (``topoact serve RUN_A RUN_B``):
its graph, the selected node's counterparts ringed in orange (matched on the shared images), and
words instead of rings when the two runs hold different images. Model B is TinyCNN with other
random weights, collected on the same 150 generated images as the app fixture's run."""
from __future__ import annotations

import pytest
import torch
from dash.testing.wait import until
from tiny_models import TinyCNN

from app_fixtures import FIXTURE_FORM, GRAPH_LAYER, N_IMAGES, small_run, small_run_dir  # noqa: F401 - fixtures

import topoact
from topoact.app import create_app, ids
from topoact.app.context import AppContext
from topoact.app.panels import compare
from topoact.data.synthetic import SHAPE_CLASSES

SPEC_B = "tinycnn-b"


def _collect(path, n_images: int, seed: int):
    from topoact.models import wrap_module

    torch.manual_seed(seed)
    bundle = wrap_module(TinyCNN(len(SHAPE_CLASSES)), class_names=list(SHAPE_CLASSES), input_size=(32, 32),
                         spec=SPEC_B)
    return topoact.collect(bundle, f"shapes:{n_images}", [GRAPH_LAYER], out=path, num_workers=0, progress=False,
                           chunk_size=n_images, batch_size=n_images)


@pytest.fixture(scope="module")
def run_b(tmp_path_factory):
    """Model B on the fixture's images, with a default graph of ``conv2`` (other parameters than A's)."""
    from topoact.mapper import MapperConfig, run_graphs

    run = _collect(tmp_path_factory.mktemp("model-b") / "run", N_IMAGES, seed=7)
    run_graphs.build_run_graph(run, GRAPH_LAYER, MapperConfig(**dict(FIXTURE_FORM, n_intervals=5)), default=True)
    return topoact.open_run(run.path)


def test_counterparts_in_model_b_are_the_matching(small_run_dir, run_b):
    from topoact.mapper.matching import match_graphs

    ctx, other = AppContext(topoact.open_run(small_run_dir)), AppContext(run_b)
    assert compare.image_mismatch(ctx.run, other.run) is None
    key_a = ctx.default_key(GRAPH_LAYER)
    key_b = compare.model_graph_key(other, GRAPH_LAYER, key_a)
    assert key_b == run_b.default_graph_key(GRAPH_LAYER) != key_a      # B has no graph with A's parameters
    g_a, g_b = ctx.run.graph(GRAPH_LAYER, key_a), run_b.graph(GRAPH_LAYER, key_b)
    expected = match_graphs(g_a, g_b)
    found = 0
    for node in range(g_a.n_nodes):
        store = {"layer": GRAPH_LAYER, "graph_key": key_a, "node": node}
        got = compare.counterpart_nodes(ctx, store, GRAPH_LAYER, key_b, other=other)
        assert got == expected.counterparts(node)
        found += bool(got)
    assert found > 0
    # the figure: B's graph titled with its model and layer, one orange ring trace on the counterparts
    node = next(n for n in range(g_a.n_nodes) if expected.counterparts(n))
    store = {"layer": GRAPH_LAYER, "graph_key": key_a, "node": node}
    fig, text = compare.model_view(ctx, other, {"layer": GRAPH_LAYER, "key": key_a}, "majority", None, store, None)
    assert SPEC_B in fig.layout.title.text and GRAPH_LAYER in fig.layout.title.text
    rings = [t for t in fig.data if t.name == "counterpart"]
    assert len(rings) == 1 and len(rings[0].x) == len(expected.counterparts(node))
    positions = other.positions(GRAPH_LAYER, key_b)
    assert list(rings[0].x) == [positions[n][0] for n in expected.counterparts(node)]
    assert f"{len(expected.counterparts(node))} counterpart(s) of node {node}" in text


def test_different_images_and_missing_graph_say_so_in_words(small_run_dir, tmp_path):
    ctx = AppContext(topoact.open_run(small_run_dir))
    fewer = _collect(tmp_path / "fewer", 100, seed=7)          # other images: no graph either
    other = AppContext(topoact.open_run(fewer.path))
    mismatch = compare.image_mismatch(ctx.run, other.run)
    assert mismatch == f"the two runs hold different images ({N_IMAGES} and 100)"
    selection = {"layer": GRAPH_LAYER, "key": ctx.default_key(GRAPH_LAYER)}
    store = {"layer": GRAPH_LAYER, "graph_key": selection["key"], "node": 0}
    fig, text = compare.model_view(ctx, other, selection, "majority", None, store, mismatch)
    assert text == (f"{SPEC_B} has no graph of {GRAPH_LAYER} yet: build one with  "
                    f"topoact mapper {fewer.path} --layer {GRAPH_LAYER}")
    from topoact.mapper import MapperConfig, run_graphs

    run_graphs.build_run_graph(fewer, GRAPH_LAYER, MapperConfig(**FIXTURE_FORM), default=True)
    other = AppContext(topoact.open_run(fewer.path))
    fig, text = compare.model_view(ctx, other, selection, "majority", None, store, mismatch)
    assert text.startswith(f"No counterparts in {SPEC_B}: the two runs hold different images")
    assert not [t for t in fig.data if t.name == "counterpart"] and SPEC_B in fig.layout.title.text
    # same count, another order: named too (the row where they first differ)
    shuffled = AppContext(topoact.open_run(small_run_dir))
    shuffled.run.source_index = shuffled.run.source_index[::-1].copy()
    assert "data set positions, first at row 0" in compare.image_mismatch(ctx.run, shuffled.run)
    # a layer model B does not have
    assert "has no layer 'fc'" in compare.model_view(ctx, other, {"layer": "fc", "key": None}, None, None, None,
                                                    None)[1]


def _rings(dash_duo) -> int | None:
    return dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{compare.MODEL_GRAPH} .js-plotly-plot');
        if (!gd || !gd._fullData) return null;
        const t = gd._fullData.find(t => t.name === 'counterpart');
        return t ? t.x.length : 0;""")


@pytest.mark.browser
def test_selecting_a_node_in_model_a_rings_nodes_in_model_b(dash_duo, small_run_dir, run_b, tmp_path):
    from selenium.webdriver.common.by import By

    from topoact.mapper.matching import match_graphs

    app = create_app(small_run_dir, compare=run_b.path)
    ctx = app.topoact_context
    key_a = ctx.default_key(GRAPH_LAYER)
    matching = match_graphs(ctx.run.graph(GRAPH_LAYER, key_a), run_b.graph(GRAPH_LAYER))
    node = max(range(matching.plan.shape[0]), key=lambda n: len(matching.counterparts(n)))
    expected = len(matching.counterparts(node))
    assert expected > 0
    dash_duo.start_server(app)
    until(lambda: dash_duo.driver.execute_script(  # the info line keeps the key in an attribute, never shown
        f"const e = document.querySelector('#{ids.NODE_COUNT} [data-graph-key]'); return e && e.dataset.graphKey")
        == key_a, 40, msg="model A's graph")
    box = dash_duo.find_element(f"#{ids.NODE_INPUT}")
    box.clear()
    box.send_keys(f"{node}\n")
    dash_duo.driver.find_element(
        By.XPATH, f"//*[contains(@class,'tab') and normalize-space()='{compare.TAB_LABEL}']").click()
    dash_duo.wait_for_contains_text(f"#{compare.MODEL_NOTE}", f"counterpart(s) of node {node}", timeout=30)
    until(lambda: _rings(dash_duo) == expected, 20, msg="model B's counterparts ringed")
    title = dash_duo.find_element(f"#{compare.MODEL_GRAPH} .gtitle").text
    assert SPEC_B in title and GRAPH_LAYER in title
    assert dash_duo.driver.save_screenshot(str(tmp_path / "compare-models.png"))
    assert dash_duo.get_logs() == [] or all("favicon" in e.get("message", "") for e in dash_duo.get_logs())
