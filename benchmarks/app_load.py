"""Loopback load test of the app: node panel, exemplars and images under 1 and 20 clients,
with and without a background job running. One command, one table.

    python benchmarks/app_load.py [--run RUN_DIR] [--clients 20] [--requests 600] [--server flask|waitress]

- The server is ``topoact serve RUN`` in its own process on 127.0.0.1 (a free port); the clients
  are threads of this process posting to Dash's ``/_dash-update-component`` exactly as the
  browser does (the callback signatures are read from the app's ``/_dash-dependencies``, so the
  test follows the app) and fetching ``/topoact/image/<row>.png``.
- Each request is one of: the node panel (statistics + label mix) of a random node, the
  exemplar grid of that node, the hover card of that node (top exemplar and label mix), a
  member image (``/topoact/image/<row>.png``) or a member thumbnail (``/topoact/thumb/<row>.jpg``,
  what the exemplar grid and the hover card load). Request count and time are bounded; traffic goes
  to 127.0.0.1 only.
- "with a job" runs a persistence computation on the same run in a second process for the whole
  phase (the CPU load a background job puts on the machine; the app's own jobs run in worker
  processes the same way).
- Reported: p50 / p95 latency per request kind, errors, and the server's RSS before and after
  (memory must stay flat). Goal (issue 11): node callback p95 < 150 ms with a job, 0 errors.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc] + proc.children(recursive=True)) / 2**20


class Client:
    """One keep-alive HTTP connection to the app."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=payload, headers=headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError, socket.timeout):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def _callback_for(dependencies: list, input_id: str, output_id: str) -> dict:
    for dep in dependencies:
        outputs = dep["output"]
        if output_id in outputs and any(i["id"] == input_id for i in dep["inputs"]):
            return dep
    raise SystemExit(f"no callback from {input_id} to {output_id} in the app; ids changed?")


def _outputs_of(spec: str) -> list[dict]:
    """'..a.children...b.figure..' or 'a.children' -> [{'id': 'a', 'property': 'children'}, ...]."""
    parts = spec.strip(".").split("...") if spec.startswith("..") else [spec]
    out = []
    for part in parts:
        ident, prop = part.rsplit(".", 1)
        out.append({"id": ident, "property": prop})
    return out


def _body(dep: dict, values: dict) -> dict:
    outputs = _outputs_of(dep["output"])
    inputs = [{"id": i["id"], "property": i["property"], "value": values.get(i["id"])} for i in dep["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": values.get(s["id"])} for s in dep["state"]]
    return {"output": dep["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": inputs, "state": state, "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}


def run_phase(port: int, work: list, clients: int) -> dict:
    """Send ``work`` (list of (kind, method, path, body)) through ``clients`` threads."""
    queue = list(work)
    lock = threading.Lock()
    times: dict[str, list] = {}
    errors: list = []

    def worker():
        client = Client(port)
        while True:
            with lock:
                if not queue:
                    return
                kind, method, path, body = queue.pop()
            t0 = time.perf_counter()
            try:
                status, data = client.request(method, path, body)
                ok = status == 200 and (body is None or b'"response"' in data or b"multi" in data)
                if not ok:
                    errors.append((kind, status, data[:200]))
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append((kind, "exception", repr(exc)))
            with lock:
                times.setdefault(kind, []).append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    return {"times": times, "errors": errors}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="run directory (default: the demo run, prepared if missing)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=600, help="requests per phase")
    parser.add_argument("--server", default="flask", choices=["flask", "waitress"])
    args = parser.parse_args(argv)

    import topoact
    from topoact.app import ids

    if args.run:
        run = topoact.open_run(args.run)
    else:
        from topoact.demo import prepare_demo

        run = prepare_demo()
    layer = run.layers[-1]
    graph = run.graph(layer)
    nodes = [n for n in graph.to_dict()["nodes"]]
    port = _free_port()
    cmd = [sys.executable, "-m", "topoact", "serve", str(run.path), "--port", str(port)]
    if args.server != "flask":
        cmd += ["--server", args.server]
    # cwd: ``-m topoact`` is this checkout's package (not whichever one is installed)
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    try:
        probe = Client(port)
        for _ in range(600):
            try:
                if probe.request("GET", "/")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("server did not start: " + server.stderr.read().decode()[-2000:])
        deps = json.loads(probe.request("GET", "/_dash-dependencies")[1])
        node_cb = _callback_for(deps, ids.NODE, ids.NODE_STATS)
        exemplar_cb = _callback_for(deps, ids.NODE, ids.EXEMPLARS)
        from topoact.app.panels.graph import TOOLTIP
        from topoact.figures.graph import NODE_TRACE

        hover_cb = _callback_for(deps, ids.GRAPH, TOOLTIP)
        rng = random.Random(0)

        def work(n):
            items = []
            for _ in range(n):
                node = rng.choice(nodes)
                values = {ids.NODE: {"layer": layer, "graph_key": graph.key, "node": node["id"]},
                          ids.GRAPH_KEY: {"layer": layer, "key": graph.key}, ids.LAYER: layer,
                          ids.EXEMPLAR_LIMIT: 24}
                values[ids.GRAPH] = {"points": [{"curveNumber": NODE_TRACE, "customdata": [node["id"]],
                                                 "bbox": {"x0": 10, "x1": 20, "y0": 10, "y1": 20}}]}
                kind = rng.choice(["node", "exemplars", "hover", "image", "thumbnail"])
                if kind == "node":
                    items.append((kind, "POST", "/_dash-update-component", _body(node_cb, values)))
                elif kind == "exemplars":
                    items.append((kind, "POST", "/_dash-update-component", _body(exemplar_cb, values)))
                elif kind == "hover":
                    items.append((kind, "POST", "/_dash-update-component", _body(hover_cb, values)))
                else:
                    row = rng.choice(node["members"])
                    items.append((kind, "GET", f"/topoact/image/{row}.png" if kind == "image"
                                  else f"/topoact/thumb/{row}.jpg", None))
            return items

        rows = []
        rss0 = _rss_mb(server.pid)
        job = None
        for label, clients, with_job in (("1 client", 1, False), (f"{args.clients} clients", args.clients, False),
                                         (f"{args.clients} clients + job", args.clients, True)):
            if with_job:
                job = subprocess.Popen([sys.executable, "-c", (
                    "import sys, numpy as np; from topoact.topology import compute_persistence;"
                    "import topoact; X = np.asarray(topoact.open_run(sys.argv[1]).activations(sys.argv[2]));"
                    "[compute_persistence(X, n_landmarks=800, n_bootstrap=20, seed=s) for s in range(50)]"),
                    str(run.path), layer], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(2.0)
            n = max(args.requests // 6, 30) if clients == 1 else args.requests
            result = run_phase(port, work(n), clients)
            if job is not None:
                still_running = job.poll() is None
                job.kill()
                job.wait()
                job = None
                if not still_running:
                    print("warning: the background job ended before the phase did", file=sys.stderr)
            for kind, values in sorted(result["times"].items()):
                ms = np.asarray(values) * 1000
                rows.append((label, kind, len(ms), np.percentile(ms, 50), np.percentile(ms, 95)))
            rows.append((label, "errors", len(result["errors"]), float("nan"), float("nan")))
            for err in result["errors"][:3]:
                print("error:", err, file=sys.stderr)
        rss1 = _rss_mb(server.pid)
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"\nApp load test: run {run.path} ({run.n} images), layer {layer}, {len(nodes)} nodes, "
          f"server={args.server}, load average {os.getloadavg()[0]:.1f}")
    print(f"| phase | request | count | p50 ms | p95 ms |\n|---|---|---|---|---|")
    for label, kind, count, p50, p95 in rows:
        if kind == "errors":
            print(f"| {label} | errors | {count} | | |")
        else:
            print(f"| {label} | {kind} | {count} | {p50:.1f} | {p95:.1f} |")
    print(f"server RSS (with its children): {rss0:.0f} MB before, {rss1:.0f} MB after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
