"""Hypervisor hosts the fast-forward and hypervisor tests build on: a host from a list
of guest specs, what to compare between two hosts, and a strategy for guest specs."""

from __future__ import annotations

from hypothesis import strategies as st

from cloudquest.cloud.hypervisor import WORKLOAD_NAMES, HostSim

STEADY = [w for w in WORKLOAD_NAMES if w != "bursty"]


def spec_host(spec: list[tuple], seed: int) -> HostSim:
    """An 8-core host with one guest per (vcpus, weight, cap, workload, load, pins)."""
    sim = HostSim(sockets=1, cores=8, ram_gib=64, seed=seed)
    for i, (vcpus, weight, cap, workload, load, pins) in enumerate(spec):
        adjustable = workload in ("steady", "latency-sensitive")
        sim.create_vm(
            f"vm-{i}", vcpus, 2, weight=weight, cap=min(cap, 100 * vcpus), workload=workload,
            load=load if adjustable else None, pins=pins,
        )
    return sim


def host_readings(sim: HostSim) -> tuple:
    """Everything two hosts run alike must agree on."""
    return (
        sim.slices, sim.metrics(), sim.top(), sim.sched.pcpu_lanes(), sim.sched.next_ticket,
        [(vm.ticket, vm.credit, vm.cum_run_us, vm.cum_steal_us, vm.cum_wants_us, list(vm.checkpoints)) for vm in sim._order],
        list(sim.checkpoints), [d.name for d in sim.sched.active],
    )


vm_spec = st.tuples(
    st.integers(1, 4),
    st.sampled_from([64, 256, 512]),
    st.sampled_from([0, 0, 50, 150]),
    st.sampled_from(STEADY),
    st.integers(0, 100),
    st.sampled_from([None, None, "0-1", "2-5", "0-7"]),
)
