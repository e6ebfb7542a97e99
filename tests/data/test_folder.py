"""ImageFolder: scanning, lazy loading and corrupt files."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from topoact.data import CorruptImageError, ImageFolder, open_dataset


def _jpeg_bytes(seed: int = 0, size: int = 64) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG",
                                                                              quality=90)
    return buf.getvalue()


@pytest.fixture()
def folder(tmp_path):
    root = tmp_path / "imgs"
    (root / "cat" / "sub").mkdir(parents=True)
    (root / "dog").mkdir()
    (root / ".hidden").mkdir()
    (root / "cat" / "a.JPG").write_bytes(_jpeg_bytes(1))
    Image.new("RGBA", (10, 6), (255, 0, 0, 128)).save(root / "cat" / "sub" / "deep.png")
    (root / "cat" / "empty.jpg").write_bytes(b"")  # zero bytes
    good = _jpeg_bytes(2)
    (root / "dog" / "b.jpeg").write_bytes(good)
    (root / "dog" / "truncated.jpg").write_bytes(good[: int(len(good) * 0.6)])
    (root / "dog" / "garbage.png").write_bytes(b"not an image at all" * 10)
    (root / "dog" / "notes.txt").write_text("ignored")
    Image.new("L", (5, 5), 200).save(root / "dog" / "grey.BMP")
    Image.new("I;16", (4, 4), 65535).save(root / "dog" / "deep16.tif")
    (root / ".hidden" / "x.jpg").write_bytes(good)
    (root / "stray.jpg").write_bytes(good)  # not in a class folder: ignored
    return root


def test_scan_order_ids_labels_spec(folder):
    ds = ImageFolder(folder)
    assert ds.class_names == ["cat", "dog"]
    ids = [ds.item_id(i) for i in range(len(ds))]
    assert ids == ["cat/a.JPG", "cat/empty.jpg", "cat/sub/deep.png", "dog/b.jpeg",
                   "dog/deep16.tif", "dog/garbage.png", "dog/grey.BMP", "dog/truncated.jpg"]
    np.testing.assert_array_equal(ds.labels(), [0, 0, 0, 1, 1, 1, 1, 1])
    assert ds.spec == {"kind": "folder", "root": str(folder.resolve())}
    assert ds.path(3) == str(folder.resolve() / "dog" / "b.jpeg")
    reopened = open_dataset(ds.spec)
    assert [reopened.item_id(i) for i in range(len(reopened))] == ids


def test_corrupt_files_raise_only_for_them(folder):
    ds = ImageFolder(folder)
    bad = {}
    for i in range(len(ds)):
        try:
            img = ds.load(i)
        except CorruptImageError as exc:
            bad[ds.item_id(i)] = str(exc)
        else:
            assert img.mode == "RGB"
    assert set(bad) == {"cat/empty.jpg", "dog/truncated.jpg", "dog/garbage.png"}
    assert "empty file" in bad["cat/empty.jpg"]
    assert "truncat" in bad["dog/truncated.jpg"].lower()
    assert "garbage.png" in bad["dog/garbage.png"]
    # PIL's "cannot identify image file <_io.BytesIO object at 0x...>" names the file instead
    assert all("BytesIO" not in reason for reason in bad.values()), bad
    assert "cannot identify image file 'dog/garbage.png'" in bad["dog/garbage.png"]
    # good files decode to the right pixels
    b = np.asarray(ds.load(ds.labels().tolist().index(1)))
    assert b.shape == (64, 64, 3)
    np.testing.assert_array_equal(np.asarray(ds.load(6)), np.full((5, 5, 3), 200, np.uint8))
    np.testing.assert_array_equal(np.asarray(ds.load(4)), np.full((4, 4, 3), 255, np.uint8))


def test_file_removed_after_scan_is_corrupt(folder):
    ds = ImageFolder(folder)
    (folder / "cat" / "a.JPG").unlink()
    with pytest.raises(CorruptImageError, match="cannot read"):
        ds.load(0)


def test_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="no images"):
        ImageFolder(tmp_path)
