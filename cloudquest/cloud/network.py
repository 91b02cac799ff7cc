"""Software-defined networking: the VPC every instance is plugged into.

A launch needs a network: the control plane reserves a private address in the zone's
subnet when RunInstances is accepted, attaches the elastic network interface (with a
public address from the provider's pool when the subnet is public) at the ``assign_nic``
step, and attaches the security group's rules at ``configure_firewall``. This module is
the mechanism behind those steps, plugged into the cloud through the control plane's
:class:`~cloudquest.cloud.control_plane.NetworkPort`:

- **IPAM** (cloud/ipam.py): the VPC's CIDR carved into per-zone subnets, with AWS's five
  reserved addresses per subnet;
- **security groups**: stateful virtual firewalls on each interface. AWS gives every VPC
  a ``default`` group whose rules allow all inbound traffic from members of the same
  group and all outbound traffic; that is the group a launch attaches.

A world configures it with its ``network`` section (every world has one: without it, one
/20 per zone is carved from 10.0.0.0/16, all public).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from .errors import CloudError
from .ipam import Ipam, IpamError, Subnet
from .world import NAME_PATTERN, CoreWorld, Strict

if TYPE_CHECKING:
    from .cloud import Cloud
    from .control_plane import Instance


# -- the world section ----------------------------------------------------------------------
class SubnetSpec(Strict):
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    zone: str
    cidr: str
    public: bool = False

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            ipaddress.IPv4Network(v)
        except ValueError as exc:
            raise ValueError(f"not an IPv4 CIDR block like 10.0.1.0/24 ({exc})") from None
        return v


class NetworkSpec(Strict):
    vpc: str = "10.0.0.0/16"
    subnets: list[SubnetSpec] | None = None


def check_world(world: CoreWorld, spec: NetworkSpec) -> None:
    """Every subnet is in a zone of the world, and the VPC can be carved as written."""
    zones = world.zone_names()
    try:
        ipam = Ipam(spec.vpc)
    except ValueError as exc:
        raise ValueError(f"vpc: not an IPv4 CIDR block like 10.0.0.0/16 ({exc})") from None
    for s in spec.subnets or []:
        if s.zone not in zones:
            raise ValueError(f"subnet for zone {s.zone!r}: no such zone (zones: {', '.join(sorted(zones))})")
        try:
            ipam.add_subnet(s.name or f"subnet-{s.zone}", s.zone, s.cidr, s.public)
        except (IpamError, ValueError) as exc:
            raise ValueError(str(exc)) from None


# -- security groups ------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    direction: str  # "inbound" | "outbound"
    protocol: str  # "tcp" | "udp" | "icmp" | "all"
    ports: str  # "22", "80-443", "all"
    source: str  # CIDR or "sg:NAME"


@dataclass
class SecurityGroup:
    name: str
    rules: list[Rule] = field(default_factory=list)
    members: set[str] = field(default_factory=set)


def default_security_group() -> SecurityGroup:
    return SecurityGroup(
        "default",
        [
            Rule("inbound", "all", "all", "sg:default"),
            Rule("outbound", "all", "all", "0.0.0.0/0"),
        ],
    )


# -- the mechanism ----------------------------------------------------------------------------
class Network:
    """The VPC: its IPAM and security groups, and the launch pipeline's network steps."""

    def __init__(self, cloud: "Cloud", spec: NetworkSpec) -> None:
        self.cloud = cloud
        self.ipam = Ipam(spec.vpc)
        subnets: list[tuple[str, str, str, bool]]
        if spec.subnets is None:
            # One /20 per zone, carved from the VPC in fleet order.
            pieces = self.ipam.vpc.subnets(new_prefix=max(self.ipam.vpc.prefixlen, 20))
            subnets = [(f"subnet-{z}", z, str(next(pieces)), True) for z in cloud.hardware.zones]
        else:
            subnets = [(s.name or f"subnet-{s.zone}", s.zone, s.cidr, s.public) for s in spec.subnets]
        for name, zone, cidr, public in subnets:
            try:
                self.ipam.add_subnet(name, zone, cidr, public)
            except IpamError as exc:
                raise CloudError(exc.code, str(exc)) from None
        self.security_groups: dict[str, SecurityGroup] = {"default": default_security_group()}

    def subnet(self, zone: str) -> Subnet | None:
        return self.ipam.subnet_for_zone(zone)

    # -- the control plane's port --------------------------------------------------------
    def launch_zones(self, zone: str | None, zones: list[str]) -> tuple[str, ...]:
        """The zones a launch may land in: the one asked for, if its subnet has a free
        address, or every zone whose subnet still has one."""
        if zone is not None:
            subnet = self.subnet(zone)
            if subnet is None:
                raise CloudError("InvalidSubnet", f"zone {zone} has no subnet in the VPC")
            if subnet.free <= 0:
                raise CloudError(
                    "InsufficientFreeAddressesInSubnet", f"subnet {subnet.id} ({subnet.cidr}) has no free addresses"
                )
            return (zone,)
        found = tuple(z for z in zones if (s := self.subnet(z)) and s.free > 0)
        if not found:
            raise CloudError("InsufficientFreeAddressesInSubnet", "no subnet in the VPC has a free address")
        return found

    def reserve(self, inst: "Instance") -> None:
        """The private address is reserved with the request, as the ENI is created with it."""
        inst.private_ip = self.subnet(inst.zone or "").allocate()

    def assign_nic(self, inst: "Instance") -> dict[str, Any]:
        subnet = self.subnet(inst.zone or "")
        if subnet is not None and subnet.public:
            try:
                inst.public_ip = self.ipam.allocate_public()
            except IpamError as exc:
                raise CloudError(exc.code, str(exc)) from None
        return {"subnet": subnet.id if subnet else "", "private_ip": inst.private_ip or "", "public_ip": inst.public_ip or ""}

    def configure_firewall(self, inst: "Instance") -> dict[str, Any]:
        sg = self.security_groups["default"]
        sg.members.add(inst.name)
        inst.security_groups = [sg.name]
        return {"security_group": sg.name, "rules": len(sg.rules)}

    def release(self, inst: "Instance") -> None:
        if inst.public_ip:
            self.ipam.release_public(inst.public_ip)
        if inst.private_ip:
            subnet = self.subnet(inst.zone or "")
            if subnet is not None:
                subnet.release(inst.private_ip)
        for sg_name in inst.security_groups:
            self.security_groups[sg_name].members.discard(inst.name)


def attach(cloud: "Cloud", spec: NetworkSpec) -> Network:
    network = Network(cloud, spec)
    cloud.network = network
    return network
