"""Feature visualizations on a real run (topoact.collect + the real store + a real Mapper
graph): the service, the panel's job path, and a browser test (click a node, press Visualize,
see the synthesized image appear)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

N_IMAGES = 60


class TinyCNN(nn.Module):
    def __init__(self, n_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 12, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, n_classes)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(nn.functional.max_pool2d(x, 2)))
        return self.fc(self.pool(x).flatten(1))


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
    run_graphs.build_run_graph(run, "conv2", run_graphs.mapper_params(
        lens="l2", cover="uniform", intervals=3, overlap=0.3, clusterer="dbscan", eps="auto",
        metric="euclidean", min_samples=3))
    return open_run(path, model=bundle)


def _largest_node(run):
    graph = run.graph("conv2")
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
    from topoact.app.jobs import JobManager
    from topoact.app.panels import features as panel

    node = _largest_node(real_run)
    store = {"layer": "conv2", "graph_key": None, "node": node["id"]}
    request = panel.build_request(store, "inverse", 48, 2, 0, 0.5, "1, 4", None, None)
    assert request["params"]["channel"] == [1, 4] and request["params"]["level"] == [0.5, 0.5]
    jobs = JobManager(max_workers=1)
    try:
        key = jobs.submit("features", request,
                          lambda p, c: panel.run_request(real_run, request, "conv2", p, c))
        status = jobs.wait(key, timeout=60)
        assert status["state"] == "done", status
        children = panel.result_children(real_run, jobs.result(key))
        assert len(children[0].children) == 2
        assert children[0].children[0].src.startswith("data:image/png;base64,")
    finally:
        jobs.shutdown()
    with pytest.raises(ValueError, match="not an integer"):
        panel.parse_channels("1, x")
    with pytest.raises(ValueError, match="select a node"):
        panel.build_request(None, "node", 8, 1, 0, 0.5, None, None, None)


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
