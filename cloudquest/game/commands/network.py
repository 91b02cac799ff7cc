"""The network's commands and record: the VPC every instance is plugged into
(cloud/network.py), its firewalls, addresses, and the packet tracer.

The verbs follow the AWS CLI's nouns so the habit carries over: ``vpc``, ``subnet``,
``route``/``route-table``, ``igw``, ``nat``, ``peer``, ``sg``, ``nacl``, ``eni``, ``eip``,
``flowlogs``. The tracer is ``packet trace`` (``trace`` alone is chapter 0's trace of an
instance's launch). Every change goes through the network's API, which checks it first
and changes nothing when it refuses (one line: what is wrong and what is valid).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud import network as network_module
from ...cloud.firewall import PROTOCOLS
from ...cloud.network import INTERNET, Network
from ..console_text import fitted
from ..mechanism import Mechanism, keys_of
from ..network_text import (
    eip_line,
    eni_line,
    eni_text,
    flowlog_text,
    gateway_lines,
    network_text,
    route_lines,
    subnet_text,
    trace_text,
    vpc_text,
)
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
YES_NO = ("yes", "no")
DIRECTIONS = ("in", "out")
PROTOS = tuple(PROTOCOLS)
FLOWLOG_MAX = 200


def _net(session: "Session") -> Network:
    net = session.cloud.get(Network)
    if net is None:  # every world has a network; a plugged-in replacement might not
        raise CommandError("this world has no network")
    return net


VPC = Param("vpc", "a VPC (default: the world's first)", complete="vpc")
SUBNET = Param("subnet", "a subnet", complete="subnet")
TABLE = Param("table", "a route table", complete="route-table")
GROUP = Param("group", "a security group", complete="sg")
ACL = Param("nacl", "a network ACL", complete="nacl")
ENI = Param("eni", "a network interface (or an instance: its primary one)", complete="eni")
EIP = Param("eip", "an Elastic IP", complete="eip")


# -- VPCs and subnets ---------------------------------------------------------------------------
@command(
    "vpc create",
    "create a VPC: a private address block of its own (/16 to /28)",
    args=[Param("name", "its name"), Param("cidr", "its block, e.g. 10.1.0.0/16")],
    details="It comes with a main route table (local route only), a default network ACL (allows all) and a default\nsecurity group (members may talk to each other). No internet gateway until you attach one.",
)
def vpc_create(session: "Session", name: str, cidr: str) -> str:
    v = _net(session).create_vpc(name, cidr)
    return f"vpc {v.name}: {v.cidr}, network id (VNI) {v.vni}; main route table {v.main_route_table}, network ACL {v.default_nacl}, group {v.default_sg}"


@command("vpc show", "show the VPCs, their subnets and peerings", args=[Param("name", "a VPC", required=False, complete="vpc")])
def vpc_show(session: "Session", name: str | None) -> str:
    net = _net(session)
    if name is not None:
        net._vpc(name)
    return vpc_text(net, name)


@command(
    "subnet create",
    "carve a subnet out of a VPC in one zone (AWS keeps 5 of its addresses)",
    args=[Param("name", "its name"), Param("cidr", "its block, inside the VPC's, e.g. 10.0.1.0/24")],
    options=[
        Param("zone", "its availability zone", complete="zone"),
        VPC,
        Param("map-public-ip", "give instances launched here a public IPv4", choices=YES_NO, default="no"),
    ],
    details="/16 to /28, inside the VPC, overlapping no other subnet. Public or private is decided by its\nroute table (route-table associate), not here.",
)
def subnet_create(session: "Session", name: str, cidr: str, zone: str | None, vpc: str | None, map_public_ip: str) -> str:
    if zone is None:
        raise CommandError(f"subnet create needs --zone (zones: {', '.join(session.cloud.hardware.zones)})")
    s = _net(session).create_subnet(name, cidr, zone, vpc, map_public_ip == "yes")
    return (
        f"subnet {s.id}: {s.cidr} in {s.zone}, VPC {s.vpc}; {s.usable} usable addresses "
        f"({s.cidr.num_addresses} minus 5 reserved: {s.reserved()[0]}-{s.reserved()[3]} and {s.reserved()[4]})"
    )


@command("subnet delete", "delete an empty subnet", args=[SUBNET])
def subnet_delete(session: "Session", subnet: str) -> str:
    s = _net(session).delete_subnet(subnet)
    return f"subnet {s.id} ({s.cidr}) deleted"


@command("subnet show", "show a subnet: addresses used and free, reserved ones, routes, interfaces", args=[Param("subnet", "a subnet", required=False, complete="subnet")])
@fitted
def subnet_show(session: "Session", subnet: str | None) -> str:
    net = _net(session)
    if subnet is not None:
        return subnet_text(net, net._subnet(subnet))
    if not net.subnets:
        return "no subnets yet (subnet create NAME CIDR --zone ZONE)"
    return "\n".join(
        f"{s.id:<14} {str(s.cidr):<18} {s.zone:<12} {s.vpc:<8} {'public' if net.is_public(s) else 'private':<8} "
        f"{len(s.in_use)} used, {s.free} free of {s.usable}"
        for s in net.subnets.values()
    )


# -- routes ------------------------------------------------------------------------------------
@command("route-table create", "create a route table (it holds the local route)", args=[Param("name", "its name")], options=[VPC])
def route_table_create(session: "Session", name: str, vpc: str | None) -> str:
    t = _net(session).create_route_table(name, vpc)
    return f"route table {t.name} in VPC {t.vpc}: {t.routes[0].dest} -> local; associate it with subnets"


@command("route-table associate", "make a subnet use a route table", args=[TABLE, SUBNET])
def route_table_associate(session: "Session", table: str, subnet: str) -> str:
    net = _net(session)
    t, s = net.associate_route_table(table, subnet)
    kind = "public" if net.is_public(s) else "private"
    return f"subnet {s.id} now uses {t.name}: it is {kind}"


@command(
    "route show",
    "show a route table's routes (by table, or by the subnet that uses it)",
    args=[Param("table", "a route table or a subnet", required=False, complete="route-table")],
)
def route_show(session: "Session", table: str | None) -> str:
    net = _net(session)
    if table is None:
        out = []
        for t in net.route_tables.values():
            users = [s.id for s in net.subnets.values() if net.route_table_of(s) is t]
            out.append(f"{t.name} (VPC {t.vpc}{', main' if t.main else ''}): subnets {', '.join(users) or 'none'}")
            out.extend(f"  {line}" for line in route_lines(net, t))
        return "\n".join(out)
    if table in net.subnets:
        t = net.route_table_of(net.subnets[table])
        head = f"subnet {table} uses {t.name}" + (" (the VPC's main table)" if t.main else "")
    else:
        t = net._route_table(table)
        head = f"{t.name} (VPC {t.vpc}{', main' if t.main else ''})"
    return "\n".join([head, *(f"  {line}" for line in route_lines(net, t))])


ROUTE_ARGS = [TABLE, Param("dest", "a destination block, e.g. 0.0.0.0/0"), Param("target", "an internet gateway, NAT gateway or peering", complete="target")]


@command("route add", "add a route: packets to DEST go to TARGET", args=ROUTE_ARGS)
def route_add(session: "Session", table: str, dest: str, target: str) -> str:
    r = _net(session).add_route(table, dest, target)
    return f"{table}: {r.dest} -> {r.target}"


@command("route replace", "point an existing route at another target", args=ROUTE_ARGS)
def route_replace(session: "Session", table: str, dest: str, target: str) -> str:
    old, new = _net(session).replace_route(table, dest, target)
    return f"{table}: {new.dest} -> {new.target} (was {old.target})"


@command("route delete", "delete a route (not the local one)", args=[TABLE, Param("dest", "its destination block")])
def route_delete(session: "Session", table: str, dest: str) -> str:
    r = _net(session).delete_route(table, dest)
    return f"{table}: {r.dest} -> {r.target} deleted"


# -- gateways and peering --------------------------------------------------------------------------
@command("igw create", "create an internet gateway (attach it to a VPC)", args=[Param("name", "its name")])
def igw_create(session: "Session", name: str) -> str:
    _net(session).create_igw(name)
    return f"internet gateway {name} created, detached (igw attach {name} VPC)"


@command("igw attach", "attach an internet gateway to a VPC (one each)", args=[Param("igw", "an internet gateway", complete="igw"), Param("vpc", "a VPC", complete="vpc")])
def igw_attach(session: "Session", igw: str, vpc: str) -> str:
    _net(session).attach_igw(igw, vpc)
    return f"{igw} attached to {vpc}; a subnet is public once its route table sends 0.0.0.0/0 to {igw}"


@command("igw detach", "detach an internet gateway (its routes turn into blackholes)", args=[Param("igw", "an internet gateway", complete="igw")])
def igw_detach(session: "Session", igw: str) -> str:
    g = _net(session).igws[igw] if igw in _net(session).igws else None
    vpc = g.vpc if g else None
    _net(session).detach_igw(igw)
    return f"{igw} detached from {vpc}"


@command(
    "nat create",
    "create a NAT gateway in a (public) subnet, with an Elastic IP of its own",
    args=[Param("name", "its name"), SUBNET],
    details="Private subnets reach the internet through it: route 0.0.0.0/0 to it from their route table.\nIt must sit in a subnet whose own route table reaches an internet gateway.",
)
def nat_create(session: "Session", name: str, subnet: str) -> str:
    net = _net(session)
    n = net.create_nat(name, subnet)
    s = net.subnets[n.subnet]
    warn = "" if net.is_public(s) else f"; careful: {s.id} is private, so {name} cannot reach the internet"
    return f"NAT gateway {name} in {s.id} ({s.zone}): private {net.enis[n.eni].private_ip}, public {net.eips[n.eip].address}{warn}"


@command("nat delete", "delete a NAT gateway (routes to it turn into blackholes; its Elastic IP stays)", args=[Param("name", "a NAT gateway", complete="nat")])
def nat_delete(session: "Session", name: str) -> str:
    n = _net(session).delete_nat(name)
    return f"NAT gateway {name} deleted; Elastic IP {n.eip} is still allocated (eip release {n.eip})"


@command("nat show", "show the NAT gateways and their connections")
def nat_show(session: "Session") -> str:
    net = _net(session)
    lines = [g for g in gateway_lines(net) if g.startswith("nat ")]
    return "\n".join(lines) or "no NAT gateways"


@command("peer create", "peer two VPCs (their blocks must not overlap; not transitive)", args=[Param("name", "its name"), Param("vpc-a", "a VPC", complete="vpc"), Param("vpc-b", "another VPC", complete="vpc")])
def peer_create(session: "Session", name: str, vpc_a: str, vpc_b: str) -> str:
    p = _net(session).create_peering(name, vpc_a, vpc_b)
    return f"peering {p.name}: {p.a} <-> {p.b}, accepted; each side needs a route to the other's block via {p.name}"


@command("peer delete", "delete a peering connection", args=[Param("name", "a peering", complete="peering")])
def peer_delete(session: "Session", name: str) -> str:
    p = _net(session).delete_peering(name)
    return f"peering {p.name} ({p.a} <-> {p.b}) deleted; routes to it are blackholes"


# -- security groups and network ACLs ----------------------------------------------------------------
@command("sg create", "create a security group (allows nothing in, everything out)", args=[Param("name", "its name")], options=[VPC])
def sg_create(session: "Session", name: str, vpc: str | None) -> str:
    g = _net(session).create_sg(name, vpc)
    return f"security group {g.name} in VPC {g.vpc}: no inbound rules, all outbound allowed"


SG_RULE = [
    GROUP,
    Param("direction", "in or out", choices=DIRECTIONS),
    Param("proto", "protocol", choices=PROTOS),
    Param("ports", "a port (443), a range (1024-65535) or all"),
    Param("peer", "a CIDR block (0.0.0.0/0) or a security group's name", complete="sg"),
]


@command(
    "sg allow",
    "add an allow rule to a security group (stateful: replies come back by themselves)",
    args=SG_RULE,
    details="sg allow web-sg in tcp 443 0.0.0.0/0     anyone may open port 443\nsg allow db-sg in tcp 5432 app-sg         members of app-sg may reach 5432",
)
def sg_allow(session: "Session", group: str, direction: str, proto: str, ports: str, peer: str) -> str:
    r = _net(session).sg_allow(group, direction, proto, ports, peer)
    return f"{group}: {r.text()}"


@command("sg revoke", "remove a rule from a security group (give it exactly as it is listed)", args=SG_RULE)
def sg_revoke(session: "Session", group: str, direction: str, proto: str, ports: str, peer: str) -> str:
    r = _net(session).sg_revoke(group, direction, proto, ports, peer)
    return f"{group}: revoked {r.text()}"


@command("sg attach", "add a security group to an interface (or an instance's primary one)", args=[GROUP, ENI])
def sg_attach(session: "Session", group: str, eni: str) -> str:
    e = _net(session).sg_attach(group, eni)
    return f"{e.id}: groups {', '.join(e.groups)}"


@command("sg detach", "remove a security group from an interface (it keeps at least one)", args=[GROUP, ENI])
def sg_detach(session: "Session", group: str, eni: str) -> str:
    e = _net(session).sg_detach(group, eni)
    return f"{e.id}: groups {', '.join(e.groups)}"


@command("sg show", "show security groups, their rules and members", args=[Param("group", "a security group", required=False, complete="sg")])
def sg_show(session: "Session", group: str | None) -> str:
    net = _net(session)
    groups = [net._sg(group)] if group else list(net.security_groups.values())
    lines = []
    for g in groups:
        lines.append(f"{g.name} (VPC {g.vpc}): members {', '.join(sorted(g.members)) or 'none'}")
        lines.extend(f"  {r.direction:<3} {r.text()}" for r in g.rules)
        if not any(r.direction == "in" for r in g.rules):
            lines.append("  in  (no rule: nothing gets in)")
    return "\n".join(lines)


@command("nacl create", "create a network ACL (denies everything until you add rules)", args=[Param("name", "its name")], options=[VPC])
def nacl_create(session: "Session", name: str, vpc: str | None) -> str:
    a = _net(session).create_nacl(name, vpc)
    return f"network ACL {a.name} in VPC {a.vpc}: only the final * deny rule; add rules, then nacl associate it"


@command(
    "nacl add",
    "add a numbered rule (lowest number first, first match wins; stateless)",
    args=[
        ACL,
        Param("number", "rule number, 1-32766 (leave gaps: 100, 110, ...)", type=int, min=1, max=32766),
        Param("direction", "in or out", choices=DIRECTIONS),
        Param("action", "allow or deny", choices=("allow", "deny")),
        Param("proto", "protocol", choices=PROTOS),
        Param("ports", "a port (443), a range (1024-65535) or all"),
        Param("cidr", "the peer's block, e.g. 0.0.0.0/0"),
    ],
    details="nacl add app-acl 120 in allow tcp 1024-65535 0.0.0.0/0   replies to connections the subnet opened\nReplies are packets like any other here: they need a rule for the client's ephemeral ports.",
)
def nacl_add(session: "Session", nacl: str, number: int, direction: str, action: str, proto: str, ports: str, cidr: str) -> str:
    r = _net(session).nacl_add(nacl, number, direction, action, proto, ports, cidr)
    return f"{nacl}: {r.text()}"


@command("nacl delete", "delete a numbered rule", args=[ACL, Param("number", "rule number", type=int, min=1, max=32766), Param("direction", "in or out", choices=DIRECTIONS)])
def nacl_delete(session: "Session", nacl: str, number: int, direction: str) -> str:
    r = _net(session).nacl_delete(nacl, number, direction)
    return f"{nacl}: deleted {r.text()}"


@command("nacl associate", "make a subnet use a network ACL", args=[ACL, SUBNET])
def nacl_associate(session: "Session", nacl: str, subnet: str) -> str:
    _net(session).nacl_associate(nacl, subnet)
    return f"subnet {subnet} now uses network ACL {nacl}"


@command("nacl show", "show network ACLs in evaluation order (by ACL, or by the subnet that uses it)", args=[Param("nacl", "a network ACL or a subnet", required=False, complete="nacl")])
def nacl_show(session: "Session", nacl: str | None) -> str:
    net = _net(session)
    if nacl is not None and nacl in net.subnets:
        nacl = net.subnets[nacl].nacl
    acls = [net._nacl(nacl)] if nacl else list(net.nacls.values())
    lines = []
    for a in acls:
        users = [s.id for s in net.subnets.values() if s.nacl == a.name]
        lines.append(f"{a.name} (VPC {a.vpc}{', default' if a.default else ''}): subnets {', '.join(users) or 'none'}")
        for d in DIRECTIONS:
            lines.extend(f"  {d:<3} {r.text()}" for r in a.ordered(d))
            lines.append(f"  {d:<3} rule * deny all")
    return "\n".join(lines)


# -- interfaces and addresses -----------------------------------------------------------------------
@command(
    "eni create",
    "create a network interface in a subnet (attach it to an instance in that zone)",
    args=[Param("name", "its name"), SUBNET],
    options=[Param("ip", "a private address of the subnet (default: the lowest free)"), Param("sg", "security groups, comma-separated", complete="sg")],
)
def eni_create(session: "Session", name: str, subnet: str, ip: str | None, sg: str | None) -> str:
    groups = [g for g in (sg or "").split(",") if g] or None
    e = _net(session).create_eni(name, subnet, ip, groups)
    return f"interface {e.id}: {e.private_ip} in {e.subnet.id}, groups {', '.join(e.groups)}"


@command("eni attach", "attach an interface to an instance in its zone", args=[Param("eni", "a network interface", complete="eni"), Param("instance", "an instance", complete="instance")])
def eni_attach(session: "Session", eni: str, instance: str) -> str:
    e = _net(session).attach_eni(eni, instance)
    return f"{e.id} ({e.private_ip}) attached to {instance} as device {e.device}"


@command("eni detach", "detach an interface (not an instance's primary one)", args=[Param("eni", "a network interface", complete="eni")])
def eni_detach(session: "Session", eni: str) -> str:
    e = _net(session).detach_eni(eni)
    return f"{e.id} ({e.private_ip}) detached; it keeps its addresses and can attach elsewhere in {e.subnet.zone}"


@command("eni delete", "delete a detached interface and free its addresses", args=[Param("eni", "a network interface", complete="eni")])
def eni_delete(session: "Session", eni: str) -> str:
    e = _net(session).delete_eni(eni)
    return f"{e.id} deleted; {', '.join(e.addresses)} free again"


@command(
    "eni assign-ip",
    "give an interface a secondary private address (or move one here from another interface)",
    args=[ENI, Param("ip", "an address of the subnet (default: the lowest free)", required=False)],
    options=[Param("reassign", "move the address here if another interface of the subnet holds it", choices=YES_NO, default="no")],
)
def eni_assign_ip(session: "Session", eni: str, ip: str | None, reassign: str) -> str:
    e, address, moved = _net(session).assign_ip(eni, ip, reassign == "yes")
    return f"{e.id}: secondary {address}" + (f" (moved from {moved})" if moved else "")


@command("eni unassign-ip", "take a secondary private address off an interface", args=[ENI, Param("ip", "the address")])
def eni_unassign_ip(session: "Session", eni: str, ip: str) -> str:
    e = _net(session).unassign_ip(eni, ip)
    return f"{e.id}: {ip} unassigned"


@command(
    "eni source-dest-check",
    "turn an interface's source/destination check on or off",
    args=[ENI, Param("state", "on or off", choices=("on", "off"))],
    details="On (the default), the host drops a packet the interface sends from an address that is not its own.\nAn instance that forwards others' packets (a NAT instance, a firewall appliance) needs it off.",
)
def eni_source_dest_check(session: "Session", eni: str, state: str) -> str:
    e = _net(session).set_source_dest_check(eni, state == "on")
    return f"{e.id}: source/destination check {state}"


@command("eni show", "show interfaces: addresses, DNS names, groups", args=[Param("eni", "an interface or an instance", required=False, complete="eni")])
def eni_show(session: "Session", eni: str | None) -> str:
    net = _net(session)
    if eni is not None:
        if eni in net.attached and eni not in net.enis:
            return "\n".join(eni_text(net, net.enis[i]) for i in net.attached[eni])
        return eni_text(net, net.eni(eni))
    return "\n".join(eni_line(net, e) for e in net.enis.values()) or "no interfaces"


@command("eip allocate", "allocate an Elastic IP: a public address that is yours until released (billed)", args=[Param("name", "its name")])
def eip_allocate(session: "Session", name: str) -> str:
    e = _net(session).allocate_eip(name)
    return f"Elastic IP {e.name}: {e.address}, not associated (idle: billed $0.005/h for nothing)"


@command(
    "eip associate",
    "point an Elastic IP at an interface (or an instance); it moves if associated elsewhere",
    args=[EIP, Param("target", "an instance or a network interface", complete="eni")],
    options=[Param("private-ip", "which of the interface's private addresses (default: its primary)")],
)
def eip_associate(session: "Session", eip: str, target: str, private_ip: str | None) -> str:
    e, eni, was = _net(session).associate_eip(eip, target, private_ip)
    return f"{e.name} {e.address} -> {eni.id} {e.private_ip}" + (f" (moved from {was})" if was else "")


@command("eip disassociate", "unhook an Elastic IP (it stays allocated, and billed)", args=[EIP])
def eip_disassociate(session: "Session", eip: str) -> str:
    e, was = _net(session).disassociate_eip(eip)
    return f"{e.name} {e.address} disassociated from {was}; idle now (eip release {e.name} if you no longer need it)"


@command("eip release", "give an idle Elastic IP back to the pool (you will not get it back)", args=[EIP])
def eip_release(session: "Session", eip: str) -> str:
    e = _net(session).release_eip(eip)
    return f"{e.name} {e.address} released"


@command("eip show", "show the Elastic IPs and what each points at")
def eip_show(session: "Session") -> str:
    net = _net(session)
    return "\n".join(eip_line(net, e) for e in net.eips.values()) or "no Elastic IPs"


# -- the tracer and the flow logs -----------------------------------------------------------------
@command(
    "packet trace",
    "trace a packet and its reply hop by hop: every rule that decided, and a verdict",
    args=[
        Param("src", "an instance, interface, Elastic IP, or internet", complete="endpoint"),
        Param("dst", "an instance, interface, Elastic IP, internet, an IPv4 address or a DNS name", complete="endpoint"),
    ],
    options=[
        Param("port", "destination port (tcp and udp)", type=int, min=1, max=65535),
        Param("proto", "protocol", choices=("tcp", "udp", "icmp"), default="tcp"),
        Param("source-ip", "send from this address instead of the interface's own (meets the source/destination check)"),
    ],
    details="packet trace internet web-1 --port 443     can the internet open web-1's port 443?\npacket trace app-1 internet --port 443     can app-1 fetch updates?\nEach hop names the rule that decided; the verdict says where a packet died, and the reply is traced too.",
)
def packet_trace(session: "Session", src: str, dst: str, port: int | None, proto: str, source_ip: str | None) -> str:
    t = _net(session).trace(src, dst, proto, port, source_ip=source_ip)
    return trace_text(t)


@command(
    "flowlogs",
    "show VPC Flow Logs records (version 2 default format), newest last",
    options=[
        Param("last", "how many records", type=int, min=1, max=FLOWLOG_MAX, default=20),
        Param("eni", "only this interface's records", complete="eni"),
        Param("action", "only ACCEPT or REJECT", choices=("accept", "reject")),
    ],
)
def flowlogs(session: "Session", last: int, eni: str | None, action: str | None) -> str:
    net = _net(session)
    if eni is not None:
        eni = net.eni(eni).id
    return flowlog_text(net, last, eni, action)


# -- the record ---------------------------------------------------------------------------------
def _status(session: "Session", thing: str | None) -> str | None:
    net = session.cloud.get(Network)
    if net is None or not net.full:
        return None
    if thing is None:
        m = net.metrics()
        return (
            f"network: {m['vpcs']} VPCs, {m['subnets']} subnets, {m['enis']} interfaces, {m['eips']} Elastic IPs "
            f"({m['eips_idle']} idle), {m['packets_traced']} packets traced (describe for the network view)"
        )
    kind = net._kind_of(thing)
    if kind == "subnet":
        return subnet_text(net, net.subnets[thing])
    if kind == "vpc":
        return vpc_text(net, thing)
    if kind == "interface":
        return eni_text(net, net.enis[thing])
    if kind == "Elastic IP":
        return eip_line(net, net.eips[thing])
    if kind == "route table":
        return route_show(session, thing)
    if kind == "security group":
        return sg_show(session, thing)
    if kind == "network ACL":
        return nacl_show(session, thing)
    if kind is not None:
        return next((g for g in gateway_lines(net) if g.split()[1] == thing), None)
    return None


def _endpoints(session: "Session") -> list[str]:
    net = session.cloud.get(Network)
    if net is None:
        return []
    return sorted({INTERNET, *net.attached, *net.enis, *net.eips})


def _targets(session: "Session") -> list[str]:
    net = session.cloud.get(Network)
    return sorted([*net.igws, *net.nats, *net.peerings]) if net is not None else []


MECHANISM = Mechanism(
    name="network",
    summary="the VPC: subnets, route tables, gateways, peering, security groups, network ACLs, addresses, the packet tracer (chapters 6, 7)",
    section=network_module.NetworkSpec,
    attach=network_module.attach,
    always=True,
    check=network_module.check_world,
    commands=command,
    ids={
        "vpc": keys_of(Network, "vpcs"),
        "subnet": keys_of(Network, "subnets"),
        "route-table": keys_of(Network, "route_tables"),
        "igw": keys_of(Network, "igws"),
        "nat": keys_of(Network, "nats"),
        "peering": keys_of(Network, "peerings"),
        "sg": keys_of(Network, "security_groups"),
        "nacl": keys_of(Network, "nacls"),
        "eni": keys_of(Network, "enis"),
        "eip": keys_of(Network, "eips"),
        "endpoint": _endpoints,
        "target": _targets,
    },
    status=_status,
    metrics=network_module.METRICS,
    events=network_module.EVENTS,
    views={"network": network_text},
)
