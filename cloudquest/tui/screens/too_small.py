"""Below 80x24 the game's screens cut their lines; this says so, plainly, until the
window is larger (in a browser, the page's size is the terminal's)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.screen import ModalScreen
from textual.widgets import Static

MIN_COLUMNS = 80
MIN_ROWS = 24


def too_small(width: int, height: int) -> bool:
    return width < MIN_COLUMNS or height < MIN_ROWS


class TooSmallScreen(ModalScreen[None]):
    """Covers every screen while the terminal is too small; keys wait (nothing is lost:
    the game underneath is as it was)."""

    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; background: $background; }
    TooSmallScreen #too-small { width: auto; max-width: 100%; padding: 0 1; text-align: center; }
    """

    def compose(self) -> ComposeResult:
        with Middle():
            with Center():
                yield Static(self._message(), id="too-small")

    def _message(self) -> str:
        width, height = self.app.size
        return (
            f"Make the window larger: CloudQuest needs {MIN_COLUMNS}x{MIN_ROWS}, this one is {width}x{height}.\n"
            "(In a browser: a larger window, or ctrl and minus for a smaller font.)"
        )

    def on_resize(self) -> None:
        self.query_one("#too-small", Static).update(self._message())
