"""`topoact mapper` / `topoact sweep` on a real (tiny) run: the default graph moves only when asked,
refused or empty parameter sets touch nothing, old graph files still open, --jobs is honoured."""
import json
import re
import sys

import pytest
import torch
from tiny_models import TinyCNN

from topoact.cli import main
from topoact.mapper import MapperConfig, MapperGraph
from topoact.store import open_run

LAYER = "conv2"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    import topoact
    from topoact.data.synthetic import SHAPE_CLASSES
    from topoact.models import load_model

    torch.manual_seed(0)
    bundle = load_model(TinyCNN(len(SHAPE_CLASSES)).eval(), class_names=list(SHAPE_CLASSES),
                        input_size=(32, 32))
    path = tmp_path_factory.mktemp("runs") / "tiny"
    topoact.collect(bundle, "shapes:240", [LAYER], out=path, num_workers=0, progress=False,
                    chunk_size=120, batch_size=60)
    return path


def _mapper(run_dir, *args):
    return main(["mapper", str(run_dir), "--layer", LAYER, "--jobs", "1", *args])


def test_default_graph_moves_only_when_asked(run_dir, capsys):
    run = open_run(run_dir)
    assert _mapper(run_dir, "--n-intervals", "4") == 0
    first = MapperConfig(n_intervals=4).key
    assert run.default_graph_key(LAYER) == first            # the layer had no default yet
    assert _mapper(run_dir, "--n-intervals", "6") == 0
    second = MapperConfig(n_intervals=6).key
    assert second in run.graph_keys(LAYER) and run.default_graph_key(LAYER) == first
    assert _mapper(run_dir, "--n-intervals", "6", "--set-default") == 0
    assert run.default_graph_key(LAYER) == second
    out = capsys.readouterr().out
    assert second in out and "yes" in out.splitlines()[-1]
    graph = run.graph(LAYER)
    assert isinstance(graph, MapperGraph) and graph.key == second
    assert graph.config == MapperConfig(n_intervals=6)
    run.set_default_graph(LAYER, first)
    assert run.graph(LAYER).key == first


@pytest.mark.parametrize("args, message", [
    (["--n-intervals", "100000"], "graph is empty"),
    (["--overlap", "1.0"], r"overlap must be in \(0, 1\)"),
    (["--eps", "inf"], "finite number > 0"),
    (["--eps", "1e-9", "--set-default"], "noise"),
])
def test_refused_and_empty_parameter_sets_touch_nothing(run_dir, capsys, args, message):
    run = open_run(run_dir)
    if run.default_graph_key(LAYER) is None:
        _mapper(run_dir, "--n-intervals", "4")
    before = (run.default_graph_key(LAYER), run.graph_keys(LAYER))
    assert _mapper(run_dir, *args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert "Traceback" not in err
    assert (run.default_graph_key(LAYER), run.graph_keys(LAYER)) == before


def test_graph_files_of_the_previous_release_open(run_dir):
    run = open_run(run_dir)
    key = MapperConfig(n_intervals=5).key
    graph = run.graph(LAYER, key) if key in run.graph_keys(LAYER) else None
    if graph is None:
        _mapper(run_dir, "--n-intervals", "5")
        graph = run.graph(LAYER, key)
    data = graph.to_dict()
    del data["schema_version"], data["kind"]
    data["key"] = "oldformat"
    data["params"] = {"lens": {"name": "l2"}, "cover": {"name": "uniform", "intervals": 5,
                                                         "overlap": 0.3},
                      "clusterer": {"name": "dbscan", "metric": "euclidean", "eps": "auto",
                                    "eps_scale": 1.0, "min_samples": 3}, "backend": "topoact"}
    data["node_means"] = None
    folder = run.path / "graphs" / LAYER
    (folder / "oldformat.json").write_text(json.dumps(data))
    old = run.graph(LAYER, "oldformat")
    assert old.member_sets() == graph.member_sets()
    assert old.config == MapperConfig(n_intervals=5)


def test_sweep_honours_jobs(run_dir, capsys, monkeypatch):
    sweep_module = sys.modules["topoact.mapper.sweep"]
    seen = []
    real = sweep_module.sweep

    def spy(*args, **kwargs):
        seen.append(kwargs.get("n_jobs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "sweep", spy)
    outputs = []
    for jobs in ("1", "2"):
        assert main(["sweep", str(run_dir), "--layer", LAYER, "--n-intervals", "3,5",
                     "--overlaps", "0.3", "--eps-scales", "1", "--jobs", jobs]) == 0
        outputs.append([line.split()[:8] for line in capsys.readouterr().out.splitlines()])
    assert seen == [1, 2]
    assert outputs[0] == outputs[1] and len(outputs[0]) == 3       # same rows, any --jobs
