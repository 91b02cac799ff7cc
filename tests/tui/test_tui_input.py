"""Bad and awkward input in the game: unknown commands, empty lines, very long lines, a
pasted script, resizing mid-run, typing while the clock runs; and the console's keys
(history, completion, hints, reset, the reference solution)."""

from __future__ import annotations

from textual import events

from cloudquest.game.locations import progress_file, replays_dir
from cloudquest.tui.screens.chapter import ChapterScreen
from cloudquest.tui.screens.confirm import Confirm
from cloudquest.tui.screens.title import TitleScreen
from cloudquest.tui.widgets import Console

from .conftest import run, settle, type_text


async def open_launch(app, pilot) -> ChapterScreen:
    await settle(pilot)
    app.open_chapter(app.catalogue.get("launch"), ask=False)
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, ChapterScreen)
    return screen


def output_text(screen: ChapterScreen) -> str:
    return "\n".join(strip.text for strip in screen.query_one(Console).output.lines)


async def type_line(pilot, line: str) -> None:
    """Type a line key by key and press Enter: the keyboard's own road."""
    await type_text(pilot, line)
    await pilot.press("enter")
    await pilot.pause()


async def test_unknown_empty_and_very_long_input_change_nothing(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(app, pilot)
        events_before = len(screen.session.cloud.log)
        await type_line(pilot, "lanch --name x")
        assert "✘ error: unknown command 'lanch' (did you mean 'launch'?" in output_text(screen)
        await pilot.press("enter")  # empty: nothing at all
        await pilot.pause()
        console = screen.query_one(Console)
        console.line.value = "launch --name " + "x" * 5000
        await pilot.press("enter")
        await pilot.pause()
        assert "line too long (5014 characters; at most 2000)" in output_text(screen)
        await type_line(pilot, 'launch --name "unclosed')
        assert "close the quote" in output_text(screen)
        assert len(screen.session.cloud.log) == events_before  # a rejected command changes nothing,
        assert screen.session.command_log == []  # not even the log a replay re-runs
        assert [t.line for t in screen.session.transcript][0] == "lanch --name x"  # the player still sees it
        assert len(screen.session.transcript) == 3  # the empty line is not a command
        assert console.line.value == ""


async def test_a_pasted_script_runs_line_by_line_in_order(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(app, pilot)
        script = "launch --name api --type medium --zone eu-west-1a\n\n# a comment\nlaunch --name api --zone eu-west-1b\ntick 20\ndescribe api\n"
        screen.query_one(Console).line.post_message(events.Paste(script))
        await settle(pilot)
        lines = [line for _t, line in screen.session.command_log]
        assert lines == [  # blank and comment-only lines are no commands
            "launch --name api --type medium --zone eu-west-1a",
            "launch --name api --zone eu-west-1b",
            "tick 20",
            "describe api",
        ]
        assert screen.session.cloud.metrics()["running.api"] == 1
        assert "launch steps:" in output_text(screen)
        # each pasted line is in the history, newest last
        assert screen.query_one(Console).line.history[-1] == "describe api"


async def test_resizing_mid_run_and_typing_while_the_clock_runs(make_app):
    app = make_app(live_clock=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(app, pilot)
        assert screen.clock.running
        screen.action_speed()
        screen.action_speed()
        assert screen.clock.speed == 16
        await type_line(pilot, "launch --name fast --zone eu-west-1b")
        for size in ((120, 40), (60, 18), (200, 60), (40, 12), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause(0.06)
        # typed while frames advance the clock: every key arrives, in order
        await type_line(pilot, "describe fast")
        await pilot.pause(0.3)
        assert screen.session.cloud.now_ms > 0
        lines = [line for _t, line in screen.session.command_log]
        assert lines == ["launch --name fast --zone eu-west-1b", "describe fast"]
        assert "fast" in screen.view.text.plain
        # the live clock keeps going until paused, then stops
        await pilot.press("f2")
        frozen = screen.session.cloud.now_ms
        await pilot.pause(0.2)
        assert screen.session.cloud.now_ms == frozen
        assert not screen.clock.running


async def test_history_and_tab_completion(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(app, pilot)
        line = screen.query_one(Console).line
        await type_text(pilot, "lau")
        await pilot.press("tab")
        assert line.value == "launch "
        await type_text(pilot, "--ty")
        await pilot.press("tab")
        assert line.value == "launch --type "
        await type_text(pilot, "xl")
        await pilot.press("tab")
        assert line.value == "launch --type xlarge "
        line.value = ""
        await type_text(pilot, "terminate leg")
        await pilot.press("tab")
        assert line.value == "terminate legacy-"  # the live ids' common prefix
        hints = str(screen.query_one("#console-hints").render())
        assert "legacy-1" in hints and "legacy-8" in hints
        line.value = ""
        await type_line(pilot, "status a1-h1")
        await type_line(pilot, "help")
        await pilot.press("up")
        assert line.value == "help"
        await pilot.press("up")
        assert line.value == "status a1-h1"
        await pilot.press("down", "down")
        assert line.value == ""


async def test_a_whole_line_entered_takes_the_road_typing_it_does(make_app):
    """Console.submit, which the other app tests use, does what typing the line and
    pressing Enter does: the same history, command log and echo, and the completion
    candidates cleared."""
    seen = []
    for by_keys in (True, False):
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_launch(app, pilot)
            console = screen.query_one(Console)
            console.line.value = "terminate leg"
            await pilot.press("tab")
            assert "legacy-1" in str(screen.query_one("#console-hints").render())
            if by_keys:
                await type_line(pilot, "1")
            else:
                console.submit("terminate legacy-1")
                await pilot.pause()
            seen.append(
                (
                    console.line.history,
                    console.line.value,
                    str(screen.query_one("#console-hints").render()),
                    screen.session.command_log,
                    output_text(screen),
                    screen.session.cloud.log.sha256(),
                )
            )
    assert seen[0] == seen[1]
    assert seen[0][:4] == (["terminate legacy-1"], "", "", [(0, "terminate legacy-1")])


async def test_hint_reset_and_the_solution_after_completion(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_launch(app, pilot)
        assert screen.check_action("solution", ()) is False  # not offered before completion
        await pilot.press("f5")
        await pilot.pause()
        assert screen.session.hints_used == 1
        assert "hint 1/4" in output_text(screen)

        await pilot.press("f8")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")
        await pilot.pause()
        assert screen.session.hints_used == 1  # nothing reset
        await pilot.press("f8")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen
        assert screen.session.hints_used == 0
        assert screen.session.command_log == []
        assert len(list(replays_dir().glob("launch-*.json"))) == 1  # the reset run is kept

        await run(pilot, *screen.chapter.solution)
        assert screen.completed
        assert not screen.clock.running  # completion pauses the clock
        await pilot.press("f7")
        await pilot.pause()
        line = screen.query_one(Console).line
        assert line.value == screen.chapter.solution[0]  # offered, not run
        before = len(screen.session.command_log)
        await pilot.press("enter")
        await pilot.pause()
        assert len(screen.session.command_log) == before + 1
        assert line.value == screen.chapter.solution[1]


async def test_describe_prints_the_view_for_screen_readers(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(app, pilot)
        await run(pilot, "launch --name api --zone eu-west-1b", "describe")
        out = output_text(screen)
        assert "fleet view at t=0s" in out
        assert "host b1-h1: healthy; vCPU 2/16" in out
        assert "api: launching on b1-h1, next step allocate_cpu" in out


async def test_a_corrupt_save_is_set_aside_and_said(make_app):
    progress_file().parent.mkdir(parents=True, exist_ok=True)
    progress_file().write_text("{not json")
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TitleScreen)
        standing = str(app.screen.query_one("#standing").render())
        assert "could not be read" in standing
        assert any("could not be read" in str(n.message) for n in app._notifications)
        # the notice is not drawn over the line that says the same in full
        await pilot.pause()
        toasts = list(app.screen.query_one("#textual-toastrack").query("Toast"))
        assert toasts
        standing_region = app.screen.query_one("#standing").region
        assert all(not t.region.overlaps(standing_region) for t in toasts)


async def test_no_color_is_respected(make_app, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(app, pilot)
        assert app.no_color
        # colour is never the only signal: the objectives say PENDING in words
        assert "PENDING" in str(screen.query_one("#objective-list").get_option_at_index(0).prompt)


async def test_keys_arriving_in_one_burst_keep_their_order(make_app):
    """A fast typist, or a paste in a terminal without bracketed paste: Enter, tab and the
    arrows act exactly where they came among the characters."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(app, pilot)
        burst = [*"lau", "tab", *"--na", "tab", *"api --zone eu-west-1b", "enter", *"help", "enter", "up", "up"]
        for key in burst:
            char = {"tab": "\t", "enter": "\r", "up": None}.get(key, key)
            name = {" ": "space", "-": "minus"}.get(key, key)
            app._driver.send_message(events.Key(name, char))  # all at once, no waiting
        await settle(pilot)
        assert [line for _t, line in screen.session.command_log] == ["launch --name api --zone eu-west-1b", "help"]
        assert screen.query_one(Console).line.value == "launch --name api --zone eu-west-1b"


async def test_a_long_tick_runs_off_the_event_loop_and_later_lines_wait_their_turn(make_app):
    import asyncio

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_launch(app, pilot)
        await run(pilot, "launch --name api --zone eu-west-1b")
        # Called directly, not through Pilot.press: the pilot waits for the process to go
        # idle, which it is not while the tick runs.
        screen.run_line("tick 100000")  # 100,000 steps: long
        was_busy = screen.busy == "tick 100000"
        screen.action_hint()  # a key that needs the session: refused while busy
        refused = screen.session.hints_used == 0
        screen.run_line("describe api")  # typed while it runs: queued, not lost
        for _ in range(3000):
            if not screen.busy:
                break
            await asyncio.sleep(0.01)
        await settle(pilot)
        assert not screen.busy
        lines = [line for _t, line in screen.session.command_log if line != "hint"]
        assert lines == ["launch --name api --zone eu-west-1b", "tick 100000", "describe api"]
        assert screen.session.cloud.now_ms == 100_000_000
        assert "launch steps:" in output_text(screen)
        assert was_busy, "the tick should still be running right after Enter"
        assert refused and screen.session.hints_used == 0


async def test_a_slow_command_runs_off_the_event_loop(make_app, catalogue):
    """verify replays the whole design under other seeds: seconds of work, so the game
    runs it like a long tick instead of freezing the screen."""
    import asyncio

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_chapter(catalogue.get("failure-design"), ask=False)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ChapterScreen)
        screen.run_line("lb create web")
        screen.run_line("verify --seeds 1")
        was_busy = screen.busy == "verify --seeds 1"
        for _ in range(6000):
            if not screen.busy:
                break
            await asyncio.sleep(0.01)
        await settle(pilot)
        assert was_busy and not screen.busy
        assert [line for _t, line in screen.session.command_log][-1] == "verify --seeds 1"
        assert screen.session.cloud.log.count("verify.result") == 1
