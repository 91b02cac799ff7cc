"""Quiz questions built from the player's own recorded runs.

The completion quiz asks, besides the bank's questions, about something the player did:
"why did instance X land on host Y?" and "how long did X take to boot?". The answers
come from that run itself: its replay is re-run (the same seed and timed commands give
the same event log, which is checked against the hash in the file), the event log gives
the facts (the RunInstances call and its zone, an earlier capacity failure, the
find_server step, the boot), and the scheduler's own explanation of that placement,
kept while re-running, gives the filter and score of every host. Nothing is made up:
a run whose re-run does not match its recording asks no question.

No Textual here; the quiz screen asks these like any other question.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ..cloud.events import Event
from ..cloud.scheduler import Explanation
from ..game.chapters import Catalogue
from ..game.quiz import AskedQuestion
from ..game.replay import ReplayError, read
from ..game.schema import Chapter
from ..game.session import Session
from .runs import SavedRun

# How close a typed answer to "how many seconds" must be.
SECONDS_TOLERANCE = 0.5


@dataclass
class Placement:
    """One launch of the player's run that landed, with the facts that explain it."""

    instance: str
    host: str
    type: str
    zone_asked: str
    call: Event  # api.call RunInstances
    step: Event  # launch.step find_server
    earlier_failure: Event | None  # a capacity failure of the same name before it
    explanation: Explanation
    running: Event | None  # instance.running, if it booted


def chapter_of(replay, catalogue: Catalogue) -> Chapter | None:
    if replay.sandbox:
        from ..game.schema import World

        return Chapter.model_construct(
            id="sandbox", title="Sandbox", number=99, sections=[18], skills=[], story="",
            world=World.model_validate(replay.world or {}), commands=[], objectives=[], hints=[], solution=[],
        )
    return catalogue.get(replay.chapter)


def placements(path: Path, catalogue: Catalogue) -> tuple[Chapter, list[Placement]] | None:
    """Re-run a recorded run, keeping the scheduler's explanation of each placement.

    Returns None when the file cannot be read, its chapter is not installed, or the
    re-run does not reproduce the recorded event log."""
    try:
        replay = read(path)
    except ReplayError:
        return None
    chapter = chapter_of(replay, catalogue)
    if chapter is None:
        return None
    session = Session(chapter, replay.seed, sandbox=replay.sandbox)
    # This is a private re-run for analysis, never a player's session: asking the
    # scheduler to keep its explanations changes no decision (select() picks the exact
    # best either way), and the hash check below proves the run is the same.
    session.cloud.scheduler.record_decisions = True
    log = session.cloud.log
    start = len(log)  # what the world started with: its instances are not the player's launches
    for t_ms, line in replay.commands:
        session.advance_to(t_ms)
        session.execute(line)
    session.advance_to(replay.end_ms)
    if log.sha256() != replay.event_log_sha256:
        return None
    decisions = session.cloud.scheduler.decisions
    found: list[Placement] = []
    calls: dict[str, Event] = {}
    failures: dict[str, Event] = {}
    last_placement: dict[str, Placement] = {}
    for e in log:
        name = str(e.get("instance", ""))
        if e.kind == "api.call" and e.get("action") == "RunInstances":
            calls[name] = e
        elif e.kind == "launch.failed" and e.get("code") == "InsufficientInstanceCapacity" and e.get("step") == "find_server":
            failures[name] = e
        elif e.kind == "launch.step" and e.get("step") == "find_server" and name in calls:
            call = calls[name]
            if call.seq < start:
                continue
            expl = decisions.get(name)
            host = str(e.get("host", ""))
            if expl is None or expl.winner != host:
                continue
            p = Placement(name, host, str(call.get("type", "")), str(call.get("zone", "") or ""), call, e,
                          failures.get(name), expl, None)
            found.append(p)
            last_placement[name] = p
        elif e.kind == "instance.running" and name in last_placement and last_placement[name].running is None:
            last_placement[name].running = e
    return chapter, found


def _score_table(expl: Explanation) -> str:
    rows = []
    for r in expl.rows:
        if r.passed:
            rows.append(f"{r.host} ({r.zone}): passed the filters, score {r.total}")
        else:
            rows.append(f"{r.host} ({r.zone}): filtered out by {r.reason}" + (f" ({r.detail})" if r.detail else ""))
    return "; ".join(rows)


def _fourth(p: Placement, expl: Explanation, winner) -> str:
    """A wrong answer that stays wrong whatever the policy and placement group."""
    if winner.affinity:
        return f"{p.instance} first booted elsewhere and the hypervisor then migrated it to {p.host}"
    if expl.policy == "pack":
        return f"{p.host} was the emptiest host, and this scheduler always spreads instances out"
    return f"{p.host} already held the most instances, and this scheduler keeps instances near their neighbours"


def why_question(chapter: Chapter, run: SavedRun, p: Placement, rng: random.Random) -> AskedQuestion:
    expl = p.explanation
    winner = expl.winner_row
    assert winner is not None
    passed = [r for r in expl.rows if r.passed]
    ties = [r.host for r in passed if r.total == winner.total and r.host != p.host]
    where = f"You asked for zone {p.zone_asked}, so" if p.zone_asked else "You let the scheduler choose the zone, and"
    if len(passed) == 1:
        right = f"{where} {p.host} was the only host that passed the scheduler's filters (room, health, zone)"
        wrong_only = f"{p.host} scored highest of several hosts with room; others were close behind"
    elif ties:
        right = (
            f"{where} {p.host} tied on score ({winner.total}) with {', '.join(ties)} under the {expl.policy} "
            "policy; ties go to the host that comes first in the fleet"
        )
        wrong_only = f"{p.host} was the only host in the region with room for a {p.type}"
    else:
        right = f"{where} of the hosts that passed the filters, {p.host} scored highest ({winner.total}) under the {expl.policy} policy"
        wrong_only = f"{p.host} was the only host in the region with room for a {p.type}"
    options = [
        right,
        "The scheduler picks among the hosts at random, and this session's seed happened to pick " + p.host,
        wrong_only,
        _fourth(p, expl, winner),
    ]
    order = list(range(len(options)))
    rng.shuffle(order)
    facts = [f"your call: {p.call.describe()}"]
    if p.earlier_failure is not None:
        facts.append(f"before it: {p.earlier_failure.describe()}")
    facts.append(f"then: {p.step.describe()}")
    explanation = (
        "From your run's event log: " + "; ".join(facts) + ". The scheduler filters first, then scores what is "
        f"left ({expl.policy}); placement is deterministic, never random. Every host at that moment: "
        + _score_table(expl)
        + "."
    )
    return AskedQuestion(
        id=f"own-why-{p.instance}",
        kind="choice",
        skills=["resource scheduling"],
        text=(
            f"From your own run of chapter {chapter.number} ({chapter.title}, saved {run.label}): "
            f"instance {p.instance} landed on host {p.host}. Why there?"
        ),
        options=[options[i] for i in order],
        answer=order.index(0),
        tolerance=0,
        explanation=explanation,
    )


def boot_question(chapter: Chapter, run: SavedRun, p: Placement) -> AskedQuestion | None:
    if p.running is None:
        return None
    seconds = (p.running.t_ms - p.call.t_ms) / 1000
    return AskedQuestion(
        id=f"own-boot-{p.instance}",
        kind="predict",
        skills=["virtualization internals"],
        text=(
            f"In that same run, how many seconds passed from your RunInstances call for {p.instance} "
            f"(t={p.call.t_ms / 1000:g}s) until it was running? (within {SECONDS_TOLERANCE:g}s)"
        ),
        options=[],
        answer=round(seconds, 3),
        tolerance=SECONDS_TOLERANCE,
        explanation=(
            f"Your log: {p.call.describe()} ... {p.running.describe()}: {seconds:g} s. Six steps take well under "
            "a second together; boot dominates (9 s plus a seeded jitter of up to 6 s here, tens of seconds on "
            "real EC2)."
        ),
    )


def own_run_questions(runs: list[SavedRun], catalogue: Catalogue, seed: int, limit_runs: int = 5) -> list[AskedQuestion]:
    """Up to two questions from the newest run that placed an instance."""
    rng = random.Random(seed)
    for run in [r for r in runs if not r.problem][:limit_runs]:
        got = placements(run.path, catalogue)
        if got is None:
            continue
        chapter, found = got
        if not found:
            continue
        p = found[-1]
        out = [why_question(chapter, run, p, rng)]
        boot = boot_question(chapter, run, p)
        if boot is not None:
            out.append(boot)
        return out
    return []
