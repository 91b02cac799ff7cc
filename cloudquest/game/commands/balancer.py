"""The distributed load balancer's commands (chapter 8): its Maglev table, its nodes and
backends, the rule that picks a backend, cross-zone, health checks, draining and slow
start.

They share the ``lb`` verb family with the failure-design chapter's load balancer (``lb
create``, ``lb register``, ...); each sub-verb belongs to one mechanism, and a chapter
enables the ones it uses.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from ...cloud import balancer as sim
from ...cloud import maglev
from ...cloud.errors import CloudError
from ...cloud.loadbalancer import HEALTH_CHECK_LIMITS
from ..console_text import fitted
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
CHECK_SETTINGS = ("interval", "timeout", "healthy-threshold", "unhealthy-threshold")
CHECK_KEYS = dict(zip(CHECK_SETTINGS, HEALTH_CHECK_LIMITS))
TABLE_ROWS = 14  # slots `lb table` lists when the table is larger than that
RULE = {
    "round-robin": "each request to the next backend in turn (ALB's default)",
    "least-outstanding": "each request to the backend with the fewest requests in flight (ALB)",
    "flow-hash": "the flow's 5-tuple hash modulo the number of healthy backends (NLB)",
    "maglev": "the flow's 5-tuple hash into the Maglev table every node builds alike",
}


def _lb(session: "Session") -> sim.Balancer:
    lb = session.cloud.get(sim.Balancer)
    if lb is None:
        raise CommandError("this world has no distributed load balancer (its world has no balancer section)")
    return lb


def _backend(lb: sim.Balancer, name: str) -> sim.Backend:
    b = lb.backends.get(name)
    if b is None:
        raise CommandError(f"no backend named {name!r} (backends: {', '.join(lb.backends) or 'none'})")
    return b


def _api(exc: CloudError) -> CommandError:
    return CommandError(exc.message)


def _change_text(lb: sim.Balancer, change: sim.Change, verb: str) -> str:
    pct = 100 * change.entries_moved / change.table_size
    if lb.algorithm == "maglev":
        entries = f"{change.entries_moved} of {change.table_size} Maglev table entries ({pct:.1f}%) change owner"
    elif lb.algorithm == "flow-hash":
        entries = f"{change.entries_moved} of {change.table_size} hash values ({pct:.1f}%) lead elsewhere modulo the new count"
    else:
        entries = f"(round robin pins no flow; a Maglev table would move {change.entries_moved} of {change.table_size} entries)"
    conns = (
        f"{change.connections_moved} of {change.connections} open connections now hash to another backend "
        "(each node's connection table keeps them where they are until ECMP sends them to a node that has not seen them)"
        if lb.algorithm in sim.HASHING
        else f"{change.connections} open connections: a proxy picks per request, so none is pinned"
    )
    return f"{verb}: {entries}\n  {conns}"


# -- looking -------------------------------------------------------------------------------
def table_text(lb: sim.Balancer, start: int = 0, rows: int = TABLE_ROWS) -> str:
    zone = lb.zones[0]
    names, fail_open = lb.candidates(zone)
    if not names:
        return f"Maglev table (M = {lb.table_size}): no backend to put in it"
    t = lb.table(names)
    counts = t.counts()
    ideal = lb.table_size / len(names)
    lines = [
        f"Maglev table, M = {lb.table_size}, {len(names)} backends{' (failing open: all of them)' if fail_open else ''}"
        f"; each node builds the same table from the backends it sees healthy",
        "  backend      offset   skip  entries  share",
    ]
    for n in t.names:
        b = lb.backends[n]
        lines.append(f"  {n:<12} {b.offset:>6} {b.skip:>6} {counts[n]:>8}  {100 * counts[n] / lb.table_size:5.2f}%")
    lines.append(f"  ideal {ideal:.1f} entries each; min {min(counts.values())}, max {max(counts.values())}")
    end = min(lb.table_size, start + rows)
    if start >= lb.table_size:
        raise CommandError(f"--from must be below {lb.table_size}")
    shown = " ".join(f"{i}:{t.names[t.entries[i]]}" for i in range(start, end))
    lines.append(f"  slots {start}-{end - 1}: {shown}" + ("" if end == lb.table_size else " ..."))
    if not lb.cross_zone:
        lines.append(f"  (cross-zone off: this is {zone}'s nodes' table, of their own zone's backends only)")
    if lb.algorithm != "maglev":
        lines.append(f"  (the algorithm now is {lb.algorithm}: this is the table maglev would use)")
    return "\n".join(lines)


@command(
    "lb table",
    "print the Maglev lookup table: each backend's offset, skip and share of the entries",
    options=[
        Param("from", "the first slot to list", type=int, min=0, default=0),
        Param("rows", "how many slots to list", type=int, min=1, max=200, default=TABLE_ROWS),
    ],
    details="""Each backend's preference list is offset, offset+skip, offset+2*skip, ... (mod M).
The backends take turns claiming their next free entry until the table is full
(Eisenbud et al., NSDI 2016). A flow's 5-tuple hash mod M is its entry.""",
)
@fitted
def lb_table(session: "Session", **opts: int) -> str:
    lb = _lb(session)
    return table_text(lb, opts.get("from") or 0, opts.get("rows") or TABLE_ROWS)


HEALTH_MARK = {"healthy": "✔", "unhealthy": "✘", "initial": "·"}


def backends_text(lb: sim.Balancer) -> str:
    """One line per backend, under 80 columns: zone, state, each zone's health view
    (✔ healthy, ✘ taken out, · initial, - not registered), connections, rate, answers."""
    now = lb.cloud.now_ms
    labels = {z: z.rsplit("-", 1)[-1] for z in lb.zones}
    if len(set(labels.values())) != len(labels):
        labels = {z: str(i + 1) for i, z in enumerate(lb.zones)}
    name_w = max((len(n) for n in lb.backends), default=7)
    head = "".join(f"{labels[z]:>3}" for z in lb.zones)
    lines = [f"  {'backend':<{name_w}} zone  state      {head}  conns    rps  answers"]
    for b in lb.backends.values():
        views = "".join(f"{(HEALTH_MARK[b.views[z].state] if b.state != 'spare' else '-'):>3}" for z in lb.zones)
        state = b.state if b.state != "draining" else f"drain {max(0, (b.drain_until_ms - now) // 1000)}s"
        answers = "yes" if lb.answers(b) else "NO: host down"
        if lb.answers(b) and lb.latency_ms(b) > lb.spec.client_timeout_ms:
            answers = f"too slow ({lb.latency_ms(b):g} ms)"
        warm = lb.warm_share(b, now)
        if warm < 1:
            answers += f", cold {warm * 100:.0f}%"
        lines.append(f"  {b.name:<{name_w}} {labels[b.zone]:<5} {state:<10} {views}  {b.conns:>5} {b.rate:>6.0f}  {answers}")
    lines.append(f"  (zones: {', '.join(f'{labels[z]} = {z}' for z in lb.zones)})")
    return "\n".join(lines)


@command("lb backends", "each backend: its zone, state, each zone's health view, connections and load")
def lb_backends(session: "Session") -> str:
    lb = _lb(session)
    hc = lb.health_check
    lo, hi = hc.detection_gap_s()
    m = lb.metrics()
    return (
        f"balancer {lb.name}: {lb.algorithm}, cross-zone {'on' if lb.cross_zone else 'off'}, imbalance {m['lb_imbalance']:g} "
        f"(busiest / average)\n"
        f"  checks every {hc.interval_s} s (timeout {hc.timeout_s} s), out after {hc.unhealthy_threshold} failures, back after "
        f"{hc.healthy_threshold} passes: a dead backend is fed {lo}-{hi} s\n"
        f"  deregistration delay {lb.deregistration_delay_s} s; slow start {lb.slow_start_s or 'off'}{' s' if lb.slow_start_s else ''}\n"
        + backends_text(lb)
    )


def nodes_text(lb: sim.Balancer) -> str:
    dns = lb.dns_zones()
    lines = [f"DNS answer (cached up to {lb.spec.dns_ttl_s} s): {', '.join(dns) or 'nothing'}"]
    for z in lb.zones:
        up = lb.cloud.hardware.zones[z].up
        nodes = lb.nodes[z]
        parts = []
        for n in nodes:
            if n.state == "pending":
                parts.append(f"{n.id} joins at t={n.ready_ms / 1000:g}s")
            else:
                parts.append(f"{n.id} {n.conns} conns")
        util = lb.zone_util_pct(z)
        lines.append(f"  {z}{'' if up else ' (DOWN)'}: load {util:g}% of {len([n for n in nodes if n.state == 'active'])} x {lb.spec.node_capacity_rps} rps; " + "; ".join(parts))
    lines.append(
        f"  a zone asks for one more node above {lb.spec.scale_out_pct}% (it joins {lb.spec.scale_delay_s} s later), "
        f"drops one below {lb.spec.scale_in_pct}% for 5 minutes; at least {lb.min_nodes} per zone"
    )
    return "\n".join(lines)


@command("lb nodes", "the balancer's nodes per zone, their load, and the DNS answer clients get")
def lb_nodes(session: "Session") -> str:
    return nodes_text(_lb(session))


def _flow_key(lb: sim.Balancer, flow: str) -> tuple[int, str]:
    host, sep, port = flow.rpartition(":")
    try:
        ip = int(ipaddress.IPv4Address(host if sep else flow))
        p = int(port) if sep else 40000
    except ValueError:
        raise CommandError(f"a flow is a client address and port such as 100.64.1.7:51000, not {flow!r}") from None
    if not 0 < p < 65536:
        raise CommandError(f"a port is from 1 to 65535, not {p}")
    dst = 0x0A000000 + 10  # the first zone's node address
    return maglev.flow_hash(ip, p, dst, 443, 6), f"{ipaddress.IPv4Address(ip)}:{p} -> {ipaddress.IPv4Address(dst)}:443/tcp"


@command(
    "lb lookup",
    "where a flow lands: its 5-tuple's hash, its table slot, its backend (or a slot's backend)",
    args=[Param("flow", "a client IP:PORT such as 100.64.1.7:51000, or a slot number", required=True)],
)
def lb_lookup(session: "Session", flow: str) -> str:
    lb = _lb(session)
    if flow.isdigit():
        slot = int(flow)
        if slot >= lb.table_size:
            raise CommandError(f"a slot is from 0 to {lb.table_size - 1}, not {slot}")
        found = lb.look_up(slot=slot)
        return f"slot {slot} of {lb.table_size}: {found.backend or 'no backend'} (Maglev table of the backends the first zone sees healthy)"
    key, label = _flow_key(lb, flow)
    found = lb.look_up(key=key)
    rule = {
        "maglev": f"slot {found.slot} of {lb.table_size} -> {found.backend}",
        "flow-hash": f"hash mod {len(lb.candidates(lb.zones[0])[0]) or 1} -> {found.backend}",
    }.get(lb.algorithm, f"{lb.algorithm} picks per request (the Maglev slot would be {found.slot})")
    return f"flow {label}: hash {key:#010x}; ECMP node {found.node or 'none'}; {rule}"


# -- changing --------------------------------------------------------------------------------
@command(
    "lb add",
    "register a spare backend: it gets traffic once a health check passes; reports what moves",
    args=[Param("backend", "a backend of the world", complete="backend")],
)
def lb_add(session: "Session", backend: str) -> str:
    lb = _lb(session)
    b = _backend(lb, backend)
    if b.state == "in-service":
        raise CommandError(f"{backend} is already in service")
    try:
        change = lb.add(backend)
    except CloudError as exc:
        raise _api(exc) from None
    return _change_text(lb, change, f"added {backend} (state initial until its first health check passes)")


@command(
    "lb remove",
    "deregister a backend: it drains for the deregistration delay; reports what moves",
    args=[Param("backend", "a backend in service", complete="backend")],
)
def lb_remove(session: "Session", backend: str) -> str:
    lb = _lb(session)
    b = _backend(lb, backend)
    if b.state != "in-service":
        raise CommandError(f"{backend} is not in service (it is {b.state})")
    change = lb.remove(backend)
    drain = (
        f"draining: no new flows; its {b.conns} open connections may finish for {lb.deregistration_delay_s} s"
        if b.state == "draining"
        else "removed at once (deregistration delay 0): its open connections were closed"
    )
    return _change_text(lb, change, f"removed {backend}") + f"\n  {drain}"


@command(
    "lb algorithm",
    "choose how a node picks a backend: round-robin, least-outstanding, flow-hash or maglev",
    args=[Param("name", "the rule", choices=sim.ALGORITHMS)],
    details="\n".join(f"{k:<18} {v}" for k, v in RULE.items())
    + "\nOpen connections keep their backend; the rule applies to new flows and to flows ECMP moves.",
)
def lb_algorithm(session: "Session", name: str) -> str:
    lb = _lb(session)
    if name == lb.algorithm:
        return f"the algorithm is already {name}"
    if lb.slow_start_s and name != "round-robin":
        raise CommandError("slow start works with round-robin only: lb slow-start 0 first")
    was = lb.configure("algorithm", name)
    return f"algorithm {was} -> {name}: {RULE[name]}"


@command(
    "lb cross-zone",
    "cross-zone load balancing: each node spreads over every zone's backends (on) or its own (off)",
    args=[Param("state", "on or off", choices=("on", "off"))],
)
def lb_cross_zone(session: "Session", state: str) -> str:
    lb = _lb(session)
    on = state == "on"
    if on == lb.cross_zone:
        return f"cross-zone load balancing is already {state}"
    lb.configure("cross_zone", on)
    per_zone = {z: sum(1 for b in lb.in_service() if b.zone == z) for z in lb.zones}
    spread = ", ".join(f"{z}: {n}" for z, n in per_zone.items())
    return f"cross-zone load balancing {state}; backends in service per zone: {spread}"


@command(
    "lb check",
    "change a health check setting (AWS's ranges apply)",
    args=[Param("setting", "what to change", choices=CHECK_SETTINGS), Param("value", "seconds, or a count of checks", type=int)],
    details="""interval             seconds between checks (5-300, default 30)
timeout              seconds without an answer that fail a check (2-120, default 5; below the interval)
healthy-threshold    passes in a row to put a backend back (2-10, default 5)
unhealthy-threshold  failures in a row to take it out (2-10, default 2)""",
)
def lb_check(session: "Session", setting: str, value: int) -> str:
    lb = _lb(session)
    try:
        lb.health_check.changed(CHECK_KEYS[setting], value)
    except CloudError as exc:
        raise _api(exc) from None
    old, new = lb.set_health_check(CHECK_KEYS[setting], value)
    lo, hi = lb.health_check.detection_gap_s()
    return f"{setting}: {old} -> {new}; a dead backend is now noticed {lo}-{hi} s after it dies"


@command(
    "lb deregistration-delay",
    "how long a removed backend's open connections may finish (connection draining)",
    args=[Param("seconds", "0-3600 (AWS default 300)", type=int)],
)
def lb_deregistration_delay(session: "Session", seconds: int) -> str:
    lb = _lb(session)
    lo, hi, default = sim.DEREGISTRATION_LIMITS
    if not lo <= seconds <= hi:
        raise CommandError(f"the deregistration delay is from {lo} to {hi} s (AWS's range; default {default}), not {seconds}")
    was = lb.configure("deregistration_delay_s", seconds)
    return f"deregistration delay {was} s -> {seconds} s"


@command(
    "lb slow-start",
    "ramp a backend that turns healthy from no share to its full share over this long",
    args=[Param("seconds", "0 (off) or 30-900", type=int)],
)
def lb_slow_start(session: "Session", seconds: int) -> str:
    lb = _lb(session)
    lo, hi = sim.SLOW_START_LIMITS
    if seconds and not lo <= seconds <= hi:
        raise CommandError(f"slow start is 0 (off) or from {lo} to {hi} s (AWS's range), not {seconds}")
    if seconds and lb.algorithm != "round-robin":
        raise CommandError(f"slow start works with round-robin only, as on an ALB (the algorithm is {lb.algorithm})")
    was = lb.configure("slow_start_s", seconds)
    return f"slow start {was or 'off'} -> {seconds or 'off'}{' s' if seconds else ''}"


@command(
    "lb size",
    "set the Maglev table size M (a prime; 65537 by default)",
    args=[Param("m", "a prime number, at least 7", type=int)],
)
def lb_size(session: "Session", m: int) -> str:
    lb = _lb(session)
    if not maglev.is_prime(m) or not 7 <= m <= maglev.MAX_TABLE_SIZE:
        raise CommandError(
            f"M must be a prime from 7 to {maglev.MAX_TABLE_SIZE}, not {m} (the next prime is {maglev.next_prime(max(m, 7))})"
        )
    if lb.fixed_offsets:
        raise CommandError("this world fixes its backends' offsets and skips for its table size, so M cannot change")
    was = lb.configure("table_size", m)
    return f"table size {was} -> {m}: every node rebuilds its table"


@command(
    "lb reserve",
    "keep at least this many nodes per zone (requested now; they join after the scaling delay)",
    args=[Param("nodes", "nodes per zone", type=int, min=1, max=64)],
)
def lb_reserve(session: "Session", nodes: int) -> str:
    lb = _lb(session)
    if nodes > lb.spec.max_nodes_per_zone:
        raise CommandError(f"at most {lb.spec.max_nodes_per_zone} nodes per zone in this world, not {nodes}")
    requested = lb.reserve(nodes)
    return f"at least {nodes} node(s) per zone; {requested} requested, joining in {lb.spec.scale_delay_s} s"


# -- the view in words, status ---------------------------------------------------------------
def balancer_text(session: "Session") -> str:
    lb = session.cloud.get(sim.Balancer)
    if lb is None:
        return "no distributed load balancer in this world"
    m = lb.metrics()
    lines = [
        f"t={session.cloud.now_ms / 1000:g}s balancer {lb.name}: {lb.rps_at(session.cloud.now_ms)} rps offered, "
        f"availability {m['lb_availability_pct']:g}% ({m['lb_failed']} of {m['lb_requests']} failed); "
        f"{m['lb_connections']} connections open, {m['lb_connections_broken']} broken by changes, {m['lb_connections_lost']} lost",
        f"algorithm {lb.algorithm}, cross-zone {'on' if lb.cross_zone else 'off'}, imbalance {m['lb_imbalance']:g}, "
        f"dead backend fed for {m['lb_dead_traffic_s']:g} s",
        nodes_text(lb),
        backends_text(lb),
    ]
    names, _ = lb.candidates(lb.zones[0])
    if names:
        counts = lb.table(names).counts()
        lines.append(f"Maglev table M={lb.table_size}: " + ", ".join(f"{n} {c}" for n, c in counts.items()))
    return "\n".join(lines)


def _status(session: "Session", thing: str | None) -> str | None:
    lb = session.cloud.get(sim.Balancer)
    if lb is None:
        return None
    if thing is not None:
        b = lb.backends.get(thing)
        if b is None:
            return None
        return f"backend {b.name} on {b.host} ({b.zone}): {b.state}, {b.conns} connections, {b.rate:.0f} rps"
    m = lb.metrics()
    joining = f" (+{m['lb_nodes_pending']} joining)" if m["lb_nodes_pending"] else ""
    return (
        f"balancer {lb.name}: {lb.algorithm}, cross-zone {'on' if lb.cross_zone else 'off'}; {m['lb_nodes']} nodes{joining}; "
        f"{m['lb_backends_in_service']} backends in service; "
        f"{m['lb_rps']} rps, availability {m['lb_availability_pct']:g}%"
    )


def _backends(session: "Session") -> list[str]:
    lb = session.cloud.get(sim.Balancer)
    return list(lb.backends) if lb is not None else []


MECHANISM = Mechanism(
    name="balancer",
    summary="a distributed load balancer: nodes per zone behind DNS and ECMP, Maglev hashing, health, draining (chapter 8)",
    section=sim.BalancerSpec,
    attach=sim.attach,
    check=sim.check_world,
    commands=command,
    ids={"backend": _backends},
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS,
    views={"loadbalancer": balancer_text},
)
