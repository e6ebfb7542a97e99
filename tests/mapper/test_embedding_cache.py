"""cached_embedding: answers from the run's cache only, never computes; layer_embedding fills it."""
import numpy as np
import pytest
from tiny_runs import tiny_conv2_run

from topoact.mapper.embedding import cached_embedding, compute_embedding, layer_embedding
from topoact.store import open_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return open_run(tiny_conv2_run(tmp_path_factory, 120))


def test_cached_embedding_is_none_until_computed_then_the_stored_coordinates(run):
    assert cached_embedding(run, "conv2", "pca") is None
    assert not (run.path / "embeddings").exists()  # asking created nothing
    seen = []
    coords = layer_embedding(run, "conv2", "pca", progress=lambda d, t, m="": seen.append((d, t, m)))
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] == 1 and "PCA of conv2" in seen[0][2]
    np.testing.assert_allclose(coords, compute_embedding(np.asarray(run.activations("conv2")), "pca"))
    cached = cached_embedding(run, "conv2", "pca")
    np.testing.assert_array_equal(cached, coords)
    # a second call reads the cache and says so
    seen.clear()
    layer_embedding(run, "conv2", "pca", progress=lambda d, t, m="": seen.append(m))
    assert seen == ["PCA of conv2 from cache"]
    # the UMAP entry is another one (still not cached)
    assert cached_embedding(run, "conv2", "umap") is None


def test_cached_embedding_ignores_a_damaged_file_and_bad_methods(run):
    layer_embedding(run, "conv2", "pca")
    npy = next((run.path / "embeddings").glob("conv2-*.npy"))
    np.save(npy, np.zeros((5, 2)))  # wrong shape
    assert cached_embedding(run, "conv2", "pca") is None
    assert layer_embedding(run, "conv2", "pca").shape == (run.n, 2)  # recomputed
    assert cached_embedding(run, "conv2", "pca") is not None
    with pytest.raises(ValueError, match="embedding method must be one of"):
        cached_embedding(run, "conv2", "tsne")
