"""A recorded run as a timeline of moments the replay viewer can show and fork from.

A *moment* is ``(t_ms, k)``: simulated time ``t_ms`` with the first ``k`` recorded
commands run. Several commands given at the same time (a reference solution typed with
the clock paused) are separate moments, so the player can step through them one by one;
``(0, 0)`` is the world as the chapter starts.

Moments are only those at which the original run could have been cut without changing
anything, so the state rebuilt there is exactly the state the run had, and a fork from
there replays to itself: every command's time, every step boundary (a multiple of the
world's ``tick_ms``, the only cut a per-step mechanism sees) and, in worlds without
per-step mechanisms (event-driven only), every event's time.

A moment is rebuilt from scratch by re-running the commands through the one replay road
(:func:`~cloudquest.game.replay.play`, stopping time at the moment so a ``tick`` that ran
past it stops there), or reached from an earlier one by running only the commands in
between.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .replay import ReplayFile, play
from .schema import Chapter
from .session import Session

Moment = tuple[int, int]
MAX_MOMENTS = 100_000


@dataclass
class CommandSpan:
    """Where one recorded command's events sit in the full run's log."""

    t_ms: int
    line: str
    first_event: int
    end_event: int


class RunTimeline:
    def __init__(self, chapter: Chapter, replay: ReplayFile) -> None:
        self.chapter = chapter
        self.replay = replay
        self.commands = list(replay.commands)
        self.full, self.spans = self._play_full()
        self.moments = self._moments()

    # -- building sessions ---------------------------------------------------------------
    def new_session(self) -> Session:
        session = Session(self.chapter, self.replay.seed, sandbox=self.replay.sandbox)
        session.chapter_file = self.replay.chapter_file  # a fork of it is found where it was
        session.scenario = self.replay.scenario
        return session

    def _play_full(self) -> tuple[Session, list[CommandSpan]]:
        """The whole run, the way a replay plays it, noting each command's events."""
        spans: list[CommandSpan] = []
        session = play(
            self.new_session(),
            self.commands,
            self.replay.end_ms,
            on_command=lambda t_ms, line, first, end: spans.append(CommandSpan(t_ms, line, first, end)),
        )
        return session, spans

    def build(self, moment: Moment) -> Session:
        """A fresh session at ``moment``."""
        session = self.new_session()
        self.forward(session, (0, 0), moment)
        return session

    def forward(self, session: Session, frm: Moment, to: Moment) -> None:
        """Move a session that stands at ``frm`` on to the later moment ``to``."""
        t, k = to
        play(session, self.commands[frm[1] : k], t, stop_at_ms=t)

    # -- the moments ---------------------------------------------------------------------
    def _moments(self) -> list[Moment]:
        end = self.replay.end_ms
        tick = max(1, self.full.cloud.tick_ms)
        times = {0, end, *(t for t, _ in self.commands if t <= end)}
        steps = end // tick
        stride = tick * max(1, -(-steps // MAX_MOMENTS))
        times.update(range(0, end + 1, stride))
        if not self.full.steps_only:
            times.update(e.t_ms for e in self.full.cloud.log if e.t_ms <= end)
        cmd_times = [t for t, _ in self.commands]
        out: list[Moment] = []
        for t in sorted(times):
            before = bisect.bisect_left(cmd_times, t)
            at = bisect.bisect_right(cmd_times, t)
            out.extend((t, k) for k in range(before, at + 1))
        return out

    @property
    def end(self) -> int:
        return len(self.moments) - 1

    def index_of(self, moment: Moment) -> int:
        """The first moment at or after ``moment``."""
        return min(self.end, bisect.bisect_left(self.moments, moment))

    def moment_showing(self, event_index: int) -> int:
        """The index of the first moment at which the full run's event ``event_index`` has
        happened."""
        e = self.full.cloud.log[event_index]
        for i, span in enumerate(self.spans):
            if span.first_event <= event_index < span.end_event:
                # a command's own event, or one that happened while it ran (a tick)
                return self.index_of((max(span.t_ms, e.t_ms), i + 1))
        ran = sum(1 for s in self.spans if s.end_event <= event_index)
        return self.index_of((e.t_ms, ran))

    def next_event(self, shown_events: int) -> int | None:
        """The moment showing the first event not yet shown (``shown_events`` events are)."""
        if shown_events >= len(self.full.cloud.log):
            return None
        return self.moment_showing(shown_events)

    def next_event_of(self, kinds: tuple[str, ...], shown_events: int) -> int | None:
        """The moment showing the first event of one of ``kinds`` not yet shown (a
        scenario's next fault: ``("fault.injected",)``)."""
        log = self.full.cloud.log
        for i in range(shown_events, len(log)):
            if log[i].kind in kinds:
                return self.moment_showing(i)
        return None

    def previous_event(self, shown_events: int, current: int) -> int | None:
        """The moment at which the last event shown (or an earlier one) appeared."""
        i = shown_events - 1
        while i >= 0:
            m = self.moment_showing(i)
            if m < current:
                return m
            i -= 1
        return 0 if current > 0 else None
