"""Data set classes matched onto the model's by name, so labels mean what the model predicts."""
from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest

from topoact.data.classes import match_classes, normalise_class_name

from conftest import CIFAR_IMAGES, CIFAR_RESNET20, requires_shared_data

CIFAR = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_normalisation_ignores_case_and_separators_only():
    assert {normalise_class_name(n) for n in ("Automobile", "auto_mobile", "AUTO-MOBILE", " auto mobile")} \
        == {"automobile"}
    assert normalise_class_name("n02123045 tabby") != normalise_class_name("tabby")


def test_a_subset_of_the_model_classes_is_mapped_by_name():
    match = match_classes(["Cat", "dog"], CIFAR)
    assert match.how == "name" and match.labels_match_model
    assert match.mapping == {"Cat": 3, "dog": 5}
    np.testing.assert_array_equal(match.map_labels(np.array([0, 1, 1, -1])), [3, 5, 5, -1])
    assert match.label_names == CIFAR and match.dataset_class_names == ["Cat", "dog"]


def test_unknown_classes_keep_their_own_names_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="topoact.data.classes"):
        match = match_classes(["cat", "zebra"], CIFAR)
    assert match.how == "none" and not match.labels_match_model
    assert "'zebra' not among the model's 10 classes" in caplog.text
    assert match.label_names == ["cat", "zebra"] and match.class_names == CIFAR
    np.testing.assert_array_equal(match.map_labels(np.array([0, 1])), [0, 1])
    assert match.to_meta()["label_mapping"] == {"cat": 3, "zebra": None}


def test_placeholders_on_either_side_mean_position():
    by_position = match_classes(["cat", "dog", "bird"], ["class_0", "class_1", "class_2"])
    assert by_position.how == "position" and by_position.class_names == ["cat", "dog", "bird"]
    wrapped = match_classes(["class_0", "class_1"], CIFAR)
    assert wrapped.how == "position" and wrapped.label_names == CIFAR
    assert match_classes(CIFAR, [n.upper() for n in CIFAR]).how == "identical"


@pytest.fixture(scope="module")
def cat_dog(tmp_path_factory):
    root = tmp_path_factory.mktemp("catdog")
    for name in ("cat", "dog"):
        (root / name).mkdir()
        for path in sorted((CIFAR_IMAGES / name).glob("*.jpg"))[:60]:
            shutil.copy(path, root / name / path.name)
    return root


@requires_shared_data
def test_cat_and_dog_folders_get_the_model_labels_and_a_true_accuracy(cat_dog, tmp_path):
    import topoact

    run = topoact.collect("cifar-resnet20", str(cat_dog), ["layer3"], out=tmp_path / "run",
                          weights=str(CIFAR_RESNET20), progress=False)
    assert sorted(set(run.labels.tolist())) == [3, 5]
    assert run.label_names[3] == "cat" and run.class_names[5] == "dog" and run.labels_match_model
    assert run.meta["dataset_class_names"] == ["cat", "dog"] and run.meta["label_mapping"] == {"cat": 3, "dog": 5}
    accuracy = float(np.mean(run.predictions == run.labels))
    assert accuracy > 0.6, accuracy  # measured 81% over all classes; cat/dog are the hardest pair


@requires_shared_data
def test_unknown_folder_names_keep_their_own_names_and_no_accuracy(cat_dog, tmp_path, capsys):
    from topoact.cli import main

    odd = tmp_path / "odd"
    shutil.copytree(cat_dog / "cat", odd / "kitten")
    shutil.copytree(cat_dog / "dog", odd / "puppy")
    code = main(["collect", "--model", "cifar-resnet20", "--weights", str(CIFAR_RESNET20), "--data", str(odd),
                 "--layers", "layer3", "--out", str(tmp_path / "run"), "--limit", "80"])
    assert code == 0
    assert "accuracy n/a: dataset classes do not match the model's" in capsys.readouterr().out
    import topoact

    run = topoact.open_run(tmp_path / "run")
    assert run.label_names == ["kitten", "puppy"] and not run.labels_match_model
    assert sorted(set(run.labels.tolist())) == [0, 1]
