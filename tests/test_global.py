"""Chapter 16, global scale: the five properties measured on real runs.

Every test drives whole console lines through the session's one road. The reference run
(its five-seed ``design verify`` included) is the suite's shared one (conftest's
``reference_session``, also used by test_chapters); the other runs are one day each,
shared per module.
"""

from __future__ import annotations

import pytest

from cloudquest.cloud import geo
from cloudquest.game.chapters import load_chapter
from cloudquest.game.commands.geo import design_blocks
from cloudquest.game.replay import play
from cloudquest.game.session import Session

from conftest import LEVELS

PATH = LEVELS / "16-global.yaml"
DAY = "tick 86400"


def chapter():
    return load_chapter(PATH)


def fresh(seed: int = 0) -> Session:
    return Session(chapter(), seed)


def example_lines() -> list[str]:
    text = chapter().world.geo.designs["example"]
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def write_design(home, name: str, lines: list[str]) -> None:
    folder = home / "designs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("# a test design\n" + "\n".join(lines) + "\n")


def ok(session: Session, line: str) -> str:
    out = session.execute(line)
    assert out.ok, f"{line}: {out.output}"
    return out.output


def test_the_shipped_design_runs_whatever_the_players_folder_holds(_isolated_home):
    """The reference solution (and so the hint and `cloudquest validate`) applies the
    design the chapter ships, not a file in the player's folder: a global.cq of the
    player's own, edited, changes nothing about it."""
    write_design(_isolated_home, "global.cq", ["dns policy simple"])
    s = fresh()
    out = ok(s, "design apply chapter:example")
    assert out.startswith(f"design chapter:example: {len(example_lines())} commands applied")
    assert (_isolated_home / "designs" / "global.cq").read_text() == "# a test design\ndns policy simple\n"
    assert "chapter:starter, chapter:example" in ok(s, "design list")
    refused = s.execute("design apply chapter:mine")
    assert not refused.ok and "it ships chapter:starter, chapter:example" in refused.output


# -- the reference design: all five properties, seeds 1..5 -----------------------------------
@pytest.mark.xdist_group("reference-runs")
def test_reference_design_passes_every_objective_and_seeds_1_to_5(reference_session):
    s = reference_session(PATH)
    verified = [e for e in s.cloud.log if e.kind == "design.verified"]
    assert len(verified) == 1
    v = verified[0]
    assert v.get("passed") == 5 and v.get("failed_seeds") == "" and v.get("programmable") == 1
    assert v.get("hand_commands") == 0
    m = s.cloud.metrics()
    assert m["geo_rpo_s"] <= 1 and m["geo_rto_s"] <= 180 and m["geo_regions_serving"] == 3
    assert m["design_programmable"] == 1 and m["design_verify_passed"] == 5
    result = s.finish()
    assert result.passed, [o.evidence for o in result.objectives if not o.passed]


# -- replicated: without a cross-region copy the outage costs the day's writes ----------------------
@pytest.fixture(scope="module")
def no_replica(tmp_path_factory):
    lines = [ln for ln in example_lines() if not ln.startswith("db replica")]
    s = fresh()
    home = tmp_path_factory.mktemp("home")
    write_design(home, "norep.cq", lines)
    ok(s, f"design apply {home / 'designs' / 'norep.cq'}")
    ok(s, DAY)
    return s


def test_a_design_without_cross_region_replication_fails_rpo_with_evidence(no_replica):
    s = no_replica
    lost = [e for e in s.cloud.log if e.kind == "geo.primary_lost"]
    assert len(lost) == 1
    e = lost[0]
    # the primary's region went dark at 14:00; the newest copy elsewhere is midnight's snapshot
    assert e.t_ms == 50_400_000 and e.get("rpo_s") == 50_400 and "snapshot" in e.get("newest_copy")
    assert e.get("writes_lost") > 100_000
    result = s.finish()
    rep = next(o for o in result.objectives if o.id == "replicated")
    assert not rep.passed and "geo_rpo_s=50400" in rep.evidence
    # nobody could promote anything: the service waited for its region to come back
    assert any(e.kind == "geo.failover_impossible" for e in s.cloud.log)
    assert s.cloud.metrics()["geo_recovered_in_outage"] == 0


# -- programmable: the same commands typed by hand are not a design ---------------------------------
def test_a_design_built_by_hand_fails_programmable_with_evidence():
    s = fresh()
    for line in example_lines():
        ok(s, line)
    out = ok(s, "design verify --seeds 1")
    assert out.startswith("NOT programmable")
    assert "typed by hand, first `scheduler policy pack` at t=0s" in out
    m = s.cloud.metrics()
    assert m["design_programmable"] == 0 and m["design_verify_passed"] == 0
    result = s.finish()
    assert not next(o for o in result.objectives if o.id == "programmable").passed


def test_one_hand_command_beside_the_design_file_breaks_programmable(_isolated_home):
    write_design(_isolated_home, "g.cq", example_lines())
    s = fresh()
    ok(s, "design apply g.cq")
    ok(s, "dns ttl 30")  # typed, not in the file
    out = ok(s, "design verify --seeds 1")
    assert out.startswith("NOT programmable") and "`dns ttl 30`" in out


def test_the_design_file_rebuilds_the_same_event_log_without_the_file(_isolated_home):
    """The run's log holds the design's lines and its mark: a replay needs no file, and a
    fresh world built from the design blocks alone gives the same events, byte for byte."""
    write_design(_isolated_home, "g.cq", example_lines())
    s = fresh()
    ok(s, "design apply g.cq")
    ok(s, "tick 600")
    (_isolated_home / "designs" / "g.cq").unlink()
    again = play(fresh(), list(s.command_log), s.cloud.now_ms)
    assert again.cloud.log.sha256() == s.cloud.log.sha256()
    blocks = design_blocks(s.command_log)
    assert [line for _, line in blocks][-1].startswith("design mark g.cq 11 ")
    assert play(fresh(), blocks, s.cloud.now_ms).cloud.log.sha256() == s.cloud.log.sha256()


# -- automated: a command during the run is a hand change --------------------------------------------
def test_a_change_after_the_start_counts_as_made_by_hand(_isolated_home):
    write_design(_isolated_home, "g.cq", example_lines())
    s = fresh()
    ok(s, "design apply g.cq")
    assert s.cloud.metrics()["geo_hand_changes"] == 0
    ok(s, "tick 60")
    ok(s, "geo show")  # looking changes nothing
    assert s.cloud.metrics()["geo_hand_changes"] == 0
    ok(s, "scheduler policy spread")
    ok(s, "dns ttl 30")
    assert s.cloud.metrics()["geo_hand_changes"] == 2


# -- bad input: one line, nothing changed ---------------------------------------------------------------
@pytest.mark.parametrize(
    "content, expected",
    [
        (["dns policy latency", "service deploy mars-1 --min 2"], "bad.cq:3: service deploy mars-1 --min 2: InvalidParameterValue: no region 'mars-1' here (regions: us-east-1, eu-west-1, ap-northeast-1)"),
        (["dns policy latency", "tick 60"], "bad.cq:3: 'tick' has no place in a design file"),
        (["dns polcy latency"], "bad.cq:2: unknown dns command"),
        (["design apply other.cq"], "bad.cq:2: 'design apply' has no place in a design file"),
    ],
)
def test_a_bad_design_file_is_refused_whole_with_its_line(_isolated_home, content, expected):
    write_design(_isolated_home, "bad.cq", content)
    s = fresh()
    before = (len(s.cloud.log), list(s.command_log))
    out = s.execute("design apply bad.cq")
    assert not out.ok and out.error_kind == "input"
    assert "\n" not in out.output and expected in out.output
    assert (len(s.cloud.log), list(s.command_log)) == before


def test_a_missing_design_file_or_a_bad_name_is_one_line(_isolated_home):
    s = fresh()
    for line, expected in (
        ("design apply nope.cq", "design new nope.cq writes a starter"),
        (f"design apply {_isolated_home / 'nowhere' / 'x'}", "cannot read the design file"),  # a path, not a name
        ("design apply 'a b'", "bad design file name"),
        ("design mark g.cq 3 0123456789abcdef", "written by design apply"),
    ):
        out = s.execute(line)
        assert not out.ok and "\n" not in out.output and expected in out.output, out.output
    assert len(s.cloud.log) == 1


def test_design_new_writes_the_starter_once_and_never_over_another_file(_isolated_home):
    s = fresh()
    out = ok(s, "design new global.cq")
    path = _isolated_home / "designs" / "global.cq"
    assert str(path) in out and path.read_text() == chapter().world.geo.designs["starter"]
    ok(s, "design new global.cq")  # the same text again: nothing to do
    path.write_text("# mine\n")
    out = s.execute("design new global.cq --from example")
    assert not out.ok and "already exists and differs" in out.output and path.read_text() == "# mine\n"
    assert s.command_log[0][1].startswith("#")  # a file, not the cloud: replays skip it


def test_a_rejected_api_call_changes_nothing():
    s = fresh()
    ok(s, "service deploy eu-west-1 --type nano --min 1 --max 2")
    n = len(s.cloud.log)
    for line in ("service deploy eu-west-1", "db replica orders eu-west-1", "db promote orders eu-west-1",
                 "dns health-check on --interval 20"):
        out = s.execute(line)
        assert not out.ok and "\n" not in out.output
    assert len(s.cloud.log) == n


# -- published facts ----------------------------------------------------------------------------------------
def test_route53_health_check_defaults_detect_a_dead_region_in_60_to_90_seconds(_isolated_home):
    """Route 53 Developer Guide, "How Amazon Route 53 determines whether a health check is
    healthy": a check every 30 s by default (10 s with the fast interval), unhealthy after
    the failure threshold, 3 by default, of failed checks in a row."""
    lines = [ln.replace("--interval 10 --threshold 3", "") if ln.startswith("dns health-check") else ln for ln in example_lines()]
    write_design(_isolated_home, "std.cq", lines)
    s = fresh()
    ok(s, "design apply std.cq")
    assert s.cloud.get(geo.GlobalService).interval_s == 30
    ok(s, "tick 51000")
    lost = next(e for e in s.cloud.log if e.kind == "geo.outage")
    seen = next(e for e in s.cloud.log if e.kind == "geo.health_changed" and e.get("healthy") == 0)
    assert 60 <= seen.get("detected_s") - lost.t_ms / 1000 <= 90


def test_inter_region_round_trips_are_near_published_measurements():
    """The game's rule (great circle x 1.5 on the backbone, light at 200 km/ms) against
    median round trips between AWS regions as public measurements report them (for
    example cloudping.co): about 70 ms us-east-1 - eu-west-1, 150 ms us-east-1 -
    ap-northeast-1, 205 ms eu-west-1 - ap-northeast-1. Within a third."""
    svc = fresh().cloud.get(geo.GlobalService)
    for a, b, measured in (("us-east-1", "eu-west-1", 70), ("us-east-1", "ap-northeast-1", 150),
                           ("eu-west-1", "ap-northeast-1", 205)):
        assert abs(svc.rtt[(a, b)] - measured) / measured < 1 / 3, (a, b, svc.rtt[(a, b)])


def test_the_replica_lag_bounds_the_data_lost():
    """Asynchronous replication: a replica is behind by half the backbone's round trip
    plus the time to apply; what it had not received when the primary went dark is the
    RPO. Aurora Global Database quotes replication "typically under a second"."""
    s = fresh()
    for line in example_lines():
        ok(s, line)
    svc = s.cloud.get(geo.GlobalService)
    for region, lag in svc.db.replicas.items():
        half_rtt = svc.rtt[("us-east-1", region)] / 2
        assert half_rtt + svc.spec.apply_ms <= lag <= half_rtt + svc.spec.apply_ms + svc.spec.apply_jitter_ms
        assert lag < 1000


# -- the quiz's global block --------------------------------------------------------------------------
def test_the_quiz_has_a_global_block_and_its_prediction_is_computed():
    from cloudquest.game.chapters import load_quiz
    from cloudquest.game.quiz import predict_answer

    block = [q for q in load_quiz().questions if q.id.startswith("global-")]
    assert len(block) >= 6
    rpo = next(q for q in block if q.id == "global-rpo-snapshot")
    assert predict_answer(rpo) == pytest.approx(3 * 3600, abs=rpo.tolerance)  # midnight to 03:00
