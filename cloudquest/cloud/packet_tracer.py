"""The packet tracer: one packet and its reply, hop by hop, and the flow logs they leave.

Like AWS's Reachability Analyzer it reads the network's configuration rather than
sending real traffic, and answers with the path and, for a packet that does not make it,
the hop and the rule that stopped it. The request leaves its interface through the
source check and the interface's security groups, the subnet's network ACL, the route
table (the longest prefix that matches, and why that one), then a gateway, a peering or
the VPC's local delivery; inside the cloud it is looked up in the mapping service and
encapsulated from one physical host to another under the VPC's network id; it enters
through the target subnet's ACL and the target's security groups. Then the reply makes
the trip back, where the difference between the two firewalls shows: security groups
remember the connection and let the reply through; network ACLs judge it afresh, on the
client's ephemeral port.

Every interface a packet leaves or enters writes a record in the VPC Flow Logs default
format, version 2 (Amazon VPC User Guide, "Flow log records")::

    version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status

with ACCEPT or REJECT as that interface's firewalls decided. A traced TCP connection
between two named ends also becomes the metric ``reachable.SRC.DST.PORT``.

Where the game simplifies: one packet each way stands for a connection (its size is a
bare TCP SYN, 60 bytes; UDP 64; an ICMP echo 84); whatever listens on the destination
port answers; ``start`` and ``end`` are the simulated clock's seconds (AWS writes Unix
time); clients pick ephemeral ports as Linux does (32768-60999), in turn rather than at
random, so a run replays exactly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import CloudError
from .firewall import IANA_NUMBER, STAR_DENY, sg_decide
from .network import INTERNET, INTERNET_CLIENT, INTERNET_SERVER, NAME_RE, Eni, NatGateway, ip_int
from .routing import Route, longest_prefix_match

if TYPE_CHECKING:
    from .hardware import Host
    from .network import Network

FLOW_VERSION = 2
ACCOUNT_ID = "123456789012"  # the game's one account (AWS's documentation example)
EPHEMERAL_LO, EPHEMERAL_HI = 32768, 60999  # Linux's net.ipv4.ip_local_port_range
NAT_PORT_LO, NAT_PORT_HI = 1024, 65535
PACKET_BYTES = {"tcp": 60, "udp": 64, "icmp": 84}
# Addresses the internet does not route (RFC 1918 private space, shared CGNAT space, link-local,
# loopback). The documentation ranges the game uses for "the internet" are routed here.
UNROUTED = tuple(
    ipaddress.IPv4Network(b) for b in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16", "127.0.0.0/8")
)
FLOW_HEADER = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"


@dataclass(frozen=True)
class FlowRecord:
    interface: str
    src: str
    dst: str
    sport: int
    dport: int
    proto: str
    packets: int
    bytes: int
    start: int
    end: int
    action: str

    def line(self) -> str:
        return (
            f"{FLOW_VERSION} {ACCOUNT_ID} {self.interface} {self.src} {self.dst} {self.sport} {self.dport} "
            f"{IANA_NUMBER[self.proto]} {self.packets} {self.bytes} {self.start} {self.end} {self.action} OK"
        )


@dataclass(frozen=True)
class Hop:
    leg: str  # request | reply
    step: str  # send, sg out, nacl out, route, mapping, igw, nat, peering, internet, encap, nacl in, sg in, deliver
    where: str
    detail: str
    ok: bool


@dataclass(frozen=True)
class Encap:
    leg: str
    vpc: str
    vni: int
    src: str
    dst: str
    path: str
    cross_zone: bool


@dataclass
class Trace:
    src: str
    dst: str
    proto: str
    port: int | None
    request: str = ""
    reply: str = ""
    hops: list[Hop] = field(default_factory=list)
    encaps: list[Encap] = field(default_factory=list)
    flows: list[FlowRecord] = field(default_factory=list)
    verdict: str = "dropped"  # reachable | dropped | reply-dropped
    via: str = ""  # how the request left its subnet: local, igw, nat, peering
    route: Route | None = None  # the route the request's first lookup chose
    t_ms: int = 0

    @property
    def dropped_at(self) -> Hop | None:
        return next((h for h in self.hops if not h.ok), None)

    @property
    def cross_zone(self) -> Encap | None:
        return next((e for e in self.encaps if e.leg == "request" and e.cross_zone), None)

    def headline(self) -> str:
        what = f"{self.src} -> {self.dst}" + (f":{self.port}" if self.port is not None else "") + f" {self.proto}"
        hop = self.dropped_at
        if self.verdict == "reachable":
            return f"✔ REACHABLE {what}, there and back"
        word = "REPLY DROPPED" if self.verdict == "reply-dropped" else "DROPPED"
        return f"✘ {word} {what} at {hop.step} {hop.where}: {hop.detail}" if hop else f"✘ {word} {what}"


class _Packet:
    __slots__ = ("proto", "src", "dst", "sport", "dport")

    def __init__(self, proto: str, src: str, dst: str, sport: int | None, dport: int | None) -> None:
        self.proto, self.src, self.dst, self.sport, self.dport = proto, src, dst, sport, dport

    def reversed(self) -> "_Packet":
        return _Packet(self.proto, self.dst, self.src, self.dport, self.sport)

    def text(self) -> str:
        if self.proto == "icmp":
            return f"{self.src} -> {self.dst} icmp"
        return f"{self.src}:{self.sport} -> {self.dst}:{self.dport} {self.proto}"


@dataclass(frozen=True)
class _Place:
    label: str
    zone: str
    host: "Host | None" = None


@dataclass
class _End:
    label: str
    eni: Eni | None
    address: str
    intended: Eni | None = None
    problem: str = ""


def _unrouted(address: str) -> bool:
    ip = ipaddress.IPv4Address(address)
    return any(ip in block for block in UNROUTED)


# -- naming the two ends ----------------------------------------------------------------------
def _eni_named(net: "Network", name: str) -> Eni | None:
    if name in net.enis:
        return net.enis[name]
    ids = net.attached.get(name)
    if ids:
        return net.enis[ids[0]]
    eip = net.eips.get(name)
    if eip is not None and eip.eni is not None:
        return net.enis.get(eip.eni)
    return None


def _unknown(net: "Network", name: str) -> CloudError:
    names = sorted(net.attached) + sorted(net.eips)
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return CloudError(
        "InvalidParameterValue",
        f"no instance, interface or Elastic IP named {name!r} (try: internet, {shown or 'no instances yet'}; or an IPv4 address)",
    )


def _resolve_src(net: "Network", name: str, source_ip: str | None) -> _End:
    if name == INTERNET:
        if source_ip is not None:
            raise CloudError("InvalidParameterValue", "--source-ip is for a packet sent by an interface, not the internet")
        return _End(INTERNET, None, INTERNET_CLIENT)
    eni = _eni_named(net, name)
    if eni is None:
        if name in net.eips:
            raise CloudError("InvalidParameterValue", f"Elastic IP {name} is not associated: nothing sends from it")
        raise _unknown(net, name)
    if eni.kind != "interface":
        raise CloudError("InvalidParameterValue", f"{eni.id} belongs to a NAT gateway: trace from the instance behind it")
    address = eni.private_ip
    if name in net.eips:
        address = net.eips[name].private_ip or address
    if source_ip is not None:
        try:
            address = str(ipaddress.IPv4Address(source_ip))
        except ValueError:
            raise CloudError("InvalidParameterValue", f"--source-ip {source_ip!r} is not an IPv4 address") from None
    return _End(name, eni, address)


def _peered(net: "Network", a: str, b: str) -> bool:
    return any(p.other(a) == b for p in net.peerings.values())


def _from_dns(name: str) -> tuple[str, bool] | None:
    """ip-10-0-1-5[.suffix] -> (10.0.1.5, private); ec2-203-0-113-5[.suffix] -> (..., public)."""
    head = name.split(".", 1)[0]
    for prefix, private in (("ip-", True), ("ec2-", False)):
        if head.startswith(prefix):
            dotted = head[len(prefix) :].replace("-", ".")
            try:
                return str(ipaddress.IPv4Address(dotted)), private
            except ValueError:
                return None
    return None


def _resolve_dst(net: "Network", name: str, src: _End) -> _End:
    if name == INTERNET:
        if src.eni is None:
            raise CloudError("InvalidParameterValue", "both ends are on the internet: trace to or from something in the cloud")
        return _End(INTERNET, None, INTERNET_SERVER)
    if name in net.eips:
        eip = net.eips[name]
        target = net.enis.get(eip.eni) if eip.eni else None
        if src.eni is not None and target is not None and (target.vpc == src.eni.vpc or _peered(net, target.vpc, src.eni.vpc)):
            return _End(name, None, eip.private_ip or target.private_ip, target)
        return _End(name, None, eip.address, target)
    try:
        return _End(name, None, str(ipaddress.IPv4Address(name)))
    except ValueError:
        pass
    dns = _from_dns(name)
    if dns is not None:
        address, private = dns
        if not private and src.eni is not None and address in net.public_map:
            holder, inside = net.public_map[address]
            if net.enis[holder].vpc == src.eni.vpc:
                address = inside  # split horizon: inside its VPC the public name resolves to the private address
        return _End(name, None, address)
    eni = _eni_named(net, name)
    if eni is None:
        raise _unknown(net, name)
    public = net.public_of(eni, eni.private_ip)
    if src.eni is None:
        if public is None:
            return _End(name, None, "", eni, f"{name} has no public IPv4 address: nothing on the internet can even address it")
        return _End(name, None, public[0], eni)
    if eni.vpc == src.eni.vpc or _peered(net, eni.vpc, src.eni.vpc):
        return _End(name, None, eni.private_ip, eni)
    if public is not None:
        return _End(name, None, public[0], eni)
    return _End(name, None, eni.private_ip, eni)


# -- the walk ------------------------------------------------------------------------------------
class _Arrival:
    __slots__ = ("eni", "pkt")

    def __init__(self, eni: Eni | None, pkt: _Packet) -> None:
        self.eni, self.pkt = eni, pkt


class _Walk:
    def __init__(self, net: "Network", trace: Trace, commit: bool) -> None:
        self.net = net
        self.trace = trace
        self.commit = commit
        self.leg = "request"
        self.now_s = trace.t_ms // 1000
        self.nat_used: tuple[NatGateway, int, str, int | None] | None = None
        self.looked_up = False

    # -- bookkeeping ----------------------------------------------------------------------
    def hop(self, step: str, where: str, detail: str, ok: bool = True) -> bool:
        self.trace.hops.append(Hop(self.leg, step, where, detail, ok))
        return ok

    def flow(self, eni: Eni, pkt: _Packet, ok: bool) -> None:
        self.trace.flows.append(
            FlowRecord(
                eni.id, pkt.src, pkt.dst, pkt.sport or 0, pkt.dport or 0, pkt.proto, 1, PACKET_BYTES[pkt.proto],
                self.now_s, self.now_s, "ACCEPT" if ok else "REJECT",
            )
        )

    def label(self, eni: Eni) -> str:
        if eni.kind == "nat_gateway":
            return next((n.name for n in self.net.nats.values() if n.eni == eni.id), eni.id)
        return eni.instance or eni.id

    def place(self, eni: Eni) -> _Place:
        zone = eni.subnet.zone
        if eni.kind == "nat_gateway":
            return _Place(f"NAT fleet {zone}", zone)
        inst = self.net.instance_of(eni)
        host = inst.host if inst is not None else None
        return _Place(host.id if host is not None else "no host", zone, host)

    # -- the underlay ---------------------------------------------------------------------
    def encap(self, a: _Place, b: _Place, vpc: str) -> bool:
        vni = self.net.vpcs[vpc].vni
        cloud = self.net.cloud
        hw = cloud.hardware if cloud is not None else None
        cross = a.zone != b.zone
        problem = ""
        for p in (a, b):
            if p.host is not None and not p.host.up:
                problem = f"host {p.host.id} is down: the underlay cannot reach it"
            elif p.host is None and hw is not None and p.zone in hw.zones and not hw.zones[p.zone].up:
                problem = f"zone {p.zone} is down"
        if not problem and cross and hw is not None:
            link = hw.links.get(f"{a.zone}~{b.zone}") or hw.links.get(f"{b.zone}~{a.zone}")
            if link is not None and link.health.value == "failed":
                problem = f"link {link.id} between the zones is down"
        if a.host is not None and a.host is b.host:
            path = f"{a.label}, same host: the virtual switch hands it over without touching a wire"
        elif a.host is not None and b.host is not None and a.host.rack is b.host.rack:
            path = f"{a.label} -> switch {a.host.rack.id} -> {b.label}"
        elif not cross:
            path = f"{a.label} -> {a.zone} spine -> {b.label}"
        else:
            path = f"{a.label} ({a.zone}) -> {a.zone}~{b.zone} -> {b.label} ({b.zone})"
        self.trace.encaps.append(Encap(self.leg, vpc, vni, a.label, b.label, path, cross))
        return self.hop("encap", f"VNI {vni}", f"{vpc}: {path}" if not problem else problem, not problem)

    # -- leaving an interface ---------------------------------------------------------------
    def send(self, eni: Eni, pkt: _Packet) -> _Arrival | None:
        net = self.net
        reply = self.leg == "reply"
        subnet = eni.subnet
        if eni.kind == "interface" and not reply:
            inst = net.instance_of(eni)
            if inst is None:
                return self.fail("send", eni.id, f"{eni.id} is attached to no instance: nothing sends from it")
            if inst.state != "running":
                return self.fail("send", eni.id, f"{inst.name} is {inst.state}: it sends nothing")
            if eni.source_dest_check and pkt.src not in eni.addresses:
                return self.fail(
                    "send", eni.id,
                    f"source/destination check: {pkt.src} is not one of {eni.id}'s addresses ({', '.join(eni.addresses)}); "
                    "the host drops a packet that speaks for someone else",
                )
            self.hop("send", self.label(eni), f"{eni.id} {pkt.src} on host {self.place(eni).label}")
        if eni.kind == "interface":
            if reply:
                self.hop("sg out", ",".join(eni.groups), "reply to a tracked connection: allowed (security groups are stateful)")
            else:
                groups = [net.security_groups[g] for g in eni.groups]
                found = sg_decide(groups, "out", pkt.proto, pkt.dport, ip_int(pkt.dst), net.peer_groups(eni.vpc, pkt.dst))
                if found is None:
                    self.flow(eni, pkt, False)
                    return self.fail("sg out", ",".join(eni.groups), f"no outbound rule allows {pkt.proto} {pkt.dport or ''} to {pkt.dst}".replace("  ", " "))
                self.hop("sg out", found[0].name, found[1].text())
        table = net.route_table_of(subnet)
        dst_i = ip_int(pkt.dst)
        route = longest_prefix_match(table.routes, dst_i)
        if not reply and not self.looked_up:
            self.looked_up = True
            self.trace.route = route
        kind = net.target_kind(route.target) if route is not None else ""
        target: Eni | None = None
        if kind == "local":
            target = net.mapping.get((subnet.vpc, dst_i))
        elif kind == "nat":
            target = net.enis.get(net.nats[route.target].eni)
        leaves = not (kind in ("local", "nat") and target is not None and target.subnet is subnet)
        acl = net.nacls[subnet.nacl]
        if leaves:
            ok, rule = acl.decide("out", pkt.proto, pkt.dport, dst_i)
            self.flow(eni, pkt, ok)
            if not self.hop("nacl out", f"{acl.name} ({subnet.id})", rule.text() if rule else STAR_DENY, ok):
                return None
        else:
            self.flow(eni, pkt, True)
            self.hop("nacl out", f"{acl.name} ({subnet.id})", "same subnet: network ACLs see only traffic crossing the subnet's edge")
        if route is None:
            shown = ", ".join(f"{r.dest} -> {r.target}" for r in table.routes)
            return self.fail("route", table.name, f"no route matches {pkt.dst} (routes: {shown})")
        matching = sorted((r for r in table.routes if r.holds(dst_i) and r is not route), key=lambda r: -r.prefixlen)
        why = f"{route.dest} -> {route.target}, longest prefix /{route.prefixlen}"
        if matching:
            why += " (beats " + ", ".join(f"{r.dest}" for r in matching) + ")"
        if net.route_state(table, route) == "blackhole":
            reason = "its target no longer exists" if kind == "blackhole" else "its gateway is no longer attached to this VPC"
            return self.fail("route", table.name, f"{route.dest} -> {route.target} is a blackhole: {reason}")
        if eni.kind == "nat_gateway" and not reply and kind != "igw":
            return self.fail(
                "route", table.name,
                f"{route.dest} -> {route.target}: a NAT gateway reaches the internet only through an internet gateway in its subnet's routes",
            )
        self.hop("route", table.name, why)
        if not reply and not self.trace.via:
            self.trace.via = kind
        if kind == "local":
            if target is None:
                return self.fail("mapping", f"vpc {subnet.vpc}", f"no interface in VPC {subnet.vpc} holds {pkt.dst}")
            self.hop("mapping", f"vpc {subnet.vpc}", f"({subnet.vpc}, {pkt.dst}) is {target.id} on {self.place(target).label}")
            return self.enter(target, pkt, self.place(eni), check_nacl=leaves)
        if kind == "igw":
            return self.via_igw(eni, pkt, route.target)
        if kind == "nat":
            return self.via_nat(eni, pkt, net.nats[route.target], leaves)
        return self.via_peering(eni, pkt, route.target)

    def fail(self, step: str, where: str, detail: str) -> None:
        self.hop(step, where, detail, False)
        return None

    # -- gateways -----------------------------------------------------------------------
    def via_igw(self, eni: Eni, pkt: _Packet, igw: str) -> _Arrival | None:
        public = self.net.public_of(eni, pkt.src)
        if public is None:
            return self.fail(
                "igw", igw,
                f"{pkt.src} ({eni.id}) has no public IPv4 address: the internet gateway maps addresses 1:1 and has none to put on the packet",
            )
        self.hop("igw", igw, f"1:1 NAT: source {pkt.src} -> {public[0]}")
        pkt = _Packet(pkt.proto, public[0], pkt.dst, pkt.sport, pkt.dport)
        return self.at_internet(pkt)

    def at_internet(self, pkt: _Packet) -> _Arrival | None:
        if pkt.dst in self.net.public_map:
            self.hop("internet", pkt.dst, f"{pkt.dst} is a public address of this cloud: back in through its internet gateway")
            return self.from_internet(pkt)
        if _unrouted(pkt.dst):
            return self.fail("internet", pkt.dst, f"{pkt.dst} is a private address: the internet does not route it")
        self.hop("internet", pkt.dst, f"across the internet to {pkt.dst}")
        return _Arrival(None, pkt)

    def from_internet(self, pkt: _Packet) -> _Arrival | None:
        net = self.net
        entry = net.public_map.get(pkt.dst)
        if entry is None and _unrouted(pkt.dst):
            return self.fail("internet", pkt.dst, f"{pkt.dst} is a private address: the internet does not route it")
        if entry is None:
            return self.fail("internet", pkt.dst, f"no one in this cloud holds {pkt.dst}")
        eni = net.enis[entry[0]]
        vpc = net.vpcs[eni.vpc]
        if vpc.igw is None:
            return self.fail("igw", f"vpc {vpc.name}", f"VPC {vpc.name} has no internet gateway: {pkt.dst} cannot be reached from the internet")
        self.hop("igw", vpc.igw, f"1:1 NAT: destination {pkt.dst} -> {entry[1]} ({eni.id})")
        pkt = _Packet(pkt.proto, pkt.src, entry[1], pkt.sport, pkt.dport)
        edge = _Place("internet edge", eni.subnet.zone)
        if eni.kind == "nat_gateway":
            return self.nat_return(eni, pkt, edge)
        return self.enter(eni, pkt, edge, check_nacl=True)

    def via_nat(self, eni: Eni, pkt: _Packet, nat: NatGateway, leaves: bool) -> _Arrival | None:
        net = self.net
        nat_eni = net.enis[nat.eni]
        if not self.encap(self.place(eni), self.place(nat_eni), eni.vpc):
            return None
        if leaves:
            acl = net.nacls[nat_eni.subnet.nacl]
            ok, rule = acl.decide("in", pkt.proto, pkt.dport, ip_int(pkt.src))
            self.flow(nat_eni, pkt, ok)
            if not self.hop("nacl in", f"{acl.name} ({nat_eni.subnet.id})", rule.text() if rule else STAR_DENY, ok):
                return None
        key = (pkt.src, pkt.sport, pkt.proto, pkt.dst, pkt.dport)
        port = nat.connections.get(key)
        if port is None:
            port = nat.next_port
            if self.commit:
                nat.connections[key] = port
                nat.by_port[port] = key
                nat.next_port = NAT_PORT_LO if port >= NAT_PORT_HI else port + 1
        eip = net.eips[nat.eip]
        self.nat_used = (nat, port, pkt.src, pkt.sport)
        out_port = port if pkt.proto != "icmp" else None
        self.hop("nat", nat.name, f"source NAT: {pkt.src}:{pkt.sport} -> {eip.address}:{port} (port from {NAT_PORT_LO}-{NAT_PORT_HI})")
        return self.send(nat_eni, _Packet(pkt.proto, nat_eni.private_ip, pkt.dst, out_port if out_port is not None else pkt.sport, pkt.dport))

    def nat_return(self, nat_eni: Eni, pkt: _Packet, edge: _Place) -> _Arrival | None:
        net = self.net
        nat = next(n for n in net.nats.values() if n.eni == nat_eni.id)
        if not self.encap(edge, self.place(nat_eni), nat_eni.vpc):
            return None
        acl = net.nacls[nat_eni.subnet.nacl]
        ok, rule = acl.decide("in", pkt.proto, pkt.dport, ip_int(pkt.src))
        self.flow(nat_eni, pkt, ok)
        if not self.hop("nacl in", f"{acl.name} ({nat_eni.subnet.id})", rule.text() if rule else STAR_DENY, ok):
            return None
        entry = None
        if self.leg == "reply" and self.nat_used is not None and self.nat_used[0] is nat and self.nat_used[1] == (pkt.dport or self.nat_used[1]):
            entry = (self.nat_used[2], self.nat_used[3])
        if entry is None:
            return self.fail("nat", nat.name, "a NAT gateway lets in only replies to connections started from inside")
        self.hop("nat", nat.name, f"reply translated back: {pkt.dst}:{pkt.dport} -> {entry[0]}:{entry[1]}")
        back = _Packet(pkt.proto, pkt.src, entry[0], pkt.sport, entry[1])
        return self.send(nat_eni, back)

    def via_peering(self, eni: Eni, pkt: _Packet, name: str) -> _Arrival | None:
        net = self.net
        peering = net.peerings[name]
        other = peering.other(eni.vpc)
        assert other is not None  # the route is active
        ov = net.vpcs[other]
        dst_i = ip_int(pkt.dst)
        if ipaddress.IPv4Address(pkt.dst) not in ov.cidr:
            return self.fail(
                "peering", name,
                f"{pkt.dst} is not in {other} ({ov.cidr}): a peering delivers only to the peer VPC's own addresses, "
                "never onward (peering is not transitive)",
            )
        target = net.mapping.get((other, dst_i))
        self.hop("peering", name, f"{eni.vpc} -> {other}")
        if target is None:
            return self.fail("mapping", f"vpc {other}", f"no interface in VPC {other} holds {pkt.dst}")
        self.hop("mapping", f"vpc {other}", f"({other}, {pkt.dst}) is {target.id} on {self.place(target).label}")
        return self.enter(target, pkt, self.place(eni), check_nacl=True)

    # -- entering an interface ------------------------------------------------------------------
    def enter(self, eni: Eni, pkt: _Packet, src: _Place, check_nacl: bool) -> _Arrival | None:
        net = self.net
        reply = self.leg == "reply"
        if eni.kind == "nat_gateway":
            return self.fail("deliver", self.label(eni), "a NAT gateway is not a destination: it answers nothing sent to it")
        inst = net.instance_of(eni)
        if inst is None:
            return self.fail("deliver", eni.id, f"{eni.id} ({pkt.dst}) is attached to no instance: nothing answers")
        if inst.state != "running":
            return self.fail("deliver", eni.id, f"{inst.name} ({pkt.dst}) is {inst.state}: nothing answers")
        if not self.encap(src, self.place(eni), eni.vpc):
            return None
        src_i = ip_int(pkt.src)
        if check_nacl:
            acl = net.nacls[eni.subnet.nacl]
            ok, rule = acl.decide("in", pkt.proto, pkt.dport, src_i)
            if not ok:
                self.flow(eni, pkt, False)
            if not self.hop("nacl in", f"{acl.name} ({eni.subnet.id})", rule.text() if rule else STAR_DENY, ok):
                return None
        if reply:
            self.hop("sg in", ",".join(eni.groups), "reply to a tracked connection: allowed (security groups are stateful)")
        else:
            groups = [net.security_groups[g] for g in eni.groups]
            found = sg_decide(groups, "in", pkt.proto, pkt.dport, src_i, net.peer_groups(eni.vpc, pkt.src))
            if found is None:
                self.flow(eni, pkt, False)
                port = f" {pkt.dport}" if pkt.dport is not None else ""
                return self.fail("sg in", ",".join(eni.groups), f"no inbound rule allows {pkt.proto}{port} from {pkt.src}")
            self.hop("sg in", found[0].name, found[1].text())
        self.flow(eni, pkt, True)
        self.hop("deliver", self.label(eni), f"{eni.id} {pkt.dst}")
        return _Arrival(eni, pkt)


# -- one trace ------------------------------------------------------------------------------------
def trace(
    net: "Network", src_name: str, dst_name: str, proto: str = "tcp", port: int | None = None,
    source_ip: str | None = None, commit: bool = True,
) -> Trace:
    """Trace one packet and its reply. With ``commit`` the trace counts: its flow log
    records are kept, the NAT gateways remember their ports, an event is logged and, for
    a TCP connection between two named ends, the metric ``reachable.SRC.DST.PORT`` is kept
    up to date from then on. Without it (the probes behind the metrics) it changes nothing."""
    proto = proto.lower()
    if proto not in ("tcp", "udp", "icmp"):
        raise CloudError("InvalidParameterValue", f"protocol must be tcp, udp or icmp, not {proto!r}")
    if proto == "icmp":
        port = None
    elif port is None:
        raise CloudError("InvalidParameterValue", f"a {proto} packet needs a destination port (--port 443)")
    elif not 1 <= port <= 65535:
        raise CloudError("InvalidParameterValue", f"port must be 1 to 65535, not {port}")
    src = _resolve_src(net, src_name, source_ip)
    dst = _resolve_dst(net, dst_name, src)
    cloud = net.cloud
    t = Trace(src_name, dst_name, proto, port, t_ms=cloud.now_ms if cloud is not None else 0)
    n = net.flows_started
    sport = None if proto == "icmp" else EPHEMERAL_LO + n % (EPHEMERAL_HI - EPHEMERAL_LO + 1)
    walk = _Walk(net, t, commit)
    arrival: _Arrival | None
    if dst.problem:
        walk.fail("address", dst.label, dst.problem)
        arrival = None
        t.request = f"{src.address} -> {dst_name} {proto}"
    else:
        pkt = _Packet(proto, src.address, dst.address, sport, port)
        t.request = pkt.text()
        if src.eni is None:
            walk.hop("send", INTERNET, f"a client at {src.address} sends to {dst.address}")
            arrival = walk.from_internet(pkt)
        else:
            arrival = walk.send(src.eni, pkt)
    if arrival is not None and dst.intended is not None and arrival.eni is not dst.intended:
        got = walk.label(arrival.eni) if arrival.eni is not None else "the internet"
        walk.fail(
            "deliver", dst.label,
            f"{arrival.pkt.dst} reached {got}, not {dst.label}: in another VPC the same address is another machine",
        )
        arrival = None
    if arrival is None:
        t.verdict = "dropped"
    else:
        walk.leg = "reply"
        rpkt = arrival.pkt.reversed()
        t.reply = rpkt.text()
        back = walk.from_internet(rpkt) if arrival.eni is None else walk.send(arrival.eni, rpkt)
        if back is not None:
            if src.eni is None:
                if back.eni is not None or back.pkt.src != dst.address or back.pkt.dst != src.address:
                    walk.fail(
                        "internet", src.address,
                        f"the reply comes from {back.pkt.src}, not {dst.address} the client called: the client drops it "
                        "(asymmetric routing)",
                    )
                    back = None
            elif back.eni is not src.eni or back.pkt.dport != sport:
                got = walk.label(back.eni) if back.eni is not None else "the internet"
                walk.fail("deliver", src.label, f"the reply reached {got}, not {src.label}")
                back = None
        t.verdict = "reachable" if back is not None else "reply-dropped"
    if commit:
        _commit(net, t, walk, src, dst)
    return t


def _commit(net: "Network", t: Trace, walk: _Walk, src: _End, dst: _End) -> None:
    net.flows_started += 1
    net.traces += 1
    net.drops += int(t.verdict != "reachable")
    net.flow_log.extend(t.flows)
    net.last_trace = t
    net.version += 1
    if src.eni is not None:
        net.focus = src.eni.subnet.id
    elif dst.intended is not None:
        net.focus = dst.intended.subnet.id
    if t.proto == "tcp" and t.port is not None and NAME_RE.match(t.src) and NAME_RE.match(t.dst):
        net.traced[f"reachable.{t.src}.{t.dst}.{t.port}"] = (t.src, t.dst, t.port)
    if net.cloud is None:
        return
    hop = t.dropped_at
    enc = t.cross_zone or next((e for e in t.encaps if e.leg == "request"), None)
    net.cloud.emit(
        "packet.traced",
        src=t.src,
        dst=t.dst,
        proto=t.proto,
        port=t.port if t.port is not None else 0,
        verdict=t.verdict,
        hop=hop.step if hop else "",
        where=hop.where if hop else "",
        rule=hop.detail if hop else "",
        via=t.via,
        cross_zone=t.cross_zone is not None,
        src_host=enc.src if enc else "",
        dst_host=enc.dst if enc else "",
        vni=enc.vni if enc else 0,
    )
