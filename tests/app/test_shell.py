"""The page shell in a real browser: a 1366 x 768 window shows the graph and the node panel without
page scrolling, the theme is served by the app itself (no CDN), the form is folded, the help panel
opens from the navbar and the navbar names the graph by its parameters (never its hash)."""
from __future__ import annotations

import re

import pytest
from dash.testing.wait import until

from app_fixtures import GRAPH_LAYER, small_run, small_run_dir  # noqa: F401 - fixtures

from topoact.app import create_app, ids
from topoact.app.help import HELP, HOW_TO_READ
from topoact.app.panels import graph_form
from topoact.app import shell

pytest.importorskip("selenium")

#: the rectangle of an element and the window's inner size
RECT_JS = """
const r = document.querySelector(arguments[0]).getBoundingClientRect();
return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height,
        innerHeight: window.innerHeight, innerWidth: window.innerWidth};
"""


def _node_count(dash_duo) -> int:
    match = re.match(r"(\d+) nodes", dash_duo.find_element(f"#{ids.NODE_COUNT}").text)
    return int(match.group(1)) if match else -1


def _in_view(rect: dict) -> bool:
    return (rect["top"] >= 0 and rect["left"] >= 0 and rect["bottom"] <= rect["innerHeight"] + 1
            and rect["right"] <= rect["innerWidth"] + 1 and rect["height"] > 0)


def test_1366x768_window_fits_graph_and_node_panel_without_scrolling(dash_duo, small_run_dir):
    dash_duo.driver.set_window_size(1366, 768)
    app = create_app(small_run_dir)
    dash_duo.start_server(app)
    until(lambda: _node_count(dash_duo) > 0, 30, msg="the graph to be drawn")
    until(lambda: dash_duo.find_elements(f"#{ids.GRAPH} .main-svg"), 10, msg="the plotly figure")
    driver = dash_duo.driver
    # the page itself never scrolls
    heights = driver.execute_script("return [document.scrollingElement.scrollHeight, window.innerHeight,"
                                    " window.innerWidth]")
    assert heights[2] >= 1300, f"the window is not 1366 wide: {heights}"
    assert heights[0] <= heights[1] + 3, f"the page scrolls: scrollHeight {heights[0]} > innerHeight {heights[1]}"
    # the graph and the node panel are fully in view, side by side (graph left of node)
    graph = driver.execute_script(RECT_JS, f"#{ids.GRAPH}")
    node = driver.execute_script(RECT_JS, "#topoact-col-node")
    assert _in_view(graph), graph
    assert _in_view(node), node
    assert graph["right"] <= node["left"] and graph["height"] >= 240
    # the figure follows its box (no part of the plot hidden below it)
    # (the opening figure is in the page's layout, drawn before the column has its final height:
    # plotly's responsive mode then follows the box)
    def fits() -> bool:
        svg, box = driver.execute_script(RECT_JS, f"#{ids.GRAPH} .main-svg"), driver.execute_script(RECT_JS, f"#{ids.GRAPH}")
        return svg["bottom"] <= box["bottom"] + 2 and svg["height"] >= box["height"] - 2

    until(fits, 10, msg=lambda: (driver.execute_script(RECT_JS, f"#{ids.GRAPH} .main-svg"),
                                 driver.execute_script(RECT_JS, f"#{ids.GRAPH}")))
    # the columns' widths follow the shares (graph ~42 %, node ~30 % when the embedding panel is there)
    names = [div.get_attribute("id") for div in driver.find_elements("css selector", ".topoact-main > .topoact-col")]
    assert names[0] == "topoact-col-graph" and names[-1] == "topoact-col-node"
    shares = {name: shell.COLUMN_SHARE[name.removeprefix("topoact-col-")] for name in names}
    width = {name: driver.execute_script(RECT_JS, f"#{name}")["width"] for name in names}
    expected = shares["topoact-col-graph"] / shares["topoact-col-node"]
    assert abs(width["topoact-col-graph"] / width["topoact-col-node"] - expected) < 0.15 * expected, width


def test_theme_is_local_form_folded_help_opens_and_navbar_names_the_graph(dash_duo, small_run_dir):
    app = create_app(small_run_dir)
    dash_duo.start_server(app)
    until(lambda: _node_count(dash_duo) > 0, 30, msg="the graph to be drawn")
    driver = dash_duo.driver
    # Bootstrap's stylesheet comes from the app's own server (works offline) and is applied
    hrefs = driver.execute_script("return Array.from(document.querySelectorAll('link[rel=stylesheet]'))"
                                  ".map(l => l.href)")
    server = dash_duo.server_url.rstrip("/")
    assert any("bootstrap" in h for h in hrefs), hrefs
    assert all(h.startswith(server) for h in hrefs), f"a stylesheet from elsewhere: {hrefs}"
    assert driver.execute_script(
        "return getComputedStyle(document.documentElement).getPropertyValue('--bs-blue').trim()") == "#0d6efd"
    # the navbar names the shown graph by its parameters and node count, never by its hash
    key = app.topoact_context.default_key(GRAPH_LAYER)
    dash_duo.wait_for_contains_text(f"#{shell.GRAPH_NAME}", "nodes", timeout=10)
    name = dash_duo.find_element(f"#{shell.GRAPH_NAME}").text
    n_nodes = len(app.topoact_context.graph(GRAPH_LAYER, key)["nodes"])
    assert f"{n_nodes} nodes" in name and "L2 norm" in name and "4 intervals" in name and "30 % overlap" in name
    assert key not in driver.find_element("css selector", ".topoact-navbar").text
    # the parameter form is folded until its header is clicked: its fields are not even mounted
    # (each mounted component costs the renderer on every update); unfolded, they hold the shown
    # graph's parameters, and an edit survives folding and unfolding
    assert not driver.find_elements("id", ids.P_INTERVALS)
    header = driver.find_element("css selector", f"#{graph_form.ACCORDION} .accordion-button")

    def unfolded():
        header.click()
        dash_duo.wait_for_element(f"#{ids.P_INTERVALS}", timeout=10)
        until(lambda: driver.find_element("id", ids.P_INTERVALS).is_displayed(), 5, msg="the unfolded form")
        return driver.find_element("id", ids.P_INTERVALS)

    intervals = unfolded()
    assert intervals.get_attribute("value") == "4"
    intervals.send_keys("1")  # 41
    header.click()
    until(lambda: not driver.find_elements("id", ids.P_INTERVALS), 10, msg="the folded form to unmount")
    assert unfolded().get_attribute("value") == "41"
    # a field's info mark shows what the control does
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).move_to_element(driver.find_element("id", f"{ids.P_INTERVALS}-info")).perform()
    until(lambda: HELP["n_intervals"] in " ".join(t.text for t in driver.find_elements("css selector", ".tooltip")),
          5, msg="the intervals tooltip")
    # "How to read this graph" opens from the navbar with every section
    driver.find_element("id", shell.HELP_BUTTON).click()
    until(lambda: driver.find_element("id", shell.HELP_PANEL).is_displayed(), 5, msg="the help panel")
    text = driver.execute_script("return document.getElementById(arguments[0]).textContent", shell.HELP_PANEL)
    for heading, _ in HOW_TO_READ:
        assert heading in text
    assert "Jaccard" in text and "0 to 1" in text
