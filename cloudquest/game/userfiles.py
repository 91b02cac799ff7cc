"""The player's and the author's files: read with bounds, written atomically, never lost.

Reading. A user file (a save, an export, a replay, a chapter) is read only if it is a
regular file no bigger than its limit: a save that is a link to ``/dev/zero`` or a FIFO
is refused at once instead of hanging, and a 50 MB chapter is refused before it is
parsed. JSON is checked for nesting depth before it is parsed (with the line where the
depth passed the limit) and for numbers too long to be meant. Every problem is one
:class:`UserFileError`, printed as ``FILE:LINE: what is wrong``.

Writing. A file is written to a temporary file in the same folder, flushed and fsync'd,
then renamed over the old one (``os.replace`` is atomic on POSIX and Windows), and the
folder is fsync'd so the rename itself survives a crash: a reader sees the old file or
the new one, never half of one. A file that cannot be read back is moved aside to
``NAME.corrupt-N`` (or another label) rather than overwritten.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .limits import MAX_FILE_NUMBER_CHARS, MAX_NESTING, mib


class UserFileError(Exception):
    """A file that cannot be used: ``FILE:LINE: message`` (or ``FILE: message``)."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


# -- reading ------------------------------------------------------------------------------
def read_bytes(path: str | Path, limit: int, what: str = "the file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or :class:`UserFileError`.

    Opened without blocking, so a FIFO or a device is refused rather than waited on."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UserFileError(path, f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a pipe" if stat.S_ISFIFO(mode) else "a device or socket"
            raise UserFileError(path, f"{what} is {kind}, not a regular file")
        size = os.fstat(fd).st_size
        if size > limit:
            raise UserFileError(path, f"{what} is {mib(size)}; the limit is {mib(limit)}")
        chunks, got = [], 0
        while got <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:  # it grew while we read it
            raise UserFileError(path, f"{what} is over the limit of {mib(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        raise UserFileError(path, f"cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def decode_utf8(data: bytes, source: str | Path) -> str:
    """Text from UTF-8 bytes, or :class:`UserFileError` naming the line of the bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UserFileError(source, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line) from None


def read_text(path: str | Path, limit: int, what: str = "the file") -> str:
    return decode_utf8(read_bytes(path, limit, what), path)


# One pass over the tokens that open or close a level; strings are skipped whole so a
# bracket inside one does not count.
_NESTING_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def check_json_nesting(text: str, source: str | Path, limit: int = MAX_NESTING) -> None:
    depth = 0
    for m in _NESTING_TOKENS.finditer(text):
        c = text[m.start()]
        if c in "[{":
            depth += 1
            if depth > limit:
                line = text.count("\n", 0, m.start()) + 1
                raise UserFileError(source, f"nested more than {limit} levels deep", line)
        elif c in "]}":
            depth -= 1


class _BadNumber(ValueError):
    def __init__(self, text: str, message: str) -> None:
        super().__init__(message)
        self.text = text
        self.message = message


def _number(convert: Any) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_FILE_NUMBER_CHARS:
            raise _BadNumber(text, f"a number of {len(text)} characters (at most {MAX_FILE_NUMBER_CHARS})")
        value = convert(text)
        if value in (float("inf"), float("-inf")):
            raise _BadNumber(text, f"the number {text} is too large")
        return value

    return parse


def _constant(text: str) -> Any:
    raise _BadNumber(text, f"{text} is not a number JSON allows")


def loads_json(text: str, source: str | Path) -> Any:
    """Parse JSON text from a user file: bounded nesting, no absurd numbers, no NaN."""
    check_json_nesting(text, source)
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float), parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise UserFileError(source, f"not valid JSON: {exc.msg}", exc.lineno) from None
    except _BadNumber as exc:
        at = text.find(exc.text)
        raise UserFileError(source, exc.message, text.count("\n", 0, at) + 1 if at >= 0 else None) from None


def read_json(path: str | Path, limit: int, what: str = "the file") -> Any:
    return loads_json(read_text(path, limit, what), path)


def first_problem(exc: ValidationError) -> str:
    """A pydantic error as one line: where, what, and how many more there are."""
    errors = exc.errors()
    err = errors[0]
    # a key from the file may hold anything (a NUL, an escape sequence): shown escaped
    where = ".".join(str(p) if str(p).isprintable() else repr(p) for p in err["loc"]) or "the top level"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    more = len(errors) - 1
    more_text = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{where}: {msg}{more_text}"


# -- writing ------------------------------------------------------------------------------
def write_atomic(path: Path, text: str, *, make_folder: bool = False) -> None:
    """Replace ``path`` with ``text`` in one step. The folder must exist unless
    ``make_folder`` (the game's own data folder is made on first save; a folder the
    player named is not guessed into existence)."""
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_json_atomic(path: Path, data: Any, *, make_folder: bool = False) -> None:
    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", make_folder=make_folder)


def leftover_temps(path: Path) -> list[Path]:
    """Temporary files of :func:`write_atomic` for ``path`` that a killed writer left."""
    return list(path.parent.glob(f".{path.name}.*.tmp"))


def set_aside(path: Path, label: str = "corrupt") -> Path:
    """Move a file that must not be overwritten to the first free ``NAME.LABEL-N`` beside
    it and return that path (OSError if it cannot be moved)."""
    n = 1
    while True:
        target = path.with_name(f"{path.name}.{label}-{n}")
        if not target.exists():
            os.replace(path, target)
            return target
        n += 1
