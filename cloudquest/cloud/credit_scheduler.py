"""CPU scheduling in the style of Xen's credit scheduler ("credit1").

How the real one works (``xen/common/sched_credit.c``; the Xen wiki page "Credit
Scheduler"):

- **Credits.** Every physical CPU (pCPU) brings 300 credits per 30 ms: 10 credits per
  millisecond (``CSCHED_CREDITS_PER_MSEC``) times the 30 ms time slice
  (``CSCHED_DEFAULT_TSLICE_MS``). Every 30 ms an accounting pass (``csched_acct``) shares
  the host's credits among the *active* domains in proportion to their weight. Since
  2010 the weight counts once per active vCPU ("Credit1: make weight per-vcpu").
- **Debit.** A running vCPU pays 10 credits per millisecond it runs (``burn_credits``,
  checked at each 10 ms tick).
- **Priority.** A vCPU with credit >= 0 is UNDER its fair share, below 0 it is OVER. A
  vCPU that wakes up while UNDER is BOOSTed (``csched_vcpu_wake``) so it runs ahead of
  CPU hogs: that is why a mostly idle, latency-sensitive guest keeps short wake-up
  latencies. Run queues are ordered BOOST, UNDER, OVER, first-in first-out within one
  priority; a vCPU that ran goes to the back of its class.
- **Work-conserving.** A pCPU that would otherwise idle, or run an OVER vCPU, steals
  better work from its peers (``csched_load_balance``); OVER vCPUs still run when
  nobody UNDER wants the CPU. Nothing is left idle while someone is runnable.
- **Cap.** A cap is a hard ceiling in percent of one pCPU (50 = half a pCPU, 400 = four),
  even on an idle host. A capped domain never earns more than ``cap * 300 / 100``
  credits per period. Credit1 enforces the ceiling by *parking* (pausing) a vCPU whose
  credit falls below minus that; since Xen 4.10 Credit2 enforces it with a *budget*:
  ``cap`` percent of each period, after which the domain's vCPUs are parked until the
  budget is refilled.
- **Bounds.** Credit never falls below -300 (one slice's worth). A vCPU whose credit
  climbs above +300 is not using its share: it leaves the active set (so its weight
  stops counting) and its credit is halved.

Where we simplify, and why:

- A domain's vCPUs share one credit account (Xen keeps one per vCPU; the vCPUs of one
  guest run the same workload, so their totals come to the same), and an active domain
  counts all its vCPUs as active.
- Caps use the budget (Credit2's way): a capped domain may run ``cap% x 30 ms`` per
  slice in all, then is parked for the rest of the slice. With one account per domain,
  credit1's parking rule would pause all of a guest's vCPUs at once and let it burst to
  every vCPU between pauses, much burstier than Xen's per-vCPU parking; the budget keeps
  the ceiling exact in every slice.
- Decisions are made once per 30 ms slice. Within a slice, CPU time is handed out in
  run-queue order (BOOST, UNDER, OVER; FIFO within each) from one host-wide pool, the
  way Xen's per-pCPU queues plus work stealing behave. A vCPU runs at most 30 ms per
  slice; a domain at most ``vcpus x 30 ms``, or its pinned pCPUs' worth. A domain that
  got all it could use goes to the back of its class; one cut short keeps its place
  (its vCPUs that did not run are still at the head of Xen's queues), so contention
  rotates. Unpinned work fills the pCPUs with the least pinned demand first, as Xen
  puts a waking vCPU on an idle pCPU. Time is handed out, not laid on a timeline:
  McNaughton's wrap-around rule shows that any such hand-out on unpinned pCPUs fits
  without a vCPU running in two places at once.
- Rate limiting, hyperthread siblings, NUMA and soft affinity are not modelled.

Time inside a slice is in integer microseconds so every run is exact and repeatable.
"""

from __future__ import annotations

from collections.abc import Iterable

SLICE_MS = 30  # CSCHED_DEFAULT_TSLICE_MS: accounting and time slice both every 30 ms
TICK_MS = 10  # the per-pCPU tick at which the running vCPU is debited
SLICE_US = SLICE_MS * 1000
CREDITS_PER_MS = 10  # CSCHED_CREDITS_PER_MSEC
CREDITS_PER_SLICE = CREDITS_PER_MS * SLICE_MS  # 300 per pCPU per accounting period
US_PER_CREDIT = 1000 // CREDITS_PER_MS
DEFAULT_WEIGHT = 256  # CSCHED_DEFAULT_WEIGHT
MIN_WEIGHT, MAX_WEIGHT = 1, 65535  # legal weights per the Xen wiki

# Run-queue order: lower sorts first (Xen's numbers are BOOST 0 > UNDER -1 > OVER -2).
PRI_BOOST, PRI_UNDER, PRI_OVER = 0, 1, 2
PRI_NAMES = {PRI_BOOST: "boost", PRI_UNDER: "under", PRI_OVER: "over"}


class Domain:
    """One guest as the scheduler sees it: weight, cap, pinning and its credit account.

    ``wants_us`` is set by the caller before each slice: the CPU time the guest's
    runnable vCPUs could use this slice, at most ``vcpus x 30 ms``. ``ran_us`` is what the
    slice gave it, at most ``par_us`` (fewer lanes when it is pinned to fewer pCPUs than
    it has vCPUs: the rest of its vCPUs wait, and that wait is steal). ``ticket``, its
    place in the run queue, is handed out by :meth:`CreditScheduler.add`.
    """

    __slots__ = (
        "name",
        "vcpus",
        "weight",
        "cap",
        "pins",
        "credit",
        "residual_us",
        "active",
        "pri",
        "parked",
        "ticket",
        "blocked",
        "wants_us",
        "ran_us",
        "par_us",
        "cap_us",
    )

    def __init__(
        self,
        name: str,
        vcpus: int,
        weight: int = DEFAULT_WEIGHT,
        cap: int = 0,
        pins: tuple[int, ...] | None = None,
    ) -> None:
        self.name = name
        self.vcpus = vcpus
        self.weight = weight
        self.cap = cap
        self.pins = pins
        self.credit = 0
        self.residual_us = 0  # run time not yet turned into whole credits (Xen's svc->residual)
        self.active = False
        self.pri = PRI_UNDER  # csched_alloc_vdata starts every vCPU UNDER
        self.parked = False  # the cap's budget ran out in the last slice
        self.blocked = True  # a new guest has not run yet: its first work is a wake-up
        self.wants_us = 0
        self.ran_us = 0
        self.cap_us = cap * SLICE_US // 100  # the cap's budget per slice; 0 = no cap
        self.refresh_parallelism()

    def refresh_parallelism(self) -> None:
        """A domain runs on at most one pCPU per vCPU, and only on its pinned pCPUs."""
        lanes = self.vcpus if self.pins is None else min(self.vcpus, len(self.pins))
        self.par_us = lanes * SLICE_US

    @property
    def priority(self) -> str:
        return "parked" if self.parked else PRI_NAMES[self.pri]


class CreditScheduler:
    """The credit scheduler of one host with ``pcpus`` physical CPUs."""

    def __init__(self, pcpus: int) -> None:
        if pcpus < 1:
            raise ValueError("a host needs at least one pCPU")
        self.pcpus = pcpus
        self.credit = CREDITS_PER_SLICE * pcpus  # prv->credit: the host's credits per period
        self.weight = 0  # prv->weight: sum of weight x vCPUs over active domains
        self.credit_balance = 0  # prv->credit_balance: sum of credits after the last pass
        self.domains: list[Domain] = []
        # prv->active_sdom: new or credit-rich domains go to the head, as list_add does.
        self.active: list[Domain] = []
        self.next_ticket = 1  # run-queue order within a class: lower went first
        self._pinned = False
        # What the last slice gave, for views: (domain name, pCPU or -1, microseconds).
        self.last_slice: list[tuple[str, int, int]] = []

    def _ticket(self) -> int:
        ticket = self.next_ticket
        self.next_ticket += 1
        return ticket

    # -- membership ----------------------------------------------------------------------
    def add(self, dom: Domain) -> None:
        dom.ticket = self._ticket()
        self.domains.append(dom)
        self._repin()

    def remove(self, dom: Domain) -> None:
        if dom.active:
            self._deactivate(dom)
        self.domains.remove(dom)
        self._repin()

    def set_weight(self, dom: Domain, weight: int) -> None:
        if dom.active:  # csched_dom_cntl keeps prv->weight in step
            self.weight += (weight - dom.weight) * dom.vcpus
        dom.weight = weight

    def set_cap(self, dom: Domain, cap: int) -> None:
        dom.cap = cap
        dom.cap_us = cap * SLICE_US // 100

    def set_pins(self, dom: Domain, pins: tuple[int, ...] | None) -> None:
        dom.pins = pins
        dom.refresh_parallelism()
        self._repin()

    def _repin(self) -> None:
        self._pinned = any(dom.pins is not None for dom in self.domains)

    def _spill(self, queue: list[Domain]) -> list[int]:
        """The order in which unpinned work fills pCPUs this slice: least pinned demand
        first, as Xen places a waking vCPU on an idle pCPU rather than next to pinned
        vCPUs that can run nowhere else."""
        demand = [0] * self.pcpus
        for dom in queue:
            pins = dom.pins
            if pins is not None:
                share = min(dom.wants_us, dom.par_us) // len(pins)
                for p in pins:
                    demand[p] += share
        return sorted(range(self.pcpus), key=lambda p: (demand[p], p))

    def _activate(self, dom: Domain) -> None:
        dom.active = True
        self.weight += dom.weight * dom.vcpus
        self.active.insert(0, dom)

    def _deactivate(self, dom: Domain) -> None:
        dom.active = False
        self.weight -= dom.weight * dom.vcpus
        self.active.remove(dom)

    # -- one slice ------------------------------------------------------------------------
    def dispatch(self, runnable: Iterable[Domain]) -> None:
        """Hand out one slice of every pCPU to the runnable domains, in run-queue order.

        ``runnable`` are domains with ``wants_us > 0``. Each gets ``ran_us``: what it
        wants, at most its lanes' worth (``par_us``) and its cap's budget, as far as the
        pCPUs last. A domain that ran pays credits and joins the active set if it was
        idle. One that got all it could use goes to the back of its priority class; one
        cut short keeps its place, as Xen's vCPUs that did not get a pCPU stay at the
        head of the run queue, so contention rotates fairly.
        """
        queue = []
        for dom in runnable:
            if dom.blocked and dom.pri == PRI_UNDER:
                dom.pri = PRI_BOOST  # csched_vcpu_wake: an UNDER vCPU waking up is boosted
            queue.append(dom)
        queue.sort(key=_queue_key)
        free = self.pcpus * SLICE_US
        record: list[tuple[str, int, int]] = []
        pinned = self._pinned
        remaining = [SLICE_US] * self.pcpus if pinned else None
        order = self._spill(queue) if pinned else None
        cursor = 0
        for dom in queue:
            limit = dom.wants_us if dom.wants_us < dom.par_us else dom.par_us
            # A new slice refills the cap's budget; past it the domain is parked.
            dom.parked = bool(dom.cap_us) and limit > dom.cap_us
            if dom.parked:
                limit = dom.cap_us
            if not pinned:
                give = limit if limit < free else free
                if give:
                    record.append((dom.name, -1, give))
            elif dom.pins is None:
                give = limit if limit < free else free
                need = give
                while need:
                    p = order[cursor]
                    r = remaining[p]
                    if not r:
                        cursor += 1
                        continue
                    t = r if r < need else need
                    remaining[p] = r - t
                    need -= t
                    record.append((dom.name, p, t))
            else:
                need = limit
                give = 0
                # Fill the emptiest pinned pCPU first, as the pick of an idle pCPU does.
                for p in sorted(dom.pins, key=lambda q: (-remaining[q], q)):
                    if not need:
                        break
                    r = remaining[p]
                    t = r if r < need else need
                    if t:
                        remaining[p] = r - t
                        need -= t
                        give += t
                        record.append((dom.name, p, t))
            dom.ran_us = give
            if give:
                free -= give
                # burn_credits: exact debit, keeping the sub-credit remainder for next time.
                total = give + dom.residual_us
                dom.credit -= total // US_PER_CREDIT
                dom.residual_us = total % US_PER_CREDIT
                if give == limit:
                    dom.ticket = self._ticket()
                if not dom.active:
                    self._activate(dom)  # csched_vcpu_acct: a vCPU found running becomes active
        self.last_slice = record

    # -- accounting ----------------------------------------------------------------------
    def account(self) -> None:
        """``csched_acct``: share out this period's credits and recompute priorities."""
        weight_total = self.weight
        credit_total = self.credit
        if self.credit_balance < 0:  # converge the balance towards 0 when it drops negative
            credit_total -= self.credit_balance
        if weight_total == 0:
            self.credit_balance = 0
            return
        weight_left = weight_total
        credit_balance = 0
        credit_xtra = False
        for dom in list(self.active):
            n = dom.vcpus
            dom_weight = dom.weight * n
            weight_left -= dom_weight
            # At most a domain can use all its vCPUs for the whole period; more only when
            # the host-wide balance is negative.
            credit_peak = n * CREDITS_PER_SLICE
            if self.credit_balance < 0:
                credit_peak += (-self.credit_balance * dom_weight + weight_total - 1) // weight_total
            if dom.cap:
                credit_cap = (dom.cap * CREDITS_PER_SLICE + 99) // 100
                if credit_cap < credit_peak:
                    credit_peak = credit_cap
            credit_fair = (credit_total * dom_weight + weight_total - 1) // weight_total
            if credit_fair < credit_peak:
                credit_xtra = True
            else:
                if weight_left:
                    # Give the other domains a chance at the credits this one cannot use.
                    credit_total += ((credit_fair - credit_peak) * weight_total + weight_left - 1) // weight_left
                if credit_xtra:
                    self.active.remove(dom)
                    self.active.insert(0, dom)
                credit_fair = credit_peak
            credit_fair = (credit_fair + n - 1) // n * n  # per-vCPU share, rounded up, summed
            credit = dom.credit + credit_fair
            if credit < 0:
                dom.pri = PRI_OVER
                floor = -CREDITS_PER_SLICE * n
                if credit < floor:
                    credit = floor
            else:
                dom.pri = PRI_UNDER
                if credit > CREDITS_PER_SLICE * n:
                    # Not using its share: stop earning, and start "a little bit ahead".
                    self._deactivate(dom)
                    credit //= 2
            dom.credit = credit
            credit_balance += credit
        self.credit_balance = credit_balance

    def pcpu_lanes(self) -> list[list[tuple[str, int]]]:
        """The last slice laid out per pCPU: ``[[(domain, us), ...], ...]``.

        Unpinned hand-outs are laid out with McNaughton's wrap-around rule: fill pCPU 0,
        carry the rest over to pCPU 1, and so on.
        """
        lanes: list[list[tuple[str, int]]] = [[] for _ in range(self.pcpus)]
        used = [0] * self.pcpus
        for name, p, us in self.last_slice:
            if p >= 0:
                lanes[p].append((name, us))
                used[p] += us
        cursor = 0
        for name, p, us in self.last_slice:
            if p >= 0:
                continue
            while us and cursor < self.pcpus:
                room = SLICE_US - used[cursor]
                if room <= 0:
                    cursor += 1
                    continue
                t = min(room, us)
                lanes[cursor].append((name, t))
                used[cursor] += t
                us -= t
        return lanes


def _queue_key(dom: Domain) -> tuple[int, int]:
    return (dom.pri, dom.ticket)
