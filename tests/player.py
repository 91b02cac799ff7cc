"""How the app tests enter console lines: whole lines, the player's road.

A line goes through :meth:`Console.submit`, the same road Enter takes (the command
line's history, the console's ``Command`` message, the chapter screen's ``run_line``),
without typing it key by key: ``Pilot.press`` waits for the app to go idle after every
key, which made each line cost a second. Only the tests about the keyboard itself
(typing, history, completion, key order, paste) press keys.
"""

from __future__ import annotations


async def enter(pilot, *lines: str) -> None:
    """Enter each line on the current screen's console, letting the app go idle after
    each one as it does between a player's lines."""
    from cloudquest.tui.widgets import Console

    screen = pilot.app.screen
    console = screen.query_one(Console)
    for line in lines:
        console.submit(line)
        await pilot.pause()
        await until_done(pilot, screen)


async def until_done(pilot, screen, timeout_s: float = 60.0) -> None:
    """Wait while a long command (a long tick, run off the event loop) is running on
    ``screen``, and the lines queued behind it: a player sees its answer only then."""
    import time

    end = time.monotonic() + timeout_s
    while getattr(screen, "busy", None) or getattr(screen, "_queued", None):
        assert time.monotonic() < end, f"still running after {timeout_s:g} s: {screen.busy}"
        await pilot.pause(0.01)
