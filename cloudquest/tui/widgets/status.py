"""The one-line bar on top of the chapter screen and the replay viewer: where you are,
the simulated time, the clock (with a word, not only a glyph), objectives and hints.

The bar is redrawn only when its text changes: a live clock moves the simulation twenty
times a second, and an idle chapter must not send a frame for each (in a browser, every
frame is bytes on the wire and CPU in the game). So a running clock shows whole
simulated seconds, and a paused one the exact millisecond."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def clock_text(now_ms: int, running: bool, speed: int) -> Text:
    """The simulated time and the clock's state in words: a paused clock says how to run it.
    A running clock shows whole seconds (it changes once a simulated second, not on
    every frame); a paused one shows the millisecond it stopped on."""
    text = Text(f"t={now_ms // 1000}s " if running else f"t={now_ms / 1000:.3f}s ", style="bold")
    if running:
        text.append(f"▶ live {speed}x", style="bold green")
    else:
        text.append("‖ paused (F2 runs)", style="bold yellow")
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, *parts: Text | str, optional: int = 0) -> None:
        """One line of parts. When it is wider than the bar, the last ``optional`` parts
        are left out first (as many as needed), then the first part is shortened: what
        the player must always see goes in the middle."""
        texts = [part if isinstance(part, Text) else Text(part) for part in parts]
        width = (self.size.width or 80) - 2
        keep = len(texts)
        while keep > len(texts) - optional and self._joined(texts[:keep]).cell_len > width:
            keep -= 1
        texts = texts[:keep]
        over = self._joined(texts).cell_len - width
        if over > 0 and texts and texts[0].cell_len > over + 2:
            texts[0] = texts[0].copy()
            texts[0].truncate(texts[0].cell_len - over, overflow="ellipsis")
        self._parts = (parts, optional)
        line = self._joined(texts)
        drawn = (line.plain, tuple(line.spans))
        if drawn == getattr(self, "_drawn", None):
            return  # the same line: no repaint, no frame
        self._drawn = drawn
        self.update(line, layout=False)  # one line, always: no layout pass needed

    @staticmethod
    def _joined(texts: list[Text]) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, part in enumerate(texts):
            if i:
                text.append(" │ ", style="dim")
            text.append_text(part)
        return text

    def on_resize(self) -> None:
        parts = getattr(self, "_parts", None)
        if parts is not None:
            self.show(*parts[0], optional=parts[1])
