"""Edge locations (chapter 13) and the caches under them: CloudFront's TTL rules,
textbook page replacement (FIFO, LRU, OPT) and Belady's anomaly, routing to the nearest
healthy PoP, revalidation, invalidation and its bill, the origin shield, bad input."""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudquest.cloud.caching import Cache, faults
from cloudquest.cloud.edge import ContentSpec, EdgeNetwork, Group, cloudfront_ttl, zipf_guide
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter

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


def test_zipf_popularity_from_the_seed():
    """The most popular object gets about 1/H(N, a) of a group's requests."""
    s = _session(_world(content=[{"name": "o", "path": "/o/*", "objects": 1000, "share_pct": 100, "zipf": 1.0, "max_age_s": 60}],
                        users=[{"city": "Berlin", "area": "europe", "lat": 52.52, "lon": 13.40, "rps": 2000}], warm=False))
    e = _edge(s)
    g = e.groups[0]
    h = sum(1 / k for k in range(1, 1001))
    assert g.cum[0] / g.cum[-1] == pytest.approx(1 / h)
    s.execute("tick 30")
    assert s.cloud.metrics()["edge_requests"] == 60_000


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.floats(0.001, 1000), min_size=1, max_size=300),
    draws=st.lists(st.floats(0, 1, exclude_max=True), max_size=40),
    bits=st.integers(0, 12),
)
def test_the_zipf_guide_draws_the_object_a_search_of_every_weight_draws(weights, draws, bits):
    cum = list(accumulate(weights))
    total, last = cum[-1], len(cum) - 1
    scale, lows, highs = zipf_guide(cum, bits)
    # the draws given, and each slice's two ends and the draws just beside them
    ends = [j / scale for j in range(int(scale))]
    us = draws + ends + [math.nextafter(u, 1) for u in ends] + [math.nextafter(u, 0) for u in ends[1:]]
    for u in us:
        j = math.floor(u * scale)
        assert bisect_right(cum, u * total, lows[j], highs[j]) == bisect_right(cum, u * total, 0, last)


@settings(max_examples=60, deadline=None)
@given(
    deploys=st.lists(st.floats(0, 5000, allow_nan=False), max_size=4),
    every=st.one_of(st.none(), st.floats(0.5, 900)),
    version=st.integers(0, 60),
)
def test_when_a_version_was_published_is_the_nth_change(deploys, every, version):
    """The version-th of the deploys and the periodic changes, in time order."""
    g = Group(ContentSpec(name="c", path="/c", share_pct=100, changes_at_s=deploys, changes_every_s=every), 0, [1], [1.0])
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


def test_same_seed_same_run_and_another_seed_other_requests():
    lines = ["edge price-class all", "tick 60", "edge invalidate /img/*", "tick 90", "edge show"]
    runs = []
    for seed in (2, 2, 3):
        s = _session(_world(warm=False), seed)
        out = s.run_script(lines)
        runs.append((s.cloud.log.sha256(), s.cloud.metrics(), out[-1].output))
    assert runs[0] == runs[1]
    assert runs[0][1]["edge_origin_requests"] != runs[2][1]["edge_origin_requests"]
