"""Failure-design commands: load balancers and their health checks, the budget, the
incidents so far, and ``verify`` (the same design under other seeds)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ...cloud.errors import CloudError
from ...cloud.loadbalancer import HEALTH_CHECK_LIMITS, LoadBalancer, LoadBalancing
from ...cloud.reliability import HOURS_PER_MONTH, Reliability
from ..parser import CommandError, tokenize
from ..registry import Param, command
from ..session import ID_SOURCES
from ..view_text import VIEW_TEXT
from .core import STATUS_PROVIDERS

if TYPE_CHECKING:
    from ..schema import Check
    from ..session import RunResult, Session

SETTINGS = ("interval", "timeout", "healthy-threshold", "unhealthy-threshold")
SETTING_KEYS = dict(zip(SETTINGS, HEALTH_CHECK_LIMITS))
DEFAULT_VERIFY_SEEDS = 5
MAX_VERIFY_SEEDS = 10


def _service(session: "Session") -> LoadBalancing:
    service = session.cloud.extensions.get("loadbalancer")
    if service is None:
        raise CommandError("this world has no load balancing (its world has no loadbalancer section)")
    return service


def _lb(session: "Session", name: str) -> LoadBalancer:
    service = _service(session)
    lb = service.balancers.get(name)
    if lb is None:
        known = ", ".join(service.balancers) or "none yet; lb create NAME"
        raise CommandError(f"no load balancer named {name!r} (load balancers: {known})")
    return lb


def _reliability(session: "Session") -> Reliability:
    rel = session.cloud.extensions.get("reliability")
    if rel is None:
        raise CommandError("this world keeps no cost or incident accounts (its world has no reliability section)")
    return rel


ID_SOURCES["lb"] = lambda s: sorted(s.cloud.extensions["loadbalancer"].balancers) if "loadbalancer" in s.cloud.extensions else []


@command(
    "lb create",
    "create a load balancer with one node in each of its zones",
    args=[Param("name", "a name for it")],
    options=[Param("zones", "comma-separated zones, at least two (default: every zone of the region)")],
    details="""An Application Load Balancer has a node in every zone you enable; clients are
spread over the nodes, and each node forwards to every healthy target (cross-zone).""",
    group="reliability",
)
def lb_create(session: "Session", name: str, zones: str | None) -> str:
    service = _service(session)
    zone_list = [z.strip() for z in zones.split(",") if z.strip()] if zones else None
    lb = service.create(name, zone_list)
    return (
        f"load balancer {lb.name}: nodes in {', '.join(lb.zones)}; health checks {lb.health_check.describe()}\n"
        f"register targets with: lb register {lb.name} INSTANCE[,INSTANCE...]"
    )


@command(
    "lb register",
    "register instances as targets (each node starts health-checking them)",
    args=[Param("lb", "the load balancer", complete="lb"), Param("instances", "INSTANCE or a comma-separated list", complete="instance")],
    group="reliability",
)
def lb_register(session: "Session", lb: str, instances: str) -> str:
    balancer = _lb(session, lb)
    names = [n.strip() for n in instances.split(",") if n.strip()]
    if not names:
        raise CommandError("name at least one instance (usage: lb register LB INSTANCE[,INSTANCE...])")
    if len(set(names)) != len(names):
        raise CommandError("each instance may be named once")
    control = session.cloud.control
    for n in names:  # check them all before registering any
        inst = control.instances.get(n)
        if inst is None or not inst.alive:
            known = ", ".join(sorted(i.name for i in control.alive())) or "none"
            raise CommandError(f"no live instance named {n!r} (instances: {known})")
        if n in balancer.targets:
            raise CommandError(f"{n} is already registered with {balancer.name}")
    for n in names:
        balancer.register(n)
    return (
        f"registered {', '.join(names)} with {balancer.name}: state initial until a node's first health check passes "
        f"(one check every {balancer.health_check.interval_s} s per node)"
    )


@command(
    "lb deregister",
    "take a target out of a load balancer",
    args=[Param("lb", "the load balancer", complete="lb"), Param("instance", "a registered instance", complete="instance")],
    group="reliability",
)
def lb_deregister(session: "Session", lb: str, instance: str) -> str:
    balancer = _lb(session, lb)
    if instance not in balancer.targets:
        raise CommandError(f"{instance!r} is not registered with {lb} (targets: {', '.join(balancer.targets) or 'none'})")
    balancer.deregister(instance)
    return f"deregistered {instance} from {lb}"


@command(
    "lb set",
    "change a health check setting (AWS's ranges apply)",
    args=[
        Param("lb", "the load balancer", complete="lb"),
        Param("setting", "what to change", choices=SETTINGS),
        Param(
            "value",
            "seconds, or a count of checks",
            type=int,
            min=min(lo for lo, _, _ in HEALTH_CHECK_LIMITS.values()),
            max=max(hi for _, hi, _ in HEALTH_CHECK_LIMITS.values()),
        ),
    ],
    details="""interval             seconds between checks by each node (5-300, AWS default 30)
timeout              seconds without an answer that fail a check (2-120, default 5; below the interval)
healthy-threshold    passes in a row to put a target back (2-10, default 5)
unhealthy-threshold  failures in a row to take it out (2-10, default 2)""",
    group="reliability",
)
def lb_set(session: "Session", lb: str, setting: str, value: int) -> str:
    balancer = _lb(session, lb)
    try:
        balancer.health_check.changed(SETTING_KEYS[setting], value)  # check first: a refusal changes nothing
    except CloudError as exc:
        raise CommandError(exc.message) from None
    old, new = balancer.configure(SETTING_KEYS[setting], value)
    lo, hi = balancer.health_check.detection_gap_s()
    return (
        f"{lb} {setting}: {old} -> {new}; health checks now {balancer.health_check.describe()}\n"
        f"a dead target now keeps receiving requests for {lo} to {hi} s before a node takes it out"
    )


def health_text(session: "Session", balancer: LoadBalancer) -> str:
    service: LoadBalancing = balancer.service
    hc = balancer.health_check
    lo, hi = hc.detection_gap_s()
    up = balancer.nodes_up()
    lines = [
        f"load balancer {balancer.name}: nodes {', '.join(z + ('' if z in up else ' (DOWN)') for z in balancer.zones)}",
        f"  health checks {hc.describe()}; detection gap {lo}-{hi} s",
    ]
    if not balancer.targets:
        lines.append("  no targets registered")
        return "\n".join(lines)
    width = max(len(t) for t in balancer.targets)
    lines.append(f"  {'target':<{width}}  {'zone':<8} " + " ".join(f"{z:<12}" for z in balancer.zones) + " answers")
    for t in balancer.targets.values():
        inst = session.cloud.control.instances.get(t.instance)
        zone = inst.zone if inst is not None and inst.zone else "-"
        views = " ".join(f"{t.views[z].state:<12}" for z in balancer.zones)
        probe = service.probe(balancer.zones[0], t.instance)
        if not probe.answers:
            truth = f"no ({probe.reason})"
        elif probe.latency_ms > service.config.client_timeout_ms:
            truth = f"too slow ({probe.latency_ms:g} ms)"
        else:
            truth = f"yes ({probe.latency_ms:g} ms)"
        lines.append(f"  {t.instance:<{width}}  {zone:<8} {views} {truth}")
    for z in up:
        _, fail_open = balancer.routable(z)
        if fail_open:
            lines.append(f"  node {z} has no healthy target: failing open (sending to all of them)")
    return "\n".join(lines)


@command(
    "lb health",
    "each node's view of each target, and whether the target really answers",
    args=[Param("lb", "the load balancer (default: every one)", required=False, complete="lb")],
    group="reliability",
)
def lb_health(session: "Session", lb: str | None) -> str:
    service = _service(session)
    balancers = [_lb(session, lb)] if lb else list(service.balancers.values())
    if not balancers:
        return "no load balancers yet (lb create NAME)"
    m = service.metrics()
    head = (
        f"load {m['load_rps']} rps; offered {m['requests_offered']}, served {m['requests_served']}, "
        f"failed {m['requests_failed']}; availability {m['availability_pct']:g}%"
    )
    return "\n".join([head] + [health_text(session, b) for b in balancers])


@command("budget", "what the design costs per hour, item by item, against the budget", group="reliability")
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
    lines.append(f"  instances      ${parts['instances']:.4f}/h  ({shown or 'none running'})")
    lbs = cloud.extensions.get("loadbalancer")
    if lbs is not None:
        lines.append(
            f"  load balancers ${parts['load_balancers']:.4f}/h  ({len(lbs.balancers)} x ${lbs.config.usd_per_hour:g}/h)"
        )
    store = cloud.extensions.get("storage")
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
        head += f" against a budget of ${rel.config.budget_per_hour:g}: {verdict}"
    return "\n".join([head, *lines])


def _price(type_name: str) -> float:
    from ...cloud.catalogue import CATALOGUE

    return CATALOGUE[type_name].price_per_hour


@command("incidents", "every incident so far: what failed, what users saw, how long until whole again", group="reliability")
def incidents(session: "Session") -> str:
    rel = _reliability(session)
    report = rel.report()
    if not report:
        return "no incidents yet"
    return "\n".join(r["evidence"] for r in report)


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
    from ..schema import AllCheck, AnyCheck, EventCheck, MetricCheck, NotCheck

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
    from ..session import Session

    chapter = session.chapter
    objectives = [o for o in chapter.objectives if not _uses_verify(o.check)]
    sub = Session(chapter.model_copy(update={"objectives": objectives}), seed, sandbox=session.sandbox)
    for t_ms, line in session.command_log:
        if _is_verify(line):
            continue
        sub.advance_to(t_ms)
        sub.execute(line)
    sub.advance_to(max(until_ms, sub.cloud.now_ms))
    return sub.finish()


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
    group="reliability",
)
def verify(session: "Session", seeds: int) -> str:
    rel = session.cloud.extensions.get("reliability")
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
    rel = session.cloud.extensions.get("reliability")
    if rel is not None:
        at = len(session.transcript)  # where this verify's own line will be
        rel.verify_status = lambda: len(passed) if design_changes_after(session, at) == 0 else 0
    verdict = "every seed passes: the design holds, not the dice" if not failed else f"{len(failed)} of {seeds} seeds fail"
    lines = [f"verify: your {len(design)} commands replayed to t={until_ms / 1000:g}s under seeds 1..{seeds}: {verdict}"]
    lines += [_seed_line(s, r) for s, r in results]
    return "\n".join(lines)


# -- status and the view in words ---------------------------------------------------------------
def _status(session: "Session", thing: str | None) -> str | None:
    service = session.cloud.extensions.get("loadbalancer")
    if service is None:
        return None
    if thing is not None:
        lb = service.balancers.get(thing)
        return health_text(session, lb) if lb is not None else None
    if not service.balancers:
        return "load balancers: none"
    m = service.metrics()
    return (
        f"load balancers: {', '.join(service.balancers)}; load {m['load_rps']} rps, "
        f"availability {m['availability_pct']:g}% ({m['requests_failed']} of {m['requests_offered']} requests failed)"
    )


STATUS_PROVIDERS.append(_status)


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
    service = cloud.extensions.get("loadbalancer")
    if service is not None:
        for lb in service.balancers.values():
            lines.append(health_text(session, lb))
    store = cloud.extensions.get("storage")
    if store is not None:
        lines.append(
            f"data: {m.get('objects', 0)} objects, {m.get('chunks_under_replicated', 0)} chunks under-replicated, "
            f"{m.get('repair_queue', 0)} queued for repair, {m.get('objects_lost', 0)} objects lost"
        )
    timeline = cloud.extensions.get("timeline")
    if timeline is not None:
        nxt = timeline.upcoming(1)
        lines.append(
            f"timeline: {m['timeline_fired']} of {m['timeline_actions']} actions played"
            + (f"; next {nxt[0].describe()}" if nxt else "")
        )
    rel = cloud.extensions.get("reliability")
    if rel is not None:
        budget_text = f" (budget ${rel.config.budget_per_hour:g})" if rel.config.budget_per_hour is not None else ""
        lines.append(f"cost ${m['cost_per_hour']:.4f}/h{budget_text}")
        for r in rel.report():
            lines.append(f"  {r['evidence']}")
    return "\n".join(lines)


VIEW_TEXT["reliability"] = reliability_view_text


def incident_report(session: "Session") -> list[dict[str, Any]]:
    rel = session.cloud.extensions.get("reliability")
    return rel.report() if rel is not None else []
