"""topoact.lazy: packages import their public names on first use, and the command line's parser
imports none of the heavy libraries."""
from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["topoact", "topoact.features", "topoact.topology", "topoact.anomaly", "topoact.observers",
            "topoact.mapper"]


def test_building_the_command_line_parser_imports_no_heavy_library():
    code = ("import sys; from topoact.cli import build_parser; build_parser(); "
            "print(' '.join(m for m in ('torch', 'sklearn', 'pandas', 'scipy.stats', 'umap') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_resolves_to_the_object_its_module_defines(name):
    package = importlib.import_module(name)
    where = {public: module for module, names in package._MODULES.items() for public in names}
    for public in package.__all__:
        value = getattr(package, public)
        if public in where:
            assert value is getattr(importlib.import_module(f"{name}.{where[public]}"), public), public
        elif public not in ("__version__", "Cancelled", "build_graph"):      # a public submodule
            assert value is importlib.import_module(f"{name}.{public}"), public
        assert public in dir(package)
    with pytest.raises(AttributeError, match=f"module '{name}' has no attribute 'no_such_name'"):
        getattr(package, "no_such_name")


def test_from_import_of_a_submodule_and_a_name():
    from topoact.features import objectives
    from topoact.topology import layer_persistence

    assert objectives.__name__ == "topoact.features.objectives"
    assert layer_persistence.__module__ == "topoact.topology.run_persistence"
