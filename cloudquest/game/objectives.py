"""Objectives and grading: declarative checks read from metrics and events.

A check is a predicate on the current state: a metric comparison, "an event of this kind
(with these fields) has happened", optionally only after another event, and ``all`` /
``any`` / ``not`` of those. The objective's ``when`` says over which moments it must
hold:

- ``end``: at the end of the run (what the player leaves behind);
- ``eventually``: at some sample during the run (it is kept once reached);
- ``always``: at every sample (one violation fails it for good).

Samples are taken after every command and after every simulation step, so ``always``
means "at every tick". Nothing is ever ``eval``'d. Every verdict carries evidence: the
simulated time and the values or events that decided it.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..cloud.events import Event, EventLog
from .checks import AllCheck, AnyCheck, EventCheck, MetricCheck, NotCheck, Objective

OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
GLYPH = {"passed": "✔ PASS", "failed": "✘ FAIL", "pending": "… PENDING"}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class EventWatcher:
    """Counts matching events incrementally, so each sample reads only new events."""

    def __init__(self, check: EventCheck) -> None:
        self.check = check
        self.count = 0
        self.first: Event | None = None
        self.armed = check.after is None
        self.arming: Event | None = None
        self._seen = 0

    @staticmethod
    def _matches(event: Event, kind: str, where: dict[str, Any]) -> bool:
        if event.kind != kind:
            return False
        for key, want in where.items():
            got = event.get(key)
            if got != want and str(got) != str(want):
                return False
        return True

    def update(self, log: EventLog) -> None:
        check = self.check
        for event in log.since(self._seen):
            if not self.armed:
                if self._matches(event, check.after.event, check.after.where):
                    self.armed = True
                    self.arming = event
                continue
            if self._matches(event, check.event, check.where):
                self.count += 1
                if self.first is None:
                    self.first = event
        self._seen = len(log)

    def describe_after(self) -> str:
        a = self.check.after
        return a.event + "".join(f" {k}={v}" for k, v in a.where.items()) if a else ""

    def describe_want(self) -> str:
        c = self.check
        where = "".join(f" {k}={v}" for k, v in c.where.items())
        after = f" after {self.describe_after()}" if c.after else ""
        times = f" (at least {c.min_count}x)" if c.min_count > 1 else ""
        return f"{c.event}{where}{after}{times}"


def absent_metric(name: str) -> str:
    """A metric that is not there yet, read as what it measures (never as a list of
    metric names): "api is not running yet", "this world has no storage cluster"."""
    from .mechanism import metric_of

    found = metric_of(name)
    if found is None:
        return f"{name} is not measured in this world"
    mechanism, metric = found
    if metric.family:
        member = name[len(metric.prefix) :]
        return metric.absent.format(member) if metric.absent else f"{metric.help}: nothing for {member} yet"
    return f"{metric.help}: not measured here (this world has no {mechanism.name} section)"


def _once(details: Any) -> list[str]:
    """Each piece of evidence once, in order (two checks can fail for the same reason)."""
    return list(dict.fromkeys(details))


@dataclass
class Verdict:
    ok: bool
    detail: str


class CheckEvaluator:
    def __init__(self, check: Any) -> None:
        self.check = check
        self.watchers: dict[int, EventWatcher] = {}
        self._collect(check)

    def _collect(self, check: Any) -> None:
        if isinstance(check, EventCheck):
            self.watchers[id(check)] = EventWatcher(check)
        elif isinstance(check, (AllCheck, AnyCheck)):
            for c in check.all if isinstance(check, AllCheck) else check.any:
                self._collect(c)
        elif isinstance(check, NotCheck):
            self._collect(check.not_)

    def update(self, log: EventLog) -> None:
        for w in self.watchers.values():
            w.update(log)

    def evaluate(self, metrics: Mapping[str, Any], check: Any = None) -> Verdict:
        check = self.check if check is None else check
        if isinstance(check, MetricCheck):
            if check.metric not in metrics:
                return Verdict(False, absent_metric(check.metric))
            value = metrics[check.metric]
            ok = OPS[check.op](value, check.value)
            return Verdict(ok, f"{check.metric}={_fmt(value)} (needs {check.op} {_fmt(check.value)})")
        if isinstance(check, EventCheck):
            w = self.watchers[id(check)]
            ok = w.count >= check.min_count
            if ok:
                return Verdict(True, f"{w.first.describe()}" + (f" (+{w.count - 1} more)" if w.count > 1 else ""))
            if w.count:
                return Verdict(False, f"only {w.count} of {check.min_count}x {w.describe_want()}")
            if not w.armed:
                return Verdict(False, f"no {w.describe_after()} yet, so no {w.describe_want()}")
            return Verdict(False, f"no {w.describe_want()} yet")
        if isinstance(check, AllCheck):
            parts = [self.evaluate(metrics, c) for c in check.all]
            ok = all(p.ok for p in parts)
            shown = parts if ok else [p for p in parts if not p.ok]
            return Verdict(ok, "; ".join(_once(p.detail for p in shown)))
        if isinstance(check, AnyCheck):
            parts = [self.evaluate(metrics, c) for c in check.any]
            ok = any(p.ok for p in parts)
            shown = [p for p in parts if p.ok] if ok else parts
            return Verdict(ok, ("; " if ok else " or ").join(_once(p.detail for p in shown[: 1 if ok else None])))
        if isinstance(check, NotCheck):
            inner = self.evaluate(metrics, check.not_)
            if inner.ok:
                return Verdict(False, f"must not happen, but: {inner.detail}")
            return Verdict(True, f"as required, {inner.detail}")
        raise TypeError(f"unknown check {check!r}")


@dataclass
class ObjectiveState:
    objective: Objective
    evaluator: CheckEvaluator
    status: str = "pending"  # passed | failed | pending (live view)
    decided_at_ms: int | None = None
    evidence: str = ""
    detail: str = ""  # the latest verdict's values
    settled: bool = False  # an eventually that was reached or an always that broke

    @property
    def id(self) -> str:
        return self.objective.id


@dataclass
class ObjectiveResult:
    id: str
    text: str
    skills: list[str]
    passed: bool
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "skills": self.skills, "passed": self.passed, "evidence": self.evidence}


@dataclass
class Grader:
    objectives: list[Objective]
    states: list[ObjectiveState] = field(default_factory=list)
    last_fault: Event | None = None
    _fault_seen: int = 0

    def __post_init__(self) -> None:
        self.states = [ObjectiveState(o, CheckEvaluator(o.check)) for o in self.objectives]

    @property
    def temporal(self) -> bool:
        return any(o.when != "end" for o in self.objectives)

    def watched_metrics(self) -> set[str]:
        """The metrics an unsettled ``eventually`` or ``always`` objective reads: the only
        ones whose value between two commands can change a verdict (an ``end``
        objective is decided by the last sample)."""
        out: set[str] = set()

        def walk(check: Any) -> None:
            if isinstance(check, MetricCheck):
                out.add(check.metric)
            elif isinstance(check, AllCheck):
                for c in check.all:
                    walk(c)
            elif isinstance(check, AnyCheck):
                for c in check.any:
                    walk(c)
            elif isinstance(check, NotCheck):
                walk(check.not_)

        for st in self.states:
            if st.objective.when != "end" and not st.settled:
                walk(st.objective.check)
        return out

    def _track_faults(self, log: EventLog) -> None:
        for event in log.since(self._fault_seen):
            if event.kind in ("fault.injected", "instance.unreachable", "launch.failed"):
                self.last_fault = event
        self._fault_seen = len(log)

    def sample(self, t_ms: int, metrics: Mapping[str, Any], log: EventLog, temporal_only: bool = False) -> None:
        """Grade every objective not yet settled against ``metrics`` at ``t_ms`` (with
        ``temporal_only``, the ``eventually`` and ``always`` ones only)."""
        self._track_faults(log)
        for st in self.states:
            st.evaluator.update(log)
            if st.settled or (temporal_only and st.objective.when == "end"):
                continue
            verdict = st.evaluator.evaluate(metrics)
            st.detail = verdict.detail
            when = st.objective.when
            at = f"t={t_ms / 1000:g}s"
            if when == "eventually" and verdict.ok:
                st.status, st.settled, st.decided_at_ms = "passed", True, t_ms
                st.evidence = f"reached at {at}: {verdict.detail}"
            elif when == "always" and not verdict.ok:
                st.status, st.settled, st.decided_at_ms = "failed", True, t_ms
                cause = self._cause(t_ms)
                st.evidence = f"failed at {at}: {verdict.detail}{cause}"
            else:
                st.status = "passed" if verdict.ok else "pending"
                st.decided_at_ms = t_ms
                if when == "eventually":
                    st.evidence = f"not reached yet (now {at}: {verdict.detail})"
                elif when == "always":
                    st.evidence = f"held at every tick so far (now {at}: {verdict.detail})"
                else:
                    st.evidence = f"at {at}: {verdict.detail}"

    def _cause(self, t_ms: int) -> str:
        f = self.last_fault
        if f is None:
            return ""
        return f" (latest incident: {f.describe()})"

    def results(self, end_ms: int) -> list[ObjectiveResult]:
        out = []
        at = f"t={end_ms / 1000:g}s"
        for st in self.states:
            o = st.objective
            if o.when == "eventually":
                passed = st.settled
                evidence = st.evidence if passed else f"never reached by the end ({at}): {st.detail}"
            elif o.when == "always":
                passed = not st.settled
                evidence = f"held at every tick to {at}: {st.detail}" if passed else st.evidence
            else:
                passed = st.status == "passed"
                evidence = (f"at the end ({at}): " if passed else f"failed at the end ({at}): ") + st.detail
                if not passed:
                    evidence += self._cause(end_ms)
            out.append(ObjectiveResult(o.id, o.text, list(o.skills), passed, evidence))
        return out
