"""Finding, loading and validating chapter files and the quiz bank.

A chapter that fails to load is reported as ``FILE:LINE: what is wrong (what is
allowed)`` and skipped; the other chapters still load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from .locations import levels_dir
from .registry import table
from .schema import Chapter, QuizBank, Strict
from .yamlfile import LocatedYaml, YamlError, load_file

QUIZ_FILE = "quiz.yaml"
SCENARIO_DIR = "scenarios"


@dataclass
class LoadProblem:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ChapterError(Exception):
    def __init__(self, problems: list[LoadProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _yaml_path(data: Any, loc: tuple) -> tuple:
    """Turn a pydantic error location into a path in the YAML data (dropping union tags)."""
    from .schema import _check_kind

    path: list = []
    cur = data
    tag_skipped_at = None
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and tag_skipped_at is not cur and i + 1 < len(loc) and part == _check_kind(cur):
            tag_skipped_at = cur  # pydantic's tag for which kind of check this is, not a key
            continue
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
            path.append(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
            path.append(part)
        elif isinstance(cur, dict) and part == "not_" and "not" in cur:
            cur = cur["not"]
            path.append("not")
    return tuple(path)


def _allowed_keys(model: type[Strict] | None) -> str:
    if model is None:
        return ""
    names = [f.alias or n for n, f in model.model_fields.items()]
    return ", ".join(names)


def _model_at(root: type[Strict], data: Any, loc: tuple) -> type[Strict] | None:
    """The model class that validates the mapping at ``loc`` (for 'allowed keys')."""
    from typing import get_args, get_origin

    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, Strict)):
            return None
        field = model.model_fields.get(part) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        if field is None:
            # a union tag: look for the member with this tag name among candidates
            return model if part not in ("metric", "event", "all", "any", "not") else model
        ann = field.annotation
        found = None
        stack = [ann]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, Strict):
                found = t
                break
            stack.extend(get_args(t))
            if get_origin(t) is not None and not get_args(t):
                continue
        model = found
    return model if isinstance(model, type) and issubclass(model, Strict) else None


def describe_errors(exc: ValidationError, doc: LocatedYaml, root: type[Strict]) -> list[LoadProblem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = _yaml_path(doc.data, loc)
        where = ".".join(str(p) for p in path) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            key = loc[-1]
            parent = path[:-1] if path and path[-1] == key else path
            model = _model_at(root, doc.data, parent)
            allowed = _allowed_keys(model)
            parent_name = ".".join(str(p) for p in parent) or "the top level"
            msg = f"unknown key {key!r} in {parent_name} (allowed: {allowed})"
            line = doc.line_of(path if path and path[-1] == key else path + (key,))
        elif kind == "missing":
            key = loc[-1]
            msg = f"missing key {key!r} in {'.'.join(str(p) for p in path) or 'the top level'}"
            line = doc.line_of(path)
        else:
            text = err["msg"]
            if text.startswith("Value error, "):
                text = text[len("Value error, ") :]
            msg = f"{where}: {text}"
            line = doc.line_of(path)
        problems.append(LoadProblem(doc.path, line, msg))
    return problems


def _semantic_checks(chapter: Chapter, doc: LocatedYaml) -> list[LoadProblem]:
    """What the schema alone cannot know: the commands it enables exist."""
    problems = []
    commands = table()
    for i, verb in enumerate(chapter.commands):
        if verb not in commands:
            known = ", ".join(sorted(commands))
            problems.append(LoadProblem(doc.path, doc.line_of(("commands", i)), f"unknown command {verb!r} (commands: {known})"))
    return problems


M = TypeVar("M", bound=Strict)


def load_validated(path: str | Path, model: type[M], shape: str) -> tuple[M, LocatedYaml]:
    """Read a YAML file and validate it as ``model``; raise :class:`ChapterError` with
    every problem as FILE:LINE. ``shape`` says what the file should be, for a file that is
    not a mapping at all (e.g. "a chapter file must be a mapping of keys (id, title, ...)")."""
    try:
        doc = load_file(path)
    except YamlError as exc:
        raise ChapterError([LoadProblem(exc.path, exc.line, exc.message)]) from None
    if not isinstance(doc.data, dict):
        raise ChapterError([LoadProblem(doc.path, 1, shape)])
    try:
        return model.model_validate(doc.data), doc
    except ValidationError as exc:
        raise ChapterError(describe_errors(exc, doc, model)) from None


def load_chapter(path: str | Path) -> Chapter:
    """Load one chapter file or raise :class:`ChapterError` with every problem found."""
    chapter, doc = load_validated(path, Chapter, "a chapter file must be a mapping of keys (id, title, ...)")
    problems = _semantic_checks(chapter, doc)
    if problems:
        raise ChapterError(problems)
    return chapter


def load_quiz(path: str | Path | None = None) -> QuizBank:
    p = Path(path) if path else levels_dir() / QUIZ_FILE
    bank, _ = load_validated(p, QuizBank, "a quiz bank must be a mapping with a 'questions' list")
    return bank


def chapter_files(directory: Path | None = None) -> list[Path]:
    d = directory or levels_dir()
    return sorted(p for p in d.glob("*.yaml") if p.name != QUIZ_FILE)


@dataclass
class Catalogue:
    chapters: list[Chapter]
    problems: list[LoadProblem]

    def get(self, ident: str) -> Chapter | None:
        for c in self.chapters:
            if c.id == ident or str(c.number) == ident:
                return c
        return None


def load_all(directory: Path | None = None) -> Catalogue:
    chapters: list[Chapter] = []
    problems: list[LoadProblem] = []
    seen: dict[str, str] = {}
    for path in chapter_files(directory):
        try:
            chapter = load_chapter(path)
        except ChapterError as exc:
            problems.extend(exc.problems)
            continue
        if chapter.id in seen:
            problems.append(LoadProblem(str(path), 1, f"chapter id {chapter.id!r} is already used by {seen[chapter.id]}"))
            continue
        seen[chapter.id] = str(path)
        chapters.append(chapter)
    chapters.sort(key=lambda c: (c.number, c.id))
    return Catalogue(chapters, problems)
