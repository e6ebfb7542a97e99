"""Built-in image sets, open_dataset specs and torchvision wrapping."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from topoact.data import (DigitsDataset, ImageFolder, ImageSet, ShapesDataset, WrappedDataset,
                          open_dataset)
from topoact.data.synthetic import SHAPE_CLASSES


def test_shapes_deterministic_and_lazy_in_any_order():
    a = ShapesDataset(64, seed=3)
    b = ShapesDataset(64, seed=3)
    forward = [np.asarray(a.load(i)) for i in range(64)]
    backward = [np.asarray(b.load(i)) for i in reversed(range(64))][::-1]
    for x, y in zip(forward, backward):
        assert x.shape == (32, 32, 3) and x.dtype == np.uint8
        np.testing.assert_array_equal(x, y)
    # image i depends only on (seed, i): a bigger set shares its prefix
    big = ShapesDataset(500, seed=3)
    np.testing.assert_array_equal(np.asarray(big.load(17)), forward[17])
    np.testing.assert_array_equal(big.labels()[:64], a.labels())
    # a different seed gives different images
    other = ShapesDataset(64, seed=4)
    assert not np.array_equal(np.asarray(other.load(5)), forward[5])
    assert a.load(0).mode == "RGB"


def test_shapes_labels_attributes_and_kinds():
    ds = ShapesDataset(400, seed=0)
    labels = ds.labels()
    assert labels.dtype == np.int64 and labels.shape == (400,)
    assert ds.class_names == SHAPE_CLASSES and 6 <= len(ds.class_names) <= 10
    counts = np.bincount(labels, minlength=len(SHAPE_CLASSES))
    assert counts.min() > 25  # every class present, roughly balanced
    attrs, kinds, meta = ds.attributes(), ds.attribute_kinds(), ds.attributes_meta()
    assert set(attrs) == set(kinds)
    for name, values in attrs.items():
        assert values.shape == (400,), name
    assert kinds["orientation"] == "circular" and kinds["hue"] == "circular"
    assert meta["orientation"]["period"] == pytest.approx(math.pi)
    grating = attrs["family"] == 1
    assert grating.sum() == 200  # odd indices
    theta = attrs["orientation"][grating]
    assert np.all((theta >= 0) & (theta < math.pi))
    assert np.isnan(attrs["orientation"][~grating]).all()
    # orientation spread uniformly round the circle (no gap wider than 20 degrees)
    gaps = np.diff(np.sort(np.r_[theta, theta.min() + math.pi]))
    assert gaps.max() < math.radians(20)
    # the grating label is the nearest canonical orientation
    expected = 4 + np.round(theta / (math.pi / 4)).astype(int) % 4
    np.testing.assert_array_equal(labels[grating], expected)
    assert np.all((attrs["hue"] >= 0) & (attrs["hue"] < 1))


def test_grating_orientation_visible_in_pixels():
    """A grating's stripes run perpendicular to its orientation: variance along them is small."""
    ds = ShapesDataset(40, seed=1)
    theta = ds.attributes()["orientation"]
    for i in range(1, 40, 2):
        img = np.asarray(ds.load(i), dtype=float).mean(axis=2)
        grad_y, grad_x = np.gradient(img)
        direction = np.array([math.cos(theta[i]), math.sin(theta[i])])
        along_wave = np.abs(grad_x * direction[0] + grad_y * direction[1]).mean()
        along_stripe = np.abs(-grad_x * direction[1] + grad_y * direction[0]).mean()
        assert along_wave > 2 * along_stripe, i


def test_open_dataset_specs_round_trip(tmp_path):
    ds = open_dataset("shapes:50")
    assert isinstance(ds, ShapesDataset) and len(ds) == 50
    assert open_dataset("shapes").spec["n"] == 2000
    again = open_dataset(ds.spec)
    np.testing.assert_array_equal(np.asarray(again.load(7)), np.asarray(ds.load(7)))
    assert open_dataset(ds) is ds
    digits = open_dataset("digits")
    assert isinstance(digits, DigitsDataset) and len(digits) == 1797
    assert digits.load(3).size == (32, 32) and digits.load(3).mode == "RGB"
    assert digits.class_names == [str(i) for i in range(10)]
    assert open_dataset(digits.spec).labels()[:20].tolist() == digits.labels()[:20].tolist()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8), (10, 20, 30)).save(tmp_path / name / "x.png")
    for spec in (str(tmp_path), f"folder:{tmp_path}", tmp_path):
        folder = open_dataset(spec)
        assert isinstance(folder, ImageFolder) and len(folder) == 2
    assert isinstance(open_dataset(folder.spec), ImageFolder)
    with pytest.raises(ValueError, match="accepted.*shapes:N"):
        open_dataset("no-such-dataset-or-dir")
    with pytest.raises(ValueError, match="shapes:N"):
        open_dataset("shapes:many")
    with pytest.raises(ValueError, match="accepted"):
        open_dataset(42)
    with pytest.raises(ValueError):
        open_dataset("shapes:0")


def test_wrap_torchvision_fakedata():
    from torchvision.datasets import FakeData
    from torchvision.transforms import ToTensor

    fake = FakeData(size=12, image_size=(3, 20, 24), num_classes=4, random_offset=5)
    ds = open_dataset(fake)
    assert isinstance(ds, WrappedDataset) and isinstance(ds, ImageSet)
    assert ds.spec is None and len(ds) == 12
    expected = np.array([int(fake[i][1]) for i in range(12)])
    np.testing.assert_array_equal(ds.labels(), expected)
    img = ds.load(2)
    assert img.mode == "RGB" and img.size == (24, 20)
    np.testing.assert_array_equal(np.asarray(img), np.asarray(fake[2][0].convert("RGB")))
    assert ds.class_names == [f"class_{i}" for i in range(expected.max() + 1)]
    # tensors from a ToTensor transform convert back to the same pixels
    as_tensor = FakeData(size=4, image_size=(3, 8, 8), num_classes=2, transform=ToTensor(),
                         random_offset=5)
    t = as_tensor[1][0]
    np.testing.assert_array_equal(np.asarray(WrappedDataset(as_tensor).load(1)),
                                  (t.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))


def test_wrap_uses_targets_and_classes():
    class Tiny(torch.utils.data.Dataset):
        classes = ["neg", "pos"]
        targets = [0, 1, 1]

        def __len__(self):
            return 3

        def __getitem__(self, i):
            if i == 2:
                raise OSError("disk gone")
            return torch.full((3, 4, 4), 0.5), self.targets[i]

    ds = open_dataset(Tiny())
    assert ds.class_names == ["neg", "pos"]
    np.testing.assert_array_equal(ds.labels(), [0, 1, 1])
    assert np.asarray(ds.load(0)).max() == 128
    from topoact.data import CorruptImageError

    with pytest.raises(CorruptImageError, match="disk gone"):
        ds.load(2)
