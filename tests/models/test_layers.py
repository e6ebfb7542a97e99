"""list_layers / resolve_layers."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from topoact.errors import UnknownLayerError
from topoact.models import cifar_resnet, list_layers, load_model, resolve_layers


def test_resnet20_layer_shapes_and_order():
    bundle = load_model("cifar-resnet20")
    layers = list_layers(bundle)
    shapes = dict(layers)
    assert shapes["layer3"] == (64, 8, 8)
    assert shapes["layer1"] == (16, 32, 32) and shapes["layer2"] == (32, 16, 16)
    assert shapes["layer2.0.shortcut"] == (32, 16, 16)
    assert shapes["layer1.0.conv1"] == (16, 32, 32)
    assert shapes["avgpool"] == (64, 1, 1) and shapes["linear"] == (10,)
    names = [n for n, _ in layers]
    assert "" not in names and len(names) == len(set(names))
    assert names[0] == "conv1" and names[-1] == "linear"
    assert names.index("layer1.2.relu2") < names.index("layer1") < names.index("layer2.0.conv1")
    # every submodule is listed
    assert set(names) == {n for n, _ in bundle.module.named_modules() if n}


def test_list_layers_restores_state_and_removes_hooks():
    model = cifar_resnet(20)
    model.train()
    model.layer1.eval()  # mixed modes must survive
    list_layers(model, input_size=(32, 32))
    assert model.training and not model.layer1.training and model.layer2.training
    assert all(not m._forward_hooks for m in model.modules())


def test_list_layers_hooks_removed_on_error():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3)

        def forward(self, x):
            self.conv(x)
            raise RuntimeError("boom")

    model = Broken()
    with pytest.raises(RuntimeError, match="boom"):
        list_layers(model, input_size=(8, 8))
    assert not model.conv._forward_hooks and model.training


def test_non_tensor_outputs_and_unused_modules():
    class Pair(nn.Module):
        def forward(self, x):
            return x, x

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()
            self.unused = nn.Linear(2, 2)
            self.head = nn.Flatten()

        def forward(self, x):
            return self.head(self.pair(x)[0])

    assert list_layers(Net(), input_size=(4, 4)) == [("pair", None), ("head", (48,)),
                                                     ("unused", None)]


def test_resolve_layers_errors_list_valid_names():
    bundle = load_model("cifar-resnet20")
    assert resolve_layers(bundle, "layer1, layer3,layer1") == ["layer1", "layer3"]
    assert resolve_layers(bundle, ["layer2.0.shortcut"]) == ["layer2.0.shortcut"]
    with pytest.raises(UnknownLayerError) as info:  # also a ValueError and a KeyError
        resolve_layers(bundle, ["layer1", "layer33"])
    assert isinstance(info.value, ValueError) and info.value.layer == "layer33"
    msg = str(info.value)
    assert msg.startswith("unknown layer 'layer33'")
    assert "valid layers: layer3" in msg  # closest match first
    assert "layer1.0.conv1" in msg and "linear" in info.value.valid  # the message shows the first 60
    with pytest.raises(ValueError, match="no layers given"):
        resolve_layers(bundle, "")
