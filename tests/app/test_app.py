"""App tests without a browser: image route, node services, CSV, progress, figures, callbacks' helpers."""
from __future__ import annotations

import base64
import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from app_fixtures import (FIXTURE_FORM, GRAPH_LAYER, LAYERS, N_IMAGES, fresh_run_dir, small_run,  # noqa: F401
                          small_run_dir)

from topoact.app import create_app, ids


@pytest.fixture(scope="module")
def app(small_run):
    from topoact.store import open_run

    path, bundle = small_run
    return create_app(open_run(path, model=bundle))


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
    from topoact.app.panels.node import stats_rows

    key = _key(ctx)
    graph = ctx.graph(GRAPH_LAYER, key)
    node = max(graph["nodes"], key=lambda n: n["size"])
    stats = ctx.node_statistics(GRAPH_LAYER, key, node["id"])
    members = np.asarray(node["members"])
    labels = ctx.run.labels[members]
    assert stats["size"] == len(members) == sum(stats["label_counts"].values())
    assert stats["majority_label"] == np.bincount(labels).argmax()
    assert stats["purity"] == pytest.approx(np.bincount(labels).max() / len(members))
    assert stats["accuracy"] == pytest.approx((labels == ctx.run.predictions[members]).mean())
    acts = np.asarray(ctx.run.activations(GRAPH_LAYER))[members]
    assert stats["mean_norm"] == pytest.approx(np.linalg.norm(acts, axis=1).mean(), rel=1e-5)
    hue = stats["attributes"]["hue"]  # circular with period 1 in the shapes set
    assert hue["period"] == pytest.approx(1.0) and 0.0 <= hue["mean"] < 1.0
    angles = ctx.run.attributes["hue"][members] * 2 * np.pi
    expected = np.arctan2(np.sin(angles).mean(), np.cos(angles).mean()) % (2 * np.pi) / (2 * np.pi)
    assert hue["mean"] == pytest.approx(expected, abs=1e-9)
    assert stats["attributes"]["family"]["counts"]
    # the table shows class names and the circular summary with its period
    rows = dict(stats_rows(stats, ctx.run.class_names))
    assert rows["majority"] == ctx.run.class_names[stats["majority_label"]]
    assert rows["hue"].startswith(f"circular mean {hue['mean']:.3g} of period 1")
    # drawn as one component of escaped HTML: a class name cannot inject markup
    from topoact.app.panels.node import stats_table

    names = list(ctx.run.class_names)
    names[stats["majority_label"]] = "<img src=x onerror=alert(1)>"
    table = stats_table(stats, names).children
    assert table.count("<tr>") == len(stats_rows(stats, names)) and "&lt;img src=x onerror=alert(1)&gt;" in table and "<img" not in table


def test_node_statistics_of_a_graph_file_without_them_come_from_the_library(ctx):
    """An older graph file without per-node statistics: the library computes the same numbers."""
    from topoact.app.context import AppContext

    key = _key(ctx)
    node = max(ctx.graph(GRAPH_LAYER, key)["nodes"], key=lambda n: n["size"])
    bare = AppContext(ctx.run)
    stored = ctx.node_statistics(GRAPH_LAYER, key, node["id"])
    bare_node = bare.node(GRAPH_LAYER, key, node["id"])
    for name in ("purity", "accuracy", "mean_norm", "attributes", "label_counts"):
        bare_node.pop(name)
    again = bare.node_statistics(GRAPH_LAYER, key, node["id"])
    for name in ("purity", "accuracy", "mean_norm"):
        assert again[name] == pytest.approx(stored[name], rel=1e-5)
    assert again["label_counts"] == stored["label_counts"]
    assert again["attributes"]["hue"]["mean"] == pytest.approx(stored["attributes"]["hue"]["mean"])


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
    # the graph stores every node's first exemplars: the same rows as ranking all members
    from topoact.mapper.pipeline import STORED_EXEMPLARS

    for n in graph["nodes"]:
        full = ctx.exemplar_rows(GRAPH_LAYER, key, n["id"])
        assert n["exemplars"] == full[:STORED_EXEMPLARS].tolist()
        np.testing.assert_array_equal(ctx.exemplar_rows(GRAPH_LAYER, key, n["id"], 5), full[:5])


def test_members_csv_download(ctx):
    from topoact.app.panels.node import csv_download

    key = _key(ctx)
    node = ctx.graph(GRAPH_LAYER, key)["nodes"][0]
    from topoact.app.validate import node_ref
    payload = csv_download(ctx, node_ref(ctx, {"layer": GRAPH_LAYER, "graph_key": key, "node": node["id"]}))
    assert payload["filename"].endswith(f"node{node['id']}.csv")
    rows = list(csv.DictReader(io.StringIO(payload["content"])))
    assert sorted(int(r["row"]) for r in rows) == sorted(node["members"])
    for r in rows:
        i = int(r["row"])
        assert r["id"] == str(ctx.run.ids[i])
        assert int(r["label"]) == ctx.run.labels[i] and r["label_name"] == ctx.run.class_names[ctx.run.labels[i]]
        assert int(r["prediction"]) == ctx.run.predictions[i]
        assert r["prediction_name"] == ctx.run.class_names[ctx.run.predictions[i]]


def test_colour_values_for_attributes_and_builtins(ctx):
    key = _key(ctx)
    graph = ctx.graph(GRAPH_LAYER, key)
    for option in ctx.color_options():
        if option["value"] == "majority" or option["value"].startswith("anomaly:"):
            continue  # anomaly shares need the scores first: tests/app/test_anomalies_panel.py
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
    fig, text = build_figure(ctx, selection, "majority", cls, 0.0, None, None, expanded=True)
    trace = fig.data[1]  # every node in one marker trace
    opacity = {int(node_id[0]): float(o) for node_id, o in zip(trace.customdata, trace.marker.opacity)}
    assert set(opacity) == {n["id"] for n in graph["nodes"]}
    for n in graph["nodes"]:
        assert (opacity[n["id"]] == 1.0) == (n["label_counts"].get(str(cls), 0) > 0)
    assert f"{len(graph['nodes'])} nodes" in text
    n_edges = len(graph["edges"])
    weights = sorted(e["weight"] for e in graph["edges"])
    if n_edges:
        threshold = weights[len(weights) // 2] + 1e-9
        fig2, _ = build_figure(ctx, selection, "purity", None, threshold, None, None, expanded=True)
        drawn = sum(1 for x in fig2.data[0].x if x is None)
        assert drawn == sum(w >= threshold for w in weights) < n_edges


def test_layout_is_deterministic_and_keeps_components_apart(ctx):
    from topoact.figures.graph import graph_layout

    graph = ctx.graph(GRAPH_LAYER, _key(ctx))
    a, b = graph_layout(graph, seed=0), graph_layout(graph, seed=0)
    assert a.shape == (len(graph["nodes"]), 2) and np.isfinite(a).all()
    assert np.array_equal(a, b)
    # connected components are packed in disjoint boxes
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(len(graph["nodes"])))
    position = {n["id"]: k for k, n in enumerate(graph["nodes"])}
    g.add_edges_from((position[e["source"]], position[e["target"]]) for e in graph["edges"])
    boxes = [(a[list(c)].min(0), a[list(c)].max(0)) for c in nx.connected_components(g)]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            (lo1, hi1), (lo2, hi2) = boxes[i], boxes[j]
            assert (hi1 < lo2).any() or (hi2 < lo1).any(), "two components overlap"


def test_graph_figure_draws_each_node_where_its_size_and_colour_say():
    """Positions, marker sizes (area ~ members), class colours, value colours, rings: from the data."""
    from topoact.figures.graph import CLASS_COLORS, UPLOAD_TRACE, graph_figure

    graph = {"layer": "l", "key": "k", "nodes": [
        {"id": 0, "size": 1, "majority_label": 0, "purity": 1.0, "label_counts": {"0": 1}},
        {"id": 1, "size": 4, "majority_label": 1, "purity": 0.5, "label_counts": {"1": 2, "0": 2}},
        {"id": 2, "size": 16, "majority_label": 1, "purity": 0.75, "label_counts": {"1": 12, "2": 4}},
    ], "edges": [{"source": 0, "target": 1, "weight": 0.2}, {"source": 1, "target": 2, "weight": 0.6}]}
    positions = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    fig = graph_figure(graph, positions, class_names=["a", "b", "c"], selected_node=2, marked_nodes=[0],
                       upload_nodes=[1], edge_threshold=0.5)
    edges, trace = fig.data[:2]
    assert list(edges.x) == [2.0, 4.0, None] and list(edges.y) == [3.0, 5.0, None]  # only the 0.6 edge
    assert [c[0] for c in trace.customdata] == [2, 1, 0]  # largest first: smaller nodes drawn on top
    drawn = {c[0]: dict(xy=(x, y), size=s, color=col, ring=(rc, rw)) for c, x, y, s, col, rc, rw in zip(
        trace.customdata, trace.x, trace.y, trace.marker.size, trace.marker.color, trace.marker.line.color,
        trace.marker.line.width)}
    assert {i: d["xy"] for i, d in drawn.items()} == {0: (0.0, 1.0), 1: (2.0, 3.0), 2: (4.0, 5.0)}
    assert drawn[0]["color"] == CLASS_COLORS[0]
    assert drawn[1]["color"] == drawn[2]["color"] == CLASS_COLORS[1]
    assert [t.name for t in fig.data[4:]] == ["a", "b"] and fig.layout.showlegend  # legend: majority classes
    assert drawn[0]["size"] == 6.0 and drawn[2]["size"] == 34.0  # diameter ~ sqrt(size): 1, 2, 4
    assert drawn[1]["size"] == pytest.approx(6.0 + 28.0 / 3.0, abs=0.01)
    assert drawn[0]["ring"] == ("#e00000", 4.0) and drawn[2]["ring"] == ("#000000", 3.0)
    star = fig.data[UPLOAD_TRACE]  # the uploaded image's node: a white star, not a class colour
    assert (list(star.x), list(star.y)) == ([2.0], [3.0]) and star.marker.symbol == "star"
    assert star.marker.color not in CLASS_COLORS and star.hoverinfo == "skip"

    purity = graph_figure(graph, positions, color_by="purity", values=np.array([1.0, 0.5, 0.75]))
    trace = purity.data[1]
    assert list(trace.marker.color) == [0.75, 0.5, 1.0]  # in drawing order (ids 2, 1, 0)
    assert (trace.marker.cmin, trace.marker.cmax) == (0.5, 1.0)
    assert not purity.layout.showlegend
    hue = graph_figure(graph, positions, color_by="attr:hue", values=np.array([0.1, 0.5, 0.9]),
                       color_kind="circular", period=1.0)
    assert (hue.data[1].marker.cmin, hue.data[1].marker.cmax) == (0.0, 1.0)
    assert hue.data[1].marker.colorscale[0][1] == hue.data[1].marker.colorscale[-1][1]  # cyclic scale

    # WebGL: uniform outlines and opacity are scalars (a recolour then parses one outline colour,
    # not one per node); a marked node keeps the per-node arrays
    gl = graph_figure(graph, positions, webgl=True).data[1]
    assert (gl.type, gl.marker.line.color, gl.marker.line.width, gl.marker.opacity) == (
        "scattergl", "rgba(40,40,40,0.7)", 0.6, 1.0)
    gl_marked = graph_figure(graph, positions, webgl=True, marked_nodes=[0]).data[1]
    assert list(gl_marked.marker.line.color) == ["rgba(40,40,40,0.7)"] * 2 + ["#e00000"]


def test_composition_and_sweep_figures_hold_the_numbers():
    from topoact.figures.graph import CLASS_COLORS, composition_figure, sweep_figure

    import plotly.graph_objects as go

    composition = go.Figure(composition_figure({"2": 3, "0": 7}, ["cat", "dog", "fox"]))  # a valid figure
    assert composition.layout.yaxis.automargin and composition.layout.xaxis.automargin  # labels not cut off
    bars = composition.data[0]
    assert list(bars.x) == ["cat", "fox"] and list(bars.y) == [7, 3]
    assert list(bars.marker.color) == [CLASS_COLORS[0], CLASS_COLORS[2]]
    summaries = [{"params": {"n": n, "p": p}, "nodes": 10 * n + p * 10} for n in (3, 5) for p in (0.2, 0.4)]
    heat = sweep_figure(summaries, x="n", y="p", metric="nodes").data[0]
    assert list(heat.x) == ["3", "5"] and list(heat.y) == ["0.2", "0.4"]
    np.testing.assert_allclose(heat.z, [[32, 52], [34, 54]])
    assert [list(r) for r in heat.customdata] == [[0, 2], [1, 3]]  # cell -> summary index


# -- progress -------------------------------------------------------------------------------------
def test_bar_progress_maps_the_library_protocol_onto_the_bar():
    from topoact.app.background import BarProgress, progress_text

    seen = []
    bar = BarProgress(seen.append, min_interval=0.0)
    bar(1, 10, "cover interval 1/10")
    bar(10, 10, "done")
    assert [v for v, _ in seen] == ["0", "0.1", "1"]
    assert seen[0][1].startswith("starting — 0%") and seen[1][1].startswith("cover interval 1/10 — 10%")
    assert progress_text(0.5, 2.0) == "25%"
    throttled = []
    slow = BarProgress(throttled.append, min_interval=60.0)
    for k in range(1, 50):
        slow(k, 100, "same step")
    slow(100, 100, "same step")
    assert [v for v, _ in throttled] == ["0", "0.01", "1"]  # start, first step, end; nothing between


def test_stop_jobs_kills_running_job_processes_at_once():
    """What the server's exit handler does, instead of waiting for every running job."""
    import time

    import multiprocess

    from topoact.app.background import stop_jobs

    job = multiprocess.Process(target=time.sleep, args=(120,))
    job.start()
    started = time.monotonic()
    assert stop_jobs() >= 1
    assert not job.is_alive() and time.monotonic() - started < 10


def test_job_cache_waits_for_a_locked_database_instead_of_dropping_the_result(tmp_path):
    """A job writes its result while another process holds SQLite's write lock (CI under load)."""
    import sqlite3
    import threading
    import time

    import diskcache

    from topoact.app.background import JobCache

    def hold_lock(seconds):
        con = sqlite3.connect(str(tmp_path / "cache.db"), isolation_level=None)
        con.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        con.execute("COMMIT")

    plain = diskcache.Cache(str(tmp_path), timeout=0.05)
    locked = threading.Event()
    holder = threading.Thread(target=hold_lock, args=(0.5,))
    holder.start()
    locked.wait()
    with pytest.raises(diskcache.Timeout):  # what diskcache does by default: the result is lost
        plain.set("result", 1)
    holder.join()

    cache = JobCache(str(tmp_path), timeout=0.05)
    locked.clear()
    holder = threading.Thread(target=hold_lock, args=(0.5,))
    holder.start()
    locked.wait()
    cache.set("result", {"figure": 2})
    holder.join()
    assert cache.get("result") == {"figure": 2}


#: the server side of the app's job cache, run in a subprocess so that a deadlocked job cannot hang
#: pytest: request threads poll the cache (Dash's progress / result reads and its terminate_job
#: transaction) while jobs are forked, as when a button starts a job while others are running
FORK_NEXT_TO_POLLS = """
import sys, threading, time
import multiprocess
from topoact.app.background import JobCache, JobManager

manager = JobManager(JobCache(sys.argv[1]))
stop = threading.Event()

def poll(i):
    while not stop.is_set():
        manager.get_progress(f"poll{i}")
        manager.get_result(f"poll{i}", None)
        with manager.handle.transact():  # what terminate_job holds while it kills a process
            manager.handle.set(f"poll{i}-seen", time.time())

def job(set_progress, n):
    set_progress(["0", "starting"])
    return n * 2

job_fn = manager.make_job_fn(job, progress=True)
pollers = [threading.Thread(target=poll, args=(i,), daemon=True) for i in range(3)]
for thread in pollers:
    thread.start()
done = 0
for n in range(int(sys.argv[2])):
    key = f"job{n}"
    manager.call_job_fn(key, job_fn, [n], {})
    deadline = time.monotonic() + 20  # a job takes milliseconds; a deadlocked one never ends
    while manager.handle.get(key) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if manager.handle.get(key) != 2 * n:
        break
    done += 1
stop.set()
for process in multiprocess.active_children():
    process.kill()  # a deadlocked job; exiting would wait for it
print(done)
"""


def test_jobs_forked_while_the_server_polls_the_job_cache_write_their_results(tmp_path):
    """A fork taken while another thread is inside SQLite used to leave the job blocked on its
    first write for ever (the spatial-relevance hang of the Layers tab)."""
    import os
    import subprocess
    import sys

    import multiprocess

    import topoact

    checkout = os.path.dirname(os.path.dirname(topoact.__file__))  # the subprocess imports this topoact
    out = subprocess.run([sys.executable, "-c", FORK_NEXT_TO_POLLS, str(tmp_path), "30"], capture_output=True,
                         text=True, timeout=600, cwd=checkout)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["30"], f"jobs with their result before the first that had none: {out.stdout}"
    assert multiprocess.get_start_method() == "fork"  # what the test is about: jobs are forked


def test_stopping_a_job_another_thread_already_reaped_is_not_an_error(tmp_path, monkeypatch):
    """``Process.start`` reaps finished jobs; a poll stopping that job must still deliver its result."""
    import psutil

    import multiprocess

    from topoact.app.background import JobCache, JobManager

    manager = JobManager(JobCache(str(tmp_path)))
    job = multiprocess.Process(target=int)
    job.start()
    job.join()  # finished and reaped: what the poll's psutil calls meet after another thread reaped it
    monkeypatch.setattr(psutil, "pid_exists", lambda pid: True)  # ... after pid_exists had still seen it
    manager.handle.set("result", {"figure": 1})
    assert manager.get_result("result", job.pid) == {"figure": 1}
    assert manager.handle.get("result") is None


# -- recompute, sweep, upload (the functions behind the callbacks) --------------------------------
def test_form_becomes_the_librarys_config_and_errors_name_the_field():
    from topoact.app.panels.graph_form import FORM_FIELDS, form_config, form_values
    from topoact.mapper import MapperConfig

    ok = form_config("l2", "balanced", "6", "0.25", "single", "auto", "cosine", "2")
    assert ok == MapperConfig(lens="l2", cover="balanced", n_intervals=6, overlap=0.25, clusterer="single",
                              metric="cosine")
    assert form_config("l2", "uniform", 5, 0.3, "dbscan", "0.7", "euclidean", 3).eps == 0.7
    for bad, message in [((0, 0.3, "auto"), "n_intervals"), ((5, 1.2, "auto"), "overlap"),
                         ((5, 0.3, "-1"), "eps"), ((5, 0.3, "big"), "eps"), (("x", 0.3, "auto"), "intervals")]:
        with pytest.raises(ValueError, match=message):
            form_config("l2", "uniform", bad[0], bad[1], "dbscan", bad[2], "euclidean", 3)
    values = dict(zip(FORM_FIELDS, form_values(ok.to_dict())))
    assert values["n_intervals"] == 6 and values["cover"] == "balanced" and values["eps"] == "auto"


def test_recompute_job_reports_one_monotone_bar_and_leaves_the_default(fresh_run_dir):
    """The job body behind "Compute graph": saves the graph, never moves the default, bar 0 -> 1."""
    from topoact.app.context import AppContext
    from topoact.app.panels.graph_form import build_graphs, form_config, graph_request
    from topoact.store import open_run

    ctx = AppContext(open_run(fresh_run_dir))
    default = ctx.run.default_graph_key(GRAPH_LAYER)
    config = form_config(**dict(FIXTURE_FORM, n_intervals=7, cover="balanced"))
    done, request = graph_request(ctx, [GRAPH_LAYER], config, GRAPH_LAYER)
    assert done is None and request["layers"] == [GRAPH_LAYER]
    reports = []
    result = build_graphs(ctx.run, request, progress=lambda d, t, m="": reports.append((d / t, m)))
    assert result["key"] == config.key in ctx.run.graph_keys(GRAPH_LAYER)
    fractions = [f for f, _ in reports]
    assert fractions and all(0.0 <= f <= 1.0 for f in fractions)
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert sum(f < 1.0 for f in fractions) >= 3  # the bar moves through the cover, not 0 -> 100%
    assert ctx.graph(GRAPH_LAYER, result["key"])["params"]["n_intervals"] == 7
    assert ctx.run.default_graph_key(GRAPH_LAYER) == default  # exploring never moves the default
    assert graph_request(ctx, [GRAPH_LAYER], config, GRAPH_LAYER) == (
        {"layer": GRAPH_LAYER, "key": config.key, "select": GRAPH_LAYER}, None)  # saved: shown at once


def test_sweep_job_summaries_open_as_graphs(fresh_run_dir):
    from topoact.app.context import AppContext
    from topoact.app.panels.graph_form import build_graphs, form_config, graph_request
    from topoact.app.panels.sweep import parse_list, run_sweep, sweep_grid
    from topoact.mapper import MapperConfig
    from topoact.store import open_run

    ctx = AppContext(open_run(fresh_run_dir))
    grid = sweep_grid(form_config(**FIXTURE_FORM), parse_list("3, 5", int, "intervals"),
                      parse_list("0.2,0.4", float, "overlap"))
    reports = []
    summaries = run_sweep(ctx.run, GRAPH_LAYER, grid, progress=lambda d, t, m="": reports.append(d / t))
    assert reports == sorted(reports) and reports[-1] == pytest.approx(1.0)
    json.dumps(summaries)  # what goes back to the browser
    assert len(summaries) == 4
    assert {(s["n_intervals"], s["overlap"]) for s in summaries} == {(3, 0.2), (3, 0.4), (5, 0.2), (5, 0.4)}
    chosen = summaries[-1]
    _, request = graph_request(ctx, [GRAPH_LAYER], MapperConfig.from_dict(chosen["params"]), GRAPH_LAYER)
    graph = ctx.graph(GRAPH_LAYER, build_graphs(ctx.run, request)["key"])
    assert len(graph["nodes"]) == chosen["nodes"] and len(graph["edges"]) == chosen["edges"]
    with pytest.raises(ValueError, match="intervals"):
        parse_list("3, x", int, "intervals")
    with pytest.raises(ValueError, match="dbscan"):
        sweep_grid(form_config(**dict(FIXTURE_FORM, clusterer="single")), [3], [0.2])


def test_uploaded_image_is_located_in_every_layer_with_a_graph(ctx):
    from topoact.app.panels.upload import locate_image
    from topoact.data.bounded_decode import UploadRejected, decode_data_url

    buffer = io.BytesIO()
    ctx.run.image(3).save(buffer, format="PNG")
    contents = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    image = decode_data_url(contents)
    key = _key(ctx)
    reports = []
    result = locate_image(ctx, image, {"layer": GRAPH_LAYER, "key": key}, lambda d, t, m="": reports.append(d / t))
    assert reports == sorted(reports) and 0 <= reports[0] and reports[-1] < 1
    assert result["prediction"] == ctx.run.predictions[3]
    entry = result["layers"][GRAPH_LAYER]
    assert entry["graph_key"] == key
    # row 3 itself is in the run: its own image must land in (at least) a node that holds row 3
    holding = {n["id"] for n in ctx.graph(GRAPH_LAYER, key)["nodes"] if 3 in n["members"]}
    if holding:
        assert set(entry["nodes"]) & holding
    with pytest.raises(UploadRejected, match="cannot|not"):
        decode_data_url("data:image/png;base64," + base64.b64encode(b"not an image").decode())


def test_upload_uses_the_runs_reduction(ctx):
    """The uploaded image's vectors equal the stored row's when the same image is uploaded."""
    from topoact.collection import activations_for_images

    acts, _ = activations_for_images(ctx.run.model(), [ctx.run.image(5)], list(LAYERS),
                                     ctx.reduction, ctx.run.meta["seed"])
    assert ctx.reduction == "gap"
    for layer in LAYERS:
        np.testing.assert_allclose(acts[layer][0], ctx.run.activations(layer)[5], rtol=1e-4, atol=1e-5)


def test_exports_json_and_kepler_html(ctx):
    """JSON = the graph file stored in the run; HTML = KeplerMapper's page with this graph's cover."""
    import re

    from topoact.app.panels.graph import export_payload
    from topoact.fileio import safe_name

    key = _key(ctx)
    selection = {"layer": GRAPH_LAYER, "key": key}
    stored = json.loads((ctx.run.path / "graphs" / safe_name(GRAPH_LAYER) / f"{key}.json").read_text())
    payload = export_payload(ctx, selection, "json")
    exported = json.loads(payload["content"])
    assert payload["filename"] == f"{GRAPH_LAYER}-{key}.json"
    assert exported["nodes"] == stored["nodes"] and exported["edges"] == stored["edges"]
    assert len(exported["nodes"]) > 1

    html = export_payload(ctx, selection, "html")["content"]
    assert "topoact Mapper graph" in html
    # KeplerMapper's own summary object in the page: the fixture graph's cover, nodes and edges
    summary = json.loads(re.search(r"const summary = (\{.*?\});\n", html).group(1))
    assert summary["custom_meta"]["n_cubes"] == FIXTURE_FORM["n_intervals"] == 4
    assert summary["custom_meta"]["perc_overlap"] == FIXTURE_FORM["overlap"]
    assert summary["n_nodes"] == len(stored["nodes"]) and summary["n_edges"] == len(stored["edges"])
    assert summary["n_total"] == sum(len(n["members"]) for n in stored["nodes"])


def test_neighbouring_layers():
    from topoact.app.panels.compare import neighbours

    layers = ["a", "b", "c", "d", "e"]
    assert neighbours(layers, "a") == ["a", "b", "c"]
    assert neighbours(layers, "c") == ["b", "c", "d"]
    assert neighbours(layers, "e") == ["c", "d", "e"]
    assert neighbours(["a", "b"], "b") == ["a", "b"]


def test_exemplars_are_paged(ctx):
    from topoact.app.panels.node import PAGE, exemplar_images
    from topoact.app.routes import THUMB_SIDE, encode_image

    key = _key(ctx)
    node = max(ctx.graph(GRAPH_LAYER, key)["nodes"], key=lambda n: n["size"])
    from topoact.app.validate import node_ref
    store = node_ref(ctx, {"layer": GRAPH_LAYER, "graph_key": key, "node": node["id"]})
    rows = ctx.exemplar_rows(GRAPH_LAYER, key, node["id"])
    first, total = exemplar_images(ctx, store, 2)
    assert total == node["size"] and len(first) == 2
    # each image travels inside the response: the route's thumbnail of that row, as a data URL
    for img, row in zip(first, rows[:2]):
        head, data = img["src"].split(",", 1)
        assert head == "data:image/jpeg;base64"
        assert base64.b64decode(data) == encode_image(ctx.run, int(row), THUMB_SIDE, "JPEG")
    page, _ = exemplar_images(ctx, store, PAGE)
    assert len(page) == min(PAGE, node["size"])
