"""The one-line bar on top of the chapter screen and the replay viewer: where you are,
the simulated time, the clock (with a word, not only a glyph), objectives and hints."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


def clock_text(now_ms: int, running: bool, speed: int) -> Text:
    text = Text(f"t={now_ms / 1000:.3f}s ", style="bold")
    if running:
        text.append(f"▶ live {speed}x", style="bold green")
    else:
        text.append("‖ paused", style="bold yellow")
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """

    def show(self, *parts: Text | str) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, part in enumerate(parts):
            if i:
                text.append(" │ ", style="dim")
            text.append_text(part if isinstance(part, Text) else Text(part))
        self.update(text, layout=False)  # one line, always: no layout pass needed
