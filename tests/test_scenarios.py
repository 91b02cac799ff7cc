"""The failure-scenario library and its command line: every scenario loads and runs,
runs are deterministic and replay bit for bit, designs compare metric by metric, and bad
input is one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudquest.cli import main
from cloudquest.game.scenarios import (
    REPORTED,
    ScenarioError,
    compare,
    default_design,
    find,
    load_library,
    load_scenario,
    parse_seeds,
    run,
)

REQUIRED = {"disk-storm", "rack-power-loss", "zone-outage", "cascading", "gray-failure"}


@pytest.fixture(scope="module")
def library(catalogue):
    return load_library(catalogue=catalogue)


@pytest.fixture(scope="module")
def reference(catalogue):
    return list(catalogue.get("failure-design").solution)


def test_the_library_loads_whole_and_has_the_named_scenarios(library):
    assert not library.problems, "\n".join(map(str, library.problems))
    assert REQUIRED <= {s.name for s in library.scenarios}
    for s in library.scenarios:
        assert s.chapter.id == f"scenario-{s.name}"
        assert s.chapter.world.timeline, s.name  # the scenario's own timeline replaced the world's
        assert s.chapter.world.reliability.run_s == s.scenario.run_s


def test_scenarios_are_not_chapters(catalogue):
    assert not [c for c in catalogue.chapters if c.id.startswith("scenario-")]


@pytest.mark.xdist_group("reference-runs")  # one worker: the scenario runs are shared
@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_scenario_runs_and_reports_metrics_with_evidence_per_incident(name, library, reference, scenario_run):
    loaded = library.get(name)
    assert default_design(loaded)[0] == reference
    r = scenario_run(name)  # that design at seed 1
    assert r.seed == 1 and r.design == "chapter failure-design's reference solution"
    assert r.result.end_ms == loaded.scenario.run_s * 1000  # the design's long tick was cut at the end
    assert not [x for x in r.rejected if "error" in x], r.rejected
    reported = r.reported()
    assert set(reported) == {m for m, _ in REPORTED}
    assert all(v is not None for v in reported.values())
    assert r.incidents, "every scenario injects at least one fault"
    for inc in r.incidents:
        assert inc["evidence"].startswith(f"incident {inc['n']}: ")
        assert inc["time_to_recover_s"] == r.result.metrics[f"time_to_recover_s.{inc['n']}"]
    assert reported["time_to_recover_s"] == max(i["time_to_recover_s"] for i in r.incidents)


def test_what_each_scenario_does_to_the_chapter_design(library, reference):
    """The stories the scenario files tell hold for the reference design."""
    outcome = {name: run(library.get(name), reference, seed=2) for name in ("rack-power-loss", "cascading", "gray-failure")}
    assert outcome["rack-power-loss"].result.passed
    cascading = outcome["cascading"].result.metrics
    assert cascading["objects_lost"] > 0  # three copies, three failures inside one repair window
    gray = outcome["gray-failure"].result.metrics
    assert gray["requests_failed_slow"] > 0 and gray["requests_failed_dead_target"] == 0


def test_a_run_is_deterministic_and_the_seed_matters(library, reference):
    storm = library.get("disk-storm")
    a = run(storm, reference, seed=3)
    b = run(storm, reference, seed=3)
    c = run(storm, reference, seed=4)
    assert a.result.event_log_sha256 == b.result.event_log_sha256
    assert a.incidents == b.incidents
    assert a.result.event_log_sha256 != c.result.event_log_sha256
    disks = lambda r: [i["id"] for i in r.incidents]  # noqa: E731
    assert disks(a) != disks(c) and len(disks(a)) == len(set(disks(a))) == 12


def test_compare_finds_the_incident_where_two_designs_diverge(library, reference):
    four = [line.replace("set replication 3", "set replication 4") for line in reference]
    cmp = compare(library.get("cascading"), ("three", reference), ("four", four), [1])
    data = cmp.as_dict()
    rows = {r["metric"]: r for r in data["metrics"]}
    assert rows["objects_lost"]["a_worst"] > 0 == rows["objects_lost"]["b_worst"]
    assert rows["objects_lost"]["verdict"] == "B better" and rows["cost_per_hour"]["verdict"] == "A better"
    diverged = data["per_seed"][0]["diverged"]
    assert diverged["incident"] == 1 and diverged["a"]["objects_lost"] > 0 == diverged["b"]["objects_lost"]


def test_parse_seeds():
    assert parse_seeds("1..5") == [1, 2, 3, 4, 5]
    assert parse_seeds("1,3,7") == [1, 3, 7]
    assert parse_seeds("4") == [4]
    assert parse_seeds("0..99")[-1] == 99 and parse_seeds("9223372036854775807") == [2**63 - 1]
    for bad in ("5..1", "a..b", "", "-1", "1..1000", "1 .. 5", " 1..5", "\u0661..\u0665", "1,,3", "1,", "1.5",
                "1..18446744073709551616", "9223372036854775808", "1_0", "0..100"):
        with pytest.raises(ValueError):
            parse_seeds(bad)


# -- validation: FILE:LINE ----------------------------------------------------------------------
GOOD = """\
name: tiny
title: Tiny
description: A small one.
world: failure-design
timeline:
  - {at_s: 60, action: fail, part: host, id: a1-h1}
run_s: 120
"""


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        (GOOD.replace("run_s: 120", "run_s: 120\nrunz: 3"), 8, "unknown key 'runz'"),
        (GOOD.replace("world: failure-design", "world: no-such-chapter"), 4, "no chapter 'no-such-chapter'"),
        (GOOD.replace("id: a1-h1", "id: zz-h9"), 6, "no host 'zz-h9'"),
        (GOOD.replace("action: fail", "action: explode"), 6, "action"),
        (GOOD.replace("run_s: 120\n", ""), 1, "missing key 'run_s'"),
        (GOOD.replace("  - {at_s: 60, action: fail, part: host, id: a1-h1}", "  - {random: {part: disk, count: 500, to_s: 60}}"), 6, "count 500"),
        (GOOD.replace("world: failure-design", "world: {regions: [{name: r, zones: []}]}"), 4, "zones"),
        ("name: [unclosed\n", 2, "YAML syntax"),
    ],
)
def test_bad_scenario_files_say_file_and_line(tmp_path, catalogue, text, line, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, catalogue)
    first = info.value.problems[0]
    assert first.path == str(path) and first.line == line, str(info.value)
    assert fragment in str(info.value)


def test_a_good_file_outside_the_library_loads(tmp_path, catalogue):
    path = tmp_path / "tiny.yaml"
    path.write_text(GOOD)
    loaded = find(str(path), catalogue)
    assert loaded.name == "tiny" and loaded.base_chapter.id == "failure-design"


# -- the command line -------------------------------------------------------------------------
def cli(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_list(capsys):
    code, out, _ = cli(capsys, "scenario", "list", "--json")
    assert code == 0
    names = {s["name"] for s in json.loads(out)["scenarios"]}
    assert REQUIRED <= names


def test_cli_run_survived_exit_0_json_and_failed_exit_1(capsys):
    code, out, _ = cli(capsys, "scenario", "run", "rack-power-loss", "--chapter", "failure-design", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["passed"] is True and data["scenario"] == "rack-power-loss"
    assert set(data["reported"]) == {m for m, _ in REPORTED}
    assert data["incidents"][0]["evidence"].startswith("incident 1: rack b1 failed at t=900s")
    code, out, _ = cli(capsys, "scenario", "run", "gray-failure")
    assert code == 1
    assert "result: FAILED" in out and "incident 1: rack b1 turned slow" in out


def test_cli_record_then_replay_gives_the_same_event_log(capsys, tmp_path):
    replay = tmp_path / "run.json"
    code, out, _ = cli(capsys, "scenario", "run", "zone-outage", "--seed", "2", "--record", str(replay), "--json")
    assert code == 0
    original = json.loads(out)["event_log_sha256"]
    saved = json.loads(replay.read_text())
    assert saved["scenario"] == "zone-outage" and saved["world"]["timeline"]
    code, out, err = cli(capsys, "replay", str(replay), "--json", "--headless")
    data = json.loads(out)
    assert code == 0, err
    assert data["event_log_sha256"] == original and data["replay_matches"] is True
    assert data["chapter"] == "scenario-zone-outage"


def test_cli_compare_json_and_text(capsys, tmp_path, reference):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("\n".join(reference))
    b.write_text("\n".join(line.replace("lb set web timeout 4", "lb set web timeout 2") for line in reference))
    code, out, _ = cli(capsys, "scenario", "compare", "gray-failure", "--design", str(a), "--design", str(b), "--seeds", "1", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["seeds"] == [1]
    avail = next(r for r in data["metrics"] if r["metric"] == "availability_pct")
    assert avail["verdict"] == "B better" and avail["b_minus_a"] > 0
    assert data["per_seed"][0]["diverged"]["incident"] == 1
    code, out, _ = cli(capsys, "scenario", "compare", "rack-power-loss", "--design", str(a), "--design", "chapter:failure-design", "--seeds", "1")
    assert code == 0
    assert "every incident went the same way" in out  # the same design twice
    assert "availability_pct" in out and "B - A" in out


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["scenario"], "scenario needs a verb"),
        (["scenario", "run", "no-such"], "no scenario 'no-such' (scenarios: "),
        (["scenario", "run", "cascading", "--design", "/nonexistent/d.txt"], "cannot read script"),
        (["scenario", "run", "cascading", "--design", "x.txt", "--chapter", "failure-design"], "either --design FILE or --chapter ID"),
        (["scenario", "run", "cascading", "--chapter", "nope"], "no chapter 'nope'"),
        (["scenario", "compare", "cascading", "--design", "chapter:failure-design"], "exactly two designs"),
        (["scenario", "compare", "cascading", "--design", "a", "--design", "b", "--seeds", "x"], "seeds must look like"),
        (["scenario", "run", "cascading", "--seed", "x"], "a seed is a whole number from 0 to"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(capsys, args, fragment):
    code, out, err = cli(capsys, *args)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_design_for_another_world_is_reported_not_crashed(capsys, tmp_path):
    design = tmp_path / "d.txt"
    design.write_text("launch --zone nowhere\nlb create web\n")
    code, out, err = cli(capsys, "scenario", "run", "rack-power-loss", "--design", str(design))
    assert code == 1
    assert "warning: design command rejected: launch --zone nowhere" in out


def test_scenario_files_ship_in_the_levels_folder():
    root = Path(__file__).resolve().parent.parent
    files = {p.stem for p in (root / "levels" / "scenarios").glob("*.yaml")}
    assert REQUIRED <= files
    assert '"levels" = "cloudquest/_bundled/levels"' in (root / "pyproject.toml").read_text()
