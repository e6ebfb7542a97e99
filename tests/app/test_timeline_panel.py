"""Timeline tab: shown only for a run of a series; a real Chromium builds the timeline in a worker,
drives the epoch slider and clicks a node for its history."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from dash.testing.wait import until
from tiny_models import TinyCNN

from app_fixtures import FIXTURE_FORM, GRAPH_LAYER, fresh_run_dir, small_run, small_run_dir  # noqa: F401 - fixtures

import topoact
from topoact.app import create_app
from topoact.app.context import AppContext
from topoact.app.panels import load_panels
from topoact.app.panels import timeline as panel
from topoact.data.synthetic import SHAPE_CLASSES
from topoact.series import collect_series
from topoact.timeline import aligned_embeddings, build_timeline

#: a demo run whose series was prepared (topoact.demo.prepare_demo) and where to save the screenshot
DEMO_RUN = os.environ.get("TOPOACT_DEMO_RUN")
SCREENSHOT = os.environ.get("TOPOACT_TIMELINE_SCREENSHOT")


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A 3-checkpoint series of TinyCNN drifting from a common start (150 images, conv2 + fc), with a
    default graph of conv2 in the last step (the app's main tab shows it)."""
    from topoact.mapper import MapperConfig, run_graphs

    root = tmp_path_factory.mktemp("tl")
    torch.manual_seed(0)
    model = TinyCNN(len(SHAPE_CLASSES))
    (root / "ck").mkdir()
    for k in (1, 2, 3):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.08 * torch.randn_like(p))
        torch.save(model.state_dict(), root / "ck" / f"epoch_{k}.th")
    s = collect_series(TinyCNN(len(SHAPE_CLASSES)), "shapes:150", [GRAPH_LAYER, "fc"], weights=str(root / "ck"),
                       out=root / "series", model_options={"class_names": list(SHAPE_CLASSES), "input_size": (32, 32)},
                       num_workers=0, chunk_size=75, batch_size=75)
    run_graphs.build_run_graph(s.run(3), GRAPH_LAYER, MapperConfig(**FIXTURE_FORM), default=True)
    return s


def _tab_names(app) -> list[str]:
    return [label for label, _ in load_panels(app.topoact_context)[1]]


def test_tab_only_for_runs_of_a_series(series, small_run_dir):
    assert "Timeline" in _tab_names(create_app(series.run_path(3)))
    assert "Timeline" not in _tab_names(create_app(small_run_dir))
    assert not panel.available(AppContext(topoact.open_run(small_run_dir)))


def test_identities_follow_matches(series):
    tl = build_timeline(series, GRAPH_LAYER, persistence=False)
    ident = panel.identities(tl)
    for m in tl.matches:
        assert ident[tuple(m["to"])] == ident[tuple(m["from"])]
    first = tl.step_numbers[0]
    assert all(ident[(first, k)] == f"{first}:{k}" for k in range(len(tl.layouts[str(first)])))


def _slider_to(dash_duo, index: int) -> None:
    """Move the slider as a keyboard user does: focus its thumb, Home, then index x ArrowRight."""
    from selenium.webdriver.common.keys import Keys

    thumb = dash_duo.find_element(f"#{panel.SLIDER} .dash-slider-thumb, #{panel.SLIDER} [role=slider]")
    thumb.click()
    thumb.send_keys(Keys.HOME + Keys.ARROW_RIGHT * index)


def _embedding_points(dash_duo):
    return dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{panel.EMBEDDING} .js-plotly-plot');
        if (!gd || !gd._fullData || !gd._fullData.length) return null;
        const t = gd._fullData[0];
        return Array.from(t.x).map((x, i) => [x, t.y[i]]);""")


def _outlined(dash_duo) -> set:
    widths = dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{panel.EMBEDDING} .js-plotly-plot');
        const t = gd._fullData[0];
        return Array.from(t.ids).map((id, i) => [id, t.marker.line.width[i]]);""")
    return {int(i) for i, w in widths if w > 0}


def _node_positions(dash_duo) -> list:
    return dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{panel.GRAPH} .js-plotly-plot');
        if (!gd || !gd._fullData) return null;
        const t = gd._fullData.find(t => t.name === 'nodes');
        return t ? Array.from(t.x).map((x, i) => [t.ids[i], x, t.y[i]]) : null;""")


@pytest.mark.browser
def test_slider_walks_the_steps_and_a_click_shows_the_history(dash_duo, series, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    import shutil

    shutil.rmtree(series.path / "timeline", ignore_errors=True)
    dash_duo.start_server(create_app(series.run_path(3)))
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Timeline']").click()
    dash_duo.wait_for_contains_text(f"#{panel.STEP_TEXT}", "press Build timeline", timeout=30)
    dash_duo.find_element(f"#{panel.BUILD}").click()
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "ready", timeout=180)
    dash_duo.wait_for_contains_text(f"#{panel.STEP_TEXT}", "step 3:", timeout=30)
    tl = build_timeline(series, GRAPH_LAYER)            # the worker's cached result
    until(lambda: _node_positions(dash_duo) and len(_node_positions(dash_duo)) == tl.steps[-1]["nodes"], 20,
          msg="the last step's nodes")
    _slider_to(dash_duo, 0)
    dash_duo.wait_for_contains_text(f"#{panel.STEP_TEXT}", "step 1:", timeout=20)
    until(lambda: len(_node_positions(dash_duo)) == tl.steps[0]["nodes"], 20, msg="the first step's nodes")
    _slider_to(dash_duo, 1)
    dash_duo.wait_for_contains_text(f"#{panel.STEP_TEXT}", "step 2:", timeout=20)
    n2 = tl.steps[1]["nodes"]
    until(lambda: len(_node_positions(dash_duo)) == n2, 20, msg="the second step's nodes")
    # the drawn positions are the timeline's aligned layout of step 2, with the matched identities
    expected = np.asarray(tl.layouts["2"], float)
    until(lambda: np.allclose([p[1:] for p in _node_positions(dash_duo)], expected, atol=1e-3), 20,
          msg="aligned positions of step 2")
    ident = panel.identities(tl)
    assert [p[0] for p in _node_positions(dash_duo)] == [ident[(2, k)] for k in range(n2)]
    # the linked embedding: step 2's PCA, Procrustes-aligned on step 1's, one point per image
    aligned = aligned_embeddings(series.runs(), GRAPH_LAYER)[1]
    until(lambda: _embedding_points(dash_duo) is not None
          and np.allclose(_embedding_points(dash_duo), aligned, atol=1e-6), 20, msg="aligned embedding of step 2")
    assert dash_duo.driver.save_screenshot(str(tmp_path / "timeline.png"))
    # click a node: its history
    points = dash_duo.find_elements(f"#{panel.GRAPH} .scatterlayer .trace .points path")
    until(lambda: len(dash_duo.find_elements(f"#{panel.GRAPH} .scatterlayer .trace .points path")) == n2, 20,
          msg="markers drawn")
    # the markers glide to their new places for half a second: a click during the glide can miss,
    # so click again until the history shows (a real user clicks where the marker ends up)
    for attempt in range(4):
        points = dash_duo.find_elements(f"#{panel.GRAPH} .scatterlayer .trace .points path")
        ActionChains(dash_duo.driver).move_to_element(points[0]).pause(0.5).click().perform()
        try:
            dash_duo.wait_for_contains_text(f"#{panel.HISTORY}", "appeared at step", timeout=8)
            break
        except Exception:  # noqa: BLE001 - retried; the last attempt raises below
            if attempt == 3:
                raise
    # the clicked node's images are outlined in the embedding
    node_members = set(series.run(2).graph(GRAPH_LAYER, tl.key).members[
        int(re.search(r"node (\d+) at step 2", dash_duo.find_element(f"#{panel.HISTORY}").text).group(1))].tolist())
    until(lambda: _outlined(dash_duo) == node_members, 20, msg="the node's images outlined")
    text = dash_duo.find_element(f"#{panel.HISTORY}").text
    node = int(re.search(r"node (\d+) at step 2", text).group(1))
    chain = re.search(r"matched chain \(step:node\): (.*)", text).group(1)
    assert chain.endswith(f"2:{node}")
    assert dash_duo.get_logs() == [] or all("favicon" in e.get("message", "") for e in dash_duo.get_logs())


def test_neighbouring_layers_ring_the_counterparts(fresh_run_dir):
    from topoact.app.panels import compare
    from topoact.mapper import MapperConfig, run_graphs
    from topoact.mapper.matching import match_graphs

    run = topoact.open_run(fresh_run_dir)
    config = MapperConfig(**FIXTURE_FORM)
    g_fc = run_graphs.build_run_graph(run, "fc", config, default=True)
    g_conv = run.graph(GRAPH_LAYER)
    ctx = AppContext(run)
    expected = match_graphs(g_conv, g_fc)
    found = 0
    for node in range(g_conv.n_nodes):
        store = {"layer": GRAPH_LAYER, "graph_key": g_conv.key, "node": node}
        got = compare.counterpart_nodes(ctx, store, "fc", g_fc.key)
        assert got == expected.counterparts(node)
        if expected.counterpart(node) is not None:
            assert got[0] == expected.counterpart(node)
            found += 1
        assert compare.counterpart_nodes(ctx, store, GRAPH_LAYER, g_conv.key) == []   # its own layer
    assert found > 0
    trace = compare.counterpart_trace(ctx.positions("fc", g_fc.key), [0])
    assert trace.marker.symbol == "circle-open" and len(trace.x) == 1


@pytest.mark.browser
@pytest.mark.skipif(not DEMO_RUN, reason="set TOPOACT_DEMO_RUN to a prepared demo run (topoact demo --no-serve)")
def test_demo_series_slider(dash_duo, tmp_path):
    """The demo run's Timeline tab on its training series: walk the slider to the middle epoch."""
    from selenium.webdriver.common.by import By

    from topoact.series import find_series

    series = find_series(DEMO_RUN)
    assert series is not None and len(series.steps) >= 4
    dash_duo.start_server(create_app(DEMO_RUN))
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Timeline']").click()
    last = series.steps[-1]
    dash_duo.wait_for_contains_text(f"#{panel.STEP_TEXT}", f"step {last}:", timeout=60)
    middle = len(series.steps) // 2
    _slider_to(dash_duo, middle)
    dash_duo.wait_for_contains_text(f"#{panel.STEP_TEXT}", f"step {series.steps[middle]}:", timeout=30)
    import time

    time.sleep(1.5)                                      # let the 0.5 s transition finish
    assert dash_duo.driver.save_screenshot(SCREENSHOT or str(tmp_path / "demo-timeline.png"))
