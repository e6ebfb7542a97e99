"""load_model specs, checkpoint loading, TorchScript, torchvision and layer listing."""
from __future__ import annotations

import logging
import urllib.error
import warnings

import pytest
import torch
from torch import nn

from topoact.models import (ModelBundle, cifar_resnet, list_layers, load_model, resolve_layers,
                            save_torchscript)
from topoact.models.cifar_resnet import PadShortcut


def _x(n=2, size=32, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_cifar_state_dict_wrapper_and_module_prefix(tmp_path):
    torch.manual_seed(1)
    ref = cifar_resnet(20)
    # make BN statistics non-trivial so a wrong load would show
    ref.train()
    with torch.no_grad():
        ref(_x(16, seed=5))
    ref.eval()
    state = {f"module.{k}": v for k, v in ref.state_dict().items()}
    path = tmp_path / "r20.th"
    torch.save({"state_dict": state, "best_prec1": 91.7, "epoch": 3}, path)
    bundle = load_model("cifar-resnet20", weights=path)
    assert bundle.info["random_weights"] is False
    assert bundle.spec == "cifar-resnet20" and bundle.weights == str(path)
    assert bundle.input_size == (32, 32) and bundle.class_names[0] == "airplane"
    assert bundle.class_names[-1] == "truck" and bundle.mean == (0.485, 0.456, 0.406)
    assert not bundle.module.training
    from topoact.hashing import file_sha256

    assert bundle.hash == file_sha256(path)
    x = _x(4)
    with torch.no_grad():
        torch.testing.assert_close(bundle.module(x), ref(x), rtol=0, atol=0)


def test_checkpoint_with_missing_keys_fails_clearly(tmp_path):
    state = cifar_resnet(20).state_dict()
    del state["layer2.1.conv1.weight"]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pth"
    torch.save({"model": state}, path)
    with pytest.raises(ValueError) as info:
        load_model("cifar-resnet20", weights=path)
    msg = str(info.value)
    assert "missing keys (1): layer2.1.conv1.weight" in msg
    assert "unexpected keys (1): extra.weight" in msg
    # a ResNet-32 checkpoint in a ResNet-20: many unexpected keys, named
    torch.save(cifar_resnet(32).state_dict(), path)
    with pytest.raises(ValueError, match="unexpected keys .*layer1.3"):
        load_model("cifar-resnet20", weights=path)


def test_pickled_module_is_refused(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(nn.Linear(2, 2), path)
    with pytest.raises(ValueError, match="weights_only|state dict"):
        load_model("cifar-resnet20", weights=path)


def test_cifar_random_weights_warn_and_are_reproducible(caplog):
    with caplog.at_level(logging.WARNING):
        a = load_model("cifar-resnet32")
    assert "RANDOM weights" in caplog.text and a.info["random_weights"] is True
    b = load_model("cifar-resnet32")
    assert a.hash == b.hash
    x = _x(2)
    with torch.no_grad():
        torch.testing.assert_close(a.module(x), b.module(x))
    with pytest.raises(ValueError, match="20, 32, 44, 56, 110"):
        load_model("cifar-resnet21")


def test_option_a_shortcut_pickles_and_scripts(tmp_path):
    import pickle

    model = cifar_resnet(20).eval()
    assert isinstance(model.layer2[0].shortcut, PadShortcut)
    assert sum(p.numel() for p in model.layer2[0].shortcut.parameters()) == 0
    clone = pickle.loads(pickle.dumps(model))
    x = _x(2)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), model(x))
    path = save_torchscript(model, tmp_path / "r20.pt", input_size=(32, 32),
                            class_names=[str(i) for i in range(10)])
    bundle = load_model(path)
    assert bundle.spec.startswith("torchscript:") and bundle.input_size == (32, 32)
    assert bundle.class_names == [str(i) for i in range(10)]
    with torch.no_grad():
        torch.testing.assert_close(bundle.module(x), model(x))
    # resnet20 layout: 3 stages x 3 blocks, 0.27M parameters
    assert sum(p.numel() for p in model.parameters()) == 269722


def test_torchscript_traced_round_trip_and_layers(tmp_path, caplog):
    torch.manual_seed(0)
    tiny = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3)).eval()
    path = tmp_path / "tiny.ts"
    save_torchscript(tiny, path, input_size=(16, 16), trace=True)
    bundle = load_model(f"torchscript:{path}")
    assert bundle.info["hooks_supported"] is False
    x = _x(3, 16)
    with torch.no_grad():
        torch.testing.assert_close(bundle.module(x), tiny(x))
    with caplog.at_level(logging.WARNING):
        layers = list_layers(bundle)
    assert [name for name, _ in layers] == ["0", "1", "2", "3", "4"]
    assert all(shape is None for _, shape in layers)
    assert "hooks are not supported" in caplog.text
    assert resolve_layers(bundle, "0,4") == ["0", "4"]
    # plain TorchScript without topoact metadata: defaults + class count from a forward
    plain = tmp_path / "plain.pt"
    with warnings.catch_warnings():  # torch.jit is deprecated upstream but still supported
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                                      nn.Linear(3, 5))), str(plain))
    b2 = load_model(str(plain))
    assert b2.input_size == (224, 224) and b2.class_names == [f"class_{i}" for i in range(5)]


def test_state_dict_file_with_pt_suffix_gets_a_hint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(cifar_resnet(20).state_dict(), path)
    with pytest.raises(ValueError, match="not a TorchScript archive.*weights"):
        load_model(str(path))


def test_unknown_specs_list_accepted_forms():
    for bad in ("resnet-9000", "torchvision:", 3.5):
        with pytest.raises(ValueError, match="accepted|expected"):
            load_model(bad)
    with pytest.raises(ValueError, match="Did you mean: resnet18"):
        load_model("torchvision:resnet81")
    with pytest.raises(ValueError, match="cannot be reloaded"):
        load_model("module:Net")


def test_torchvision_resnet18_random_weights(caplog):
    with caplog.at_level(logging.WARNING):
        bundle = load_model("torchvision:resnet18")
    assert "RANDOM weights" in caplog.text
    assert bundle.info["random_weights"] is True
    assert bundle.input_size == (224, 224) and bundle.std == (0.229, 0.224, 0.225)
    assert bundle.class_names[0] == "tench" and len(bundle.class_names) == 1000
    layers = dict(list_layers(bundle, input_size=(64, 64)))
    assert layers["layer4"] == (512, 2, 2)
    assert layers["layer1.0.conv1"] == (64, 16, 16)
    assert layers["fc"] == (1000,)
    names = [n for n, _ in list_layers(bundle, input_size=(64, 64))]
    assert names.index("conv1") < names.index("layer1.0.conv1") < names.index("avgpool")


def test_torchvision_local_weights_with_other_class_count(tmp_path):
    import torchvision

    ref = torchvision.models.get_model("resnet18", weights=None, num_classes=7).eval()
    path = tmp_path / "ft.pth"
    torch.save({"model_state_dict": ref.state_dict()}, path)
    bundle = load_model("torchvision:resnet18", weights=path, input_size=(64, 64))
    assert bundle.info["random_weights"] is False
    assert bundle.class_names == [f"class_{i}" for i in range(7)]
    x = _x(2, 64)
    with torch.no_grad():
        torch.testing.assert_close(bundle.module(x), ref(x), rtol=0, atol=0)


def test_torchvision_pretrained_offline_message(monkeypatch, tmp_path):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(RuntimeError) as info:
        load_model("torchvision:resnet18:DEFAULT")
    msg = str(info.value)
    assert "resnet18-f37072fd.pth" in msg and str(tmp_path) in msg and "--weights" in msg
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        load_model("torchvision:resnet18:NOPE")


def test_wrap_any_module_and_bundle_passthrough(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(8, 4))
    net.train()
    bundle = load_model(net, input_size=(20, 20), mean=(0.5,) * 3, std=(0.5,) * 3)
    assert not net.training and bundle.class_names == [f"class_{i}" for i in range(4)]
    assert bundle.spec == "module:Sequential" and bundle.input_size == (20, 20)
    assert load_model(bundle) is bundle and isinstance(bundle, ModelBundle)
    layers = list_layers(bundle)
    assert layers == [("0", (8, 20, 20)), ("1", (8, 20, 20)), ("2", (8, 1, 1)), ("3", (8,)),
                      ("4", (4,))]
    # weights into a module
    other = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 4))
    torch.save(net.state_dict(), tmp_path / "w.pt")
    b2 = load_model(other, weights=tmp_path / "w.pt", class_names=list("abcd"))
    x = _x(2, 20)
    with torch.no_grad():
        torch.testing.assert_close(b2.module(x), net(x))
    assert b2.class_names == list("abcd")
