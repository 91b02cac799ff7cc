"""The chapter's story: its Markdown drawn as one widget.

Textual's Markdown widget mounts a widget per block (a chapter's story is thirty or
more), and every one of them is styled, laid out and drawn again with each change on
the chapter screen: that was about half the cost of opening a chapter and a quarter of
every command's redraw. Drawn by Rich as one block of text, the story wraps to its
pane: tables fold their cells to fit (chapter 9's timeline, chapter 15's price list fit
an 80-column terminal), and a code block wraps rather than hiding its end.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import Heading, Markdown, TableElement
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.widgets import Static


class _FoldedTable(TableElement):
    """A story table whose cells fold a word too long for their column instead of
    cutting it with an ellipsis (an address, a link name)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for table in super().__rich_console__(console, options):
            if isinstance(table, Table):
                for column in table.columns:
                    column.overflow = "fold"
            yield table


class _Heading(Heading):
    """A heading in the app's colours: the title bold and underlined, sections bold in
    the theme's accent (Rich's own are magenta)."""

    accent: str | None = None

    @classmethod
    def create(cls, markdown: Markdown, token) -> Heading:
        heading = cls(token.tag)
        heading.accent = getattr(markdown, "accent", None)
        return heading

    def on_enter(self, context) -> None:
        self.text = Text()
        if self.tag == "h1":
            style = Style(bold=True, underline=True)
        elif self.tag == "h2":
            style = Style(bold=True, color=self.accent)
        else:
            style = Style(bold=True, italic=self.tag != "h3")
        context.enter_style(style)


class StoryMarkdown(Markdown):
    elements = {**Markdown.elements, "table_open": _FoldedTable, "heading_open": _Heading}

    def __init__(self, markdown: str, accent: str | None = None) -> None:
        self.accent = accent
        super().__init__(markdown)


class Story(Static):
    """The story pane's text (scrolled by its container)."""

    def __init__(self, markdown: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self._markdown = markdown
        self._drawn: tuple[str | None, StoryMarkdown] | None = None

    def render(self) -> StoryMarkdown:
        accent = self.app.theme_variables.get("accent")
        if self._drawn is None or self._drawn[0] != accent:
            self._drawn = (accent, StoryMarkdown(self._markdown, accent))
        return self._drawn[1]
