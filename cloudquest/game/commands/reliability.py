"""Failure-design commands: the budget, the incidents so far, and ``verify`` (the same
design under other seeds)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ...cloud import reliability as rel_module
from ...cloud.catalogue import CATALOGUE, T3_UNLIMITED_USD_PER_VCPU_HOUR
from ...cloud.loadbalancer import LoadBalancing
from ...cloud.mechanism import events
from ...cloud.reliability import HOURS_PER_MONTH, Reliability
from ...cloud.storage import ObjectStore
from ...cloud.timeline import Timeline
from ..mechanism import Mechanism
from ..parser import CommandError, tokenize
from ..registry import CommandSet, Param
from .loadbalancer import health_text

if TYPE_CHECKING:
    from ..checks import Check
    from ..session import RunResult, Session

command = CommandSet()
DEFAULT_VERIFY_SEEDS = 5
MAX_VERIFY_SEEDS = 10


def _reliability(session: "Session") -> Reliability:
    rel = session.cloud.get(Reliability)
    if rel is None:
        raise CommandError("this world keeps no cost or incident accounts (its world has no reliability section)")
    return rel


@command("budget", "what the design costs per hour, item by item, against the budget")
def budget(session: "Session") -> str:
    rel = _reliability(session)
    parts = rel.cost_breakdown()
    cloud = session.cloud
    lines = []
    billed = [i for i in cloud.control.instances.values() if i.state in ("running", "impaired")]
    by_type: dict[str, int] = {}
    for i in billed:
        by_type[i.type.name] = by_type.get(i.type.name, 0) + 1
    shown = ", ".join(f"{n} x {t} at ${p:.4f}" for t, n, p in ((t, n, _price(t)) for t, n in sorted(by_type.items())))
    lines.append(f"  instances      ${parts['instances']:.4f}/h  ({shown or 'none running'}; us-east-1 on-demand)")
    groups: dict[tuple[str, int, int, bool], int] = {}
    for i in billed:
        acct = rel.credits.get(i.id)
        if acct is not None:
            key = (i.type.name, round(acct.cpu_pct), i.type.baseline_pct, acct.usd_per_hour > 0)
            groups[key] = groups.get(key, 0) + 1
    if groups:
        cpu = ", ".join(
            f"{n} x {t} at {pct}% CPU, baseline {base}%" + (", surplus billed" if paid else "")
            for (t, pct, base, paid), n in sorted(groups.items())
        )
        lines.append(
            f"  cpu credits    ${parts['cpu_credits']:.4f}/h  ({cpu}; above the baseline, once banked credits "
            f"run out: ${T3_UNLIMITED_USD_PER_VCPU_HOUR:g} per vCPU-hour)"
        )
    lbs = cloud.get(LoadBalancing)
    if lbs is not None:
        lines.append(
            f"  load balancers ${parts['load_balancers']:.4f}/h  ({len(lbs.balancers)} x ${lbs.config.usd_per_hour:g}/h)"
        )
    store = cloud.get(ObjectStore)
    if store is not None:
        gib = store.bytes_raw / (1 << 30)
        lines.append(
            f"  storage        ${parts['storage']:.4f}/h  ({gib:.4g} GiB raw x ${rel.config.storage_usd_per_gib_month:g}"
            f"/GiB-month / {HOURS_PER_MONTH} h)"
        )
    total = rel.cost_per_hour()
    head = f"cost ${total:.4f} per hour"
    if rel.config.budget_per_hour is not None:
        left = rel.config.budget_per_hour - total
        verdict = f"${left:.4f} under" if left >= 0 else f"${-left:.4f} OVER"
        head += f" against a budget of {_usd(rel.config.budget_per_hour)}: {verdict}"
    return "\n".join([head, *lines])


def _usd(amount: float) -> str:
    """$0.30, not $0.3; finer amounts as they are."""
    return f"${amount:.2f}" if round(amount, 2) == amount else f"${amount:g}"


def _price(type_name: str) -> float:
    return CATALOGUE[type_name].price_per_hour


@command("incidents", "every incident so far: what failed, what users saw, how long until whole again")
def incidents(session: "Session") -> str:
    rel = _reliability(session)
    report = rel.report()
    if not report:
        return "no incidents yet"
    # One incident: its headline, then what happened, a line each in time order (a
    # timeline that reads in an 80-column console).
    lines = []
    for r in report:
        head, *parts = r["evidence"].split("; ")
        lines.append(head)
        lines.extend(f"    {part}" for part in parts)
    return "\n".join(lines)


# -- verify: the same design under other seeds ------------------------------------------------
# Commands that look, wait or check, and change nothing a verify would have replayed.
READ_ONLY_VERBS = frozenset(
    {"help", "status", "tick", "objectives", "hint", "describe", "lb health", "budget", "incidents", "verify",
     "ls", "df", "locate", "get", "storage"}
)  # fmt: skip


def design_changes_after(session: "Session", index: int) -> int:
    """Commands after transcript position ``index`` that changed the design (accepted,
    and not read-only): a verify vouches only for the design it replayed."""
    from ..registry import resolve_verb

    changes = 0
    for outcome in session.transcript[index + 1 :]:
        if not outcome.ok:
            continue
        try:
            spec, _ = resolve_verb(tokenize(outcome.line), None)
        except CommandError:
            continue
        if spec.verb not in READ_ONLY_VERBS:
            changes += 1
    return changes
def _is_verify(line: str) -> bool:
    try:
        tokens = tokenize(line)
    except CommandError:
        return False
    return bool(tokens) and tokens[0].lower() == "verify"


def _uses_verify(check: "Check") -> bool:
    from ..checks import AllCheck, AnyCheck, EventCheck, MetricCheck, NotCheck

    if isinstance(check, EventCheck):
        return check.event.startswith("verify.")
    if isinstance(check, MetricCheck):
        return check.metric.startswith("verify")
    if isinstance(check, AllCheck):
        return any(_uses_verify(c) for c in check.all)
    if isinstance(check, AnyCheck):
        return any(_uses_verify(c) for c in check.any)
    if isinstance(check, NotCheck):
        return _uses_verify(check.not_)
    return False


def replay_design(session: "Session", seed: int, until_ms: int) -> "RunResult":
    """Play this session's commands again (but not ``verify``) at the same times in a
    fresh session of the same chapter with another seed, to ``until_ms``; grade it on
    every objective that is not about verifying."""
    from ..replay import play
    from ..session import Session

    chapter = session.chapter
    objectives = [o for o in chapter.objectives if not _uses_verify(o.check)]
    sub = Session(chapter.model_copy(update={"objectives": objectives}), seed, sandbox=session.sandbox)
    design = [(t_ms, line) for t_ms, line in session.command_log if not _is_verify(line)]
    return play(sub, design, until_ms).finish()


def _seed_line(seed: int, result: "RunResult") -> str:
    m = result.metrics
    facts = []
    if "availability_pct" in m:
        facts.append(f"availability {m['availability_pct']:g}%")
    if "objects_lost" in m:
        facts.append(f"{m['objects_lost']} objects lost")
    if "cost_per_hour" in m:
        facts.append(f"${m['cost_per_hour']:.4f}/h")
    if "time_to_recover_s" in m:
        facts.append(f"worst recovery {m['time_to_recover_s']:g}s")
    line = f"  seed {seed}: {'PASS' if result.passed else 'FAIL'}  " + ", ".join(facts)
    for o in result.objectives:
        if not o.passed:
            line += f"\n      ✘ {o.id}: {o.evidence}"
    return line


@command(
    "verify",
    "re-run your design under seeds 1..N through the whole timeline: mastery is not luck",
    options=[Param("seeds", "how many seeds", type=int, default=DEFAULT_VERIFY_SEEDS, min=1, max=MAX_VERIFY_SEEDS)],
    details="""Your commands so far (everything but verify itself) are played again, at the same
simulated times, in fresh worlds built with seeds 1, 2, ... N: other boot times,
other health-check phases, other data placement. Each run goes to the end of the
exercise and is graded on the chapter's other objectives. The outcome is logged, and
counts (metric verify_passed) until you change the design again.""",
    slow=True,
)
def verify(session: "Session", seeds: int) -> str:
    rel = session.cloud.get(Reliability)
    run_s = rel.config.run_s if rel is not None else None
    until_ms = run_s * 1000 if run_s else session.cloud.now_ms
    design = [line for _, line in session.command_log if not _is_verify(line)]
    if not design:
        raise CommandError("there is no design to verify yet: build your service first, then verify")
    if until_ms <= 0:
        raise CommandError("nothing would run: tick first, or give the world a reliability run_s")
    results = [(seed, replay_design(session, seed, until_ms)) for seed in range(1, seeds + 1)]
    passed = [s for s, r in results if r.passed]
    failed = [s for s, r in results if not r.passed]
    digest = hashlib.sha256("\n".join(design).encode()).hexdigest()[:16]
    session.cloud.emit(
        "verify.result",
        seeds=seeds,
        passed=len(passed),
        failed_seeds=",".join(map(str, failed)),
        commands=len(design),
        design_sha256=digest,
        until_s=until_ms / 1000,
    )
    rel = session.cloud.get(Reliability)
    if rel is not None:
        at = len(session.transcript)  # where this verify's own line will be
        rel.verify_status = lambda: len(passed) if design_changes_after(session, at) == 0 else 0
    verdict = "every seed passes: the design holds, not the dice" if not failed else f"{len(failed)} of {seeds} seeds fail"
    lines = [f"verify: your {len(design)} commands replayed to t={until_ms / 1000:g}s under seeds 1..{seeds}: {verdict}"]
    lines += [_seed_line(s, r) for s, r in results]
    return "\n".join(lines)


# -- status and the view in words ---------------------------------------------------------------
def reliability_view_text(session: "Session") -> str:
    """The failure-design view in words: the service, its data, its cost, its incidents."""
    cloud = session.cloud
    m = cloud.metrics()
    lines = [f"failure design at t={cloud.now_ms / 1000:g}s (chapter {session.chapter.id}, seed {session.seed})"]
    if "availability_pct" in m:
        lines.append(
            f"availability {m['availability_pct']:g}%: {m['requests_served']} of {m['requests_offered']} requests served, "
            f"load now {m['load_rps']} rps"
        )
    service = cloud.get(LoadBalancing)
    if service is not None:
        for lb in service.balancers.values():
            lines.append(health_text(session, lb))
    store = cloud.get(ObjectStore)
    if store is not None:
        lines.append(
            f"data: {m.get('objects', 0)} objects, {m.get('chunks_under_replicated', 0)} chunks under-replicated, "
            f"{m.get('repair_queue', 0)} queued for repair, {m.get('objects_lost', 0)} objects lost"
        )
    timeline = cloud.get(Timeline)
    if timeline is not None:
        nxt = timeline.upcoming(1)
        lines.append(
            f"timeline: {m['timeline_fired']} of {m['timeline_actions']} actions played"
            + (f"; next {nxt[0].describe()}" if nxt else "")
        )
    rel = cloud.get(Reliability)
    if rel is not None:
        budget_text = f" (budget {_usd(rel.config.budget_per_hour)})" if rel.config.budget_per_hour is not None else ""
        lines.append(f"cost ${m['cost_per_hour']:.4f}/h{budget_text}")
        for r in rel.report():
            lines.append(f"  {r['evidence']}")
    return "\n".join(lines)


def incident_report(session: "Session") -> list[dict[str, Any]]:
    rel = session.cloud.get(Reliability)
    return rel.report() if rel is not None else []


MECHANISM = Mechanism(
    name="reliability",
    summary="cost and incident accounting, and verify: the same design under other seeds (chapter 9)",
    section=rel_module.ReliabilitySpec,
    attach=rel_module.attach,
    needs=("loadbalancer", "storage", "balancer", "fabric", "edge"),
    commands=command,
    metrics=rel_module.METRICS,
    events=rel_module.EVENTS
    + events(("verify.result", "seeds passed failed_seeds commands design_sha256 until_s", "verify replayed the design")),
    views={"reliability": reliability_view_text},
)
