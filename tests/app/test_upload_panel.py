"""Upload panel: the preview (size, sharp enlargement, refusals in words), the nodes listed per
layer, and one real headless-Chromium test of the preview shown at its size."""
from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from app_fixtures import GRAPH_LAYER, small_run, small_run_dir  # noqa: F401 - fixtures

from topoact.app.panels import upload as panel


def _data_url(size=(32, 32), colour=(200, 30, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_small_images_are_enlarged_with_sharp_pixels_large_ones_not():
    src, style, caption, error = panel.preview_view(_data_url((32, 32)), "cat.png")
    assert src.startswith("data:image/png;base64,") and error == ""
    assert style["width"] == style["height"] == f"{panel.PREVIEW_PX}px"
    assert style["imageRendering"] == "pixelated" and "display" not in style
    assert caption == "cat.png: 32 × 32 px, shown at 192 px (enlarged, pixels kept sharp)"
    _, style, caption, _ = panel.preview_view(_data_url((400, 300)), "photo.png")
    assert style["imageRendering"] == "auto" and caption == "photo.png: 400 × 300 px, shown at 192 px"
    assert panel.preview_view(None)[1]["display"] == "none"


def test_a_refused_upload_gets_its_reason_in_words():
    src, style, caption, error = panel.preview_view("data:text/plain;base64," + base64.b64encode(b"hello").decode())
    assert src is None and style["display"] == "none" and caption == ""
    assert error.startswith("This file cannot be used: ")
    assert "base64" in panel.preview_view("data:image/png;base64,@@@")[3]


def test_nodes_are_listed_per_layer_with_the_graph_they_belong_to():
    result = {"prediction": 1, "probability": 0.834,
              "layers": {"conv1": {"graph_key": "a", "nodes": [3, 5]}, "conv2": {"graph_key": "b", "nodes": []},
                         "fc": {"graph_key": "c", "nodes": [], "error": "a UMAP lens cannot place new points"}}}
    lines = panel.result_lines(result, ["cat", "dog"], "x.png", shown={"layer": "conv1", "key": "a"})

    def text(component):
        children = component.children
        if isinstance(children, list):
            return "".join(text(c) if hasattr(c, "children") else str(c) for c in children)
        return str(children)

    texts = [text(line) for line in lines]
    assert texts[0] == "x.png: predicted dog (0.83)"
    assert texts[1] == "Nodes it falls in, per layer:"
    assert texts[2] == "conv1: nodes 3, 5 · in the graph in view"
    assert texts[3] == "conv2: (none: outside every node) · in the layer's default graph"
    assert texts[4] == "fc: a UMAP lens cannot place new points"


@pytest.mark.browser
def test_upload_preview_is_shown_at_its_size_with_the_nodes_per_layer(dash_duo, small_run, tmp_path):
    pytest.importorskip("selenium")
    from dash.testing.wait import until
    from selenium.webdriver.common.by import By

    from topoact.app import create_app, ids
    from topoact.store import open_run

    path, bundle = small_run
    run = open_run(path, model=bundle)
    image = tmp_path / "row.png"
    run.image(0).save(image)
    assert Image.open(image).size == (32, 32)
    dash_duo.start_server(create_app(run))
    dash_duo.wait_for_element(f"#{ids.GRAPH} .scatterlayer", timeout=30)
    tab = "//*[contains(@class,'tab') and normalize-space()='Upload an image']"
    dash_duo.driver.find_element(By.XPATH, tab).click()
    dash_duo.wait_for_element(f"#{ids.UPLOAD_INPUT} input[type=file]").send_keys(str(image))
    dash_duo.wait_for_contains_text(f"#{panel.PREVIEW_CAPTION}", "32 × 32 px, shown at 192 px", timeout=20)
    box = until(lambda: dash_duo.driver.execute_script(f"""
        const img = document.getElementById('{ids.UPLOAD_PREVIEW}');
        if (!img || !img.complete || !img.naturalWidth) return null;
        const r = img.getBoundingClientRect();
        return [r.width, r.height, img.naturalWidth, getComputedStyle(img).imageRendering];"""), 10,
                msg="the preview image loaded")
    assert box == [panel.PREVIEW_PX, panel.PREVIEW_PX, 32, "pixelated"]
    # the nodes per layer: the layer with the saved graph is listed with its nodes
    dash_duo.wait_for_contains_text(f"#{ids.UPLOAD_STATUS}", f"{GRAPH_LAYER}: nodes", timeout=60)
    assert "Nodes it falls in, per layer:" in dash_duo.find_element(f"#{ids.UPLOAD_STATUS}").text
    assert "in the graph in view" in dash_duo.find_element(f"#{ids.UPLOAD_STATUS}").text
    # Clear hides the preview again
    dash_duo.find_element(f"#{ids.UPLOAD_CLEAR}").click()
    until(lambda: not dash_duo.find_element(f"#{ids.UPLOAD_PREVIEW}").is_displayed(), 10, msg="preview hidden")
