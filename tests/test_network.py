"""The network mechanism (cloud/network.py, firewall.py, routing.py, packet_tracer.py):
AWS's documented behaviour reproduced (each test names its source), bad input refused in
one line with nothing changed, and two properties: the tracer agrees with a brute-force
reading of the same rules, and no two interfaces ever hold one address."""

from __future__ import annotations

import ipaddress
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudquest.cloud.ipam import Ipam, IpamError, PublicPool
from cloudquest.cloud.network import Network
from cloudquest.cloud.routing import Route, longest_prefix_match
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter

from network_worlds import hardware, two_tier


def sandbox(world: dict, seed: int = 0) -> Session:
    return Session(free_play_chapter(World.model_validate(world)), seed, sandbox=True)


def ok(s: Session, *lines: str) -> str:
    out = ""
    for line in lines:
        o = s.execute(line)
        assert o.ok, f"{line}: {o.output}"
        out = o.output
    return out


def net_of(s: Session) -> Network:
    return s.cloud.get(Network)


def trace(s: Session, src: str, dst: str, port: int | None = 443, proto: str = "tcp"):
    return net_of(s).trace(src, dst, proto, port)


# -- published facts ----------------------------------------------------------------------------
def test_reserved_addresses_and_usable_counts_of_a_slash24_and_a_slash28():
    """Amazon VPC User Guide, "Subnet CIDR blocks": the first four IP addresses and the last
    IP address in each subnet are not available (10.0.0.0 network address, .1 VPC router,
    .2 Amazon DNS, .3 future use, .255 broadcast), so a /24 offers 251 and a /28 11."""
    s = sandbox(two_tier())
    ok(s, "subnet create s24 10.0.8.0/24 --zone za", "subnet create s28 10.0.9.0/28 --zone za")
    m = s.cloud.metrics()
    assert m["free_addresses.s24"] == 251 and m["free_addresses.s28"] == 11
    net = net_of(s)
    assert net.subnets["s24"].reserved() == ["10.0.8.0", "10.0.8.1", "10.0.8.2", "10.0.8.3", "10.0.8.255"]
    for i in range(11):
        ok(s, f"launch --subnet s28 --type nano --name w{i}")
    got = s.execute("launch --subnet s28 --type nano --name w11")
    assert got.error_kind == "api" and "InsufficientFreeAddressesInSubnet" in got.output
    assert sorted(net.subnets["s28"].in_use, key=ipaddress.IPv4Address) == [f"10.0.9.{i}" for i in range(4, 15)]
    assert any(e.kind == "launch.failed" and e.get("code") == "InsufficientFreeAddressesInSubnet" for e in s.cloud.log)
    refused = s.execute("eni create x s24 --ip 10.0.8.1")
    assert not refused.ok and "the VPC router" in refused.output


def test_vpc_and_subnet_blocks_are_slash16_to_slash28():
    """Amazon VPC User Guide, "VPC CIDR blocks": the allowed block size is between a /16
    netmask (65,536 IP addresses) and a /28 netmask (16 IP addresses); subnets likewise."""
    s = sandbox(two_tier())
    ok(s, "vpc create big 10.1.0.0/16", "vpc create tiny 10.2.0.0/28", "subnet create whole 10.1.0.0/16 --zone za --vpc big")
    assert net_of(s).subnets["whole"].usable == 65536 - 5
    for line, fragment in (
        ("vpc create huge 10.4.0.0/15", "a /15 is too large"),
        ("vpc create crumb 10.5.0.0/29", "a /29 is too small"),
        ("subnet create crumb 10.0.9.0/29 --zone za", "a /29 is too small"),
    ):
        got = s.execute(line)
        assert not got.ok and fragment in got.output and "/16 to /28" in got.output


def test_longest_prefix_match_over_local_peering_and_default_routes():
    """Amazon VPC User Guide, "Route priority": traffic is directed by the most specific
    route that matches (longest prefix match). With 10.0.0.0/16 local, 172.31.0.0/16 to a
    peering connection and 0.0.0.0/0 to an internet gateway, traffic to 172.31.x.x takes the
    peering, traffic to 10.0.x.x stays local, everything else leaves by the gateway."""
    world = two_tier(
        vpc={"route_tables": [{"name": "pub-rt", "routes": [
            {"dest": "0.0.0.0/0", "target": "igw-v"}, {"dest": "172.31.0.0/16", "target": "p"}]}]},
        peerings=[{"name": "p", "vpcs": ["v", "w"]}],
    )
    world["network"]["vpcs"].append({
        "name": "w", "cidr": "172.31.0.0/16",
        "main_routes": [{"dest": "10.0.0.0/16", "target": "p"}],
        "subnets": [{"name": "ws", "zone": "za", "cidr": "172.31.1.0/24"}],
    })
    world["instances"].append({"name": "c", "subnet": "ws"})
    s = sandbox(world)
    ok(s, "sg allow w-default in tcp 80 10.0.0.0/16")  # a default group admits only its own members
    to_peer, to_local, to_internet = trace(s, "a", "c", 80), trace(s, "a", "b", 80), trace(s, "a", "internet")
    assert (to_peer.route.target, to_peer.route.prefixlen, to_peer.via) == ("p", 16, "peering")
    assert (to_local.route.target, to_local.route.prefixlen, to_local.via) == ("local", 16, "local")
    assert (to_internet.route.target, to_internet.route.prefixlen, to_internet.via) == ("igw-v", 0, "igw")
    assert to_peer.verdict == to_local.verdict == to_internet.verdict == "reachable"
    route_hop = next(h for h in to_peer.hops if h.step == "route")
    assert "longest prefix /16 (beats 0.0.0.0/0)" in route_hop.detail
    # the metric the quiz reads: the prefix length of the route the last traced packet took
    ok(s, "packet trace a c --port 80")
    assert s.cloud.metrics()["last_route_prefix"] == 16


def test_longest_prefix_match_picks_the_most_specific_of_nested_routes():
    routes = [Route.make(ipaddress.IPv4Network(d), t) for d, t in (
        ("0.0.0.0/0", "igw"), ("10.0.0.0/8", "nat"), ("10.1.0.0/16", "pcx"), ("10.1.2.0/24", "other"))]
    def best(ip: str) -> str:
        return longest_prefix_match(routes, int(ipaddress.IPv4Address(ip))).target
    assert [best(ip) for ip in ("10.1.2.3", "10.1.9.9", "10.9.9.9", "8.8.8.8")] == ["other", "pcx", "nat", "igw"]


def _nacl_world(first: str, second: str) -> dict:
    return two_tier(vpc={"nacls": [{"name": "acl", "rules": [
        {"number": 100, "dir": "in", "action": first, "proto": "tcp", "ports": "443", "cidr": "0.0.0.0/0"},
        {"number": 200, "dir": "in", "action": second, "proto": "tcp", "ports": "443", "cidr": "0.0.0.0/0"},
        {"number": 100, "dir": "out", "action": "allow", "proto": "all", "cidr": "0.0.0.0/0"},
    ]}], "subnets": [
        {"name": "pub", "zone": "za", "cidr": "10.0.1.0/24", "public": True, "route_table": "pub-rt"},
        {"name": "priv", "zone": "zb", "cidr": "10.0.2.0/24", "nacl": "acl"},
    ]})


@pytest.mark.parametrize("first,second,verdict", [("allow", "deny", "reachable"), ("deny", "allow", "dropped")])
def test_network_acl_rules_are_evaluated_lowest_number_first_and_the_first_match_decides(first, second, verdict):
    """Amazon VPC User Guide, "Network ACL rules": rules are evaluated in order, starting
    with the lowest numbered rule; as soon as a rule matches traffic it is applied,
    regardless of any higher-numbered rule that might contradict it."""
    t = trace(sandbox(_nacl_world(first, second)), "a", "b")
    assert t.verdict == verdict
    hop = next(h for h in t.hops if h.step == "nacl in")
    assert hop.detail.startswith(f"rule 100 {first} tcp 443")


def test_a_security_group_lets_the_reply_back_while_an_acl_without_ephemeral_ports_drops_it():
    """Amazon VPC User Guide, "Security groups": they are stateful, a response to an allowed
    request flows back regardless of inbound rules; "Network ACLs": they are stateless, so a
    response needs its own rule, on the ephemeral ports (1024-65535) the client used."""
    s = sandbox(two_tier(vpc={"nacls": [{"name": "strict", "rules": [
        {"number": 100, "dir": "out", "action": "allow", "proto": "all", "cidr": "0.0.0.0/0"},
        {"number": 110, "dir": "in", "action": "allow", "proto": "tcp", "ports": "22", "cidr": "0.0.0.0/0"},
    ]}]}))
    ok(s, "sg create outbound-only", "sg attach outbound-only a", "sg detach default a", "nacl associate strict pub")
    assert [r.direction for r in net_of(s).security_groups["outbound-only"].rules] == ["out"]  # no inbound rule at all
    t = trace(s, "a", "internet")
    assert t.verdict == "reply-dropped"
    died = t.dropped_at
    assert (died.leg, died.step, died.detail) == ("reply", "nacl in", "rule * deny all (no numbered rule matched)")
    ok(s, "nacl add strict 120 in allow tcp 1024-65535 0.0.0.0/0")
    t = trace(s, "a", "internet")
    assert t.verdict == "reachable"
    sg_reply = next(h for h in t.hops if h.leg == "reply" and h.step == "sg in")
    assert "stateful" in sg_reply.detail and sg_reply.where == "outbound-only"


def _three_vpcs() -> dict:
    vpcs = []
    for i, name in enumerate("abc"):
        vpcs.append({"name": name, "cidr": f"10.{i}.0.0/16", "subnets": [{"name": f"s{name}", "zone": "za", "cidr": f"10.{i}.1.0/24"}]})
    vpcs[0]["main_routes"] = [{"dest": "10.1.0.0/16", "target": "ab"}, {"dest": "10.2.0.0/16", "target": "ab"}]
    vpcs[1]["main_routes"] = [{"dest": "10.0.0.0/16", "target": "ab"}, {"dest": "10.2.0.0/16", "target": "bc"}]
    vpcs[2]["main_routes"] = [{"dest": "10.1.0.0/16", "target": "bc"}]
    return {
        "regions": hardware(("za",)),
        "network": {"vpcs": vpcs, "peerings": [{"name": "ab", "vpcs": ["a", "b"]}, {"name": "bc", "vpcs": ["b", "c"]}]},
        "instances": [{"name": f"i{n}", "subnet": f"s{n}"} for n in "abc"],
    }


def test_vpc_peering_is_not_transitive():
    """Amazon VPC Peering Guide, "VPC peering limitations": transitive peering is not
    supported; with A peered to B and B peered to C, A cannot reach C through B."""
    s = sandbox(_three_vpcs())
    ok(s, "sg allow b-default in all all 10.0.0.0/8", "sg allow c-default in all all 10.0.0.0/8")
    assert trace(s, "ia", "ib", 80).verdict == "reachable" and trace(s, "ib", "ic", 80).verdict == "reachable"
    t = trace(s, "ia", "ic", 80)
    assert t.verdict == "dropped"
    assert t.dropped_at.step == "peering" and "not transitive" in t.dropped_at.detail
    ok(s, "peer create ac a c", "route replace rtb-a 10.2.0.0/16 ac", "route add rtb-c 10.0.0.0/16 ac")
    assert trace(s, "ia", "ic", 80).verdict == "reachable"


def test_the_same_block_in_two_vpcs_never_mixes():
    """Amazon VPC User Guide, "VPC CIDR blocks": VPCs may use the same private block; each
    is isolated, so an address means something only inside its VPC (and two VPCs whose
    blocks overlap cannot be peered)."""
    vpcs = [{"name": n, "cidr": "10.0.0.0/16", "igw": f"igw-{n}", "subnets": [{"name": f"s-{n}", "zone": "za", "cidr": "10.0.1.0/24"}]} for n in ("red", "blue")]
    s = sandbox({"regions": hardware(("za",)), "network": {"vpcs": vpcs},
                 "instances": [{"name": "x", "subnet": "s-red"}, {"name": "y", "subnet": "s-blue"}, {"name": "z", "subnet": "s-red"}]})
    net = net_of(s)
    x, y = net.eni("x"), net.eni("y")
    assert x.private_ip == y.private_ip == "10.0.1.4"
    assert net.vpcs["red"].vni != net.vpcs["blue"].vni
    t = trace(s, "z", "y", 80)
    assert t.verdict == "dropped" and "reached x, not y" in t.dropped_at.detail  # same address, another machine
    assert all(e.vpc == "red" for e in t.encaps)
    refused = s.execute("peer create rb red blue")
    assert not refused.ok and "overlap" in refused.output


def test_an_auto_assigned_public_address_changes_across_stop_and_start_an_elastic_ip_stays():
    """Amazon EC2 User Guide, "Public IPv4 addresses": the public address is released when
    the instance is stopped and a new one is assigned when it starts; "Elastic IP addresses":
    an Elastic IP stays associated across a stop and start."""
    s = sandbox(two_tier())
    ok(s, "launch --name c --subnet pub", "tick 20")
    control = s.cloud.control
    first = control.get("a").public_ip
    private = control.get("a").private_ip
    ok(s, "stop a")
    assert control.get("a").public_ip is None and control.get("a").host is None
    assert s.cloud.metrics()["running.a"] == 0
    ok(s, "start a", "tick 20")
    assert control.get("a").state == "running" and control.get("a").private_ip == private
    assert control.get("a").public_ip not in (None, first)
    ok(s, "eip allocate keep", "eip associate keep c")
    address = net_of(s).eips["keep"].address
    ok(s, "stop c", "start c", "tick 20")
    assert control.get("c").public_ip == address
    kept = [e for e in s.cloud.log if e.kind == "address.public" and e.get("reason") == "start"]
    assert [(e.get("instance"), e.get("source"), e.get("changed")) for e in kept] == [("a", "auto", True), ("c", "elastic", False)]


def test_an_idle_elastic_ip_is_billed_and_an_associated_one_cannot_be_released():
    """Amazon EC2 pricing, "Elastic IP addresses" and the public IPv4 charge (from 1 February
    2024): every public IPv4 address costs $0.005 per hour, and one associated with nothing
    does nothing for it. EC2 API ReleaseAddress: an associated address must be
    disassociated first."""
    s = sandbox(two_tier())
    m = s.cloud.metrics()
    assert (m["eips_idle"], m["public_ipv4"], m["public_ipv4_cost_per_hour"]) == (0, 1, 0.005)  # a's auto address
    ok(s, "eip allocate spare")
    assert s.cloud.metrics()["eips_idle"] == 1 and s.cloud.metrics()["public_ipv4_cost_per_hour"] == 0.01
    ok(s, "eip associate spare a")
    assert s.cloud.metrics()["eips_idle"] == 0 and s.cloud.metrics()["public_ipv4"] == 1  # it replaced the auto one
    got = s.execute("eip release spare")
    assert got.error_kind == "api" and "InvalidIPAddress.InUse" in got.output
    ok(s, "terminate a")
    assert s.cloud.metrics()["eips_idle"] == 1  # terminating the instance leaves the address allocated
    ok(s, "eip release spare")
    assert s.cloud.metrics()["eips"] == 0


def test_interfaces_per_instance_and_addresses_per_interface_follow_the_t3_limits():
    """Amazon EC2 User Guide, "Maximum IP addresses per network interface": t3.nano takes 2
    interfaces of 2 private IPv4 addresses each; t3.small 3 interfaces of 4."""
    s = sandbox(two_tier() | {"instances": [{"name": "n", "type": "nano", "subnet": "priv"}, {"name": "m", "type": "small", "subnet": "priv"}]})
    ok(s, "eni assign-ip n")
    assert "PrivateIpAddressLimitExceeded" in s.execute("eni assign-ip n").output
    ok(s, "eni create e1 priv", "eni attach e1 n")
    ok(s, "eni create e2 priv")
    assert "AttachmentLimitExceeded" in s.execute("eni attach e2 n").output
    ok(s, "eni attach e2 m", "eni create e3 priv", "eni attach e3 m", "eni assign-ip m", "eni assign-ip m", "eni assign-ip m")
    assert "PrivateIpAddressLimitExceeded" in s.execute("eni assign-ip m").output


def test_a_secondary_address_moves_to_a_standby_only_when_asked_and_traffic_follows():
    s = sandbox(two_tier() | {"instances": [{"name": "a", "subnet": "pub"}, {"name": "p", "subnet": "priv"}, {"name": "q", "subnet": "priv"}]})
    ok(s, "eni assign-ip p 10.0.2.50")
    assert [h.where for h in trace(s, "a", "10.0.2.50", 80).hops if h.step == "deliver"] == ["p", "a"]
    refused = s.execute("eni assign-ip q 10.0.2.50")
    assert not refused.ok and "in use" in refused.output and "--reassign yes" in refused.output
    assert "moved from eni-p" in ok(s, "eni assign-ip q 10.0.2.50 --reassign yes")
    net = net_of(s)
    assert "10.0.2.50" not in net.eni("p").secondary and "10.0.2.50" in net.eni("q").secondary
    t = trace(s, "a", "10.0.2.50", 80)
    assert t.verdict == "reachable" and any(h.step == "deliver" and h.where == "q" for h in t.hops)


def test_the_source_destination_check_drops_a_packet_sent_from_someone_elses_address():
    """Amazon EC2 User Guide, "Source/destination checking": an instance must be the source
    or destination of any traffic it sends or receives, unless the check is turned off."""
    s = sandbox(two_tier())
    spoofed = net_of(s).trace("a", "b", "tcp", 80, source_ip="10.0.1.99")
    assert spoofed.verdict == "dropped" and "source/destination check" in spoofed.dropped_at.detail
    ok(s, "eni assign-ip a 10.0.1.99")
    assert net_of(s).trace("a", "b", "tcp", 80, source_ip="10.0.1.99").verdict == "reachable"
    assert net_of(s).trace("a", "b", "tcp", 80, source_ip="10.0.1.77").verdict == "dropped"
    ok(s, "eni source-dest-check a off")
    assert net_of(s).trace("a", "b", "tcp", 80, source_ip="10.0.1.77").dropped_at.step != "send"


def test_flow_log_records_are_in_the_version_2_default_format():
    """Amazon VPC User Guide, "Flow log records": the default format is version account-id
    interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action
    log-status, with ACCEPT or REJECT and IANA protocol numbers (6 for TCP)."""
    s = sandbox(two_tier())
    ok(s, "packet trace a b --port 22", "packet trace internet b --port 80")
    text = ok(s, "flowlogs --last 50")
    lines = text.splitlines()
    assert lines[1] == "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"
    records = [line.split() for line in lines[2:]]
    assert records and all(len(r) == 14 and r[0] == "2" and r[7] == "6" and r[12] in ("ACCEPT", "REJECT") and r[13] == "OK" for r in records)
    out_of_a = records[0]
    assert out_of_a[2] == "eni-a" and out_of_a[3] == "10.0.1.4" and out_of_a[4] == "10.0.2.4" and out_of_a[6] == "22"
    rejects = ok(s, "flowlogs --action reject")
    assert all(line.endswith("REJECT OK") for line in rejects.splitlines()[2:])


def test_a_nat_gateway_allocates_a_port_per_connection_and_lets_nothing_in():
    s = sandbox(two_tier(vpc={"route_tables": [
        {"name": "pub-rt", "routes": [{"dest": "0.0.0.0/0", "target": "igw-v"}]}, {"name": "priv-rt", "routes": []}]}))
    ok(s, "nat create n1 pub", "route-table associate priv-rt priv", "route add priv-rt 0.0.0.0/0 n1")
    t1 = trace(s, "b", "internet")
    assert t1.verdict == "reachable" and t1.via == "nat"
    ok(s, "packet trace b internet --port 443", "packet trace b internet --port 443")
    net = net_of(s)
    assert sorted(net.nats["n1"].by_port) == [1024, 1025, 1026]  # one port per connection traced
    nat_hops = [h.detail for h in net.last_trace.hops if h.step == "nat"]
    assert nat_hops[0].endswith(f"-> {net.eips['n1-eip'].address}:1026 (port from 1024-65535)")
    inbound = net.trace("internet", "n1-eip", "tcp", 443)
    assert inbound.verdict == "dropped" and "only replies" in inbound.dropped_at.detail
    ok(s, "nat delete n1")
    assert "BLACKHOLE" in ok(s, "route show priv-rt") and s.cloud.metrics()["eips_idle"] == 1


def test_dhcp_gives_every_interface_its_dns_names_and_the_tracer_resolves_them():
    """Amazon VPC User Guide, "DNS attributes for your VPC": private names ip-A-B-C-D.
    <region>.compute.internal, public ones ec2-A-B-C-D.<region>.compute.amazonaws.com."""
    s = sandbox(two_tier())
    shown = ok(s, "eni show a")
    public = net_of(s).eni("a").public_ip.replace(".", "-")
    assert "private DNS: ip-10-0-1-4.r1.compute.internal" in shown and f"public DNS:  ec2-{public}.r1.compute.amazonaws.com" in shown
    assert trace(s, "b", "ip-10-0-1-4.r1.compute.internal", 80).verdict == "reachable"
    inside = trace(s, "b", f"ec2-{public}", 80)  # split horizon: inside the VPC the public name is the private address
    assert inside.request.split(" -> ")[1].startswith("10.0.1.4:")


# -- bad input: one line, nothing changed ---------------------------------------------------------
def state(s: Session) -> str:
    """Everything a command could change, as one comparable string."""
    net = net_of(s)
    return json.dumps({
        "subnets": {n: [str(x.cidr), sorted(x.in_use), x.route_table, x.nacl, x.public] for n, x in net.subnets.items()},
        "vpcs": {n: [str(v.cidr), v.igw] for n, v in net.vpcs.items()},
        "routes": {n: [(str(r.dest), r.target) for r in t.routes] for n, t in net.route_tables.items()},
        "sgs": {n: [sorted(r.text() for r in g.rules), sorted(g.members)] for n, g in net.security_groups.items()},
        "nacls": {n: sorted(r.text() for r in a.rules.values()) for n, a in net.nacls.items()},
        "enis": {n: [e.addresses, e.instance, e.groups, e.public_ip, e.source_dest_check] for n, e in net.enis.items()},
        "eips": {n: [e.address, e.eni, e.private_ip] for n, e in net.eips.items()},
        "igws": {n: g.vpc for n, g in net.igws.items()},
        "nats": sorted(net.nats), "peerings": sorted(net.peerings), "public": sorted(net.public_pool.in_use),
        "mapping": sorted(f"{v}/{ip}" for v, ip in net.mapping), "flows": len(net.flow_log), "traces": net.traces,
        "instances": {n: [i.state, i.host.id if i.host else None] for n, i in s.cloud.control.instances.items()},
    }, sort_keys=True)


@pytest.fixture(scope="module")
def prepared() -> list[str]:
    return ["igw create spare", "eip allocate held", "eip associate held a", "eip allocate idle", "sg create web-sg"]


BAD = [
    ("subnet create x 10.0.1.128/25 --zone za", "overlaps pub (10.0.1.0/24)"),
    ("subnet create x 192.168.0.0/24 --zone za", "is not inside the VPC 10.0.0.0/16"),
    ("subnet create x 10.0.9.0/29 --zone za", "a /29 is too small"),
    ("vpc create big 10.0.0.0/15", "a /15 is too large"),
    ("vpc create v 10.9.0.0/16", "the name 'v' is taken"),
    ("subnet create x 10.0.9.0/24", "needs --zone"),
    ("subnet create x 10.0.9.0/24 --zone zz", "no zone 'zz'"),
    ("subnet create x 10.0.9.0/24 --zone za --vpc nowhere", "no VPC named 'nowhere'"),
    ("subnet delete pub", "still has interfaces"),
    ("route add pub-rt 10.9.0.0/16 spare", "is not attached to VPC v"),
    ("route add pub-rt 10.9.0.0/16 nowhere", "no gateway or peering named 'nowhere'"),
    ("route add pub-rt 0.0.0.0/0 igw-v", "RouteAlreadyExists"),
    ("route add pub-rt 10.0.5.0/24 igw-v", "inside the VPC's own block"),
    ("route add pub-rt 10.9.0.0/33 igw-v", "not an IPv4 destination block"),
    ("route delete pub-rt 10.0.0.0/16", "the local route 10.0.0.0/16 cannot be deleted"),
    ("route replace pub-rt 10.9.0.0/16 igw-v", "no route for 10.9.0.0/16 to replace"),
    ("nacl add acl-v 100 in allow tcp 443 0.0.0.0/0", "already has rule 100 allow all"),
    ("nacl add acl-v 40000 in allow tcp 443 0.0.0.0/0", "at most 32766"),
    ("nacl add acl-v 110 in allow tcp 70000 0.0.0.0/0", "within 0-65535"),
    ("nacl add acl-v 110 in allow tcp 443 0.0.0.0/40", "not an IPv4 CIDR block"),
    ("nacl delete acl-v 300 in", "no in rule 300"),
    ("sg allow web-sg in tcp 443 ghost-sg", "no security group named 'ghost-sg'"),
    ("sg allow ghost in tcp 443 0.0.0.0/0", "no security group named 'ghost'"),
    ("sg revoke default in tcp 443 0.0.0.0/0", "has no rule 'allow tcp 443 from 0.0.0.0/0'"),
    ("sg detach default a", "must keep at least one security group"),
    ("launch --subnet pub --sg ghost", "no security group 'ghost'"),
    ("launch --subnet pub --zone zb", "subnet pub is in zone za, not zb"),
    ("eni create e2 pub --ip 10.0.2.7", "10.0.2.7 is outside subnet pub (10.0.1.0/24"),
    ("eni create e2 pub --ip 10.0.1.255", "it is the broadcast address"),
    ("eni create e2 pub --ip 10.0.1.4", "10.0.1.4 is already in use in subnet pub (by eni-a)"),
    ("eni detach eni-a", "primary interface (eth0), which cannot be detached"),
    ("eni assign-ip b 10.0.2.4", "already holds 10.0.2.4"),
    ("eni assign-ip b 10.0.1.9", "is outside subnet priv"),
    ("eip release held", "associated with eni-a: disassociate it before releasing"),
    ("eip associate nope a", "no Elastic IP named 'nope'"),
    ("eip disassociate idle", "is not associated"),
    ("peer create p2 v v", "cannot peer with itself"),
    ("packet trace a ghost --port 80", "no instance, interface or Elastic IP named 'ghost'"),
    ("packet trace a b", "needs a destination port"),
    ("packet trace internet internet --port 80", "both ends are on the internet"),
    ("packet trace a b --port 80 --source-ip nonsense", "not an IPv4 address"),
    ("stop ghost", "no instance named 'ghost'"),
    ("start a", "only a stopped instance starts"),
    ("flowlogs --eni ghost", "no interface named 'ghost'"),
]


@pytest.mark.parametrize("line,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_one_clear_line_and_changes_nothing(prepared, line, fragment):
    s = sandbox(two_tier())
    ok(s, *prepared)
    before, events = state(s), len(s.cloud.log)
    got = s.execute(line)
    assert not got.ok and got.error_kind in ("input", "api"), got.output
    assert "\n" not in got.output and fragment in got.output, got.output
    assert state(s) == before
    assert len(s.cloud.log) == events


# -- properties -------------------------------------------------------------------------------------
# Broad peers and port ranges come up often, so rules overlap and their order matters.
PEERS = ["0.0.0.0/0", "0.0.0.0/0", "10.0.0.0/16", "10.0.0.0/16", "10.0.1.0/24", "10.0.2.0/24", "10.0.2.4/32", "10.0.1.4/32", "192.168.0.0/16"]
PORTS = ["22", "80", "443", "1024-65535", "all", "all", "0-1023", "32768-60999"]
sg_rule = st.tuples(st.sampled_from(["tcp", "udp", "all"]), st.sampled_from(PORTS), st.sampled_from(PEERS))
nacl_rule = st.tuples(
    st.integers(1, 400), st.sampled_from(["in", "out"]), st.sampled_from(["allow", "deny"]),
    st.sampled_from(["tcp", "udp", "all", "all"]), st.sampled_from(PORTS), st.sampled_from(PEERS),
)


def _brute_ports(ports: str, port: int) -> bool:
    if ports == "all":
        return True
    lo, _, hi = ports.partition("-")
    return int(lo) <= port <= int(hi or lo)


def _brute_sg(rules, proto: str, port: int, peer: str) -> bool:
    return any(
        p in (proto, "all") and (p == "all" or _brute_ports(ports, port)) and ipaddress.IPv4Address(peer) in ipaddress.IPv4Network(cidr)
        for p, ports, cidr in rules
    )


def _brute_nacl(rules, direction: str, proto: str, port: int, peer: str) -> bool:
    matching = [
        (n, action) for n, d, action, p, ports, cidr in rules
        if d == direction and p in (proto, "all") and (p == "all" or _brute_ports(ports, port))
        and ipaddress.IPv4Address(peer) in ipaddress.IPv4Network(cidr)
    ]
    return bool(matching) and min(matching)[1] == "allow"


def _sg_key(rule):
    proto, ports, peer = rule
    return proto, "all" if proto == "all" else ports, peer  # ports mean nothing to an "all" rule


def _unique(rules):
    seen, out = set(), []
    for r in rules:
        if (r[1], r[0]) not in seen:
            seen.add((r[1], r[0]))
            out.append(r)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sg_out=st.lists(sg_rule, max_size=3, unique_by=_sg_key), sg_in=st.lists(sg_rule, max_size=3, unique_by=_sg_key),
    acl_src=st.lists(nacl_rule, max_size=8).map(_unique), acl_dst=st.lists(nacl_rule, max_size=8).map(_unique),
    proto=st.sampled_from(["tcp", "udp"]), port=st.sampled_from([22, 80, 443, 5432]),
)
def test_the_tracer_agrees_with_a_brute_force_reading_of_the_same_rules(sg_out, sg_in, acl_src, acl_dst, proto, port):
    def group(name, direction, rules):
        return {"name": name, "default_egress": False, "rules": [{"dir": direction, "proto": p, "ports": ports, "peer": c} for p, ports, c in rules]}

    def acl(name, rules):
        return {"name": name, "rules": [{"number": n, "dir": d, "action": a, "proto": p, "ports": ports, "cidr": c} for n, d, a, p, ports, c in rules]}

    world = two_tier(vpc={
        "security_groups": [group("sa", "out", sg_out), group("sb", "in", sg_in)],
        "nacls": [acl("acl-src", acl_src), acl("acl-dst", acl_dst)],
        "subnets": [
            {"name": "pub", "zone": "za", "cidr": "10.0.1.0/24", "route_table": "pub-rt", "nacl": "acl-src"},
            {"name": "priv", "zone": "zb", "cidr": "10.0.2.0/24", "nacl": "acl-dst"},
        ],
    }) | {"instances": [{"name": "a", "subnet": "pub", "groups": ["sa"]}, {"name": "b", "subnet": "priv", "groups": ["sb"]}]}
    cloud = __import__("cloudquest.game.session", fromlist=["new_cloud"]).new_cloud(world)
    for name, spec in (("a", "pub"), ("b", "priv")):
        cloud.control.launch(name, "small", subnet=spec, security_groups=["sa" if name == "a" else "sb"], instant=True)
    t = cloud.get(Network).trace("a", "b", proto, port, commit=False)
    a, b = "10.0.1.4", "10.0.2.4"
    sport = int(re.match(r"[\d.]+:(\d+) ", t.request).group(1))
    forward = (
        _brute_sg(sg_out, proto, port, b) and _brute_nacl(acl_src, "out", proto, port, b)
        and _brute_nacl(acl_dst, "in", proto, port, a) and _brute_sg(sg_in, proto, port, a)
    )
    reply = _brute_nacl(acl_dst, "out", proto, sport, a) and _brute_nacl(acl_src, "in", proto, sport, b)
    expected = "dropped" if not forward else "reachable" if reply else "reply-dropped"
    assert t.verdict == expected, [f"{h.leg} {h.step} {h.where}: {h.detail}" for h in t.hops]


@settings(max_examples=200, deadline=None)
@given(routes=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), max_size=12), ip=st.integers(0, 2**32 - 1))
def test_longest_prefix_match_agrees_with_brute_force(routes, ip):
    table = {ipaddress.IPv4Network((addr, plen), strict=False) for addr, plen in routes}
    got = longest_prefix_match([Route.make(n, str(n)) for n in table], ip)
    holding = [n for n in table if ipaddress.IPv4Address(ip) in n]
    assert (got.dest if got else None) == (max(holding, key=lambda n: n.prefixlen) if holding else None)


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("launch --type nano --subnet"), st.sampled_from(["s1", "s2", "s3"])),
        st.tuples(st.sampled_from(["terminate", "stop", "start"]), st.sampled_from(["i1", "i2", "i3", "i4"])),
        st.tuples(st.just("eni create"), st.sampled_from(["e1 s1", "e2 s1", "e3 s2", "e1 s2 --ip 10.0.2.10", "e2 s1 --ip 10.0.1.6"])),
        st.tuples(st.sampled_from(["eni attach", "eni detach", "eni delete"]), st.sampled_from(["e1 i1", "e2 i2", "e3 i3", "e1", "e2", "e3"])),
        st.tuples(st.just("eni assign-ip"), st.sampled_from(["i1", "i2 10.0.1.6", "i3 10.0.2.10", "e1", "e2 10.0.1.4", "i4 10.0.1.9 --reassign yes", "e1 10.0.1.9 --reassign yes"])),
        st.tuples(st.just("eni unassign-ip"), st.sampled_from(["i1 10.0.1.6", "e1 10.0.1.9", "i4 10.0.1.9"])),
        st.tuples(st.just("tick"), st.just("15")),
    ),
    max_size=25,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS)
def test_no_two_interfaces_ever_hold_one_address(ops):
    world = {
        "regions": hardware(("za",)),
        "network": {"vpcs": [{"name": "v", "cidr": "10.0.0.0/16", "subnets": [
            {"name": "s1", "zone": "za", "cidr": "10.0.1.0/28"}, {"name": "s2", "zone": "za", "cidr": "10.0.2.0/28"},
            {"name": "s3", "zone": "za", "cidr": "10.0.3.0/28"}]}]},
        "instances": [{"name": "i1", "subnet": "s1"}, {"name": "i2", "subnet": "s1"}],
    }
    s = sandbox(world)
    net = net_of(s)
    n = 2
    for verb, rest in ops:
        if verb.startswith("launch"):
            n += 1
            rest = f"{rest} --name i{n}"
        got = s.execute(f"{verb} {rest}")
        assert got.error_kind != "internal", got.output
        held: dict[str, str] = {}
        for eni in net.enis.values():
            for address in eni.addresses:
                assert address not in held, f"{address} held by {held.get(address)} and {eni.id}"
                held[address] = eni.id
                assert address in eni.subnet.in_use and net.mapping[("v", int(ipaddress.IPv4Address(address)))] is eni
        for subnet in net.subnets.values():
            assert subnet.in_use == {a for a, e in held.items() if net.enis[e].subnet is subnet}
        assert len(net.mapping) == len(held)


@pytest.mark.parametrize(
    "ip, why",
    [
        ("10.0.8", "InvalidParameterValue: '10.0.8' is not an IPv4 address like 10.0.1.20"),
        ("10.0.9.4", "InvalidParameterValue: 10.0.9.4 is outside subnet s24 (10.0.8.0/24: 10.0.8.0 to 10.0.8.255)"),
        ("10.0.8.0", "InvalidParameterValue: 10.0.8.0 is reserved in subnet s24: it is the network address"),
        ("10.0.8.1", "InvalidParameterValue: 10.0.8.1 is reserved in subnet s24: it is the VPC router"),
        ("10.0.8.2", "InvalidParameterValue: 10.0.8.2 is reserved in subnet s24: it is the Amazon DNS server"),
        ("10.0.8.3", "InvalidParameterValue: 10.0.8.3 is reserved in subnet s24: it is reserved by AWS for future use"),
        ("10.0.8.255", "InvalidParameterValue: 10.0.8.255 is reserved in subnet s24: it is the broadcast address"),
        ("10.0.8.10", "InvalidIPAddress.InUse: 10.0.8.10 is already in use in subnet s24 (by e1)"),
    ],
)
def test_an_address_asked_for_by_hand_is_refused_with_the_reason(ip, why):
    """Amazon VPC User Guide, "Subnet CIDR blocks": of 10.0.8.0/24, .0 (network), .1 (VPC
    router), .2 (Amazon DNS), .3 (future use) and .255 (broadcast) cannot be assigned; .4
    and .254 can. The error codes are EC2's (API reference, "Error codes")."""
    s = sandbox(two_tier())
    ok(s, "subnet create s24 10.0.8.0/24 --zone za", "eni create e1 s24 --ip 10.0.8.10")
    refused = s.execute(f"eni create x s24 --ip {ip}")
    assert not refused.ok and refused.output == f"error: {why}", refused.output
    assert "x" not in net_of(s).enis
    ok(s, "eni create lo s24 --ip 10.0.8.4", "eni create hi s24 --ip 10.0.8.254")


def test_an_address_given_back_is_free_for_whoever_asks_next():
    s = sandbox(two_tier())
    ok(s, "subnet create s24 10.0.8.0/24 --zone za", "eni create e1 s24 --ip 10.0.8.10", "eni create e2 s24")
    assert net_of(s).enis["e2"].private_ip == "10.0.8.4"  # the lowest usable address
    ok(s, "eni delete e2", "eni delete e1", "eni create e3 s24 --ip 10.0.8.10")
    assert "(by e3)" in s.execute("eni create e4 s24 --ip 10.0.8.10").output
    ok(s, "eni create e5 s24")
    assert net_of(s).enis["e5"].private_ip == "10.0.8.4"  # given back, handed out again lowest first
    assert net_of(s).subnets["s24"].free == 251 - 2


def test_a_public_address_given_up_at_a_stop_goes_to_the_back_of_the_pool():
    """Amazon EC2 User Guide, "Public IPv4 addresses": an instance's public IPv4 address is
    released when it is stopped and it gets a new one when started; the pool hands the old
    one out again only once every address never used is gone."""
    pool = PublicPool(ipaddress.ip_network("203.0.113.0/29"))  # .1 to .6 (.0 and .7 are never handed out)
    first = [pool.allocate() for _ in range(3)]
    assert first == ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
    pool.release("203.0.113.2", to_back=True)  # stopped: to the back
    pool.release("203.0.113.3", to_back=False)  # given back at once: lowest first
    assert [pool.allocate() for _ in range(4)] == ["203.0.113.3", "203.0.113.4", "203.0.113.5", "203.0.113.6"]
    assert pool.allocate() == "203.0.113.2"  # only now
    with pytest.raises(IpamError, match="exhausted"):
        pool.allocate()


# -- IPAM's answers, as EC2 gives them (Amazon EC2 API Reference, "Error codes") --------------
def ipam_error(call) -> tuple[str, str]:
    with pytest.raises(IpamError) as exc:
        call()
    return exc.value.code, exc.value.message


def test_a_subnet_block_that_cannot_be_created_gets_ec2s_error_code_and_says_why():
    """EC2's codes: InvalidSubnet.Range (the block is not valid for the VPC: outside it, or
    not /16 to /28) and InvalidSubnet.Conflict (it overlaps another subnet of the VPC)."""
    ipam = Ipam("10.0.0.0/16", "vpc-1")
    ipam.add_subnet("a", "za", "10.0.1.0/24", public=False)
    assert ipam_error(lambda: ipam.check_subnet("192.168.0.0/24")) == (
        "InvalidSubnet.Range",
        "subnet 192.168.0.0/24 is not inside the VPC 10.0.0.0/16 (10.0.0.0 to 10.0.255.255)",
    )
    assert ipam_error(lambda: ipam.check_subnet("10.0.2.0/29")) == (
        "InvalidSubnet.Range",
        "subnet 10.0.2.0/29: a /29 is too small; AWS allows /16 to /28 (65,536 to 16 addresses)",
    )
    assert ipam_error(lambda: ipam.check_subnet("10.0.1.128/25")) == (
        "InvalidSubnet.Conflict",
        "subnet 10.0.1.128/25 overlaps a (10.0.1.0/24)",
    )
    code, message = ipam_error(lambda: ipam.check_subnet("10.0.1.0/33"))
    assert code == "InvalidParameterValue"
    assert message.startswith("'10.0.1.0/33' is not an IPv4 subnet CIDR block like 10.0.1.0/24 (")
    assert list(ipam.subnets) == ["a"]  # nothing refused was added
    assert str(ipam.check_subnet("10.0.2.0/28")) == "10.0.2.0/28"  # the bounds themselves are fine
    assert str(Ipam("10.0.0.0/16", "whole").check_subnet("10.0.0.0/16")) == "10.0.0.0/16"


def test_a_vpc_block_that_cannot_be_created_gets_ec2s_error_code_and_says_why():
    """EC2's code for a VPC block outside /16 to /28 is InvalidVpc.Range."""
    assert ipam_error(lambda: Ipam("10.0.0.0/15", "big")) == (
        "InvalidVpc.Range",
        "vpc 10.0.0.0/15: a /15 is too large; AWS allows /16 to /28 (65,536 to 16 addresses)",
    )
    assert ipam_error(lambda: Ipam("10.0.0.0/29", "crumb"))[1].startswith("vpc 10.0.0.0/29: a /29 is too small;")
    code, message = ipam_error(lambda: Ipam("10.0.0.1/16", "odd"))  # host bits set
    assert code == "InvalidParameterValue"
    assert message.startswith("'10.0.0.1/16' is not an IPv4 VPC CIDR block like 10.0.1.0/24 (")
    assert [str(Ipam(block, "ok").vpc) for block in ("10.0.0.0/16", "10.0.0.0/28")] == ["10.0.0.0/16", "10.0.0.0/28"]


def test_a_full_subnet_says_how_many_addresses_it_had():
    """A /28 has 16 addresses, 5 of them reserved (Amazon VPC User Guide): 11 to hand out,
    then EC2's InsufficientFreeAddressesInSubnet."""
    subnet = Ipam("10.0.0.0/16", "vpc-1").add_subnet("tiny", "za", "10.0.9.0/28", public=False)
    assert [subnet.allocate(f"eni-{n}") for n in range(11)][-1] == "10.0.9.14"
    assert ipam_error(lambda: subnet.allocate("eni-11")) == (
        "InsufficientFreeAddressesInSubnet",
        "subnet tiny (10.0.9.0/28) has no free addresses (11 usable, all in use)",
    )


def test_an_address_handed_out_again_names_its_new_holder():
    subnet = Ipam("10.0.0.0/16", "vpc-1").add_subnet("s", "za", "10.0.8.0/24", public=False)
    assert subnet.allocate("eni-a") == "10.0.8.4"
    subnet.release("10.0.8.4")
    assert subnet.check_address("10.0.8.4") == "10.0.8.4"  # free again
    assert subnet.allocate("eni-b") == "10.0.8.4"  # lowest free first
    assert ipam_error(lambda: subnet.claim("10.0.8.4", "eni-c")) == (
        "InvalidIPAddress.InUse",
        "10.0.8.4 is already in use in subnet s (by eni-b)",
    )


def test_an_exhausted_public_pool_is_ec2s_address_limit():
    """EC2 answers AddressLimitExceeded when no more public addresses can be had."""
    pool = PublicPool(ipaddress.ip_network("203.0.113.0/30"))  # .1 and .2 (.0 and .3 never)
    assert [pool.allocate(), pool.allocate()] == ["203.0.113.1", "203.0.113.2"]
    assert ipam_error(pool.allocate) == ("AddressLimitExceeded", "the public IPv4 pool 203.0.113.0/30 is exhausted")
