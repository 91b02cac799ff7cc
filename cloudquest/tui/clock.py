"""The live clock: wall time in, simulated milliseconds out, at 1x, 4x or 16x.

The chapter screen asks :meth:`LiveClock.due` on every frame how far to move the
simulation (through ``Session.advance``, the one way time moves). Where time may stop
is the game's rule (``Session.stoppable``: on step boundaries in worlds with per-step
mechanisms, anywhere otherwise), so a live run and its replay stay identical. A frame
never owes more than :data:`MAX_FRAME_S` of wall time: after a stall (a slow machine, a
suspended terminal) the simulation does not leap ahead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..game.session import Session

SPEEDS = (1, 4, 16)
FRAME_S = 1 / 20
MAX_FRAME_S = 0.25
# A live chapter where nothing on screen has moved for IDLE_AFTER_FRAMES frames is
# moved on less often, every IDLE_FRAME_S (no more than a frame may owe): the simulation
# keeps its pace, the machine rests. Anything that moves, or any key, brings back FRAME_S.
IDLE_FRAME_S = 0.2  # under MAX_FRAME_S, so a late frame loses no simulated time
IDLE_AFTER_FRAMES = 20


class LiveClock:
    def __init__(self, running: bool = True, speed: int = 1) -> None:
        self.running = running
        self.speed = speed if speed in SPEEDS else SPEEDS[0]
        self._owed_ms = 0.0

    def toggle(self) -> bool:
        self.running = not self.running
        self._owed_ms = 0.0
        return self.running

    def next_speed(self) -> int:
        i = SPEEDS.index(self.speed)
        self.speed = SPEEDS[(i + 1) % len(SPEEDS)]
        return self.speed

    def due(self, session: "Session", wall_s: float) -> int:
        """How many simulated ms to advance now, ``wall_s`` seconds after the last frame."""
        if not self.running:
            return 0
        self._owed_ms += min(max(wall_s, 0.0), MAX_FRAME_S) * 1000 * self.speed
        owed = int(self._owed_ms)
        if owed <= 0:
            return 0
        ms = session.stoppable(owed)
        self._owed_ms -= ms
        return ms

    @staticmethod
    def step_ms(session: "Session") -> int:
        """One single step: to the next step boundary."""
        return session.step_ms()
