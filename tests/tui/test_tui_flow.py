"""The whole game, driven by keys and console lines: title -> level map -> chapter 1 -> the
reference solution -> every objective passes -> result -> progress saved -> quiz answered
-> the run's replay opened, scrubbed and forked."""

from __future__ import annotations

import json

from textual.widgets import OptionList

from cloudquest.game.locations import progress_file, replays_dir
from cloudquest.tui.screens.chapter import ChapterScreen
from cloudquest.tui.screens.confirm import Confirm
from cloudquest.tui.screens.level_map import LevelMapScreen
from cloudquest.tui.screens.quiz import QuizScreen
from cloudquest.tui.screens.replays import ReplaysScreen, ReplayViewerScreen
from cloudquest.tui.screens.result import ResultScreen
from cloudquest.tui.screens.title import TitleScreen

from .conftest import run, settle, type_text


BOOT = object()

# What a player who read the chapter answers (tests/tui/fixtures/quiz.yaml, and the two
# questions from their own run of chapter 1): the question's words -> the choice's words,
# or the number worked out.
PLAYERS_ANSWERS = {
    "30% steal time": "ready to run, but the hypervisor ran someone else",
    "How does a filter scheduler pick a host?": "filters out hosts that cannot take the request",
    "How many large instances (2 vCPU, 8 GiB) fit?": "8",  # 16 / 2 and 64 / 8
    "Why is a rack a failure domain": "one top-of-rack switch and one power feed",
    # eu-west-1b's two hosts are alike and empty: a tie, and the first host in the fleet wins
    "instance api landed on host b1-h1. Why there?": "tied on score (90) with b1-h2",
    # read off the run's log: from the RunInstances call to instance.running
    "how many seconds passed from your RunInstances call for api": BOOT,
}


def _boot_seconds(log, instance: str) -> float:
    calls = [e.t_ms for e in log if e.kind == "launch.requested" and e.get("instance") == instance]
    (running,) = [e.t_ms for e in log if e.kind == "instance.running" and e.get("instance") == instance]
    return (running - calls[-1]) / 1000


async def test_play_launch_to_result_quiz_and_replay(make_app):
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TitleScreen)

        # title -> level map
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, LevelMapScreen)

        # chapter 1 is ahead of the player (chapter 0 is not completed): the game asks
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChapterScreen)
        assert screen.chapter.id == "launch"
        assert not screen.clock.running  # tests start with the clock paused

        # the reference solution, entered line by line on the console
        await run(pilot, *screen.chapter.solution)
        states = screen.session.grader.states
        assert [s.status for s in states] == ["passed"] * len(states)
        assert "api" in screen.view.text.plain  # the view shows where api landed
        assert "✔ PASS" in str(screen.query_one("#objective-list").get_option_at_index(0).prompt)

        # finish -> result
        await pilot.press("f6")
        await settle(pilot)
        result_screen = app.screen
        assert isinstance(result_screen, ResultScreen)
        assert result_screen.result.passed
        head = str(result_screen.query_one("#result-head").render())
        assert "PASSED 3/3" in head

        # progress saved, run recorded
        saved = json.loads(progress_file().read_text())
        assert saved["chapters"]["launch"]["completed"] is True
        assert saved["chapters"]["launch"]["best_passed"] == 3
        replays = sorted(replays_dir().glob("launch-*.json"))
        assert len(replays) == 1
        assert result_screen.replay == replays[0]

        # the quiz, answered as a player would: by reading each question and picking the
        # visible choice they know is right, or typing the number they worked out
        boot_s = _boot_seconds(screen.session.cloud.log, "api")
        app.open_quiz()
        await settle(pilot)
        quiz = app.screen
        assert isinstance(quiz, QuizScreen)
        assert quiz.own >= 1, "a question from the player's own run"
        asked = []
        while quiz.phase == "question":
            question = str(quiz.query_one("#quiz-question").render())
            key = next((k for k in PLAYERS_ANSWERS if k in question), None)
            assert key is not None, f"a question the player was not told about: {question}"
            asked.append(key)
            answer = PLAYERS_ANSWERS[key]
            if answer is BOOT:
                answer = f"{boot_s:g}"
            if isinstance(answer, str) and not answer[0].isdigit():
                options = quiz.query_one("#quiz-options", OptionList)
                shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
                (pick,) = [i for i, text in enumerate(shown) if answer in text]
                # the prompt offers the keys of the options shown, no more
                assert f"Pick an option (1-{len(shown)}," in str(quiz.query_one("#quiz-feedback").render())
                await pilot.press(str(pick + 1))
            else:
                await type_text(pilot, answer)
                await pilot.press("enter")
            assert quiz.answered
            await pilot.press("n")
            await settle(pilot)
        assert sorted(asked) == sorted(PLAYERS_ANSWERS), "every question of the bank and both of the player's own run"
        assert quiz.phase == "done"
        assert quiz.score.correct == quiz.score.total
        saved = json.loads(progress_file().read_text())
        assert saved["quiz"]["attempts"] == 1
        assert saved["quiz"]["passed"] is True
        assert saved["quiz"]["best_pct"] == 100

        # replays: open the run, scrub it, fork it
        await pilot.press("escape")
        await settle(pilot)
        app.open_replays()
        await settle(pilot)
        assert isinstance(app.screen, ReplaysScreen)
        # the run's file name in full, whatever the table's last column has room for
        assert replays[0].name in str(app.screen.query_one("#replay-detail").render())
        await pilot.press("enter")
        await settle(pilot)
        viewer = app.screen
        assert isinstance(viewer, ReplayViewerScreen)
        assert replays[0].name in str(viewer.query_one("#replay-name").render())
        assert not viewer.problems, viewer.problems
        assert viewer.moment == (0, 0)
        assert "api" not in viewer.session.cloud.control.instances  # the world as the chapter starts

        await pilot.press("end")
        await settle(pilot)
        end_ms = viewer.replay.end_ms
        assert viewer.t_ms == end_ms
        assert viewer.session.cloud.metrics()["running.api"] == 1
        assert viewer.session.cloud.log.sha256() == viewer.replay.event_log_sha256

        await pilot.press("home")
        await settle(pilot)
        assert viewer.moment == (0, 0)
        await pilot.press("right")  # the first command, typed at t=0: the capacity error
        await settle(pilot)
        assert viewer.moment == (0, 1)
        assert viewer.session.cloud.log.count("launch.failed") == 1
        shown = len(viewer.session.cloud.log)
        await pilot.press("n")  # the next event: the second launch's first one
        await settle(pilot)
        assert len(viewer.session.cloud.log) > shown
        assert viewer.session.cloud.log[shown].to_json() == viewer.full.cloud.log[shown].to_json()
        # step forward through a few moments and back again: the same moment, the same state
        await pilot.press("right", "right", "right")
        await settle(pilot)
        forward_t = viewer.t_ms
        forward_log = viewer.session.cloud.log.to_jsonl()
        await pilot.press("left", "right")
        await settle(pilot)
        assert viewer.t_ms == forward_t
        assert viewer.session.cloud.log.to_jsonl() == forward_log
        # the view and objectives are the moment's, not the end's
        assert viewer.session.cloud.now_ms == forward_t

        # fork from a moment before api booted
        booted = next(e.t_ms for e in viewer.full.cloud.log if e.kind == "instance.running" and e.get("instance") == "api")
        while viewer.t_ms >= booted:
            await pilot.press("left")
            await settle(pilot)
        fork_t = viewer.t_ms
        await pilot.press("f")
        await settle(pilot)
        fork = app.screen
        assert isinstance(fork, ChapterScreen)
        assert fork.session.cloud.now_ms == fork_t
        assert fork.session.cloud.metrics()["running.api"] == 0
        await run(pilot, "tick 30")
        assert fork.session.cloud.metrics()["running.api"] == 1
        # leaving keeps the fork as a run of its own, which replays to itself
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ReplayViewerScreen)
        assert len(sorted(replays_dir().glob("launch-*.json"))) == 2


async def test_continue_opens_the_next_chapter_and_back_returns(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ChapterScreen)
        assert app.screen.chapter.id == "big-realization"
        await pilot.press("escape")  # focus is on the console: leaves
        await settle(pilot)
        assert isinstance(app.screen, LevelMapScreen)
        # nothing was typed and no time passed: nothing to keep
        assert not list(replays_dir().glob("*.json"))
