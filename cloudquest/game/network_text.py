"""The network in words: what the console prints and what ``describe`` says of the
network view (the terminal game's view draws the same pieces, cloudquest/tui/views/network.py).

Everything here only reads the network's state (cloudquest/cloud/network.py) and the last
traced packet; nothing changes the cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..cloud.network import Network, dns_private, dns_public
from ..cloud.packet_tracer import FLOW_HEADER, Hop, Trace

if TYPE_CHECKING:
    from ..cloud.ipam import Subnet
    from ..cloud.routing import RouteTable
    from .session import Session

OK, NO = "✔", "✘"
VERDICT_WORD = {"reachable": "REACHABLE", "dropped": "DROPPED", "reply-dropped": "REPLY DROPPED"}


def network_of(session: "Session") -> Network | None:
    return session.cloud.get(Network)


# -- traces -----------------------------------------------------------------------------------
def hop_line(n: int, hop: Hop) -> str:
    return f"  {n:>2} {OK if hop.ok else NO} {hop.step:<9} {hop.where}: {hop.detail}"


def verdict_line(t: Trace) -> str:
    return "verdict: " + t.headline()


def trace_text(t: Trace) -> str:
    lines = [f"request  {t.request}"]
    replying = False
    for n, hop in enumerate(t.hops, 1):
        if hop.leg == "reply" and not replying:
            replying = True
            lines.append(f"reply    {t.reply}")
        lines.append(hop_line(n, hop))
    enc = t.cross_zone
    if enc is not None:
        lines.append(f"encapsulated across zones under VNI {enc.vni}: physical host {enc.src} -> {enc.dst}")
    lines.append(verdict_line(t))
    return "\n".join(lines)


# -- subnets, routes, gateways -----------------------------------------------------------------
@dataclass(frozen=True)
class SubnetRow:
    name: str
    vpc: str
    zone: str
    cidr: str
    public: bool  # by its route table
    used: int
    free: int
    usable: int
    table: str
    nacl: str


def subnet_rows(net: Network) -> list[SubnetRow]:
    rows = []
    for s in net.subnets.values():
        rows.append(
            SubnetRow(
                s.id, s.vpc, s.zone, str(s.cidr), net.is_public(s), len(s.in_use), s.free, s.usable,
                net.route_table_of(s).name, s.nacl,
            )
        )
    return rows


def route_lines(net: Network, table: "RouteTable") -> list[str]:
    out = []
    for r in sorted(table.routes, key=lambda r: -r.prefixlen):
        state = net.route_state(table, r)
        kind = net.target_kind(r.target)
        note = "" if state == "active" else "  BLACKHOLE (target gone)" if kind == "blackhole" else "  BLACKHOLE (not attached)"
        out.append(f"{str(r.dest):<18} -> {r.target}{note}")
    return out


def focus_subnet(net: Network) -> "Subnet | None":
    if net.focus and net.focus in net.subnets:
        return net.subnets[net.focus]
    return next(iter(net.subnets.values()), None)


def subnet_text(net: Network, s: "Subnet", limit: int = 8) -> str:
    """A subnet in words; the address summary comes last, where a short console shows it."""
    table = net.route_table_of(s)
    kind = "public (its route table sends 0.0.0.0/0 to an internet gateway)" if net.is_public(s) else "private (no route to an internet gateway)"
    region = net.region_of(s.zone)
    lines = [f"subnet {s.id}: {s.cidr} in {s.zone}, VPC {s.vpc}; {kind}"]
    enis = sorted((e for e in net.enis.values() if e.subnet is s), key=lambda e: e.id)
    for e in enis[:limit]:
        lines.append(f"  {eni_line(net, e)}  ({dns_private(e.private_ip, region)})")
    if len(enis) > limit:
        lines.append(f"  ... and {len(enis) - limit} more interfaces (eni show)")
    lines.append(f"  route table {table.name}" + (" (the VPC's main table)" if table.main else "") + f", network ACL {s.nacl}:")
    lines.extend(f"    {line}" for line in route_lines(net, table))
    lines.append("  reserved: " + ", ".join(f"{a} ({s.reserved_role(a)})" for a in s.reserved()))
    lines.append(
        f"  addresses: {s.usable} usable of {s.cidr.num_addresses}, {len(s.in_use)} in use, {s.free} free"
        + ("; launches here get a public IPv4" if s.public else "")
    )
    return "\n".join(lines)


def eni_line(net: Network, e) -> str:
    who = e.instance or ("NAT gateway" if e.kind == "nat_gateway" else "detached")
    public = net.public_of(e, e.private_ip)
    pub = f", public {public[0]}" + (f" (Elastic IP {public[1]})" if public and public[1] != "auto" else " (auto)") if public else ""
    extra = f", secondary {', '.join(e.secondary)}" if e.secondary else ""
    groups = f", groups {','.join(e.groups)}" if e.groups else ""
    check = "" if e.source_dest_check else ", source/dest check off"
    return f"{e.id}: {e.private_ip}{extra}{pub} on {who}{groups}{check}"


def eni_text(net: Network, e) -> str:
    region = net.region_of(e.subnet.zone)
    lines = [eni_line(net, e), f"  subnet {e.subnet.id} ({e.subnet.cidr}), zone {e.subnet.zone}, VPC {e.vpc}"]
    lines.append(f"  private DNS: {dns_private(e.private_ip, region)}")
    public = net.public_of(e, e.private_ip)
    if public:
        lines.append(f"  public DNS:  {dns_public(public[0], region)}")
    for address in e.secondary:
        pub = net.public_of(e, address)
        lines.append(f"  secondary {address}" + (f" with Elastic IP {pub[1]} ({pub[0]})" if pub else ""))
    return "\n".join(lines)


def eip_line(net: Network, eip) -> str:
    if eip.nat:
        where = f"NAT gateway {eip.nat}"
    elif eip.eni:
        e = net.enis.get(eip.eni)
        where = f"{eip.eni} ({e.instance or 'detached'}) {eip.private_ip}" if e else eip.eni
    else:
        where = "nothing"
    idle = "  IDLE: billed for nothing" if net.eip_idle(eip) else ""
    return f"{eip.name}: {eip.address} -> {where}{idle}"


def gateway_lines(net: Network) -> list[str]:
    out = []
    for g in net.igws.values():
        out.append(f"igw {g.name}: " + (f"attached to {g.vpc}" if g.vpc else "detached"))
    for n in net.nats.values():
        eip = net.eips[n.eip]
        out.append(f"nat {n.name}: in {n.subnet} ({net.subnets[n.subnet].zone}), {eip.address}, {len(n.connections)} connections")
    for p in net.peerings.values():
        out.append(f"peering {p.name}: {p.a} <-> {p.b}")
    return out


def vpc_text(net: Network, name: str | None = None) -> str:
    lines = []
    for v in net.vpcs.values():
        if name is not None and v.name != name:
            continue
        subnets = [s for s in net.subnets.values() if s.vpc == v.name]
        tables = [t.name for t in net.route_tables.values() if t.vpc == v.name]
        lines.append(
            f"vpc {v.name}: {v.cidr}, network id (VNI) {v.vni}, internet gateway {v.igw or 'none'}, "
            f"{len(subnets)} subnets, route tables {', '.join(tables)} (main {v.main_route_table}), "
            f"default network ACL {v.default_nacl}, default group {v.default_sg}"
        )
        for s in subnets:
            kind = "public" if net.is_public(s) else "private"
            lines.append(f"  {s.id:<12} {str(s.cidr):<18} {s.zone:<12} {kind:<8} {len(s.in_use)} used, {s.free} free")
    peers = [f"peering {p.name}: {p.a} <-> {p.b}" for p in net.peerings.values() if name is None or name in (p.a, p.b)]
    return "\n".join(lines + peers)


def flowlog_text(net: Network, last: int, eni: str | None = None, action: str | None = None) -> str:
    records = [r for r in net.flow_log if (eni is None or r.interface == eni) and (action is None or r.action == action.upper())]
    if not records:
        return "no flow log records yet (every packet trace writes some)" if not net.flow_log else "no records match"
    shown = records[-last:]
    head = f"VPC Flow Logs, default format (version 2); {len(shown)} of {len(records)} records, oldest first"
    return "\n".join([head, FLOW_HEADER, *(r.line() for r in shown)])


# -- the view in words ---------------------------------------------------------------------------
def network_text(session: "Session") -> str:
    """What the network view draws: the last traced packet and its verdict, subnets by zone
    with their addresses, the route table of the subnet in focus, and the gateways."""
    net = network_of(session)
    if net is None:
        return "this world has no network"
    lines = [f"network view at t={session.cloud.now_ms / 1000:g}s"]
    t = net.last_trace
    if t is None:
        lines.append("no packet traced yet (packet trace SRC DST --port N)")
    else:
        lines.append("last trace, " + verdict_line(t))
        lines.append(trace_text(t))
    zones: dict[str, list[SubnetRow]] = {}
    for row in subnet_rows(net):
        zones.setdefault(row.zone, []).append(row)
    for zone in net.zones:
        rows = zones.get(zone, [])
        lines.append(f"zone {zone}:" + ("" if rows else " no subnets"))
        for r in rows:
            kind = "public" if r.public else "private"
            lines.append(f"  {r.name} {r.cidr} ({r.vpc}, {kind}): {r.used} used, {r.free} free of {r.usable}")
    s = focus_subnet(net)
    if s is not None:
        table = net.route_table_of(s)
        lines.append(f"route table {table.name} (for subnet {s.id}):")
        lines.extend(f"  {line}" for line in route_lines(net, table))
    gw = gateway_lines(net)
    if gw:
        lines.append("gateways:")
        lines.extend(f"  {g}" for g in gw)
    if net.eips:
        lines.append("Elastic IPs:")
        lines.extend(f"  {eip_line(net, e)}" for e in net.eips.values())
    return "\n".join(lines)
