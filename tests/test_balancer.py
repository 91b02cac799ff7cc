"""The distributed load balancer (chapter 8): Maglev hashing as the paper defines it, the
AWS behaviours (cross-zone, health-check gaps, failing open, deregistration delay, slow
start), connection tracking through node scale-out, bad input, determinism."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudquest.cloud import maglev
from cloudquest.cloud.balancer import Balancer, ecmp_moved_share
from cloudquest.cloud.faults import set_health
from cloudquest.cloud.hardware import Health
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter


# -- Maglev: Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
# -- NSDI 2016, section 3.4 ---------------------------------------------------------------------
PAPER = [("B0", 3, 4), ("B1", 0, 2), ("B2", 3, 1)]  # Table 1: offsets and skips, M = 7


def test_table_1_of_the_maglev_paper_permutations():
    """Table 1's permutation columns: offset + j * skip mod 7."""
    assert maglev.permutation(3, 4, 7) == [3, 0, 4, 1, 5, 2, 6]
    assert maglev.permutation(0, 2, 7) == [0, 2, 4, 6, 1, 3, 5]
    assert maglev.permutation(3, 1, 7) == [3, 4, 5, 6, 0, 1, 2]


def test_table_1_of_the_maglev_paper_lookup_table_before_and_after_b1_is_removed():
    before = maglev.Table.build(PAPER, 7)
    assert before.owners() == ["B1", "B0", "B1", "B0", "B2", "B2", "B0"]
    after = maglev.Table.build([b for b in PAPER if b[0] != "B1"], 7)
    assert after.owners() == ["B0", "B0", "B0", "B0", "B2", "B2", "B2"]
    # B1's two entries move, and entry 6 too: Maglev is not minimally disruptive
    assert before.moved(after) == 3


def test_a_world_can_fix_offsets_and_skips_so_the_game_prints_table_1():
    world = _world(
        backends=[
            {"name": "b0", "host": "a1-h1", "offset": 3, "skip": 4},
            {"name": "b1", "host": "a1-h2", "offset": 0, "skip": 2},
            {"name": "b2", "host": "b1-h1", "offset": 3, "skip": 1},
        ],
        table_size=7,
        algorithm="maglev",
    )
    s = _session(world)
    out = s.execute("lb table --rows 7").output
    assert "slots 0-6: 0:b1 1:b0 2:b1 3:b0 4:b2 5:b2 6:b0" in out
    removed = s.execute("lb remove b1")
    assert removed.ok and "3 of 7 Maglev table entries" in removed.output
    assert "slots 0-6: 0:b0 1:b0 2:b0 3:b0 4:b2 5:b2 6:b2" in s.execute("lb table --rows 7").output
    s.execute("lb lookup 6")
    assert s.cloud.metrics()["lb_lookup_backend"] == 2  # b2, the third backend of the world


@pytest.mark.parametrize("n,size,tolerance,removed", [(10, 65_537, 0.05, (0, 5, 9)), (100, 655_373, 0.2, (50,))])
def test_removing_one_of_n_backends_moves_close_to_one_nth_of_a_large_table(n, size, tolerance, removed):
    """The paper's Figure 10: with M much larger than N, a removal disrupts about 1/N (the
    first, middle and last of ten; the middle of a hundred, whose tables take seconds)."""
    names = [f"backend-{i}" for i in range(n)]
    full = maglev.Table.build([(x, *maglev.offset_skip(x, size)) for x in names], size)
    for gone in removed:
        rest = maglev.Table.build([(x, *maglev.offset_skip(x, size)) for i, x in enumerate(names) if i != gone], size)
        share = full.moved(rest) / size
        assert 1 / n <= share <= (1 + tolerance) / n


PRIMES = [p for p in range(7, 4000) if maglev.is_prime(p)]


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_slot_is_filled_and_backends_differ_by_at_most_one_entry(data):
    size = data.draw(st.sampled_from(PRIMES))
    n = data.draw(st.integers(min_value=1, max_value=max(1, size // 10)))
    prefs = [(data.draw(st.integers(0, size - 1)), data.draw(st.integers(1, size - 1))) for _ in range(n)]
    entries = maglev.populate(prefs, size)
    assert len(entries) == size and min(entries) >= 0
    counts = [entries.count(i) for i in range(n)]
    assert max(counts) - min(counts) <= 1


def test_populate_refuses_a_table_size_that_is_not_prime():
    with pytest.raises(ValueError, match="prime"):
        maglev.populate([(0, 1)], 100)


# -- worlds ---------------------------------------------------------------------------------------
def _world(**balancer) -> dict:
    hosts = [{"count": 10, "vcpus": 8, "ram_gib": 32}]
    balancer.setdefault("load", [{"at_s": 0, "rps": 1000}])
    return {
        "view": "loadbalancer",
        "regions": [
            {
                "name": "r",
                "zones": [
                    {"name": "za", "racks": [{"name": "a1", "hosts": hosts}]},
                    {"name": "zb", "racks": [{"name": "b1", "hosts": hosts}]},
                ],
            }
        ],
        "balancer": balancer,
    }


def _session(world: dict, seed: int = 0) -> Session:
    return Session(free_play_chapter(World.model_validate(world)), seed, sandbox=True)


def _lb(s: Session) -> Balancer:
    lb = s.cloud.get(Balancer)
    assert lb is not None
    return lb


def _backends(a: int, b: int, **extra) -> list[dict]:
    return [{"name": f"a{i}", "host": f"a1-h{i}", **extra} for i in range(1, a + 1)] + [
        {"name": f"b{i}", "host": f"b1-h{i}", **extra} for i in range(1, b + 1)
    ]


def test_open_connections_follow_littles_law_and_approach_it_at_the_lifetimes_pace():
    """Connections open at rate lambda and last an exponential time of mean W: an M/M/inf
    queue, whose expected number open is lambda * W (Little's law) and, when lambda
    steps, closes the gap by a factor e every W seconds."""
    load = [{"at_s": 0, "rps": 1000}, {"at_s": 60, "rps": 3000}]
    s = _session(_world(backends=_backends(2, 2), algorithm="maglev", load=load, connection_s=30, conn_rps=2))
    m = s.cloud.metrics()
    assert m["lb_connections"] == 1000 / 2  # 1000 rps / 2 rps per connection = 250/s x 30 s
    s.execute("tick 90")  # one lifetime after the load tripled
    assert s.cloud.metrics()["lb_connections"] == pytest.approx(1500 - 1000 * math.exp(-1), abs=1)
    s.execute("tick 600")
    assert s.cloud.metrics()["lb_connections"] == 1500


def test_a_node_joining_moves_the_share_of_flows_hash_mod_k_moves():
    """ECMP picks a node by hash mod k: going from k to k+1 nodes keeps a flow on its node
    only if both residues agree, k of every k(k+1) hashes, so k/(k+1) of the flows move."""
    for k in range(1, 8):
        assert ecmp_moved_share(k, k + 1) == pytest.approx(k / (k + 1))
    assert ecmp_moved_share(3, 3) == 0.0


def test_cross_zone_off_gives_each_zone_half_whatever_its_backends_aws_example():
    """AWS, "How Elastic Load Balancing works": two targets in one zone and eight in the
    other receive 25% and 6.25% each without cross-zone load balancing, 10% each with it."""
    for cross_zone, want_a, want_b in ((False, 0.25, 0.0625), (True, 0.10, 0.10)):
        s = _session(_world(backends=_backends(2, 8, capacity_rps=5000), cross_zone=cross_zone, algorithm="round-robin"))
        s.execute("tick 120")
        lb = _lb(s)
        total = sum(b.sent for b in lb.backends.values())
        assert lb.backends["a1"].sent / total == pytest.approx(want_a, abs=0.01)
        assert lb.backends["b5"].sent / total == pytest.approx(want_b, abs=0.01)


@pytest.mark.parametrize("interval,threshold", [(30, 2), (5, 2), (10, 3)])
def test_a_dead_backend_is_fed_until_its_checks_fail_threshold_times(interval, threshold):
    """ALB health checks: out after UnhealthyThresholdCount failures, one every interval,
    each failure known only when its timeout expires (no answer is a timeout, not a
    refusal), so a dead target is fed for (threshold - 1) to threshold intervals, plus
    the timeout."""
    s = _session(_world(backends=_backends(2, 2), algorithm="round-robin"))
    timeout = 5  # the default HealthCheckTimeoutSeconds of an ALB target group
    if interval < 30:
        timeout = min(4, interval - 1)
        s.execute(f"lb check timeout {timeout}")
        s.execute(f"lb check interval {interval}")
    if threshold != 2:
        s.execute(f"lb check unhealthy-threshold {threshold}")
    s.execute("tick 60")
    s.execute("fail host b1-h1")
    s.execute(f"tick {interval * threshold + 30}")
    fed = s.cloud.metrics()["lb_dead_traffic_s"]
    assert (threshold - 1) * interval + timeout <= fed <= threshold * interval + timeout + 1


def test_when_no_backend_is_healthy_the_balancer_fails_open():
    """AWS: if a target group has only unhealthy targets, the load balancer routes to all
    of them. Slow hosts fail their 5 s check yet still answer some clients."""
    s = _session(_world(backends=_backends(1, 1), algorithm="round-robin", degraded_slowdown=300, client_timeout_ms=60_000))
    s.execute("degrade host a1-h1")
    s.execute("degrade host b1-h1")
    s.execute("tick 120")
    m = s.cloud.metrics()
    assert m["lb_failing_open"] == 2 and m["lb_backends_healthy"] == 0
    before = m["lb_served"]
    s.execute("tick 10")
    assert s.cloud.metrics()["lb_served"] > before  # still served: everyone is tried


def test_deregistration_delay_lets_pinned_connections_finish_or_closes_them():
    for delay, closed_at_once in ((300, False), (0, True)):
        s = _session(_world(backends=_backends(2, 2), algorithm="maglev", connection_s=60))
        s.execute(f"lb deregistration-delay {delay}")
        s.execute("tick 30")
        lb = _lb(s)
        pinned = lb.backends["a1"].conns
        assert pinned > 0
        out = s.execute("lb remove a1").output
        if closed_at_once:
            assert lb.backends["a1"].state == "spare" and "closed" in out
        else:
            assert lb.backends["a1"].state == "draining" and lb.backends["a1"].conns == pinned
            s.execute("tick 400")
            assert lb.backends["a1"].state == "spare"
            drained = [e for e in s.cloud.log if e.kind == "balancer.backend_drained"]
            assert drained and drained[-1].get("connections_closed") < pinned / 10  # most finished on their own


def test_slow_start_ramps_a_fresh_backends_share_linearly():
    s = _session(_world(backends=_backends(2, 2) + [{"name": "new", "host": "a1-h9", "in_service": False}], algorithm="round-robin"))
    s.execute("lb slow-start 100")
    s.execute("lb check timeout 4")
    s.execute("lb check interval 5")
    s.execute("lb add new")
    s.execute("tick 10")  # healthy after its first check
    lb = _lb(s)
    fresh = lb.backends["new"]
    assert fresh.fresh_since_ms is not None
    at = fresh.fresh_since_ms
    assert lb.slow_start_weight(fresh, at + 50_000) == pytest.approx(0.5)
    assert lb.slow_start_weight(fresh, at + 100_000) == 1.0
    s.execute("tick 30")
    early = fresh.rate
    s.execute("tick 200")
    assert fresh.rate > 2 * early


def test_slow_start_is_refused_with_a_hashing_rule_as_on_an_alb():
    s = _session(_world(backends=_backends(1, 1), algorithm="maglev"))
    out = s.execute("lb slow-start 60")
    assert not out.ok and "round-robin only" in out.output


def test_a_node_joining_breaks_proxied_flows_but_not_maglev_flows():
    """ECMP re-spreads flows when a node joins; a proxy loses the moved ones, a Maglev
    node recomputes the same backend (section 3.3: consistent hashing plus connection
    tracking)."""
    broken = {}
    for algorithm in ("round-robin", "maglev"):
        s = _session(_world(backends=_backends(3, 3), algorithm=algorithm, connection_s=600, conn_rps=1, scale_delay_s=60))
        s.execute("tick 30")
        conns = s.cloud.metrics()["lb_connections"]
        _lb(s).reserve(2)
        s.execute("tick 90")
        broken[algorithm] = s.cloud.metrics()["lb_connections_broken"]
        assert any(e.kind == "balancer.node_joined" for e in s.cloud.log)
    assert broken["maglev"] == 0
    assert abs(broken["round-robin"] - conns / 2) <= 1  # 1 -> 2 nodes moves half the flows


def test_after_a_backend_change_flow_hash_breaks_most_moved_flows_and_maglev_few():
    broken = {}
    for algorithm in ("flow-hash", "maglev"):
        s = _session(_world(backends=_backends(5, 5) + [{"name": "x", "host": "a1-h9", "in_service": False}],
                            algorithm=algorithm, connection_s=900, conn_rps=1, scale_delay_s=30))
        s.execute("lb check timeout 4")
        s.execute("lb check interval 5")
        s.execute("lb add x")
        s.execute("tick 20")
        _lb(s).reserve(2)
        s.execute("tick 60")
        broken[algorithm] = s.cloud.metrics()["lb_connections_broken"]
    assert broken["flow-hash"] > 5 * broken["maglev"] > 0


def test_adding_a_backend_to_hash_mod_n_moves_n_in_n_plus_1_flows_and_maglev_about_1_in_n_plus_1():
    """Modulo hashing's flaw, the one consistent hashing (Karger et al., STOC 1997) and
    Maglev's table remove: from N to N+1 backends a flow keeps its backend only where both
    residues agree, N of every N(N+1) hashes, so N/(N+1) of the open connections would
    move. A Maglev table moves about 1/(N+1) of its entries, and the flows on them."""
    spare = [{"name": "x", "host": "a1-h9", "in_service": False}]
    moved = {}
    for algorithm in ("flow-hash", "maglev"):
        s = _session(_world(backends=_backends(2, 2) + spare, algorithm=algorithm))
        out = s.execute("lb add x").output
        change = _lb(s).last_change
        assert change is not None and change.connections == 500
        assert f"{change.connections_moved} of 500 open connections" in out
        moved[algorithm] = change.connections_moved / change.connections
        if algorithm == "maglev":
            assert moved[algorithm] == pytest.approx(change.entries_moved / change.table_size, abs=0.005)
    assert moved["flow-hash"] == pytest.approx(4 / 5, abs=0.002)
    assert 1 / 5 <= moved["maglev"] < 1 / 5 + 0.05


def test_a_repaired_backend_is_back_after_healthy_threshold_passes():
    """ALB: an unhealthy target is healthy again once HealthyThresholdCount checks in a
    row pass (5 by default): the first comes 0 to one interval after it answers again, four
    more follow one interval apart. The checks slept while nothing could change."""
    s = _session(_world(backends=_backends(2, 2), algorithm="round-robin"))
    s.run_script(["lb check timeout 4", "lb check interval 5", "tick 300", "fail host b1-h1", "tick 60"])
    out = [e.get("zone") for e in s.cloud.log if e.kind == "balancer.backend_unhealthy" and e.get("backend") == "b1"]
    assert sorted(out) == ["za", "zb"]
    repaired = s.cloud.now_ms
    s.run_script(["repair host b1-h1", "tick 300"])
    back = [e for e in s.cloud.log if e.kind == "balancer.backend_healthy" and e.get("backend") == "b1"]
    assert sorted(e.get("zone") for e in back) == ["za", "zb"]
    for e in back:
        assert 4 * 5_000 < e.t_ms - repaired <= 5 * 5_000
    assert s.cloud.metrics()["lb_backends_healthy"] == 4


def _played(world: dict, lines: list[str], fast: bool) -> tuple[Session, list[int]]:
    s = _session(world)
    s.cloud.fast_forward = fast
    lb = _lb(s)
    stretches: list[int] = []
    repeat = lb._repeat

    def counted(dt_ms: int) -> None:
        stretches.append(dt_ms)
        repeat(dt_ms)

    lb._repeat = counted  # type: ignore[method-assign]
    s.run_script(lines)
    return s, stretches


def test_a_steady_balancer_skips_its_idle_hours_and_ends_where_stepping_ends():
    """Once every count is at its steady value, an undisturbed stretch runs as one step:
    the same log, byte for byte, and the same metrics as stepping second by second,
    through failures, a repair, a new backend, a load rise that scales out the nodes,
    and changes of rule."""
    world = _world(
        backends=_backends(3, 3) + [{"name": "x", "host": "a1-h9", "in_service": False}],
        algorithm="flow-hash",
        connection_s=20,
        conn_rps=1,
        node_capacity_rps=1000,
        scale_delay_s=60,
        warmup_s=60,
        load=[{"at_s": 0, "rps": 1000}, {"at_s": 1800, "rps": 2400}],
    )
    lines = [
        "lb check timeout 4", "lb check interval 5", "tick 600", "fail host a1-h1", "tick 600",
        "repair host a1-h1", "lb add x", "tick 1800", "lb algorithm maglev", "tick 1200",
        "lb algorithm round-robin", "lb slow-start 60", "lb remove b3", "tick 900", "lb backends",
    ]
    fast, skipped = _played(world, lines, True)
    stepped, none = _played(world, lines, False)
    assert fast.cloud.log.sha256() == stepped.cloud.log.sha256()
    assert fast.cloud.metrics() == stepped.cloud.metrics()
    assert [r.output for r in fast.transcript] == [r.output for r in stepped.transcript]
    assert any(e.kind == "balancer.node_joined" for e in fast.cloud.log)
    assert not none and sum(skipped) > 3_000_000  # more than half of the 5,100 s in a few jumps


def _checked(sleep: bool, due_ms: int | None = None) -> tuple:
    """A balancer whose checks fire every 5 s: a host failed between two steps at the very
    moment one of its checks is due (``due_ms``), a repair, a backend taken out and then
    its host failed, a setting changed and a zone lost by a clock action. Returns the log,
    the metrics, every view's opinion with its counts (the sleeping checks woken first),
    and when a1's check in za next fires after 100 s (its phase, drawn alike either way)."""
    s = _session(_world(backends=_backends(2, 2), algorithm="maglev", deregistration_delay_s=600))
    lb = _lb(s)
    lb.checks_sleep = sleep
    s.cloud.fast_forward = sleep
    s.run_script(["lb check timeout 4", "lb check interval 5", "tick 61"])
    phase = None
    if sleep:
        at = lb._asleep[("a1", "za")][3]
        phase = at + -(-(100_000 - at) // 5_000) * 5_000
    s.advance_to(due_ms if due_ms is not None else 100_000)
    s.run_script(["fail host a1-h1", "tick 40", "repair host a1-h1", "tick 60", "lb remove a2", "fail host a1-h2",
                  "tick 30", "repair host a1-h2", "lb check timeout 3", "tick 100"])
    s.cloud.clock.schedule(s.cloud.now_ms + 2_500, lambda: set_health(s.cloud, "zone", "zb", Health.FAILED))
    s.execute("tick 40")
    set_health(s.cloud, "zone", "zb", Health.HEALTHY)
    s.execute("tick 3600")
    lb._wake()
    views = [(b.name, z, v.state, v.passes, v.failures) for b in lb.backends.values() for z, v in b.views.items()]
    return (s.cloud.log.sha256(), s.cloud.metrics(), views), phase


def test_sleeping_health_checks_give_what_checks_every_interval_give():
    """A check that can only say the same again sleeps instead of firing every interval
    and is woken by a change: the same verdicts, counts and events as checks that never
    sleep, also when the change comes at the very moment a check was due (that check saw
    the old answer) and for a backend taken out of service (its checks stay stopped)."""
    _, due = _checked(True)
    assert due is not None and 100_000 <= due < 105_000
    asleep, _ = _checked(True, due)
    awake, _ = _checked(False, due)
    assert asleep == awake


# -- bad input: one line, nothing changed --------------------------------------------------------
@pytest.mark.parametrize(
    "line,message",
    [
        ("lb size 100", "M must be a prime"),
        ("lb size 65536", "next prime is 65537"),
        ("lb add nobody", "no backend named 'nobody'"),
        ("lb remove nobody", "no backend named 'nobody'"),
        ("lb check interval 3", "from 5 to 300"),
        ("lb check interval 4", "from 5 to 300"),
        ("lb deregistration-delay 4000", "from 0 to 3600"),
        ("lb slow-start 10", "30 to 900"),
        ("lb lookup 999999", "a slot is from 0"),
        ("lb lookup 300.1.1.1:80", "a flow is a client address"),
        ("lb algorithm fastest", "must be one of"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(line, message):
    s = _session(_world(backends=_backends(2, 2), algorithm="round-robin"))
    s.execute("tick 5")
    before = (len(s.cloud.log), s.cloud.metrics())
    out = s.execute(line)
    assert not out.ok and out.error_kind == "input"
    assert message in out.output and "\n" not in out.output and "Traceback" not in out.output
    assert (len(s.cloud.log), s.cloud.metrics()) == before


def test_a_world_with_a_table_size_that_is_not_prime_is_refused():
    with pytest.raises(Exception, match="prime"):
        World.model_validate(_world(backends=_backends(1, 1), table_size=1000))


def test_same_seed_same_log_and_another_seed_another():
    lines = ["lb algorithm maglev", "tick 60", "fail host a1-h1", "tick 60", "lb backends"]
    runs = []
    for seed in (3, 3, 4):
        s = _session(_world(backends=_backends(3, 3)), seed)
        s.run_script(lines)
        runs.append(s.cloud.log.sha256())
    assert runs[0] == runs[1] != runs[2]
