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

    console = pilot.app.screen.query_one(Console)
    for line in lines:
        console.submit(line)
        await pilot.pause()
