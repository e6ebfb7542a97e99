"""topoact.components.connected_components against scipy's on graphs of every shape."""
import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components as scipy_components

from topoact.components import component_roots, connected_components


def _scipy(n, a, b):
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return scipy_components(graph, directed=False)[1]


@pytest.mark.parametrize("seed", range(6))
def test_labels_equal_scipys_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    E = int(rng.integers(0, 3 * n))
    a, b = rng.integers(0, n, E), rng.integers(0, n, E)      # loops and repeats included
    if seed % 2:                                             # local edges: long chains
        b = np.clip(a + rng.integers(-3, 4, E), 0, n - 1)
    labels = connected_components(n, a, b)
    assert labels.dtype == np.int64 and labels.shape == (n,)
    np.testing.assert_array_equal(labels, _scipy(n, a, b))
    # int32 edge ends (the sweep's positions) give the same labels
    np.testing.assert_array_equal(connected_components(n, a.astype(np.int32), b.astype(np.int32)), labels)
    # component_roots: each vertex's smallest component member, unnumbered
    roots = component_roots(n, a, b)
    smallest = np.full(labels.max() + 1, n)
    np.minimum.at(smallest, labels, np.arange(n))
    np.testing.assert_array_equal(roots, smallest[labels])


def test_a_path_in_random_order_is_one_component():
    # the slowest case for hooking to the smaller root: many rounds, still one component
    perm = np.random.default_rng(1).permutation(5000)
    labels = connected_components(5000, perm[:-1], perm[1:])
    assert (labels == 0).all()


def test_no_edges_and_no_vertices():
    np.testing.assert_array_equal(connected_components(4, [], []), [0, 1, 2, 3])
    assert connected_components(0, [], []).shape == (0,)


def test_components_are_numbered_by_their_smallest_vertex():
    # components {0, 3}, {1}, {2, 4}: numbered 0, 1, 2 in order of 0, 1, 2
    np.testing.assert_array_equal(connected_components(5, [3, 4], [0, 2]), [0, 1, 2, 0, 2])


def test_bad_edges_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        connected_components(3, [0], [3])
    with pytest.raises(ValueError, match="differ in length"):
        connected_components(3, [0, 1], [2])
