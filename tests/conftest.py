"""Shared fixtures: where the real data lives, and Chrome options for dash_duo."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TOPOACT_SHARED_DATA", REPO.parent / "shared" / "data"))
CIFAR_IMAGES = SHARED_DATA / "cifar10" / "images"
CIFAR_RESNET20 = SHARED_DATA / "cifar10-resnet" / "resnet20.th"
CIFAR_RESNET32 = SHARED_DATA / "cifar10-resnet" / "resnet32.th"

requires_shared_data = pytest.mark.skipif(
    not (CIFAR_IMAGES.is_dir() and CIFAR_RESNET20.is_file()),
    reason=f"real CIFAR-10 images and ResNet checkpoints not found at {SHARED_DATA} "
    "(set TOPOACT_SHARED_DATA to run these tests)",
)

# Chromium writes its profile and crash data under these; keep them out of /root.
for _var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
    os.environ.setdefault(_var, tempfile.mkdtemp(prefix=f"topoact-{_var.lower()}-"))


def pytest_setup_options():
    """Chrome options for dash_duo (called by dash's pytest plugin)."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    return options
