"""The console language: one parser for every input.

What a player types, a line of a script and a replayed command all go through
:func:`tokenize` and then :func:`cloudquest.game.registry.parse`. The grammar is::

    verb [sub-verb] [positional ...] [--option value | --option=value] ...   # comment

Quoting follows the shell (``"two words"``); ``#`` starts a comment.
"""

from __future__ import annotations

import shlex


class CommandError(Exception):
    """Bad input. The message is one line: what is wrong (what is valid)."""


MAX_LINE = 2000


def tokenize(line: str) -> list[str]:
    if len(line) > MAX_LINE:
        raise CommandError(f"line too long ({len(line)} characters; at most {MAX_LINE})")
    if "\x00" in line:
        raise CommandError("line contains a NUL character (type plain text)")
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError as exc:
        raise CommandError(f"cannot read the line: {exc} (close the quote)") from None
