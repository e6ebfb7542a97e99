"""The embedding view's scatter of 100,000 images in real headless Chromium: first draw and re-highlight.

    python benchmarks/embedding_view.py [--run DIR] [--layer block3] [--repeats 5] [--work DIR]

The embedding panel (``topoact.app.panels.embedding``) is mounted in a small Dash page with the
shared stores it reads (as in tests/app/test_embedding_panel.py) on a run of 100,000 images, and
Chromium (selenium) loads it. Timed inside the page (``performance.now()``, until the scatter
holds every point, or every highlighted point, and two animation frames have passed):

* **page load**: from navigation start to the first scatter drawn (Dash boot, the server's
  PCA figure, transfer, WebGL draw).
* **draw (compact)**: a button asks the server for the panel's figure
  (:func:`topoact.figures.embedding.embedding_figure`: typed float32 arrays, a hover template,
  one trace per class), into a blank plot; **reference**: the same points as a naive plotly
  figure (plain lists, one hover string per point, one trace with a colour per point).
* **highlight (patch)**: a button's server callback writes a selection of 10 % of the rows to
  ``ids.SELECTION`` with source "graph" (what the graph panel writes); the panel answers in the
  browser with a ``Patch`` of the traces' ``selectedpoints``; **reference**: the button's server
  callback sends the whole compact figure again with the same highlight (a full redraw). Both
  take one server round trip.

Reported: median and max ms per measurement, the ratios against the references, the JSON size of
both figures and the server's time to build them, and ``os.getloadavg()`` before and after (the
machine is shared: read the ratios).

Without ``--run``, the ``demo`` model's activations of ``shapes:100000`` (layers block2, block3)
are collected once into the user's cache directory (``topoact.cachedir``) and reused. A given
``--run`` is copied into ``--work`` first (the panel caches its PCA coordinates in the run).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import topoact  # noqa: E402
from topoact.app import ids  # noqa: E402
from topoact.app.panels import embedding as panel  # noqa: E402
from app_latency import browser  # noqa: E402 - the same headless Chromium (WebGL through SwiftShader)

BLANK, DRAW, NAIVE, HIGHLIGHT, FULL, CLEAR = (f"bench-{name}" for name in
                                              ("blank", "draw", "naive", "highlight", "full", "clear"))
GD = f"document.querySelector('#{panel.SCATTER} .js-plotly-plot')"

#: resolves with ms since t0 once the scatter satisfies ``ready(gd)`` and two frames were painted
WAIT_JS = """
const [t0Name, readyBody, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const ready = new Function('gd', readyBody);
const t0 = t0Name === 'navigation' ? 0 : window[t0Name];
function poll() {
  const gd = %s;
  if (gd && gd._fullData && ready(gd)) {
    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
    return;
  }
  if (performance.now() - t0 > 55000) { done(null); return; }
  requestAnimationFrame(poll);
}
poll();
""" % GD


def default_run() -> Path:
    """The demo model on shapes:100000 (block2, block3), collected once into the cache directory."""
    from topoact.cachedir import cache_dir

    out = cache_dir("bench", "embedding-shapes100k", create=True)
    if (out / "meta.json").exists():
        try:
            topoact.open_run(out)
            return out
        except Exception:  # noqa: BLE001 - unfinished: collect again below
            pass
    print(f"collecting demo / shapes:100000 into {out} (once) …", flush=True)
    topoact.collect("demo", "shapes:100000", ["block2", "block3"], out=out, progress=True, num_workers=0,
                    batch_size=256, chunk_size=8192)
    return out


def naive_figure(coords: np.ndarray, labels: np.ndarray, names: list[str]) -> dict:
    """The reference: one trace, plain lists, a colour and a hover string per point."""
    from topoact.figures.graph import class_color

    text = [f"{names[int(k)]}<br>image row {i}" for i, k in enumerate(labels)]
    return {"data": [{"type": "scattergl", "mode": "markers", "x": coords[:, 0].tolist(), "y": coords[:, 1].tolist(),
                      "text": text, "hoverinfo": "text",
                      "marker": {"color": [class_color(int(k)) for k in labels], "size": 3}}],
            "layout": {"height": panel.SCATTER_HEIGHT, "dragmode": "lasso", "xaxis": {"visible": False},
                       "yaxis": {"visible": False}}}


def bench_app(run_dir: Path, layer: str, rows: list[int]):
    """The panel in a page with the shared stores and the benchmark's buttons; (app, ctx, coords)."""
    import dash
    from dash import Input, Output, dcc, html

    from topoact.app.background import make_manager
    from topoact.app.context import AppContext
    from topoact.app.routes import register_routes
    from topoact.app.selection import class_groups, make_selection
    from topoact.figures.embedding import embedding_figure
    from topoact.mapper.embedding import layer_embedding

    run = topoact.open_run(run_dir)
    ctx = AppContext(run)
    coords = layer_embedding(run, layer, "pca")  # cached in the run before the page asks
    groups = class_groups(np.asarray(run.labels))
    app = dash.Dash(__name__, background_callback_manager=make_manager())
    app.layout = html.Div([
        dcc.Store(id=ids.LAYER, data=layer), dcc.Store(id=ids.NODE, data=None), dcc.Store(id=ids.SELECTION, data=None),
        html.Div([html.Button(name, id=name) for name in (BLANK, DRAW, NAIVE, HIGHLIGHT, FULL, CLEAR)]),
        html.Div(panel.layout(ctx), style={"width": "520px"}),
    ])
    register_routes(app.server, run)
    panel.register(app, ctx)

    def tagged(fig: dict, tag: str) -> dict:
        fig["layout"]["meta"] = tag
        return fig

    @app.callback(Output(panel.SCATTER, "figure", allow_duplicate=True), Input(BLANK, "n_clicks"),
                  prevent_initial_call=True)
    def blank(n):
        return {"data": [], "layout": {"meta": f"blank-{n}"}}

    @app.callback(Output(panel.SCATTER, "figure", allow_duplicate=True), Input(DRAW, "n_clicks"),
                  prevent_initial_call=True)
    def draw(n):
        return tagged(embedding_figure(coords, groups, run.label_names, height=panel.SCATTER_HEIGHT), f"draw-{n}")

    @app.callback(Output(panel.SCATTER, "figure", allow_duplicate=True), Input(NAIVE, "n_clicks"),
                  prevent_initial_call=True)
    def naive(n):
        return tagged(naive_figure(coords, np.asarray(run.labels), run.label_names), f"naive-{n}")

    @app.callback(Output(panel.SCATTER, "figure", allow_duplicate=True), Input(FULL, "n_clicks"),
                  prevent_initial_call=True)
    def full(n):
        return tagged(embedding_figure(coords, groups, run.label_names, selected=np.asarray(rows),
                                       height=panel.SCATTER_HEIGHT), f"full-{n}")

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True), Input(HIGHLIGHT, "n_clicks"),
                  prevent_initial_call=True)
    def highlight(_):
        return make_selection(layer, rows, "graph")

    @app.callback(Output(ids.SELECTION, "data", allow_duplicate=True), Input(CLEAR, "n_clicks"),
                  prevent_initial_call=True)
    def clear(_):
        return None

    return app, ctx, coords


def serve(app) -> tuple[str, object]:
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/", server


def timed_click(driver, button: str, ready_js: str) -> float:
    driver.execute_script(f"window.__t0 = performance.now(); document.getElementById('{button}').click();")
    ms = driver.execute_async_script(WAIT_JS, "__t0", ready_js)
    if ms is None:
        raise TimeoutError(f"{button}: the scatter never got ready")
    return float(ms)


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):9.0f} {max(values):9.0f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="a run of ~100,000 images (copied into --work first)")
    ap.add_argument("--layer", default="block3")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", type=Path, default=None, help="where a given --run is copied")
    args = ap.parse_args(argv)

    load_before = os.getloadavg()
    if args.run:
        work = Path(args.work or tempfile.mkdtemp(prefix="topoact-bench-embedding-")) / "run"
        if not work.exists():
            shutil.copytree(args.run, work, ignore=shutil.ignore_patterns("embeddings", "graphs"))
        run_dir = work
    else:
        run_dir = default_run()
    run = topoact.open_run(run_dir)
    n = run.n
    rows = np.sort(np.random.default_rng(0).choice(n, size=n // 10, replace=False)).tolist()
    app, ctx, coords = bench_app(run_dir, args.layer, rows)

    # server side: build + JSON of both figures
    from topoact.app.selection import class_groups
    from topoact.figures.embedding import embedding_figure

    groups = class_groups(np.asarray(run.labels))
    t0 = time.perf_counter()
    compact_json = json.dumps(embedding_figure(coords, groups, run.label_names))
    compact_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive_json = json.dumps(naive_figure(coords, np.asarray(run.labels), run.label_names))
    naive_s = time.perf_counter() - t0

    # the browser builds this patch for a selection; the server sends the same for a clicked node
    patch_json = json.dumps(panel.highlight_patch(groups, np.asarray(rows)).to_plotly_json())

    url, server = serve(app)
    driver = browser()
    total = "return gd._fullData.reduce((s, t) => s + t._length, 0) === %d" % n
    selected = ("return gd._fullData.reduce((s, t) => s + ((t.selectedpoints && t.selectedpoints.length) || 0), 0)"
                " === %d" % len(rows))
    unselected = "return gd._fullData.every(t => !t.selectedpoints)"
    results: dict[str, list[float]] = {k: [] for k in ("load", "draw", "naive", "patch", "full")}
    try:
        webgl = None
        for _ in range(args.repeats):
            driver.get(url)
            ms = driver.execute_async_script(WAIT_JS, "navigation", total)
            if ms is None:
                raise TimeoutError("the first scatter never got drawn")
            results["load"].append(float(ms))
            if webgl is None:
                webgl = driver.execute_script("return !!document.createElement('canvas').getContext('webgl')")
            for kind, button in (("draw", DRAW), ("naive", NAIVE)):
                timed_click(driver, BLANK, "return gd._fullData.length === 0")
                results[kind].append(timed_click(driver, button, f"return gd.layout.meta && "
                                                 f"gd.layout.meta.startsWith('{kind}-') && ({total.replace('return ', '')})"))
            timed_click(driver, DRAW, f"return gd.layout.meta && gd.layout.meta.startsWith('draw-')")
            results["patch"].append(timed_click(driver, HIGHLIGHT, selected))
            timed_click(driver, CLEAR, unselected)
            results["full"].append(timed_click(driver, FULL, f"return gd.layout.meta && "
                                               f"gd.layout.meta.startsWith('full-') && ({selected.replace('return ', '')})"))
    finally:
        driver.quit()
        server.shutdown()
    load_after = os.getloadavg()

    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\nembedding view, {n:,} points of layer {args.layer} ({run_dir}); WebGL available: {webgl}; "
          f"{args.repeats} repeats")
    print(f"{'measurement':<44} {'median ms':>9} {'max ms':>9}")
    print(f"{'page load to first scatter':<44} {summary(results['load'])}")
    print(f"{'draw, compact figure (panel)':<44} {summary(results['draw'])}")
    print(f"{'draw, naive figure (reference)':<44} {summary(results['naive'])}")
    print(f"{'highlight 10% (selectedpoints patch)':<44} {summary(results['patch'])}")
    print(f"{'highlight 10%, full redraw (reference)':<44} {summary(results['full'])}")
    print(f"\nratios: draw compact / naive = {med['draw'] / med['naive']:.2f}; "
          f"highlight patch / full redraw = {med['patch'] / med['full']:.2f}")
    print(f"figure JSON: compact {len(compact_json) / 2**20:.2f} MB (built in {compact_s * 1000:.0f} ms), "
          f"naive {len(naive_json) / 2**20:.2f} MB (built in {naive_s * 1000:.0f} ms): "
          f"ratio {len(compact_json) / len(naive_json):.2f}")
    print(f"highlight of {len(rows):,} rows: the patch is {len(patch_json) / 2**10:.0f} KB of JSON, the full "
          f"figure {len(compact_json) / 2**10:.0f} KB (ratio {len(patch_json) / len(compact_json):.3f}); the patch "
          "path also refreshes the selection summary and its image grid, the reference does not")
    print(f"load average before {tuple(round(x, 2) for x in load_before)}, "
          f"after {tuple(round(x, 2) for x in load_after)} (2 cores, shared)")


if __name__ == "__main__":
    main()
