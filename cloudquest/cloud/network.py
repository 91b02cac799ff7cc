"""Software-defined networking: the VPCs every instance is plugged into.

Inside a cloud the network is software. An instance's network card is an *elastic
network interface* (ENI), a record the control plane keeps: a subnet, a primary private
address and maybe secondary ones, security groups, and a physical host it currently
lives on. Two instances in one VPC that talk to each other never share a wire the VPC
knows of; their packets ride the provider's physical network (the *underlay*) inside
another packet:

1. the sending host's virtual switch checks the packet against the interface's security
   groups and the subnet's network ACL, and that its source address really belongs to
   the interface (the *source/destination check*, which stops one guest from speaking
   for another; a NAT instance must have it turned off);
2. the VPC router (software too) looks the destination up in the subnet's route table,
   longest prefix first (cloud/routing.py);
3. for a destination inside the VPC, the host asks the *mapping service* which physical
   host holds that (VPC, private address) pair, wraps the packet in an outer packet
   addressed host to host, stamped with the VPC's 24-bit network id (VXLAN's VNI,
   Geneve's), and sends it over the underlay; the target host unwraps it, checks the
   target subnet's ACL and the target interface's groups, and hands it to the guest.
   Because the lookup key includes the VPC, two VPCs may both use 10.0.0.0/16 and their
   packets never mix: AWS calls its mapping service and encapsulation the "VPC
   mapping service"; Azure, Google and OpenStack (OVN with Geneve) do the same.

Around that sit the VPC's parts, with AWS's rules and defaults:

- **subnets** in one zone each (cloud/ipam.py: /16 to /28, five reserved addresses). A
  subnet is *public* only because its route table sends 0.0.0.0/0 to an internet
  gateway; its ``public`` flag (AWS's ``MapPublicIpOnLaunch``) only says whether a launch
  there gets a public address;
- an **internet gateway**, one per VPC: 1:1 NAT between each public address and the
  private address it stands for, both ways. An interface with no public address cannot
  use it;
- **NAT gateways**, many-to-one *source* NAT for private subnets: the gateway, which sits
  in a public subnet, rewrites the source to its own Elastic IP and a port it allocates
  (1024-65535), remembers the pair, and translates replies back; nothing started on the
  internet gets in through it. One per zone, so one zone's loss strands no other;
- **peering connections** between two VPCs whose blocks do not overlap, *not
  transitive*: a packet that crossed a peering is delivered only to an interface of the
  peer VPC, never forwarded again (through its gateways or another peering);
- **security groups** and **network ACLs** (cloud/firewall.py);
- **addresses**: a primary private IP per interface, secondary ones that can be moved
  to another interface of the subnet (a failover keeps its address), interfaces that
  detach from one instance and attach to another in the zone, *auto-assigned public IPs*
  that a stop gives back and a start replaces with a different one, and **Elastic IPs**,
  allocated to the account, associated (and moved) at will, kept across stop/start, and
  billed by the hour: $0.005 for every public IPv4 address since February 2024, the
  idle ones being pure waste. DHCP gives every interface its DNS names,
  ``ip-10-0-1-5.<region>.compute.internal`` and, with a public address,
  ``ec2-203-0-113-5.<region>.compute.amazonaws.com``.

The packet tracer (cloud/packet_tracer.py) walks one packet and its reply through all of
it, the way AWS's Reachability Analyzer reads the same configuration, and writes VPC Flow
Logs records.

A world configures it with its ``network`` section. The short form (``vpc``, ``subnets``)
is the launch chapters' plain VPC: without subnets, one /20 per zone, all public, like
AWS's default VPC. The full form (``vpcs``) describes every part, and publishes the
network's metrics.

Where the game simplifies: network changes take effect at once (a NAT gateway takes
minutes to become available in AWS); a NAT gateway runs on the zone's managed fleet
(AWS's Hyperplane), not on a host of the world; names stand in for AWS's opaque ids;
security group names are unique across VPCs (each VPC's default group is ``default`` for
the first one, ``<vpc>-default`` for the others); IPv4 only; no prefix lists, endpoints,
transit gateways or VPNs.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from .errors import CloudError
from .firewall import (
    NaclRule,
    NetworkAcl,
    RuleError,
    SecurityGroup,
    SgRule,
    default_nacl_rules,
)
from .ipam import Ipam, IpamError, PublicPool, Subnet, parse_cidr
from .mechanism import events, metrics
from .routing import LOCAL, Route, RouteTable
from .world import NAME_PATTERN, CoreWorld, Strict

if TYPE_CHECKING:
    from .cloud import Cloud
    from .control_plane import Instance
    from .packet_tracer import FlowRecord, Trace

NET_NAME = r"^[a-z][a-z0-9-]{0,31}$"
NAME_RE = re.compile(NET_NAME)
INTERNET = "internet"
INTERNET_CLIENT = "198.51.100.10"  # TEST-NET-2 (RFC 5737): a client somewhere on the internet
INTERNET_SERVER = "198.51.100.80"  # ... and a server there (the updates an instance fetches)
PUBLIC_IPV4_PER_HOUR = 0.005  # US$ per public IPv4 address per hour (AWS, since 2024-02-01)
# Network interfaces per instance and private IPv4 addresses per interface, AWS's t3 family
# (EC2 User Guide, "IP addresses per network interface per instance type").
ENI_LIMITS = {"nano": (2, 2), "micro": (2, 2), "small": (3, 4), "medium": (3, 6), "large": (3, 12), "xlarge": (4, 15)}
DEFAULT_VPC = "main"


# -- the world section ----------------------------------------------------------------------
def _cidr(v: str) -> str:
    try:
        ipaddress.IPv4Network(v)
    except ValueError as exc:
        raise ValueError(f"not an IPv4 CIDR block like 10.0.1.0/24 ({exc})") from None
    return v


class SubnetSpec(Strict):
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    zone: str
    cidr: str
    public: bool = Field(default=False, description="give instances launched here a public IPv4 (MapPublicIpOnLaunch)")
    route_table: str | None = Field(default=None, pattern=NET_NAME, description="its route table (default: the VPC's main one)")
    nacl: str | None = Field(default=None, pattern=NET_NAME, description="its network ACL (default: the VPC's default one)")

    _check_cidr = field_validator("cidr")(classmethod(lambda cls, v: _cidr(v)))


class RouteSpec(Strict):
    dest: str
    target: str = Field(pattern=NET_NAME, description="local, or an internet gateway, NAT gateway or peering by name")
    blackhole: bool = Field(default=False, description="its target was deleted: the route stays, dropping what it matches")

    _check_dest = field_validator("dest")(classmethod(lambda cls, v: _cidr(v)))


class RouteTableSpec(Strict):
    name: str = Field(pattern=NET_NAME)
    routes: list[RouteSpec] = Field(default_factory=list)


class SgRuleSpec(Strict):
    dir: Literal["in", "out"]
    proto: Literal["tcp", "udp", "icmp", "all"] = "tcp"
    ports: str = "all"
    peer: str = Field(description="a CIDR block, or the name of a security group")


class SecurityGroupSpec(Strict):
    name: str = Field(pattern=NET_NAME)
    rules: list[SgRuleSpec] = Field(default_factory=list)
    default_egress: bool = Field(default=True, description="keep AWS's default rule: all outbound traffic allowed")


class NaclRuleSpec(Strict):
    number: int = Field(ge=1, le=32766)
    dir: Literal["in", "out"]
    action: Literal["allow", "deny"]
    proto: Literal["tcp", "udp", "icmp", "all"] = "all"
    ports: str = "all"
    cidr: str

    _check_cidr = field_validator("cidr")(classmethod(lambda cls, v: _cidr(v)))


class NaclSpec(Strict):
    name: str = Field(pattern=NET_NAME)
    rules: list[NaclRuleSpec] = Field(default_factory=list)


class NatSpec(Strict):
    name: str = Field(pattern=NET_NAME)
    subnet: str


class VpcSpec(Strict):
    name: str = Field(pattern=NET_NAME)
    cidr: str
    igw: str | None = Field(default=None, pattern=NET_NAME, description="an internet gateway attached to it")
    main_routes: list[RouteSpec] = Field(default_factory=list, description="routes of the main route table besides local")
    subnets: list[SubnetSpec] = Field(default_factory=list)
    route_tables: list[RouteTableSpec] = Field(default_factory=list)
    security_groups: list[SecurityGroupSpec] = Field(default_factory=list)
    nacls: list[NaclSpec] = Field(default_factory=list)
    nat_gateways: list[NatSpec] = Field(default_factory=list)

    _check_cidr = field_validator("cidr")(classmethod(lambda cls, v: _cidr(v)))


class PeeringSpec(Strict):
    name: str = Field(pattern=NET_NAME)
    vpcs: list[str] = Field(min_length=2, max_length=2)


class EipSpec(Strict):
    name: str = Field(pattern=NET_NAME)
    instance: str | None = Field(default=None, description="a world instance it is associated with when it launches")


class ProbeSpec(Strict):
    """A question the network answers at every moment as the metric
    ``reachable.SRC.DST.PORT``: does a TCP connection from SRC to DST on PORT work, there
    and back? SRC and DST are instances, interfaces, Elastic IPs, or ``internet``."""

    src: str = Field(pattern=NET_NAME)
    dst: str = Field(pattern=NET_NAME)
    port: int = Field(ge=1, le=65535)

    @property
    def metric(self) -> str:
        return f"reachable.{self.src}.{self.dst}.{self.port}"


class NetworkSpec(Strict):
    vpc: str = "10.0.0.0/16"
    subnets: list[SubnetSpec] | None = None
    vpcs: list[VpcSpec] | None = Field(default=None, description="every VPC in full (instead of vpc and subnets)")
    peerings: list[PeeringSpec] = Field(default_factory=list)
    eips: list[EipSpec] = Field(default_factory=list)
    probes: list[ProbeSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_form(self) -> "NetworkSpec":
        if self.vpcs is not None:
            if {"vpc", "subnets"} & self.model_fields_set:
                raise ValueError("give either vpc and subnets (one plain VPC) or vpcs (every VPC in full), not both")
            if not self.vpcs:
                raise ValueError("vpcs: name at least one VPC")
        elif self.peerings or self.eips or self.probes:
            raise ValueError("peerings, eips and probes need the full form: describe the VPCs under vpcs")
        return self

    def full(self, zones: list[str]) -> list[VpcSpec]:
        """Every VPC in full form (the short form is one VPC named main)."""
        if self.vpcs is not None:
            return list(self.vpcs)
        if self.subnets is not None:
            return [VpcSpec(name=DEFAULT_VPC, cidr=self.vpc, subnets=list(self.subnets))]
        # AWS's default VPC: one subnet per zone mapping public addresses, an internet
        # gateway, and the main route table sending 0.0.0.0/0 to it.
        vpc = ipaddress.ip_network(self.vpc)
        pieces = vpc.subnets(new_prefix=max(vpc.prefixlen, 20))
        subnets = []
        for z in zones:
            block = next(pieces, None)
            if block is None:
                break
            subnets.append(SubnetSpec(name=f"subnet-{z}", zone=z, cidr=str(block), public=True))
        return [
            VpcSpec(
                name=DEFAULT_VPC,
                cidr=self.vpc,
                igw=f"igw-{DEFAULT_VPC}",
                main_routes=[RouteSpec(dest="0.0.0.0/0", target=f"igw-{DEFAULT_VPC}")],
                subnets=subnets,
            )
        ]


def check_world(world: CoreWorld, spec: NetworkSpec) -> None:
    """The section builds (every name, block, route and rule as AWS would accept them),
    and what it names in the rest of the world exists: zones, instances."""
    zones = world.zone_names()
    for vpc in spec.vpcs or []:
        for s in vpc.subnets:
            if s.zone not in zones:
                raise ValueError(f"subnet {s.name or s.cidr}: no zone {s.zone!r} (zones: {', '.join(sorted(zones))})")
    for s in spec.subnets or []:
        if s.zone not in zones:
            raise ValueError(f"subnet for zone {s.zone!r}: no such zone (zones: {', '.join(sorted(zones))})")
    try:
        net = Network(None, spec, zones=zones)
    except CloudError as exc:
        raise ValueError(exc.message) from None
    names = {i.name for i in world.instances}
    for inst in world.instances:
        subnet = net.subnets.get(inst.subnet) if inst.subnet else None
        if inst.subnet and subnet is None:
            raise ValueError(f"instance {inst.name}: no subnet {inst.subnet!r} (subnets: {', '.join(net.subnets) or 'none'})")
        if subnet is not None and inst.zone and inst.zone != subnet.zone:
            raise ValueError(f"instance {inst.name}: subnet {subnet.id} is in zone {subnet.zone}, not {inst.zone}")
        vpc = subnet.vpc if subnet is not None else net.default_vpc
        for group in inst.groups:
            sg = net.security_groups.get(group)
            if sg is None or sg.vpc != vpc:
                known = ", ".join(g.name for g in net.security_groups.values() if g.vpc == vpc) or "none"
                raise ValueError(f"instance {inst.name}: no security group {group!r} in VPC {vpc} (groups: {known})")
        if inst.subnet is None and inst.zone and net.default_subnet(inst.zone) is None:
            raise ValueError(f"instance {inst.name}: zone {inst.zone} has no subnet in VPC {net.default_vpc}")
    for eip in spec.eips:
        if eip.instance is not None and eip.instance not in names:
            raise ValueError(f"eip {eip.name}: no world instance {eip.instance!r} (instances: {', '.join(sorted(names)) or 'none'})")
    endpoints = names | set(net.enis) | set(net.eips) | {INTERNET}
    for probe in spec.probes:
        for end in (probe.src, probe.dst):
            if end not in endpoints:
                raise ValueError(
                    f"probe {probe.src} -> {probe.dst}: {end!r} is no instance, interface or Elastic IP of the world "
                    "(or: internet)"
                )


# -- the parts --------------------------------------------------------------------------------
@dataclass(eq=False)
class Vpc:
    name: str
    ipam: Ipam
    vni: int
    main_route_table: str
    default_nacl: str
    default_sg: str
    igw: str | None = None

    @property
    def cidr(self) -> ipaddress.IPv4Network:
        return self.ipam.vpc


@dataclass(eq=False)
class Eni:
    """An elastic network interface. ``public_ip`` is an auto-assigned public address (the
    primary interface's, from a subnet that maps them); Elastic IPs are kept apart."""

    id: str
    subnet: Subnet
    private_ip: str
    secondary: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    instance: str | None = None
    device: int = 0
    public_ip: str | None = None
    auto_public: bool = False
    kind: str = "interface"  # interface | nat_gateway
    source_dest_check: bool = True
    delete_on_termination: bool = False
    started: bool = False  # has been through a launch's assign_nic step
    before_stop: str | None = None  # the public address it had when its instance stopped

    @property
    def vpc(self) -> str:
        return self.subnet.vpc

    @property
    def addresses(self) -> list[str]:
        return [self.private_ip, *self.secondary]


@dataclass(eq=False)
class ElasticIp:
    name: str
    address: str
    eni: str | None = None
    private_ip: str | None = None
    nat: str | None = None  # the NAT gateway that holds it


@dataclass(eq=False)
class InternetGateway:
    name: str
    vpc: str | None = None


@dataclass(eq=False)
class NatGateway:
    name: str
    subnet: str
    eni: str
    eip: str
    next_port: int = 1024
    connections: dict[tuple, int] = field(default_factory=dict)  # (private, sport, proto, dst, dport) -> port
    by_port: dict[int, tuple] = field(default_factory=dict)


@dataclass(eq=False)
class Peering:
    name: str
    a: str
    b: str

    def other(self, vpc: str) -> str | None:
        return self.b if vpc == self.a else self.a if vpc == self.b else None


def vni_of(name: str, taken: set[int]) -> int:
    """A 24-bit network id (VXLAN VNI / Geneve VNI) for a VPC, stable across runs."""
    vni = int(hashlib.sha256(name.encode()).hexdigest()[:6], 16) or 1
    while vni in taken:
        vni = vni % 0xFFFFFF + 1
    return vni


def ip_int(address: str) -> int:
    return int(ipaddress.IPv4Address(address))


def dns_private(address: str, region: str) -> str:
    """EC2's private DNS name (us-east-1 has its own suffix)."""
    suffix = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{address.replace('.', '-')}.{suffix}"


def dns_public(address: str, region: str) -> str:
    suffix = "compute-1.amazonaws.com" if region == "us-east-1" else f"{region}.compute.amazonaws.com"
    return f"ec2-{address.replace('.', '-')}.{suffix}"


# -- the mechanism ----------------------------------------------------------------------------
class Network:
    """Every VPC and its parts, the launch pipeline's network steps, and the API."""

    def __init__(self, cloud: "Cloud | None", spec: NetworkSpec, zones: list[str] | None = None) -> None:
        self.cloud = cloud
        if zones is None:
            zones = list(cloud.hardware.zones) if cloud is not None else []
        self.zones = zones
        self.full = spec.vpcs is not None
        self.vpcs: dict[str, Vpc] = {}
        self.subnets: dict[str, Subnet] = {}
        self.route_tables: dict[str, RouteTable] = {}
        self.igws: dict[str, InternetGateway] = {}
        self.nats: dict[str, NatGateway] = {}
        self.peerings: dict[str, Peering] = {}
        self.security_groups: dict[str, SecurityGroup] = {}
        self.nacls: dict[str, NetworkAcl] = {}
        self.enis: dict[str, Eni] = {}
        self.eips: dict[str, ElasticIp] = {}
        self.public_pool = PublicPool()
        self.public_map: dict[str, tuple[str, str]] = {}  # public address -> (interface, private address)
        self.mapping: dict[tuple[str, int], Eni] = {}  # the mapping service: (VPC, private address) -> interface
        self.attached: dict[str, list[str]] = {}  # instance -> its interfaces, by device index
        self.pending_eips: dict[str, str] = {}  # world instance -> the Elastic IP it gets at launch
        self.probes: list[ProbeSpec] = list(spec.probes)
        self.traced: dict[str, tuple[str, str, int]] = {}  # metric -> (src, dst, port) the player traced
        self.flow_log: list["FlowRecord"] = []
        self.last_trace: "Trace | None" = None
        self.focus: str | None = None  # the subnet the player last acted on or traced from
        self.flows_started = 0
        self.version = 0
        self.changes = 0
        self.traces = 0
        self.drops = 0
        self._probe_cache: tuple[tuple, dict[str, int], int] | None = None
        self.default_vpc = ""
        try:
            self._build(spec)
        except (IpamError, RuleError) as exc:
            raise CloudError(getattr(exc, "code", "InvalidParameterValue"), str(exc)) from None

    # -- building from the world --------------------------------------------------------------
    def _build(self, spec: NetworkSpec) -> None:
        full = spec.full(self.zones)
        first = True
        for v in full:
            vpc = self._new_vpc(v.name, v.cidr, default_sg="default" if first else None)
            first = False
            if v.igw:
                self._new_igw(v.igw)
                self.igws[v.igw].vpc = vpc.name
                vpc.igw = v.igw
            for n in v.nacls:
                acl = self._new_nacl(n.name, vpc.name)
                for r in n.rules:
                    number_in_use = (r.dir, r.number) in acl.rules
                    if number_in_use:
                        raise CloudError("NetworkAclEntryAlreadyExists", f"nacl {n.name}: rule {r.number} {r.dir} is given twice")
                    acl.add(NaclRule.make(r.number, r.dir, r.action, r.proto, r.ports, r.cidr))
            for g in v.security_groups:
                self._new_sg(g.name, vpc.name, default_egress=g.default_egress)
            for t in v.route_tables:
                self._new_route_table(t.name, vpc.name)
            for s in v.subnets:
                name = s.name or f"subnet-{s.zone}"
                if s.zone not in self.zones:
                    raise CloudError("InvalidParameterValue", f"subnet {name}: no zone {s.zone!r}")
                self._new_subnet(name, vpc.name, s.zone, s.cidr, s.public, strict=self.full)
                if s.route_table is not None:
                    self._associate_route_table(self._route_table(s.route_table), self.subnets[name])
                if s.nacl is not None:
                    self._associate_nacl(self._nacl(s.nacl), self.subnets[name])
            for n in v.nat_gateways:
                self._new_nat(n.name, self._subnet(n.subnet))
        for p in spec.peerings:
            self._new_peering(p.name, self._vpc(p.vpcs[0]).name, self._vpc(p.vpcs[1]).name)
        for v in full:
            for g in v.security_groups:
                for r in g.rules:
                    self._authorize(self.security_groups[g.name], SgRule.make(r.dir, r.proto, r.ports, r.peer, self._group_names(v.name)))
            main = self.route_tables[self.vpcs[v.name].main_route_table]
            for r in v.main_routes:
                self._add_route(main, r.dest, r.target, blackhole=r.blackhole)
            for t in v.route_tables:
                for r in t.routes:
                    self._add_route(self.route_tables[t.name], r.dest, r.target, blackhole=r.blackhole)
        for e in spec.eips:
            self._new_eip(e.name)
            if e.instance is not None:
                self.pending_eips[e.instance] = e.name
        self.default_vpc = full[0].name

    def _group_names(self, vpc: str) -> set[str]:
        return {g.name for g in self.security_groups.values() if g.vpc == vpc}

    # -- names -----------------------------------------------------------------------------
    def _kind_of(self, name: str) -> str | None:
        for kind, table in (
            ("vpc", self.vpcs), ("subnet", self.subnets), ("route table", self.route_tables),
            ("internet gateway", self.igws), ("NAT gateway", self.nats), ("peering", self.peerings),
            ("security group", self.security_groups), ("network ACL", self.nacls),
            ("interface", self.enis), ("Elastic IP", self.eips),
        ):
            if name in table:
                return kind
        return None

    def _check_new_name(self, name: str, what: str, strict: bool = True) -> None:
        if strict and not NAME_RE.match(name or ""):
            raise CloudError(
                "InvalidParameterValue",
                f"bad {what} name {name!r} (lower-case letters, digits and '-', starting with a letter, at most 32)",
            )
        kind = self._kind_of(name)
        if kind is not None:
            raise CloudError("InvalidParameterValue", f"the name {name!r} is taken (a {kind})")

    @staticmethod
    def _missing(code: str, what: str, name: str, table: dict) -> CloudError:
        names = sorted(table)
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        return CloudError(code, f"no {what} named {name!r} ({what}s: {shown or 'none'})")

    def _vpc(self, name: str) -> Vpc:
        if name not in self.vpcs:
            raise self._missing("InvalidVpcID.NotFound", "VPC", name, self.vpcs)
        return self.vpcs[name]

    def _subnet(self, name: str) -> Subnet:
        if name not in self.subnets:
            raise self._missing("InvalidSubnetID.NotFound", "subnet", name, self.subnets)
        return self.subnets[name]

    def _route_table(self, name: str) -> RouteTable:
        if name not in self.route_tables:
            raise self._missing("InvalidRouteTableID.NotFound", "route table", name, self.route_tables)
        return self.route_tables[name]

    def _nacl(self, name: str) -> NetworkAcl:
        if name not in self.nacls:
            raise self._missing("InvalidNetworkAclID.NotFound", "network ACL", name, self.nacls)
        return self.nacls[name]

    def _sg(self, name: str) -> SecurityGroup:
        if name not in self.security_groups:
            raise self._missing("InvalidGroup.NotFound", "security group", name, self.security_groups)
        return self.security_groups[name]

    def _eip(self, name: str) -> ElasticIp:
        if name not in self.eips:
            raise self._missing("InvalidAllocationID.NotFound", "Elastic IP", name, self.eips)
        return self.eips[name]

    def _igw(self, name: str) -> InternetGateway:
        if name not in self.igws:
            raise self._missing("InvalidInternetGatewayID.NotFound", "internet gateway", name, self.igws)
        return self.igws[name]

    def _nat(self, name: str) -> NatGateway:
        if name not in self.nats:
            raise self._missing("InvalidNatGatewayID.NotFound", "NAT gateway", name, self.nats)
        return self.nats[name]

    def _peering(self, name: str) -> Peering:
        if name not in self.peerings:
            raise self._missing("InvalidVpcPeeringConnectionID.NotFound", "peering", name, self.peerings)
        return self.peerings[name]

    def eni(self, name: str) -> Eni:
        """An interface by id, or an instance's primary interface by the instance's name."""
        if name in self.enis:
            return self.enis[name]
        ids = self.attached.get(name)
        if ids:
            return self.enis[ids[0]]
        raise self._missing("InvalidNetworkInterfaceID.NotFound", "interface", name, self.enis)

    # -- queries the views and commands read --------------------------------------------------
    def route_table_of(self, subnet: Subnet) -> RouteTable:
        return self.route_tables[subnet.route_table or self.vpcs[subnet.vpc].main_route_table]

    def route_state(self, table: RouteTable, route: Route) -> str:
        """active, or blackhole (its target is gone, or a gateway no longer attached)."""
        t = route.target
        if t == LOCAL:
            return "active"
        if t in self.igws:
            return "active" if self.igws[t].vpc == table.vpc else "blackhole"
        if t in self.nats:
            return "active" if self.subnets[self.nats[t].subnet].vpc == table.vpc else "blackhole"
        if t in self.peerings:
            return "active" if self.peerings[t].other(table.vpc) else "blackhole"
        return "blackhole"

    def target_kind(self, target: str) -> str:
        if target == LOCAL:
            return "local"
        if target in self.igws:
            return "igw"
        if target in self.nats:
            return "nat"
        if target in self.peerings:
            return "peering"
        return "blackhole"

    def is_public(self, subnet: Subnet) -> bool:
        """A subnet is public when its route table sends 0.0.0.0/0 to an attached internet gateway."""
        table = self.route_table_of(subnet)
        route = table.route_for(ipaddress.IPv4Network("0.0.0.0/0"))
        return route is not None and route.target in self.igws and self.route_state(table, route) == "active"

    def default_subnet(self, zone: str) -> Subnet | None:
        """Where a launch that names no subnet goes: the default VPC's first subnet in the zone."""
        vpc = self.vpcs.get(self.default_vpc)
        return vpc.ipam.subnet_for_zone(zone) if vpc is not None else None

    def subnet(self, zone: str) -> Subnet | None:  # the launch chapters' name for it
        return self.default_subnet(zone)

    @property
    def ipam(self) -> Ipam:
        """The default VPC's address plan."""
        return self.vpcs[self.default_vpc].ipam

    def region_of(self, zone: str) -> str:
        if self.cloud is not None and zone in self.cloud.hardware.zones:
            return self.cloud.hardware.zones[zone].region.id
        return "region"

    def public_of(self, eni: Eni, private_ip: str) -> tuple[str, str] | None:
        """The public address standing for one private address: (address, kind), kind
        being an Elastic IP's name or ``auto``."""
        for eip in self.eips.values():
            if eip.eni == eni.id and eip.private_ip == private_ip:
                return eip.address, eip.name
        if eni.public_ip and private_ip == eni.private_ip:
            return eni.public_ip, "auto"
        return None

    def instance_of(self, eni: Eni) -> "Instance | None":
        if eni.instance is None or self.cloud is None:
            return None
        return self.cloud.control.instances.get(eni.instance)

    def eip_idle(self, eip: ElasticIp) -> bool:
        """Billed for nothing: associated with no interface, or with a stopped instance's."""
        if eip.nat is not None:
            return False
        if eip.eni is None:
            return True
        eni = self.enis.get(eip.eni)
        inst = self.instance_of(eni) if eni is not None else None
        return inst is None or inst.state not in ("running", "impaired", "pending")

    def peer_groups(self, vpc: str, address: str) -> frozenset[str]:
        """The security groups of the interface holding ``address`` in ``vpc`` (and in VPCs
        peered with it), for rules that name a group."""
        ip = ip_int(address)
        eni = self.mapping.get((vpc, ip))
        if eni is None:
            for p in self.peerings.values():
                other = p.other(vpc)
                if other is not None and (eni := self.mapping.get((other, ip))) is not None:
                    break
        return frozenset(eni.groups) if eni is not None and eni.kind == "interface" else frozenset()

    # -- internal constructors (checked by the callers) ----------------------------------------
    def _new_vpc(self, name: str, cidr: str, default_sg: str | None = None) -> Vpc:
        self._check_new_name(name, "VPC")
        ipam = Ipam(cidr, name)
        main, acl, sg = f"rtb-{name}", f"acl-{name}", default_sg or f"{name}-default"
        for n in (main, acl, sg):
            if self._kind_of(n):
                raise CloudError("InvalidParameterValue", f"VPC {name}: its default part {n!r} clashes with a {self._kind_of(n)}")
        vpc = Vpc(name, ipam, vni_of(name, {v.vni for v in self.vpcs.values()}), main, acl, sg)
        self.vpcs[name] = vpc
        self.route_tables[main] = RouteTable(main, name, [Route.make(ipam.vpc, LOCAL)], main=True)
        nacl = NetworkAcl(acl, name, default=True)
        for r in default_nacl_rules():
            nacl.add(r)
        self.nacls[acl] = nacl
        group = SecurityGroup(sg, name)
        group.rules = [SgRule.make("in", "all", "all", sg, {sg}), SgRule.make("out", "all", "all", "0.0.0.0/0")]
        self.security_groups[sg] = group
        return vpc

    def _new_subnet(self, name: str, vpc: str, zone: str, cidr: str, public: bool, strict: bool = True) -> Subnet:
        # The short form keeps the launch chapters' looser names (subnet-<zone> for any zone name).
        self._check_new_name(name, "subnet", strict)
        v = self.vpcs[vpc]
        subnet = v.ipam.add_subnet(name, zone, cidr, public)
        subnet.nacl = v.default_nacl
        self.subnets[name] = subnet
        return subnet

    def _new_igw(self, name: str) -> InternetGateway:
        self._check_new_name(name, "internet gateway")
        self.igws[name] = InternetGateway(name)
        return self.igws[name]

    def _new_nacl(self, name: str, vpc: str) -> NetworkAcl:
        self._check_new_name(name, "network ACL")
        self.nacls[name] = NetworkAcl(name, vpc)
        return self.nacls[name]

    def _new_sg(self, name: str, vpc: str, default_egress: bool = True) -> SecurityGroup:
        self._check_new_name(name, "security group")
        group = SecurityGroup(name, vpc)
        if default_egress:
            group.rules.append(SgRule.make("out", "all", "all", "0.0.0.0/0"))
        self.security_groups[name] = group
        return group

    def _new_route_table(self, name: str, vpc: str) -> RouteTable:
        self._check_new_name(name, "route table")
        self.route_tables[name] = RouteTable(name, vpc, [Route.make(self.vpcs[vpc].cidr, LOCAL)])
        return self.route_tables[name]

    def _new_eip(self, name: str) -> ElasticIp:
        self._check_new_name(name, "Elastic IP")
        try:
            address = self.public_pool.allocate()
        except IpamError as exc:
            raise CloudError(exc.code, exc.message) from None
        self.eips[name] = ElasticIp(name, address)
        return self.eips[name]

    def _new_nat(self, name: str, subnet: Subnet) -> NatGateway:
        self._check_new_name(name, "NAT gateway")
        eni_id, eip_name = f"eni-{name}", f"{name}-eip"
        for n in (eni_id, eip_name):
            if self._kind_of(n):
                raise CloudError("InvalidParameterValue", f"NAT gateway {name}: the name {n!r} of its part is taken")
        if subnet.free <= 0:
            raise CloudError("InsufficientFreeAddressesInSubnet", f"subnet {subnet.id} ({subnet.cidr}) has no free address for {name}")
        eip = self._new_eip(eip_name)
        eni = Eni(eni_id, subnet, subnet.allocate(eni_id), kind="nat_gateway", started=True)
        self._register(eni)
        eip.eni, eip.private_ip, eip.nat = eni.id, eni.private_ip, name
        self.public_map[eip.address] = (eni.id, eni.private_ip)
        nat = NatGateway(name, subnet.id, eni.id, eip.name)
        self.nats[name] = nat
        return nat

    def _new_peering(self, name: str, a: str, b: str) -> Peering:
        self._check_new_name(name, "peering")
        if a == b:
            raise CloudError("InvalidParameterValue", f"a VPC cannot peer with itself ({a})")
        va, vb = self.vpcs[a], self.vpcs[b]
        if va.cidr.overlaps(vb.cidr):
            raise CloudError(
                "InvalidParameterValue",
                f"VPCs {a} ({va.cidr}) and {b} ({vb.cidr}) overlap: AWS cannot peer VPCs whose CIDR blocks overlap",
            )
        for p in self.peerings.values():
            if {p.a, p.b} == {a, b}:
                raise CloudError("VpcPeeringConnectionAlreadyExists", f"{a} and {b} are already peered ({p.name})")
        self.peerings[name] = Peering(name, a, b)
        return self.peerings[name]

    def _authorize(self, sg: SecurityGroup, rule: SgRule) -> None:
        if rule in sg.rules:
            raise CloudError("InvalidPermission.Duplicate", f"{sg.name} already has the rule '{rule.text()}'")
        sg.rules.append(rule)

    def _parse_route(self, table: RouteTable, dest: str, target: str, blackhole: bool = False) -> Route:
        net = parse_cidr(dest, "destination block")
        vpc = self.vpcs[table.vpc]
        if target == LOCAL:
            raise CloudError("InvalidParameterValue", "the local route is made with the VPC; it cannot be added")
        if net.overlaps(vpc.cidr) and net.prefixlen >= vpc.cidr.prefixlen:
            raise CloudError(
                "InvalidParameterValue",
                f"{net} is inside the VPC's own block {vpc.cidr}, which the local route covers "
                "(a more specific route there needs a middlebox appliance, not in this game)",
            )
        if not blackhole:
            kind = self.target_kind(target)
            if kind == "blackhole":
                raise CloudError(
                    "InvalidParameterValue",
                    f"no gateway or peering named {target!r} (targets: {', '.join(self._targets(table.vpc)) or 'none yet'})",
                )
            probe = Route.make(net, target)
            if self.route_state(table, probe) != "active":
                if kind == "igw":
                    where = self.igws[target].vpc
                    raise CloudError(
                        "Gateway.NotAttached",
                        f"internet gateway {target} is not attached to VPC {table.vpc}"
                        + (f" (it is attached to {where})" if where else " (igw attach it first)"),
                    )
                raise CloudError("InvalidParameterValue", f"{target} is not a {kind} of VPC {table.vpc}")
        return Route.make(net, target)

    def _targets(self, vpc: str) -> list[str]:
        out = [g.name for g in self.igws.values() if g.vpc == vpc]
        out += [n.name for n in self.nats.values() if self.subnets[n.subnet].vpc == vpc]
        out += [p.name for p in self.peerings.values() if p.other(vpc)]
        return out

    def _add_route(self, table: RouteTable, dest: str, target: str, blackhole: bool = False) -> Route:
        route = self._parse_route(table, dest, target, blackhole)
        if table.route_for(route.dest) is not None:
            existing = table.route_for(route.dest)
            raise CloudError(
                "RouteAlreadyExists",
                f"{table.name} already routes {route.dest} to {existing.target} (route replace changes it)",
            )
        table.routes.append(route)
        return route

    def _associate_route_table(self, table: RouteTable, subnet: Subnet) -> None:
        if table.vpc != subnet.vpc:
            raise CloudError("InvalidParameterValue", f"route table {table.name} is in VPC {table.vpc}, subnet {subnet.id} in {subnet.vpc}")
        subnet.route_table = None if table.main else table.name

    def _associate_nacl(self, acl: NetworkAcl, subnet: Subnet) -> None:
        if acl.vpc != subnet.vpc:
            raise CloudError("InvalidParameterValue", f"network ACL {acl.name} is in VPC {acl.vpc}, subnet {subnet.id} in {subnet.vpc}")
        subnet.nacl = acl.name

    def _register(self, eni: Eni) -> None:
        self.enis[eni.id] = eni
        for address in eni.addresses:
            self.mapping[(eni.vpc, ip_int(address))] = eni

    def _unregister_address(self, eni: Eni, address: str) -> None:
        self.mapping.pop((eni.vpc, ip_int(address)), None)
        eni.subnet.release(address)

    # -- the public side of an interface -------------------------------------------------------
    def _map_auto_public(self, eni: Eni) -> str:
        try:
            address = self.public_pool.allocate()
        except IpamError as exc:
            raise CloudError(exc.code, exc.message) from None
        eni.public_ip = address
        self.public_map[address] = (eni.id, eni.private_ip)
        return address

    def _drop_auto_public(self, eni: Eni, to_back: bool) -> str | None:
        address = eni.public_ip
        if address is None:
            return None
        self.public_pool.release(address, to_back=to_back)
        self.public_map.pop(address, None)
        eni.public_ip = None
        return address

    def _sync_instance(self, eni: Eni) -> None:
        """Keep the instance record's addresses (what `describe` shows) in step."""
        inst = self.instance_of(eni)
        if inst is not None and eni.device == 0:
            inst.private_ip = eni.private_ip
            found = self.public_of(eni, eni.private_ip)
            inst.public_ip = found[0] if found else None

    def _emit(self, event: str, /, **data: Any) -> None:
        if self.cloud is not None:
            self.cloud.emit(event, **data)

    def _changed(self, action: str, resource: str, detail: str, subnet: str | None = None) -> None:
        """One change through the API: logged as a call (CloudTrail) and as what changed."""
        self.version += 1
        self.changes += 1
        if subnet is not None:
            self.focus = subnet
        if self.cloud is not None:
            self.cloud.api_call(action)
            self.cloud.emit("network.changed", action=action, resource=resource, detail=detail)

    # -- the control plane's port ---------------------------------------------------------------
    def launch_zones(
        self, zone: str | None, zones: list[str], subnet: str | None = None, groups: tuple[str, ...] = (), name: str = ""
    ) -> tuple[str, ...]:
        """The zones a launch may land in: the named subnet's zone, the one asked for if its
        subnet has a free address, or every zone whose subnet still has one; and the
        groups named exist in that VPC."""
        if name and f"eni-{name}" in self.enis:
            raise CloudError("InvalidParameterValue", f"interface eni-{name} exists: an instance named {name} cannot get its own")
        if subnet is not None:
            s = self._subnet(subnet)
            if zone is not None and zone != s.zone:
                raise CloudError("InvalidParameterValue", f"subnet {s.id} is in zone {s.zone}, not {zone}")
            self._check_groups(groups, s.vpc)
            if s.free <= 0:
                raise CloudError(
                    "InsufficientFreeAddressesInSubnet", f"subnet {s.id} ({s.cidr}) has no free addresses ({s.usable} usable, all in use)"
                )
            return (s.zone,)
        self._check_groups(groups, self.default_vpc)
        if zone is not None:
            s = self.default_subnet(zone)
            if s is None:
                raise CloudError("InvalidSubnet", f"zone {zone} has no subnet in the VPC")
            if s.free <= 0:
                raise CloudError("InsufficientFreeAddressesInSubnet", f"subnet {s.id} ({s.cidr}) has no free addresses")
            return (zone,)
        found = tuple(z for z in zones if (s := self.default_subnet(z)) and s.free > 0)
        if not found:
            raise CloudError("InsufficientFreeAddressesInSubnet", "no subnet in the VPC has a free address")
        return found

    def _check_groups(self, groups: tuple[str, ...] | list[str], vpc: str) -> None:
        for g in groups:
            sg = self.security_groups.get(g)
            if sg is None or sg.vpc != vpc:
                known = ", ".join(sorted(self._group_names(vpc))) or "none"
                raise CloudError("InvalidGroup.NotFound", f"no security group {g!r} in VPC {vpc} (groups: {known})")

    def reserve(self, inst: "Instance") -> None:
        """The private address is reserved with the request, as the interface is created
        with it (CreateNetworkInterface inside RunInstances)."""
        subnet = self.subnets[inst.subnet] if inst.subnet else self.default_subnet(inst.zone or "")
        assert subnet is not None  # launch_zones offered only zones with a subnet
        inst.subnet = subnet.id
        eni_id = f"eni-{inst.name}"
        eni = Eni(eni_id, subnet, subnet.allocate(eni_id), instance=inst.name, delete_on_termination=True)
        self._register(eni)
        self.attached[inst.name] = [eni.id]
        inst.private_ip = eni.private_ip
        self.version += 1

    def assign_nic(self, inst: "Instance") -> dict[str, Any]:
        eni = self.enis[self.attached[inst.name][0]]
        subnet = eni.subnet
        restart = eni.started
        if not restart:
            eni.auto_public = subnet.public
            eip_name = self.pending_eips.pop(inst.name, None)
            if eip_name is not None and eip_name in self.eips and self.eips[eip_name].eni is None:
                eip = self.eips[eip_name]
                eip.eni, eip.private_ip = eni.id, eni.private_ip
                self.public_map[eip.address] = (eni.id, eni.private_ip)
        was = eni.before_stop
        if eni.auto_public and self.public_of(eni, eni.private_ip) is None:
            self._map_auto_public(eni)
        eni.started = True
        self._sync_instance(eni)
        self.version += 1
        if restart:
            now = self.public_of(eni, eni.private_ip)
            self._emit(
                "address.public",
                instance=inst.name,
                eni=eni.id,
                address=now[0] if now else "",
                was=was or "",
                source=("elastic" if now[1] != "auto" else "auto") if now else "none",
                changed=(now[0] if now else "") != (was or ""),
                reason="start",
            )
        return {"subnet": subnet.id, "private_ip": inst.private_ip or "", "public_ip": inst.public_ip or ""}

    def configure_firewall(self, inst: "Instance") -> dict[str, Any]:
        eni = self.enis[self.attached[inst.name][0]]
        if not eni.groups:
            eni.groups = list(inst.security_groups) or [self.vpcs[eni.vpc].default_sg]
        for g in eni.groups:
            self.security_groups[g].members.add(eni.id)
        inst.security_groups = list(eni.groups)
        rules = sum(len(self.security_groups[g].rules) for g in eni.groups)
        return {"security_group": ",".join(eni.groups), "rules": rules}

    def stop(self, inst: "Instance") -> None:
        """StopInstances: the auto-assigned public address goes back to the pool (a start
        gets a new one); private addresses, interfaces and Elastic IPs stay."""
        for eni_id in self.attached.get(inst.name, []):
            eni = self.enis[eni_id]
            found = self.public_of(eni, eni.private_ip)
            eni.before_stop = found[0] if found else None
            dropped = self._drop_auto_public(eni, to_back=True)
            if dropped:
                self._emit("address.public", instance=inst.name, eni=eni.id, address="", was=dropped, source="auto", changed=True, reason="stop")
            self._sync_instance(eni)
        self.version += 1

    def release(self, inst: "Instance") -> None:
        """TerminateInstances (or a failed launch): the primary interface and its addresses
        are deleted, Elastic IPs disassociated (still allocated, and billed), other
        interfaces detached."""
        for eni_id in list(self.attached.get(inst.name, [])):
            eni = self.enis[eni_id]
            if eni.delete_on_termination:
                for eip in self.eips.values():
                    if eip.eni == eni.id:
                        self.public_map.pop(eip.address, None)
                        eip.eni = eip.private_ip = None
                self._drop_auto_public(eni, to_back=False)
                for address in eni.addresses:
                    self._unregister_address(eni, address)
                for g in eni.groups:
                    self.security_groups[g].members.discard(eni.id)
                del self.enis[eni.id]
            else:
                eni.instance = None
                eni.device = 0
        self.attached.pop(inst.name, None)
        self.version += 1

    # -- the API: VPCs, subnets, routes, gateways ------------------------------------------------
    def create_vpc(self, name: str, cidr: str) -> Vpc:
        try:
            vpc = self._new_vpc(name, cidr)
        except IpamError as exc:
            raise CloudError(exc.code, exc.message) from None
        self._changed("CreateVpc", name, f"{vpc.cidr} vni={vpc.vni}")
        return vpc

    def create_subnet(self, name: str, cidr: str, zone: str, vpc: str | None = None, public: bool = False) -> Subnet:
        v = self._vpc(vpc or self.default_vpc)
        if zone not in self.zones:
            raise CloudError("InvalidParameterValue", f"no zone {zone!r} (zones: {', '.join(self.zones)})")
        try:
            subnet = self._new_subnet(name, v.name, zone, cidr, public)
        except IpamError as exc:
            raise CloudError(exc.code, exc.message) from None
        self._changed("CreateSubnet", name, f"{subnet.cidr} in {zone}, VPC {v.name}", subnet=name)
        return subnet

    def delete_subnet(self, name: str) -> Subnet:
        subnet = self._subnet(name)
        users = sorted(e.id for e in self.enis.values() if e.subnet is subnet)
        if users:
            raise CloudError("DependencyViolation", f"subnet {name} still has interfaces: {', '.join(users[:6])}")
        del self.vpcs[subnet.vpc].ipam.subnets[name]
        del self.subnets[name]
        if self.focus == name:
            self.focus = None
        self._changed("DeleteSubnet", name, str(subnet.cidr))
        return subnet

    def create_route_table(self, name: str, vpc: str | None = None) -> RouteTable:
        v = self._vpc(vpc or self.default_vpc)
        table = self._new_route_table(name, v.name)
        self._changed("CreateRouteTable", name, f"VPC {v.name}")
        return table

    def associate_route_table(self, table: str, subnet: str) -> tuple[RouteTable, Subnet]:
        t, s = self._route_table(table), self._subnet(subnet)
        self._associate_route_table(t, s)
        self._changed("AssociateRouteTable", table, f"subnet {subnet}", subnet=subnet)
        return t, s

    def add_route(self, table: str, dest: str, target: str) -> Route:
        t = self._route_table(table)
        try:
            route = self._add_route(t, dest, target)
        except IpamError as exc:
            raise CloudError(exc.code, exc.message) from None
        self._changed("CreateRoute", table, f"{route.dest} -> {target}", subnet=self._subnet_of_table(t))
        return route

    def replace_route(self, table: str, dest: str, target: str) -> tuple[Route, Route]:
        t = self._route_table(table)
        try:
            route = self._parse_route(t, dest, target)
        except IpamError as exc:
            raise CloudError(exc.code, exc.message) from None
        old = t.route_for(route.dest)
        if old is None:
            raise CloudError("InvalidRoute.NotFound", f"{table} has no route for {route.dest} to replace (route add makes one)")
        t.routes[t.routes.index(old)] = route
        self._changed("ReplaceRoute", table, f"{route.dest} -> {target} (was {old.target})", subnet=self._subnet_of_table(t))
        return old, route

    def delete_route(self, table: str, dest: str) -> Route:
        t = self._route_table(table)
        try:
            net = parse_cidr(dest, "destination block")
        except IpamError as exc:
            raise CloudError(exc.code, exc.message) from None
        route = t.route_for(net)
        if route is None:
            shown = ", ".join(f"{r.dest}" for r in t.routes)
            raise CloudError("InvalidRoute.NotFound", f"{table} has no route for {net} (routes: {shown})")
        if route.target == LOCAL:
            raise CloudError("InvalidParameterValue", f"the local route {net} cannot be deleted: it is how the VPC reaches itself")
        t.routes.remove(route)
        self._changed("DeleteRoute", table, f"{net} -> {route.target}", subnet=self._subnet_of_table(t))
        return route

    def _subnet_of_table(self, table: RouteTable) -> str | None:
        for s in self.subnets.values():
            if s.vpc == table.vpc and self.route_table_of(s) is table:
                return s.id
        return None

    def create_igw(self, name: str) -> InternetGateway:
        igw = self._new_igw(name)
        self._changed("CreateInternetGateway", name, "detached")
        return igw

    def attach_igw(self, name: str, vpc: str) -> InternetGateway:
        igw, v = self._igw(name), self._vpc(vpc)
        if igw.vpc is not None:
            raise CloudError("Resource.AlreadyAssociated", f"internet gateway {name} is already attached to {igw.vpc}")
        if v.igw is not None:
            raise CloudError("Resource.AlreadyAssociated", f"VPC {vpc} already has internet gateway {v.igw} (one per VPC)")
        igw.vpc, v.igw = v.name, name
        self._changed("AttachInternetGateway", name, f"VPC {vpc}")
        return igw

    def detach_igw(self, name: str) -> InternetGateway:
        igw = self._igw(name)
        if igw.vpc is None:
            raise CloudError("Gateway.NotAttached", f"internet gateway {name} is not attached")
        vpc = igw.vpc
        self.vpcs[vpc].igw = None
        igw.vpc = None
        self._changed("DetachInternetGateway", name, f"VPC {vpc}: its routes to {name} are now blackholes")
        return igw

    def create_nat(self, name: str, subnet: str) -> NatGateway:
        s = self._subnet(subnet)
        nat = self._new_nat(name, s)
        self._changed("CreateNatGateway", name, f"subnet {subnet}, {self.eips[nat.eip].address}", subnet=subnet)
        return nat

    def delete_nat(self, name: str) -> NatGateway:
        nat = self._nat(name)
        eni = self.enis.pop(nat.eni)
        for address in eni.addresses:
            self._unregister_address(eni, address)
        eip = self.eips[nat.eip]
        self.public_map.pop(eip.address, None)
        eip.eni = eip.private_ip = eip.nat = None  # the Elastic IP stays allocated (and billed)
        del self.nats[name]
        self._changed("DeleteNatGateway", name, f"its Elastic IP {eip.name} stays allocated; routes to it are blackholes")
        return nat

    def create_peering(self, name: str, a: str, b: str) -> Peering:
        va, vb = self._vpc(a), self._vpc(b)
        peering = self._new_peering(name, va.name, vb.name)
        self._changed("CreateVpcPeeringConnection", name, f"{a} <-> {b} (accepted)")
        return peering

    def delete_peering(self, name: str) -> Peering:
        p = self._peering(name)
        del self.peerings[name]
        self._changed("DeleteVpcPeeringConnection", name, f"{p.a} <-> {p.b}")
        return p

    # -- the API: firewalls ---------------------------------------------------------------------
    def create_sg(self, name: str, vpc: str | None = None) -> SecurityGroup:
        v = self._vpc(vpc or self.default_vpc)
        sg = self._new_sg(name, v.name)
        self._changed("CreateSecurityGroup", name, f"VPC {v.name}")
        return sg

    def _sg_rule(self, sg: SecurityGroup, direction: str, proto: str, ports: str, peer: str) -> SgRule:
        try:
            return SgRule.make(direction, proto, ports, peer, self._group_names(sg.vpc))
        except RuleError as exc:
            raise CloudError("InvalidParameterValue", str(exc)) from None

    def sg_allow(self, group: str, direction: str, proto: str, ports: str, peer: str) -> SgRule:
        sg = self._sg(group)
        rule = self._sg_rule(sg, direction, proto, ports, peer)
        self._authorize(sg, rule)
        action = "AuthorizeSecurityGroupIngress" if direction == "in" else "AuthorizeSecurityGroupEgress"
        self._changed(action, group, rule.text())
        return rule

    def sg_revoke(self, group: str, direction: str, proto: str, ports: str, peer: str) -> SgRule:
        sg = self._sg(group)
        rule = self._sg_rule(sg, direction, proto, ports, peer)
        if rule not in sg.rules:
            shown = "; ".join(r.text() for r in sg.rules if r.direction == direction) or "none"
            raise CloudError("InvalidPermission.NotFound", f"{group} has no rule '{rule.text()}' (its {direction} rules: {shown})")
        sg.rules.remove(rule)
        action = "RevokeSecurityGroupIngress" if direction == "in" else "RevokeSecurityGroupEgress"
        self._changed(action, group, rule.text())
        return rule

    def sg_attach(self, group: str, target: str) -> Eni:
        sg, eni = self._sg(group), self.eni(target)
        if eni.kind != "interface":
            raise CloudError("InvalidParameterValue", f"{eni.id} belongs to a NAT gateway, which has no security groups")
        if sg.vpc != eni.vpc:
            raise CloudError("InvalidParameterValue", f"security group {group} is in VPC {sg.vpc}, {eni.id} in {eni.vpc}")
        if group in eni.groups:
            raise CloudError("InvalidParameterValue", f"{eni.id} already has {group}")
        if len(eni.groups) >= 5:
            raise CloudError("SecurityGroupsPerInterfaceLimitExceeded", f"{eni.id} already has 5 security groups (AWS's default limit)")
        eni.groups.append(group)
        sg.members.add(eni.id)
        self._sync_groups(eni)
        self._changed("ModifyNetworkInterfaceAttribute", eni.id, f"groups {','.join(eni.groups)}", subnet=eni.subnet.id)
        return eni

    def sg_detach(self, group: str, target: str) -> Eni:
        sg, eni = self._sg(group), self.eni(target)
        if group not in eni.groups:
            raise CloudError("InvalidParameterValue", f"{eni.id} does not have {group} (its groups: {', '.join(eni.groups)})")
        if len(eni.groups) == 1:
            raise CloudError("InvalidParameterValue", f"{eni.id} must keep at least one security group (attach another first)")
        eni.groups.remove(group)
        sg.members.discard(eni.id)
        self._sync_groups(eni)
        self._changed("ModifyNetworkInterfaceAttribute", eni.id, f"groups {','.join(eni.groups)}", subnet=eni.subnet.id)
        return eni

    def _sync_groups(self, eni: Eni) -> None:
        inst = self.instance_of(eni)
        if inst is not None and eni.device == 0:
            inst.security_groups = list(eni.groups)

    def create_nacl(self, name: str, vpc: str | None = None) -> NetworkAcl:
        v = self._vpc(vpc or self.default_vpc)
        acl = self._new_nacl(name, v.name)
        self._changed("CreateNetworkAcl", name, f"VPC {v.name} (denies everything until rules are added)")
        return acl

    def nacl_add(self, name: str, number: int, direction: str, action: str, proto: str, ports: str, cidr: str) -> NaclRule:
        acl = self._nacl(name)
        try:
            rule = NaclRule.make(number, direction, action, proto, ports, cidr)
        except RuleError as exc:
            raise CloudError("InvalidParameterValue", str(exc)) from None
        if (direction, number) in acl.rules:
            raise CloudError(
                "NetworkAclEntryAlreadyExists",
                f"{name} already has {acl.rules[(direction, number)].text()} (delete it first, or pick another number)",
            )
        acl.add(rule)
        self._changed("CreateNetworkAclEntry", name, rule.text(), subnet=self._subnet_of_acl(acl))
        return rule

    def nacl_delete(self, name: str, number: int, direction: str) -> NaclRule:
        acl = self._nacl(name)
        if (direction, number) not in acl.rules:
            shown = ", ".join(str(r.number) for r in acl.ordered(direction)) or "none"
            raise CloudError("InvalidNetworkAclEntry.NotFound", f"{name} has no {direction} rule {number} ({direction} rules: {shown})")
        rule = acl.remove(direction, number)
        self._changed("DeleteNetworkAclEntry", name, rule.text(), subnet=self._subnet_of_acl(acl))
        return rule

    def nacl_associate(self, name: str, subnet: str) -> NetworkAcl:
        acl, s = self._nacl(name), self._subnet(subnet)
        self._associate_nacl(acl, s)
        self._changed("ReplaceNetworkAclAssociation", name, f"subnet {subnet}", subnet=subnet)
        return acl

    def _subnet_of_acl(self, acl: NetworkAcl) -> str | None:
        return next((s.id for s in self.subnets.values() if s.nacl == acl.name), None)

    # -- the API: interfaces and addresses --------------------------------------------------------
    def create_eni(self, name: str, subnet: str, address: str | None = None, groups: list[str] | None = None) -> Eni:
        s = self._subnet(subnet)
        self._check_new_name(name, "interface")
        self._check_groups(groups or [], s.vpc)
        try:
            ip = s.claim(address, name) if address else s.allocate(name)
        except IpamError as exc:
            raise CloudError(exc.code, exc.message) from None
        eni = Eni(name, s, ip, groups=list(groups or [self.vpcs[s.vpc].default_sg]), started=True)
        for g in eni.groups:
            self.security_groups[g].members.add(eni.id)
        self._register(eni)
        self._changed("CreateNetworkInterface", name, f"{ip} in {subnet}", subnet=subnet)
        return eni

    def delete_eni(self, name: str) -> Eni:
        eni = self.eni(name)
        if eni.instance is not None:
            raise CloudError("InvalidNetworkInterface.InUse", f"{eni.id} is attached to {eni.instance} (detach it first)")
        if eni.kind != "interface":
            raise CloudError("InvalidParameterValue", f"{eni.id} belongs to a NAT gateway (nat delete removes it)")
        for eip in self.eips.values():
            if eip.eni == eni.id:
                self.public_map.pop(eip.address, None)
                eip.eni = eip.private_ip = None
        for address in eni.addresses:
            self._unregister_address(eni, address)
        for g in eni.groups:
            self.security_groups[g].members.discard(eni.id)
        del self.enis[eni.id]
        self._changed("DeleteNetworkInterface", eni.id, eni.private_ip)
        return eni

    def attach_eni(self, name: str, instance: str) -> Eni:
        eni = self.enis.get(name) or self._missing_eni(name)
        if self.cloud is None:
            raise CloudError("InvalidInstanceID.NotFound", f"no instance {instance!r}")
        inst = self.cloud.control.get(instance)
        if eni.kind != "interface":
            raise CloudError("InvalidParameterValue", f"{eni.id} belongs to a NAT gateway")
        if eni.instance is not None:
            raise CloudError("InvalidNetworkInterface.InUse", f"{eni.id} is already attached to {eni.instance} (detach it first)")
        if inst.state not in ("running", "stopped"):
            raise CloudError("IncorrectInstanceState", f"instance {instance} is {inst.state}: attach to a running or stopped instance")
        if inst.zone != eni.subnet.zone:
            raise CloudError(
                "InvalidParameterValue", f"{eni.id} is in zone {eni.subnet.zone} and {instance} in {inst.zone}: an interface attaches only in its zone"
            )
        held = self.attached.setdefault(instance, [])
        limit = ENI_LIMITS.get(inst.type.name, (2, 2))[0]
        if len(held) >= limit:
            raise CloudError("AttachmentLimitExceeded", f"a {inst.type.name} takes at most {limit} interfaces ({instance} has {len(held)})")
        primary = self.enis[held[0]] if held else None
        if primary is not None and primary.vpc != eni.vpc:
            raise CloudError("InvalidParameterValue", f"{eni.id} is in VPC {eni.vpc}, {instance}'s interfaces in {primary.vpc}")
        eni.instance, eni.device = instance, len(held)
        held.append(eni.id)
        self._changed("AttachNetworkInterface", eni.id, f"{instance} as device {eni.device}", subnet=eni.subnet.id)
        return eni

    def _missing_eni(self, name: str) -> Eni:
        raise self._missing("InvalidNetworkInterfaceID.NotFound", "interface", name, self.enis)

    def detach_eni(self, name: str) -> Eni:
        eni = self.enis.get(name) or self._missing_eni(name)
        if eni.instance is None:
            raise CloudError("IncorrectState", f"{eni.id} is not attached")
        if eni.device == 0:
            raise CloudError("OperationNotPermitted", f"{eni.id} is {eni.instance}'s primary interface (eth0), which cannot be detached")
        instance = eni.instance
        self.attached[instance].remove(eni.id)
        eni.instance, eni.device = None, 0
        self._changed("DetachNetworkInterface", eni.id, f"from {instance}", subnet=eni.subnet.id)
        return eni

    def assign_ip(self, name: str, address: str | None = None, reassign: bool = False) -> tuple[Eni, str, str | None]:
        """AssignPrivateIpAddresses: a secondary private address, a new one or a named one;
        with ``reassign`` a named address moves from another interface of the subnet."""
        eni = self.eni(name)
        inst = self.instance_of(eni)
        limit = ENI_LIMITS.get(inst.type.name, (2, 2))[1] if inst is not None else 15
        if len(eni.addresses) >= limit:
            what = f"a {inst.type.name}'s interface" if inst is not None else "a detached interface"
            raise CloudError("PrivateIpAddressLimitExceeded", f"{what} holds at most {limit} private addresses ({eni.id} has {len(eni.addresses)})")
        moved_from: Eni | None = None
        if address is not None:
            holder = self.mapping.get((eni.vpc, ip_int(address))) if _is_ipv4(address) else None
            if holder is not None and holder is not eni and holder.subnet is eni.subnet and reassign:
                if address == holder.private_ip:
                    raise CloudError("InvalidParameterValue", f"{address} is {holder.id}'s primary address, which cannot move")
                moved_from = holder
            elif holder is eni:
                raise CloudError("InvalidParameterValue", f"{eni.id} already holds {address}")
        try:
            if moved_from is not None:
                ip = address  # the address stays in use in the subnet, only its holder changes
                moved_from.secondary.remove(address)  # type: ignore[arg-type]
                for eip in self.eips.values():
                    if eip.eni == moved_from.id and eip.private_ip == address:
                        eip.eni = eni.id
                        self.public_map[eip.address] = (eni.id, address)  # type: ignore[index]
                eni.subnet.owners[address] = eni.id  # type: ignore[index]
            else:
                ip = eni.subnet.claim(address, eni.id) if address else eni.subnet.allocate(eni.id)
        except IpamError as exc:
            hint = " (add --reassign yes to move it here)" if exc.code == "InvalidIPAddress.InUse" else ""
            raise CloudError(exc.code, exc.message + hint) from None
        eni.secondary.append(ip)  # type: ignore[arg-type]
        self.mapping[(eni.vpc, ip_int(ip))] = eni  # type: ignore[arg-type]
        detail = f"{ip}" + (f" (moved from {moved_from.id})" if moved_from else "")
        self._changed("AssignPrivateIpAddresses", eni.id, detail, subnet=eni.subnet.id)
        return eni, ip, moved_from.id if moved_from else None  # type: ignore[return-value]

    def unassign_ip(self, name: str, address: str) -> Eni:
        eni = self.eni(name)
        if address not in eni.secondary:
            shown = ", ".join(eni.secondary) or "none"
            raise CloudError("InvalidParameterValue", f"{address} is not a secondary address of {eni.id} (its secondary addresses: {shown})")
        for eip in self.eips.values():
            if eip.eni == eni.id and eip.private_ip == address:
                raise CloudError("InvalidParameterValue", f"{address} has Elastic IP {eip.name}: disassociate it first")
        eni.secondary.remove(address)
        self._unregister_address(eni, address)
        self._changed("UnassignPrivateIpAddresses", eni.id, address, subnet=eni.subnet.id)
        return eni

    def set_source_dest_check(self, name: str, on: bool) -> Eni:
        eni = self.eni(name)
        if eni.kind != "interface":
            raise CloudError("InvalidParameterValue", f"{eni.id} belongs to a NAT gateway")
        if eni.source_dest_check == on:
            raise CloudError("InvalidParameterValue", f"{eni.id}'s source/destination check is already {'on' if on else 'off'}")
        eni.source_dest_check = on
        self._changed("ModifyNetworkInterfaceAttribute", eni.id, f"source/destination check {'on' if on else 'off'}", subnet=eni.subnet.id)
        return eni

    def allocate_eip(self, name: str) -> ElasticIp:
        eip = self._new_eip(name)
        self._changed("AllocateAddress", name, eip.address)
        return eip

    def associate_eip(self, name: str, target: str, private_ip: str | None = None) -> tuple[ElasticIp, Eni, str | None]:
        """AssociateAddress: to an interface (an instance's primary one by default) and one
        of its private addresses. An Elastic IP already associated elsewhere moves (AWS's
        reassociation in a VPC); an auto-assigned public address it replaces goes back."""
        eip = self._eip(name)
        if eip.nat is not None:
            raise CloudError("InvalidParameterValue", f"{name} belongs to NAT gateway {eip.nat}")
        eni = self.eni(target)
        if eni.kind != "interface":
            raise CloudError("InvalidParameterValue", f"{eni.id} belongs to a NAT gateway")
        ip = private_ip or eni.private_ip
        if ip not in eni.addresses:
            raise CloudError("InvalidParameterValue", f"{ip} is not an address of {eni.id} (its addresses: {', '.join(eni.addresses)})")
        for other in self.eips.values():
            if other is not eip and other.eni == eni.id and other.private_ip == ip:
                raise CloudError("Resource.AlreadyAssociated", f"{ip} of {eni.id} already has Elastic IP {other.name}")
        was: str | None = None
        if eip.eni is not None:
            was = eip.eni
            self.public_map.pop(eip.address, None)
            old = self.enis.get(eip.eni)
            eip.eni = eip.private_ip = None
            if old is not None:
                self._restore_auto(old)
        replaced = None
        if ip == eni.private_ip and eni.public_ip is not None:
            replaced = self._drop_auto_public(eni, to_back=True)
        eip.eni, eip.private_ip = eni.id, ip
        self.public_map[eip.address] = (eni.id, ip)
        self._sync_instance(eni)
        detail = f"{eip.address} -> {eni.id} {ip}" + (f" (moved from {was})" if was else "")
        self._changed("AssociateAddress", name, detail, subnet=eni.subnet.id)
        if replaced and eni.instance:
            self._emit("address.public", instance=eni.instance, eni=eni.id, address=eip.address, was=replaced, source="elastic", changed=True, reason="eip-associate")
        return eip, eni, was

    def _restore_auto(self, eni: Eni) -> None:
        """An interface that lost its Elastic IP gets an auto-assigned address again if its
        subnet gave it one at launch and its instance is running (as EC2 does)."""
        inst = self.instance_of(eni)
        if eni.auto_public and eni.device == 0 and inst is not None and inst.state == "running":
            self._map_auto_public(eni)
        self._sync_instance(eni)

    def disassociate_eip(self, name: str) -> tuple[ElasticIp, str]:
        eip = self._eip(name)
        if eip.nat is not None:
            raise CloudError("InvalidParameterValue", f"{name} belongs to NAT gateway {eip.nat}")
        if eip.eni is None:
            raise CloudError("InvalidAssociationID.NotFound", f"{name} is not associated")
        eni_id = eip.eni
        self.public_map.pop(eip.address, None)
        eip.eni = eip.private_ip = None
        eni = self.enis.get(eni_id)
        if eni is not None:
            self._restore_auto(eni)
        self._changed("DisassociateAddress", name, f"{eip.address} from {eni_id} (idle now: billed for nothing)")
        return eip, eni_id

    def release_eip(self, name: str) -> ElasticIp:
        eip = self._eip(name)
        if eip.nat is not None:
            raise CloudError("InvalidIPAddress.InUse", f"{name} is held by NAT gateway {eip.nat} (delete the gateway first)")
        if eip.eni is not None:
            raise CloudError(
                "InvalidIPAddress.InUse", f"{name} ({eip.address}) is associated with {eip.eni}: disassociate it before releasing"
            )
        del self.eips[name]
        self.public_pool.release(eip.address, to_back=True)
        self._changed("ReleaseAddress", name, f"{eip.address} back to the pool")
        return eip

    # -- the packet tracer ------------------------------------------------------------------------
    def trace(
        self, src: str, dst: str, proto: str = "tcp", port: int | None = None, source_ip: str | None = None, commit: bool = True
    ) -> "Trace":
        from .packet_tracer import trace

        return trace(self, src, dst, proto, port, source_ip=source_ip, commit=commit)

    # -- metrics ----------------------------------------------------------------------------------
    def metrics(self) -> dict[str, int | float]:
        out: dict[str, int | float] = {
            "vpcs": len(self.vpcs),
            "subnets": len(self.subnets),
            "enis": len(self.enis),
            "eips": len(self.eips),
            "eips_idle": sum(1 for e in self.eips.values() if self.eip_idle(e)),
            "public_ipv4": len(self.public_pool.in_use),
            "public_ipv4_cost_per_hour": round(len(self.public_pool.in_use) * PUBLIC_IPV4_PER_HOUR, 4),
            "network_changes": self.changes,
            "packets_traced": self.traces,
            "packets_dropped": self.drops,
            "flow_records": len(self.flow_log),
            "last_route_prefix": self.last_trace.route.prefixlen if self.last_trace and self.last_trace.route else -1,
        }
        for s in self.subnets.values():
            out[f"free_addresses.{s.id}"] = s.free
            out[f"used_addresses.{s.id}"] = len(s.in_use)
        for v in self.vpcs.values():
            out.update(self._zone_metrics(v))
        reach, reply_dropped = self._probe_results()
        out.update(reach)
        out["probes_reply_dropped"] = reply_dropped
        return out

    def _zone_metrics(self, vpc: Vpc) -> dict[str, int]:
        best: dict[tuple[bool, str], int] = {}
        for s in vpc.ipam.subnets.values():
            key = (self.is_public(s), s.zone)
            best[key] = max(best.get(key, -1), s.free)
        out = {}
        for public, word in ((True, "public"), (False, "private")):
            served = [best[(public, z)] for z in self.zones if (public, z) in best]
            out[f"{word}_zones.{vpc.name}"] = len(served)
            out[f"{word}_room.{vpc.name}"] = min(served) if len(served) == len(self.zones) and served else 0
        return out

    def _probe_results(self) -> tuple[dict[str, int], int]:
        cloud = self.cloud
        key = (self.version, len(cloud.log) if cloud else 0, cloud.hardware.health_version if cloud else 0, len(self.traced))
        if self._probe_cache is not None and self._probe_cache[0] == key:
            return self._probe_cache[1], self._probe_cache[2]
        questions: dict[str, tuple[str, str, int]] = {p.metric: (p.src, p.dst, p.port) for p in self.probes}
        questions.update(self.traced)
        out: dict[str, int] = {}
        reply_dropped = 0
        for metric, (src, dst, port) in questions.items():
            try:
                t = self.trace(src, dst, "tcp", port, commit=False)
            except CloudError:
                out[metric] = 0
                continue
            out[metric] = int(t.verdict == "reachable")
            reply_dropped += int(t.verdict == "reply-dropped")
        self._probe_cache = (key, out, reply_dropped)
        return out, reply_dropped


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def attach(cloud: "Cloud", spec: NetworkSpec) -> Network:
    network = Network(cloud, spec)
    cloud.network = network
    if network.full:
        cloud.metric_sources.append(network.metrics)
    return network


METRICS = metrics(
    ("vpcs", "VPCs"),
    ("subnets", "subnets"),
    ("enis", "network interfaces"),
    ("eips", "Elastic IPs allocated"),
    ("eips_idle", "Elastic IPs billed for nothing: associated with no running instance"),
    ("public_ipv4", "public IPv4 addresses held (auto-assigned and Elastic)"),
    ("public_ipv4_cost_per_hour", "what the public IPv4 addresses cost per hour ($0.005 each)"),
    ("network_changes", "changes made to the network through its API"),
    ("packets_traced", "packets traced"),
    ("packets_dropped", "traced packets that did not make it there and back"),
    ("flow_records", "VPC Flow Logs records written"),
    ("last_route_prefix", "the prefix length of the route the last traced packet took (-1: none)"),
    ("probes_reply_dropped", "probes whose request arrives but whose reply is dropped"),
    ("free_addresses.{subnet}", "a subnet's free addresses"),
    ("used_addresses.{subnet}", "a subnet's addresses in use"),
    ("public_zones.{vpc}", "zones where a VPC has a public subnet (a route to an internet gateway)"),
    ("private_zones.{vpc}", "zones where a VPC has a private subnet"),
    ("public_room.{vpc}", "the fewest free addresses any zone has in the VPC's roomiest public subnet (0: a zone has none)"),
    ("private_room.{vpc}", "the fewest free addresses any zone has in the VPC's roomiest private subnet (0: a zone has none)"),
    ("reachable.{src}.{dst}.{port}", "1 when a TCP connection from src to dst on port works there and back (probes and traces)"),
)
EVENTS = events(
    ("network.changed", "action resource detail", "the network was changed through its API"),
    (
        "packet.traced",
        "src dst proto port verdict hop where rule via cross_zone src_host dst_host vni",
        "a packet and its reply were traced hop by hop",
    ),
    ("address.public", "instance eni address was source changed reason", "an interface's public address changed (stop, start, Elastic IP)"),
)
