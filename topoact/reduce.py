"""The one spatial reduction of layer outputs, shared by collection and feature visualization.

A stored activation vector of a conv or token layer is its output reduced over positions, and a
feature-visualization objective must optimise exactly that vector, so both call :func:`reduce`.

Layouts (decided by rank, never guessed from sizes):

* ``(B, D)`` - flat layers (linear, logits, pooled): returned unchanged, whatever ``how`` is.
* ``(B, C, H, W)`` - conv maps: reduced over the ``H x W`` positions; the vector has ``C`` units.
* ``(B, L, C)`` - token sequences (transformer blocks): reduced over the ``L`` tokens, every
  token counted (a class token too); the vector has ``C`` units.
* any other rank ``(B, ...)`` - flattened to ``(B, prod(...))`` (nothing to reduce over).

Reductions (``how``):

* ``"gap"`` - mean over positions (global average pooling).
* ``"center"`` - the centre position: ``(H // 2, W // 2)`` of a map, token ``L // 2``.
* ``"random"`` - one position per image, as TopoAct (Rathore et al. 2021) does: drawn from
  ``numpy.random.default_rng([seed, image_id])``, so it depends on the seed and the image's
  id (its index in the data set) only - never on the batch, the chunking or a resume.

The function is differentiable (no ``detach``), works on any device and keeps the dtype.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

__all__ = ["REDUCTIONS", "reduce", "random_positions", "reduced_dim", "reduces", "check_reduce"]

#: the accepted values of ``how`` (``reduce`` in run metadata, ``--reduce`` on the command line)
REDUCTIONS = ("gap", "center", "random")


def check_reduce(how: str) -> str:
    """Return ``how`` when it is a known reduction, else raise ``ValueError`` listing them.

    Parameters
    ----------
    how : str
        Candidate reduction name.

    Returns
    -------
    str
        ``how`` unchanged.
    """
    if how not in REDUCTIONS:
        raise ValueError(f"unknown reduce {how!r}; choose one of {', '.join(REDUCTIONS)}")
    return how


def random_positions(seed: int, image_ids: Iterable[int], n_positions: int) -> np.ndarray:
    """The position each image's ``random`` reduction reads, fixed by ``(seed, image id)`` alone.

    Parameters
    ----------
    seed : int
        Run seed.
    image_ids : iterable of int, length B
        Stable integer ids of the images (their index in the data set).
    n_positions : int
        Number of positions (``H * W`` or ``L``).

    Returns
    -------
    ndarray of int64, shape (B,)
        Positions in ``[0, n_positions)`` (row-major ``h * W + w`` for maps).
    """
    return np.array([np.random.default_rng([int(seed), int(i)]).integers(n_positions) for i in image_ids],
                    dtype=np.int64)


def reduces(shape: Sequence[int]) -> bool:
    """Whether a layer output of ``shape`` (without the batch dimension) is reduced over positions.

    Parameters
    ----------
    shape : sequence of int
        ``(C, H, W)`` or ``(L, C)`` -> True; ``(D,)`` or other ranks -> False.

    Returns
    -------
    bool
    """
    return len(shape) in (2, 3)


def reduced_dim(shape: Sequence[int]) -> int:
    """Length D of the vector :func:`reduce` makes from an output of ``shape`` (without batch).

    Parameters
    ----------
    shape : sequence of int
        ``(C, H, W)`` -> C, ``(L, C)`` -> C, ``(D,)`` -> D, other ranks -> their product.

    Returns
    -------
    int
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        return shape[0]
    if len(shape) == 2:
        return shape[1]
    return int(np.prod(shape, dtype=np.int64))


def reduce(tensor: torch.Tensor, how: str = "gap", *, seed: int | None = None,
           image_ids: Sequence[int] | np.ndarray | None = None) -> torch.Tensor:
    """Reduce a layer output to one vector per image (see the module docstring for layouts).

    Parameters
    ----------
    tensor : torch.Tensor, shape (B, D), (B, C, H, W) or (B, L, C)
        A layer's output for a batch of B images.
    how : {"gap", "center", "random"}
        The reduction over positions; ignored for (B, D) outputs.
    seed : int, optional
        Seed of the ``random`` positions (default 0).
    image_ids : sequence of int, length B, optional
        Stable ids of the batch's images; required by ``random``.

    Returns
    -------
    torch.Tensor, shape (B, D)
        ``D = C`` for maps and tokens; same dtype and device as ``tensor``.

    Raises
    ------
    ValueError
        Unknown ``how``, or ``random`` without ``image_ids`` (or with the wrong number of them).

    Examples
    --------
    >>> maps = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    >>> reduce(maps, "center").shape
    torch.Size([2, 3])
    >>> bool(torch.equal(reduce(maps.flatten(2).transpose(1, 2), "gap"), reduce(maps, "gap")))
    True
    """
    check_reduce(how)
    if tensor.dim() == 2:
        return tensor
    if tensor.dim() == 4:
        flat = tensor.flatten(2)  # (B, C, H*W)
    elif tensor.dim() == 3:
        flat = tensor.transpose(1, 2)  # (B, C, L)
    else:
        return tensor.flatten(1)
    if how == "gap":
        return flat.mean(dim=2)
    if how == "center":
        if tensor.dim() == 4:
            h, w = tensor.shape[2], tensor.shape[3]
            return flat[:, :, (h // 2) * w + w // 2]
        return flat[:, :, flat.shape[2] // 2]
    if image_ids is None:
        raise ValueError("reduce='random' needs the images' ids (image_ids=) to draw their positions")
    ids = np.asarray(image_ids).reshape(-1)
    if len(ids) != tensor.shape[0]:
        raise ValueError(f"reduce='random' got {len(ids)} image ids for a batch of {tensor.shape[0]}")
    picks = torch.as_tensor(random_positions(0 if seed is None else seed, ids, flat.shape[2]), device=flat.device)
    return flat[torch.arange(flat.shape[0], device=flat.device), :, picks]
