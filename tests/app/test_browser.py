"""Browser tests of the app (real headless Chromium through dash_duo): run with --headless."""
from __future__ import annotations

import re
import time

import pytest

from app_fixtures import small_run, small_run_dir  # noqa: F401 - fixtures

from topoact.app import create_app, ids

pytest.importorskip("selenium")

GRAPH_LAYER = "conv2"  # the layer with a saved graph in tests/app/conftest.py
GRAPH_POINTS = f"#{ids.GRAPH} .scatterlayer .trace .points path"


def _wait(predicate, timeout=15.0, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


def _node_count(dash_duo) -> int:
    text = dash_duo.find_element(f"#{ids.NODE_COUNT}").text
    match = re.match(r"(\d+) nodes", text)
    return int(match.group(1)) if match else -1


def _marker_opacities(dash_duo):
    """Per-node marker opacities of the drawn figure, read from plotly's data in the page."""
    return dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{ids.GRAPH} .js-plotly-plot');
        if (!gd || !gd._fullData) return null;
        let out = [];
        for (const t of gd._fullData) {{
            if (t.mode !== 'markers') continue;
            const o = t.marker.opacity;
            const many = Array.isArray(o) || ArrayBuffer.isView(o);
            for (let i = 0; i < t._length; i++) out.push(many ? Number(o[i]) : (o === undefined ? 1 : o));
        }}
        return out;""")


def test_click_node_shows_exemplars_and_class_search_fades(dash_duo, small_run_dir):
    app = create_app(small_run_dir)
    dash_duo.start_server(app)
    _wait(lambda: _node_count(dash_duo) > 0, message="the graph to be drawn")
    n_nodes = _node_count(dash_duo)
    points = _wait(lambda: dash_duo.find_elements(GRAPH_POINTS), message="node markers")
    assert len(points) == n_nodes

    from selenium.webdriver.common.action_chains import ActionChains

    # plotly picks the clicked point from the hover state: hover first, then click
    ActionChains(dash_duo.driver).move_to_element(points[0]).pause(0.5).click().perform()
    dash_duo.wait_for_contains_text(f"#{ids.NODE_TITLE}", "Node ", timeout=10)
    images = _wait(lambda: dash_duo.find_elements(f"#{ids.EXEMPLARS} img"), message="exemplar images")
    title = dash_duo.find_element(f"#{ids.NODE_TITLE}").text
    size = int(re.search(r"· (\d+) images", title).group(1))
    assert len(images) == min(size, 24)
    # every exemplar really loaded from the image route
    loaded = _wait(lambda: dash_duo.driver.execute_script(
        f"const imgs = document.querySelectorAll('#{ids.EXEMPLARS} img');"
        "return imgs.length > 0 && Array.from(imgs).every(i => i.complete && i.naturalWidth > 0);"),
        message="exemplar images to load")
    assert loaded
    assert all(re.search(r"/topoact/image/\d+\.png$", img.get_attribute("src")) for img in images)

    # class search: nodes without a member of the class fade
    assert set(_marker_opacities(dash_duo)) == {1}
    dash_duo.select_dcc_dropdown(f"#{ids.CLASS_DROPDOWN}", index=0)  # "circle"
    dash_duo.wait_for_contains_text(f"#{ids.NODE_COUNT}", "contain circle", timeout=10)
    opacities = _wait(lambda: (o := _marker_opacities(dash_duo)) and len(set(o)) > 1 and o,
                      message="faded nodes")
    ctx = app.topoact_context
    graph = ctx.graph(GRAPH_LAYER, None)
    with_class = sum(1 for n in graph["nodes"] if n["label_counts"].get("0", 0) > 0)
    assert sum(o == 1 for o in opacities) == with_class
    assert 0 < with_class < len(graph["nodes"])


def test_changing_a_mapper_parameter_draws_a_different_graph(dash_duo, small_run_dir):
    app = create_app(small_run_dir)
    dash_duo.start_server(app)
    _wait(lambda: _node_count(dash_duo) > 0, message="the graph to be drawn")
    before = _node_count(dash_duo)
    key_before = dash_duo.find_element(f"#{ids.NODE_COUNT}").text.split("graph ")[-1]
    field = dash_duo.find_element(f"#{ids.P_INTERVALS}")
    field.clear()
    field.send_keys("12")
    dash_duo.find_element(f"#{ids.COMPUTE_BUTTON}").click()
    _wait(lambda: dash_duo.find_element(f"#{ids.NODE_COUNT}").text.split("graph ")[-1] != key_before,
          timeout=30, message="the recomputed graph")
    after = _node_count(dash_duo)
    assert after != before
    assert "ready" in dash_duo.find_element(f"#{ids.JOB_STATUS}").text
    # the new graph was saved in the run under its parameter key
    layer = GRAPH_LAYER
    assert len(app.topoact_context.run.graph_keys(layer)) >= 2
