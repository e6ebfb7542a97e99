"""Linear CKA: known answers, exactness of the streaming form, runs and their errors."""
from __future__ import annotations

import numpy as np
import pytest

from obs_fixtures import demo_run  # noqa: F401 - fixture

from topoact.observers.cka import (StreamingCKA, cka_matrix, effective_rank, linear_cka, linear_cka_gram,
                                   minibatch_cka)


def _data(n=400, d=20, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 5))
    return latent @ rng.normal(size=(5, d)) + 0.1 * rng.normal(size=(n, d))


def test_cka_of_a_layer_with_itself_is_one_and_invariant_to_rotation_and_scale():
    X = _data()
    assert linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    Q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(20, 20)))
    Y = 3.7 * X @ Q + 5.0            # orthogonal transform, isotropic scale, shift
    assert linear_cka(X, Y) == pytest.approx(1.0, abs=1e-9)
    # and not invariant to an anisotropic scaling (the test could fail)
    assert linear_cka(X, X * np.linspace(0.1, 10, 20)) < 0.99


def test_cka_with_random_projection_of_unrelated_data_is_near_zero():
    X = _data(n=4000, seed=0)
    unrelated = np.random.default_rng(7).normal(size=(4000, 30)) @ np.random.default_rng(8).normal(size=(30, 16))
    assert linear_cka(X, unrelated) < 0.02
    assert linear_cka(X, X[:, :10]) > 0.8


def test_streaming_equals_full_and_gram_forms_and_minibatch_is_close():
    X, Y = _data(seed=0), _data(seed=0)[:, :7] ** 2 + _data(seed=3)[:, :7]
    full = linear_cka(X, Y)
    assert linear_cka_gram(X, Y) == pytest.approx(full, abs=1e-10)
    streamed = StreamingCKA(chunk_size=37).fit([X, Y]).matrix()
    assert streamed[0, 1] == pytest.approx(full, abs=1e-10)
    assert np.diag(streamed) == pytest.approx(np.ones(2))
    big_X, big_Y = _data(n=6000, seed=4), _data(n=6000, seed=4)[:, ::-1] + np.random.default_rng(5).normal(size=(6000, 20))
    assert minibatch_cka(big_X, big_Y, batch_size=1000) == pytest.approx(linear_cka(big_X, big_Y), abs=0.03)
    with pytest.raises(ValueError, match="same images"):
        linear_cka(X, Y[:-1])


def test_effective_rank_counts_equal_directions():
    assert effective_rank(np.diag([1.0, 1.0, 1.0, 0.0])) == pytest.approx(3.0)
    assert effective_rank(np.diag([1.0, 1e-9])) == pytest.approx(1.0, abs=1e-6)


def test_cka_matrix_of_a_run_is_cached_and_checks_images(demo_run, tmp_path):
    result = cka_matrix(demo_run)
    layers = list(demo_run.layers)
    assert result.rows == layers and result.cols == layers
    values = np.asarray(result.values)
    assert np.diag(values) == pytest.approx(np.ones(len(layers)), abs=1e-6)
    X = np.asarray(demo_run.activations("block1"))
    Y = np.asarray(demo_run.activations("block3"))
    assert values[0, 2] == pytest.approx(linear_cka(X, Y), abs=1e-5)
    assert set(result.effective_rank) == set(layers)
    assert list((demo_run.path / "cka").glob("*.json")), "not cached in the run"
    again = cka_matrix(demo_run)
    assert again.values == result.values
    # two runs on different images: a clear error
    import topoact

    other = topoact.collect("demo", "shapes:64", ["block1"], out=tmp_path / "other", num_workers=0, progress=False)
    with pytest.raises(ValueError, match="same images"):
        cka_matrix(demo_run, other)
