"""Hypervisor-chapter commands: carve one host into VMs and run its scheduler.

``vm create|set|delete``, ``pin``, ``balloon`` and ``top`` act on the host the world's
``hypervisor:`` section describes (:class:`cloudquest.cloud.hypervisor.HostSim`). The
names follow Xen's toolstack where there is one: ``xl sched-credit -w/-c`` sets weight
and cap, ``xl vcpu-pin`` pins, ``xl mem-set`` moves the balloon, ``xentop`` is the
host's ``top``.

Every check happens before anything changes; the simulation's own refusals
(``CloudError``) are bad input here too, and come back as one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ...cloud.credit_scheduler import DEFAULT_WEIGHT, MAX_WEIGHT, MIN_WEIGHT, SLICE_MS
from ...cloud.errors import CloudError
from ...cloud import hypervisor as sim_module
from ...cloud.hypervisor import QUIET_LOAD_PCT, WINDOW_SLICES, WORKLOAD_NAMES, HostSim
from ...cloud.mechanism import events, metrics
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

T = TypeVar("T")
command = CommandSet()


def _host(session: "Session") -> HostSim:
    sim = session.cloud.get(HostSim)
    if sim is None:
        raise CommandError("this world has no hypervisor host (a world needs a hypervisor: section for VMs)")
    return sim


def _vm_names(session: "Session") -> list[str]:
    sim = session.cloud.get(HostSim)
    return list(sim.vms) if sim is not None else []


def _checked(action: Callable[[], T]) -> T:
    """Run a host call; its refusals are the player's input being wrong."""
    try:
        return action()
    except CloudError as exc:
        raise CommandError(exc.message) from None


def _known(sim: HostSim, name: str) -> None:
    if name not in sim.vms:
        known = ", ".join(sim.vms) or "none yet; vm create one"
        raise CommandError(f"no VM named {name!r} (VMs: {known})")


def _workload_text(vm: Any) -> str:
    if vm.workload == "cpu-bound":
        return "cpu-bound (always wants every vCPU)"
    if vm.workload == "bursty":
        return f"bursty (bursts of 100% per vCPU, quiet at {QUIET_LOAD_PCT}%)"
    return f"{vm.workload} ({vm.load_pct}% per vCPU)"


VM_NAME = Param("name", "the VM", complete="vm")
WEIGHT = Param("weight", f"credit scheduler weight, {MIN_WEIGHT}-{MAX_WEIGHT}", type=int, min=MIN_WEIGHT, max=MAX_WEIGHT)
# The largest host a world may declare (schema: HostSpec vcpus <= 1024, ram_gib <= 65,536);
# the host itself then checks against what it really has.
MAX_VCPUS = 1024
MAX_RAM_GIB = 65_536
CAP = Param("cap", "ceiling in percent of one pCPU (0 = no cap, 100 = one pCPU)", type=int, min=0, max=100 * MAX_VCPUS)
WORKLOAD = Param("workload", "what the guest runs", choices=WORKLOAD_NAMES)
LOAD = Param("load", "percent per vCPU, for steady and latency-sensitive", type=int, min=0, max=100)


@command(
    "vm create",
    "create a VM on the host: vCPUs, RAM, scheduler weight and cap, workload",
    args=[Param("name", "a name: lower-case letters, digits and '-'")],
    options=[
        Param("vcpus", "virtual CPUs (required)", type=int, min=1, max=MAX_VCPUS),
        Param("ram", "RAM in GiB (required)", type=float, min=0, max=MAX_RAM_GIB),
        Param("weight", WEIGHT.help, type=int, min=MIN_WEIGHT, max=MAX_WEIGHT, default=DEFAULT_WEIGHT),
        Param("cap", CAP.help, type=int, min=0, max=CAP.max, default=0),
        Param("workload", WORKLOAD.help, choices=WORKLOAD_NAMES, default="steady"),
        LOAD,
        Param("pin", "pCPUs its vCPUs may run on, e.g. 0-3,8 (default: any)"),
    ],
    details="""The guest believes it owns its vCPUs and RAM; the credit scheduler decides when
its vCPUs really run. vCPUs may add up to more than the host's pCPUs (overcommit), and so
may RAM (the host swaps when the guests really hold more than it has).""",
)
def vm_create(
    session: "Session",
    name: str,
    vcpus: int | None,
    ram: float | None,
    weight: int,
    cap: int,
    workload: str,
    load: int | None,
    pin: str | None,
) -> str:
    sim = _host(session)
    missing = [flag for flag, value in (("--vcpus N", vcpus), ("--ram GIB", ram)) if value is None]
    if missing:
        raise CommandError(f"vm create needs {' and '.join(missing)} (usage: vm create NAME --vcpus N --ram GIB ...)")
    assert vcpus is not None and ram is not None
    vm = _checked(lambda: sim.create_vm(name, vcpus, ram, weight=weight, cap=cap, workload=workload, load=load, pins=pin))
    m = sim.metrics()
    extra = f", cap {cap}%" if cap else ""
    return (
        f"{vm.name}: {vcpus} vCPU, {ram:g} GiB, {_workload_text(vm)}, weight {weight}{extra}, "
        f"pCPUs {vm.describe_pins()}; host now at vCPU ratio {m['vcpu_ratio']:g}, "
        f"RAM overcommit {m['ram_overcommit']:g}, swap {m['swap_used_gib']:g} GiB"
    )


@command(
    "vm set",
    "change a VM's weight, cap or workload",
    args=[VM_NAME],
    options=[WEIGHT, CAP, WORKLOAD, LOAD],
    details="""Weight is a share under contention (512 gets twice what 256 gets); cap is a hard
ceiling even on an idle host. Xen's equivalent: xl sched-credit -d NAME -w W -c CAP.""",
)
def vm_set(
    session: "Session",
    name: str,
    weight: int | None,
    cap: int | None,
    workload: str | None,
    load: int | None,
) -> str:
    sim = _host(session)
    _known(sim, name)
    if weight is None and cap is None and workload is None and load is None:
        raise CommandError("vm set needs something to change (--weight W, --cap PCT, --workload KIND or --load PCT)")
    vm = _checked(lambda: sim.set_vm(name, weight=weight, cap=cap, workload=workload, load=load))
    cap_text = f"{vm.cap}%" if vm.cap else "none"
    return f"{vm.name}: weight {vm.weight}, cap {cap_text}, {_workload_text(vm)}"


@command("vm delete", "shut a VM down and give its vCPUs and RAM back", args=[VM_NAME])
def vm_delete(session: "Session", name: str) -> str:
    sim = _host(session)
    _known(sim, name)
    _checked(lambda: sim.delete_vm(name))
    m = sim.metrics()
    return f"{name} deleted; host now at vCPU ratio {m['vcpu_ratio']:g}, swap {m['swap_used_gib']:g} GiB"


@command(
    "pin",
    "restrict a VM's vCPUs to some pCPUs (a CPU list like 0-3,8; 'all' undoes it)",
    args=[VM_NAME, Param("cpus", "pCPU list, e.g. 0-3,8, or all")],
    details="""Pinning is a hard affinity: the VM runs only there, even when other pCPUs idle.
Pin fewer pCPUs than it has vCPUs and its vCPUs queue behind each other (steal).
Xen's equivalent: xl vcpu-pin NAME all CPUS.""",
)
def pin(session: "Session", name: str, cpus: str) -> str:
    sim = _host(session)
    _known(sim, name)
    vm = _checked(lambda: sim.pin(name, cpus))
    if vm.pins is None:
        return f"{name}: unpinned, may run on any of pCPUs 0-{sim.pcpus - 1}"
    warn = ""
    if len(vm.pins) < vm.vcpus:
        warn = f" (only {len(vm.pins)} pCPUs for {vm.vcpus} vCPUs: they will wait for each other)"
    return f"{name}: pinned to pCPUs {vm.describe_pins()}{warn}"


@command(
    "balloon",
    "set how much RAM a VM keeps; its balloon driver gives the rest back to the host",
    args=[VM_NAME, Param("gib", "RAM the guest keeps, in GiB", type=float, min=0, max=MAX_RAM_GIB)],
    details="""The balloon inflates inside the guest at about 1 GiB per second. Above the guest's
working set it costs nothing; below it the guest pages its own memory out and slows down.
Xen's equivalent: xl mem-set NAME SIZE.""",
)
def balloon(session: "Session", name: str, gib: float) -> str:
    sim = _host(session)
    _known(sim, name)
    vm = _checked(lambda: sim.balloon(name, gib))
    mem = vm.mem
    ws = mem.working_set_mib / 1024
    note = "" if mem.target_mib >= mem.working_set_mib else f" (below its {ws:g} GiB working set: it will page)"
    return (
        f"{name}: balloon target {mem.target_mib / 1024:g} GiB of {vm.ram_gib:g} GiB, "
        f"now holding {mem.current_mib / 1024:g} GiB{note}; it moves as time passes (tick)"
    )


def top_text(sim: HostSim, now_ms: int) -> str:
    """The host's top, in two tables that each fit an 80-column console: the CPU
    (share, steal, response) and the memory (what each guest holds, swaps, how slow)."""
    m = sim.metrics()
    window_s = min(sim.slices, WINDOW_SLICES) * SLICE_MS / 1000
    span = f"averages over the last {window_s:g}s" if window_s else "no time has passed yet (tick to run the host)"
    held = sim.memory.held_mib / 1024
    lines = [
        f"host: {sim.sockets} socket x {sim.cores} core"
        + (f" x {sim.threads} thread" if sim.threads > 1 else "")
        + f" = {sim.pcpus} pCPUs, {sim.ram_mib / 1024:g} GiB; t={now_ms / 1000:g}s, {span}",
        f"CPU {m['host_cpu_util']:.1f}% busy   vCPUs {sim.vcpus_total} (ratio {m['vcpu_ratio']:g})   "
        f"worst steal {m['max_steal_pct']:.1f}%",
        f"RAM held {held:.1f}/{sim.ram_mib / 1024:g} GiB (configured {m['ram_overcommit']:g}x)   "
        f"swap {m['swap_used_gib']:g} GiB",
    ]
    rows = sim.top()
    if not rows:
        lines.append("no VMs (vm create NAME --vcpus N --ram GIB)")
        return "\n".join(lines)
    w = min(16, max(4, *(len(r["name"]) for r in rows)))
    lines.append(
        f"{'NAME':<{w}} {'VCPU':>4} {'WEIGHT':>6} {'CAP':>4} {'PINS':<8} {'STATE':<6} {'CPU%':>6} {'STEAL%':>6} {'RESP':>7}"
    )
    for r in rows:
        resp = f"{r['response_ms']:.1f}ms" if r["response_ms"] is not None else "-"
        cap = str(r["cap"]) if r["cap"] else "-"
        lines.append(
            f"{r['name']:<{w}} {r['vcpus']:>4} {r['weight']:>6} {cap:>4} {r['pins']:<8} "
            f"{r['state']:<6} {r['cpu_pct']:>6.1f} {r['steal_pct']:>6.1f} {resp:>7}"
        )
    lines.append(f"{'NAME':<{w}} {'WORKLOAD':<17} {'RAM':>5} {'HELD':>5} {'SWAP':>5} {'SLOW':>5}")
    for r in rows:
        lines.append(
            f"{r['name']:<{w}} {r['workload']:<17} {r['ram_gib']:>5g} {r['mem_gib']:>5g} {r['swap_gib']:>5g} {r['slowdown']:>4.1f}x"
        )
    lines.append("CPU% counts one pCPU as 100; STEAL% is the share of the VM's vCPU time it waited (top's 'st').")
    return "\n".join(lines)


@command(
    "top",
    "the host's top: per-VM CPU %, steal %, memory and response time",
    details="""CPU% is in percent of one pCPU (a busy 4-vCPU VM shows 400), as xentop counts.
STEAL% is what the guest's own top shows as 'st': time its vCPUs had work but did not
run, because other VMs held the pCPUs or its cap held it back. STATE is its scheduler
priority: boost (just woke with credit), under (has credit), over (spent its share),
parked (hit its cap). HELD is the RAM it holds now; SWAP what of it the host swapped.""",
)
def top(session: "Session") -> str:
    sim = _host(session)
    return top_text(sim, session.cloud.now_ms)


def lanes_text(sim: HostSim) -> str:
    """The last 30 ms slice, pCPU by pCPU: who ran there and for how long."""
    lines = ["last 30 ms slice, per pCPU:"]
    for p, lane in enumerate(sim.sched.pcpu_lanes()):
        used = sum(us for _, us in lane)
        parts = ", ".join(f"{name} {us / 1000:g}ms" for name, us in lane) or "idle"
        idle = f", idle {(30_000 - used) / 1000:g}ms" if lane and used < 30_000 else ""
        lines.append(f"  pCPU {p:>2}: {parts}{idle}")
    return "\n".join(lines)


def host_view_text(session: "Session") -> str:
    sim = _host(session)
    return top_text(sim, session.cloud.now_ms) + "\n" + lanes_text(sim)


def _status(session: "Session", thing: "str | None") -> "str | None":
    sim: Any = session.cloud.get(HostSim)
    if sim is None:
        return None
    if thing is None:
        m = sim.metrics()
        return (
            f"hypervisor host: {sim.pcpus} pCPUs, {len(sim.vms)} VMs, CPU {m['host_cpu_util']:.1f}% busy, "
            f"vCPU ratio {m['vcpu_ratio']:g}, worst steal {m['max_steal_pct']:.1f}%, swap {m['swap_used_gib']:g} GiB (top for more)"
        )
    if thing not in sim.vms:
        return None
    row = next(r for r in sim.top() if r["name"] == thing)
    resp = f", responds in {row['response_ms']:.1f} ms" if row["response_ms"] is not None else ""
    return (
        f"VM {thing}: {row['vcpus']} vCPU {row['workload']}, weight {row['weight']}, cap {row['cap'] or 'none'}, "
        f"pCPUs {row['pins']}; CPU {row['cpu_pct']:.1f}%, steal {row['steal_pct']:.1f}%, "
        f"RAM {row['mem_gib']:g}/{row['ram_gib']:g} GiB held, {row['swap_gib']:g} GiB swapped{resp}"
    )


MECHANISM = Mechanism(
    name="hypervisor",
    summary="one host carved into VMs: credit scheduling, steal time, memory overcommit (chapter 2)",
    section=sim_module.HypervisorSpec,
    attach=sim_module.attach,
    commands=command,
    ids={"vm": _vm_names},
    status=_status,
    metrics=sim_module.METRICS,
    events=sim_module.EVENTS,
    views={"host": host_view_text},
)
