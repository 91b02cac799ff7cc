"""The routing fabric's commands (chapter 12): traceroute, the busiest links, the fabric's
settings, and failing or repairing its switches and links.

The core's ``fail``/``repair`` verbs belong to the hardware (disk, host, rack, zone,
link); the fabric's own parts are failed with ``fabric switch fail ID`` and ``fabric
link fail ID``, which go through the same ``set_health`` (the same ``fault.injected``
event, the same incident accounting) and so are also what a timeline fails with ``part:
switch`` or ``part: link``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud import fabric as sim
from ...cloud.errors import CloudError
from ...cloud.faults import set_health
from ...cloud.hardware import Health
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
FLOW_ROWS = 10


def _fabric(session: "Session") -> sim.Fabric:
    fabric = session.cloud.get(sim.Fabric)
    if fabric is None:
        raise CommandError("this world has no routing fabric (its world has no fabric section)")
    return fabric


def _endpoint(fabric: sim.Fabric, name: str) -> str:
    try:
        return fabric.resolve(name)
    except KeyError:
        hosts = [h for h in fabric.cloud.hardware.hosts][:4]
        raise CommandError(
            f"no host, switch or region named {name!r} (e.g. {', '.join(hosts + list(fabric.cloud.hardware.regions)[:2])})"
        ) from None


def trace_text(fabric: sim.Fabric, t: sim.Trace) -> str:
    src_ip, sport, dst_ip, dport, _ = t.header
    head = f"traceroute {t.src} -> {t.dst} via {t.via} (probe flow {_ip(src_ip)}:{sport} -> {_ip(dst_ip)}:{dport}/udp)"
    if not t.hops:
        return head + "\n  no route: every path crosses a part the switches know is down"
    lines = [head]
    for n, hop in enumerate(t.hops, 1):
        rtt = "*" if hop.lost else f"{2 * hop.one_way_us / 1000:.3f} ms"
        note = f"   (one of {hop.choices} equal next hops)" if hop.choices > 1 else ""
        if hop.kind == "backbone":
            note += "   private backbone"
        elif hop.kind == "internet":
            note += "   public internet"
        lines.append(f"  {n:>2}  {hop.node:<28} {rtt:>12}{note}")
    reached = not t.hops[-1].lost
    if not reached and t.via == "backbone":
        first = next(n for n, h in enumerate(t.hops, 1) if h.lost)
        lines.append(f"  no answer from hop {first} on: the tables still send this flow through a dead part (not yet converged)")
    else:
        lines.append(f"  round trip {t.rtt_ms:g} ms over {len(t.hops)} hops; {t.paths} equal-cost path{'s' if t.paths != 1 else ''}")
    return "\n".join(lines)


def _ip(value: int) -> str:
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


@command(
    "traceroute",
    "every hop from one host (or region) to another, and its round-trip time",
    args=[Param("src", "a host, switch or region", complete="fabric-node"), Param("dst", "a host, switch or region", complete="fabric-node")],
    options=[Param("via", "the cloud's private backbone or the public internet", choices=("backbone", "internet"), default="backbone")],
    details="""The probe is one flow (one 5-tuple), so ECMP sends it down one of the equal paths,
the same one every time. Over the internet the path leaves by the edge routers and
crosses ISP routers: longer, jittery, and a probe may be lost (*).""",
)
def traceroute(session: "Session", src: str, dst: str, via: str) -> str:
    fabric = _fabric(session)
    a, b = _endpoint(fabric, src), _endpoint(fabric, dst)
    if a == b:
        raise CommandError("source and destination are the same")
    if via == "internet":
        ra, rb = fabric.site_of(a), fabric.site_of(b)
        if ra[0] == rb[0]:
            raise CommandError("both ends are in one region: the internet joins two regions (try hosts in two regions)")
        if ra[1] is None or rb[1] is None:
            raise CommandError("an internet path needs both regions' sites (this world gives none)")
    try:
        t = fabric.trace(a, b, via)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return trace_text(fabric, t)


def flows_text(fabric: sim.Fabric, rows: int = FLOW_ROWS) -> str:
    m = fabric.metrics()
    util = fabric.utilisation()
    lines = [
        f"{m['fabric_flows']} flows, {m['fabric_gbps']:g} Gbps offered, {m['fabric_gbps_lost']:.1f} Gbps lost now "
        f"({m['fabric_flows_blackholed']} black-holed); {m['fabric_gbit_lost']:.0f} Gbit lost so far",
        f"busiest links ({m['fabric_links_over_80']} directions over 80%):",
    ]
    if not util:
        lines.append("  no traffic")
    for pct, a, b, gbps, cap in util[:rows]:
        mark = " OVER" if pct > 100 else " hot" if pct > 80 else ""
        lines.append(f"  {pct:5.1f}%{mark:<5} {gbps:6.1f}/{cap:g} Gbps  {a} > {b}")
    tiers = {k.split(".", 1)[1]: v for k, v in m.items() if k.startswith("fabric_tier_pct.")}
    if tiers:
        lines.append("busiest per tier: " + ", ".join(f"{t} {p:.0f}%" for t, p in tiers.items()))
    return "\n".join(lines)


@command(
    "flows",
    "the traffic matrix on the fabric: the busiest links, what is lost, each tier's peak",
    options=[Param("top", "how many links to list", type=int, min=1, max=100, default=FLOW_ROWS)],
)
def flows(session: "Session", top: int) -> str:
    return flows_text(_fabric(session), top)


def fabric_text(session: "Session") -> str:
    fabric = session.cloud.get(sim.Fabric)
    if fabric is None:
        return "no routing fabric in this world"
    spec = fabric.spec
    over = fabric.oversubscription()
    detect = f"BGP hold timer {spec.hold_time_s:g} s" if fabric.detection == "hold-timer" else f"BFD {sim.BFD_DETECT_S:g} s"
    lines = [
        f"t={session.cloud.now_ms / 1000:g}s fabric: {len(fabric.switches)} switches, {len(fabric.links)} links; "
        f"{spec.spines_per_zone} spines per zone",
        f"ECMP {'on' if fabric.ecmp else 'off (one path: the first)'}, hashing the {fabric.hash_fields}; a hung switch is noticed "
        f"by the {detect}, then tables are rewritten in {spec.converge_s:g} s",
        f"oversubscription: ToR {over['tor']}:1, spine {over['spine']}:1",
    ]
    if fabric.pending_installs:
        lines.append(f"CONVERGING: {fabric.pending_installs} change(s) noticed, not yet installed")
    down = sorted(fabric.seen_down)
    if down:
        lines.append("down: " + ", ".join(down[:8]) + (f" and {len(down) - 8} more" if len(down) > 8 else ""))
    lines.append(flows_text(fabric, 6))
    return "\n".join(lines)


@command("fabric show", "the fabric's settings, oversubscription per tier, what is down, the busiest links")
def fabric_show(session: "Session") -> str:
    _fabric(session)
    return fabric_text(session)


@command(
    "fabric ecmp",
    "spread flows over every equal-cost path (on), or send each destination's traffic down one path (off)",
    args=[Param("state", "on or off", choices=("on", "off"))],
)
def fabric_ecmp(session: "Session", state: str) -> str:
    fabric = _fabric(session)
    on = state == "on"
    if on == fabric.ecmp:
        return f"ECMP is already {state}"
    _, moved = fabric.configure("ecmp", on)
    return f"ECMP {state}: {moved} flows took another path; busiest link now {fabric.metrics()['fabric_max_link_pct']:g}%"


@command(
    "fabric hash",
    "which header fields each switch hashes to choose among equal paths",
    args=[Param("fields", "5-tuple, 3-tuple (addresses and protocol) or 2-tuple (addresses)", choices=sim.HASH_FIELDS)],
)
def fabric_hash(session: "Session", fields: str) -> str:
    fabric = _fabric(session)
    if fields == fabric.hash_fields:
        return f"the switches already hash the {fields}"
    _, moved = fabric.configure("hash_fields", fields)
    return f"hashing the {fields}: {moved} flows took another path; busiest link now {fabric.metrics()['fabric_max_link_pct']:g}%"


@command(
    "fabric detection",
    "how a hung switch is noticed: BGP's hold timer or BFD's fast hellos",
    args=[Param("mode", "hold-timer or bfd", choices=sim.DETECTIONS)],
)
def fabric_detection(session: "Session", mode: str) -> str:
    fabric = _fabric(session)
    if mode == fabric.detection:
        return f"detection is already {mode}"
    fabric.configure("detection", mode)
    took = fabric.spec.hold_time_s if mode == "hold-timer" else sim.BFD_DETECT_S
    return f"a switch that hangs is now noticed after {took:g} s ({mode})"


def _part(session: "Session", kind: str, action: str, ident: str) -> str:
    fabric = _fabric(session)
    table = fabric.switches if kind == "switch" else session.cloud.hardware.links
    thing = table.get(ident)
    if thing is None:
        names = sorted(fabric.switches if kind == "switch" else fabric.links)
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise CommandError(f"no {kind} named {ident!r} ({kind}s: {shown}; see fabric show)")
    health = Health.FAILED if action == "fail" else Health.HEALTHY
    if thing.health is health:
        raise CommandError(f"{kind} {ident} is already {health.value}")
    before = len(session.cloud.log)
    try:
        set_health(session.cloud, kind, ident, health)
    except CloudError as exc:
        raise CommandError(exc.message) from None
    session.sample()
    lines = [e.describe() for e in session.cloud.log.since(before)]
    if action == "fail":
        wait = fabric.detect_s(ident) if kind == "switch" else 0.0
        lines.append(
            f"flows through it are black-holed until the fabric notices ({wait:g} s) and converges ({fabric.spec.converge_s:g} s)"
        )
    else:
        lines.append(f"routes come back once the fabric converges ({fabric.spec.converge_s:g} s)")
    return "\n".join(lines)


@command(
    "fabric switch",
    "fail or repair a switch of the fabric (a failed switch hangs: its ports stay lit)",
    args=[Param("action", "fail or repair", choices=("fail", "repair")), Param("id", "a switch", complete="switch")],
)
def fabric_switch(session: "Session", action: str, id: str) -> str:
    return _part(session, "switch", action, id)


@command(
    "fabric link",
    "cut or mend a link of the fabric (its ends see the light go out at once)",
    args=[Param("action", "fail or repair", choices=("fail", "repair")), Param("id", "a link", complete="fabric-link")],
)
def fabric_link(session: "Session", action: str, id: str) -> str:
    return _part(session, "link", action, id)


def _status(session: "Session", thing: str | None) -> str | None:
    fabric = session.cloud.get(sim.Fabric)
    if fabric is None:
        return None
    if thing is None:
        m = fabric.metrics()
        return (
            f"fabric: {m['fabric_flows']} flows, {m['fabric_gbps']:g} Gbps, busiest link {m['fabric_max_link_pct']:g}%, "
            f"{m['fabric_flows_blackholed']} black-holed, {m['fabric_gbit_lost']:g} Gbit lost"
        )
    sw = fabric.switches.get(thing)
    if sw is None:
        return None
    up = fabric.node_up(thing)
    where = sw.zone or sw.region
    return f"switch {sw.id} ({sw.tier} in {where}): {sw.health.value}{'' if up else ' (down)'}; {fabric.graph.degree(thing)} links"


def _nodes(session: "Session") -> list[str]:
    fabric = session.cloud.get(sim.Fabric)
    if fabric is None:
        return []
    return list(fabric.cloud.hardware.hosts) + list(fabric.switches) + list(fabric.cloud.hardware.regions)


def _switches(session: "Session") -> list[str]:
    fabric = session.cloud.get(sim.Fabric)
    return list(fabric.switches) if fabric is not None else []


def _links(session: "Session") -> list[str]:
    fabric = session.cloud.get(sim.Fabric)
    return [lid for lid in fabric.links if fabric.kind[lid] != "internet"] if fabric is not None else []


MECHANISM = Mechanism(
    name="fabric",
    summary="the routing fabric: leaf-spine per zone, routers, backbone and internet; ECMP, failures, convergence (chapter 12)",
    section=sim.FabricSpec,
    attach=sim.attach,
    check=sim.check_world,
    commands=command,
    ids={"switch": _switches, "fabric-link": _links, "fabric-node": _nodes},
    faults=("switch",),
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS,
    views={"fabric": fabric_text},
)
