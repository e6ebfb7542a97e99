"""Panels of the topoact app and the contract they follow.

Panel contract
--------------
A panel is a module in this package with two functions::

    def layout(ctx: AppContext) -> dash.development.base_component.Component: ...
    def register(app: dash.Dash, ctx: AppContext) -> None: ...

``ctx`` is :class:`topoact.app.context.AppContext` (``ctx.run``: the open
:class:`topoact.store.Run`, plus cached, read-only graph services). ``layout`` builds the
panel's components (cheap: no heavy work, the first figure is filled by a callback);
``register`` adds the panel's callbacks with ``app.callback`` and nothing else. A panel module
may define ``TAB_LABEL`` (the tab's title).

Rules for panels:

* Component ids are constants (``topoact.app.ids`` for the shared ones; a panel's own ids as
  module constants prefixed ``topoact-<panel>-``).
* Read the shared stores, never duplicate them: ``ids.LAYER`` (str), ``ids.GRAPH_KEY``
  ({"layer", "key"}), ``ids.NODE`` ({"layer", "graph_key", "node"} or None), ``ids.CLASS``
  (label index or None), ``ids.UPLOAD``. Write them only with ``allow_duplicate=True`` and
  ``prevent_initial_call=True``.
* Long work (anything over ~0.2 s) is a Dash background callback (``background=True``, see
  :mod:`topoact.app.background`): it runs in a worker process, reports through
  ``progress=[Output(bar, "value"), Output(text, "children")]`` with
  ``BarProgress(set_progress)`` as the library's ``progress(done, total, message)``, stops
  with ``cancel=[Input(cancel_button, "n_clicks")]`` and disables its buttons with
  ``running=``. The job returns keys and small JSON; results that matter are saved in the run
  by the library.
* Talk to the library through ``ctx.run`` and the engines only: never read the run's files,
  never rebuild a cache key (ask the library's config ``.key``).
* Stores hold keys and parameters, never arrays or member lists.

The shell (``topoact.app.create_app``) shows the ``graph``, ``embedding`` and ``node`` panels
side by side in the first tab and every other panel of :data:`TAB_PANELS` in its own tab.
Optional panels (``embedding``, ``persistence``, ``features``, ``timeline``) are included only
when their module imports; an import error is logged (a warning with the traceback for a broken
module), not raised. A panel may define ``available(ctx) -> bool``: the tab is left out when it
answers False.
"""
from __future__ import annotations

import importlib
import logging
from types import ModuleType

from topoact.app.context import AppContext


logger = logging.getLogger(__name__)

__all__ = ["AppContext", "MAIN_PANELS", "TAB_PANELS", "OPTIONAL_PANELS", "load_panels", "while_shown"]

#: shown side by side in the first tab, in this order (graph | embedding | node)
MAIN_PANELS = ("graph", "embedding", "node")
#: (module name, default tab label), in tab order
TAB_PANELS = (
    ("sweep", "Parameter sweep"),
    ("compare", "Neighbouring layers"),
    ("upload", "Upload an image"),
    ("persistence", "Persistence"),
    ("features", "Feature visualization"),
    ("anomalies", "Anomalies"),
    ("layers", "Layers"),
    ("timeline", "Timeline"),
)
OPTIONAL_PANELS = frozenset({"persistence", "features", "embedding", "timeline"})


def _import_panel(name: str) -> ModuleType | None:
    """The panel module ``name``; None for an optional panel that is missing or broken (logged)."""
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if name in OPTIONAL_PANELS and exc.name == f"{__name__}.{name}":
            logger.info("optional panel %r not installed", name)
            return None
        if name in OPTIONAL_PANELS:
            logger.warning("optional panel %r left out: %s", name, exc)
            return None
        raise
    except Exception:  # noqa: BLE001 - a broken optional panel must not take the app down
        if name in OPTIONAL_PANELS:
            logger.exception("optional panel %r failed to import; left out", name)
            return None
        raise


def load_panels(ctx: AppContext | None = None) -> tuple[list[ModuleType], list[tuple[str, ModuleType]]]:
    """Import the panel modules: ``(main panels, [(tab label, module), ...])``.

    A missing optional main panel (``embedding``) leaves its column out. A tab panel with an
    ``available(ctx) -> bool`` function is left out when, given ``ctx``, it answers False (the
    Timeline tab: only for a run that belongs to a series).
    """
    main = [module for module in map(_import_panel, MAIN_PANELS) if module is not None]
    tabs = []
    for name, label in TAB_PANELS:
        module = _import_panel(name)
        if module is None:
            continue
        available = getattr(module, "available", None)
        if ctx is not None and available is not None and not available(ctx):
            logger.info("panel %r not shown for this run", name)
            continue
        tabs.append((getattr(module, "TAB_LABEL", label), module))
    return main, tabs


def while_shown(app, store: str, tab: str, *inputs) -> None:
    """Pass a change of any of ``inputs`` on to the store ``store`` only while the tab ``tab`` is
    shown, and once when the tab is opened (the store gets a new timestamp).

    A hidden tab's callbacks that take the shared stores as inputs would otherwise each cost a
    request on every node click (to refuse it): the browser allows 6 at once, and every Dash
    request re-runs the page's component selectors. The tab's callback takes ``Input(store)``
    and reads the shared stores as ``State``.

    Parameters
    ----------
    app : dash.Dash
    store : str
        Id of a ``dcc.Store`` in the tab's layout.
    tab : str
        The tab's value (``topoact.app.shell.tab_value``).
    *inputs : dash.Input
        What the tab draws from.
    """
    from dash import Input, Output

    from topoact.app import ids

    app.clientside_callback(
        """function(...values) {
            return values[values.length - 1] === '%s' ? Date.now() : window.dash_clientside.no_update;
        }""" % tab,
        Output(store, "data"), *inputs, Input(ids.TABS, "value"),
    )
