"""The console: an output pane and a command line with history and tab completion.

The console knows nothing about the game: the screen gives it a completer (which asks
the command registry, with the live world's ids) and handles :class:`Console.Command`
messages by sending the line through ``Session.execute``. A pasted multi-line text
goes on as one :class:`Console.Command` per line, so a pasted script runs in order and
nothing is lost. :meth:`Console.submit` enters a whole line by Enter's own road.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, RichLog, Static

from ...game.parser import split_lines

Completer = Callable[[list[str], str], list[str]]
HISTORY_LIMIT = 500


def split_for_completion(text: str) -> tuple[list[str], str]:
    """(the words before the one being typed, the word being typed)."""
    if not text or text[-1].isspace():
        return text.split(), ""
    words = text.split()
    return words[:-1], words[-1]


def common_prefix(words: list[str]) -> str:
    if not words:
        return ""
    first, last = min(words), max(words)
    i = 0
    while i < len(first) and i < len(last) and first[i] == last[i]:
        i += 1
    return first[:i]


class OrderedInput(Input):
    """An Input whose own keys (Enter, ctrl+u, the arrows...) act where they came among
    the keys typed.

    Textual runs a widget's key bindings only after the key has bubbled up to the app,
    so with keys arriving in a burst (a fast typist, a paste in a terminal without
    bracketed paste) the characters typed after Enter would land on the line first. Here
    the key handler, which runs in the order the keys came, runs the binding itself."""

    async def on_key(self, event: events.Key) -> None:
        if self.check_consume_key(event.key, event.character):
            return  # a character for the line: Input types it, in order already
        active = self.screen.active_bindings.get(event.key)
        if active is None or active.node is not self:
            return  # not one of ours: Textual's usual road (screen, app)
        # Handled here: neither Input's own handler nor the bindings up the chain see it.
        event.stop()
        event.prevent_default()
        await self.run_action(active.binding.action)


class CommandLine(OrderedInput):
    """One line of input with history (up/down) and completion (tab)."""

    BINDINGS = [
        Binding("up", "history(-1)", "Previous command", show=False),
        Binding("down", "history(1)", "Next command", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    @dataclass
    class Completions(Message):
        line: "CommandLine"
        candidates: list[str]

        @property
        def control(self) -> "CommandLine":
            return self.line

    @dataclass
    class Entered(Message):
        line: "CommandLine"
        text: str

        @property
        def control(self) -> "CommandLine":
            return self.line

    @dataclass
    class Pasted(Message):
        line: "CommandLine"
        lines: list[str]

        @property
        def control(self) -> "CommandLine":
            return self.line

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.history: list[str] = []
        self._pos = 0
        self._draft = ""
        self.completer: Completer | None = None

    def remember(self, line: str) -> None:
        if line.strip() and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[:-HISTORY_LIMIT]
        self._pos = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._pos == len(self.history):
            self._draft = self.value
        self._pos = max(0, min(len(self.history), self._pos + step))
        self.value = self._draft if self._pos == len(self.history) else self.history[self._pos]
        self.cursor_position = len(self.value)

    def action_complete(self) -> None:
        if not self.value.strip() or self.completer is None:
            # Nothing to complete: tab moves on, as everywhere else.
            self.screen.focus_next()
            return
        before = self.value[: self.cursor_position]
        after = self.value[self.cursor_position :]
        words, partial = split_for_completion(before)
        candidates = self.completer(words, partial)
        if len(candidates) == 1:
            addition = candidates[0][len(partial) :] + " "
        else:
            addition = common_prefix(candidates)[len(partial) :] if candidates else ""
        if addition:
            self.value = before + addition + after
            self.cursor_position = len(before) + len(addition)
        self.post_message(self.Completions(self, candidates if len(candidates) != 1 else []))

    def submit(self, line: str | None = None) -> None:
        """Enter a line, as Enter does with what is on the command line: the command line
        is cleared at once (so the next keys start a new line), the line goes into the
        history and is posted as :class:`Entered`. ``line`` replaces what is typed."""
        if line is None:
            line = self.value
        self.value = ""
        self.remember(line)
        self.post_message(self.Entered(self, line))

    async def action_submit(self) -> None:
        """Enter (Input's own binding, run in key order by :class:`OrderedInput`)."""
        self.submit()

    def on_paste(self, event: events.Paste) -> None:
        lines = split_lines(event.text, pasted=True)  # not str.splitlines: U+2028 is no line break here
        if len(lines) > 1:
            # Runs before Input's own paste handler, which would keep only the first line.
            event.stop()
            event.prevent_default()
            first = self.value[: self.cursor_position] + lines[0] + self.value[self.cursor_position :]
            self.value = ""
            self.post_message(self.Pasted(self, [first, *lines[1:]]))


class Console(Vertical):
    """Output pane above, completion candidates and the command line below."""

    DEFAULT_CSS = """
    Console { height: 10; }
    Console #console-output { height: 1fr; scrollbar-size-vertical: 1; }
    Console #console-hints { height: auto; max-height: 2; color: $text-muted; }
    Console #console-row { height: 1; }
    Console #console-prompt { width: 2; color: $accent; }
    Console CommandLine { border: none; height: 1; padding: 0; width: 1fr; background: $boost; }
    Console CommandLine:focus { border: none; background: $surface-lighten-1; }
    """

    @dataclass
    class Command(Message):
        """The player entered one line."""

        console: "Console"
        line: str

        @property
        def control(self) -> "Console":
            return self.console

    def __init__(self, *, placeholder: str = "", id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        yield RichLog(id="console-output", wrap=True, markup=False, highlight=False, max_lines=2000, auto_scroll=True)
        yield Static("", id="console-hints")
        with Horizontal(id="console-row"):
            yield Static("›", id="console-prompt")
            yield CommandLine(placeholder=self._placeholder, id="console-input")

    @property
    def line(self) -> CommandLine:
        return self.query_one(CommandLine)

    @property
    def output(self) -> RichLog:
        return self.query_one("#console-output", RichLog)

    def set_completer(self, completer: Completer) -> None:
        self.line.completer = completer

    def on_mount(self) -> None:
        # A blinking cursor would make screenshots differ from run to run.
        self.line.cursor_blink = not self.app.is_headless

    # -- writing -----------------------------------------------------------------------
    def _write(self, text: Text) -> None:
        log = self.output
        # Wrap to the pane as it is now (RichLog would otherwise measure against the
        # whole terminal's default width).
        width = log.scrollable_content_region.width
        log.write(text, width=width if width > 0 else None)

    def echo(self, line: str, output: str, ok: bool) -> None:
        head = Text("› ", style="bold")
        head.append(line)
        self._write(head)
        if output:
            style = "" if ok else "bold red"
            body = Text("\n".join(("✘ " if not ok and i == 0 else "  ") + t for i, t in enumerate(output.splitlines())), style=style)
            self._write(body)

    def note(self, message: str, style: str = "italic") -> None:
        self._write(Text(message, style=style))

    def show_candidates(self, candidates: list[str]) -> None:
        hints = self.query_one("#console-hints", Static)
        if not candidates:
            hints.update("")
            return
        shown = "  ".join(candidates[:40]) + (f"  … {len(candidates) - 40} more" if len(candidates) > 40 else "")
        hints.update(Text(shown))

    def submit(self, line: str) -> None:
        """Run a whole line as the player does: it takes Enter's road (history, hints
        cleared, a :class:`Command` for the screen), as if typed and entered."""
        self.line.submit(line)

    def offer(self, line: str) -> None:
        """Put a line on the command line for the player to run (or edit) with Enter."""
        self.line.value = line
        self.line.cursor_position = len(line)
        self.line.focus()

    # -- events ------------------------------------------------------------------------
    @on(CommandLine.Entered)
    def _entered(self, event: CommandLine.Entered) -> None:
        event.stop()
        self.show_candidates([])
        self.post_message(self.Command(self, event.text))

    @on(CommandLine.Pasted)
    def _pasted(self, event: CommandLine.Pasted) -> None:
        event.stop()
        self.show_candidates([])
        for line in event.lines:
            self.line.remember(line)
            self.post_message(self.Command(self, line))

    @on(CommandLine.Completions)
    def _completions(self, event: CommandLine.Completions) -> None:
        event.stop()
        self.show_candidates(event.candidates)
