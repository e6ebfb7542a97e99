"""A real run of the built-in demo CNN on the generated shapes (imported by the observer tests).

800 images (400 gratings with a known orientation), the demo model's four depths, GAP. The demo
CNN is trained once and cached (see topoact.models.demo); collection takes a few seconds.
"""
from __future__ import annotations

import pytest

N_IMAGES = 800
LAYERS = ("block1", "block2", "block3", "linear")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    import topoact

    path = tmp_path_factory.mktemp("observers") / "demo"
    return topoact.collect("demo", f"shapes:{N_IMAGES}", list(LAYERS), out=path, num_workers=0, progress=False,
                           batch_size=200, chunk_size=400)
