"""What the save keeps of a player's runs, read back from the file on disk: a finished
chapter counted once, the best result by the rule the game states (more objectives, then
fewer hints; a tie is not better), a broken save set aside with a message saying where it
went, and an import refused with a reason a player can act on."""

from __future__ import annotations

import json

import pytest

from cloudquest.game import progress as P
from cloudquest.game.locations import progress_file
from cloudquest.game.session import Session
from cloudquest.game.userfiles import UserFileError

LAUNCH_SKILLS = ["reliability engineering", "resource scheduling", "virtualization internals"]


def finished(catalogue, lines, hint: bool = False):
    chapter = catalogue.get("launch")
    s = Session(chapter, 0)
    if hint:
        s.execute("hint")
    s.run_script(lines)
    return chapter, s.finish()


def saved() -> dict:
    return json.loads(progress_file().read_text())


# -- a finished run in the save --------------------------------------------------------------------
def test_a_finished_chapter_is_counted_once_in_the_file(catalogue):
    chapter, result = finished(catalogue, list(catalogue.get("launch").solution))
    out = P.record(chapter, result)
    assert out.message is None and out.path == progress_file()
    # the reference solution passes chapter 1's three objectives and ends after its 120 s tick
    assert saved()["chapters"]["launch"] == {
        "completed": True,
        "attempts": 1,
        "best_passed": 3,
        "objectives": 3,
        "best_hints": 0,
        "best_time_s": 120.0,
        "skills": LAUNCH_SKILLS,
        "seeds_passed": [0],  # the seed it passed on (three seeds make it mastered)
    }
    assert out.progress.model_dump(mode="json") == saved()
    # an empty run afterwards is one more attempt and takes nothing away
    chapter, nothing = finished(catalogue, [])
    P.record(chapter, nothing)
    after = saved()["chapters"]["launch"]
    assert (after["attempts"], after["completed"], after["best_passed"], after["best_time_s"]) == (2, True, 3, 120.0)


def test_a_save_goes_where_it_is_told(tmp_path, catalogue):
    elsewhere = tmp_path / "other" / "progress.json"
    prog = P.Progress()
    prog.record_run("launch", 3, 3, 0, 12.5, ["resource scheduling"])
    assert P.save(prog, elsewhere).path == elsewhere
    assert json.loads(elsewhere.read_text())["chapters"]["launch"]["best_time_s"] == 12.5
    loaded = P.load(elsewhere)
    assert loaded.progress.chapters["launch"].completed and loaded.path == elsewhere
    chapter, result = finished(catalogue, [])
    assert P.record(chapter, result, elsewhere).path == elsewhere
    assert json.loads(elsewhere.read_text())["chapters"]["launch"]["attempts"] == 2
    assert not progress_file().exists()
    elsewhere.write_text("{oops")
    broken = P.load(elsewhere)
    assert broken.path == elsewhere and broken.message.startswith(
        "your saved progress could not be read (not valid JSON: Expecting property name enclosed in double quotes); "
        f"it was kept as {elsewhere.with_name('progress.json.corrupt-1')}"
    )


def test_a_save_that_is_not_a_file_is_said_so():
    progress_file().mkdir(parents=True)
    assert P.load().message.startswith("your saved progress could not be read (the save is a folder, not a regular file)")


def test_the_best_run_is_more_objectives_then_fewer_hints_and_a_tie_is_not_better():
    prog = P.Progress()
    prog.record_run("launch", 2, 3, 1, 40.0, [])
    prog.record_run("launch", 2, 3, 1, 10.0, [])  # the same result: the first one stands
    cp = prog.chapters["launch"]
    assert (cp.best_passed, cp.best_hints, cp.best_time_s, cp.completed) == (2, 1, 40.0, False)
    prog.record_run("launch", 2, 3, 0, 50.0, [])  # fewer hints
    assert (cp.best_hints, cp.best_time_s) == (0, 50.0)
    prog.record_run("launch", 3, 3, 4, 70.0, ["resource scheduling"])  # more objectives, more hints
    assert (cp.best_passed, cp.best_hints, cp.best_time_s, cp.completed) == (3, 4, 70.0, True)
    assert cp.skills == ["resource scheduling"] and cp.attempts == 4


def test_merging_two_games_keeps_the_better_of_each():
    a, b = P.Progress(), P.Progress()
    a.record_run("launch", 3, 3, 2, 30.0, ["resource scheduling"])
    b.record_run("launch", 3, 3, 1, 80.0, ["virtualization internals"])
    b.record_run("launch", 1, 3, 0, 5.0, [])
    merged = a.merged(b).chapters["launch"]
    assert (merged.best_hints, merged.best_time_s, merged.attempts) == (1, 80.0, 2)  # fewer hints wins
    assert merged.skills == ["resource scheduling", "virtualization internals"]
    assert b.merged(a).chapters["launch"] == merged
    # a chapter only opened (no result yet) never beats one with a result
    opened = P.Progress(chapters={"launch": P.ChapterProgress(attempts=5)})
    kept = opened.merged(a).chapters["launch"]
    assert (kept.best_passed, kept.best_hints, kept.best_time_s, kept.attempts, kept.objectives) == (3, 2, 30.0, 5, 3)
    tried = P.Progress()
    tried.record_run("launch", 0, 3, 2, 9.0, [])  # a run that passed nothing still has a result
    assert opened.merged(tried).chapters["launch"].best_time_s == 9.0
    assert tried.merged(opened).chapters["launch"].best_time_s == 9.0
    # no hints beats one hint, whichever game is merged into which
    one, none = P.Progress(), P.Progress()
    one.record_run("launch", 3, 3, 1, 11.0, [])
    none.record_run("launch", 3, 3, 0, 22.0, [])
    assert one.merged(none).chapters["launch"].best_time_s == 22.0 == none.merged(one).chapters["launch"].best_time_s
    # progress kept aside for chapters this game lacks survives a merge
    aside = P.Progress(unknown={"from-the-future": P.ChapterProgress(attempts=3)})
    assert a.merged(aside).unknown == aside.unknown == aside.merged(a).unknown
    # the quiz: the better score with its own per-skill figures; passed once is passed
    q1 = P.QuizProgress(attempts=1, best_pct=80, passed=True, per_skill_pct={"resource scheduling": 80})
    q2 = P.QuizProgress(attempts=3, best_pct=60, passed=False, per_skill_pct={"resource scheduling": 100})
    q = P.Progress(quiz=q2).merged(P.Progress(quiz=q1)).quiz
    assert q == P.QuizProgress(attempts=3, best_pct=80, passed=True, per_skill_pct={"resource scheduling": 80})


# -- a broken save ----------------------------------------------------------------------------------
def test_a_run_saved_over_a_broken_save_says_where_the_old_one_went(catalogue):
    path = progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"format": 1, "chapters": {"launch": {"attempts": "many"}}}')
    chapter, result = finished(catalogue, list(catalogue.get("launch").solution))
    out = P.record(chapter, result)
    kept = path.with_name("progress.json.corrupt-1")
    assert out.message == (
        "your saved progress could not be read (chapters.launch.attempts: Input should be a valid integer); "
        f"it was kept as {kept} and a fresh save was started"
    )
    assert saved()["chapters"]["launch"]["attempts"] == 1
    assert "many" in kept.read_text()


def test_a_broken_save_that_cannot_be_moved_is_left_alone(monkeypatch):
    path = progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{oops")

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(P, "set_aside", refuse)
    out = P.load()
    assert out.progress == P.Progress() and out.path == path
    assert out.message.startswith("your saved progress could not be read (")
    assert out.message.endswith(
        "nor moved aside (Permission denied); it is left as it is and nothing will be saved over it"
    )
    assert path.read_text() == "{oops"


def test_a_temporary_file_left_by_a_killed_save_is_cleared():
    path = progress_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = path.parent / ".progress.json.abc123.tmp"
    stale.write_text("half a save")
    P.save(P.Progress())
    assert not stale.exists() and saved()["format"] == 1


# -- import ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, reason",
    [
        ({"format": 2, "chapters": {}}, "made by a newer CloudQuest (format 2; this one reads format 1)"),
        ([], "not a CloudQuest progress export (a mapping with format 1 and chapters)"),
        ({"format": 1}, "not a CloudQuest progress export (a mapping with format 1 and chapters)"),
        (
            {"format": 1, "chapters": {"launch": {"attempts": -1}}},
            "not a valid progress export: chapters.launch.attempts: Input should be greater than or equal to 0",
        ),
        ({"format": 1, "chapters": {"launch": {"best_passed": 4}}}, "chapter launch: 4 objectives counted; it has 3"),
        ({"format": 1, "chapters": {"launch": {"objectives": 5}}}, "chapter launch: 5 objectives counted; it has 3"),
        (
            {"format": 1, "chapters": {"launch": {"skills": ["isolation layers", "distributed storage"]}}},
            "chapter launch: it does not teach distributed storage, isolation layers",
        ),
        (
            {"format": 1, "chapters": {"launch": {"completed": True, "best_passed": 2, "objectives": 3}}},
            "chapter launch: completed, yet best 2 of 3 objectives",
        ),
    ],
)
def test_an_import_is_refused_with_the_reason(catalogue, tmp_path, data, reason):
    with pytest.raises(UserFileError) as exc:
        P.parse_export(data, catalogue.chapters)
    assert str(exc.value) == f"the export: {reason}"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserFileError) as exc:
        P.read_export(path, catalogue.chapters)
    assert exc.value.message == reason and str(path) in str(exc.value)


def test_an_export_that_cannot_be_read_is_named(tmp_path, catalogue):
    with pytest.raises(UserFileError) as exc:
        P.read_export(tmp_path / "none.json", catalogue.chapters)
    assert str(exc.value) == f"{tmp_path / 'none.json'}: cannot read the export: No such file or directory"


def test_an_import_of_a_chapter_this_game_has_is_kept_as_it_was(catalogue):
    data = {
        "format": 1,
        "chapters": {"launch": {"completed": True, "attempts": 4, "best_passed": 3, "objectives": 3, "skills": ["resource scheduling"]}},
        "unknown": {"hypervisor": {"attempts": 2}},  # a chapter now installed comes back from aside
    }
    prog = P.parse_export(data, catalogue.chapters)
    assert sorted(prog.chapters) == ["hypervisor", "launch"] and prog.unknown == {}
    assert prog.chapters["launch"].attempts == 4 and prog.chapters["hypervisor"].attempts == 2
