"""Feature visualizations on a real run (topoact.collect + the real store + a real Mapper
graph): the service, the panel's job path, and browser tests (real headless Chromium): click a
node and Visualize; an exemplar click -> class-agnostic; an inverse set from the channel
picker with its "within tolerance" metric; DGN-AM next to pixel space once a (tiny, quickly
trained) generator exists."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
import torch
from PIL import Image
from page_ready import wait_for_page_settled
from tiny_models import TinyCNN

N_IMAGES = 60


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    import topoact
    from topoact.data.synthetic import SHAPE_CLASSES
    from topoact.mapper import run_graphs
    from topoact.models import load_model
    from topoact.store import open_run

    torch.manual_seed(0)
    bundle = load_model(TinyCNN(len(SHAPE_CLASSES)).eval(), class_names=list(SHAPE_CLASSES),
                        input_size=(32, 32))
    path = tmp_path_factory.mktemp("runs") / "feat"
    topoact.collect(bundle, f"shapes:{N_IMAGES}", ["conv2"], out=path, num_workers=0, progress=False,
                    chunk_size=32, batch_size=32)
    run = open_run(path, model=bundle)
    run_graphs.build_run_graph(run, "conv2", run_graphs.MapperConfig(
        lens="l2", cover="uniform", n_intervals=3, overlap=0.3, clusterer="dbscan", eps="auto",
        metric="euclidean", min_samples=3), default=True)
    return open_run(path, model=bundle)


@pytest.fixture(scope="module")
def generator_run(real_run):
    """The real run with a tiny DGN-AM generator for conv2 (a few seconds of training)."""
    from topoact.features import service

    if not service.generator_available(real_run, "conv2"):
        service.train_generator_for_run(real_run, "conv2", n_images=N_IMAGES, epochs=3, max_seconds=20,
                                        width=16, batch_size=16)
    return real_run


def _largest_node(run):
    graph = run.graph("conv2").to_dict()
    return max(graph["nodes"], key=lambda n: n["size"])


def test_service_on_a_real_run(real_run):
    from topoact.features import service

    node = _largest_node(real_run)
    res = service.visualize_node(real_run, "conv2", None, node["id"], "node", {"steps": 96, "batch": 2})
    assert not res["cached"] and len(res["images"]) == 2
    img = Image.open(real_run.path / res["images"][0])
    assert img.size == (32, 32) and res["images"][0].startswith("features/")
    assert res["metrics"]["activation_mean"] > res["metrics"]["members_activation_mean"]
    t = time.perf_counter()
    again = service.visualize_node(real_run, "conv2", None, node["id"], "node", {"steps": 96, "batch": 2})
    assert again["cached"] and time.perf_counter() - t < 0.05
    ex = service.visualize_exemplar(real_run, "conv2", int(node["members"][0]), params={"steps": 8})
    assert len(ex["images"]) == 1
    with pytest.raises(ValueError, match="unknown layer 'conv9'.*conv2"):
        service.visualize_node(real_run, "conv9", None, node["id"])


def test_panel_job_path(real_run):
    """The background job's body: one monotone bar over the service's steps, images as data URIs."""
    from topoact.app.background import BarProgress
    from topoact.app.panels import features as panel

    node = _largest_node(real_run)
    store = {"layer": "conv2", "graph_key": None, "node": node["id"]}
    request = panel.build_request(store, "inverse", 48, 2, 0, 0.5, "1, 4", None, None)
    assert request["params"]["channel"] == [1, 4] and request["params"]["level"] == [0.5, 0.5]
    shown = []
    result = panel.run_request(real_run, request, "conv2", BarProgress(shown.append, min_interval=0.0))
    fractions = [float(value) for value, _ in shown]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert len(set(fractions)) > 3  # the bar moves step by step
    children = panel.result_children(real_run, result)
    assert children[0].children.startswith(f"Layer conv2, node {node['id']}: inverse set at activation levels ")
    assert children[0].children.endswith(" of channels 1, 4")
    assert len(children[1].children) == 2
    assert children[1].children[0].src.startswith("data:image/png;base64,")
    with pytest.raises(ValueError, match="not an integer"):
        panel.parse_channels("1, x")
    with pytest.raises(ValueError, match="select a node"):
        panel.build_request(None, "node", 8, 1, 0, 0.5, None, None, None)


def test_channel_picker_requests_and_levels(real_run):
    from topoact.app.panels import features as panel

    store = {"layer": "conv2", "graph_key": None, "node": _largest_node(real_run)["id"]}
    # picker values (ints) with one level per channel -> an intersection on the node's layer
    req = panel.build_request(store, "inverse", 8, 2, 0, 0.5, [2, 5], None, None, levels="0.2, 0.8")
    assert req["kind"] == "node" and req["params"]["channel"] == [2, 5]
    assert req["params"]["level"] == [0.2, 0.8]
    # one level for all picked channels; one channel -> plain inverse set
    req = panel.build_request(store, "inverse", 8, 2, 0, 0.5, [2, 5], None, None, levels="0.3")
    assert req["params"]["level"] == [0.3, 0.3]
    req = panel.build_request(store, "inverse", 8, 2, 0, 0.4, [7], None, None)
    assert req["params"]["channel"] == 7 and req["params"]["level"] == 0.4
    with pytest.raises(ValueError, match="2 channels but 3 levels"):
        panel.build_request(store, "inverse", 8, 2, 0, 0.5, [2, 5], None, None, levels="0.1, 0.2, 0.3")
    with pytest.raises(ValueError, match="level 'x' is not a number"):
        panel.build_request(store, "inverse", 8, 2, 0, 0.5, [2], None, None, levels="x")
    # no node: channels of the selected layer, run through the service's unit path
    req = panel.build_request(None, "inverse", 24, 2, 0, 0.5, [3], None, None, layer="conv2")
    assert req["kind"] == "units" and req["channel"] == [3]
    res = panel.run_request(real_run, req, "conv2")
    assert len(res["images"]) == 2 and 0.0 <= res["metrics"]["fraction_within"] <= 1.0
    assert res["target"]["levels"][0] == pytest.approx(
        np.asarray(real_run.activations("conv2"))[:, 3].min() + 0.5 * np.ptp(real_run.activations("conv2")[:, 3]))
    # an out-of-range channel gets the service's clear error
    bad = panel.build_request(None, "inverse", 8, 2, 0, 0.5, [12], None, None, layer="conv2")
    with pytest.raises(ValueError, match="channel 12 out of range for layer 'conv2' with 12 channels"):
        panel.run_request(real_run, bad, "conv2")
    assert panel.channel_count(real_run, "conv2") == 12 and panel.channel_count(real_run, "nope") is None
    # a filled row with the class-agnostic method means that exemplar, even with a node selected
    req = panel.build_request(store, "class_agnostic", 8, 4, 0, None, None, 1.0, 5)
    assert req["kind"] == "exemplar" and req["row"] == 5 and req["layer"] == "conv2"
    assert "n_images" not in req["params"]


def test_only_the_chosen_methods_fields_are_shown():
    from topoact.app.panels import features as panel

    def shown(method):
        return {f for f, style in zip(panel.FIELDS, panel.field_styles(method)) if style["display"] != "none"}

    assert shown("node") == shown("dgn") == {panel.STEPS, panel.BATCH, panel.SEED}
    assert shown("inverse") == {panel.STEPS, panel.BATCH, panel.SEED, panel.LEVEL, panel.CHANNELS, panel.LEVELS}
    assert shown("class_agnostic") == {panel.STEPS, panel.BATCH, panel.SEED, panel.WEIGHT, panel.ROW}
    assert shown(None) == shown("node")


def test_bad_values_get_messages_in_words_for_the_methods_fields_only():
    from topoact.app.panels import features as panel

    ok = ("node", 256, 4, 0, 0.5, None, 1.0, None)
    assert panel.form_errors(*ok, n_rows=60) == {}
    errors = panel.form_errors("node", 0, 40, -1, 7, "x", -1, 999, n_rows=60)
    # level, levels, weight and row are not used by 'node': no messages for them
    assert set(errors) == {panel.STEPS, panel.BATCH, panel.SEED}
    assert errors[panel.STEPS] == "Steps must be a whole number from 1 to 4096 (got 0)."
    assert "from 1 to 32" in errors[panel.BATCH] and "0 or more" in errors[panel.SEED]
    errors = panel.form_errors("inverse", 8, 2, 0, 1.5, "0.2, x", None, None)
    assert errors[panel.LEVEL] == "Level must be a number from 0 to 1 (got 1.5)."
    assert "level 'x' is not a number" in errors[panel.LEVELS]
    assert "from 0 to 1" in panel.form_errors("inverse", 8, 2, 0, 0.5, "0.2, 3", None, None, channels=[1, 2])[
        panel.LEVELS]
    assert panel.form_errors("inverse", 8, 2, 0, 0.5, "0.2, 0.3, 0.4", None, None, channels=[1, 2])[panel.LEVELS] == \
        "3 levels for 2 picked channel(s): give one level per channel, or a single level for all."
    assert panel.form_errors("inverse", 8, 2, 0, 0.5, "0.2, 0.3", None, None, channels=[1, 2]) == {}
    assert panel.form_errors("inverse", 8, 2, 0, 0.5, "0.3", None, None, channels=[1, 2]) == {}
    errors = panel.form_errors("class_agnostic", 8, 2, 0, None, None, -0.5, 999, n_rows=60)
    assert "0 or more" in errors[panel.WEIGHT]
    assert errors[panel.ROW].startswith("Row must be a whole number from 0 to 59")
    assert panel.form_errors("class_agnostic", None, 2, 0, None, None, 1.0, None)[panel.STEPS].endswith("(got None).")


def test_headers_name_what_was_visualized_and_metrics_are_explained(real_run):
    from topoact.app.panels import features as panel

    node = {"layer": "layer3", "method": "node", "target": {"graph": "g", "node": 12}, "params": {}}
    assert panel.result_title(node) == "Layer layer3, node 12: synthesized input"
    units = {"layer": "conv2", "method": "inverse", "target": {"channel": [3, 7], "levels": [1.2, -0.3]},
             "params": {"level": [0.2, 0.8]}}  # the fractions asked for, not the activation values
    assert panel.result_title(units) == "Layer conv2, channels 3, 7: inverse set at levels 0.2, 0.8"
    one = {"layer": "conv2", "method": "inverse", "target": {"channel": [3], "levels": [0.5]}}
    assert panel.result_title(one) == "Layer conv2, channel 3: inverse set at activation level 0.5"
    exemplar = {"layer": "conv2", "method": "class_agnostic", "target": {"row": 31}}
    assert panel.result_title(exemplar) == "Layer conv2: class-agnostic visualization of source image #31"
    label = real_run.label_names[int(real_run.labels[31])]
    assert panel.source_title(real_run, 31) == f"source image #31 ({label})"
    rows = panel.metric_rows({"levels": [[1.0, 2.0]], "values": [[1.5, 2.5]], "relative_error": [[0.1, 0.3]],
                              "fraction_within": 0.5, "confidence": [0.9, 0.7], "predicted": [1, 2]})
    names = [r[0] for r in rows]
    assert names == ["requested level", "reached level (mean)", "inverse-set distance", "within tolerance",
                     "model's confidence"]
    assert dict((r[0], r[1]) for r in rows)["inverse-set distance"] == "0.2"
    assert all(len(r[2]) > 30 for r in rows)  # a sentence each


def test_class_agnostic_source_beside_result_and_preview_through_the_job(real_run):
    """The exemplar job: one (source, result) pair with headers; previews every 32 steps go
    through the job's progress output as images."""
    from topoact.app.panels import features as panel

    request = panel.build_request(None, "class_agnostic", 70, 1, 3, None, None, 1.0, 7, layer="conv2")
    writes = []
    bar = panel.PreviewProgress(writes.append, steps=70)
    result = panel.run_request(real_run, request, "conv2", bar, preview=bar.preview)
    previews = [w[2] for w in writes if w[2]]
    assert previews, "no preview was written during the job"
    caption = previews[0][0].children
    assert caption == "Preview after 32 of 70 steps (refining…)"
    assert previews[0][1].children[0].src.startswith("data:image/png;base64,")
    assert {w[2][0].children for w in writes if w[2]} == {caption, "Preview after 64 of 70 steps (refining…)"}
    children = panel.result_children(real_run, result)
    assert children[0].children == "Layer conv2: class-agnostic visualization of source image #7"
    pair = children[1].children[0]
    source, synthesized = pair.children
    assert source.children[0].children == panel.source_title(real_run, 7)
    assert source.children[1].children[0].src == "/topoact/image/7.png"
    assert synthesized.children[1].children[0].src.startswith("data:image/png;base64,")
    table = children[-1]
    assert "distance to the source" in str(table) and "Root-mean-square" in str(table)


def test_dgn_request_returns_pixel_and_dgn_side_by_side(generator_run):
    from topoact.app.panels import features as panel
    from topoact.features import service

    node = _largest_node(generator_run)
    store = {"layer": "conv2", "graph_key": None, "node": node["id"]}
    # the pixel-space result already exists: the comparison reuses it from the cache
    pixel_first = service.visualize_node(generator_run, "conv2", None, node["id"], "node",
                                         {"steps": 20, "batch": 2, "seed": 0})
    req = panel.build_request(store, "dgn", 20, 2, 0, None, None, None, None)
    seen = []
    res = panel.run_request(generator_run, req, "conv2", lambda done, total, message="": seen.append(done / total))
    pixel, dgn = res["comparison"]
    assert pixel["cached"] and pixel["key"] == pixel_first["key"] and pixel["method"] == "node"
    assert dgn["method"] == "dgn" and len(dgn["images"]) == 2 and "generator" in dgn["metrics"]
    assert seen and max(seen) == pytest.approx(1.0) and min(seen) >= 0.5  # pixel part was a cache hit
    children = panel.job_children(generator_run, res)
    columns = children[0].children
    assert [c.children[0].children for c in columns] == list(panel.COMPARE_TITLES)


def test_browser_click_node_visualize_shows_image(dash_duo, real_run):
    pytest.importorskip("selenium")
    By, panel, _ = _open_features_tab_on_node(dash_duo, real_run)
    dash_duo.driver.find_element(By.XPATH, f"//*[text()='{panel.TAB_LABEL}']").click()
    dash_duo.wait_for_contains_text(f"#{panel.TARGET}", "Node ", timeout=10)
    steps = dash_duo.find_element(f"#{panel.STEPS}")
    steps.clear()
    steps.send_keys("16")
    dash_duo.find_element(f"#{panel.RUN_BUTTON}").click()
    img = dash_duo.wait_for_element(f"#{panel.RESULTS} img.topoact-feature-image", timeout=60)
    assert img.get_attribute("src").startswith("data:image/png;base64,")
    loaded = dash_duo.driver.execute_script(
        f"const i = document.querySelector('#{panel.RESULTS} img'); return i.complete && i.naturalWidth;")
    assert loaded == 32


def _open_features_tab_on_node(dash_duo, run):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from topoact.app import create_app, ids
    from topoact.app.panels import features as panel

    dash_duo.start_server(create_app(run))
    dash_duo.wait_for_element(f"#{ids.GRAPH} .scatterlayer .trace .points path", timeout=20)
    wait_for_page_settled(dash_duo)
    points = dash_duo.find_element(f"#{ids.GRAPH} .scatterlayer .trace .points path")
    ActionChains(dash_duo.driver).move_to_element(points).pause(0.5).click().perform()
    dash_duo.wait_for_contains_text(f"#{ids.NODE_TITLE}", "Node ", timeout=20)
    return By, panel, ids


def _method(dash_duo, By, panel, text):
    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{panel.METHOD}']//label[contains(., '{text}')]").click()


def _steps(dash_duo, panel, n):
    steps = dash_duo.find_element(f"#{panel.STEPS}")
    steps.clear()
    steps.send_keys(str(n))


def test_browser_exemplar_click_and_inverse_set_from_channel_picker(dash_duo, real_run):
    pytest.importorskip("selenium")
    By, panel, ids = _open_features_tab_on_node(dash_duo, real_run)
    # exemplar image -> class-agnostic for that image (job starts from the node panel)
    exemplar = dash_duo.wait_for_element(f"#{ids.EXEMPLARS} img", timeout=10)
    exemplar.click()
    # the app switches to the feature-visualization tab by itself
    dash_duo.wait_for_element(f"#{panel.RESULTS} img.topoact-feature-image", timeout=30)
    assert dash_duo.find_element(f"#{panel.RESULTS}").is_displayed()
    dash_duo.wait_for_contains_text(f"#{panel.RESULTS}", "class_agnostic", timeout=10)
    assert dash_duo.find_element(f"#{panel.ROW}").get_attribute("value") != ""
    # the class-agnostic result: its header names the source image, shown beside the result
    dash_duo.wait_for_contains_text(f"#{panel.RESULTS}", "class-agnostic visualization of source image #", timeout=10)
    assert dash_duo.find_elements(f"#{panel.RESULTS} img.topoact-feature-source")
    # inverse set (its fields appear with the method): pick channel 3 (valid range shown), level 0.5
    _method(dash_duo, By, panel, "Inverse set")
    dash_duo.wait_for_contains_text(f"#{panel.CHANNEL_RANGE}", "valid: 0–11", timeout=10)
    dash_duo.select_dcc_dropdown(f"#{panel.CHANNELS}", index=3)
    _steps(dash_duo, panel, 24)
    dash_duo.find_element(f"#{panel.RUN_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{panel.RESULTS}", "within tolerance", timeout=40)
    imgs = dash_duo.find_elements(f"#{panel.RESULTS} img.topoact-feature-image")
    assert len(imgs) == 4 and all(i.get_attribute("src").startswith("data:image/png") for i in imgs)
    assert "inverse" in dash_duo.find_element(f"#{panel.RESULTS}").text


def test_browser_dgn_side_by_side_with_pixel_space(dash_duo, generator_run):
    pytest.importorskip("selenium")
    By, panel, ids = _open_features_tab_on_node(dash_duo, generator_run)
    dash_duo.driver.find_element(By.XPATH, f"//*[text()='{panel.TAB_LABEL}']").click()
    dash_duo.wait_for_contains_text(f"#{panel.TARGET}", "generator available", timeout=10)
    _method(dash_duo, By, panel, "With generator prior")
    _steps(dash_duo, panel, 16)
    dash_duo.find_element(f"#{panel.RUN_BUTTON}").click()
    dash_duo.wait_for_element(f"#{panel.RESULTS} .topoact-feature-compare", timeout=40)
    columns = dash_duo.find_elements(f"#{panel.RESULTS} .topoact-feature-column")
    assert len(columns) == 2
    assert panel.COMPARE_TITLES[0] in columns[0].text and panel.COMPARE_TITLES[1] in columns[1].text
    for col in columns:
        imgs = col.find_elements(By.CSS_SELECTOR, "img.topoact-feature-image")
        assert len(imgs) == 4 and imgs[0].get_attribute("src").startswith("data:image/png;base64,")


def _displayed(dash_duo, control):
    return dash_duo.find_element(f"#{control}-field").is_displayed()


def test_browser_form_shows_only_the_chosen_methods_fields(dash_duo, real_run):
    pytest.importorskip("selenium")
    By, panel, ids = _open_features_tab_on_node(dash_duo, real_run)
    dash_duo.driver.find_element(By.XPATH, f"//*[text()='{panel.TAB_LABEL}']").click()
    dash_duo.wait_for_contains_text(f"#{panel.TARGET}", "Node ", timeout=10)

    def visible():
        return {f for f in panel.FIELDS if _displayed(dash_duo, f)}

    from dash.testing.wait import until

    until(lambda: visible() == set(panel.FIELDS_BY_METHOD["node"]), 10, msg=f"node fields only: {visible()}")
    for label, method in (("Inverse set", "inverse"), ("Class-agnostic", "class_agnostic"),
                          ("Visualize", "node")):
        _method(dash_duo, By, panel, label)
        until(lambda: visible() == set(panel.FIELDS_BY_METHOD[method]), 10,
              msg=f"{method} fields only: {visible()}")
        assert dash_duo.find_element(f"#{panel.METHOD_HELP_LINE}").text == panel.METHOD_HELP[method]
    # a bad value: a message in words next to the field, and no job
    from topoact.app.help import error_id

    _steps(dash_duo, panel, 0)
    dash_duo.wait_for_text_to_equal(f"#{error_id(panel.STEPS)}",
                                    "Steps must be a whole number from 1 to 4096 (got 0).", timeout=10)
    dash_duo.find_element(f"#{panel.RUN_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "correct the fields marked in red", timeout=10)


def test_browser_preview_appears_before_the_job_ends(dash_duo, real_run):
    """Many steps on the tiny model: the first preview (after 32 steps) is shown while the job runs."""
    pytest.importorskip("selenium")
    By, panel, ids = _open_features_tab_on_node(dash_duo, real_run)
    dash_duo.driver.find_element(By.XPATH, f"//*[text()='{panel.TAB_LABEL}']").click()
    dash_duo.wait_for_contains_text(f"#{panel.TARGET}", "Node ", timeout=10)
    _steps(dash_duo, panel, 4000)
    seed = dash_duo.find_element(f"#{panel.SEED}")  # a seed no other test used: not a cache hit
    seed.clear()
    seed.send_keys("97")
    dash_duo.find_element(f"#{panel.RUN_BUTTON}").click()
    dash_duo.wait_for_element(f"#{panel.PREVIEW} img.topoact-feature-preview", timeout=60)
    # read the page at one instant (previews keep replacing each other while the job refines)
    state = dash_duo.driver.execute_script(f"""
        const img = document.querySelector('#{panel.PREVIEW} img.topoact-feature-preview');
        return {{src: img.src, caption: document.querySelector('#{panel.PREVIEW}').innerText,
                 results: document.querySelectorAll('#{panel.RESULTS} img.topoact-feature-image').length}};""")
    # the job is still running: no final image yet, and the caption says how far it got
    assert state["results"] == 0
    assert state["src"].startswith("data:image/png;base64,")
    assert re.search(r"Preview after \d+ of 4000 steps \(refining", state["caption"])
    dash_duo.find_element(f"#{panel.CANCEL}").click()
    dash_duo.wait_for_contains_text(f"#{panel.STATUS}", "cancelled", timeout=10)
