"""Edge locations: a content delivery network in front of an origin, as CloudFront runs one.

Users are spread over the world; the origin (the service's own servers) sits in one
region. Between them the provider runs **edge locations** (points of presence, PoPs:
CloudFront has hundreds, in over 90 cities) with caches close to users, and a few
**regional edge caches** (RECs) with bigger caches behind them. What the game models:

- **Routing.** A user reaches the nearest healthy PoP by latency (CloudFront's DNS
  answers with a nearby edge). A client keeps its DNS answer for ``dns_ttl_s``, so when
  a PoP dies its users fail until they resolve again. A distribution's **price class**
  limits which PoPs it uses: ``100`` (North America, Europe), ``200`` (adds Asia,
  Middle East, Africa), ``all`` (adds South America, Oceania).
- **The cache path.** A request that misses at its PoP goes to the PoP's REC, then (with
  an **origin shield**: one REC chosen as the single door to the origin) to the shield,
  then to the origin.
- **How long a copy is fresh** follows the CloudFront Developer Guide's table
  ("Specifying the amount of time that CloudFront caches objects"), in
  :func:`cloudfront_ttl`: ``Cache-Control: s-maxage`` beats ``max-age``, which beats
  ``Expires``; the value is clamped between the cache behaviour's minimum and maximum
  TTL (with minimum TTL 0: the lesser of the value and the maximum); without any of
  them the default TTL applies (at least the minimum); ``no-cache``/``no-store``/
  ``private`` are respected when the minimum TTL is 0 and overridden by it otherwise.
  The defaults are CloudFront's: minimum 0, default 86,400 s (a day), maximum
  31,536,000 s (a year). A copy's age travels with it (HTTP's ``Age``), so a PoP that
  fetches from its REC keeps it only for what is left of its freshness.
- **Revalidation.** An expired copy is not thrown away: the next request asks upstream
  whether it changed (a conditional GET). If not, the origin answers ``304 Not
  Modified`` with no body and the copy is fresh again (a *refresh hit*).
- **Invalidation** removes matching objects from every cache; it takes time to reach
  every PoP (``invalidation_s``), and past the first 1,000 paths each month every path
  costs $0.005 (a ``*`` wildcard path counts as one path, however much it matches).
- **Eviction** when a cache is full: LRU by default, FIFO and LFU to compare. CloudFront
  does not let customers choose; the game does, to show the trade.
- **Popularity** follows a Zipf law within each content group (the k-th most popular
  object is asked for in proportion to 1/k^alpha; Breslau et al., INFOCOM 1999, measured
  alpha from 0.64 to 0.83 for web traffic); object sizes are drawn from the session's
  seeded generator.

**Requests are counted in expectation, not drawn one by one** (a day is 43 million of
them). Each object has a request rate at each cache (its users' requests per second,
times its group's share, times its Zipf weight), and each cache follows the published
analytical model of its policy (cloud/caching.py, beside the exact caches ``edge trace``
runs): Che's characteristic time for LRU (Che, Tung and Wang, IEEE JSAC 2002), Martina,
Garetto and Leonardi's for FIFO (INFOCOM 2014), the most popular objects that fit for LFU;
the misses of a cache are the requests of the next one up, as Che et al. treat a
hierarchy. Copies expire as in Jung, Berger and Balakrishnan's TTL cache (INFOCOM 2003): a
share ``1/(1 + rate*TTL)`` of an object's requests finds its copy expired and asks
upstream; a revalidation of an unchanged object is a 304 (a *refresh hit*, no body).
Transients are windows (:class:`CacheModel`): a cache emptied by an invalidation or never
used for an object has seen only the requests since, and none of its copies expire within
a TTL of it. A group's objects are modelled in classes of neighbouring popularity (its
first 16 one by one, then ranks r to 1.25 r together), which changes hit ratios by well
under a percent. Expected counts become whole requests by carrying fractions (in fixed
point, so a stretch of equal steps is one product and the fast-forward is exact).
**Staleness** (``edge_stale_s``) is how late the oldest copies served were, counted while
at least one request a step gets them: the copies served were fetched evenly over the last
TTL (their age travels with them, HTTP's ``Age``), and those fetched before a change are
out of date.
Latency is distance: light in fibre covers about 200 km per millisecond, and a path
is longer than the great circle (``user_stretch`` over the users' ISPs, 1.5 on the
provider's backbone), plus the user's last mile and the origin's own response time.
``p50``/``p95`` are over the last five simulated minutes, per user area.

While a cache is in a transient (refilling after an invalidation, taking on moved users),
its answers are worked out every step at first and then every eighth of the transient's
age (``REFRESH_DIVISOR``), and held between: a day of refilling is about eighty workings-
out, not 17,280, and a day's origin requests come within a fraction of a percent of
working them out every step.

Where the game simplifies: requests are Poisson streams counted in expectation (above),
each cache's timer is its own when counting revalidations (a copy's remaining freshness is
used for staleness only), every object of a group has the same headers, caches hold whole
objects, a PoP fails only as a whole, and prices of data transfer and requests are left
out.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import Field, model_validator

from .caching import Policy, characteristic_time, lfu_resident, presence, ttl_hit_probability
from .hardware import Health
from .mechanism import Metric, events, metrics
from .world import CoreWorld, Strict

if TYPE_CHECKING:
    from .cloud import Cloud

PriceClass = Literal["100", "200", "all"]
PRICE_CLASSES: tuple[str, ...] = get_args(PriceClass)
CLASS_RANK = {"100": 0, "200": 1, "all": 2}
MIN_TTL, DEFAULT_TTL, MAX_TTL = 0, 86_400, 31_536_000  # CloudFront's defaults, seconds
FREE_INVALIDATION_PATHS = 1000  # each month
USD_PER_INVALIDATION_PATH = 0.005
FIBRE_KM_PER_MS = 200.0
BACKBONE_STRETCH = 1.5
WINDOW_MS = 300_000  # percentiles and origin load over the last five minutes
BUCKET_MS = 60_000
GIB = 1 << 30
KIB = 1024
NAME = r"^[a-z][a-z0-9-]{0,31}$"


def cloudfront_ttl(
    min_ttl: int,
    default_ttl: int,
    max_ttl: int,
    *,
    max_age: int | None = None,
    s_maxage: int | None = None,
    expires_in: int | None = None,
    no_cache: bool = False,
) -> int:
    """How long CloudFront keeps an object fresh, in seconds (0: it does not cache it
    and revalidates every request). The Developer Guide's expiration table."""
    for name, v in (("min_ttl", min_ttl), ("default_ttl", default_ttl), ("max_ttl", max_ttl)):
        if v < 0:
            raise ValueError(f"{name} cannot be negative ({v})")
    for name, v in (("max-age", max_age), ("s-maxage", s_maxage)):
        if v is not None and v < 0:
            raise ValueError(f"{name} cannot be negative ({v})")
    if not min_ttl <= default_ttl <= max_ttl:
        raise ValueError(f"the TTLs must be minimum <= default <= maximum (not {min_ttl}, {default_ttl}, {max_ttl})")
    if no_cache and max_age is None and s_maxage is None:
        return min_ttl  # respected (0) unless the minimum TTL overrides it
    directive = s_maxage if s_maxage is not None else max_age
    if directive is None and expires_in is not None:
        directive = max(0, expires_in)  # an Expires date already past counts as 0
    if directive is None:
        return max(min_ttl, default_ttl)
    return min(max(directive, min_ttl), max_ttl)


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (lat1, lon1, lat2, lon2))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


# -- the world section ----------------------------------------------------------------------
class Place(Strict):
    city: str = Field(min_length=1, max_length=40)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class OriginSpec(Place):
    response_ms: float = Field(default=40, ge=0, le=60_000)


class RegionalCacheSpec(Place):
    name: str = Field(pattern=NAME)
    cache_gib: float = Field(default=100, gt=0, le=1_000_000)


class PopSpec(Place):
    name: str = Field(pattern=NAME)
    cache_gib: float = Field(default=10, gt=0, le=1_000_000)
    price_class: PriceClass = Field(default="100", description="the cheapest price class that includes it")
    regional: str | None = Field(default=None, description="its regional edge cache")


class UserSpec(Place):
    area: str = Field(pattern=NAME, description="the group its latency is reported in (europe, oceania, ...)")
    rps: float = Field(gt=0, le=1_000_000)


class ContentSpec(Strict):
    """A group of objects that share a path pattern, headers and a cache behaviour."""

    name: str = Field(pattern=NAME)
    path: str = Field(pattern=r"^/[A-Za-z0-9._/-]*\*?$", description="/prices, or /img/* for many objects")
    objects: int = Field(default=1, ge=1, le=2_000_000)
    size_kib: float = Field(default=100, gt=0, le=10_000_000, description="mean object size")
    share_pct: float = Field(gt=0, le=100, description="its share of all requests")
    zipf: float = Field(default=0.8, ge=0, le=3, description="popularity skew: weight 1/rank^zipf")
    max_age_s: int | None = Field(default=None, description="Cache-Control: max-age the origin sends")
    s_maxage_s: int | None = Field(default=None, description="Cache-Control: s-maxage (for shared caches)")
    expires_s: int | None = Field(default=None, description="an Expires date this long after the response")
    no_cache: bool = False
    changes_every_s: float | None = Field(default=None, gt=0, description="the origin publishes a new version this often")
    changes_at_s: list[float] = Field(default_factory=list, description="... or at these times (a deploy)")
    min_ttl_s: int = Field(default=MIN_TTL, description="its cache behaviour's minimum TTL")
    default_ttl_s: int = DEFAULT_TTL
    max_ttl_s: int = MAX_TTL

    @model_validator(mode="after")
    def _ttls(self) -> "ContentSpec":
        if self.objects > 1 and not self.path.endswith("*"):
            raise ValueError(f"content {self.name}: many objects need a path ending in * (such as /img/*)")
        try:
            cloudfront_ttl(self.min_ttl_s, self.default_ttl_s, self.max_ttl_s, max_age=self.max_age_s, s_maxage=self.s_maxage_s)
        except ValueError as exc:
            raise ValueError(f"content {self.name}: {exc}") from None
        return self


class EdgeSpec(Strict):
    """A content delivery network: users, PoPs, regional caches, an origin, the content."""

    origin: OriginSpec
    pops: list[PopSpec] = Field(min_length=1)
    regional_caches: list[RegionalCacheSpec] = Field(default_factory=list)
    users: list[UserSpec] = Field(min_length=1)
    content: list[ContentSpec] = Field(min_length=1)
    eviction: Policy = "lru"
    price_class: PriceClass = "all"
    origin_shield: str | None = Field(default=None, description="a regional cache every miss goes through")
    dns_ttl_s: int = Field(default=60, ge=0, le=86_400)
    invalidation_s: int = Field(default=60, ge=0, le=3600, description="how long an invalidation takes to reach every PoP")
    invalidation_paths_used: int = Field(default=0, ge=0, le=10_000_000, description="paths already invalidated this month")
    warm: bool = Field(default=True, description="the caches start full of the most popular objects (the service has been running)")
    user_stretch: float = Field(default=1.6, ge=1, le=10, description="a user's path over the great circle")
    last_mile_ms: float = Field(default=5, ge=0, le=1000)

    @model_validator(mode="after")
    def _refs(self) -> "EdgeSpec":
        recs = {r.name for r in self.regional_caches}
        names = [p.name for p in self.pops] + [r.name for r in self.regional_caches]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"edge: names used twice: {', '.join(dupes)}")
        for p in self.pops:
            if p.regional is not None and p.regional not in recs:
                raise ValueError(f"edge pop {p.name}: no regional cache {p.regional!r} (regional caches: {', '.join(sorted(recs)) or 'none'})")
        if self.origin_shield is not None and self.origin_shield not in recs:
            raise ValueError(f"edge origin_shield: no regional cache {self.origin_shield!r}")
        groups = [c.name for c in self.content]
        if len(set(groups)) != len(groups):
            raise ValueError("edge content names must be unique")
        total = sum(c.share_pct for c in self.content)
        if abs(total - 100) > 1e-6:
            raise ValueError(f"edge content shares must add up to 100 (they add up to {total:g})")
        return self

    def part_ids(self, world: CoreWorld) -> dict[str, set[str]]:
        """The points of presence a timeline may fail."""
        return {"pop": {p.name for p in self.pops}}


# -- state ------------------------------------------------------------------------------------
SINGLE_RANKS = 16  # a group's most popular objects are modelled one by one
CLASS_RATIO = 1.25  # past them, one class of objects spans the ranks r .. 1.25 r
FP_BITS = 24  # expected counts are added in fixed point, so k equal steps are one product
FP_MASK = (1 << FP_BITS) - 1
# While a cache is in a transient (filling after a cold start or an invalidation, taking
# on moved users), its answers are worked out again every step at first, then less often:
# every (time since the transient began) / REFRESH_DIVISOR, in whole steps.
REFRESH_DIVISOR = 8
NEVER = 1 << 62  # ms: a refresh that is not due (the caches are steady)
STALE_MIN_REQUESTS = 1.0  # a lateness counts if a step serves this many requests at least that late


@dataclass(eq=False)
class ObjectClass:
    """Objects of one group with nearly the same popularity, modelled together: each is
    requested at ``weight / count`` of its group's rate. A group's first objects are a
    class each; an invalidation of some objects of a class splits it."""

    members: range | tuple[int, ...]  # object indexes (rank - 1)
    weight: float  # the class's share of its group's requests
    nbytes: int  # all its objects' sizes
    purged_ms: int | None = None  # when an invalidation last removed its objects

    @property
    def count(self) -> int:
        return len(self.members)


def object_classes(zipf: float, sizes: list[int], norm: float | None = None) -> list[ObjectClass]:
    """A group's objects by popularity rank: the first ``SINGLE_RANKS`` alone, then classes
    whose last rank is about ``CLASS_RATIO`` times their first (a Zipf weight changes by
    under 25% inside one, so a class stands for its objects within a fraction of a percent).
    ``norm`` is the sum of the weights, if the caller has it already."""
    n = len(sizes)
    weights = [1.0 / (k**zipf) for k in range(1, n + 1)]
    if norm is None:
        norm = math.fsum(weights)
    out, first = [], 0
    while first < n:
        end = first + 1 if first < SINGLE_RANKS or n <= 4 * SINGLE_RANKS else min(n, max(first + 1, math.ceil(first * CLASS_RATIO)))
        out.append(ObjectClass(range(first, end), math.fsum(weights[first:end]) / norm, sum(sizes[first:end])))
        first = end
    return out


@dataclass(eq=False)
class Group:
    spec: ContentSpec
    index: int
    sizes: list[int]
    classes: list[ObjectClass] = field(default_factory=list)
    ttl_s: int = 0
    stale_max_s: float = 0.0
    cold_since_ms: int | None = None  # when its copies became cacheable (a TTL above 0), if after the start
    headers: dict[str, int | bool | None] = field(default_factory=dict)
    behaviour: dict[str, int] = field(default_factory=dict)
    changing: bool = field(init=False)  # whether the origin ever publishes new versions
    norm: float = field(init=False)  # the sum of the Zipf weights: object i's share is (i+1)^-zipf / norm
    published_ms: dict[int, int] = field(default_factory=dict, init=False, repr=False)  # changed_at_ms, remembered
    deploys: tuple[int, ...] = field(init=False, repr=False)  # deploys_ms, worked out once

    def __post_init__(self) -> None:
        self.changing = bool(self.spec.changes_every_s or self.spec.changes_at_s)
        self.norm = math.fsum(1.0 / (k**self.spec.zipf) for k in range(1, len(self.sizes) + 1))
        self.deploys = tuple(sorted(int(math.ceil(t * 1000)) for t in self.spec.changes_at_s))
        if not self.classes:
            self.classes = object_classes(self.spec.zipf, self.sizes, self.norm)

    @property
    def name(self) -> str:
        return self.spec.name

    def share_of(self, idx: int) -> float:
        """Object ``idx``'s share of the group's requests (Zipf: rank^-zipf, normalised)."""
        return 1.0 / ((idx + 1) ** self.spec.zipf) / self.norm

    def path_of(self, idx: int) -> str:
        p = self.spec.path
        return p[:-1] + str(idx) if p.endswith("*") else p

    def version(self, now_ms: int) -> int:
        """How many times the origin has changed the group's objects by now."""
        every = self.spec.changes_every_s
        n = int(now_ms // (every * 1000)) if every else 0
        return n + sum(1 for t in self.spec.changes_at_s if t * 1000 <= now_ms)

    def deploys_ms(self) -> list[int]:
        """When the deploys (``changes_at_s``) happen, in whole ms, in order."""
        return list(self.deploys)

    def unchanged(self, now_ms: int) -> float:
        """The chance that a copy which has just expired (fetched a TTL ago) is still the
        origin's current version, so that its revalidation is a 304: no deploy within the
        last TTL, and no periodic change (in expectation over the phase: 1 - TTL/period)."""
        ttl_ms = self.ttl_s * 1000
        if any(now_ms - ttl_ms < c <= now_ms for c in self.deploys):
            return 0.0
        every = self.spec.changes_every_s
        return max(0.0, 1.0 - ttl_ms / (every * 1000)) if every else 1.0

    def changed_at_ms(self, version: int) -> int:
        """When the origin published version ``version`` (the first change after a copy
        of ``version - 1``): the ``version``-th of the deploy times merged with the
        periodic changes. The k-th smallest of two sorted lists is the least, over the
        ways of taking ``m`` from one and ``k - m`` from the other, of the larger of the
        two last taken, so this costs the number of deploys, not of versions."""
        found = self.published_ms.get(version)
        if found is None:
            found = self.published_ms[version] = self._published_at_ms(version)
        return found

    def _published_at_ms(self, version: int) -> int:
        if version <= 0:
            return 0
        every = self.spec.changes_every_s
        deploys = sorted([t * 1000 for t in self.spec.changes_at_s])
        if not every:
            return int(deploys[version - 1]) if version <= len(deploys) else 0
        best = math.inf
        for m in range(min(len(deploys), version) + 1):
            last = max(deploys[m - 1] if m else -math.inf, (version - m) * every * 1000 if version > m else -math.inf)
            best = min(best, last)
        return int(best)


class CacheModel:
    """One cache (a PoP's, a regional cache's) in expectation: for every object class, the
    request rate per object that reaches it and how many of those requests it answers.

    Presence follows the characteristic-time approximation of the eviction policy
    (caching.py): an object is in an LRU cache if it was requested within the last T_C.
    Which requests fall in that window is kept per class as ``x``: the requests per object
    expected within the window, grown by each step's requests up to ``rate * T_C`` (the
    steady state). A cache starting cold, an invalidation (``x`` back to 0), or a stream
    that grows (users moved here) shows as ``x`` still below its cap: the tail not yet seen.
    A cache that never fills (everything requested fits, as the regional caches here) has no
    T_C; its copies matter only while fresh, so its window is one TTL.

    A request is answered by a fresh copy with the probability ``1 / (1 + E + 1/(rate*TTL))``:
    the odds of a miss because the object was evicted (``E``: LRU ``exp(-x) / (1 - exp(-x))``,
    the odds Che's formula gives; FIFO ``1/x``, Martina et al.'s) and because its copy expired
    (``1/(rate*TTL)``: Jung et al.'s TTL cache) add. With one of the two timers infinite this
    is exactly the published formula of the other; with both, it is the game's approximation."""

    __slots__ = ("name", "capacity", "policy", "used", "evictions", "x", "lam", "cap", "hit", "expired",
                 "resident", "dirty", "full", "insert_rate", "young")

    def __init__(self, name: str, capacity: int, policy: str, groups: list[Group]) -> None:
        self.name = name
        self.capacity = capacity
        self.policy = policy
        self.used = 0.0  # bytes held, in expectation
        self.evictions = 0
        self.x = [[0.0] * len(g.classes) for g in groups]
        self.lam: list[list[float]] = [[0.0] * len(g.classes) for g in groups]  # per object, per second
        self.cap = [[0.0] * len(g.classes) for g in groups]
        self.hit = [[0.0] * len(g.classes) for g in groups]  # the share of its requests answered fresh
        self.expired = [[0.0] * len(g.classes) for g in groups]  # the share of its misses that held an expired copy
        self.resident = [[1.0] * len(g.classes) for g in groups]  # LFU: the share of a class that may stay
        self.dirty = True
        self.full = False
        self.insert_rate = 0.0  # copies stored per second (each evicts one when the cache is full)
        self.young: list[list[bool]] = []  # per class: emptied (cold start, invalidation) less than a TTL ago

    @staticmethod
    def _demand(groups: list[Group], rates_of: list[list[float]]) -> tuple[list[float], list[int], list[tuple[int, int]]]:
        """The classes a cache holds (those of groups with a TTL above 0): each one's rate per
        object (from ``rates_of``), its bytes, and where it is (group, class)."""
        rates: list[float] = []
        sizes: list[int] = []
        where: list[tuple[int, int]] = []
        for gi, g in enumerate(groups):
            if g.ttl_s <= 0:
                continue
            for k, c in enumerate(g.classes):
                rates.append(rates_of[gi][k])
                sizes.append(c.nbytes)
                where.append((gi, k))
        return rates, sizes, where

    def _solve(self, rates: list[float], sizes: list[int]) -> tuple[float, list[float] | None]:
        """At these rates: an LRU or FIFO cache's characteristic time (seconds) and None; an
        LFU cache's ``math.inf`` (it has none) and the share of each class it keeps."""
        if self.policy == "lfu":
            return math.inf, lfu_resident(rates, sizes, self.capacity)
        return characteristic_time(rates, sizes, self.capacity, self.policy), None

    def warm(self, groups: list[Group], mix: list[list[float]], solved: dict[tuple[int, str], list[float]] | None = None) -> None:
        """Start as a cache that has served a stream of this popularity ``mix`` (per object)
        for long: its steady state, whatever the rate (Che's presence depends on rate * T_C
        only, so only the mix matters). ``solved``: the windows of caches already warmed with
        this mix, by (capacity, policy); they are the same for this one if those are."""
        rates, sizes, where = self._demand(groups, mix)
        key = (self.capacity, self.policy)
        xs = solved.get(key) if solved is not None else None
        if xs is None:
            tc, share = self._solve(rates, sizes)
            if share is None:
                share = [1.0] * len(rates)
            xs = [r * tc if r > 0 and tc < math.inf and s > 0 else (math.inf if s > 0 else 0.0) for r, s in zip(rates, share)]
            if solved is not None:
                solved[key] = xs
        for (gi, k), x in zip(where, xs):
            self.x[gi][k] = x
        self.dirty = True

    def _limits(self, groups: list[Group]) -> None:
        """T_C (or LFU's resident set) for the rates now, and each class's cap on ``x``."""
        rates, sizes, where = self._demand(groups, self.lam)
        tc, share = self._solve(rates, sizes)  # the characteristic time, seconds
        if share is not None:  # LFU
            for (gi, k), s in zip(where, share):
                self.resident[gi][k] = s
            self.full = sum(s for r, s in zip(rates, sizes) if r > 0) > self.capacity
        else:
            self.full = tc < math.inf
        for gi, g in enumerate(groups):
            ttl = g.ttl_s
            for k in range(len(g.classes)):
                lam = self.lam[gi][k]
                self.cap[gi][k] = 0.0 if ttl <= 0 else lam * (tc if self.full and self.policy != "lfu" else ttl)

    def update(
        self, groups: list[Group], lam: list[list[float]], young: list[list[bool]], dt_s: float, held_s: float = 0.0
    ) -> tuple[bool, bool]:
        """One step at these rates, after ``held_s`` seconds of steps at the rates of the
        last update (their answers were held: see EdgeNetwork._model): returns whether its
        answers changed, and whether they will stay as they are while the rates do (every
        window at its cap)."""
        moved = self.catch_up(groups, held_s)
        if lam != self.lam or self.dirty:
            self.lam = lam
            self._limits(groups)
            self.dirty = False
            moved = True
        if young != self.young:
            self.young = young
            moved = True
        grew, steady = self._grow(groups, lam, young, dt_s)
        if moved or grew:
            self._answers(groups)
        return moved or grew, steady

    def catch_up(self, groups: list[Group], held_s: float) -> bool:
        """Grow the windows over ``held_s`` seconds at the rates of the last update (the
        windows grow linearly, so one long growth is what many short ones give)."""
        if held_s <= 0 or not self.young:
            return False
        return self._grow(groups, self.lam, self.young, held_s)[0]

    def _grow(self, groups: list[Group], lam: list[list[float]], young: list[list[bool]], dt_s: float) -> tuple[bool, bool]:
        """Each class's window grows by ``dt_s`` of its requests, up to its cap: whether
        one moved, and whether all are at their caps."""
        moved = False
        timed = not self.full or self.policy == "lfu"  # kept until it expires: Jung's TTL cache
        steady = True
        for gi, g in enumerate(groups):
            xs, caps, rates = self.x[gi], self.cap[gi], lam[gi]
            if g.ttl_s <= 0:
                if any(xs):
                    self.x[gi] = [0.0] * len(xs)
                    moved = True
                continue
            for k, rate in enumerate(rates):
                if rate <= 0:
                    continue  # nothing asks: the copies stay as they are
                # within a TTL of being emptied every copy fetched is fresh, so a cache that
                # keeps copies until they expire counts every request; after, Jung's state
                cap = math.inf if timed and young[gi][k] else caps[k]
                if timed and not young[gi][k]:
                    if xs[k] < cap:
                        xs[k] = cap
                        moved = True
                    continue
                if xs[k] >= cap:
                    continue  # in steady state
                x = min(xs[k] + rate * dt_s, cap)
                if x != xs[k]:
                    xs[k] = x
                    moved = True
                if x < cap:
                    steady = False
        return moved, steady

    def _answers(self, groups: list[Group]) -> None:
        used = inserts = 0.0
        lru_full = self.full and self.policy == "lru"
        fifo_full = self.full and self.policy == "fifo"
        for gi, g in enumerate(groups):
            ttl = g.ttl_s
            hits, expired, young = self.hit[gi], self.expired[gi], self.young[gi]
            for k, c in enumerate(g.classes):
                # a window longer than the steady one (the stream slowed down, or a warm
                # start) keeps its copies, but answers as the steady state does
                lam, held, share = self.lam[gi][k], self.x[gi][k], self.resident[gi][k]
                x = held if young[k] else min(held, self.cap[gi][k])
                if ttl <= 0 or lam <= 0 or x <= 0 or share <= 0:
                    hits[k] = expired[k] = 0.0
                    if ttl > 0 and held > 0:
                        used += c.nbytes * share * presence("lru", held)
                    inserts += c.count * lam * (1.0 if ttl > 0 else 0.0)
                    continue
                j = 0.0 if young[k] else 1.0 / (lam * ttl)  # the odds of finding the copy expired (Jung et al.)
                if lru_full or fifo_full:
                    evict = math.exp(-x) / presence("lru", x) if lru_full else 1.0 / x
                    h = 1.0 / (1.0 + evict + j)
                    e = j / (evict + j) if j > 0 else 0.0
                    used += c.nbytes * presence(self.policy, x)
                else:
                    if young[k]:  # never evicted, within a TTL of being emptied: every copy fetched is fresh
                        h0, e0 = presence("lru", x), 0.0
                    else:  # never evicted (or LFU's resident share): Jung's TTL cache (x is at its cap, rate * TTL)
                        h0, e0 = ttl_hit_probability(lam, ttl), 1.0
                    h = share * h0
                    e = share * (1.0 - h0) * e0 / (1.0 - h) if h < 1.0 else 0.0
                    used += c.nbytes * share * presence("lru", held)
                hits[k], expired[k] = h, e
                inserts += c.count * lam * (1.0 - h) * (1.0 - e)
        self.used = min(float(self.capacity), used)
        self.insert_rate = inserts

    def copies(self, gi: int, k: int, count: int) -> float:
        """Copies of ``count`` objects of class ``k`` held now, in expectation."""
        x = self.x[gi][k]
        return count * self.resident[gi][k] * presence(self.policy if self.full else "lru", x) if x > 0 else 0.0


@dataclass(eq=False)
class Pop:
    spec: PopSpec
    cache: CacheModel
    health: Health = Health.HEALTHY
    requests: int = 0
    hits: int = 0
    refreshes: int = 0

    @property
    def id(self) -> str:
        return self.spec.name


@dataclass(eq=False)
class RegionalCache:
    spec: RegionalCacheSpec
    cache: CacheModel

    @property
    def id(self) -> str:
        return self.spec.name


@dataclass(eq=False)
class User:
    """The clients of one city. When their nearest PoP changes, they move over as their
    cached DNS answers expire: a share that falls from all to none over one TTL still
    asks the PoP they had (``was``)."""

    spec: UserSpec
    pop: str | None = None
    was: str | None = None
    since_ms: int = 0
    ms: dict[str, float] = field(default_factory=dict)  # one-way ms to each PoP

    def share_on_old(self, now_ms: int, ttl_ms: int) -> float:
        if self.was is None or ttl_ms <= 0:
            return 0.0
        return max(0.0, 1.0 - (now_ms - self.since_ms) / ttl_ms)


@dataclass(frozen=True)
class Invalidation:
    path: str
    requested_ms: int
    done_ms: int


@dataclass
class Paths:
    """What one PoP's requests come to, per request, at the rates of the last step: answered
    at the PoP (``local``), by each cache up its chain (``tiers``) or by the origin; refresh
    hits (a 304 for the PoP's own expired copy), bytes from the origin, and per class of a
    changing group the requests a cached copy answered (for staleness); ``extra_ms``: the
    extra round-trip ms of an answer from each cache up the chain and, last, the origin."""

    local: float = 0.0
    refresh: float = 0.0
    tiers: list[float] = field(default_factory=list)
    origin: float = 0.0
    origin_bytes: float = 0.0
    cached: dict[int, list[float]] = field(default_factory=dict)
    extra_ms: list[float] = field(default_factory=list)


class EdgeNetwork:
    def __init__(self, cloud: "Cloud", spec: EdgeSpec) -> None:
        self.cloud = cloud
        self.spec = spec
        self.eviction: str = spec.eviction
        self.price_class: str = spec.price_class
        self.shield: str | None = spec.origin_shield
        rng = cloud.rng
        self.groups: list[Group] = []
        for i, c in enumerate(spec.content):
            mean = c.size_kib * KIB
            sizes = [max(1, int(mean * (0.5 + rng.random()))) for _ in range(c.objects)]
            g = Group(c, i, sizes)
            g.headers = {"max-age": c.max_age_s, "s-maxage": c.s_maxage_s, "expires": c.expires_s, "no-cache": c.no_cache}
            g.behaviour = {"min": c.min_ttl_s, "default": c.default_ttl_s, "max": c.max_ttl_s}
            g.ttl_s = self.ttl_of(g)
            self.groups.append(g)
        self.recs = {r.name: RegionalCache(r, CacheModel(r.name, int(r.cache_gib * GIB), self.eviction, self.groups)) for r in spec.regional_caches}
        self.pops = {p.name: Pop(p, CacheModel(p.name, int(p.cache_gib * GIB), self.eviction, self.groups)) for p in spec.pops}
        # every cache, PoPs first (neither the PoPs nor the regional caches change after this)
        self._caches = tuple([p.cache for p in self.pops.values()] + [r.cache for r in self.recs.values()])
        cloud.hardware.add_parts("pop", self.pops)
        self.users = [User(u) for u in spec.users]
        o = spec.origin
        for user in self.users:
            u = user.spec
            for p in spec.pops:
                km = great_circle_km(u.lat, u.lon, p.lat, p.lon)
                user.ms[p.name] = km * spec.user_stretch / FIBRE_KM_PER_MS + spec.last_mile_ms
        self.hop_ms: dict[tuple[str, str], float] = {}
        places = {p.name: p for p in spec.pops} | {r.name: r for r in spec.regional_caches} | {"origin": o}
        for a, pa in places.items():
            for b, pb in places.items():
                km = great_circle_km(pa.lat, pa.lon, pb.lat, pb.lon)
                self.hop_ms[(a, b)] = km * BACKBONE_STRETCH / FIBRE_KM_PER_MS + (0.5 if a != b else 0.0)
        # accounting: whole requests, from expected counts carried in fixed point
        self.requests = 0
        self.hits = 0
        self.refreshes = 0
        self.failed = 0
        self.origin_requests = 0
        self.origin_bytes = 0
        self.carry: dict[tuple, int] = {}
        self.invalidations: list[Invalidation] = []
        self.invalidation_paths = 0
        self.hist: dict[str, deque[tuple[int, Counter[float]]]] = {u.area: deque() for u in spec.users}
        self.origin_window: deque[tuple[int, int]] = deque()
        self.last_offered = 0
        self.last_failed = 0
        self.trace_hits: int | None = None
        self.trace_faults: int | None = None
        # the model's last answers, and whether they stay as they are while nothing changes
        self.paths: dict[str, Paths] = {}
        self.unchanged: list[float] = []  # per group, Group.unchanged at the last step
        # when the caches' answers are next worked out (see _model), and what they were
        # last worked out from
        self._refresh_ms = 0
        self._model_at = 0  # the step they were last worked out at
        self._stepped_to = 0  # the last step run
        self._disturbed_ms = 0  # the last step at which their inputs changed
        self._model_load: dict[str, float] | None = None
        self._model_young: list[list[bool]] | None = None
        self._young_flags: list[list[bool]] | None = None
        self._young_until = 0  # the flags above hold until then
        self._units()

    def _units(self) -> None:
        """Per group and class, one object's share of all requests."""
        self.unit = [[g.spec.share_pct / 100 * c.weight / c.count for c in g.classes] for g in self.groups]

    def caches(self) -> list[CacheModel]:
        return list(self._caches)

    def warm_up(self) -> None:
        """Start every cache in the steady state of the whole distribution's popularity mix,
        as a distribution that has run for weeks (and caches unused today hold what they
        held then). Copies are part-way through their freshness: the steady state of a TTL
        cache (Jung et al.), so they do not all expire at once."""
        solved: dict[tuple[int, str], list[float]] = {}  # caches of one size and policy warm alike
        for c in self.caches():
            c.warm(self.groups, self.unit, solved)
        self._refresh_ms = 0

    # -- TTLs ----------------------------------------------------------------------------------
    def ttl_of(self, g: Group) -> int:
        h, b = g.headers, g.behaviour
        return cloudfront_ttl(
            b["min"], b["default"], b["max"],
            max_age=h["max-age"],  # type: ignore[arg-type]
            s_maxage=h["s-maxage"],  # type: ignore[arg-type]
            expires_in=h["expires"],  # type: ignore[arg-type]
            no_cache=bool(h["no-cache"]),
        )

    def _retuned(self, group: Group) -> tuple[int, int]:
        """A group's TTL follows its (new) headers and behaviour; every cache re-plans."""
        self._catch_up()
        before = group.ttl_s
        group.ttl_s = self.ttl_of(group)
        if before <= 0 < group.ttl_s:
            group.cold_since_ms = self.cloud.now_ms  # nothing of it is cached anywhere yet
        self._changed()
        return before, group.ttl_s

    def _changed(self) -> None:
        for c in self.caches():
            c.dirty = True
        self._refresh_ms = 0
        self._young_flags = None

    def _catch_up(self) -> None:
        """Before a change to what the caches hold or how: the windows grown over the
        steps run since the answers were last worked out, at the rates they ran at."""
        held_s = (self._stepped_to - self._model_at) / 1000
        if held_s > 0:
            for c in self.caches():
                c.catch_up(self.groups, held_s)
            self._model_at = self._stepped_to

    def set_behaviour(self, group: Group, setting: str, value: int) -> tuple[int, int]:
        """Change a cache behaviour's TTL (min, default, max); checked first (ValueError)."""
        new = dict(group.behaviour, **{setting: value})
        cloudfront_ttl(new["min"], new["default"], new["max"])
        was = group.behaviour[setting]
        group.behaviour = new
        changed = self._retuned(group)
        self.cloud.emit("edge.configured", setting=f"{group.name}.{setting}_ttl", value=value, was=was)
        return changed

    def set_header(self, group: Group, header: str, value: int | bool | None) -> tuple[int, int]:
        new = dict(group.headers, **{header: value})
        b = group.behaviour
        cloudfront_ttl(b["min"], b["default"], b["max"], max_age=new["max-age"], s_maxage=new["s-maxage"], expires_in=new["expires"], no_cache=bool(new["no-cache"]))  # type: ignore[arg-type]
        was = group.headers[header]
        group.headers = new
        changed = self._retuned(group)
        self.cloud.emit("edge.configured", setting=f"{group.name}.{header}", value=value if value is not None else "off", was=was if was is not None else "off")
        return changed
    # -- routing users to PoPs ------------------------------------------------------------------
    def enabled(self, pop: Pop) -> bool:
        return CLASS_RANK[pop.spec.price_class] <= CLASS_RANK[self.price_class]

    def best_pop(self, user: User) -> str | None:
        best, best_ms = None, math.inf
        for name, pop in self.pops.items():
            if pop.health is Health.FAILED or not self.enabled(pop):
                continue
            ms = user.ms[name]
            if ms < best_ms:
                best, best_ms = name, ms
        return best

    def _resolve(self, now: int) -> None:
        """DNS now answers each city with its nearest healthy PoP; a change starts the
        city's clients moving over (as their cached answers expire)."""
        ttl_ms = self.spec.dns_ttl_s * 1000
        for user in self.users:
            if user.was is not None and user.share_on_old(now, ttl_ms) <= 0:
                user.was = None
            best = self.best_pop(user)
            if best != user.pop:
                old = user.pop
                if old is not None and ttl_ms > 0:
                    user.was, user.since_ms = old, now
                user.pop = best
                self._refresh_ms = 0
                if old is not None:
                    self.cloud.emit("edge.rerouted", city=user.spec.city, was=old, now=best or "")

    def reroute_now(self) -> None:
        """A settings change: DNS answers with it from now on."""
        self._resolve(self.cloud.now_ms)

    # -- one step ---------------------------------------------------------------------------
    def _parent(self, name: str) -> CacheModel | None:
        """Where a cache's misses go: a PoP's to its regional cache, a regional cache's to
        the origin shield; None for the origin."""
        pop = self.pops.get(name)
        rec = pop.spec.regional if pop is not None else name
        if pop is not None and rec is not None and rec in self.recs:
            return self.recs[rec].cache
        if self.shield is not None and self.shield != rec:
            return self.recs[self.shield].cache
        return None

    def _chain(self, pop: Pop) -> tuple[list[CacheModel], list[float]]:
        """The caches a miss at ``pop`` walks through (its REC, then the shield), and the
        extra round-trip ms of an answer from each of them and, last, from the origin."""
        chain: list[CacheModel] = []
        node = self._parent(pop.id)
        while node is not None:
            chain.append(node)
            node = self._parent(node.name)
        extra: list[float] = []
        at, ms = pop.id, 0.0
        for node in chain:
            ms += 2 * self.hop_ms[(at, node.name)]
            at = node.name
            extra.append(ms)
        extra.append(ms + 2 * self.hop_ms[(at, "origin")] + self.spec.origin.response_ms)
        return chain, extra

    def _loads(self, now: int) -> tuple[dict[str, float], list[tuple[User, str | None, float]]]:
        """Requests per second each PoP gets, and each city's (PoP, requests per second),
        the part still following an expired DNS answer included."""
        ttl_ms = self.spec.dns_ttl_s * 1000
        load = dict.fromkeys(self.pops, 0.0)
        parts: list[tuple[User, str | None, float]] = []
        for user in self.users:
            old = user.share_on_old(now, ttl_ms)
            for name, share in ((user.was, old), (user.pop, 1.0 - old)):
                if share <= 0:
                    continue
                rps = user.spec.rps * share
                parts.append((user, name, rps))
                pop = self.pops.get(name) if name else None
                if pop is not None and pop.health is not Health.FAILED:
                    load[pop.id] += rps
        return load, parts

    def _model(self, now: int, dt_ms: int, load: dict[str, float]) -> None:
        """The caches' answers for the step ending at ``now``, then what a PoP's requests
        come to. They are worked out anew when their inputs changed (the rates, a TTL, an
        invalidation, a setting) and, while a cache is still in a transient, on a schedule
        that thins out as the transient ages (``REFRESH_DIVISOR``); between two, every step
        is answered alike. The windows grow linearly in time, so a late working-out grows
        them by the whole time since the last (at the rates of then): only the answers of
        the steps between are held."""
        young = self._young(now)
        forced = (
            not self.paths
            or load != self._model_load
            or (young is not self._model_young and young != self._model_young)
            or any(c.dirty for c in self._caches)
        )
        moved = False
        if forced or now >= self._refresh_ms:
            moved, steady = self._work_out(now, dt_ms, load, young)
            if forced:
                self._disturbed_ms = now
            tick = self.cloud.tick_ms
            self._refresh_ms = NEVER if steady else now + max(tick, (now - self._disturbed_ms) // REFRESH_DIVISOR // tick * tick)
        unchanged = [g.unchanged(now) for g in self.groups]
        if moved or not self.paths or unchanged != self.unchanged:
            self.unchanged = unchanged
            self.paths = {name: self._paths(pop, unchanged) for name, pop in self.pops.items()}

    def _work_out(self, now: int, dt_ms: int, load: dict[str, float], young: list[list[bool]]) -> tuple[bool, bool]:
        """Run every cache at the rates of now, bottom up (a cache's misses are the next
        one's requests: Che et al.'s hierarchy): whether an answer moved, and whether
        every cache is steady (nothing young, every window at its cap)."""
        dt_s = dt_ms / 1000
        held_s = max(0, now - dt_ms - self._model_at) / 1000
        self._model_at, self._model_load, self._model_young = now, dict(load), young
        groups, unit = self.groups, self.unit
        moved = False
        steady = not any(any(row) for row in young)
        below: dict[str, list[list[float]]] = {}
        order = [p.cache for p in self.pops.values()] + [r.cache for r in self.recs.values() if r.id != self.shield]
        if self.shield is not None:
            order.append(self.recs[self.shield].cache)
        for node in order:
            if node.name in self.pops:
                rate = load[node.name]
                lam = [[rate * u for u in us] for us in unit]
            else:
                lam = below.get(node.name) or [[0.0] * len(us) for us in unit]
            m, s = node.update(groups, lam, young, dt_s, held_s)
            moved |= m
            steady &= s
            parent = self._parent(node.name)
            if parent is not None:
                up = below.setdefault(parent.name, [[0.0] * len(us) for us in unit])
                for gi, rates in enumerate(node.lam):
                    hits, into = node.hit[gi], up[gi]
                    for k, r in enumerate(rates):
                        if r > 0:
                            into[k] += r * (1.0 - hits[k])
        return moved, steady

    def _young(self, now: int) -> list[list[bool]]:
        """Per class: were its copies emptied everywhere (an invalidation, or becoming
        cacheable) less than a TTL ago? Then none of the copies fetched since has expired.
        The same list is returned until one of them flips (or a change clears it)."""
        if self._young_flags is not None and now < self._young_until:
            return self._young_flags
        out = []
        until = NEVER
        for g in self.groups:
            ttl_ms = g.ttl_s * 1000
            row = []
            for c in g.classes:
                since = max(t for t in (c.purged_ms, g.cold_since_ms, -math.inf) if t is not None)
                row.append(now - since < ttl_ms)
                if since + ttl_ms > now:
                    until = min(until, int(since + ttl_ms))
            out.append(row)
        self._young_flags, self._young_until = out, until
        return out

    def _paths(self, pop: Pop, unchanged: list[float]) -> Paths:
        chain, extra = self._chain(pop)
        out = Paths(tiers=[0.0] * len(chain), extra_ms=extra)
        node = pop.cache
        for gi, g in enumerate(self.groups):
            share = g.spec.share_pct / 100
            cached = out.cached[gi] = [0.0] * len(g.classes) if g.changing else []
            same = unchanged[gi]
            for k, c in enumerate(g.classes):
                w = share * c.weight
                h = node.hit[gi][k]
                out.local += w * h
                miss = w * (1.0 - h)
                out.refresh += miss * node.expired[gi][k] * same
                reach, top = miss, node.expired[gi][k]
                for i, up in enumerate(chain):
                    hu = up.hit[gi][k]
                    out.tiers[i] += reach * hu
                    reach *= 1.0 - hu
                    top = up.expired[gi][k]
                out.origin += reach
                out.origin_bytes += reach * (c.nbytes / c.count) * (1.0 - top * same)
                if g.changing:
                    cached[k] = w - reach
        return out

    def step(self, dt_ms: int) -> None:
        """Requests of one step (or, when :meth:`quiet_until` said nothing changes, of many
        equal steps at once): the caches' answers at the rates of now, the expected counts
        added to the tallies, the versions users got checked against the origin's."""
        now, tick = self.cloud.now_ms, self.cloud.tick_ms
        if dt_ms <= tick:
            self._resolve(now)
            self._steps(now, dt_ms, [now])
        else:
            start = now - dt_ms
            whole, rest = divmod(dt_ms, tick)
            self._steps(start + tick, tick, range(start + tick, start + whole * tick + 1, tick))
            if rest:
                self._steps(now, rest, [now])
        self._stepped_to = now

    def _steps(self, first: int, dt_ms: int, times: "range | list[int]") -> None:
        """Steps of ``dt_ms`` ending at ``times``, all alike (the model is evaluated at the
        first): their expected counts tallied, their staleness checked."""
        load, parts = self._loads(first)
        self._model(first, dt_ms, load)
        dt_s = dt_ms / 1000
        inc: dict[tuple, float] = {}

        def add(key: tuple, x: float) -> None:
            inc[key] = inc.get(key, 0.0) + x

        cached = [[0.0] * len(g.classes) for g in self.groups]
        for user, name, rps in parts:
            n = rps * dt_s
            add(("requests",), n)
            pop = self.pops.get(name) if name else None
            if pop is None or pop.health is Health.FAILED:
                add(("failed",), n)
                continue
            path = self.paths[pop.id]
            add(("pop", pop.id), n)
            add(("hits", pop.id), n * (path.local + path.refresh))
            add(("refreshes", pop.id), n * path.refresh)
            add(("origin",), n * path.origin)
            add(("bytes",), n * path.origin_bytes)
            area, up_ms = user.spec.area, 2 * user.ms[pop.id] + 1.0
            extra = path.extra_ms
            add(("ms", area, round(up_ms, 1)), n * path.local)
            for i, f in enumerate(path.tiers):
                add(("ms", area, round(up_ms + extra[i], 1)), n * f)
            add(("ms", area, round(up_ms + extra[-1], 1)), n * path.origin)
            for gi, per in path.cached.items():
                row = cached[gi]
                for k, v in enumerate(per):
                    row[k] += n * v
        for pop in self.pops.values():
            c = pop.cache
            if c.full and c.insert_rate and pop.health is not Health.FAILED:
                add(("evictions", pop.id), c.insert_rate * dt_s)
        self._tally({key: int(x * (1 << FP_BITS)) for key, x in inc.items() if x > 0}, times)
        for gi, g in enumerate(self.groups):
            if g.changing:
                self._check_stale(g, cached[gi], times)

    def _count(self, key: tuple, inc: int, steps: int = 1) -> tuple[int, int]:
        """Whole requests of ``steps`` steps of ``inc`` (fixed point), the fraction carried
        to the next step: integers, so one product gives what stepping adds. Returns all
        the steps' count and the last one's."""
        before = self.carry.get(key, 0) + inc * (steps - 1)
        total = before + inc
        self.carry[key] = total & FP_MASK
        return total >> FP_BITS, (total >> FP_BITS) - (before >> FP_BITS)

    def _tally(self, inc: dict[tuple, int], times: "range | list[int]") -> None:
        """Add ``len(times)`` steps of the expected counts ``inc`` (fixed point) to the
        whole-request tallies; the steps within the last five minutes one by one, for the
        latency percentiles and the origin's load."""
        steps = len(times)
        self.last_offered = self.last_failed = 0
        for key, v in inc.items():
            kind = key[0]
            if kind in ("ms", "origin"):
                continue
            n, last = self._count(key, v, steps)
            if kind == "requests":
                self.requests += n
                self.last_offered = last
            elif kind == "failed":
                self.failed += n
                self.last_failed = last
            elif kind == "pop":
                self.pops[key[1]].requests += n
            elif kind == "hits":
                self.pops[key[1]].hits += n
                self.hits += n
            elif kind == "refreshes":
                self.pops[key[1]].refreshes += n
                self.refreshes += n
            elif kind == "bytes":
                self.origin_bytes += n
            elif kind == "evictions":
                self.pops[key[1]].cache.evictions += n
        end = times[-1]
        recent = [t for t in times[-(WINDOW_MS // self.cloud.tick_ms + 1) :] if t > end - WINDOW_MS]
        early = steps - len(recent)  # older than the window: their counts only add to the totals
        windowed = [(k, v) for k, v in inc.items() if k[0] in ("ms", "origin")]
        if early:
            for key, v in windowed:
                n, _ = self._count(key, v, early)
                if key[0] == "origin":
                    self.origin_requests += n
        for t in recent:
            bucket = t // BUCKET_MS
            served = 0
            for key, v in windowed:
                n, _ = self._count(key, v)
                if key[0] == "origin":
                    served += n
                elif n:
                    self._hist(key[1], bucket)[key[2]] += n
            self.origin_requests += served
            self.origin_window.append((t, served))
        while self.origin_window and self.origin_window[0][0] <= end - WINDOW_MS:
            self.origin_window.popleft()

    def _hist(self, area: str, bucket: int) -> Counter[float]:
        q = self.hist[area]
        if not q or q[-1][0] != bucket:
            q.append((bucket, Counter()))
            while q and q[0][0] <= bucket - WINDOW_MS // BUCKET_MS:
                q.popleft()
        return q[-1][1]
    # -- staleness ----------------------------------------------------------------------------
    def _old_copies(self, g: Group, cached: list[float], t: int, tick: int) -> dict[int, float]:
        """Requests served at ``t`` by copies of each version older than the origin's, in
        expectation. A copy is fresh for the TTL after the origin produced it (its age
        travels with it), and the copies served at ``t`` were fetched evenly over the last
        TTL, one step's worth at each step (the steady state of a TTL cache); what an
        invalidation removed was fetched again after it."""
        ttl_ms = g.ttl_s * 1000
        if ttl_ms <= 0:
            return {}
        births = -(-ttl_ms // tick)  # the steps at which a copy still fresh at t was fetched
        oldest = t - (births - 1) * tick
        current = g.version(t)
        if g.version(oldest) >= current:  # versions only grow: every copy served is current
            return {}
        out: dict[int, float] = {}
        walks: dict[int | None, list[tuple[int, int]]] = {}  # per start: (version, births) in order
        for c, served in zip(g.classes, cached):
            if served <= 0:
                continue
            purged = c.purged_ms if c.purged_ms is not None and c.purged_ms > oldest else None
            walk = walks.get(purged)
            if walk is None:
                walk = walks[purged] = self._births(g, purged, oldest, current, t, tick)
            per_birth = served / births
            for v, n in walk:
                out[v] = out.get(v, 0.0) + per_birth * n
        return out

    @staticmethod
    def _births(g: Group, purged: int | None, oldest: int, current: int, t: int, tick: int) -> list[tuple[int, int]]:
        """For :meth:`_old_copies`: of the steps from ``oldest`` to ``t`` at which the copies
        served at ``t`` were fetched, how many fetched each version older than ``current``,
        in order; with ``purged`` (an invalidation after ``oldest``), the steps before it
        counted as fetched at it."""
        out: list[tuple[int, int]] = []
        b = oldest
        if purged is not None:
            lumped = -(-(purged - oldest) // tick)
            v = g.version(purged)
            if v < current:
                out.append((v, lumped))
            b = oldest + lumped * tick
        while b <= t:
            v = g.version(b)
            if v >= current:
                break
            end = min(g.changed_at_ms(v + 1), t + 1)
            n = max(1, -(-(end - b) // tick))
            out.append((v, n))
            b += n * tick
        return out

    def _check_stale(self, g: Group, cached: list[float], times: "range | list[int]") -> None:
        """``edge_stale_s``: how long after the origin published version v+1 a user still got
        version v, counted while at least ``STALE_MIN_REQUESTS`` requests a step get it. Over
        many equal steps, each old version's count only falls as its copies age out of the
        window, so the last step it is served is found by bisection."""
        tick = self.cloud.tick_ms
        if len(times) == 1:
            t = times[0]
            old = self._old_copies(g, cached, t, tick)
            for v in sorted(old):  # the oldest first: the first at which a request is reached
                if _at_least_one(old, v):
                    g.stale_max_s = max(g.stale_max_s, (t - g.changed_at_ms(v + 1)) / 1000)
                    break
            return
        ttl_ms = g.ttl_s * 1000
        if ttl_ms <= 0 or not any(cached):
            return
        first, last = times[0], times[-1]
        low = g.version(first - ttl_ms - tick)
        versions = range(low, g.version(last))
        every = g.spec.changes_every_s
        purges = [c.purged_ms for c in g.classes if c.purged_ms is not None]
        if len(versions) > 64 and every and not any(first - ttl_ms - tick <= d <= last for d in g.deploys_ms() + purges):
            # periodic changes only: one version's fate repeats every lcm(period, step)
            period_ms = every * 1000
            cycle = math.lcm(int(period_ms), tick) / period_ms if float(period_ms).is_integer() else 64
            horizon = first + (cycle + ttl_ms / period_ms + 3) * period_ms
            versions = [v for v in versions if g.changed_at_ms(v + 1) <= horizon]
        def served(v: int, t: int) -> bool:
            return _at_least_one(self._old_copies(g, cached, t, tick), v)

        for v in versions:
            published = g.changed_at_ms(v + 1)
            lo = bisect_left(times, published)
            hi = len(times) - 1
            if lo > hi or not served(v, times[lo]):
                continue
            while lo < hi:  # the last step still serving v (or older)
                mid = (lo + hi + 1) // 2
                if served(v, times[mid]):
                    lo = mid
                else:
                    hi = mid - 1
            g.stale_max_s = max(g.stale_max_s, (times[lo] - published) / 1000)

    def quiet_until(self, now: int, until: int, sampled: bool) -> int:
        """How far one call of :meth:`step` may run: until the caches' answers are next
        worked out (never, once every cache is steady at the rates of now), while no city
        is moving to another PoP, no class stops being young and no deploy starts or stops
        making revalidations useless, each step is the one before it."""
        if sampled or any(u.was is not None for u in self.users):
            return now
        to = min(until, self._refresh_ms - 1, self._young_until - 1)
        for g in self.groups:
            for c in g.deploys_ms():
                for flip in (c, c + g.ttl_s * 1000):
                    if flip > now:
                        to = min(to, flip - 1)
        return max(now, to)

    # -- the player's changes ------------------------------------------------------------------
    def set_eviction(self, policy: str) -> str:
        self._catch_up()
        was = self.eviction
        self.eviction = policy
        for c in self.caches():
            c.policy = policy
        self._changed()
        self.cloud.emit("edge.configured", setting="eviction", value=policy, was=was)
        return was

    def set_price_class(self, value: str) -> str:
        was = self.price_class
        self.price_class = value
        self.cloud.emit("edge.configured", setting="price_class", value=value, was=was)
        self.reroute_now()
        return was

    def set_shield(self, name: str | None) -> str | None:
        self._catch_up()
        was = self.shield
        self.shield = name
        self._changed()
        self.cloud.emit("edge.configured", setting="origin_shield", value=name or "off", was=was or "off")
        return was

    def invalidate(self, path: str) -> Invalidation:
        now = self.cloud.now_ms
        inv = Invalidation(path, now, now + self.spec.invalidation_s * 1000)
        self.invalidations.append(inv)
        self.invalidation_paths += 1
        self.cloud.emit("edge.invalidation_requested", path=path, done_at_s=inv.done_ms / 1000, paths=self.invalidation_paths)
        self.cloud.clock.schedule(inv.done_ms, lambda: self._invalidate(inv))
        return inv

    def matches(self, path: str) -> list[Group]:
        """Content groups any of whose paths the invalidation path matches."""
        prefix = path[:-1] if path.endswith("*") else None
        out = []
        for g in self.groups:
            p = g.spec.path
            if prefix is not None:
                if p.startswith(prefix) or (p.endswith("*") and prefix.startswith(p[:-1])):
                    out.append(g)
            elif p == path or (p.endswith("*") and path.startswith(p[:-1]) and path[len(p) - 1 :].isdigit()):
                out.append(g)
        return out

    def _invalidate(self, inv: Invalidation) -> None:
        """Every cache drops the matching objects: their classes start again from nothing
        (a class only part of which matches is split first)."""
        self._catch_up()
        prefix = inv.path[:-1] if inv.path.endswith("*") else None
        now = self.cloud.now_ms
        removed = 0.0
        for g in self.matches(inv.path):
            if prefix is not None and g.spec.path.startswith(prefix):
                hit = list(range(len(g.classes)))  # the whole group
            else:
                hit = self._isolate(g, lambda obj: obj.startswith(prefix) if prefix is not None else obj == inv.path)
            for k in hit:
                c = g.classes[k]
                c.purged_ms = now
                for cache in self.caches():
                    removed += cache.copies(g.index, k, c.count)
                    cache.x[g.index][k] = 0.0
        self._changed()
        self.cloud.emit("edge.invalidated", path=inv.path, copies=round(removed), took_s=(inv.done_ms - inv.requested_ms) / 1000)

    def _isolate(self, g: Group, matched: Callable[[str], bool]) -> list[int]:
        """Split ``g``'s classes so that the objects whose paths ``matched`` form classes of
        their own (their state copied); the indexes of those classes."""
        out: list[int] = []
        k = 0
        while k < len(g.classes):
            c = g.classes[k]
            inside = tuple(i for i in c.members if matched(g.path_of(i)))
            if not inside:
                k += 1
                continue
            if len(inside) == c.count:
                out.append(k)
                k += 1
                continue
            chosen = set(inside)
            outside = tuple(i for i in c.members if i not in chosen)
            parts = [
                ObjectClass(m, math.fsum(g.share_of(i) for i in m), sum(g.sizes[i] for i in m), c.purged_ms)
                for m in (inside, outside)
            ]
            g.classes[k : k + 1] = parts
            for cache in self.caches():
                for rows in (cache.x, cache.cap, cache.hit, cache.expired, cache.resident):
                    rows[g.index][k : k + 1] = [rows[g.index][k]] * 2
                cache.lam[g.index][k : k + 1] = [0.0, 0.0]
            out.append(k)
            k += 2
        self._units()
        return out

    def invalidation_usd(self) -> float:
        billed = max(0, self.spec.invalidation_paths_used + self.invalidation_paths - FREE_INVALIDATION_PATHS)
        already = max(0, self.spec.invalidation_paths_used - FREE_INVALIDATION_PATHS)
        return round((billed - already) * USD_PER_INVALIDATION_PATH, 4)

    def on_health(self, kind: str, ident: str, before: Health, after: Health) -> None:
        if kind == "pop":
            self._refresh_ms = 0
            self._resolve(self.cloud.now_ms)  # DNS answers change now; clients follow as their answers expire
    # -- looking --------------------------------------------------------------------------------
    def percentile(self, area: str, q: float) -> float:
        merged: Counter[float] = Counter()
        for _, c in self.hist.get(area, ()):
            merged.update(c)
        total = sum(merged.values())
        if not total:
            return 0.0
        want = q * total
        seen = 0
        for ms in sorted(merged):
            seen += merged[ms]
            if seen >= want:
                return ms
        return max(merged)

    def origin_rps(self) -> float:
        now = self.cloud.now_ms
        span = min(WINDOW_MS, max(now, 1))
        return round(sum(n for t, n in self.origin_window if t > now - WINDOW_MS) * 1000 / span, 2)

    def hit_ratio(self, pop: Pop | None = None) -> float:
        req, hits = (pop.requests, pop.hits) if pop is not None else (self.requests - self.failed, self.hits)
        return round(100 * hits / req, 2) if req else 0.0

    def whole(self) -> bool:
        """Every city's clients reach a PoP that is up (none still holds an answer naming
        a dead one)."""
        now, ttl_ms = self.cloud.now_ms, self.spec.dns_ttl_s * 1000
        for u in self.users:
            if u.pop is None or self.pops[u.pop].health is Health.FAILED:
                return False
            if u.was is not None and self.pops[u.was].health is Health.FAILED and u.share_on_old(now, ttl_ms) > 0:
                return False
        return True

    def metrics(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "edge_requests": self.requests,
            "edge_failed": self.failed,
            "edge_hit_ratio": self.hit_ratio(),
            "edge_origin_requests": self.origin_requests,
            "edge_origin_bytes": self.origin_bytes,
            "edge_origin_rps": self.origin_rps(),
            "edge_pops_up": sum(1 for p in self.pops.values() if p.health is not Health.FAILED),
            "edge_invalidation_paths": self.invalidation_paths,
            "edge_invalidation_usd": self.invalidation_usd(),
            "edge_evictions": sum(p.cache.evictions for p in self.pops.values()),
        }
        for pop in self.pops.values():
            out[f"edge_hit_ratio.{pop.id}"] = self.hit_ratio(pop)
        for area in self.hist:
            out[f"edge_p50_ms.{area}"] = self.percentile(area, 0.50)
            out[f"edge_p95_ms.{area}"] = self.percentile(area, 0.95)
        for g in self.groups:
            out[f"edge_ttl_s.{g.name}"] = g.ttl_s
            if g.changing:
                out[f"edge_stale_s.{g.name}"] = round(g.stale_max_s, 3)
        if self.trace_hits is not None:
            out["edge_trace_hits"] = self.trace_hits
            out["edge_trace_faults"] = self.trace_faults or 0
        return out


def _at_least_one(old: dict[int, float], v: int) -> bool:
    """Does a step serve ``STALE_MIN_REQUESTS`` requests version ``v`` or an older one?"""
    return math.fsum(n for u, n in old.items() if u <= v) >= STALE_MIN_REQUESTS


def attach(cloud: "Cloud", spec: EdgeSpec) -> EdgeNetwork:
    edge = EdgeNetwork(cloud, spec)
    cloud.metric_sources.append(edge.metrics)
    cloud.add_step_hook(edge.step, edge.quiet_until)
    cloud.health_listeners.append(edge.on_health)
    if spec.warm:
        edge.warm_up()
    edge._resolve(0)
    for g in edge.groups:  # a deploy is news: say when the origin publishes new versions
        for n, at in enumerate(sorted(g.spec.changes_at_s), 1):
            cloud.clock.schedule(int(round(at * 1000)), lambda g=g, n=n: cloud.emit("edge.published", group=g.name, path=g.spec.path, version=n))
    return edge


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    ("edge_requests", "requests from users so far"),
    ("edge_failed", "requests that reached a dead point of presence"),
    ("edge_hit_ratio", "the share of requests answered from an edge cache (percent)"),
    ("edge_hit_ratio.{pop}", "one point of presence's hit ratio (percent)"),
    ("edge_origin_requests", "requests that reached the origin"),
    ("edge_origin_bytes", "bytes the origin sent"),
    Metric("edge_origin_rps", "requests per second at the origin, over the last five minutes", clocked=True),
    ("edge_pops_up", "points of presence up"),
    ("edge_invalidation_paths", "invalidation paths requested"),
    ("edge_invalidation_usd", "what the invalidations cost beyond the free paths"),
    ("edge_evictions", "objects the points of presence evicted to make room"),
    ("edge_p50_ms.{area}", "median latency for one area's users, over the last five minutes"),
    ("edge_p95_ms.{area}", "95th percentile latency for one area's users, over the last five minutes"),
    ("edge_ttl_s.{group}", "how long a content group's copies stay fresh"),
    ("edge_stale_s.{group}", "the longest any user got a copy after the origin had replaced it (seconds)"),
    ("edge_trace_hits", "hits of the last reference string traced"),
    ("edge_trace_faults", "misses (faults) of the last reference string traced"),
)
EVENTS = events(
    ("edge.configured", "setting value was", "an edge setting changed"),
    ("edge.rerouted", "city was now", "a city's users resolved to another point of presence"),
    ("edge.published", "group path version", "the origin published new versions of a content group (a deploy)"),
    ("edge.invalidation_requested", "path done_at_s paths", "an invalidation was requested"),
    ("edge.invalidated", "path copies took_s", "an invalidation reached every cache"),
    ("edge.traced", "refs frames policy hits faults", "the player ran a reference string through a cache"),
)
