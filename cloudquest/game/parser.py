"""The console language: one parser for every input.

What a player types, a line of a script and a replayed command all go through
:func:`tokenize` and then :func:`cloudquest.game.registry.parse`. The grammar is::

    verb [sub-verb] [positional ...] [--option value | --option=value] ...   # comment

Quoting follows the shell (``"two words"``); ``#`` starts a comment. A script is lines
split on ``\n`` (or ``\r\n``) only: the other characters Unicode calls line breaks
(U+2028, form feed, ...) stay inside their line, so one odd line cannot smuggle in a
second command.

A number is written in ASCII digits with an optional sign (and, where a fraction makes
sense, one decimal point): ``12``, ``-3``, ``0.5``. Not ``1e5``, ``1_000``, ``inf`` or
other scripts' digits, and at most :data:`MAX_DIGITS` digits, so an absurdly long
number is refused before anything converts it.
"""

from __future__ import annotations

import re
import shlex

from .limits import MAX_SEED


class CommandError(Exception):
    """Bad input. The message is one line: what is wrong (what is valid)."""


MAX_LINE = 2000
MAX_DIGITS = 15  # what a float holds exactly; far beyond any count, size or time in the game

WHOLE_NUMBER = "a whole number in digits 0-9 with an optional sign, like 3 or -2"
DECIMAL_NUMBER = "a number in digits 0-9 with an optional sign and one decimal point, like 12, 0.5 or -3"
_WHOLE = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DIGIT_RUN = re.compile(r"[0-9]+")


def split_lines(text: str, *, pasted: bool = False) -> list[str]:
    """The lines of a script: split on \\n and \\r\\n only. ``pasted`` text came from a
    terminal, which sends the line breaks of a paste as \\r: those split too."""
    lines = re.split(r"\r\n|\r|\n" if pasted else r"\r?\n", text)
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line does not start another
    return lines


def shown(raw: str, limit: int = 24) -> str:
    """A token quoted for a message: escaped, and cut short if long."""
    return repr(raw) if len(raw) <= limit else repr(raw[:limit]) + f"... ({len(raw)} characters)"


def check_digits(raw: str, name: str) -> None:
    """Refuse other scripts' digits and numbers longer than :data:`MAX_DIGITS` digits
    anywhere in a token (sizes like ``64MiB`` and CPU lists like ``0-3,8`` hold numbers too)."""
    if any(c.isdigit() and not "0" <= c <= "9" for c in raw):
        raise CommandError(f"{name}: write digits as 0-9, not {shown(raw)}")
    longest = max((len(m) for m in _DIGIT_RUN.findall(raw)), default=0)
    if longest > MAX_DIGITS:
        raise CommandError(f"{name}: a number of {longest} digits (at most {MAX_DIGITS})")


def parse_number(raw: str, name: str, *, whole: bool) -> int | float:
    """A number typed on the console, strictly (see the module docstring)."""
    if not (_WHOLE if whole else _DECIMAL).fullmatch(raw):
        raise CommandError(f"{name} must be {WHOLE_NUMBER if whole else DECIMAL_NUMBER}, not {shown(raw)}")
    check_digits(raw, name)
    return int(raw) if whole else float(raw)


_SEED = re.compile(r"[0-9]{1,19}")


def parse_seed(text: str) -> int:
    """A seed as typed on the command line: a whole number from 0 to MAX_SEED in digits
    0-9. ValueError saying so."""
    if not _SEED.fullmatch(text) or int(text) > MAX_SEED:
        raise ValueError(f"a seed is a whole number from 0 to {MAX_SEED} in digits 0-9, not {shown(text)}")
    return int(text)


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
