"""Same chapter + seed + commands => the same event log, byte for byte; replays prove it."""

from __future__ import annotations

import json

import pytest

from cloudquest.game.replay import ReplayFile, read, record, rerun, verify
from cloudquest.game.session import Session

SCRIPT = [
    "launch --name api --type medium --zone eu-west-1a",
    "launch --name api --type medium --zone eu-west-1b",
    "launch --name w2",
    "tick 12.5",
    "fail host b1-h1",
    "tick 3",
    "repair host b1-h1",
    "terminate w2",
    "tick 30",
    "describe api",
]


@pytest.fixture
def launch(catalogue):
    return catalogue.get("launch")


def play(chapter, seed: int) -> Session:
    s = Session(chapter, seed)
    s.run_script(SCRIPT)
    return s


def test_two_runs_give_the_same_event_log_byte_for_byte(launch):
    a, b = play(launch, 7), play(launch, 7)
    assert a.cloud.log.to_jsonl() == b.cloud.log.to_jsonl()
    assert a.finish().event_log_sha256 == b.finish().event_log_sha256


def test_a_different_seed_gives_a_different_log(launch):
    # Boot times and instance ids are drawn from the session's generator.
    assert play(launch, 7).cloud.log.sha256() != play(launch, 8).cloud.log.sha256()


def test_replay_reproduces_the_hash(tmp_path, launch, catalogue):
    s = play(launch, 11)
    path = tmp_path / "run.json"
    record(s, path)
    outcome = verify(read(path), catalogue)
    assert outcome.matches, outcome.problems
    assert outcome.result.event_log_sha256 == s.finish().event_log_sha256


def test_live_clock_advances_between_commands_are_replayed(tmp_path, launch, catalogue):
    s = Session(launch, 3)
    s.execute("launch --name api --zone eu-west-1b")
    s.advance(4_321)  # the game's live clock, not a tick command
    s.execute("describe api")
    s.advance(20_000)
    path = tmp_path / "live.json"
    record(s, path)
    outcome = verify(read(path), catalogue)
    assert outcome.matches
    assert outcome.result.end_ms == 24_321


def test_an_edited_replay_is_reported(tmp_path, launch, catalogue):
    s = play(launch, 11)
    path = tmp_path / "run.json"
    record(s, path)
    data = json.loads(path.read_text())
    data["commands"][2]["line"] = "launch --name w2 --type nano"
    path.write_text(json.dumps(data))
    outcome = verify(read(path), catalogue)
    assert not outcome.matches
    assert any("event log differs" in p for p in outcome.problems)


def test_a_replay_from_another_engine_version_is_reported(tmp_path, launch, catalogue):
    s = play(launch, 1)
    path = tmp_path / "run.json"
    record(s, path)
    data = json.loads(path.read_text())
    data["engine_version"] = "0"
    path.write_text(json.dumps(data))
    outcome = verify(read(path), catalogue)
    assert any("engine version 0" in p for p in outcome.problems)


def test_rerun_up_to_a_moment_rebuilds_that_moment(launch):
    s = play(launch, 5)
    rec = ReplayFile.from_dict(s.replay_record(), "mem")
    early = rerun(launch, rec, upto_ms=5_000)
    assert early.cloud.now_ms == 5_000
    assert early.cloud.metrics()["instances_running"] < s.cloud.metrics()["instances_running"] + 9
    events_then = [e.to_json() for e in s.cloud.log if e.t_ms <= 5_000]
    assert [e.to_json() for e in early.cloud.log][: len(events_then)] == events_then


def test_a_fork_from_mid_tick_records_a_replay_of_itself(tmp_path, launch, catalogue):
    s = play(launch, 5)
    rec = ReplayFile.from_dict(s.replay_record(), "mem")
    fork = rerun(launch, rec, upto_ms=5_000)
    fork.execute("launch --name late --zone eu-west-1b")
    fork.execute("tick 20")
    path = tmp_path / "fork.json"
    record(fork, path)
    outcome = verify(read(path), catalogue)
    assert outcome.matches, outcome.problems
