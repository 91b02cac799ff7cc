"""Replication: how many copies of a chunk, where they go, and how safe that leaves it.

Three questions decide whether stored data survives hardware failing under it:

1. *How much redundancy?* A :class:`Replication` scheme keeps N whole copies (HDFS's
   default ``dfs.replication`` is 3, as was GFS's); it reads from any one copy and
   survives N-1 losses at N times the space. Erasure coding
   (:class:`~cloudquest.cloud.erasure.ErasureCode`) is the cheaper alternative.
2. *Where do the pieces go?* Copies on one host die with that host; copies in one rack
   die with its power feed or top-of-rack switch; copies in one zone go dark with the
   zone's data centres. :class:`Placement` implements three policies:

   - ``random``: distinct hosts chosen uniformly (the only rule: never two pieces of a
     chunk on one host);
   - ``rack-aware``: for copies, exactly HDFS's ``BlockPlacementPolicyDefault``: the first
     replica on the writer's node if it is a datanode, else on a random node; the second
     on a node in a *different* rack; the third on a *different node in the second's rack*
     (so three copies span exactly two racks: one rack failure never takes all three,
     and the write pipeline crosses racks only once); more replicas on random nodes,
     at most ``(replicas - 1) // racks + 2`` per rack (``getMaxNodesPerRack``). For
     erasure-coded chunks it spreads fragments over racks as evenly as possible, as
     HDFS's ``BlockPlacementPolicyRackFaultTolerant`` does for EC block groups.
   - ``zone-aware``: one piece per availability zone while zones last, then spread over
     racks, the way regional object stores (S3 Standard, Azure ZRS) keep
     data in at least three zones so a whole zone can go.
3. *How fast is redundancy restored after a loss?* That is the store's repair loop
   (:mod:`cloudquest.cloud.storage`, which also re-spreads chunks that repairs left
   badly placed); this module supplies the priority (fewest live pieces first) and the
   durability model that turns disk failure rates and repair time into "nines", for
   independent disk failures only.

Where the game simplifies: HDFS also weighs node load (``considerLoad``), storage types
and stale nodes when choosing; here a host qualifies if it is up, not degraded, not
being drained, and has a healthy disk with room.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .hardware import Hardware, Host, Rack

POLICIES = ("random", "rack-aware", "zone-aware")
MAX_REPLICATION = 16

# Backblaze Drive Stats for 2023: 4,189 of ~270,000 data drives failed in the year,
# an annualized failure rate (AFR) of 1.70% (1.37% in 2022, 1.01% in 2021).
BACKBLAZE_2023_AFR_PCT = 1.70
HOURS_PER_YEAR = 8760
MAX_NINES = 20.0  # beyond this the model's independence assumption means nothing


class Scheme(Protocol):
    """What the store needs to know about a protection scheme (copies or RS)."""

    erasure: bool
    width: int  # pieces per chunk
    need: int  # pieces needed to read it
    tolerates: int  # pieces it may lose

    @property
    def overhead(self) -> float: ...
    @property
    def label(self) -> str: ...
    def piece_bytes(self, chunk_bytes: int) -> int: ...
    def role(self, slot: int) -> str: ...


@dataclass(frozen=True)
class Replication:
    """N whole copies of every chunk: any one reads it, N-1 may be lost."""

    n: int
    # derived, stored as plain attributes because the store reads them per chunk
    width: int = field(init=False, repr=False, compare=False)
    need: int = field(init=False, repr=False, compare=False)
    tolerates: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 1 <= self.n <= MAX_REPLICATION:
            raise ValueError(f"replication factor must be 1..{MAX_REPLICATION}, not {self.n}")
        object.__setattr__(self, "width", self.n)
        object.__setattr__(self, "need", 1)
        object.__setattr__(self, "tolerates", self.n - 1)

    erasure = False

    @property
    def overhead(self) -> float:
        return float(self.n)

    @property
    def label(self) -> str:
        return f"{self.n}x replication"

    def piece_bytes(self, chunk_bytes: int) -> int:
        return chunk_bytes

    def role(self, slot: int) -> str:
        return "replica"


def max_nodes_per_rack(total: int, racks: int) -> int:
    """HDFS ``BlockPlacementPolicyDefault.getMaxNodesPerRack``: ``(total-1)//racks + 2``,
    one less if that would allow every replica in one rack; no limit with one rack."""
    if racks <= 1 or total <= 1:
        return total
    limit = (total - 1) // racks + 2
    if limit == total:
        limit -= 1
    return limit


class NotEnoughTargets(Exception):
    """No host in the scope passed the checks (HDFS's NotEnoughReplicasException)."""


Good = Callable[["Host"], bool]


class Placement:
    """Chooses hosts for new pieces of one chunk, given the pieces it already has.

    ``good(host)`` is the store's test that a host may take the piece (up, not degraded
    or draining, a disk with room, no piece of this chunk yet); its answer for a host
    must not change during one :meth:`choose` (the store commits space only after
    it returns), so a policy may ask it once per host. :meth:`choose` returns
    up to ``count`` new hosts in choice order; fewer when the cluster cannot provide
    them (the caller decides whether that is an error or a repair to retry later).
    """

    def __init__(self, hardware: "Hardware", rng: random.Random) -> None:
        self.rng = rng
        self.hosts: list[Host] = list(hardware.hosts.values())
        # each host with its zone and rack, read for every host on every spread piece
        self._domains: list[tuple[Host, str, str, str]] = [(h, h.id, h.rack.zone.id, h.rack.id) for h in self.hosts]
        self._live: tuple[int, int] | None = None

    def invalidate(self) -> None:
        """Forget the cached count of live hosts and racks (call on any health change)."""
        self._live = None

    def live_counts(self) -> tuple[int, int]:
        """(hosts up, racks with a host up): HDFS's cluster map holds live nodes only."""
        if self._live is None:
            up = [h for h in self.hosts if h.up]
            self._live = (len(up), len({h.rack.id for h in up}))
        return self._live

    # -- entry point ---------------------------------------------------------------------
    def choose(
        self,
        policy: str,
        erasure: bool,
        count: int,
        chosen: list["Host"],
        good: Good,
        writer: "Host | None",
        new_block: bool,
    ) -> list["Host"]:
        if policy == "random":
            return self._random(count, chosen, good)
        if policy == "rack-aware":
            if erasure:
                return self._spread(count, chosen, good, by_zone=False)
            return self._hdfs_default(count, chosen, good, writer, new_block)
        if policy == "zone-aware":
            return self._spread(count, chosen, good, by_zone=True)
        raise ValueError(f"unknown placement policy {policy!r} (policies: {', '.join(POLICIES)})")

    # -- building blocks -----------------------------------------------------------------
    def _pick(self, pool: list["Host"], ok: Good) -> "Host":
        """A uniformly random host of ``pool`` that passes ``ok``.

        Rejection sampling first (cheap while most hosts qualify), then an exact filter;
        both are uniform over the qualifying hosts, and both draw from the one seeded rng.
        """
        n = len(pool)
        rand = self.rng.random  # int(random() * n): uniform, and cheaper than randrange
        for _ in range(min(n, 8)):
            h = pool[int(rand() * n)]
            if ok(h):
                return h
        cands = [h for h in pool if ok(h)]
        if not cands:
            raise NotEnoughTargets
        return cands[int(rand() * len(cands))]

    def _random(self, count: int, chosen: list["Host"], good: Good) -> list["Host"]:
        taken = {h.id for h in chosen}
        out: list[Host] = []
        for _ in range(count):
            try:
                h = self._pick(self.hosts, lambda h: h.id not in taken and good(h))
            except NotEnoughTargets:
                break
            taken.add(h.id)
            out.append(h)
        return out

    def _spread(self, count: int, chosen: list["Host"], good: Good, by_zone: bool) -> list["Host"]:
        """Each new piece goes to a qualifying host in the failure domain holding the
        fewest pieces so far (zone first if ``by_zone``, then rack), ties at random.

        The store's test is the costly part, so a host is tested only if its domains
        are no more crowded than the best found so far, and once at most: its answer
        cannot change within one choice (nothing is committed before the caller has
        all of it). The pool is the one testing every host would give, in the same
        order, so the draw is the same too."""
        results = list(chosen)
        taken = {h.id for h in results}
        zone_n: dict[str, int] = {}
        rack_n: dict[str, int] = {}
        for h in results:
            zone_n[h.rack.zone.id] = zone_n.get(h.rack.zone.id, 0) + 1
            rack_n[h.rack.id] = rack_n.get(h.rack.id, 0) + 1
        tested: dict[str, bool] = {}
        out: list[Host] = []
        for _ in range(count):
            best: tuple[int, int] | None = None
            pool: list[Host] = []
            for h, hid, zone, rack in self._domains:
                if hid in taken:
                    continue
                key = (zone_n.get(zone, 0) if by_zone else 0, rack_n.get(rack, 0))
                if best is not None and key > best:
                    continue
                ok = tested.get(hid)
                if ok is None:
                    ok = tested[hid] = good(h)
                if not ok:
                    continue
                if best is None or key < best:
                    best, pool = key, [h]
                else:
                    pool.append(h)
            if not pool:
                break
            h = pool[int(self.rng.random() * len(pool))]
            taken.add(h.id)
            zone_n[h.rack.zone.id] = zone_n.get(h.rack.zone.id, 0) + 1
            rack_n[h.rack.id] = rack_n.get(h.rack.id, 0) + 1
            out.append(h)
        return out

    def _hdfs_default(
        self,
        count: int,
        chosen: list["Host"],
        good: Good,
        writer: "Host | None",
        new_block: bool,
    ) -> list["Host"]:
        """HDFS ``BlockPlacementPolicyDefault.chooseTarget`` / ``chooseTargetInOrder``.

        ``chosen`` are the replicas that already exist (for re-replication HDFS passes
        the live replicas and ``newBlock=false``, with the source node as writer).
        """
        results = list(chosen)
        taken = {h.id for h in results}
        cluster_size, racks_live = self.live_counts()
        total = len(results) + count
        if total > cluster_size:
            count -= total - cluster_size
            total = cluster_size
        if count <= 0:
            return []
        limit = max_nodes_per_rack(total, racks_live)
        per_rack: dict[str, int] = {}
        for h in results:
            per_rack[h.rack.id] = per_rack.get(h.rack.id, 0) + 1

        def ok(h: "Host") -> bool:
            return h.id not in taken and per_rack.get(h.rack.id, 0) < limit and good(h)

        def add(h: "Host") -> "Host":
            taken.add(h.id)
            per_rack[h.rack.id] = per_rack.get(h.rack.id, 0) + 1
            results.append(h)
            return h

        def random_in(scope_rack: "Rack | None" = None, not_rack: "Rack | None" = None) -> "Host":
            if scope_rack is not None:
                return add(self._pick(scope_rack.hosts, ok))
            if not_rack is not None:
                return add(self._pick(self.hosts, lambda h: h.rack is not not_rack and ok(h)))
            return add(self._pick(self.hosts, ok))

        def local_rack(local: "Host | None") -> "Host":
            # chooseLocalRack: the local machine's rack; failing that the rack of the
            # next replica; failing that anywhere.
            if local is None:
                return random_in()
            try:
                return random_in(scope_rack=local.rack)
            except NotEnoughTargets:
                for nxt in results:
                    if nxt is not local:
                        try:
                            return random_in(scope_rack=nxt.rack)
                        except NotEnoughTargets:
                            return random_in()
                return random_in()

        def remote_rack(local: "Host") -> "Host":
            # chooseRemoteRack: any rack but the local one; failing that the local rack.
            try:
                return random_in(not_rack=local.rack)
            except NotEnoughTargets:
                return random_in(scope_rack=local.rack)

        if not new_block and writer is None and results:
            writer = results[0]
        n0 = len(chosen)
        try:
            if n0 == 0:
                # chooseLocalStorage: the writer's own node, else its rack, else random.
                if writer is not None and ok(writer):
                    add(writer)
                else:
                    local_rack(writer)
                writer = results[0]
                count -= 1
                if count == 0:
                    return results[n0:]
            dn0 = results[0]
            if n0 <= 1:
                remote_rack(dn0)
                count -= 1
                if count == 0:
                    return results[n0:]
            if n0 <= 2:
                dn1 = results[1]
                if dn0.rack is dn1.rack:
                    remote_rack(dn0)
                elif new_block:
                    local_rack(dn1)
                else:
                    local_rack(writer)
                count -= 1
                if count == 0:
                    return results[n0:]
            for _ in range(count):
                random_in()
        except NotEnoughTargets:
            pass  # HDFS logs "not enough replicas" and returns what it found
        return results[n0:]


# -- durability ----------------------------------------------------------------------------
def loss_in_window(n: int, need: int, p: float) -> float:
    """Probability that more than ``n - need`` of ``n`` disks fail within one repair
    window, each independently with probability ``p`` (a binomial tail)."""
    if n < need:
        return 1.0
    q = 1.0 - p
    return sum(math.comb(n, k) * p**k * q ** (n - k) for k in range(n - need + 1, n + 1))


def annual_loss_probability(groups: Mapping[tuple[int, int], int], afr_pct: float, repair_hours: float) -> float:
    """Chance that at least one chunk is lost within a year.

    The model Backblaze published for its Vault durability (Poisson/binomial over repair
    windows): a disk fails within one repair window of ``repair_hours`` with probability
    ``p = AFR * repair_hours / 8760``; a placement group of ``n`` disks that needs
    ``need`` of them loses data when more than ``n - need`` fail in the same window;
    a year holds ``8760 / repair_hours`` windows. ``groups`` counts the *distinct* sets
    of disks that hold a chunk, by ``(n, need)``: two chunks on the same disks fail
    together, so the number of distinct sets (Cidon et al.'s copysets, USENIX ATC 2013)
    rather than the number of chunks is what multiplies the risk.

    Independent disk failures only: correlated failures (a rack's power, a zone) are
    what placement policy defends against and are not in this number.
    """
    if not groups:
        return 0.0
    repair_hours = max(repair_hours, 1e-6)
    p = min(1.0, afr_pct / 100 * repair_hours / HOURS_PER_YEAR)
    windows = HOURS_PER_YEAR / repair_hours
    log_survive = 0.0
    for (n, need), count in groups.items():
        w = loss_in_window(n, need, p)
        if w >= 1.0:
            return 1.0
        log_survive += count * windows * math.log1p(-w)
    return -math.expm1(log_survive)


def nines(p_loss: float) -> float:
    """Durability as nines: 0.99999 -> 5.0. Capped at :data:`MAX_NINES`."""
    if p_loss <= 0.0:
        return MAX_NINES
    if p_loss >= 1.0:
        return 0.0
    return min(MAX_NINES, -math.log10(p_loss))
