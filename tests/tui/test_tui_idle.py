"""Idle costs nothing: a chapter screen redraws only what changed, only when it changed.

Served to a class (``cloudquest serve``), every frame a game draws is CPU in its process
and bytes to a browser, so a student reading the story must cost next to nothing. The
frames are counted where Textual hands them to the terminal (``App._display``), and the
widgets they repaint where the compositor takes them."""

from __future__ import annotations

import asyncio
from collections import Counter

from cloudquest.tui.clock import IDLE_FRAME_S
from cloudquest.tui.widgets import Console

from .conftest import open_chapter, run, settle


class FrameCounter:
    """Every frame the app draws, and the widgets each repaints."""

    def __init__(self, app) -> None:
        self.frames = 0
        self.widgets: Counter[str] = Counter()
        display, screen = app._display, app.screen
        update_widgets = screen._compositor.update_widgets

        def counted_display(screen, renderable):
            if renderable is not None:
                self.frames += 1
            return display(screen, renderable)

        def counted_update(widgets):
            for w in widgets:
                self.widgets[type(w).__name__] += 1
            return update_widgets(widgets)

        app._display = counted_display
        screen._compositor.update_widgets = counted_update


async def test_a_paused_chapter_draws_no_frame_while_nothing_changes(make_app):
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        screen = await open_chapter(pilot, app.catalogue.get("big-realization"))
        await run(pilot, "launch --name web")  # something on screen, then nothing more
        await asyncio.sleep(0.3)
        counter = FrameCounter(app)
        before = screen.session.cloud.now_ms
        await asyncio.sleep(2.0)
        assert screen.session.cloud.now_ms == before
        assert counter.frames == 0, counter.widgets


async def test_a_live_clock_over_an_idle_cloud_redraws_only_its_seconds_and_slows_its_frames(make_app):
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        await settle(pilot)
        screen = await open_chapter(pilot, app.catalogue.get("big-realization"))
        await pilot.press("f2")  # the clock runs over an empty cloud: nothing but time moves
        await asyncio.sleep(1.5)  # long enough to settle into the idle pace
        assert screen._pace_s == IDLE_FRAME_S
        counter = FrameCounter(app)
        start = screen.session.cloud.now_ms
        await asyncio.sleep(2.0)
        simulated_s = (screen.session.cloud.now_ms - start) / 1000
        assert simulated_s > 1  # the simulation kept its pace
        # one repaint of the status bar per simulated second (its t=Ns), nothing else
        assert set(counter.widgets) <= {"StatusBar"}, counter.widgets
        assert counter.frames <= simulated_s + 1
        # a command brings the frames back to full speed
        await run(pilot, "launch --name web")
        await asyncio.sleep(0.3)
        assert screen._pace_s < IDLE_FRAME_S
        assert "web" in "\n".join(s.text for s in screen.query_one(Console).output.lines)


async def test_below_80x24_the_game_asks_for_a_larger_window_and_carries_on_once_it_is(make_app):
    from cloudquest.tui.screens.title import TitleScreen
    from cloudquest.tui.screens.too_small import TooSmallScreen

    app = make_app()
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TooSmallScreen)
        assert "Make the window larger" in str(app.screen.query_one("#too-small").render())
        await pilot.resize_terminal(100, 30)
        await settle(pilot)
        assert isinstance(app.screen, TitleScreen)
        await pilot.resize_terminal(80, 23)
        await settle(pilot)
        assert isinstance(app.screen, TooSmallScreen)
