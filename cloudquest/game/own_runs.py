"""Quiz questions built from the player's own recorded runs.

The completion quiz asks, besides the bank's questions, about something the player did:
"why did instance X land on host Y?" and "how long did X take to boot?". The answers
come from that run itself: its replay is re-run through the one replay road (the same
seed and timed commands give the same event log, which is checked against the hash in
the file), and the event log gives every fact: the RunInstances call and its zone, an
earlier capacity failure, the scheduler's decision (``scheduler.decided``: the policy,
the best scores, what each filter removed), the find_server step and the boot. Nothing
is made up: a run whose re-run does not match its recording asks no question. Each
question shows the excerpt of the run's event log it asks about, so it can be answered
by reading the log, as an operator would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ..cloud.events import Event
from .chapters import Catalogue
from .quiz import AskedQuestion
from .replay import ReplayError, chapter_for, play, read
from .runs import SavedRun
from .schema import Chapter
from .session import Session

# How close a typed answer to "how many seconds" must be.
SECONDS_TOLERANCE = 0.5


@dataclass
class Decision:
    """A ``scheduler.decided`` event, read back."""

    policy: str
    host: str
    group: str
    hosts: int
    passed: int
    scores: list[tuple[str, int]]  # the best hosts, best first
    filtered: dict[str, int]  # filter -> hosts it removed

    @classmethod
    def of(cls, e: Event) -> "Decision":
        scores = [(h, int(t)) for h, _, t in (p.rpartition(":") for p in str(e.get("scores", "")).split())]
        filtered = {r: int(n) for r, _, n in (p.rpartition(":") for p in str(e.get("filtered", "")).split())}
        return cls(
            str(e.get("policy")), str(e.get("host")), str(e.get("group", "")), int(e.get("hosts", 0)),
            int(e.get("passed", 0)), scores, filtered,
        )

    @property
    def winner_score(self) -> int:
        return dict(self.scores).get(self.host, 0)


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
    decision: Decision
    running: Event | None  # instance.running, if it booted


def placements(path: Path, catalogue: Catalogue) -> tuple[Chapter, list[Placement]] | None:
    """Re-run a recorded run and read each placement's facts from its event log.

    Returns None when the file cannot be read, its chapter is not installed, or the
    re-run does not reproduce the recorded event log."""
    try:
        replay = read(path)
        chapter = chapter_for(replay, catalogue)
    except ReplayError:
        return None
    if chapter is None:
        return None
    session = Session(chapter, replay.seed, sandbox=replay.sandbox)
    log = session.cloud.log
    start = len(log)  # what the world started with: its instances are not the player's launches
    play(session, replay.commands, replay.end_ms)
    if log.sha256() != replay.event_log_sha256:
        return None
    found: list[Placement] = []
    calls: dict[str, Event] = {}
    failures: dict[str, Event] = {}
    decided: dict[str, Event] = {}
    last_placement: dict[str, Placement] = {}
    for e in log:
        name = str(e.get("instance", ""))
        if e.kind == "api.call" and e.get("action") == "RunInstances" and e.seq >= start:
            calls[name] = e
        elif e.kind == "launch.failed" and e.get("code") == "InsufficientInstanceCapacity" and e.get("step") == "find_server":
            failures[name] = e
        elif e.kind == "scheduler.decided":
            decided[name] = e
        elif e.kind == "launch.step" and e.get("step") == "find_server" and name in calls and name in decided:
            call, decision = calls.pop(name), Decision.of(decided.pop(name))
            if decision.host != str(e.get("host", "")):
                continue
            p = Placement(name, decision.host, str(call.get("type", "")), str(call.get("zone", "") or ""), call, e,
                          failures.get(name), decision, None)
            found.append(p)
            last_placement[name] = p
        elif e.kind == "instance.running" and name in last_placement and last_placement[name].running is None:
            last_placement[name].running = e
    return chapter, found


def _score_table(d: Decision) -> str:
    best = ", ".join(f"{h} {t}" for h, t in d.scores)
    more = f" (and {d.passed - len(d.scores)} more)" if d.passed > len(d.scores) else ""
    cut = ", ".join(f"{n} by {reason}" for reason, n in sorted(d.filtered.items()))
    return f"{d.passed} of {d.hosts} hosts passed the filters, best scores {best}{more}" + (
        f"; filtered out: {cut}" if cut else ""
    )


def _fourth(p: Placement) -> str:
    """A wrong answer that stays wrong whatever the policy and placement group."""
    if p.decision.group:
        return f"{p.instance} first booted elsewhere and the hypervisor then migrated it to {p.host}"
    if p.decision.policy == "pack":
        return f"{p.host} was the emptiest host, and this scheduler always spreads instances out"
    return f"{p.host} already held the most instances, and this scheduler keeps instances near their neighbours"


def _saved(chapter: Chapter, run: SavedRun) -> str:
    return f"your run of chapter {chapter.number} ({chapter.title}, saved {run.label})"


def excerpt(events: list[Event | None]) -> str:
    """Lines of the event log, as the event log pane shows them."""
    return "\n".join(f"  {e.describe()}" for e in events if e is not None)


def _decision_line(p: Placement) -> str:
    d = p.decision
    best = ", ".join(f"{h} {t}" for h, t in d.scores[:4])
    return f"  scheduler: {d.passed} of {d.hosts} hosts passed the filters; best scores {best} ({d.policy})"


def why_question(chapter: Chapter, run: SavedRun, p: Placement, rng: random.Random) -> AskedQuestion:
    d = p.decision
    top = d.winner_score
    ties = [h for h, t in d.scores if t == top and h != p.host]
    where = f"You asked for zone {p.zone_asked}, so" if p.zone_asked else "You let the scheduler choose the zone, and"
    if d.passed == 1:
        right = f"{where} {p.host} was the only host that passed the scheduler's filters (room, health, zone)"
        wrong_only = f"{p.host} scored highest of several hosts with room; others were close behind"
    elif ties:
        right = (
            f"{where} {p.host} tied on score ({top}) with {', '.join(ties)} under the {d.policy} "
            "policy; ties go to the host that comes first in the fleet"
        )
        wrong_only = f"{p.host} was the only host in the region with room for a {p.type}"
    else:
        right = f"{where} of the hosts that passed the filters, {p.host} scored highest ({top}) under the {d.policy} policy"
        wrong_only = f"{p.host} was the only host in the region with room for a {p.type}"
    options = [
        right,
        "The scheduler picks among the hosts at random, and this session's seed happened to pick " + p.host,
        wrong_only,
        _fourth(p),
    ]
    order = list(range(len(options)))
    rng.shuffle(order)
    facts = [f"your call: {p.call.describe()}"]
    if p.earlier_failure is not None:
        facts.append(f"before it: {p.earlier_failure.describe()}")
    facts.append(f"then: {p.step.describe()}")
    explanation = (
        "From your run's event log: " + "; ".join(facts) + ". The scheduler filters first, then scores what is "
        f"left ({d.policy}); placement is deterministic, never random. At that moment "
        + _score_table(d)
        + "."
    )
    return AskedQuestion(
        id=f"own-why-{p.instance}",
        kind="choice",
        skills=["resource scheduling"],
        text=(
            f"From {_saved(chapter, run)}: instance {p.instance} landed on host {p.host}. Why there?\n"
            "Your event log:\n" + excerpt([p.call, p.earlier_failure, p.step]) + "\n" + _decision_line(p)
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
            f"In {_saved(chapter, run)}, how many seconds passed from your RunInstances call for {p.instance} "
            f"until it was running? (within {SECONDS_TOLERANCE:g}s)\n"
            "Your event log:\n" + excerpt([p.call, p.running])
        ),
        options=[],
        answer=round(seconds, 3),
        tolerance=SECONDS_TOLERANCE,
        follows=f"own-why-{p.instance}",
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
