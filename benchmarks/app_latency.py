"""Node-click latency of the app in real headless Chromium, idle and while a persistence job runs.

    python benchmarks/app_latency.py [--run DIR] [--layer layer3] [--clicks 15]
                                     [--landmarks 2500] [--bootstrap 30] [--app-root DIR]

The app is started as its own process (``python app.py RUN``), exactly as a user starts it
(``--app-root`` runs another checkout's app, e.g. an export of an older commit, for a before /
after pair measured under the same machine load).
Chromium loads it; each measurement selects one Mapper node the way a mouse click does (the
plotly ``plotly_click`` event on the graph, with that point's customdata) and times, inside the
page (``performance.now()``), until the node panel shows that node and every exemplar image of
the first page has loaded from ``/topoact/image/<row>.png``. Nodes are visited in turn so the
browser cache does not hide the image route.

Two phases: **idle** (no job), then **busy**: the persistence tab's "Compute" is pressed with a
large landmark count and bootstrap, then the node clicks are repeated; a click counts as busy
only if the job's result file had not yet appeared in the run when the click finished (the
table says how many qualified). Reported: median / p90 / max per phase, the busy/idle ratio of
the medians, and ``os.getloadavg()`` before and after (the machine is shared; read ratios).

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
    driver.set_script_timeout(60)
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
            if (t.mode === 'markers' && t.customdata) t.customdata.forEach((_, i) => out.push([k, i]));
        });
        return out;""") or []


def n_markers(driver) -> int:
    return len(markers(driver))


def click_series(driver, n_clicks: int, start: int, points: list, busy_until=None) -> list[tuple[float, bool]]:
    out = []
    for k in range(n_clicks):
        curve, index = points[(start + k) % len(points)]
        res = driver.execute_async_script(CLICK_JS, curve, index)
        if res["ms"] is None:
            raise RuntimeError(f"node {res['node']} was not shown within 30 s")
        out.append((res["ms"], busy_until() if busy_until else False))
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
    parser.add_argument("--app-root", type=Path, default=REPO, help="checkout whose app.py is measured")
    args = parser.parse_args(argv)

    run_dir = args.run or default_run(args.layer)
    persistence_dir = run_dir / "persistence"
    before_files = set(persistence_dir.rglob("*.json")) if persistence_dir.exists() else set()
    load_before = os.getloadavg()
    port = free_port()
    app = start_app(run_dir, port, args.app_root.resolve())
    driver = browser()
    try:
        from selenium.webdriver.common.by import By

        driver.get(f"http://127.0.0.1:{port}/")
        wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#topoact-layer-dropdown"), what="the page")
        # the graph of --layer
        if args.layer not in driver.find_element(By.ID, "topoact-layer-dropdown").text:
            driver.find_element(By.CSS_SELECTOR, "#topoact-layer-dropdown").click()
            driver.find_element(By.XPATH, f"//div[contains(@class,'option') and text()='{args.layer}']").click()
        wait(lambda: n_markers(driver) > 0 and args.layer in driver.find_element(By.ID, "topoact-node-count").text
             or n_markers(driver) > 0, what="the graph")
        points = markers(driver)
        n_nodes = len(points)
        click_series(driver, 2, 0, points)  # warm-up (first image loads, JIT)
        idle = click_series(driver, args.clicks, 2, points)

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
            procs = [root] + root.children(recursive=True)
            total = 0.0
            for proc in procs:
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
        busy_all = click_series(driver, args.clicks, 2 + args.clicks, points, busy_until=job_running)
        busy_cpu = (tree_cpu() - cpu0) / (time.monotonic() - wall0)
        busy = [ms for ms, running in busy_all if running]
        job_seconds = time.monotonic() - job_started
        still_running = job_running()
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

    idle_ms = [ms for ms, _ in idle]
    rows = [("idle", idle_ms)]
    if busy:
        rows.append(("during persistence job", busy))
    print(f"\nnode click -> exemplars shown, app {args.app_root}, run {run_dir} layer {args.layer} "
          f"({n_nodes} nodes), {os.cpu_count()} CPUs")
    print(f"persistence job: {args.landmarks} landmarks, {args.bootstrap} bootstrap, "
          f"{'still running after' if still_running else 'finished within'} {job_seconds:.1f} s; "
          f"{len(busy)} of {len(busy_all)} busy clicks finished while it ran; the app and its job "
          f"processes used {busy_cpu:.2f} CPU cores meanwhile")
    print(f"{'phase':<24}{'clicks':>7}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}{'< 300 ms':>10}")
    for name, values in rows:
        med, p90, top = stats(values)
        under = sum(v < 300 for v in values)
        print(f"{name:<24}{len(values):>7}{med:>11.0f}{p90:>9.0f}{top:>9.0f}{under:>6}/{len(values):<3}")
    if busy:
        print(f"ratio busy/idle (medians): {stats(busy)[0] / stats(idle_ms)[0]:.2f}")
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()
