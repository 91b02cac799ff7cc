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
  then to the origin. Simultaneous requests for one object are collapsed into one
  origin request (CloudFront does this); here all requests for an object at one PoP
  within one step count as simultaneous.
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
- **Eviction** when a cache is full (cloud/caching.py): LRU by default, FIFO and LFU to
  compare. CloudFront does not let customers choose; the game does, to show the trade.
- **Popularity** follows a Zipf law within each content group (the k-th most popular
  object drawn with weight 1/k^alpha; Breslau et al., INFOCOM 1999, measured alpha from
  0.64 to 0.83 for web traffic), drawn from the session's seeded generator.

Latency is distance: light in fibre covers about 200 km per millisecond, and a path
is longer than the great circle (``user_stretch`` over the users' ISPs, 1.5 on the
provider's backbone), plus the user's last mile and the origin's own response time.
``p50``/``p95`` are over the last five simulated minutes, per user area.

Where the game simplifies: requests are counted per step, and the first request of a
step for an object pays the whole path while the rest are hits; every object of a group
has the same headers; caches hold whole objects; a PoP fails only as a whole; prices
of data transfer and requests are left out.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import accumulate
from math import floor
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import Field, model_validator

from .caching import Cache, Policy
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
GROUP_SHIFT = 32
IDX_MASK = (1 << GROUP_SHIFT) - 1  # a cache key is the group's index, then the object's
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


def zipf_guide(cum: list[float], bits: int = 12) -> tuple[float, list[int], list[int]]:
    """A guide table for drawing from cumulative weights ``cum`` (the cut-point method of
    Chen and Asau, 1974): a uniform ``u`` picks the object ``bisect_right(cum, u * total,
    0, len(cum) - 1)``; split [0, 1) into ``scale`` equal slices (a power of two, so ``j =
    floor(u * scale)`` is exact), and the answers at slice ``j``'s two ends, ``lows[j]`` and
    ``highs[j]``, bound the answer for every ``u`` in it (``u * total`` only grows with
    ``u``), so the search may run between them: the same object, in a few steps instead
    of one per halving of the whole list."""
    last, total = len(cum) - 1, cum[-1]
    scale = 1 << min(bits, last.bit_length())
    ends = [bisect_right(cum, j / scale * total, 0, last) for j in range(scale + 1)]
    return float(scale), ends[:-1], ends[1:]


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
@dataclass(eq=False)
class Group:
    spec: ContentSpec
    index: int
    sizes: list[int]
    cum: list[float]
    ttl_s: int = 0
    stale_max_s: float = 0.0
    headers: dict[str, int | bool | None] = field(default_factory=dict)
    behaviour: dict[str, int] = field(default_factory=dict)
    guide: tuple[float, list[int], list[int]] = field(init=False, repr=False)  # zipf_guide(cum)
    cum_packed: array = field(init=False, repr=False)  # cum as one block of doubles
    changing: bool = field(init=False)  # whether the origin ever publishes new versions
    published_ms: dict[int, int] = field(default_factory=dict, init=False, repr=False)  # changed_at_ms, remembered

    def __post_init__(self) -> None:
        self.guide = zipf_guide(self.cum)
        # the same numbers side by side, not one object each: a search between two of a
        # guide's ends then reads a cache line or two instead of one per step
        self.cum_packed = array("d", self.cum)
        self.changing = bool(self.spec.changes_every_s or self.spec.changes_at_s)

    @property
    def name(self) -> str:
        return self.spec.name

    def path_of(self, idx: int) -> str:
        p = self.spec.path
        return p[:-1] + str(idx) if p.endswith("*") else p

    def version(self, now_ms: int) -> int:
        """How many times the origin has changed the group's objects by now."""
        every = self.spec.changes_every_s
        n = int(now_ms // (every * 1000)) if every else 0
        return n + sum(1 for t in self.spec.changes_at_s if t * 1000 <= now_ms)

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


@dataclass(eq=False)
class Pop:
    spec: PopSpec
    cache: Cache
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
    cache: Cache

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
    carry: float = 0.0
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


class EdgeNetwork:
    def __init__(self, cloud: "Cloud", spec: EdgeSpec) -> None:
        self.cloud = cloud
        self.spec = spec
        self.eviction: str = spec.eviction
        self.price_class: str = spec.price_class
        self.shield: str | None = spec.origin_shield
        rng = cloud.rng
        self.groups: list[Group] = []
        shares = []
        for i, c in enumerate(spec.content):
            mean = c.size_kib * KIB
            sizes = [max(1, int(mean * (0.5 + rng.random()))) for _ in range(c.objects)]
            cum = list(accumulate(1.0 / (k ** c.zipf) for k in range(1, c.objects + 1)))
            g = Group(c, i, sizes, cum)
            g.headers = {"max-age": c.max_age_s, "s-maxage": c.s_maxage_s, "expires": c.expires_s, "no-cache": c.no_cache}
            g.behaviour = {"min": c.min_ttl_s, "default": c.default_ttl_s, "max": c.max_ttl_s}
            self.groups.append(g)
            shares.append(c.share_pct)
        self.shares = shares
        for g in self.groups:
            g.ttl_s = self.ttl_of(g)
        self.recs = {r.name: RegionalCache(r, Cache(int(r.cache_gib * GIB), self.eviction)) for r in spec.regional_caches}
        self.pops = {p.name: Pop(p, Cache(int(p.cache_gib * GIB), self.eviction)) for p in spec.pops}
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
        # accounting
        self.requests = 0
        self.hits = 0
        self.refreshes = 0
        self.failed = 0
        self.origin_requests = 0
        self.origin_bytes = 0
        self.invalidations: list[Invalidation] = []
        self.invalidation_paths = 0
        self.hist: dict[str, deque[tuple[int, Counter[float]]]] = {u.area: deque() for u in spec.users}
        self.origin_window: deque[tuple[int, int]] = deque()
        self.last_offered = 0
        self.last_failed = 0
        self.trace_hits: int | None = None
        self.trace_faults: int | None = None

    def warm_up(self) -> None:
        """Fill every cache with the most popular objects, as a distribution that has run
        for weeks has them, each copy part-way through its freshness (ages spread evenly,
        so they do not all expire at once)."""
        ranked: list[tuple[float, int, int]] = []
        for g in self.groups:
            share = self.shares[g.index] / g.cum[-1]
            prev = 0.0
            for idx, c in enumerate(g.cum):
                ranked.append((-(c - prev) * share, g.index, idx))
                prev = c
        ranked.sort()
        caches = [p.cache for p in self.pops.values()] + [r.cache for r in self.recs.values()]
        # per group, what every copy of it shares (read for every object in every cache)
        sizes = [g.sizes for g in self.groups]
        ttls_ms = [g.ttl_s * 1000 for g in self.groups]
        versions = [g.version(0) for g in self.groups]
        for n, cache in enumerate(caches):
            for _, gi, idx in ranked:
                size = sizes[gi][idx]
                if cache.used + size > cache.capacity:
                    break
                ttl_ms = ttls_ms[gi]
                if ttl_ms <= 0:
                    continue
                key = (gi << GROUP_SHIFT) | idx
                born = -(((key * 2_654_435_761) ^ (n * 40_503)) % ttl_ms)
                cache.put(key, size, (versions[gi], born, born + ttl_ms))

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

    def set_behaviour(self, group: Group, setting: str, value: int) -> tuple[int, int]:
        """Change a cache behaviour's TTL (min, default, max); checked first (ValueError)."""
        new = dict(group.behaviour, **{setting: value})
        cloudfront_ttl(new["min"], new["default"], new["max"])
        was = group.behaviour[setting]
        group.behaviour = new
        before = group.ttl_s
        group.ttl_s = self.ttl_of(group)
        self.cloud.emit("edge.configured", setting=f"{group.name}.{setting}_ttl", value=value, was=was)
        return before, group.ttl_s

    def set_header(self, group: Group, header: str, value: int | bool | None) -> tuple[int, int]:
        new = dict(group.headers, **{header: value})
        b = group.behaviour
        cloudfront_ttl(b["min"], b["default"], b["max"], max_age=new["max-age"], s_maxage=new["s-maxage"], expires_in=new["expires"], no_cache=bool(new["no-cache"]))  # type: ignore[arg-type]
        was = group.headers[header]
        group.headers = new
        before = group.ttl_s
        group.ttl_s = self.ttl_of(group)
        self.cloud.emit("edge.configured", setting=f"{group.name}.{header}", value=value if value is not None else "off", was=was if was is not None else "off")
        return before, group.ttl_s

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
                if old is not None:
                    self.cloud.emit("edge.rerouted", city=user.spec.city, was=old, now=best or "")

    def reroute_now(self) -> None:
        """A settings change: DNS answers with it from now on."""
        self._resolve(self.cloud.now_ms)

    # -- one step ---------------------------------------------------------------------------
    def _chain(self, pop: Pop) -> tuple[list[tuple[str, Cache]], list[float]]:
        """The caches a miss at ``pop`` walks through (its REC, then the shield), and the
        extra round-trip ms of an answer from each of them and, last, from the origin."""
        chain: list[tuple[str, Cache]] = []
        rec = pop.spec.regional
        if rec is not None and rec in self.recs:
            chain.append((rec, self.recs[rec].cache))
        if self.shield is not None and self.shield != rec:
            chain.append((self.shield, self.recs[self.shield].cache))
        extra: list[float] = []
        at, ms = pop.id, 0.0
        for name, _ in chain:
            ms += 2 * self.hop_ms[(at, name)]
            at = name
            extra.append(ms)
        extra.append(ms + 2 * self.hop_ms[(at, "origin")] + self.spec.origin.response_ms)
        return chain, extra

    def step(self, dt_ms: int) -> None:
        """One step of requests: each user's, spread over the content groups by share,
        each group's objects drawn by Zipf popularity, and each object that was asked
        for answered once (the rest of its requests in the step ride on that answer)."""
        now = self.cloud.now_ms
        self._resolve(now)
        rnd = self.cloud.rng.random
        bucket = now // BUCKET_MS
        origin_before = self.origin_requests
        versions = [g.version(now) if g.changing else 0 for g in self.groups]
        chains = {name: self._chain(pop) for name, pop in self.pops.items()}
        ttl_ms = self.spec.dns_ttl_s * 1000
        self.last_offered = self.last_failed = 0
        for user in self.users:
            user.carry += user.spec.rps * dt_ms / 1000
            total = int(user.carry)
            user.carry -= total
            if not total:
                continue
            self.requests += total
            self.last_offered += total
            old = int(round(total * user.share_on_old(now, ttl_ms)))
            for name, n in ((user.was, old), (user.pop, total - old)):
                if n:
                    self._serve_user(user, name, n, now, bucket, rnd, versions, chains)
        self.origin_window.append((now, self.origin_requests - origin_before))
        while self.origin_window and self.origin_window[0][0] <= now - WINDOW_MS:
            self.origin_window.popleft()

    def _serve_user(
        self, user: User, name: str | None, n: int, now: int, bucket: int, rnd: Any, versions: list[int], chains: dict
    ) -> None:
        """``n`` requests of one city's clients at the PoP their DNS answer names."""
        pop = self.pops.get(name) if name else None
        if pop is None or pop.health is Health.FAILED:
            self.failed += n
            self.last_failed += n
            return
        pop.requests += n
        chain, extra = chains[pop.id]
        cache = pop.cache
        data = cache._data
        get = data.get
        # what a hit tells the eviction policy: LRU moves the object to the back, LFU counts
        # it, FIFO nothing (a side-effect-free lookup stands in)
        touch = data.move_to_end if cache.policy == "lru" else cache._bump if cache.policy == "lfu" else data.get
        hits = 0
        answered = [0] * len(extra)  # first requests answered by each upstream tier
        for g, k in zip(self.groups, _split(n, self.shares)):
            if not k:
                continue
            base = g.index << GROUP_SHIFT
            current = versions[g.index]
            changing = g.changing
            cum, total = g.cum_packed, g.cum[-1]
            scale, lows, highs = g.guide
            upstream, put, sizes, ttl_ms = self._upstream, cache.put, g.sizes, g.ttl_s * 1000
            # the requests in the order they come; a later request of the step for an
            # object finds the copy the first one fetched (CloudFront collapses
            # simultaneous requests for one object into one origin request)
            went = 0  # requests that had to ask upstream
            for _ in range(k):
                # inverse transform sampling of the Zipf law: the object whose cumulative
                # weight first exceeds a uniform draw, searched for between the ends of
                # the draw's slice (zipf_guide)
                u = rnd()
                j = floor(u * scale)
                key = base | bisect_right(cum, u * total, lows[j], highs[j])
                held = get(key)
                if held is not None and now < held[2]:  # a fresh copy: a hit
                    touch(key)
                    if changing and held[0] < current:
                        self._note_stale(g, held[0], now)
                    continue
                went += 1
                idx = key & IDX_MASK
                tier, version, born, revalidated = upstream(chain, g, key, idx, now, held, current)
                answered[tier] += 1
                if ttl_ms > 0:
                    put(key, sizes[idx], (version, born, born + ttl_ms))
                if revalidated:
                    pop.refreshes += 1
                    self.refreshes += 1
                    hits += 1  # a refresh hit: served from the edge's own copy
                if changing and version < current:
                    self._note_stale(g, version, now)
            hits += k - went
        pop.hits += hits
        self.hits += hits
        hist = self._hist(user.spec.area, bucket)
        up_ms = 2 * user.ms[pop.id] + 1.0
        served_up = n - sum(answered)
        if served_up:
            hist[round(up_ms, 1)] += served_up
        for tier, count in enumerate(answered):
            if count:
                hist[round(up_ms + extra[tier], 1)] += count

    def _hist(self, area: str, bucket: int) -> Counter[float]:
        q = self.hist[area]
        if not q or q[-1][0] != bucket:
            q.append((bucket, Counter()))
            while q and q[0][0] <= bucket - WINDOW_MS // BUCKET_MS:
                q.popleft()
        return q[-1][1]

    def _upstream(
        self, chain: list[tuple[str, Cache]], g: Group, key: int, idx: int, now: int, held: tuple | None, current: int
    ) -> tuple[int, int, int, bool]:
        """Fetch through the PoP's regional cache (and the shield) to the origin. Returns
        which tier answered (an index into the chain; its length for the origin), the
        version got, when the origin produced it (its age travels with it), and whether
        the copy ``held`` turned out current (a 304: a refresh hit)."""
        size = g.sizes[idx]
        known = held  # the copy nearest the user, fresh or not: what a 304 would confirm
        for tier, (_, cache) in enumerate(chain):
            got = cache._data.get(key)
            if got is None:
                continue
            if now < got[2]:
                cache.touch(key)
                for _, lower in chain[:tier]:
                    lower.put(key, size, got)
                return tier, got[0], got[1], held is not None and held[0] == got[0]
            if known is None:
                known = got
        version = current if g.changing else 0
        self.origin_requests += 1
        if known is None or known[0] != version:
            self.origin_bytes += size
        ttl_ms = g.ttl_s * 1000
        if ttl_ms > 0:
            copy = (version, now, now + ttl_ms)
            for _, cache in chain:
                cache.put(key, size, copy)
        return len(chain), version, now, held is not None and held[0] == version

    @staticmethod
    def _note_stale(g: Group, version: int, now: int) -> None:
        """A user got an outdated copy: how long after the origin replaced it."""
        late = (now - g.changed_at_ms(version + 1)) / 1000
        if late > g.stale_max_s:
            g.stale_max_s = late

    # -- the player's changes ------------------------------------------------------------------
    def set_eviction(self, policy: str) -> str:
        was = self.eviction
        self.eviction = policy
        for c in [p.cache for p in self.pops.values()] + [r.cache for r in self.recs.values()]:
            c.set_policy(policy)
        self.cloud.emit("edge.configured", setting="eviction", value=policy, was=was)
        return was

    def set_price_class(self, value: str) -> str:
        was = self.price_class
        self.price_class = value
        self.cloud.emit("edge.configured", setting="price_class", value=value, was=was)
        self.reroute_now()
        return was

    def set_shield(self, name: str | None) -> str | None:
        was = self.shield
        self.shield = name
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
        prefix = inv.path[:-1] if inv.path.endswith("*") else None
        groups = {g.index: g for g in self.matches(inv.path)}
        removed = 0
        for cache in [p.cache for p in self.pops.values()] + [r.cache for r in self.recs.values()]:
            for key in cache.keys():
                g = groups.get(key >> GROUP_SHIFT)
                if g is None:
                    continue
                obj = g.path_of(key & IDX_MASK)
                if (prefix is not None and obj.startswith(prefix)) or obj == inv.path:
                    cache.discard(key)
                    removed += 1
        self.cloud.emit("edge.invalidated", path=inv.path, copies=removed, took_s=(inv.done_ms - inv.requested_ms) / 1000)

    def invalidation_usd(self) -> float:
        billed = max(0, self.spec.invalidation_paths_used + self.invalidation_paths - FREE_INVALIDATION_PATHS)
        already = max(0, self.spec.invalidation_paths_used - FREE_INVALIDATION_PATHS)
        return round((billed - already) * USD_PER_INVALIDATION_PATH, 4)

    def on_health(self, kind: str, ident: str, before: Health, after: Health) -> None:
        if kind == "pop":
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


def _split(total: int, weights: list[float]) -> list[int]:
    """``total`` in proportion to ``weights``, the remainder to the largest fractions."""
    wsum = sum(weights)
    raw = [total * w / wsum for w in weights]
    out = [int(x) for x in raw]
    left = total - sum(out)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - out[i]), i))
    for i in order[:left]:
        out[i] += 1
    return out


def attach(cloud: "Cloud", spec: EdgeSpec) -> EdgeNetwork:
    edge = EdgeNetwork(cloud, spec)
    cloud.metric_sources.append(edge.metrics)
    cloud.step_hooks.append(edge.step)
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
