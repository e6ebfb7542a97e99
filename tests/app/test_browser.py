"""Browser tests of the app (real headless Chromium through dash_duo): run with --headless.

Long jobs are Dash background callbacks run by a ``DiskcacheManager`` in worker processes; these
tests drive them through the page exactly as a user does and read the progress bar itself.
"""
from __future__ import annotations

import re

import pytest
from dash.testing.wait import until

from app_fixtures import fresh_run_dir, small_run, small_run_dir  # noqa: F401 - fixtures
from page_ready import wait_for_page_settled

from topoact.app import create_app, ids
from topoact.app.panels.graph import RING_CANVAS, TOOLTIP

pytest.importorskip("selenium")

GRAPH_LAYER = "conv2"  # the layer with a saved graph in app_fixtures.py
#: the node markers (trace 1 holds every drawn node; the glyph and stars are other traces)
GRAPH_POINTS = f"#{ids.GRAPH} .scatterlayer .trace:nth-of-type(2) .points path"
#: one running-progress line: "message — 40% (1.2 s)"
PROGRESS_LINE = re.compile(r"(?P<message>.*?) — (?P<pct>\d+)% \((?P<seconds>\d+\.\d) s\)")

#: records every state of a progress bar, its text and the button that started the job
RECORD_JS = """
const [barId, textId, buttonId, name] = arguments;
const bar = document.getElementById(barId), text = document.getElementById(textId),
      button = document.getElementById(buttonId);
window[name] = [];
const record = () => window[name].push([bar.getAttribute('value'), text.textContent, button.disabled]);
const observer = new MutationObserver(record);
observer.observe(bar, {attributes: true});
observer.observe(text, {childList: true, characterData: true, subtree: true});
observer.observe(button, {attributes: true});
"""


#: records in ``window.__requests`` which component each Dash request updates (its first output's id;
#: the node panel's request is named by its exemplars)
REQUESTS_JS = f"""
window.__requests = [];
const original = window.fetch;
window.fetch = function(url, options) {{
    if (String(url).includes('_dash-update-component')) {{
        const body = JSON.parse(options.body), outputs = [].concat(body.outputs);
        const names = outputs.map(o => o.id);
        window.__requests.push(names.includes('{ids.EXEMPLAR_DATA}') ? '{ids.EXEMPLARS}' : names[0]);
    }}
    return original.apply(this, arguments);
}};
"""


def _node_count(dash_duo) -> int:
    text = dash_duo.find_element(f"#{ids.NODE_COUNT}").text
    match = re.match(r"(\d+) nodes", text)
    return int(match.group(1)) if match else -1


def _shown_key(dash_duo) -> str:
    return dash_duo.driver.execute_script(  # the key is an attribute of the info line, never shown
        f"const e = document.querySelector('#{ids.NODE_COUNT} [data-graph-key]'); return e ? e.dataset.graphKey : ''")


def _wait_for_graph(dash_duo, timeout: float = 30) -> None:
    until(lambda: _node_count(dash_duo) > 0, timeout, msg="the graph to be drawn")
    wait_for_page_settled(dash_duo)


def _open_form(dash_duo) -> None:
    """Unfold the "Mapper parameters" form (folded by default)."""
    from topoact.app.panels.graph_form import ACCORDION

    fields = dash_duo.driver.find_elements("id", ids.P_INTERVALS)  # mounted only while unfolded
    if not (fields and fields[0].is_displayed()):
        dash_duo.find_element(f"#{ACCORDION} .accordion-button").click()
    dash_duo.wait_for_element(f"#{ids.P_INTERVALS}", timeout=10)
    until(lambda: dash_duo.find_element(f"#{ids.P_INTERVALS}").is_displayed(), 5, msg="the unfolded form")


def _per_node(dash_duo, expression: str) -> list | None:
    """``expression`` (JS of the trace ``t`` and point ``i``) for every node marker of the drawn figure."""
    return dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{ids.GRAPH} .js-plotly-plot');
        if (!gd || !gd._fullData) return null;
        const at = (v, i) => (Array.isArray(v) || ArrayBuffer.isView(v)) ? v[i] : v;
        let out = [];
        for (const t of gd._fullData) {{
            if (t.name !== 'nodes') continue;
            for (let i = 0; i < t._length; i++) out.push({expression});
        }}
        return out;""")


def _marker_opacities(dash_duo):
    """Per-node marker opacities of the drawn figure."""
    return _per_node(dash_duo, "t.marker.opacity === undefined ? 1 : Number(at(t.marker.opacity, i))")


def _black_rings(dash_duo) -> list[int]:
    """Node ids drawn with a black outline: in the figure, and on the canvas over it (the clicked node)."""
    rings = _per_node(dash_duo, "at(t.marker.line.color, i) === '#000000' ? t.customdata[i][0] : null") or []
    canvas = dash_duo.driver.execute_script(
        f"const c = document.querySelector('#{ids.GRAPH} canvas.{RING_CANVAS}'); return c ? c.topoactNode : null")
    return [r for r in rings if r is not None] + ([] if canvas is None else [canvas])


def _running_states(records) -> list[tuple[float, str]]:
    """``(fraction, text)`` of every recorded state while a job ran (non-empty progress text)."""
    return [(float(value), text) for value, text, _ in records if text]


def _check_bar(states, what: str) -> None:
    """Every state a user saw is a fraction in [0, 1] with its own percentage and a message in words."""
    assert states, f"the {what} bar never showed a running job"
    fractions = [f for f, _ in states]
    assert all(0.0 <= f <= 1.0 for f in fractions), states
    assert fractions == sorted(fractions), f"the {what} bar ran backwards: {states}"
    for fraction, text in states:
        match = PROGRESS_LINE.fullmatch(text)
        assert match, f"progress text {text!r} is not 'message — NN% (s)'"
        assert abs(int(match["pct"]) - 100 * fraction) <= 0.5 + 1e-6, (fraction, text)
        assert re.search(r"[a-z]{3}", match["message"]), f"the message {match['message']!r} says nothing"


def test_click_node_shows_exemplars_and_class_search_fades(dash_duo, small_run_dir, monkeypatch):
    from dash import Input, Output

    from topoact.app.panels import features
    from topoact.app.panels.node import EXEMPLAR_PICKED

    # without the feature-visualization tab, which would start a job for a clicked exemplar
    monkeypatch.setattr(features, "available", lambda ctx: False, raising=False)
    app = create_app(small_run_dir)
    # what a click on an exemplar writes (read by the optional feature-visualization panel), made visible
    app.clientside_callback("function(p) { return p ? 'picked row ' + p.row : ''; }",
                            Output(ids.NODE_STATS, "title"), Input(EXEMPLAR_PICKED, "data"))
    dash_duo.start_server(app)
    _wait_for_graph(dash_duo)
    ctx = app.topoact_context
    summary = ctx.layout(GRAPH_LAYER, ctx.default_key(GRAPH_LAYER))[1]
    n_nodes = _node_count(dash_duo) - len((summary or {}).get("nodes", ()))  # small components folded
    until(lambda: len(dash_duo.find_elements(GRAPH_POINTS)) == n_nodes, 15, msg="node markers")
    points = dash_duo.find_elements(GRAPH_POINTS)

    from selenium.webdriver.common.action_chains import ActionChains

    # the outputs of every Dash request the page makes from now on
    dash_duo.driver.execute_script(REQUESTS_JS)
    draws = f"return document.getElementById('{ids.EXEMPLARS}').topoactDraws || 0"
    drawn_before = dash_duo.driver.execute_script(draws)
    # plotly picks the clicked point from the hover state: hover first, then click
    ActionChains(dash_duo.driver).move_to_element(points[0]).pause(0.5).click().perform()
    dash_duo.wait_for_contains_text(f"#{ids.NODE_TITLE}", "Node ", timeout=10)
    title = dash_duo.find_element(f"#{ids.NODE_TITLE}").text
    size = int(re.search(r"· (\d+) images", title).group(1))
    clicked = int(re.match(r"Node (\d+)", title).group(1))
    # the click put the black ring (drawn in the browser over the figure) on that node, and only there
    until(lambda: _black_rings(dash_duo) == [clicked], 10, msg="the black ring on the clicked node")
    until(lambda: len(dash_duo.find_elements(f"#{ids.EXEMPLARS} img")) == min(size, 24), 10,
          msg="exemplar images")
    images = dash_duo.find_elements(f"#{ids.EXEMPLARS} img")
    # every exemplar really loaded from the image route
    until(lambda: dash_duo.driver.execute_script(
        f"const imgs = document.querySelectorAll('#{ids.EXEMPLARS} img');"
        "return imgs.length > 0 && Array.from(imgs).every(i => i.complete && i.naturalWidth > 0);"),
        15, msg="exemplar images to load")
    # the thumbnails came inside the click's response (no request per image)
    assert all(img.get_attribute("src").startswith("data:image/jpeg;base64,") for img in images)
    # besides the hover card, the click asked the server for the node panel and the embedding's member
    # rings, nothing else: none for the ring, hidden tabs, the exemplar images or the URL (written in the
    # browser, urlstate.WRITE_JS) and its echo
    wait_for_page_settled(dash_duo)
    requested = [r for r in dash_duo.driver.execute_script("return window.__requests") if r != TOOLTIP]  # the hover
    assert sorted(requested) == sorted([ids.EXEMPLARS, "topoact-store-embedding-members"]), requested
    # the images are drawn by the browser into ONE Dash component (no html.Img, no id, per image) ...
    assert dash_duo.driver.execute_script(f"return document.querySelectorAll('#{ids.EXEMPLARS} img[id]').length") == 0
    # ... and a click on one says which image it was (one delegated listener)
    assert dash_duo.driver.execute_script(draws) == drawn_before + 1
    third = images[2] if len(images) > 2 else images[0]
    row = third.get_attribute("data-row")
    third.click()
    until(lambda: dash_duo.find_element(f"#{ids.NODE_STATS}").get_attribute("title") == f"picked row {row}", 10,
          msg="the exemplar click")
    assert int(row) in ctx.exemplar_rows(GRAPH_LAYER, ctx.default_key(GRAPH_LAYER), clicked).tolist()[:24]

    # class search: nodes without a member of the class fade
    assert set(_marker_opacities(dash_duo)) == {1}
    dash_duo.select_dcc_dropdown(f"#{ids.CLASS_DROPDOWN}", index=0)  # "circle"
    dash_duo.wait_for_contains_text(f"#{ids.NODE_COUNT}", "contain circle", timeout=10)
    until(lambda: len(set(_marker_opacities(dash_duo) or [1])) > 1, 10, msg="faded nodes")
    opacities = _marker_opacities(dash_duo)
    graph = app.topoact_context.graph(GRAPH_LAYER, None)
    drawn = set(_per_node(dash_duo, "t.customdata[i][0]"))
    with_class = sum(1 for n in graph["nodes"] if n["label_counts"].get("0", 0) > 0 and n["id"] in drawn)
    assert sum(o == 1 for o in opacities) == with_class
    assert 0 < with_class < len(graph["nodes"])


def test_recompute_in_a_worker_shows_progress_and_only_the_button_moves_the_default(dash_duo, fresh_run_dir):
    """Compute a graph (background job): its bar is right all along; reload: the default is unchanged;
    "Set as default", reload: now it is the new graph."""
    from topoact.store import open_run

    app = create_app(fresh_run_dir)
    run = open_run(fresh_run_dir)
    default = run.default_graph_key(GRAPH_LAYER)
    dash_duo.start_server(app)
    _wait_for_graph(dash_duo)
    assert _shown_key(dash_duo) == default
    before = _node_count(dash_duo)
    dash_duo.driver.execute_script(RECORD_JS, ids.JOB_PROGRESS, ids.JOB_PROGRESS_TEXT, ids.COMPUTE_BUTTON,
                                   "__mapperBar")
    _open_form(dash_duo)
    field = dash_duo.find_element(f"#{ids.P_INTERVALS}")
    field.clear()
    field.send_keys("12")
    dash_duo.find_element(f"#{ids.COMPUTE_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{ids.JOB_STATUS}", "ready", timeout=90)
    until(lambda: _shown_key(dash_duo) != default, 20, msg="the recomputed graph to be shown")
    new_key = _shown_key(dash_duo)
    assert _node_count(dash_duo) != before and new_key in run.graph_keys(GRAPH_LAYER)
    # the bar: running state seen, every state consistent, back to idle at the end
    until(lambda: dash_duo.find_element(f"#{ids.JOB_PROGRESS}").get_attribute("value") == "0"
          and dash_duo.find_element(f"#{ids.COMPUTE_BUTTON}").is_enabled(), 10, msg="the idle bar")
    records = dash_duo.driver.execute_script("return window.__mapperBar")
    assert any(disabled for _, _, disabled in records), "Compute was never disabled while the job ran"
    states = _running_states(records)
    seconds = float(re.search(r"ready \((\d+\.\d) s\)", dash_duo.find_element(f"#{ids.JOB_STATUS}").text).group(1))
    if seconds > 1.0:  # outlived three progress polls (300 ms): the user saw the bar, so must we
        _check_bar(states, "recompute")
    elif states:
        _check_bar(states, "recompute")
    assert dash_duo.find_element(f"#{ids.JOB_PROGRESS_TEXT}").text == ""
    dash_duo.wait_for_text_to_equal(f"#{ids.DEFAULT_STATUS}", "not the layer's default graph", timeout=10)

    # exploring did not move the default: the app's address (without a view in the URL, which
    # would restore that view) opens the old graph
    assert run.default_graph_key(GRAPH_LAYER) == default
    dash_duo.driver.get(dash_duo.server_url)
    _wait_for_graph(dash_duo)
    until(lambda: _shown_key(dash_duo) == default, 10, msg="the default graph after reload")

    # the same parameters again: the saved graph, shown at once, then made the default explicitly
    _open_form(dash_duo)
    field = dash_duo.find_element(f"#{ids.P_INTERVALS}")
    field.clear()
    field.send_keys("12")
    dash_duo.find_element(f"#{ids.COMPUTE_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{ids.JOB_STATUS}", "saved before", timeout=20)
    until(lambda: _shown_key(dash_duo) == new_key, 10, msg="the saved graph")
    dash_duo.wait_for_text_to_equal(f"#{ids.DEFAULT_STATUS}", "not the layer's default graph", timeout=10)
    dash_duo.find_element(f"#{ids.DEFAULT_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{ids.DEFAULT_STATUS}", "this is the layer's default graph", timeout=10)
    assert run.default_graph_key(GRAPH_LAYER) == new_key
    dash_duo.driver.get(dash_duo.server_url)
    _wait_for_graph(dash_duo)
    until(lambda: _shown_key(dash_duo) == new_key, 10, msg="the new default after reload")


def test_sweep_bar_moves_through_the_settings_and_a_cell_opens_its_graph(dash_duo, fresh_run_dir):
    from selenium.webdriver.common.by import By

    from topoact.store import open_run

    app = create_app(fresh_run_dir)
    default = open_run(fresh_run_dir).default_graph_key(GRAPH_LAYER)
    dash_duo.start_server(app)
    _wait_for_graph(dash_duo)
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Parameter sweep']").click()
    field = dash_duo.wait_for_element(f"#{ids.SWEEP_INTERVALS}")
    field.clear()
    field.send_keys(", ".join(str(n) for n in range(2, 62)))
    dash_duo.driver.execute_script(RECORD_JS, ids.SWEEP_PROGRESS, "topoact-sweep-progress-text", ids.SWEEP_BUTTON,
                                   "__sweepBar")
    dash_duo.find_element(f"#{ids.SWEEP_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{ids.SWEEP_STATUS}", "180 settings of layer conv2", timeout=120)
    states = _running_states(dash_duo.driver.execute_script("return window.__sweepBar"))
    _check_bar(states, "sweep")
    assert any(0.0 < f < 1.0 and "sweep settings" in t for f, t in states), \
        f"the sweep bar never showed a step between 0 and 100%: {states}"
    # a table row opens that setting's graph in the Mapper tab, without making it the default
    until(lambda: len(dash_duo.find_elements(f"#{ids.SWEEP_TABLE} td")) > 0, 10, msg="the sweep table")
    dash_duo.find_elements(f"#{ids.SWEEP_TABLE} td")[0].click()
    until(lambda: _node_count(dash_duo) > 0 and _shown_key(dash_duo) != default, 60, msg="the sweep cell's graph")
    assert open_run(fresh_run_dir).default_graph_key(GRAPH_LAYER) == default


def test_upload_runs_the_model_in_a_worker_and_rings_the_nodes(dash_duo, small_run, tmp_path):
    """An uploaded copy of a row that is in the graph: decoded, run through the model and located by a
    background job; the status names its prediction and nodes, and the graph rings exactly those nodes."""
    from selenium.webdriver.common.by import By

    from topoact.store import open_run

    path, bundle = small_run
    run = open_run(path, model=bundle)
    row = int(max(run.graph(GRAPH_LAYER).to_dict()["nodes"], key=lambda n: n["size"])["members"][0])
    image = tmp_path / "row.png"
    run.image(row).save(image)
    app = create_app(run)
    dash_duo.start_server(app)
    _wait_for_graph(dash_duo)
    key = _shown_key(dash_duo)
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Upload an image']").click()
    dash_duo.wait_for_element(f"#{ids.UPLOAD_INPUT} input[type=file]").send_keys(str(image))
    dash_duo.wait_for_contains_text(f"#{ids.UPLOAD_STATUS}", f"{GRAPH_LAYER}: nodes", timeout=60)
    status = dash_duo.find_element(f"#{ids.UPLOAD_STATUS}").text
    assert f"predicted {run.class_names[run.predictions[row]]}" in status
    nodes = [int(n) for n in re.search(rf"{GRAPH_LAYER}: nodes ([\d, ]+)", status).group(1).split(",")]
    holding = {n["id"] for n in app.topoact_context.graph(GRAPH_LAYER, key)["nodes"] if row in n["members"]}
    assert set(nodes) & holding  # its own image lands where the row is
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Mapper graph']").click()
    _wait_for_graph(dash_duo)
    # the uploaded image's nodes get white stars (drawn nodes; a folded small component has none)
    graph = app.topoact_context.graph(GRAPH_LAYER, key)
    positions, summary = app.topoact_context.layout(GRAPH_LAYER, key)
    index = {n["id"]: k for k, n in enumerate(graph["nodes"])}
    expected = sorted(positions[index[n]].tolist() for n in nodes if n not in set((summary or {}).get("nodes", ())))
    stars = f"""const gd = document.querySelector('#{ids.GRAPH} .js-plotly-plot');
        if (!gd || !gd.data || gd.data.length < 3) return null;
        const t = gd.data[2]; return Array.from(t.x || []).map((x, i) => [x, t.y[i]]);"""
    until(lambda: sorted(dash_duo.driver.execute_script(stars) or []) == expected, 10,
          msg="stars on the uploaded image's nodes")


def _running(jobs) -> list[int]:
    """Pids of the job processes still running (a killed, not yet reaped one is a zombie)."""
    import psutil

    out = []
    for job in jobs:
        try:
            if psutil.Process(job.pid).status() != psutil.STATUS_ZOMBIE:
                out.append(job.pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_cancel_kills_the_job_process_and_keeps_no_result(dash_duo, fresh_run_dir):
    """Cancel during a sweep: the worker process is gone at once, no result is shown, buttons reset."""
    import multiprocess
    from selenium.webdriver.common.by import By

    from topoact.app.panels.sweep import SWEEP_PROGRESS_TEXT

    dash_duo.start_server(create_app(fresh_run_dir))
    _wait_for_graph(dash_duo)
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Parameter sweep']").click()
    # 40 x 11 = 440 settings: the job runs far longer than the test needs to cancel it. (It typed
    # 398 intervals before: 1,600 keystrokes, each validated by a server round trip, took a minute.)
    for field_id, values in ((ids.SWEEP_INTERVALS, range(2, 42)), (ids.SWEEP_OVERLAPS, range(10, 65, 5))):
        field = dash_duo.wait_for_element(f"#{field_id}")
        field.clear()
        field.send_keys(", ".join(str(v) if field_id == ids.SWEEP_INTERVALS else f"{v / 100:g}" for v in values))
    dash_duo.find_element(f"#{ids.SWEEP_BUTTON}").click()
    # running: the job's process exists (dash_duo serves from this process, so jobs are our children).
    # The renderer enables Cancel when it sends the request, before the server forks the job, and
    # other jobs of the page may still be finishing then: the job's own first progress line is what
    # shows that its process runs.
    until(lambda: not dash_duo.find_element(f"#{ids.CANCEL_SWEEP}").get_attribute("disabled"), 30,
          msg="the cancel button to be enabled while the job runs")
    dash_duo.wait_for_contains_text(f"#{SWEEP_PROGRESS_TEXT}", "%", timeout=30)
    jobs = multiprocess.active_children()
    assert _running(jobs)
    dash_duo.find_element(f"#{ids.CANCEL_SWEEP}").click()
    dash_duo.wait_for_text_to_equal(f"#{ids.SWEEP_STATUS}", "cancelled", timeout=10)
    until(lambda: not _running(jobs), 15, msg="the worker process to be stopped")
    until(lambda: dash_duo.find_element(f"#{ids.SWEEP_BUTTON}").is_enabled(), 10, msg="Run sweep enabled again")
    assert dash_duo.find_element(f"#{ids.CANCEL_SWEEP}").get_attribute("disabled")
    assert dash_duo.find_elements(f"#{ids.SWEEP_TABLE} td") == []
