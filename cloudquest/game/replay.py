"""Replays: a seed plus the timed command log, re-run to the same event log.

A replay file holds the chapter id, the seed, the engine version, a fingerprint of the
chapter's world and objectives, every command with the simulated time it was given at,
the end time, and the event-log hash of the original run. Replaying advances the clock to
each command's time, runs it, advances to the end, and compares hashes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import ENGINE_VERSION
from .chapters import Catalogue
from .limits import MAX_REPLAY_BYTES, MAX_REPLAY_COMMANDS, MAX_RUN_MS, MAX_SEED
from .schema import Chapter, World
from .session import RunResult, Session, chapter_fingerprint, free_play_chapter
from .userfiles import UserFileError, first_problem, read_json, write_json_atomic

FORMAT = "cloudquest-replay"
SHA256 = r"^[0-9a-f]{64}$"


class ReplayError(Exception):
    pass


class _TimedCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    t_ms: int = Field(ge=0, le=MAX_RUN_MS)
    line: str


class _ReplayDoc(BaseModel):
    """A replay file as written by :meth:`Session.replay_record`, checked strictly: a seed
    of 1.5 is not 1, and no time lies past what a run can reach (``MAX_RUN_MS``; a replay
    moves the clock without the ``tick`` command's limit, so an unchecked time would
    simulate for ever)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    format: Literal["cloudquest-replay"]
    engine_version: str = Field(max_length=32)
    chapter: str = Field(pattern=r"^[a-z][a-z0-9-]{0,63}$")
    chapter_sha256: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")
    seed: int = Field(ge=0, le=MAX_SEED)
    sandbox: bool = False
    commands: list[_TimedCommand] = Field(max_length=MAX_REPLAY_COMMANDS)
    end_ms: int = Field(ge=0, le=MAX_RUN_MS)
    event_log_sha256: str = Field(pattern=SHA256)
    world: World | None = None
    scenario: str | None = Field(default=None, min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f]*$")
    chapter_file: str | None = Field(default=None, min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f]*$")


@dataclass
class ReplayFile:
    chapter: str
    seed: int
    engine_version: str
    chapter_sha256: str
    commands: list[tuple[int, str]]
    end_ms: int
    event_log_sha256: str
    sandbox: bool = False
    world: World | None = None  # sandbox worlds travel inside the replay, checked on reading
    scenario: str | None = None  # a failure scenario's name (or file): rebuilds its chapter
    chapter_file: str | None = None  # where a chapter that is not installed was read from

    @classmethod
    def from_dict(cls, data: Any, source: str) -> "ReplayFile":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ReplayError(f"{source}: not a CloudQuest replay (no 'format: {FORMAT}')")
        try:
            doc = _ReplayDoc.model_validate(data)
        except ValidationError as exc:
            world = [e for e in exc.errors() if e["loc"][:1] == ("world",)]
            what = "the replay's world is not valid" if world and len(world) == len(exc.errors()) else "bad replay"
            raise ReplayError(f"{source}: {what}: {first_problem(exc)}") from None
        commands = [(c.t_ms, c.line) for c in doc.commands]
        times = [t for t, _ in commands] + [doc.end_ms]
        if times != sorted(times):
            raise ReplayError(f"{source}: command times go backwards; the file was edited")
        return cls(
            chapter=doc.chapter,
            seed=doc.seed,
            engine_version=doc.engine_version,
            chapter_sha256=doc.chapter_sha256,
            commands=commands,
            end_ms=doc.end_ms,
            event_log_sha256=doc.event_log_sha256,
            sandbox=doc.sandbox,
            world=doc.world,
            scenario=doc.scenario,
            chapter_file=doc.chapter_file,
        )


def record(session: Session, path: Path) -> None:
    data = session.replay_record()
    if session.sandbox:
        data["world"] = session.chapter.world.model_dump(mode="json")
    write_json_atomic(path, data)


def read(path: Path) -> ReplayFile:
    try:
        data = read_json(path, MAX_REPLAY_BYTES, "the replay")
    except UserFileError as exc:
        raise ReplayError(str(exc)) from None
    return ReplayFile.from_dict(data, str(path))


@dataclass
class ReplayOutcome:
    result: RunResult
    matches: bool
    problems: list[str]
    session: Session


CommandHook = Callable[[int, str, int, int], None]


def play(
    session: Session,
    commands: Iterable[tuple[int, str]],
    until_ms: int | None = None,
    *,
    stop_at_ms: int | None = None,
    on_command: CommandHook | None = None,
) -> Session:
    """The one road that re-runs a command log: advance the clock to each command's time,
    run it, then advance to ``until_ms``. Replays, the replay viewer's moments and forks,
    the quiz's questions about the player's runs and ``verify`` all come through here.

    A recorded command always ran exactly at its time, so a command whose time the run
    has already passed means the log was edited: :class:`ReplayError`.

    With ``stop_at_ms`` time stops there: a command given later is not run, and a
    ``tick`` that would run past it is cut short (and logged as cut, so a fork made from
    that moment replays to itself). ``on_command(t_ms, line, first_event, end_event)`` is
    told where each command's events sit in the log."""
    log = session.cloud.log
    session.stop_at_ms = stop_at_ms
    try:
        for t_ms, line in commands:
            if stop_at_ms is not None and t_ms > stop_at_ms:
                break
            if t_ms < session.cloud.now_ms:
                raise ReplayError(
                    f"command {line!r} is recorded at t={t_ms / 1000:g}s, but the run was already at "
                    f"t={session.cloud.now_ms / 1000:g}s: the file was edited"
                )
            session.advance_to(t_ms)
            before = len(log)
            session.execute(line)
            if on_command is not None:
                on_command(t_ms, line, before, len(log))
        if until_ms is not None:
            session.advance_to(until_ms if stop_at_ms is None else min(until_ms, stop_at_ms))
    finally:
        session.stop_at_ms = None  # a fork plays on from here
    return session


def chapter_for(replay: ReplayFile, catalogue: Catalogue) -> Chapter | None:
    """The chapter a replay was recorded in: a failure scenario's chapter, the free-play
    chapter around the world a sandbox run carries, or an installed chapter (None when it
    is not installed). A scenario or world that cannot be built is a :class:`ReplayError`."""
    if replay.scenario:
        from .scenarios import ScenarioError, find

        try:
            return find(replay.scenario, catalogue).chapter
        except ScenarioError as exc:
            raise ReplayError(f"the replay is of scenario {replay.scenario!r}: {str(exc).removeprefix('scenario:0: ')}") from None
    if replay.sandbox:  # its world was checked when the file was read
        return free_play_chapter(replay.world if replay.world is not None else World())
    installed = catalogue.get(replay.chapter)
    if installed is None and replay.chapter_file:
        # A chapter of the player's own, played from its file: found there again if that
        # file still holds a chapter with this id.
        from .chapters import ChapterError, load_chapter

        try:
            found = load_chapter(replay.chapter_file)
        except (ChapterError, OSError):
            return None
        return found if found.id == replay.chapter else None
    return installed


def rerun(chapter: Chapter, replay: ReplayFile, *, sandbox: bool = False, upto_ms: int | None = None) -> Session:
    """Re-run a replay's commands into a fresh session (optionally only up to a time)."""
    session = Session(chapter, replay.seed, sandbox=sandbox or replay.sandbox)
    return play(session, replay.commands, replay.end_ms, stop_at_ms=upto_ms)


def verify(replay: ReplayFile, catalogue: Catalogue, chapter: Chapter | None = None) -> ReplayOutcome:
    problems = []
    if chapter is None:
        chapter = chapter_for(replay, catalogue)
        if chapter is None:
            raise ReplayError(f"the replay is of chapter {replay.chapter!r}, which is not installed")
    if replay.engine_version != ENGINE_VERSION:
        problems.append(
            f"recorded with engine version {replay.engine_version}, this is version {ENGINE_VERSION}: "
            "the same commands may not give the same events"
        )
    if replay.chapter_sha256 and replay.chapter_sha256 != chapter_fingerprint(chapter):
        problems.append("the chapter's world or objectives changed since this was recorded")
    session = rerun(chapter, replay)
    result = session.finish()
    if result.event_log_sha256 != replay.event_log_sha256:
        problems.append(
            f"event log differs: recorded {replay.event_log_sha256[:12]}, replayed {result.event_log_sha256[:12]}"
            " (the file was edited, or the engine changed)"
        )
    return ReplayOutcome(result, not problems, problems, session)
