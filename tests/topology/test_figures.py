"""Persistence figures: the data drawn (bars, order, colours, band, points), not just a figure."""
import numpy as np
import pytest

from topoact.figures.persistence import COLORS, barcode_figure, diagram_figure, distance_heatmap
from topoact.topology.results import LayerDistances
from topoact.topology.summaries import barcode

H0 = [[0.0, 0.5], [0.0, 1.0], [0.0, 0.2], [0.0, None]]
H1 = [[0.2, 0.9], [0.3, 0.35], [0.4, None], [0.1, 0.25]]
BAND = [0.6, 0.3]


def result():
    """A hand-made result: H0 bars 0.5, 1.0, 0.2, inf; H1 bars 0.7, 0.05, inf, 0.15; band 2c."""
    bars = barcode(H0, BAND[0], dim=0) + barcode(H1, BAND[1], dim=1)
    return {"diagrams": [H0, H1], "bars": bars, "band": BAND, "threshold": 1.2}


def segments(trace):
    """(x0, x1, y) of each line segment of a barcode trace (segments separated by None)."""
    xs, ys = list(trace.x), list(trace.y)
    return [(xs[k], xs[k + 1], ys[k]) for k in range(0, len(xs), 3)]


def test_barcode_draws_every_bar_longest_first_coloured_by_significance():
    fig = barcode_figure(result())
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"H0 significant", "H0 noise", "H1 significant", "H1 noise"}
    for name, trace in by_name.items():
        assert trace.line.color == COLORS[name.endswith("significant")]
    top = 1.2 * 1.05                                # threshold * 1.05: infinite bars end there
    h0 = sorted(segments(by_name["H0 significant"]) + segments(by_name["H0 noise"]),
                key=lambda s: s[2])
    assert [round(b - a, 9) for a, b, _ in h0] == [round(top, 9), 1.0, 0.5, 0.2]
    assert [y for *_, y in h0] == [0, 1, 2, 3]      # rows top to bottom, longest first
    # significant: persistence > band (0.6) or infinite -> the infinite bar and the 1.0 bar
    assert sorted(round(b - a, 9) for a, b, _ in segments(by_name["H0 significant"])) == \
        [1.0, round(top, 9)]
    h1 = sorted(segments(by_name["H1 significant"]) + segments(by_name["H1 noise"]),
                key=lambda s: s[2])
    assert [y for *_, y in h1] == [6, 7, 8, 9]      # after H0's 4 rows and a gap of 2
    assert [(a, b) for a, b, _ in h1] == [(0.4, pytest.approx(top)), (0.2, 0.9), (0.1, 0.25),
                                          (0.3, 0.35)]
    assert len(segments(by_name["H1 significant"])) == 2      # inf and 0.7 > 0.3
    # customdata of each bar is [dim, row in the diagram]
    assert list(by_name["H1 significant"].customdata[0]) == [1, 2]


def test_barcode_max_bars_click_targets_and_selection():
    fig = barcode_figure(result(), dims=(1,), max_bars=2, click_targets=True, selected=(1, 0))
    drawn = [s for t in fig.data if t.name.startswith("H1") for s in segments(t)]
    assert len(drawn) == 2                                     # the two longest only
    marks = next(t for t in fig.data if t.name == "bars")
    assert [list(c) for c in marks.customdata] == [[1, 2], [1, 0]]
    assert list(marks.marker.color) == [COLORS[True], COLORS[True]]
    sel = next(t for t in fig.data if t.name == "selected")
    assert list(sel.x) == [0.2, 0.9] and list(sel.y) == [1, 1] and sel.line.color == "#1f77b4"


def test_diagram_points_band_and_infinite_deaths():
    fig = diagram_figure(result())
    top = 1.2 * 1.05
    h1 = next(t for t in fig.data if t.name == "H1")
    assert list(h1.x) == [0.2, 0.3, 0.4, 0.1]
    assert list(h1.y) == pytest.approx([0.9, 0.35, top, 0.25])          # inf drawn at the top
    band = next(t for t in fig.data if t.name.startswith("H1 band"))
    assert list(band.y)[-1] == 0.3 and "2c=0.3" in band.name             # death = birth + 2c
    assert len(next(t for t in fig.data if t.name == "H0").x) == 4


def test_figures_accept_the_typed_result_and_mark_its_significant_bars():
    from topoact.topology import compute_persistence
    rng = np.random.default_rng(11)
    t = rng.uniform(0, 2 * np.pi, 100)
    X = np.c_[np.cos(t), np.sin(t)] + rng.normal(scale=0.05, size=(100, 2))
    res = compute_persistence(X, n_landmarks=80, n_bootstrap=3)
    fig = barcode_figure(res)
    n_red = sum(len(segments(tr)) for tr in fig.data if tr.name == "H1 significant")
    assert n_red == res.summaries["h1"]["n_significant"] == 1
    n_h1 = sum(len(segments(tr)) for tr in fig.data if tr.name.startswith("H1"))
    assert n_h1 == len(res.diagrams[1])
    assert len(next(tr for tr in diagram_figure(res).data if tr.name == "H1").x) == n_h1


def test_distance_heatmap_shows_the_matrix_and_names_the_distance():
    d = LayerDistances(labels=["a", "b", "c"], matrix=[[0, 1, 2], [1, 0, 3], [2, 3, 0]], dim=1,
                       distance="wasserstein", metric="cosine")
    fig = distance_heatmap(d)
    assert np.array_equal(np.asarray(fig.data[0].z), d.array())
    assert list(fig.data[0].x) == ["a", "b", "c"] and "wasserstein" in fig.layout.title.text
    old = distance_heatmap({"labels": ["a"], "matrix": [[0]], "dim": 0, "metric": "bottleneck"})
    assert "H0 bottleneck" in old.layout.title.text
