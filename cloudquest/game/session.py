"""A play session: one chapter, one seed, one cloud, one road for every command.

Every input, typed, scripted or replayed, goes through :meth:`Session.execute`; simulated
time moves only through :meth:`Session.advance` (the ``tick`` command headless, the live
clock in the terminal game). The session records the timed command log that a replay
needs, the transcript a player reads, and samples the objectives after every command and
every simulation step.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass
from typing import Any

from .. import ENGINE_VERSION
from ..cloud import Cloud, CloudError
from .mechanism import id_sources, mechanisms, metric_of
from .objectives import Grader, ObjectiveResult
from .parser import CommandError
from .registry import CORE_VERBS, parse, table
from .schema import Chapter, World


@dataclass
class Outcome:
    line: str
    ok: bool
    output: str
    t_ms: int
    error_kind: str = ""  # "" | "input" (rejected: nothing changed) | "api" (the cloud said no) | "internal"

    def as_dict(self) -> dict[str, Any]:
        out = {"command": self.line, "ok": self.ok, "output": self.output, "t_ms": self.t_ms}
        if self.error_kind:
            out["error"] = self.error_kind
        return out


@dataclass
class RunResult:
    chapter: str
    seed: int
    passed: bool
    objectives: list[ObjectiveResult]
    metrics: dict[str, Any]
    transcript: list[Outcome]
    event_log_sha256: str
    end_ms: int
    hints_used: int
    events: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "chapter": self.chapter,
            "seed": self.seed,
            "passed": self.passed,
            "objectives": [o.as_dict() for o in self.objectives],
            "metrics": self.metrics,
            "transcript": [t.as_dict() for t in self.transcript],
            "event_log_sha256": self.event_log_sha256,
            "end_s": self.end_ms / 1000,
            "hints_used": self.hints_used,
            "events": self.events,
        }


SANDBOX_ID = "sandbox"
# A long advance checks for an interruption every this many steps.
INTERRUPT_STEPS = 1000


def _clocked(metric: str) -> bool:
    found = metric_of(metric)
    return found is not None and found[1].clocked


class WorldError(Exception):
    """A valid world that cannot be built as written (an object no disks can hold, an
    instance no host can take): one line saying why."""


def new_cloud(world: World | dict[str, Any], seed: int | random.Random = 0) -> Cloud:
    """A cloud built from a world (a dict is validated first, as a world file would be)
    with every registered mechanism its sections switch on."""
    if not isinstance(world, World):
        world = World.model_validate(world)
    return Cloud(world, seed, mechanisms())


def free_play_chapter(world: World, ident: str = SANDBOX_ID, title: str = "Sandbox") -> Chapter:
    """A chapter around a world with no objectives: the sandbox, quiz worlds, benchmarks.
    Play it with ``Session(..., sandbox=True)`` to enable every command."""
    return Chapter.model_construct(
        id=ident,
        title=title,
        number=99,
        sections=[18],
        skills=[],
        story="Free play: every command, no objectives.",
        world=world,
        commands=[],
        objectives=[],
        hints=[],
        solution=[],
    )


class Session:
    def __init__(self, chapter: Chapter, seed: int = 0, *, sandbox: bool = False) -> None:
        self.chapter = chapter
        self.seed = int(seed)
        self.sandbox = sandbox
        try:
            self.cloud = new_cloud(chapter.world, self.seed)
            for inst in chapter.world.instances:
                self.cloud.control.launch(
                    inst.name, inst.type, inst.zone, instant=True, subnet=inst.subnet, security_groups=inst.groups
                )
        except CloudError as exc:
            raise WorldError(f"the world of {chapter.id} cannot be built: {exc.code}: {exc.message}") from None
        if sandbox:
            self.enabled = set(table())
        else:
            self.enabled = set(CORE_VERBS) | set(chapter.commands) | {"describe"}
            self.enabled &= set(table())
        self.grader = Grader(list(chapter.objectives))
        self.transcript: list[Outcome] = []
        self.command_log: list[tuple[int, str]] = []
        self.hints_used = 0
        self.state: dict[str, Any] = {}  # per-command scratch (e.g. what chapter 0 traced)
        self.stop_at_ms: int | None = None  # rebuilding a moment of a replay: time stops here
        self.chapter_file: str | None = None  # the chapter's file, for a chapter not installed (a replay finds it there)
        self.scenario: str | None = None  # the failure scenario (name or file) this run plays
        self.effective_line: str | None = None
        self._interrupt = threading.Event()
        self.sample()

    # -- the one road ----------------------------------------------------------------
    def execute(self, line: str) -> Outcome:
        t_ms = self.cloud.now_ms
        try:
            parsed = parse(line, self.enabled)
        except CommandError as exc:
            outcome = Outcome(line, False, f"error: {exc}", t_ms, "input")
        else:
            if parsed is None:
                return Outcome(line, True, "", t_ms)
            self.effective_line = None
            try:
                text = parsed.spec.handler(self, **parsed.values)
                outcome = Outcome(line, True, text or "", t_ms)
            except CommandError as exc:
                outcome = Outcome(line, False, f"error: {exc}", t_ms, "input")
            except CloudError as exc:
                outcome = Outcome(line, False, f"error: {exc.code}: {exc.message}", t_ms, "api")
            except Exception as exc:  # a bug must not take the player's run down with it
                outcome = Outcome(
                    line, False, f"internal error in {parsed.spec.verb}: {type(exc).__name__}: {exc} (please report)",
                    t_ms,
                    "internal",
                )
        # A handler that did less than asked (a tick cut short at a replay's moment)
        # logs what it did, so a fork's own replay reproduces it. A rejected line changed
        # nothing, so it stays out of the log a replay and ``verify`` re-run (and hash):
        # the player still reads it in the transcript.
        if outcome.error_kind != "input":
            self.command_log.append((t_ms, self.effective_line or line))
        self.effective_line: str | None = None
        self.transcript.append(outcome)
        if outcome.error_kind != "input":  # a rejected line changed nothing: nothing to grade anew
            self.sample()
        return outcome

    def run_script(self, lines: list[str]) -> list[Outcome]:
        return [self.execute(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]

    # -- time ------------------------------------------------------------------------
    def advance(self, ms: int) -> None:
        """Move time on by ``ms`` (less when time stops at ``stop_at_ms``, or when
        :meth:`interrupt` is called meanwhile: then on the next step boundary)."""
        if self.stop_at_ms is not None:
            ms = min(ms, self.stop_at_ms - self.cloud.now_ms)
            if ms <= 0:
                return
        on_step = self.sample_step if self.grader.temporal else None
        # Sampling only at the ends of an idle stretch gives the same verdicts unless
        # an objective still open reads a metric that moves with the clock alone.
        steady = on_step is not None and not any(_clocked(name) for name in self.grader.watched_metrics())
        if self._interrupt.is_set():
            return
        # In slices that end on step boundaries, so another thread may stop a long advance
        # between two of them. A cut on a step boundary gives the events an uncut advance
        # gives (see stoppable below), so slicing changes nothing a replay could see.
        tick, end = self.cloud.tick_ms, self.cloud.now_ms + ms
        while self.cloud.now_ms < end:
            boundary = (self.cloud.now_ms // tick + INTERRUPT_STEPS) * tick
            self.cloud.advance(min(end, boundary) - self.cloud.now_ms, on_step=on_step, steady_samples=steady)
            if self._interrupt.is_set():
                break
        self.sample()

    def interrupt(self) -> None:
        """Ask a running advance (a long ``tick`` in another thread) to stop at its next
        step boundary; the ``tick`` is then logged as the part that ran. Until
        :meth:`resume`, time does not move."""
        self._interrupt.set()

    def resume(self) -> None:
        self._interrupt.clear()

    @property
    def interrupted(self) -> bool:
        return self._interrupt.is_set()

    def advance_to(self, t_ms: int) -> None:
        if t_ms > self.cloud.now_ms:
            self.advance(t_ms - self.cloud.now_ms)

    # -- where time may stop ----------------------------------------------------------
    # A live run and its replay must give the same events. A replay re-runs the time
    # between two commands in one go, cut at step boundaries (multiples of tick_ms). In a
    # world whose mechanisms run per step (step hooks: the hypervisor's slices, storage's
    # repair), every hook must see the same step lengths, so a live clock may stop only on
    # a step boundary. Worlds without step hooks are event-driven only (the clock's
    # queue): any cut gives the same events, so time may stop anywhere.
    @property
    def steps_only(self) -> bool:
        """Whether time may stop only on step boundaries in this world."""
        return bool(self.cloud.step_hooks)

    def stoppable(self, ms: int) -> int:
        """The most of ``ms`` the clock may move now and stop (0 if less than a step)."""
        if not self.steps_only:
            return max(0, ms)
        tick, now = self.cloud.tick_ms, self.cloud.now_ms
        return max(0, (now + ms) // tick * tick - now)

    def step_ms(self) -> int:
        """From now to the next step boundary: one single step."""
        tick, now = self.cloud.tick_ms, self.cloud.now_ms
        return (now // tick + 1) * tick - now

    # -- grading ---------------------------------------------------------------------
    def sample(self) -> None:
        self.grader.sample(self.cloud.now_ms, self.cloud.metrics(), self.cloud.log)

    def sample_step(self) -> None:
        """The sample after each step of an advance: only what can be decided between two
        steps (the ``eventually`` and ``always`` objectives), reading only the metrics
        they name; the sample that ends the advance grades everything."""
        self.grader.sample(self.cloud.now_ms, self.cloud.metrics_on_demand(), self.cloud.log, temporal_only=True)

    def finish(self) -> RunResult:
        self.sample()
        results = self.grader.results(self.cloud.now_ms)
        return RunResult(
            chapter=self.chapter.id,
            seed=self.seed,
            passed=all(r.passed for r in results),
            objectives=results,
            metrics=self.cloud.metrics(),
            transcript=list(self.transcript),
            event_log_sha256=self.cloud.log.sha256(),
            end_ms=self.cloud.now_ms,
            hints_used=self.hints_used,
            events=len(self.cloud.log),
        )

    # -- helpers for commands and views ----------------------------------------------
    def ids(self, kind: str) -> list[str]:
        """The live world's ids of one kind (instances, hosts, objects, ...), for
        completion and error messages; [] for a kind no mechanism knows."""
        source = id_sources().get(kind)
        return source(self) if source is not None else []

    def replay_record(self) -> dict[str, Any]:
        return {
            "format": "cloudquest-replay",
            "engine_version": ENGINE_VERSION,
            "chapter": self.chapter.id,
            "chapter_sha256": chapter_fingerprint(self.chapter),
            "seed": self.seed,
            "sandbox": self.sandbox,
            "commands": [{"t_ms": t, "line": line} for t, line in self.command_log],
            "end_ms": self.cloud.now_ms,
            "event_log_sha256": self.cloud.log.sha256(),
            **({"chapter_file": self.chapter_file} if self.chapter_file else {}),
            **({"scenario": self.scenario} if self.scenario else {}),
        }


def chapter_fingerprint(chapter: Chapter) -> str:
    """A hash of what shapes the simulation: world, commands and objectives."""
    payload = chapter.model_dump_json(include={"world", "commands", "objectives"})
    return hashlib.sha256(payload.encode()).hexdigest()
