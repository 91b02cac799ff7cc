"""The edge network's commands (chapter 13): its state, cache behaviours (TTLs) and the
origin's headers, the price class, the origin shield, eviction, invalidation, and a
what-if tracer for reference strings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud import edge as sim
from ...cloud.caching import ANALYSED, POLICIES, faults, parse_refs
from ...cloud.hardware import Health
from ..console_text import fitted
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
HEADERS = ("max-age", "s-maxage", "expires", "no-cache")
TTLS = ("min", "default", "max")
MAX_TTL_S = 10 * 365 * 86_400


def _edge(session: "Session") -> sim.EdgeNetwork:
    edge = session.cloud.get(sim.EdgeNetwork)
    if edge is None:
        raise CommandError("this world has no edge network (its world has no edge section)")
    return edge


def _group(edge: sim.EdgeNetwork, name: str) -> sim.Group:
    for g in edge.groups:
        if g.name == name or g.spec.path == name:
            return g
    names = ", ".join(f"{g.name} ({g.spec.path})" for g in edge.groups)
    raise CommandError(f"no content group {name!r} (groups: {names})")


def _ttl_word(seconds: int) -> str:
    if seconds == 0:
        return "0 s (not cached: every request goes to the origin)"
    for unit, size in (("day", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{seconds} s ({n} {unit}{'s' if unit == 'day' and n != 1 else ''})"
    return f"{seconds} s"


def headers_text(g: sim.Group) -> str:
    h = g.headers
    parts = [f"{k}={h[k]}" for k in ("max-age", "s-maxage") if h[k] is not None]
    if h["expires"] is not None:
        parts.append(f"Expires in {h['expires']} s")
    if h["no-cache"]:
        parts.append("no-cache")
    return ", ".join(parts) or "no caching headers"


def edge_text(session: "Session") -> str:
    edge = session.cloud.get(sim.EdgeNetwork)
    if edge is None:
        return "no edge network in this world"
    m = edge.metrics()
    shield = edge.shield or "off"
    lines = [
        f"t={session.cloud.now_ms / 1000:g}s edge: price class {edge.price_class}, origin shield {shield}, eviction {edge.eviction}; "
        f"hit ratio {m['edge_hit_ratio']:g}% of {m['edge_requests']} requests ({m['edge_failed']} failed)",
        f"origin ({edge.spec.origin.city}): {m['edge_origin_rps']:g} requests/s over the last 5 min, "
        f"{m['edge_origin_requests']} requests and {m['edge_origin_bytes'] / 1e9:.2f} GB so far",
        "  pop   city          class  state     hit%   cache         users",
    ]
    served: dict[str, list[str]] = {}
    for u in edge.users:
        if u.pop:
            served.setdefault(u.pop, []).append(u.spec.city)
    for pop in edge.pops.values():
        state = "DOWN" if pop.health is Health.FAILED else "up" if edge.enabled(pop) else "unused"
        fill = f"{pop.cache.used / sim.GIB:5.1f}/{pop.spec.cache_gib:g} GiB"
        lines.append(
            f"  {pop.id:<5} {pop.spec.city[:13]:<13} {pop.spec.price_class:>5}  {state:<7} {edge.hit_ratio(pop):6.1f}   {fill:<13} "
            + (", ".join(served.get(pop.id, [])) or "-")
        )
    lines.append("  latency (last 5 min): " + "; ".join(
        f"{a} p50 {m[f'edge_p50_ms.{a}']:g} ms p95 {m[f'edge_p95_ms.{a}']:g} ms" for a in edge.hist
    ))
    lines.append("  content: " + "; ".join(
        f"{g.name} {g.spec.path} TTL {g.ttl_s}s" + (f", stale up to {g.stale_max_s:g}s" if g.spec.changes_every_s or g.spec.changes_at_s else "")
        for g in edge.groups
    ))
    pending = [i for i in edge.invalidations if i.done_ms > session.cloud.now_ms]
    if pending:
        lines.append("  invalidating: " + ", ".join(f"{i.path} (done at t={i.done_ms / 1000:g}s)" for i in pending))
    return "\n".join(lines)


@command("edge show", "the edge network: each PoP's hit ratio and users, latency per area, origin load, content TTLs")
@fitted
def edge_show(session: "Session") -> str:
    _edge(session)
    return edge_text(session)


@command(
    "edge ttl",
    "set a content group's cache behaviour: its minimum, default or maximum TTL",
    args=[
        Param("group", "a content group (its name or path)", complete="content"),
        Param("setting", "which TTL", choices=TTLS),
        Param("seconds", "the TTL in seconds", type=int),
    ],
    details="""CloudFront's rule (Developer Guide, expiration): s-maxage, else max-age, else the
Expires date, clamped between the minimum and maximum TTL; with none of them, the
default TTL. no-cache is respected only while the minimum TTL is 0.""",
)
def edge_ttl(session: "Session", group: str, setting: str, seconds: int) -> str:
    edge = _edge(session)
    g = _group(edge, group)
    if seconds < 0:
        raise CommandError(f"a TTL cannot be negative ({seconds})")
    if seconds > MAX_TTL_S:
        raise CommandError(f"a TTL of at most {MAX_TTL_S} s (ten years), not {seconds}")
    try:
        before, after = edge.set_behaviour(g, setting, seconds)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    b = g.behaviour
    return (
        f"{g.name} ({g.spec.path}): {setting} TTL {seconds} s; behaviour min {b['min']}, default {b['default']}, max {b['max']}; "
        f"origin sends {headers_text(g)}\n  copies now stay fresh {_ttl_word(after)} (was {before} s)"
    )


@command(
    "edge header",
    "change what the origin sends with a content group: Cache-Control max-age, s-maxage, Expires, no-cache",
    args=[
        Param("group", "a content group (its name or path)", complete="content"),
        Param("header", "which header", choices=HEADERS),
        Param("value", "seconds, or off (no-cache: on or off)"),
    ],
)
def edge_header(session: "Session", group: str, header: str, value: str) -> str:
    edge = _edge(session)
    g = _group(edge, group)
    parsed: int | bool | None
    if header == "no-cache":
        if value not in ("on", "off"):
            raise CommandError(f"no-cache is on or off, not {value!r}")
        parsed = value == "on"
    elif value == "off":
        parsed = None
    else:
        try:
            parsed = int(value)
        except ValueError:
            raise CommandError(f"{header} is a number of seconds or off, not {value!r}") from None
        if parsed < 0:
            raise CommandError(f"{header} cannot be negative ({parsed})")
        if parsed > MAX_TTL_S:
            raise CommandError(f"{header} of at most {MAX_TTL_S} s, not {parsed}")
    try:
        before, after = edge.set_header(g, header, parsed)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return f"{g.name}: the origin now sends {headers_text(g)}\n  copies now stay fresh {_ttl_word(after)} (was {before} s)"


@command(
    "edge price-class",
    "which edge locations serve: 100 (North America, Europe), 200 (+ Asia, Africa), all (+ South America, Oceania)",
    args=[Param("value", "the price class", choices=sim.PRICE_CLASSES)],
)
def edge_price_class(session: "Session", value: str) -> str:
    edge = _edge(session)
    if value == edge.price_class:
        return f"the price class is already {value}"
    edge.set_price_class(value)
    used = [p.id for p in edge.pops.values() if edge.enabled(p)]
    return f"price class {value}: edge locations {', '.join(used)}; users re-resolve to the nearest one"


@command(
    "edge shield",
    "send every miss through one regional cache (the origin shield), or not",
    args=[Param("cache", "a regional edge cache, or off", complete="regional-cache")],
)
def edge_shield(session: "Session", cache: str) -> str:
    edge = _edge(session)
    if cache == "off":
        was = edge.set_shield(None)
        return f"origin shield off (was {was or 'off'}): each regional cache goes to the origin itself"
    if cache not in edge.recs:
        raise CommandError(f"no regional cache {cache!r} (regional caches: {', '.join(edge.recs) or 'none'}, or off)")
    edge.set_shield(cache)
    return f"origin shield {cache}: every regional cache's misses now go through {cache} to the origin"


@command(
    "edge eviction",
    "how full caches choose what to drop: lru, fifo or lfu",
    args=[Param("policy", "the eviction policy", choices=POLICIES)],
)
def edge_eviction(session: "Session", policy: str) -> str:
    edge = _edge(session)
    if policy == edge.eviction:
        return f"eviction is already {policy}"
    was = edge.set_eviction(policy)
    return f"eviction {was} -> {policy} in every cache (contents kept)"


@command(
    "edge invalidate",
    "remove objects from every edge cache (takes time; paths beyond 1,000 a month cost $0.005 each)",
    args=[Param("path", "a path such as /prices, /img/42 or /img/* (a * wildcard counts as one path)")],
)
def edge_invalidate(session: "Session", path: str) -> str:
    edge = _edge(session)
    if not path.startswith("/"):
        raise CommandError(f"an invalidation path starts with /, not {path!r}")
    if "*" in path[:-1]:
        raise CommandError("a * may only end an invalidation path (such as /img/*)")
    if not edge.matches(path):
        raise CommandError(f"{path!r} matches no content (paths: {', '.join(g.spec.path for g in edge.groups)})")
    inv = edge.invalidate(path)
    usd = edge.invalidation_usd()
    used = edge.spec.invalidation_paths_used + edge.invalidation_paths
    return (
        f"invalidating {path}: every edge cache drops it by t={inv.done_ms / 1000:g}s; "
        f"{used} paths this month ({sim.FREE_INVALIDATION_PATHS} free), invalidations cost ${usd:.3f} so far"
    )


@command(
    "edge trace",
    "run a reference string through a cache of N slots and count hits and misses",
    args=[Param("refs", "a reference string such as 1,2,3,4,1,2,5,1,2,3,4,5")],
    options=[
        Param("frames", "how many objects the cache holds", type=int, min=1, max=1000, default=3),
        Param("policy", "lru, fifo, lfu, or opt (Belady's optimum, which knows the future)", choices=ANALYSED, default="lru"),
    ],
)
def edge_trace(session: "Session", refs: str, frames: int, policy: str) -> str:
    edge = _edge(session)
    try:
        seq = parse_refs(refs)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    misses = faults(seq, frames, policy)
    edge.trace_hits, edge.trace_faults = len(seq) - misses, misses
    session.cloud.emit("edge.traced", refs=len(seq), frames=frames, policy=policy, hits=len(seq) - misses, faults=misses)
    others = ", ".join(f"{p} {faults(seq, frames, p)}" for p in ANALYSED if p != policy)
    return (
        f"{len(seq)} references, {frames} slots, {policy}: {len(seq) - misses} hits, {misses} misses "
        f"(hit ratio {100 * (len(seq) - misses) / len(seq):.0f}%)\n  misses under the others: {others}"
    )


def _status(session: "Session", thing: str | None) -> str | None:
    edge = session.cloud.get(sim.EdgeNetwork)
    if edge is None:
        return None
    if thing is None:
        m = edge.metrics()
        return f"edge: hit ratio {m['edge_hit_ratio']:g}%, origin {m['edge_origin_rps']:g} requests/s, {m['edge_pops_up']} of {len(edge.pops)} PoPs up"
    pop = edge.pops.get(thing)
    if pop is not None:
        return f"pop {pop.id} ({pop.spec.city}, price class {pop.spec.price_class}): {pop.health.value}; hit ratio {edge.hit_ratio(pop):g}%"
    return None


def _pops(session: "Session") -> list[str]:
    edge = session.cloud.get(sim.EdgeNetwork)
    return list(edge.pops) if edge is not None else []


def _recs(session: "Session") -> list[str]:
    edge = session.cloud.get(sim.EdgeNetwork)
    return list(edge.recs) + ["off"] if edge is not None else []


def _content(session: "Session") -> list[str]:
    edge = session.cloud.get(sim.EdgeNetwork)
    return [g.name for g in edge.groups] if edge is not None else []


MECHANISM = Mechanism(
    name="edge",
    summary="edge locations: users, PoPs and regional caches in front of an origin; TTLs, invalidation, eviction (chapter 13)",
    section=sim.EdgeSpec,
    attach=sim.attach,
    commands=command,
    ids={"pop": _pops, "regional-cache": _recs, "content": _content},
    status=_status,
    faults=("pop",),
    metrics=sim.METRICS,
    events=sim.EVENTS,
    views={"edge": edge_text},
)
