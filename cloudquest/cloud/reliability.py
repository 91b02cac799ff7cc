"""Reliability accounting: what a design costs, and how each incident played out.

A world switches this on with a ``reliability`` section::

    reliability:
      budget_per_hour: 0.12            # US$; the `budget` command compares against it
      storage_usd_per_gib_month: 0.045 # per GiB of raw disk used, copies included
      run_s: 14400                     # how long the exercise runs

**Cost.** ``cost_per_hour`` is what the design would be billed per hour as it stands:
every running (or impaired: still billed) instance at its catalogue ``price_per_hour``,
plus the surplus CPU credits it is burning now (below), every load balancer at its
hourly charge, and the storage cluster's *raw* bytes (every copy or fragment) at
``storage_usd_per_gib_month`` divided by 730 hours (AWS's hours-per-month convention).
The default $0.045 per GiB-month is Amazon EBS st1 (throughput-optimised HDD) in
us-east-1, the closest AWS price to the spinning disks of the storage chapter; every
price here is us-east-1's. ``cost_peak_per_hour`` is the highest it was after any step
or command.

**CPU credits.** A t3 instance's price covers only its baseline CPU
(cloud/catalogue.py). Each step, every billed instance earns credits at its baseline
rate (banking at most a day's worth) and spends one credit per vCPU-minute it works;
its work is the requests its load balancer targets served, at ``rps_per_vcpu`` per
busy vCPU (an instance nobody sends requests to idles and banks credits). In unlimited
mode, the T3 default, an instance whose bank is empty keeps working and its CPU above
baseline is billed at $0.05 per vCPU-hour (``cpu_surplus_per_hour``, and a
``cpu.surplus_started`` event when it begins). Where the game simplifies: surplus is
billed as it is spent, where AWS settles it over a rolling 24 hours and when the
instance stops; there are no launch credits and no standard mode (which would throttle
the instance to its baseline instead).

A stretch of time in which every account is steady (its bank full, empty, filling or
draining the same way at every step of the load balancer's steady cycle) runs as one
step, its floats summed in the order stepping sums them (:meth:`Reliability.quiet_until`).

**Verification.** ``verify_passed`` is how many seeds the game's ``verify`` last passed
with the design as it still stands (0 before any verify, and again once the design
changes after it); the game supplies it through ``verify_status``.

**History.** One :class:`Minute` per simulated minute (requests offered and failed, the
most chunks under-replicated, the most incidents open) for the live view's sparklines.

**Incidents.** Every ``fault.injected`` event (a timeline entry or a player's ``fail`` /
``degrade``) opens an incident. It is *recovered* at the first moment, at or after it
began, when the service is whole again:

- *availability back*: the load balancer lost no request in the last step and every node
  sends only to targets that answer in time (cloud/loadbalancer.py ``serving``);
- *protection back*: no chunk is under-replicated and every object is readable
  (cloud/storage.py), so the next failure finds full redundancy;
- *traffic back*: in worlds with the traffic chapters' mechanisms, the distributed load
  balancer lost no request in the last step and routes to no dead backend, the fabric has
  converged with nothing black-holed or dropped, and every edge user reaches a live PoP.

``time_to_recover_s.N`` is incident N's time from fault to whole (for an incident still
open, the time so far), ``time_to_recover_s`` the worst of them, ``incidents_open`` how
many are not recovered. Overlapping incidents recover together, at the moment the
service is whole again. Each incident keeps its evidence: the requests that failed
while it was open and why, when the load balancer's nodes took a target out, when
storage declared a host dead and finished re-replicating, and objects lost.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable
from functools import reduce
from itertools import cycle, islice
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import Field

from .balancer import Balancer
from .edge import EdgeNetwork
from .fabric import Fabric
from .catalogue import T3_UNLIMITED_USD_PER_VCPU_HOUR, InstanceType
from .mechanism import Metric, events, metrics
from .loadbalancer import LoadBalancing
from .storage import ObjectStore
from .world import Strict

if TYPE_CHECKING:
    from .cloud import Cloud

HOURS_PER_MONTH = 730  # AWS pricing's convention
GiB = 1 << 30
EBS_ST1_USD_PER_GIB_MONTH = 0.045
BILLED_STATES = ("running", "impaired")
MAX_NOTES = 12
HISTORY_BUCKET_MS = 60_000  # the views' sparklines: one cell per simulated minute
CPU_WINDOW_MS = 60_000  # surplus CPU is billed on a minute's average, not one step's
MAX_HISTORY = 7 * 24 * 60
# events an incident's evidence quotes (besides the request counts)
EVIDENCE_KINDS = (
    "lb.target_unhealthy",
    "lb.target_healthy",
    "lb.errors_started",
    "lb.errors_stopped",
    "storage.heartbeat_lost",
    "storage.host_dead",
    "storage.at_risk",
    "storage.protected",
    "storage.object_lost",
    "instance.unreachable",
    "instance.recovered",
    "fault.repaired",
    "balancer.backend_unhealthy",
    "balancer.backend_healthy",
    "balancer.node_joined",
    "fabric.failure_detected",
    "fabric.converged",
    "edge.rerouted",
)
# the traffic mechanisms that can say whether they are whole again (``whole()``)
TRAFFIC = (Balancer, Fabric, EdgeNetwork)


class ReliabilitySpec(Strict):
    """The world's ``reliability`` section: cost and incident accounting."""

    budget_per_hour: float | None = Field(default=None, ge=0, description="US$ per hour")
    storage_usd_per_gib_month: float = Field(default=EBS_ST1_USD_PER_GIB_MONTH, ge=0, le=1000)
    run_s: int | None = Field(default=None, ge=1, le=30 * 86400, description="how long the exercise runs")


@dataclass
class Credits:
    """One instance's CPU credit account (unlimited mode)."""

    balance: float = 0.0  # earned credits banked (vCPU-minutes)
    surplus: float = 0.0  # surplus credits billed so far
    usd_per_hour: float = 0.0  # what its CPU above baseline is billed per hour now
    cpu_pct: float = 0.0  # its CPU use over the last minute, % of its vCPUs
    served: int = 0  # requests its targets had served at the last step
    window: deque[tuple[int, int]] = field(default_factory=deque)  # (ms, requests) of recent steps
    window_ms: int = 0
    window_done: int = 0
    # cpu_pct and the surplus rate follow from the minute's average and the instance's
    # type alone, and rounding them costs more than the rest of a step's accounting:
    # they are worked out again only when either changes (under steady load the average
    # repeats in most steps).
    average: float | None = None  # the average they were worked out for
    average_type: InstanceType | None = None  # ... and the instance type
    surplus_rate: float = 0.0  # US$ per hour its CPU above baseline bills once the bank is empty

    def average_busy(self, dt_ms: int, done: int, rps_per_vcpu: int, vcpus: int) -> float:
        """vCPUs at work over the last minute (what CloudWatch and the bill see), the
        step just run included."""
        # Called for every billed instance at every step: the running sums are kept in
        # locals and written back once.
        window = self.window
        window.append((dt_ms, done))
        window_ms = self.window_ms + dt_ms
        window_done = self.window_done + done
        while window_ms - window[0][0] >= CPU_WINDOW_MS:
            old_ms, old_done = window.popleft()
            window_ms -= old_ms
            window_done -= old_done
        self.window_ms = window_ms
        self.window_done = window_done
        average = window_done * 1000 / window_ms / rps_per_vcpu
        return float(vcpus) if average > vcpus else average


@dataclass
class SteadyAccount:
    """A credit account in a stretch the fast-forward may run as one step: the requests
    its instance does in each step of the load balancer's cycle, what each step earns
    (negative: spends) and which way its bank goes."""

    acct: Credits
    instance: str
    done: list[int]
    earned: list[float]
    bank: str  # full (and stays full), empty (the surplus billed), filling, draining
    cap: float  # the most its bank holds (its instance type's max_credits)

    def balance_after(self, steps: int) -> tuple[int, float]:
        """Steps the bank stays on its way (not overflowing when filling, not below empty
        when draining: at most ``steps``) and the balance then, summed as step by step."""
        balance, cap = self.acct.balance, self.cap
        n = 0
        for x in islice(cycle(self.earned), steps):
            after = balance + x
            if after < 0:
                break
            balance = cap if after > cap else after
            n += 1
            if balance == cap and self.bank == "filling":
                return steps, balance  # full: it stays full
        return n, balance


@dataclass
class Minute:
    """One bucket of the run's history: what the views draw as sparklines."""

    start_ms: int
    offered: int = 0
    failed: int = 0
    short: int = 0  # most chunks under-replicated at any step in it
    open: int = 0  # most incidents open at any step in it

    @property
    def availability_pct(self) -> float:
        return 100.0 if not self.offered else 100 * (self.offered - self.failed) / self.offered


@dataclass
class Incident:
    n: int
    start_ms: int
    part: str
    id: str
    health: str
    cause: str
    end_ms: int | None = None
    failed: dict[str, int] = field(default_factory=dict)  # reason -> requests, while open
    offered: int = 0
    lost_before: int = 0
    lost_after: int | None = None
    notes: list[str] = field(default_factory=list)
    # load balancer verdicts, folded per target: target -> [nodes, first t_ms, last t_ms]
    taken_out: dict[str, list[int]] = field(default_factory=dict)
    put_back: dict[str, list[int]] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.end_ms is None

    def seconds(self, now_ms: int) -> float:
        return ((self.end_ms if self.end_ms is not None else now_ms) - self.start_ms) / 1000

    def title(self) -> str:
        what = {"failed": "failed", "degraded": "turned slow (degraded)"}.get(self.health, self.health)
        return f"{self.part} {self.id} {what} at t={self.start_ms / 1000:g}s ({self.cause})"

    def as_dict(self, now_ms: int, lost_now: int) -> dict[str, Any]:
        return {
            "n": self.n,
            "at_s": self.start_ms / 1000,
            "part": self.part,
            "id": self.id,
            "health": self.health,
            "cause": self.cause,
            "recovered": not self.open,
            "time_to_recover_s": self.seconds(now_ms),
            "requests_offered": self.offered,
            "requests_failed": sum(self.failed.values()),
            "failed_by_reason": {k: v for k, v in sorted(self.failed.items()) if v},
            "objects_lost": (self.lost_after if self.lost_after is not None else lost_now) - self.lost_before,
            "evidence": self.evidence(now_ms, lost_now),
        }

    def evidence(self, now_ms: int, lost_now: int) -> str:
        failed = sum(self.failed.values())
        parts = [f"incident {self.n}: {self.title()}"]
        if failed:
            why = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(self.failed.items()) if v)
            parts.append(f"{failed} of {self.offered} requests failed while it was open ({why})")
        else:
            parts.append(f"no request failed while it was open ({self.offered} offered)")
        for verb, folded in (("taken out", self.taken_out), ("put back", self.put_back)):
            for target, (nodes, first, last) in folded.items():
                when = f"t={first / 1000:g}s" if nodes == 1 else f"between t={first / 1000:g}s and t={last / 1000:g}s"
                parts.append(f"{target} {verb} by {nodes} load balancer node{'s' if nodes > 1 else ''} {when}")
        parts.extend(self.notes)
        lost = (self.lost_after if self.lost_after is not None else lost_now) - self.lost_before
        if lost:
            parts.append(f"{lost} objects lost")
        if self.open:
            parts.append(f"not recovered yet after {self.seconds(now_ms):g}s")
        else:
            parts.append(f"whole again at t={self.end_ms / 1000:g}s, {self.seconds(now_ms):g}s after it began")
        return "; ".join(parts)


class Reliability:
    def __init__(self, cloud: "Cloud", config: ReliabilitySpec) -> None:
        self.cloud = cloud
        self.config = config
        self.incidents: list[Incident] = []
        self.cost_peak = 0.0
        self._seen = 0
        self._open: list[Incident] = []
        self._cost: tuple[tuple[int, int], float] | None = None
        self.history: list[Minute] = []
        self.credits: dict[str, Credits] = {}  # instance id -> its CPU credit account
        self._credit_version = 0
        # the stretch quiet_until last allowed: (from ms, each account's steady steps)
        self._quiet: tuple[int, list[SteadyAccount]] | None = None
        # Set by the game's `verify`: how many seeds the latest verify passed, or 0 once
        # the design has changed since (the cloud cannot see commands; the game can).
        self.verify_status: Callable[[], int] | None = None

    # -- cost ---------------------------------------------------------------------------
    def cost_breakdown(self) -> dict[str, float]:
        cloud = self.cloud
        billed = [i for i in cloud.control.instances.values() if i.state in BILLED_STATES]
        instances = sum(i.type.price_per_hour for i in billed)
        credits = sum(self.credits[i.id].usd_per_hour for i in billed if i.id in self.credits)
        lbs = cloud.get(LoadBalancing)
        lb_cost = lbs.cost_per_hour() if lbs is not None else 0.0
        store = cloud.get(ObjectStore)
        raw = store.bytes_raw if store is not None else 0
        storage = raw / GiB * self.config.storage_usd_per_gib_month / HOURS_PER_MONTH
        return {"instances": instances, "cpu_credits": credits, "load_balancers": lb_cost, "storage": storage}

    # -- CPU credits --------------------------------------------------------------------
    def _spend_credits(self, dt_ms: int) -> None:
        """Earn and spend every billed instance's CPU credits over one step.

        This runs at every step for every billed instance (a good part of a long
        ``verify``), so the loop reads each value once into a local and clamps with
        comparisons rather than calls to min() and max(); the arithmetic is the model's,
        term for term, so every float comes out the same."""
        if dt_ms <= 0:
            return
        lbs = self.cloud.get(LoadBalancing)
        served = self._served_by_instance(lbs)
        rps_per_vcpu = lbs.config.rps_per_vcpu if lbs is not None else 1
        hours = dt_ms / 3_600_000
        changed = False
        credits = self.credits
        billed = 0
        for inst in self.cloud.control.instances.values():
            if inst.state not in BILLED_STATES:
                continue
            billed += 1
            acct = credits.get(inst.id)
            now_served = served.get(inst.name, 0)
            if acct is None:
                acct = credits[inst.id] = Credits(served=now_served)
            done = now_served - acct.served
            if done < 0:
                done = 0
            acct.served = now_served
            t = inst.type
            vcpus = t.vcpus
            busy = done * 1000 / dt_ms / rps_per_vcpu  # vCPUs at work this step
            if busy > vcpus:
                busy = float(vcpus)
            average = acct.average_busy(dt_ms, done, rps_per_vcpu, vcpus)
            if average != acct.average or t is not acct.average_type:
                acct.average, acct.average_type = average, t
                acct.cpu_pct = round(100 * average / vcpus, 2)
                acct.surplus_rate = round(max(0.0, average - t.baseline_vcpus) * T3_UNLIMITED_USD_PER_VCPU_HOUR, 6)
            # the credits earned: _steady_accounts repeats this term for term (and
            # SteadyAccount.balance_after the clamp) so a steady stretch's floats equal
            # stepping's; change both together
            balance = acct.balance + (t.credits_per_hour - busy * 60) * hours
            acct.balance = t.max_credits if balance > t.max_credits else balance
            rate = 0.0
            if acct.balance < 0:  # the bank is empty: unlimited mode bills the rest
                acct.surplus -= acct.balance
                acct.balance = 0.0
                rate = acct.surplus_rate
            if rate != acct.usd_per_hour:
                if rate and not acct.usd_per_hour:
                    self.cloud.emit(
                        "cpu.surplus_started", instance=inst.name, cpu_pct=acct.cpu_pct, baseline_pct=t.baseline_pct
                    )
                acct.usd_per_hour = rate
                changed = True
        # Every billed instance now has an account, so there are more accounts than
        # billed instances exactly when some instance stopped being billed: only then
        # look for the accounts to close (the common step has none).
        if len(credits) != billed:
            live = {i.id for i in self.cloud.control.instances.values() if i.state in BILLED_STATES}
            for gone in [i for i in credits if i not in live]:
                del credits[gone]
                changed = True
        if changed:
            self._credit_version += 1

    def surplus_per_hour(self) -> float:
        return round(sum(a.usd_per_hour for a in self.credits.values()), 6)

    def cost_per_hour(self) -> float:
        # Instances, load balancers and stored bytes change only with an event; surplus
        # CPU credits with the credit accounts.
        key = (len(self.cloud.log), self._credit_version)
        if self._cost is None or self._cost[0] != key:
            self._cost = (key, round(sum(self.cost_breakdown().values()), 6))
        return self._cost[1]

    # -- incidents ----------------------------------------------------------------------
    def _objects_lost(self) -> int:
        store = self.cloud.get(ObjectStore)
        return store.objects_lost if store is not None else 0

    def _scan(self) -> None:
        """Open an incident for every new fault, and note evidence for the open ones."""
        log = self.cloud.log
        if len(log) == self._seen:
            return
        for event in log.since(self._seen):
            if event.kind == "fault.injected":
                inc = Incident(
                    len(self.incidents) + 1,
                    event.t_ms,
                    str(event.get("part")),
                    str(event.get("id")),
                    str(event.get("health")),
                    str(event.get("cause")),
                    lost_before=self._objects_lost(),
                )
                self.incidents.append(inc)
                self._open.append(inc)
            elif self._open and event.kind in ("lb.target_unhealthy", "lb.target_healthy"):
                for inc in self._open:
                    folded = inc.taken_out if event.kind == "lb.target_unhealthy" else inc.put_back
                    row = folded.setdefault(str(event.get("target")), [0, event.t_ms, event.t_ms])
                    row[0] += 1
                    row[2] = event.t_ms
            elif self._open and event.kind in EVIDENCE_KINDS:
                note = _note(event)
                if note:
                    for inc in self._open:
                        if len(inc.notes) < MAX_NOTES:
                            inc.notes.append(note)
                        elif len(inc.notes) == MAX_NOTES:
                            inc.notes.append("... (more in the event log)")
        self._seen = len(log)

    def whole(self) -> bool:
        lbs = self.cloud.get(LoadBalancing)
        if lbs is not None and not lbs.serving():
            return False
        for kind in TRAFFIC:
            state = self.cloud.get(kind)
            if state is not None and not state.whole():
                return False
        store = self.cloud.get(ObjectStore)
        return store is None or store.protected()

    def step(self, dt_ms: int) -> None:
        if dt_ms > self.cloud.tick_ms:
            self._repeat(dt_ms)
            return
        self._scan()
        self._spend_credits(dt_ms)
        self.cost_peak = max(self.cost_peak, self.cost_per_hour())
        self._record(self.cloud.now_ms - dt_ms)
        if not self._open:
            return
        for offered, failed_by in self._step_requests():
            self._add_requests(offered, failed_by)
        if self.whole():
            now = self.cloud.now_ms
            lost = self._objects_lost()
            for inc in self._open:
                inc.end_ms = now
                inc.lost_after = lost
                self.cloud.emit(
                    "incident.recovered",
                    incident=inc.n,
                    part=inc.part,
                    id=inc.id,
                    seconds=inc.seconds(now),
                    requests_failed=sum(inc.failed.values()),
                    objects_lost=lost - inc.lost_before,
                )
            self._open = []

    # -- the steady state ----------------------------------------------------------------
    def quiet_until(self, now_ms: int, until_ms: int, sampled: bool) -> int:
        """With every event read, a step changes what it counts only in ways a stretch
        can add at once: the history's minutes; the CPU credits, when every account is
        steady under the load balancer's steady cycle (:meth:`_steady_accounts`: full,
        empty, filling or draining; a draining bank's stretch ends before the step that
        would empty it); and the requests of the incidents open, when the service is not
        whole and the steps are all alike (the last one too), so that it stays not whole."""
        self._quiet = None
        if len(self.cloud.log) != self._seen:
            return now_ms
        lbs = self.cloud.get(LoadBalancing)
        served = lbs.steady_served() if lbs is not None else {}
        if served is None:
            return now_ms
        if self._open:
            if lbs is None or any(self.cloud.get(kind) is not None for kind in TRAFFIC):
                return now_ms
            if (lbs.last_step_offered, lbs.last_step_failed_by) != lbs.steady_step() or self.whole():
                return now_ms
        accounts = self._steady_accounts(lbs, served)
        if accounts is None:
            return now_ms
        tick = self.cloud.tick_ms
        to = until_ms - until_ms % tick  # a last part of a step is stepped
        for a in accounts:
            if a.bank == "draining":  # up to the step that would empty it (and start billing)
                to = min(to, now_ms + a.balance_after((to - now_ms) // tick)[0] * tick)
        if to > now_ms:
            self._quiet = (now_ms, accounts)
        return to

    def _steady_accounts(self, lbs: LoadBalancing | None, served: dict[str, list[int]]) -> list[SteadyAccount] | None:
        """Each billed instance's account with the requests it does in each step of the
        cycle and what each step earns; None unless every account is steady: its
        minute's average the same at every step, and its bank full and staying full,
        empty and staying empty with its surplus rate billed, or filling or draining
        (every step earning, or every step spending, with nothing billed)."""
        tick = self.cloud.tick_ms
        hours = tick / 3_600_000
        rps_per_vcpu = lbs.config.rps_per_vcpu if lbs is not None else 1
        totals = self._served_by_instance(lbs)
        out = []
        for inst in self.cloud.control.instances.values():
            if inst.state not in BILLED_STATES:
                continue
            acct = self.credits.get(inst.id)
            if acct is None or acct.served != totals.get(inst.name, 0) or acct.average_type is not inst.type:
                return None
            done = served.get(inst.name) or [0]
            window = acct.window
            n = len(window)
            # one step in, one out: the minute's window holds whole steps of the cycle
            if not CPU_WINDOW_MS <= acct.window_ms < CPU_WINDOW_MS + tick or any(w[0] != tick for w in window):
                return None
            p = len(done)
            if any(window[n - 1 - i][1] != done[(-1 - i) % p] for i in range(n)):
                return None
            if any(sum(done[(j - i) % p] for i in range(n)) != acct.window_done for j in range(p)):
                return None  # the minute's average would move
            t = inst.type
            vcpus = t.vcpus
            # each step's credits earned: _spend_credits' formula, term for term (min() for
            # its clamp of busy to vcpus), so the floats are stepping's; change both together
            earned = [(t.credits_per_hour - min(d * 1000 / tick / rps_per_vcpu, float(vcpus)) * 60) * hours for d in done]
            if all(x >= 0 for x in earned) and acct.usd_per_hour == 0.0:
                bank = "full" if acct.balance == t.max_credits else "filling"
            elif all(x < 0 for x in earned):
                if acct.balance == 0.0 and acct.usd_per_hour == acct.surplus_rate:
                    bank = "empty"
                elif acct.balance > 0 and acct.usd_per_hour == 0.0:
                    bank = "draining"
                else:
                    return None
            else:
                return None
            out.append(SteadyAccount(acct, inst.name, done, earned, bank, t.max_credits))
        if len(self.credits) != len(out):
            return None
        return out

    def _served_by_instance(self, lbs: LoadBalancing | None) -> dict[str, int]:
        totals: dict[str, int] = {}
        if lbs is not None:
            for lb in lbs.balancers.values():
                for t in lb.targets.values():
                    totals[t.instance] = totals.get(t.instance, 0) + t.served
        return totals

    def _repeat(self, dt_ms: int) -> None:
        """The steps of a stretch quiet_until allowed, added at once."""
        tick = self.cloud.tick_ms
        steps, rest = divmod(dt_ms, tick)
        start = self.cloud.now_ms - dt_ms
        if rest or self._quiet is None or self._quiet[0] != start:
            raise RuntimeError(f"reliability was asked to run {dt_ms} ms as one step outside a steady state")
        lbs = self.cloud.get(LoadBalancing)
        totals = self._served_by_instance(lbs)
        for a in self._quiet[1]:
            acct, done = a.acct, a.done
            acct.served = totals.get(a.instance, 0)
            p, n = len(done), len(acct.window)
            acct.window = deque((tick, done[(steps - n + i) % p]) for i in range(n))
            # the same float sums, in the same order, as step by step
            if a.bank == "empty":
                acct.surplus = reduce(operator.sub, islice(cycle(a.earned), steps), acct.surplus)
            elif a.bank != "full":
                ran, acct.balance = a.balance_after(steps)
                if ran != steps:
                    raise RuntimeError(f"the CPU credits of {a.instance} would run out inside a steady stretch")
        self.cost_peak = max(self.cost_peak, self.cost_per_hour())
        if self._open:
            assert lbs is not None
            self._add_requests(lbs.last_step_offered, lbs.last_step_failed_by, steps)
        self._record(start, steps)
        self._quiet = None

    def _step_requests(self) -> list[tuple[int, dict[str, int]]]:
        """The last step's requests offered and failed (by reason), from every mechanism
        that serves requests: the failure-design load balancer, the distributed one, the
        edge network."""
        out = []
        lbs = self.cloud.get(LoadBalancing)
        if lbs is not None:
            out.append((lbs.last_step_offered, lbs.last_step_failed_by))
        balancer = self.cloud.get(Balancer)
        if balancer is not None:
            out.append((balancer.last_offered, balancer.last_failed_by))
        edge = self.cloud.get(EdgeNetwork)
        if edge is not None:
            out.append((edge.last_offered, {"pop_down": edge.last_failed}))
        return out

    def _add_requests(self, offered: int, failed_by: dict[str, int], times: int = 1) -> None:
        """``times`` steps' requests, each offering and failing these (by reason), to
        every incident open."""
        failed = [(k, v) for k, v in failed_by.items() if v]
        for inc in self._open:
            inc.offered += times * offered
            counts = inc.failed
            for k, v in failed:
                counts[k] = counts.get(k, 0) + times * v

    def _record(self, start_ms: int, steps: int = 1) -> None:
        """``steps`` steps from ``start_ms``, a tick apart (the last one may be shorter),
        each like the last step, in the history: each counts in the minute it begins in."""
        history, tick = self.history, self.cloud.tick_ms
        lbs = self.cloud.get(LoadBalancing)
        offered = lbs.last_step_offered if lbs is not None else 0
        failed = lbs.last_step_failed if lbs is not None else 0
        store = self.cloud.get(ObjectStore)
        at = start_ms
        while steps > 0:
            minute_start = at // HISTORY_BUCKET_MS * HISTORY_BUCKET_MS
            n = min(steps, -(-(minute_start + HISTORY_BUCKET_MS - at) // tick))  # the steps in this minute
            if not history or history[-1].start_ms != minute_start:
                history.append(Minute(minute_start))
                if len(history) > MAX_HISTORY:
                    del history[0]
            minute = history[-1]
            minute.offered += n * offered
            minute.failed += n * failed
            if store is not None:
                minute.short = max(minute.short, store.chunks_under)
            minute.open = max(minute.open, len(self._open))
            steps -= n
            at += n * tick

    # -- metrics ------------------------------------------------------------------------
    def metrics(self) -> dict[str, float | int]:
        self._scan()
        now = self.cloud.now_ms
        cost = self.cost_per_hour()
        self.cost_peak = max(self.cost_peak, cost)  # what a command just bought counts too
        out: dict[str, float | int] = {
            "cost_per_hour": cost,
            "cost_peak_per_hour": round(self.cost_peak, 6),
            "cpu_surplus_per_hour": self.surplus_per_hour(),
            "incidents": len(self.incidents),
            "incidents_open": sum(1 for i in self.incidents if i.open),
            "time_to_recover_s": max((i.seconds(now) for i in self.incidents), default=0.0),
            "verify_passed": self.verify_status() if self.verify_status is not None else 0,
        }
        if self.config.budget_per_hour is not None:
            out["budget_per_hour"] = self.config.budget_per_hour
        for inc in self.incidents:
            out[f"time_to_recover_s.{inc.n}"] = inc.seconds(now)
        return out

    def report(self) -> list[dict[str, Any]]:
        """Every incident with its evidence, for the CLI and the views."""
        self._scan()
        now, lost = self.cloud.now_ms, self._objects_lost()
        return [i.as_dict(now, lost) for i in self.incidents]


def _note(event) -> str:
    t = f"t={event.t_ms / 1000:g}s"
    k = event.kind
    g = event.get
    if k == "lb.errors_started":
        return f"{t} requests began failing ({g('cause').replace('_', ' ')})"
    if k == "lb.errors_stopped":
        return f"{t} requests stopped failing after {g('lasted_s'):g}s"
    if k == "storage.host_dead":
        return f"{t} storage declared {g('host')} dead after {g('silent_s'):g}s of silence"
    if k == "storage.at_risk":
        return f"{t} {g('chunks')} chunks under-replicated"
    if k == "storage.protected":
        return f"{t} storage fully protected again (repair took {g('repair_seconds'):g}s)"
    if k == "storage.object_lost":
        return f"{t} object {g('object')} LOST (chunk {g('chunk')}, {g('scheme')})"
    if k == "instance.unreachable":
        return f"{t} instance {g('instance')} unreachable"
    if k == "instance.recovered":
        return f"{t} instance {g('instance')} back"
    if k == "fault.repaired":
        return f"{t} {g('part')} {g('id')} repaired"
    if k == "balancer.backend_unhealthy":
        return f"{t} {g('zone')} took backend {g('backend')} out"
    if k == "balancer.backend_healthy":
        return f"{t} {g('zone')} put backend {g('backend')} back"
    if k == "balancer.node_joined":
        return f"{t} balancer node {g('node')} joined ({g('connections_broken')} connections broken)"
    if k == "fabric.failure_detected":
        return f"{t} the fabric noticed {g('part')} {g('id')} down after {g('after_s'):g}s"
    if k == "fabric.converged":
        return f"{t} the fabric converged ({g('flows_moved')} flows moved, {g('blackholed')} still black-holed)"
    if k == "edge.rerouted":
        return f"{t} {g('city')}'s users moved from {g('was')} to {g('now') or 'nowhere'}"
    return ""


def attach(cloud: "Cloud", spec: ReliabilitySpec) -> Reliability:
    rel = Reliability(cloud, spec)
    cloud.metric_sources.append(rel.metrics)
    cloud.add_step_hook(rel.step, rel.quiet_until)
    return rel


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    ("cost_per_hour", "what the design costs per hour"),
    ("cost_peak_per_hour", "the most it cost per hour"),
    ("cpu_surplus_per_hour", "CPU above the t3 baselines, billed per hour now (unlimited mode, $0.05 a vCPU-hour)"),
    ("budget_per_hour", "the budget per hour"),
    ("incidents", "incidents so far"),
    ("incidents_open", "incidents not yet recovered"),
    Metric("time_to_recover_s", "the worst incident's time to recover", clocked=True),
    Metric("time_to_recover_s.{incident}", "one incident's time to recover", "incident {} has not happened yet", clocked=True),
    ("verify_passed", "seeds the last verify passed"),
)
EVENTS = events(
    ("incident.recovered", "incident part id seconds requests_failed objects_lost", "the service was whole again"),
    ("cpu.surplus_started", "instance cpu_pct baseline_pct", "a t3 instance's credits ran out: its CPU above baseline is billed"),
)
