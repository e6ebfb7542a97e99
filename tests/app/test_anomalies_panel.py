"""Anomalies tab: colouring by anomaly share, input validation, and a real-Chromium walk through the
tab whose scores are computed by a background job in a worker process."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from dash.testing.wait import until

from app_fixtures import GRAPH_LAYER, fresh_run_dir, small_run, small_run_dir  # noqa: F401 - fixtures
from test_browser import RECORD_JS, _check_bar, _wait_for_graph

import topoact
from topoact.anomaly import cached_anomalies
from topoact.anomaly.topology import node_of_row
from topoact.app import create_app, ids, validate
from topoact.app.context import AppContext
from topoact.app.panels import anomalies as panel


def _without_scores(run_dir):
    """The run copy with no cached anomaly table (the session's run may have one by now)."""
    shutil.rmtree(run_dir / "anomalies", ignore_errors=True)
    return run_dir


def test_nodes_are_coloured_by_anomaly_share_once_the_scores_exist(fresh_run_dir):
    run = topoact.open_run(_without_scores(fresh_run_dir))
    ctx = AppContext(run)
    assert "anomaly:outlier" in [o["value"] for o in ctx.color_options()]
    key = ctx.default_key(GRAPH_LAYER)
    # the server never computes the scores itself: that is the tab's background job
    with pytest.raises(ValueError, match="open the Anomalies tab"):
        ctx.node_values(GRAPH_LAYER, key, "anomaly:outlier")
    assert not (fresh_run_dir / "anomalies").exists()
    flags = topoact.anomalies(run).sort_values("row")["is_outlier"].to_numpy()
    values, kind, _ = ctx.node_values(GRAPH_LAYER, key, "anomaly:outlier")
    nodes = ctx.graph(GRAPH_LAYER, key)["nodes"]
    expected = [flags[np.asarray(n["members"])].mean() for n in nodes]
    np.testing.assert_allclose(values, expected)
    assert kind == "linear" and 0 <= values.min() and values.max() <= 1


def test_store_inputs_are_validated(small_run_dir):
    ctx = AppContext(topoact.open_run(small_run_dir))
    assert panel.threshold_value(0.5) == 0.5 and panel.threshold_value("1") == 1.0
    for bad in (-0.1, 1.5, float("nan"), "x", None, True, [0.5]):
        with pytest.raises(validate.BadInput, match="threshold"):
            panel.threshold_value(bad)
    assert panel.kind_choice(ctx, "outlier") == "outlier"
    for bad in ("reason", None, ["outlier"]):
        with pytest.raises(validate.BadInput, match="unknown anomaly kind"):
            panel.kind_choice(ctx, bad)


@pytest.mark.browser
def test_tab_computes_in_a_worker_then_threshold_and_click_to_node(dash_duo, fresh_run_dir):
    run_dir = _without_scores(fresh_run_dir)
    dash_duo.start_server(create_app(run_dir))
    _wait_for_graph(dash_duo, timeout=60)
    # opening the tab finds no cached table and starts the job, which caches it in the run
    dash_duo.find_element(f"#{ids.TABS}").find_element("xpath", ".//*[text()='Anomalies']").click()
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "scores ready (", timeout=120)
    run = topoact.open_run(run_dir)
    table = cached_anomalies(run)
    assert table is not None, "the worker did not cache the table in the run"
    dash_duo.wait_for_contains_text(f"#{panel.COUNT}", f"of {run.n} images", timeout=20)
    before = int(re.match(r"(\d+) of", dash_duo.find_element(f"#{panel.COUNT}").text).group(1))

    # "Compute scores" recomputes (cache removed): the buttons switch while the worker runs (the bar's
    # states are checked in test_the_job_reports_on_the_bar: on this small run the job ends within
    # one poll of the browser, so a browser check of the bar could not fail reliably)
    dash_duo.driver.execute_script(RECORD_JS, panel.PROGRESS, panel.PROGRESS_TEXT, panel.COMPUTE, "anomalyBar")
    shutil.rmtree(run_dir / "anomalies")
    dash_duo.find_element(f"#{panel.COMPUTE}").click()
    records = lambda: dash_duo.driver.execute_script("return window.anomalyBar")  # noqa: E731
    until(lambda: any(disabled for _, _, disabled in records()), 20, msg="Compute scores disabled while running")
    until(lambda: dash_duo.find_element(f"#{panel.COMPUTE}").is_enabled(), 120, msg="Compute scores enabled again")
    assert dash_duo.find_element(f"#{panel.CANCEL}").get_attribute("disabled")
    until(lambda: cached_anomalies(run) is not None, 20, msg="the recomputed table in the run")
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "scores ready (", timeout=20)

    scores = table["label_issue"].to_numpy()
    threshold = float(np.round(np.quantile(scores, 0.8), 2))
    expected = int((scores >= threshold).sum())
    assert 0 < expected < run.n

    box = dash_duo.find_element(f"#{panel.THRESHOLD}")
    box.clear()
    box.send_keys(f"{threshold}\n")
    dash_duo.wait_for_contains_text(f"#{panel.COUNT}", f"{expected} of {run.n} images", timeout=20)
    assert expected < before
    images = until(lambda: dash_duo.find_elements(f"#{panel.GRID} img"), 20, msg="grid images")
    assert len(images) == min(expected, panel.PAGE)
    reasons = dash_duo.find_elements(f"#{panel.GRID} .topoact-anomaly-reason")
    assert len(reasons) == len(images) and all(r.text for r in reasons)

    # click the first image whose row is in a node of the shown graph
    graph = run.graph(GRAPH_LAYER)
    rows = [int(re.search(r"/(\d+)\.png", img.get_attribute("src")).group(1)) for img in images]
    index = next(i for i, row in enumerate(rows) if node_of_row(graph, row) is not None)
    node = node_of_row(graph, rows[index])
    images[index].click()
    dash_duo.wait_for_contains_text(f"#{ids.NODE_TITLE}", f"Node {node} ", timeout=20)
    assert dash_duo.find_element(f"#{ids.TABS} .tab--selected").text == "Mapper graph"


def test_the_job_reports_on_the_bar(fresh_run_dir):
    """What the job's worker sends to the bar: the finder's progress through BarProgress."""
    from topoact.app.background import BarProgress

    states = []
    topoact.anomalies(topoact.open_run(_without_scores(fresh_run_dir)),
                      progress=BarProgress(states.append, min_interval=0.0))
    _check_bar([(float(value), text) for value, text in states], "anomaly scores")
    assert states[-1][1].startswith("done — 100%") and len({text.split(" — ")[0] for _, text in states}) >= 5


def test_selection_is_what_the_csv_holds(small_run_dir):
    table = topoact.anomalies(topoact.open_run(small_run_dir))
    chosen = panel.selection(table, "outlier", 0.9)
    assert (chosen["outlier"] >= 0.9).all() and len(chosen) == int((table["outlier"] >= 0.9).sum())
    assert chosen["outlier"].is_monotonic_decreasing
    from dash import dcc

    payload = dcc.send_data_frame(chosen.to_csv, "anomalies-outlier.csv", index=False)
    assert payload["filename"] == "anomalies-outlier.csv"
    assert payload["content"].splitlines()[0].startswith("row,id,path,label,prediction,label_issue")
    assert len(payload["content"].splitlines()) == len(chosen) + 1
