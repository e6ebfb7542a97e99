"""Fixtures for the app tests (imported by the test modules; a conftest.py here would shadow tests/conftest.py).

The run is written by the real ``topoact.collect`` (150 generated images, 8 classes, layers
conv1 / conv2 / fc, GAP reduction) and gets one Mapper graph of ``conv2`` from the real engine
(``topoact.mapper.run_graphs``), saved as the layer's default; the other layers get theirs from
the app when needed. ``fresh_run_dir`` is a private copy for tests that change the run.
"""
from __future__ import annotations

import pytest
import torch
from tiny_models import TinyCNN

N_IMAGES = 150
LAYERS = ("conv1", "conv2", "fc")
GRAPH_LAYER = "conv2"
FIXTURE_FORM = dict(lens="l2", cover="uniform", n_intervals=4, overlap=0.3, clusterer="dbscan", eps="auto",
                    metric="euclidean", min_samples=3)


def tiny_bundle():
    from topoact.data.synthetic import SHAPE_CLASSES
    from topoact.models import load_model

    torch.manual_seed(0)
    return load_model(TinyCNN(len(SHAPE_CLASSES)).eval(), class_names=list(SHAPE_CLASSES), input_size=(32, 32))


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """(run directory, ModelBundle) of a finished run with one saved graph of ``conv2``."""
    import topoact
    from topoact.mapper import MapperConfig, run_graphs

    bundle = tiny_bundle()
    path = tmp_path_factory.mktemp("runs") / "tiny"
    run = topoact.collect(bundle, f"shapes:{N_IMAGES}", list(LAYERS), out=path, num_workers=0, progress=False,
                          chunk_size=64, batch_size=64)
    run_graphs.build_run_graph(run, GRAPH_LAYER, MapperConfig(**FIXTURE_FORM), default=True)
    return path, bundle


@pytest.fixture(scope="session")
def small_run_dir(small_run):
    return small_run[0]


@pytest.fixture
def fresh_run_dir(small_run, tmp_path):
    """A copy of the small run that a test may change (graphs, default pointers)."""
    import shutil

    return shutil.copytree(small_run[0], tmp_path / "run")
