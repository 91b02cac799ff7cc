"""Objectives: declarative checks on metrics and events, with evidence for every verdict."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cloudquest.game.session import Session
from worlds import make_chapter

SK = ["resource scheduling"]


def run(objectives, lines, seed=0):
    s = Session(make_chapter(objectives), seed)
    s.run_script(lines)
    return {r.id: r for r in s.finish().objectives}


def test_end_metric_check_pass_and_fail_with_values():
    obj = [{"id": "two", "text": "t", "skills": SK, "check": {"metric": "instances_running", "op": ">=", "value": 2}}]
    r = run(obj, ["launch --zone zb", "launch --zone zb", "tick 30"])["two"]
    assert r.passed and "instances_running=2 (needs >= 2)" in r.evidence and "t=30s" in r.evidence
    r = run(obj, ["launch --zone zb", "tick 30"])["two"]
    assert not r.passed and r.evidence.startswith("failed at the end (t=30s): instances_running=1 (needs >= 2)")


def test_eventually_keeps_a_reached_goal_and_says_when():
    obj = [{"id": "e", "text": "t", "skills": SK, "when": "eventually", "check": {"metric": "instances_running", "op": ">=", "value": 1}}]
    r = run(obj, ["launch --name w --zone zb", "tick 30", "terminate w", "tick 5"])["e"]
    assert r.passed and r.evidence.startswith("reached at t=")
    r = run(obj, ["tick 5"])["e"]
    assert not r.passed and "never reached" in r.evidence


def test_always_fails_at_the_first_violating_tick_and_names_the_incident():
    obj = [{"id": "a", "text": "t", "skills": SK, "when": "always", "check": {"metric": "instances_impaired", "op": "==", "value": 0}}]
    lines = ["launch --name w --zone za", "tick 30", "tick 10", "fail host a1-h1", "repair host a1-h1", "tick 5"]
    r = run(obj, lines)["a"]
    assert not r.passed
    assert r.evidence.startswith("failed at t=40s: instances_impaired=1 (needs == 0)")
    assert "instance.unreachable" in r.evidence and "a1-h1" in r.evidence
    r = run(obj, ["launch --zone za", "tick 30"])["a"]
    assert r.passed and r.evidence.startswith("held at every tick to t=30s")


def test_always_is_sampled_at_every_tick_not_just_after_commands():
    # The instance is impaired only between two ticks inside one long `tick` command.
    obj = [{"id": "a", "text": "t", "skills": SK, "when": "always", "check": {"metric": "instances_pending", "op": "==", "value": 0}}]
    r = run(obj, ["tick 1"])["a"]
    assert r.passed
    r = run(obj, ["launch", "tick 60"])["a"]
    assert not r.passed and r.evidence.startswith("failed at t=0s")


def test_event_checks_with_where_min_count_and_after():
    obj = [
        {"id": "f", "text": "t", "skills": SK, "check": {"event": "launch.failed", "where": {"code": "InsufficientInstanceCapacity"}}},
        {"id": "n", "text": "t", "skills": SK, "check": {"event": "launch.failed", "min_count": 2}},
        {
            "id": "after",
            "text": "t",
            "skills": SK,
            "check": {"event": "instance.running", "after": {"event": "launch.failed"}},
        },
    ]
    r = run(obj, ["launch --name w --zone zb", "tick 30", "launch --type xlarge --zone za", "tick 1"])
    assert r["f"].passed and "launch.failed" in r["f"].evidence and "code=InsufficientInstanceCapacity" in r["f"].evidence
    assert not r["n"].passed and "only 1 of 2x" in r["n"].evidence
    assert not r["after"].passed  # w was running before the failure
    r = run(obj, ["launch --type xlarge --zone za", "launch --name w --zone zb", "tick 30"])
    assert r["after"].passed


def test_all_any_not_combine_and_report_the_deciding_parts():
    check = {
        "all": [
            {"metric": "instances_running", "op": ">=", "value": 1},
            {"any": [{"metric": "hosts_down", "op": ">", "value": 0}, {"event": "fault.injected"}]},
            {"not": {"metric": "instances_impaired", "op": ">", "value": 0}},
        ]
    }
    obj = [{"id": "c", "text": "t", "skills": SK, "check": check}]
    r = run(obj, ["launch --zone zb", "tick 30", "fail host a1-h2"])["c"]
    assert r.passed
    r = run(obj, ["launch --zone zb", "tick 30"])["c"]
    assert not r.passed and "hosts_down=0 (needs > 0) or no fault.injected" in r.evidence


def test_a_metric_not_there_yet_reads_as_what_it_measures():
    obj = [
        {"id": "api", "text": "t", "skills": SK, "check": {"metric": "running.api", "op": "==", "value": 1}},
        {"id": "store", "text": "t", "skills": SK, "check": {"metric": "objects", "op": ">", "value": 0}},
        {"id": "x", "text": "t", "skills": SK, "check": {"metric": "nonsense", "op": "==", "value": 1}},
        {
            "id": "twice",
            "text": "t",
            "skills": SK,
            "check": {"all": [{"metric": "running.api", "op": "==", "value": 1}, {"metric": "running.api", "op": ">", "value": 0}]},
        },
    ]
    r = run(obj, [])
    assert r["api"].evidence == "failed at the end (t=0s): api is not running yet"
    assert r["store"].evidence == "failed at the end (t=0s): objects stored: not measured here (this world has no storage section)"
    assert r["x"].evidence == "failed at the end (t=0s): nonsense is not measured in this world"
    assert r["twice"].evidence == "failed at the end (t=0s): api is not running yet"  # said once, not twice
    assert not any(o.passed for o in r.values())
    assert run(obj[:1], ["launch --name api --zone zb", "tick 30"])["api"].evidence == "at the end (t=30s): running.api=1 (needs == 1)"


def test_checks_are_declarative_not_code():
    with pytest.raises(ValidationError):
        make_chapter([{"id": "x", "text": "t", "skills": SK, "check": "__import__('os').system('true')"}])
    with pytest.raises(ValidationError):
        make_chapter([{"id": "x", "text": "t", "skills": SK, "check": {"metric": "a", "op": "in", "value": 1}}])


def test_not_evidence_reads_as_a_requirement():
    obj = [{"id": "n", "text": "t", "skills": SK, "check": {"not": {"event": "instance.terminated"}}}]
    r = run(obj, ["launch --name w --zone zb", "tick 20"])["n"]
    assert r.passed and "as required, no instance.terminated yet" in r.evidence
    r = run(obj, ["launch --name w --zone zb", "tick 20", "terminate w"])["n"]
    assert not r.passed and "must not happen, but: t=20.000s instance.terminated" in r.evidence


def test_evidence_of_an_after_filter_names_the_event_still_awaited():
    obj = [
        {
            "id": "a",
            "text": "t",
            "skills": SK,
            "check": {"event": "instance.recovered", "after": {"event": "fault.injected", "where": {"id": "a1"}}},
        }
    ]
    r = run(obj, ["fail host a1-h1"])["a"]
    assert not r.passed and "no fault.injected id=a1 yet, so no instance.recovered after fault.injected id=a1" in r.evidence


def test_min_count_counts_every_match_and_says_how_many_are_wanted():
    obj = [{"id": "n", "text": "t", "skills": SK, "check": {"event": "launch.failed", "min_count": 2}}]
    assert run(obj, [])["n"].evidence == "failed at the end (t=0s): no launch.failed (at least 2x) yet"
    two = ["launch --type xlarge --zone za", "launch --type xlarge --zone za"]
    r = run(obj, two)["n"]
    assert r.passed and r.evidence.startswith("at the end (t=0s): t=0.000s launch.failed") and r.evidence.endswith(" (+1 more)")
    three = run([{**obj[0], "check": {"event": "launch.failed", "min_count": 3}}], two)["n"]
    assert not three.passed and "only 2 of 3x launch.failed (at least 3x)" in three.evidence


def test_where_values_match_as_written_in_yaml_whether_number_or_text():
    # allocate_cpu logs vcpus=2 as a number; an author may write it either way
    for want in (2, "2"):
        obj = [{"id": "c", "text": "t", "skills": SK, "check": {"event": "launch.step", "where": {"step": "allocate_cpu", "vcpus": want}}}]
        assert run(obj, ["launch --zone zb --type small", "tick 1"])["c"].passed
    obj = [{"id": "c", "text": "t", "skills": SK, "check": {"event": "launch.step", "where": {"step": "allocate_cpu", "vcpus": 4}}}]
    assert not run(obj, ["launch --zone zb --type small", "tick 1"])["c"].passed


def test_evidence_names_every_condition_of_the_event_awaited():
    check = {
        "event": "instance.running",
        "where": {"instance": "w", "zone": "zb"},
        "after": {"event": "fault.injected", "where": {"kind": "host", "id": "a1-h1"}},
    }
    r = run([{"id": "a", "text": "t", "skills": SK, "check": check}], [])["a"]
    assert r.evidence == (
        "failed at the end (t=0s): no fault.injected kind=host id=a1-h1 yet, so no instance.running instance=w zone=zb "
        "after fault.injected kind=host id=a1-h1"
    )


def test_a_member_of_a_metric_family_not_there_yet_reads_as_what_it_measures():
    obj = [{"id": "s", "text": "t", "skills": SK, "check": {"metric": "free_addresses.s99", "op": ">", "value": 0}}]
    assert run(obj, [])["s"].evidence == "failed at the end (t=0s): a subnet's free addresses: nothing for s99 yet"


def test_a_finished_run_as_json_names_each_objectives_verdict():
    obj = [{"id": "two", "text": "Run two", "skills": SK, "check": {"metric": "instances_running", "op": ">=", "value": 2}}]
    s = Session(make_chapter(obj), 0)
    s.run_script(["launch --zone zb", "tick 30"])
    (o,) = s.finish().as_dict()["objectives"]
    assert o == {
        "id": "two",
        "text": "Run two",
        "skills": SK,
        "passed": False,
        "evidence": "failed at the end (t=30s): instances_running=1 (needs >= 2)",
    }


def test_evidence_shows_one_match_plainly_and_only_the_failing_parts_of_all():
    one = [{"id": "f", "text": "t", "skills": SK, "check": {"event": "fault.injected"}}]
    r = run(one, ["fail host a1-h1"])["f"]
    assert r.passed and r.evidence.startswith("at the end (t=0s): t=0.000s fault.injected") and "more)" not in r.evidence
    both = {"all": [{"metric": "hosts_down", "op": "==", "value": 1}, {"metric": "instances_running", "op": ">=", "value": 1}]}
    r = run([{"id": "b", "text": "t", "skills": SK, "check": both}], ["fail host a1-h1"])["b"]
    assert r.evidence.startswith("failed at the end (t=0s): instances_running=0 (needs >= 1)") and "hosts_down" not in r.evidence
    r = run([{"id": "b", "text": "t", "skills": SK, "check": both}], ["launch --zone zb", "tick 30", "fail host a1-h1"])["b"]
    assert r.passed and r.evidence == "at the end (t=30s): hosts_down=1 (needs == 1); instances_running=1 (needs >= 1)"


def test_the_objectives_list_shows_each_objectives_state_as_the_run_goes():
    """What the live objectives list reads while the player plays (status and evidence
    after each line), for an end check, an eventually and an always."""
    obj = [
        {"id": "end", "text": "t", "skills": SK, "check": {"metric": "instances_running", "op": ">=", "value": 1}},
        {"id": "ev", "text": "t", "skills": SK, "when": "eventually", "check": {"metric": "instances_running", "op": ">=", "value": 1}},
        {"id": "al", "text": "t", "skills": SK, "when": "always", "check": {"metric": "hosts_down", "op": "==", "value": 0}},
    ]
    s = Session(make_chapter(obj), 0)
    s.execute("launch --name w --zone zb")
    now = {st.id: (st.status, st.evidence) for st in s.grader.states}
    assert now == {
        "end": ("pending", "at t=0s: instances_running=0 (needs >= 1)"),
        "ev": ("pending", "not reached yet (now t=0s: instances_running=0 (needs >= 1))"),
        "al": ("passed", "held at every tick so far (now t=0s: hosts_down=0 (needs == 0))"),
    }
    s.execute("tick 30")
    now = {st.id: (st.status, st.decided_at_ms) for st in s.grader.states}
    assert now["end"] == ("passed", 30_000) and now["ev"][0] == "passed" and now["al"] == ("passed", 30_000)
    s.execute("fail host b1-h2")  # an empty host: the fault is the latest incident
    (al,) = [st for st in s.grader.states if st.id == "al"]
    assert al.status == "failed" and al.evidence.startswith(
        "failed at t=30s: hosts_down=1 (needs == 0) (latest incident: t=30.000s fault.injected"
    )
    # a refused launch is an incident too, named under a failed end check
    r = run(obj[:1], ["launch --type xlarge --zone za"])["end"]
    assert r.evidence.startswith("failed at the end (t=0s): instances_running=0 (needs >= 1) (latest incident: t=0.000s launch.failed")


def test_an_any_check_shows_the_part_that_passed_or_every_part_that_did_not():
    either = {"any": [{"metric": "hosts_down", "op": "==", "value": 1}, {"metric": "instances_running", "op": "==", "value": 0}]}
    obj = [{"id": "a", "text": "t", "skills": SK, "check": either}]
    assert run(obj, ["fail host a1-h1"])["a"].evidence.startswith("at the end (t=0s): hosts_down=1 (needs == 1)")
    assert run(obj, ["fail host a1-h1"])["a"].evidence.endswith("(needs == 1)")  # the first that passed, alone
    r = run(obj, ["launch --zone zb", "tick 30"])["a"]
    assert r.evidence == "failed at the end (t=30s): hosts_down=0 (needs == 1) or instances_running=1 (needs == 0)"


# -- the grader at function level: no session, a hand-made log ---------------------------
def _objective(oid, check, when="end"):
    from cloudquest.game.checks import Objective

    return Objective.model_validate({"id": oid, "text": "t", "skills": SK, "when": when, "check": check})


def test_a_long_tick_samples_only_the_metrics_an_unsettled_eventually_or_always_reads():
    from cloudquest.cloud.events import EventLog
    from cloudquest.game.objectives import Grader

    nested = {"all": [{"metric": "a", "op": "<", "value": 1}, {"any": [{"metric": "b", "op": "<", "value": 1}, {"not": {"metric": "c", "op": "<", "value": 1}}]}]}
    g = Grader(
        [
            _objective("end", {"metric": "end_only", "op": "<", "value": 1}),
            _objective("ev", {"metric": "reach", "op": ">=", "value": 5}, "eventually"),
            _objective("al", nested, "always"),
            _objective("evt", {"event": "fault.injected"}, "eventually"),
        ]
    )
    # by hand: the end check is decided by the last sample; an event check reads no metric
    assert g.watched_metrics() == {"reach", "a", "b", "c"}
    log = EventLog()
    log.append(0, "world.created")
    g.sample(1000, {"end_only": 0, "reach": 5, "a": 0, "b": 0, "c": 1}, log)  # `ev` reached: settled
    assert g.watched_metrics() == {"a", "b", "c"}
    g.sample(2000, {"end_only": 0, "reach": 0, "a": 1, "b": 0, "c": 1}, log)  # a = 1 breaks `al` for good
    assert g.watched_metrics() == set()


def test_an_event_checks_evidence_counts_the_matches_after_the_first():
    from cloudquest.cloud.events import EventLog
    from cloudquest.game.objectives import CheckEvaluator
    from cloudquest.game.checks import EventCheck

    ev = CheckEvaluator(EventCheck(event="fault.injected"))
    log = EventLog()
    log.append(0, "world.created")
    for t, part in ((1000, "h1"), (2000, "h2"), (3000, "h3")):
        log.append(t, "fault.injected", part=part)
    ev.update(log)
    verdict = ev.evaluate({})
    assert verdict.ok and verdict.detail == "t=1.000s fault.injected part=h1 (+2 more)"  # three matches: the first, and 2 more
    one = CheckEvaluator(EventCheck(event="fault.injected", where={"part": "h2"}))
    one.update(log)
    assert one.evaluate({}).detail == "t=2.000s fault.injected part=h2"  # one match: that event, and nothing after it


def test_an_any_check_that_passes_names_only_the_first_part_that_did():
    from cloudquest.game.objectives import CheckEvaluator
    from cloudquest.game.checks import AnyCheck

    both = AnyCheck.model_validate({"any": [{"metric": "x", "op": "==", "value": 1}, {"metric": "y", "op": "==", "value": 2}]})
    verdict = CheckEvaluator(both).evaluate({"x": 1, "y": 2})
    assert verdict.ok and verdict.detail == "x=1 (needs == 1)"
    verdict = CheckEvaluator(both).evaluate({"x": 0, "y": 2})
    assert verdict.ok and verdict.detail == "y=2 (needs == 2)"  # the part that passed, not the first part
    verdict = CheckEvaluator(both).evaluate({"x": 0, "y": 0})
    assert not verdict.ok and verdict.detail == "x=0 (needs == 1) or y=0 (needs == 2)"


def test_an_all_check_that_fails_joins_every_failing_part_with_a_semicolon():
    from cloudquest.game.objectives import CheckEvaluator
    from cloudquest.game.checks import AllCheck

    three = AllCheck.model_validate({"all": [{"metric": "x", "op": "<", "value": 1}, {"metric": "y", "op": "<", "value": 1}, {"metric": "z", "op": "<", "value": 1}]})
    verdict = CheckEvaluator(three).evaluate({"x": 1, "y": 0, "z": 1})
    assert not verdict.ok and verdict.detail == "x=1 (needs < 1); z=1 (needs < 1)"


def test_a_check_of_no_known_kind_is_refused_by_name():
    from cloudquest.game.objectives import CheckEvaluator

    with pytest.raises(TypeError, match=r"unknown check 'metric: x'"):
        CheckEvaluator("metric: x").evaluate({})


def test_a_sample_between_two_steps_grades_only_the_eventually_and_always_objectives():
    from cloudquest.cloud.events import EventLog
    from cloudquest.game.objectives import Grader

    check = {"metric": "m", "op": ">=", "value": 1}
    g = Grader([_objective("end", check), _objective("ev", check, "eventually"), _objective("al", check, "always")])
    log = EventLog()
    log.append(0, "world.created")
    g.sample(5000, {"m": 1}, log, temporal_only=True)
    state = {st.id: (st.status, st.decided_at_ms, st.evidence) for st in g.states}
    assert state == {
        "end": ("pending", None, ""),  # left to the sample that ends the advance
        "ev": ("passed", 5000, "reached at t=5s: m=1 (needs >= 1)"),
        "al": ("passed", 5000, "held at every tick so far (now t=5s: m=1 (needs >= 1))"),
    }
    g.sample(6000, {"m": 1}, log)
    assert [(st.status, st.evidence) for st in g.states][0] == ("passed", "at t=6s: m=1 (needs >= 1)")
