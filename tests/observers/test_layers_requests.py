"""When the Layers tab asks for a job (no browser): only when open, only when something changed."""
from __future__ import annotations

from topoact.app.panels.layers import TAB_VALUE, next_request


def test_a_request_is_written_only_when_the_tab_is_open_and_the_parameters_changed():
    wanted = {"targets": ["label"]}
    assert next_request("main", wanted, None, None) is None            # another tab: nothing starts
    assert next_request(TAB_VALUE, None, None, None) is None           # nothing to compute
    assert next_request(TAB_VALUE, wanted, None, None) == wanted       # first opening
    assert next_request(TAB_VALUE, wanted, wanted, None) is None       # running or done: no recompute
    other = {"targets": ["hue", "label"]}
    assert next_request(TAB_VALUE, other, wanted, None) == other       # new targets
    assert next_request(TAB_VALUE, wanted, wanted, wanted) == wanted   # cancelled: asked again
    assert next_request(TAB_VALUE, wanted, wanted, other) is None      # an older cancel does not count
