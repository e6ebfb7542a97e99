"""Benchmark: KeplerMapper 2.1.0 vs topoact's Mapper engine (time, peak memory, exactness).

    python benchmarks/mapper.py --sizes 10000,100000 --metrics euclidean,cosine
    python benchmarks/mapper.py --run RUN_DIR --layer LAYER          # real activations
    python benchmarks/mapper.py --sizes 1000000 --engines topoact    # 1M x 512 timing

Same data and parameters for both (L2 lens, 40 intervals, 30% overlap, DBSCAN min_samples 3,
eps from topoact's k-distance knee computed once in the parent and passed to both; its time
is the "eps_s" column, not included in "seconds"). Each
measurement runs in its own subprocess (peak RSS = /proc/self/status VmHWM), reading the data
from a memory-mapped .npy written once, chunk by chunk. Synthetic data: ReLU-like activations,
relu(Gaussian mixture (16 components in 32-D) @ random 32 x D projection) in float32.
"seconds" covers the cover, clustering and graph (topoact: no node means); the L2 lens is
computed before the clock, the same for both.
"identical" compares node member multisets; "diff nodes" counts nodes present in only one.
"seconds" starts before the worker imports its engine (each side's imports included, as a
user's first fit); "import_s" is the import part of it, "fit_speedup" the ratio without it
(at 10,000 rows the imports are most of a topoact fit);
"load1" is the 1-minute load average when the measurement ended (other jobs on the machine).
Each fit runs ``--repeats`` times per engine (default 3), the engines interleaved, and the run
with the median time is reported (a single run's import time varied 1.8-2.7 s for KeplerMapper
on an idle machine); the sweep runs once.
The sweep row times topoact's 12-setting sweep (intervals 20,40,60 x overlap 0.2,0.3 x eps
scale 1,1.25) against 12 KeplerMapper runs with the same settings (--sweep-size rows); its
"identical" compares the node count of every setting (that each sweep graph equals its
``Mapper.fit`` member for member is tested in tests/mapper/test_mapper_sweep_run.py).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
SWEEP = dict(intervals=(20, 40, 60), overlaps=(0.2, 0.3), eps_scales=(1.0, 1.25))


def synthetic(n, d=512, seed=0, out=None, chunk=50000):
    """(n, d) float32 ReLU-like activations, generated in chunks (into ``out`` if given, e.g.
    an ``open_memmap``, so 1M x 512 never needs more than one chunk of temporaries)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(16, 32)) * 1.5
    proj = rng.normal(size=(32, d)).astype(np.float32) / np.sqrt(32)
    if out is None:
        out = np.empty((n, d), np.float32)
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        z = centers[rng.integers(0, 16, b - a)] + rng.normal(size=(b - a, 32))
        out[a:b] = np.maximum(z.astype(np.float32) @ proj - 0.3, 0)
    return out


def write_synthetic(path, n, d=512, seed=0):
    """Write ``synthetic(n, d, seed)`` to a .npy file chunk by chunk; returns the path."""
    from numpy.lib.format import open_memmap
    mm = open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    synthetic(n, d, seed, out=mm)
    mm.flush()
    del mm
    return path


def _peak_rss_mb():
    """Peak resident memory of this process (VmHWM; ru_maxrss can carry the parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _members_file(path, members):
    np.savez(path, sizes=np.array([len(m) for m in members], np.int64),
             rows=np.concatenate(members) if members else np.empty(0, np.int64))


def worker(spec):
    X = np.load(spec["data"], mmap_mode="r")
    # the L2 lens (topoact.mapper.L2Norm's arithmetic) is the same input to both engines: computed
    # before the clock, so each side's time is its own imports plus its fit
    lens = np.concatenate([np.linalg.norm(np.asarray(X[a:a + 8192], dtype=np.float64), axis=1)
                           for a in range(0, X.shape[0], 8192)])
    t0 = time.perf_counter()
    out = {}
    if spec["task"] == "fit":
        if spec["engine"] == "kmapper":
            import kmapper  # noqa: F401  (imported by fit_kmapper: timed apart from the fit)
            import sklearn.cluster  # noqa: F401

            from topoact.mapper.kmapper_backend import fit_kmapper
        else:
            from topoact.mapper import DBSCAN, L2Norm, Mapper, UniformCover
        out["import_s"] = time.perf_counter() - t0
        if spec["engine"] == "kmapper":
            members = fit_kmapper(X, lens, spec["intervals"], spec["overlap"], spec["eps"], 3,
                                  spec["metric"])
        else:
            m = Mapper(L2Norm(), UniformCover(spec["intervals"], spec["overlap"]),
                       DBSCAN(spec["eps"], spec["metric"], 3), n_jobs=2,
                       compute_node_means=False)
            members = m.fit_transform(X, lens_values=lens).members
        _members_file(spec["members"], members)
        out["nodes"] = len(members)
    else:  # sweep
        settings = [(n, p, s) for n in SWEEP["intervals"] for p in SWEEP["overlaps"]
                    for s in SWEEP["eps_scales"]]
        if spec["engine"] == "kmapper":
            from topoact.mapper.kmapper_backend import fit_kmapper
            nodes = [len(fit_kmapper(X, lens, n, p, float(f"{spec['eps'] * s:.6g}"), 3,
                                     spec["metric"])) for n, p, s in settings]
        else:
            from topoact.mapper import sweep
            res = sweep(X, SWEEP["intervals"], SWEEP["overlaps"], SWEEP["eps_scales"],
                        metric=spec["metric"], eps=spec["eps"], lens_values=lens)
            nodes = [r["nodes"] for r in res]
        out["nodes"] = nodes
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = _peak_rss_mb()
    out["load1"] = round(os.getloadavg()[0], 1)
    print(json.dumps(out))


def _run(spec):
    proc = subprocess.run([sys.executable, str(HERE), "--worker", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_run(results):
    """The run with the median total time of repeated runs (its import and fit times go
    together); peak memory is the largest seen."""
    ordered = sorted(results, key=lambda r: r["seconds"])
    run = dict(ordered[(len(ordered) - 1) // 2])
    run["peak_mb"] = max(r["peak_mb"] for r in results)
    return run


def _multiset(path):
    z = np.load(path)
    parts = np.split(z["rows"], np.cumsum(z["sizes"])[:-1]) if len(z["sizes"]) else []
    return Counter(tuple(p.tolist()) for p in parts)


def _table(rows, cols):
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols]
    print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  ".join(str(r.get(c, "")).rjust(w) for c, w in zip(cols, widths)))
    sys.stdout.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,300000")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--metrics", default="euclidean,cosine")
    ap.add_argument("--engines", default="kmapper,topoact")
    ap.add_argument("--intervals", type=int, default=40)
    ap.add_argument("--overlap", type=float, default=0.3)
    ap.add_argument("--run", help="run directory with real activations")
    ap.add_argument("--layer", help="layer of --run")
    ap.add_argument("--sweep-size", type=int, default=20000, help="rows for the sweep row (0: skip)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs per engine and size, interleaved; the median run is reported")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))
    from topoact.mapper import auto_eps

    tmp = Path(tempfile.mkdtemp(prefix="topoact-bench-"))
    datasets = []
    if args.run:
        from topoact.store import open_run
        X = np.asarray(open_run(args.run).activations(args.layer), np.float32)
        np.save(tmp / "real.npy", X)
        datasets.append((f"real:{args.layer}", tmp / "real.npy", len(X), X.shape[1]))
    else:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            write_synthetic(tmp / f"syn{n}.npy", n, args.dim)
            datasets.append(("relu-synthetic", tmp / f"syn{n}.npy", n, args.dim))
    engines = args.engines.split(",")
    rows = []
    cols = ["data", "N", "D", "metric", "eps", "eps_s", "engine", "seconds", "peak_MB", "nodes",
            "speedup", "import_s", "fit_speedup", "identical", "diff_nodes", "load1"]
    for name, path, n, d in datasets:
        X = np.load(path, mmap_mode="r")
        for metric in args.metrics.split(","):
            t_eps = time.perf_counter()
            eps = auto_eps(X, 3, metric)
            t_eps = round(time.perf_counter() - t_eps, 1)
            runs = {eng: [] for eng in engines}
            for _ in range(args.repeats):                # interleaved: both see the same load
                for eng in engines:
                    spec = dict(task="fit", engine=eng, data=str(path), metric=metric, eps=eps,
                                intervals=args.intervals, overlap=args.overlap,
                                members=str(tmp / f"m_{eng}.npz"))
                    runs[eng].append(_run(spec))
            res = {eng: _median_run(r) for eng, r in runs.items()}
            for eng in engines:
                r = dict(data=name, N=n, D=d, metric=metric, eps=eps, eps_s=t_eps, engine=eng,
                         seconds=round(res[eng]["seconds"], 2), load1=res[eng]["load1"],
                         peak_MB=round(res[eng]["peak_mb"]), nodes=res[eng]["nodes"],
                         import_s=round(res[eng]["import_s"], 2))
                if eng == "topoact" and "kmapper" in res:
                    a, b = _multiset(tmp / "m_topoact.npz"), _multiset(tmp / "m_kmapper.npz")
                    r["speedup"] = f"{res['kmapper']['seconds'] / res['topoact']['seconds']:.2f}x"
                    fit = {e: res[e]["seconds"] - res[e]["import_s"] for e in ("kmapper", "topoact")}
                    r["fit_speedup"] = f"{fit['kmapper'] / fit['topoact']:.2f}x"
                    r["identical"] = a == b
                    r["diff_nodes"] = sum(((a - b) + (b - a)).values())
                rows.append(r)
            _table(rows[-len(engines):], cols)
    if args.sweep_size and not args.run and set(engines) >= {"kmapper", "topoact"}:
        path = tmp / f"sweep{args.sweep_size}.npy"
        write_synthetic(path, args.sweep_size, args.dim, seed=1)
        X = np.load(path, mmap_mode="r")
        for metric in args.metrics.split(","):
            eps = auto_eps(X, 3, metric)
            res = {eng: _run(dict(task="sweep", engine=eng, data=str(path), metric=metric, eps=eps))
                   for eng in ("kmapper", "topoact")}
            for eng in ("kmapper", "topoact"):
                r = dict(data="sweep x12", N=args.sweep_size, D=args.dim, metric=metric, eps=eps,
                         engine=eng, seconds=round(res[eng]["seconds"], 2), load1=res[eng]["load1"],
                         peak_MB=round(res[eng]["peak_mb"]), nodes=sum(res[eng]["nodes"]))
                if eng == "topoact":
                    r["speedup"] = f"{res['kmapper']['seconds'] / res['topoact']['seconds']:.2f}x"
                    r["identical"] = res["kmapper"]["nodes"] == res["topoact"]["nodes"]
                rows.append(r)
            _table(rows[-2:], cols)
    print()
    _table(rows, cols)
    print("load average (1, 5, 15 min) at the end: %.1f %.1f %.1f on %d CPUs"
          % (*os.getloadavg(), os.cpu_count() or 0))
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
