"""Known shapes give known graphs: circle -> one cycle, two blobs -> two components, Y -> branch."""
import numpy as np

from topoact.mapper import DBSCAN, ArrayLens, BalancedCover, L2Norm, Mapper, PCALens, UniformCover


def test_noisy_circle_has_exactly_one_cycle():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 2 * np.pi, 800)
    X = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.03, size=(800, 2))
    g = Mapper(PCALens(1), UniformCover(8, 0.4), DBSCAN(0.2, "euclidean", 3)).fit_transform(
        X.astype(np.float32))
    assert g.n_components == 1
    assert g.n_cycles == 1


def test_two_separated_blobs_give_two_components():
    rng = np.random.default_rng(1)
    X = np.r_[rng.normal(size=(300, 10)), rng.normal(size=(300, 10)) + 30].astype(np.float32)
    g = Mapper(L2Norm(), UniformCover(6, 0.3), DBSCAN("auto", "euclidean", 3)).fit_transform(X)
    assert g.n_components == 2
    covered = np.unique(np.concatenate(g.members))
    labels = g.component_labels()
    comp_of_row = {}
    for k, m in enumerate(g.members):
        for r in m:
            comp_of_row.setdefault(int(r), set()).add(int(labels[k]))
    blob = np.r_[np.zeros(300), np.ones(300)].astype(int)
    # rows of one blob all map to one component, different from the other blob's
    comps = [set().union(*(comp_of_row[r] for r in covered if blob[r] == b)) for b in (0, 1)]
    assert len(comps[0]) == 1 and len(comps[1]) == 1 and comps[0] != comps[1]


def test_y_shape_has_one_branch_point():
    rng = np.random.default_rng(2)
    parts = []
    for angle in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
        r = rng.uniform(0, 1, 300)
        parts.append(np.c_[r * np.cos(angle), r * np.sin(angle)])
    X = np.concatenate(parts) + rng.normal(scale=0.01, size=(900, 2))
    lens = np.linalg.norm(X, axis=1)              # distance from the centre of the Y
    g = Mapper(ArrayLens(lens), UniformCover(6, 0.3), DBSCAN(0.1, "euclidean", 3)).fit_transform(
        X.astype(np.float32))
    deg = g.degrees()
    assert g.n_components == 1 and g.n_cycles == 0
    assert int((deg == 3).sum()) == 1
    assert int((deg > 3).sum()) == 0


def test_balanced_cover_gives_near_equal_counts():
    rng = np.random.default_rng(4)
    lens = rng.lognormal(size=5000)                     # heavy pile-up for a uniform cover
    for p in (0.05, 0.3):                               # overlap in (0, 1), the one rule
        counts = [len(m) for _, m in BalancedCover(10, p).fit_transform(lens)]
        assert len(counts) == 10
        assert max(counts) - min(counts) <= 2
        expected = 5000 / ((1 - p) * 9 + 1)
        assert abs(np.mean(counts) - expected) <= 2
    uniform = [len(m) for _, m in UniformCover(10, 0.3).fit_transform(lens)]
    assert max(uniform) > 5 * min(uniform)
