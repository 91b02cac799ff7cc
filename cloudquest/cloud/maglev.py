"""Maglev consistent hashing, as Google's network load balancer does it.

Source: D. E. Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
Balancer", NSDI 2016, section 3.4 (the algorithm, Pseudocode 1, Table 1).

Every Maglev machine must send the packets of one connection to the same backend, and
must do so without asking the other machines. Each machine therefore builds the same
*lookup table* from the same list of backends:

- the table has ``M`` entries, ``M`` a prime much larger than the number of backends
  ``N`` (Google uses 65,537 by default; 655,373 for very large backend pools);
- each backend ``i`` gets a *preference list*, a permutation of ``0 .. M-1``, from two
  hashes of its name: ``offset = h1(name) mod M`` and ``skip = h2(name) mod (M-1) + 1``,
  ``permutation[i][j] = (offset + j * skip) mod M``. ``M`` prime makes every skip
  coprime with ``M``, so each list visits every entry once;
- the backends *take turns*: each in order claims the next entry of its own list that is
  still free, until the table is full. So every backend owns ``M / N`` entries, give
  or take one, and a change of backends moves few entries;
- a packet's 5-tuple (source and destination address and port, protocol) is hashed and
  the table entry ``hash mod M`` names the backend.

The paper's Table 1 is the worked example (M = 7, backends B0, B1, B2 with offsets 3, 0,
3 and skips 4, 2, 1); :func:`populate` reproduces it, and its "after B1 is removed"
column. Maglev's hashing is *not* minimally disruptive: a removal moves a backend's own
entries and a few more (entry 6 in Table 1); the paper trades that for balance.

What the game simplifies: names are hashed with SHA-256 (two differently prefixed
digests for ``h1`` and ``h2``) and 5-tuples with CRC-32 over their packed bytes (the
family of hash switch hardware uses for ECMP); the paper names neither function.
Backends are unweighted.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_TABLE_SIZE = 65_537  # the paper's default M
MAX_TABLE_SIZE = 1_000_003
_FLOW = struct.Struct(">IHIHB")  # src ip, src port, dst ip, dst port, protocol


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True


def next_prime(n: int) -> int:
    while not is_prime(n):
        n += 1
    return n


def _name_hash(prefix: bytes, name: str) -> int:
    return int.from_bytes(hashlib.sha256(prefix + name.encode()).digest()[:8], "big")


def offset_skip(name: str, size: int) -> tuple[int, int]:
    """A backend's place in the table's preference order: ``offset`` from one hash of its
    name, ``skip`` (1 .. M-1) from another."""
    return _name_hash(b"h1:", name) % size, _name_hash(b"h2:", name) % (size - 1) + 1


def permutation(offset: int, skip: int, size: int) -> list[int]:
    """A backend's whole preference list (the paper's permutation[i])."""
    return [(offset + j * skip) % size for j in range(size)]


def populate(prefs: Sequence[tuple[int, int]], size: int) -> list[int]:
    """The lookup table (Pseudocode 1): entry -> index of the backend that owns it.

    ``prefs`` holds each backend's (offset, skip), in the order they take turns.
    Raises ValueError for a size that is not a prime or no backend.

    A table is a pure function of its inputs and costs tens of milliseconds at the
    paper's M (hundreds at 655,373), while the same backends are looked up again and
    again (every world of a ``verify`` rebuilds its balancer, the views redraw it): the
    last few tables are remembered, and each caller gets its own copy (a :class:`Table`
    shares the remembered one: it never changes)."""
    return list(_populated(tuple((o, s) for o, s in prefs), size))


@lru_cache(maxsize=8)
def _populated(prefs: tuple[tuple[int, int], ...], size: int) -> tuple[int, ...]:
    if not is_prime(size):
        raise ValueError(f"the table size must be a prime number, not {size}")
    if not prefs:
        raise ValueError("a lookup table needs at least one backend")
    entry = [-1] * size
    # Where each backend's list stands: permutation[i][next[i]], kept as the entry
    # itself (offset + next * skip, mod M) so a probe is one step along it.
    at = [o % size for o, _ in prefs]
    skips = [s for _, s in prefs]
    for s in skips:
        if not 1 <= s < size:
            raise ValueError(f"a skip must be from 1 to {size - 1}, not {s}")
    n = len(prefs)
    # One entry is claimed per turn and the backends take turns in order, so turn t is
    # backend t mod N's and the table is full after exactly M turns.
    for turn in range(size):
        i = turn % n
        c = at[i]
        s = skips[i]
        while entry[c] >= 0:
            c = (c + s) % size
        entry[c] = i
        at[i] = (c + s) % size
    return tuple(entry)


def flow_hash(src_ip: int, src_port: int, dst_ip: int, dst_port: int, proto: int = 6, seed: int = 0) -> int:
    """The hash of a flow's 5-tuple: CRC-32 of its packed header fields. ``seed`` gives
    each switch its own hash (so equal-cost choices are not correlated hop to hop)."""
    return zlib.crc32(_FLOW.pack(src_ip, src_port, dst_ip, dst_port, proto), seed)


@dataclass(frozen=True)
class Table:
    """A populated lookup table over named backends."""

    names: tuple[str, ...]
    size: int
    entries: Sequence[int]  # entry -> index into names; never changed once built

    @classmethod
    def build(cls, backends: Sequence[tuple[str, int, int]], size: int) -> "Table":
        """``backends``: (name, offset, skip) in turn order."""
        return cls(tuple(b[0] for b in backends), size, _populated(tuple((o, s) for _, o, s in backends), size))

    def backend(self, key: int) -> str:
        """The backend for a flow whose hash is ``key``."""
        return self.names[self.entries[key % self.size]]

    def owners(self) -> list[str]:
        return [self.names[i] for i in self.entries]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(self.names, 0)
        for i in self.entries:
            out[self.names[i]] += 1
        return out

    def moved(self, other: "Table") -> int:
        """Entries whose backend differs between two tables of the same size."""
        if other.size != self.size:
            return self.size
        return sum(self.moved_by(other).values())

    def moved_by(self, other: "Table") -> dict[str, int]:
        """Per backend of this table, its entries that ``other`` (of the same size)
        gives to another backend."""
        a, b = self.names, other.names
        out = dict.fromkeys(a, 0)
        for x, y in zip(self.entries, other.entries):
            if a[x] != b[y]:
                out[a[x]] += 1
        return out
