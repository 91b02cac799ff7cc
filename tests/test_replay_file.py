"""Replay files as a player keeps, shares and opens them again: what the game says about a
file that is not a replay, was edited or is broken; sandbox and scenario runs that carry
their own world; and the one road that re-runs a command log (a moment of the scrubber, a
fork). Every expectation is written out here, not read back from the product."""

from __future__ import annotations

from cloudquest import ENGINE_VERSION

import json

import pytest

from cloudquest.game.replay import ReplayError, ReplayFile, chapter_for, play, read, record, rerun, verify
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter

LINES = ("launch --name web --zone eu-west-1b", "tick 30", "describe web")
SMALL_WORLD = {
    "regions": [
        {"name": "r1", "zones": [{"name": "za", "racks": [{"name": "a1", "hosts": [{"count": 2, "vcpus": 8, "ram_gib": 32}]}]}]}
    ]
}


def launch_record(catalogue) -> dict:
    s = Session(catalogue.get("launch"), 0)
    for line in LINES:
        assert s.execute(line).ok
    return json.loads(json.dumps(s.replay_record()))


def write(tmp_path, data) -> str:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    return path


# -- a file that is not a replay, or a broken one ---------------------------------------------------
@pytest.mark.parametrize("data", [[1, 2], {"format": "cloudquest-save"}, {"seed": 0}])
def test_a_file_that_is_not_a_replay_says_so_and_names_the_file(tmp_path, data):
    path = write(tmp_path, data)
    with pytest.raises(ReplayError) as exc:
        read(path)
    assert str(exc.value) == f"{path}: not a CloudQuest replay (no 'format: cloudquest-replay')"


def test_a_missing_replay_file_is_named(tmp_path):
    with pytest.raises(ReplayError) as exc:
        read(tmp_path / "gone.json")
    assert str(tmp_path / "gone.json") in str(exc.value) and "cannot read the replay" in str(exc.value)


def test_a_bad_field_is_named_and_a_broken_world_is_told_apart(catalogue):
    data = launch_record(catalogue)
    with pytest.raises(ReplayError) as exc:
        ReplayFile.from_dict({**data, "seed": "0"}, "mine.json")
    assert str(exc.value).startswith("mine.json: bad replay: seed: ")
    bad_world = {**data, "sandbox": True, "world": {"regions": "none"}}
    with pytest.raises(ReplayError) as exc:
        ReplayFile.from_dict(bad_world, "mine.json")
    assert str(exc.value).startswith("mine.json: the replay's world is not valid: world.regions")
    with pytest.raises(ReplayError) as exc:  # the world and something else: a bad replay
        ReplayFile.from_dict({**bad_world, "seed": -1}, "mine.json")
    assert str(exc.value).startswith("mine.json: bad replay: ")


def test_times_that_go_backwards_are_an_edited_file(catalogue):
    data = launch_record(catalogue)
    data["end_ms"] = data["commands"][-1]["t_ms"] - 1
    with pytest.raises(ReplayError) as exc:
        ReplayFile.from_dict(data, "mine.json")
    assert str(exc.value) == "mine.json: command times go backwards; the file was edited"


# -- what verify tells the player -------------------------------------------------------------------
def test_a_replay_of_a_chapter_that_changed_or_of_another_engine_says_so(catalogue):
    data = launch_record(catalogue)
    assert verify(ReplayFile.from_dict(data, "m"), catalogue).problems == []
    old = verify(ReplayFile.from_dict({**data, "engine_version": "1"}, "m"), catalogue)
    assert not old.matches
    assert old.problems == [f"recorded with engine version 1, this is version {ENGINE_VERSION}: the same commands may not give the same events"]
    changed = verify(ReplayFile.from_dict({**data, "chapter_sha256": "0" * 64}, "m"), catalogue)
    assert changed.problems == ["the chapter's world or objectives changed since this was recorded"]
    assert not changed.matches
    forged = verify(ReplayFile.from_dict({**data, "event_log_sha256": "ab" * 32}, "m"), catalogue)
    replayed = forged.result.event_log_sha256
    assert forged.problems == [
        f"event log differs: recorded abababababab, replayed {replayed[:12]} (the file was edited, or the engine changed)"
    ]
    assert replayed == data["event_log_sha256"]  # the commands themselves replay to the original


def test_a_replay_of_a_chapter_that_is_not_installed(catalogue):
    data = {**launch_record(catalogue), "chapter": "no-such-chapter"}
    with pytest.raises(ReplayError) as exc:
        verify(ReplayFile.from_dict(data, "m"), catalogue)
    assert str(exc.value) == "the replay is of chapter 'no-such-chapter', which is not installed"


# -- runs that carry their own world ----------------------------------------------------------------
def test_a_sandbox_run_carries_its_world_and_replays_from_it(tmp_path, catalogue):
    world = World.model_validate(SMALL_WORLD)
    s = Session(free_play_chapter(world), 3, sandbox=True)
    for line in ("launch --name a", "launch --name b --type large", "tick 20"):
        assert s.execute(line).ok
    path = tmp_path / "sandbox.json"
    record(s, path)
    saved = json.loads(path.read_text())
    assert saved["sandbox"] is True and saved["world"]["regions"][0]["zones"][0]["name"] == "za"
    replay = read(path)
    assert replay.sandbox and replay.world == world and replay.seed == 3
    outcome = verify(replay, catalogue)
    assert outcome.matches, outcome.problems
    assert sorted(outcome.session.cloud.control.instances) == ["a", "b"]
    # the world comes from the file: another world does not give the same events
    saved["world"]["regions"][0]["zones"][0]["racks"][0]["hosts"][0]["count"] = 1
    path.write_text(json.dumps(saved))
    assert not verify(read(path), catalogue).matches
    # a sandbox replay without a world plays in an empty one
    bare = ReplayFile.from_dict({**saved, "world": None, "commands": [], "end_ms": 0}, "m")
    assert chapter_for(bare, catalogue).world == World()


def test_a_scenario_run_is_rebuilt_from_its_name(catalogue):
    data = {**launch_record(catalogue), "scenario": "zone-outage"}
    chapter = chapter_for(ReplayFile.from_dict(data, "m"), catalogue)
    assert chapter.id != "launch" and "eu-west-1a" in json.dumps(chapter.world.model_dump(mode="json"))
    with pytest.raises(ReplayError) as exc:
        chapter_for(ReplayFile.from_dict({**data, "scenario": "no-such-outage"}, "m"), catalogue)
    assert str(exc.value).startswith("the replay is of scenario 'no-such-outage': no scenario 'no-such-outage' (scenarios: backend-flap, ")


# -- the one road: moments and forks ----------------------------------------------------------------
def test_a_moment_includes_the_command_given_at_that_very_time(catalogue):
    chapter = catalogue.get("launch")
    commands = [(0, LINES[0]), (0, LINES[1]), (30_000, LINES[2])]
    seen = []
    s = play(
        Session(chapter, 0), commands, 60_000, stop_at_ms=30_000, on_command=lambda *a: seen.append(a)
    )
    assert [(t, line) for t, line, _, _ in seen] == commands  # describe, at exactly 30 s, ran
    assert s.cloud.now_ms == 30_000  # and time stopped there
    log = list(s.cloud.log)
    t, line, first, end = seen[0]
    assert {e.kind for e in log[first:end]} >= {"api.call", "launch.requested"}  # the launch's own events
    assert all(e.kind != "launch.requested" for e in log[end:])
    assert [(a[3], b[2]) for a, b in zip(seen, seen[1:])] == [(a[3], a[3]) for a in seen[:-1]]  # one after another
    assert all(isinstance(first, int) and first < end for *_, first, end in seen)
    before = play(Session(chapter, 0), commands, 60_000, stop_at_ms=29_999)
    # a millisecond earlier the describe is not run, and the tick is logged as cut short
    assert [line for _, line in before.command_log] == [LINES[0], "tick 29.999"]
    assert before.cloud.now_ms == 29_999


def test_rerun_up_to_a_time_stops_there(catalogue):
    replay = ReplayFile.from_dict(launch_record(catalogue), "m")
    assert rerun(catalogue.get("launch"), replay, upto_ms=10_000).cloud.now_ms == 10_000
    assert rerun(catalogue.get("launch"), replay).cloud.now_ms == replay.end_ms == 30_000


# -- a chapter of the player's own, played from its file -----------------------------------------
def own_chapter(tmp_path, chapter_id="my-launch"):
    """Chapter 1's file, copied and given another id by hand: a chapter the game does not have."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "levels" / "01-launch.yaml").read_text()
    assert text.startswith("id: launch\n")
    path = tmp_path / f"{chapter_id}.yaml"
    path.write_text(text.replace("id: launch\n", f"id: {chapter_id}\n", 1))
    return str(path)


def test_a_replay_of_the_players_own_chapter_finds_it_again_in_its_file(tmp_path, catalogue):
    path = own_chapter(tmp_path)
    data = {**launch_record(catalogue), "chapter": "my-launch", "chapter_file": path}
    replay = ReplayFile.from_dict(data, "m")
    assert replay.chapter_file == path
    found = chapter_for(replay, catalogue)
    assert found is not None and found.id == "my-launch" and found.title == catalogue.get("launch").title


def test_an_own_chapters_file_that_now_holds_another_chapter_or_none_finds_nothing(tmp_path, catalogue):
    other = own_chapter(tmp_path, "someone-else")
    data = {**launch_record(catalogue), "chapter": "my-launch"}
    assert chapter_for(ReplayFile.from_dict({**data, "chapter_file": other}, "m"), catalogue) is None
    gone = str(tmp_path / "deleted.yaml")
    assert chapter_for(ReplayFile.from_dict({**data, "chapter_file": gone}, "m"), catalogue) is None


def test_an_installed_chapter_is_taken_from_the_game_even_with_a_chapter_file(tmp_path, catalogue):
    path = own_chapter(tmp_path, "launch-copy")  # a readable chapter, but not the one recorded
    replay = ReplayFile.from_dict({**launch_record(catalogue), "chapter_file": path}, "m")
    assert chapter_for(replay, catalogue) is catalogue.get("launch")
