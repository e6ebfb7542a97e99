"""Exactness on real activations: ResNet-20 layer3 vectors (random spatial position), the
certified sparse matrix reduced by every engine, against dense ripser (skipped without the
shared data)."""
from __future__ import annotations

import gudhi
import numpy as np
import pytest
import torch
from conftest import CIFAR_IMAGES, CIFAR_RESNET20, requires_shared_data

from topoact.data import open_dataset
from topoact.models import load_model
from topoact.topology.rips import sparse_rips

ripser = pytest.importorskip("ripser").ripser


@pytest.fixture(scope="module")
def layer3_vectors():
    """(200, 64) layer3 vectors of 20 images per class, one seeded random position each."""
    bundle = load_model("cifar-resnet20", weights=CIFAR_RESNET20)
    images = open_dataset(str(CIFAR_IMAGES))
    labels = images.labels()
    idx = np.concatenate([np.flatnonzero(labels == c)[:20] for c in range(10)])
    x = torch.stack([bundle.preprocess(images.load(int(i))) for i in idx])
    out = {}
    hook = bundle.module.layer3.register_forward_hook(lambda m, a, o: out.update(v=o))
    with torch.no_grad():
        bundle.module(x)
    hook.remove()
    v = out["v"].flatten(2)                                     # (200, 64, 64 positions)
    pos = np.random.default_rng(0).integers(0, v.shape[2], len(idx))
    return v[np.arange(len(idx)), :, pos].numpy().astype(np.float32)


@requires_shared_data
@pytest.mark.parametrize("engine", ["auto", "giotto-collapse"])
def test_real_layer3_diagram_is_ripsers(layer3_vectors, engine):
    if engine.startswith("giotto"):
        pytest.importorskip("gph")
    X = layer3_vectors
    ref = ripser(X.astype(np.float64), maxdim=1)["dgms"]
    res = sparse_rips(X, engine=engine)
    assert res.exact and res.n_truncated == 0
    assert len(ref[1]) > 10                                     # real H1 to compare
    for d in (0, 1):
        assert gudhi.bottleneck_distance(ref[d], res.diagrams[d]) < 1e-300
    assert np.array_equal(np.sort(ref[1].astype(np.float32), axis=0),
                          np.sort(res.diagrams[1].astype(np.float32), axis=0))
