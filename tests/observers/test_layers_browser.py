"""The Layers tab in a real headless Chromium (dash_duo): curves, CKA heat map, Compare view."""
from __future__ import annotations

import time

import pytest

from obs_fixtures import demo_run  # noqa: F401 - fixture

from topoact.app import create_app, ids
from topoact.app.panels import layers as panel

pytest.importorskip("selenium")


def _wait(predicate, timeout=180.0, message="condition"):
    """Poll ``predicate`` (the jobs behind the figures run in the app's thread pool; on a loaded
    2-core machine the first depth + units jobs took over a minute)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {message}")


def _plot_data(dash_duo, figure_id):
    """(trace types, y of the first trace, x names of traces) of a drawn plotly figure."""
    return dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{figure_id} .js-plotly-plot');
        if (!gd || !gd.data || !gd.data.length) return null;
        const full = gd._fullData || [];
        // numpy arrays travel base64-encoded: read the decoded values from _fullData
        return gd.data.map((t, i) => ({{type: t.type || 'scatter', name: t.name || '',
            x: Array.from((full[i] && full[i].x) || t.x || []), y: Array.from((full[i] && full[i].y) || t.y || [])}}));""")


def _wait_figure(dash_duo, app, figure_id, status_id):
    """The drawn figure's traces; on timeout, the panel's status line and the running jobs."""
    try:
        return _wait(lambda: _plot_data(dash_duo, figure_id), message=figure_id)
    except AssertionError as exc:
        status = dash_duo.find_element(f"#{status_id}").text
        jobs = app.topoact_context.jobs
        raise AssertionError(f"{exc}; status line: {status!r}; jobs: "
                             f"{[jobs.status(k) for k in jobs.active()]}") from None


def _open_layers_tab(dash_duo):
    tab = _wait(lambda: [t for t in dash_duo.find_elements(".tab") if t.text.strip() == "Layers"],
                message="the Layers tab")[0]
    tab.click()


def test_layers_tab_shows_depth_curves_and_cka_heatmap(dash_duo, demo_run):
    app = create_app(demo_run.path)
    dash_duo.start_server(app)
    _open_layers_tab(dash_duo)
    layers = list(demo_run.layers)
    curves = _wait_figure(dash_duo, app, panel.DEPTH, panel.STATUS)
    label = [t for t in curves if t["name"] == "label"]
    assert label and label[0]["x"] == layers and all(0 <= y <= 1 for y in label[0]["y"])
    assert any(t["name"] == "effective rank" and len(t["y"]) == len(layers) for t in curves)
    heat = _wait(lambda: _plot_data(dash_duo, panel.CKA), message="the CKA heat map")
    assert heat[0]["type"] == "heatmap" and heat[0]["x"] == layers and heat[0]["y"] == layers
    scores = _wait(lambda: _plot_data(dash_duo, panel.UNIT_SCORES), message="the unit scores")
    assert len(scores[0]["y"]) == demo_run.activations(layers[-1]).shape[1]
    assert _wait(lambda: _plot_data(dash_duo, panel.RELEVANCE), message="the relevance heat map")[0]["type"] == "heatmap"
    assert dash_duo.get_logs() in ([], None) or not [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]


def test_compare_view_with_two_runs(dash_duo, demo_run, tmp_path):
    import topoact

    other = topoact.collect("demo", "shapes:800", ["block2", "block3"], out=tmp_path / "other", reduce="center",
                            num_workers=0, progress=False, batch_size=200, chunk_size=400)
    app = create_app(demo_run.path, compare=other.path)
    dash_duo.start_server(app)
    _open_layers_tab(dash_duo)
    heat = _wait_figure(dash_duo, app, panel.COMPARE_CKA, panel.COMPARE_STATUS)
    assert heat[0]["y"] == list(demo_run.layers) and heat[0]["x"] == ["block2", "block3"]
    dash_duo.wait_for_contains_text(f"#{panel.COMPARE_SUMMARY}", "CKA", timeout=30)
    assert ids.TABS  # the shell's tabs exist
