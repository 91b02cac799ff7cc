"""Caches, and what they throw out when they are full.

A cache holds copies of objects up to a capacity (bytes here). When a new object does
not fit, the *eviction policy* picks what leaves:

- **LRU**, least recently used: the object untouched for longest. Recency predicts
  reuse for most workloads, which is why it is the usual default.
- **FIFO**, first in, first out: the object cached longest ago, however popular. Cheap,
  and subject to Belady's anomaly: more room can mean *more* misses (Belady, Nelson and
  Shedler, CACM 1969, with the reference string 1 2 3 4 1 2 5 1 2 3 4 5: 9 faults with
  3 frames, 10 with 4).
- **LFU**, least frequently used: the object requested fewest times (ties: the least
  recent), in O(1) per operation with frequency buckets (Shah, Mitra and Matani, 2010).
  Good when popularity is stable, as under a Zipf distribution.
- **OPT** (Belady's MIN, 1966): evict the object whose next use is furthest in the
  future. It needs the future, so no real cache runs it; it is the yardstick, and only
  :func:`faults` offers it.

The textbook example (Silberschatz, Galvin and Gagne, *Operating System Concepts*): the
reference string 7 0 1 2 0 3 0 4 2 3 0 3 2 1 2 0 1 7 0 1 with three frames gives 15
faults under FIFO, 12 under LRU and 9 under OPT.

:class:`Cache`, :func:`faults` and :func:`hits` run a reference string request by request,
exactly. A CDN sees millions of requests a day, so the edge network (cloud/edge.py) uses
the published *analytical* models of the same caches instead, here beside the exact ones,
for objects requested independently as Poisson streams (the independent reference model):

- **LRU**: Che, Tung and Wang (IEEE JSAC 20(7), 2002): a cache of capacity C behaves as
  if each object stayed exactly a *characteristic time* T_C after its last request, T_C
  solving ``sum(size_i * (1 - exp(-rate_i * T_C))) = C``; object i is then in the cache
  with probability ``1 - exp(-rate_i * T_C)``, which is also its hit probability.
  Fricker, Robert and Roberts (ITC 2012) explain why the approximation is so accurate
  (within a few percent even for small caches), :func:`che_characteristic_time`.
- **FIFO** (and random replacement): Martina, Garetto and Leonardi (INFOCOM 2014): the
  same idea with ``rate_i * T / (1 + rate_i * T)`` in place of ``1 - exp(-rate_i * T)``.
- **LFU** under popularity that does not change: the most popular objects that fit stay,
  every other is evicted at the next miss (:func:`lfu_resident`).
- **TTL caches**: Jung, Berger and Balakrishnan (INFOCOM 2003): a copy fetched on a miss
  stays fresh for TTL seconds; with Poisson requests the share of requests answered by a
  fresh copy is ``rate * TTL / (1 + rate * TTL)`` (:func:`ttl_hit_probability`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Literal, get_args

Policy = Literal["lru", "fifo", "lfu"]
POLICIES: tuple[str, ...] = get_args(Policy)
ANALYSED = POLICIES + ("opt",)


class Cache:
    """A byte-capacity cache. ``get`` returns the stored value (or None) and tells the
    policy the object was used; ``put`` stores a value, evicting as the policy says."""

    __slots__ = ("capacity", "policy", "used", "evictions", "_data", "_sizes", "_freq", "_buckets", "_min")

    def __init__(self, capacity: int, policy: str = "lru") -> None:
        if policy not in POLICIES:
            raise ValueError(f"no eviction policy {policy!r} (policies: {', '.join(POLICIES)})")
        self.capacity = capacity
        self.policy = policy
        self.used = 0
        self.evictions = 0
        # key -> value, in the policy's order (oldest first); the sizes beside it, so that
        # a lookup reaches the value in one step
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._sizes: dict[Hashable, int] = {}
        self._freq: dict[Hashable, int] = {}
        self._buckets: dict[int, OrderedDict[Hashable, None]] = {}
        self._min = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._data

    def keys(self) -> list[Hashable]:
        return list(self._data)

    def peek(self, key: Hashable) -> Any:
        """The value without telling the policy (None if absent)."""
        return self._data.get(key)

    def get(self, key: Hashable) -> Any:
        found = self._data.get(key)
        if found is not None:
            self.touch(key)
        return found

    def touch(self, key: Hashable) -> None:
        """Tell the policy that an object the cache holds was used: LRU moves it to the
        back, LFU counts it, FIFO does nothing."""
        if self.policy == "lru":
            self._data.move_to_end(key)
        elif self.policy == "lfu":
            self._bump(key)

    def put(self, key: Hashable, size: int, value: Any) -> None:
        """Store (or replace) an object; one larger than the whole cache is not kept."""
        data, sizes = self._data, self._sizes
        old = sizes.get(key)
        if old is not None:
            self.used += size - old
            data[key] = value
            sizes[key] = size
            if self.policy == "lru":
                data.move_to_end(key)
            elif self.policy == "lfu":
                self._bump(key)
        else:
            if size > self.capacity:
                return
            data[key] = value
            sizes[key] = size
            self.used += size
            if self.policy == "lfu":
                self._freq[key] = 1
                self._buckets.setdefault(1, OrderedDict())[key] = None
                self._min = 1
        if self.used > self.capacity:
            self._make_room(key)

    def _make_room(self, protect: Hashable) -> None:
        """Evict until the cache fits again, never the object just stored."""
        if self.policy == "lfu":
            while self.used > self.capacity:
                self._evict(protect)
            return
        data = self._data
        while self.used > self.capacity and len(data) > 1:
            key, value = data.popitem(last=False)  # the oldest: least recent (LRU) or first in (FIFO)
            if key == protect:  # keep it: it goes back to the end, the next oldest goes
                data[key] = value
                key, value = data.popitem(last=False)
            self.used -= self._sizes.pop(key)
            self.evictions += 1

    def discard(self, key: Hashable) -> bool:
        size = self._sizes.pop(key, None)
        if size is None:
            return False
        del self._data[key]
        self.used -= size
        if self.policy == "lfu":
            f = self._freq.pop(key)
            bucket = self._buckets[f]
            del bucket[key]
            if not bucket:
                del self._buckets[f]
        return True

    def set_policy(self, policy: str) -> None:
        """Change the policy, keeping the contents (LFU starts every count at one)."""
        if policy not in POLICIES:
            raise ValueError(f"no eviction policy {policy!r} (policies: {', '.join(POLICIES)})")
        self.policy = policy
        self._freq, self._buckets, self._min = {}, {}, 0
        if policy == "lfu" and self._data:
            self._freq = dict.fromkeys(self._data, 1)
            self._buckets = {1: OrderedDict.fromkeys(self._data)}
            self._min = 1

    # -- LFU bookkeeping -------------------------------------------------------------------
    def _bump(self, key: Hashable) -> None:
        f = self._freq[key]
        bucket = self._buckets[f]
        del bucket[key]
        if not bucket:
            del self._buckets[f]
            if self._min == f:
                self._min = f + 1
        self._freq[key] = f + 1
        self._buckets.setdefault(f + 1, OrderedDict())[key] = None

    def _evict(self, protect: Hashable) -> None:
        victim: Hashable | None = None
        if self.policy == "lfu":
            order = [self._min] if self._min in self._buckets else []
            for f in order + sorted(self._buckets):
                victim = next((k for k in self._buckets[f] if k != protect), None)
                if victim is not None:
                    break
        else:
            victim = next((k for k in self._data if k != protect), None)
        if victim is None:  # only the object being stored is left
            return
        self.discard(victim)
        self.evictions += 1


def faults(refs: Sequence[Hashable], frames: int, policy: str) -> int:
    """Page faults (misses) of a reference string with ``frames`` equal slots."""
    if frames < 1:
        raise ValueError("a cache needs at least one frame")
    if policy == "opt":
        return _optimal(refs, frames)
    cache = Cache(frames, policy)
    misses = 0
    for r in refs:
        if cache.get(r) is None:
            misses += 1
            cache.put(r, 1, True)
    return misses


def _optimal(refs: Sequence[Hashable], frames: int) -> int:
    """Belady's MIN: on a fault with every frame full, evict the page used furthest in the
    future (or never again; ties by the earliest loaded)."""
    held: list[Hashable] = []
    misses = 0
    for i, r in enumerate(refs):
        if r in held:
            continue
        misses += 1
        if len(held) < frames:
            held.append(r)
            continue
        future = list(refs[i + 1 :])

        def next_use(page: Hashable) -> int:
            return future.index(page) if page in future else len(future) + 1

        victim = max(held, key=next_use)
        held[held.index(victim)] = r
    return misses


def parse_refs(text: str) -> list[str]:
    """``1,2,3`` or ``1 2 3`` -> a reference string (ValueError if empty or too long)."""
    items = [x for x in text.replace(",", " ").split() if x]
    if not items:
        raise ValueError("give a reference string such as 1,2,3,4,1,2,5")
    if len(items) > 1000:
        raise ValueError("a reference string of at most 1000 references")
    return items


def hits(refs: Iterable[Hashable], frames: int, policy: str) -> int:
    refs = list(refs)
    return len(refs) - faults(refs, frames, policy)


# -- the analytical models --------------------------------------------------------------------
def presence(policy: str, x: float) -> float:
    """The probability that an object requested ``x`` times on average per characteristic
    time (``x = rate * T``) is in the cache: LRU ``1 - exp(-x)`` (Che et al.), FIFO and
    random ``x / (1 + x)`` (Martina et al.)."""
    if policy == "fifo":
        return x / (1.0 + x)
    return -math.expm1(-x)


def characteristic_time(rates: Sequence[float], sizes: Sequence[float], capacity: float, policy: str = "lru") -> float:
    """The characteristic time T (seconds) of an LRU or FIFO cache of ``capacity`` bytes
    under Poisson request ``rates`` (per second) for items of ``sizes`` bytes: the T that
    fills the cache in expectation, ``sum(size_i * presence(rate_i * T)) = capacity``;
    ``math.inf`` if everything requested fits (nothing is ever evicted)."""
    if policy not in ("lru", "fifo"):
        raise ValueError(f"no characteristic time for {policy!r} (lru or fifo)")
    wanted = [(r, s) for r, s in zip(rates, sizes) if r > 0]
    if sum(s for _, s in wanted) <= capacity:
        return math.inf

    def filled(t: float) -> float:
        return sum(s * presence(policy, r * t) for r, s in wanted)

    lo, hi = 0.0, 1.0
    while filled(hi) < capacity:
        lo, hi = hi, hi * 4
    for _ in range(60):  # the fill grows with T: bisect to the last bits that matter
        mid = (lo + hi) / 2
        if filled(mid) < capacity:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return hi


def che_characteristic_time(rates: Sequence[float], sizes: Sequence[float], capacity: float) -> float:
    """Che's characteristic time of an LRU cache (Che, Tung and Wang, 2002)."""
    return characteristic_time(rates, sizes, capacity, "lru")


def lfu_resident(rates: Sequence[float], sizes: Sequence[float], capacity: float) -> list[float]:
    """The share of each item an LFU cache keeps when popularity does not change: the
    items by falling rate while they fit (the one that straddles the edge in part), none
    after; an item never requested is not kept."""
    out = [0.0] * len(rates)
    room = capacity
    for i in sorted(range(len(rates)), key=lambda i: (-rates[i], i)):
        if rates[i] <= 0 or room <= 0:
            break
        take = min(1.0, room / sizes[i]) if sizes[i] > 0 else 1.0
        out[i] = take
        room -= sizes[i] * take
    return out


def ttl_hit_probability(rate: float, ttl: float) -> float:
    """The share of requests a TTL cache answers from a fresh copy (Jung, Berger and
    Balakrishnan, 2003): a miss fetches a copy that is fresh for ``ttl`` seconds, then
    the next request after it expires misses again: ``rate*ttl / (1 + rate*ttl)``."""
    if rate <= 0 or ttl <= 0:
        return 0.0
    return rate * ttl / (1.0 + rate * ttl)
