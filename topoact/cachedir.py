"""Where topoact keeps caches that do not belong to one run (the trained demo model, its demo run).

Default: the user's cache directory (``platformdirs.user_cache_dir("topoact")``, e.g.
``~/.cache/topoact`` on Linux); ``TOPOACT_CACHE_DIR`` overrides it. Never the source tree: a
checkout stays clean whatever command runs in it. Reading the location creates nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(*parts: str, create: bool = False) -> Path:
    """``<cache root>/<parts...>``; the folder is made only when ``create`` is True."""
    root = os.environ.get("TOPOACT_CACHE_DIR")
    if root:
        base = Path(root).expanduser()
    else:
        import platformdirs

        base = Path(platformdirs.user_cache_dir("topoact", appauthor=False))
    path = base.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
