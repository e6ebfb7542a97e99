"""topoact.reduce: the one reduction of conv maps and token sequences."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from topoact.reduce import REDUCTIONS, random_positions, reduce, reduced_dim, reduces


def test_conv_maps_gap_center_random():
    maps = torch.randn(2, 3, 5, 5)
    assert torch.equal(reduce(maps, "gap"), maps.mean(dim=(2, 3)))
    assert torch.equal(reduce(maps, "center"), maps[:, :, 2, 2])
    picked = reduce(maps, "random", seed=3, image_ids=[10, 11])
    for b, image_id in enumerate([10, 11]):
        position = int(np.random.default_rng([3, image_id]).integers(25))
        assert torch.equal(picked[b], maps[b, :, position // 5, position % 5])


def test_random_depends_on_seed_and_image_only():
    maps = torch.randn(4, 6, 7, 7)
    whole = reduce(maps, "random", seed=5, image_ids=[0, 1, 2, 3])
    alone = reduce(maps[2:3], "random", seed=5, image_ids=[2])
    assert torch.equal(whole[2:3], alone)  # batch composition does not matter
    positions = [random_positions(s, range(50), 49) for s in (5, 6)]
    assert not np.array_equal(*positions)  # the seed does


def test_tokens_reduce_over_tokens_like_maps_over_positions():
    maps = torch.randn(3, 8, 4, 4)
    tokens = maps.flatten(2).transpose(1, 2)  # (B, L=16, C=8)
    for how in REDUCTIONS:
        kw = {"seed": 1, "image_ids": [7, 8, 9]} if how == "random" else {}
        if how == "center":  # token L // 2 = 8 is position (2, 0), the map centre is (2, 2)
            assert torch.equal(reduce(tokens, how), tokens[:, 8, :])
        else:
            assert torch.equal(reduce(tokens, how, **kw), reduce(maps, how, **kw))
    assert reduce(tokens, "gap").shape == (3, 8) and reduced_dim((16, 8)) == 8


def test_flat_kept_other_ranks_flattened_and_gradients_flow():
    flat = torch.randn(2, 9)
    assert reduce(flat, "center") is flat
    assert reduce(torch.randn(2, 2, 3, 4, 5), "gap").shape == (2, 120)
    assert reduced_dim((9,)) == 9 and reduced_dim((2, 3, 4, 5)) == 120 and reduced_dim((16, 4, 4)) == 16
    assert reduces((16, 4, 4)) and reduces((10, 4)) and not reduces((9,))
    maps = torch.randn(1, 2, 3, 3, requires_grad=True)
    reduce(maps, "gap").sum().backward()
    assert torch.allclose(maps.grad, torch.full_like(maps, 1 / 9))


def test_bad_input_is_named():
    maps = torch.randn(2, 3, 4, 4)
    with pytest.raises(ValueError, match="unknown reduce 'max'; choose one of gap, center, random"):
        reduce(maps, "max")
    with pytest.raises(ValueError, match="needs the images' ids"):
        reduce(maps, "random")
    with pytest.raises(ValueError, match="1 image ids for a batch of 2"):
        reduce(maps, "random", image_ids=[1])
