"""The topoact Dash app: ``create_app(run_dir)`` returns a ``dash.Dash`` on a run directory.

Nothing heavy happens at import time; the run is opened and the panels imported inside
:func:`create_app`. See :mod:`topoact.app.panels` for the panel contract,
:mod:`topoact.app.background` for background work (Dash background callbacks in worker
processes), :mod:`topoact.app.ids` for the shared stores, :mod:`topoact.app.shell` for the page
(navbar, help, columns; the Bootstrap theme is served from ``assets/``, never a CDN) and
:mod:`topoact.app.urlstate` for the view kept in the address bar.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

__all__ = ["create_app", "serve"]


def create_app(run_dir: str | Path | Any, *, background_manager: Any = None, title: str = "topoact",
               compare: str | Path | Any = None) -> Any:
    """Build the Dash app on a run.

    Parameters
    ----------
    run_dir : str, Path or topoact.store.Run
        A run directory, or an already open run.
    background_manager : dash.DiskcacheManager or dash.CeleryManager, optional
        Runs the background callbacks (long jobs) in worker processes. Default:
        :func:`topoact.app.background.make_manager` (diskcache in a temporary folder, one process
        per job); a shared server passes a ``CeleryManager``.
    title : str
        The browser tab's title.
    compare : str, Path or topoact.store.Run, optional
        A second run on the same images: the Layers tab then shows a Compare view.

    Returns
    -------
    dash.Dash
        Its Flask server is ``app.server``; ``app.topoact_context`` is the panels' context.
    """
    import dash

    from .background import make_manager
    from .context import AppContext
    from .panels import load_panels
    from .routes import register_routes
    from . import shell, urlstate

    from topoact.store import open_run

    run = open_run(run_dir) if isinstance(run_dir, (str, Path)) else run_dir
    compare_run = open_run(compare) if isinstance(compare, (str, Path)) else compare
    ctx = AppContext(run, compare_run=compare_run)
    app = dash.Dash(__name__, title=title, update_title=None, suppress_callback_exceptions=False,
                    background_callback_manager=background_manager or make_manager())
    main, tabs = load_panels(ctx)
    app.layout = shell.shell_layout(ctx, main, tabs)
    register_routes(app.server, run, ctx.thumbnail)
    shell.register(app, ctx)
    urlstate.register(app, ctx)
    for module in main:
        module.register(app, ctx)
    for _, module in tabs:
        module.register(app, ctx)
    app.topoact_context = ctx  # for tests and scripts
    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8050, debug: bool = False,
          server: str = "waitress", threads: int = 8, compare: str | Path | None = None) -> None:
    """Start the app on ``host:port`` (127.0.0.1 by default: not reachable from other machines).

    Parameters
    ----------
    run_dir : str or Path
        The run directory.
    host, port : str, int
        Where to listen.
    debug : bool
        Dash debug mode (reloader, error overlay); implies Flask's development server.
    server : {'waitress', 'flask'}
        ``waitress`` (default): a production WSGI server (pure Python, any OS) with ``threads``
        request threads; long jobs still run in the background manager's worker processes.
        ``flask``: Flask's development server.
    threads : int
        Request threads of the waitress server.
    compare : str or Path, optional
        A second run directory, shown in the Layers tab's Compare view.
    """
    import signal

    app = create_app(run_dir, compare=compare)
    import threading

    if threading.current_thread() is threading.main_thread():
        # SIGTERM exits through the interpreter's exit handlers, which stop running jobs
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    if debug or server == "flask":
        app.run(host=host, port=port, debug=debug)
        return
    if server != "waitress":
        raise ValueError(f"unknown server {server!r}; choose waitress or flask")
    import logging

    from waitress import serve as waitress_serve

    logging.getLogger(__name__).warning("topoact app on http://%s:%d/ (waitress, %d threads)", host, port, threads)
    waitress_serve(app.server, host=host, port=port, threads=int(threads), ident="topoact")
