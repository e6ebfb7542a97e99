"""topoact.masks.nonzero_2d equals np.nonzero on 2-D masks."""
import numpy as np
import pytest

from topoact.masks import nonzero_2d


@pytest.mark.parametrize("shape, density", [((512, 2000), 0.005), ((7, 3), 0.5), ((0, 4), 0.5), ((5, 6), 0.0)])
def test_same_indices_in_the_same_order_as_numpy(shape, density):
    mask = np.random.default_rng(0).random(shape) < density
    rows, cols = nonzero_2d(mask)
    ref_rows, ref_cols = np.nonzero(mask)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(cols, ref_cols)


def test_a_mask_that_is_not_2d_is_refused():
    with pytest.raises(ValueError, match="2-D mask"):
        nonzero_2d(np.ones(3, bool))
