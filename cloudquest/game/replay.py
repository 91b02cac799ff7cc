"""Replays: a seed plus the timed command log, re-run to the same event log.

A replay file holds the chapter id, the seed, the engine version, a fingerprint of the
chapter's world and objectives, every command with the simulated time it was given at,
the end time, and the event-log hash of the original run. Replaying advances the clock to
each command's time, runs it, advances to the end, and compares hashes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import ENGINE_VERSION
from .chapters import Catalogue
from .schema import Chapter
from .session import RunResult, Session, chapter_fingerprint
from .userfiles import write_json_atomic

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


def rerun(chapter: Chapter, replay: ReplayFile, *, sandbox: bool = False, upto_ms: int | None = None) -> Session:
    """Re-run a replay's commands into a fresh session (optionally only up to a time)."""
    session = Session(chapter, replay.seed, sandbox=sandbox or replay.sandbox)
    session.stop_at_ms = upto_ms  # a tick that runs past the moment stops at it
    for t_ms, line in replay.commands:
        if upto_ms is not None and t_ms > upto_ms:
            break
        session.advance_to(t_ms)
        session.execute(line)
    session.advance_to(replay.end_ms if upto_ms is None else min(upto_ms, replay.end_ms))
    session.stop_at_ms = None  # a fork plays on from here
    return session


def verify(replay: ReplayFile, catalogue: Catalogue, chapter: Chapter | None = None) -> ReplayOutcome:
    problems = []
    if chapter is None:
        chapter = catalogue.get(replay.chapter)
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
