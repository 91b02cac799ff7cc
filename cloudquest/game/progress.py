"""The player's progress: chapters completed, best results, skills earned, quiz scores.

Saved as JSON in the user data folder (see :mod:`locations`). A save that cannot be
read is moved aside with a message and the game continues from a fresh one; an export is
a plain copy of the same JSON, and import checks it before it replaces anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .locations import progress_file
from .schema import SKILLS
from .userfiles import set_aside, write_json_atomic

if TYPE_CHECKING:
    from .schema import Chapter
    from .session import RunResult

FORMAT = 1


class ChapterProgress(BaseModel):
    model_config = ConfigDict(extra="ignore")
    completed: bool = False
    attempts: int = 0
    best_passed: int = 0
    objectives: int = 0
    best_hints: int | None = None
    best_time_s: float | None = None
    skills: list[str] = Field(default_factory=list)


class QuizProgress(BaseModel):
    model_config = ConfigDict(extra="ignore")
    attempts: int = 0
    best_pct: int = 0
    passed: bool = False
    per_skill_pct: dict[str, int] = Field(default_factory=dict)


class Progress(BaseModel):
    model_config = ConfigDict(extra="ignore")
    format: int = FORMAT
    chapters: dict[str, ChapterProgress] = Field(default_factory=dict)
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
        )

    def record_run(self, chapter_id: str, passed: int, total: int, hints: int, time_s: float, skills: list[str]) -> ChapterProgress:
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
        return cp


@dataclass
class LoadedProgress:
    progress: Progress
    message: str | None = None  # set when a corrupt save was moved aside
    path: Path = field(default_factory=progress_file)


def load(path: Path | None = None) -> LoadedProgress:
    path = path or progress_file()
    if not path.exists():
        return LoadedProgress(Progress(), None, path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        progress = Progress.model_validate(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        moved = set_aside(path)
        reason = type(exc).__name__
        return LoadedProgress(
            Progress(),
            f"your saved progress could not be read ({reason}); it was kept as {moved} and a fresh save was started",
            path,
        )
    return LoadedProgress(progress, None, path)


def save(progress: Progress, path: Path | None = None) -> None:
    write_json_atomic(path or progress_file(), progress.model_dump(mode="json"), make_folder=True)


def parse_export(text: str) -> Progress:
    """Check an exported file before it replaces anything."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a CloudQuest progress file (expected format {FORMAT})")
    return Progress.model_validate(data)
