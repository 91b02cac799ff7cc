"""The VPC's two virtual firewalls: security groups and network ACLs.

Both are software, enforced by the hypervisor's virtual switch on the physical host of
each interface, not by a box in a rack. They differ in the two ways that matter when a
connection fails (Amazon VPC User Guide, "Compare security groups and network ACLs"):

- **Security groups** belong to an interface. They are *stateful* and *allow-only*: a
  rule can only let traffic through, every rule is considered (order does not matter),
  anything no rule allows is dropped, and the reply to a connection that was let through
  is let back automatically, in either direction, whatever the rules say (connection
  tracking). A rule's peer is a CIDR block or *another security group*: "from members
  of app-sg" follows the instances, not their addresses. A new group allows nothing in
  and everything out; the VPC's ``default`` group lets its own members talk to each
  other.
- **Network ACLs** belong to a subnet and see traffic crossing the subnet's edge (never
  traffic between two interfaces of one subnet). They are *stateless*: a reply is a
  packet like any other and must be allowed on its own, in the other direction, to the
  client's ephemeral port, which is why AWS recommends a rule for 1024-65535. Rules are
  numbered (1 to 32766), evaluated lowest number first, and the first rule that matches
  decides, allow or deny; a packet no rule matches meets the final ``*`` rule, which
  denies. The VPC's default ACL allows everything both ways (rule 100); a new ACL denies
  everything until rules are added.

A rule's ports are the packet's *destination* port (a range, or ``all``); ICMP rules
ignore ports. Addresses are compared as integers so a trace through hundreds of rules
stays well under a millisecond.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "icmp", "all")
IANA_NUMBER = {"tcp": 6, "udp": 17, "icmp": 1, "all": -1}
EPHEMERAL = (1024, 65535)  # the client ports AWS recommends opening for return traffic
NACL_RULE_MIN, NACL_RULE_MAX = 1, 32766
Direction = Literal["in", "out"]
PortRange = tuple[int, int] | None  # None: every port


class RuleError(ValueError):
    """A rule that cannot be written as given (bad ports, protocol, CIDR)."""


def parse_ports(text: str) -> PortRange:
    """``443`` -> (443, 443); ``1024-65535`` -> (1024, 65535); ``all`` -> None."""
    text = str(text).strip().lower()
    if text in ("all", "*", "-1", ""):
        return None
    lo_text, dash, hi_text = text.partition("-")
    try:
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
    except ValueError:
        raise RuleError(f"ports must be a port (443), a range (1024-65535) or 'all', not {text!r}") from None
    if not (0 <= lo <= 65535 and 0 <= hi <= 65535) or lo > hi:
        raise RuleError(f"ports {text!r}: a range must run low to high within 0-65535")
    return (lo, hi)


def ports_text(ports: PortRange) -> str:
    if ports is None:
        return "all"
    lo, hi = ports
    return str(lo) if lo == hi else f"{lo}-{hi}"


def check_proto(proto: str) -> str:
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise RuleError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {proto!r}")
    return proto


def parse_block(text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text)
    except ValueError as exc:
        raise RuleError(f"{text!r} is not an IPv4 CIDR block like 0.0.0.0/0 or 10.0.0.0/16 ({exc})") from None


def _int_block(net: ipaddress.IPv4Network) -> tuple[int, int]:
    return int(net.network_address), int(net.netmask)


def _what(direction: str, proto: str, ports: str | PortRange) -> tuple[str, PortRange]:
    """A rule's direction checked, and its protocol and ports (none for all and icmp)."""
    if direction not in ("in", "out"):
        raise RuleError(f"direction must be in or out, not {direction!r}")
    proto = check_proto(proto)
    rng = parse_ports(ports) if isinstance(ports, str) else ports
    return proto, None if proto in ("all", "icmp") else rng


def _matches(proto: str, ports: PortRange, pkt_proto: str, port: int | None) -> bool:
    if proto != "all" and proto != pkt_proto:
        return False
    if proto in ("all", "icmp") or ports is None:
        return True
    return port is not None and ports[0] <= port <= ports[1]


# -- security groups --------------------------------------------------------------------------
@dataclass(frozen=True)
class SgRule:
    """One allow rule. ``peer`` is a CIDR block, or the name of a security group."""

    direction: Direction
    proto: str
    ports: PortRange
    peer: str
    block: tuple[int, int] | None = field(default=None, compare=False)

    @classmethod
    def make(cls, direction: str, proto: str, ports: str | PortRange, peer: str, groups: set[str] | None = None) -> "SgRule":
        proto, rng = _what(direction, proto, ports)
        if groups is not None and peer in groups:
            return cls(direction, proto, rng, peer, None)
        if "/" not in peer and not peer.replace(".", "").isdigit():
            known = ", ".join(sorted(groups or ())) or "none"
            raise RuleError(f"no security group named {peer!r} (groups in this VPC: {known}); or give a CIDR block")
        net = parse_block(peer)
        return cls(direction, proto, rng, str(net), _int_block(net))

    @property
    def names_group(self) -> bool:
        return self.block is None

    def matches(self, proto: str, port: int | None, peer_ip: int, peer_groups: frozenset[str] | set[str]) -> bool:
        if not _matches(self.proto, self.ports, proto, port):
            return False
        if self.block is None:
            return self.peer in peer_groups
        net, mask = self.block
        return peer_ip & mask == net

    def text(self) -> str:
        word = "from" if self.direction == "in" else "to"
        what = self.proto if self.proto in ("all", "icmp") else f"{self.proto} {ports_text(self.ports)}"
        peer = f"group {self.peer}" if self.names_group else self.peer
        return f"allow {what} {word} {peer}"


@dataclass(eq=False)
class SecurityGroup:
    name: str
    vpc: str = ""
    rules: list[SgRule] = field(default_factory=list)
    members: set[str] = field(default_factory=set)  # interface ids

    def allows(self, direction: str, proto: str, port: int | None, peer_ip: int, peer_groups) -> SgRule | None:
        for rule in self.rules:
            if rule.direction == direction and rule.matches(proto, port, peer_ip, peer_groups):
                return rule
        return None


def sg_decide(
    groups: list[SecurityGroup], direction: str, proto: str, port: int | None, peer_ip: int, peer_groups
) -> tuple[SecurityGroup, SgRule] | None:
    """The first group and rule that allow the packet, or None (security groups deny what
    no rule allows). Every rule of every group is considered: order does not matter."""
    for group in groups:
        rule = group.allows(direction, proto, port, peer_ip, peer_groups)
        if rule is not None:
            return group, rule
    return None


# -- network ACLs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NaclRule:
    number: int
    direction: Direction
    action: Literal["allow", "deny"]
    proto: str
    ports: PortRange
    cidr: str
    block: tuple[int, int] = field(default=(0, 0), compare=False)

    @classmethod
    def make(cls, number: int, direction: str, action: str, proto: str, ports: str | PortRange, cidr: str) -> "NaclRule":
        if not NACL_RULE_MIN <= number <= NACL_RULE_MAX:
            raise RuleError(f"rule number must be {NACL_RULE_MIN} to {NACL_RULE_MAX}, not {number}")
        if action not in ("allow", "deny"):
            raise RuleError(f"action must be allow or deny, not {action!r}")
        proto, rng = _what(direction, proto, ports)
        net = parse_block(cidr)
        return cls(number, direction, action, proto, rng, str(net), _int_block(net))  # type: ignore[arg-type]

    def matches(self, proto: str, port: int | None, peer_ip: int) -> bool:
        net, mask = self.block
        return peer_ip & mask == net and _matches(self.proto, self.ports, proto, port)

    def text(self) -> str:
        word = "from" if self.direction == "in" else "to"
        what = self.proto if self.proto in ("all", "icmp") else f"{self.proto} {ports_text(self.ports)}"
        return f"rule {self.number} {self.action} {what} {word} {self.cidr}"


@dataclass(eq=False)
class NetworkAcl:
    name: str
    vpc: str = ""
    default: bool = False
    rules: dict[tuple[str, int], NaclRule] = field(default_factory=dict)
    _ordered: dict[str, list[NaclRule]] = field(default_factory=dict)

    def add(self, rule: NaclRule) -> None:
        self.rules[(rule.direction, rule.number)] = rule
        self._ordered.clear()

    def remove(self, direction: str, number: int) -> NaclRule:
        rule = self.rules.pop((direction, number))
        self._ordered.clear()
        return rule

    def ordered(self, direction: str) -> list[NaclRule]:
        """The rules of one direction, lowest number first (the order they are evaluated in)."""
        got = self._ordered.get(direction)
        if got is None:
            got = sorted((r for (d, _), r in self.rules.items() if d == direction), key=lambda r: r.number)
            self._ordered[direction] = got
        return got

    def decide(self, direction: str, proto: str, port: int | None, peer_ip: int) -> tuple[bool, NaclRule | None]:
        """(allowed, the rule that decided); None stands for the final ``*`` deny."""
        for rule in self.ordered(direction):
            if rule.matches(proto, port, peer_ip):
                return rule.action == "allow", rule
        return False, None


STAR_DENY = "rule * deny all (no numbered rule matched)"


def default_nacl_rules() -> list[NaclRule]:
    """The VPC's default network ACL: rule 100 allows everything, in and out."""
    return [NaclRule.make(100, "in", "allow", "all", None, "0.0.0.0/0"), NaclRule.make(100, "out", "allow", "all", None, "0.0.0.0/0")]
