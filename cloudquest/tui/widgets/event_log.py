"""The event log pane: the simulation's one log, newest at the bottom, filterable.

The filter keeps events whose line contains every word typed (case-insensitive); a word
starting with ``!`` drops events that contain it (``launch !step`` = launch events but
not the step-by-step ones). Only the newest :data:`SHOWN` matches are kept on screen.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, RichLog

from ...cloud.events import Event, EventLog

SHOWN = 400

KIND_STYLE = {
    "fault": "bold red",
    "launch.failed": "bold red",
    "instance.unreachable": "bold red",
    "instance.running": "green",
    "instance.recovered": "green",
    "api.call": "cyan",
    "player": "magenta",
}


def event_line(e: Event) -> Text:
    text = Text(f"{e.t_ms / 1000:8.3f} ", style="dim")
    style = KIND_STYLE.get(e.kind) or KIND_STYLE.get(e.kind.split(".")[0], "")
    text.append(e.kind, style=style or "bold")
    for k, v in e.data:
        text.append(f" {k}=", style="dim")
        text.append(str(v))
    return text


class EventFilter:
    def __init__(self, query: str = "") -> None:
        words = query.lower().split()
        self.want = [w for w in words if not w.startswith("!")]
        self.drop = [w[1:] for w in words if w.startswith("!") and len(w) > 1]
        self.query = query

    def __call__(self, e: Event) -> bool:
        if not self.want and not self.drop:
            return True
        line = f"{e.kind} " + " ".join(f"{k}={v}" for k, v in e.data)
        line = line.lower()
        return all(w in line for w in self.want) and not any(w in line for w in self.drop)


class EventLogPanel(Vertical):
    DEFAULT_CSS = """
    EventLogPanel { height: 1fr; }
    EventLogPanel > #event-filter { border: none; height: 1; padding: 0 1; background: $boost; }
    EventLogPanel > #event-lines { height: 1fr; scrollbar-size-vertical: 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._seen = 0
        self._log: EventLog | None = None
        self._filter = EventFilter()
        self._shown = 0
        self._end = 0
        self._lines: RichLog | None = None
        self._stale = False
        self._drawn_width = 0

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter events: words, !word to drop", id="event-filter")
        yield RichLog(id="event-lines", wrap=True, markup=False, highlight=False, max_lines=SHOWN, auto_scroll=True)

    def on_mount(self) -> None:
        self.query_one("#event-filter", Input).cursor_blink = not (self.app.is_headless or self.app.is_web)

    @property
    def lines(self) -> RichLog:
        if self._lines is None:
            self._lines = self.query_one("#event-lines", RichLog)
        return self._lines

    @property
    def shown(self) -> int:
        """How many events match the filter (tests read it)."""
        return self._shown

    def sync(self, log: EventLog, upto: int | None = None) -> None:
        """Show the events of ``log`` (only its first ``upto``, when a replay is scrubbed)."""
        end = len(log) if upto is None else min(upto, len(log))
        if self._width() is None:
            # Hidden (the other tab is showing): nothing to wrap to; catch up when shown.
            self._log, self._end, self._stale = log, end, True
            return
        if log is not self._log or end < self._seen or self._stale:
            self._log = log
            self._end = end
            self._rebuild()
            return
        if end == self._seen:
            return
        width = self._width()
        for e in log.since(self._seen)[: end - self._seen]:
            if self._filter(e):
                self.lines.write(event_line(e), width=width)
                self._shown += 1
        self._seen = self._end = end

    def _width(self) -> int | None:
        # Wrap to the pane as it is now (RichLog would otherwise measure against the
        # whole terminal's default width).
        width = self.lines.scrollable_content_region.width
        return width if width > 0 else None

    def on_resize(self) -> None:
        width = self._width()
        if width is not None and (width != self._drawn_width or self._stale):
            self._rebuild()

    def _rebuild(self) -> None:
        self._stale = False
        self._drawn_width = self._width() or 0
        lines = self.lines
        lines.clear()
        self._shown = 0
        log = self._log
        if log is None:
            self._seen = 0
            return
        end = self._end
        matches = []
        # Walk back from the newest: only the last SHOWN matches are drawn.
        for i in range(end - 1, -1, -1):
            e = log[i]
            if self._filter(e):
                matches.append(e)
                if len(matches) >= SHOWN:
                    break
        width = self._width()
        for e in reversed(matches):
            lines.write(event_line(e), width=width)
        self._shown = len(matches) if len(matches) < SHOWN else sum(1 for i in range(end) if self._filter(log[i]))
        self._seen = end
        # the newest event in view once the pane has laid its lines out
        self.call_after_refresh(lines.scroll_end, animate=False)

    @on(Input.Changed, "#event-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = EventFilter(event.value)
        self._rebuild()

    @on(Input.Submitted, "#event-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        event.stop()
