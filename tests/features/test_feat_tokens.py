"""Token layers (B, L, C): a visualization optimises the very vector collection stores."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from topoact.collection import activations_for_images
from topoact.features import objectives as obj
from topoact.features.generator import codes_of
from topoact.features.methods.base import layer_features
from topoact.features.render import evaluate
from topoact.models.base import ModelBundle


class Tokens(nn.Module):
    """(B, C, H, W) -> (B, L, C): patches as tokens, as a vision transformer lays them out."""

    def forward(self, x):
        return x.flatten(2).transpose(1, 2)


class Pool(nn.Module):
    def forward(self, x):
        return x.mean(1)


def token_bundle() -> ModelBundle:
    """patch embedding (conv 4x4 stride 4, 6 ch) -> tokens (B, 16, 6) -> block (linear 6 -> 10,
    per token; output (B, 16, 10)) -> mean over tokens -> head (3 classes)."""
    torch.manual_seed(0)
    m = nn.Sequential()
    m.add_module("embed", nn.Conv2d(3, 6, 4, stride=4))
    m.add_module("tokens", Tokens())
    m.add_module("block", nn.Linear(6, 10))
    m.add_module("pool", Pool())
    m.add_module("head", nn.Linear(10, 3))
    m.eval()
    return ModelBundle(m, (16, 16), (0.5,) * 3, (0.25,) * 3, list("abc"), "tokens", hash="tokens")


def _images(n=5):
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.mark.parametrize("how", ["gap", "center"])
def test_objective_vector_equals_the_stored_row(how):
    """Fails on an objective that reduces (B, L, C) over the channels instead of the tokens."""
    bundle = token_bundle()
    pil = _images()
    stored, _ = activations_for_images(bundle, pil, ["block"], reduce=how)
    stored = stored["block"]
    assert stored.shape == (5, 10)                       # C units, not L tokens
    images = torch.stack([bundle.to_unit_tensor(p) for p in pil])
    acts = evaluate(bundle, images, ["block"])
    assert acts["block"].shape == (5, 16, 10)
    vector = obj.reduce(acts["block"], how).numpy()
    assert np.allclose(vector, stored, atol=1e-5)
    for k in range(10):                                  # every unit the objectives address
        assert np.allclose(obj.channel("block", k, how).values(acts).numpy(), stored[:, k], atol=1e-5)
    v = np.random.default_rng(1).normal(size=10)
    expect = stored @ (v / np.linalg.norm(v))
    assert np.allclose(obj.direction("block", v, how).values(acts).numpy(), expect, atol=1e-5)
    # the generator's codes and the methods' metrics read the same vector
    assert np.allclose(codes_of(bundle, images, "block", how).numpy(), stored, atol=1e-5)
    assert np.allclose(layer_features(bundle, images, "block", how)[0], stored, atol=1e-5)


def test_token_neuron_and_channel_range():
    bundle = token_bundle()
    images = torch.stack([bundle.to_unit_tensor(p) for p in _images(2)])
    acts = evaluate(bundle, images, ["block"])
    assert torch.equal(obj.neuron("block", 7).values(acts), acts["block"][:, 8, 7])
    assert torch.equal(obj.neuron("block", 7, y=3).values(acts), acts["block"][:, 3, 7])
    with pytest.raises(ValueError, match="channel 10 out of range"):
        obj.channel("block", 10).values(acts)
