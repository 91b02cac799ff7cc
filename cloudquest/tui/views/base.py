"""The base class of every live view, and the fallback view (a metrics table)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Span, Text
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:
    from ...game.session import Session


class LiveView(Widget):
    """A drawing of the session's simulated cloud, redrawn when the game says so.

    Subclasses implement :meth:`draw`, returning a Rich ``Text`` for a given width. The
    screen calls :meth:`update_view` after every command and every live tick;
    :meth:`changed` lets a view skip work when nothing it draws has moved (the default
    redraws every time). :meth:`set_session` swaps the session (after a reset, or while
    scrubbing a replay).
    """

    DEFAULT_CSS = """
    LiveView {
        height: auto;
        width: 1fr;
    }
    """
    # Tell the player which view this is (shown in the view's border title).
    VIEW_TITLE = "view"

    def __init__(self, session: "Session", *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.session = session
        self._text = Text()
        self._width = 0
        self._line_texts: list[Text] = []
        self._keys: list[tuple] = []
        self._strips: dict[tuple, Strip] = {}
        self.repaints = 0  # pictures that differed from the one before (the clock's pace follows it)

    # -- what subclasses write ---------------------------------------------------------
    def draw(self, width: int) -> Text:  # pragma: no cover - abstract
        raise NotImplementedError

    def changed(self) -> bool:
        """Whether the picture may differ from the last one drawn."""
        return True

    def reset(self) -> None:
        """Forget any incremental state (a new session was set)."""

    # -- what the screens call ---------------------------------------------------------
    def set_session(self, session: "Session") -> None:
        self.session = session
        self.reset()
        self.update_view(force=True)

    def update_view(self, force: bool = False) -> None:
        width = self.content_size.width or self._width
        if not width:
            return
        if not force and width == self._width and not self.changed():
            return
        self._width = width
        self._set_text(self._prepare(self._safe_draw(width), width), repaint=True)

    def _safe_draw(self, width: int) -> Text:
        # A bug in a view must not take the player's run down with it: say so in the
        # view and carry on (the simulation, the console and `describe` still work).
        try:
            return self.draw(width)
        except Exception as exc:  # noqa: BLE001 - any view's bug
            self.reset()
            message = (
                f"this view could not draw itself: {type(exc).__name__}: {exc} (please report; "
                "the simulation is fine and `describe` still prints it)"
            )
            return Text("\n".join(textwrap.wrap(message, max(width, 20))), style="bold red")

    def _set_text(self, text: Text, repaint: bool) -> None:
        """Keep the new picture line by line; repaint only the lines that changed (a
        live tick usually moves a few bars and a step mark, not the whole view)."""
        self._text = text
        lines = text.split("\n", allow_blank=True) if text.plain else []
        keys = [(line.plain, tuple(line.spans)) for line in lines]
        old = self._keys
        self._line_texts, self._keys = lines, keys
        if not repaint:
            return
        if len(keys) != len(old):
            self.repaints += 1
            self.refresh(layout=True)
            return
        changed = [y for y, (new, was) in enumerate(zip(keys, old)) if new != was]
        if changed:
            self.repaints += 1
            # one region from the first changed line to the last: one pass of the
            # compositor rather than one per line
            self.refresh(Region(0, changed[0], self.size.width, changed[-1] - changed[0] + 1))

    @staticmethod
    def _prepare(text: Text, width: int) -> Text:
        # Views lay out their own lines to the width; anything longer is cut with an
        # ellipsis, not wrapped, so the line count (and the layout) stays predictable.
        if text.style:
            # a base style on the whole picture becomes its lowest span, so it survives
            # the split into lines (each line is drawn on the widget's own base style)
            text.spans.insert(0, Span(0, len(text), text.style))
            text.style = ""
        if any(cell_len(line) > width for line in text.plain.split("\n")):
            lines = text.split("\n", allow_blank=True)
            for line in lines:
                if line.cell_len > width:
                    line.truncate(width, overflow="ellipsis")
            text = Text("\n").join(lines)
        text.no_wrap = True
        text.end = ""
        return text

    @property
    def text(self) -> Text:
        """The last picture drawn (tests and the benchmark read it)."""
        return self._text

    # -- Textual -----------------------------------------------------------------------
    def on_resize(self) -> None:
        if self.content_size.width and self.content_size.width != self._width:
            self.update_view(force=True)

    def on_mount(self) -> None:
        self.call_after_refresh(self.update_view, True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width != self._width:
            self._width = width
            self._set_text(self._prepare(self._safe_draw(width), width), repaint=False)
        return max(len(self._keys), 1)

    def render_line(self, y: int) -> Strip:
        # The line API: Textual asks for the lines it repaints; each line's strip is
        # cached by its content, so an unchanged line costs a dictionary lookup.
        width = self.size.width
        style = self.rich_style
        if y >= len(self._keys):
            return Strip.blank(width, style)
        key = (self._keys[y], width, style)
        strip = self._strips.get(key)
        if strip is None:
            line = self._line_texts[y].copy()
            line.style = style
            line.no_wrap = True
            strip = Strip(line.render(self.app.console), line.cell_len).crop_extend(0, width, style)
            if len(self._strips) > STRIP_CACHE:
                self._strips.clear()
            self._strips[key] = strip
        return strip


STRIP_CACHE = 4096


class MetricsView(LiveView):
    """The fallback view: every metric of the world, by name, in columns."""

    VIEW_TITLE = "metrics"

    def __init__(self, session: "Session", **kwargs) -> None:
        super().__init__(session, **kwargs)
        self._last: dict | None = None

    def changed(self) -> bool:
        return self.session.cloud.metrics() != self._last

    def draw(self, width: int) -> Text:
        metrics = self.session.cloud.metrics()
        self._last = metrics
        text = Text()
        text.append(f"t={self.session.cloud.now_ms / 1000:g}s   ", style="bold")
        text.append(f"world view {self.session.chapter.world.view!r} has no drawing yet; its metrics:\n", style="dim")
        items = [(k, f"{v:g}" if isinstance(v, float) else str(v)) for k, v in sorted(metrics.items())]
        if not items:
            return text
        cell = max(len(k) + len(v) + 3 for k, v in items)
        cols = max(1, width // cell)
        for i, (k, v) in enumerate(items):
            text.append(k, style="")
            text.append(" " + v.rjust(cell - len(k) - 3) + "  ", style="bold")
            if (i + 1) % cols == 0 and i + 1 < len(items):
                text.append("\n")
        return text
