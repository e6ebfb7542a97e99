"""App tests without a browser: image route, node services, CSV, jobs, figures, callbacks' helpers."""
from __future__ import annotations

import base64
import csv
import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from app_fixtures import FIXTURE_FORM, GRAPH_LAYER, LAYERS, N_IMAGES, small_run, small_run_dir  # noqa: F401

from topoact.app import create_app, ids
from topoact.app.jobs import JobCancelled, JobManager, describe_job


@pytest.fixture(scope="module")
def app(small_run):
    from topoact.store import open_run

    path, bundle = small_run
    app = create_app(open_run(path, model=bundle))
    yield app
    app.topoact_context.jobs.shutdown()


@pytest.fixture(scope="module")
def ctx(app):
    return app.topoact_context


def _key(ctx):
    return ctx.default_key(GRAPH_LAYER)


# -- image route ----------------------------------------------------------------------------------
def test_image_route_serves_the_row_with_caching_headers(app, ctx):
    client = app.server.test_client()
    response = client.get("/topoact/image/7.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert "max-age" in response.headers["Cache-Control"]
    served = np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB"))
    assert np.array_equal(served, np.asarray(ctx.run.image(7).convert("RGB")))
    etag = response.headers["ETag"]
    again = client.get("/topoact/image/7.png", headers={"If-None-Match": etag})
    assert again.status_code == 304
    other = client.get("/topoact/image/8.png")
    assert other.status_code == 200 and other.headers["ETag"] != etag


@pytest.mark.parametrize("url", [
    f"/topoact/image/{N_IMAGES}.png", "/topoact/image/999999999.png", "/topoact/image/-1.png",
    "/topoact/image/abc.png", "/topoact/image/1.5.png", "/topoact/image/../meta.json",
    "/topoact/image/..%2Fmeta.json", "/topoact/image/%2e%2e/%2e%2e/etc/passwd", "/topoact/image/7",
])
def test_image_route_rejects_out_of_range_and_non_integer_rows(app, url):
    response = app.server.test_client().get(url)
    assert response.status_code == 404, url


# -- shell ----------------------------------------------------------------------------------------
def test_top_bar_summarises_the_run(app, ctx):
    from topoact.app.shell import run_summary

    text = " ".join(str(part.children) for part in run_summary(ctx.run))
    assert f"{N_IMAGES:,}" in text and "module:TinyCNN" in text and "shapes" in text
    layout = app.layout.to_plotly_json()
    assert ids.GRAPH in str(layout) and ids.EXEMPLARS in str(layout)


def test_app_opens_on_the_layer_with_a_graph(ctx):
    from topoact.app.panels.graph import initial_layer

    assert initial_layer(ctx) == GRAPH_LAYER


# -- node services --------------------------------------------------------------------------------
def test_node_statistics_match_the_members(ctx):
    key = _key(ctx)
    graph = ctx.graph(GRAPH_LAYER, key)
    node = max(graph["nodes"], key=lambda n: n["size"])
    stats = ctx.node_statistics(GRAPH_LAYER, key, node["id"])
    members = np.asarray(node["members"])
    assert stats["size"] == len(members) == sum(stats["label_counts"].values())
    labels = ctx.run.labels[members]
    majority = np.bincount(labels).argmax()
    assert stats["majority"] == ctx.run.class_names[majority]
    assert stats["purity"] == pytest.approx(np.bincount(labels).max() / len(members))
    assert stats["accuracy"] == pytest.approx((labels == ctx.run.predictions[members]).mean())
    acts = np.asarray(ctx.run.activations(GRAPH_LAYER))[members]
    assert stats["mean_norm"] == pytest.approx(np.linalg.norm(acts, axis=1).mean(), rel=1e-5)
    hue = stats["attributes"]["hue"]  # circular with period 1 in the shapes set
    assert hue["period"] == pytest.approx(1.0) and 0.0 <= hue["circular_mean"] < 1.0
    assert stats["attributes"]["family"]["counts"]


def test_exemplars_are_members_closest_to_the_node_mean_first(ctx):
    key = _key(ctx)
    graph = ctx.graph(GRAPH_LAYER, key)
    node = max(graph["nodes"], key=lambda n: n["size"])
    rows = ctx.exemplar_rows(GRAPH_LAYER, key, node["id"])
    assert sorted(rows.tolist()) == sorted(node["members"])
    acts = np.asarray(ctx.run.activations(GRAPH_LAYER), dtype=np.float64)
    mean = acts[node["members"]].mean(0)
    dist = ((acts[rows] - mean) ** 2).sum(1)
    assert np.all(np.diff(dist) >= -1e-9)


def test_members_csv_download(ctx):
    from topoact.app.panels.node import csv_download

    key = _key(ctx)
    node = ctx.graph(GRAPH_LAYER, key)["nodes"][0]
    payload = csv_download(ctx, {"layer": GRAPH_LAYER, "graph_key": key, "node": node["id"]})
    assert payload["filename"].endswith(f"node{node['id']}.csv")
    rows = list(csv.DictReader(io.StringIO(payload["content"])))
    assert [int(r["row"]) for r in rows] == sorted(node["members"])
    for r in rows:
        i = int(r["row"])
        assert r["id"] == str(ctx.run.ids[i])
        assert int(r["label"]) == ctx.run.labels[i] and r["label_name"] == ctx.run.class_names[ctx.run.labels[i]]
        assert int(r["prediction"]) == ctx.run.predictions[i]
        assert r["correct"] == str(int(ctx.run.labels[i] == ctx.run.predictions[i]))


def test_colour_values_for_attributes_and_builtins(ctx):
    key = _key(ctx)
    graph = ctx.graph(GRAPH_LAYER, key)
    for option in ctx.color_options():
        if option["value"] == "majority":
            continue
        values, kind, period = ctx.node_values(GRAPH_LAYER, key, option["value"])
        assert values.shape == (len(graph["nodes"]),)
    values, kind, period = ctx.node_values(GRAPH_LAYER, key, "attr:hue")
    assert kind == "circular" and period == pytest.approx(1.0)
    assert np.all((values[np.isfinite(values)] >= 0) & (values[np.isfinite(values)] < 1.0))
    sizes, _, _ = ctx.node_values(GRAPH_LAYER, key, "size")
    assert sizes.tolist() == [n["size"] for n in graph["nodes"]]


# -- figures --------------------------------------------------------------------------------------
def test_figure_fades_nodes_without_the_class_and_filters_edges(ctx):
    from topoact.app.panels.graph import build_figure

    key = _key(ctx)
    graph = ctx.graph(GRAPH_LAYER, key)
    selection = {"layer": GRAPH_LAYER, "key": key}
    cls = int(graph["nodes"][0]["majority_label"])
    fig, text = build_figure(ctx, selection, "majority", cls, 0.0, None, None)
    opacity = {}
    for trace in fig.data[1:]:
        for node_id, o in zip(trace.customdata, trace.marker.opacity):
            opacity[int(node_id[0])] = float(o)
    assert set(opacity) == {n["id"] for n in graph["nodes"]}
    for n in graph["nodes"]:
        assert (opacity[n["id"]] == 1.0) == (n["label_counts"].get(str(cls), 0) > 0)
    assert f"{len(graph['nodes'])} nodes" in text
    n_edges = len(graph["edges"])
    weights = sorted(e["weight"] for e in graph["edges"])
    if n_edges:
        threshold = weights[len(weights) // 2] + 1e-9
        fig2, _ = build_figure(ctx, selection, "purity", None, threshold, None, None)
        drawn = sum(1 for x in fig2.data[0].x if x is None)
        assert drawn == sum(w >= threshold for w in weights) < n_edges


def test_layout_is_deterministic_and_finite(ctx):
    from topoact.figures.graph import graph_layout

    graph = ctx.graph(GRAPH_LAYER, _key(ctx))
    a, b = graph_layout(graph, seed=0), graph_layout(graph, seed=0)
    assert a.shape == (len(graph["nodes"]), 2) and np.isfinite(a).all()
    assert np.array_equal(a, b)


# -- jobs -----------------------------------------------------------------------------------------
def test_job_manager_progress_cache_errors_and_cancel():
    jobs = JobManager(max_workers=2)
    calls = []
    gate = threading.Event()

    def work(progress, should_cancel):
        calls.append(1)
        progress(0.5, "half")
        gate.wait(5)
        return 42

    key = jobs.submit("t", {"a": 1}, work)
    time.sleep(0.1)
    status = jobs.status(key)
    assert status["state"] == "running" and status["progress"] == 0.5 and status["message"] == "half"
    assert jobs.submit("t", {"a": 1}, work) == key  # same params -> the same job
    gate.set()
    assert jobs.wait(key)["state"] == "done" and jobs.result(key) == 42
    assert jobs.submit("t", {"a": 1}, work) == key and len(calls) == 1  # cached result

    def fail(progress, should_cancel):
        raise ValueError("bad layer")

    bad = jobs.wait(jobs.submit("t", {"a": 2}, fail))
    assert bad["state"] == "error" and "ValueError: bad layer" in bad["error"]
    with pytest.raises(RuntimeError, match="bad layer"):
        jobs.result(bad["key"])

    def slow(progress, should_cancel):
        for i in range(500):
            if should_cancel():
                raise JobCancelled()
            progress(i / 500)
            time.sleep(0.01)
        return "finished"

    key = jobs.submit("t", {"a": 3}, slow)
    time.sleep(0.05)
    assert jobs.cancel(key)
    assert jobs.wait(key)["state"] == "cancelled"
    assert jobs.idle_for() < 5
    jobs.shutdown()


# -- recompute, sweep, upload (the functions behind the callbacks) --------------------------------
def test_form_validation_names_the_problem():
    from topoact.app.panels.graph import form_params

    ok = form_params("l2", "balanced", "6", "0.25", "single", "auto", "cosine", "2")
    assert ok == {"lens": "l2", "cover": "balanced", "intervals": 6, "overlap": 0.25, "clusterer": "single",
                  "eps": "auto", "metric": "cosine", "min_samples": 2}
    assert form_params("l2", "uniform", 5, 0.3, "dbscan", "0.7", "euclidean", 3)["eps"] == 0.7
    for bad, message in [((0, 0.3, "auto"), "intervals"), ((5, 1.2, "auto"), "overlap"),
                         ((5, 0.3, "-1"), "eps"), ((5, 0.3, "big"), "eps"), (("x", 0.3, "auto"), "numbers")]:
        with pytest.raises(ValueError, match=message):
            form_params("l2", "uniform", bad[0], bad[1], "dbscan", bad[2], "euclidean", 3)


def test_recompute_job_saves_a_new_graph_and_is_cached(ctx):
    from topoact.app.panels.graph import mapper_job

    form = dict(FIXTURE_FORM, intervals=7, cover="balanced")
    key = mapper_job(ctx, GRAPH_LAYER, form)
    status = ctx.jobs.wait(key, timeout=60)
    assert status["state"] == "done", status
    result = ctx.jobs.result(key)
    assert result["key"] in ctx.run.graph_keys(GRAPH_LAYER)
    graph = ctx.graph(GRAPH_LAYER, result["key"])
    assert graph["params"]["cover"]["intervals"] == 7
    again = mapper_job(ctx, GRAPH_LAYER, form)
    assert ctx.jobs.status(again)["state"] == "done" and ctx.jobs.result(again)["key"] == result["key"]


def test_sweep_job_summaries_open_as_graphs(ctx):
    from topoact.app.panels.graph import form_params, mapper_job
    from topoact.app.panels.sweep import parse_list, sweep_job

    base = form_params(**{k: v for k, v in FIXTURE_FORM.items()})
    key = sweep_job(ctx, GRAPH_LAYER, base, parse_list("3, 5", int, "intervals"),
                    parse_list("0.2,0.4", float, "overlap"))
    assert ctx.jobs.wait(key, timeout=60)["state"] == "done"
    summaries = ctx.jobs.result(key)
    assert len(summaries) == 4
    assert {(s["intervals"], s["overlap"]) for s in summaries} == {(3, 0.2), (3, 0.4), (5, 0.2), (5, 0.4)}
    chosen = summaries[-1]
    job = mapper_job(ctx, GRAPH_LAYER, params=chosen["params"])
    assert ctx.jobs.wait(job, timeout=60)["state"] == "done"
    graph = ctx.graph(GRAPH_LAYER, ctx.jobs.result(job)["key"])
    assert len(graph["nodes"]) == chosen["nodes"] and len(graph["edges"]) == chosen["edges"]
    with pytest.raises(ValueError, match="intervals"):
        parse_list("3, x", int, "intervals")


def test_uploaded_image_is_located_in_every_layer_with_a_graph(ctx):
    from topoact.app.panels.upload import decode_upload, locate_image

    buffer = io.BytesIO()
    ctx.run.image(3).save(buffer, format="PNG")
    contents = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    image = decode_upload(contents)
    key = _key(ctx)
    result = locate_image(ctx, image, {"layer": GRAPH_LAYER, "key": key})
    assert result["prediction"] == ctx.run.predictions[3]
    entry = result["layers"][GRAPH_LAYER]
    assert entry["graph_key"] == key
    # row 3 itself is in the run: its own image must land in (at least) a node that holds row 3
    holding = {n["id"] for n in ctx.graph(GRAPH_LAYER, key)["nodes"] if 3 in n["members"]}
    if holding:
        assert set(entry["nodes"]) & holding
    with pytest.raises(ValueError, match="cannot read"):
        decode_upload("data:image/png;base64," + base64.b64encode(b"not an image").decode())


def test_upload_uses_the_runs_reduction(ctx):
    """The uploaded image's vectors equal the stored row's when the same image is uploaded."""
    from topoact.collection import activations_for_images

    acts, _ = activations_for_images(ctx.run.model(), [ctx.run.image(5)], list(LAYERS),
                                     ctx.reduction, ctx.run.meta["seed"])
    assert ctx.reduction == "gap"
    for layer in LAYERS:
        np.testing.assert_allclose(acts[layer][0], ctx.run.activations(layer)[5], rtol=1e-4, atol=1e-5)


def test_exports_json_and_kepler_html(ctx):
    import json

    from topoact.app.panels.graph import kepler_html

    key = _key(ctx)
    html = kepler_html(ctx, GRAPH_LAYER, key)
    assert "<html" in html.lower() and "topoact Mapper graph" in html
    graph = ctx.graph(GRAPH_LAYER, key)
    assert json.loads(json.dumps(graph))["nodes"][0]["members"] == graph["nodes"][0]["members"]


def test_neighbouring_layers():
    from topoact.app.panels.compare import neighbours

    layers = ["a", "b", "c", "d", "e"]
    assert neighbours(layers, "a") == ["a", "b", "c"]
    assert neighbours(layers, "c") == ["b", "c", "d"]
    assert neighbours(layers, "e") == ["c", "d", "e"]
    assert neighbours(["a", "b"], "b") == ["a", "b"]


def test_exemplars_are_paged(ctx):
    from topoact.app.panels.node import PAGE, exemplar_images
    from topoact.app.routes import image_url

    key = _key(ctx)
    node = max(ctx.graph(GRAPH_LAYER, key)["nodes"], key=lambda n: n["size"])
    store = {"layer": GRAPH_LAYER, "graph_key": key, "node": node["id"]}
    rows = ctx.exemplar_rows(GRAPH_LAYER, key, node["id"])
    first, total = exemplar_images(ctx, store, 2)
    assert total == node["size"] and [img.src for img in first] == [image_url(r) for r in rows[:2]]
    page, _ = exemplar_images(ctx, store, PAGE)
    assert len(page) == min(PAGE, node["size"])


def test_describe_job_phases_for_pollers():
    jobs = JobManager(max_workers=1)
    gate = threading.Event()

    def work(progress, should_cancel):
        progress(0.25, "quarter")
        gate.wait(5)
        return "ok"

    assert describe_job(jobs, None)[0] == "idle"
    assert describe_job(jobs, {"key": "nope"})[:2] == ("lost", "job lost (server restarted?)")
    key = jobs.submit("t", {"b": 1}, work)
    time.sleep(0.1)
    phase, text, status = describe_job(jobs, {"key": key})
    assert phase == "running" and text.startswith("quarter — 25%") and status["progress"] == 0.25
    gate.set()
    jobs.wait(key)
    assert describe_job(jobs, {"key": key})[0] == "done"

    def fail(progress, should_cancel):
        raise ValueError("broken")

    bad = jobs.submit("t", {"b": 2}, fail)
    jobs.wait(bad)
    phase, text, _ = describe_job(jobs, {"key": bad})
    assert phase == "ended" and text.startswith("error:") and "broken" in text
    jobs.shutdown()
