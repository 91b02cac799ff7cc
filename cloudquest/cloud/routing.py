"""The VPC router: route tables and the longest-prefix match.

Every subnet is associated with one route table (its own, or the VPC's *main* table when
none is named). A route is a destination block and a target: ``local`` (the VPC's own
block, delivered inside the VPC; every table has it and it cannot be removed), an
internet gateway, a NAT gateway or a peering connection. For a packet the router picks
the *most specific* route whose block holds the destination, the longest prefix match
(Amazon VPC User Guide, "Route priority"): with ``10.0.0.0/16 local``,
``10.1.0.0/16 pcx-…`` and ``0.0.0.0/0 igw-…``, a packet to 10.1.4.2 takes the peering
(/16 beats /0) and one to 8.8.8.8 the internet gateway. A route whose target was deleted
(or an internet gateway that was detached) stays in the table as a *blackhole*: packets
matching it are dropped, silently in AWS, by name here.

Where the game simplifies: no route more specific than ``local`` inside the VPC's block
(AWS allows one only towards a middlebox appliance), no propagated VPN routes, IPv4 only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

LOCAL = "local"


@dataclass(frozen=True)
class Route:
    dest: ipaddress.IPv4Network
    target: str  # "local", or the name of a gateway or peering connection
    net: int = field(default=0, compare=False)
    mask: int = field(default=0, compare=False)

    @classmethod
    def make(cls, dest: ipaddress.IPv4Network, target: str) -> "Route":
        return cls(dest, target, int(dest.network_address), int(dest.netmask))

    @property
    def prefixlen(self) -> int:
        return self.dest.prefixlen

    def holds(self, ip: int) -> bool:
        return ip & self.mask == self.net


@dataclass(eq=False)
class RouteTable:
    name: str
    vpc: str
    routes: list[Route] = field(default_factory=list)
    main: bool = False

    def route_for(self, dest: ipaddress.IPv4Network) -> Route | None:
        return next((r for r in self.routes if r.dest == dest), None)


def longest_prefix_match(routes: list[Route], ip: int) -> Route | None:
    """The most specific route holding ``ip`` (an address as an integer), or None."""
    best: Route | None = None
    for route in routes:
        if route.holds(ip) and (best is None or route.dest.prefixlen > best.dest.prefixlen):
            best = route
    return best
