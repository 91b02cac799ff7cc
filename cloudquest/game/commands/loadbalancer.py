"""Load-balancer commands: create a front door, register targets, tune its health checks,
and read each node's view of each target."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud import loadbalancer as lb_module
from ...cloud.errors import CloudError
from ...cloud.loadbalancer import HEALTH_CHECK_LIMITS, LoadBalancer, LoadBalancing
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
SETTINGS = ("interval", "timeout", "healthy-threshold", "unhealthy-threshold")
SETTING_KEYS = dict(zip(SETTINGS, HEALTH_CHECK_LIMITS))


def _service(session: "Session") -> LoadBalancing:
    service = session.cloud.get(LoadBalancing)
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


@command(
    "lb create",
    "create a load balancer with one node in each of its zones",
    args=[Param("name", "a name for it")],
    options=[Param("zones", "comma-separated zones, at least two (default: every zone of the region)")],
    details="""An Application Load Balancer has a node in every zone you enable; clients are
spread over the nodes, and each node forwards to every healthy target (cross-zone).""",
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


def _status(session: "Session", thing: str | None) -> str | None:
    service = session.cloud.get(LoadBalancing)
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


def _balancers(session: "Session") -> list[str]:
    service = session.cloud.get(LoadBalancing)
    return sorted(service.balancers) if service is not None else []


MECHANISM = Mechanism(
    name="loadbalancer",
    summary="load balancers and the load offered to them: health checks, failing open (chapter 9)",
    section=lb_module.LoadBalancingSpec,
    attach=lb_module.attach,
    needs=("storage",),  # a request reads the store's data: the store steps first
    check=lb_module.check_world,
    commands=command,
    ids={"lb": _balancers},
    status=_status,
    metrics=lb_module.METRICS,
    events=lb_module.EVENTS,
)
