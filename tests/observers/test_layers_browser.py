"""The Layers tab in a real headless Chromium (dash_duo): curves, CKA heat map, Compare view."""
from __future__ import annotations

import pytest
from dash.testing.wait import until

from obs_fixtures import demo_run  # noqa: F401 - fixture

from topoact.app import create_app
from topoact.app.panels import layers as panel

pytest.importorskip("selenium")

#: the jobs behind the figures run in worker processes; on a loaded 2-core machine the first
#: depth + units jobs (probes of every layer, CKA, single units) took over a minute
JOB_TIMEOUT = 240


def _plot_data(dash_duo, figure_id):
    """(trace types, y of the first trace, x names of traces) of a drawn plotly figure."""
    return dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{figure_id} .js-plotly-plot');
        if (!gd || !gd.data || !gd.data.length) return null;
        const full = gd._fullData || [];
        // numpy arrays travel base64-encoded: read the decoded values from _fullData
        return gd.data.map((t, i) => ({{type: t.type || 'scatter', name: t.name || '',
            x: Array.from((full[i] && full[i].x) || t.x || []), y: Array.from((full[i] && full[i].y) || t.y || [])}}));""")


def _wait_figure(dash_duo, figure_id, prefix):
    """The drawn figure's traces; on timeout, the job's status and progress lines."""
    try:
        return until(lambda: _plot_data(dash_duo, figure_id), JOB_TIMEOUT, msg=figure_id)
    except TimeoutError as exc:
        lines = {name: dash_duo.find_element(f"#{prefix}{name}").text for name in ("status", "progress-text")}
        raise AssertionError(f"{exc}; job lines: {lines}") from None


def _open_layers_tab(dash_duo):
    from selenium.webdriver.common.by import By

    dash_duo.wait_for_element(".tab", timeout=30)
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Layers']").click()


def test_layers_tab_shows_depth_curves_and_cka_heatmap(dash_duo, demo_run):
    dash_duo.start_server(create_app(demo_run.path))
    _open_layers_tab(dash_duo)
    layers = list(demo_run.layers)
    curves = _wait_figure(dash_duo, panel.DEPTH, panel.DEPTH_JOB)
    label = [t for t in curves if t["name"] == "label"]
    assert label and label[0]["x"] == layers and all(0 <= y <= 1 for y in label[0]["y"])
    assert any(t["name"] == "effective rank" and len(t["y"]) == len(layers) for t in curves)
    heat = _wait_figure(dash_duo, panel.CKA, panel.DEPTH_JOB)
    assert heat[0]["type"] == "heatmap" and heat[0]["x"] == layers and heat[0]["y"] == layers
    scores = _wait_figure(dash_duo, panel.UNIT_SCORES, panel.UNITS_JOB)
    assert len(scores[0]["y"]) == demo_run.activations(layers[-1]).shape[1]
    assert _wait_figure(dash_duo, panel.RELEVANCE, panel.UNITS_JOB)[0]["type"] == "heatmap"
    assert dash_duo.get_logs() in ([], None) or not [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]


def test_compare_view_with_two_runs(dash_duo, demo_run, tmp_path):
    import topoact

    other = topoact.collect("demo", "shapes:800", ["block2", "block3"], out=tmp_path / "other", reduce="center",
                            num_workers=0, progress=False, batch_size=200, chunk_size=400)
    dash_duo.start_server(create_app(demo_run.path, compare=other.path))
    _open_layers_tab(dash_duo)
    heat = _wait_figure(dash_duo, panel.COMPARE_CKA, panel.COMPARE_JOB)
    assert heat[0]["y"] == list(demo_run.layers) and heat[0]["x"] == ["block2", "block3"]
    dash_duo.wait_for_contains_text(f"#{panel.COMPARE_SUMMARY}", "CKA", timeout=30)


#: clicks the job's Cancel button from the page the moment its progress line first shows a
#: percentage (the job runs in its worker process and the page knows its id)
CANCEL_ON_PROGRESS_JS = """
const [textId, cancelId] = arguments;
const text = document.getElementById(textId);
const observer = new MutationObserver(() => {
    if (text.textContent.includes('%')) { observer.disconnect(); document.getElementById(cancelId).click(); }
});
observer.observe(text, {childList: true, characterData: true, subtree: true});
"""


def test_spatial_relevance_on_show(dash_duo, demo_run):
    dash_duo.start_server(create_app(demo_run.path))
    _open_layers_tab(dash_duo)
    field = dash_duo.wait_for_element(f"#{panel.ROW_INPUT}")
    field.clear()
    field.send_keys("3")
    dash_duo.find_element(f"#{panel.SPATIAL_BUTTON}").click()
    drawn = _wait_figure(dash_duo, panel.SPATIAL, panel.SPATIAL_JOB)
    assert any(t["type"] == "heatmap" for t in drawn)
    dash_duo.wait_for_contains_text(f"#{panel.SPATIAL_STATUS}", "done", timeout=30)
    until(lambda: dash_duo.find_element(f"#{panel.SPATIAL_BUTTON}").is_enabled(), 30, msg="Show enabled again")


def test_cancel_stops_the_depth_job_and_reopening_the_tab_asks_again(dash_duo, tmp_path):
    """Cancel kills the worker (no figure, 'cancelled'); the next opening of the tab starts it again."""
    import topoact
    from selenium.webdriver.common.by import By

    run = topoact.collect("demo", "shapes:800", ["block1", "block2", "block3", "linear"], out=tmp_path / "fresh",
                          num_workers=0, batch_size=200, chunk_size=400)  # nothing cached: the job takes seconds
    dash_duo.start_server(create_app(run.path))
    dash_duo.wait_for_element(".tab", timeout=30)
    tab = dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Layers']")
    tab.click()
    dash_duo.wait_for_element(f"#{panel.DEPTH_JOB}progress-text")
    dash_duo.driver.execute_script(CANCEL_ON_PROGRESS_JS, panel.DEPTH_JOB + "progress-text", panel.DEPTH_JOB + "cancel")
    dash_duo.wait_for_text_to_equal(f"#{panel.STATUS}", "cancelled", timeout=JOB_TIMEOUT)
    # the units job (started with it) finishes and is drawn; the cancelled depth job draws nothing
    dash_duo.wait_for_contains_text(f"#{panel.UNITS_STATUS}", "done", timeout=JOB_TIMEOUT)
    assert _plot_data(dash_duo, panel.UNIT_SCORES) and _plot_data(dash_duo, panel.DEPTH) is None
    assert dash_duo.find_element(f"#{panel.STATUS}").text == "cancelled"
    assert dash_duo.find_element(f"#{panel.DEPTH_JOB}cancel").get_attribute("disabled")
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Mapper graph']").click()
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Layers']").click()
    curves = _wait_figure(dash_duo, panel.DEPTH, panel.DEPTH_JOB)
    assert [t for t in curves if t["name"] == "label"]
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "done", timeout=30)
