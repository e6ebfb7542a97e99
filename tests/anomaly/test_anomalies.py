"""Anomaly finder: known answers on a run with planted anomalies, errors, cache, CLI."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from anomaly_fixtures import LAYERS, planted_run_dir, row_of  # noqa: F401 (fixture)

import topoact
from topoact.anomaly.combine import FRONT_COLUMNS
from topoact.errors import InvalidParameterError, UnknownLayerError
from topoact.progress import Cancelled


@pytest.fixture(scope="module")
def run(planted_run_dir):
    return topoact.open_run(planted_run_dir)


@pytest.fixture(scope="module")
def table(run):
    return topoact.anomalies(run, cache=False)


def test_topoact_anomalies_is_the_function(run):
    import topoact.anomaly.labels  # noqa: F401 - importing a submodule must not shadow it

    assert callable(topoact.anomalies) and topoact.anomalies.__name__ == "anomalies"


def test_model_answers_as_designed(run):
    clean = [i for i, p in enumerate(run.paths) if "planted" not in p]
    assert (run.predictions[clean] == run.labels[clean]).all()


def test_planted_mislabel_ranks_first(run, table):
    mislabel = row_of(run, "planted-mislabel.png")
    assert table.iloc[0]["row"] == mislabel
    assert table.iloc[0]["label"] == "green" and table.iloc[0]["prediction"] == "red"
    assert table.iloc[0]["is_label_issue"]
    assert "label 'green' but" in table.iloc[0]["reason"] and "'red'" in table.iloc[0]["reason"]
    assert table["label_issue"].is_monotonic_decreasing


def test_far_image_gets_the_top_outlier_score(run, table):
    far = row_of(run, "planted-far.png")
    top = table.sort_values("outlier", ascending=False).iloc[0]
    assert top["row"] == far and top["outlier"] == 1.0 and top["is_outlier"]
    assert "than" in top["reason"]


def test_exact_duplicate_is_grouped(run, table):
    copy, original = row_of(run, "planted-copy.png"), row_of(run, "red/img-003.png")
    by_row = table.set_index("row")
    assert by_row.loc[copy, "duplicate_of"] == original
    assert by_row.loc[original, "duplicate_of"] == copy
    assert by_row.loc[copy, "exact_duplicate"] and by_row.loc[original, "exact_duplicate"]
    assert by_row.loc[copy, "duplicate_group"] == by_row.loc[original, "duplicate_group"]
    assert by_row["exact_duplicate"].sum() == 2
    assert "exact copy of row" in by_row.loc[copy, "reason"]


def test_reference_sample_path_keeps_the_known_answers(run):
    """Above exact_max images, neighbours come from a reference sample and duplicates from
    sorted projections: the planted answers must not change."""
    table = topoact.anomalies(run, cache=False, exact_max=60)
    assert table.iloc[0]["row"] == row_of(run, "planted-mislabel.png")
    assert table.sort_values("outlier").iloc[-1]["row"] == row_of(run, "planted-far.png")
    by_row = table.set_index("row")
    assert by_row.loc[row_of(run, "planted-copy.png"), "duplicate_of"] == row_of(run, "red/img-003.png")


def test_scores_stay_in_unit_interval(table):
    for column in ["label_issue", "outlier", "duplicate", "label_issue_model", "label_issue_probe",
                   "label_issue_knn", "outlier_knn", "outlier_mahalanobis", "outlier_max_softmax"]:
        values = table[column].to_numpy(float)
        assert np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.0, column


def test_contract_columns_and_one_row_per_image(run, table):
    assert list(table.columns[:len(FRONT_COLUMNS)]) == FRONT_COLUMNS
    assert sorted(table["row"]) == list(range(run.n))
    assert table["reason"].map(len).min() > 0


def test_thresholds_change_flags_only(run, table):
    strict = topoact.anomalies(run, cache=False, thresholds={"label_issue": 0.999, "outlier": 1.0})
    assert strict["is_label_issue"].sum() <= table["is_label_issue"].sum()
    assert strict["is_outlier"].sum() == 1
    np.testing.assert_allclose(strict["label_issue"], table["label_issue"])


def test_unknown_layer_is_a_clear_error(run):
    with pytest.raises(UnknownLayerError, match="valid layers: features, fc"):
        topoact.anomalies(run, layers=["conv9"], cache=False)


def test_run_without_labels_is_a_clear_error(planted_run_dir, tmp_path):
    copy = tmp_path / "unlabelled"
    shutil.copytree(planted_run_dir, copy)
    np.save(copy / "labels.npy", np.full(topoact.open_run(copy).n, -1, np.int64))
    unlabelled = topoact.open_run(copy)
    with pytest.raises(InvalidParameterError, match="has no labels"):
        topoact.anomalies(unlabelled, cache=False)
    # outliers and duplicates still work without labels
    table = topoact.anomalies(unlabelled, kinds=("outlier", "duplicate"), cache=False)
    assert table["label_issue"].isna().all() and table["outlier"].max() == 1.0


def test_k_larger_than_n_is_a_clear_error(run):
    with pytest.raises(InvalidParameterError, match=f"this run has N={run.n}"):
        topoact.anomalies(run, k=run.n + 5, cache=False)
    with pytest.raises(InvalidParameterError, match="k must be in"):
        topoact.anomalies(run, k=0, cache=False)


def test_results_are_cached_in_the_run_with_progress_and_cancel(planted_run_dir, tmp_path):
    copy = tmp_path / "cached"
    shutil.copytree(planted_run_dir, copy)
    run = topoact.open_run(copy)
    with pytest.raises(Cancelled):
        topoact.anomalies(run, should_cancel=lambda: True)
    assert not list((copy / "anomalies").glob("*.json")) if (copy / "anomalies").exists() else True
    seen = []
    first = topoact.anomalies(run, progress=lambda done, total, message="": seen.append(done / total))
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert len(list((copy / "anomalies").glob("*.json"))) == 1
    again = topoact.anomalies(topoact.open_run(copy))
    pd.testing.assert_frame_equal(first, again)


def test_cli_writes_the_csv_contract_and_exports(planted_run_dir, tmp_path, capsys):
    from topoact.cli import main

    out = tmp_path / "anomalies.csv"
    assert main(["anomalies", str(planted_run_dir), "--layers", ",".join(LAYERS), "--top", "5",
                 "--out", str(out)]) == 0
    csv = pd.read_csv(out)
    assert list(csv.columns[:len(FRONT_COLUMNS)]) == FRONT_COLUMNS and len(csv) == 5
    assert csv["label_issue"].is_monotonic_decreasing
    assert "5 rows written" in capsys.readouterr().out
    cl = tmp_path / "cleanlab.csv"
    assert main(["anomalies", str(planted_run_dir), "--format", "cleanlab", "--out", str(cl)]) == 0
    cl = pd.read_csv(cl)
    assert {"given_label", "label_score", "is_label_issue", "outlier_score", "near_duplicate_sets"} <= set(cl)
    assert cl["label_score"].between(0, 1).all()
    fo = tmp_path / "fo.csv"
    assert main(["anomalies", str(planted_run_dir), "--format", "fiftyone", "--out", str(fo)]) == 0
    assert {"filepath", "ground_truth", "mistakenness", "uniqueness"} <= set(pd.read_csv(fo))
    assert main(["anomalies", str(planted_run_dir), "--layers", "nope", "--out", str(fo)]) == 2
    assert "unknown layer 'nope'" in capsys.readouterr().err


def test_folder_classes_not_the_models_leave_label_issues_out(tmp_path, capsys):
    """A data set whose classes are not the model's: labels are named with the folder's classes,
    predictions with the model's; label issues are refused with the reason, the rest works."""
    from anomaly_fixtures import planted_bundle, write_planted_folder

    from topoact.anomaly import cached_anomalies, run_kinds
    from topoact.cli import main

    folder = write_planted_folder(tmp_path / "images")
    for old, new in (("blue", "sky"), ("green", "grass"), ("red", "fire")):
        (folder / old).rename(folder / new)
    run = topoact.collect(planted_bundle(), str(folder), LAYERS, out=tmp_path / "run", num_workers=0,
                          progress=False)
    assert not run.labels_match_model and run.label_names == ["fire", "grass", "sky"]
    assert run_kinds(run) == ("outlier", "duplicate")
    with pytest.raises(InvalidParameterError, match="not matched onto the model's.*leave 'label_issue' out"):
        topoact.anomalies(run)
    assert cached_anomalies(run, kinds=run_kinds(run)) is None
    table = topoact.anomalies(run, kinds=run_kinds(run))
    pd.testing.assert_frame_equal(cached_anomalies(run, kinds=run_kinds(run)), table)
    by_row = table.set_index("row")
    far = row_of(run, "planted-far.png")
    assert by_row.loc[far, "label"] == "sky" and table.iloc[table["outlier"].argmax()]["row"] == far
    assert set(table["prediction"]) <= {"blue", "green", "red"} and set(table["label"]) == {"fire", "grass", "sky"}
    assert table["label_issue"].isna().all()
    out = tmp_path / "a.csv"
    assert main(["anomalies", str(tmp_path / "run"), "--out", str(out)]) == 0
    assert "label issues left out" in capsys.readouterr().out and len(pd.read_csv(out)) == run.n
