"""The console: an output pane and a command line with history and tab completion.

The console knows nothing about the game: the screen gives it a completer (which asks
the command registry, with the live world's ids) and handles :class:`Console.Command`
messages by sending the line through ``Session.execute``. A pasted multi-line text
goes on as one :class:`Console.Command` per line, so a pasted script runs in order and
nothing is lost; escape sequences in a paste (colours, cursor moves copied from another
terminal) are dropped, and control characters are never written to the screen raw.
:meth:`Console.submit` enters a whole line by Enter's own road.

The output follows what is new unless the player scrolled back (PgUp); a command's
answer longer than the pane is shown from its first line (PgDn reads on), and
:attr:`Console.last_rows` tells the screen how many rows the last answer needs, so the
screen can give the console room for it.
"""

from __future__ import annotations

import re
import textwrap
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

# ANSI/VT escape sequences (CSI, OSC, and two-character ESC sequences) as a terminal
# or a copied coloured log carries them; what a paste or a line may not bring in.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: titles, links
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
    r"|\x1b[@-Z\\-_]"  # two-character sequences
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_escapes(text: str) -> str:
    """Text without terminal escape sequences and control characters (tabs and line
    breaks stay): what a paste keeps."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def printable(text: str) -> str:
    """Text safe to draw: each control character shown as a visible mark (ESC as ␛,
    others as their Unicode control picture), never sent to the terminal raw."""

    def mark(m: re.Match) -> str:
        c = ord(m.group())
        return chr(0x2400 + c) if c < 0x20 else "␡" if c == 0x7F else "�"

    return _CONTROLS.sub(mark, text.replace("\t", " "))


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
        # Input's own page keys would scroll the one-line input: they scroll the output.
        Binding("pageup", "page(-1)", "Console up", show=False),
        Binding("pagedown", "page(1)", "Console down", show=False),
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
        kwargs.setdefault("select_on_focus", False)  # a key typed elsewhere lands here, not over a selection
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

    def action_page(self, direction: int) -> None:
        console = next((a for a in self.ancestors if isinstance(a, Console)), None)
        if console is not None:
            console.action_page(direction)

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
            # Nothing to complete: tab moves on to the next pane, as everywhere else.
            next_pane = getattr(self.screen, "action_next_pane", None)
            if next_pane is not None:
                next_pane()
            else:
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
        # Runs before Input's own paste handler, which would keep only the first line
        # and every escape sequence in it.
        event.stop()
        event.prevent_default()
        text = _strip_keeping_breaks(event.text.replace("\t", " "))
        lines = split_lines(text, pasted=True)  # not str.splitlines: U+2028 is no line break here
        if len(lines) > 1:
            first = self.value[: self.cursor_position] + lines[0] + self.value[self.cursor_position :]
            self.value = ""
            self.post_message(self.Pasted(self, [first, *lines[1:]]))
        elif lines:
            self.insert_text_at_cursor(lines[0])


def wrap_hanging(line: str, width: int) -> list[str]:
    """One line of output wrapped to ``width`` by design: the rows it wraps onto start
    under its second column (after the first gap of two or more spaces) when that leaves
    room, else four columns in from its indent; a table row stays readable as a row."""
    if width <= 8 or len(line) <= width:
        return [line]
    indent = len(line) - len(line.lstrip(" "))
    gap = re.search(r"\S {2,}(?=\S)", line[indent:])
    if gap and indent + gap.end() <= width // 2:
        hang = indent + gap.end()
    else:
        hang = min(indent + 2, width // 2) if indent else 0  # prose wraps flush
    return textwrap.wrap(
        line, width=width, subsequent_indent=" " * hang, replace_whitespace=False,
        break_on_hyphens=False, drop_whitespace=True,
    ) or [line]


def _rewrapped(text: Text, rows: list[str]) -> Text:
    """``text`` cut into ``rows`` (its plain text re-wrapped), keeping the styles of its
    spans where they fall on the same characters (an echo's bold prompt)."""
    out = Text(style=text.style)
    plain, pos = text.plain, 0
    for i, row in enumerate(rows):
        if i:
            out.append("\n")
        body = row.lstrip(" ") if i else row
        start = plain.find(body, pos) if body else pos
        if start < 0:
            out.append(row)
            continue
        out.append(" " * (len(row) - len(body)))
        out.append_text(text[start : start + len(body)])
        pos = start + len(body)
    return out


def _strip_keeping_breaks(text: str) -> str:
    """Escape sequences and control characters out, line breaks (\\r, \\n) kept."""
    return "\n".join(strip_escapes(part) for part in re.split(r"\r\n|\r|\n", text))


class ConsoleOutput(RichLog):
    """The console's output. Whenever its rows change (the console grew or shrank, the
    "more" line came or went) or it scrolls, the console recounts what is left below."""

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
        self._recount()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._recount()

    def _recount(self) -> None:
        console = self.parent
        if isinstance(console, Console):
            self.call_after_refresh(console._more)


class Console(Vertical):
    """Output pane above, completion candidates and the command line below."""

    DEFAULT_CSS = """
    Console { height: 10; }
    Console #console-output { height: 1fr; scrollbar-size-vertical: 1; }
    Console #console-more { height: 1; display: none; color: $text-muted; text-style: italic; }
    Console.-more #console-more { display: block; }
    Console #console-hints { height: auto; max-height: 2; color: $text-muted; display: none; }
    Console.-hints #console-hints { display: block; }
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
        self.last_rows = 0  # rows the last command's echo and answer take, wrapped
        self._answer_at: int | None = None  # where the last answer starts in the output

    BINDINGS = [
        Binding("pageup", "page(-1)", "Console up", show=False),
        Binding("pagedown", "page(1)", "Console down", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield ConsoleOutput(id="console-output", wrap=True, markup=False, highlight=False, max_lines=2000, auto_scroll=False)
        yield Static("", id="console-more")
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
        # A blinking cursor would make screenshots differ from run to run; in a browser
        # it would send two frames a second to a player who is only reading.
        self.line.cursor_blink = not (self.app.is_headless or self.app.is_web)

    # -- writing -----------------------------------------------------------------------
    @property
    def following(self) -> bool:
        """Whether the output shows its newest line (the player has not scrolled back)."""
        log = self.output
        return log.max_scroll_y == 0 or log.scroll_offset.y >= log.max_scroll_y

    def _write(self, text: Text) -> int:
        """Write, wrapped to the pane as it is now (RichLog would otherwise measure
        against the whole terminal's default width) with hanging indents (see
        :func:`wrap_hanging`); the number of rows it took."""
        log = self.output
        width = log.scrollable_content_region.width
        lines = text.plain.split("\n")
        if width > 0 and any(len(line) > width for line in lines):
            wrapped = [row for line in lines for row in wrap_hanging(line, width)]
            text = _rewrapped(text, wrapped) if text.spans else Text("\n".join(wrapped), style=text.style)
        before = len(log.lines)
        log.write(text, width=width if width > 0 else None, scroll_end=False)
        return len(log.lines) - before

    def echo(self, line: str, output: str, ok: bool) -> None:
        """A command the player entered and its answer. Entering a command is looking at
        the console, so the output follows again, from the answer's first line."""
        log = self.output
        start = len(log.lines)
        head = Text("› ", style="bold")
        head.append(printable(line))
        rows = self._write(head)
        if output:
            style = "" if ok else "bold red"
            body = Text(
                "\n".join(("✘ " if not ok and i == 0 else "  ") + printable(t) for i, t in enumerate(output.splitlines())),
                style=style,
            )
            rows += self._write(body)
        self.last_rows = rows
        self._answer_at = len(log.lines) - rows
        self.call_after_refresh(self.show_answer)

    def show_answer(self) -> None:
        """Scroll so the last answer shows: its end if it fits, its first line if not.
        What the game said right after it (a verdict) counts as part of it."""
        log = self.output
        if self._answer_at is None:
            return
        self.last_rows = self.answer_rows
        height = log.scrollable_content_region.height
        if self.last_rows > height > 0:
            log.scroll_to(y=self._answer_at, animate=False, immediate=True)
        else:
            log.scroll_end(animate=False, immediate=True, x_axis=False)
        self._more()

    @property
    def answer_rows(self) -> int:
        """Rows from the last answer's first line to the end (notes after it count)."""
        if self._answer_at is None or not self.last_rows:
            return 0
        return max(self.last_rows, len(self.output.lines) - self._answer_at)

    def mark_answer(self, start: int) -> None:
        """Treat what was written since line ``start`` as one answer (a greeting)."""
        self.last_rows = len(self.output.lines) - start
        self._answer_at = start
        self.call_after_refresh(self.show_answer)

    def note(self, message: str, style: str = "italic") -> None:
        """A line from the game (not an answer): followed only if the player follows."""
        follow = self.following
        self._write(Text(printable(message), style=style))
        if follow:
            self.output.scroll_end(animate=False, immediate=False, x_axis=False)
        self.call_after_refresh(self._more)

    def clear(self) -> None:
        self.output.clear()
        self.last_rows = 0
        self._answer_at = None
        self._more()

    def _more(self) -> None:
        """Say when there is more below what shows, and how to read it."""
        log = self.output
        rows = log.scrollable_content_region.height
        if rows <= 0:
            return  # not laid out yet: asked again once it is
        below = len(log.lines) - (log.scroll_offset.y + rows)
        # The line that says so takes a row from the output: count what shows with it
        # shown (one more below) or hidden (one fewer), so the count never depends on
        # whether a layout pass ran in between.
        if self.has_class("-more"):
            if below <= 1:
                below = 0
        elif below > 0:
            below += 1
        more = self.query_one("#console-more", Static)
        if below > 0:
            zoomed = self.screen.maximized is self
            more.update(
                f"▼ {below} more line{'s' if below != 1 else ''} below: PgDn reads on"
                + ("" if zoomed else ", F10 zooms the console")
            )
        self.set_class(below > 0, "-more")

    def action_page(self, direction: int) -> None:
        log = self.output
        if direction < 0:
            log.scroll_page_up(animate=False)
        else:
            log.scroll_page_down(animate=False)
        self.call_after_refresh(self._more)

    def on_resize(self) -> None:
        self.call_after_refresh(self._more)

    def show_candidates(self, candidates: list[str]) -> None:
        hints = self.query_one("#console-hints", Static)
        self.set_class(bool(candidates), "-hints")
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
