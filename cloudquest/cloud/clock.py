"""The one simulated clock.

Time is an integer count of milliseconds since the session started; nothing in the
simulated cloud reads the wall clock. Work that must happen later is put on a heap as
``(at_ms, seq, action)``: the increasing ``seq`` orders actions due at the same
millisecond in the order they were scheduled (the same trick SimPy's
``Environment.schedule`` uses), so a run never depends on how Python compares callables.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

Action = Callable[[], None]


@dataclass
class Clock:
    now_ms: int = 0
    _queue: list[tuple[int, int, Action]] = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count)

    def schedule(self, at_ms: int, action: Action) -> None:
        """Run ``action`` when the clock reaches ``at_ms`` (never in the past)."""
        heapq.heappush(self._queue, (max(int(at_ms), self.now_ms), next(self._seq), action))

    def schedule_in(self, delay_ms: int, action: Action) -> None:
        self.schedule(self.now_ms + int(delay_ms), action)

    def run_due(self, until_ms: int) -> None:
        """Run every action due at or before ``until_ms``, in time order, moving the
        clock to each action's time as it runs (actions may schedule more)."""
        while self._queue and self._queue[0][0] <= until_ms:
            at_ms, _, action = heapq.heappop(self._queue)
            self.now_ms = at_ms
            action()
        self.now_ms = max(self.now_ms, until_ms)

    @property
    def next_due_ms(self) -> int | None:
        """When the earliest scheduled action is due (None when nothing is scheduled)."""
        return self._queue[0][0] if self._queue else None

    @property
    def pending(self) -> int:
        return len(self._queue)
