"""IP address management: a VPC's CIDR carved into per-zone subnets.

Faithful to AWS VPC rules: in every subnet the first four addresses and the last one are
reserved (network address, VPC router at +1, Amazon DNS at +2, +3 reserved for future
use, and the broadcast address, which AWS does not support but still withholds), so a
/24 offers 251 usable addresses and a /28, the smallest subnet allowed, offers 11.
Private addresses are handed out lowest-free-first. Public addresses come from a pool
in 203.0.113.0/24, the documentation range (RFC 5737), standing in for a provider pool.
"""

from __future__ import annotations

import heapq
import ipaddress
from dataclasses import dataclass, field

RESERVED_AT_START = 4  # network, router, DNS, future use
RESERVED_AT_END = 1  # broadcast
PUBLIC_POOL = ipaddress.ip_network("203.0.113.0/24")


class IpamError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Subnet:
    id: str
    zone: str
    cidr: ipaddress.IPv4Network
    public: bool = False
    _next: int = RESERVED_AT_START
    _freed: list[int] = field(default_factory=list)
    in_use: set[str] = field(default_factory=set)

    @property
    def usable(self) -> int:
        return max(0, self.cidr.num_addresses - RESERVED_AT_START - RESERVED_AT_END)

    @property
    def free(self) -> int:
        return self.usable - len(self.in_use)

    def reserved(self) -> list[str]:
        n = self.cidr.num_addresses
        base = self.cidr.network_address
        return [str(base + i) for i in range(RESERVED_AT_START)] + [str(base + n - 1)]

    def allocate(self) -> str:
        if self._freed:
            offset = heapq.heappop(self._freed)
        elif self._next < self.cidr.num_addresses - RESERVED_AT_END:
            offset = self._next
            self._next += 1
        else:
            raise IpamError(
                "InsufficientFreeAddressesInSubnet",
                f"subnet {self.id} ({self.cidr}) has no free addresses ({self.usable} usable)",
            )
        address = str(self.cidr.network_address + offset)
        self.in_use.add(address)
        return address

    def release(self, address: str) -> None:
        if address in self.in_use:
            self.in_use.remove(address)
            heapq.heappush(self._freed, int(ipaddress.ip_address(address)) - int(self.cidr.network_address))


class Ipam:
    def __init__(self, vpc_cidr: str = "10.0.0.0/16") -> None:
        self.vpc = ipaddress.ip_network(vpc_cidr)
        self.subnets: dict[str, Subnet] = {}
        self._public_next = 1
        self._public_freed: list[int] = []
        self.public_in_use: set[str] = set()

    def add_subnet(self, subnet_id: str, zone: str, cidr: str, public: bool = False) -> Subnet:
        net = ipaddress.ip_network(cidr)
        if not net.subnet_of(self.vpc):
            raise IpamError("InvalidSubnet.Range", f"subnet {cidr} is not inside the VPC {self.vpc}")
        if not 16 <= net.prefixlen <= 28:
            raise IpamError("InvalidSubnet.Range", f"subnet {cidr}: the prefix must be /16 to /28")
        for other in self.subnets.values():
            if net.overlaps(other.cidr):
                raise IpamError("InvalidSubnet.Conflict", f"subnet {cidr} overlaps {other.id} ({other.cidr})")
        subnet = Subnet(subnet_id, zone, net, public)
        self.subnets[subnet_id] = subnet
        return subnet

    def subnet_for_zone(self, zone: str) -> Subnet | None:
        for subnet in self.subnets.values():
            if subnet.zone == zone:
                return subnet
        return None

    def allocate_public(self) -> str:
        if self._public_freed:
            offset = heapq.heappop(self._public_freed)
        elif self._public_next < PUBLIC_POOL.num_addresses - 1:
            offset = self._public_next
            self._public_next += 1
        else:
            raise IpamError("AddressLimitExceeded", "the public address pool is exhausted")
        address = str(PUBLIC_POOL.network_address + offset)
        self.public_in_use.add(address)
        return address

    def release_public(self, address: str) -> None:
        if address in self.public_in_use:
            self.public_in_use.remove(address)
            heapq.heappush(self._public_freed, int(ipaddress.ip_address(address)) - int(PUBLIC_POOL.network_address))
