"""The image-set contract every data source implements.

An ``ImageSet`` is indexable by position ``i`` in ``range(len(s))``; it loads images lazily so a
folder of 10^5-10^6 files costs only its file list in memory.
"""
from __future__ import annotations

import abc
from typing import Any

import numpy as np
from PIL import Image


class CorruptImageError(Exception):
    """An image that cannot be read; collection skips it and lists it in the run report."""


class ImageSet(abc.ABC):
    """A lazily loaded, indexable set of labelled images (every data source implements it).

    Subclasses implement ``__len__``, :meth:`load` and :meth:`labels`, and set ``class_names``;
    ids, paths, attributes and ``spec`` have defaults.
    """

    #: class names in label-index order (may be empty when the set is unlabelled)
    class_names: list[str] = []

    @property
    def spec(self) -> dict[str, Any] | None:
        """JSON-able description that ``topoact.data.open_dataset`` reopens; None if not reopenable
        (e.g. an in-memory torchvision dataset), in which case the store keeps thumbnails."""
        return None

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def load(self, index: int) -> Image.Image:
        """The image at ``index`` as an RGB PIL image.

        Parameters
        ----------
        index : int
            Position in ``range(len(self))``.

        Returns
        -------
        PIL.Image.Image

        Raises
        ------
        CorruptImageError
            The image cannot be read (the message says why).
        """

    @abc.abstractmethod
    def labels(self) -> np.ndarray:
        """int64 array of shape (N,), -1 where unknown."""

    def item_id(self, index: int) -> str:
        """Stable id of an item (relative path for folders, ``name:index`` for generated sets).

        Parameters
        ----------
        index : int

        Returns
        -------
        str
        """
        return str(index)

    def path(self, index: int) -> str | None:
        """Absolute file path when the item is a file on disk.

        Parameters
        ----------
        index : int

        Returns
        -------
        str or None
        """
        return None

    def attributes(self) -> dict[str, np.ndarray]:
        """Per-image generative attributes, each an array of shape (N,) (empty if none known)."""
        return {}

    def attribute_kinds(self) -> dict[str, str]:
        """Kind of each attribute: 'circular' (with period in ``attributes_meta``), 'linear' or
        'categorical'."""
        return {}

    def attributes_meta(self) -> dict[str, dict[str, Any]]:
        """Extra facts per attribute, e.g. ``{"orientation": {"period": pi}}`` for circular ones
        and ``{"categories": [...]}`` for categorical ones (empty if none known)."""
        return {}
