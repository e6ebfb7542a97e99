"""The four methods on a tiny conv model: node, inverse sets, class-agnostic, DGN-AM."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from topoact.features.generator import load_generator, save_generator, train_generator
from topoact.features.methods import DGNAM, ClassAgnostic, InverseSet, LevelTarget, NodeVisualization
from topoact.features.methods.base import layer_features
from topoact.features.methods.node import projection
from feat_fixtures import tiny_bundle


def structured_images(n=128, seed=0):
    """Images with a few global degrees of freedom (colour + horizontal ramp), 16 px."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, 1, generator=g)
    slope = torch.rand(n, 3, 1, 1, generator=g) - 0.5
    ramp = torch.linspace(-1, 1, 16).view(1, 1, 1, 16)
    return (base * 0.6 + 0.2 + 0.3 * slope * ramp).expand(n, 3, 16, 16).clamp(0, 1).contiguous()


def smooth_images(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=(16, 16), mode="bilinear",
                         align_corners=False)


@pytest.fixture(scope="module")
def bundle():
    return tiny_bundle()


@pytest.fixture(scope="module")
def real_features(bundle):
    feats, _ = layer_features(bundle, smooth_images(), "relu2")
    return feats


def test_node_visualization_beats_members(bundle, real_features):
    members = real_features[:16]
    vector = members.mean(0)
    result = NodeVisualization(steps=48, batch=3).visualize(bundle, "relu2", vector, "gap")
    assert result.images.shape == (3, 3, 16, 16)
    member_proj = projection(members, vector)
    assert result.metrics["activation_mean"] > member_proj.max()
    assert len(result.metrics["confidence"]) == 3
    assert result.metrics["pixel_diversity"] > 0


def test_node_visualization_rejects_bad_requests(bundle):
    with pytest.raises(ValueError, match="unknown layer 'relu9'.*relu2"):
        NodeVisualization(steps=2).visualize(bundle, "relu9", np.ones(16))
    with pytest.raises(ValueError, match="non-zero"):
        NodeVisualization(steps=2).visualize(bundle, "relu2", np.zeros(16))
    with pytest.raises(ValueError, match="unknown reduce"):
        NodeVisualization(steps=2).visualize(bundle, "relu2", np.ones(16), reduce="max")


@pytest.mark.parametrize("fraction", [0.25, 0.8])
def test_inverse_set_samples_land_within_tolerance(bundle, real_features, fraction):
    target = LevelTarget.from_values("channel", real_features[:, 3], fraction, index=3)
    result = InverseSet(steps=96, batch=6, tolerance=0.05).visualize(bundle, "relu2", [target])
    values = np.asarray(result.metrics["values"])[:, 0]
    assert np.all(np.abs(values - target.level) <= 0.05 * target.span)
    assert result.metrics["fraction_within"] == 1.0
    assert result.metrics["pixel_diversity"] > 0.05 and result.metrics["feature_diversity"] > 0


def test_inverse_set_intersection_and_direction(bundle, real_features):
    v = real_features[:8].mean(0)
    targets = [LevelTarget.from_values("channel", real_features[:, 3], 0.3, index=3),
               LevelTarget.from_values("channel", real_features[:, 7], 0.7, index=7),
               LevelTarget.from_values("direction", projection(real_features, v), 0.5, vector=list(v))]
    result = InverseSet(steps=128, batch=4).visualize(bundle, "relu2", targets)
    assert np.asarray(result.metrics["values"]).shape == (4, 3)
    assert result.metrics["fraction_within"] >= 0.75
    assert len(result.metrics["fraction_within_per_target"]) == 3


def test_inverse_set_rejects_bad_levels_and_channels(bundle, real_features):
    with pytest.raises(ValueError, match="outside the observed range"):
        InverseSet(steps=2).visualize(
            bundle, "relu2", [LevelTarget.from_values("channel", real_features[:, 3], 1.5, index=3)])
    with pytest.raises(ValueError, match="channel 16 out of range.*16 channels"):
        InverseSet(steps=2).visualize(
            bundle, "relu2", [LevelTarget.from_values("channel", real_features[:, 3], 0.5, index=16)])
    with pytest.raises(ValueError, match="range .* is empty"):
        InverseSet(steps=2).visualize(
            bundle, "relu2", [LevelTarget.from_values("channel", np.ones(5), 0.5, index=1)])


def test_class_agnostic_stays_closer_than_unconstrained(bundle):
    sources = smooth_images(3, seed=4)
    kept = ClassAgnostic(steps=60, weight=1.0).visualize(bundle, "relu2", sources)
    free = ClassAgnostic(steps=60, weight=0.0).visualize(bundle, "relu2", sources)
    d_kept = np.asarray(kept.metrics["pixel_distance"])
    d_free = np.asarray(free.metrics["pixel_distance"])
    assert np.all(d_kept < d_free)
    assert np.all(np.asarray(kept.metrics["gain"]) > 1.0)  # still excites the layer more
    assert free.metrics["gain_mean"] > kept.metrics["gain_mean"]
    with pytest.raises(ValueError, match="source images must be"):
        ClassAgnostic(steps=2).visualize(bundle, "relu2", torch.rand(1, 3, 8, 8))


def test_generator_reconstructs_better_than_mean_image_and_dgn_synthesizes(bundle, tmp_path):
    """The spatial-code generator (the default for a conv layer; pixel loss alone, then pixel +
    feature + adversarial losses) trains (loss goes down, hold-out error well under the mean
    image's), reloads from tensors only, and DGN-AM through it raises the target direction."""
    images = structured_images(160)
    fit = train_generator(bundle, images, "relu2", epochs=12, batch_size=32, width=16, lr=3e-3,
                          max_seconds=None, threads=1)   # 1 thread: tiny ops on a busy machine
    m = fit.metrics
    assert m["code"] == "spatial" and fit.config["code_shape"] == [16, 8, 8]
    assert fit.config["adversarial"] > 0
    # the first 3/4 of the epochs are pixel-only (no classifier pass), the rest uses all losses
    assert 0 < m["images_seen_pixel_only"] < m["images_seen"], m
    assert 0 < m["seconds_pixel_only"] < m["seconds"], m
    assert m["train_pixel_mse"][-1] < 0.5 * m["train_pixel_mse"][0], m
    assert m["holdout_mse"] < 0.6 * m["mean_image_mse"], m
    path = save_generator(fit, tmp_path / "relu2.pt")
    assert all(isinstance(v, torch.Tensor) for v in torch.load(path, weights_only=True).values())
    loaded = load_generator(path)
    assert type(loaded.generator).__name__ == "SpatialCodeGenerator"
    codes = torch.as_tensor(fit.code_mean)[None]
    assert torch.allclose(loaded.generator(codes), fit.generator.eval()(codes))
    assert np.all(loaded.code_low == 0) and np.all(loaded.code_high > 0)  # post-ReLU codes

    feats, _ = layer_features(bundle, images, "relu2")
    v = feats[:10].mean(0)
    result = DGNAM(steps=40, batch=2).visualize(bundle, loaded, "relu2", v)
    assert result.images.shape == (2, 3, 16, 16)
    assert result.images.min() >= 0 and result.images.max() <= 1
    # the optimised codes push the direction above the generator's average output
    start = layer_features(bundle, loaded.generator(codes).detach(), "relu2")[0]
    assert result.metrics["activation_mean"] > projection(start, v)[0]


def test_generator_code_choice(bundle):
    """'reduced' keeps the stored vector as the code; 'spatial' on a flat layer is refused."""
    images = structured_images(16)
    fit = train_generator(bundle, images, "relu2", epochs=1, batch_size=8, width=16,
                          code="reduced", adversarial=0.0, threads=1)
    assert fit.metrics["code"] == "reduced" and fit.code_mean.shape == (16,)
    with pytest.raises(ValueError, match="code='spatial' needs a conv layer"):
        train_generator(bundle, images, "fc", epochs=1, code="spatial")
    with pytest.raises(ValueError, match=r"pixel_warmup must be in \[0, 1\)"):
        train_generator(bundle, images, "relu2", epochs=1, pixel_warmup=1.0)
    with pytest.raises(ValueError, match="code must be"):
        train_generator(bundle, images, "relu2", epochs=1, code="pixels")
