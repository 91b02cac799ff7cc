"""Resource scheduling: published score formulas, filters, placement groups, the capacity
index, the fleet's metrics, and the invariants a scheduler promises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudquest.cloud import CloudError, Health
from cloudquest.game.session import new_cloud
from cloudquest.cloud.fleet import Fleet
from cloudquest.cloud.faults import set_health
from cloudquest.cloud.fleet import fragmentation, migration_ms
from cloudquest.cloud.hardware import build_hardware as _build_hardware
from cloudquest.cloud.world import CoreWorld
from cloudquest.cloud.scheduler import (
    NoValidHost,
    Request,
    Scheduler,
    SchedulerConfig,
    balanced_score,
    cpu_capacity,
    feasible_to_find,
    least_requested_score,
    most_requested_score,
    place_all,
    ram_capacity,
    resource_scores,
    score_host,
)

GIB = 1024


def hosts_world(*hosts, zones=1, racks_per_zone=1):
    """One region; ``hosts`` are (vcpus, ram_mib) put round-robin on the racks."""
    zone_specs = []
    rack_specs = []
    for z in range(zones):
        racks = [{"name": f"z{z}-r{r}", "hosts": []} for r in range(racks_per_zone)]
        rack_specs.extend(racks)
        zone_specs.append({"name": f"z{z}", "racks": racks})
    for i, (vcpus, ram_mib) in enumerate(hosts):
        rack_specs[i % len(rack_specs)]["hosts"].append({"name": f"h{i + 1}", "vcpus": vcpus, "ram_gib": ram_mib / GIB})
    return {"regions": [{"name": "r1", "zones": zone_specs}]}


def sched_for(world, **cfg):
    return Scheduler(build_hardware(world), SchedulerConfig(**cfg))


def build_hardware(world: dict):
    return _build_hardware(CoreWorld.model_validate(world))


# -- kube-scheduler's published scores ------------------------------------------------------
# Hosts and requests are kube-scheduler's own test cases (noderesources/*_test.go, "nothing
# scheduled, resources requested, differently sized nodes": node1 4000m CPU / 10000 memory,
# node2 6000m / 10000, a pod asking 3000m / 5000), in vCPUs and MiB. The scores are worked by
# hand from the formulas in least_allocated.go, most_allocated.go, balanced_allocation.go.


def test_least_allocated_scores_from_the_formula():
    # node1: cpu (4 - 3) * 100 / 4 = 25; ram (10000 - 5000) * 100 / 10000 = 50; (25 + 50) / 2 = 37
    # node2: cpu (6 - 3) * 100 / 6 = 50; ram 50; total 50
    s = sched_for(hosts_world((4, 10000), (6, 10000)))
    cfg = s.config
    assert resource_scores(4, 10000, 3, 5000, cfg) == (25, 50, 37)
    assert resource_scores(6, 10000, 3, 5000, cfg) == (50, 50, 50)
    req = Request("pod", 3, 5000)
    assert s.select(req).id == "h2"  # spread: the emptier node
    expl = s.explain(req)
    assert [(r.host, r.cpu, r.ram, r.total) for r in expl.rows] == [("h1", 25, 50, 37), ("h2", 50, 50, 50)]
    assert expl.winner == "h2"


def test_most_allocated_scores_from_the_formula():
    # node1: cpu 3 * 100 / 4 = 75; ram 5000 * 100 / 10000 = 50; (75 + 50) / 2 = 62
    # node2: cpu 3 * 100 / 6 = 50; ram 50; total 50
    s = sched_for(hosts_world((4, 10000), (6, 10000)), policy="pack")
    assert resource_scores(4, 10000, 3, 5000, s.config) == (75, 50, 62)
    assert resource_scores(6, 10000, 3, 5000, s.config) == (50, 50, 50)
    assert s.select(Request("pod", 3, 5000)).id == "h1"  # pack: the fuller node


def test_balanced_allocation_scores_from_the_formula():
    # node1: fractions 3/4 = 0.75 and 5000/10000 = 0.5; std |0.75 - 0.5| / 2 = 0.125;
    #        (1 - 0.125) * 100 = 87.5 -> 87
    # node2: fractions 3/6 = 0.5 and 0.5; std 0; score 100
    assert balanced_score((3, 5000), (4, 10000)) == 87
    assert balanced_score((3, 5000), (6, 10000)) == 100
    s = sched_for(hosts_world((4, 10000), (6, 10000)), policy="balanced")
    expl = s.explain(Request("pod", 3, 5000))
    assert [(r.cpu, r.ram, r.total) for r in expl.rows] == [(75, 50, 87), (50, 50, 100)]
    assert expl.winner == "h2"


def test_balanced_allocation_counts_what_is_already_there():
    """kube's "resources requested, pods scheduled with resources": two 10-CPU / 20000
    nodes, one already holding 3 CPU / 0 memory, the other 3 CPU / 5000; the pod asks
    3 CPU / 5000. Fractions include the pod: 0.6/0.25 -> std 0.175 -> 82; 0.6/0.5 -> 95."""
    s = sched_for(hosts_world((10, 20000), (10, 20000)), policy="balanced")
    h1, h2 = s.hardware.hosts["h1"], s.hardware.hosts["h2"]
    h1.used_vcpus, h1.used_ram_mib = 3, 0
    h2.used_vcpus, h2.used_ram_mib = 3, 5000
    req = Request("pod", 3, 5000)
    assert score_host(h1, req, s.config) == 82
    assert score_host(h2, req, s.config) == 95
    assert s.select(req) is h2


def test_weights_and_edge_cases():
    cfg = SchedulerConfig(cpu_weight=2, ram_weight=1)
    # (25 * 2 + 50 * 1) // 3 = 33
    assert resource_scores(4, 10000, 3, 5000, cfg)[2] == 33
    assert resource_scores(4, 10000, 3, 5000, SchedulerConfig(cpu_weight=0, ram_weight=0))[2] == 0
    # leastRequestedScore is 0 past capacity; mostRequestedScore clamps requested to capacity.
    assert least_requested_score(5, 4) == 0
    assert most_requested_score(5, 4) == 100
    assert least_requested_score(1, 0) == most_requested_score(1, 0) == 0
    # A resource with no capacity is left out of the balance, as kube does.
    assert balanced_score((1, 5000), (0, 10000)) == 100
    # the other weight: (25 * 1 + 50 * 2) // 3 = 41
    assert resource_scores(4, 10000, 3, 5000, SchedulerConfig(cpu_weight=1, ram_weight=2))[2] == 41


def test_least_allocated_of_an_empty_or_a_zero_capacity_resource():
    """least_allocated.go, leastRequestedScore: 0 when the capacity is 0; otherwise
    (capacity - requested) * 100 / capacity, so nothing requested scores 100."""
    assert least_requested_score(0, 0) == 0
    assert least_requested_score(0, 1) == 100
    assert least_requested_score(1, 1) == 0


def test_balanced_shows_the_requested_fractions_in_whole_percent():
    """The balanced policy's cpu and ram columns are the requested fractions in percent,
    rounded down; a resource with no capacity shows 0 and is left out of the score
    (balanced_allocation.go). By hand: 2 of 3 vCPUs is 66 %, 5000 of 7000 MiB 71 %; std
    |0.6667 - 0.7143| / 2 = 0.0238, score (1 - 0.0238) * 100 = 97.6 -> 97."""
    balanced = SchedulerConfig(policy="balanced")
    assert resource_scores(3, 7000, 2, 5000, balanced) == (66, 71, 97)
    assert all(type(v) is int for v in resource_scores(3, 7000, 2, 5000, balanced))
    assert resource_scores(0, 10000, 1, 5000, balanced) == (0, 50, 100)  # no CPU capacity
    assert resource_scores(4, 0, 1, 0, balanced) == (25, 0, 100)  # no RAM capacity


def test_allocation_ratios_stretch_capacity():
    """Nova: capacity = physical * allocation ratio (cpu_allocation_ratio, ram_allocation_ratio)."""
    s = sched_for(hosts_world((4, 8 * GIB)), cpu_ratio=4.0, ram_ratio=1.5)
    host = s.hardware.hosts["h1"]
    assert cpu_capacity(host, s.config) == 16
    assert ram_capacity(host, s.config) == 12 * GIB
    # least-allocated cpu (16 - 3) * 100 // 16 = 81
    assert resource_scores(16, 12 * GIB, 3, 0, s.config)[0] == 81
    # 8 vCPU on a 4-pCPU host is allowed at ratio 4, not at ratio 1.
    assert s.select(Request("a", 8, GIB)) is host
    with pytest.raises(NoValidHost) as exc:
        sched_for(hosts_world((4, 8 * GIB))).select(Request("a", 8, GIB))
    assert exc.value.reasons == {"cpu": 1}


def test_feasible_nodes_to_find_is_kube_schedulers_formula():
    """kube-scheduler docs: the adaptive percentage is 50% at 100 nodes, 10% at 5000 nodes,
    never under 5%; at least 100 nodes are always looked at."""
    assert feasible_to_find(100, 0) == 100
    assert feasible_to_find(5000, 0) == 500
    assert feasible_to_find(1000, 0) == 420
    assert feasible_to_find(1_000_000, 0) == 50_000
    assert feasible_to_find(150, 10) == 100
    assert feasible_to_find(5000, 100) == 5000


# -- filters ---------------------------------------------------------------------------------


def test_filters_name_the_reason_for_every_host():
    world = hosts_world((4, 8 * GIB), (4, 8 * GIB), (4, 8 * GIB), (4, 8 * GIB), (64, 256 * GIB), zones=2, racks_per_zone=1)
    cloud = new_cloud(world, seed=1)
    set_health(cloud, "host", "h1", Health.FAILED)
    set_health(cloud, "host", "h2", Health.DEGRADED)
    h3 = cloud.hardware.hosts["h3"]
    h3.used_vcpus = 4
    h4 = cloud.hardware.hosts["h4"]
    h4.used_ram_mib = 8 * GIB - 100
    cloud.scheduler.note(h3)
    cloud.scheduler.note(h4)
    # h5 (64 vCPU) is in zone z0 with h1 and h3; a request limited to z1 finds no host.
    req = Request("x", 2, 1024, zones=("z1",))
    with pytest.raises(NoValidHost) as exc:
        cloud.scheduler.select(req)
    assert exc.value.reasons == {"host_down": 1, "host_degraded": 1, "zone": 2, "ram": 1}
    rows = {r.host: r for r in cloud.scheduler.explain(req).rows}
    assert rows["h1"].detail == "host h1 is down"
    assert rows["h2"].detail == "host h2 is degraded"
    assert rows["h4"].detail.startswith("needs 1 GiB")
    # Without the zone limit, only h5 passes (h3 is out of CPU).
    expl = cloud.scheduler.explain(Request("x", 2, 1024))
    assert {r.host: r.reason for r in expl.rows} == {
        "h1": "host_down",
        "h2": "host_degraded",
        "h3": "cpu",
        "h4": "ram",
        "h5": None,
    }
    assert expl.winner == "h5"


def test_degraded_rack_or_zone_is_avoided_too():
    world = hosts_world((8, 8 * GIB), (8, 8 * GIB), zones=2)
    cloud = new_cloud(world, seed=1)
    set_health(cloud, "zone", "z0", Health.DEGRADED)
    assert cloud.scheduler.select(Request("x", 1, 512)).id == "h2"


def test_disk_filter():
    world = {"regions": [{"name": "r", "zones": [{"name": "z", "racks": [{"name": "k", "hosts": [
        {"name": "small-disk", "vcpus": 8, "ram_gib": 32, "disks": [{"size_gib": 50}]},
        {"name": "big-disk", "vcpus": 8, "ram_gib": 32, "disks": [{"size_gib": 500}]},
    ]}]}]}]}
    s = sched_for(world, policy="pack")
    assert s.select(Request("x", 2, 1024, disk_gib=100)).id == "big-disk"
    assert s.explain(Request("x", 2, 1024, disk_gib=100)).rows[0].reason == "disk"


def test_forced_host_is_checked_by_the_same_filters():
    s = sched_for(hosts_world((4, 8 * GIB), (64, 256 * GIB)))
    assert s.select(Request("x", 2, GIB, host="h1")).id == "h1"  # not the scheduler's choice
    with pytest.raises(NoValidHost) as exc:
        s.select(Request("x", 8, GIB, host="h1"))
    assert exc.value.reasons == {"cpu": 1}
    assert s.explain(Request("x", 8, GIB, host="h1")).winner is None


# -- placement groups (EC2) -------------------------------------------------------------------


def launch_group(s: Scheduler, group: str, n: int, prefix: str = "i", **kw) -> list[str]:
    placed = []
    for i in range(n):
        req = Request(f"{prefix}{i}", 2, 2 * GIB, group=group, **kw)
        host = s.select(req)
        host.used_vcpus += req.vcpus
        host.used_ram_mib += req.ram_mib
        s.commit(req, host)
        placed.append(host.id)
    return placed


def test_spread_group_refuses_an_eighth_instance_in_one_zone():
    """EC2 user guide, placement groups: "A rack spread placement group can have a maximum
    of seven running instances per Availability Zone per group." Ten racks are free, yet
    the eighth instance in the zone is refused."""
    s = sched_for(hosts_world(*[(16, 64 * GIB)] * 20, zones=1, racks_per_zone=10))
    s.create_group("web", "spread")
    hosts = launch_group(s, "web", 7)
    racks = {s.hardware.hosts[h].rack.id for h in hosts}
    assert len(racks) == 7  # each instance on its own rack
    with pytest.raises(NoValidHost) as exc:
        s.select(Request("i7", 2, 2 * GIB, group="web"))
    assert exc.value.reasons == {"spread_rack": 14, "spread_zone_limit": 6}


def test_spread_group_uses_another_zone_for_the_eighth():
    s = sched_for(hosts_world(*[(16, 64 * GIB)] * 20, zones=2, racks_per_zone=5))
    s.create_group("web", "spread")
    hosts = launch_group(s, "web", 10)
    zones = [s.hardware.hosts[h].rack.zone.id for h in hosts]
    assert zones.count("z0") <= 7 and zones.count("z1") <= 7
    assert len({s.hardware.hosts[h].rack.id for h in hosts}) == 10
    with pytest.raises(NoValidHost):  # ten racks, ten instances: no rack left
        s.select(Request("x", 2, 2 * GIB, group="web"))


def test_spread_group_member_leaving_frees_its_rack():
    cloud = new_cloud(hosts_world(*[(16, 64 * GIB)] * 2, zones=1, racks_per_zone=2), seed=1)
    cloud.scheduler.create_group("web", "spread")
    cloud.control.launch("a", "small", group="web")
    cloud.control.launch("b", "small", group="web")
    with pytest.raises(CloudError) as exc:
        cloud.control.launch("c", "small", group="web")
    assert exc.value.code == "InsufficientInstanceCapacity"
    assert "spread_rack: 2" in str(exc.value)
    cloud.control.terminate("a")
    cloud.control.launch("c", "small", group="web")


def test_cluster_group_stays_in_one_zone_and_close_together():
    # Two zones, three racks each; spread policy alone would scatter the instances.
    s = sched_for(hosts_world(*[(16, 64 * GIB)] * 12, zones=2, racks_per_zone=3))
    s.create_group("hpc", "cluster")
    hosts = launch_group(s, "hpc", 6)
    racks = {s.hardware.hosts[h].rack.id for h in hosts}
    assert len(racks) == 1  # affinity keeps them beside each other
    # Once the rack is full, the group still stays in its zone.
    hosts += launch_group(s, "hpc", 14, prefix="more")
    assert {s.hardware.hosts[h].rack.zone.id for h in hosts} == {s.hardware.hosts[hosts[0]].rack.zone.id}
    expl = s.explain(Request("x", 2, 2 * GIB, group="hpc"))
    assert any(r.reason == "cluster_zone" for r in expl.rows)
    # Worked by hand: the group's rack holds 4 vCPU / 4 GiB on h2 and h8 after the rest
    # filled h1 and h7; with this request 6 of 16 vCPUs, (16 - 6) * 100 // 16 = 62, and
    # 6 of 64 GiB, 90; (62 + 90) // 2 = 76, plus the affinity's 100. An empty host in the
    # zone's other rack scores (87 + 96) // 2 = 91 and no affinity.
    totals = {r.host: (r.cpu, r.ram, r.affinity, r.total) for r in expl.rows if r.reason is None}
    assert totals["h2"] == totals["h8"] == (62, 90, 100, 176)
    assert totals["h3"] == totals["h9"] == (87, 96, 0, 91)
    assert expl.winner == "h2"


def test_partition_group_partitions_share_no_rack():
    s = sched_for(hosts_world(*[(16, 64 * GIB)] * 12, zones=1, racks_per_zone=6))
    s.create_group("kafka", "partition", partitions=3)
    launch_group(s, "kafka", 9)
    members = s.groups["kafka"].live()
    owners: dict[str, set[int]] = {}
    counts = [0, 0, 0, 0]
    for m in members.values():
        owners.setdefault(m.host.rack.id, set()).add(m.partition)
        counts[m.partition] += 1
    assert all(len(p) == 1 for p in owners.values())
    assert counts[1:] == [3, 3, 3]  # spread evenly, as EC2 does when no partition is named
    # Asking for a partition keeps the instance on that partition's racks.
    req = Request("p2", 2, 2 * GIB, group="kafka", partition=2)
    host = s.select(req)
    assert all(m.host.rack.id != host.rack.id or m.partition == 2 for m in members.values())


def test_group_rules_are_checked():
    s = sched_for(hosts_world((4, 4 * GIB)))
    with pytest.raises(ValueError, match="1 to 7 partitions"):
        s.create_group("p", "partition", partitions=8)
    with pytest.raises(ValueError, match="strategies: cluster, spread, partition"):
        s.create_group("p", "ring")
    with pytest.raises(ValueError, match="only a partition group"):
        s.create_group("p", "spread", partitions=2)
    s.create_group("p", "spread")
    with pytest.raises(ValueError, match="already exists"):
        s.create_group("p", "cluster")
    with pytest.raises(ValueError, match="no placement group"):
        s.select(Request("x", 1, 1, group="nope"))


# -- the control plane, launch with --group and --host -----------------------------------------


def test_launch_with_group_and_unknown_group():
    cloud = new_cloud(hosts_world(*[(16, 64 * GIB)] * 4, zones=1, racks_per_zone=4), seed=2)
    with pytest.raises(CloudError) as exc:
        cloud.control.launch("a", "small", group="web")
    assert exc.value.code == "InvalidPlacementGroup.Unknown"
    assert len(cloud.log) == 1  # nothing but world.created: a refused call changes nothing
    cloud.scheduler.create_group("web", "spread")
    racks = {cloud.control.launch(f"w{i}", "small", group="web").host.rack.id for i in range(4)}
    assert len(racks) == 4
    cloud.advance(30_000)
    m = cloud.metrics()
    assert m["instances_running"] == 4


# -- the capacity index -------------------------------------------------------------------------


def big_world(racks=6, per_rack=25, zones=3):
    zs = []
    for z in range(zones):
        rs = []
        for r in range(racks // zones):
            rs.append({"name": f"z{z}r{r}", "hosts": [
                {"count": per_rack // 2, "vcpus": 32, "ram_gib": 128},
                {"count": per_rack - per_rack // 2, "vcpus": 16, "ram_gib": 96},
            ]})
        zs.append({"name": f"z{z}", "racks": rs})
    return {"regions": [{"name": "r", "zones": zs}]}


SHAPES = [(2, 512), (2, 2048), (2, 8192), (4, 16384), (8, 4096)]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=st.sampled_from(["spread", "pack", "balanced"]),
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("place"), st.sampled_from(SHAPES), st.sampled_from([(), ("z1",), ("z0", "z2")])),
            st.tuples(st.just("free"), st.integers(0, 10_000), st.none()),
            st.tuples(st.just("health"), st.integers(0, 10_000), st.sampled_from(list(Health))),
            st.tuples(st.just("ratio"), st.sampled_from([1.0, 2.0, 4.0]), st.none()),
        ),
        min_size=1,
        max_size=120,
    ),
)
def test_index_chooses_exactly_what_a_full_scan_chooses(policy, ops):
    """The capacity index (fleets over 100 hosts) must make the same decision as scoring
    every host, whatever happened in between."""
    world = big_world()
    hw = build_hardware(world)
    assert len(hw.hosts) > 100
    s = Scheduler(hw, SchedulerConfig(policy=policy))
    hosts = list(hw.hosts.values())
    placed: list[tuple] = []
    for kind, a, b in ops:
        if kind == "place":
            (vc, ram), zones = a, b
            req = Request(f"r{len(placed)}", vc, ram, zones=zones)
            expected = s.explain(req).winner
            try:
                host = s.select(req)
            except NoValidHost:
                assert expected is None
                continue
            assert host.id == expected
            host.used_vcpus += vc
            host.used_ram_mib += ram
            s.commit(req, host)
            placed.append((host, vc, ram))
        elif kind == "free" and placed:
            host, vc, ram = placed.pop(a % len(placed))
            host.used_vcpus -= vc
            host.used_ram_mib -= ram
            s.note(host)
        elif kind == "health":
            host = hosts[a % len(hosts)]
            host.health = b
            s.invalidate()
        elif kind == "ratio":
            s.configure(cpu_ratio=a)


def test_index_survives_a_change_it_was_not_told_about():
    """A host changed behind the scheduler's back: the winner is re-checked against the
    live host, so the decision is never wrong (here it is even still exact)."""
    hw = build_hardware(big_world())
    s = Scheduler(hw, SchedulerConfig(policy="spread"))
    first = s.select(Request("a", 2, 2048))
    first.used_vcpus = first.vcpus  # filled without a note
    second = s.select(Request("b", 2, 2048))
    assert second is not first
    assert second.id == s.explain(Request("b", 2, 2048)).winner


def test_sampling_mode_scores_a_kube_style_sample():
    hw = build_hardware(big_world(racks=6, per_rack=50))  # 300 hosts: 48% of them, 144
    s = Scheduler(hw, SchedulerConfig(policy="pack", sampling=True))
    first = s.select(Request("a", 2, 2048))
    assert s._next_start == feasible_to_find(300, 0) == 144  # stopped once 144 hosts passed
    assert first.id == s.explain(Request("a", 2, 2048)).winner  # all empty: the first host


# -- properties --------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**16),
    policy=st.sampled_from(["spread", "pack", "balanced"]),
    cpu_ratio=st.sampled_from([1.0, 1.5, 4.0]),
    ram_ratio=st.sampled_from([1.0, 1.5]),
    big=st.booleans(),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["launch", "launch", "launch", "group", "terminate", "degrade", "fail", "repair", "tick"]),
            st.integers(0, 1000),
        ),
        max_size=60,
    ),
)
def test_no_host_over_capacity_and_every_placement_passed_every_filter(seed, policy, cpu_ratio, ram_ratio, big, ops):
    world = big_world() if big else hosts_world(*[(8, 16 * GIB), (16, 32 * GIB)] * 6, zones=2, racks_per_zone=3)
    world["scheduler"] = {"policy": policy, "cpu_ratio": cpu_ratio, "ram_ratio": ram_ratio}
    cloud = new_cloud(world, seed=seed)
    sched = cloud.scheduler
    sched.create_group("g-spread", "spread")
    sched.create_group("g-part", "partition", partitions=3)
    sched.create_group("g-cluster", "cluster")
    groups = [None, "g-spread", "g-part", "g-cluster"]
    hosts = list(cloud.hardware.hosts.values())
    checked = []

    # Wrap select so every decision is checked against the filters at the moment it is made.
    real_select = sched.select

    def checking_select(req):
        host = real_select(req)
        ctx = sched._context(req)
        assert sched._filter(host, ctx) is None, (host.id, req)
        checked.append(req.name)
        return host

    sched.select = checking_select
    n = 0
    for op, k in ops:
        if op in ("launch", "group"):
            n += 1
            try:
                cloud.control.launch(f"i{n}", ["nano", "small", "large", "xlarge"][k % 4], group=groups[k % 4] if op == "group" else None)
            except CloudError:
                pass
        elif op == "terminate":
            alive = cloud.control.alive()
            if alive:
                cloud.control.terminate(alive[k % len(alive)].name)
        elif op in ("degrade", "fail", "repair"):
            h = hosts[k % len(hosts)]
            health = {"degrade": Health.DEGRADED, "fail": Health.FAILED, "repair": Health.HEALTHY}[op]
            if h.health is not health:
                set_health(cloud, "host", h.id, health)
        else:
            cloud.advance(k * 20)
        for h in hosts:
            assert 0 <= h.used_vcpus <= cpu_capacity(h, sched.config), h.id
            assert 0 <= h.used_ram_mib <= ram_capacity(h, sched.config), h.id
        # Group rules hold for every live group.
        for g in sched.groups.values():
            members = list(g.live().values())
            if g.strategy == "spread":
                racks = [m.host.rack.id for m in members]
                assert len(racks) == len(set(racks))
                for z in cloud.hardware.zones:
                    assert sum(1 for m in members if m.host.rack.zone.id == z) <= 7
            elif g.strategy == "partition":
                owner: dict[str, int] = {}
                for m in members:
                    assert owner.setdefault(m.host.rack.id, m.partition) == m.partition
            else:
                assert len({m.host.rack.zone.id for m in members}) <= 1
    assert len(checked) == cloud.log.count("launch.requested")


def fleet_world(**fleet):
    zones = []
    for z, load in (("za", 0), ("zb", 40)):
        racks = []
        for r in range(2):
            hosts = [{"vcpus": 16, "ram_gib": 64, "count": 3}]
            racks.append({"name": f"{z}{r + 1}", "hosts": hosts})
        zones.append({"name": z, "load_pct": load, "racks": racks})
    base = {"requests": {"count": 30, "every_ms": 500, "mix": {"small": 0.5, "large": 0.3, "xlarge": 0.2}}}
    base.update(fleet)
    return {"regions": [{"name": "r1", "zones": zones}], "fleet": base}


def test_same_world_same_seed_same_log():
    a = new_cloud(fleet_world(requests={"count": 60, "every_ms": 300, "mix": {"small": 1, "xlarge": 1}, "lifetime_ms": [5000, 20000]}), seed=9)
    b = new_cloud(fleet_world(requests={"count": 60, "every_ms": 300, "mix": {"small": 1, "xlarge": 1}, "lifetime_ms": [5000, 20000]}), seed=9)
    a.advance(60_000)
    b.advance(60_000)
    assert a.log.sha256() == b.log.sha256()
    assert a.metrics() == b.metrics()
    c = new_cloud(fleet_world(), seed=10)
    c.advance(60_000)
    assert c.log.sha256() != a.log.sha256()


# -- the fleet ---------------------------------------------------------------------------------


def test_fleet_stream_arrives_over_time_and_is_counted():
    cloud = new_cloud(fleet_world(), seed=3)
    fleet = cloud.get(Fleet)
    assert cloud.metrics()["requests_pending"] == 30
    cloud.advance(5_000)  # requests arrive at 500, 1000, ... 5000 ms
    m = cloud.metrics()
    assert m["requests_pending"] == 20
    assert m["placed"] == 10
    cloud.advance(20_000)
    m = cloud.metrics()
    assert m["requests_pending"] == 0
    assert m["placed"] + m["rejected"] == 30
    assert m["placed"] == sum(1 for r in fleet.requests.values() if r.state == "placed")
    # the zone that started 40% busy is busier
    assert m["zone_imbalance"] > 0


def test_fleet_rejection_is_counted_and_explained():
    world = fleet_world(requests={"count": 40, "every_ms": 100, "mix": {"xlarge": 1}})
    cloud = new_cloud(world, seed=3)
    cloud.advance(10_000)
    m = cloud.metrics()
    assert m["rejected"] > 0
    fleet = cloud.get(Fleet)
    name = next(r.name for r in fleet.requests.values() if r.state == "rejected")
    expl = fleet.rejections[name]
    assert expl.winner is None and set(expl.reasons) <= {"cpu", "ram", "disk"}


def test_manual_place_is_filtered_and_a_refusal_changes_nothing():
    cloud = new_cloud(fleet_world(), seed=3)
    fleet = cloud.get(Fleet)
    set_health(cloud, "host", "za1-h1", Health.DEGRADED)
    before = len(cloud.log)
    with pytest.raises(CloudError, match="host_degraded"):
        fleet.place("req-01", "za1-h1")
    assert len(cloud.log) == before and fleet.requests["req-01"].state == "pending"
    fleet.place("req-01", "za1-h2")
    assert fleet.requests["req-01"].state == "placed"
    assert cloud.control.get("req-01").host.id == "za1-h2"
    assert cloud.scheduler.decisions["req-01"].rows[0].host == "za1-h2"
    with pytest.raises(CloudError, match="already placed"):
        fleet.place("req-01", "za1-h3")


def test_fragmentation_by_hand():
    """Two free hosts for reference xlarge (4 vCPU, 16 GiB): h1 has 2 vCPU / 8 GiB free
    (stranded: the xlarge does not fit), h2 has 8 vCPU / 32 GiB free (usable).
    cpu 2 / 10, ram 8 / 40 stranded: mean of 20% and 20% = 20.0."""
    s = sched_for(hosts_world((8, 32 * GIB), (8, 32 * GIB)))
    h1 = s.hardware.hosts["h1"]
    h1.used_vcpus, h1.used_ram_mib = 6, 24 * GIB
    hosts = list(s.hardware.hosts.values())
    assert fragmentation(hosts, s, 4, 16 * GIB) == 20.0
    h1.health = Health.DEGRADED  # not schedulable: its free capacity is not counted
    assert fragmentation(hosts, s, 4, 16 * GIB) == 0.0
    h1.health = Health.HEALTHY
    h1.used_vcpus, h1.used_ram_mib = 8, 32 * GIB
    hosts[1].used_vcpus, hosts[1].used_ram_mib = 8, 32 * GIB
    assert fragmentation(hosts, s, 4, 16 * GIB) == 0.0  # nothing free at all


def test_spread_strands_capacity_once_the_fleet_fills_up():
    """The chapter's lesson in numbers, same stream, same fleet (12 hosts of 16 vCPU):
    at low load spreading strands nothing (every host still takes an xlarge) while packing
    leaves odd pieces on its full hosts; as the fleet fills, spreading leaves a small
    piece on every host and strands more than packing, which keeps whole hosts free."""

    def frag(policy, count):
        world = fleet_world(requests={"count": count, "every_ms": 100, "mix": {"small": 1, "large": 1}}, fragmentation_ref="xlarge")
        world["scheduler"] = {"policy": policy}
        cloud = new_cloud(world, seed=5)
        cloud.advance(10_000)
        assert cloud.metrics()["rejected"] == 0
        return cloud.metrics()["fragmentation"]

    assert frag("spread", 24) == 0.0 < frag("pack", 24)
    assert frag("pack", 60) < frag("spread", 60)
    assert frag("pack", 70) < frag("spread", 70)


def test_degraded_host_metric_and_live_migration():
    world = fleet_world(requests={"count": 6, "every_ms": 100, "mix": {"large": 1}},
                        faults=[{"at_ms": 20_000, "kind": "host", "id": "za1-h1", "health": "degraded"}])
    cloud = new_cloud(world, seed=3)
    cloud.advance(19_000)
    on_h1 = [i.name for i in cloud.control.alive() if i.host.id == "za1-h1"]
    assert on_h1, "spread puts one request on the first host"
    assert cloud.metrics()["on_degraded_hosts"] == 0
    cloud.advance(2_000)
    assert cloud.metrics()["on_degraded_hosts"] == len(on_h1)
    from cloudquest.cloud.fleet import migrate

    src, dst, ms = migrate(cloud, on_h1[0])
    assert src.id == "za1-h1" and dst.id != "za1-h1" and dst.rack.zone is src.rack.zone
    assert ms == migration_ms(8192, 25) == 2749  # 8 GiB over 25 Gbit/s
    assert src.used_vcpus >= 2  # both hosts hold the slices while the copy runs
    cloud.advance(ms)
    assert cloud.metrics()["on_degraded_hosts"] == len(on_h1) - 1
    assert cloud.metrics()["migrations"] == 1
    assert src.used_vcpus == 0 or all(i.host is src for i in cloud.control.alive() if i.name in on_h1[1:])


def test_group_metrics_for_rack_failure_survival():
    world = fleet_world(requests={"count": 0}, groups=[{"name": "web", "strategy": "spread"}])
    cloud = new_cloud(world, seed=3)
    for i in range(4):
        cloud.control.launch(f"w{i}", "small", group="web")
    m = cloud.metrics()
    assert m["group_size.web"] == 4
    assert m["group_max_per_rack.web"] == 1
    assert m["group_racks.web"] == 4
    assert m["group_max_hops.web"] == 6  # members in both zones


# -- the console: commands, bad input, the chapter, the sandbox -------------------------------


def fleet_session(**fleet):
    from cloudquest.game.schema import World
    from cloudquest.game.session import Session, free_play_chapter

    world = World.model_validate(fleet_world(**fleet))
    return Session(free_play_chapter(world), 0, sandbox=True)


def test_scheduler_commands_change_the_policy_and_log_it():
    s = fleet_session()
    out = s.execute("scheduler policy balanced")
    assert out.ok and "spread -> balanced" in out.output
    assert s.cloud.scheduler.config.policy == "balanced"
    assert s.execute("scheduler weight ram 3").ok and s.cloud.scheduler.config.ram_weight == 3
    assert s.execute("scheduler ratio cpu 4").ok and s.cloud.scheduler.config.cpu_ratio == 4.0
    assert s.cloud.log.count("scheduler.configured") == 3


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("scheduler policy random", "policy must be one of spread, pack, balanced"),
        ("scheduler weight gpu 2", "resource must be one of cpu, ram"),
        ("scheduler weight cpu 101", "at most 100"),
        ("scheduler ratio ram 20", "ram ratio must be above 0 and at most 16"),
        ("group create web --strategy ring", "strategy must be one of cluster, spread, partition"),
        ("group create Web", "bad group name"),
        ("group create p --strategy partition --partitions 9", "at most 7"),
        ("launch --name x --group nope", "no placement group named 'nope'"),
        ("place req-99 za1-h1", "no request named 'req-99'"),
        ("place req-01 nohost", "no host named 'nohost'"),
        ("explain nothing", "nothing named 'nothing' to explain"),
        ("migrate ghost", "no live instance named 'ghost'"),
        ("drain za1-h1", "has no running instances"),
        ("group show nope", "no placement group named 'nope'"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(line, fragment):
    s = fleet_session()
    before = (len(s.cloud.log), s.cloud.log.sha256(), dict(vars(s.cloud.scheduler.config)), set(s.cloud.scheduler.groups))
    out = s.execute(line)
    assert not out.ok and out.error_kind == "input", out.output
    assert fragment in out.output and "\n" not in out.output and "Traceback" not in out.output
    after = (len(s.cloud.log), s.cloud.log.sha256(), dict(vars(s.cloud.scheduler.config)), set(s.cloud.scheduler.groups))
    assert after == before


def test_place_refused_by_a_filter_is_an_api_error_that_changes_nothing():
    s = fleet_session()
    s.execute("degrade host za1-h1")
    before = len(s.cloud.log)
    out = s.execute("place req-01 za1-h1")
    assert not out.ok and out.error_kind == "api" and "host_degraded" in out.output
    assert len(s.cloud.log) == before
    out = s.execute("place req-01 za1-h2")
    assert out.ok and s.cloud.control.get("req-01").host.id == "za1-h2"


def test_explain_prints_every_host_and_the_winner():
    s = fleet_session()
    out = s.execute("explain req-01")
    assert out.ok
    lines = out.output.splitlines()
    hosts = list(s.cloud.hardware.hosts)
    assert all(any(line.strip().startswith(h + " ") for line in lines) for h in hosts)
    winner = s.cloud.scheduler.explain(s.cloud.get(Fleet).request_of(s.cloud.get(Fleet).requests["req-01"])).winner
    assert f"winner: {winner} " in out.output
    assert any(line.rstrip().endswith("<- winner") and line.strip().startswith(winner) for line in lines)
    s.execute("tick 1")
    out = s.execute("explain req-01")  # now placed: the recorded decision
    assert "the decision that placed it" in out.output and f"winner: {winner} " in out.output
    assert s.cloud.log.count("scheduler.explained") == 2


def test_group_launch_and_drain_through_the_console():
    s = fleet_session(requests={"count": 0})
    assert s.execute("group create web --strategy spread").ok
    for i in range(4):
        out = s.execute(f"launch --name web-{i} --type small --group web")
        assert out.ok, out.output
    out = s.execute("launch --name web-9 --type small --group web")
    assert not out.ok and out.error_kind == "api" and "spread_rack: " in out.output  # four racks, four used
    s.execute("tick 20")
    host = s.cloud.control.get("web-0").host.id
    out = s.execute(f"drain {host}")
    assert out.ok and "web-0: -> " in out.output, out.output
    assert s.cloud.control.get("web-0").host.id != host
    out = s.execute("group show web")
    assert "most on one rack 1" in out.output


def test_sandbox_plays_a_fleet_world(tmp_path):
    import json
    import subprocess
    import sys

    import yaml

    world = tmp_path / "fleet.yaml"
    world.write_text(yaml.safe_dump(fleet_world(groups=[{"name": "db", "strategy": "partition", "partitions": 2}])))
    script = "scheduler policy pack\nlaunch --name db-1 --group db\nrequests\nexplain req-05\ntick 30\nstatus\n"
    out = subprocess.run(
        [sys.executable, "-m", "cloudquest", "play", "sandbox", "--world", str(world), "--script", "-", "--json"],
        input=script, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert all(t["ok"] for t in data["transcript"]), data["transcript"]
    assert data["metrics"]["placed"] == 31 and data["metrics"]["group_size.db"] == 1


def test_group_hops_follow_the_widest_domain():
    """Leaf-spine hop counts: same host 0, same rack 2 (via the top-of-rack switch),
    same zone 4 (via the spine), across zones 6."""
    from cloudquest.cloud.fleet import group_metrics

    hw = build_hardware(hosts_world(*[(8, 8 * GIB)] * 8, zones=2, racks_per_zone=2))
    h = hw.hosts
    # h1 z0-r0, h2 z0-r1, h3 z1-r0, h4 z1-r1, h5 z0-r0, ...
    assert group_metrics("g", [h["h1"]])["group_max_hops.g"] == 0
    assert group_metrics("g", [h["h1"], h["h1"]])["group_max_hops.g"] == 0
    assert group_metrics("g", [h["h1"], h["h5"]])["group_max_hops.g"] == 2
    assert group_metrics("g", [h["h1"], h["h5"], h["h2"]])["group_max_hops.g"] == 4
    m = group_metrics("g", [h["h1"], h["h5"], h["h3"]])
    assert m["group_max_hops.g"] == 6 and m["group_max_per_rack.g"] == 2 and m["group_zones.g"] == 2


# -- chapter 3 shows what its story claims ---------------------------------------------------
def test_chapter_3_pack_keeps_the_new_zones_empty_hosts_empty_while_spread_fills_them():
    """kube-scheduler's MostAllocated score favours the fullest node that fits ("Resource
    Bin Packing" in the Kubernetes docs), so with room on busy hosts an empty host stays
    empty; LeastAllocated favours the emptiest and fills it first. Chapter 3's zone a has
    no other tenants, and the stream shows the difference."""
    from pathlib import Path

    from cloudquest.game.chapters import load_chapter
    from cloudquest.game.session import Session

    chapter = load_chapter(Path(__file__).parent.parent / "levels" / "03-scheduling.yaml")

    def empty_after(policy: str, seconds: int) -> int:
        s = Session(chapter, 0)
        s.run_script([f"scheduler policy {policy}", f"tick {seconds}"])
        empty = sum(1 for h in s.cloud.hardware.hosts.values() if h.up and h.used_vcpus == h.used_ram_mib == 0)
        assert empty == s.cloud.metrics()["hosts_empty"]
        return empty

    assert empty_after("spread", 0) == empty_after("pack", 0) == 12  # zone a: no tenants yet
    assert empty_after("spread", 25) == 0  # fifty requests: spread has touched every host
    assert empty_after("pack", 50) == 12  # a hundred: pack has not touched an empty host


def test_balanced_allocation_over_three_resources_and_past_capacity():
    """balanced_allocation.go, balancedResourceScorer: with more than two resources the
    score is (1 - the standard deviation of the requested fractions) * 100, each fraction
    capped at 1, a resource with no capacity left out. Worked by hand:
    fractions 0.2, 0.5, 0.8: mean 0.5, variance (0.09 + 0 + 0.09) / 3 = 0.06, std 0.2449,
    score 75; 5 of 4 CPUs counts as 1.0 beside 1000 / 10000 = 0.1: std 0.45, score 55."""
    assert balanced_score((2, 5, 8), (10, 10, 10)) == 75
    assert balanced_score((5, 1000), (4, 10000)) == 55
    assert balanced_score((1, 2000, 3), (0, 10000, 6)) == 85  # cpu left out: 0.2 and 0.5, std 0.15


def test_scores_and_sample_sizes_are_whole_numbers_as_kube_scheduler_computes_them():
    """kube-scheduler works in int64: mostRequestedScore of 1 CPU of 3 is 100 / 3 = 33;
    numFeasibleNodesToFind of 1001 nodes at the adaptive 50 - 1001 / 125 = 42 % is 420;
    percentageOfNodesToScore 1 of 50,000 nodes is 500; a cluster of 100 nodes or fewer is
    scored whole (minFeasibleNodesToFind)."""
    assert most_requested_score(1, 3) == 33 and type(most_requested_score(1, 3)) is int
    assert feasible_to_find(1001, 0) == 420 and type(feasible_to_find(1001, 0)) is int
    assert feasible_to_find(50_000, 1) == 500
    assert feasible_to_find(50, 10) == 50
