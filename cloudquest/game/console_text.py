"""Console answers that read well in an 80-column terminal.

The console is 80 columns less its rule and scrollbar, and an answer is indented by
two: 76 columns for a line. Tables are laid out to fit where they can; a line that
still runs longer (a verdict with its reasons, a list of names, a policy's statement)
is wrapped on purpose, with a hanging indent, so its continuation lines sit under its
text and never under the column that names it.
"""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Callable
from typing import Any

CONSOLE_COLUMNS = 76

# A row that starts with a name column: "  ✔ read-memory        stopped by ...": the
# continuation goes under the text after the run of spaces.
_NAMED_ROW = re.compile(r"^(\s*(?:[✔✘…]\s+)?\S+(?: \S+)?\s{2,})\S")
# A "label: text" line: the continuation goes under the text after the colon.
_LABELLED = re.compile(r"^(\s*[\w .()/-]{1,28}: )\S")


def _hang(line: str, indent: int, width: int) -> int:
    # A table row: under its last column, if that column starts early enough to hold
    # a few words.
    starts = [m.end() for m in re.finditer(r"\S\s{2,}(?=\S)", line)]
    if len(starts) >= 2 and starts[-1] <= width - 12:
        return starts[-1]
    for pattern in (_NAMED_ROW, _LABELLED):
        m = pattern.match(line)
        if m and len(m.group(1)) <= width // 2:
            return len(m.group(1))
    return indent + 4


def fit(text: str, width: int = CONSOLE_COLUMNS) -> str:
    """Wrap every line longer than ``width`` with a hanging indent; shorter lines (a
    table's rows) are left as they are."""
    out: list[str] = []
    for line in text.splitlines():
        if len(line) <= width:
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip(" "))
        hang = _hang(line, indent, width)
        wrapper = textwrap.TextWrapper(
            width=width,
            initial_indent=line[:indent],
            subsequent_indent=" " * hang,
            break_on_hyphens=False,
            replace_whitespace=False,
            drop_whitespace=True,
        )
        head = line[indent:]
        # The name column's spaces are kept as they are: wrap only what follows it.
        if hang > indent + 4 and len(line[:hang]) == hang and line[:hang].strip():
            first = line[:hang]
            wrapper.initial_indent = first
            head = line[hang:]
        out.extend(wrapper.wrap(head))
    return "\n".join(out)


def fitted(handler: Callable[..., str | None]) -> Callable[..., str | None]:
    """A command handler whose answer is :func:`fit` to the console."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> str | None:
        text = handler(*args, **kwargs)
        return fit(text) if text else text

    return wrapped
