"""Benchmark H0+H1 persistence: topoact vs ripser, giotto-ph (+ edge collapse), gudhi Rips.

    python benchmarks/persistence.py [--sizes 1000,2000,5000,20000] [--data relu|circle]
                                     [--run DIR --layer L] [--cap-seconds 300] [--cap-gb 6]
                                     [--topoact-only-above 5000] [--check-subset 5000]
                                     [--big-methods giotto]

Each (method, size) runs in its own subprocess (peak RSS = the worker's VmHWM, plus psutil
polling that kills it at the time / memory cap: "did not finish"). Methods: ``topoact``
(default: one exact pass reducing only the cone-free columns, :mod:`topoact.topology.h1_reduce`;
without the dense matrix gudhi's ripser on a growing sparse threshold),
``topoact-gudhi-ripser`` (the previous default: gudhi's ripser on the certified threshold),
``topoact-gudhi`` (the gudhi SimplexTree engine, ``engine='gudhi'``), ``ripser`` (dense, default
settings), ``giotto`` (giotto-ph 0.2.4, multicore ripser, 2 threads = the cores here, default
settings), ``giotto-collapse`` (the same with ``collapse_edges=True``), ``topoact-ripser``
(topoact's certified threshold reduced by ripser.py, the previous default), ``topoact-giotto``
(topoact's certified threshold reduced by giotto-ph) and ``gudhi``
(plain RipsComplex to dimension 2, capped). Sizes above
``--topoact-only-above`` (default 5000) run topoact only (and the peers named by
``--big-methods``, e.g. ``giotto`` as the reference where ripser takes too long), plus a row
``n[:5000]`` comparing topoact with ripser on the first ``--check-subset`` points of the same
data. Data: ``relu`` (default) = relu(16-component Gaussian mixture in 32-D @ random 32 x 512
projection - 0.3), as benchmarks/mapper.py generates; ``circle`` = relu(z W + b) with a circle + 6 Gaussian latent dims and sparse noise
(hard: its H1 bars die late); or max-min landmarks of a real run's layer. The bottleneck columns
compare each diagram with ripser's (giotto-ph's when ripser is not run); topoact's rows end with
its stage timings in brackets (``edges`` = the dense distance matrix, ``h0_mst`` = the MST,
``h1_columns`` = the certificate's cone-free search, ``h1_reduce`` = the reduction).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

WORKER = r"""
import json, sys, time, numpy as np
method, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
X = np.load(path)
if method.startswith("topoact"):
    from topoact.topology.rips import sparse_rips
elif method == "ripser":
    from ripser import ripser
elif method.startswith("giotto"):
    from gph import ripser_parallel
else:
    import gudhi
t = time.perf_counter()
if method.startswith("topoact"):
    from topoact.topology.rips import sparse_rips
    engine = {"topoact-gudhi": "gudhi", "topoact-giotto": "giotto", "topoact-ripser": "ripser",
              "topoact-gudhi-ripser": "gudhi-ripser"}.get(method, "auto")
    r = sparse_rips(X, max_dim=1, engine=engine)
    dg, extra = r.diagrams, {"exact": r.exact, "truncated": r.n_truncated, "T": r.threshold,
                             "edges": r.n_edges, "timings": r.timings}
elif method == "ripser":
    from ripser import ripser
    dg, extra = ripser(X.astype(np.float64), maxdim=1)["dgms"], {}
elif method.startswith("giotto"):
    dg = ripser_parallel(X.astype(np.float64), maxdim=1, n_threads=2,
                         collapse_edges=method == "giotto-collapse")["dgms"]
    extra = {}
else:
    import gudhi
    st = gudhi.RipsComplex(points=X.astype(np.float64)).create_simplex_tree(max_dimension=2)
    st.compute_persistence(homology_coeff_field=2, persistence_dim_max=False)
    dg = [st.persistence_intervals_in_dimension(d) for d in (0, 1)]
    extra = {}
el = time.perf_counter() - t
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
extra["hwm_gb"] = hwm / 2**20
np.save(out, np.array([np.asarray(d, float).reshape(-1, 2) for d in dg[:2]], dtype=object),
        allow_pickle=True)
print(json.dumps({"seconds": el, **extra}))
"""


def relu_data(n, d=512, seed=0, latent=8):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    z = np.c_[2 * np.cos(t), 2 * np.sin(t), 0.3 * rng.normal(size=(n, latent - 2))]
    W = rng.normal(size=(latent, d)) / np.sqrt(latent)
    b = rng.normal(size=d) * 0.5
    noise = np.maximum(rng.normal(size=(n, d)) - 1.5, 0) * 0.3
    return (np.maximum(z @ W + b, 0) + noise).astype(np.float32)


def measure(method, X, cap_s, cap_gb, tmp, label=None):
    import psutil
    label = label or str(len(X))                 # one file per data set (a subset of the same
    path = os.path.join(tmp, f"X{label}.npy")     # size is not the same data)
    if not os.path.exists(path):
        np.save(path, X)
    out = os.path.join(tmp, f"{method}{label}.npy")
    proc = subprocess.Popen([sys.executable, "-c", WORKER, method, path, out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps, peak, t0, status = psutil.Process(proc.pid), 0, time.time(), "ok"
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.Error:
            pass
        if time.time() - t0 > cap_s or peak > cap_gb * 2**30:
            status = f"did not finish (> {cap_s:.0f} s)" if time.time() - t0 > cap_s else \
                f"did not finish (> {cap_gb:g} GB)"
            proc.kill()
            proc.wait()
            return {"status": status, "peak_gb": peak / 2**30, "load": os.getloadavg()[0]}
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    if proc.returncode:
        return {"status": "error: " + stderr.strip().splitlines()[-1], "peak_gb": peak / 2**30,
                "load": os.getloadavg()[0]}
    info = json.loads(stdout.strip().splitlines()[-1])
    info.update(status="ok", load=os.getloadavg()[0], peak_gb=max(peak / 2**30, info.pop("hwm_gb", 0)),
                dgms=np.load(out, allow_pickle=True))
    return info


def report(label, res):
    """Print one table row per method run on one data set (bottleneck distances to ripser's
    diagrams, or giotto-ph's without ripser; topoact's stage timings in brackets)."""
    import gudhi
    refs = [m for m in ("ripser", "giotto") if res.get(m, {}).get("dgms") is not None]
    ref = res[refs[0]]["dgms"] if refs else None   # ripser's, else giotto-ph's (too slow a
    for m, r in res.items():                       # ripser at 20,000 points)
        b0 = b1 = "-"
        if ref is not None and r.get("dgms") is not None:
            b0 = f"{gudhi.bottleneck_distance(ref[0], r['dgms'][0]):.1e}"
            b1 = f"{gudhi.bottleneck_distance(ref[1], r['dgms'][1]):.1e}"
        notes = ""
        if m.startswith("topoact") and "exact" in r:
            notes = (f"exact={r['exact']} truncated={r['truncated']} T={r['T']:.4g} "
                     f"edges={r['edges']}")
        for peer in ("ripser", "giotto", "giotto-collapse"):
            if m.startswith("topoact") and "seconds" in r and "seconds" in res.get(peer, {}):
                notes += f" vs {peer} {res[peer]['seconds'] / r['seconds']:.2f}x"
        if refs and refs[0] != "ripser" and b0 != "-":
            notes += f" (bottleneck to {refs[0]})"
        notes += f" load {r.get('load', float('nan')):.1f}"
        if r.get("timings"):
            notes += " [" + " ".join(f"{k} {v:.2f}" for k, v in r["timings"].items()) + "]"
        t = f"{r['seconds']:.1f}" if "seconds" in r else "-"
        print(f"{label:>11} {m:<13} {r['status']:<24} {t:>8} {r['peak_gb']:>8.2f} "
              f"{b0:>10} {b1:>10}  {notes}", flush=True)


def main(argv=None):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from mapper import synthetic
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,2000,5000,20000")
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--data", choices=("relu", "circle"), default="relu")
    p.add_argument("--methods", default="topoact,ripser,giotto,giotto-collapse")
    p.add_argument("--topoact-only-above", type=int, default=5000)
    p.add_argument("--check-subset", type=int, default=5000,
                   help="for sizes run by topoact only, also compare topoact with ripser on "
                        "the first N points of the same data (0: no check)")
    p.add_argument("--big-methods", default="",
                   help="peers also run above --topoact-only-above, e.g. giotto")
    p.add_argument("--run"), p.add_argument("--layer")
    p.add_argument("--cap-seconds", type=float, default=300)
    p.add_argument("--cap-gb", type=float, default=6)
    a = p.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",")]
    if a.run:
        if not a.layer:
            p.error("--run needs --layer")
        from topoact.store import open_run
        from topoact.topology.landmarks import maxmin_landmarks
        A = np.asarray(open_run(a.run).activations(a.layer), np.float32)
        src = f"run {a.run} layer {a.layer} ({A.shape[0]} x {A.shape[1]}, max-min landmarks)"
    else:
        src = f"synthetic {a.data}, {a.dim}-D"
    print(f"data: {src}; cores: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'n':>11} {'method':<13} {'status':<24} {'time s':>8} {'peak GB':>8} "
          f"{'bottl. H0':>10} {'bottl. H1':>10}  notes")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            if a.run:
                if n > A.shape[0]:
                    print(f"{n:>11} skipped: the layer has only {A.shape[0]} rows")
                    continue
                X = A[maxmin_landmarks(A, n)]
            else:
                X = synthetic(n, a.dim) if a.data == "relu" else relu_data(n, a.dim)
            methods = a.methods.split(",")
            rows = [(f"{n}", X, methods)]
            if n > a.topoact_only_above:
                big = [m for m in methods if m.startswith("topoact")] + \
                    [m for m in a.big_methods.split(",") if m]
                rows = [(f"{n}", X, big)]
                if 0 < a.check_subset < n:              # exactness where ripser still finishes
                    rows.append((f"{n}[:{a.check_subset}]", X[:a.check_subset],
                                 [m for m in methods if m.startswith("topoact") or m == "ripser"]))
            for label, Xs, ms in rows:
                report(label, {m: measure(m, Xs, a.cap_seconds, a.cap_gb, tmp, label)
                               for m in ms})
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
