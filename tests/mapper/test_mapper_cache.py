"""The Mapper step cache is keyed by content: new step parameters or new data never reuse old values."""
import numpy as np

from topoact.mapper import DBSCAN, ArrayLens, Mapper, PredictionLens, UniformCover


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(4, 8)) * 3
    X = (centers[rng.integers(0, 4, n)] + rng.normal(size=(n, 8))).astype(np.float32)
    return X


def _members(g):
    return [m.tolist() for m in g.members]


def _graph(m, X, **kw):
    m.fit(X, **kw)
    return m.graph_


def test_new_array_lens_is_not_served_from_the_cache():
    X = _data()
    v1 = X[:, 0].astype(np.float64)
    v2 = X[:, 1].astype(np.float64)
    m = Mapper(ArrayLens(v1), UniformCover(6, 0.3), DBSCAN(2.0, "euclidean", 3))
    _graph(m, X)
    m.set_params(lens=ArrayLens(v2))
    reused = _graph(m, X)
    fresh = _graph(Mapper(ArrayLens(v2), UniformCover(6, 0.3), DBSCAN(2.0, "euclidean", 3)), X)
    np.testing.assert_array_equal(m.lens_values_, v2)
    assert _members(reused) == _members(fresh)


def test_new_probabilities_of_a_prediction_lens_are_not_served_from_the_cache():
    X = _data()
    rng = np.random.default_rng(1)
    p1 = rng.dirichlet(np.ones(3), size=len(X))
    p2 = rng.dirichlet(np.ones(3), size=len(X))
    m = Mapper(PredictionLens("max", probabilities=p1), UniformCover(5, 0.3), DBSCAN(2.0))
    _graph(m, X)
    m.set_params(lens=PredictionLens("max", probabilities=p2))
    _graph(m, X)
    np.testing.assert_allclose(m.lens_values_, p2.max(1))
    # probabilities given to fit are part of the key too
    m2 = Mapper(PredictionLens("max"), UniformCover(5, 0.3), DBSCAN(2.0))
    _graph(m2, X, probabilities=p1)
    _graph(m2, X, probabilities=p2)
    np.testing.assert_allclose(m2.lens_values_, p2.max(1))


def test_same_content_in_a_new_array_reuses_and_changed_content_recomputes():
    X = _data()
    m = Mapper(None, UniformCover(5, 0.3), DBSCAN("auto"))
    _graph(m, X)
    eps = m.eps_
    Y = X.copy()
    Y[::7] *= 3.0                       # same shape and dtype, new content
    _graph(m, Y)
    np.testing.assert_allclose(m.lens_values_, np.linalg.norm(Y.astype(np.float64), axis=1))
    fresh = Mapper(None, UniformCover(5, 0.3), DBSCAN("auto"))
    fresh.fit(Y)
    assert m.eps_ == fresh.eps_ and m.eps_ != eps
