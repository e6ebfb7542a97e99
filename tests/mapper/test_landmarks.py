"""UMAP above ``fit_rows`` rows: fitted on seeded landmarks, the other rows placed among them."""
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors
from tiny_runs import tiny_conv2_run

from topoact.mapper import embedding as embedding_module
from topoact.mapper.landmarks import membership_weights, nearest_rows
from topoact.mapper.lens import UMAPLens
from topoact.store import open_run


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_nearest_rows_equal_brute_force(metric):
    rng = np.random.default_rng(0)
    R = rng.normal(size=(300, 24)).astype(np.float32)
    Q = rng.normal(size=(257, 24)).astype(np.float32)
    dist, idx = nearest_rows(Q, R, 7, metric, block=64)   # several blocks, a partial last one
    ref_d, ref_i = NearestNeighbors(n_neighbors=7, algorithm="brute", metric=metric).fit(
        R.astype(np.float64)).kneighbors(Q.astype(np.float64))
    np.testing.assert_array_equal(idx, ref_i)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="at least k reference rows"):
        nearest_rows(Q, R[:3], 7, metric)


def test_membership_weights_are_umaps_transform_strengths():
    from umap.umap_ import compute_membership_strengths, smooth_knn_dist

    d = np.sort(np.random.default_rng(1).uniform(0.5, 3.0, size=(40, 15)).astype(np.float32), axis=1)
    sigmas, rhos = smooth_knn_dist(d, 15.0, local_connectivity=0.0)
    _, _, vals, _ = compute_membership_strengths(np.tile(np.arange(100, 115), (40, 1)), d, sigmas, rhos,
                                                 return_dists=True)
    w = membership_weights(d, 15)
    np.testing.assert_allclose(w, vals.reshape(40, 15), rtol=1e-5)
    assert np.all((w > 0) & (w <= 1))


@pytest.fixture(scope="module")
def blobs():
    """Three well separated Gaussian blobs in 16-D, 200 rows each, interleaved."""
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(3, 16)) * 20
    labels = np.arange(600) % 3
    return (centres[labels] + rng.normal(size=(600, 16))).astype(np.float32), labels


def test_umap_lens_on_landmarks_keeps_the_blobs_and_transforms_consistently(blobs):
    X, labels = blobs
    lens = UMAPLens(fit_rows=150, seed=3).fit(X)
    Y = lens.embedding_
    assert Y.shape == (600, 2) and np.all(np.isfinite(Y))
    assert len(lens.landmarks_) == 150 and np.all(np.diff(lens.landmarks_) > 0)
    # the landmarks are exactly a UMAP of those rows alone
    alone = UMAPLens(fit_rows=None, seed=3).fit_transform(X[lens.landmarks_])
    np.testing.assert_array_equal(Y[lens.landmarks_], alone)
    # every placed row lands among its own blob's landmarks
    placed = np.setdiff1d(np.arange(600), lens.landmarks_)
    nn = NearestNeighbors(n_neighbors=1).fit(Y[lens.landmarks_])
    _, j = nn.kneighbors(Y[placed])
    assert np.mean(labels[lens.landmarks_][j[:, 0]] == labels[placed]) == 1.0
    # new rows (another shape than the fitted X) are placed the same way as the fitted ones
    np.testing.assert_allclose(lens.transform(X[placed[:50]]), Y[placed[:50]], rtol=1e-6, atol=1e-9)


def test_layer_embedding_above_fit_rows_is_its_own_cache_entry(tmp_path_factory, monkeypatch):
    run = open_run(tiny_conv2_run(tmp_path_factory, 120))
    monkeypatch.setattr(embedding_module, "UMAP_FIT_ROWS", 60)
    seen = []
    coords = embedding_module.layer_embedding(run, "conv2", "umap", progress=lambda d, t, m="": seen.append(m))
    assert coords.shape == (120, 2) and np.all(np.isfinite(coords))
    assert any("landmarks" in m for m in seen)
    entry = next((run.path / "embeddings").glob("conv2-*.json")).read_text()
    assert '"fit_rows": 60' in entry
    # a full UMAP of the same layer is not served from the landmark entry
    monkeypatch.setattr(embedding_module, "UMAP_FIT_ROWS", 20000)
    assert embedding_module.cached_embedding(run, "conv2", "umap") is None
