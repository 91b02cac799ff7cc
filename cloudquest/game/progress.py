"""The player's progress: chapters completed, best results, skills earned, quiz scores.

Saved as JSON in the user data folder (see :mod:`locations`). Every write is a
read-modify-write of the save under a file lock (``progress.json.lock``, taken with the
``filelock`` package: ``fcntl.flock`` on POSIX, ``LockFileEx`` on Windows; either is
let go by the operating system when its process dies, so a killed game never leaves the
save locked), so two games open at once cannot lose each other's results:

- :func:`record` counts one finished run exactly (the save as it is now, plus the run);
- :func:`save` merges a whole :class:`Progress` held in memory (the terminal game's)
  into the save: of each chapter and of the quiz the better result is kept, completions
  and skills are never taken away;
- ``progress reset`` and ``progress import`` change the save as the player confirmed,
  through :func:`update` too.

A save that cannot be read is moved aside (``progress.json.corrupt-N``) and the game
starts a fresh one; a save written by a newer CloudQuest is moved aside as
``progress.json.newer-N``. Neither is ever overwritten: if it cannot be moved, nothing is
written. An export is a plain copy of the save; an import is checked as strictly as a
chapter file (every range, every size, known chapters only: progress in chapters this
game does not have is kept aside under ``unknown``, earning nothing) before it replaces
anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from filelock import FileLock, Timeout
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from .limits import MAX_ATTEMPTS, MAX_CHAPTERS_SAVED, MAX_RUN_S, MAX_SAVE_BYTES, MAX_SEED
from .locations import progress_file
from .schema import SKILLS, Skill
from .userfiles import UserFileError, first_problem, leftover_temps, read_json, set_aside, write_json_atomic

if TYPE_CHECKING:
    from .schema import Chapter
    from .session import RunResult

FORMAT = 1
LOCK_TIMEOUT_S = 10.0
# A chapter is mastered when passed on this many different seeds: one passing run can be
# luck with the dice (boot times, health-check phases, data placement); three cannot.
MASTERY_SEEDS = 3
MAX_SEEDS_KEPT = 20
MAX_OBJECTIVES = 100  # per chapter (a shipped chapter has at most 5)
MAX_HINTS = 1000

ChapterId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,63}$")]
Percent = Annotated[int, Field(ge=0, le=100)]


class _Record(BaseModel):
    # Strict: a save or an import is data this game wrote; "5" is not 5 and 1.5 is not 1.
    model_config = ConfigDict(extra="forbid", strict=True)


class ChapterProgress(_Record):
    completed: bool = False
    attempts: int = Field(default=0, ge=0, le=MAX_ATTEMPTS)
    best_passed: int = Field(default=0, ge=0, le=MAX_OBJECTIVES)
    objectives: int = Field(default=0, ge=0, le=MAX_OBJECTIVES)
    best_hints: int | None = Field(default=None, ge=0, le=MAX_HINTS)
    best_time_s: float | None = Field(default=None, ge=0, le=MAX_RUN_S)
    skills: list[Skill] = Field(default_factory=list, max_length=len(SKILLS))
    seeds_passed: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(
        default_factory=list, max_length=MAX_SEEDS_KEPT, description="the seeds of runs that passed every objective"
    )

    @property
    def mastered(self) -> bool:
        """Passed on :data:`MASTERY_SEEDS` different seeds."""
        return self.completed and len(set(self.seeds_passed)) >= MASTERY_SEEDS

    def _rank(self) -> tuple:
        # what record_run calls better: more objectives passed, then fewer hints
        return (self.best_passed, self.best_hints is not None, -(self.best_hints or 0))

    def merged(self, other: "ChapterProgress") -> "ChapterProgress":
        best = max(self, other, key=ChapterProgress._rank)
        return ChapterProgress(
            completed=self.completed or other.completed,
            attempts=max(self.attempts, other.attempts),
            best_passed=best.best_passed,
            objectives=best.objectives,
            best_hints=best.best_hints,
            best_time_s=best.best_time_s,
            skills=sorted(set(self.skills) | set(other.skills)),
            seeds_passed=sorted(set(self.seeds_passed) | set(other.seeds_passed))[:MAX_SEEDS_KEPT],
        )


class QuizProgress(_Record):
    attempts: int = Field(default=0, ge=0, le=MAX_ATTEMPTS)
    best_pct: Percent = 0
    passed: bool = False
    per_skill_pct: dict[Skill, Percent] = Field(default_factory=dict)
    right: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=1000, description="the questions answered right in the best attempt"
    )

    def merged(self, other: "QuizProgress") -> "QuizProgress":
        best = max(self, other, key=lambda q: q.best_pct)
        return QuizProgress(
            attempts=max(self.attempts, other.attempts),
            best_pct=best.best_pct,
            passed=self.passed or other.passed,
            per_skill_pct=dict(best.per_skill_pct),
            right=list(best.right),
        )


ChapterTable = Annotated[dict[ChapterId, ChapterProgress], Field(max_length=MAX_CHAPTERS_SAVED)]


class Progress(_Record):
    format: Literal[1] = FORMAT
    chapters: ChapterTable = Field(default_factory=dict)
    unknown: ChapterTable = Field(
        default_factory=dict, description="imported progress in chapters this game does not have (earns nothing)"
    )
    quiz: QuizProgress = Field(default_factory=QuizProgress)

    def skills_earned(self) -> list[str]:
        earned = {s for c in self.chapters.values() if c.completed for s in c.skills}
        return [s for s in SKILLS if s in earned]

    def record_result(self, chapter: "Chapter", result: "RunResult") -> ChapterProgress:
        """Count one finished run of a chapter."""
        return self.record_run(
            chapter.id,
            sum(o.passed for o in result.objectives),
            len(result.objectives),
            result.hints_used,
            result.end_ms / 1000,
            list(chapter.skills),
            seed=result.seed,
        )

    def record_run(
        self, chapter_id: str, passed: int, total: int, hints: int, time_s: float, skills: list[str], *, seed: int | None = None
    ) -> ChapterProgress:
        cp = self.chapters.setdefault(chapter_id, ChapterProgress())
        cp.attempts += 1
        cp.objectives = total
        done = passed == total
        better = passed > cp.best_passed or (
            passed == cp.best_passed and (cp.best_hints is None or hints < cp.best_hints)
        )
        if better or cp.best_hints is None:
            cp.best_passed = max(cp.best_passed, passed)
            cp.best_hints = hints
            cp.best_time_s = time_s
        if done:
            cp.completed = True
            cp.skills = sorted(set(cp.skills) | set(skills))
            if seed is not None and seed not in cp.seeds_passed and len(cp.seeds_passed) < MAX_SEEDS_KEPT:
                cp.seeds_passed = sorted([*cp.seeds_passed, seed])
        return cp

    def merged(self, other: "Progress") -> "Progress":
        """Everything earned in either: the better result of each chapter and the quiz."""

        def union(a: dict[str, ChapterProgress], b: dict[str, ChapterProgress]) -> dict[str, ChapterProgress]:
            out = dict(a)
            for key, cp in b.items():
                out[key] = out[key].merged(cp) if key in out else cp
            return out

        return Progress(
            chapters=union(self.chapters, other.chapters),
            unknown=union(self.unknown, other.unknown),
            quiz=self.quiz.merged(other.quiz),
        )


@dataclass
class LoadedProgress:
    progress: Progress
    message: str | None = None  # set when a save was moved aside, or could not be
    path: Path = field(default_factory=progress_file)


class _Unreadable(Exception):
    def __init__(self, reason: str, label: str = "corrupt") -> None:
        super().__init__(reason)
        self.reason = reason
        self.label = label


def _read(path: Path) -> Progress:
    """The save at ``path`` (a fresh one if there is none), or :class:`_Unreadable`."""
    if not os.path.lexists(path):
        return Progress()
    try:
        data = read_json(path, MAX_SAVE_BYTES, "the save")
    except UserFileError as exc:
        raise _Unreadable(exc.message) from None
    found = data.get("format") if isinstance(data, dict) else None
    if isinstance(found, int) and not isinstance(found, bool) and found > FORMAT:
        raise _Unreadable(f"it was written by a newer CloudQuest: format {found}, this one reads {FORMAT}", "newer")
    try:
        return Progress.model_validate(data)
    except ValidationError as exc:
        raise _Unreadable(first_problem(exc)) from None


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except Timeout:
        raise TimeoutError(f"another CloudQuest has held the save for {LOCK_TIMEOUT_S:g} s") from None
    try:
        yield
    finally:
        lock.release()


def _read_or_set_aside(path: Path) -> LoadedProgress:
    """Read the save; move an unreadable one aside (OSError if it cannot be). Lock held."""
    try:
        return LoadedProgress(_read(path), None, path)
    except _Unreadable as bad:
        moved = set_aside(path, bad.label)
        return LoadedProgress(
            Progress(),
            f"your saved progress could not be read ({bad.reason}); it was kept as {moved} and a fresh save was started",
            path,
        )


def load(path: Path | None = None) -> LoadedProgress:
    """The save, for reading. An unreadable one is moved aside (under the lock, once
    another game is done with it); one that cannot be moved is left as it is."""
    path = path or progress_file()
    try:
        return LoadedProgress(_read(path), None, path)
    except _Unreadable as bad:
        first = bad
    try:
        with _locked(path):
            return _read_or_set_aside(path)
    except OSError as exc:
        return LoadedProgress(
            Progress(),
            f"your saved progress could not be read ({first.reason}) nor moved aside ({exc.strerror or exc}); "
            "it is left as it is and nothing will be saved over it",
            path,
        )


class SaveUnreadable(Exception):
    """A save that cannot be read (the reason, in one line)."""


def peek(path: Path | None = None) -> Progress:
    """The save as it is, for someone else's eyes (the teacher's view): read without the
    lock and without moving an unreadable save aside (SaveUnreadable)."""
    try:
        return _read(path or progress_file())
    except _Unreadable as bad:
        raise SaveUnreadable(bad.reason) from None


def update(change: Callable[[Progress], Progress], path: Path | None = None) -> LoadedProgress:
    """Apply ``change`` to the save as it is now, under the lock, and write the result.
    Raises OSError when the save cannot be written (nothing is lost then either)."""
    path = path or progress_file()
    with _locked(path):
        current = _read_or_set_aside(path)
        new = change(current.progress)
        for tmp in leftover_temps(path):  # a writer killed mid-save; we hold the lock, so it is dead
            tmp.unlink(missing_ok=True)
        write_json_atomic(path, new.model_dump(mode="json"))
    return LoadedProgress(new, current.message, path)


def record(chapter: "Chapter", result: "RunResult", path: Path | None = None) -> LoadedProgress:
    """Count one finished run of a chapter in the save."""

    def count(progress: Progress) -> Progress:
        progress.record_result(chapter, result)
        return progress

    return update(count, path)


def save(progress: Progress, path: Path | None = None) -> LoadedProgress:
    """Merge ``progress`` into the save (see :meth:`Progress.merged`); returns what was saved."""
    return update(lambda current: current.merged(progress), path)


# -- export and import ------------------------------------------------------------------------
def parse_export(data: object, chapters: Iterable["Chapter"], source: str = "the export") -> Progress:
    """Check exported data as strictly as a chapter file before it replaces anything:
    the format, every field and range, and each chapter's numbers against the installed
    chapter. Progress in chapters this game does not have is kept under ``unknown``.
    Raises :class:`UserFileError`."""
    found = data.get("format") if isinstance(data, dict) else None
    if isinstance(found, int) and not isinstance(found, bool) and found > FORMAT:
        raise UserFileError(source, f"made by a newer CloudQuest (format {found}; this one reads format {FORMAT})")
    if not isinstance(data, dict) or "chapters" not in data:
        raise UserFileError(source, f"not a CloudQuest progress export (a mapping with format {FORMAT} and chapters)")
    try:
        progress = Progress.model_validate(data)
    except ValidationError as exc:
        raise UserFileError(source, f"not a valid progress export: {first_problem(exc)}") from None
    known = {c.id: c for c in chapters}
    table = {**progress.unknown, **progress.chapters}
    progress.chapters = {k: v for k, v in table.items() if k in known}
    progress.unknown = {k: v for k, v in table.items() if k not in known}
    for cid, cp in progress.chapters.items():
        chapter = known[cid]
        total = len(chapter.objectives)
        if cp.best_passed > total or cp.objectives > total:
            raise UserFileError(source, f"chapter {cid}: {max(cp.best_passed, cp.objectives)} objectives counted; it has {total}")
        foreign = sorted(set(cp.skills) - set(chapter.skills))
        if foreign:
            raise UserFileError(source, f"chapter {cid}: it does not teach {', '.join(foreign)}")
        if cp.completed and cp.best_passed != total:
            raise UserFileError(source, f"chapter {cid}: completed, yet best {cp.best_passed} of {total} objectives")
    return progress


def read_export(path: Path, chapters: Iterable["Chapter"]) -> Progress:
    return parse_export(read_json(path, MAX_SAVE_BYTES, "the export"), chapters, str(path))
