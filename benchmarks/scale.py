"""Scale-out: collection on Dask workers, and reading a Zarr layer vs a memory-mapped .npy.

    python benchmarks/scale.py [--parts collect,read,mapper,e2e] [--n 192] [--rows 1000000] [--dim 512]
                               [--mapper-rows 1000000] [--mapper-dim 512] [--e2e-n 1000000] [--e2e-out DIR]

- collect: images/s of ``topoact.collect`` on a compute-bound model (torchvision resnet18, random
  weights, 224 px, on the built-in shapes: decoding is negligible next to the forward pass):
  today's single process (torch on every core), a LocalCluster of 1 worker and of 2 workers
  (one thread each). The clusters are started before the clock starts and warmed up with one
  small collect (workers import torch once); every timed collect then loads the model on its
  workers itself. The three settings are run in turn ``--repeats`` times and the best of each
  kept (the load of a shared machine drifts within minutes). Ratios: 2 vs 1 worker (scaling, goal >= 1.7) and 2 workers vs the single process
  (the cost of Dask on one machine, goal >= 0.9). Rows are checked equal across the three. CPU
  seconds per image (the client and all workers) say what Dask adds whatever the machine's load.
- read: a (rows x dim) float32 layer written chunk by chunk to both stores, then read whole as
  the Mapper does (``Run.activations``: a memory map, or the Zarr array read into memory), and
  read + the L2-norm lens over every row. Best of 3, file cache warm for both. Goal: zarr / npy <= 1.2.
- mapper: ``Mapper.fit`` with and without ``scheduler`` (a LocalCluster of 2) on a
  ``--mapper-rows`` x ``--mapper-dim`` memory-mapped ``.npy`` (default 1,000,000 x 512, like a
  run's layer: the workers read their cover elements' rows from the file); node memberships
  must be identical.

- e2e: a built-in run end to end on one LocalCluster(2) (``--e2e-n`` images of ``shapes``, the
  demo CNN, layer ``avgpool``): collect, the layer's automatic default Mapper graph (chosen and saved
  as the default, as ``topoact mapper RUN --layer avgpool`` does), anomalies, each with the cluster as the scheduler; seconds per step and
  the peak resident memory of the client and of each worker process after each step.
  ``--e2e-out DIR`` keeps the run (e.g. for ``benchmarks/app_latency.py --run DIR --layer avgpool``)
  and ``--e2e-steps`` runs some of the steps (a collect in DIR is resumed).

Each part prints a table of ratios measured in this one run, with ``os.getloadavg()``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _load() -> str:
    return "load average " + ", ".join(f"{v:.1f}" for v in os.getloadavg())


def _cpu(client) -> float:
    """CPU seconds used so far by the client's worker processes (user + system)."""
    import psutil

    times = client.run(lambda: tuple(psutil.Process().cpu_times())[:2])
    return float(sum(sum(t) for t in times.values()))


def part_collect(work: Path, n: int, batch_size: int, repeats: int) -> None:
    import contextlib

    import torch
    from distributed import Client, LocalCluster

    import topoact

    model, data, layers = "torchvision:resnet18", f"shapes:{n}", ["layer3", "layer4"]
    chunk = max(8, n // 8)
    common = dict(layers=layers, batch_size=batch_size, chunk_size=chunk, progress=False, num_workers=0)
    results = {"single process": np.inf, "1 Dask worker": np.inf, "2 Dask workers": np.inf}
    cpu = dict.fromkeys(results, 0.0)
    with contextlib.ExitStack() as stack:
        clients = {}
        for workers, name in ((1, "1 Dask worker"), (2, "2 Dask workers")):
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=":0"))
            clients[name] = client = stack.enter_context(Client(cluster))
            topoact.collect(model, "shapes:8", out=work / f"warm{workers}", scheduler=client,
                            **{**common, "chunk_size": 8})
        single = None
        for repeat in range(repeats):  # interleaved, best of `repeats`: the machine's load drifts
            for name in results:
                client = clients.get(name)
                out = work / f"{name.replace(' ', '-')}-{repeat}"
                t, c = time.perf_counter(), time.process_time() + (_cpu(client) if client else 0.0)
                run = topoact.collect(model, data, out=out, scheduler=client, **common)
                seconds = time.perf_counter() - t
                if seconds < results[name]:
                    results[name] = seconds
                    cpu[name] = time.process_time() + (_cpu(client) if client else 0.0) - c
                if single is None:
                    single = run
                for layer in layers:
                    assert np.array_equal(run.activations(layer), single.activations(layer)), layer
                print(f"collect {name}: {seconds:.1f} s; {_load()}", flush=True)
    rate = {k: n / v for k, v in results.items()}
    print(f"\n## collect: {model}, {n} images ({data}), layers {','.join(layers)}, batch {batch_size}, "
          f"chunks of {chunk}\n")
    print(f"best of {repeats}, interleaved\n")
    print("| setting | seconds | images/s | CPU seconds per image (all processes) |")
    print("|---|---|---|---|")
    for k, v in results.items():
        print(f"| {k} | {v:.1f} | {rate[k]:.2f} | {cpu[k] / n:.3f} |")
    print(f"\n2 workers / 1 worker: **{rate['2 Dask workers'] / rate['1 Dask worker']:.2f}x** (goal >= 1.7); "
          f"2 workers / single process: **{rate['2 Dask workers'] / rate['single process']:.2f}x** (goal >= 0.9); "
          f"CPU per image 2 workers / single process: {cpu['2 Dask workers'] / cpu['single process']:.2f}x "
          f"(the work Dask adds, independent of the machine's load); rows identical in all three. torch {torch.__version__}, {torch.get_num_threads()} threads in the "
          f"single process; {_load()}")


def part_read(work: Path, rows: int, dim: int) -> None:
    from topoact.storage.zarr_array import ZarrRowArray, read_zarr
    from topoact.store import RowArray, load_npy

    chunk = 2048
    npy_path, zarr_path = work / "layer.npy", work / "layer.zarr"
    npy = RowArray(npy_path, (rows, dim), "float32", create=True)
    zarr = ZarrRowArray(zarr_path, (rows, dim), "float32", chunk_rows=chunk, create=True)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    block = np.maximum(rng.standard_normal((chunk, dim), dtype=np.float32), 0)
    for start in range(0, rows, chunk):
        values = block[: min(chunk, rows - start)] + np.float32(start % 97)
        npy.write(start, values)
        zarr.write(start, values)
    print(f"\n## read a {rows:,} x {dim} float32 layer ({rows * dim * 4 / 2**30:.2f} GiB; written in "
          f"{time.perf_counter() - t:.0f} s, both stores)\n")

    def read_npy():
        X = load_npy(npy_path, mmap=True)
        return np.array(X)  # every page touched, as the lens / clustering do

    def lens_npy():
        X = load_npy(npy_path, mmap=True)
        return np.sqrt(np.einsum("ij,ij->i", X, X))

    def lens_zarr():
        X = read_zarr(zarr_path)
        return np.sqrt(np.einsum("ij,ij->i", X, X))

    cases = {"read whole: npy memory map": read_npy, "read whole: zarr": lambda: read_zarr(zarr_path),
             "read + L2 lens: npy memory map": lens_npy, "read + L2 lens: zarr": lens_zarr}
    read_npy(), read_zarr(zarr_path)  # warm the file cache for both (4 GB at the default size)
    timings = dict.fromkeys(cases, np.inf)
    for _ in range(3):  # interleaved, best of 3
        for name, fn in cases.items():
            t = time.perf_counter()
            out = fn()
            timings[name] = min(timings[name], time.perf_counter() - t)
            del out
    assert np.array_equal(read_zarr(zarr_path)[::9973], np.load(npy_path, mmap_mode="r")[::9973])
    print("| read | seconds (best of 3) | zarr / npy |")
    print("|---|---|---|")
    for what in ("read whole", "read + L2 lens"):
        a, b = timings[f"{what}: npy memory map"], timings[f"{what}: zarr"]
        print(f"| {what}: npy memory map | {a:.2f} | |")
        print(f"| {what}: zarr | {b:.2f} | **{b / a:.2f}x** |")
    print(f"\ngoal: zarr / npy <= 1.2; {_load()}")
    shutil.rmtree(zarr_path)
    npy_path.unlink()


def part_mapper(work: Path, rows: int, dim: int) -> None:
    from numpy.lib.format import open_memmap

    from topoact.distributed.tasks import npy_rows
    from topoact.mapper import DBSCAN, L2Norm, Mapper, UniformCover

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, dim)).astype(np.float32) * 4
    path = work / "mapper.npy"
    out = open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
    for start in range(0, rows, 65536):  # written in blocks: a run's layer file, as collect writes it
        m = min(65536, rows - start)
        out[start:start + m] = centers[rng.integers(0, 20, m)] + rng.normal(size=(m, dim)).astype(np.float32)
    out.flush()
    del out
    X = np.load(path, mmap_mode="r")
    assert npy_rows(X) is not None  # the Dask workers read their rows from the file, not from the client
    timings, graphs = {}, {}
    for name, scheduler in (("threads (n_jobs=2)", None), ("Dask local:2", "local:2")):
        mapper = Mapper(L2Norm(), UniformCover(30, 0.3), DBSCAN(eps="auto", min_samples=5), scheduler=scheduler)
        t = time.perf_counter()
        graphs[name] = mapper.fit(X).graph_
        timings[name] = time.perf_counter() - t
        print(f"mapper {name}: {timings[name]:.1f} s; {_load()}", flush=True)
    a, b = graphs.values()
    same = len(a.members) == len(b.members) and all(np.array_equal(p, q) for p, q in zip(a.members, b.members))
    print(f"\n## Mapper on {rows:,} x {dim} (a memory-mapped .npy; L2 lens, 30 intervals, DBSCAN auto)\n")
    print("| clustering | seconds (incl. cluster start) | nodes | ratio |")
    print("|---|---|---|---|")
    base = timings["threads (n_jobs=2)"]
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.1f} | {graphs[name].n_nodes} | {seconds / base:.2f}x |")
    print(f"\nidentical node memberships: {same}; {_load()}")
    path.unlink()


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def part_e2e(out: Path, n: int, steps: list[str], batch_size: int) -> None:
    from distributed import Client, LocalCluster

    import topoact
    from topoact.distributed import use_scheduler
    from topoact.mapper.auto import build_default_graph

    layer = "avgpool"
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client, use_scheduler(client):
        for step in steps:
            t = time.perf_counter()
            if step == "collect":
                run = topoact.collect("demo", f"shapes:{n}", out=out, layers=[layer], batch_size=batch_size,
                                      chunk_size=16384, progress=False, scheduler=client)
                what = f"{run.n:,} images"
            elif step == "mapper":  # what `topoact mapper RUN --layer L` builds: the automatic choice
                graph = build_default_graph(topoact.open_run(out), layer, default=True)
                what = f"{graph.n_nodes} nodes, {graph.n_edges} edges"
            elif step == "anomalies":
                table = topoact.anomalies(topoact.open_run(out), cache=True)
                what = f"{len(table):,} rows, {int(table['is_outlier'].sum()):,} outliers"
            else:
                raise SystemExit(f"unknown e2e step {step!r} (collect, mapper, anomalies)")
            seconds = time.perf_counter() - t
            workers = sorted(client.run(_peak_mib).values())
            rows.append((step, seconds, what, _peak_mib(), workers))
            print(f"e2e {step}: {seconds:.0f} s, {what}; peak RSS client {rows[-1][3]:.0f} MiB, workers "
                  f"{', '.join(f'{w:.0f}' for w in workers)} MiB; {_load()}", flush=True)
    print(f"\n## end to end on LocalCluster(2): demo CNN, shapes:{n}, layer {layer} ({out})\n")
    print("| step | seconds | result | peak RSS client MiB | peak RSS workers MiB |")
    print("|---|---|---|---|---|")
    for step, seconds, what, client_mib, workers in rows:
        print(f"| {step} | {seconds:.0f} | {what} | {client_mib:.0f} | {', '.join(f'{w:.0f}' for w in workers)} |")
    print(f"\npeak RSS is the process's maximum so far (ru_maxrss); {_load()}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="collect,read,mapper")
    parser.add_argument("--n", type=int, default=192, help="images collected per setting")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2, help="collect: interleaved repeats, best kept")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--mapper-rows", type=int, default=1_000_000)
    parser.add_argument("--mapper-dim", type=int, default=512)
    parser.add_argument("--e2e-n", type=int, default=1_000_000, help="images of the e2e part")
    parser.add_argument("--e2e-steps", default="collect,mapper,anomalies")
    parser.add_argument("--e2e-out", type=Path, default=None, help="run directory of the e2e part (kept)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="topoact-scale-", dir=args.work))
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    print(f"# benchmarks/scale.py ({_load()} at start, {os.cpu_count()} cores)")
    try:
        if "read" in parts:
            part_read(work, args.rows, args.dim)
        if "collect" in parts:
            part_collect(work, args.n, args.batch_size, args.repeats)
        if "mapper" in parts:
            part_mapper(work, args.mapper_rows, args.mapper_dim)
        if "e2e" in parts:
            steps = [s.strip() for s in args.e2e_steps.split(",") if s.strip()]
            part_e2e(args.e2e_out or work / "e2e", args.e2e_n, steps, 512)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
