"""Failure design: the load balancer's health checks and detection gap, the offered load
and availability arithmetic, the chaos timeline, cost and incidents, and the console
commands around them."""

from __future__ import annotations

import pytest

from cloudquest.game.session import new_cloud
from cloudquest.cloud.errors import CloudError
from cloudquest.cloud.faults import set_health
from cloudquest.cloud.hardware import Health
from cloudquest.cloud.loadbalancer import HealthCheck
from cloudquest.cloud.reliability import EBS_ST1_USD_PER_GIB_MONTH, HOURS_PER_MONTH
from cloudquest.cloud.loadbalancer import LoadBalancing
from cloudquest.cloud.reliability import Reliability
from cloudquest.cloud.storage import ObjectStore

INTERVAL_MS = 30_000


def three_zones(**extra):
    zones = []
    for z in "abc":
        racks = [
            {"name": f"{z}{r}", "hosts": [{"count": 2, "vcpus": 8, "ram_gib": 32, "disks": [{"size_gib": 500, "count": 2}]}]}
            for r in (1, 2)
        ]
        zones.append({"name": f"z{z}", "racks": racks})
    world = {"regions": [{"name": "r1", "zones": zones}]}
    world.update(extra)
    return world


def web_cloud(seed=3, load=None, targets=(("web-a", "za", "a1-h1"), ("web-b", "zb", "b1-h1")), zones=("za", "zb"), **lb):
    section = {"load": load or [], "rps_per_vcpu": 1000, **lb}
    cloud = new_cloud(three_zones(loadbalancer=section, reliability={}), seed)
    for name, zone, host in targets:
        cloud.control.launch(name, "nano", zone, host=host, instant=True)
    balancer = cloud.get(LoadBalancing).create("web", list(zones))
    for name, _, _ in targets:
        balancer.register(name)
    return cloud, balancer


def events(cloud, kind, **where):
    return [e for e in cloud.log if e.kind == kind and all(e.get(k) == v for k, v in where.items())]


# -- published settings -------------------------------------------------------------------------
# AWS, "Health checks for Application Load Balancer target groups" (Health check settings):
# HealthCheckIntervalSeconds 5-300 default 30, HealthCheckTimeoutSeconds 2-120 default 5,
# HealthyThresholdCount 2-10 default 5, UnhealthyThresholdCount 2-10 default 2 (instances).
ALB_RANGES = [("interval", 5, 300), ("timeout", 2, 120), ("healthy-threshold", 2, 10), ("unhealthy-threshold", 2, 10)]


def test_health_check_defaults_are_albs():
    assert HealthCheck().describe() == "every 30 s, timeout 5 s, unhealthy after 2 failures, healthy after 5 passes"
    assert HealthCheck().detection_gap_s() == (35, 65)  # two checks 30 s apart, the last one's 5 s timeout


@pytest.mark.parametrize("setting, lo, hi", ALB_RANGES)
def test_health_check_settings_take_albs_range_at_the_console(chapter9, setting, lo, hi):
    s = session_of(chapter9, "lb create web", "lb set web interval 300", "lb set web timeout 2")
    lb = s.cloud.get(LoadBalancing).balancers["web"]
    for good in (lo, hi):
        out = s.execute(f"lb set web {setting} {good}")
        assert out.ok, out.output
        assert getattr(lb.health_check, setting.replace("-", "_") + ("_s" if setting in ("interval", "timeout") else "")) == good
        s.execute("lb set web timeout 2" if setting == "interval" else "lb set web interval 300")
    before = lb.health_check
    for bad in (lo - 1, hi + 1):
        out = s.execute(f"lb set web {setting} {bad}")
        assert not out.ok and out.error_kind == "input", out.output
        assert any(f in out.output for f in (f"from {lo} to {hi}", f"at least {lo},", f"at most {hi},")), out.output
    assert lb.health_check == before


def test_a_new_target_turns_healthy_after_one_passing_check():
    """AWS: "After your target is registered, it must pass one health check to be
    considered healthy" (not HealthyThresholdCount of them)."""
    cloud, lb = web_cloud()
    cloud.advance(INTERVAL_MS)
    marks = events(cloud, "lb.target_healthy")
    assert len(marks) == 2 * 2  # two nodes x two targets, each after its first check
    assert all(e.t_ms <= INTERVAL_MS for e in marks)
    assert all(v.state == "healthy" and v.passes == 1 for t in lb.targets.values() for v in t.views.values())


def _lattice_after(anchor_ms: int, t_ms: int) -> int:
    """The first check time after ``t_ms`` on a node whose checks fall on anchor + k*30 s."""
    k = (t_ms - anchor_ms) // INTERVAL_MS + 1
    return anchor_ms + k * INTERVAL_MS


def test_detection_gap_with_alb_defaults_and_the_requests_it_costs():
    """A target dies; each node takes it out at its *second* failed check
    (UnhealthyThresholdCount 2), which counts only when its 5 s timeout expires: 35-65 s
    later. Every request a node sent it until then failed. Back, it needs
    HealthyThresholdCount (5) passes in a row."""
    cloud, lb = web_cloud(load=[{"at_s": 0, "rps": 120}])
    cloud.advance(100_000)
    assert cloud.get(LoadBalancing).failed["dead_target"] == 0
    anchors = {e.get("node"): e.t_ms for e in events(cloud, "lb.target_healthy", target="web-a")}
    t_fail = 200_000
    cloud.clock.schedule(t_fail, lambda: set_health(cloud, "host", "a1-h1", Health.FAILED))
    cloud.advance(200_000)
    marked = {e.get("node"): e.t_ms for e in events(cloud, "lb.target_unhealthy", target="web-a")}
    assert set(marked) == {"za", "zb"}
    for node, t in marked.items():
        first_failed_check = _lattice_after(anchors[node], t_fail)
        assert t == first_failed_check + INTERVAL_MS + 5_000  # the second failure in a row, timed out
        assert 35_000 <= t - t_fail <= 65_000
    # 120 rps over two nodes and two healthy targets: each node sends web-a 30 a second,
    # counted per one-second step, until the step in which it took web-a out.
    expected = sum(30 * sum(1 for end in range(t_fail, 400_000, 1000) if end < t_node) for t_node in marked.values())
    service = cloud.get(LoadBalancing)
    assert service.failed["dead_target"] == expected > 0
    assert service.availability_pct() < 100
    # repaired: healthy again after five passes in a row
    t_back = 400_500
    cloud.clock.schedule(t_back, lambda: set_health(cloud, "host", "a1-h1", Health.HEALTHY))
    cloud.advance(300_000)
    healthy_again = {e.get("node"): e.t_ms for e in events(cloud, "lb.target_healthy", target="web-a") if e.t_ms > t_back}
    for node, t in healthy_again.items():
        assert t == _lattice_after(anchors[node], t_back) + 4 * INTERVAL_MS
    assert set(healthy_again) == {"za", "zb"}


def test_tuned_health_checks_shrink_the_gap():
    cloud, lb = web_cloud(load=[{"at_s": 0, "rps": 120}])
    lb.configure("timeout_s", 4)
    lb.configure("interval_s", 5)
    assert lb.health_check.detection_gap_s() == (9, 14)
    cloud.advance(60_000)
    t_fail = 100_000
    cloud.clock.schedule(t_fail, lambda: set_health(cloud, "host", "a1-h1", Health.FAILED))
    cloud.advance(60_000)
    marked = [e.t_ms for e in events(cloud, "lb.target_unhealthy", target="web-a")]
    assert len(marked) == 2 and all(9_000 <= t - t_fail <= 14_000 for t in marked)
    assert cloud.get(LoadBalancing).failed["dead_target"] <= 2 * 30 * 14


def test_a_failed_check_counts_when_its_timeout_expires_not_when_it_is_sent():
    """AWS, ALB target group health checks: HealthCheckTimeoutSeconds is "the amount of
    time during which no response from a target means a failed health check", so a node
    learns that a check failed only once the timeout has run out. With a 20 s timeout
    and a 30 s interval, the second failure is known 20 s after that check was sent."""
    cloud, lb = web_cloud()
    lb.configure("timeout_s", 20)
    cloud.advance(60_000)
    sent: dict[str, list[int]] = {}
    original = lb._check

    def spy(target, zone, token):
        if target.instance == "web-a" and lb.targets["web-a"].views[zone].generation == token:
            sent.setdefault(zone, []).append(cloud.now_ms)
        original(target, zone, token)

    lb._check = spy
    t_fail = 100_000
    cloud.clock.schedule(t_fail, lambda: set_health(cloud, "host", "a1-h1", Health.FAILED))
    cloud.advance(120_000)
    for e in events(cloud, "lb.target_unhealthy", target="web-a"):
        second = [t for t in sent[e.get("node")] if t > t_fail][1]
        assert e.t_ms == second + 20_000


def test_fail_open_when_a_node_believes_no_target_healthy():
    """AWS: if a target group contains only unhealthy targets, the load balancer routes
    requests to all of them (it fails open)."""
    cloud, lb = web_cloud(load=[{"at_s": 0, "rps": 10}])
    cloud.advance(60_000)
    set_health(cloud, "host", "a1-h1", Health.FAILED)
    set_health(cloud, "host", "b1-h1", Health.FAILED)
    cloud.advance(120_000)
    for node in ("za", "zb"):
        targets, failing_open = lb.routable(node)
        assert failing_open and {t.instance for t in targets} == {"web-a", "web-b"}
    set_health(cloud, "host", "b1-h1", Health.HEALTHY)
    cloud.advance(200_000)
    targets, failing_open = lb.routable("za")
    assert not failing_open and [t.instance for t in targets] == ["web-b"]


def test_gray_failure_passes_shallow_health_checks_but_fails_users():
    """A degraded host answers, 80x slower (3.2 s): inside the default 5 s health check
    timeout, beyond the client's 1 s. Users fail; the load balancer never notices.
    A 2 s check timeout catches it."""
    cloud, lb = web_cloud(load=[{"at_s": 0, "rps": 100}])
    cloud.advance(60_000)
    set_health(cloud, "host", "a1-h1", Health.DEGRADED)
    cloud.advance(300_000)
    service = cloud.get(LoadBalancing)
    assert not events(cloud, "lb.target_unhealthy")
    assert service.failed["slow"] == 300 * 50  # half the load, every second
    lb.configure("timeout_s", 2)
    cloud.advance(120_000)
    assert {e.get("node") for e in events(cloud, "lb.target_unhealthy", target="web-a")} == {"za", "zb"}
    assert {e.get("reason") for e in events(cloud, "lb.target_unhealthy")} == {"Target.Timeout"}


def test_a_cut_link_between_two_zones_reroutes_through_the_third():
    """AWS: the Availability Zones of a Region are interconnected with fully redundant,
    dedicated metro fibre ("Regions and Availability Zones"): a region's zones are a
    mesh, so one cut link costs a detour through another zone, not a partition. Only
    with both routes cut is zc unreachable from zb."""
    cloud, lb = web_cloud(targets=(("web-a", "za", "a1-h1"), ("web-c", "zc", "c1-h1")), zones=("za", "zb", "zc"))
    cloud.advance(60_000)
    service = cloud.get(LoadBalancing)
    direct = service.path_latency_ms("zb", "zc")
    set_health(cloud, "link", "zb~zc", Health.FAILED)
    assert service.path_latency_ms("zb", "zc") == 2 * direct  # zb -> za -> zc
    cloud.advance(120_000)
    assert {lb.targets["web-c"].views[z].state for z in ("za", "zb", "zc")} == {"healthy"}
    set_health(cloud, "link", "za~zc", Health.FAILED)
    assert service.path_latency_ms("zb", "zc") is None
    cloud.advance(120_000)
    assert lb.targets["web-c"].views["zb"].state == "unhealthy"
    assert lb.targets["web-c"].views["zc"].state == "healthy"


# -- load and availability -----------------------------------------------------------------------
def test_offered_load_integrates_the_curve_exactly():
    cloud, _ = web_cloud(load=[{"at_s": 1.5, "rps": 10}, {"at_s": 3.25, "rps": 3}])
    service = cloud.get(LoadBalancing)
    cloud.advance(1000)
    assert service.offered == 0
    cloud.advance(2000)  # 1.5 s at 10
    assert service.offered == 15
    cloud.advance(1000)  # 0.25 s at 10 + 0.75 s at 3 = 4.75: 4 now, 0.75 carried
    assert service.offered == 19
    cloud.advance(1000)  # 3 + 0.75
    assert service.offered == 22
    assert service.rps_at(0) == 0 and service.rps_at(1500) == 10 and service.rps_at(10_000) == 3


def test_availability_is_served_over_offered():
    cloud, _ = web_cloud(load=[{"at_s": 0, "rps": 7}])
    service = cloud.get(LoadBalancing)
    assert service.availability_pct() == 100.0  # nothing offered yet: nothing failed
    cloud.advance(100_000)  # targets turn healthy within the first 30 s; before, fail-open
    m = cloud.metrics()
    assert m["requests_offered"] == 700
    assert (m["requests_served"], m["requests_failed"], m["availability_pct"]) == (700, 0, 100.0)
    # Twice the load two nanos can serve (2 x 2 vCPUs x 25 rps): about half is served.
    cloud, _ = web_cloud(load=[{"at_s": 0, "rps": 200}], rps_per_vcpu=25)
    cloud.advance(100_000)
    m = cloud.metrics()
    assert m["requests_offered"] == 20_000 == m["requests_served"] + m["requests_failed"]
    assert m["availability_pct"] == pytest.approx(50, abs=1)


def test_overload_is_shed_and_capacity_follows_vcpus():
    cloud, lb = web_cloud(load=[{"at_s": 0, "rps": 150}], rps_per_vcpu=25)
    service = cloud.get(LoadBalancing)
    assert service.capacity_rps("web-a") == 2 * 25  # a nano has 2 vCPUs
    cloud.advance(60_000)
    before_offered, before_served = service.offered, service.served
    cloud.advance(60_000)
    served = service.served - before_served
    assert service.offered - before_offered == 150 * 60
    assert served == 2 * 50 * 60  # two targets at capacity; the rest shed
    assert service.failed["overload"] >= 50 * 60


def test_requests_with_nowhere_to_go_fail():
    cloud = new_cloud(three_zones(loadbalancer={"load": [{"at_s": 0, "rps": 5}]}), 0)
    cloud.advance(10_000)
    service = cloud.get(LoadBalancing)
    assert service.failed["no_route"] == 50 and service.availability_pct() == 0.0
    assert not service.serving()


# -- the timeline -------------------------------------------------------------------------------
def test_timeline_entries_fire_at_their_times_and_repair_after_for_s():
    timeline = [
        {"at_s": 10, "action": "fail", "part": "rack", "id": "b1", "for_s": 20},
        {"at_s": 15, "action": "degrade", "part": "disk", "id": "a1-h1-d1"},
        {"at_s": 20, "action": "fail", "part": "rack", "id": "b1"},  # already down: skipped
        {"at_s": 40, "action": "repair", "part": "disk", "id": "a1-h1-d1"},
    ]
    cloud = new_cloud(three_zones(timeline=timeline), 0)
    cloud.advance(60_000)
    seen = [(e.t_ms, e.kind, e.get("id")) for e in cloud.log if e.kind.startswith("fault.")]
    assert seen == [
        (10_000, "fault.injected", "b1"),
        (15_000, "fault.injected", "a1-h1-d1"),
        (30_000, "fault.repaired", "b1"),
        (40_000, "fault.repaired", "a1-h1-d1"),
    ]
    assert all(e.get("cause") == "timeline" for e in cloud.log if e.kind == "fault.injected")
    m = cloud.metrics()
    assert (m["timeline_actions"], m["timeline_fired"], m["timeline_pending"]) == (5, 4, 0)


def test_a_random_storm_is_seeded():
    storm = [{"random": {"action": "fail", "part": "disk", "count": 10, "from_s": 0, "to_s": 3600}}]

    def failed(seed):
        cloud = new_cloud(three_zones(timeline=storm), seed)
        cloud.advance(3_600_000)
        return [(e.t_ms, e.get("id")) for e in cloud.log if e.kind == "fault.injected"]

    a = failed(1)
    assert a == failed(1)
    assert a != failed(2)
    assert len(a) == 10 and len({d for _, d in a}) == 10
    assert [t for t, _ in a] == sorted(t for t, _ in a) and all(0 <= t < 3_600_000 for t, _ in a)


def test_timeline_rejects_parts_that_do_not_exist():
    with pytest.raises(ValueError, match="timeline entry 1 at 1 s: no rack 'zz' \\(racks: a1, a2, b1, b2, c1, c2\\)"):
        new_cloud(three_zones(timeline=[{"at_s": 1, "part": "rack", "id": "zz"}]), 0)


def test_fleet_faults_play_through_the_same_timeline():
    cloud = new_cloud(three_zones(fleet={"faults": [{"at_ms": 5000, "kind": "host", "id": "a1-h1", "health": "degraded"}]}), 0)
    cloud.advance(6000)
    (event,) = [e for e in cloud.log if e.kind == "fault.injected"]
    assert (event.t_ms, event.get("health"), event.get("cause")) == (5000, "degraded", "timeline")


# -- cost and incidents -------------------------------------------------------------------------
def test_cost_per_hour_is_instances_plus_load_balancers_plus_raw_storage():
    cloud, _ = web_cloud()
    rel = cloud.get(Reliability)
    # Two t3.nano at $0.0052 and one ALB at $0.0225 an hour (AWS, EC2 On-Demand and
    # Elastic Load Balancing pricing, us-east-1; LCUs not counted)
    assert rel.cost_per_hour() == 0.0329

    # 100 GiB kept in three copies is 300 GiB raw, at Amazon EBS st1's $0.045 per
    # GiB-month, spread over AWS pricing's 730-hour month
    stored = new_cloud(three_zones(storage={"objects": [{"name": "logs", "size": "100GiB"}]}, reliability={}), 3)
    assert stored.get(Reliability).cost_breakdown()["storage"] == pytest.approx(300 * 0.045 / 730)


def test_t3_credits_a_nano_above_its_baseline_is_billed_for_the_surplus():
    """AWS, burstable performance instances: a t3.nano earns 6 CPU credits an hour (5% of
    each of its 2 vCPUs) and banks at most 144; T3 launches in unlimited mode, so once
    its bank is empty it keeps working and CPU above the baseline is billed at $0.05 per
    vCPU-hour ("T2/T3/T4g Unlimited Mode Pricing", Linux). At 40% of two vCPUs that is
    (0.40 - 0.05) x 2 x $0.05 = $0.035 an hour on top of its $0.0052."""
    from cloudquest.cloud.catalogue import CATALOGUE

    nano = CATALOGUE["nano"]
    assert (nano.baseline_pct, nano.credits_per_hour, nano.max_credits) == (5, 6, 144)
    assert [CATALOGUE[t].credits_per_hour for t in ("micro", "small", "medium", "large", "xlarge")] == [12, 24, 24, 36, 96]
    # two nanos behind a load balancer, 25 rps per vCPU: 40 rps share to 20 each = 40% of 2 vCPUs
    cloud, _ = web_cloud(load=[{"at_s": 120, "rps": 40}], rps_per_vcpu=25)
    rel = cloud.get(Reliability)
    cloud.advance(120_000)  # idle: earning, nothing billed
    assert rel.cost_per_hour() == 0.0329  # two nanos and the ALB
    assert all(a.balance == pytest.approx(6 * 120 / 3600) for a in rel.credits.values())
    cloud.advance(180_000)  # the banked 0.2 credits go in seconds; then the surplus is billed
    assert {round(a.cpu_pct) for a in rel.credits.values()} == {40}
    assert cloud.metrics()["cpu_surplus_per_hour"] == pytest.approx(2 * (0.40 - 0.05) * 2 * 0.05, abs=1e-3)
    assert rel.cost_per_hour() == pytest.approx(2 * (0.0052 + 0.035) + 0.0225, abs=1e-3)
    assert len(events(cloud, "cpu.surplus_started")) == 2
    # below the baseline nothing more is billed, and the bank fills again
    quiet, _ = web_cloud(load=[{"at_s": 0, "rps": 1}], rps_per_vcpu=25)  # 2% of a nano's 2 vCPUs
    quiet.advance(600_000)
    assert quiet.metrics()["cpu_surplus_per_hour"] == 0 and not events(quiet, "cpu.surplus_started")


def test_each_fault_is_an_incident_with_time_to_recover_and_evidence():
    cloud, lb = web_cloud(load=[{"at_s": 0, "rps": 40}])
    cloud.advance(60_000)
    cloud.clock.schedule(100_000, lambda: set_health(cloud, "host", "a1-h1", Health.FAILED))
    cloud.clock.schedule(300_000, lambda: set_health(cloud, "disk", "c2-h2-d2", Health.FAILED))  # unused
    cloud.advance(400_000)
    m = cloud.metrics()
    assert m["incidents"] == 2 and m["incidents_open"] == 0
    marked = max(e.t_ms for e in events(cloud, "lb.target_unhealthy", target="web-a"))
    # whole again at the end of the step in which the last node took web-a out
    assert m["time_to_recover_s.1"] == (-(-marked // 1000) * 1000 - 100_000) / 1000
    assert m["time_to_recover_s.2"] == 0  # nothing depended on that disk
    assert m["time_to_recover_s"] == m["time_to_recover_s.1"]
    first = cloud.get(Reliability).report()[0]
    assert first["requests_failed"] == first["failed_by_reason"]["dead_target"] > 0
    assert "web-a taken out by 2 load balancer nodes" in first["evidence"] and "whole again" in first["evidence"]
    assert [e.get("incident") for e in events(cloud, "incident.recovered")] == [1, 2]


def test_an_incident_that_never_heals_stays_open():
    cloud, _ = web_cloud(load=[{"at_s": 0, "rps": 40}])
    cloud.advance(60_000)
    set_health(cloud, "host", "a1-h1", Health.DEGRADED)  # gray: users fail, checks pass
    cloud.advance(100_000)
    m = cloud.metrics()
    assert m["incidents_open"] == 1 and m["time_to_recover_s.1"] == 100
    assert "not recovered yet" in cloud.get(Reliability).report()[0]["evidence"]


def test_same_world_seed_and_actions_give_the_same_log():
    def play(seed):
        cloud, lb = web_cloud(seed=seed, load=[{"at_s": 0, "rps": 90}])
        cloud.clock.schedule(50_000, lambda: set_health(cloud, "zone", "zb", Health.FAILED))
        cloud.advance(200_000)
        return cloud.log.sha256()

    assert play(4) == play(4)
    assert play(4) != play(5)  # other health-check phases


# -- the console ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chapter9(catalogue):
    return catalogue.get("failure-design")


def session_of(chapter, *lines, seed=0):
    from cloudquest.game.session import Session

    s = Session(chapter, seed)
    for line in lines:
        out = s.execute(line)
        assert out.ok, (line, out.output)
    return s


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("lb create web2 --zones eu-west-1a", "at least two zones"),
        ("lb create web", "already exists"),
        ("lb create Web", "bad load balancer name"),
        ("lb create web2 --zones eu-west-1a,mars-1", "unknown zone 'mars-1'"),
        ("lb create web2 --zones eu-west-1a,eu-west-1a", "each zone may be given once"),
        ("lb register web web-a1,nope", "no live instance named 'nope'"),
        ("lb register nope web-a1", "no load balancer named 'nope'"),
        ("lb register web ,", "name at least one instance"),
        ("lb register web web-a1,web-a1", "each instance may be named once"),
        ("lb set web interval 3", "interval_s must be from 5 to 300"),
        ("lb set web interval 5", "must be less than the interval"),
        ("lb set web healthy-threshold 11", "healthy_threshold must be from 2 to 10"),
        ("lb set web jitter 3", "setting must be one of"),
        ("lb deregister web web-a1", "'web-a1' is not registered with web"),
    ],
)
def test_bad_console_input_is_one_line_and_changes_nothing(chapter9, line, fragment):
    s = session_of(chapter9, "launch --type nano --zone eu-west-1a --name web-a1", "lb create web")
    before = (len(s.cloud.log), dict(s.cloud.get(LoadBalancing).balancers), s.cloud.get(LoadBalancing).balancers["web"].health_check)
    out = s.execute(line)
    assert not out.ok and fragment in out.output, out.output
    assert len(out.output.splitlines()) == 1
    after = (len(s.cloud.log), dict(s.cloud.get(LoadBalancing).balancers), s.cloud.get(LoadBalancing).balancers["web"].health_check)
    assert after == before
    assert not s.cloud.get(LoadBalancing).balancers["web"].targets


def test_console_lb_flow_budget_and_incidents(chapter9):
    s = session_of(
        chapter9,
        "launch --type nano --zone eu-west-1a --name web-a1",
        "launch --type nano --zone eu-west-1b --name web-b1",
        "lb create web",
        "tick 20",
        "lb register web web-a1,web-b1",
        "tick 40",
    )
    health = s.execute("lb health").output
    assert "web-a1" in health and health.count("healthy") >= 6 and "detection gap 35-65 s" in health
    budget = s.execute("budget").output
    assert budget.startswith("cost $0.0329 per hour against a budget of $0.30: $0.2671 under")
    assert "2 x nano at $0.0052" in budget
    assert s.execute("incidents").output == "no incidents yet"
    s.execute("fail host " + s.cloud.control.instances["web-a1"].host.id)
    s.execute("tick 120")
    text = s.execute("incidents").output
    assert text.startswith("incident 1: host ") and "web-a1 taken out by 3 load balancer nodes" in text
    assert "load balancers: web" in s.execute("status").output
    view = s.execute("describe").output
    assert view.startswith("failure design at t=") and "availability" in view


def test_lb_commands_need_a_world_with_load_balancing():
    from cloudquest.game.schema import World
    from cloudquest.game.session import Session, free_play_chapter

    s = Session(free_play_chapter(World.model_validate(three_zones())), 0, sandbox=True)
    out = s.execute("lb create web")
    assert not out.ok and "no load balancing" in out.output
    out = s.execute("budget")
    assert not out.ok and "no cost or incident accounts" in out.output


def test_verify_replays_the_design_under_other_seeds_and_logs_the_outcome(chapter9):
    s = session_of(chapter9)
    out = s.execute("verify")
    assert not out.ok and "no design to verify yet" in out.output
    weak = [  # three nanos: two of them cannot carry 120 rps when a zone goes dark
        "set placement zone-aware",
        "put catalogue 20GiB",
        "put images 30GiB",
        "put orders 10GiB",
        "launch --type nano --zone eu-west-1a --name web-a",
        "launch --type nano --zone eu-west-1b --name web-b",
        "launch --type nano --zone eu-west-1c --name web-c",
        "lb create web",
        "lb set web timeout 4",
        "lb set web interval 5",
        "tick 30",
        "lb register web web-a,web-b,web-c",
    ]
    s = session_of(chapter9, *weak)
    out = s.execute("verify --seeds 2")
    assert out.ok
    assert "2 of 2 seeds fail" in out.output and "✘ available" in out.output
    (event,) = [e for e in s.cloud.log if e.kind == "verify.result"]
    assert (event.get("seeds"), event.get("passed"), event.get("failed_seeds"), event.get("commands")) == (2, 0, "1,2", 12)
    # the replayed design is the same commands at the same times: seed 1 again gives seed 1's run
    from cloudquest.game.commands.reliability import replay_design

    a = replay_design(s, 1, 200_000)
    b = replay_design(s, 1, 200_000)
    assert a.event_log_sha256 == b.event_log_sha256


@pytest.mark.parametrize(
    "change, failing",
    [
        # two racks of one zone: chunks kept only in the dark zone are missing for 30 minutes, not lost
        (("set placement zone-aware", "set placement rack-aware"), {"available"}),
        # three fragments per zone; placement repair undoes what repairs crowded into one zone
        (("set replication 3", "set erasure 6 3"), set()),
        (("lb set web interval 5", "lb health"), {"available"}),  # 30 s checks: long detection gaps
        # same capacity at eight times the price, and a baseline that still leaves surplus to pay
        (("--type nano", "--type medium"), {"on-budget"}),
    ],
)
def test_chapter_9_grades_each_design_as_the_story_predicts(chapter9, change, failing):
    lines = [line.replace(*change) for line in chapter9.solution if line != "verify"]
    if change[0] == "lb set web interval 5":
        lines = [line for line in lines if line != "lb set web timeout 4"]
    s = session_of(chapter9, *lines)
    result = s.finish()
    assert {o.id for o in result.objectives if not o.passed} == failing | {"not-luck"}


# -- the live view ------------------------------------------------------------------------------
def test_the_live_view_draws_sparklines_and_the_detection_gap_and_changes_nothing(chapter9):
    from cloudquest.game.session import Session
    from cloudquest.tui.views import view_for
    from cloudquest.tui.views.reliability import ReliabilityView, availability_cell

    assert chapter9.world.view == "reliability" and view_for("reliability") is ReliabilityView
    lines = [line for line in chapter9.solution if line not in ("verify", "tick 14370")] + ["tick 7770"]
    plain, drawn = Session(chapter9, 0), Session(chapter9, 0)
    view = ReliabilityView(drawn)
    view.layout_rows = lambda: 20
    for line in lines:
        plain.execute(line)
        drawn.execute(line)
        view.draw(80)
    assert plain.cloud.log.sha256() == drawn.cloud.log.sha256()
    # the zone has just gone dark: the other nodes still hold web-a1 healthy; it is dead
    drawn.execute("tick 2")
    text = view.draw(80).plain
    rows = text.splitlines()
    assert rows[0].startswith("t=2:10:02  120 rps  avail ")
    assert rows[1].startswith("avail ") and "█" in rows[1]
    assert rows[2].startswith("short ") and rows[2].endswith("now 960")
    web_a1 = next(r for r in rows if r.strip().startswith("web-a1"))
    assert web_a1.split()[1] == "-✔✔" and web_a1.endswith("dead")
    assert "#4 zone eu-west-1a open 2s" in text
    assert availability_cell(100.0, 10)[0] == "█" and availability_cell(99.95, 10)[0] == "▇"
    assert availability_cell(0.0, 10)[0] == "▁" and availability_cell(100.0, 0)[0] == " "


def test_a_verify_vouches_only_for_the_design_it_replayed(chapter9):
    lines = [line for line in chapter9.solution if line not in ("verify", "tick 14370", "incidents")]
    s = session_of(chapter9, *lines)
    assert s.cloud.metrics()["verify_passed"] == 0
    assert s.execute("verify --seeds 1").ok
    assert s.cloud.metrics()["verify_passed"] == 1
    for look in ("budget", "lb health", "tick 5", "status", "incidents", "ls"):
        s.execute(look)
    assert s.cloud.metrics()["verify_passed"] == 1
    assert not s.execute("lb set web interval 3").ok  # refused: changes nothing
    assert s.cloud.metrics()["verify_passed"] == 1
    assert s.execute("lb set web interval 6").ok
    assert s.cloud.metrics()["verify_passed"] == 0


def test_repairing_what_the_timeline_broke_by_hand_is_counted():
    cloud = new_cloud(three_zones(timeline=[{"at_s": 10, "part": "rack", "id": "b1", "for_s": 100}]), 0)
    set_health(cloud, "host", "c1-h1", Health.FAILED)
    cloud.advance(20_000)
    set_health(cloud, "host", "c1-h1", Health.HEALTHY)  # the player's own fault: not the timeline's
    assert cloud.metrics()["timeline_hand_repairs"] == 0
    set_health(cloud, "rack", "b1", Health.HEALTHY)
    assert cloud.metrics()["timeline_hand_repairs"] == 1
    (event,) = [e for e in cloud.log if e.kind == "timeline.overridden"]
    assert (event.get("part"), event.get("id")) == ("rack", "b1")
    cloud.advance(200_000)  # the timeline's own repair finds it healthy: skipped, not counted
    assert cloud.metrics()["timeline_hand_repairs"] == 1


# -- sleeping health checks ------------------------------------------------------------------
def _play_checks(sleep: bool, monkeypatch) -> tuple:
    """Three targets checked every 5 s by three nodes, through faults, repairs, a setting
    changed, an instance stopped, started and terminated, times off the steps."""
    if not sleep:
        monkeypatch.setattr(LoadBalancing, "may_sleep", lambda self, hc: False)
    targets = (("web-a", "za", "a1-h1"), ("web-b", "zb", "b1-h1"), ("web-c", "zc", "c1-h1"))
    cloud, lb = web_cloud(load=[{"at_s": 0, "rps": 60}], targets=targets, zones=("za", "zb", "zc"))
    cloud.fast_forward = sleep
    lb.configure("timeout_s", 4)
    lb.configure("interval_s", 5)
    script = [
        lambda: cloud.advance(61_234),
        lambda: set_health(cloud, "host", "a1-h1", Health.FAILED),
        lambda: cloud.advance(47_001),
        lambda: set_health(cloud, "host", "a1-h1", Health.HEALTHY),
        lambda: cloud.advance(3_600_000),
        lambda: cloud.control.stop("web-b"),
        lambda: cloud.advance(20_999),
        lambda: lb.configure("healthy_threshold", 2),
        lambda: cloud.control.start("web-b"),
        lambda: cloud.advance(300_000),
        lambda: cloud.clock.schedule(cloud.now_ms + 2_500, lambda: set_health(cloud, "zone", "zc", Health.FAILED)),
        lambda: cloud.advance(90_000),
        lambda: set_health(cloud, "zone", "zc", Health.HEALTHY),
        lambda: cloud.advance(7_000),
        lambda: cloud.control.terminate("web-c"),
        lambda: cloud.advance(3_600_000),
    ]
    for act in script:
        act()
    lbs = cloud.get(LoadBalancing)
    lbs.wake(None, cloud.now_ms)  # the counts of the checks still asleep, brought up to now
    views = [(t.instance, z, v.state, v.passes, v.failures, v.reason) for t in lb.targets.values() for z, v in t.views.items()]
    return cloud.log.sha256(), views, cloud.metrics(), lbs.offered, lbs.served, dict(lbs.failed)


def test_sleeping_health_checks_give_what_checks_every_interval_give(monkeypatch):
    """A check that can only say the same again (a healthy target answering, an
    unhealthy one not, a node that is down) sleeps instead of firing every interval, and
    is woken when its answer may change: a part's health, a setting, an event about its
    instance. Every verdict, count and event is what checks that never sleep give."""
    asleep = _play_checks(True, monkeypatch)
    assert asleep == _play_checks(False, monkeypatch)


def test_checks_sleep_while_nothing_changes():
    cloud, lb = web_cloud()
    lb.configure("timeout_s", 4)
    lb.configure("interval_s", 5)
    cloud.advance(120_000)
    lbs = cloud.get(LoadBalancing)
    assert len(lbs.asleep) == 2 * 2  # every node's chain of every target
    assert cloud.clock.pending == 0  # nothing on the clock: a long tick can be skipped
