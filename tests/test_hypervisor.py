"""The hypervisor host: Xen-style credit scheduling, steal time, memory overcommit.

Published facts reproduced here, with their sources:

- Xen wiki, "Credit Scheduler": "A domain with a weight of 512 will get twice as much CPU
  as a domain with a weight of 256 on a contended host"; "The cap is expressed in
  percentage of one physical CPU: 100 is 1 physical CPU, 50 is half a CPU ... The cap
  optionally fixes the maximum amount of CPU a domain will be able to consume, even if
  the host system has idle CPU cycles"; the scheduler is "work conserving".
- xen/common/sched_credit.c: default weight 256, 30 ms time slice and accounting period,
  10 credits per ms (300 per pCPU per period), 3 ticks per slice; a waking UNDER vCPU is
  BOOSTed (csched_vcpu_wake); credits bounded at -300 and, above +300, the vCPU stops
  earning.
- Linux steal time: the CPU time a guest wanted that the host gave to someone else,
  ``top``'s ``st`` column. On KVM it is the vCPU thread's run-queue delay (commit "KVM:
  Steal time implementation", 2011: "halt time does not count"); in a Xen guest
  ``xen_steal_clock`` (drivers/xen/time.c) returns run-state time RUNSTATE_runnable +
  RUNSTATE_offline, so a vCPU paused because of its cap shows as steal too.
"""

from __future__ import annotations

from itertools import groupby

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudquest.cloud import credit_scheduler as cs
from cloudquest.game.session import new_cloud
from cloudquest.cloud.errors import CloudError
from cloudquest.cloud.hypervisor import (
    BURST_PATTERN_SLICES,
    WINDOW_SLICES,
    WORKLOAD_NAMES,
    HostSim,
    format_cpu_list,
    parse_cpu_list,
)
from cloudquest.cloud.memory import MIB_PER_GIB
from hypervisor_worlds import host_readings, spec_host, vm_spec


def share(sim: HostSim, name: str) -> float:
    """Fraction of one pCPU a VM got since it was created (long-run, not windowed)."""
    vm = sim.vms[name]
    return vm.cum_run_us / ((sim.slices - vm.born_slice) * cs.SLICE_US)


# -- the scheduler's published constants, as behaviour ------------------------------------


def _alone_on_one_pcpu(wants_us: int) -> tuple[cs.CreditScheduler, cs.Domain]:
    sched = cs.CreditScheduler(1)
    dom = cs.Domain("a", 1)
    sched.add(dom)
    dom.wants_us = wants_us
    return sched, dom


def test_a_busy_vcpu_runs_a_30_ms_slice_and_pays_10_credits_a_millisecond():
    """sched_credit.c: CSCHED_DEFAULT_TSLICE_MS 30 and CSCHED_CREDITS_PER_MSEC 10, so a
    vCPU that runs its whole slice pays 300 credits (burn_credits); one pCPU brings 300 a
    period (csched_acct), so a guest alone on it earns back exactly what it ran."""
    sched, dom = _alone_on_one_pcpu(10**9)
    sched.dispatch([dom])
    assert dom.ran_us == 30_000
    assert dom.credit == -300
    sched.account()
    assert (dom.credit, dom.priority) == (0, "under")
    # burn_credits keeps the part of a credit not yet paid (svc->residual): a credit is
    # 0.1 ms, so 0.15 ms twice costs 3 credits, not 2.
    sched, dom = _alone_on_one_pcpu(99)
    sched.dispatch([dom])
    assert dom.credit == 0  # not yet a whole credit
    sched, dom = _alone_on_one_pcpu(150)
    sched.dispatch([dom])
    assert dom.credit == -1
    sched.dispatch([dom])
    assert dom.credit == -3


def test_credit_is_bounded_below_by_one_slice_and_a_rich_vcpu_stops_earning():
    """sched_credit.c, csched_acct: credit never falls below -CSCHED_CREDITS_PER_TSLICE
    (-300); a vCPU above +300 leaves the active set and its credit is halved."""
    sched, dom = _alone_on_one_pcpu(10**9)
    sched.dispatch([dom])
    dom.credit = -1000
    sched.account()
    assert (dom.credit, dom.priority) == (-300, "over")
    sched, dom = _alone_on_one_pcpu(10**9)
    sched.dispatch([dom])
    dom.credit = 251
    sched.account()  # 251 + 300 = 551, over the bound: halved, rounded down
    assert dom.credit == 275 and type(dom.credit) is int and not dom.active and sched.weight == 0
    sched, dom = _alone_on_one_pcpu(10**9)
    sched.dispatch([dom])
    dom.credit = 0
    sched.account()  # exactly +300 is not above the bound
    assert dom.credit == 300 and dom.active


def test_the_default_weight_is_256_and_weights_run_from_1_to_65535():
    """sched_credit.c: CSCHED_DEFAULT_WEIGHT 256; Xen wiki: legal weights 1 to 65535. A
    guest created without a weight gets half the CPU of one weighted 512."""
    sim = HostSim(sockets=1, cores=1, ram_gib=8)
    sim.create_vm("plain", 1, 1, workload="cpu-bound")
    sim.create_vm("heavy", 1, 1, weight=512, workload="cpu-bound")
    sim.run_slices(3000)
    assert share(sim, "plain") == pytest.approx(1 / 3, abs=0.005)
    sim.create_vm("lightest", 1, 1, weight=1)
    sim.create_vm("heaviest", 1, 1, weight=65535)
    for weight in (0, 65536):
        with pytest.raises(CloudError, match="from 1 to 65535"):
            sim.create_vm("w", 1, 1, weight=weight)


def _doms(pcpus: int, *specs: tuple) -> tuple[cs.CreditScheduler, list[cs.Domain]]:
    """A bare credit scheduler and its domains: (name, vcpus, wants_us[, pins[, weight]])."""
    sched = cs.CreditScheduler(pcpus)
    doms = []
    for name, vcpus, wants_us, *rest in specs:
        dom = cs.Domain(name, vcpus, pins=rest[0] if rest else None, weight=rest[1] if len(rest) > 1 else cs.DEFAULT_WEIGHT)
        sched.add(dom)
        dom.wants_us = wants_us
        doms.append(dom)
    return sched, doms


def test_the_host_weight_is_the_sum_of_weight_times_vcpus_over_active_domains():
    """sched_credit.c: prv->weight, kept in step by csched_dom_cntl and when a domain
    joins or leaves the active set."""
    sched, (a, b) = _doms(4, ("a", 2, 60_000), ("b", 1, 30_000))
    sched.dispatch([a, b])
    assert sched.weight == 2 * 256 + 256
    sched.set_weight(a, 512)
    assert sched.weight == 2 * 512 + 256
    sched.remove(a)
    assert sched.weight == 256 and sched.active == [b] and not a.active


def _active(sched: cs.CreditScheduler, *doms: cs.Domain) -> None:
    for dom in doms:  # activated in this order, each put at the head (list_add)
        dom.wants_us = 1
        sched.dispatch([dom])
        dom.credit = dom.residual_us = 0


def test_csched_acct_shares_the_credits_by_weight_and_hands_on_what_a_capped_domain_cannot_use():
    """xen/common/sched_credit.c, csched_acct, worked by hand for 2 pCPUs (600 credits a
    period) and three active domains: c (1 vCPU, weight 256), b (1 vCPU, weight 512, cap
    50: at most (50 * 300 + 99) / 100 = 150) and a (2 vCPUs, weight 256: 512 in all), so
    prv->weight = 1280. In list order c, b, a (each new domain went to the head):
      c: fair = ceil(600 * 256 / 1280) = 120 < its peak 300: it gets 120 (credit_xtra);
      b: fair = ceil(600 * 512 / 1280) = 240 >= its cap's 150: it gets 150, and the other
         90 go to the domains after it: credit_total += ceil(90 * 1280 / 512) = 225, so
         825; having come after a domain with room (credit_xtra) it moves to the head;
      a: fair = ceil(825 * 512 / 1280) = 330 < its peak 600: it gets 330 (even per vCPU).
    """
    sched, (a, b, c) = _doms(2, ("a", 2, 0, None, 256), ("b", 1, 0, None, 512), ("c", 1, 0, None, 256))
    sched.set_cap(b, 50)
    _active(sched, a, b, c)
    assert sched.active == [c, b, a] and sched.weight == 1280
    sched.account()
    assert [(d.name, d.credit, d.priority) for d in (a, b, c)] == [("a", 330, "under"), ("b", 150, "under"), ("c", 120, "under")]
    assert all(type(d.credit) is int for d in (a, b, c))
    assert sched.active == [b, c, a] and sched.credit_balance == 600


def test_csched_acct_converges_a_negative_balance_and_rounds_each_share_up():
    """csched_acct: when the credits left after the last pass sum below zero, the host
    hands out that much more (credit_total -= credit_balance) and each domain may earn as
    much more (credit_peak += ceil(-balance * weight / prv->weight))."""
    sched, (z,) = _doms(1, ("z", 1, 0))
    _active(sched, z)
    sched.credit_balance, z.credit = -90, -300
    sched.account()  # 390 credits this period, and z may take all of them: -300 + 390
    assert (z.credit, sched.credit_balance) == (90, 90) and type(z.credit) is int
    # weights 1 and 2 (prv->weight 3) and a balance of -1: 301 credits; y, at the head,
    # gets ceil(301 * 2 / 3) = 201, x gets ceil(301 / 3) = 101
    sched, (x, y) = _doms(1, ("x", 1, 0, None, 1), ("y", 1, 0, None, 2))
    _active(sched, x, y)
    sched.credit_balance = -1
    sched.account()
    assert (x.credit, y.credit, sched.credit_balance) == (101, 201, 302)


def test_capped_domains_that_cannot_use_their_share_keep_their_places():
    # Two domains capped at 50 on one pCPU: each gets its fair 150, its cap's worth;
    # neither came after a domain with room, so the list order stays.
    sched, (d1, d2) = _doms(1, ("d1", 1, 0), ("d2", 1, 0))
    sched.set_cap(d1, 50)
    sched.set_cap(d2, 50)
    _active(sched, d1, d2)
    sched.account()
    assert (d1.credit, d2.credit) == (150, 150) and sched.active == [d2, d1]
    # a pass over a host with nobody active, then one with the lightest weight alone
    light, (w1,) = _doms(1, ("w1", 1, 0, None, 1))
    light.account()
    _active(light, w1)
    w1.credit = -300
    light.account()
    assert w1.credit == 0


def test_only_a_waking_vcpu_is_boosted():
    """csched_vcpu_wake: an UNDER vCPU that wakes up is BOOSTed; one that stayed runnable
    is not."""
    sched, (new,) = _doms(1, ("new", 1, 10_000))
    sched.dispatch([new])
    assert new.priority == "boost"  # a new guest's first work is a wake-up
    sched, (busy,) = _doms(1, ("busy", 1, 10_000))
    busy.blocked = False
    sched.dispatch([busy])
    assert busy.priority == "under"
    busy.blocked = True
    sched.dispatch([busy])
    assert busy.priority == "boost"


def test_a_domain_gets_no_more_than_its_lanes_and_is_parked_only_past_its_cap():
    sched, (one,) = _doms(4, ("one", 1, 90_000))  # one vCPU: one pCPU's 30 ms at most
    sched.dispatch([one])
    assert one.ran_us == 30_000
    sched, (capped,) = _doms(4, ("capped", 2, 15_000))
    sched.set_cap(capped, 50)  # half a pCPU: 15 ms a slice, and it wants exactly that
    assert (capped.cap, capped.cap_us) == (50, 15_000) and type(capped.cap_us) is int
    sched.dispatch([capped])
    assert capped.ran_us == 15_000 and capped.priority != "parked"
    capped.wants_us = 15_001
    sched.dispatch([capped])
    assert capped.ran_us == 15_000 and capped.priority == "parked"


def test_unpinned_work_fills_the_pcpus_with_the_least_pinned_demand_first():
    # pCPU 0 has 20 ms of pinned work (two guests), pCPU 1 has 15 ms: the unpinned guest
    # goes to pCPU 1 first, then pCPU 0.
    sched, doms = _doms(2, ("a", 1, 10_000, (0,)), ("b", 1, 10_000, (0,)), ("c", 1, 15_000, (1,)), ("u", 1, 20_000))
    sched.dispatch(doms)
    assert [(p, us) for name, p, us in sched.last_slice if name == "u"] == [(1, 15_000), (0, 5_000)]
    # a guest pinned by set_pins runs only there
    sched, (a, b) = _doms(3, ("a", 1, 10_000, (0,)), ("u", 2, 50_000))
    sched.dispatch([a, b])
    assert [(p, us) for name, p, us in sched.last_slice if name == "u"] == [(1, 30_000), (2, 20_000)]
    # a guest pinned to several pCPUs fills the emptiest of them first
    sched, (a, b) = _doms(2, ("a", 1, 20_000, (0,)), ("b", 1, 20_000, (0, 1)))
    sched.dispatch([a, b])
    assert [(p, us) for name, p, us in sched.last_slice if name == "b"] == [(1, 20_000)]
    sched, (a, b) = _doms(3, ("a", 1, 10_000, (0,)), ("u", 2, 50_000))
    sched.set_pins(b, (2,))
    assert b.pins == (2,)
    sched.dispatch([a, b])
    assert [(p, us) for name, p, us in sched.last_slice if name == "u"] == [(2, 30_000)]


def test_lanes_lay_unpinned_time_out_with_mcnaughtons_wrap_around_rule():
    sched = cs.CreditScheduler(3)
    sched.last_slice = [("a", 0, 10_000), ("u", -1, 50_000)]
    assert sched.pcpu_lanes() == [[("a", 10_000), ("u", 20_000)], [("u", 30_000)], []]
    sched.last_slice = [("a", 0, 30_000), ("u", -1, 30_000), ("v", -1, 5_000)]
    assert sched.pcpu_lanes() == [[("a", 30_000)], [("u", 30_000)], [("v", 5_000)]]
    sched.last_slice = [("a", 0, 10_000), ("b", 0, 10_000), ("u", -1, 15_000)]
    assert sched.pcpu_lanes() == [[("a", 10_000), ("b", 10_000), ("u", 10_000)], [("u", 5_000)], []]
    sched.last_slice = [("a", 0, 29_999), ("b", 1, 7), ("u", -1, 1), ("v", -1, 30_000)]
    assert sched.pcpu_lanes() == [[("a", 29_999), ("u", 1)], [("b", 7), ("v", 29_993)], [("v", 7)]]


def test_a_new_guest_starts_under_with_nothing_run_and_a_host_needs_a_pcpu():
    """csched_alloc_vdata starts every vCPU UNDER (not parked, not boosted until it wakes);
    a host before its first slice has nothing laid out on any pCPU."""
    assert cs.Domain("new", 2, cap=50).priority == "under"
    assert cs.CreditScheduler(2).pcpu_lanes() == [[], []]
    with pytest.raises(ValueError, match="^a host needs at least one pCPU$"):
        cs.CreditScheduler(0)


def test_a_guest_pinned_to_fewer_pcpus_than_its_vcpus_is_held_by_its_pins_not_parked():
    """Two vCPUs pinned to one pCPU run at most that pCPU's 30 ms a slice, whatever they
    want; under a cap of 150 % (45 ms a slice) that is within its budget, so the guest is
    not parked: its other vCPU waits for the pCPU (steal), not for the cap."""
    sched, (dom,) = _doms(2, ("pinned", 2, 60_000, (0,)))
    sched.set_cap(dom, 150)
    sched.dispatch([dom])
    assert dom.ran_us == 30_000 and dom.priority == "boost"
    assert sched.last_slice == [("pinned", 0, 30_000)]


def test_pinned_demand_is_counted_in_whole_microseconds():
    """Time in a slice is whole microseconds: a guest pinned to pCPUs 0-2 wanting 10,001 us
    puts 10,001 // 3 = 3,333 us of demand on each; one pinned to pCPU 3 wanting 3,333 us
    puts as much there. Equal demand: the unpinned guest starts on the lowest pCPU, 0."""
    sched, doms = _doms(4, ("a", 1, 10_001, (0, 1, 2)), ("c", 1, 3_333, (3,)), ("u", 1, 1_000))
    sched.dispatch(doms)
    assert sched.last_slice == [("a", 0, 10_001), ("c", 3, 3_333), ("u", 0, 1_000)]


def test_csched_acct_hands_a_capped_domains_unused_share_to_the_weight_after_it():
    """csched_acct worked by hand, 1 pCPU (300 credits): b (weight 1, cap 3 %: at most
    (3 * 300 + 99) / 100 = 9 credits) at the head, then a (weight 2); prv->weight 3.
      b: fair = ceil(300 * 1 / 3) = 100 >= 9: it gets 9; the weight left after it is 2, so
         credit_total += ceil((100 - 9) * 3 / 2) = ceil(136.5) = 137, now 437;
      a: fair = ceil(437 * 2 / 3) = ceil(291.3) = 292 < its peak 300: it gets 292."""
    sched, (a, b) = _doms(1, ("a", 1, 0, None, 2), ("b", 1, 0, None, 1))
    sched.set_cap(b, 3)
    _active(sched, a, b)
    assert sched.active == [b, a]
    sched.account()
    assert (b.credit, a.credit, sched.credit_balance) == (9, 292, 301)


def test_csched_acct_moves_a_capped_domain_to_the_head_only_after_one_with_room():
    """csched_acct sets credit_xtra only for a domain whose fair share is strictly below
    its peak. 1 pCPU, equal weights: first (cap 50 %: peak 150) has fair 150, exactly its
    peak, so no room; second (cap 10 %: peak 30) keeps its place behind it."""
    sched, (first, second) = _doms(1, ("first", 1, 0), ("second", 1, 0))
    sched.set_cap(first, 50)
    sched.set_cap(second, 10)
    _active(sched, second, first)
    assert sched.active == [first, second]
    sched.account()
    assert (first.credit, second.credit) == (150, 30) and sched.active == [first, second]


def test_csched_acct_raises_each_peak_by_a_whole_share_of_a_negative_balance():
    """csched_acct with credit_balance < 0: credit_peak += ceil(-balance * weight /
    prv->weight), in whole credits. Worked by hand on 2 pCPUs (600 credits):
    - balance -3, d1 (weight 512) at the head, d2 (256): 603 to share, prv->weight 768.
      d1: peak 300 + ceil(3 * 512 / 768) = 302, fair ceil(603 * 512 / 768) = 402: it gets
      302, and the weight after it (256) gets ceil(100 * 768 / 256) = 300 more: 903.
      d2: peak 300 + ceil(3 * 256 / 768) = 301, fair ceil(903 * 256 / 768) = 301: 301.
      Both end above +300: they leave the active set, halved to 151 and 150.
    - balance -4, y (weight 4) at the head, x (1): 604 to share, prv->weight 5.
      y: peak 300 + ceil(16 / 5) = 304, fair ceil(604 * 4 / 5) = 484: it gets 304, and
      x's weight gets ceil(180 * 5 / 1) = 900 more: 1504. x: peak 300 + ceil(4 / 5) = 301,
      fair ceil(1504 / 5) = 301: it gets 301. Halved: 152 and 150."""
    for (heavy, light), balance, expected in (((512, 256), -3, (151, 150)), ((4, 1), -4, (152, 150))):
        sched, (d2, d1) = _doms(2, ("d2", 1, 0, None, light), ("d1", 1, 0, None, heavy))
        _active(sched, d2, d1)
        sched.credit_balance = balance
        sched.account()
        assert (d1.credit, d2.credit) == expected
        assert all(type(d.credit) is int for d in (d1, d2))
        assert sched.active == [] and sched.credit_balance == sum(expected)


# -- weights ----------------------------------------------------------------------------


def test_weight_512_gets_twice_weight_256_on_one_pcpu():
    """Xen wiki: weight 512 gets twice as much CPU as 256 on a contended host: 1/3, 2/3."""
    sim = HostSim(sockets=1, cores=1, ram_gib=8)
    sim.create_vm("a", 1, 1, weight=256, workload="cpu-bound")
    sim.create_vm("b", 1, 1, weight=512, workload="cpu-bound")
    sim.run_slices(3000)
    assert share(sim, "a") == pytest.approx(1 / 3, abs=0.005)
    assert share(sim, "b") == pytest.approx(2 / 3, abs=0.005)
    m = sim.metrics()
    assert m["cpu_pct.a"] == pytest.approx(100 / 3, abs=1)
    assert m["cpu_pct.b"] == pytest.approx(200 / 3, abs=1)
    # Each is runnable all the time, so what it did not get is its steal.
    assert m["steal_pct.a"] == pytest.approx(100 - m["cpu_pct.a"], abs=0.01)
    assert m["host_cpu_util"] == 100.0


def test_weights_are_host_wide_so_pinning_two_vms_together_on_an_idle_host_splits_evenly():
    """Credit1 shares the credits of the whole host (its cpupool) and ignores affinity:
    two VMs pinned to one pCPU of an otherwise idle 16-pCPU host each earn more than one
    pCPU's worth, both stay UNDER and take turns, 1:1 whatever their weights. (Xen's
    remedy is a cpupool holding just that pCPU; the 1/3 : 2/3 split then returns.)"""
    sim = HostSim(sockets=2, cores=8, ram_gib=64)
    sim.create_vm("a", 1, 1, weight=256, workload="cpu-bound", pins="3")
    sim.create_vm("b", 1, 1, weight=512, workload="cpu-bound", pins="3")
    sim.run_slices(3000)
    assert share(sim, "a") == pytest.approx(0.5, abs=0.005)
    assert share(sim, "b") == pytest.approx(0.5, abs=0.005)
    # Fifteen pCPUs idle and neither may run there: pinning is a hard affinity.
    lanes = sim.sched.pcpu_lanes()
    assert all(not lane for p, lane in enumerate(lanes) if p != 3)
    # On a one-pCPU host (a pool of one) the weights hold again.
    pool = HostSim(sockets=1, cores=1, ram_gib=8)
    pool.create_vm("a", 1, 1, weight=256, workload="cpu-bound", pins="0")
    pool.create_vm("b", 1, 1, weight=512, workload="cpu-bound", pins="0")
    pool.run_slices(3000)
    assert share(pool, "b") == pytest.approx(2 / 3, abs=0.005)


def test_weights_split_a_contended_multi_pcpu_host_in_proportion():
    # 4 pCPUs, three busy 4-vCPU guests weighted 1:1:2 -> 1, 1 and 2 pCPUs' worth.
    sim = HostSim(sockets=1, cores=4, ram_gib=64)
    sim.create_vm("x", 4, 4, weight=256, workload="cpu-bound")
    sim.create_vm("y", 4, 4, weight=256, workload="cpu-bound")
    sim.create_vm("z", 4, 4, weight=512, workload="cpu-bound")
    sim.run_slices(3000)
    assert share(sim, "x") == pytest.approx(1.0, abs=0.03)
    assert share(sim, "y") == pytest.approx(1.0, abs=0.03)
    assert share(sim, "z") == pytest.approx(2.0, abs=0.03)


def test_weight_counts_per_vcpu_so_a_bigger_busy_guest_gets_more():
    """Credit1 counts weight per vCPU (George Dunlap's 2010 patch "Credit1: make weight
    per-vcpu"; sched_credit.c: "Make weight per-vcpu"): at equal weights a busy 4-vCPU
    guest gets twice the CPU of a busy 2-vCPU one on a contended 4-pCPU host."""
    sim = HostSim(sockets=1, cores=4, ram_gib=16)
    sim.create_vm("big", 4, 1, workload="cpu-bound")
    sim.create_vm("small", 2, 1, workload="cpu-bound")
    sim.run_slices(3000)
    assert share(sim, "big") == pytest.approx(8 / 3, abs=0.01)
    assert share(sim, "small") == pytest.approx(4 / 3, abs=0.01)


def test_contention_rotates_when_guests_are_cut_short():
    # Three busy 3-vCPU guests on 4 pCPUs: every slice one of them is cut short. It keeps
    # its place at the head of the queue, so over time each gets a third of the host.
    sim = HostSim(sockets=1, cores=4, ram_gib=16)
    for name in "abc":
        sim.create_vm(name, 3, 1, workload="cpu-bound")
    sim.run_slices(3000)
    for name in "abc":
        assert share(sim, name) == pytest.approx(4 / 3, abs=0.01)


def test_unpinned_guests_stay_off_pcpus_that_pinned_guests_need():
    # db owns pCPUs 0-3, batch 4-15; web may run anywhere and finds room without
    # crowding db, as Xen places a waking vCPU on an idle pCPU.
    sim = HostSim(sockets=2, cores=8, ram_gib=64)
    sim.create_vm("db", 4, 16, workload="latency-sensitive", load=80, weight=64, pins="0-3")
    sim.create_vm("batch", 8, 16, workload="cpu-bound", pins="4-15")
    sim.create_vm("web", 4, 8, workload="steady", load=40)
    sim.run_slices(1000)
    m = sim.metrics()
    assert m["max_steal_pct"] == 0.0
    assert m["host_cpu_util"] == pytest.approx(100 * (3.2 + 8 + 1.6) / 16, abs=0.1)


def test_equal_weights_share_equally():
    sim = HostSim(sockets=1, cores=1, ram_gib=8)
    sim.create_vm("a", 1, 1, workload="cpu-bound")
    sim.create_vm("b", 1, 1, workload="cpu-bound")
    sim.run_slices(1000)
    assert share(sim, "a") == pytest.approx(0.5, abs=0.002)
    m = sim.metrics()
    assert m["steal_pct.a"] == pytest.approx(50, abs=1)


# -- caps -------------------------------------------------------------------------------


def test_cap_50_holds_a_busy_vm_to_half_a_pcpu_on_an_idle_host():
    """Xen wiki: cap 50 is half a CPU, even if the host has idle cycles."""
    sim = HostSim(sockets=2, cores=8, ram_gib=64)
    sim.create_vm("capped", 1, 1, cap=50, workload="cpu-bound")
    sim.run_slices(1000)
    m = sim.metrics()
    assert m["cpu_pct.capped"] == 50.0
    # Parked time is "offline" run-state time, which a Xen guest counts as steal.
    assert m["steal_pct.capped"] == 50.0
    assert m["host_cpu_util"] == pytest.approx(50 / 16, abs=0.01)
    assert share(sim, "capped") == pytest.approx(0.5, abs=0.002)


@pytest.mark.parametrize("vcpus, cap", [(1, 10), (1, 30), (1, 80), (2, 150), (4, 100), (4, 250)])
def test_cap_is_a_ceiling_in_percent_of_one_pcpu(vcpus, cap):
    # "100 is 1 physical CPU ... 400 is 4 CPUs": a 4-vCPU guest capped at 100 gets one pCPU.
    sim = HostSim(sockets=2, cores=8, ram_gib=64)
    sim.create_vm("c", vcpus, 1, cap=cap, workload="cpu-bound")
    sim.run_slices(2000)
    assert share(sim, "c") * 100 == pytest.approx(cap, abs=1.0)


def test_a_cap_of_zero_means_no_cap():
    sim = HostSim(sockets=2, cores=8, ram_gib=64)
    sim.create_vm("c", 2, 1, cap=0, workload="cpu-bound")
    sim.run_slices(300)
    assert sim.metrics()["cpu_pct.c"] == 200.0


# -- work conservation -----------------------------------------------------------------


def test_unused_share_goes_to_the_vms_that_want_it():
    # The heavy-weight guest is idle, so its share is not wasted: the light one gets it.
    sim = HostSim(sockets=1, cores=1, ram_gib=8)
    sim.create_vm("busy", 1, 1, weight=256, workload="cpu-bound")
    sim.create_vm("vip", 1, 1, weight=65535, workload="idle")
    sim.run_slices(1000)
    m = sim.metrics()
    assert m["cpu_pct.busy"] >= 98
    assert m["host_cpu_util"] == pytest.approx(100, abs=0.01)


def test_a_light_vm_gets_what_it_asks_and_busy_ones_split_the_rest():
    sim = HostSim(sockets=1, cores=2, ram_gib=8)
    sim.create_vm("a", 1, 1, workload="cpu-bound")
    sim.create_vm("b", 2, 1, workload="cpu-bound")
    sim.create_vm("web", 1, 1, workload="steady", load=20)
    sim.run_slices(2000)
    m = sim.metrics()
    assert m["cpu_pct.web"] == pytest.approx(20, abs=0.5)
    assert m["steal_pct.web"] < 1
    assert m["cpu_pct.a"] + m["cpu_pct.b"] == pytest.approx(180, abs=1)
    assert m["host_cpu_util"] == pytest.approx(100, abs=0.01)


# -- steal time and boost ----------------------------------------------------------------


def test_steal_is_runnable_but_not_running_time():
    # Four busy vCPUs pinned to one pCPU: each runs a quarter of the time, waits the rest.
    sim = HostSim(sockets=1, cores=4, ram_gib=8)
    sim.create_vm("squeezed", 4, 1, workload="cpu-bound", pins="0")
    sim.run_slices(500)
    m = sim.metrics()
    assert m["cpu_pct.squeezed"] == 100.0
    assert m["steal_pct.squeezed"] == 75.0


def test_an_idle_host_steals_nothing():
    sim = HostSim(sockets=1, cores=4, ram_gib=16)
    sim.create_vm("a", 2, 2, workload="steady", load=60)
    sim.create_vm("b", 1, 2, workload="bursty")
    sim.run_slices(500)
    m = sim.metrics()
    assert m["max_steal_pct"] == 0.0
    assert m["cpu_pct.a"] == pytest.approx(120, abs=0.01)


def noisy_host(db_load: int, db_weight: int = 256) -> HostSim:
    """A database beside CPU-hungry neighbours: 8 pCPUs, 4 + 12 busy vCPUs."""
    sim = HostSim(sockets=1, cores=8, ram_gib=64)
    sim.create_vm("db", 4, 16, weight=db_weight, workload="latency-sensitive", load=db_load)
    sim.create_vm("batch", 8, 16, workload="cpu-bound")
    sim.create_vm("miner", 4, 8, workload="cpu-bound")
    sim.run_slices(1000)
    return sim


def test_boost_keeps_a_light_latency_sensitive_vm_snappy_beside_hogs():
    # The database uses less than its fair share (8 pCPUs over 16 equal vCPUs = 50 % each),
    # so it wakes UNDER, is boosted ahead of the hogs, and sees next to no steal.
    m = noisy_host(db_load=40).metrics()
    assert m["steal_pct.db"] < 1
    assert m["response_ms.db"] == pytest.approx(2.0, abs=0.05)
    assert m["host_cpu_util"] > 99


def test_past_its_fair_share_a_vm_starts_to_wait_and_responds_slower():
    light = noisy_host(db_load=40).metrics()
    heavy = noisy_host(db_load=80).metrics()
    assert heavy["steal_pct.db"] > 5
    assert heavy["response_ms.db"] > light["response_ms.db"] * 1.05
    # A higher weight restores its fair share above its demand, and the steal goes away.
    fixed = noisy_host(db_load=80, db_weight=1024).metrics()
    assert fixed["steal_pct.db"] < 1
    assert fixed["host_cpu_util"] > 99


def test_response_time_grows_with_steal():
    sim = HostSim(sockets=1, cores=1, ram_gib=8)
    db = sim.create_vm("db", 1, 1, workload="latency-sensitive")
    readings = [sim.response_ms(db, steal) for steal in (0, 10, 50, 90)]
    assert readings == sorted(readings) and readings[0] < readings[-1]
    assert readings[2] == pytest.approx(2 * readings[0])  # S / (1 - 0.5)


def test_capping_the_neighbours_frees_the_host_for_the_database():
    sim = noisy_host(db_load=80)
    sim.set_vm("miner", cap=100)
    sim.run_slices(500)
    # One cap is not enough: 7 pCPUs shared 4:8 by weight leave the database 2.3 of the
    # 3.2 pCPUs it wants.
    assert sim.metrics()["steal_pct.db"] > 5
    sim.set_vm("batch", cap=300)
    sim.run_slices(500)
    m = sim.metrics()
    assert m["cpu_pct.miner"] == pytest.approx(100, abs=1)
    assert m["cpu_pct.batch"] == pytest.approx(300, abs=1)
    assert m["steal_pct.db"] < 5
    assert m["host_cpu_util"] == pytest.approx(100 * (3.2 + 3 + 1) / 8, abs=1)


def test_vcpu_ratio_counts_vcpus_per_pcpu():
    sim = HostSim(sockets=2, cores=4, ram_gib=64)
    sim.create_vm("a", 8, 4)
    sim.create_vm("b", 4, 4)
    assert sim.metrics()["vcpu_ratio"] == 1.5


# -- memory -----------------------------------------------------------------------------


def test_overcommitted_memory_is_swapped_by_the_host_and_slows_every_guest():
    sim = HostSim(sockets=1, cores=4, ram_gib=16)
    sim.create_vm("a", 1, 8, workload="idle")
    sim.create_vm("b", 1, 8, workload="steady")
    assert sim.metrics()["swap_used_gib"] == 0
    sim.create_vm("c", 1, 4, workload="latency-sensitive")
    m = sim.metrics()
    assert m["swap_used_gib"] == 4.0
    assert m["ram_overcommit"] == 1.25
    assert all(sim.vms[n].mem.slowdown > 5 for n in "abc")
    assert m["response_ms.c"] > 10
    assert [e for e in _events(sim) if e[0] == "host.swap_started"]


def _events(sim: HostSim) -> list[tuple]:
    return sim._test_events  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _record_events(monkeypatch):
    """Give every HostSim built in a test an event recorder."""
    original = HostSim.__init__

    def init(self, *args, **kwargs):
        self._test_events = []
        kwargs.setdefault("emit", lambda kind, **data: self._test_events.append((kind, data)))
        original(self, *args, **kwargs)

    monkeypatch.setattr(HostSim, "__init__", init)


def test_ballooning_an_idle_guest_ends_the_host_swap_over_time():
    sim = HostSim(sockets=1, cores=4, ram_gib=16)
    sim.create_vm("idler", 1, 8, workload="idle")
    sim.create_vm("db", 2, 12, workload="latency-sensitive")
    assert sim.metrics()["swap_used_gib"] == 4.0
    sim.balloon("idler", 4)
    sim.advance(1000)  # 1 GiB per second: not there yet
    assert 0 < sim.metrics()["swap_used_gib"] < 4.0
    sim.advance(4000)
    assert sim.metrics()["swap_used_gib"] == 0.0
    assert sim.vms["idler"].mem.current_mib == 4 * MIB_PER_GIB
    # The idler's working set (20 % of 8 GiB) still fits, so ballooning it cost nothing.
    assert sim.vms["idler"].mem.slowdown == 1.0
    assert sim.vms["db"].mem.slowdown == 1.0
    kinds = [k for k, _ in _events(sim)]
    assert kinds.index("host.swap_started") < kinds.index("vm.ballooned") < kinds.index("host.swap_stopped")


def test_ballooning_below_the_working_set_hurts_less_than_host_swapping():
    squeezed = HostSim(sockets=1, cores=4, ram_gib=64)
    squeezed.create_vm("db", 2, 16, workload="latency-sensitive", balloon_gib=12)
    swapped = HostSim(sockets=1, cores=4, ram_gib=12)
    swapped.create_vm("db", 2, 12, workload="latency-sensitive")
    swapped.create_vm("other", 1, 4, workload="idle")
    guest_paged = squeezed.vms["db"].mem.slowdown
    host_swapped = swapped.vms["db"].mem.slowdown
    assert 1.0 < guest_paged < host_swapped


# -- determinism ------------------------------------------------------------------------


def _mixed(seed: int) -> HostSim:
    sim = HostSim(sockets=1, cores=4, ram_gib=16, seed=seed)
    for i, workload in enumerate(WORKLOAD_NAMES):
        sim.create_vm(f"vm{i}", 1 + i % 3, 3, workload=workload, weight=128 * (1 + i), cap=150 if i == 2 else 0)
    return sim


def test_same_seed_same_run_and_bursts_follow_the_seed():
    a, b, c = _mixed(7), _mixed(7), _mixed(8)
    for sim in (a, b, c):
        sim.run_slices(400)
    assert a.metrics() == b.metrics()
    assert _events(a) == _events(b)
    assert a.metrics()["cpu_pct.vm3"] != c.metrics()["cpu_pct.vm3"]  # the bursty guest


def test_a_bursty_guest_repeats_one_pattern_every_60_s_with_the_published_means():
    """Alone on the host a bursty guest runs what arrives: a whole vCPU in a burst, 5 %
    between. What it shows repeats every 60 s, and round the loop its bursts average
    300 ms and its quiet spells 900 ms, within 10 %."""
    assert BURST_PATTERN_SLICES * cs.SLICE_MS == 60_000
    for seed in range(6):
        sim = HostSim(sockets=1, cores=8, ram_gib=64, seed=seed)
        vm = sim.create_vm("ci", 1, 2, workload="bursty")
        sim.run_slices(150)  # the pattern runs from the guest's start, not the host's
        ci = sim.create_vm("ci2", 1, 2, workload="steady")
        sim.set_vm("ci2", workload="bursty")  # a guest turned bursty plays from its own start too
        ran, ran2 = [], []
        for _ in range(2 * BURST_PATTERN_SLICES + 50):
            sim._slice()
            ran.append(vm.ran_us)
            ran2.append(ci.ran_us)
        assert set(ran) == {cs.SLICE_US, cs.SLICE_US * 5 // 100}
        for seen in (ran, ran2):
            assert seen[BURST_PATTERN_SLICES:] == seen[:-BURST_PATTERN_SLICES]
        assert ran != ran2
        loop = [r == cs.SLICE_US for r in ran[:BURST_PATTERN_SLICES]]
        turn = next(i for i in range(1, len(loop)) if loop[i] != loop[i - 1])
        spells = [(on, len(list(run))) for on, run in groupby(loop[turn:] + loop[:turn])]
        bursts = [n for on, n in spells if on]
        quiets = [n for on, n in spells if not on]
        assert abs(sum(bursts) / len(bursts) / (300 / cs.SLICE_MS) - 1) <= 0.1  # 300 ms bursts
        assert abs(sum(quiets) / len(quiets) / (900 / cs.SLICE_MS) - 1) <= 0.1  # 900 ms between


def _bursty_host(seed: int) -> HostSim:
    sim = HostSim(sockets=1, cores=8, ram_gib=64, seed=seed)
    sim.create_vm("db", 2, 4, workload="latency-sensitive", load=60, weight=64, pins="0-3")
    sim.create_vm("batch", 4, 4, workload="cpu-bound", pins="0-3")
    sim.create_vm("ci", 4, 4, workload="bursty")
    sim.create_vm("web", 2, 4, workload="steady", load=40)
    return sim


def test_a_host_with_a_bursty_guest_jumps_along_its_cycle_exactly():
    """Fast-forward and slice-by-slice give the same counters, state and checkpoints,
    through every change a guest can go through, and the fast host really jumps."""
    changes = [
        lambda sim: None,
        lambda sim: sim.set_vm("db", weight=512),
        lambda sim: sim.pin("batch", "all"),
        lambda sim: sim.create_vm("ci2", 2, 2, workload="bursty"),
        lambda sim: sim.set_vm("ci", cap=200),
        lambda sim: sim.set_vm("web", workload="bursty"),
        lambda sim: sim.delete_vm("ci"),
    ]
    fast, slow = _bursty_host(3), _bursty_host(3)
    ran = 0
    step = fast._slice

    def counted() -> None:
        nonlocal ran
        ran += 1
        step()

    fast._slice = counted  # type: ignore[method-assign]
    total = 0
    for i, change in enumerate(changes):
        change(fast)
        change(slow)
        n = 6000 + 37 * i
        fast.run_slices(n)
        for _ in range(n):
            slow._slice()
        slow._check_swap()
        total += n
        assert host_readings(fast) == host_readings(slow), f"after change {i}"
    assert fast._cycle is not None and len(fast._cycle.states) % BURST_PATTERN_SLICES == 0
    assert ran < total / 2


@settings(max_examples=4, deadline=None)
@given(
    st.lists(vm_spec, max_size=3),
    st.integers(1, 4),
    st.sampled_from([0, 50, 150]),
    st.sampled_from([None, "0-1", "2-5"]),
    st.integers(0, 3),
)
# A capped guest's credits drift against its pattern's round: no repeat in a whole search.
@example(spec=[], vcpus=4, cap=50, pins="2-5", seed=0)
def test_property_a_host_with_a_bursty_guest_ends_as_if_stepped(spec, vcpus, cap, pins, seed):
    """Whether it finds its cycle (and jumps) or not (and gives up), the same end."""
    spec = [(vcpus, 256, cap, "bursty", 0, pins), *spec]
    fast, slow = spec_host(spec, seed), spec_host(spec, seed)
    fast.run_slices(9000)  # past a whole search
    fast.run_slices(2000)
    for _ in range(11_000):
        slow._slice()
    slow._check_swap()
    assert host_readings(fast) == host_readings(slow)


def test_attached_to_a_cloud_it_runs_with_the_clock_and_logs_identically():
    world = {
        "hypervisor": {
            "host": {"sockets": 1, "cores": 4, "ram_gib": 16},
            "vms": [
                {"name": "db", "vcpus": 2, "ram_gib": 8, "workload": "latency-sensitive", "load": 40},
                {"name": "noisy", "vcpus": 4, "ram_gib": 8, "workload": "cpu-bound", "pins": "0-1"},
                {"name": "spiky", "vcpus": 2, "ram_gib": 4, "workload": "bursty", "balloon_gib": 2},
            ],
        }
    }
    runs = []
    for _ in range(2):
        cloud = new_cloud(world, seed=11)
        cloud.advance(1000)
        sim = cloud.get(HostSim)
        assert sim.slices == 33 and sim.pending_ms == 10  # 1000 ms = 33 slices + 10 ms carried
        cloud.advance(2000)
        assert sim.slices == 100
        runs.append((cloud.metrics(), cloud.log.to_jsonl()))
    assert runs[0] == runs[1]
    m = runs[0][0]
    for key in ("host_cpu_util", "cpu_pct.db", "steal_pct.db", "max_steal_pct", "vcpu_ratio", "swap_used_gib"):
        assert key in m
    assert m["vcpu_ratio"] == 2.0
    # 4 vCPUs pinned to 2 pCPUs: never more than 2 pCPUs' worth, a little less when the
    # bursty guest's spikes spill onto those pCPUs too.
    assert 190 <= m["cpu_pct.noisy"] <= 200


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda s: s.create_vm("Bad Name", 1, 1), "bad VM name"),
        (lambda s: s.create_vm("web", 1, 1), "already exists"),
        (lambda s: s.create_vm("big", 9, 1), "from 1 to 8"),
        (lambda s: s.create_vm("big", 0, 1), "from 1 to 8"),
        (lambda s: s.create_vm("fat", 1, 100), "more than the whole host"),
        (lambda s: s.create_vm("tiny", 1, 0.1), "at least 0.5 GiB"),
        (lambda s: s.create_vm("w", 1, 1, weight=0), "from 1 to 65535"),
        (lambda s: s.create_vm("w", 2, 1, cap=201), "from 0 (no cap) to 200"),
        (lambda s: s.create_vm("w", 1, 1, workload="mining"), "one of: idle, steady"),
        (lambda s: s.create_vm("w", 1, 1, workload="cpu-bound", load=50), "fixed load"),
        (lambda s: s.create_vm("w", 1, 1, load=150), "from 0 to 100"),
        (lambda s: s.create_vm("w", 1, 1, pins="9"), "pCPUs 0-7"),
        (lambda s: s.create_vm("w", 1, 1, pins="3-1"), "low end first"),
        (lambda s: s.create_vm("w", 1, 2, balloon_gib=3), "to the VM's RAM (2 GiB)"),
        (lambda s: s.set_vm("ghost", weight=5), "no VM named 'ghost'"),
        (lambda s: s.set_vm("web"), "nothing to change"),
        (lambda s: s.set_vm("web", weight=512, cap=-1), "cap must be"),
        (lambda s: s.pin("web", "a-b"), "bad CPU list"),
        (lambda s: s.balloon("web", 0.1), "balloon target"),
        (lambda s: s.delete_vm("ghost"), "no VM named"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(call, fragment):
    sim = HostSim(sockets=1, cores=8, ram_gib=32)
    sim.create_vm("web", 2, 2, workload="steady")
    sim.run_slices(10)
    before = (sim.metrics(), sim.top(), len(_events(sim)), sim.sched.weight, sim.vms["web"].pins)
    with pytest.raises(CloudError) as exc:
        call(sim)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)
    assert (sim.metrics(), sim.top(), len(_events(sim)), sim.sched.weight, sim.vms["web"].pins) == before


def test_cpu_lists_parse_like_xl_vcpu_pin():
    assert parse_cpu_list("0-3,8", 16) == (0, 1, 2, 3, 8)
    assert parse_cpu_list("all", 16) is None
    assert format_cpu_list((0, 1, 2, 3, 8, 10, 11)) == "0-3,8,10-11"


def test_set_delete_and_unpin_take_effect():
    sim = HostSim(sockets=1, cores=2, ram_gib=8)
    sim.create_vm("a", 2, 1, workload="cpu-bound", pins="0")
    sim.create_vm("b", 1, 1, workload="idle")
    sim.run_slices(WINDOW_SLICES)
    assert sim.metrics()["cpu_pct.a"] == 100.0
    sim.pin("a", "all")
    sim.run_slices(WINDOW_SLICES)
    assert sim.metrics()["cpu_pct.a"] == pytest.approx(200, abs=1)
    sim.set_vm("a", workload="idle")
    sim.delete_vm("b")
    sim.run_slices(WINDOW_SLICES)
    m = sim.metrics()
    assert "cpu_pct.b" not in m and m["cpu_pct.a"] == pytest.approx(2, abs=0.1)
    assert m["vcpu_ratio"] == 1.0


# -- properties -------------------------------------------------------------------------

vm_specs = st.lists(
    st.fixed_dictionaries(
        {
            "vcpus": st.integers(1, 4),
            "weight": st.sampled_from([1, 64, 256, 512, 1000, 65535]),
            "cap": st.sampled_from([0, 0, 10, 25, 50, 100, 150]),
            "workload": st.sampled_from(WORKLOAD_NAMES),
            "pins": st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=1, max_size=3)),
            "ram": st.integers(1, 8),
        }
    ),
    min_size=1,
    max_size=8,
)


def _build(pcpus: int, specs: list[dict], seed: int) -> HostSim:
    sim = HostSim(sockets=1, cores=pcpus, ram_gib=16, seed=seed)
    for i, spec in enumerate(specs):
        vcpus = min(spec["vcpus"], pcpus)
        pins = None if spec["pins"] is None else tuple(p % pcpus for p in spec["pins"])
        sim.create_vm(
            f"vm{i}",
            vcpus,
            spec["ram"],
            weight=spec["weight"],
            cap=min(spec["cap"], 100 * vcpus),
            workload=spec["workload"],
            pins=pins,
        )
    return sim


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pcpus=st.integers(1, 4), specs=vm_specs, seed=st.integers(0, 2**16), slices=st.integers(1, 400))
def test_property_shares_fit_the_host_and_caps_hold(pcpus, specs, seed, slices):
    sim = _build(pcpus, specs, seed)
    for _ in range(slices):
        sim.run_slices(1)
        # Within every slice: nobody runs more than its vCPUs (or pins) allow, the host
        # hands out no more than its pCPUs have, and every pCPU lane fits in 30 ms.
        given_out = 0
        for vm in sim.vms.values():
            assert 0 <= vm.ran_us <= min(vm.wants_us, vm.par_us) and type(vm.ran_us) is int  # whole microseconds
            assert vm.wants_us <= vm.vcpus * cs.SLICE_US
            if vm.cap:  # a hard ceiling, in every slice
                assert vm.ran_us <= vm.cap * cs.SLICE_US // 100
            given_out += vm.ran_us
        assert given_out <= pcpus * cs.SLICE_US
        for p, lane in enumerate(sim.sched.pcpu_lanes()):
            assert sum(us for _, us in lane) <= cs.SLICE_US
            for name, _ in lane:
                pins = sim.vms[name].pins
                assert pins is None or p in pins
    m = sim.metrics()
    # The published readings are rounded to 0.01; the property holds on the exact ones.
    assert sum(sim.vm_usage(vm)[0] for vm in sim.vms.values()) <= 100 * pcpus + 1e-9
    assert 0 <= m["host_cpu_util"] <= 100
    elapsed_us = sim.slices * cs.SLICE_US
    for vm in sim.vms.values():
        assert vm.cum_run_us + vm.cum_steal_us <= vm.vcpus * elapsed_us
        assert 0 <= m[f"steal_pct.{vm.name}"] <= 100
        if vm.cap:
            assert vm.cum_run_us <= vm.cap / 100 * elapsed_us


@settings(max_examples=25, deadline=None)
@given(pcpus=st.integers(1, 4), specs=vm_specs, seed=st.integers(0, 2**16))
def test_property_capped_vm_reads_at_most_its_cap_in_top(pcpus, specs, seed):
    sim = _build(pcpus, specs, seed)
    sim.run_slices(300)
    m = sim.metrics()
    for vm in sim.vms.values():
        if vm.cap:
            assert sim.vm_usage(vm)[0] <= vm.cap
            assert m[f"cpu_pct.{vm.name}"] <= vm.cap


@settings(max_examples=25, deadline=None)
@given(pcpus=st.integers(1, 4), specs=vm_specs, seed=st.integers(0, 2**16))
def test_property_deterministic(pcpus, specs, seed):
    a, b = _build(pcpus, specs, seed), _build(pcpus, specs, seed)
    a.run_slices(150)
    b.run_slices(150)
    assert a.metrics() == b.metrics()
    assert a.sched.last_slice == b.sched.last_slice
    assert _events(a) == _events(b)


# -- the console commands ---------------------------------------------------------------


def _chapter_session(sandbox: bool = False, chapter: str = "02-hypervisor"):
    from pathlib import Path

    from cloudquest.game.chapters import load_chapter
    from cloudquest.game.session import Session

    path = Path(__file__).resolve().parents[1] / "levels" / f"{chapter}.yaml"
    return Session(load_chapter(path), 0, sandbox=sandbox)


def _snapshot(session) -> tuple:
    sim = session.cloud.get(HostSim)
    return (session.cloud.log.sha256(), session.cloud.metrics(), sim.top(), sim.sched.weight, sim.memory.swap_mib)


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("vm create x", "needs --vcpus N and --ram GIB"),
        ("vm create x --vcpus 2", "needs --ram GIB"),
        ("vm create Bad --vcpus 2 --ram 2", "bad VM name"),
        ("vm create db --vcpus 2 --ram 2", "already exists"),
        ("vm create x --vcpus 99 --ram 2", "from 1 to 16"),
        ("vm create x --vcpus 0 --ram 2", "at least 1"),
        ("vm create x --vcpus 2 --ram 999", "more than the whole host has (64 GiB)"),
        ("vm create x --vcpus 2 --ram lots", "must be a number"),
        ("vm create x --vcpus 2 --ram 2 --weight 0", "at least 1"),
        ("vm create x --vcpus 2 --ram 2 --weight 70000", "at most 65535"),
        ("vm create x --vcpus 2 --ram 2 --cap 300", "from 0 (no cap) to 200"),
        ("vm create x --vcpus 2 --ram 2 --workload mining", "must be one of idle, steady, cpu-bound"),
        ("vm create x --vcpus 2 --ram 2 --workload idle --load 50", "fixed load"),
        ("vm create x --vcpus 2 --ram 2 --pin 16", "pCPUs 0-15"),
        ("vm set ghost --weight 512", "no VM named 'ghost'"),
        ("vm set db", "needs something to change"),
        ("vm set db --cap -5", "at least 0"),
        ("vm set db --cap 500", "from 0 (no cap) to 400"),
        ("vm set db --load 120", "at most 100"),
        ("vm set db --weight 512 --cap 900", "cap must be"),
        ("vm delete ghost", "no VM named 'ghost'"),
        ("pin db 3-1", "low end first"),
        ("pin db x", "bad CPU list"),
        ("pin db 0-99", "pCPU 99 does not exist"),
        ("pin ghost 1", "no VM named"),
        ("balloon db 0.1", "balloon target must be from 0.5 GiB"),
        ("balloon db 99", "to the VM's RAM (16 GiB)"),
        ("balloon ghost 4", "no VM named"),
        ("top now", "too many arguments"),
        ("vm frobnicate db", "unknown vm command"),
    ],
)
def test_console_bad_input_is_one_line_and_changes_nothing(line, fragment):
    session = _chapter_session()
    session.execute("tick 2")
    before = _snapshot(session)
    outcome = session.execute(line)
    assert not outcome.ok and outcome.error_kind == "input", outcome.output
    assert fragment in outcome.output
    assert "\n" not in outcome.output and "Traceback" not in outcome.output
    assert _snapshot(session) == before


def test_console_without_a_hypervisor_world_says_so():
    session = _chapter_session(sandbox=True, chapter="01-launch")
    outcome = session.execute("top")
    assert outcome.error_kind == "input" and "no hypervisor host" in outcome.output


def test_console_commands_drive_the_host():
    session = _chapter_session()
    for line in (
        "pin batch all",
        "vm create spare --vcpus 2 --ram 4 --workload idle --weight 128 --cap 50 --pin 8-9",
        "vm set spare --weight 300",
        "balloon legacy 6",
        "tick 3",
    ):
        outcome = session.execute(line)
        assert outcome.ok, (line, outcome.output)
    sim = session.cloud.get(HostSim)
    spare = sim.vms["spare"]
    assert (spare.weight, spare.cap, spare.pins) == (300, 50, (8, 9))
    assert sim.vms["batch"].pins is None
    assert sim.vms["legacy"].mem.target_mib == 6 * MIB_PER_GIB
    top = session.execute("top").output
    assert "STEAL%" in top and "spare" in top and "vCPUs 20 (ratio 1.25)" in top
    assert "pCPU 15:" in session.execute("describe").output  # the host view in words
    assert "VM db:" in session.execute("status db").output
    assert session.execute("vm delete spare").ok and "spare" not in sim.vms
    kinds = [e.kind for e in session.cloud.log]
    for kind in ("vm.pinned", "vm.created", "vm.updated", "vm.ballooned", "vm.deleted"):
        assert kind in kinds
