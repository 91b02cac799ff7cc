"""Shared drawing helpers for views that lay themselves out to the room they are given.

A live view sits in a scrolling pane whose height depends on the terminal (about 8 rows
at 80x24, 14 at 120x40). The compute views choose how much detail to draw from both the
width and the visible height, so the essentials are on screen without scrolling.
:class:`FittedView` knows the visible height and redraws when only the height changed
(a vertical resize that leaves the width alone sends the view no resize of its own).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Span, Text

from .base import LiveView

# Used before the first layout, when the pane has no size yet (a redraw follows at once).
UNKNOWN_ROWS = 24

EIGHTHS = " ▏▎▍▌▋▊▉"


class FittedView(LiveView):
    """A live view that also knows how many rows of its pane are visible."""

    def __init__(self, session, **kwargs) -> None:
        super().__init__(session, **kwargs)
        self._rows_drawn = 0

    def rows_available(self) -> int:
        parent = self.parent
        height = getattr(parent, "scrollable_content_region", None)
        rows = height.height if height is not None else 0
        return rows if rows > 0 else UNKNOWN_ROWS

    def layout_rows(self) -> int:
        """The visible height, remembered as the height this picture was drawn for."""
        self._rows_drawn = self.rows_available()
        return self._rows_drawn

    def rows_changed(self) -> bool:
        return self.is_mounted and self.rows_available() != self._rows_drawn

    def _prepare(self, text: Text, width: int) -> Text:  # type: ignore[override]
        # These views lay their lines out to the width already; cutting is only a safety
        # net, and splitting a styled text is most of the cost of a redraw.
        if all(cell_len(line) <= width for line in text.plain.split("\n")):
            text.no_wrap = True
            text.end = ""
            return text
        return LiveView._prepare(text, width)

    def on_mount(self) -> None:
        # Textual calls the base class's on_mount too (first draw after the first layout).
        self.screen.screen_layout_refresh_signal.subscribe(self, self._after_layout)

    def _after_layout(self, _screen) -> None:
        if self._width and self.rows_changed():
            self.update_view(force=True)


class ClockedView(FittedView):
    """A fitted view drawn from the event log and the clock: redrawn when an event was
    logged, when the clock crossed a multiple of ``REDRAW_MS`` (its curves and rates
    move with time), or when its pane's height changed; otherwise left as it is."""

    REDRAW_MS = 1000

    def __init__(self, session, **kwargs) -> None:
        super().__init__(session, **kwargs)
        self._drawn: tuple[int, int] | None = None

    def _moment(self) -> tuple[int, int]:
        cloud = self.session.cloud
        return len(cloud.log), cloud.now_ms // self.REDRAW_MS

    def reset(self) -> None:
        self._drawn = None

    def changed(self) -> bool:
        return self._moment() != self._drawn or self.rows_changed()

    def mark_drawn(self) -> None:
        """Called by ``draw``: this moment is the one on screen."""
        self._drawn = self._moment()


class Line:
    """A line of styled text built by appending pieces: plain strings and spans, made into
    one Rich ``Text`` at the end (far cheaper than growing a ``Text`` piece by piece,
    which matters at 16x clock speed). Pieces must be one cell per character."""

    __slots__ = ("_parts", "_spans", "width")

    def __init__(self, s: str = "", style: str = "") -> None:
        self._parts: list[str] = []
        self._spans: list[Span] = []
        self.width = 0
        if s:
            self.add(s, style)

    def add(self, s: str, style: str = "") -> "Line":
        if s:
            n = len(s)
            if style:
                self._spans.append(Span(self.width, self.width + n, style))
            self._parts.append(s)
            self.width += n
        return self

    def extend(self, other: "Line") -> "Line":
        at = self.width
        self._spans.extend(Span(sp.start + at, sp.end + at, sp.style) for sp in other._spans)
        self._parts.extend(other._parts)
        self.width += other.width
        return self

    def pad(self, width: int) -> "Line":
        if self.width < width:
            self.add(" " * (width - self.width))
        return self

    @property
    def plain(self) -> str:
        return "".join(self._parts)


def join_lines(lines: list[Line]) -> Text:
    """One ``Text`` of the lines, newline-separated."""
    parts: list[str] = []
    spans: list[Span] = []
    at = 0
    for i, line in enumerate(lines):
        if i:
            parts.append("\n")
            at += 1
        parts.extend(line._parts)
        spans.extend(Span(sp.start + at, sp.end + at, sp.style) for sp in line._spans)
        at += line.width
    return Text("".join(parts), spans=spans)


def fine_bar(text: "Line", share: float, width: int, style: str, frame: bool = True) -> None:
    """A horizontal bar of ``width`` cells filled to ``share`` (0..1) in eighths of a cell.

    Anything above zero shows at least one eighth, so a small figure never looks like none."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    if share > 0 and eighths == 0:
        eighths = 1
    full, part = divmod(eighths, 8)
    if frame:
        text.add("▕", "dim")
    text.add("█" * full + (EIGHTHS[part] if full < width and part else ""), style)
    rest = width - full - (1 if full < width and part else 0)
    text.add(" " * rest)
    if frame:
        text.add("▏", "dim")


def short_labels(ids: list[str]) -> dict[str, str]:
    """Labels for a set of ids without their shared prefix, cut at a '-' so they stay
    readable (``eu-west-1a``, ``eu-west-1b`` -> ``1a``, ``1b``). One id keeps its name."""
    if len(ids) < 2:
        return {i: i for i in ids}
    first, last = min(ids), max(ids)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    cut = first.rfind("-", 0, n) + 1
    out = {i: i[cut:] or i for i in ids}
    return out if len(set(out.values())) == len(ids) else {i: i for i in ids}


class KeyedView(FittedView):
    """A fitted view redrawn when its ``key()`` (what its picture depends on) changes or the
    pane's height does. ``draw`` calls :meth:`remember` first."""

    def __init__(self, session, **kwargs) -> None:
        super().__init__(session, **kwargs)
        self._drawn: tuple = ()

    def key(self) -> tuple:
        return (len(self.session.cloud.log),)

    def remember(self) -> None:
        self._drawn = self.key()

    def changed(self) -> bool:
        return self.key() != self._drawn or self.rows_changed()

    def reset(self) -> None:
        self._drawn = ()
