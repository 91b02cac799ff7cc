"""The chapter's story: Markdown whose code blocks say no language are plain text."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownFence


class StoryFence(MarkdownFence):
    """A code block of the story (a diagram, a command), shown as written when it names
    no language. Textual would otherwise guess one with Pygments, which imports every
    lexer it has and tries each (about a third of the CPU of opening chapter 0) and
    colours a diagram as some programming language."""

    @classmethod
    def highlight(cls, code: str, language: str, ansi: bool = False, dark: bool = False) -> Content:
        return super().highlight(code, language or "text", ansi, dark)


class Story(Markdown):
    BLOCKS = {**Markdown.BLOCKS, "fence": StoryFence, "code_block": StoryFence}
