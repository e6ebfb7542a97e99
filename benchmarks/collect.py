"""Collection overhead: plain inference vs ``topoact.collect`` on the same model and images.

    python benchmarks/collect.py [--n 2000] [--repeats 3]

Both sides use the same image loading (decode + preprocess, same batch size) and a forward pass
under ``torch.inference_mode``; ``collect`` adds the hooks, the spatial reductions and the chunked
writes to disk. Each side runs ``--repeats`` times, interleaved, and the best time of each is kept
(timings on a shared machine are noisy; the ratio of interleaved runs is what is reported).
Cases: CIFAR ResNet-20 on the shared CIFAR-10 images (32 px), torchvision resnet18 with random
weights on the same images at 64 px; the demo CNN on the built-in set when the shared data is absent.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import topoact  # noqa: E402
from topoact.collection import _ChunkItems, _collate, _first_tensor, _Preprocessor  # noqa: E402
from topoact.models.base import ModelBundle  # noqa: E402

SHARED = Path(os.environ.get("TOPOACT_SHARED_DATA", REPO.parent / "shared" / "data"))


def plain_inference(bundle, dataset, n: int, batch_size: int) -> float:
    """Seconds to load, preprocess and classify the first ``n`` images (no hooks, no writes)."""
    preprocess = _Preprocessor(tuple(bundle.input_size), tuple(bundle.mean), tuple(bundle.std))
    loader = torch.utils.data.DataLoader(_ChunkItems(dataset, np.arange(n), preprocess, None),
                                         batch_size=batch_size, num_workers=0, collate_fn=_collate)
    bundle.module.eval()
    start = time.perf_counter()
    predictions = []
    with torch.inference_mode():
        for _index, batch, _bad, _thumbs in loader:
            predictions.append(_first_tensor(bundle.module(batch)).argmax(1).numpy())
    return time.perf_counter() - start


def collect_time(bundle, dataset, layers, n: int, batch_size: int, reduce: str) -> float:
    out = Path(tempfile.mkdtemp(prefix="topoact-bench-"))
    try:
        start = time.perf_counter()
        topoact.collect(bundle, dataset, layers, out=out / "run", limit=n, batch_size=batch_size,
                        chunk_size=1024, reduce=reduce, num_workers=0, progress=False)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def cases(n: int):
    from topoact.data import open_dataset
    from topoact.models import load_model

    images = SHARED / "cifar10" / "images"
    weights = SHARED / "cifar10-resnet" / "resnet20.th"
    if images.is_dir() and weights.is_file():
        data = open_dataset(str(images))
        r20 = load_model("cifar-resnet20", weights=str(weights))
        yield "cifar-resnet20, CIFAR 32px", r20, data, ["layer1", "layer2", "layer3"]
        import torchvision

        torch.manual_seed(0)
        r18 = ModelBundle(module=torchvision.models.resnet18(weights=None).eval(), input_size=(64, 64),
                          mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                          class_names=[f"class_{i}" for i in range(1000)], spec="torchvision:resnet18")
        yield "torchvision resnet18 (random), CIFAR 64px", r18, data, ["layer1", "layer2", "layer3", "layer4"]
    else:
        print(f"(shared data not found at {SHARED}: measuring the demo CNN on the built-in set)")
        from topoact.demo import DEMO_LAYERS

        yield "demo CNN, shapes 32px", load_model("demo"), open_dataset(f"shapes:{n}"), DEMO_LAYERS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="images per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--reduce", default="gap", choices=["gap", "random", "center"])
    args = parser.parse_args(argv)
    # collect() sets glibc's malloc thresholds for the process (topoact.allocator); set them
    # before either side runs so plain inference is measured with the same allocator
    from topoact.allocator import tune_malloc
    tune_malloc()

    rows = []
    for name, bundle, data, layers in cases(args.n):
        n = min(args.n, len(data))
        plain_inference(bundle, data, min(n, 256), args.batch_size)  # warm-up (allocator, caches)
        plain, collected = [], []
        for _ in range(args.repeats):
            plain.append(plain_inference(bundle, data, n, args.batch_size))
            collected.append(collect_time(bundle, data, layers, n, args.batch_size, args.reduce))
        best_plain, best_collect = min(plain), min(collected)
        rows.append((name, n, len(layers), n / best_plain, n / best_collect, best_collect / best_plain - 1))

    print()
    print(f"| case | images | layers | plain inference img/s | collect img/s | overhead |")
    print(f"|---|---|---|---|---|---|")
    for name, n, n_layers, plain_rate, collect_rate, overhead in rows:
        print(f"| {name} | {n} | {n_layers} | {plain_rate:,.0f} | {collect_rate:,.0f} | {overhead:+.1%} |")
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, best of {args.repeats} interleaved runs, "
          f"reduce={args.reduce}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
