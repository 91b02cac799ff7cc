"""The traffic scenarios: backend-flap, spine-failure and edge-outage load, run against
their chapters' reference designs, report the metrics they name, keep evidence per
incident, and tell a better design from a worse one; a scenario's report names only
metrics that exist."""

from __future__ import annotations

import pytest

from cloudquest.game.chapters import load_all
from cloudquest.game.scenarios import ScenarioError, compare, default_design, load_library, load_scenario, run

NEW = ("backend-flap", "spine-failure", "edge-outage")


@pytest.fixture(scope="module")
def library():
    return load_library(catalogue=load_all())


@pytest.mark.xdist_group("reference-runs")  # one worker: the scenario runs are shared
@pytest.mark.parametrize("name", NEW)
def test_each_traffic_scenario_runs_its_chapters_design_and_reports_what_it_names(name, library, scenario_run):
    loaded = library.get(name)
    assert loaded is not None and not library.problems
    _, source = default_design(loaded)
    assert "reference solution" in source
    r = scenario_run(name)  # that design at seed 1
    assert r.seed == 1 and r.design == source
    assert r.result.end_ms == loaded.scenario.run_s * 1000
    assert not [x for x in r.rejected if "error" in x], r.rejected
    reported = r.reported()
    assert list(reported) == [m.metric for m in loaded.scenario.report]
    assert all(v is not None for v in reported.values()), reported
    assert r.incidents and all(i["recovered"] for i in r.incidents)
    assert r.result.passed, [o.evidence for o in r.result.objectives if not o.passed]


def test_a_flapping_backend_costs_requests_while_the_checks_catch_up(library):
    r = run(library.get("backend-flap"), default_design(library.get("backend-flap"))[0], seed=0)
    first = r.incidents[0]
    assert first["requests_failed"] > 0 and "took backend web-b5 out" in first["evidence"]


def test_compare_tells_bfd_from_the_hold_timer_on_hung_spines(library):
    loaded = library.get("spine-failure")
    ref, _ = default_design(loaded)
    slow = [line for line in ref if line != "fabric detection bfd"]
    data = compare(loaded, ("hold-timer", slow), ("bfd", ref), [1]).as_dict()
    rows = {row["metric"]: row for row in data["metrics"]}
    assert rows["fabric_gbit_blackholed"]["verdict"] == "B better"
    assert rows["fabric_gbit_blackholed"]["a_worst"] > 20 * rows["fabric_gbit_blackholed"]["b_worst"]
    assert rows["time_to_recover_s"]["a_worst"] >= 91


def test_an_edge_outage_fails_requests_for_about_half_the_dns_ttl(library):
    loaded = library.get("edge-outage")
    r = run(loaded, default_design(loaded)[0], seed=0)
    berlin_rps = 150
    assert r.result.metrics["edge_failed"] == pytest.approx(berlin_rps * 60 / 2, rel=0.1)
    assert r.incidents[0]["time_to_recover_s"] == 60


def test_a_report_naming_no_metric_is_refused_with_its_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ntitle: Bad\ndescription: x\nworld: routing\n"
        "timeline:\n  - {at_s: 60, action: fail, part: switch, id: spine-eu-central-1a-1}\n"
        "run_s: 120\nreport:\n  - {metric: fabric_gbit_lost, better: lower}\n  - {metric: no_such_metric, better: lower}\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert f"{path}:10: report: no metric 'no_such_metric'" in str(err.value)


def test_a_timeline_may_name_only_parts_the_world_has(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad\ntitle: Bad\ndescription: x\nworld: routing\n"
        "timeline:\n  - {at_s: 60, action: fail, part: switch, id: spine-nowhere-9}\n  - {at_s: 60, action: fail, part: pop, id: fra}\n"
        "run_s: 120\n"
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "no switch 'spine-nowhere-9'" in str(err.value)
