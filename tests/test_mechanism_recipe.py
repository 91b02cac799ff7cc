"""One record per mechanism: the registry built from the records, and the recipe in
docs/mechanisms.md proved by a test-only mechanism (tests/plugins/cq_counter) that plugs
in without touching the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudquest.cloud.mechanism import EventKind, Metric, events, metrics
from cloudquest.game.mechanism import (
    Mechanism,
    MechanismError,
    _check_clashes,
    command_table,
    event_table,
    mechanisms,
    metric_of,
    ordered,
)
from cloudquest.game.registry import CommandSet

PLUGINS = Path(__file__).parent / "plugins"
COUNTER = PLUGINS / "counter.yaml"


def _with_counter(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PLUGINS), CLOUDQUEST_MECHANISMS="cq_counter.commands")
    return subprocess.run(
        [sys.executable, "-m", "cloudquest", *args], capture_output=True, text=True, env=env, input=stdin, timeout=60
    )


# -- the recipe, proved -------------------------------------------------------------------------
def test_a_mechanism_built_from_the_recipe_plugs_in_and_its_chapter_is_proven():
    out = _with_counter("validate", str(COUNTER))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "solution passes" in out.stdout and "empty run fails" in out.stdout

    out = _with_counter("play", str(COUNTER), "--script", "-", "--json", stdin="count 3\ncount 2\n")
    result = json.loads(out.stdout)
    assert out.returncode == 0 and result["passed"]
    assert result["metrics"]["counter_value"] == 10  # start 0, step 2, bumped 3 + 2 times


def test_the_plugged_mechanism_has_its_schema_help_view_and_describe():
    code = """
import json
from cloudquest.game.chapters import load_chapter
from cloudquest.game.session import Session
from cloudquest.tui.views import view_for
from cq_counter.view import CounterView
ch = load_chapter({path!r})
s = Session(ch, 0)
s.execute("count 4")
print(json.dumps({{
    "view": view_for("counter") is CounterView,
    "drawn": view_for("counter")(s).draw(40).plain,
    "describe": s.execute("describe").output,
    "help": s.execute("help count").output,
}}))
""".format(path=str(COUNTER))
    env = dict(os.environ, PYTHONPATH=str(PLUGINS), CLOUDQUEST_MECHANISMS="cq_counter.commands")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["view"] and got["drawn"] == "counter 8"
    assert got["describe"] == "counter at 8"
    assert got["help"].startswith("usage: count TIMES")
    schema = _with_counter("schema")
    assert '"counter"' in schema.stdout and "CounterSpec" in schema.stdout


def test_without_its_record_the_section_is_an_unknown_key_with_file_and_line():
    env = {k: v for k, v in os.environ.items() if k != "CLOUDQUEST_MECHANISMS"}
    out = subprocess.run(
        [sys.executable, "-m", "cloudquest", "validate", str(COUNTER)], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode != 0
    assert f"{COUNTER}:11: unknown key 'counter' in world" in out.stdout + out.stderr


# -- the registry ------------------------------------------------------------------------------
def _record(name: str, **kw) -> Mechanism:
    return Mechanism(name=name, summary=name, **kw)


def test_attachment_order_follows_needs_whatever_order_the_records_are_found_in():
    a, b, c, d = _record("alpha", needs=("delta",)), _record("bravo"), _record("charlie", needs=("alpha",)), _record("delta")
    want = ["bravo", "delta", "alpha", "charlie"]
    assert [m.name for m in ordered([a, b, c, d])] == want
    assert [m.name for m in ordered([d, c, b, a])] == want


def test_the_shipped_mechanisms_attach_after_what_they_read():
    names = [m.name for m in mechanisms()]
    assert names.index("storage") < names.index("loadbalancer") < names.index("reliability")
    assert {"core", "launch", "network", "hypervisor", "fleet", "storage", "loadbalancer", "timeline", "reliability"} <= set(names)


@pytest.mark.parametrize(
    "records,message",
    [
        ([_record("a", needs=("b",)), _record("b", needs=("a",))], "in a circle: a, b"),
        ([_record("a", needs=("zz",))], "'a' needs 'zz', which is not registered"),
        ([_record("a"), _record("a")], "two mechanisms are named 'a'"),
    ],
)
def test_bad_needs_are_refused(records, message):
    with pytest.raises(MechanismError, match=message):
        ordered(records)


def _commands(*verbs: str) -> CommandSet:
    cs = CommandSet()
    for v in verbs:
        cs(v, "x")(lambda session: "")
    return cs


@pytest.mark.parametrize(
    "one,two,message",
    [
        ({"metrics": metrics(("load", "x"))}, {"metrics": metrics(("load", "y"))}, "metric 'load' of 'b' clashes with 'load' of 'a'"),
        ({"metrics": metrics(("running.{vm}", "x"))}, {"metrics": metrics(("running.web", "y"))}, "clashes"),
        ({"metrics": metrics(("cpu.{vm}", "x"))}, {"metrics": metrics(("cpu.{host}", "y"))}, "clashes"),
        ({"events": events(("x.happened", "a", ""))}, {"events": events(("x.happened", "b", ""))}, "event kind 'x.happened'"),
        ({"commands": _commands("go")}, {"commands": _commands("go")}, "command 'go' is claimed by both 'a' and 'b'"),
        ({"ids": {"vm": list}}, {"ids": {"vm": list}}, "id kind 'vm'"),
        ({"views": {"map": str}}, {"views": {"map": str}}, "view 'map'"),
    ],
)
def test_a_clash_between_two_mechanisms_is_an_error_never_an_overwrite(one, two, message):
    with pytest.raises(MechanismError, match=message):
        _check_clashes((_record("a", **one), _record("b", **two)))


def test_metrics_of_different_names_do_not_clash():
    _check_clashes((_record("a", metrics=metrics(("cpu.{vm}", "x"))), _record("b", metrics=metrics(("cpu_pct", "y")))))


def test_tables_are_built_from_the_records():
    table = command_table()
    assert table["put"].mechanism == "storage" and table["launch"].mechanism == "launch"
    assert isinstance(event_table()["storage.put"], EventKind)
    found = metric_of("steal_pct.db")
    assert found is not None and found[0].name == "hypervisor" and found[1].name == "steal_pct.{vm}"
    assert metric_of("no_such_metric") is None


# -- what the records declare is what the game does --------------------------------------------
def test_the_authors_reference_is_current():
    from cloudquest.game.reference import block

    doc = (Path(__file__).parent.parent / "docs" / "authoring.md").read_text(encoding="utf-8")
    assert block() in doc, "docs/authoring.md is stale: run `cloudquest reference --write docs/authoring.md`"


@pytest.fixture(scope="module")
def played_runs(reference_session, scenario_run):
    """Every chapter's reference solution and every failure scenario's default design
    (the suite's shared runs), played: the events and metrics the shipped content makes."""
    from cloudquest.game import scenarios
    from cloudquest.game.chapters import chapter_files, load_all

    sessions = [reference_session(path) for path in chapter_files()]
    library = scenarios.load_library(catalogue=load_all())
    assert not library.problems and library.scenarios
    sessions += [scenario_run(loaded.name).session for loaded in library.scenarios]
    return sessions


@pytest.mark.xdist_group("reference-runs")  # one worker: the reference runs are shared
def test_every_event_the_game_emits_is_declared_with_its_fields(played_runs):
    declared = event_table()
    seen = 0
    for s in played_runs:
        for e in s.cloud.log:
            kind = declared.get(e.kind)
            assert kind is not None, f"event {e.kind} is emitted but no mechanism declares it"
            extra = {k for k, _ in e.data} - set(kind.fields)
            assert not extra, f"event {e.kind} carries undeclared fields {sorted(extra)}"
            seen += 1
    assert seen > 1000


@pytest.mark.xdist_group("reference-runs")
def test_every_metric_a_world_reports_is_declared_by_a_mechanism_it_attached(played_runs):
    for s in played_runs:
        attached = {"core", "launch", *s.cloud.mechanisms}
        for name in s.cloud.metrics():
            found = metric_of(name)
            assert found is not None, f"metric {name} is reported but no mechanism declares it"
            assert found[0].name in attached, f"{name} comes from {found[0].name}, not attached here"
