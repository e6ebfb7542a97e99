"""Forms in words: every bad value gets a message next to its field, taken from the library's own
range; "Why this graph?" shows the automatic choice; exploring (a computed graph, a sweep cell)
never moves the layer's default graph (browser)."""
from __future__ import annotations

import re

import pytest
from dash.testing.wait import until

from app_fixtures import FIXTURE_FORM, GRAPH_LAYER, fresh_run_dir, small_run, small_run_dir  # noqa: F401

from topoact.app import create_app, ids
from topoact.app.help import error_id, graph_name
from topoact.app.panels.graph_form import FORM_FIELDS, allowed, form_errors, range_words, why_content
from topoact.app.panels.sweep import list_errors


def _form(**changes) -> list:
    return [dict(FIXTURE_FORM, **changes)[name] for name in FORM_FIELDS]


# -- messages -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, control, message", [
    ({"n_intervals": ""}, ids.P_INTERVALS, "intervals: a whole number ≥ 1 (empty)"),
    ({"n_intervals": "0"}, ids.P_INTERVALS, "intervals: a whole number ≥ 1, not 0"),
    ({"n_intervals": "2.5"}, ids.P_INTERVALS, "intervals: a whole number ≥ 1, not 2.5"),
    ({"n_intervals": None}, ids.P_INTERVALS, "intervals: a whole number ≥ 1 (empty)"),
    ({"eps": "abc"}, ids.P_EPS, "eps: a number > 0 or 'auto', not abc"),
    ({"eps": "-1"}, ids.P_EPS, "eps: a number > 0 or 'auto', not -1"),
    ({"overlap": "1"}, ids.P_OVERLAP, "overlap: a number > 0 and < 1, not 1"),
    ({"min_samples": "x"}, ids.P_MIN_SAMPLES, "min samples: a whole number ≥ 1, not x"),
])
def test_each_bad_value_gets_its_message_on_its_field(changes, control, message):
    assert form_errors(*_form(**changes)) == {control: message}


def test_good_values_and_fields_the_clusterer_does_not_read_pass():
    assert form_errors(*_form()) == {}
    assert form_errors(*_form(eps="", n_intervals=" 7 ", overlap="0.5")) == {}  # empty eps = auto
    assert form_errors(*_form(clusterer="single", eps="abc", min_samples="")) == {}
    errors = form_errors(*_form(n_intervals="0", eps="abc", lens="nope"))  # every bad field at once
    assert set(errors) == {ids.P_INTERVALS, ids.P_EPS, ids.P_LENS} and "l2" in errors[ids.P_LENS]


def test_ranges_are_read_from_the_library(monkeypatch):
    """The words follow MapperConfig's own range message, not a copy of it."""
    from topoact.mapper import config as mapper_config

    assert range_words("x must be in [2, 9), got 1", integer=True) == "a whole number ≥ 2 and < 9"
    assert range_words("x must be a number") is None
    real = mapper_config.check_range

    def narrower(name, value, lo=None, hi=None, **kw):
        return real(name, value, lo, 64 if name == "n_intervals" else hi, **kw)

    monkeypatch.setattr(mapper_config, "check_range", narrower)
    allowed.cache_clear()
    try:
        assert allowed("n_intervals") == "a whole number ≥ 1 and ≤ 64"
        assert form_errors(*_form(n_intervals="65")) == {ids.P_INTERVALS: "intervals: a whole number ≥ 1 and ≤ 64, not 65"}
    finally:
        allowed.cache_clear()


def test_sweep_lists_name_the_bad_entries():
    errors = list_errors({ids.SWEEP_INTERVALS: "3, x, 0", ids.SWEEP_OVERLAPS: "0.2; 1.5", ids.SWEEP_SCALES: " "})
    assert errors[ids.SWEEP_INTERVALS] == "intervals: a whole number ≥ 1 each, separated by commas; not x, 0"
    assert errors[ids.SWEEP_OVERLAPS] == "overlap: a number > 0 and < 1 each, separated by commas; not 1.5"
    assert errors[ids.SWEEP_SCALES].startswith("eps scale: give at least one value")
    assert list_errors({ids.SWEEP_INTERVALS: "3, 5", ids.SWEEP_OVERLAPS: "0.2", ids.SWEEP_SCALES: "0.8, 1"}) == {}


def test_every_form_field_has_a_tooltip_and_an_error_line(small_run_dir):
    """Both forms: each control has its info mark (tooltip text from HELP) and its error line."""
    from dash import html

    from topoact.app.context import AppContext
    from topoact.app.help import HELP, help_text
    from topoact.app.panels import graph_form, sweep
    from topoact.app.shell import walk
    from topoact.store import open_run

    ctx = AppContext(open_run(small_run_dir))
    for panel, controls in [(graph_form, graph_form.FORM_IDS), (sweep, tuple(sweep.LIST_FIELDS))]:
        parts = list(walk(panel.layout(ctx)))
        by_id = {getattr(c, "id", None): c for c in parts}
        tips = {c.id: help_text(c) for c in parts if help_text(c)}
        for control in controls:
            assert control in by_id and isinstance(by_id.get(error_id(control)), html.Div), control
            assert tips.get(f"{control}-info") in HELP.values(), control


def test_graph_names_are_parameters_in_words():
    assert graph_name({"lens": "umap2", "n_intervals": 12, "overlap": 0.4}, 89) == \
        "UMAP 2-D · 12×12 · 40 % overlap · 89 nodes"
    assert graph_name(dict(FIXTURE_FORM, eps=0.7, metric="cosine"), 5) == \
        "L2 norm · 4 intervals · 30 % overlap · eps 0.7 · cosine · 5 nodes"


def test_graph_choices_are_named_by_parameters_never_by_hash(fresh_run_dir):
    from topoact.app.context import AppContext
    from topoact.app.panels.graph_form import key_options
    from topoact.mapper import MapperConfig, run_graphs
    from topoact.store import open_run

    run = open_run(fresh_run_dir)
    run_graphs.build_run_graph(run, GRAPH_LAYER, MapperConfig(**dict(FIXTURE_FORM, overlap=0.45)), default=False)
    ctx = AppContext(open_run(fresh_run_dir))
    options = {o["value"]: o["label"] for o in key_options(ctx, GRAPH_LAYER)}
    assert set(options) == set(ctx.graph_keys(GRAPH_LAYER)) and len(options) == 2
    default = ctx.default_key(GRAPH_LAYER)
    for key, label in options.items():
        assert key not in label and label.startswith("* ") == (key == default)
        assert label.endswith(f"{len(ctx.graph(GRAPH_LAYER, key)['nodes'])} nodes")
    assert sorted("45 % overlap" in label for label in options.values()) == [False, True]


def test_why_this_graph_shows_the_automatic_choice(fresh_run_dir):
    """A real automatic choice (two fast candidates) stored with its graph: every candidate's numbers
    and the winner are shown; a graph computed by hand points to the default's choice."""
    from topoact.app.context import AppContext
    from topoact.mapper import MapperConfig, run_graphs
    from topoact.mapper.auto import choose_config
    from topoact.store import open_run

    run = open_run(fresh_run_dir)
    candidates = [MapperConfig(lens="pca2", n_intervals=4), MapperConfig(lens="l2", n_intervals=6)]
    choice = choose_config(run.activations(GRAPH_LAYER), {}, candidates=candidates)
    auto_key = run_graphs.build_run_graph(run, GRAPH_LAYER, choice.mapper_config, default=True,
                                          annotate={"auto": choice.to_dict()}).key
    ctx = AppContext(open_run(fresh_run_dir))
    text = str(why_content(ctx, {"layer": GRAPH_LAYER, "key": auto_key}))
    assert choice.reason in text and "Scored on 150 images" in text
    for c in choice.candidates:
        assert graph_name(c["params"]) in text and f"{c['score']:.3f}" in text
    assert text.count("table-success") == 1  # the winner's row
    hand = [k for k in ctx.graph_keys(GRAPH_LAYER) if k != auto_key][0]
    text = str(why_content(ctx, {"layer": GRAPH_LAYER, "key": hand}))
    assert "not chosen automatically" in text and "default graph was chosen like this" in text
    assert choice.reason in text


# -- in the browser -----------------------------------------------------------------------------------
pytest.importorskip("selenium")


def _node_count(dash_duo) -> int:
    match = re.match(r"(\d+) nodes", dash_duo.find_element(f"#{ids.NODE_COUNT}").text)
    return int(match.group(1)) if match else -1


def _shown_key(dash_duo) -> str:
    return dash_duo.driver.execute_script(  # the key is an attribute of the info line, never shown
        f"const e = document.querySelector('#{ids.NODE_COUNT} [data-graph-key]'); return e ? e.dataset.graphKey : ''")


def _type(dash_duo, control: str, text: str) -> None:
    box = dash_duo.find_element(f"#{control}")
    box.clear()
    box.send_keys(text)


def test_bad_values_show_words_and_exploring_keeps_the_default(dash_duo, fresh_run_dir):
    """The form: bad values in words next to their fields; a computed graph and a sweep cell are shown
    but run.default_graph_key(layer) never changes."""
    from selenium.webdriver.common.by import By

    from topoact.app.panels.graph_form import ACCORDION
    from topoact.store import open_run

    app = create_app(fresh_run_dir)
    run = open_run(fresh_run_dir)
    default = run.default_graph_key(GRAPH_LAYER)
    dash_duo.start_server(app)
    until(lambda: _node_count(dash_duo) > 0, 30, msg="the graph")
    dash_duo.find_element(f"#{ACCORDION} .accordion-button").click()
    dash_duo.wait_for_element(f"#{ids.P_INTERVALS}", timeout=10)
    until(lambda: dash_duo.find_element(f"#{ids.P_INTERVALS}").is_displayed(), 5, msg="the unfolded form")
    _type(dash_duo, ids.P_INTERVALS, "0")
    _type(dash_duo, ids.P_EPS, "abc")
    dash_duo.wait_for_text_to_equal(f"#{error_id(ids.P_INTERVALS)}", "intervals: a whole number ≥ 1, not 0", timeout=10)
    dash_duo.wait_for_text_to_equal(f"#{error_id(ids.P_EPS)}", "eps: a number > 0 or 'auto', not abc", timeout=10)
    dash_duo.find_element(f"#{ids.COMPUTE_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{ids.JOB_STATUS}", "check the marked field", timeout=10)
    # fixed values clear the lines; the new graph is computed and shown, the default stays
    _type(dash_duo, ids.P_INTERVALS, "6")
    _type(dash_duo, ids.P_EPS, "auto")
    dash_duo.wait_for_text_to_equal(f"#{error_id(ids.P_INTERVALS)}", "", timeout=10)
    dash_duo.wait_for_text_to_equal(f"#{error_id(ids.P_EPS)}", "", timeout=10)
    dash_duo.find_element(f"#{ids.COMPUTE_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{ids.JOB_STATUS}", "ready", timeout=90)
    until(lambda: _shown_key(dash_duo) not in ("", default), 20, msg="the computed graph")
    computed = _shown_key(dash_duo)
    assert open_run(fresh_run_dir).default_graph_key(GRAPH_LAYER) == default
    # a sweep cell opens its graph in the Mapper tab; still the same default
    dash_duo.driver.find_element(By.XPATH, "//*[contains(@class,'tab') and normalize-space()='Parameter sweep']").click()
    _type(dash_duo, ids.SWEEP_INTERVALS, "3, x")
    dash_duo.wait_for_contains_text(f"#{error_id(ids.SWEEP_INTERVALS)}", "not x", timeout=10)
    _type(dash_duo, ids.SWEEP_INTERVALS, "3")
    _type(dash_duo, ids.SWEEP_OVERLAPS, "0.25")
    dash_duo.wait_for_text_to_equal(f"#{error_id(ids.SWEEP_INTERVALS)}", "", timeout=10)
    dash_duo.find_element(f"#{ids.SWEEP_BUTTON}").click()
    dash_duo.wait_for_contains_text(f"#{ids.SWEEP_STATUS}", "1 settings of layer", timeout=90)
    until(lambda: dash_duo.find_elements(f"#{ids.SWEEP_TABLE} td"), 10, msg="the sweep table")
    dash_duo.find_elements(f"#{ids.SWEEP_TABLE} td")[0].click()
    until(lambda: _node_count(dash_duo) > 0 and _shown_key(dash_duo) not in (computed, default), 60,
          msg="the sweep cell's graph")
    assert open_run(fresh_run_dir).default_graph_key(GRAPH_LAYER) == default
