"""Edge locations (chapter 13) and the caches under them: CloudFront's TTL rules,
textbook page replacement (FIFO, LRU, OPT) and Belady's anomaly, the analytical cache
models against exact caches (Che's LRU, Martina's FIFO, Jung's TTL cache), routing to the
nearest healthy PoP, revalidation, invalidation and its bill, the origin shield, a long
tick equal to stepping, bad input."""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudquest.cloud.caching import (
    Cache,
    characteristic_time,
    che_characteristic_time,
    faults,
    lfu_resident,
    presence,
    ttl_hit_probability,
)
from cloudquest.cloud.edge import ContentSpec, EdgeNetwork, Group, cloudfront_ttl, object_classes
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter
from stepping import step_lengths

HOUR, DAY, YEAR = 3600, 86_400, 31_536_000


# -- CloudFront Developer Guide, "Specifying how long objects stay in a CloudFront edge cache
# -- (Expiration)", and the AWS knowledge-center article on conflicting cache durations -----
@pytest.mark.parametrize(
    "mn,default,mx,headers,want",
    [
        # no header: the default TTL (CloudFront's defaults are 0, one day, one year)
        (0, DAY, YEAR, {}, DAY),
        (60, 300, 3600, {}, 300),
        # minimum TTL 0: the lesser of max-age and the maximum TTL
        (0, 300, 300, {"max_age": HOUR}, 300),  # "maximum TTL 5 min, max-age 1 h: cached 5 min"
        (0, DAY, YEAR, {"max_age": 600}, 600),
        # minimum TTL above 0: max-age clamped between minimum and maximum
        (60, 300, 3600, {"max_age": 30}, 60),
        (60, 300, 3600, {"max_age": 1800}, 1800),
        (60, 300, 3600, {"max_age": 7200}, 3600),
        # s-maxage wins over max-age for CloudFront (max-age is for browsers then)
        (0, DAY, YEAR, {"max_age": 1000, "s_maxage": 100}, 100),
        (60, 300, 3600, {"max_age": 10, "s_maxage": 9000}, 3600),
        # max-age wins over Expires ("max-age 3 h and Expires in a month: cached 3 h")
        (0, DAY, YEAR, {"max_age": 3 * HOUR, "expires_in": 30 * DAY}, 3 * HOUR),
        # Expires alone: until the date or the maximum TTL, whichever is sooner; clamped
        (0, 300, 300, {"expires_in": 500}, 300),
        (0, DAY, YEAR, {"expires_in": 100}, 100),
        (60, 300, 3600, {"expires_in": 10}, 60),
        (0, DAY, YEAR, {"expires_in": -50}, 0),  # a date already past
        # no-cache / no-store / private: respected with minimum TTL 0, else the minimum
        (0, DAY, YEAR, {"no_cache": True}, 0),
        (60, 300, 3600, {"no_cache": True}, 60),
        # all three TTLs 0: CloudFront always checks with the origin
        (0, 0, 0, {}, 0),
    ],
)
def test_cloudfront_ttl_rules(mn, default, mx, headers, want):
    assert cloudfront_ttl(mn, default, mx, **headers) == want


@pytest.mark.parametrize("args", [(-1, 0, 0), (0, -5, 10), (10, 5, 100), (0, 100, 50)])
def test_cloudfront_ttls_must_be_ordered_and_not_negative(args):
    with pytest.raises(ValueError):
        cloudfront_ttl(*args)


# -- page replacement: Silberschatz, Galvin and Gagne, Operating System Concepts (the
# -- 20-reference string), and Belady, Nelson and Shedler, CACM 1969 (the anomaly) ----------
TEXTBOOK = [7, 0, 1, 2, 0, 3, 0, 4, 2, 3, 0, 3, 2, 1, 2, 0, 1, 7, 0, 1]
BELADY = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5]


def test_the_textbook_reference_string_under_fifo_lru_and_optimal():
    assert faults(TEXTBOOK, 3, "fifo") == 15
    assert faults(TEXTBOOK, 3, "lru") == 12
    assert faults(TEXTBOOK, 3, "opt") == 9


def test_beladys_anomaly_more_frames_more_faults_under_fifo():
    assert faults(BELADY, 3, "fifo") == 9
    assert faults(BELADY, 4, "fifo") == 10
    # LRU and OPT are stack algorithms: no anomaly
    assert faults(BELADY, 3, "lru") == 10 and faults(BELADY, 4, "lru") == 8
    assert faults(BELADY, 3, "opt") == 7 and faults(BELADY, 4, "opt") == 6


@settings(max_examples=80, deadline=None)
@given(refs=st.lists(st.integers(0, 8), min_size=1, max_size=60), frames=st.integers(1, 6))
def test_optimal_is_never_beaten_and_lru_never_gets_worse_with_more_room(refs, frames):
    opt = faults(refs, frames, "opt")
    for policy in ("fifo", "lru", "lfu"):
        assert opt <= faults(refs, frames, policy)
    assert faults(refs, frames + 1, "lru") <= faults(refs, frames, "lru")
    assert faults(refs, frames + 1, "opt") <= opt


def test_a_byte_cache_evicts_until_it_fits_and_never_keeps_an_object_bigger_than_itself():
    c = Cache(100, "lru")
    for k in range(5):
        c.put(k, 30, k)
    assert c.used <= 100 and len(c) == 3 and c.evictions == 2 and c.keys() == [2, 3, 4]
    c.get(2)  # now the most recent
    c.put(9, 30, 9)
    assert c.keys() == [4, 2, 9]
    c.put("huge", 500, None)
    assert "huge" not in c
    lfu = Cache(3, "lfu")
    for k in ("a", "b", "c", "a", "a", "b", "d"):
        if lfu.get(k) is None:
            lfu.put(k, 1, k)
    assert sorted(lfu.keys()) == ["a", "b", "d"]  # c was used least


# -- the edge network -----------------------------------------------------------------------------
def _world(**edge) -> dict:
    edge.setdefault("origin", {"city": "Ashburn", "lat": 39.04, "lon": -77.49, "response_ms": 40})
    edge.setdefault("regional_caches", [
        {"name": "rec-fra", "city": "Frankfurt", "lat": 50.11, "lon": 8.68},
        {"name": "rec-iad", "city": "Ashburn", "lat": 39.04, "lon": -77.49},
        {"name": "rec-syd", "city": "Sydney", "lat": -33.87, "lon": 151.21},
    ])
    edge.setdefault("pops", [
        {"name": "fra", "city": "Frankfurt", "lat": 50.11, "lon": 8.68, "regional": "rec-fra"},
        {"name": "lhr", "city": "London", "lat": 51.51, "lon": -0.13, "regional": "rec-fra"},
        {"name": "iad", "city": "Ashburn", "lat": 39.04, "lon": -77.49, "regional": "rec-iad"},
        {"name": "syd", "city": "Sydney", "lat": -33.87, "lon": 151.21, "price_class": "all", "regional": "rec-syd"},
    ])
    edge.setdefault("users", [
        {"city": "Berlin", "area": "europe", "lat": 52.52, "lon": 13.40, "rps": 100},
        {"city": "Sydney", "area": "oceania", "lat": -33.87, "lon": 151.21, "rps": 50},
    ])
    edge.setdefault("content", [
        {"name": "img", "path": "/img/*", "objects": 2000, "size_kib": 50, "share_pct": 90, "max_age_s": 86400},
        {"name": "prices", "path": "/prices", "share_pct": 10, "max_age_s": 60, "changes_every_s": 30},
    ])
    return {"view": "edge", "tick_ms": 1000, "edge": edge}


def _session(world: dict, seed: int = 0) -> Session:
    return Session(free_play_chapter(World.model_validate(world)), seed, sandbox=True)


def _edge(s: Session) -> EdgeNetwork:
    e = s.cloud.get(EdgeNetwork)
    assert e is not None
    return e


def test_users_reach_the_nearest_pop_their_price_class_allows():
    s = _session(_world(price_class="100"))
    e = _edge(s)
    assert [u.pop for u in e.users] == ["fra", "iad"]  # Sydney crosses the Pacific to Ashburn
    s.execute("edge price-class all")
    assert [u.pop for u in e.users] == ["fra", "syd"]


def test_a_dead_pops_clients_fail_until_their_dns_answers_expire():
    """DNS answers the nearest healthy PoP at once, but each client keeps its cached answer
    for the TTL: the share of Berlin's requests still sent to the dead PoP falls from all
    to none over 60 s, so about half a minute's worth fail."""
    from cloudquest.cloud.faults import set_health
    from cloudquest.cloud.hardware import Health

    s = _session(_world(dns_ttl_s=60))
    e = _edge(s)
    s.execute("tick 10")
    set_health(s.cloud, "pop", "fra", Health.FAILED)
    assert e.users[0].pop == "lhr" and e.users[0].was == "fra"  # new lookups get London
    assert not e.whole()
    s.execute("tick 60")
    assert e.failed == pytest.approx(60 * 100 / 2, rel=0.05)
    assert e.whole()
    s.execute("tick 30")
    assert e.failed == pytest.approx(60 * 100 / 2, rel=0.05)  # nobody left on Frankfurt
    assert any(ev.kind == "edge.rerouted" for ev in s.cloud.log)


def test_a_stale_copy_is_revalidated_with_a_304_that_carries_no_body():
    world = _world(content=[{"name": "page", "path": "/page", "share_pct": 100, "max_age_s": 10}], warm=False)
    s = _session(world)
    e = _edge(s)
    s.execute("tick 1")
    first = (e.origin_requests, e.origin_bytes)
    s.execute("tick 20")
    assert e.origin_requests > first[0]  # revalidations after every 10 s
    assert e.origin_bytes == first[1]  # ... answered 304 Not Modified: no body
    assert e.refreshes > 0


def test_an_invalidation_takes_time_and_a_wildcard_is_one_path():
    world = _world(invalidation_s=60, invalidation_paths_used=999, content=[
        {"name": "hero", "path": "/hero/*", "objects": 10, "share_pct": 100, "max_age_s": 86400, "changes_at_s": [5]},
    ])
    s = _session(world)
    s.execute("tick 10")
    out = s.execute("edge invalidate /hero/*")
    assert out.ok and "t=70s" in out.output
    s.execute("tick 30")
    assert s.cloud.metrics()["edge_stale_s.hero"] >= 30  # still the old banners
    s.execute("tick 40")
    stale = s.cloud.metrics()["edge_stale_s.hero"]
    s.execute("tick 60")
    assert s.cloud.metrics()["edge_stale_s.hero"] == stale <= 66  # fresh from t=70 s on
    assert s.cloud.metrics()["edge_invalidation_usd"] == 0  # the 1,000th path: free
    s.execute("edge invalidate /hero/3")
    assert s.cloud.metrics()["edge_invalidation_usd"] == pytest.approx(0.005)  # the 1,001st: $0.005


def test_the_price_page_is_never_older_than_its_ttl():
    s = _session(_world())
    s.execute("tick 600")
    assert 0 < s.cloud.metrics()["edge_stale_s.prices"] <= 60
    s2 = _session(_world())
    s2.execute("edge header prices max-age 3600")
    s2.execute("tick 600")
    assert s2.cloud.metrics()["edge_stale_s.prices"] > 300


def test_an_origin_shield_collapses_the_regional_caches_misses():
    origin = {}
    for shield in ("off", "rec-iad"):
        s = _session(_world(price_class="all", warm=False))
        s.execute(f"edge shield {shield}")
        s.execute("tick 300")
        origin[shield] = s.cloud.metrics()["edge_origin_requests"]
    assert origin["rec-iad"] < origin["off"]


def test_a_group_s_classes_keep_zipf_popularity_and_every_object():
    """The k-th object gets k^-a / H(N, a) of its group's requests; classes of neighbouring
    ranks add up to exactly that, and hold every object and byte once."""
    sizes = [100 + k for k in range(20_000)]
    classes = object_classes(0.9, sizes)
    assert 30 < len(classes) < 80  # a few dozen classes stand for 20,000 objects
    h = math.fsum(k**-0.9 for k in range(1, 20_001))
    assert classes[0].count == 1 and classes[0].weight == pytest.approx(1 / h)
    assert sum(c.weight for c in classes) == pytest.approx(1.0)
    assert [i for c in classes for i in c.members] == list(range(20_000))
    assert sum(c.nbytes for c in classes) == sum(sizes)
    for c in classes:  # within a class the popularity differs by at most the class ratio
        assert (c.members[-1] + 1) ** 0.9 / (c.members[0] + 1) ** 0.9 <= 1.25**0.9 + 1e-9


def _zipf_stream(n: int, a: float, length: int, seed: int) -> list[int]:
    rnd = random.Random(seed)
    cum = list(accumulate(k**-a for k in range(1, n + 1)))
    return [bisect_right(cum, rnd.random() * cum[-1], 0, n - 1) for _ in range(length)]


@pytest.mark.parametrize("policy,frames", [("lru", 50), ("lru", 200), ("fifo", 50), ("fifo", 200)])
def test_the_characteristic_time_predicts_an_exact_cache_on_a_zipf_stream(policy, frames):
    """Che, Tung and Wang (2002) for LRU, Martina, Garetto and Leonardi (2014) for FIFO: the
    hit ratio sum(p_i * presence(p_i * T)), T filling the cache, is within a few percent of
    what the exact cache of caching.py gets on 200,000 Zipf(0.8) requests for 1,000 objects
    (Fricker, Robert and Roberts, 2012, on why it is this close)."""
    n, a = 1000, 0.8
    refs = _zipf_stream(n, a, 200_000, seed=7)
    exact = 1 - faults(refs, frames, policy) / len(refs)
    h = math.fsum(k**-a for k in range(1, n + 1))
    rates = [k**-a / h for k in range(1, n + 1)]  # per request of the stream
    t = characteristic_time(rates, [1] * n, frames, policy)
    model = math.fsum(p * presence(policy, p * t) for p in rates)
    assert math.fsum(presence(policy, p * t) for p in rates) == pytest.approx(frames)
    assert model == pytest.approx(exact, abs=0.02)


def test_che_s_time_is_infinite_when_everything_fits_and_lfu_keeps_the_most_popular():
    assert che_characteristic_time([1.0, 2.0], [10, 10], 20) == math.inf
    assert che_characteristic_time([1.0, 2.0], [10, 10], 19) < math.inf
    assert lfu_resident([1.0, 5.0, 3.0, 0.0], [10, 10, 10, 10], 25) == [0.5, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("rate,ttl", [(0.01, 60), (0.1, 60), (1.0, 30), (0.002, 3600)])
def test_a_ttl_cache_answers_rate_ttl_over_one_plus_rate_ttl(rate, ttl):
    """Jung, Berger and Balakrishnan (INFOCOM 2003): a miss fetches a copy fresh for the TTL;
    with Poisson requests the hit ratio is rate*TTL / (1 + rate*TTL). Checked against a
    seeded run of 40,000 requests."""
    rnd = random.Random(11)
    t, expires, hit = 0.0, -1.0, 0
    for _ in range(40_000):
        t += rnd.expovariate(rate)
        if t < expires:
            hit += 1
        else:
            expires = t + ttl
    assert ttl_hit_probability(rate, ttl) == rate * ttl / (1 + rate * ttl)
    assert hit / 40_000 == pytest.approx(ttl_hit_probability(rate, ttl), abs=0.01)


def test_a_pop_in_steady_state_hits_as_che_predicts_object_by_object():
    """The edge's PoP cache (object classes, the TTL long) answers as Che's formula run over
    every single object: the classes cost nothing a player could see."""
    content = [{"name": "img", "path": "/img/*", "objects": 5000, "size_kib": 100, "share_pct": 100, "zipf": 0.9, "max_age_s": 31_536_000}]
    pops = [{"name": "fra", "city": "Frankfurt", "lat": 50.11, "lon": 8.68, "cache_gib": 0.1}]
    users = [{"city": "Berlin", "area": "europe", "lat": 52.52, "lon": 13.40, "rps": 200}]
    s = _session(_world(content=content, pops=pops, users=users, regional_caches=[]))
    s.execute("tick 600")
    e = _edge(s)
    g = e.groups[0]
    rates = [200 * g.share_of(i) for i in range(5000)]
    t = che_characteristic_time(rates, g.sizes, e.pops["fra"].cache.capacity)
    che = math.fsum(r * (1 - math.exp(-r * t)) for r in rates) / 200
    assert 0.3 < che < 0.95
    assert e.hit_ratio(e.pops["fra"]) / 100 == pytest.approx(che, abs=0.005)


@settings(max_examples=60, deadline=None)
@given(
    deploys=st.lists(st.floats(0, 5000, allow_nan=False), max_size=4),
    every=st.one_of(st.none(), st.floats(0.5, 900)),
    version=st.integers(0, 60),
)
def test_when_a_version_was_published_is_the_nth_change(deploys, every, version):
    """The version-th of the deploys and the periodic changes, in time order."""
    g = Group(ContentSpec(name="c", path="/c", share_pct=100, changes_at_s=deploys, changes_every_s=every), 0, [1])
    times = sorted([t * 1000 for t in deploys] + ([k * every * 1000 for k in range(1, version + 1)] if every else []))
    assert g.changed_at_ms(version) == (int(times[version - 1]) if 0 < version <= len(times) else 0)


def test_edge_trace_counts_a_small_trace_and_sets_its_metrics():
    s = _session(_world())
    out = s.execute("edge trace 1,2,3,4,1,2,5,1,2,3,4,5 --frames 4 --policy fifo")
    assert out.ok and "2 hits, 10 misses" in out.output
    m = s.cloud.metrics()
    assert (m["edge_trace_hits"], m["edge_trace_faults"]) == (2, 10)


@pytest.mark.parametrize(
    "line,message",
    [
        ("edge ttl img min -5", "cannot be negative"),
        ("edge ttl img max 10", "minimum <= default <= maximum"),
        ("edge ttl nothing min 5", "no content group 'nothing'"),
        ("edge header img max-age -1", "cannot be negative"),
        ("edge header img max-age soon", "a number of seconds or off"),
        ("edge invalidate hero", "starts with /"),
        ("edge invalidate /nothing/*", "matches no content"),
        ("edge shield rec-mars", "no regional cache 'rec-mars'"),
        ("edge trace ,,,", "give a reference string"),
        ("edge price-class 300", "must be one of"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(line, message):
    s = _session(_world())
    s.execute("tick 2")
    before = (len(s.cloud.log), s.cloud.metrics())
    out = s.execute(line)
    assert not out.ok and out.error_kind == "input"
    assert message in out.output and "\n" not in out.output
    assert (len(s.cloud.log), s.cloud.metrics()) == before


def test_same_seed_same_run_and_another_seed_other_objects():
    """The seed draws the objects' sizes; the requests are counted in expectation."""
    lines = ["edge price-class all", "tick 60", "edge invalidate /img/*", "tick 90", "edge show"]
    runs = []
    for seed in (2, 2, 3):
        s = _session(_world(warm=False), seed)
        out = s.run_script(lines)
        runs.append((s.cloud.log.sha256(), s.cloud.metrics(), out[-1].output))
    assert runs[0] == runs[1]
    assert runs[0][1]["edge_origin_bytes"] != runs[2][1]["edge_origin_bytes"]


def _hero_world() -> dict:
    world = _world(price_class="all", dns_ttl_s=30, content=[
        {"name": "img", "path": "/img/*", "objects": 3000, "size_kib": 2000, "share_pct": 70, "max_age_s": 1800},
        {"name": "hero", "path": "/hero/*", "objects": 20, "size_kib": 400, "share_pct": 20, "zipf": 0.5, "max_age_s": 900, "changes_at_s": [700]},
        {"name": "prices", "path": "/prices", "share_pct": 10, "max_age_s": 60, "changes_every_s": 30},
    ])
    return world | {"tick_ms": 5000}


def test_a_long_tick_gives_what_stepping_gives_through_every_transient():
    """Fast-forward (one call for a quiet stretch) against one step at a time: a PoP that
    fails and comes back (DNS moves), a deploy, a partial invalidation (a class split), a
    wildcard one, a TTL change that empties nothing and one that makes a group cacheable:
    the same event log, metrics and staleness, byte for byte."""
    from cloudquest.cloud.faults import set_health
    from cloudquest.cloud.hardware import Health

    def run(fast: bool) -> tuple:
        s = _session(_hero_world())
        s.cloud.fast_forward = fast
        lengths = step_lengths(s.cloud, _edge(s).step)
        s.execute("tick 300.5")
        set_health(s.cloud, "pop", "fra", Health.FAILED)
        s.execute("tick 200")
        set_health(s.cloud, "pop", "fra", Health.HEALTHY)
        s.run_script(["tick 400", "edge invalidate /img/1*", "tick 100", "edge invalidate /hero/*",
                      "edge ttl prices max 30", "tick 4000", "edge eviction fifo", "tick 3333"])
        e = _edge(s)
        assert (max(lengths) > 5000) == fast  # skipped, or stepped
        return s.cloud.log.sha256(), s.cloud.metrics(), e.carry, [g.stale_max_s for g in e.groups]

    fast, stepped = run(True), run(False)
    assert fast == stepped
    assert fast[1]["edge_stale_s.hero"] == 360  # deployed at 700 s, invalidated from 1000.5 s to 1060.5 s
    assert 0 < fast[1]["edge_stale_s.prices"] <= 60


def test_an_idle_day_of_the_chapter_is_a_handful_of_model_steps_and_old_banners_last_a_day():
    """Once every cache is in its steady state, a day is skipped, not stepped; without an
    invalidation the hero banners deployed at 20 minutes stay out of date for most of a day
    (their copies live a day)."""
    from cloudquest.game.chapters import chapter_files, load_chapter

    chapter = load_chapter(next(p for p in chapter_files() if p.stem.startswith("13")))
    s = Session(chapter, 0)
    calls = step_lengths(s.cloud, _edge(s).step)
    s.execute("tick 86400")
    assert len(calls) < 50
    assert 80_000 < s.cloud.metrics()["edge_stale_s.hero"] < 86_400


def test_a_day_of_refilling_is_worked_out_on_a_schedule_that_thins_as_it_ages():
    """Every image invalidated: the caches refill for a day (the images' TTL). Their
    answers are worked out step by step for the first minute and more, then every eighth
    of the time since the purge, so the day costs under a hundred workings-out instead of
    17,280 steps; a long tick equals stepping (the test above)."""
    from cloudquest.game.chapters import chapter_files, load_chapter

    chapter = load_chapter(next(p for p in chapter_files() if p.stem.startswith("13")))
    s = Session(chapter, 0)
    e = _edge(s)
    worked: list[int] = []
    work_out = e._work_out

    def spy(now: int, *args):
        worked.append(now)
        return work_out(now, *args)

    e._work_out = spy  # type: ignore[method-assign]
    s.run_script(["tick 300", "edge invalidate /img/*"])
    s.execute("tick 86400")
    purged = 360_000  # requested at 300 s, every cache reached 60 s later
    after = [t - purged for t in worked if t >= purged]
    assert after[:16] == [5_000 * i for i in range(16)]  # the first 80 s, every step
    gaps = [b - a for a, b in zip(after, after[1:])]
    assert gaps == sorted(gaps) and gaps[-1] > 3_600_000  # thinning out: hours apart by the end
    assert len(worked) < 100
