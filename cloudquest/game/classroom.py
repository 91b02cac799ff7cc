"""A classroom on one machine: each student's own folder under the server's data folder.

``cloudquest serve`` runs one game process per browser (textual-serve). For a class,
each student names themself on first visit; the name becomes a folder,
``<data>/students/<name>/``, that is the ``CLOUDQUEST_HOME`` of every game that student
opens, so their progress and replays are found again after a reload or on another day.
A student is known again by a token: the browser keeps it as a cookie, and the teacher
can hand it out as a link (``/join/<token>``) for another browser or machine.

The name is the folder's name, so it is checked before it touches the file system:
letters, digits, ``-`` and ``_``, starting with a letter, at most
:data:`MAX_NAME` characters (no ``/``, no ``..``, no dot files, none of Windows's
reserved device names), and compared without case (``Alice`` and ``alice`` are one
student on any file system). A name already taken is refused, so one student cannot
open another's games by typing their name; the folder is made with ``mkdir``, which
fails when the folder exists, so two students taking one name at the same moment cannot
both get it.

The teacher's view (:func:`report`) reads each student's save and replays as they are,
moving and writing nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from .locations import data_home
from .userfiles import UserFileError, read_json, write_json_atomic

MAX_NAME = 32
MAX_STUDENTS = 500
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,%d}" % (MAX_NAME - 1))
# Device names Windows reserves in any folder, with or without an extension.
RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
STUDENT_FILE = "student.json"
MAX_STUDENT_FILE_BYTES = 4096


class ClassroomError(ValueError):
    """Bad input, said in one line."""


@dataclass(frozen=True)
class Student:
    name: str  # as the student typed it
    folder: Path  # their CLOUDQUEST_HOME
    token: str

    @property
    def key(self) -> str:
        return self.folder.name


def default_data_dir() -> Path:
    """Where ``cloudquest serve`` keeps a class unless told otherwise."""
    return data_home() / "classroom"


def students_dir(data_dir: Path) -> Path:
    return data_dir / "students"


def check_name(name: str) -> str:
    """The name, stripped, if it may be a student's folder; ClassroomError otherwise."""
    name = name.strip()
    shown = name if len(name) <= 40 else name[:37] + "..."
    if not name:
        raise ClassroomError("type a name: letters, digits, - or _, starting with a letter")
    if not NAME.fullmatch(name):
        raise ClassroomError(
            f"{shown!r} cannot be a name: use 1 to {MAX_NAME} letters, digits, - or _, starting with a letter"
        )
    if name.lower() in RESERVED:
        raise ClassroomError(f"{shown!r} is a name the file system keeps for itself: pick another")
    return name


def join(data_dir: Path, name: str) -> Student:
    """Make a new student's folder and token. ClassroomError for a bad or taken name."""
    name = check_name(name)
    root = students_dir(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    if sum(1 for _ in root.iterdir()) >= MAX_STUDENTS:
        raise ClassroomError(f"this class is full ({MAX_STUDENTS} students)")
    folder = root / name.lower()
    try:
        folder.mkdir()
    except FileExistsError:
        raise ClassroomError(
            f"the name {name!r} is taken: pick another, or open the link your teacher gave you"
        ) from None
    student = Student(name, folder, secrets.token_urlsafe(16))
    write_json_atomic(folder / STUDENT_FILE, {"name": student.name, "token": student.token, "joined": time.time()})
    return student


def _read_student(folder: Path) -> Student | None:
    try:
        data = read_json(folder / STUDENT_FILE, MAX_STUDENT_FILE_BYTES, "the student file")
    except (UserFileError, OSError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("token"), str):
        return None
    return Student(data["name"], folder, data["token"])


def students(data_dir: Path) -> list[Student]:
    """Every student of the class, by folder name."""
    root = students_dir(data_dir)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and NAME.fullmatch(folder.name):
            student = _read_student(folder)
            if student is not None:
                found.append(student)
    return found


def by_token(data_dir: Path, token: str | None) -> Student | None:
    """The student whose token this is (compared in constant time), or None."""
    if not token or len(token) > 100:
        return None
    match = None
    for student in students(data_dir):
        if hmac.compare_digest(student.token.encode(), token.encode()):
            match = student
    return match


def new_teacher_token(data_dir: Path) -> str:
    """A fresh token for the teacher's page, kept only for this server's run."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return secrets.token_urlsafe(16)


# -- the teacher's view -------------------------------------------------------------------
@dataclass
class StudentRow:
    name: str
    passed: list[str] = field(default_factory=list)  # chapter ids completed
    hints: int = 0  # hints used in the best runs of the chapters passed
    quiz: dict[str, int] = field(default_factory=dict)  # per skill, best attempt's %
    last_replay: str = ""  # file name of the newest replay
    last_replay_at: float = 0.0
    problem: str = ""  # a save that could not be read


def report(data_dir: Path) -> list[StudentRow]:
    """One row per student: what their save and replay folder say now (nothing written)."""
    from . import progress as progress_mod

    rows = []
    for student in students(data_dir):
        row = StudentRow(student.name)
        save = student.folder / "progress.json"
        try:
            progress = progress_mod.peek(save)
        except progress_mod.SaveUnreadable as exc:
            row.problem = f"save unreadable: {exc}"
        else:
            for chapter_id, cp in sorted(progress.chapters.items()):
                if cp.completed:
                    row.passed.append(chapter_id)
                    row.hints += cp.best_hints or 0
            row.quiz = dict(progress.quiz.per_skill_pct)
        newest = _newest_replay(student.folder / "replays")
        if newest is not None:
            row.last_replay, row.last_replay_at = newest.name, newest.stat().st_mtime
        rows.append(row)
    return rows


def stamp(data_dir: Path) -> str:
    """A fingerprint of what :func:`report` reads, from the files' sizes and times alone
    (nothing is read): it changes when a student joins, saves progress or keeps a new
    replay (replays are written to a temporary name and renamed, which touches their
    folder). The teacher's page asks it every few seconds and fetches the report only
    when it changed."""
    digest = hashlib.sha256()
    try:
        folders = sorted(students_dir(data_dir).iterdir())
    except OSError:
        return "none"
    for folder in folders:
        digest.update(folder.name.encode() + b"\0")
        for path in (folder / STUDENT_FILE, folder / "progress.json", folder / "replays"):
            try:
                st = path.stat()
            except OSError:
                digest.update(b"-")
            else:
                digest.update(f"{st.st_mtime_ns}:{st.st_size};".encode())
    return digest.hexdigest()[:24]


def _newest_replay(folder: Path) -> Path | None:
    try:
        files = [p for p in folder.glob("*.json") if p.is_file()]
    except OSError:
        return None
    return max(files, key=lambda p: (p.stat().st_mtime, p.name), default=None)


def report_rows(rows: list[StudentRow]) -> tuple[list[str], list[list[str]]]:
    """The report as a header and rows of text (the table and the CSV share them)."""
    header = ["student", "chapters passed", "passed", "hints used", "quiz by skill", "last replay", "saved at"]
    table = []
    for r in rows:
        table.append([
            r.name,
            str(len(r.passed)),
            " ".join(r.passed) if not r.problem else r.problem,
            str(r.hints),
            " ".join(f"{skill}={pct}%" for skill, pct in sorted(r.quiz.items())),
            r.last_replay,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r.last_replay_at)) if r.last_replay_at else "",
        ])
    return header, table


def home_env(student: Student) -> dict[str, str]:
    """The environment a student's game runs with."""
    return dict(os.environ, CLOUDQUEST_HOME=str(student.folder))
