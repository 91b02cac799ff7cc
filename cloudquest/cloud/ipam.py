"""IP address management: a VPC's CIDR carved into subnets, and the provider's public pool.

Faithful to AWS VPC rules (Amazon VPC User Guide, "VPC CIDR blocks" and "Subnet CIDR
blocks"):

- a VPC's IPv4 block is a /16 (65,536 addresses) to a /28 (16 addresses); a subnet's
  block lies inside its VPC's, is /16 to /28 as well, and overlaps no other subnet of
  the VPC;
- in every subnet the first four addresses and the last one are reserved: the network
  address, the VPC router at +1, +2 for the Amazon-provided DNS (the server itself
  answers at the VPC block's base +2; AWS reserves +2 in every subnet all the same),
  +3 held for future use, and the broadcast address (the VPC supports no broadcast, but still
  withholds it). A /24 therefore offers 251 usable addresses and a /28, the smallest
  subnet, 11.

Private addresses are handed out lowest-free-first (AWS picks one at random from the
free ones; lowest-first keeps a run readable and replays exact), and a specific
address can be claimed (a secondary private IP, an interface created with ``--ip``).

Public IPv4 addresses come from a provider pool, here 203.0.113.0/24 (TEST-NET-3, the
documentation range of RFC 5737, standing in for Amazon's pool). An address handed back
by a terminated instance returns to the pool lowest-first, as before; an address given
up by a stopped instance or a released Elastic IP goes to the back of the queue, so it
is not handed straight back to its last owner (in AWS it goes to whoever asks next, in
any account, and you do not get it back).
"""

from __future__ import annotations

import heapq
import ipaddress
from collections import deque
from dataclasses import dataclass, field

RESERVED_AT_START = 4  # network, router, DNS, future use
RESERVED_AT_END = 1  # broadcast
RESERVED_ROLES = ("the network address", "the VPC router", "the Amazon DNS server", "reserved by AWS for future use")
MIN_PREFIX, MAX_PREFIX = 16, 28  # the largest and the smallest VPC or subnet AWS allows
PUBLIC_POOL = ipaddress.ip_network("203.0.113.0/24")


class IpamError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_cidr(text: str, what: str) -> ipaddress.IPv4Network:
    """A strict IPv4 CIDR block (host bits must be zero), or IpamError saying why not."""
    try:
        net = ipaddress.IPv4Network(text)
    except ValueError as exc:
        raise IpamError("InvalidParameterValue", f"{text!r} is not an IPv4 {what} like 10.0.1.0/24 ({exc})") from None
    return net


def check_prefix(net: ipaddress.IPv4Network, what: str) -> None:
    if net.prefixlen < MIN_PREFIX:
        size = "too large"
    elif net.prefixlen > MAX_PREFIX:
        size = "too small"
    else:
        return
    raise IpamError(
        f"Invalid{what.capitalize()}.Range",
        f"{what} {net}: a /{net.prefixlen} is {size}; AWS allows /{MIN_PREFIX} to /{MAX_PREFIX} "
        "(65,536 to 16 addresses)",
    )


@dataclass
class Subnet:
    """A subnet: a block of the VPC in one zone. ``public`` is AWS's
    ``MapPublicIpOnLaunch``: instances launched here get a public IPv4 address. Whether the
    subnet *is* public (reachable from the internet) is decided by its route table, not
    by this flag."""

    id: str
    zone: str
    cidr: ipaddress.IPv4Network
    public: bool = False
    vpc: str = ""
    route_table: str | None = None  # explicit association; None = the VPC's main table
    nacl: str = ""
    _next: int = RESERVED_AT_START
    _freed: list[int] = field(default_factory=list)
    in_use: set[str] = field(default_factory=set)
    owners: dict[str, str] = field(default_factory=dict)  # address in use -> who holds it

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

    def reserved_role(self, address: str) -> str | None:
        """Why AWS withholds an address of this subnet, or None when it is usable."""
        offset = int(ipaddress.IPv4Address(address)) - int(self.cidr.network_address)
        if 0 <= offset < RESERVED_AT_START:
            return RESERVED_ROLES[offset]
        if offset == self.cidr.num_addresses - 1:
            return "the broadcast address"
        return None

    def allocate(self, owner: str) -> str:
        """The lowest free usable address (amortised O(1): freed addresses on a heap, the
        never-used ones behind a cursor; addresses claimed by hand are skipped)."""
        last = self.cidr.num_addresses - RESERVED_AT_END
        base = int(self.cidr.network_address)
        while self._freed:
            offset = heapq.heappop(self._freed)
            address = str(ipaddress.IPv4Address(base + offset))
            if address not in self.in_use:
                return self._take(address, owner)
        while self._next < last:
            address = str(ipaddress.IPv4Address(base + self._next))
            self._next += 1
            if address not in self.in_use:
                return self._take(address, owner)
        raise IpamError(
            "InsufficientFreeAddressesInSubnet",
            f"subnet {self.id} ({self.cidr}) has no free addresses ({self.usable} usable, all in use)",
        )

    def check_address(self, address: str) -> str:
        """``address`` as a usable, free address of this subnet, or IpamError saying why not."""
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            raise IpamError("InvalidParameterValue", f"{address!r} is not an IPv4 address like 10.0.1.20") from None
        if ip not in self.cidr:
            raise IpamError(
                "InvalidParameterValue", f"{ip} is outside subnet {self.id} ({self.cidr}: {self.cidr[0]} to {self.cidr[-1]})"
            )
        role = self.reserved_role(str(ip))
        if role:
            raise IpamError("InvalidParameterValue", f"{ip} is reserved in subnet {self.id}: it is {role}")
        if str(ip) in self.in_use:
            raise IpamError("InvalidIPAddress.InUse", f"{ip} is already in use in subnet {self.id} (by {self.owners[str(ip)]})")
        return str(ip)

    def claim(self, address: str, owner: str) -> str:
        return self._take(self.check_address(address), owner)

    def _take(self, address: str, owner: str) -> str:
        self.in_use.add(address)
        self.owners[address] = owner
        return address

    def release(self, address: str) -> None:
        if address in self.in_use:
            self.in_use.remove(address)
            del self.owners[address]
            heapq.heappush(self._freed, int(ipaddress.ip_address(address)) - int(self.cidr.network_address))


class Ipam:
    """One VPC's address plan: its CIDR block and the subnets carved from it."""

    def __init__(self, vpc_cidr: str, vpc_id: str) -> None:
        self.vpc = parse_cidr(vpc_cidr, "VPC CIDR block")
        check_prefix(self.vpc, "vpc")
        self.vpc_id = vpc_id
        self.subnets: dict[str, Subnet] = {}

    def check_subnet(self, cidr: str) -> ipaddress.IPv4Network:
        """The block a new subnet would take, or IpamError saying why it cannot."""
        net = parse_cidr(cidr, "subnet CIDR block")
        if not net.subnet_of(self.vpc):
            raise IpamError(
                "InvalidSubnet.Range",
                f"subnet {cidr} is not inside the VPC {self.vpc} ({self.vpc[0]} to {self.vpc[-1]})",
            )
        check_prefix(net, "subnet")
        for other in self.subnets.values():
            if net.overlaps(other.cidr):
                raise IpamError("InvalidSubnet.Conflict", f"subnet {cidr} overlaps {other.id} ({other.cidr})")
        return net

    def add_subnet(self, subnet_id: str, zone: str, cidr: str, public: bool) -> Subnet:
        net = self.check_subnet(cidr)
        subnet = Subnet(subnet_id, zone, net, public, vpc=self.vpc_id)
        self.subnets[subnet_id] = subnet
        return subnet

    def subnet_for_zone(self, zone: str) -> Subnet | None:
        for subnet in self.subnets.values():
            if subnet.zone == zone:
                return subnet
        return None


class PublicPool:
    """The provider's public IPv4 addresses (auto-assigned ones and Elastic IPs)."""

    def __init__(self, pool: ipaddress.IPv4Network = PUBLIC_POOL) -> None:
        self.pool = pool
        self._next = 1
        self._freed: list[int] = []
        self._cooling: deque[int] = deque()
        self.in_use: set[str] = set()

    def allocate(self) -> str:
        """Given back lowest-first, then never used, then the ones sent to the back (every
        address handed out is in use until released, so none of these queues holds one)."""
        if self._freed:
            offset = heapq.heappop(self._freed)
        elif self._next < self.pool.num_addresses - 1:
            offset = self._next
            self._next += 1
        elif self._cooling:
            offset = self._cooling.popleft()
        else:
            raise IpamError("AddressLimitExceeded", f"the public IPv4 pool {self.pool} is exhausted")
        address = str(self.pool.network_address + offset)
        self.in_use.add(address)
        return address

    def release(self, address: str, *, to_back: bool) -> None:
        """Give an address back: lowest-first, or (``to_back``) after every other free one."""
        if address in self.in_use:
            self.in_use.remove(address)
            offset = int(ipaddress.ip_address(address)) - int(self.pool.network_address)
            if to_back:
                self._cooling.append(offset)
            else:
                heapq.heappush(self._freed, offset)
