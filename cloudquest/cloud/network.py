"""Software-defined networking, the engine's part: security groups.

A security group is a stateful virtual firewall attached to a network interface. AWS
gives every VPC a ``default`` group whose rules allow all inbound traffic from members of
the same group and all outbound traffic; that is the group a launch attaches unless told
otherwise. (Route tables, gateways and ACLs belong to the networking chapter.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
