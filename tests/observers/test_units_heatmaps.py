"""Single units (a planted unit is found) and relevance heat maps (spatial map = probe score)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from obs_fixtures import demo_run  # noqa: F401 - fixture

import topoact
from topoact.observers.heatmaps import layer_map, spatial_relevance, unit_relevance
from topoact.observers.probes import probe_layers
from topoact.observers.units import label_proportions, unit_report


@pytest.fixture(scope="module")
def planted_run(demo_run, tmp_path_factory):
    """A copy of the demo run whose block2 unit 7 copies cos(2 orientation) (noise elsewhere) and
    unit 11 fires only on class 5 (grating-45)."""
    path = tmp_path_factory.mktemp("planted") / "run"
    shutil.copytree(demo_run.path, path, ignore=shutil.ignore_patterns("probes", "units", "cka"))
    X = np.array(demo_run.activations("block2"))
    rng = np.random.default_rng(0)
    theta = demo_run.attributes["orientation"]
    grating = np.isfinite(theta)
    X[:, 7] = rng.normal(size=len(X))
    X[grating, 7] = np.cos(2 * theta[grating]) * 3 + 0.05 * rng.normal(size=grating.sum())
    X[:, 11] = (demo_run.labels == 5) * 2.0 + 0.01 * rng.normal(size=len(X))
    np.save(path / "activations" / "block2.npy", X.astype(np.float32))
    return topoact.open_run(path)


def test_planted_units_are_found(planted_run):
    report = unit_report(planted_run, ["block1", "block2"], targets=("orientation", "label", "hue"))
    orientation = report.layers["block2"]["orientation"]
    assert int(np.argmax(orientation["scores"])) == 7
    assert 7 in orientation["denoting"] and orientation["scores"][7] > 0.95
    label = report.layers["block2"]["label"]
    assert 11 in label["denoting"] and label["best"][11] == 5
    assert label["scores"][11] > 0.95
    # the control threshold is above what shuffled targets reach, and shares are fractions
    assert orientation["threshold"] >= orientation["control_max"]
    share = report.share()
    assert 0 < share["orientation"]["block2"] <= 1
    # the unit copying class 5 fires on class-5 images only: label proportion 1
    lp = report.label_proportion["block2"]
    assert lp[11] == pytest.approx(1.0)
    assert set(report.depth_curves()) == {"orientation", "label", "hue"}


def test_label_proportions_known_answer():
    labels = np.repeat([0, 1, 2, 3], 25)
    X = np.stack([labels == 2, np.arange(100) % 4 == 0], axis=1).astype(float)
    lp = label_proportions(X, labels, top_fraction=0.2)
    assert lp[0] == pytest.approx(1.0) and lp[1] <= 0.35


def test_unit_relevance_sums_to_the_probe_score(demo_run):
    probe = probe_layers(demo_run, ["block3"], target="label").layers["block3"]
    X = np.asarray(demo_run.activations("block3"))[demo_run.labels == 2]
    relevance = unit_relevance(probe, X, 2)
    Z = (X - np.asarray(probe["mean"])) / np.asarray(probe["scale"])
    scores = Z @ np.asarray(probe["coef"])[probe["classes"].index(2)]
    assert relevance.sum() == pytest.approx(scores.mean(), rel=1e-5)


def test_spatial_relevance_recomputes_the_map_and_averages_to_the_probe_score(demo_run):
    probe = probe_layers(demo_run, ["block3"], target="label").layers["block3"]
    row = 5
    result = spatial_relevance(demo_run, "block3", row, probe, int(demo_run.labels[row]))
    R = np.asarray(result.map)
    assert R.shape == (4, 4)                              # 32 px / 2 / 2 / 2
    assert np.asarray(result.upsampled).shape == (32, 32)
    assert np.asarray(result.image).shape == (32, 32, 3)
    # GAP of the recomputed map is the stored activation vector, so the mean relevance is the score
    x = np.asarray(demo_run.activations("block3")[row], np.float64)
    z = (x - np.asarray(probe["mean"])) / np.asarray(probe["scale"])
    w = np.asarray(probe["coef"])[probe["classes"].index(int(demo_run.labels[row]))]
    assert result.score == pytest.approx(float(z @ w), rel=1e-3, abs=1e-3)
    block1_probe = probe_layers(demo_run, ["block1"]).layers["block1"]
    with pytest.raises(ValueError, match="32 weights but layer 'block3' has 128 channels"):
        spatial_relevance(demo_run, "block3", row, block1_probe, 0)
    bundle = demo_run.model()
    assert layer_map(bundle, demo_run.image(0), "block1").shape == (32, 16, 16)
