"""Persistence panel: its callback logic (fast, no browser) and one real headless-Chromium test."""
from __future__ import annotations

import re
import shutil
import time

import numpy as np
import pytest

from app_fixtures import GRAPH_LAYER, small_run, small_run_dir  # noqa: F401 - fixtures

from topoact.app.panels import persistence as panel
from topoact.topology import compute_persistence
from topoact.topology.results import as_result_dict


# -- pure helpers ---------------------------------------------------------------------------------
def test_form_is_the_librarys_config_with_its_validation():
    from topoact.topology.config import PersistenceConfig

    config = panel.persistence_form("500", "cosine", 1, 10)
    assert config == PersistenceConfig(n_landmarks=500, metric="cosine", max_dim=1, n_bootstrap=10)
    assert config.alpha == PersistenceConfig().alpha  # what the form does not show: the library's defaults
    with pytest.raises(ValueError, match=r"n_landmarks must be in \[2"):
        panel.persistence_form(1, "euclidean", 1, 10)
    with pytest.raises(ValueError, match="metric"):
        panel.persistence_form(100, "manhattan", 1, 10)
    with pytest.raises(ValueError, match=r"max_dim must be in \[0, 2\]"):
        panel.persistence_form(100, "euclidean", 3, 10)
    with pytest.raises(ValueError, match="n_bootstrap"):
        panel.persistence_form(100, "euclidean", 1, -1)
    with pytest.raises(ValueError, match="landmarks must be a whole number"):
        panel.persistence_form(None, "euclidean", 1, 10)


def test_bad_values_get_a_message_in_words_next_to_their_field():
    errors = panel.form_errors(1, "euclidean", 1, -1)
    assert set(errors) == {panel.LANDMARKS, panel.BOOTSTRAP}
    assert errors[panel.LANDMARKS] == "Landmarks must be a whole number, at least 2 (got 1)."
    assert "at least 0" in errors[panel.BOOTSTRAP]
    errors = panel.form_errors(None, "manhattan", 3, 2.5)
    assert errors[panel.LANDMARKS] == "Landmarks: enter a value."
    assert "euclidean or cosine" in errors[panel.METRIC]
    assert "from 0 to 2" in errors[panel.MAX_DIM]
    assert errors[panel.BOOTSTRAP] == "Bootstrap resamples must be a whole number (got 2.5)."
    assert panel.form_errors("500", "cosine", 1, 10) == {}


def test_origin_text_never_says_cache_for_a_fresh_compute(small_run_dir, tmp_path):
    from topoact.store import open_run
    from topoact.topology import layer_persistence

    assert panel.origin_text({"layer": "fc", "key": "k", "computed": True, "seconds": 3.21}) == "computed in 3.2 s"
    shutil.copytree(small_run_dir, tmp_path / "run")
    run = open_run(tmp_path / "run")
    res = layer_persistence(run, "fc", panel.persistence_form(30, "euclidean", 1, 0))
    text = panel.origin_text({"layer": "fc", "key": res.key, "computed": False}, run)
    assert re.fullmatch(r"loaded from the run's cache \(computed \d{4}-\d\d-\d\d \d\d:\d\d\)", text)
    assert panel.origin_text(None) == ""
    assert panel.max_bars_value("all") is None and panel.max_bars_value(50) == 50
    assert panel.max_bars_value(None) == panel.DEFAULT_MAX_BARS


def test_bar_from_click():
    assert panel.bar_from_click({"points": [{"customdata": [1, 7], "x": 0.2}]}) == (1, 7)
    assert panel.bar_from_click({"points": [{"customdata": [1.0, 3.0]}]}) == (1, 3)  # diagram floats
    assert panel.bar_from_click({"points": [{"x": 0, "y": 1}]}) is None  # the band / diagonal
    assert panel.bar_from_click(None) is None


def _circle(n=160, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    return t, np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.05, size=(n, 2))


def test_significant_bar_click_gives_cycle_rows_and_the_nodes_holding_them():
    t, X = _circle()
    res = as_result_dict(compute_persistence(X, n_landmarks=120, n_bootstrap=10))
    h1 = res["diagrams"][1]
    sig = [b for b in res["bars"] if b["dim"] == 1 and b["significant"]]
    assert len(sig) == 1
    cycle = panel.cycle_for_bar(res, 1, sig[0]["index"])
    assert cycle is not None and len(cycle["rows"]) >= 8
    # a noise bar and H0 bars have no cycle
    noise = next(b for b in res["bars"] if b["dim"] == 1 and not b["significant"])
    assert panel.cycle_for_bar(res, 1, noise["index"]) is None
    assert panel.cycle_for_bar(res, 0, 0) is None
    assert panel.cycle_for_bar(res, 1, len(h1)) is None

    # a Mapper-like graph: 12 overlapping arcs of the circle, plus one node far from the cycle
    # rows (members = rows of X by angle); the cycle goes round, so it visits every arc
    arcs = [np.flatnonzero(np.abs(np.angle(np.exp(1j * (t - c)))) < 0.4) for c in np.linspace(0, 2 * np.pi, 12,
                                                                                           endpoint=False)]
    nodes = [{"id": 10 + k, "members": a.tolist()} for k, a in enumerate(arcs)]
    outside = sorted(set(range(len(X))) - set(cycle["rows"]))[:3]
    nodes.append({"id": 99, "members": outside})
    hit = panel.nodes_on_cycle({"nodes": nodes}, cycle["rows"])
    assert hit == [10 + k for k in range(12)]
    assert panel.nodes_on_cycle({"nodes": nodes}, []) == []
    # the summary lines name the significant count and the band
    text = dict(panel.summary_rows(res))
    assert text["H1"].startswith("1 significant of")
    assert "band 2c =" in text["H1"]


def _two_circles(n=150, seed=0):
    """Two clear unit circles (centres (0, 0) and (4, 0)) with a little noise."""
    rng = np.random.default_rng(seed)
    parts = []
    for radius, centre in ((1.0, 0.0), (1.0, 4.0)):
        t = rng.uniform(0, 2 * np.pi, n)
        parts.append(radius * np.c_[np.cos(t), np.sin(t)] + [centre, 0] + rng.normal(scale=0.04, size=(n, 2)))
    return np.r_[tuple(parts)]


def test_significance_is_stable_in_the_number_of_resamples():
    """The default band: 10, 20 and 40 resamples call the same bars significant (two loops, two
    groups), and the band moves little with B."""
    X = _two_circles()
    counts, bands = [], []
    for B in (10, 20, 40):
        res = as_result_dict(compute_persistence(X, n_landmarks=120, n_bootstrap=B))
        counts.append([res["summaries"][f"h{d}"]["n_significant"] for d in (0, 1)])
        bands.append(res["band"][1])
    assert counts == [[2, 2]] * 3
    assert max(bands) / min(bands) < 1.25


def test_band_quantile_is_not_the_maximum_of_the_draws():
    """The old rule (order statistic 'higher') is the maximum for B <= 20, so one far resample
    sets the band; the default normal fit moves in proportion."""
    from topoact.topology.bootstrap import band_quantile

    rng = np.random.default_rng(0)
    typical = rng.normal(0.25, 0.05, size=39)
    with_far = np.r_[typical[:19], 0.7]       # 20 draws, one far
    assert band_quantile(with_far, 0.05, "empirical") == 0.7
    normal = [float(band_quantile(v, 0.05)) for v in (typical[:10], with_far, np.r_[typical, 0.7])]
    assert all(0.3 < c < 0.55 for c in normal)
    assert band_quantile(np.array([0.2]), 0.05) == pytest.approx(0.2)  # one draw: itself
    with pytest.raises(ValueError, match="quantile must be one of"):
        band_quantile(typical, 0.05, "median")


def test_barcode_sorted_longest_first_shows_k_of_n_and_marks_significant_in_both_figures():
    from topoact.figures.persistence import COLORS, barcode_figure, diagram_figure, shown_text, sorted_bars

    res = as_result_dict(compute_persistence(_two_circles(), n_landmarks=120, n_bootstrap=10))
    h1 = sorted_bars(res, 1)
    lengths = [b["death"] - b["birth"] for b in h1]
    assert lengths == sorted(lengths, reverse=True) and len(h1) >= 3
    n = len(h1)
    assert shown_text(res, [1], 2) == f"showing the 2 longest of {n} H1 bars"
    assert shown_text(res, [0, 1], None) == f"showing all {len(sorted_bars(res, 0))} H0 bars; showing all {n} H1 bars"
    fig = barcode_figure(res, dims=[1], max_bars=2)
    assert f"showing the 2 longest of {n} H1 bars" in fig.layout.title.text
    assert {t.name: len(t.x) // 3 for t in fig.data} == {"H1 significant": 2}   # the two circles
    fig = barcode_figure(res, dims=[1], max_bars=None)
    assert {t.name: len(t.x) // 3 for t in fig.data} == {"H1 significant": 2, "H1 noise": n - 2}
    legend = {t.legendgrouptitle.text for t in fig.data}
    assert "significant (bootstrap, 95 %)" in legend
    sig_trace = next(t for t in fig.data if t.name == "H1 significant")
    assert sig_trace.line.color == COLORS[True]
    assert sorted(c[1] for c in sig_trace.customdata[::3]) == sorted(b["index"] for b in h1[:2])
    # the diagram: every point (coloured by significance) plus the significant ones again, in the legend
    dia = diagram_figure(res, dims=[1])
    every = next(t for t in dia.data if t.name == "H1")
    assert len(every.x) == n and list(every.marker.color).count(COLORS[True]) == 2
    marked = next(t for t in dia.data if t.name == "H1 significant")
    assert marked.legendgrouptitle.text == "significant (bootstrap, 95 %)"
    assert sorted(int(c[1]) for c in marked.customdata) == sorted(b["index"] for b in h1[:2])
    # without a bootstrap the legend says so; with none significant the entry stays, saying "none"
    plain = as_result_dict(compute_persistence(_two_circles(), n_landmarks=60, n_bootstrap=0))
    assert "no bootstrap" in barcode_figure(plain).data[0].legendgrouptitle.text
    with_significant = barcode_figure(res, dims=[1], max_bars=None)
    assert "none" not in {t.name for t in with_significant.data}
    none = next(t for t in barcode_figure(dict(res, bars=[dict(b, significant=False) for b in res["bars"]]),
                                          dims=[1]).data if t.name == "none")
    assert none.legendgrouptitle.text == "significant (bootstrap, 95 %)"


def test_graph_features_of_a_loop_graph():
    # a square 0-1-3-2-0 with lens values 0, 1, 1, 2 plus a branch 3-4 (lens 3): one loop
    # spanning lens [0, 2] (from the lowest to the highest vertex of the square)
    lens = [0.0, 1.0, 1.0, 2.0, 3.0]
    graph = {"nodes": [{"id": i, "mean_lens": v, "members": [i]} for i, v in enumerate(lens)],
             "edges": [{"source": a, "target": b} for a, b in [(0, 1), (1, 3), (3, 2), (2, 0), (3, 4)]]}
    rows = panel.graph_feature_rows(graph)
    loops = [r for r in rows if r["family"] == "loops"]
    assert len(loops) == 1
    assert (loops[0]["lens_min"], loops[0]["lens_max"]) == (pytest.approx(0.0), pytest.approx(2.0))
    assert rows[0]["family"] == "loops"  # loops listed first
    # a tree (path) has no loop
    path = {"nodes": graph["nodes"][:3], "edges": [{"source": 0, "target": 1}, {"source": 1, "target": 2}]}
    assert not [r for r in panel.graph_feature_rows(path) if r["family"] == "loops"]


def test_choose_cached_prefers_the_form_parameters(small_run_dir, tmp_path):
    from topoact.store import open_run
    from topoact.topology import layer_persistence

    shutil.copytree(small_run_dir, tmp_path / "run")
    run = open_run(tmp_path / "run")
    assert panel.choose_cached(run, "fc", None) is None
    a = panel.persistence_form(40, "euclidean", 1, 0)
    b = panel.persistence_form(30, "euclidean", 1, 0)
    ra = layer_persistence(run, "fc", a)
    time.sleep(0.05)  # distinct file times: "newest" below is well defined
    rb = layer_persistence(run, "fc", b)
    assert panel.choose_cached(run, "fc", a) == {"layer": "fc", "key": ra.key}
    assert panel.choose_cached(run, "fc", b) == {"layer": "fc", "key": rb.key}
    # unknown parameters: the newest result of the layer; other layers are not mixed in
    assert panel.choose_cached(run, "fc", panel.persistence_form(20, "cosine", 1, 0))["key"] == rb.key
    assert panel.choose_cached(run, "conv1", a) is None


# -- the real app in headless Chromium -------------------------------------------------------------
def _wait(predicate, timeout=20.0, message="condition"):
    """dash's ``until``, with an element that is not there yet (or stale) counting as not yet."""
    from dash.testing.wait import until

    def safe():
        try:
            return predicate()
        except Exception:  # noqa: BLE001 - element not there yet / stale
            return None

    return until(safe, timeout, msg=f"timed out waiting for {message}")


#: a click on point ``pointNumber`` of the first trace whose customdata is (dim, index) of an H1 bar,
#: delivered as plotly delivers a mouse click (the ``plotly_click`` event dcc.Graph listens to)
CLICK_H1_BAR_JS = """
const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
const curve = gd.data.findIndex(t => t.customdata && t.customdata.length && t.customdata[0][0] === 1);
gd.emit('plotly_click', {points: [{curveNumber: curve, pointNumber: 0, data: gd.data[curve]}]});
return gd.data[curve].customdata[0];
"""


@pytest.mark.browser
def test_persistence_tab_compute_shows_barcode_and_cycle(dash_duo, small_run_dir, tmp_path):
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By

    from topoact.app import create_app
    from topoact.app.help import error_id

    shutil.copytree(small_run_dir, tmp_path / "run")  # a fresh run: no persistence cached yet
    app = create_app(tmp_path / "run")
    dash_duo.start_server(app)
    tab = _wait(lambda: dash_duo.driver.find_element(
        By.XPATH, "//div[contains(@class, 'tab') and normalize-space()='Persistence']"), message="the tab")
    tab.click()
    dash_duo.wait_for_contains_text(f"#{panel.BARCODE}", "press Compute", timeout=10)

    def h1_summary():
        text = dash_duo.find_element(f"#{panel.SUMMARY}").text
        return re.search(r"H1\s+(\d+) significant of (\d+) bars", text)

    # 1. Compute with the defaults (500 landmarks -> all 150 rows, 20 bootstrap resamples)
    dash_duo.find_element(f"#{panel.COMPUTE}").click()
    match = _wait(h1_summary, timeout=30, message="the summary of the computed result")
    n_bars = int(match.group(2))
    assert n_bars > 0
    assert "band 2c = " in dash_duo.find_element(f"#{panel.SUMMARY}").text
    # one clickable midpoint marker per H1 bar is drawn (H1 is the default toggle)
    markers = _wait(lambda: (m := dash_duo.find_elements(f"#{panel.BARCODE} .scatterlayer .trace .points path"))
                    and len(m) == n_bars and m, message="one marker per bar")
    assert len(markers) == n_bars
    # honest status: a fresh compute says "computed in", never "cache"
    assert re.fullmatch(r"computed in \d+\.\d s", dash_duo.find_element(f"#{panel.ORIGIN}").text)
    assert "cache" not in dash_duo.find_element(f"#{panel.SUMMARY}").text
    assert re.search(r"Showing (all|the \d+ longest of) \d+ H1 bars", dash_duo.find_element(f"#{panel.SHOWN}").text)
    ctx = app.topoact_context
    res = ctx.run.results_dir("persistence")
    assert len(list(res.glob(f"{GRAPH_LAYER}-*.json"))) == 1  # cached in the run directory
    # the same request again: read from the run's cache, and it says so (with the date computed)
    dash_duo.find_element(f"#{panel.COMPUTE}").click()
    _wait(lambda: re.fullmatch(r"loaded from the run's cache \(computed \d{4}-\d\d-\d\d \d\d:\d\d\)",
                               dash_duo.find_element(f"#{panel.ORIGIN}").text), timeout=30,
          message="the cached status")
    assert "loaded from the run's cache" in dash_duo.find_element(f"#{panel.SUMMARY}").text
    # a bad value gets a message in words next to its field, and Compute refuses it
    field = dash_duo.find_element(f"#{panel.LANDMARKS}")
    field.clear()
    field.send_keys("1")
    _wait(lambda: "at least 2" in dash_duo.find_element(f"#{error_id(panel.LANDMARKS)}").text,
          message="the landmarks error line")
    field.clear()
    field.send_keys("500")
    _wait(lambda: dash_duo.find_element(f"#{error_id(panel.LANDMARKS)}").text == "", message="error cleared")

    # 2. without a band (bootstrap 0) the library explains the 5 longest H1 bars with cycles:
    #    click the longest one -> thumbnails of the cycle's rows and the Mapper nodes holding them
    field = dash_duo.find_element(f"#{panel.BOOTSTRAP}")
    field.clear()
    field.send_keys("0")
    dash_duo.find_element(f"#{panel.COMPUTE}").click()
    _wait(lambda: "none (no bootstrap)" in dash_duo.find_element(f"#{panel.SUMMARY}").text, timeout=30,
          message="the result without a band")
    # bars are drawn longest first: the first H1 point is the longest H1 bar (clicked on the figure
    # the summary came with: same callback, so no stale element of the previous figure)
    assert dash_duo.driver.execute_script(CLICK_H1_BAR_JS, panel.BARCODE)[0] == 1
    info = _wait(lambda: re.search(r"(\d+) of (\d+) Mapper nodes",
                                   dash_duo.find_element(f"#{panel.CYCLE_INFO}").text), timeout=15,
                 message="the cycle's Mapper nodes (cycle info: "
                 f"{dash_duo.find_element(f'#{panel.CYCLE_INFO}').text!r})")
    images = dash_duo.find_elements(f"#{panel.CYCLE_IMAGES} img")
    rows = [int(re.search(r"/topoact/image/(\d+)\.png$", img.get_attribute("src")).group(1)) for img in images]
    assert len(rows) >= 3
    # the server-side truth: the cycle of the longest H1 bar and the nodes containing its rows
    from topoact.topology.run_persistence import cached_persistence, load_persistence

    newest = cached_persistence(ctx.run, GRAPH_LAYER)[0]
    result = as_result_dict(load_persistence(ctx.run, GRAPH_LAYER, newest["key"]))
    longest = next(b for b in result["bars"] if b["dim"] == 1)
    cycle = panel.cycle_for_bar(result, 1, longest["index"])
    assert rows == cycle["rows"][:panel.MAX_THUMBS]
    graph = ctx.graph(GRAPH_LAYER, None)
    expected = panel.nodes_on_cycle(graph, cycle["rows"])
    assert int(info.group(1)) == len(expected) > 0
    assert int(info.group(2)) == len(graph["nodes"])
    # the panel's own Mapper figure rings exactly those nodes in red
    ringed = _wait(lambda: dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{panel.CYCLE_GRAPH} .js-plotly-plot');
        if (!gd || !gd._fullData) return null;
        let n = 0;
        for (const t of gd._fullData) {{
            if (t.mode !== 'markers') continue;
            const c = t.marker.line.color;
            for (let i = 0; i < t._length; i++) if ((Array.isArray(c) ? c[i] : c) === '#e00000') n++;
        }}
        return n;"""), message="ringed nodes")
    assert ringed == len(expected)

    # 3. extended persistence of the Mapper graph, and the layer-distance heat map (3 layers)
    assert re.search(r"\d+ loop\(s\)", dash_duo.find_element(f"#{panel.EXTENDED}").text)
    dash_duo.find_element(f"#{panel.DIST_BUTTON}").click()
    shape = _wait(lambda: dash_duo.driver.execute_script(f"""
        const gd = document.querySelector('#{panel.DIST_HEATMAP} .js-plotly-plot');
        if (!gd || !gd.data || !gd.data.length || !gd.data[0].z) return null;
        return [gd.data[0].z.length, gd.data[0].z[0].length, gd.data[0].z[1][1]];"""), timeout=30,
        message="the layer-distance heat map")
    assert shape == [3, 3, 0]
