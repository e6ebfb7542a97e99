"""Linear probes on a real run of the demo CNN: known answers, controls, cache, CLI contract."""
from __future__ import annotations

import json

import numpy as np
import pytest

from obs_fixtures import demo_run  # noqa: F401 - fixture

from topoact.errors import InvalidParameterError, UnknownLayerError
from topoact.observers.probes import ProbeConfig, fit_probe, probe_layers, wilson_interval
from topoact.observers.targets import make_target


def test_orientation_is_decodable_from_the_last_block_above_controls_and_better_than_first(demo_run):
    result = probe_layers(demo_run, ["block1", "block3"], target="orientation")
    first, last = result.layers["block1"], result.layers["block3"]
    assert result.target_kind == "circular"
    print({k: (round(v["accuracy"], 3), round(v["shuffled"], 3), round(v["chance"], 3)) for k, v in result.layers.items()})
    # well above its shuffled control (chance of the 1/24-period tolerance is 1/12)
    assert last["accuracy"] > last["shuffled"] + 0.5
    assert last["ci"][0] > max(last["shuffled"], last["chance"])
    assert last["accuracy"] > first["accuracy"]
    assert last["ci"][0] <= last["accuracy"] <= last["ci"][1]
    assert last["n_test"] == pytest.approx(0.3 * 400, abs=1)   # only gratings have an orientation


def test_class_probe_controls_and_cache(demo_run):
    before = set((demo_run.path / "probes").glob("*.json"))
    result = probe_layers(demo_run, target="label")
    assert list(result.layers) == list(demo_run.layers)
    for v in result.layers.values():
        assert 0.0 <= v["chance"] <= 0.2 and v["shuffled"] < 0.35     # 8 balanced classes
        assert v["accuracy"] > v["shuffled"] + 0.3
    files = set((demo_run.path / "probes").glob("*.json")) - before
    assert len(files) == len(demo_run.layers)
    again = probe_layers(demo_run, target="label")
    assert again.layers == result.layers


def test_split_is_stratified_and_seeded(demo_run):
    target = make_target(demo_run, "label")
    X = demo_run.activations("block3")
    a = fit_probe(X, target, ProbeConfig(seed=3))
    b = fit_probe(X, target, ProbeConfig(seed=3))
    c = fit_probe(X, target, ProbeConfig(seed=4))
    assert a.accuracy == b.accuracy and a.coef == b.coef
    assert a.n_test == 240 and a.coef != c.coef
    sgd = fit_probe(X, target, ProbeConfig(model="sgd"))
    mlp = fit_probe(X, target, ProbeConfig(model="mlp", max_iter=200))
    assert sgd.model == "sgd" and mlp.model == "mlp" and mlp.coef is None
    assert sgd.accuracy > 0.6 and mlp.accuracy > 0.6


def test_linear_attribute_is_binned_and_errors_name_the_problem(demo_run):
    result = probe_layers(demo_run, ["block3"], target="size")
    v = result.layers["block3"]
    assert v["classes"] == [0, 1, 2, 3] and v["chance"] < 0.4
    with pytest.raises(InvalidParameterError, match="unknown target 'nope'.*orientation"):
        probe_layers(demo_run, target="nope")
    with pytest.raises(UnknownLayerError, match="block9"):
        probe_layers(demo_run, ["block9"])
    with pytest.raises(InvalidParameterError, match="test_size"):
        ProbeConfig(test_size=1.5)


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_cli_probe_and_compare_contracts(demo_run, tmp_path, capsys):
    from topoact.cli import main

    out = tmp_path / "probe.json"
    assert main(["probe", str(demo_run.path), "--target", "label", "--layers", "block1,block3", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["target"] == "label" and list(data["layers"]) == ["block1", "block3"]
    for v in data["layers"].values():
        assert set(v) >= {"accuracy", "ci", "chance", "shuffled"} and len(v["ci"]) == 2
    assert "block3" in capsys.readouterr().out

    out = tmp_path / "compare.json"
    assert main(["compare", str(demo_run.path), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    layers = list(demo_run.layers)
    assert data["cka"]["rows"] == layers and data["cka"]["cols"] == layers
    values = np.asarray(data["cka"]["values"])
    assert values.shape == (4, 4) and np.allclose(np.diag(values), 1, atol=1e-6)
    assert data["summary"]
    assert main(["probe", str(demo_run.path), "--target", "nope"]) == 2
    assert "unknown target" in capsys.readouterr().err


def test_progress_and_cancel_follow_the_shared_protocol(demo_run):
    from topoact.observers.cka import cka_matrix
    from topoact.progress import Cancelled

    seen = []
    probe_layers(demo_run, ["block1", "block2"], target="hue", cache=False,
                 progress=lambda done, total, message="": seen.append((done, total, message)))
    assert seen[0][:2] == (0.0, 2.0) and seen[-1][:2] == (2.0, 2.0) and "hue" in seen[0][2]
    before = set(demo_run.path.glob("*/*.json"))
    with pytest.raises(Cancelled):
        probe_layers(demo_run, target="rotation", should_cancel=lambda: True)
    with pytest.raises(Cancelled):
        cka_matrix(demo_run, layers_a=["block1", "linear"], should_cancel=lambda: True)
    assert set(demo_run.path.glob("*/*.json")) == before  # a cancelled computation caches nothing


def test_serve_takes_a_second_run():
    from topoact.cli import build_parser

    args = build_parser().parse_args(["serve", "runs/a", "runs/b", "--port", "8051"])
    assert (args.run_dir, args.compare_dir, args.port) == ("runs/a", "runs/b", 8051)
    assert build_parser().parse_args(["serve", "runs/a"]).compare_dir is None
    args = build_parser().parse_args(["serve", "runs/a", "runs/b", "--server", "flask", "--threads", "4"])
    assert (args.compare_dir, args.server, args.threads) == ("runs/b", "flask", 4)


def test_serve_refuses_a_missing_second_run_in_one_line(demo_run, tmp_path, capsys):
    from topoact.cli import main

    assert main(["serve", str(demo_run.path), str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err


def test_a_logistic_probe_runs_blas_on_one_thread_and_the_mlp_on_all_whatever_the_load():
    """Its small products only spin a second BLAS thread (probes._fit); the MLP's gain from it.
    No load heuristic: the choice depends on the estimator only."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_info, threadpool_limits

    from topoact.observers.probes import _fit

    def blas_threads():
        return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")

    seen = {}

    class Logistic(LogisticRegression):
        def fit(self, X, y):
            seen["logistic"] = blas_threads()
            return self

    class MLP(MLPClassifier):
        def fit(self, X, y):
            seen["mlp"] = blas_threads()
            return self

    X, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with threadpool_limits(2, user_api="blas"):
        _fit(Logistic(), X, y)
        _fit(MLP(), X, y)
    assert seen == {"logistic": 1, "mlp": 2}
