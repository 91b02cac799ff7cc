"""Benchmark: how responsive the terminal game is (issue 3).

Three figures, all measured headless (Textual's own test driver, which lays out and
paints every frame exactly as in a terminal, minus the terminal's own drawing):

1. Enter to effect: median time from pressing Enter on a command (``launch``, then
   ``terminate`` of the same instance, alternating) until the fleet view shows it and the
   screen has been repainted, at 120x40.
2. One live tick: median and 95th percentile of one step of the live clock (one
   ``tick_ms`` of simulated time through ``Session.advance``) with the chapter's view,
   objectives and events redrawn and the screen repainted, at 120x40, for every installed
   chapter. Target: under 16 ms, so 16x speed stays smooth. The launch chapter runs with
   a launch started on every step, so its view changes every tick.
3. Start to title: wall time from starting the process to the title screen drawn, next
   to a bare Textual app drawing one static screen, measured alternately in the same run
   (median of several starts). Target: at most 1.5x.

    /work/venv/bin/python bench/bench_tui.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZE = (120, 40)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


# -- 1 and 2: inside one app ------------------------------------------------------------
class PaintClock:
    """Notes when the app puts a frame on the (headless) screen.

    Textual paints from its screen update timer (at most 60 frames a second), so a
    change is on screen once the next paint after it has finished. Waiting for that paint
    on an event, rather than with ``Pilot.pause`` (which also waits for the whole process
    to go idle, with sleeps of its own), times the real latency; the process's CPU time
    over the same span is the cost, without the wait for the timer."""

    def __init__(self, app) -> None:
        self.last = 0.0
        self.cpu = 0.0
        self.event = asyncio.Event()
        display = app._display

        def timed(screen, renderable):
            display(screen, renderable)
            self.last = time.perf_counter()
            self.cpu = time.process_time()
            self.event.set()

        app._display = timed

    def arm(self) -> None:
        self.event.clear()

    async def wait(self, limit: float = 5.0) -> None:
        await asyncio.wait_for(self.event.wait(), limit)


async def open_chapter(app, pilot, chapter_id: str):
    await app.ensure_loaded()
    app.open_chapter(app.catalogue.get(chapter_id), ask=False)
    await pilot.pause()
    await pilot.pause()
    return app.screen


async def enter_to_effect(runs: int) -> tuple[list[float], list[float]]:
    """(latency, CPU cost) from Enter to the frame that shows the command's effect."""
    from textual import events

    from cloudquest.tui.app import CloudQuestApp
    from cloudquest.tui.screens.chapter import ChapterScreen

    app = CloudQuestApp(live_clock=False)
    latency, cost = [], []
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chapter(app, pilot, "launch")
        assert isinstance(screen, ChapterScreen)
        paints = PaintClock(app)
        line = screen.query_one("#console-input")
        for i in range(runs):
            name = f"b{i}"
            for command, shows in ((f"launch --name {name} --zone eu-west-1b", True), (f"terminate {name}", False)):
                line.value = command
                await pilot.pause()
                await pilot.pause()
                t0, c0 = time.perf_counter(), time.process_time()
                app._driver.send_message(events.Key("enter", "\r"))  # as the terminal sends it
                while True:  # frames until the one that shows the effect
                    paints.arm()
                    await paints.wait()
                    if not line.value and (f"◌{name}" in screen.view.text.plain) == shows:
                        break
                latency.append(paints.last - t0)
                cost.append(paints.cpu - c0)
    return latency, cost


async def measured_step(pilot, screen, paints: PaintClock, cost: list[float], latency: list[float]) -> None:
    """Step the live clock once; record the CPU it took and the time until it was painted."""
    await pilot.pause()
    await pilot.pause()
    paints.arm()
    t0, c0 = time.perf_counter(), time.process_time()
    screen.action_step()  # Session.advance by one step; view, objectives, events redrawn
    await paints.wait()  # ... and the next frame painted
    cost.append(paints.cpu - c0)
    latency.append(paints.last - t0)


async def tick_cost(chapter_id: str, ticks: int, busy: bool) -> tuple[list[float], list[float], str]:
    """(CPU cost, latency) from one step of the live clock to the frame showing it."""
    from cloudquest.tui.app import CloudQuestApp

    app = CloudQuestApp(live_clock=False)
    cost, latency = [], []
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_chapter(app, pilot, chapter_id)
        view = type(screen.view).__name__
        paints = PaintClock(app)
        for i in range(ticks):
            if busy:
                # keep the pipeline busy: a launch in flight every step, old ones retired
                screen.session.execute(f"launch --name t{i} --zone eu-west-1b")
                if i >= 8:
                    screen.session.execute(f"terminate t{i - 8}")
            await measured_step(pilot, screen, paints, cost, latency)
    return cost, latency, view


# -- 3: start to title, against a bare app ------------------------------------------------
BARE = """
import sys, time
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("CloudQuest")
    def on_mount(self):
        self.call_after_refresh(self.drawn)
    def drawn(self):
        print(time.time(), flush=True)
        self.exit()

Bare().run(headless=True, size=(120, 40))
"""

GAME = """
import sys, time
from cloudquest.tui.app import CloudQuestApp
from cloudquest.tui.screens import title

mount = title.TitleScreen.on_mount

def drawn(screen):
    print(time.time(), flush=True)
    screen.app.exit()

def on_mount(self):
    mount(self)
    self.call_after_refresh(drawn, self)

title.TitleScreen.on_mount = on_mount
CloudQuestApp().run(headless=True, size=(120, 40))
"""


def start_time(code: str, env: dict[str, str]) -> float:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError(out.stderr[-2000:])
    return float(out.stdout.strip().splitlines()[-1]) - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="cq-bench-")
    os.environ["CLOUDQUEST_HOME"] = home
    runs = 10 if args.quick else 30
    ticks = 40 if args.quick else 120
    starts = 4 if args.quick else 9

    print(f"terminal {SIZE[0]}x{SIZE[1]}, headless; Python {sys.version.split()[0]}")
    latency, cost = asyncio.run(enter_to_effect(runs))
    print(
        f"enter to effect (launch / terminate; the fleet view shows it, frame painted): median {ms(statistics.median(latency))}, "
        f"p95 {ms(p95(latency))}; CPU {ms(statistics.median(cost))}; n={len(latency)}"
    )

    from cloudquest.game.chapters import load_all

    for chapter in load_all().chapters:
        busy = chapter.id == "launch"
        try:
            cost, latency, view = asyncio.run(tick_cost(chapter.id, ticks, busy))
        except Exception as exc:  # another engineer's chapter may be mid-change
            print(f"one live tick, chapter {chapter.id}: could not run ({type(exc).__name__}: {exc})")
            continue
        med = statistics.median(cost)
        verdict = "ok" if med < 0.016 else "OVER 16 ms"
        extra = ", a launch every step" if busy else ""
        print(
            f"one live tick, chapter {chapter.number} {chapter.id} ({view}{extra}): CPU median {ms(med)}, p95 {ms(p95(cost))}; "
            f"on screen after {ms(statistics.median(latency))}  [{verdict}]"
        )

    env = dict(os.environ, CLOUDQUEST_HOME=home, PYTHONPATH=str(ROOT))
    bare, game = [], []
    start_time(BARE, env)  # warm the file cache for both
    start_time(GAME, env)
    for _ in range(starts):
        bare.append(start_time(BARE, env))
        game.append(start_time(GAME, env))
    b, g = statistics.median(bare), statistics.median(game)
    print(
        f"start to title drawn: game {ms(g)}, bare Textual app {ms(b)}, ratio {g / b:.2f}x "
        f"(target <= 1.5x; median of {starts} alternating starts)"
    )


if __name__ == "__main__":
    main()
