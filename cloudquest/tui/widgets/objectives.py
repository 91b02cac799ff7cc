"""The live objectives panel: every objective with a glyph AND a word, never colour alone,
and the highlighted one's text and evidence underneath."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from ...game.objectives import GLYPH

# While the clock runs, the highlighted objective's evidence is redrawn at most this often.
LIVE_DETAIL_S = 1.0
STATUS_STYLE = {"passed": "bold green", "failed": "bold red", "pending": "yellow"}


def status_text(status: str) -> Text:
    """``✔ PASS`` / ``✘ FAIL`` / ``… PENDING``: the glyph and the word, in one width."""
    return Text(f"{GLYPH[status]:<9}", style=STATUS_STYLE[status])


class ObjectivesPanel(Vertical):
    """Reads objective states (anything with ``objective``, ``status`` and ``evidence``,
    as ``Grader.states`` or a finished run's results adapted) and shows them."""

    DEFAULT_CSS = """
    ObjectivesPanel { height: auto; }
    ObjectivesPanel > OptionList { height: auto; max-height: 8; border: none; padding: 0; }
    ObjectivesPanel > OptionList:focus { border: none; background-tint: $foreground 5%; }
    ObjectivesPanel > #objective-detail { height: 4; color: $text-muted; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: list[tuple[str, str]] = []  # (status, id) as drawn
        self._states: Sequence = ()
        self._drawn_width = 0
        self._list: OptionList | None = None
        self._detail: Static | None = None
        self._detail_plain = ""
        self._detail_rows: list[tuple[str, str]] = []
        self._detail_at = 0.0
        # Set by the chapter screen while its clock runs: the evidence ("now t=...")
        # then changes on every frame, and is redrawn at most once a second (at once when
        # an objective's status changes, and when the clock stops).
        self.live = False

    def compose(self) -> ComposeResult:
        yield OptionList(id="objective-list")
        yield Static("", id="objective-detail")

    @property
    def option_list(self) -> OptionList:
        if self._list is None:
            self._list = self.query_one(OptionList)
        return self._list

    def summary(self) -> tuple[int, int]:
        return sum(1 for s in self._states if s.status == "passed"), len(self._states)

    def update_states(self, states: Sequence) -> None:
        self._states = states
        rows = [(s.status, s.objective.id) for s in states]
        ol = self.option_list
        if len(rows) != len(self._rows):
            highlighted = ol.highlighted
            ol.clear_options()
            ol.add_options([Option(self._prompt(s, self._width()), id=s.objective.id) for s in states])
            if states:
                ol.highlighted = highlighted if highlighted is not None and highlighted < len(states) else 0
        else:
            for i, (row, s) in enumerate(zip(rows, states)):
                if row != self._rows[i] or self._drawn_width != self._width():
                    ol.replace_option_prompt_at_index(i, self._prompt(s, self._width()))
        self._rows = rows
        self._drawn_width = self._width()
        passed, total = self.summary()
        title = f"objectives {passed}/{total}"
        if self.border_title != title:  # setting it repaints the whole panel
            self.border_title = title
        self._show_detail()

    def _width(self) -> int:
        # the panel's width less the list's padding and a scrollbar's column
        return max(20, (self.size.width or 42) - 3)

    @staticmethod
    def _prompt(state, width: int) -> Text:
        # One line per objective: glyph, word and id always; the text as far as it fits
        # (the whole text and the evidence are in the detail below).
        text = status_text(state.status)
        text.append(" ")
        text.append(state.objective.id, style="bold")
        text.append(f"  {state.objective.text}", style="")
        if text.cell_len > width:
            text.truncate(width, overflow="ellipsis")
        return text

    def on_resize(self) -> None:
        if self._states:
            self.update_states(self._states)

    def _show_detail(self) -> None:
        ol = self.option_list
        detail = self._detail or self.query_one("#objective-detail", Static)
        self._detail = detail
        i = ol.highlighted
        if i is None or i >= len(self._states):
            detail.update("")
            return
        s = self._states[i]
        text = Text()
        text.append(f"{s.objective.text}", style="bold")
        text.append(f"  [{', '.join(s.objective.skills)}]\n", style="italic")
        text.append(s.evidence or "not sampled yet")
        if text.plain == self._detail_plain:
            return
        now = time.monotonic()
        if self.live and self._rows == self._detail_rows and now - self._detail_at < LIVE_DETAIL_S:
            return  # only the evidence's clock moved: it is redrawn within a second
        self._detail_rows, self._detail_at = list(self._rows), now
        # Evidence changes every tick ("now t=..."); the detail has a fixed height, so no
        # layout pass is needed, only a repaint of its four lines.
        detail.update(text, layout=False)
        self._detail_plain = text.plain

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show_detail()
