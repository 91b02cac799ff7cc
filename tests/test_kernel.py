"""The simulated-cloud kernel: clock, events, hardware, launch pipeline, IPAM, faults."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cloudquest.cloud import STEPS, CloudError
from cloudquest.cloud.cloud import Cloud
from cloudquest.game.session import new_cloud
from cloudquest.cloud.clock import Clock
from cloudquest.cloud.catalogue import CATALOGUE
from cloudquest.cloud.faults import FAULT_ACTIONS, act, set_health
from cloudquest.cloud.hardware import Health
from cloudquest.cloud.ipam import Ipam, IpamError

from worlds import tiny_world


def booted(cloud: Cloud, ms: int = 30_000) -> Cloud:
    cloud.advance(ms)
    return cloud


def test_clock_runs_equal_time_actions_in_schedule_order():
    clock, seen = Clock(), []
    for i in range(5):
        clock.schedule(100, lambda i=i: seen.append(i))
    clock.schedule(50, lambda: seen.append("early"))
    clock.run_due(100)
    assert seen == ["early", 0, 1, 2, 3, 4]
    assert clock.now_ms == 100


def test_launch_runs_seven_distinct_timed_steps_in_order():
    cloud = booted_launch = new_cloud(tiny_world(), seed=1)
    cloud.control.launch("web", "small", "zb")
    booted(cloud)
    steps = [e for e in cloud.log if e.kind == "launch.step"]
    assert [e.get("step") for e in steps] == list(STEPS)
    times = [e.t_ms for e in steps]
    assert times == sorted(times) and len(set(times)) == 7
    inst = booted_launch.control.get("web")
    assert inst.state == "running"
    assert [s for s, _ in inst.steps] == list(STEPS)


def test_running_comes_before_the_guest_boots_and_the_two_status_checks_pass_later():
    """AWS, "Instance state changes" and "Status checks for your instances": an instance
    is `running` once the VM has started, while its operating system still boots; EC2
    then runs a system status check and an instance status check every minute, and the
    instance check passes only once the guest answers. Both pass after `running`."""
    cloud = new_cloud(tiny_world(), seed=1)
    cloud.control.launch("web", "small", "zb")
    booted(cloud, 150_000)
    kinds = [(e.kind, e.get("check"), e.get("status")) for e in cloud.log if e.get("instance") == "web"]
    running = kinds.index(("instance.running", None, None))
    booted_at = kinds.index(("instance.booted", None, None))
    system = kinds.index(("instance.status_check", "system", "ok"))
    instance = kinds.index(("instance.status_check", "instance", "ok"))
    assert running < booted_at < instance and running < system
    t = {e.kind + str(e.get("check", "")): e.t_ms for e in cloud.log if e.get("instance") == "web"}
    assert t["instance.booted"] - t["instance.running"] >= 15_000  # the guest boots after `running`
    assert t["instance.status_checkinstance"] - t["instance.booted"] <= 60_000  # at the next minute's check
    inst = cloud.control.get("web")
    assert inst.state == "running" and inst.checks == {"system": "ok", "instance": "ok"}


def test_a_down_host_fails_both_status_checks_at_the_next_check_and_passes_them_when_back():
    cloud = new_cloud(tiny_world(), seed=1)
    inst = cloud.control.launch("web", "small", "zb")
    booted(cloud, 150_000)
    set_health(cloud, "host", inst.host.id, Health.FAILED)
    booted(cloud, 60_000)
    assert inst.checks == {"system": "impaired", "instance": "impaired"}
    set_health(cloud, "host", inst.host.id, Health.HEALTHY)
    booted(cloud, 60_000)
    assert inst.checks == {"system": "ok", "instance": "ok"}
    changes = [(e.get("check"), e.get("status")) for e in cloud.log if e.kind == "instance.status_check"]
    assert changes.count(("system", "impaired")) == 1 and changes.count(("system", "ok")) == 2


def test_a_smaller_size_fits_only_where_memory_ran_out():
    """Every t3 size up to large has 2 vCPUs and differs only in memory (AWS, "Amazon EC2
    T3 instances"): a zone out of vCPUs refuses a nano as it refuses a large, and says so;
    a zone out of memory takes a smaller size."""
    world = tiny_world()
    cloud = new_cloud(world, seed=1)
    zone = cloud.hardware.zones["za"]
    for h in zone.hosts():  # every vCPU taken, plenty of memory left
        h.claim(h.vcpus - h.used_vcpus, 0)
    with pytest.raises(CloudError) as exc:
        cloud.control.launch("tiny", "nano", "za")
    assert "a smaller type will not help" in exc.value.message
    cloud = new_cloud(world, seed=1)
    for h in cloud.hardware.zones["za"].hosts():  # 4 GiB of memory left on each, vCPUs free
        h.claim(0, h.ram_mib - h.used_ram_mib - 4096)
    with pytest.raises(CloudError) as exc:
        cloud.control.launch("big", "large", "za")
    assert "a type with less memory" in exc.value.message
    assert cloud.control.launch("api", "medium", "za").host.rack.zone.id == "za"


@pytest.mark.parametrize(
    "route",
    [
        ["launch --name api --type large --zone eu-west-1b"],  # another zone
        ["launch --name api --type medium --zone eu-west-1a"],  # a size with less memory
        ["terminate legacy-7", "launch --name api --type large --zone eu-west-1a"],  # free capacity
    ],
)
def test_every_way_out_of_chapter_1s_capacity_error_works(route):
    from pathlib import Path

    from cloudquest.game.chapters import load_chapter
    from cloudquest.game.session import Session

    chapter = load_chapter(Path(__file__).parent.parent / "levels" / "01-launch.yaml")
    s = Session(chapter, 0)
    s.run_script(["launch --name api --type large --zone eu-west-1a", *route, "tick 90", "describe api"])
    result = s.finish()
    assert result.passed, [o.evidence for o in result.objectives if not o.passed]


def test_capacity_error_names_the_zone_and_leaves_nothing_allocated():
    cloud = new_cloud(tiny_world(), seed=1)
    before = [(h.used_vcpus, h.used_ram_mib) for h in cloud.hardware.hosts.values()]
    free_ips = cloud.network.ipam.subnet_for_zone("za").free
    with pytest.raises(CloudError) as exc:
        cloud.control.launch("big", "xlarge", "za")
    assert exc.value.code == "InsufficientInstanceCapacity"
    assert "zone za" in exc.value.message
    assert [(h.used_vcpus, h.used_ram_mib) for h in cloud.hardware.hosts.values()] == before
    assert cloud.network.ipam.subnet_for_zone("za").free == free_ips
    failed = [e for e in cloud.log if e.kind == "launch.failed"]
    assert failed[-1].get("step") == "find_server"


def test_host_failing_mid_launch_fails_that_step_and_releases_everything():
    cloud = new_cloud(tiny_world(), seed=2)
    inst = cloud.control.launch("web", "small", "za")
    host = inst.host
    cloud.advance(100)  # past allocate_ram, before allocate_disk
    set_health(cloud, "host", host.id, Health.FAILED)
    cloud.advance(30_000)
    assert inst.state == "failed"
    failed = [e for e in cloud.log if e.kind == "launch.failed"][-1]
    assert failed.get("step") == "allocate_disk" and failed.get("code") == "Server.InternalError"
    assert host.used_vcpus == 0 and host.used_ram_mib == 0
    assert all(d.used_gib == 0 for d in host.disks)
    assert cloud.network.ipam.subnet_for_zone("za").in_use == set()


def test_terminate_releases_cpu_ram_disk_ip_and_firewall():
    cloud = new_cloud(tiny_world(), seed=3)
    inst = cloud.control.launch("web", "medium", "zb")
    booted(cloud)
    host, disk, ip = inst.host, inst.disk, inst.private_ip
    assert host.used_vcpus == 2 and disk.used_gib == 32
    assert cloud.network.security_groups["default"].members == {"eni-web"}
    cloud.control.terminate("web")
    assert (host.used_vcpus, host.used_ram_mib, disk.used_gib) == (0, 0, 0)
    assert ip not in cloud.network.ipam.subnet_for_zone("zb").in_use
    assert cloud.network.security_groups["default"].members == set()
    assert "eni-web" not in cloud.network.enis
    with pytest.raises(CloudError, match="already terminated"):
        cloud.control.terminate("web")


def test_aws_reserves_first_four_and_last_address_of_every_subnet():
    """AWS VPC user guide, 'Subnet CIDR blocks': the first four IP addresses and the last
    IP address in each subnet CIDR block are not available for your use."""
    ipam = Ipam("10.0.0.0/16", "vpc-1")
    subnet = ipam.add_subnet("s", "z", "10.0.0.0/24", public=False)
    assert subnet.reserved() == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.255"]
    assert subnet.usable == 251
    first = subnet.allocate("i-1")
    assert first == "10.0.0.4"
    small = ipam.add_subnet("t", "z2", "10.0.1.0/28", public=False)
    got = [small.allocate(f"i-{n}") for n in range(11)]
    assert got[-1] == "10.0.1.14"
    with pytest.raises(IpamError) as exc:
        small.allocate("i-12")
    assert exc.value.code == "InsufficientFreeAddressesInSubnet"


def test_subnets_must_fit_the_vpc_and_not_overlap():
    ipam = Ipam("10.0.0.0/16", "vpc-1")
    ipam.add_subnet("a", "z", "10.0.1.0/24", public=False)
    with pytest.raises(IpamError, match="overlaps"):
        ipam.add_subnet("b", "z", "10.0.1.128/25", public=False)
    with pytest.raises(IpamError, match="not inside the VPC"):
        ipam.add_subnet("c", "z", "192.168.0.0/24", public=False)
    with pytest.raises(IpamError, match="/16 to /28"):
        ipam.add_subnet("d", "z", "10.0.2.0/29", public=False)


def test_rack_failure_impairs_its_instances_and_repair_recovers_them():
    cloud = new_cloud(tiny_world(), seed=4)
    cloud.control.launch("web", "small", "za")
    booted(cloud)
    set_health(cloud, "rack", "a1", Health.FAILED)
    assert cloud.control.get("web").state == "impaired"
    assert any(e.kind == "instance.unreachable" and e.get("instance") == "web" for e in cloud.log)
    set_health(cloud, "rack", "a1", Health.HEALTHY)
    assert cloud.control.get("web").state == "running"


def test_uplink_cut_takes_the_rack_off_the_network():
    cloud = new_cloud(tiny_world(), seed=4)
    cloud.control.launch("web", "small", "zb")
    booted(cloud)
    set_health(cloud, "link", "b1-uplink", Health.FAILED)
    assert cloud.control.get("web").state == "impaired"
    assert not cloud.hardware.racks["b1"].up


def test_scheduler_skips_degraded_and_failed_hosts():
    cloud = new_cloud(tiny_world(), seed=5)
    set_health(cloud, "host", "b1-h1", Health.DEGRADED)
    set_health(cloud, "host", "a1-h1", Health.FAILED)
    for i in range(4):
        inst = cloud.control.launch(f"w{i}", "nano")
        assert inst.host.id in ("a1-h2", "b1-h2")


def test_scheduler_least_allocated_score_spreads():
    """kube-scheduler NodeResourcesFit LeastAllocated: (capacity - requested) * 100 / capacity."""
    from cloudquest.cloud.scheduler import Request, SchedulerConfig, score_host

    cloud = new_cloud(tiny_world(), seed=0)
    host = cloud.hardware.hosts["b1-h1"]  # 16 vCPU, 64 GiB
    host.used_vcpus, host.used_ram_mib = 4, 16 * 1024
    req = Request("x", 4, 16 * 1024)
    # cpu: (16 - 8) * 100 // 16 = 50; ram: (64 - 32) * 100 // 64 = 50
    assert score_host(host, req, SchedulerConfig()) == 50
    assert score_host(host, req, SchedulerConfig(policy="pack")) == 50


# -- properties ------------------------------------------------------------------------
# The strategies reach every kind of part (zones, racks, hosts, disks, links: the tiny
# world's two uplinks and the za~zb link), every instance size (xlarge fits zb's hosts,
# not za's), faults that land in the middle of a launch (short ticks: the steps are 30 to
# 350 ms apart), and seeds that matter (the seed sets each guest's boot time, so whether a
# fault at 10-16 s lands before or after `running`).
PART_KINDS = ("zone", "rack", "host", "disk", "link")
# 1 ms into each step after find_server (chapter 1's timings: 30, 40, 350, 200, 60 ms)
LAUNCH_STEP_STARTS_MS = {"allocate_cpu": 1, "allocate_ram": 31, "allocate_disk": 71, "assign_nic": 421, "configure_firewall": 621, "boot": 681}
op = st.one_of(
    st.tuples(st.just("launch"), st.sampled_from(sorted(CATALOGUE)), st.sampled_from([None, "za", "zb"])),
    st.tuples(st.just("terminate"), st.integers(0, 20), st.none()),
    st.tuples(st.just("tick"), st.integers(1, 20_000), st.none()),
    st.tuples(st.just("tick"), st.integers(1, 400), st.none()),
    st.tuples(st.sampled_from(FAULT_ACTIONS), st.sampled_from(PART_KINDS), st.integers(0, 99)),
    # the newest launch's own host, rack, zone or disk, struck 0-16 s after it began
    st.tuples(
        st.just("strike"),
        st.one_of(st.sampled_from(sorted(LAUNCH_STEP_STARTS_MS.values())), st.integers(0, 16_000)),
        st.sampled_from(["host", "rack", "zone", "disk"]),
    ),
)
ops = st.lists(op, max_size=40)
OWN_PART = {"host": lambda h: h.id, "rack": lambda h: h.rack.id, "zone": lambda h: h.rack.zone.id, "disk": lambda h: h.disks[0].id}


def _play(seed: int, steps) -> Cloud:
    cloud = new_cloud(tiny_world(), seed=seed)
    names: list[str] = []
    for kind, a, b in steps:
        try:
            if kind == "launch":
                names.append(cloud.control.launch(None, a, b).name)
            elif kind == "strike" and names:
                host = cloud.control.get(names[-1]).host
                cloud.advance(a)
                if host is not None:
                    act(cloud, "fail", b, OWN_PART[b](host))
            elif kind == "terminate" and names:
                cloud.control.terminate(names[a % len(names)])
            elif kind == "tick":
                cloud.advance(a)
            elif kind in FAULT_ACTIONS:
                parts = sorted(cloud.hardware.table(a))
                act(cloud, kind, a, parts[b % len(parts)])
        except CloudError:
            pass
        _check_invariants(cloud)
    for e in cloud.log:
        if e.kind == "launch.failed":
            event(f"a launch failed at {e.get('step')}")
    return cloud


def _check_invariants(cloud: Cloud) -> None:
    for host in cloud.hardware.hosts.values():
        assert 0 <= host.used_vcpus <= host.vcpus
        assert 0 <= host.used_ram_mib <= host.ram_mib
        held = [i for i in cloud.control.instances.values() if i.host is host and i.cpu_claimed]
        assert host.used_vcpus == sum(i.type.vcpus for i in held)
        assert host.used_ram_mib == sum(i.type.ram_mib for i in held)
        for disk in host.disks:
            assert 0 <= disk.used_gib <= disk.size_gib
    for inst in cloud.control.instances.values():
        if inst.state in ("failed", "terminated"):
            assert not inst.cpu_claimed and not inst.disk_claimed
    in_use = set().union(*(s.in_use for s in cloud.network.ipam.subnets.values()))
    alive_ips = {i.private_ip for i in cloud.control.instances.values() if i.alive}
    assert in_use == alive_ips


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 1000), steps=ops)
def test_property_capacity_never_exceeded_and_nothing_leaks(seed, steps):
    _play(seed, steps)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), steps=ops)
def test_property_events_are_in_time_order_and_runs_are_deterministic(seed, steps):
    a, b = _play(seed, steps), _play(seed, steps)
    times = [e.t_ms for e in a.log]
    assert times == sorted(times)
    assert [e.seq for e in a.log] == list(range(len(a.log)))
    assert a.log.sha256() == b.log.sha256()
    assert a.log.to_jsonl() == b.log.to_jsonl()


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 1000),
    before=st.lists(op, max_size=6),
    type_name=st.sampled_from(sorted(CATALOGUE)),
    zone=st.sampled_from([None, "za", "zb"]),
    delay_ms=st.one_of(st.sampled_from(sorted(LAUNCH_STEP_STARTS_MS.values())), st.integers(0, 16_000)),
    part=st.sampled_from(sorted(OWN_PART)),
    action=st.sampled_from(["fail", "destroy", "degrade"]),
)
def test_property_a_launch_struck_at_any_step_fails_cleanly_or_runs(seed, before, type_name, zone, delay_ms, part, action):
    cloud = _play(seed, before)
    try:
        inst = cloud.control.launch("struck", type_name, zone)
    except CloudError:
        event("refused at find_server")
        return
    cloud.advance(delay_ms)
    try:
        act(cloud, action, part, OWN_PART[part](inst.host))
    except CloudError:
        pass  # already so
    cloud.advance(20_000)
    _check_invariants(cloud)
    failed = [e.get("step") for e in cloud.log if e.kind == "launch.failed" and e.get("instance") == "struck"]
    event(f"{action} {part}: " + (f"failed at {failed[0]}" if failed else inst.state))
    if failed:
        assert inst.state == "failed" and not inst.cpu_claimed and not inst.disk_claimed
        assert inst.private_ip not in set().union(*(s.in_use for s in cloud.network.ipam.subnets.values()))
        assert [s for s, _ in inst.steps] == list(STEPS[: STEPS.index(failed[0])])
    else:
        assert [s for s, _ in inst.steps] == list(STEPS)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 1000), type_name=st.sampled_from(sorted(CATALOGUE)))
def test_property_a_failed_launch_leaves_nothing_allocated(seed, type_name):
    cloud = new_cloud(tiny_world(), seed=seed)
    # fill zone za until it refuses
    for _ in range(10):
        try:
            cloud.control.launch(None, type_name, "za")
        except CloudError:
            break
    snapshot = [(h.used_vcpus, h.used_ram_mib, [d.used_gib for d in h.disks]) for h in cloud.hardware.hosts.values()]
    ips = {s.id: set(s.in_use) for s in cloud.network.ipam.subnets.values()}
    with pytest.raises(CloudError):
        cloud.control.launch(None, type_name, "za")
    assert [(h.used_vcpus, h.used_ram_mib, [d.used_gib for d in h.disks]) for h in cloud.hardware.hosts.values()] == snapshot
    assert {s.id: set(s.in_use) for s in cloud.network.ipam.subnets.values()} == ips


@pytest.mark.parametrize("step", list(LAUNCH_STEP_STARTS_MS))
@pytest.mark.parametrize("part", ["host", "rack"])
def test_a_launch_whose_host_fails_at_any_step_fails_there_and_releases_everything(step, part):
    """The steps of chapter 1's pipeline are 30, 40, 350, 200, 60 ms and the boot apart
    (the chapter's own timings); a host lost in the middle of one fails that step."""
    cloud = new_cloud(tiny_world(), seed=0)
    inst = cloud.control.launch("web", "small", "zb")
    host = inst.host
    cloud.advance(LAUNCH_STEP_STARTS_MS[step])
    set_health(cloud, part, host.id if part == "host" else host.rack.id, Health.FAILED)
    cloud.advance(20_000)
    (failed,) = [e for e in cloud.log if e.kind == "launch.failed"]
    assert failed.get("step") == step and inst.state == "failed"
    assert (host.used_vcpus, host.used_ram_mib, [d.used_gib for d in host.disks]) == (0, 0, [0])
    assert not set().union(*(s.in_use for s in cloud.network.ipam.subnets.values()))


def test_ip_addresses_come_from_the_zone_subnet():
    cloud = new_cloud(tiny_world(), seed=0)
    inst = cloud.control.launch("web", "small", "zb")
    subnet = cloud.network.ipam.subnet_for_zone("zb")
    assert ipaddress.ip_address(inst.private_ip) in subnet.cidr
