"""The player's recorded runs: every run of a chapter is kept as a replay file.

A run is saved when it ends (finished, reset, left, or the game quits), under
``replays_dir()`` as ``<chapter>-<YYYYmmdd-HHMMSS>-<n>.json``; only the newest
:data:`KEEP_PER_CHAPTER` runs of each chapter are kept. Files a player drops into the
folder by hand are listed too, but never pruned. No Textual here: the screens and the
quiz both read this.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from .locations import replays_dir
from .replay import ReplayError, ReplayFile, read, record
from .session import Session

KEEP_PER_CHAPTER = 5
# The wall clock that names saved runs (tests pin it for repeatable screenshots).
CLOCK = time.time
_STAMP = r"\d{8}-\d{6}-\d+"


@dataclass
class SavedRun:
    path: Path
    chapter: str
    seed: int
    commands: int
    end_ms: int
    saved_at: float  # the file's modification time
    sandbox: bool = False
    problem: str = ""  # set when the file cannot be read as a replay

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """When it was saved, in the player's local time."""
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.saved_at))


def _is_auto_name(path: Path, chapter: str) -> bool:
    return re.fullmatch(rf"{re.escape(chapter)}-{_STAMP}\.json", path.name) is not None


def new_run_path(chapter: str, directory: Path | None = None, now: float | None = None) -> Path:
    d = directory or replays_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else CLOCK()))
    n = 1
    while True:
        path = d / f"{chapter}-{stamp}-{n}.json"
        if not path.exists():
            return path
        n += 1


def worth_saving(session: Session) -> bool:
    """A run with no command and no time passed holds nothing to replay."""
    return bool(session.command_log) or session.cloud.now_ms > 0


def save_run(session: Session, directory: Path | None = None) -> Path | None:
    """Record the run as a replay and prune the chapter's old runs. Returns the file,
    or None when there was nothing to save. Raises OSError if the folder is not writable."""
    if not worth_saving(session):
        return None
    d = directory or replays_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = new_run_path(session.chapter.id, d)
    record(session, path)
    prune(session.chapter.id, d)
    return path


def prune(chapter: str, directory: Path | None = None, keep: int = KEEP_PER_CHAPTER) -> list[Path]:
    """Delete all but the newest ``keep`` automatic recordings of one chapter."""
    d = directory or replays_dir()
    if not d.is_dir():
        return []
    mine = sorted((p for p in d.glob("*.json") if _is_auto_name(p, chapter)), key=_order_key)
    doomed = mine[:-keep] if keep else mine
    for p in doomed:
        try:
            p.unlink()
        except OSError:
            pass
    return doomed


def _order_key(path: Path) -> tuple:
    # <chapter>-YYYYmmdd-HHMMSS-n: the stamp and counter order runs; mtime breaks ties.
    m = re.search(r"-(\d{8})-(\d{6})-(\d+)\.json$", path.name)
    if m:
        return (m.group(1), m.group(2), int(m.group(3)), path.name)
    return ("", "", 0, path.name)


def describe_file(path: Path) -> SavedRun:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    try:
        rep: ReplayFile = read(path)
    except ReplayError as exc:
        return SavedRun(path, "?", 0, 0, 0, mtime, problem=str(exc).split(": ", 1)[-1])
    return SavedRun(path, rep.chapter, rep.seed, len(rep.commands), rep.end_ms, mtime, rep.sandbox)


def list_runs(directory: Path | None = None) -> list[SavedRun]:
    """Every replay file in the folder, newest first."""
    d = directory or replays_dir()
    if not d.is_dir():
        return []
    runs = [describe_file(p) for p in d.glob("*.json")]
    runs.sort(key=lambda r: (r.saved_at, _order_key(r.path)), reverse=True)
    return runs
