"""Behaviours that small deliberate bugs once slipped past: each test here fails when the
behaviour it names is broken, checked against an expectation worked out by hand or read
from the source file, never against the product's own bookkeeping."""

from __future__ import annotations

import json

import pytest
import yaml

from cloudquest.cloud.events import EventLog
from cloudquest.game.chapters import load_all
from cloudquest.game.replay import ReplayError, ReplayFile, verify
from cloudquest.game.session import Session
from conftest import LEVELS
from worlds import make_chapter

SK = ["resource scheduling"]


# -- the event log's hash covers when things happened --------------------------------------------
def test_the_same_events_at_other_times_hash_differently():
    a, b = EventLog(), EventLog()
    a.append(1000, "instance.running", instance="web")
    b.append(2000, "instance.running", instance="web")
    assert a.sha256() != b.sha256()
    c = EventLog()
    c.append(1000, "instance.running", instance="web")
    assert c.sha256() == a.sha256()


def test_the_event_log_exports_as_json_lines():
    """JSON Lines (jsonlines.org): one JSON value per line, each line ended by \\n."""
    log = EventLog()
    log.append(0, "fault.injected", id="a1")
    log.append(1500, "instance.running", instance="web")
    text = log.to_jsonl()
    assert text.endswith("\n") and text.count("\n") == 2
    rows = [json.loads(line) for line in text.splitlines()]
    assert [(r["t_ms"], r["kind"]) for r in rows] == [(0, "fault.injected"), (1500, "instance.running")]
    assert rows[1] == {"instance": "web", "kind": "instance.running", "seq": 1, "t_ms": 1500}


def test_a_replay_whose_command_time_was_edited_does_not_verify():
    catalogue = load_all()
    chapter = catalogue.get("launch")
    s = Session(chapter, 0)
    for line in ("launch --name web --zone eu-west-1b", "tick 30", "describe web"):
        s.execute(line)
    record = s.replay_record()
    assert verify(ReplayFile.from_dict(record, "mem"), catalogue).matches
    later = json.loads(json.dumps(record))
    later["commands"][2]["t_ms"] += 5000  # describe at t=35 s: the same events, 5 s later
    later["end_ms"] += 5000
    outcome = verify(ReplayFile.from_dict(later, "mem"), catalogue)
    assert not outcome.matches
    assert any(p.startswith("event log differs") for p in outcome.problems)
    earlier = json.loads(json.dumps(record))
    earlier["commands"][2]["t_ms"] -= 5000  # at t=25 s, though the tick before it reached 30 s
    with pytest.raises(ReplayError, match="recorded at t=25s, but the run was already at t=30s: the file was edited"):
        verify(ReplayFile.from_dict(earlier, "mem"), catalogue)


# -- every comparison operator, at its boundary --------------------------------------------------
@pytest.mark.parametrize(
    "op,value,passes",
    [
        ("==", 2, True), ("==", 3, False),
        ("!=", 2, False), ("!=", 3, True),
        ("<", 2, False), ("<", 3, True),
        ("<=", 2, True), ("<=", 1, False),
        (">", 2, False), (">", 1, True),
        (">=", 2, True), (">=", 3, False),
    ],
)  # fmt: skip
def test_each_operator_at_the_boundary_of_two_running_instances(op, value, passes):
    obj = [{"id": "x", "text": "t", "skills": SK, "check": {"metric": "instances_running", "op": op, "value": value}}]
    s = Session(make_chapter(obj), 0)
    s.run_script(["launch --zone zb", "launch --zone zb", "tick 30"])
    (result,) = s.finish().objectives
    assert result.passed is passes, result.evidence
    assert f"instances_running=2 (needs {op} {value})" in result.evidence


# -- progress reset saves -----------------------------------------------------------------------
def test_progress_reset_clears_the_save_on_disk(tmp_path):
    from cloudquest.cli import main
    from cloudquest.game import progress as P
    from cloudquest.game.locations import progress_file

    prog = P.Progress()
    prog.record_run("launch", 3, 3, 0, 20.0, ["resource scheduling"])
    prog.record_run("hypervisor", 4, 4, 1, 60.0, ["virtualization internals"])
    P.save(prog)
    assert main(["progress", "reset", "launch", "--yes"]) == 0
    on_disk = json.loads(progress_file().read_text())
    assert "launch" not in json.dumps(on_disk) and "hypervisor" in json.dumps(on_disk)
    assert main(["progress", "reset", "--yes"]) == 0
    assert not P.load().progress.chapters
    assert "hypervisor" not in progress_file().read_text()


# -- scenarios report what their files say happened ---------------------------------------------
@pytest.mark.parametrize("name", ["rack-power-loss", "zone-outage", "gray-failure"])
def test_a_scenario_reports_one_incident_per_fault_its_file_names(name):
    from cloudquest.game.scenarios import default_design, load_library, run

    text = yaml.safe_load((LEVELS / "scenarios" / f"{name}.yaml").read_text())
    faults = [e for e in text["timeline"] if "random" not in e and e.get("action", "fail") != "repair"]
    loaded = load_library().get(name)
    lines, _ = default_design(loaded)
    r = run(loaded, lines, seed=1)
    got = [(i["at_s"], i["part"], i["id"]) for i in r.incidents]
    assert got[: len(faults)] == [(float(f["at_s"]), f["part"], f["id"]) for f in faults]
    for inc, fault in zip(r.incidents, faults):
        lasting = fault.get("for_s", 0)
        if inc["recovered"]:
            # whole again after the fault began, and before the run ended
            assert 0 < inc["time_to_recover_s"] <= text["run_s"] - fault["at_s"]
        else:
            assert inc["time_to_recover_s"] == text["run_s"] - fault["at_s"]
        if lasting and inc["recovered"]:
            assert inc["time_to_recover_s"] <= lasting + 630 + 3600  # detection plus one repair pass at most
