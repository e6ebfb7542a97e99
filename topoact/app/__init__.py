"""The topoact Dash app: ``create_app(run_dir)`` returns a ``dash.Dash`` on a run directory.

Nothing heavy happens at import time; the run is opened and the panels imported inside
:func:`create_app`. See :mod:`topoact.app.panels` for the panel contract,
:mod:`topoact.app.jobs` for background work and :mod:`topoact.app.ids` for the shared stores.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["create_app", "serve"]


def create_app(run_dir: str | Path | Any, *, jobs=None, title: str = "topoact", compare=None):
    """Build the Dash app on a run.

    Parameters
    ----------
    run_dir : path of a run directory, or an already open ``topoact.store.Run``
    jobs : a :class:`topoact.app.jobs.JobManager` to share (default: a new one, 2 threads)
    compare : a second run (path or Run) on the same images: the Layers tab then shows a Compare view

    Returns
    -------
    dash.Dash (its Flask server is ``app.server``)
    """
    import dash

    from .context import AppContext
    from .jobs import JobManager
    from .panels import load_panels
    from .routes import register_routes
    from .shell import shell_layout, register_shell

    if isinstance(run_dir, (str, Path)):
        from topoact.store import open_run

        run = open_run(run_dir)
    else:
        run = run_dir
    ctx = AppContext(run=run, jobs=jobs if jobs is not None else JobManager(max_workers=2))
    if compare is not None:
        from topoact.store import open_run

        ctx.compare_run = open_run(compare) if isinstance(compare, (str, Path)) else compare
    app = dash.Dash(__name__, title=title, update_title=None, suppress_callback_exceptions=False)
    main, tabs = load_panels()
    app.layout = shell_layout(ctx, main, tabs)
    register_routes(app.server, run)
    register_shell(app, ctx)
    for module in main:
        module.register(app, ctx)
    for _, module in tabs:
        module.register(app, ctx)
    app.topoact_context = ctx  # for tests and scripts
    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8050, debug: bool = False,
          compare: str | Path | None = None) -> None:
    """Start the app on ``host:port`` (127.0.0.1 by default: not reachable from other machines);
    ``compare``: a second run directory shown in the Layers tab's Compare view."""
    app = create_app(run_dir, compare=compare)
    app.run(host=host, port=port, debug=debug)
