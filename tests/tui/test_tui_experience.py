"""The player's experience at 80x24: a chapter opens paused and says so; the console grows
for a long answer, follows new output unless scrolled back and never shows an escape
sequence raw; one key visits the panes in a fixed order and another zooms one; a key
typed in a pane that takes no text lands on the command line; ctrl+q in the middle of a
long tick keeps the run as a replay that verifies; every run gets its own seed, shown,
retried or renewed from the result, and several seeds master a chapter."""

from __future__ import annotations

import asyncio

from textual import events

from cloudquest.game.locations import progress_file, replays_dir
from cloudquest.game.progress import MASTERY_SEEDS
from cloudquest.game.replay import read, verify
from cloudquest.tui.app import CloudQuestApp
from cloudquest.tui.screens.chapter import PANES, ChapterScreen
from cloudquest.tui.screens.level_map import LevelMapScreen
from cloudquest.tui.screens.result import ResultScreen
from cloudquest.tui.widgets import Console

from .conftest import LEVELS, QUIZ, open_chapter, run, settle


def console_text(screen) -> str:
    return "\n".join(strip.text for strip in screen.query_one(Console).output.lines)


async def open_first(app, pilot) -> ChapterScreen:
    await settle(pilot)
    return await open_chapter(pilot, app.catalogue.get("big-realization"))


async def test_a_chapter_opens_paused_on_a_fresh_seed_and_the_player_starts_it():
    # the game as a player starts it: no fixed seed, no live clock asked for
    app = CloudQuestApp(levels=LEVELS, quiz_file=QUIZ)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(app, pilot)
        assert not screen.clock.running
        status = str(screen.query_one("#topbar").render())
        assert "‖ paused (F2 runs)" in status
        assert 1 <= screen.seed <= 9999 and f"seed {screen.seed}" in status
        greeting = " ".join(console_text(screen).split())
        assert "The clock is paused: nothing happens until you let time pass" in greeting
        assert f"seed {screen.seed}" in greeting
        await pilot.pause(0.3)
        assert screen.session.cloud.now_ms == 0  # no time piles up while the player reads
        assert screen.active_bindings["f2"].binding.description == "Run"
        await pilot.press("f2")
        assert screen.clock.running
        assert screen.active_bindings["f2"].binding.description == "Pause"
        await pilot.pause(0.3)
        assert screen.session.cloud.now_ms > 0
        assert "▶ live 1x" in str(screen.query_one("#topbar").render())
        await pilot.press("f2")
        assert not screen.clock.running
    seeds = {app.new_seed() for _ in range(30)}
    assert len(seeds) > 1 and all(1 <= s <= 9999 for s in seeds)


async def test_the_console_grows_follows_and_shows_escapes_as_marks(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(app, pilot)
        console = screen.query_one(Console)
        base = console.outer_size.height
        assert base == 7
        await run(pilot, "help")
        assert console.outer_size.height > base  # grown into the rows the view leaves spare
        assert screen.view.outer_size.height >= len(screen.view.text.plain.splitlines())  # the view keeps its rows
        log = console.output
        first = log.scroll_offset.y
        assert log.lines[first].text.startswith("› help")  # the answer from its first line
        more = str(console.query_one("#console-more").render())
        assert "more lines below: PgDn reads on, F10 zooms the console" in more
        await pilot.press("pagedown")
        assert log.scroll_offset.y > first
        # scrolled back: a note from the game does not pull the player away
        await pilot.press("pageup", "pageup")
        held = log.scroll_offset.y
        console.note("a note while the player reads back")
        await settle(pilot)
        assert log.scroll_offset.y == held and not console.following
        # entering a command follows again; a short answer gives the console its size back
        await run(pilot, "tick 1")
        assert console.outer_size.height == base
        assert console.following
        # escape sequences: stripped from a paste, shown as marks when typed
        console.line.post_message(events.Paste("\x1b[31mlaunch --name red\x1b[0m\r\x1b]0;title\x07status"))
        await settle(pilot)
        assert [line for _t, line in screen.session.command_log][-2:] == ["launch --name red", "status"]
        console.submit("\x1b[2Jtick 1")
        await settle(pilot)
        shown = console_text(screen)
        assert "\x1b" not in shown and "␛[2Jtick 1" in shown
        assert screen.session.transcript[-1].ok is False  # refused: nothing changed


async def test_one_key_visits_the_panes_in_order_and_another_zooms_them(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(app, pilot)
        assert screen.current_pane == "console"
        seen = []
        for _ in PANES:
            await pilot.press("f9")
            seen.append(screen.current_pane)
        assert seen == ["story", "view", "objectives", "events", "console"]
        await pilot.press("shift+f9")
        assert screen.current_pane == "events"
        await pilot.press("tab")  # from anywhere, tab is the same walk
        assert screen.current_pane == "console"
        await pilot.press("tab")
        assert screen.current_pane == "story"
        # the focus frame: the focused pane's rule is drawn heavy
        assert screen.query_one("#left").styles.border_left[0] == "heavy"
        assert screen.query_one("#view-scroll").styles.border_left[0] != "heavy"
        # zoom the story, scroll it, restore with Esc; a key typed next is not lost
        await pilot.press("f10")
        await settle(pilot)  # the zoomed pane laid out at its new size before it scrolls
        assert screen.maximized is screen.query_one("#left")
        story = screen.query_one("#story-scroll")
        await pilot.press("pagedown")
        await settle(pilot)
        assert story.scroll_offset.y > 0
        await pilot.press("escape")
        assert screen.maximized is None
        await pilot.press("h", "e", "l", "p")
        line = screen.query_one(Console).line
        assert line.value == "help" and screen.focused is line
        await pilot.press("enter")
        await settle(pilot)
        assert screen.session.transcript[-1].line == "help"
        # zooming the console shows the whole screen of it; F10 again restores
        await pilot.press("f10")
        console = screen.query_one(Console)
        assert screen.maximized is console and console.outer_size.height >= 20
        await pilot.press("f10")
        assert screen.maximized is None


async def test_ctrl_q_in_the_middle_of_a_long_tick_keeps_a_replay_that_verifies(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = await open_chapter(pilot, app.catalogue.get("launch"))
        await run(pilot, "launch --name api --zone eu-west-1b")
        screen.run_line("tick 600000")  # 600,000 steps: long, off the event loop
        assert screen.busy == "tick 600000"
        await asyncio.sleep(0.2)
        await app.action_quit()  # ctrl+q's action
    (path,) = replays_dir().glob("launch-*.json")
    replay = read(path)
    last = replay.commands[-1][1]
    assert last.startswith("tick ")  # the part of the tick that ran, as it ran
    outcome = verify(replay, app.catalogue)
    assert outcome.matches, outcome.problems
    assert replay.end_ms == outcome.result.end_ms > 0


async def test_retry_this_seed_new_seed_and_mastery_on_several_seeds(make_app):
    app = make_app(seed=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        launch = app.catalogue.get("launch")
        seeds = []
        for n in range(MASTERY_SEEDS):
            if n == 0:
                app.open_chapter(launch, ask=False, seed=41)
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, ChapterScreen)
            seeds.append(screen.seed)
            await run(pilot, *launch.solution)
            await pilot.press("f6")
            await settle(pilot)
            result = app.screen
            assert isinstance(result, ResultScreen) and result.result.passed
            head = str(result.query_one("#result-head").render())
            assert f"seed {screen.seed}" in head
            summary = str(result.query_one("#result-summary").render())
            if n == 0:
                await pilot.press("s")  # the same seed again
                await settle(pilot)
                assert app.screen.seed == 41
                await pilot.press("escape")  # nothing done: back to the map
                await settle(pilot)
                app.open_chapter(launch, ask=False, seed=41)
                await settle(pilot)
                await run(pilot, *launch.solution)
                await pilot.press("f6")
                await settle(pilot)
                assert "passed on 1 of the 3 seeds" in str(app.screen.query_one("#result-summary").render())
            if n < MASTERY_SEEDS - 1:
                await pilot.press("a")  # a new seed
        assert "mastered: passed on 3 seeds" in summary
        assert len(set(seeds)) == MASTERY_SEEDS
        saved = progress_file().read_text()
        assert '"seeds_passed"' in saved
        app.open_map()
        await settle(pilot)
        level_map = app.screen
        assert isinstance(level_map, LevelMapScreen)
        row = next(i for i, c in enumerate(level_map.rows) if c is not None and c.id == "launch")
        assert "★ mastered" in str(level_map.query_one("#chapters").get_row_at(row)[2])


async def test_the_console_keeps_its_size_for_the_terminal_after_a_resize(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(app, pilot)
        console = screen.query_one(Console)
        assert console.outer_size.height == screen.console_base_rows == 7
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert console.outer_size.height == screen.console_base_rows == 12
        await run(pilot, "help")
        grown = console.outer_size.height
        assert grown > 12
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert console.outer_size.height < grown  # never more than the smaller screen leaves it
        assert screen.view.outer_size.height >= 3
