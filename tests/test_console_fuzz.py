"""Every chapter's console against random and mutated lines (a seeded generator).

What a player relies on: no line, however odd, is an internal error or a traceback; a
rejected line changes nothing (not the world, not the command log); and so the
reference solution with garbage typed between its lines ends in the same event log,
byte for byte, as the solution alone (chapter 9's ``verify`` hashes the command log
into the event log, so a rejected line that got logged would show here).
"""

from __future__ import annotations

import random

import pytest

from cloudquest.cloud.storage import GiB, MiB, parse_size
from cloudquest.game.chapters import chapter_files, load_all, load_chapter
from cloudquest.game.parser import CommandError
from cloudquest.game.registry import parse, table
from cloudquest.game.session import Session

CHAPTERS = load_all().chapters
FILES = chapter_files()
LINES_PER_CHAPTER = 2500
GARBAGE_BETWEEN = 25  # garbage lines before each solution line

# Words that break parsers: odd numbers, quoting, control and Unicode line-break
# characters, escape sequences, other scripts' digits, a line over the length limit.
HOSTILE = [
    "9" * 400, "1e5", "1_000", "\u0661\u0662", "\u00b2", "-0", ".5", "5.", "+3", "--1", "nan", "inf", "-inf",
    "0x10", "1,5", "999999999999999", "9999999999999999", "-99999999999999", "0", "-1", "1.5.5",
    '"', "'", '"unclosed', "#", "--", "--=", "--x=", "-", "\x00", "\u2028", "\x0c", "\x1b[31m", "\r",
    "\u200b", "é", "🙂", "off", "all", "none", "x" * 3000, "a" * 40, "GiB", "64MiB", "1.5TiB", "0-3,8", "3-1", ",",
]
NUMBERS = ["0", "1", "2", "3", "5", "10", "64", "100", "0.5", "1.5", "-2", "30"]


def _vocabulary(chapter, session) -> list[str]:
    words = set(HOSTILE) | set(NUMBERS)
    for line in chapter.solution:
        words.update(line.split())
    for spec in table().values():
        words.update(spec.verb.split())
        words.update(f"--{o.name}" for o in spec.options)
        for p in (*spec.args, *spec.options):
            words.update(p.choices or ())
    for kind in ("instance", "host", "zone", "rack", "disk", "link", "region", "object", "vm", "lb", "group"):
        words.update(session.ids(kind)[:20])
    return sorted(words)


def _mutate(rng: random.Random, line: str, vocab: list[str]) -> str:
    tokens = line.split()
    op = rng.randrange(6)
    if op == 0 and tokens:  # replace a word
        tokens[rng.randrange(len(tokens))] = rng.choice(vocab)
    elif op == 1:  # insert a word
        tokens.insert(rng.randint(0, len(tokens)), rng.choice(vocab))
    elif op == 2 and tokens:  # drop a word
        tokens.pop(rng.randrange(len(tokens)))
    elif op == 3 and line:  # change one character
        i = rng.randrange(len(line))
        return line[:i] + rng.choice("0123456789 -.,=\"'#\\\x00\u2028\u0663xZ") + line[i + 1 :]
    elif op == 4:  # another number in every numeric place
        tokens = [rng.choice(HOSTILE) if t[:1].isdigit() else t for t in tokens]
    else:  # the line twice
        tokens = tokens + tokens
    return " ".join(tokens)


def _random_line(rng: random.Random, chapter, vocab: list[str]) -> str:
    kind = rng.random()
    if kind < 0.45 and chapter.solution:
        return _mutate(rng, rng.choice(chapter.solution), vocab)
    if kind < 0.8:  # a real verb with random arguments
        spec = rng.choice(list(table().values()))
        return " ".join([spec.verb, *(rng.choice(vocab) for _ in range(rng.randint(0, 4)))])
    return " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 6)))


def _cheap(line: str, enabled: set[str]) -> bool:
    """Keep the fuzz fast without making it tamer: no verify (it replays the design five
    times), no long ticks, and no bulk data (objects over 100 GiB, chunks under 64 MiB),
    which makes every later line slower, not odder."""
    try:
        parsed = parse(line, enabled)
    except CommandError:
        return True
    if parsed is None:
        return True
    verb, values = parsed.spec.verb, parsed.values
    try:
        if verb == "put":
            return parse_size(values["size"]) <= 100 * GiB
        if verb == "set chunk":
            return parse_size(values["size"]) >= 64 * MiB
    except (ValueError, OverflowError):
        return True
    return not parsed.spec.slow and not (verb == "tick" and values["seconds"] > 120)


def _rejected_for_sure(line: str, enabled: set[str]) -> bool:
    try:
        parse(line, enabled)
    except CommandError:
        return True
    return False


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.id for c in CHAPTERS])
def test_random_and_mutated_lines_are_never_an_internal_error(chapter):
    rng = random.Random(f"console-fuzz-{chapter.id}")
    session = Session(chapter, 0)
    vocab = _vocabulary(chapter, session)
    tried = 0
    while tried < LINES_PER_CHAPTER:
        line = _random_line(rng, chapter, vocab)
        if not _cheap(line, session.enabled):
            continue
        tried += 1
        before = (session.cloud.log.sha256(), len(session.cloud.log), list(session.command_log))
        out = session.execute(line)
        assert out.error_kind != "internal", f"{line!r}: {out.output}"
        assert "Traceback" not in out.output, line
        if out.error_kind == "input":  # rejected: nothing changed
            after = (session.cloud.log.sha256(), len(session.cloud.log), list(session.command_log))
            assert after == before, f"rejected line {line!r} changed the world or the command log"
            assert "\n" not in out.output, f"{line!r}: the rejection is more than one line: {out.output!r}"


@pytest.mark.xdist_group("reference-runs")  # one worker: the reference runs are shared
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_garbage_between_the_solution_lines_leaves_the_same_event_log(path, reference_session, reference_result):
    """The reference solution with rejected garbage before each line ends in the event log
    of the reference run, byte for byte: what was rejected changed nothing, and a second
    run of the same commands in a fresh session gives the same log (the chapter's
    determinism, proven here rather than by a third run of every solution)."""
    chapter = load_chapter(path)
    clean, expected = reference_session(path), reference_result(path)

    rng = random.Random(f"console-garbage-{chapter.id}")
    noisy = Session(chapter, 0)
    vocab = _vocabulary(chapter, noisy)
    typed = 0
    for line in chapter.solution:
        for _ in range(GARBAGE_BETWEEN):
            junk = _random_line(rng, chapter, vocab)
            if _rejected_for_sure(junk, noisy.enabled):
                assert noisy.execute(junk).error_kind == "input"
                typed += 1
        noisy.execute(line)
    result = noisy.finish()
    assert typed >= len(chapter.solution) * GARBAGE_BETWEEN // 3
    assert result.event_log_sha256 == expected.event_log_sha256
    assert noisy.replay_record()["commands"] == clean.replay_record()["commands"]
    assert result.passed == expected.passed
