"""The real CIFAR-10 ResNet checkpoints in ../shared/data (skipped when absent)."""
from __future__ import annotations

import numpy as np
import torch
from conftest import CIFAR_IMAGES, CIFAR_RESNET20, CIFAR_RESNET32, requires_shared_data

from topoact.data import open_dataset
from topoact.hashing import file_sha256
from topoact.models import list_layers, load_model


class _Preprocessed(torch.utils.data.Dataset):
    def __init__(self, images, bundle, indices):
        self.images, self.bundle, self.indices = images, bundle, indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, k):
        i = int(self.indices[k])
        return self.bundle.preprocess(self.images.load(i)), int(self.images.labels()[i])


def _accuracy(bundle, per_class: int) -> float:
    images = open_dataset(str(CIFAR_IMAGES))
    labels = images.labels()
    # the first `per_class` images of every class (the folder order is class by class)
    indices = np.concatenate([np.flatnonzero(labels == c)[:per_class]
                              for c in range(len(images.class_names))])
    loader = torch.utils.data.DataLoader(_Preprocessed(images, bundle, indices), batch_size=100)
    correct = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((bundle.module(x).argmax(1) == y).sum())
    return correct / len(indices)


@requires_shared_data
def test_resnet20_checkpoint_accuracy():
    bundle = load_model("cifar-resnet20", weights=CIFAR_RESNET20)
    assert bundle.hash == file_sha256(CIFAR_RESNET20)
    assert open_dataset(str(CIFAR_IMAGES)).class_names == bundle.class_names
    assert dict(list_layers(bundle))["layer3"] == (64, 8, 8)
    accuracy = _accuracy(bundle, per_class=100)
    assert accuracy > 0.78, accuracy  # 81.0% measured on all 5,000 JPEGs


@requires_shared_data
def test_resnet32_checkpoint_loads():
    bundle = load_model("cifar-resnet32", weights=CIFAR_RESNET32)
    assert bundle.info["random_weights"] is False
    assert sum(p.numel() for p in bundle.module.parameters()) == 464154
    assert _accuracy(bundle, per_class=20) > 0.7
