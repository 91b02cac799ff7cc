"""The completion check's final tally (chapter 17): per skill, what proved it.

Two kinds of proof stand behind each of the eight skills:

- **chapter objectives** passed in the player's saved runs. A run counts only when it
  replays: its seed and timed commands are re-run (:func:`replay.verify`, the game's one
  road) and must give the event log whose SHA-256 the file recorded. A claim in the save
  that no run backs earns nothing here.
- **the quiz**: the best attempt's score in the skill (:class:`~progress.QuizProgress`)
  and the questions answered right in it.

The mastery rule (also in ``docs/authoring.md`` and on the completion screen): a skill is
mastered when at least :data:`MIN_OBJECTIVES` graded chapter objectives that name it
passed in replayable runs, and the best quiz attempt scored it at least
:data:`QUIZ_MASTERY_PCT` % (one slip in three, as the quiz's own rule). The level is
complete when all eight are mastered.

The certificate lists the runs by file name, replay-file SHA-256 and event-log SHA-256,
so anyone holding the files can run ``cloudquest replay FILE`` and see the same log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from .chapters import Catalogue
from .progress import Progress
from .replay import ReplayError, read, verify
from .runs import SavedRun
from .schema import SKILLS, QuizBank

MIN_OBJECTIVES = 2
QUIZ_MASTERY_PCT = 67  # two right in three, rounded as the quiz rounds a skill's score
RULE = (
    f"A skill is mastered when at least {MIN_OBJECTIVES} chapter objectives that prove it passed in runs "
    f"that replay to their recorded event log, and your best quiz attempt scored it at least {QUIZ_MASTERY_PCT}% "
    "(at most one slip in three)."
)


@dataclass(frozen=True)
class RunProof:
    file: str
    chapter: str
    seed: int
    file_sha256: str
    event_log_sha256: str
    passed: tuple[str, ...]  # objective ids


@dataclass
class SkillTally:
    skill: str
    objectives: list[tuple[str, str]] = field(default_factory=list)  # (chapter id, objective id)
    quiz_pct: int | None = None
    questions: list[str] = field(default_factory=list)

    @property
    def objectives_ok(self) -> bool:
        return len(self.objectives) >= MIN_OBJECTIVES

    @property
    def quiz_ok(self) -> bool:
        return self.quiz_pct is not None and self.quiz_pct >= QUIZ_MASTERY_PCT

    @property
    def mastered(self) -> bool:
        return self.objectives_ok and self.quiz_ok


@dataclass
class Tally:
    skills: list[SkillTally]
    runs: list[RunProof]
    skipped: list[str]  # runs that did not replay, and why

    @property
    def complete(self) -> bool:
        return all(s.mastered for s in self.skills)


def _best_run(chapter_runs: list[SavedRun], catalogue: Catalogue, skipped: list[str]) -> RunProof | None:
    best: RunProof | None = None
    for run in chapter_runs:  # newest first
        try:
            rep = read(run.path)
            outcome = verify(rep, catalogue)
        except (ReplayError, OSError) as exc:
            skipped.append(f"{run.name}: {exc}")
            continue
        if not outcome.matches:
            skipped.append(f"{run.name}: {'; '.join(outcome.problems)}")
            continue
        passed = tuple(o.id for o in outcome.result.objectives if o.passed)
        proof = RunProof(run.name, rep.chapter, rep.seed, hashlib.sha256(run.path.read_bytes()).hexdigest(),
                         outcome.result.event_log_sha256, passed)
        if best is None or len(passed) > len(best.passed):
            best = proof
        if len(passed) == len(outcome.result.objectives):
            break
    return best


def build(catalogue: Catalogue, progress: Progress, runs: list[SavedRun], bank: QuizBank | None = None) -> Tally:
    """The tally from the player's saved runs (replayed here) and quiz progress."""
    skipped: list[str] = []
    proofs: list[RunProof] = []
    for chapter in catalogue.chapters:
        mine = [r for r in runs if r.chapter == chapter.id and not r.sandbox and not r.problem]
        proof = _best_run(mine, catalogue, skipped) if mine else None
        if proof is not None and proof.passed:
            proofs.append(proof)
    by_skill = {s: SkillTally(s) for s in SKILLS}
    for proof in proofs:
        chapter = catalogue.get(proof.chapter)
        for o in chapter.objectives if chapter else []:
            if o.id in proof.passed:
                for s in o.skills:
                    by_skill[s].objectives.append((proof.chapter, o.id))
    quiz = progress.quiz
    right = set(getattr(quiz, "right", []) or [])
    for s, tally in by_skill.items():
        tally.quiz_pct = quiz.per_skill_pct.get(s)
        if bank is not None:
            tally.questions = [q.id for q in bank.questions if s in q.skills and q.id in right]
    return Tally([by_skill[s] for s in SKILLS], proofs, skipped)


# -- the certificate --------------------------------------------------------------------
def lines(tally: Tally) -> list[str]:
    """The tally as plain lines (the screen, the SVG)."""
    out = [f"{'COMPLETE' if tally.complete else 'NOT YET COMPLETE'}: "
           f"{sum(s.mastered for s in tally.skills)} of {len(tally.skills)} skills mastered"]
    for s in tally.skills:
        quiz = "quiz -" if s.quiz_pct is None else f"quiz {s.quiz_pct}%"
        n = len(s.objectives)
        out.append(f"{'✔' if s.mastered else '✘'} {s.skill}: {n} objective{'' if n == 1 else 's'}, {quiz}")
        if s.objectives:
            out.append("    " + ", ".join(f"{c}:{o}" for c, o in s.objectives))
        if s.questions:
            out.append("    quiz: " + ", ".join(s.questions))
    return out


def markdown(tally: Tally) -> str:
    out = ["# CloudQuest certificate: You See Inside the Cloud", ""]
    out.append(f"**{'Complete' if tally.complete else 'Not yet complete'}**: "
               f"{sum(s.mastered for s in tally.skills)} of {len(tally.skills)} skills mastered.")
    out += ["", f"Mastery rule: {RULE}", "", "| skill | mastered | chapter objectives | quiz |", "|---|---|---|---|"]
    for s in tally.skills:
        objs = ", ".join(f"`{c}:{o}`" for c, o in s.objectives) or "-"
        quiz = "-" if s.quiz_pct is None else f"{s.quiz_pct}%" + (f" ({', '.join(f'`{q}`' for q in s.questions)})" if s.questions else "")
        out.append(f"| {s.skill} | {'yes' if s.mastered else 'no'} | {objs} | {quiz} |")
    out += ["", "## The runs that prove it", "",
            "Each run replays: `cloudquest replay FILE` re-runs its seed and commands and must give this event log.", "",
            "| run file | chapter | seed | objectives passed | replay file sha256 | event log sha256 |", "|---|---|---|---|---|---|"]
    for r in tally.runs:
        out.append(f"| {r.file} | {r.chapter} | {r.seed} | {', '.join(r.passed)} | `{r.file_sha256}` | `{r.event_log_sha256}` |")
    if not tally.runs:
        out.append("| (no saved run replays yet) | | | | | |")
    return "\n".join(out) + "\n"


def svg(tally: Tally) -> str:
    rows = lines(tally) + ["", "Runs (replay file: event log sha256):"]
    rows += [f"{r.file}: {r.event_log_sha256}" for r in tally.runs]
    rows += ["", RULE]
    height = 60 + 18 * len(rows)
    text = "\n".join(
        f'<text x="20" y="{60 + 18 * i}" font-family="monospace" font-size="13">{escape(row)}</text>'
        for i, row in enumerate(rows)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="1100" height="{height}" viewBox="0 0 1100 {height}">\n'
        f'<rect width="100%" height="100%" fill="white"/>\n'
        f'<text x="20" y="30" font-family="sans-serif" font-size="20" font-weight="bold">'
        f"CloudQuest certificate: You See Inside the Cloud</text>\n{text}\n</svg>\n"
    )


def render(tally: Tally, fmt: str) -> str:
    if fmt == "md":
        return markdown(tally)
    if fmt == "svg":
        return svg(tally)
    raise ValueError(f"no certificate format {fmt!r} (formats: md, svg)")


def run_hashes(certificate: str) -> list[tuple[str, str]]:
    """(run file, event-log sha256) pairs read back from a Markdown certificate."""
    out = []
    for line in certificate.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and len(cells[5]) == 64 and all(ch in "0123456789abcdef" for ch in cells[5]):
            out.append((cells[0], cells[5]))
    return out


def write(path: Path, text: str) -> None:
    from .userfiles import write_atomic

    write_atomic(path, text)
