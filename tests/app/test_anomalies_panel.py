"""Anomalies tab: the colour option (library side) and a real-Chromium walk through the tab."""
from __future__ import annotations

import re

import numpy as np
import pytest

from app_fixtures import GRAPH_LAYER, small_run, small_run_dir  # noqa: F401 - fixtures
from test_browser import _wait

import topoact
from topoact.anomaly.topology import node_of_row
from topoact.app import create_app, ids
from topoact.app.context import AppContext
from topoact.app.jobs import JobManager
from topoact.app.panels import anomalies as panel


def test_nodes_can_be_coloured_by_anomaly_share(small_run_dir):
    run = topoact.open_run(small_run_dir)
    ctx = AppContext(run=run, jobs=JobManager(max_workers=1))
    assert "anomaly:outlier" in [o["value"] for o in ctx.color_options()]
    key = ctx.default_key(GRAPH_LAYER)
    values, kind, _ = ctx.node_values(GRAPH_LAYER, key, "anomaly:outlier")
    flags = topoact.anomalies(run).sort_values("row")["is_outlier"].to_numpy()
    nodes = ctx.graph(GRAPH_LAYER, key)["nodes"]
    expected = [flags[np.asarray(n["members"])].mean() for n in nodes]
    np.testing.assert_allclose(values, expected)
    assert kind == "linear" and 0 <= values.min() and values.max() <= 1


@pytest.mark.browser
def test_tab_threshold_and_click_to_node(dash_duo, small_run_dir):
    run = topoact.open_run(small_run_dir)
    scores = topoact.anomalies(run)["label_issue"].to_numpy()
    threshold = float(np.round(np.quantile(scores, 0.8), 2))
    expected = int((scores >= threshold).sum())
    assert 0 < expected < run.n

    app = create_app(small_run_dir)
    dash_duo.start_server(app)
    _wait(lambda: re.match(r"\d+ nodes", dash_duo.find_element(f"#{ids.NODE_COUNT}").text), timeout=60, message="graph")
    dash_duo.find_element(f"#{ids.TABS}").find_element("xpath", ".//*[text()='Anomalies']").click()
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "scores ready", timeout=60)
    before = int(re.match(r"(\d+) of", dash_duo.find_element(f"#{panel.COUNT}").text).group(1))

    box = dash_duo.find_element(f"#{panel.THRESHOLD}")
    box.clear()
    box.send_keys(f"{threshold}\n")
    dash_duo.wait_for_contains_text(f"#{panel.COUNT}", f"{expected} of {run.n} images", timeout=20)
    assert expected < before
    images = _wait(lambda: dash_duo.find_elements(f"#{panel.GRID} img"), message="grid images")
    assert len(images) == min(expected, panel.PAGE)
    reasons = dash_duo.find_elements(f"#{panel.GRID} .topoact-anomaly-reason")
    assert len(reasons) == len(images) and all(r.text for r in reasons)

    # click the first image whose row is in a node of the shown graph
    graph = run.graph(GRAPH_LAYER)
    target = next(img for img in images
                  if node_of_row(graph, int(re.search(r"/(\d+)\.png", img.get_attribute("src")).group(1))) is not None)
    row = int(re.search(r"/(\d+)\.png", target.get_attribute("src")).group(1))
    node = node_of_row(graph, row)
    target.click()
    dash_duo.wait_for_contains_text(f"#{ids.NODE_TITLE}", f"Node {node} ", timeout=20)
    assert dash_duo.find_element(f"#{ids.TABS} .tab--selected").text == "Mapper graph"


def test_selection_is_what_the_csv_holds(small_run_dir, tmp_path):
    table = topoact.anomalies(topoact.open_run(small_run_dir))
    chosen = panel.selection(table, "outlier", 0.9)
    assert (chosen["outlier"] >= 0.9).all() and len(chosen) == int((table["outlier"] >= 0.9).sum())
    assert chosen["outlier"].is_monotonic_decreasing
    from dash import dcc

    payload = dcc.send_data_frame(chosen.to_csv, "anomalies-outlier.csv", index=False)
    assert payload["filename"] == "anomalies-outlier.csv"
    assert payload["content"].splitlines()[0].startswith("row,id,path,label,prediction,label_issue")
    assert len(payload["content"].splitlines()) == len(chosen) + 1
