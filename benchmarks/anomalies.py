"""Anomaly finder benchmark: label noise, out-of-distribution images, speed and memory.

One command, one table::

    python benchmarks/anomalies.py [--work /tmp/topoact-bench-anomalies] [--speed-n 100000]

1. Label noise: the shared CIFAR-10 test images (5,000) through ResNet-20 and ResNet-32, 5 % of
   labels flipped to a random other class (seed 0). Precision@k with k = number flipped (which
   equals recall@k), AUROC, and precision / recall of the flagged set, for topoact's
   ``label_issue`` (and its single sources), cleanlab 2.9 ``find_label_issues`` on the model's
   probabilities, cleanlab on out-of-sample probabilities (``estimate_cv_predicted_probabilities``
   with logistic regression on the same activations), and self-confidence ``1 - p[label]``.
2. Out of distribution: 200 images from each of three offline sources (built-in shapes,
   scikit-learn digits, 32 px tiles of scikit-learn's sample photographs), given random CIFAR
   labels, collected through the same model and layers and mixed into the CIFAR run. AUROC and
   FPR at 95 % TPR of ``outlier`` beside max-softmax, energy (true logits from the ``linear``
   layer), Mahalanobis (layer3, Lee et al.) and deep k-NN (layer3, Sun et al.).
3. Speed and memory: all scores for a ``shapes:N`` run of the demo model, each measured in its
   own process (wall time, peak RSS), and cleanlab's Datalab (label, outlier, near-duplicate
   issues) on the same features and probabilities; the ratio is reported.

Runs are collected once into ``--work`` (resumable) with the ``topoact collect`` command.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("TOPOACT_SHARED_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO))  # this checkout's topoact, not whichever one is installed
LAYERS = "layer1,layer2,layer3,linear"
DEMO_LAYERS = "block1,block2,block3,linear"


def collect(out: Path, model: str, data: str, layers: str, weights: str | None = None) -> Path:
    if (out / "index.json").is_file():
        return out
    cmd = [sys.executable, "-m", "topoact", "collect", "--model", model, "--data", data,
           "--layers", layers, "--out", str(out)]
    if weights:
        cmd += ["--weights", weights]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    return out


# -- metrics ---------------------------------------------------------------------------------
def auroc(truth, score) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, np.nan_to_num(np.asarray(score, float), nan=0.0)))


def precision_at_k(truth, score, k) -> float:
    order = np.lexsort((np.arange(len(score)), -np.asarray(score, float)))
    return float(truth[order[:k]].mean())


def fpr_at_95(truth, score) -> float:
    score = np.asarray(score, float)
    cut = np.quantile(score[truth], 0.05)
    return float((score[~truth] >= cut).mean())


# -- label noise ------------------------------------------------------------------------------
def flip_labels(labels: np.ndarray, n_classes: int, fraction: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    flipped = rng.choice(len(labels), int(round(fraction * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, len(flipped))) % n_classes
    truth = np.zeros(len(labels), bool)
    truth[flipped] = True
    return noisy, truth


def label_rows(run, model_name: str) -> list[dict]:
    import cleanlab
    from cleanlab.count import estimate_cv_predicted_probabilities
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression

    import topoact
    from topoact.anomaly.labels import _standardise
    from topoact.mapper.run_graphs import build_run_graph, mapper_params

    P = np.asarray(run.probabilities, np.float64)
    C = P.shape[1]
    noisy, truth = flip_labels(np.asarray(run.labels), C)
    k = int(truth.sum())
    rows = []

    def add(method, score, flags=None, seconds=None):
        row = {"task": "label noise 5%", "model": model_name, "data": f"CIFAR-10 {run.n}", "method": method,
               "P@k": precision_at_k(truth, score, k), "AUROC": auroc(truth, score), "time s": seconds}
        if flags is not None:
            row["flag P"] = float(truth[flags].mean()) if flags.any() else 0.0
            row["flag R"] = float(flags[truth].mean())
        rows.append(row)

    if not run.graph_keys("layer3"):
        build_run_graph(run, "layer3", mapper_params())
    t = time.perf_counter()
    table = topoact.anomalies(run, labels=noisy, cache=False).sort_values("row")
    seconds = time.perf_counter() - t
    add("topoact label_issue (ensemble)", table["label_issue"].to_numpy(),
        table["is_label_issue"].to_numpy(), seconds)
    for source in ("model", "probe", "knn", "topology"):
        add(f"  topoact {source} only", table[f"label_issue_{source}"].fillna(0).to_numpy())
    with_topo = topoact.anomalies(run, labels=noisy, cache=False, topology_weight=0.25,
                                  kinds=("label_issue",)).sort_values("row")
    add("  topoact ensemble + Mapper nodes (w=0.25)", with_topo["label_issue"].to_numpy(),
        with_topo["is_label_issue"].to_numpy())
    t = time.perf_counter()
    ranked = find_label_issues(noisy, P, return_indices_ranked_by="self_confidence")
    seconds = time.perf_counter() - t
    flags = np.zeros(run.n, bool)
    flags[ranked] = True
    score = np.zeros(run.n)
    score[ranked] = 2.0 + np.linspace(1, 0, len(ranked))          # its ranking first, then the rest
    rest = ~flags
    score[rest] = 1.0 - get_label_quality_scores(noisy, P)[rest]
    add(f"cleanlab {cleanlab.__version__} find_label_issues (model probs)", score, flags, seconds)
    t = time.perf_counter()
    X = _standardise([run.activations(name) for name in run.layers])
    P_oos = estimate_cv_predicted_probabilities(X, noisy, clf=LogisticRegression(max_iter=300, tol=1e-3),
                                                cv_n_folds=5, seed=0)
    ranked = find_label_issues(noisy, P_oos, return_indices_ranked_by="self_confidence")
    seconds = time.perf_counter() - t
    flags = np.zeros(run.n, bool)
    flags[ranked] = True
    score = np.zeros(run.n)
    score[ranked] = 2.0 + np.linspace(1, 0, len(ranked))
    score[~flags] = 1.0 - get_label_quality_scores(noisy, P_oos)[~flags]
    add("cleanlab find_label_issues (out-of-sample probs)", score, flags, seconds)
    add("self-confidence 1 - p[label] (model)", 1.0 - P[np.arange(run.n), noisy])
    return rows


# -- out of distribution ----------------------------------------------------------------------
class StackedRun:
    """Two runs of the same model and layers, one after the other (read-only, no cache)."""

    def __init__(self, first, second):
        self.parts = (first, second)
        self.path = Path(f"{first.path}+{second.path.name}")
        self.meta = dict(first.meta)
        self.layers = list(first.layers)
        self.n = first.n + second.n
        self.class_names = first.class_names
        self.labels = np.concatenate([first.labels, second.labels])
        self.predictions = np.concatenate([first.predictions, second.predictions])
        self.probabilities = np.concatenate([first.probabilities, second.probabilities])
        self.ids = list(first.ids) + list(second.ids)
        self.paths = list(first.paths) + list(second.paths)
        self._graphs = {}

    def activations(self, layer):
        return np.concatenate([np.asarray(p.activations(layer)) for p in self.parts])

    def image(self, row):
        first = self.parts[0]
        return first.image(row) if row < first.n else self.parts[1].image(row - first.n)

    def graph(self, layer):
        if layer not in self._graphs:
            from topoact.mapper import MapperConfig

            graph = MapperConfig().mapper().fit_transform(self.activations(layer), labels=self.labels,
                                                          predictions=self.predictions)
            self._graphs[layer] = graph.to_dict()
        return self._graphs[layer]


def ood_rows(cifar, ood, model_name: str) -> list[dict]:
    import topoact

    run = StackedRun(cifar, ood)
    table = topoact.anomalies(run, cache=False).sort_values("row")
    if os.environ.get("TOPOACT_BENCH_DUMP"):
        table.to_pickle(f"{os.environ['TOPOACT_BENCH_DUMP']}-{model_name}.pkl")
    names = {"shapes": "shapes", "digits": "digits", "photo": "photo-tiles"}
    source = np.array(["cifar"] * cifar.n + [names.get(os.path.basename(p or "?").split("-")[0], "?")
                                              for p in ood.paths], dtype=object)
    topo_variant = 0.5 * table["outlier"].to_numpy() + 0.5 * table["isolated"].to_numpy()
    methods = {
        "topoact outlier (max z: log Mahalanobis layers, energy)": table["outlier"],
        "  + Mapper isolated components (0.5/0.5)": topo_variant,
        "max-softmax": table["outlier_max_softmax"],
        "energy (linear-layer logits)": table["outlier_energy"],
        "Mahalanobis layer3": table["outlier_mahalanobis_layer3"],
        "deep k-NN layer3 (k=10)": table["outlier_knn"],
    }
    rows = []
    for name in ("shapes", "digits", "photo-tiles"):
        keep = (source == "cifar") | (source == name)
        truth = (source == name)[keep]
        for method, score in methods.items():
            score = np.asarray(score, float)[keep]
            rows.append({"task": "OOD", "model": model_name, "data": f"CIFAR + 200 {name}", "method": method,
                         "AUROC": auroc(truth, score), "FPR@95": fpr_at_95(truth, score)})
    return rows


# -- speed and memory -------------------------------------------------------------------------
def speed_worker(which: str, run_dir: str) -> None:
    import topoact

    run = topoact.open_run(run_dir)
    t = time.perf_counter()
    if which == "topoact":
        topoact.anomalies(run, cache=False)
    else:
        from cleanlab import Datalab

        X = np.concatenate([np.asarray(run.activations(name)) for name in run.layers], axis=1)
        lab = Datalab(data={"label": np.asarray(run.labels)}, label_name="label", verbosity=0)
        lab.find_issues(features=X, pred_probs=np.asarray(run.probabilities),
                        issue_types={"label": {}, "outlier": {}, "near_duplicate": {}})
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak}))


def speed_rows(run_dir: Path, n: int, timeout: float = 1800.0) -> list[dict]:
    out = {}
    for which in ("topoact", "cleanlab"):
        try:
            proc = subprocess.run([sys.executable, __file__, "--speed-worker", which, str(run_dir)],
                                  check=True, capture_output=True, text=True, cwd=REPO, timeout=timeout)
            out[which] = json.loads(proc.stdout.strip().splitlines()[-1])
        except subprocess.TimeoutExpired:
            out[which] = {"seconds": float("inf"), "peak_mib": None}
        print(json.dumps({which: out[which]}), file=sys.stderr, flush=True)
    ratio = out["cleanlab"]["seconds"] / out["topoact"]["seconds"]
    return [{"task": "speed+memory", "model": "demo", "data": f"shapes:{n}", "method": f"topoact all scores",
             "time s": out["topoact"]["seconds"], "peak MiB": out["topoact"]["peak_mib"],
             "note": f"Datalab / topoact time: {ratio:.2f}"},
            {"task": "speed+memory", "model": "demo", "data": f"shapes:{n}",
             "method": "cleanlab Datalab (label, outlier, near_duplicate)",
             "time s": out["cleanlab"]["seconds"], "peak MiB": out["cleanlab"]["peak_mib"]}]


def print_table(rows: list[dict]) -> None:
    cols = ["task", "model", "data", "method", "P@k", "flag P", "flag R", "AUROC", "FPR@95", "time s",
            "peak MiB", "note"]
    cols = [c for c in cols if any(c in r for r in rows)]

    def fmt(v):
        if v is None:
            return ""
        return f"{v:.3f}" if isinstance(v, float) and abs(v) < 10 else (f"{v:.1f}" if isinstance(v, float) else str(v))

    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print(" | ".join(c.ljust(w) for c, w in zip(cols, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in cells:
        print(" | ".join(v.ljust(w) for v, w in zip(row, widths)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/topoact-bench-anomalies", help="where runs are collected")
    parser.add_argument("--speed-n", type=int, default=100000, help="images of the speed run (0 = skip)")
    parser.add_argument("--models", default="20,32", help="CIFAR ResNet depths")
    parser.add_argument("--speed-timeout", type=float, default=1800.0, help="seconds before a speed run is stopped")
    parser.add_argument("--speed-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_worker:
        speed_worker(*args.speed_worker)
        return 0
    sys.path.insert(0, str(HERE))
    from _anomaly_data import write_ood_folder

    import topoact

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    folder = work / "ood-images"
    if not folder.is_dir():
        write_ood_folder(folder)
    for depth in args.models.split(","):
        weights = str(SHARED / "cifar10-resnet" / f"resnet{depth}.th")
        model = f"cifar-resnet{depth}"
        cifar = topoact.open_run(collect(work / f"cifar-r{depth}", model, str(SHARED / "cifar10" / "images"),
                                         LAYERS, weights))
        ood = topoact.open_run(collect(work / f"ood-r{depth}", model, str(folder), LAYERS, weights))
        for part in (label_rows(cifar, f"ResNet-{depth}"), ood_rows(cifar, ood, f"ResNet-{depth}")):
            rows += part
            print(json.dumps(part), file=sys.stderr, flush=True)  # partial results survive a later failure
    if args.speed_n:
        run_dir = collect(work / f"shapes{args.speed_n}", "demo", f"shapes:{args.speed_n}", DEMO_LAYERS)
        rows += speed_rows(run_dir, args.speed_n, args.speed_timeout)
    print_table(rows)
    print(f"load average {os.getloadavg()}; cores {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
