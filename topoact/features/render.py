"""The optimisation loop: parameterization -> transforms -> model -> objective -> step.

``optimize`` only optimises: it displays nothing, saves nothing, has no global device and
leaves the model as found (hooks removed, eval/train flags, ``requires_grad`` and ``.grad``
restored, in ``finally``). It is deterministic for a given ``seed``: all randomness (the
starting image and the transforms) comes from one ``torch.Generator``. It uses CUDA when
present unless ``device`` is given.

Speed (issue 6 asks < 2 s for a first image, < 5 s for a batch of 8, 32 px, 256 steps, on 2
busy cores): profiling ResNet-20 shows ~76 % of a step in mkldnn convolution forward/backward
and < 10 % in Python, transforms and the optimiser, so the loop cuts *work* rather than
overhead:

* **Early stop.** When the objective reads no ``"logits"``, the forward pass is stopped (a
  private exception raised by a forward hook, caught here) as soon as every hooked layer has
  produced its output, so the rest of the network costs neither forward nor backward. The
  first step runs the full forward and counts how often each hooked module fires; the stop is
  armed only when each fires exactly once per forward (a module reused within one forward,
  e.g. torchvision's shared ``relu``, keeps full forwards, so recorded values always equal a
  full forward's). Disable with ``early_stop=False``.
* The normalisation is one precomputed ``x * a + b`` (no tensors built per step).
* **Batch norm folded** into the convolutions on a private copy of the model
  (:mod:`topoact.features.fold`, ``fold=True``): ResNet-20, batch 8, one thread, CPU time per
  32 steps 0.85 s vs 1.1 s (-22 %), outputs equal to 1e-5.
* Measured and rejected (see benchmarks/featvis.py's docstring): ``channels_last`` (within
  noise, 0-5 %), flushing denormals (no gain).
* **Threads are measured, not guessed** (``threads='auto'``, CPU only). On an idle 2-core
  machine two intra-op threads are faster (ResNet-20, 32 px, batch 8: 6.0 s vs 9.1 s); on an
  oversubscribed one (load 11-19 on 2 cores, issue 13's session) two OpenMP threads wait for
  each other at every barrier while the scheduler runs other processes, and a step became
  5-20x *slower* than with one thread. A load-average rule got this wrong both ways (it halved
  the speed at load 2.5), so :class:`_ThreadTuner` times real steps: steps 1-2 with torch's
  thread count, 3-4 with one thread, keeps the faster, and re-times the other one for a step
  now and then (after 32, 64, 128 ... steps) since the load changes. Results do not depend on
  the thread count (checked bit for bit on ResNet-20 and the test model), so a render stays
  reproducible from its seed.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import torch

from ..progress import Cancelled, CancelFn, ProgressFn, check_cancelled, report
from .fold import fold_batchnorm
from .hooks import SPECIAL_LAYERS, frozen, recording
from .objectives import Objective
from .transforms import Transform, compose

if TYPE_CHECKING:
    from topoact.models.base import ModelBundle

__all__ = ["optimize", "evaluate", "thread_limit", "Cancelled", "NormalizedGradient", "default_device",
           "PreviewFn"]

log = logging.getLogger(__name__)

#: ``preview(step, images)``: images (B, 3, H, W) in [0, 1] on the CPU after ``step`` steps
PreviewFn = Callable[[int, torch.Tensor], None]


class _StopForward(Exception):
    """Raised by the early-stop hook once every layer the objective reads has fired."""


class _EarlyStop:
    """Forward hooks that count calls per layer and, once armed, stop the forward pass as
    soon as every layer in ``layers`` fired in the current pass (see the module docstring)."""

    def __init__(self, model, layers, bundle=None):
        from .hooks import resolve_module

        self.layers = [name for name in dict.fromkeys(layers) if name not in SPECIAL_LAYERS]
        self.counts = dict.fromkeys(self.layers, 0)
        self.armed = False
        self.owner = threading.get_ident()
        self.handles = []
        for name in self.layers:
            module = resolve_module(model, name, bundle)
            self.handles.append(module.register_forward_hook(
                lambda _m, _i, _o, _name=name: self._fired(_name)))

    def _fired(self, name):
        if threading.get_ident() != self.owner:
            return
        self.counts[name] += 1
        if self.armed and all(self.counts[n] for n in self.layers):
            raise _StopForward

    def start_pass(self):
        self.counts = dict.fromkeys(self.layers, 0)

    def after_full_pass(self):
        """Arm the stop if each hooked layer fired exactly once in the pass just run."""
        self.armed = bool(self.layers) and all(c == 1 for c in self.counts.values())

    def remove(self):
        for h in self.handles:
            h.remove()
        self.handles = []


def _normalizer(bundle, device):
    """``x -> (x - mean) / std`` as a precomputed ``x * a + b`` (bundle's own ``normalize``
    when it has no ``mean``/``std``)."""
    mean, std = getattr(bundle, "mean", None), getattr(bundle, "std", None)
    from topoact.models.base import ModelBundle

    if mean is None or std is None or type(bundle).normalize is not ModelBundle.normalize:
        return bundle.normalize
    std_t = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    a = 1.0 / std_t
    b = -torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1) * a
    return lambda x: torch.addcmul(b, x, a)


def default_device() -> torch.device:
    """CUDA when available, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class NormalizedGradient(torch.optim.Optimizer):
    """Gradient descent with steps of size ``lr`` times ``g / mean(|g|)`` (DGN-AM's update)."""

    def __init__(self, params, lr: float = 1.0, eps: float = 1e-12):
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:
        """One normalised-gradient step on every parameter with a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad
                    p.add_(g / (g.abs().mean() + group["eps"]), alpha=-group["lr"])


class _ThreadTuner:
    """Chooses, by timing optimisation steps, between torch's thread count and one thread.

    Parameters
    ----------
    steps : int
        Length of the optimisation (no tuning below 8 steps, or with one thread anyway).
    """

    def __init__(self, steps: int):
        self.default = torch.get_num_threads()
        self.active = self.default > 1 and steps >= 8
        self.times = {self.default: [], 1: []}
        self.best = self.default
        self.next_probe, self.interval = 5 + 32, 32
        self.current = self.default

    def before(self, step: int) -> None:
        """Set the thread count for ``step`` (trial steps, then the faster, with probes)."""
        if not self.active:
            return
        if step <= 2:
            n = self.default
        elif step <= 4:
            n = 1
        elif step == self.next_probe:
            n = 1 if self.best == self.default else self.default
        else:
            n = self.best
        if n != self.current:
            torch.set_num_threads(n)
            self.current = n

    def after(self, step: int, seconds: float) -> None:
        """Record the wall time of ``step`` and update the choice."""
        if not self.active or step == 0:
            return
        times = self.times[self.current]
        times.append(seconds)
        del times[:-2]                                  # the two most recent timings per count
        if step == 4 or step == self.next_probe:
            old = self.best
            self.best = min(self.times, key=lambda n: min(self.times[n]) if self.times[n] else 1e9)
            if step == self.next_probe:
                self.interval = self.interval * 2 if self.best == old else 32
                self.next_probe = step + self.interval
            log.debug("threads: %d (step %d; recent step times %s)", self.best, step, self.times)


def _module_device(module: torch.nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def optimize(bundle: ModelBundle, objective: Objective, param_f: Callable[..., tuple],
             transforms: Sequence[Transform] = (), steps: int = 256, lr: float = 0.05,
             seed: int = 0, progress: ProgressFn | None = None,
             should_cancel: CancelFn | None = None, *, optimizer: str = "adam",
             after_step: Callable[[], None] | None = None, device: torch.device | str | None = None,
             threads: int | str | None = "auto", transform_until: float = 1.0,
             early_stop: bool = True, preview: PreviewFn | None = None,
             preview_every: int = 32, fold: bool = True) -> torch.Tensor:
    """Optimise images to maximise ``objective`` on ``bundle.module``.

    Parameters
    ----------
    bundle : ModelBundle (``module``, ``normalize``).
    objective : :class:`~topoact.features.objectives.Objective`.
    param_f : callable ``(generator=, device=) -> (params, image_f)``
        (see :func:`topoact.features.param.image_param`).
    transforms : list of size-preserving transforms applied before the model.
    steps, lr : optimisation length and step size.
    seed : seed of the generator behind the initial image and the transforms.
    progress : optional ``progress(done, total, message)`` callback (:mod:`topoact.progress`),
        called with ``(step, steps, "step k/n")`` after each step.
    should_cancel : optional callable polled before each step; when it returns True,
        :class:`topoact.progress.Cancelled` is raised.
    optimizer : ``'adam'`` or ``'normalized'`` (:class:`NormalizedGradient`).
    after_step : optional callable run after each step (e.g. clipping a code).
    device : torch device; default CUDA when available else CPU (the model is moved there
        for the duration of the call and moved back afterwards).
    transform_until : apply ``transforms`` only during this fraction of the steps (the rest
        optimises the image exactly as it will be evaluated; inverse sets use this to land on
        their level precisely).
    threads : CPU threads for the call (restored afterwards). ``'auto'``: torch's own count or
        one thread, whichever makes steps faster now (timed, see the module docstring); None:
        torch's own setting.
    early_stop : stop the forward pass after the last layer the objective reads (only when
        the objective does not read ``"logits"``; see the module docstring).
    preview : optional callable ``preview(step, images)`` called every ``preview_every`` steps
        (and not after the last one) with the current images (B, 3, H, W) in [0, 1] on the CPU,
        so a user interface can show a first picture long before the optimisation ends.
    preview_every : steps between previews.
    fold : run the loop on a private copy of the model with its batch norms folded into the
        convolutions (:mod:`topoact.features.fold`; same values up to float rounding at every
        layer the objective reads, ~20 % less CPU per ResNet-20 step). The model itself is
        never changed; hooks a caller put on it do not run on the copy.

    Returns
    -------
    images : tensor (B, 3, H, W), float in [0, 1], on the CPU.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    model = bundle.module
    device = torch.device(device) if device is not None else default_device()
    home = _module_device(model)
    generator = torch.Generator().manual_seed(int(seed))
    transform = compose(transforms)
    stopper = None
    try:
        if device != home:
            model.to(device)
        normalize = _normalizer(bundle, device)
        tuned = threads == "auto" and device.type == "cpu"  # the tuner's changes are undone
        folded = fold_batchnorm(model, objective.layers) if fold else None
        net = model if folded is None else folded
        with thread_limit(bundle, torch.get_num_threads() if tuned else threads, device), \
                frozen(model), \
                recording(net, objective.layers, bundle) as acts:
            if early_stop and "logits" not in objective.layers:
                stopper = _EarlyStop(net, objective.layers, bundle)
            params, image_f = param_f(generator=generator, device=device)
            if optimizer == "adam":
                opt = torch.optim.Adam(params, lr=lr)
            elif optimizer == "normalized":
                opt = NormalizedGradient(params, lr=lr)
            else:
                raise ValueError(f"optimizer must be 'adam' or 'normalized', got {optimizer!r}")
            tuner = _ThreadTuner(steps if tuned else 0)
            for step in range(steps):
                check_cancelled(should_cancel, f"optimisation (step {step} of {steps})")
                tuner.before(step)
                started = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                images = image_f()
                shown = transform(images, generator) if step < transform_until * steps else images
                if stopper is not None:
                    stopper.start_pass()
                try:
                    out = net(normalize(shown))
                except _StopForward:
                    out = None
                else:
                    if stopper is not None and step == 0:
                        stopper.after_full_pass()
                acts["input"], acts["progress"] = images, step / steps
                if out is not None:
                    acts["logits"] = out
                else:
                    acts.pop("logits", None)  # no stale output from an earlier full pass
                loss = -objective(acts)
                loss.backward()
                opt.step()
                if after_step is not None:
                    after_step()
                tuner.after(step, time.perf_counter() - started)
                report(progress, step + 1, steps, f"step {step + 1}/{steps}")
                if preview is not None and (step + 1) % preview_every == 0 and step + 1 < steps:
                    with torch.no_grad():
                        preview(step + 1, image_f().detach().clamp(0, 1).cpu())
            with torch.no_grad():
                result = image_f().detach().clamp(0, 1).cpu()
            for p in params:
                p.grad = None
        log.debug("optimized %s for %d steps, final loss %.4g", objective.name, steps, float(loss.detach()))
        return result
    finally:
        if stopper is not None:
            stopper.remove()
        if device != home:
            model.to(home)


def _threads(threads, device, bundle) -> int | None:
    if threads is None:
        return None
    if threads == "auto":
        return None           # torch's own setting, never lowered because the machine is busy
    return int(threads)


_THREAD_LOCK = threading.Lock()
_THREAD_STATE = {"depth": 0, "saved": None}


@contextmanager
def thread_limit(bundle: ModelBundle, threads: int | str | None = "auto",
                 device: torch.device | str = "cpu") -> Iterator[None]:
    """Set torch's CPU threads for a block (see ``optimize``'s ``threads``), then restore.

    torch's thread count is process-wide, so nested or concurrent blocks (several threads of
    one process) share one saved value: the first block to enter saves it and the last one to
    leave restores it.

    Parameters
    ----------
    bundle : ModelBundle
        Its ``input_size`` decides what counts as a small image.
    threads : int, 'auto' or None
        See :func:`optimize`.
    device : torch device
        Only CPU work is limited.
    """
    n = _threads(threads, device, bundle)
    if not n:
        yield
        return
    with _THREAD_LOCK:
        if _THREAD_STATE["depth"] == 0:
            _THREAD_STATE["saved"] = torch.get_num_threads()
        _THREAD_STATE["depth"] += 1
        torch.set_num_threads(n)
    try:
        yield
    finally:
        with _THREAD_LOCK:
            _THREAD_STATE["depth"] -= 1
            if _THREAD_STATE["depth"] == 0:
                torch.set_num_threads(_THREAD_STATE["saved"])


@torch.no_grad()
def evaluate(bundle: ModelBundle, images: torch.Tensor, layers: Sequence[str],
             device: torch.device | str | None = None) -> dict:
    """One plain forward pass, the model left as found.

    Parameters
    ----------
    bundle : ModelBundle
    images : tensor of shape (B, 3, H, W)
        Images in [0, 1].
    layers : sequence of str
        Layers to record.
    device : torch device, optional
        Default: where the model is.

    Returns
    -------
    dict
        ``{layer: raw output}`` plus ``"logits"`` (B, K) and ``"input"``, all on the CPU.
    """
    model = bundle.module
    device = torch.device(device) if device is not None else _module_device(model)
    with thread_limit(bundle, "auto", device), frozen(model), \
            recording(model, layers, bundle) as acts:
        x = images.to(device)
        out = model(bundle.normalize(x))
        result = {k: v.detach().cpu() for k, v in acts.items()}
    result["logits"], result["input"] = out.cpu(), images.cpu()
    return result
