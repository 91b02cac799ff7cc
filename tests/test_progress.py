"""Progress saves: atomic, and a corrupt save is set aside, never silently lost."""

from __future__ import annotations

import json
import os

import pytest

from cloudquest.game import progress as P
from cloudquest.game.locations import data_home, progress_file
from cloudquest.game.userfiles import UserFileError, write_atomic


def test_home_follows_cloudquest_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDQUEST_HOME", str(tmp_path / "x"))
    assert data_home() == tmp_path / "x"
    assert progress_file() == tmp_path / "x" / "progress.json"


def test_save_and_load_round_trip():
    prog = P.Progress()
    prog.record_run("launch", 3, 3, 1, 20.0, ["resource scheduling"])
    P.save(prog)
    loaded = P.load()
    assert loaded.message is None
    assert loaded.progress.chapters["launch"].completed
    assert loaded.progress.skills_earned() == ["resource scheduling"]


def test_best_result_is_kept_and_a_worse_run_does_not_erase_completion():
    prog = P.Progress()
    prog.record_run("launch", 3, 3, 2, 20.0, ["resource scheduling"])
    prog.record_run("launch", 1, 3, 0, 5.0, ["resource scheduling"])
    cp = prog.chapters["launch"]
    assert cp.completed and cp.best_passed == 3 and cp.attempts == 2 and cp.best_hints == 2
    prog.record_run("launch", 3, 3, 0, 25.0, ["resource scheduling"])
    assert prog.chapters["launch"].best_hints == 0


@pytest.mark.parametrize("garbage", [b"{not json", b"\xff\xfe\x00", b'{"chapters": 5}', b"[]"])
def test_a_corrupt_save_is_moved_aside_with_a_message(garbage):
    path = progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(garbage)
    loaded = P.load()
    assert loaded.message and "could not be read" in loaded.message
    kept = path.with_name("progress.json.corrupt-1")
    assert kept.read_bytes() == garbage
    assert not path.exists()
    # a second corrupt save does not overwrite the first one set aside
    path.write_bytes(garbage)
    P.load()
    assert path.with_name("progress.json.corrupt-2").exists()


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "save.json"
    write_atomic(target, "old")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["save.json"]


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "save.json"
    write_atomic(target, json.dumps({"a": 1}))
    write_atomic(target, json.dumps({"b": 2}))
    assert json.loads(target.read_text()) == {"b": 2}


def test_export_format_is_checked():
    with pytest.raises(UserFileError, match="newer CloudQuest"):
        P.parse_export({"format": 99, "chapters": {}}, [])
    prog = P.parse_export(P.Progress().model_dump(mode="json"), [])
    assert prog.chapters == {}


def test_two_games_open_at_once_keep_everything_either_earned():
    """The terminal game saves the whole progress it holds: merged, never overwriting."""
    first, second = P.load().progress, P.load().progress  # both opened on the same save
    first.record_run("launch", 3, 3, 2, 20.0, ["resource scheduling"])
    second.record_run("storage", 4, 4, 0, 90.0, ["distributed storage"])
    second.record_run("launch", 1, 3, 0, 5.0, ["resource scheduling"])  # worse than first's
    second.quiz.best_pct, second.quiz.passed = 80, True
    P.save(first)
    P.save(second)
    saved = P.load().progress
    assert saved.chapters["launch"].completed and saved.chapters["launch"].best_passed == 3
    assert saved.chapters["launch"].best_hints == 2
    assert saved.chapters["storage"].completed
    assert saved.skills_earned() == ["resource scheduling", "distributed storage"]
    assert saved.quiz.best_pct == 80 and saved.quiz.passed
    P.save(P.Progress())  # an empty game saving takes nothing away
    assert P.load().progress == saved


def test_a_newer_save_is_set_aside_and_never_written_over():
    path = progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": 2, "chapters": {"launch": {"attempts": 7}}}')
    loaded = P.load()
    assert "newer CloudQuest: format 2" in loaded.message
    P.save(loaded.progress)
    assert path.with_name("progress.json.newer-1").read_text() == '{"format": 2, "chapters": {"launch": {"attempts": 7}}}'


def test_an_import_keeps_chapters_this_game_lacks_aside_where_they_earn_nothing():
    from cloudquest.game.chapters import load_all

    data = {
        "format": 1,
        "chapters": {
            "launch": {"completed": True, "best_passed": 3, "objectives": 3, "skills": ["resource scheduling"]},
            "from-the-future": {"completed": True, "skills": ["isolation layers"]},
        },
    }
    prog = P.parse_export(data, load_all().chapters)
    assert list(prog.chapters) == ["launch"] and list(prog.unknown) == ["from-the-future"]
    assert prog.skills_earned() == ["resource scheduling"]



def test_a_chapter_is_mastered_on_several_seeds_and_a_save_keeps_them():
    prog = P.Progress()
    prog.record_run("launch", 3, 3, 0, 20.0, ["resource scheduling"], seed=7)
    prog.record_run("launch", 3, 3, 0, 20.0, ["resource scheduling"], seed=7)  # the same seed again
    prog.record_run("launch", 2, 3, 0, 20.0, ["resource scheduling"], seed=8)  # failed: no seed earned
    cp = prog.chapters["launch"]
    assert cp.seeds_passed == [7] and cp.completed and not cp.mastered
    prog.record_run("launch", 3, 3, 0, 20.0, ["resource scheduling"], seed=9)
    other = P.Progress()
    other.record_run("launch", 3, 3, 0, 20.0, ["resource scheduling"], seed=12)
    merged = prog.merged(other)
    assert merged.chapters["launch"].seeds_passed == [7, 9, 12]
    assert merged.chapters["launch"].mastered and P.MASTERY_SEEDS == 3
    P.save(merged)
    assert P.load().progress.chapters["launch"].seeds_passed == [7, 9, 12]
    # a save from before seeds were kept still loads
    progress_file().write_text(json.dumps({"format": 1, "chapters": {"launch": {"completed": True, "best_passed": 3, "objectives": 3}}}))
    old = P.load()
    assert old.message is None and old.progress.chapters["launch"].seeds_passed == []


def test_a_chapter_keeps_at_most_twenty_seeds_passed_and_the_twentieth_counts():
    prog = P.Progress()
    for seed in range(19):
        prog.record_run("launch", 3, 3, 0, 20.0, ["resource scheduling"], seed=seed)
    prog.record_run("launch", 3, 3, 0, 20.0, ["resource scheduling"], seed=100)  # the 20th: kept
    prog.record_run("launch", 3, 3, 0, 20.0, ["resource scheduling"], seed=200)  # the 21st: the list is full
    assert prog.chapters["launch"].seeds_passed == [*range(19), 100]


def test_merged_quizzes_keep_the_questions_answered_right_in_the_better_attempt():
    better = P.QuizProgress(attempts=1, best_pct=75, right=["q1", "q2", "q3"])
    worse = P.QuizProgress(attempts=2, best_pct=25, right=["q4"])
    assert better.merged(worse).right == ["q1", "q2", "q3"] == worse.merged(better).right


def test_a_save_read_from_a_given_path_is_said_to_be_there(tmp_path):
    path = tmp_path / "elsewhere" / "my-save.json"
    assert path != progress_file()
    assert P.load(path).path == path  # none there yet: a fresh save, to be written there
    path.parent.mkdir()
    path.write_text('{"format": 1, "chapters": {"launch": {"attempts": "many"}}}')
    out = P.load(path)
    assert out.path == path and out.progress == P.Progress()
    assert out.message == (
        "your saved progress could not be read (chapters.launch.attempts: Input should be a valid integer); "
        f"it was kept as {tmp_path / 'elsewhere' / 'my-save.json.corrupt-1'} and a fresh save was started"
    )


def test_a_save_mended_by_another_game_while_waiting_for_the_lock_is_read_and_kept(tmp_path, monkeypatch):
    path = tmp_path / "my-save.json"
    path.write_text('{"format": 1, "chapters": {"launch": {"attempts": 4}}}')
    real, calls = P._read, []

    def broken_at_first(p):
        calls.append(p)
        if len(calls) == 1:  # the read without the lock found it half written
            raise P._Unreadable("half written")
        return real(p)

    monkeypatch.setattr(P, "_read", broken_at_first)
    out = P.load(path)
    assert calls == [path, path] and out.message is None and out.path == path
    assert out.progress.chapters["launch"].attempts == 4 and path.exists()


def test_a_broken_save_at_a_given_path_that_cannot_be_moved_is_said_to_be_there(tmp_path, monkeypatch):
    path = tmp_path / "my-save.json"
    path.write_text("{oops")

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(P, "set_aside", refuse)
    out = P.load(path)
    assert out.path == path and out.path != progress_file() and path.read_text() == "{oops"


def test_the_teachers_view_reads_a_save_as_it_is_and_leaves_a_broken_one_in_place(tmp_path):
    path = tmp_path / "pupil.json"
    path.write_text('{"format": 1, "chapters": {"launch": {"attempts": 2}}}')
    assert P.peek(path).chapters["launch"].attempts == 2
    path.write_text('{"format": 1, "chapters": {"launch": {"attempts": "many"}}}')
    with pytest.raises(P.SaveUnreadable, match=r"^chapters\.launch\.attempts: Input should be a valid integer$"):
        P.peek(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pupil.json"]  # not moved aside, no lock taken
