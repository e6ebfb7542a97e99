"""The sweep's pair pass limited to rows that share a cover element (``element_reach``)."""
from __future__ import annotations

import numpy as np
import pytest

from topoact.mapper.cover import make_cover
from topoact.mapper.sweep import band_pairs, element_reach


def test_element_reach_is_the_last_shared_position():
    rng = np.random.default_rng(0)
    ls = np.sort(rng.uniform(0, 10, 300))
    covers = [make_cover("uniform", n, p).fit(ls) for n, p in ((5, 0.2), (9, 0.35))]
    elements = [(c.lower_[:, 0], c.upper_[:, 0]) for c in covers]
    reach = element_reach(ls, elements)
    want = np.zeros(len(ls), np.int64)
    for lo, hi in elements:
        for a, b in zip(lo, hi):
            inside = np.flatnonzero((ls >= a) & (ls <= b))
            if len(inside):
                want[inside] = np.maximum(want[inside], inside[-1] + 1)
    assert np.array_equal(reach, np.maximum.accumulate(want))


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_band_pairs_with_elements_keeps_every_pair_inside_an_element(metric):
    rng = np.random.default_rng(4)
    X = np.maximum(rng.normal(size=(600, 24)) + rng.normal(size=(8, 24))[rng.integers(0, 8, 600)],
                   0).astype(np.float32)
    lens = np.linalg.norm(X.astype(np.float64), axis=1)
    covers = [make_cover("uniform", n, p).fit(lens) for n, p in ((4, 0.3), (7, 0.2))]
    width = max(float(np.max(c.upper_ - c.lower_)) for c in covers)
    Xd = X.astype(np.float64)
    if metric == "cosine":
        U = Xd / np.linalg.norm(Xd, axis=1)[:, None]
        d = 1.0 - U @ U.T
        eps = float(np.quantile(d, 0.03))
    else:
        d = np.sqrt(((Xd[:, None] - Xd[None]) ** 2).sum(-1))
        eps = float(np.quantile(d, 0.03))
    elements = [(c.lower_[:, 0], c.upper_[:, 0]) for c in covers]
    order, full, _ = band_pairs(X, lens, width, eps, metric, block=64)
    order2, lim, _ = band_pairs(X, lens, width, eps, metric, block=64, elements=elements)
    assert np.array_equal(order, order2)
    assert len(lim) < len(full)                              # the limit saved work
    ls = lens[order]
    n_checked = 0
    for lo, hi in elements:
        for a, b in zip(lo, hi):
            p0, p1 = np.searchsorted(ls, a, "left"), np.searchsorted(ls, b, "right")
            pa, pb, lv = lim.inside(p0, p1)
            got = {(int(i), int(j)) for i, j in zip(pa, pb)}
            fa, fb, fl = full.inside(p0, p1)
            assert got == {(int(i), int(j)) for i, j in zip(fa, fb)}
            assert np.array_equal(lv, fl)
            n_checked += len(got)
    assert n_checked > 0
