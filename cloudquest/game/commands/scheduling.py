"""Scheduling-chapter commands: tune the scheduler, placement groups, manual placement,
explain a decision, the request stream, live migration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud import fleet as fleet_module
from ...cloud.errors import CloudError
from ...cloud.fleet import Fleet, migrate
from ...cloud.mechanism import events
from ...cloud.scheduler import (
    MAX_CPU_RATIO,
    MAX_PARTITIONS,
    MAX_RAM_RATIO,
    MAX_WEIGHT,
    POLICIES,
    STRATEGIES,
    Explanation,
    Request,
    check_setting,
)
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param
from ..view_text import remember_explained, scheduling_text

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()

RESOURCES = ("cpu", "ram")
POLICY_WORDS = {
    "spread": "LeastAllocated: (capacity - requested) * 100 / capacity, favours the emptiest host",
    "pack": "MostAllocated: requested * 100 / capacity, favours the fullest host that still fits",
    "balanced": "BalancedAllocation: (1 - std of the cpu and ram fractions) * 100, favours even use",
}
EXPLAIN_ALL_ROWS = 80


def _fleet(session: "Session") -> Fleet:
    fleet = session.cloud.get(Fleet)
    if fleet is None:
        raise CommandError("this world has no request stream (its world has no fleet section)")
    return fleet


def _pending(session: "Session") -> list[str]:
    fleet = session.cloud.get(Fleet)
    return [r.name for r in fleet.pending()] if fleet is not None else []


def _explainable(session: "Session") -> list[str]:
    return sorted(set(_pending(session)) | {n for n, i in session.cloud.control.instances.items() if i.alive})


def _config_line(session: "Session") -> str:
    c = session.cloud.scheduler.config
    return (
        f"scheduler: policy {c.policy}; weights cpu {c.cpu_weight} ram {c.ram_weight}; "
        f"allocation ratios cpu {c.cpu_ratio:g} ram {c.ram_ratio:g}"
    )


def _set(session: "Session", setting: str, value: object) -> tuple[object, object]:
    try:
        value = check_setting(setting, value)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    old = session.cloud.scheduler.configure(**{setting: value})[setting]
    session.cloud.emit("scheduler.configured", setting=setting, value=value, was=old)
    return old, value


@command(
    "scheduler policy",
    "choose how the scheduler scores hosts: spread, pack or balanced",
    args=[Param("policy", "the scoring policy", choices=POLICIES)],
    details="""spread   = kube-scheduler LeastAllocated (emptiest host first)
pack     = kube-scheduler MostAllocated (fullest host that fits first)
balanced = kube-scheduler BalancedAllocation (host whose CPU and RAM stay level)
Only new decisions change; nothing already placed moves.""",
)
def scheduler_policy(session: "Session", policy: str) -> str:
    old, new = _set(session, "policy", policy)
    return f"policy {old} -> {new}: {POLICY_WORDS[policy]}\n{_config_line(session)}"


@command(
    "scheduler weight",
    "weigh CPU against RAM in the spread and pack scores",
    args=[
        Param("resource", "which resource", choices=RESOURCES),
        Param("weight", "its weight", type=int, min=0, max=MAX_WEIGHT),
    ],
    details="total = (cpu score * cpu weight + ram score * ram weight) / (sum of weights), as\nkube-scheduler's NodeResourcesFit does. BalancedAllocation ignores weights.",
)
def scheduler_weight(session: "Session", resource: str, weight: int) -> str:
    old, new = _set(session, f"{resource}_weight", weight)
    return f"{resource} weight {old} -> {new}\n{_config_line(session)}"


@command(
    "scheduler ratio",
    "set an allocation ratio (overcommit): capacity = physical x ratio",
    args=[
        Param("resource", "which resource", choices=RESOURCES),
        Param("ratio", "the ratio", type=float, min=0.01, max=MAX_CPU_RATIO),
    ],
    details=f"""OpenStack Nova's cpu_allocation_ratio and ram_allocation_ratio: a host with 16 pCPUs and a
cpu ratio of 4 offers 64 vCPUs. cpu up to {MAX_CPU_RATIO:g}, ram up to {MAX_RAM_RATIO:g}. Overcommitted guests
share the hardware and wait for it (steal time, chapter 2).""",
)
def scheduler_ratio(session: "Session", resource: str, ratio: float) -> str:
    old, new = _set(session, f"{resource}_ratio", ratio)
    return f"{resource} allocation ratio {old:g} -> {new:g}\n{_config_line(session)}"


@command("scheduler show", "show the scheduler's settings")
def scheduler_show(session: "Session") -> str:
    c = session.cloud.scheduler.config
    return f"{_config_line(session)}\n  {c.policy}: {POLICY_WORDS[c.policy]}"


# -- placement groups ---------------------------------------------------------------------


@command(
    "group create",
    "create a placement group (EC2): cluster, spread or partition",
    args=[Param("name", "group name (lower-case letters, digits, '-')")],
    options=[
        Param("strategy", "how its instances are placed", choices=STRATEGIES, default="spread"),
        Param("partitions", f"partition groups: how many partitions (1-{MAX_PARTITIONS})", type=int, min=1, max=MAX_PARTITIONS),
    ],
    details="""cluster:   all in one zone, packed close together (low latency between them)
spread:    every instance on its own rack; at most 7 running per zone per group
partition: instances in numbered partitions; no two partitions share a rack
Launch into it with: launch --group NAME""",
)
def group_create(session: "Session", name: str, strategy: str, partitions: int | None) -> str:
    sched = session.cloud.scheduler
    try:
        group = sched.create_group(name, strategy, partitions or 0)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    session.cloud.api_call("CreatePlacementGroup", group=name, strategy=strategy, partitions=group.partitions)
    extra = f" with {group.partitions} partitions" if group.partitions else ""
    return f"placement group {name} created: {strategy}{extra}; launch into it with: launch --group {name}"


@command(
    "group delete",
    "delete an empty placement group",
    args=[Param("name", "group", complete="group")],
)
def group_delete(session: "Session", name: str) -> str:
    try:
        session.cloud.scheduler.delete_group(name)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    session.cloud.api_call("DeletePlacementGroup", group=name)
    return f"placement group {name} deleted"


def _group_text(session: "Session", name: str) -> str:
    group = session.cloud.scheduler.groups[name]
    members = group.live()
    extra = f", {group.partitions} partitions" if group.partitions else ""
    lines = [f"placement group {name}: {group.strategy}{extra}, {len(members)} instance(s)"]
    for inst_name in sorted(members):
        m = members[inst_name]
        part = f"  partition {m.partition}" if group.strategy == "partition" else ""
        lines.append(f"  {inst_name:<14} host {m.host.id:<12} rack {m.host.rack.id:<10} zone {m.host.rack.zone.id}{part}")
    m = session.cloud.metrics()
    if members:
        lines.append(
            f"  racks {m.get(f'group_racks.{name}', 0)}, zones {m.get(f'group_zones.{name}', 0)}, "
            f"most on one rack {m.get(f'group_max_per_rack.{name}', 0)} (what one rack failure would take), "
            f"longest path {m.get(f'group_max_hops.{name}', 0)} hops"
        )
    return "\n".join(lines)


@command(
    "group show",
    "show placement groups, or one group's instances and where they are",
    args=[Param("name", "group", required=False, complete="group")],
)
def group_show(session: "Session", name: str | None) -> str:
    groups = session.cloud.scheduler.groups
    if name is None:
        if not groups:
            return "no placement groups (group create NAME --strategy cluster|spread|partition)"
        return "\n".join(_group_text(session, g) for g in groups)
    if name not in groups:
        raise CommandError(f"no placement group named {name!r} (groups: {', '.join(groups) or 'none'})")
    return _group_text(session, name)


# -- the request stream and manual placement ---------------------------------------------------


@command(
    "requests",
    "show the request stream: what is pending, placed and rejected",
    options=[Param("limit", "how many pending requests to list", type=int, min=0, max=10_000, default=10)],
)
def requests(session: "Session", limit: int) -> str:
    fleet = _fleet(session)
    pending = fleet.pending()
    placed = [r for r in fleet.requests.values() if r.state == "placed"]
    rejected = [r for r in fleet.requests.values() if r.state == "rejected"]
    manual = sum(1 for r in placed if r.how == "manual")
    lines = [
        f"requests: {len(fleet.requests)} in the stream; {len(pending)} pending, "
        f"{len(placed)} placed ({manual} by hand), {len(rejected)} rejected"
    ]
    for r in pending[:limit]:
        t = r.type
        lines.append(f"  {r.name:<10} {t.name:<7} {t.vcpus} vCPU {t.ram_gib:>4g} GiB  arrives t={r.arrive_ms / 1000:g}s")
    if len(pending) > limit:
        lines.append(f"  ... {len(pending) - limit} more pending")
    for r in rejected[-5:]:
        lines.append(f"  rejected {r.name} ({r.type.name}): {r.error}")
    return "\n".join(lines)


@command(
    "place",
    "place a pending request on a host you choose (the filters still apply)",
    args=[Param("request", "a pending request", complete="request"), Param("host", "a host", complete="host")],
    details="Like Nova's requested host: you choose the host, the scheduler's filters still\ncheck it, and a host that fails one is refused with the reason.",
)
def place(session: "Session", request: str, host: str) -> str:
    fleet = _fleet(session)
    r = fleet.requests.get(request)
    if r is None:
        shown = ", ".join(_pending(session)[:5]) or "none"
        raise CommandError(f"no request named {request!r} (pending: {shown})")
    if r.state != "pending":
        raise CommandError(f"request {request} is already {r.state}")
    if host not in session.cloud.hardware.hosts:
        raise CommandError(f"no host named {host!r} (type 'describe' for the fleet)")
    fleet.place(request, host)
    t = r.type
    return f"{request} ({t.name}, {t.vcpus} vCPU {t.ram_gib:g} GiB) placed on {host} by hand; it boots as time passes"


# -- explain ------------------------------------------------------------------------------------


def _explanation(session: "Session", name: str) -> tuple[Explanation, str]:
    cloud = session.cloud
    sched = cloud.scheduler
    fleet = cloud.get(Fleet)
    if fleet is not None:
        r = fleet.requests.get(name)
        if r is not None and r.state == "pending":
            return sched.explain(fleet.request_of(r)), "pending: how it would be placed if it arrived now"
        if r is not None and r.state == "rejected" and name in fleet.rejections:
            return fleet.rejections[name], "rejected when it arrived: no host passed every filter"
    inst = cloud.control.instances.get(name)
    if inst is None:
        known = ", ".join(_explainable(session)[:8]) or "none yet"
        raise CommandError(f"nothing named {name!r} to explain (pending requests and instances: {known})")
    if name in sched.decisions and (inst.alive or inst.state == "terminated"):
        return sched.decisions[name], f"the decision that placed it (it is {inst.state} on {inst.host.id if inst.host else '-'})"
    t = inst.type
    req = Request(name, t.vcpus, t.ram_mib, t.disk_gib)
    return sched.explain(req), "no record of its decision: how a new request of its size would be placed now"


@command(
    "explain",
    "show why the scheduler chose a host: every host's filters, scores and the winner",
    args=[Param("name", "a pending request or an instance", complete="explainable")],
)
def explain(session: "Session", name: str) -> str:
    expl, how = _explanation(session, name)
    req = expl.request
    cfg = session.cloud.scheduler.config
    group = f", group {req.group}" + (f" partition {expl.partition}" if expl.partition else "") if req.group else ""
    lines = [
        f"explain {name}: {req.vcpus} vCPU, {req.ram_mib / 1024:g} GiB, {req.disk_gib} GiB disk{group}",
        f"  {how}",
        f"  policy {expl.policy}" + ("" if expl.policy == "balanced" else f", weights cpu {cfg.cpu_weight} ram {cfg.ram_weight}")
        + "; filters first, then scores 0-100 (kube-scheduler formulas)",
    ]
    cpu_head, ram_head = ("cpu%", "ram%") if expl.policy == "balanced" else ("cpu", "ram")
    rows = expl.rows
    passed = [r for r in rows if r.passed]
    show = rows
    if len(rows) > EXPLAIN_ALL_ROWS:
        best = sorted(passed, key=lambda r: -r.total)[:20]  # type: ignore[operator]
        show = [r for r in rows if r in best]
    # Columns as wide as what they hold, so the table fits an 80-column console.
    hw = max(4, *(len(r.host) for r in show)) if show else 4
    rw = max(4, *(len(r.rack) for r in show)) if show else 4
    zw = max(4, *(len(r.zone) for r in show)) if show else 4
    fw = max(7, *(len(r.reason) for r in show if not r.passed), 0) if show else 7
    lines.append(f"  {'host':<{hw}} {'rack':<{rw}} {'zone':<{zw}} {'filters':<{fw}} {cpu_head:>4} {ram_head:>4} {'aff':>4} {'total':>5}")
    for r in show:
        mark = " <- winner" if r.host == expl.winner else ""
        if r.passed:
            aff = str(r.affinity) if r.affinity else ""
            lines.append(
                f"  {r.host:<{hw}} {r.rack:<{rw}} {r.zone:<{zw}} {'pass':<{fw}} {r.cpu:>4} {r.ram:>4} {aff:>4} {r.total:>5}{mark}"
            )
        else:
            lines.append(f"  {r.host:<{hw}} {r.rack:<{rw}} {r.zone:<{zw}} {r.reason:<{fw}} {r.detail}")
    if show is not rows:
        lines.append(f"  ... showing the 20 best of {len(passed)} hosts that passed, of {len(rows)}")
    if expl.reasons:
        lines.append("  filtered out: " + ", ".join(f"{k} {v}" for k, v in sorted(expl.reasons.items())))
    win = expl.winner_row
    if win is not None:
        lines.append(f"  winner: {win.host} (rack {win.rack}, zone {win.zone}), total {win.total}; ties go to the first host in fleet order")
    else:
        lines.append("  winner: none: no host passed every filter (InsufficientInstanceCapacity)")
    session.cloud.emit("scheduler.explained", name=name, winner=expl.winner or "", hosts=len(rows), passed=len(passed))
    remember_explained(session, name, expl, how)  # the views show this same table
    return "\n".join(lines)


# -- live migration -------------------------------------------------------------------------


@command(
    "migrate",
    "live-migrate a running instance to another host in its zone",
    args=[Param("name", "instance", complete="instance")],
    options=[Param("host", "destination (default: the scheduler picks)", complete="host")],
    details="""As Nova's live migration: the scheduler picks a destination with the same filters
(or checks the one you name), the destination is claimed at once, the guest's memory is
copied over the network while it keeps running, and the source is released when the
copy is done.""",
)
def migrate_cmd(session: "Session", name: str, host: str | None) -> str:
    cloud = session.cloud
    inst = cloud.control.instances.get(name)
    if inst is None or not inst.alive:
        known = ", ".join(sorted(n for n, i in cloud.control.instances.items() if i.alive)[:8]) or "none"
        raise CommandError(f"no live instance named {name!r} (instances: {known})")
    if host is not None and host not in cloud.hardware.hosts:
        raise CommandError(f"no host named {host!r}")
    src, dst, ms = migrate(cloud, name, host)
    return f"{name}: live migration {src.id} -> {dst.id} started; the memory copy takes {ms / 1000:g}s"


@command(
    "drain",
    "live-migrate every running instance off a host (before maintenance)",
    args=[Param("host", "the host to empty", complete="host")],
    details="Like kubectl drain or nova host-evacuate-live: one live migration per instance,\neach destination chosen by the scheduler in the instance's zone.",
)
def drain(session: "Session", host: str) -> str:
    cloud = session.cloud
    h = cloud.hardware.hosts.get(host)
    if h is None:
        raise CommandError(f"no host named {host!r}")
    migrating = cloud.control.migrating
    names = sorted(n for n, i in h.instances.items() if i.state == "running" and n not in migrating)
    if not names:
        raise CommandError(f"host {host} has no running instances to move")
    lines = [f"draining {host}: {len(names)} instance(s)"]
    for n in names:
        try:
            src, dst, ms = migrate(cloud, n, None)
        except CloudError as exc:
            lines.append(f"  {n}: stays ({exc.code}: {exc.message})")
        else:
            lines.append(f"  {n}: -> {dst.id}, copy takes {ms / 1000:g}s")
    return "\n".join(lines)


# -- status ---------------------------------------------------------------------------------


def _status(session: "Session", thing: str | None) -> str | None:
    cloud = session.cloud
    if thing is None:
        fleet = cloud.get(Fleet)
        if fleet is None and not cloud.scheduler.groups:
            return None
        lines = [_config_line(session)]
        if fleet is not None:
            m = cloud.metrics()
            lines.append(
                f"requests: {m['requests_pending']} pending, {m['placed']} placed, {m['rejected']} rejected; "
                f"fragmentation {m['fragmentation']:g}%, zone imbalance {m['zone_imbalance']:g} points, "
                f"busiest host {m['max_host_util']:g}%, empty hosts {m['hosts_empty']}, "
                f"on degraded hosts {m['on_degraded_hosts']}"
            )
        for name in cloud.scheduler.groups:
            lines.append(_group_text(session, name).splitlines()[0])
        return "\n".join(lines)
    if thing in cloud.scheduler.groups:
        return _group_text(session, thing)
    fleet = cloud.get(Fleet)
    if fleet is not None and thing in fleet.requests:
        r = fleet.requests[thing]
        where = f" on {r.host} ({r.how})" if r.state == "placed" else ""
        err = f": {r.error}" if r.error else ""
        return f"request {r.name} ({r.type.name}), arrives t={r.arrive_ms / 1000:g}s: {r.state}{where}{err}"
    return None


MECHANISM = Mechanism(
    name="fleet",
    summary="a fleet at work: the scheduler, a request stream, placement groups, timed faults (chapter 3)",
    section=fleet_module.FleetSpec,
    attach=fleet_module.attach,
    check=fleet_module.check_world,
    commands=command,
    ids={
        "request": _pending,
        "group": lambda s: sorted(s.cloud.scheduler.groups),
        "explainable": _explainable,
    },
    status=_status,
    metrics=fleet_module.METRICS,
    events=fleet_module.EVENTS
    + events(
        ("scheduler.configured", "setting value was", "a scheduler setting was changed"),
        ("scheduler.explained", "name winner hosts passed", "the player read a placement decision"),
    ),
    views={"scheduling": scheduling_text},
)
