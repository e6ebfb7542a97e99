"""Match a data set's class names onto a model's classes, so labels mean what the model predicts.

An ImageFolder's label is the position of its sub-folder, and a folder holding only ``cat/`` and
``dog/`` numbers them 0 and 1, while CIFAR-10 models call them 3 and 5. Comparing those labels
with the model's predictions, or showing them with the model's class names, is silently wrong.
:func:`match_classes` decides how the data set's labels relate to the model's classes:

``"identical"``
    Same names in the same order (after normalisation): labels are kept.
``"name"``
    Every data set class is one of the model's classes by name: labels are re-mapped to the
    model's indices (``cat/`` -> 3, ``dog/`` -> 5 for a CIFAR-10 model).
``"position"``
    One side has no real names (placeholders ``class_0, class_1, ...`` or none, e.g. a bare
    ``nn.Module`` or a torchvision dataset without ``classes``): the usual PyTorch convention
    that label ``i`` is output ``i`` is assumed, and the real names of the other side are shown.
``"none"``
    Some data set classes are not among the model's classes: the labels keep the data set's own
    numbering and names, a warning names the classes that do not match, and accuracy is not
    meaningful (``labels_match_model`` is False).

Normalisation (:func:`normalise_class_name`): Unicode NFKC, case-folded, and every character
that is not a letter or a digit removed, so ``Automobile``, ``auto_mobile``, ``AUTO-MOBILE`` and
``auto mobile`` are all ``automobile``; ``n02123045 tabby`` is not ``tabby`` (no fuzzy matching:
a wrong match would be worse than none). Names that collide after normalisation on the model side
are not used for matching.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

__all__ = ["ClassMatch", "match_classes", "normalise_class_name", "is_placeholder"]

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"class_\d+")


def normalise_class_name(name: str) -> str:
    """The form in which class names are compared: NFKC, case-folded, letters and digits only.

    Parameters
    ----------
    name : str

    Returns
    -------
    str

    Examples
    --------
    >>> normalise_class_name("Auto_Mobile"), normalise_class_name("auto-mobile ")
    ('automobile', 'automobile')
    """
    text = unicodedata.normalize("NFKC", str(name)).casefold()
    return "".join(ch for ch in text if ch.isalnum())


def is_placeholder(names: Sequence[str]) -> bool:
    """True when ``names`` is empty or only ``class_0, class_1, ...`` (no real names known).

    Parameters
    ----------
    names : sequence of str

    Returns
    -------
    bool
    """
    return all(_PLACEHOLDER.fullmatch(str(n)) for n in names)


@dataclasses.dataclass(frozen=True)
class ClassMatch:
    """How a data set's labels relate to a model's classes (see the module docstring).

    Attributes
    ----------
    how : {"identical", "name", "position", "none"}
    class_names : list of str
        Names of the model's outputs (the columns of the probabilities), length C.
    label_names : list of str
        Names of the stored label values (``label_names[labels[i]]``).
    dataset_class_names : list of str
        The data set's own class names, in its own label order.
    mapping : dict of str to int or None
        Data set class name -> model class index (None where it has none).
    """

    how: str
    class_names: list[str]
    label_names: list[str]
    dataset_class_names: list[str]
    mapping: dict[str, int | None]

    @property
    def labels_match_model(self) -> bool:
        """Whether stored labels and predictions index the same classes (accuracy is meaningful)."""
        return self.how != "none"

    def map_labels(self, labels: np.ndarray) -> np.ndarray:
        """Data set labels (N,) int64 -> stored labels (N,) int64 (-1 stays -1).

        Parameters
        ----------
        labels : ndarray of int64, shape (N,)
            Labels in the data set's numbering.

        Returns
        -------
        ndarray of int64, shape (N,)
        """
        labels = np.asarray(labels, dtype=np.int64)
        if self.how != "name":
            return labels.copy()
        table = np.array([self.mapping[name] for name in self.dataset_class_names], dtype=np.int64)
        out = np.full(labels.shape, -1, dtype=np.int64)
        known = (labels >= 0) & (labels < len(table))
        out[known] = table[labels[known]]
        return out

    def to_meta(self) -> dict:
        """The entries stored in a run's ``meta.json``.

        Returns
        -------
        dict
            ``class_names``, ``label_names``, ``dataset_class_names``, ``label_mapping``,
            ``label_match``, ``labels_match_model``.
        """
        return {"class_names": list(self.class_names), "label_names": list(self.label_names),
                "dataset_class_names": list(self.dataset_class_names), "label_mapping": dict(self.mapping),
                "label_match": self.how, "labels_match_model": self.labels_match_model}


def match_classes(dataset_names: Sequence[str], model_names: Sequence[str], n_outputs: int | None = None,
                  ) -> ClassMatch:
    """Decide how the data set's labels map onto the model's classes (module docstring).

    Parameters
    ----------
    dataset_names : sequence of str
        The data set's class names in its label order (may be empty: unlabelled).
    model_names : sequence of str
        The model's class names in output order (placeholders ``class_i`` when unknown).
    n_outputs : int, optional
        Number of model outputs (default ``len(model_names)``).

    Returns
    -------
    ClassMatch
    """
    dataset_names = [str(n) for n in dataset_names]
    model_names = [str(n) for n in model_names]
    n_outputs = len(model_names) if n_outputs is None else int(n_outputs)
    data_norm = [normalise_class_name(n) for n in dataset_names]
    model_norm = [normalise_class_name(n) for n in model_names]

    if data_norm and data_norm == model_norm[:len(data_norm)] and len(data_norm) == len(model_norm):
        mapping = {name: i for i, name in enumerate(dataset_names)}
        return ClassMatch("identical", model_names, model_names, dataset_names, mapping)

    model_placeholder = is_placeholder(model_names)
    if dataset_names and not model_placeholder:
        counts: dict[str, int] = {}
        for n in model_norm:
            counts[n] = counts.get(n, 0) + 1
        index = {n: i for i, n in enumerate(model_norm) if counts[n] == 1 and n}
        mapping = {name: index.get(norm) for name, norm in zip(dataset_names, data_norm)}
        if not is_placeholder(dataset_names):
            if all(v is not None for v in mapping.values()):
                return ClassMatch("name", model_names, model_names, dataset_names, mapping)
            missing = [name for name, v in mapping.items() if v is None]
            log.warning(
                "the data set's classes do not match the model's: %s not among the model's %d classes "
                "(%s); labels keep the data set's own names and accuracy is not reported",
                ", ".join(repr(m) for m in missing[:10]) + (" ..." if len(missing) > 10 else ""),
                len(model_names), ", ".join(model_names[:10]) + (" ..." if len(model_names) > 10 else ""))
            return ClassMatch("none", model_names, dataset_names, dataset_names, mapping)

    # One side has no real names: label i is output i (the PyTorch convention).
    if model_placeholder and dataset_names and not is_placeholder(dataset_names):
        names = dataset_names[:n_outputs] + [f"class_{i}" for i in range(len(dataset_names), n_outputs)]
        class_names = names if len(dataset_names) <= n_outputs else model_names
    else:
        class_names = model_names
    label_names = class_names if len(class_names) >= len(dataset_names) else dataset_names
    mapping = {name: (i if i < n_outputs else None) for i, name in enumerate(dataset_names)}
    return ClassMatch("position", class_names, label_names, dataset_names, mapping)
