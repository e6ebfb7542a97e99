"""Browser-test helper: wait until the Dash page has finished its load callbacks.

The opening graph is part of the first paint, so its markers exist while the page's load
callbacks (every panel's first fill) are still queued. A test that clicks a node at once measures
how long that queue takes on a busy machine, not what the click does; tests of what a click does
wait for the queue to drain first. (What an early click costs is measured by
``benchmarks/app_latency.py``.)
"""
from __future__ import annotations

from dash.testing.wait import until


def wait_for_page_settled(dash_duo, timeout: float = 60) -> None:
    """Block until Dash's renderer has no pending callback (``dash_duo``'s own criterion)."""
    until(dash_duo._wait_for_callbacks, timeout, poll=0.2, msg="the page's load callbacks to finish")
