"""Engine of topoact.features: parameterizations, transforms, objectives, render loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from topoact.features import objectives as obj
from topoact.features import param, transforms
from topoact.features.render import Cancelled, evaluate, optimize
from topoact.models.base import ModelBundle
from feat_fixtures import tiny_bundle


@pytest.fixture(scope="module")
def bundle():
    return tiny_bundle()


# -- parameterizations ---------------------------------------------------------------------
@pytest.mark.parametrize("fft", [False, True])
def test_param_shapes_range_and_init_from_images(fft):
    f = param.image_param((16, 12), batch=3, fft=fft)
    params, image_f = f(generator=torch.Generator().manual_seed(0), device="cpu")
    img = image_f()
    assert img.shape == (3, 3, 16, 12) and img.min() >= 0 and img.max() <= 1
    assert all(p.requires_grad for p in params)
    src = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.05
    _, again = param.from_images(src, fft=fft)
    assert torch.allclose(again(), src, atol=1e-4)


# -- transforms ----------------------------------------------------------------------------
def test_transforms_keep_size_and_are_deterministic():
    x = torch.rand(4, 3, 32, 32)
    t = transforms.compose(transforms.standard_transforms(32))
    a = t(x, torch.Generator().manual_seed(3))
    b = t(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, t(x, torch.Generator().manual_seed(4)))
    assert transforms.pad(2)(x, None).shape == (4, 3, 36, 36)
    # at 32 px the jitter is one pixel: a translated image stays mostly equal to the original
    shifted = transforms.jitter(1)(x, torch.Generator().manual_seed(0))
    assert shifted.shape == x.shape
    with pytest.raises(ValueError, match="pad mode"):
        transforms.pad(2, mode="wrap")


# -- objectives: each one decreases its loss ----------------------------------------------
def _objectives():
    ref = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    return {
        "neuron": obj.neuron("conv2", 3),
        "neuron_flat": obj.neuron("fc", 1),
        "channel": obj.channel("relu2", 5),
        "channel_center": obj.channel("conv2", 5, reduce="center"),
        "direction_dot": obj.direction("relu2", np.linspace(0, 1, 16)),
        "direction_cossim": obj.direction("relu2", np.linspace(0, 1, 16), cossim_pow=1.0),
        "layer_activation": obj.layer_activation("relu1"),
        "class_logit": obj.class_logit(2),
        "diversity": obj.diversity("relu1"),
        "reference_distance": obj.reference_distance(ref),
        "l1": obj.l1(),
        "l2": obj.l2(constant=0.2),
        "total_variation": obj.total_variation(),
        "level": obj.level(obj.channel("relu2", 5), target=0.8),
        "sum": obj.channel("relu2", 1) + 0.5 * obj.channel("relu2", 2) - 0.1 * obj.l2(),
    }


@pytest.mark.parametrize("name", list(_objectives()))
def test_each_objective_decreases_its_loss(bundle, name):
    objective = _objectives()[name]
    param_f = param.image_param(bundle.input_size, batch=2, fft=False, sd=0.5)
    _, start_f = param_f(generator=torch.Generator().manual_seed(0), device="cpu")
    start = start_f().detach()
    end = optimize(bundle, objective, param_f, [], steps=25, lr=0.05, seed=0)
    layers = [l for l in objective.layers if l not in ("input", "logits")]
    before = float(-objective(evaluate(bundle, start, layers)))
    after = float(-objective(evaluate(bundle, end, layers)))
    assert after < before, (name, before, after)


def test_objective_algebra(bundle):
    x = torch.rand(3, 3, 16, 16)
    acts = evaluate(bundle, x, ["relu2"])
    a, b = obj.channel("relu2", 0), obj.channel("relu2", 1)
    assert torch.allclose((a + 2 * b).values(acts), a.values(acts) + 2 * b.values(acts))
    assert torch.allclose(sum([a, b]).values(acts), (a + b).values(acts))
    assert torch.allclose((a - b)(acts), a(acts) - b(acts))
    gap = obj.channel("relu2", 0, "gap").values(acts)
    assert torch.allclose(gap, acts["relu2"][:, 0].mean((1, 2)))
    center = obj.channel("relu2", 0, "center").values(acts)
    assert torch.allclose(center, acts["relu2"][:, 0, 4, 4])
    assert torch.allclose(obj.channel("relu2", 0, "random").values(acts), gap)
    lv = obj.level(a, 0.3).values(acts)
    assert torch.allclose(lv, -(a.values(acts) - 0.3) ** 2)


def test_objective_errors(bundle):
    x = torch.rand(1, 3, 16, 16)
    acts = evaluate(bundle, x, ["relu2"])
    with pytest.raises(ValueError, match="channel 16 out of range.*16 channels"):
        obj.channel("relu2", 16)(acts)
    with pytest.raises(ValueError, match="unknown reduce"):
        obj.channel("relu2", 0, reduce="max")
    with pytest.warns(DeprecationWarning, match="reduce="):
        obj.channel("relu2", 0, reduction="center")
    with pytest.raises(ValueError, match="non-zero"):
        obj.direction("relu2", np.zeros(16))
    with pytest.raises(ValueError, match="unknown layer 'nope'.*conv1.*relu2"):
        optimize(bundle, obj.channel("nope", 0), param.image_param((16, 16)), steps=1)


# -- render: determinism, progress, cancel, model left as found ---------------------------
def test_optimize_is_deterministic_given_seed(bundle):
    o = obj.channel("relu2", 3) + 0.2 * obj.diversity("relu2")
    pf = param.image_param(bundle.input_size, batch=2)
    tf = transforms.standard_transforms(16)
    a = optimize(bundle, o, pf, tf, steps=8, seed=7)
    b = optimize(bundle, o, pf, tf, steps=8, seed=7)
    c = optimize(bundle, o, pf, tf, steps=8, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (2, 3, 16, 16) and a.min() >= 0 and a.max() <= 1 and not a.requires_grad


def _state(model):
    return ({n: m.training for n, m in model.named_modules()},
            {n: (p.requires_grad, None if p.grad is None else p.grad.clone())
             for n, p in model.named_parameters()},
            {k: v.clone() for k, v in model.state_dict().items()})


def _hook_count(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_model_left_as_found_even_when_objective_raises():
    b = tiny_bundle()
    model = b.module
    model.train()
    model.conv1.training = False  # mixed flags must come back exactly
    model.fc.weight.requires_grad_(False)
    model.conv2.weight.grad = torch.ones_like(model.conv2.weight)
    before = _state(model)

    calls = {"n": 0}

    def boom(acts):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("objective failed")
        return acts["relu2"].mean()

    failing = obj.Objective(boom, ["relu2", "conv1"])
    with pytest.raises(RuntimeError, match="objective failed"):
        optimize(b, failing, param.image_param(b.input_size), steps=10)
    after = _state(model)
    assert _hook_count(model) == 0
    assert before[0] == after[0]
    assert {k: v[0] for k, v in before[1].items()} == {k: v[0] for k, v in after[1].items()}
    assert torch.equal(after[1]["conv2.weight"][1], torch.ones_like(model.conv2.weight))
    assert all(after[1][k][1] is None for k in after[1] if k != "conv2.weight")
    assert all(torch.equal(before[2][k], after[2][k]) for k in before[2])

    # a successful run leaves it as found too, and keeps no gradients
    model.conv2.weight.grad = None
    optimize(b, obj.channel("relu2", 0), param.image_param(b.input_size), steps=3)
    assert _hook_count(model) == 0 and model.training and not model.conv1.training
    assert all(p.grad is None for p in model.parameters())


def test_progress_and_cancel(bundle):
    seen = []
    optimize(bundle, obj.channel("relu2", 0), param.image_param((16, 16)), steps=4,
             progress=lambda done, total, message="": seen.append((done, total, message)))
    assert seen == [(k, 4, f"step {k}/4") for k in (1, 2, 3, 4)]
    ticks = iter([False, False, True])
    with pytest.raises(Cancelled, match="step 2"):
        optimize(bundle, obj.channel("relu2", 0), param.image_param((16, 16)), steps=10,
                 should_cancel=lambda: next(ticks))
    assert _hook_count(bundle.module) == 0


def test_concurrent_optimizations_do_not_mix(bundle):
    """Two threads optimising different objectives on one shared model (as app jobs do) give
    the same images as when run alone, and the model's state comes back."""
    import threading

    b = tiny_bundle()
    flags = [p.requires_grad for p in b.module.parameters()]
    jobs = {"a": obj.channel("relu2", 1), "b": obj.class_logit(3)}
    alone = {k: optimize(b, o, param.image_param((16, 16), batch=2), steps=30, seed=1)
             for k, o in jobs.items()}
    together = {}

    def work(k):
        together[k] = optimize(b, jobs[k], param.image_param((16, 16), batch=2), steps=30, seed=1)

    threads = [threading.Thread(target=work, args=(k,)) for k in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in jobs:
        assert torch.allclose(alone[k], together[k], atol=1e-5), k
    assert [p.requires_grad for p in b.module.parameters()] == flags
    assert _hook_count(b.module) == 0 and torch.get_num_threads() >= 1


# -- early stop ----------------------------------------------------------------------------
def test_early_stop_skips_later_layers_with_identical_pixels(bundle):
    calls = {"fc": 0}
    handle = bundle.module.fc.register_forward_hook(lambda *a: calls.__setitem__("fc", calls["fc"] + 1))
    try:
        pf = param.image_param((16, 16), batch=2)
        tf = transforms.standard_transforms(16)
        early = optimize(bundle, obj.channel("conv2", 3), pf, tf, steps=12, seed=4)
        fc_calls_early = calls["fc"]
        full = optimize(bundle, obj.channel("conv2", 3), pf, tf, steps=12, seed=4, early_stop=False)
        fc_calls_full = calls["fc"] - fc_calls_early
    finally:
        handle.remove()
    assert torch.equal(early, full)
    assert fc_calls_early == 1 and fc_calls_full == 12  # only the first (counting) pass is full
    # an objective that reads the output keeps every forward complete
    calls["fc"] = 0
    handle = bundle.module.fc.register_forward_hook(lambda *a: calls.__setitem__("fc", calls["fc"] + 1))
    try:
        optimize(bundle, obj.channel("conv2", 3) + obj.class_logit(1), pf, tf, steps=5, seed=4)
    finally:
        handle.remove()
    assert calls["fc"] == 5
    assert len(bundle.module.conv2._forward_hooks) == 0


def test_early_stop_is_not_armed_for_a_module_called_twice():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.act = nn.Tanh()
            self.head = nn.Linear(3, 2)

        def forward(self, x):
            x = self.act(self.conv(self.act(x)))  # 'act' fires twice per forward
            return self.head(x.mean((2, 3)))

    torch.manual_seed(0)
    b = ModelBundle(Twice().eval(), (8, 8), (0.5,) * 3, (0.25,) * 3, ["a", "b"], "twice", hash="twice")
    pf = param.image_param((8, 8), batch=1)
    early = optimize(b, obj.channel("act", 0), pf, [], steps=6, seed=1)
    full = optimize(b, obj.channel("act", 0), pf, [], steps=6, seed=1, early_stop=False)
    assert torch.equal(early, full)  # the objective saw the second (last) call both times


def test_preview_shows_the_images_of_the_step_it_names(bundle):
    """Previews arrive every ``preview_every`` steps (not after the last), and each is the image
    the optimisation had at that step: a run stopped there ends on the same pixels."""
    o = obj.channel("relu2", 3)
    pf = param.image_param(bundle.input_size, batch=1)
    seen = []
    optimize(bundle, o, pf, [], steps=10, seed=3, preview=lambda step, img: seen.append((step, img.clone())),
             preview_every=4)
    assert [step for step, _ in seen] == [4, 8]
    short = optimize(bundle, o, pf, [], steps=4, seed=3)
    assert seen[0][1].shape == short.shape
    assert torch.allclose(seen[0][1], short, atol=1e-6)


# -- threads -------------------------------------------------------------------------------
def test_thread_tuner_keeps_the_faster_count_and_follows_a_change_of_load(bundle):
    """The tuner times real steps: it settles on the faster thread count, spends few steps on
    the slower one, switches back when the load changes, and optimize restores the count."""
    from topoact.features.render import _ThreadTuner

    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        tuner = _ThreadTuner(400)
        used = []
        for step in range(400):
            tuner.before(step)
            used.append(torch.get_num_threads())
            busy = step < 200                    # two threads are 5x slower while "busy"
            tuner.after(step, (5.0 if busy else 0.8) if used[-1] == 2 else 1.0)
        assert used[:5] == [2, 2, 2, 1, 1]
        assert sum(n == 2 for n in used[5:200]) <= 4          # only the occasional probe
        assert sum(n == 2 for n in used[-100:]) >= 98         # idle again: back to two
        torch.set_num_threads(2)
        optimize(bundle, obj.channel("relu2", 1), param.image_param((16, 16)), steps=12)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(saved)


def test_random_affine_is_one_exact_resampling():
    """No zoom/rotation: the output is the input shifted by whole pixels (exact interior), a
    different shift per image; the standard recipe is this one transform."""
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(transforms.random_affine(0, [1.0], [0.0])(x, None), x, atol=1e-5)
    y = transforms.random_affine(2, [1.0], [0.0])(x, torch.Generator().manual_seed(1))
    shifts = []
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.allclose(y[i, :, 2:-2, 2:-2], x[i, :, 2 + dy:14 + dy, 2 + dx:14 + dx],
                                   atol=1e-5)]
        assert len(found) == 1, i
        shifts.append(found[0])
    assert len(set(shifts)) > 1
    std = transforms.standard_transforms(32)
    assert len(std) == 1
    z = std[0](torch.rand(2, 3, 32, 32), torch.Generator().manual_seed(0))
    assert z.shape == (2, 3, 32, 32)


# -- batch-norm folding --------------------------------------------------------------------
def _bn_bundle():
    torch.manual_seed(0)
    m = nn.Sequential()
    m.add_module("conv1", nn.Conv2d(3, 8, 3, padding=1))
    m.add_module("bn1", nn.BatchNorm2d(8))
    m.add_module("relu1", nn.ReLU())
    m.add_module("conv2", nn.Conv2d(8, 8, 3, padding=1))
    m.add_module("bn2", nn.BatchNorm2d(8))
    m.add_module("relu2", nn.ReLU())
    m.add_module("pool", nn.AdaptiveAvgPool2d(1))
    m.add_module("flat", nn.Flatten())
    m.add_module("fc", nn.Linear(8, 3))
    for bn in (m.bn1, m.bn2):                      # non-trivial running statistics
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.2, 0.2)
    m.eval()
    return ModelBundle(m, (16, 16), (0.5,) * 3, (0.25,) * 3, list("abc"), "bn", hash="bn")


def test_batchnorm_folding_keeps_values_and_leaves_the_model_alone():
    """Folded copy: same outputs at every read layer, fewer batch norms, hooked convolutions
    kept; optimize with fold=True gives the images of fold=False (to float rounding)."""
    from topoact.features.fold import fold_batchnorm, foldable_pairs

    b = _bn_bundle()
    before = {k: v.clone() for k, v in b.module.state_dict().items()}
    assert foldable_pairs(b.module) == [("conv1", "bn1"), ("conv2", "bn2")]
    assert foldable_pairs(b.module, keep=["conv2"]) == [("conv1", "bn1")]
    folded = fold_batchnorm(b.module, keep=["conv2"])
    assert isinstance(folded.bn1, nn.Identity) and isinstance(folded.bn2, nn.BatchNorm2d)
    x = torch.rand(4, 3, 16, 16)
    assert torch.allclose(folded(x), b.module(x), atol=1e-5)
    assert all(torch.equal(v, b.module.state_dict()[k]) for k, v in before.items())
    o = obj.channel("bn2", 2) + 0.1 * obj.channel("conv2", 1)
    pf = param.image_param((16, 16), batch=2)
    tf = transforms.standard_transforms(16)
    a = optimize(b, o, pf, tf, steps=16, seed=2, fold=True)
    c = optimize(b, o, pf, tf, steps=16, seed=2, fold=False)
    assert torch.allclose(a, c, atol=1e-3)
    assert not torch.equal(a, optimize(b, o, pf, tf, steps=16, seed=3))
    assert sum(len(m._forward_hooks) for m in b.module.modules()) == 0
