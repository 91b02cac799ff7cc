"""The hypervisor: one physical host carved into virtual machines.

Each guest is given a slice of the host: a number of virtual CPUs and a block of RAM. The
guest sees them as its own hardware; the hypervisor keeps the books and decides who runs.

Two layers live here:

- :func:`claim` / :func:`release`: the carving every launch goes through (the launch
  pipeline sets aside a guest's vCPUs and RAM on the host the scheduler picked).
- :class:`HostSim`: one host simulated in detail for the hypervisor chapter. Its pCPUs
  (sockets x cores x threads) are shared by the guests' vCPUs under a credit scheduler
  in the style of Xen's (:mod:`.credit_scheduler`), and its RAM by their memory, with
  overcommit, ballooning and host swapping (:mod:`.memory`). Each guest runs a
  workload that decides how much CPU it wants every 30 ms slice.

What a player reads (``HostSim.metrics``), all averages over the trailing
``WINDOW_SLICES`` slices (3 s, the default refresh interval of ``top``; measured from a
checkpoint taken every 10 slices, so between 2.7 and 3 s):

- ``host_cpu_util``: percent of all pCPU time the guests used;
- ``cpu_pct.NAME``: the guest's CPU use in percent of *one* pCPU, the way ``xentop``
  and a host's ``top`` count it (a busy 4-vCPU guest shows 400);
- ``steal_pct.NAME``: percent of the guest's vCPU time that was stolen, i.e. the vCPU
  had work but was not running: waiting behind other guests, or held back by its cap.
  That is the ``st`` column of ``top`` inside the guest (Linux reads it from the
  hypervisor: run-queue delay on KVM, "runnable + offline" run-state time on Xen);
- ``max_steal_pct``: the worst guest's steal;
- ``vcpu_ratio``: vCPUs handed out per pCPU (above 1 is CPU overcommit);
- ``swap_used_gib``: guest memory the host had to put in its own swap (now, not averaged);
- ``response_ms.NAME`` (latency-sensitive guests): time to serve one request. A request
  needing ``S`` ms of CPU takes ``S / (1 - steal)`` when the vCPU only runs ``1 - steal``
  of the time it is runnable, times the memory slowdown.

Workloads (per vCPU, every slice):

- ``idle``: 1 % (timers and daemons);
- ``steady``: a constant load, 50 % unless ``load`` says otherwise;
- ``cpu-bound``: always wants every vCPU (a batch job, a crypto miner);
- ``bursty``: bursts of 100 % averaging 300 ms, quiet spells of 5 % averaging 900 ms.
  A real build farm's bursts never repeat; here each bursty guest draws one 60 s
  pattern of them (from the session's seeded generator, kept within 10 % of those
  means) when it starts, and repeats it every 60 s, so a long ``tick`` can skip the
  host's steady cycle instead of running every slice;
- ``latency-sensitive``: a request-serving database: a constant load (30 % unless
  ``load`` says otherwise) of short requests, judged by its response time.

Work a guest could not run waits (up to one second of it), so a starved guest stays
runnable and shows the steal. Simplifications are listed in the two mechanism modules.
"""

from __future__ import annotations

import random
import re
from collections import deque
from collections.abc import Callable
from itertools import groupby
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from .mechanism import events, metrics
from .credit_scheduler import (
    DEFAULT_WEIGHT,
    MAX_WEIGHT,
    MIN_WEIGHT,
    SLICE_MS,
    SLICE_US,
    CreditScheduler,
    Domain,
)
from .errors import CloudError
from .memory import MIB_PER_GIB, MIN_BALLOON_MIB, GuestMemory, HostMemory
from .world import Strict

if TYPE_CHECKING:
    from .cloud import Cloud


# -- workloads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    name: str
    load_pct: int  # per vCPU; for bursty the load inside a burst
    working_set: float  # share of the guest's RAM it really uses
    adjustable: bool  # whether ``load`` may be set


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload("idle", 1, 0.2, False),
        Workload("steady", 50, 0.6, True),
        Workload("cpu-bound", 100, 0.5, False),
        Workload("bursty", 100, 0.6, False),
        Workload("latency-sensitive", 30, 0.9, True),
    )
}
WORKLOAD_NAMES = tuple(WORKLOADS)

_IDLE, _STEADY, _CPU_BOUND, _BURSTY, _LATENCY = range(5)
_KIND = {"idle": _IDLE, "steady": _STEADY, "cpu-bound": _CPU_BOUND, "bursty": _BURSTY, "latency-sensitive": _LATENCY}

BURST_MEAN_SLICES = 10  # 300 ms bursts
QUIET_MEAN_SLICES = 30  # 900 ms between bursts
QUIET_LOAD_PCT = 5
BURST_PATTERN_SLICES = 2000  # 60 s: a bursty guest's pattern, drawn once, then repeated
PATTERN_MEAN_TOLERANCE = 0.1  # how far a pattern's mean burst and quiet spell may stray
BACKLOG_LIMIT_MS = 1000  # older work is given up on, like requests that time out
REQUEST_SERVICE_MS = 2.0  # CPU one request of a latency-sensitive guest needs
MAX_STEAL_FOR_RESPONSE = 0.95

WINDOW_SLICES = 100  # 3 s: top's default refresh interval
CHECKPOINT_SLICES = 10

FAST_MIN_SLICES = 200  # a shorter advance is run slice by slice
# Slices (4 simulated minutes, four rounds of a burst pattern) to look for a cycle in; a
# host that shows none is then run slice by slice until a guest's settings change.
MAX_CYCLE_SEARCH = 4 * BURST_PATTERN_SLICES

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class VM(Domain):
    """A guest: its scheduling account (inherited), workload, memory and counters."""

    __slots__ = (
        "ram_mib",
        "workload",
        "load_pct",
        "kind",
        "full_us",
        "arrival_us",
        "quiet_us",
        "backlog_us",
        "backlog_max_us",
        "rng",
        "bursts",
        "mem",
        "cum_run_us",
        "cum_steal_us",
        "cum_wants_us",
        "born_slice",
        "checkpoints",
    )

    mem: GuestMemory

    @property
    def ram_gib(self) -> float:
        return self.ram_mib / MIB_PER_GIB

    def describe_pins(self) -> str:
        return "any" if self.pins is None else format_cpu_list(self.pins)


@dataclass
class _Cycle:
    """A host's repeating run of slices: the state after each, what each added to the
    counters, and which guests each handed a new run-queue ticket (in order)."""

    params: tuple
    states: list[tuple]
    incs: list[tuple[int, ...]]
    handed: list[tuple[int, ...]]
    phase: dict[tuple, int]
    total: tuple[int, ...]
    handed_per_cycle: int
    _prefix: list[tuple[int, ...]]
    _handed_prefix: list[int]

    @classmethod
    def of(cls, params: tuple, trail: list[tuple[tuple, tuple[int, ...], tuple[int, ...]]]) -> "_Cycle":
        states = [t[0] for t in trail]
        incs = [t[1] for t in trail]
        handed = [t[2] for t in trail]
        width = len(incs[0])
        prefix = [(0,) * width]
        handed_prefix = [0]
        for inc, h in zip(incs + incs, handed + handed):  # twice round, for spans that wrap
            prefix.append(tuple(a + b for a, b in zip(prefix[-1], inc)))
            handed_prefix.append(handed_prefix[-1] + len(h))
        period = len(states)
        return cls(params, states, incs, handed, {st: i for i, st in enumerate(states)}, prefix[period],
                   handed_prefix[period], prefix, handed_prefix)

    def span(self, at: int, r: int) -> tuple[int, ...]:
        """What the ``r`` slices after phase ``at`` add to the counters (r < period)."""
        hi, lo = self._prefix[at + 1 + r], self._prefix[at + 1]
        return tuple(a - b for a, b in zip(hi, lo))

    def handed_in(self, at: int, r: int) -> int:
        return self._handed_prefix[at + 1 + r] - self._handed_prefix[at + 1]


def burst_pattern(rng: random.Random) -> bytes:
    """A bursty guest's pattern: one flag a slice (1 = bursting) for
    ``BURST_PATTERN_SLICES`` slices of a two-state (on/off) chain that starts quiet and
    flips with a draw every slice, so bursts and quiet spells have geometric lengths
    averaging ``BURST_MEAN_SLICES`` and ``QUIET_MEAN_SLICES``. The guest plays it from its
    first slice, round and round, so one pattern is all it ever shows: a draw whose
    bursts or quiet spells (counted round the loop) average more than
    ``PATTERN_MEAN_TOLERANCE`` away from those means is drawn again, from the guest's own
    generator, so every guest keeps the published means."""
    while True:
        flags = bytearray(BURST_PATTERN_SLICES)
        on = False
        for i in range(BURST_PATTERN_SLICES):
            if on:
                if rng.random() < 1 / BURST_MEAN_SLICES:
                    on = False
            elif rng.random() < 1 / QUIET_MEAN_SLICES:
                on = True
            flags[i] = on
        bursts, quiets = burst_spells(flags)
        if bursts and all(
            abs(sum(spells) / len(spells) / mean - 1) <= PATTERN_MEAN_TOLERANCE
            for spells, mean in ((bursts, BURST_MEAN_SLICES), (quiets, QUIET_MEAN_SLICES))
        ):
            return bytes(flags)


def burst_spells(flags: bytes | bytearray) -> tuple[list[int], list[int]]:
    """The lengths of a pattern's bursts and quiet spells, in slices, counted round the
    loop (a spell that runs over the end goes on at the start)."""
    first = next((i for i in range(len(flags)) if flags[i] != flags[i - 1]), None)
    if first is None:
        return ([len(flags)], []) if flags and flags[0] else ([], [len(flags)])
    bursts: list[int] = []
    quiets: list[int] = []
    for on, run in groupby(flags[first:] + flags[:first]):
        (bursts if on else quiets).append(len(list(run)))
    return bursts, quiets


def parse_cpu_list(text: str, pcpus: int) -> tuple[int, ...] | None:
    """Parse a Xen-style CPU list (``0-3,8``, or ``all``) into sorted pCPU numbers."""
    spec = str(text).strip().lower()
    if spec in ("all", "any"):
        return None
    cpus: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise CloudError(
                "InvalidParameterValue",
                f"bad CPU list {text!r} (use numbers and ranges such as 0-3,8, or all)",
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise CloudError("InvalidParameterValue", f"bad CPU range {part!r} (write the low end first, e.g. 2-5)")
        if hi >= pcpus:
            raise CloudError(
                "InvalidParameterValue",
                f"pCPU {hi} does not exist (this host has pCPUs 0-{pcpus - 1})",
            )
        cpus.update(range(lo, hi + 1))
    return tuple(sorted(cpus))


def format_cpu_list(cpus: tuple[int, ...]) -> str:
    parts = []
    start = prev = cpus[0]
    for c in cpus[1:] + (-2,):
        if c == prev + 1:
            prev = c
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = c
    return ",".join(parts)


class HostSim:
    """One physical host running guests under a credit scheduler, with shared RAM."""

    def __init__(
        self,
        sockets: int = 2,
        cores: int = 8,
        ram_gib: float = 64,
        threads: int = 1,
        seed: int | random.Random = 0,
        emit: Callable[..., Any] | None = None,
    ) -> None:
        for label, value in (("sockets", sockets), ("cores", cores), ("threads", threads)):
            if not isinstance(value, int) or value < 1:
                raise CloudError("InvalidParameterValue", f"host {label} must be a whole number >= 1, not {value!r}")
        if not isinstance(ram_gib, (int, float)) or ram_gib <= 0:
            raise CloudError("InvalidParameterValue", f"host ram_gib must be a positive number, not {ram_gib!r}")
        self.sockets, self.cores, self.threads = sockets, cores, threads
        self.pcpus = sockets * cores * threads
        self.ram_mib = int(ram_gib * MIB_PER_GIB)
        self.rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        self._emit = emit
        self.sched = CreditScheduler(self.pcpus)
        self.memory = HostMemory(self.ram_mib)
        self.vms: dict[str, VM] = {}
        self._order: list[VM] = []
        self.slices = 0
        self.pending_ms = 0  # time advanced but not yet a whole slice
        self.cum_run_us = 0
        self.checkpoints: deque[tuple[int, int]] = deque([(0, 0)], maxlen=WINDOW_SLICES // CHECKPOINT_SLICES + 1)
        self.swapping = False
        self._cycle: _Cycle | None = None
        self._no_cycle: tuple | None = None  # the settings under which a search found none

    # -- time -----------------------------------------------------------------------------
    @property
    def now_ms(self) -> int:
        return self.slices * SLICE_MS

    def advance(self, ms: int) -> None:
        """Run every whole 30 ms slice that fits in ``ms`` (the rest carries over)."""
        self.pending_ms += int(ms)
        n, self.pending_ms = divmod(self.pending_ms, SLICE_MS)
        self.run_slices(n)

    def run_slices(self, n: int) -> None:
        if n >= FAST_MIN_SLICES and self.cyclic():
            n = self._fast_forward(n)
        for _ in range(n):
            self._slice()
        self._check_swap()

    # -- skipping a steady state ------------------------------------------------------
    # With no balloon on the move, a slice is a function of the scheduler's state (the
    # credits, backlogs, priorities and run-queue order) and of where each bursty guest
    # is in its burst pattern, which it drew once and repeats every
    # BURST_PATTERN_SLICES. That state is made of bounded integers, so it soon repeats
    # (with a bursty guest, after a whole number of the pattern's rounds), and from then
    # on the host runs in a cycle: the same slices, over and over. Once a cycle is seen,
    # a long advance jumps along it, adding whole cycles' worth to the counters (run,
    # steal, wanted time, tickets handed out) and rebuilding the checkpoints the
    # averages read; it ends in exactly the state and with exactly the readings that
    # running every slice gives. Some hosts take long to repeat (a guest's credits
    # drifting against the pattern's round): a search that sees no repeat in
    # MAX_CYCLE_SEARCH slices is not tried again until a guest's settings change, and
    # those hosts run slice by slice, as exactly.

    def cyclic(self) -> bool:
        """Whether the slices are a function of the scheduler's state and the bursty
        guests' places in their patterns alone."""
        return not self.memory.moving

    def quiet_until(self, now_ms: int, until_ms: int, sampled: bool) -> int:
        """For the cloud's fast-forward: one long advance equals many short ones (the
        slices carry over, nothing is logged) while no balloon moves; the readings
        change slice by slice, so not when every step is graded."""
        return now_ms if sampled or self.memory.moving else until_ms

    def _params(self) -> tuple:
        return tuple(
            (vm.name, vm.vcpus, vm.weight, vm.cap, vm.pins, vm.kind, vm.arrival_us, vm.quiet_us, vm.full_us,
             vm.backlog_max_us, vm.par_us, vm.cap_us, vm.bursts if vm.kind == _BURSTY else b"")
            for vm in self._order
        )

    def _state(self) -> tuple:
        order = self._order
        index = {id(vm): i for i, vm in enumerate(order)}
        sched = self.sched
        return (
            tuple(
                (vm.credit, vm.residual_us, vm.active, vm.pri, vm.parked, vm.blocked, vm.backlog_us, vm.wants_us, vm.ran_us)
                for vm in order
            ),
            tuple(sorted(range(len(order)), key=lambda i: order[i].ticket)),
            tuple(index[id(dom)] for dom in sched.active),
            sched.weight,
            sched.credit_balance,
            tuple(sched.last_slice),
            tuple((self.slices - vm.born_slice) % BURST_PATTERN_SLICES for vm in order if vm.kind == _BURSTY),
        )

    def _restore(self, state: tuple) -> None:
        order = self._order
        doms, _, active, weight, balance, last, _ = state  # the patterns' places follow the slice count
        for vm, fields in zip(order, doms):
            (vm.credit, vm.residual_us, vm.active, vm.pri, vm.parked, vm.blocked, vm.backlog_us, vm.wants_us,
             vm.ran_us) = fields
        sched = self.sched
        sched.active = [order[i] for i in active]
        sched.weight, sched.credit_balance, sched.last_slice = weight, balance, list(last)

    def _counters(self) -> tuple[int, ...]:
        out = [self.cum_run_us]
        for vm in self._order:
            out += (vm.cum_run_us, vm.cum_steal_us, vm.cum_wants_us)
        return tuple(out)

    def _fast_forward(self, n: int) -> int:
        """Run ``n`` slices, jumping along the host's cycle once it is known; return
        the slices still to run one by one."""
        params = self._params()
        if params == self._no_cycle:
            return n
        cycle = self._cycle if self._cycle is not None and self._cycle.params == params else None
        if cycle is None or self._state() not in cycle.phase:
            seen: dict[tuple, int] = {}
            trail: list[tuple[tuple, tuple[int, ...], tuple[int, ...]]] = []
            for done in range(min(n, MAX_CYCLE_SEARCH)):
                before_c, before_t = self._counters(), [vm.ticket for vm in self._order]
                self._slice()
                state = self._state()
                inc = tuple(b - a for a, b in zip(before_c, self._counters()))
                handed = tuple(
                    i for _, i in sorted((vm.ticket, i) for i, vm in enumerate(self._order) if vm.ticket != before_t[i])
                )
                if state in seen:
                    start = seen[state]
                    self._cycle = cycle = _Cycle.of(params, trail[start + 1 :] + [(state, inc, handed)])
                    n -= done + 1
                    break
                seen[state] = len(trail)
                trail.append((state, inc, handed))
            else:
                if n >= MAX_CYCLE_SEARCH:
                    self._no_cycle = params
                return n - min(n, MAX_CYCLE_SEARCH)
        if n < FAST_MIN_SLICES:
            return n
        self._jump(cycle, n)
        return 0

    def _jump(self, cycle: "_Cycle", n: int) -> None:
        period = len(cycle.states)
        at = cycle.phase[self._state()]
        start, base = self.slices, self._counters()
        whole, part = divmod(n, period)
        per_cycle = cycle.total

        def counters_after(k: int) -> list[int]:
            """The counters ``k`` slices from now, without running them."""
            w, r = divmod(k, period)
            partial = cycle.span(at, r)
            return [b + w * c + p for b, c, p in zip(base, per_cycle, partial)]

        # Tickets: each slice hands out the next numbers, in a fixed order per phase.
        handed_total = whole * cycle.handed_per_cycle + cycle.handed_in(at, part)
        first = self.sched.next_ticket
        latest: dict[int, int] = {}
        after = 0
        for k in range(n, max(0, n - period), -1):
            for i in reversed(cycle.handed[(at + k) % period]):
                if i not in latest:
                    latest[i] = first + handed_total - 1 - after
                after += 1
        end = (at + n) % period
        self._restore(cycle.states[end])
        for i, vm in enumerate(self._order):
            if i in latest:
                vm.ticket = latest[i]
        self.sched.next_ticket = first + handed_total
        final = counters_after(n)
        self.cum_run_us = final[0]
        for j, vm in enumerate(self._order):
            vm.cum_run_us, vm.cum_steal_us, vm.cum_wants_us = final[1 + 3 * j : 4 + 3 * j]
        self.slices = start + n
        # The checkpoints the averages read: every 10th slice of the last window, as
        # running the slices would have appended them.
        marks = [m for m in range(self.slices // CHECKPOINT_SLICES * CHECKPOINT_SLICES, start, -CHECKPOINT_SLICES)]
        for m in reversed(marks[: self.checkpoints.maxlen]):
            c = counters_after(m - start)
            self.checkpoints.append((m, c[0]))
            for j, vm in enumerate(self._order):
                vm.checkpoints.append((m, c[1 + 3 * j], c[2 + 3 * j]))

    def _slice(self) -> None:
        runnable = []
        for vm in self._order:
            kind = vm.kind
            if kind == _CPU_BOUND:
                wants = vm.full_us
            else:
                if kind == _BURSTY:
                    bursting = vm.bursts[(self.slices - vm.born_slice) % BURST_PATTERN_SLICES]
                    backlog = vm.backlog_us + (vm.arrival_us if bursting else vm.quiet_us)
                else:
                    backlog = vm.backlog_us + vm.arrival_us
                if backlog > vm.backlog_max_us:
                    backlog = vm.backlog_max_us
                vm.backlog_us = backlog
                wants = backlog if backlog < vm.full_us else vm.full_us
            vm.wants_us = wants
            if wants:
                runnable.append(vm)
            else:
                vm.ran_us = 0
                vm.blocked = True
                vm.parked = False
        self.sched.dispatch(runnable)
        host_run = 0
        for vm in runnable:
            ran = vm.ran_us
            host_run += ran
            vm.cum_run_us += ran
            vm.cum_wants_us += vm.wants_us
            vm.cum_steal_us += vm.wants_us - ran
            if vm.kind != _CPU_BOUND:
                vm.backlog_us -= ran
                vm.blocked = not vm.backlog_us
            else:
                vm.blocked = False
        self.cum_run_us += host_run
        self.sched.account()
        if self.memory.moving:
            self.memory.step(SLICE_MS)
        self.slices += 1
        if not self.slices % CHECKPOINT_SLICES:
            self.checkpoints.append((self.slices, self.cum_run_us))
            for vm in self._order:
                vm.checkpoints.append((self.slices, vm.cum_run_us, vm.cum_steal_us))

    def _check_swap(self) -> None:
        swapping = self.memory.swap_mib > 0
        if swapping != self.swapping:
            self.swapping = swapping
            if swapping:
                self.emit("host.swap_started", swap_gib=round(self.memory.swap_mib / MIB_PER_GIB, 2))
            else:
                self.emit("host.swap_stopped")

    def emit(self, kind: str, **data: Any) -> None:
        if self._emit is not None:
            self._emit(kind, **data)

    # -- guests ---------------------------------------------------------------------------
    def _vm(self, name: str) -> VM:
        vm = self.vms.get(name)
        if vm is None:
            known = ", ".join(self.vms) or "none yet"
            raise CloudError("InvalidVm.NotFound", f"no VM named {name!r} (VMs: {known})")
        return vm

    def _check_weight(self, weight: Any) -> int:
        if not isinstance(weight, int) or isinstance(weight, bool) or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
            raise CloudError(
                "InvalidParameterValue",
                f"weight must be a whole number from {MIN_WEIGHT} to {MAX_WEIGHT}, not {weight!r} (default {DEFAULT_WEIGHT})",
            )
        return weight

    def _check_cap(self, cap: Any, vcpus: int) -> int:
        top = 100 * vcpus
        if not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= top:
            raise CloudError(
                "InvalidParameterValue",
                f"cap must be a whole percent of one pCPU from 0 (no cap) to {top} "
                f"({vcpus} vCPU{'s' if vcpus != 1 else ''} x 100), not {cap!r}",
            )
        return cap

    def _check_workload(self, workload: Any, load: Any) -> tuple[str, int]:
        if workload not in WORKLOADS:
            raise CloudError(
                "InvalidParameterValue",
                f"unknown workload {workload!r} (one of: {', '.join(WORKLOAD_NAMES)})",
            )
        spec = WORKLOADS[workload]
        if load is None:
            return workload, spec.load_pct
        if not spec.adjustable:
            adjustable = ", ".join(w.name for w in WORKLOADS.values() if w.adjustable)
            article = "an" if workload[0] in "aeiou" else "a"
            raise CloudError(
                "InvalidParameterValue", f"{article} {workload} workload has a fixed load (load applies to: {adjustable})"
            )
        if not isinstance(load, int) or isinstance(load, bool) or not 0 <= load <= 100:
            raise CloudError("InvalidParameterValue", f"load must be a whole percent per vCPU from 0 to 100, not {load!r}")
        return workload, load

    def create_vm(
        self,
        name: str,
        vcpus: int,
        ram_gib: float,
        weight: int = DEFAULT_WEIGHT,
        cap: int = 0,
        workload: str = "steady",
        load: int | None = None,
        pins: str | tuple[int, ...] | None = None,
        balloon_gib: float | None = None,
    ) -> VM:
        """Create and boot a guest. Everything is checked before anything changes."""
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise CloudError(
                "InvalidParameterValue",
                f"bad VM name {name!r} (lower-case letters, digits and '-', starting with a letter, up to 32)",
            )
        if name in self.vms:
            raise CloudError("InvalidVm.Duplicate", f"a VM named {name!r} already exists (pick another name)")
        if not isinstance(vcpus, int) or isinstance(vcpus, bool) or not 1 <= vcpus <= self.pcpus:
            raise CloudError(
                "InvalidParameterValue",
                f"vcpus must be a whole number from 1 to {self.pcpus} (this host's pCPUs), not {vcpus!r}",
            )
        ram_mib = self._check_ram(ram_gib, "ram")
        self._check_weight(weight)
        self._check_cap(cap, vcpus)
        workload, load_pct = self._check_workload(workload, load)
        pin_set = parse_cpu_list(pins, self.pcpus) if isinstance(pins, str) else pins
        if pin_set is not None:
            pin_set = tuple(sorted(set(pin_set)))
            if not pin_set or any(not isinstance(p, int) or not 0 <= p < self.pcpus for p in pin_set):
                raise CloudError("InvalidParameterValue", f"pins must be pCPUs 0-{self.pcpus - 1}")
        target_mib = ram_mib if balloon_gib is None else self._check_balloon(balloon_gib, ram_mib)

        vm = VM(name, vcpus, weight, cap, pin_set)
        vm.ram_mib = ram_mib
        vm.rng = random.Random(self.rng.getrandbits(64))
        vm.bursts = b""
        vm.backlog_us = 0
        vm.cum_run_us = vm.cum_steal_us = vm.cum_wants_us = 0
        vm.born_slice = self.slices
        vm.checkpoints = deque([(self.slices, 0, 0)], maxlen=WINDOW_SLICES // CHECKPOINT_SLICES + 1)
        self._apply_workload(vm, workload, load_pct)
        vm.mem = self.memory.add(name, ram_mib, int(ram_mib * WORKLOADS[workload].working_set), target_mib)
        self.vms[name] = vm
        self._order.append(vm)
        self.sched.add(vm)
        self.emit(
            "vm.created",
            vm=name,
            vcpus=vcpus,
            ram_gib=vm.ram_gib,
            weight=weight,
            cap=cap,
            workload=workload,
            load=load_pct,
            pins=vm.describe_pins(),
        )
        self._check_swap()
        return vm

    def _check_ram(self, gib: Any, what: str) -> int:
        if not isinstance(gib, (int, float)) or isinstance(gib, bool) or gib <= 0:
            raise CloudError("InvalidParameterValue", f"{what} must be a positive number of GiB, not {gib!r}")
        mib = int(round(gib * MIB_PER_GIB))
        if mib < MIN_BALLOON_MIB:
            raise CloudError("InvalidParameterValue", f"{what} must be at least {MIN_BALLOON_MIB / MIB_PER_GIB:g} GiB")
        if mib > self.ram_mib:
            raise CloudError(
                "InvalidParameterValue",
                f"{what} {gib:g} GiB is more than the whole host has ({self.ram_mib / MIB_PER_GIB:g} GiB)",
            )
        return mib

    def _check_balloon(self, gib: Any, ram_mib: int) -> int:
        if not isinstance(gib, (int, float)) or isinstance(gib, bool):
            raise CloudError("InvalidParameterValue", f"balloon target must be a number of GiB, not {gib!r}")
        mib = int(round(gib * MIB_PER_GIB))
        if not MIN_BALLOON_MIB <= mib <= ram_mib:
            raise CloudError(
                "InvalidParameterValue",
                f"balloon target must be from {MIN_BALLOON_MIB / MIB_PER_GIB:g} GiB to the VM's RAM "
                f"({ram_mib / MIB_PER_GIB:g} GiB), not {gib:g}",
            )
        return mib

    def _apply_workload(self, vm: VM, workload: str, load_pct: int) -> None:
        vm.workload = workload
        vm.load_pct = load_pct
        vm.kind = _KIND[workload]
        vm.full_us = vm.vcpus * SLICE_US
        vm.arrival_us = vm.vcpus * SLICE_US * load_pct // 100
        vm.quiet_us = vm.vcpus * SLICE_US * QUIET_LOAD_PCT // 100
        vm.backlog_max_us = vm.vcpus * BACKLOG_LIMIT_MS * 1000
        if vm.kind == _CPU_BOUND:
            vm.backlog_us = 0
        if vm.kind == _BURSTY and not vm.bursts:
            vm.bursts = burst_pattern(vm.rng)

    def set_vm(
        self,
        name: str,
        weight: int | None = None,
        cap: int | None = None,
        workload: str | None = None,
        load: int | None = None,
    ) -> VM:
        """Change a guest's weight, cap or workload (``xl sched-credit -w/-c``)."""
        vm = self._vm(name)
        if weight is None and cap is None and workload is None and load is None:
            raise CloudError("InvalidParameterValue", "nothing to change (give a weight, cap, workload or load)")
        if weight is not None:
            self._check_weight(weight)
        if cap is not None:
            self._check_cap(cap, vm.vcpus)
        new_workload, new_load = vm.workload, vm.load_pct
        if workload is not None or load is not None:
            target = workload if workload is not None else vm.workload
            if load is None and workload is not None:
                new_workload, new_load = self._check_workload(target, None)
            else:
                new_workload, new_load = self._check_workload(target, load)
        # Scheduler settings are the host's business; the workload is the tenant's
        # software, so changing it is its own event (a chapter may forbid it).
        if weight is not None and weight != vm.weight:
            self.sched.set_weight(vm, weight)
        if cap is not None and cap != vm.cap:
            self.sched.set_cap(vm, cap)
        if weight is not None or cap is not None:
            self.emit("vm.updated", vm=name, weight=vm.weight, cap=vm.cap)
        if (new_workload, new_load) != (vm.workload, vm.load_pct):
            self._apply_workload(vm, new_workload, new_load)
            self.memory.set_working_set(name, int(vm.ram_mib * WORKLOADS[new_workload].working_set))
            self.emit("vm.workload_changed", vm=name, workload=new_workload, load=new_load)
        return vm

    def delete_vm(self, name: str) -> None:
        vm = self._vm(name)
        self.sched.remove(vm)
        self.memory.remove(name)
        self._order.remove(vm)
        del self.vms[name]
        self.emit("vm.deleted", vm=name)
        self._check_swap()

    def pin(self, name: str, cpus: str | tuple[int, ...] | None) -> VM:
        """Restrict a guest's vCPUs to some pCPUs (``xl vcpu-pin``); ``all`` undoes it."""
        vm = self._vm(name)
        pins = parse_cpu_list(cpus, self.pcpus) if isinstance(cpus, str) else cpus
        self.sched.set_pins(vm, pins)
        self.emit("vm.pinned", vm=name, pins=vm.describe_pins())
        return vm

    def balloon(self, name: str, gib: float) -> VM:
        """Set how much RAM the guest keeps (``xl mem-set``); the balloon inflates or
        deflates towards it over time."""
        vm = self._vm(name)
        target = self._check_balloon(gib, vm.ram_mib)
        self.memory.set_target(name, target)
        self.emit("vm.ballooned", vm=name, target_gib=round(target / MIB_PER_GIB, 2))
        return vm

    # -- readings -------------------------------------------------------------------------
    def cores_of(self, vm: VM) -> set[int]:
        """The physical cores a VM's vCPUs may run on. pCPUs are numbered thread by thread:
        with two threads per core, pCPUs 2k and 2k+1 are core k's two hardware threads."""
        pins = vm.pins if vm.pins is not None else range(self.pcpus)
        return {p // self.threads for p in pins}

    @property
    def vcpus_total(self) -> int:
        return sum(vm.vcpus for vm in self._order)

    def _window(self, checkpoints: deque) -> tuple:
        """The oldest checkpoint within the window (the start of the averages)."""
        floor = self.slices - WINDOW_SLICES
        for point in checkpoints:
            if point[0] >= floor:
                return point
        return checkpoints[-1]

    def vm_usage(self, vm: VM) -> tuple[float, float]:
        """(CPU in % of one pCPU, steal in % of the guest's vCPU time) over the window."""
        start, run0, steal0 = self._window(vm.checkpoints)
        slices = self.slices - start
        if slices <= 0:
            return 0.0, 0.0
        span = slices * SLICE_US
        return (100 * (vm.cum_run_us - run0) / span, 100 * (vm.cum_steal_us - steal0) / (span * vm.vcpus))

    def response_ms(self, vm: VM, steal_pct: float | None = None) -> float:
        if steal_pct is None:
            steal_pct = self.vm_usage(vm)[1]
        stolen = min(steal_pct / 100, MAX_STEAL_FOR_RESPONSE)
        return REQUEST_SERVICE_MS * vm.mem.slowdown / (1 - stolen)

    def host_util(self) -> float:
        start, run0 = self._window(self.checkpoints)
        slices = self.slices - start
        if slices <= 0:
            return 0.0
        return 100 * (self.cum_run_us - run0) / (slices * SLICE_US * self.pcpus)

    def metrics(self) -> dict[str, float]:
        out: dict[str, float] = {
            "host_cpu_util": round(self.host_util(), 2),
            "vcpu_ratio": round(self.vcpus_total / self.pcpus, 2),
            "swap_used_gib": round(self.memory.swap_mib / MIB_PER_GIB, 2),
            "ram_overcommit": round(self.memory.configured_mib / self.ram_mib, 2),
            "vm_count": len(self._order),
        }
        worst = 0.0
        for vm in self._order:
            cpu, steal = self.vm_usage(vm)
            out[f"cpu_pct.{vm.name}"] = round(cpu, 2)
            out[f"steal_pct.{vm.name}"] = round(steal, 2)
            if vm.kind == _LATENCY:
                out[f"response_ms.{vm.name}"] = round(self.response_ms(vm, steal), 2)
            worst = max(worst, steal)
        out["max_steal_pct"] = round(worst, 2)
        return out

    def top(self) -> list[dict[str, Any]]:
        """One row per guest, the columns a host's ``top``/``xentop`` shows."""
        rows = []
        for vm in self._order:
            cpu, steal = self.vm_usage(vm)
            rows.append(
                {
                    "name": vm.name,
                    "workload": vm.workload,
                    "vcpus": vm.vcpus,
                    "weight": vm.weight,
                    "cap": vm.cap,
                    "pins": vm.describe_pins(),
                    "state": vm.priority,
                    "cpu_pct": round(cpu, 1),
                    "steal_pct": round(steal, 1),
                    "ram_gib": round(vm.ram_mib / MIB_PER_GIB, 2),
                    "mem_gib": round(vm.mem.current_mib / MIB_PER_GIB, 2),
                    "balloon_gib": round(vm.mem.balloon_mib / MIB_PER_GIB, 2),
                    "swap_gib": round(vm.mem.host_swap_mib / MIB_PER_GIB, 2),
                    "slowdown": round(vm.mem.slowdown, 2),
                    "response_ms": round(self.response_ms(vm, steal), 2) if vm.kind == _LATENCY else None,
                }
            )
        return rows


# -- attaching to a world ----------------------------------------------------------------


class HypervisorHostSpec(Strict):
    """The one physical host of the hypervisor chapter: sockets x cores x threads pCPUs."""

    sockets: int = Field(default=2, ge=1, le=8)
    cores: int = Field(default=8, ge=1, le=128, description="cores per socket")
    threads: int = Field(default=1, ge=1, le=2, description="hardware threads per core")
    ram_gib: float = Field(default=64, gt=0, le=65_536)


class VmSpec(Strict):
    """A guest already running on the host when the chapter starts."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    vcpus: int = Field(ge=1, le=1024)
    ram_gib: float = Field(ge=0.5, le=65_536)
    weight: int = Field(default=DEFAULT_WEIGHT, ge=MIN_WEIGHT, le=MAX_WEIGHT, description="credit scheduler weight (Xen default 256)")
    cap: int = Field(default=0, ge=0, description="ceiling in percent of one pCPU; 0 = none")
    workload: Literal[WORKLOAD_NAMES] = "steady"  # type: ignore[valid-type]
    load: int | None = Field(default=None, ge=0, le=100, description="percent per vCPU (steady, latency-sensitive)")
    pins: str | int | None = Field(default=None, description="pCPU list such as 0-3,8, or all")
    balloon_gib: float | None = Field(default=None, gt=0, description="RAM the guest keeps (balloon target)")


class HypervisorSpec(Strict):
    """The world's ``hypervisor`` section::

        hypervisor:
          host: {sockets: 2, cores: 8, threads: 1, ram_gib: 64}
          vms:
            - {name: db, vcpus: 4, ram_gib: 16, workload: latency-sensitive, load: 40,
               weight: 256, cap: 0, pins: "0-3", balloon_gib: 12}
    """

    host: HypervisorHostSpec = Field(default_factory=HypervisorHostSpec)
    vms: list[VmSpec] = Field(default_factory=list)
    scheduling: bool = Field(
        default=True,
        description="run the credit scheduler as time passes; a world that needs only the host's layout "
        "(its VMs and their pins) switches it off, so days of simulated time cost nothing",
    )

    @model_validator(mode="after")
    def _builds(self) -> "HypervisorSpec":
        # The simulation's own checks (vCPUs per host, caps per vCPU, pins, balloons,
        # duplicate names) so an author gets the same message a player would.
        try:
            build_host(self)
        except CloudError as exc:
            raise ValueError(exc.message) from None
        return self


def build_host(spec: HypervisorSpec, seed: int | random.Random = 0, emit: Callable[..., Any] | None = None) -> HostSim:
    """Build a :class:`HostSim` from a world's ``hypervisor`` section."""
    host = spec.host
    sim = HostSim(
        sockets=host.sockets,
        cores=host.cores,
        threads=host.threads,
        ram_gib=host.ram_gib,
        seed=seed,
        emit=emit,
    )
    for vm in spec.vms:
        sim.create_vm(
            vm.name,
            vm.vcpus,
            vm.ram_gib,
            weight=vm.weight,
            cap=vm.cap,
            workload=vm.workload,
            load=vm.load,
            pins=None if vm.pins is None else str(vm.pins),
            balloon_gib=vm.balloon_gib,
        )
    return sim


def attach(cloud: "Cloud", spec: HypervisorSpec) -> HostSim:
    """Switch the hypervisor chapter's host on: its slices run with every cloud step."""
    sim = build_host(spec, seed=random.Random(cloud.rng.getrandbits(64)), emit=cloud.emit)
    cloud.metric_sources.append(sim.metrics)
    if spec.scheduling:
        cloud.add_step_hook(sim.advance, sim.quiet_until)
    return sim


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    ("host_cpu_util", "the host's CPU use in percent"),
    ("vcpu_ratio", "vCPUs per pCPU (overcommit)"),
    ("max_steal_pct", "the worst steal time of any VM"),
    ("ram_overcommit", "guest RAM per host RAM"),
    ("swap_used_gib", "the host's swap in use"),
    ("vm_count", "VMs on the host"),
    ("cpu_pct.{vm}", "a VM's CPU use", "there is no VM {} yet"),
    ("steal_pct.{vm}", "a VM's steal time", "there is no VM {} yet"),
    ("response_ms.{vm}", "a latency-sensitive VM's response time", "there is no latency-sensitive VM {} yet"),
)
EVENTS = events(
    ("vm.created", "vm vcpus ram_gib weight cap workload load pins", "a VM was created"),
    ("vm.updated", "vm weight cap", "a VM's weight or cap changed"),
    ("vm.workload_changed", "vm workload load", "a VM's workload changed"),
    ("vm.deleted", "vm", "a VM was shut down"),
    ("vm.pinned", "vm pins", "a VM's vCPUs were pinned"),
    ("vm.ballooned", "vm target_gib", "a VM's balloon target changed"),
    ("host.swap_started", "swap_gib", "the host began swapping"),
    ("host.swap_stopped", "", "the host stopped swapping"),
)
