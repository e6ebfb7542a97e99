"""Latency of the app in real headless Chromium: first paint, node clicks (idle and while a
persistence job runs) and recolouring a large graph.

    python benchmarks/app_latency.py [--run DIR] [--layer layer3] [--clicks 15]
                                     [--landmarks 2500] [--bootstrap 30] [--app-root DIR ...]
                                     [--loads 5] [--recolour-key KEY] [--recolours 10] [--no-busy]

**First paint**: the page is loaded ``--loads`` times; measured inside the page from navigation
start: the first contentful paint (the shell) and the moment the Mapper graph's node markers are
drawn. **Recolour**: the graph ``--recolour-key`` of ``--layer`` (default: the shown one) is
opened and the colouring switched between "purity" and the majority class ``--recolours``
times, timed in the page from the click on the dropdown option until the drawn markers carry
the new colours.

The app is started as its own process (``python app.py RUN``), exactly as a user starts it
(``--app-root`` runs another checkout's app, e.g. a worktree of an older commit; given twice
or more, the checkouts are measured one after the other in this run and a last table gives each
median as a ratio to the first checkout's: a before / after pair under the same machine load).
Chromium loads it; each measurement selects one Mapper node the way a mouse click does (the
plotly ``plotly_click`` event on the graph, with that point's customdata) and times, inside the
page (``performance.now()``), until the node panel shows that node and every exemplar image of
the first page has loaded (inline ``data:`` URLs since the click's one response carries them;
older checkouts load them from the thumbnail route). Nodes are visited in turn so no cache
hides the image work.

Two phases: **idle** (no job), then **busy**: the persistence tab's "Compute" is pressed with a
large landmark count and bootstrap, then the node clicks are repeated; a click counts as busy
only if the job's result file had not yet appeared in the run when the click finished (the
table says how many qualified). Reported: median / p90 / max per phase, the busy/idle ratio of
the medians, and ``os.getloadavg()`` before and after (the machine is shared; read ratios). A job
still running after the busy clicks is cancelled before the recolourings are measured.
Beside each click and recolouring latency: the page's main-thread time for it (Chrome's
``TaskDuration``, read once the page is quiet again), the browser work the app causes, which a
loaded machine distorts less than the wall-clock latency.

Without ``--run``, a run of the CIFAR-10 ResNet-20 on the 5,000 images of ``../shared/data``
(layers ``layer2,layer3``) is collected once into the user's cache directory and reused, with one
Mapper graph of ``--layer`` built by the library.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TOPOACT_SHARED_DATA", REPO.parent / "shared" / "data"))

CLICK_JS = """
const [curve, nodeIndex, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const gd = document.querySelector('#topoact-graph .js-plotly-plot');
const trace = gd.data[curve];
const custom = trace.customdata[nodeIndex];
const node = Array.isArray(custom) ? custom[0] : custom;
const title = document.getElementById('topoact-node-title');
const box = document.getElementById('topoact-exemplars');
const before = Array.from(box.querySelectorAll('img')).map(i => i.src).join(' ');
const t0 = performance.now();
function shown() {
  if (!title.textContent.startsWith('Node ' + node + ' ')) return false;
  const imgs = box.querySelectorAll('img');
  if (!imgs.length || Array.from(imgs).map(i => i.src).join(' ') === before) return false;
  for (const img of imgs) if (!img.complete || img.naturalWidth === 0) return false;
  return true;
}
function poll() {
  if (shown()) { done({ms: performance.now() - t0, node: node}); return; }
  if (performance.now() - t0 > 30000) { done({ms: null, node: node}); return; }
  requestAnimationFrame(poll);
}
gd.emit('plotly_click', {points: [{curveNumber: curve, pointNumber: nodeIndex, data: trace}]});
requestAnimationFrame(poll);
"""


FIRST_PAINT_JS = """
const done = arguments[arguments.length - 1];
function drawn() {
  const gd = document.querySelector('#topoact-graph .js-plotly-plot');
  if (!gd || !gd._fullData) return false;
  return gd._fullData.some(t => t.customdata && t._length > 0 && t.mode === 'markers');
}
function poll() {
  if (drawn()) {
    const fcp = performance.getEntriesByName('first-contentful-paint');
    done({graph: performance.now(), fcp: fcp.length ? fcp[0].startTime : null});
    return;
  }
  if (performance.now() > 60000) { done({graph: null, fcp: null}); return; }
  requestAnimationFrame(poll);
}
poll();
"""

#: the time of the next pointer press anywhere in the page (capture phase: before the app reacts)
ARM_CLICK_JS = """
window.__t0 = null;
document.addEventListener('pointerdown', () => { if (window.__t0 === null) window.__t0 = performance.now(); },
                          {capture: true, once: true});
"""

#: waits until the node markers carry numeric (purity) or string (class) colours, then one frame
RECOLOURED_JS = """
const [numeric, done] = [arguments[0], arguments[arguments.length - 1]];
const gd = document.querySelector('#topoact-graph .js-plotly-plot');
function ok() {
  for (const t of gd._fullData || []) {
    if (!(t.customdata && t._length > 0 && t.mode === 'markers') || t.customdata[0][0] === -1) continue;
    const c = t.marker.color, first = (Array.isArray(c) || ArrayBuffer.isView(c)) ? c[0] : c;
    return numeric ? typeof first === 'number' : typeof first === 'string';
  }
  return false;
}
function poll() {
  if (window.__t0 !== null && ok()) {
    requestAnimationFrame(() => done(performance.now() - window.__t0));
    return;
  }
  if (performance.now() - (window.__t0 || performance.now()) > 120000) { done(null); return; }
  requestAnimationFrame(poll);
}
poll();
"""


#: counts the page's Dash requests in flight (installed before any page script runs)
COUNT_REQUESTS_JS = """
window.__dashInFlight = 0; window.__dashQuietSince = performance.now();
const originalFetch = window.fetch;
window.fetch = function(url) {
  if (!String(url).includes('_dash-update-component')) return originalFetch.apply(this, arguments);
  window.__dashInFlight++;
  const settle = () => { if (--window.__dashInFlight === 0) window.__dashQuietSince = performance.now(); };
  return originalFetch.apply(this, arguments).then(r => { settle(); return r; }, e => { settle(); throw e; });
};
"""


def settle(driver, quiet_ms: float = 1000.0, timeout: float = 120.0) -> None:
    """Wait until the page has had no Dash request in flight for ``quiet_ms`` (its load callbacks
    are done), so the clicks measure a settled page in every checkout."""
    wait(lambda: driver.execute_script(
        "return window.__dashInFlight === 0 && performance.now() - window.__dashQuietSince > arguments[0]",
        quiet_ms), timeout, what="the page to settle")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_run(layer: str) -> Path:
    """The cached ResNet-20 / CIFAR-10 run (collected on first use) with one graph of ``layer``."""
    import topoact
    from topoact.cachedir import cache_dir
    from topoact.mapper import run_graphs

    images, weights = SHARED / "cifar10" / "images", SHARED / "cifar10-resnet" / "resnet20.th"
    if not images.is_dir():
        sys.exit(f"no run given and no shared data at {SHARED}: pass --run DIR")
    out = cache_dir("bench", "app-latency-r20", create=True)
    if not (out / "meta.json").exists() or topoact.open_run(out).meta.get("status") != "complete":
        print(f"collecting ResNet-20 activations into {out} (once) …", flush=True)
        topoact.collect("cifar-resnet20", str(images), ["layer2", "layer3"], out=out, weights=str(weights),
                        progress=False)
    run = topoact.open_run(out)
    if not run.graph_keys(layer):
        run_graphs.build_run_graph(run, layer, run_graphs.mapper_params(intervals=12, overlap=0.3))
    return out


def start_app(run_dir: Path, port: int, root: Path = REPO) -> subprocess.Popen:
    log = tempfile.NamedTemporaryFile(prefix="topoact-app-latency-", suffix=".log", delete=False)
    env = dict(os.environ, PYTHONPATH=str(root))
    # own session: stopping the app stops its job processes too (os.killpg)
    proc = subprocess.Popen([sys.executable, str(root / "app.py"), str(run_dir), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=root, env=env, start_new_session=True)
    proc.log_path = log.name  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"the app exited; log: {log.name}")
            time.sleep(0.2)
    proc.kill()
    sys.exit(f"the app did not start; log: {log.name}")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000", "--no-first-run"):
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options)
    driver.set_script_timeout(180)
    return driver


def wait(predicate, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def markers(driver) -> list[list[int]]:
    """``[curve, point]`` of every node marker of the drawn graph (all traces)."""
    return driver.execute_script("""
        const gd = document.querySelector('#topoact-graph .js-plotly-plot');
        if (!gd || !gd.data) return [];
        const out = [];
        gd.data.forEach((t, k) => {
            if (t.mode === 'markers' && t.customdata)  // node markers, not the small-components glyph
                t.customdata.forEach((c, i) => { if ((Array.isArray(c) ? c[0] : c) !== -1) out.push([k, i]); });
        });
        return out;""") or []


def n_markers(driver) -> int:
    return len(markers(driver))


def main_thread_ms(driver) -> float:
    """Milliseconds the page's main thread has spent in tasks so far (Chrome's ``TaskDuration``:
    script, style, layout, paint of the page, whatever else runs on the machine)."""
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return 1000.0 * next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def browser_work(driver, before: float) -> float:
    """Main-thread milliseconds since ``before`` (:func:`main_thread_ms`), read once the page has had
    no Dash request in flight for 300 ms: ALL the browser work of one interaction, including the
    callbacks that finish after the measured moment. Less sensitive to the machine's load than the
    wall-clock latency (a busy machine slows the tasks' wall time more than their CPU time)."""
    settle(driver, quiet_ms=300)
    return main_thread_ms(driver) - before


def click_series(driver, n_clicks: int, start: int, points: list, busy_until=None,
                 work: bool = True) -> list[tuple[float, bool, float]]:
    """``(latency ms, busy, main-thread ms)`` of ``n_clicks`` node clicks (main-thread ms only with
    ``work``: a page polling a running job is never quiet, NaN then)."""
    out = []
    for k in range(n_clicks):
        curve, index = points[(start + k) % len(points)]
        before = main_thread_ms(driver)
        res = driver.execute_async_script(CLICK_JS, curve, index)
        if res["ms"] is None:
            raise RuntimeError(f"node {res['node']} was not shown within 30 s")
        busy = busy_until() if busy_until else False
        out.append((res["ms"], busy, browser_work(driver, before) if work else float("nan")))
    return out


def select_tab(driver, label: str) -> None:
    from selenium.webdriver.common.by import By

    for tab in driver.find_elements(By.CSS_SELECTOR, "#topoact-tabs .tab"):
        if tab.text.strip() == label:
            tab.click()
            return
    raise RuntimeError(f"no tab {label!r}")


def set_input(driver, element_id: str, value) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = wait(lambda: driver.find_elements(By.ID, element_id), what=element_id)[0]
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(value))


def stats(values: list[float]) -> tuple[float, float, float]:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return statistics.median(values), p90, values[-1]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--layer", default="layer3")
    parser.add_argument("--clicks", type=int, default=15)
    parser.add_argument("--landmarks", type=int, default=2500)
    parser.add_argument("--bootstrap", type=int, default=30)
    parser.add_argument("--app-root", type=Path, action="append", default=None,
                        help="checkout whose app.py is measured (repeat: several checkouts, one after the "
                             "other in this run, then a table of their ratios to the first)")
    parser.add_argument("--loads", type=int, default=5, help="page loads for the first-paint figure")
    parser.add_argument("--recolour-key", default=None, help="graph of --layer to recolour (default: the shown one)")
    parser.add_argument("--recolours", type=int, default=10)
    parser.add_argument("--no-busy", action="store_true", help="skip the phase with a persistence job")
    args = parser.parse_args(argv)

    run_dir = args.run or default_run(args.layer)
    roots = [root.resolve() for root in (args.app_root or [REPO])]
    load_before = os.getloadavg()
    results = []
    for root in roots:
        rows = measure(root, args, run_dir)
        results.append((root, rows))
    load_after = os.getloadavg()
    if len(results) > 1:
        first_root, first = results[0]
        reference = {name: stats(values)[0] for name, _, values, _ in first}
        print(f"\nmedians (ms) and ratio to {first_root}:")
        print(f"{'measure':<44}{'goal':>7}" + "".join(f"{root.name[:16]:>18}" for root, _ in results))
        for name, _, values, goal in first:
            cells = []
            for _, rows in results:
                match = [v for n, _, v, _ in rows if n.split(" (")[0] == name.split(" (")[0]]
                if not match:
                    cells.append(f"{'-':>18}")
                    continue
                med = stats(match[0])[0]
                cells.append(f"{med:>9.0f} ({med / reference[name]:.2f}x)")
            print(f"{name:<44}{'<' + str(goal):>7}" + "".join(f"{c:>18}" for c in cells))
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


def measure(root: Path, args, run_dir: Path) -> list[tuple[str, str, list[float], int]]:
    """Every measurement of the app of checkout ``root``; prints its table and returns its rows
    ``(measure, kind, values in ms, goal in ms)``."""
    persistence_dir = run_dir / "persistence"
    before_files = set(persistence_dir.rglob("*.json")) if persistence_dir.exists() else set()
    load_before = os.getloadavg()
    port = free_port()
    app = start_app(run_dir, port, root)
    driver = browser()
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_REQUESTS_JS})
    driver.execute_cdp_cmd("Performance.enable", {})
    try:
        from selenium.webdriver.common.by import By

        paints = []
        for k in range(args.loads + 1):   # the first load warms the server (imports, first graph read)
            driver.get(f"http://127.0.0.1:{port}/")
            result = driver.execute_async_script(FIRST_PAINT_JS)
            if k and result["graph"] is not None:
                paints.append((result["fcp"], result["graph"]))
        wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#topoact-layer-dropdown"), what="the page")
        # the graph of --layer
        if args.layer not in driver.find_element(By.ID, "topoact-layer-dropdown").text:
            driver.find_element(By.CSS_SELECTOR, "#topoact-layer-dropdown").click()
            driver.find_element(By.XPATH, f"//div[contains(@class,'option') and text()='{args.layer}']").click()
        wait(lambda: n_markers(driver) > 0 and args.layer in driver.find_element(By.ID, "topoact-node-count").text
             or n_markers(driver) > 0, what="the graph")
        settle(driver)
        points = markers(driver)
        n_nodes = len(points)
        click_series(driver, 2, 0, points)  # warm-up (first image loads, JIT)
        idle = click_series(driver, args.clicks, 2, points)

        busy_all, busy_cpu, job_seconds, still_running = [], 0.0, 0.0, False
        if not args.no_busy:
            busy_all, busy_cpu, job_seconds, still_running = busy_phase(driver, app, args, persistence_dir,
                                                                        before_files)
        busy = [ms for ms, running, _ in busy_all if running]
        recolour_ms, recolour_cpu, recolour_nodes = recolour_phase(driver, args, run_dir)
    finally:
        driver.quit()
        os.killpg(app.pid, signal.SIGTERM)
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(app.pid, signal.SIGKILL)
    load_after = os.getloadavg()
    # leave the run as it was: the benchmark's persistence result is not worth keeping
    for path in (set(persistence_dir.rglob("*.json")) if persistence_dir.exists() else set()) - before_files:
        path.unlink()

    idle_ms = [ms for ms, _, _ in idle]
    from topoact.store import open_run

    n_images = open_run(run_dir).n
    print(f"\napp {root}, run {run_dir} ({n_images:,} images) layer {args.layer}, {os.cpu_count()} CPUs")
    rows = []
    if paints:
        fcp = [p for p, _ in paints if p is not None]
        if fcp:
            rows.append(("first contentful paint", "load", fcp, 2000))
        rows.append(("Mapper graph drawn", "load", [g for _, g in paints], 2000))
    if idle_ms:
        rows.append((f"node click -> exemplars ({n_nodes} nodes), idle", "click", idle_ms, 200))
    if busy:
        rows.append(("  ... during persistence job", "click", busy, 200))
    if idle_ms:
        rows.append(("  ... browser main-thread ms per click", "cpu", [c for _, _, c in idle], 200))
    if recolour_ms:
        rows.append((f"recolour ({recolour_nodes} nodes)", "recolour", recolour_ms, 300))
        rows.append(("  ... browser main-thread ms per recolour", "cpu", recolour_cpu, 300))
    print(f"{'measure':<44}{'n':>4}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}{'under goal':>12}")
    for name, _, values, goal in rows:
        med, p90, top = stats(values)
        under = sum(v < goal for v in values)
        print(f"{name:<44}{len(values):>4}{med:>11.0f}{p90:>9.0f}{top:>9.0f}{under:>6}/{len(values):<2}<{goal}")
    if not args.no_busy:
        print(f"persistence job: {args.landmarks} landmarks, {args.bootstrap} bootstrap, "
              f"{'still running after' if still_running else 'finished within'} {job_seconds:.1f} s; "
              f"{len(busy)} of {len(busy_all)} busy clicks finished while it ran; the app and its job "
              f"processes used {busy_cpu:.2f} CPU cores meanwhile")
    if busy:
        print(f"ratio busy/idle (medians): {stats(busy)[0] / stats(idle_ms)[0]:.2f}")
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}", flush=True)
    return rows


def busy_phase(driver, app, args, persistence_dir: Path, before_files: set):
    """Node clicks while the persistence tab's job runs: (clicks, CPU cores used, job s, running)."""
    from selenium.webdriver.common.by import By

    select_tab(driver, "Persistence")
    set_input(driver, "topoact-persistence-landmarks", args.landmarks)
    set_input(driver, "topoact-persistence-bootstrap", args.bootstrap)
    driver.find_element(By.ID, "topoact-persistence-compute").click()
    job_started = time.monotonic()
    time.sleep(1.0)  # let the job get going (benchmark only; tests never sleep)
    select_tab(driver, "Mapper graph")
    wait(lambda: n_markers(driver) > 0, what="the graph after the tab switch")

    def tree_cpu() -> float:
        """CPU seconds used so far by the app and every process it started (the job)."""
        import psutil

        root = psutil.Process(app.pid)
        total = 0.0
        for proc in [root] + root.children(recursive=True):
            try:
                t = proc.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def job_running() -> bool:
        now = set(persistence_dir.rglob("*.json")) if persistence_dir.exists() else set()
        return not (now - before_files)

    cpu0, wall0 = tree_cpu(), time.monotonic()
    points = markers(driver)
    busy_all = click_series(driver, args.clicks, 2 + args.clicks, points, busy_until=job_running, work=False)
    busy_cpu = (tree_cpu() - cpu0) / (time.monotonic() - wall0)
    job_seconds, still_running = time.monotonic() - job_started, job_running()
    if still_running:  # stop it: the recolourings after this phase are measured on a quiet machine
        select_tab(driver, "Persistence")
        wait(lambda: driver.find_elements(By.ID, "topoact-persistence-cancel"), what="the job's cancel button")
        driver.find_element(By.ID, "topoact-persistence-cancel").click()
        select_tab(driver, "Mapper graph")
        wait(lambda: n_markers(driver) > 0, what="the graph after the tab switch")
        settle(driver)
    return busy_all, busy_cpu, job_seconds, still_running


def choose_option(driver, dropdown_id: str, text: str, arm: bool = False) -> None:
    """Open a dcc.Dropdown and click the option whose text contains ``text``; with ``arm`` the
    page's clock (``ARM_CLICK_JS``) starts at the click on the option, not at opening the list."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, dropdown_id).click()
    options = wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"), what="options")
    for option in options:
        if text in option.text:
            if arm:
                driver.execute_script(ARM_CLICK_JS)
            option.click()
            return
    raise RuntimeError(f"no option {text!r} in {dropdown_id}: {[o.text for o in options]}")


def recolour_phase(driver, args, run_dir: Path) -> tuple[list[float], list[float], int]:
    """Colouring switched purity <-> majority class on the graph ``--recolour-key``: latency and
    browser main-thread ms of each, and the number of node markers."""
    from selenium.webdriver.common.by import By

    from topoact.store import open_run

    if args.recolours <= 0:
        return [], [], 0
    if args.recolour_key:
        n = open_run(run_dir).graph(args.layer, args.recolour_key).n_nodes
        # graph names spell counts with thousands separators since the named-graph dropdown
        driver.find_element(By.ID, "topoact-graph-key-dropdown").click()
        names = [o.text for o in wait(lambda: driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"),
                                      what="options")]
        driver.find_element(By.ID, "topoact-graph-key-dropdown").click()
        choose_option(driver, "topoact-graph-key-dropdown",
                      f"{n:,} nodes" if any(f"{n:,} nodes" in name for name in names) else f"{n} nodes")
        wait(lambda: n_markers(driver) >= min(n, 50) and f"{n} nodes" in
             driver.find_element("id", "topoact-node-count").text, what="the recolour graph")
    n_nodes = n_markers(driver)
    out, cpu = [], []
    settle(driver, quiet_ms=300)
    for k in range(args.recolours + 1):
        numeric = k % 2 == 0
        before = main_thread_ms(driver)  # includes opening the dropdown (the same in every checkout)
        choose_option(driver, "topoact-color-dropdown", "purity" if numeric else "majority class", arm=True)
        ms = driver.execute_async_script(RECOLOURED_JS, numeric)
        if ms is None:
            raise RuntimeError("the graph was not recoloured within 120 s")
        work = browser_work(driver, before)
        if k:  # the first one warms the colour values' cache
            out.append(ms)
            cpu.append(work)
    return out, cpu, n_nodes


if __name__ == "__main__":
    main()
