"""Replays: a seed plus the timed command log, re-run to the same event log.

A replay file holds the chapter id, the seed, the engine version, a fingerprint of the
chapter's world and objectives, every command with the simulated time it was given at,
the end time, and the event-log hash of the original run. Replaying advances the clock to
each command's time, runs it, advances to the end, and compares hashes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .. import ENGINE_VERSION
from .chapters import Catalogue
from .schema import Chapter, World
from .session import RunResult, Session, chapter_fingerprint, free_play_chapter
from .storage_io import write_json_atomic

FORMAT = "cloudquest-replay"


class ReplayError(Exception):
    pass


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
    world: dict[str, Any] | None = None  # sandbox worlds travel inside the replay
    scenario: str | None = None  # a failure scenario's name (or file): rebuilds its chapter

    @classmethod
    def from_dict(cls, data: Any, source: str) -> "ReplayFile":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ReplayError(f"{source}: not a CloudQuest replay (no 'format: {FORMAT}')")
        try:
            commands = [(int(c["t_ms"]), str(c["line"])) for c in data["commands"]]
            times = [t for t, _ in commands]
            if times != sorted(times) or any(t < 0 for t in times):
                raise ReplayError(f"{source}: command times go backwards; the file was edited")
            return cls(
                chapter=str(data["chapter"]),
                seed=int(data["seed"]),
                engine_version=str(data["engine_version"]),
                chapter_sha256=str(data.get("chapter_sha256", "")),
                commands=commands,
                end_ms=int(data["end_ms"]),
                event_log_sha256=str(data["event_log_sha256"]),
                sandbox=bool(data.get("sandbox", False)),
                world=data.get("world"),
                scenario=data.get("scenario"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayError(f"{source}: replay is missing or has a bad field ({exc})") from None


def record(session: Session, path: Path) -> None:
    data = session.replay_record()
    if session.sandbox:
        data["world"] = session.chapter.world.model_dump(mode="json")
    write_json_atomic(path, data)


def read(path: Path) -> ReplayFile:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReplayError(f"{path}: not valid JSON ({exc})") from None
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
    if replay.sandbox:
        try:
            world = World.model_validate(replay.world or {})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "world"
            raise ReplayError(f"the sandbox world in the replay is not valid: {where}: {first['msg']}") from None
        return free_play_chapter(world)
    return catalogue.get(replay.chapter)


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
