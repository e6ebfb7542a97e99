"""Feature visualizations on a real run (topoact.collect + the real store + a real Mapper
graph): the service, the panel's job path, and browser tests (real headless Chromium): click a
node and Visualize; an exemplar click -> class-agnostic; an inverse set from the channel
picker with its "within tolerance" metric; DGN-AM next to pixel space once a (tiny, quickly
trained) generator exists."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image
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
    assert len(children[0].children) == 2
    assert children[0].children[0].src.startswith("data:image/png;base64,")
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
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from topoact.app import create_app, ids
    from topoact.app.panels import features as panel

    app = create_app(real_run)
    dash_duo.start_server(app)
    points = dash_duo.wait_for_element(f"#{ids.GRAPH} .scatterlayer .trace .points path", timeout=20)
    ActionChains(dash_duo.driver).move_to_element(points).pause(0.5).click().perform()
    dash_duo.wait_for_contains_text(f"#{ids.NODE_TITLE}", "Node ", timeout=10)
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
    points = dash_duo.wait_for_element(f"#{ids.GRAPH} .scatterlayer .trace .points path", timeout=20)
    ActionChains(dash_duo.driver).move_to_element(points).pause(0.5).click().perform()
    dash_duo.wait_for_contains_text(f"#{ids.NODE_TITLE}", "Node ", timeout=10)
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
    # inverse set: pick channel 3 (valid range shown), level 0.5
    dash_duo.wait_for_contains_text(f"#{panel.CHANNEL_RANGE}", "valid: 0–11", timeout=10)
    _method(dash_duo, By, panel, "Inverse set")
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
