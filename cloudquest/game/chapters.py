"""Finding, loading and validating chapter files and the quiz bank.

A chapter that fails to load is reported as ``FILE:LINE: what is wrong (what is
allowed)`` and skipped; the other chapters still load.
"""

from __future__ import annotations

import difflib
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from .checks import AllCheck, AnyCheck, EventCheck, MetricCheck, NotCheck
from .locations import levels_dir, user_levels_dir
from .mechanism import event_table, metric_of
from .registry import table
from .schema import Chapter, QuizBank, Strict
from .yamlfile import LocatedYaml, YamlError, load_text, read_yaml_text

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
    """What the schema alone cannot know: the commands it enables exist, and its
    objectives read metrics and events some mechanism publishes."""
    problems = []
    commands = table()
    for i, verb in enumerate(chapter.commands):
        if verb not in commands:
            known = ", ".join(sorted(commands))
            problems.append(LoadProblem(doc.path, doc.line_of(("commands", i)), f"unknown command {verb!r} (commands: {known})"))
    for i, objective in enumerate(chapter.objectives):
        problems += check_reads(objective.check, doc, ("objectives", i, "check"))
        # An objective proves only skills the chapter teaches (the completion check counts them).
        for k, skill in enumerate(objective.skills):
            if skill not in chapter.skills:
                problems.append(LoadProblem(doc.path, doc.line_of(("objectives", i, "skills", k)), f"objective {objective.id} proves {skill!r}, which the chapter's skills do not list (skills: {', '.join(chapter.skills)})"))
    proved = {s for o in chapter.objectives for s in o.skills}
    for k, skill in enumerate(chapter.skills):
        if skill not in proved:
            problems.append(LoadProblem(doc.path, doc.line_of(("skills", k)), f"no objective proves the chapter's skill {skill!r}"))
    return problems


def check_reads(check: Any, doc: LocatedYaml, loc: tuple) -> list[LoadProblem]:
    """Every metric and event kind a check reads (inside ``all``, ``any``, ``not`` and
    ``after`` too) is published by some mechanism, and every ``where`` field is one its
    event carries: a typo here would make an objective that can never pass."""
    events = event_table()
    problems: list[LoadProblem] = []

    def event(kind: str, where: dict, at: tuple) -> None:
        declared = events.get(kind)
        if declared is None:
            close = difflib.get_close_matches(kind, list(events), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(LoadProblem(doc.path, doc.line_of(at + ("event",)), f"no mechanism emits event {kind!r} ({hint}see the reference in docs/authoring.md)"))
            return
        for key in where:
            if key not in declared.fields:
                fields = ", ".join(declared.fields) or "none"
                problems.append(LoadProblem(doc.path, doc.line_of(at + ("where", key)), f"event {kind} has no field {key!r} (fields: {fields})"))

    def walk(c: Any, at: tuple) -> None:
        if isinstance(c, MetricCheck):
            if metric_of(c.metric) is None:
                problems.append(LoadProblem(doc.path, doc.line_of(at + ("metric",)), f"no mechanism publishes metric {c.metric!r} (see the reference in docs/authoring.md)"))
        elif isinstance(c, EventCheck):
            event(c.event, c.where, at)
            if c.after is not None:
                event(c.after.event, c.after.where, at + ("after",))
        elif isinstance(c, AllCheck):
            for n, sub in enumerate(c.all):
                walk(sub, at + ("all", n))
        elif isinstance(c, AnyCheck):
            for n, sub in enumerate(c.any):
                walk(sub, at + ("any", n))
        elif isinstance(c, NotCheck):
            walk(c.not_, at + ("not",))

    walk(check, loc)
    return problems


def prove(chapter: Chapter, doc: LocatedYaml | None = None) -> list[LoadProblem]:
    """Run a chapter's reference solution (it must pass, and no line of it may be
    rejected) and an empty run (it must fail). Each problem is reported at the line it
    comes from: a rejected solution command at its own line."""
    from .session import Session, WorldError

    path = doc.path if doc is not None else chapter.id

    def line(loc: tuple) -> int:
        return doc.line_of(loc) if doc is not None else 1

    problems = []
    try:
        s = Session(chapter, 0)
    except WorldError as exc:
        return [LoadProblem(path, line(("world",)), str(exc))]
    for i, text in enumerate(chapter.solution):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        outcome = s.execute(text)
        if outcome.error_kind in ("input", "internal"):
            problems.append(LoadProblem(path, line(("solution", i)), f"solution command {text!r} was rejected: {outcome.output}"))
    result = s.finish()
    if not result.passed:
        failed = [f"{o.id} ({o.evidence})" for o in result.objectives if not o.passed]
        problems.append(LoadProblem(path, line(("solution",)), f"the reference solution does not pass: {'; '.join(failed)}"))
    if Session(chapter, 0).finish().passed:
        problems.append(LoadProblem(path, line(("objectives",)), "an empty run passes every objective: the chapter asks nothing of the player"))
    return problems


M = TypeVar("M", bound=Strict)

# Files validated before, by what they said: building a chapter's data with every line
# kept and validating it costs milliseconds, and the catalogue, scenarios and replays read
# the same files again and again. A file whose text changed is
# read anew. The models are shared, as one loaded chapter always was between its sessions.
_VALIDATED: OrderedDict[tuple[type, str, bytes], tuple[Any, LocatedYaml]] = OrderedDict()
_VALIDATED_MAX = 128


def load_validated(path: str | Path, model: type[M], shape: str) -> tuple[M, LocatedYaml]:
    """Read a YAML file and validate it as ``model``; raise :class:`ChapterError` with
    every problem as FILE:LINE. ``shape`` says what the file should be, for a file that is
    not a mapping at all (e.g. "a chapter file must be a mapping of keys (id, title, ...)")."""
    try:
        text = read_yaml_text(path)
        key = (model, str(path), hashlib.blake2b(text.encode(), digest_size=16).digest())
        if key in _VALIDATED:
            _VALIDATED.move_to_end(key)
            return _VALIDATED[key]
        doc = load_text(text, str(path))
    except YamlError as exc:
        raise ChapterError([LoadProblem(exc.path, exc.line, exc.message)]) from None
    if not isinstance(doc.data, dict):
        raise ChapterError([LoadProblem(doc.path, 1, shape)])
    try:
        loaded = model.model_validate(doc.data), doc
    except ValidationError as exc:
        raise ChapterError(describe_errors(exc, doc, model)) from None
    _VALIDATED[key] = loaded
    if len(_VALIDATED) > _VALIDATED_MAX:
        _VALIDATED.popitem(last=False)
    return loaded


def load_chapter(path: str | Path) -> Chapter:
    """Load one chapter file or raise :class:`ChapterError` with every problem found."""
    return load_chapter_located(path)[0]


def load_chapter_located(path: str | Path) -> tuple[Chapter, LocatedYaml]:
    """Like :func:`load_chapter`, with the file's lines (to report later problems at)."""
    chapter, doc = load_validated(path, Chapter, "a chapter file must be a mapping of keys (id, title, ...)")
    problems = _semantic_checks(chapter, doc)
    if problems:
        raise ChapterError(problems)
    return chapter, doc


def load_quiz(path: str | Path | None = None) -> QuizBank:
    p = Path(path) if path else levels_dir() / QUIZ_FILE
    bank, _ = load_validated(p, QuizBank, "a quiz bank must be a mapping with a 'questions' list")
    return bank


def warm_shipped() -> None:
    """Read the shipped chapters once, for every game forked from this process (see
    :data:`_VALIDATED`: a file that changes afterwards is read again; a file that does not
    load is left to each game, which reports it)."""
    for path in chapter_files():
        try:
            load_chapter(path)
        except ChapterError:
            pass


def chapter_files(directory: Path | None = None) -> list[Path]:
    d = directory or levels_dir()
    return sorted(p for p in d.glob("*.yaml") if p.name != QUIZ_FILE)


@dataclass
class Catalogue:
    """The chapters a game can play: the shipped ones and the player's own ("your
    chapters": the user data folder's ``levels/``, or a file opened by path)."""

    chapters: list[Chapter]
    problems: list[LoadProblem]
    own: set[str] = field(default_factory=set)  # ids of the player's own chapters
    file_ids: dict[str, str] = field(default_factory=dict)  # resolved file path -> chapter id

    def get(self, ident: str) -> Chapter | None:
        for c in self.chapters:
            if c.id == ident:
                return c
        for c in self.chapters:
            if str(c.number) == ident and c.id not in self.own:
                return c
        return None

    def file_of(self, chapter_id: str) -> str | None:
        """The file a chapter was read from."""
        return next((f for f, c_id in self.file_ids.items() if c_id == chapter_id), None)

    @property
    def shipped(self) -> list[Chapter]:
        return [c for c in self.chapters if c.id not in self.own]

    @property
    def own_chapters(self) -> list[Chapter]:
        return [c for c in self.chapters if c.id in self.own]

    def _take(self, path: Path, own: bool) -> Chapter | None:
        """Load one file into the catalogue (a problem, not an exception, if it fails)."""
        key = str(path.resolve())
        if key in self.file_ids:
            return self.get(self.file_ids[key])
        try:
            chapter = load_chapter(path)
        except ChapterError as exc:
            self.problems.extend(exc.problems)
            return None
        if any(c.id == chapter.id for c in self.chapters):
            where = next((f for f, c_id in self.file_ids.items() if c_id == chapter.id), "another chapter")
            self.problems.append(LoadProblem(str(path), 1, f"chapter id {chapter.id!r} is already used by {where}"))
            return None
        self.chapters.append(chapter)
        if own:
            self.own.add(chapter.id)
        # the shipped chapters in their order, then the player's own in theirs
        self.chapters.sort(key=lambda c: (c.id in self.own, c.number, c.id))
        self.file_ids[key] = chapter.id
        return chapter

    def add_file(self, path: str | Path) -> Chapter | None:
        """A chapter file opened by path (``cloudquest play FILE.yaml``): one of the
        shipped chapters if it is one of their files, else one of the player's own."""
        path = Path(path)
        shipped = path.resolve().parent == levels_dir().resolve()
        return self._take(path, own=not shipped)


def load_all(directory: Path | None = None, *, own: bool | None = None) -> Catalogue:
    """The chapters of ``directory`` (the shipped ``levels/`` by default) and, with
    ``own`` (the default when no directory is given), the player's own chapters in
    :func:`~cloudquest.game.locations.user_levels_dir`. A file that does not load is a
    problem of the catalogue; the others still load."""
    catalogue = Catalogue([], [])
    for path in chapter_files(directory):
        catalogue._take(path, own=False)
    if own if own is not None else directory is None:
        mine = user_levels_dir()
        if mine.is_dir():
            for path in chapter_files(mine):
                catalogue._take(path, own=True)
    return catalogue
