"""A directory of class sub-folders (torchvision ``ImageFolder`` layout), of any size, lazily.

Choices:

* Classes are the immediate sub-directories of ``root`` (sorted by name; hidden ones, starting
  with ``.``, are ignored); label = position in that order. Images are found recursively inside
  each class folder with ``os.scandir`` (sorted, so the order is reproducible on every machine);
  symlinked directories are followed once. Files directly inside ``root`` are ignored (logged).
* Extensions (case-insensitive): jpg jpeg png bmp gif webp tif tiff ppm.
* Only the relative paths are kept in memory (~100 bytes per image); pixels are read on
  ``load(i)``: the file is read once, ``PIL.Image.verify()`` checks its structure and a fresh
  decode (``load()``) reads the pixels. An empty, unreadable, truncated or undecodable file raises
  ``CorruptImageError`` with the reason. Truncated JPEGs fail because
  ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False (a warning is logged if some other
  code has switched it on, since then PIL silently pads truncated images).
* Animated images give their first frame; 16-bit and float images are rescaled to 8 bits;
  alpha is dropped.
* ``item_id(i)`` is the POSIX relative path (``"cat/0001.jpg"``); ``spec`` is
  ``{"kind": "folder", "root": ABSOLUTE_PATH}``.
"""
from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile

from .base import CorruptImageError, ImageSet

__all__ = ["ImageFolder", "IMAGE_EXTENSIONS"]

log = logging.getLogger(__name__)

_BUFFER_REPR = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def _scan(directory: str, extensions: tuple[str, ...], seen: set[str]) -> list[str]:
    """Sorted absolute paths of image files under ``directory`` (recursive, scandir)."""
    real = os.path.realpath(directory)
    if real in seen:  # symlink loop
        return []
    seen.add(real)
    files: list[str] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", directory, exc)
        return files
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            if entry.is_dir():
                files.extend(_scan(entry.path, extensions, seen))
            elif entry.is_file() and entry.name.lower().endswith(extensions):
                files.append(entry.path)
        except OSError as exc:  # broken symlink, permission
            log.warning("skipping %s: %s", entry.path, exc)
    return files


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image -> 8-bit RGB (first frame; 16-bit / float rescaled; alpha dropped).

    Parameters
    ----------
    image : PIL.Image.Image

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = (0.0, 65535.0) if image.mode.startswith("I;16") else (arr.min(), arr.max())
        arr = (arr - lo) / max(hi - lo, 1e-12)
        image = Image.fromarray((np.clip(arr, 0, 1) * 255 + 0.5).astype(np.uint8), mode="L")
    return image.convert("RGB")


class ImageFolder(ImageSet):
    """Lazy image set over ``root/CLASS/**/IMAGE``.

    Parameters
    ----------
    root : str or Path
        Directory whose sub-directories are the classes.
    extensions : tuple of str, optional
        Lower-case file suffixes to include (default ``IMAGE_EXTENSIONS``).
    """

    def __init__(self, root: str | os.PathLike, extensions: tuple[str, ...] = IMAGE_EXTENSIONS):
        root_path = Path(root).expanduser()
        if not root_path.is_dir():
            raise ValueError(f"image folder {str(root)!r} is not a directory")
        self.root = str(root_path.resolve())
        self.extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower()
                                for e in extensions)
        if ImageFile.LOAD_TRUNCATED_IMAGES:
            log.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True: truncated images will be "
                        "padded silently instead of being reported as corrupt")
        classes: list[str] = []
        paths: list[str] = []
        labels: list[int] = []
        n_root_files = 0
        seen: set[str] = {os.path.realpath(self.root)}
        for entry in sorted(os.scandir(self.root), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                label = len(classes)
                classes.append(entry.name)
                found = _scan(entry.path, self.extensions, seen)
                if not found:
                    log.warning("class folder %r has no images", entry.name)
                paths.extend(os.path.relpath(p, self.root) for p in found)
                labels.extend([label] * len(found))
            elif entry.name.lower().endswith(self.extensions):
                n_root_files += 1
        if n_root_files:
            log.warning("%d image file(s) directly in %s ignored (images must be in class "
                        "sub-folders)", n_root_files, self.root)
        if not paths:
            raise ValueError(f"no images with extensions {', '.join(self.extensions)} found in "
                             f"class sub-folders of {self.root!r} (expected ROOT/CLASS/IMAGE)")
        self.class_names = classes
        self._rel = [p.replace(os.sep, "/") for p in paths]
        self._labels = np.asarray(labels, dtype=np.int64)
        log.info("ImageFolder %s: %d images in %d classes", self.root, len(self._rel),
                 len(classes))

    def __len__(self) -> int:
        return len(self._rel)

    def __repr__(self) -> str:
        return f"ImageFolder({self.root!r}, n={len(self)}, classes={len(self.class_names)})"

    @property
    def spec(self) -> dict[str, Any]:
        return {"kind": "folder", "root": self.root}

    def _check(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < len(self._rel):
            raise IndexError(f"index {index} out of range for {self!r}")
        return index

    def item_id(self, index: int) -> str:
        return self._rel[self._check(index)]

    def path(self, index: int) -> str:
        return os.path.join(self.root, *self._rel[self._check(index)].split("/"))

    def labels(self) -> np.ndarray:
        return self._labels.copy()

    def load(self, index: int) -> Image.Image:
        rel = self.item_id(index)
        path = self.path(index)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise CorruptImageError(f"{rel}: cannot read file ({exc.strerror or exc})") from exc
        if not data:
            raise CorruptImageError(f"{rel}: empty file (0 bytes)")
        try:
            with Image.open(io.BytesIO(data)) as probe:
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                return to_rgb(image)
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error...
            # PIL names its file object ("cannot identify image file <_io.BytesIO object at 0x..>"):
            # name the file instead
            reason = _BUFFER_REPR.sub(repr(rel), str(exc)) or type(exc).__name__
            raise CorruptImageError(f"{rel}: {type(exc).__name__}: {reason}") from exc
