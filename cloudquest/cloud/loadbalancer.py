"""Load balancing: a front door that health-checks its targets and routes around failures.

An AWS Application Load Balancer is not one machine. It is a set of *load balancer
nodes*, one in each Availability Zone enabled for it; DNS spreads clients over the
nodes, and each node forwards requests to the registered *targets* of a target group
(with cross-zone load balancing, the ALB default, to targets in every zone). What this
module models, following AWS's documentation ("Health checks for Application Load
Balancer target groups"):

- **Each node checks every target itself**, every ``HealthCheckIntervalSeconds``
  (default 30, range 5-300). A check fails when no answer comes within
  ``HealthCheckTimeoutSeconds`` (default 5, range 2-120, and less than the interval):
  the node knows it has failed only when that timeout expires, so a failure counts one
  timeout after the check was sent, a pass as soon as the answer is back.
- **Thresholds**: a healthy target is taken out of service after
  ``UnhealthyThresholdCount`` consecutive failures (default 2, range 2-10) and put back
  after ``HealthyThresholdCount`` consecutive successes (default 5, range 2-10). A newly
  registered target starts ``initial`` and must pass one check to turn healthy.
- **Routing**: a node sends requests only to targets *it* believes healthy, round robin
  (the ALB default algorithm). If it believes none is healthy it *fails open* and
  spreads requests over every registered target, whatever their health.

That is where the **detection gap** comes from: between a target dying and the node's
second failed check timing out (35 to 65 s with the defaults), the node keeps sending
it requests,
and they fail. Each node learns on its own clock, so for a while some nodes route
around a dead target and others do not. Health checks are also *shallow*: a target that
answers a check within its timeout is healthy even if real requests time out (a gray
failure).

The service around the load balancers (one per world, the ``loadbalancer`` section)
holds what the game needs to turn this into availability:

- the **load curve**: offered requests per second over time, piecewise constant
  (``load: [{at_s: 60, rps: 100}, ...]``), offered to the ``entry`` load balancer;
- each target answers in ``response_ms`` (plus the cross-zone link's latency), times
  ``degraded_slowdown`` if its host, rack, zone or root disk is degraded; a client gives
  up after ``client_timeout_ms``;
- each target serves at most ``rps_per_vcpu`` per vCPU of its instance, with a queue
  that holds one more second of work; load above that is shed;
- a request reads one object of the service's data, uniformly, when the world stores
  data (cloud/storage.py): a request for an object that is unreadable fails.

``availability_pct`` = requests served / requests offered * 100 over the run.

Where the game simplifies: requests are counted per simulation step (one tick) and
routed with the state at the end of the step; DNS removes a node in a failed zone at
once (real DNS answers are cached for the record's TTL, 60 s for ELB); there are no
client retries, no connection draining on deregistration, no slow start, and a node
needs no host of its own (it fails only with its zone). Consistent hashing and node
scaling belong to the load balancer chapter, which builds on :class:`LoadBalancer`.

Nothing here is drawn at random but the checks' phases, so time can be skipped without
changing a thing. A health check that can only say the same again (a healthy target
that answers, an unhealthy one that does not, a node that is down) sleeps instead of
firing every interval; it is woken when its answer may change (a part's health, a
setting, an event about its instance), the checks slept through counted as they would
have been, each failure when its timeout expires. Under a constant load the routing
state (round-robin positions, token buckets) goes round a short cycle in which every
step offers, serves and fails the same: the cloud's fast-forward may then run hours as
one step (:meth:`LoadBalancing.quiet_until`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import Field, field_validator, model_validator

from .mechanism import Metric, events, metrics
from .errors import CloudError
from .hardware import Health
from .storage import ObjectStore
from .world import CoreWorld, Strict, known

if TYPE_CHECKING:
    from .cloud import Cloud
    from .control_plane import Instance

# Application Load Balancer target-group health checks, from AWS's documentation
# ("Health checks for Application Load Balancer target groups", Health check settings):
# setting -> (lowest, highest, default) for instance targets.
HEALTH_CHECK_LIMITS: dict[str, tuple[int, int, int]] = {
    "interval_s": (5, 300, 30),  # HealthCheckIntervalSeconds
    "timeout_s": (2, 120, 5),  # HealthCheckTimeoutSeconds
    "healthy_threshold": (2, 10, 5),  # HealthyThresholdCount
    "unhealthy_threshold": (2, 10, 2),  # UnhealthyThresholdCount
}
SETTING_ALIASES = {
    "interval": "interval_s",
    "timeout": "timeout_s",
    "healthy": "healthy_threshold",
    "healthy-threshold": "healthy_threshold",
    "unhealthy": "unhealthy_threshold",
    "unhealthy-threshold": "unhealthy_threshold",
}
# An ALB's hourly charge in us-east-1 (AWS Elastic Load Balancing pricing); the game
# leaves out the per-LCU charge for traffic.
ALB_USD_PER_HOUR = 0.0225
NAME_PATTERN = "lower-case letters, digits and '-', starting with a letter, up to 32"
MAX_LOAD_RPS = 10_000_000

ANSWERS, DEAD, SLOW = 0, 1, 2  # what a request finds at a target
# The longest cycle of routing states (round-robin positions, token buckets) looked for
# in a steady state: lcm(1..6) = 60 covers every node of up to six targets, twice.
MAX_PERIOD = 120
FAIL_REASONS = ("dead_target", "slow", "overload", "no_route", "data")


@dataclass(frozen=True)
class HealthCheck:
    interval_s: int = 30
    timeout_s: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2

    def changed(self, name: str, value: Any) -> "HealthCheck":
        """A copy with one setting changed, checked against AWS's ranges (CloudError)."""
        key = SETTING_ALIASES.get(name, name)
        if key not in HEALTH_CHECK_LIMITS:
            names = ", ".join(k.replace("_s", "").replace("_", "-") for k in HEALTH_CHECK_LIMITS)
            raise CloudError("ValidationError", f"no health check setting {name!r} (settings: {names})")
        lo, hi, _ = HEALTH_CHECK_LIMITS[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise CloudError("ValidationError", f"{key} must be a whole number from {lo} to {hi}, not {value!r}")
        if not lo <= int(value) <= hi:
            raise CloudError("ValidationError", f"{key} must be from {lo} to {hi} (AWS's range), not {value:g}")
        new = replace(self, **{key: int(value)})
        if new.timeout_s >= new.interval_s:
            raise CloudError(
                "ValidationError",
                f"the health check timeout ({new.timeout_s} s) must be less than the interval ({new.interval_s} s); "
                "change the other setting first",
            )
        return new

    def describe(self) -> str:
        return (
            f"every {self.interval_s} s, timeout {self.timeout_s} s, "
            f"unhealthy after {self.unhealthy_threshold} failures, healthy after {self.healthy_threshold} passes"
        )

    def judge(self, view: Any, ok: bool) -> str | None:
        """One check's result applied to a checker's view of a target (its ``state``,
        consecutive ``passes`` and ``failures``): the state it must move to, or None."""
        if ok:
            view.passes += 1
            view.failures = 0
            if view.state == "initial" or (view.state == "unhealthy" and view.passes >= self.healthy_threshold):
                return "healthy"
        else:
            view.failures += 1
            view.passes = 0
            if view.state != "unhealthy" and view.failures >= self.unhealthy_threshold:
                return "unhealthy"
        return None

    def detection_gap_s(self) -> tuple[int, int]:
        """Shortest and longest time from a target dying to a node marking it unhealthy:
        the next check goes out 0 to one interval later, threshold-1 more intervals pass,
        and the last failed check counts when its timeout expires."""
        n = self.unhealthy_threshold - 1
        return n * self.interval_s + self.timeout_s, (n + 1) * self.interval_s + self.timeout_s


@dataclass(frozen=True)
class LoadPoint:
    at_ms: int
    rps: int


def load_at(points: tuple[LoadPoint, ...], t_ms: int) -> int:
    """The requests per second a piecewise-constant load curve offers at ``t_ms``."""
    rps = 0
    for p in points:
        if p.at_ms > t_ms:
            break
        rps = p.rps
    return rps


def load_between(points: tuple[LoadPoint, ...], start_ms: int, end_ms: int) -> int:
    """Milli-requests (rps x ms) the curve offers in [start, end): its exact integral."""
    milli = 0
    for i, p in enumerate(points):
        seg_end = points[i + 1].at_ms if i + 1 < len(points) else end_ms
        lo, hi = max(start_ms, p.at_ms), min(end_ms, seg_end)
        if hi > lo:
            milli += p.rps * (hi - lo)
    return milli


def load_points(spec: "list[LoadPointSpec]") -> tuple[LoadPoint, ...]:
    return tuple(LoadPoint(int(round(p.at_s * 1000)), p.rps) for p in spec)


class ErrorRuns:
    """Logs the start and the end of each run of steps in which requests failed (not
    every step): ``<prefix>.errors_started`` and ``<prefix>.errors_stopped``."""

    def __init__(self, cloud: "Cloud", prefix: str, reasons: tuple[str, ...]) -> None:
        self.cloud, self.prefix, self.reasons = cloud, prefix, reasons
        self.since: int | None = None
        self.count = 0

    def note(self, total_failed: int, failed: dict[str, int]) -> None:
        cloud = self.cloud
        if total_failed and self.since is None:
            self.since = cloud.now_ms
            self.count = 0
            main = max(self.reasons, key=lambda k: failed[k])
            cloud.emit(f"{self.prefix}.errors_started", failed=total_failed, cause=main)
        if self.since is not None:
            self.count += total_failed
            if not total_failed:
                cloud.emit(f"{self.prefix}.errors_stopped", failed=self.count, lasted_s=(cloud.now_ms - self.since) / 1000)
                self.since = None


class CycleKey(NamedTuple):
    """What a steady cycle holds for: the routing plan changes only with an event or a
    part's health (a lost object too), the entry with an API call (so with the log)."""

    log_length: int
    health_version: int
    lb: "LoadBalancer | None"  # the entry
    rps: int  # the load


@dataclass(eq=False)
class Cycle:
    """A steady state's routing: the states it goes through, one step apart, before it
    is back where it began, and what each step does (the same requests offered, served
    and failed every step; each target's share moves with the round robin)."""

    key: CycleKey
    states: list[tuple[Any, ...]]
    index: dict[tuple[Any, ...], int]
    targets: list["Target"]
    shares: list[list[tuple[int, int, int]]]  # step -> target -> (sent, served, failed)
    offered: int
    served: int
    failed: dict[str, int]

    def shares_from(self, phase: int, steps: int) -> list[tuple[int, int, int]]:
        """Each target's (sent, served, failed) over ``steps`` steps from ``phase``."""
        p = len(self.states)
        whole, rest = divmod(steps, p)
        out = []
        for i in range(len(self.targets)):
            total = [0, 0, 0]
            for j in range(p):
                n = whole + ((j - phase) % p < rest)
                if n:
                    for k in range(3):
                        total[k] += n * self.shares[j][i][k]
            out.append((total[0], total[1], total[2]))
        return out


@dataclass(frozen=True)
class ServiceConfig:
    load: tuple[LoadPoint, ...] = ()
    response_ms: float = 40.0
    client_timeout_ms: float = 1000.0
    degraded_slowdown: float = 80.0
    rps_per_vcpu: int = 25
    usd_per_hour: float = ALB_USD_PER_HOUR
    entry: str | None = None


# -- the world section ----------------------------------------------------------------------
def _limits(key: str) -> dict[str, int]:
    lo, hi, default = HEALTH_CHECK_LIMITS[key]
    return {"default": default, "ge": lo, "le": hi}


class HealthCheckSpec(Strict):
    """ALB target-group health check settings, AWS's ranges and defaults."""

    interval_s: int = Field(**_limits("interval_s"))
    timeout_s: int = Field(**_limits("timeout_s"))
    healthy_threshold: int = Field(**_limits("healthy_threshold"))
    unhealthy_threshold: int = Field(**_limits("unhealthy_threshold"))

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> "HealthCheckSpec":
        if self.timeout_s >= self.interval_s:
            raise ValueError(f"timeout_s ({self.timeout_s}) must be less than interval_s ({self.interval_s})")
        return self

    def health_check(self) -> HealthCheck:
        return HealthCheck(self.interval_s, self.timeout_s, self.healthy_threshold, self.unhealthy_threshold)


class LoadPointSpec(Strict):
    at_s: float = Field(ge=0)
    rps: int = Field(ge=0, le=MAX_LOAD_RPS, description="requests per second from at_s on")


class BalancerSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    zones: list[str] | None = Field(default=None, description="one node per zone (default: every zone of the region)")
    targets: list[str] = Field(default_factory=list, description="instances of the world to register")
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)


class LoadBalancingSpec(Strict):
    """Load balancers, the load offered to them, and how targets answer."""

    load: list[LoadPointSpec] = Field(default_factory=list, description="the load curve, piecewise constant")
    response_ms: float = Field(default=40, gt=0, le=60_000)
    client_timeout_ms: float = Field(default=1000, ge=1, le=600_000)
    degraded_slowdown: float = Field(default=80, ge=1, le=100_000)
    rps_per_vcpu: int = Field(default=25, ge=1, le=1_000_000)
    usd_per_hour: float = Field(default=ALB_USD_PER_HOUR, ge=0, le=1000)
    entry: str | None = Field(default=None, description="the load balancer the load arrives at (default: the first)")
    balancers: list[BalancerSpec] = Field(default_factory=list)

    @field_validator("load")
    @classmethod
    def _in_order(cls, load: list[LoadPointSpec]) -> list[LoadPointSpec]:
        times = [p.at_s for p in load]
        if times != sorted(times) or len(set(times)) != len(times):
            raise ValueError("load points must be in time order, one per time")
        return load

    def config(self) -> "ServiceConfig":
        return ServiceConfig(
            load=load_points(self.load),
            response_ms=self.response_ms,
            client_timeout_ms=self.client_timeout_ms,
            degraded_slowdown=self.degraded_slowdown,
            rps_per_vcpu=self.rps_per_vcpu,
            usd_per_hour=self.usd_per_hour,
            entry=self.entry,
        )


def check_world(world: CoreWorld, spec: LoadBalancingSpec) -> None:
    """Cross-references: balancers name zones and instances of the world."""
    instances = {i.name for i in world.instances}
    zones = set(world.zone_names())
    names = [b.name for b in spec.balancers]
    if len(set(names)) != len(names):
        raise ValueError("two load balancers share a name")
    for b in spec.balancers:
        for z in b.zones or []:
            if z not in zones:
                raise ValueError(f"load balancer {b.name}: no zone {z!r} (zones: {known(zones)})")
        if b.zones is not None and len(b.zones) < 2:
            raise ValueError(f"load balancer {b.name}: an Application Load Balancer needs at least two zones")
        for t in b.targets:
            if t not in instances:
                raise ValueError(
                    f"load balancer {b.name}: target {t!r} is not an instance of this world "
                    f"(instances: {', '.join(sorted(instances)) or 'none'})"
                )


@dataclass(eq=False)
class View:
    """One load balancer node's opinion of one target."""

    state: str = "initial"
    passes: int = 0  # consecutive
    failures: int = 0  # consecutive
    since_ms: int = 0
    reason: str = "Elb.InitialHealthChecking"
    generation: int = 0  # bumped to cancel the pending check chain
    # While its checks can only say the same again they sleep (see LoadBalancer._check):
    # the last check's time and answer, (ok, reason), or None when the node was down.
    asleep_at: int | None = None
    asleep_answer: tuple[bool, str] | None = None


@dataclass(eq=False)
class Target:
    instance: str
    registered_ms: int
    views: dict[str, View] = field(default_factory=dict)  # node zone -> view
    sent: int = 0
    served: int = 0
    failed: int = 0
    tokens: int = 0  # requests it can take now: its queue's free room (up to 2 s of work)
    capacity_rps: int = 0


@dataclass
class Probe:
    """What a request (or a health check) finds when it reaches a target."""

    answers: bool
    latency_ms: float
    reason: str


class LoadBalancer:
    """One load balancer with one target group (an ALB with one listener rule)."""

    def __init__(self, service: "LoadBalancing", name: str, zones: list[str], health_check: HealthCheck) -> None:
        self.service = service
        self.cloud = service.cloud
        self.name = name
        self.zones = zones  # one node per enabled zone
        self.health_check = health_check
        self.targets: dict[str, Target] = {}
        self._rr: dict[str, int] = dict.fromkeys(zones, 0)  # round-robin position per node
        self._node_rr = 0

    # -- registration -------------------------------------------------------------------
    def register(self, instance: str) -> Target:
        cloud = self.cloud
        inst = cloud.control.instances.get(instance)
        if inst is None or not inst.alive:
            known = ", ".join(sorted(i.name for i in cloud.control.alive())) or "none"
            raise CloudError("InvalidTarget", f"no live instance named {instance!r} to register (instances: {known})")
        if instance in self.targets:
            raise CloudError("DuplicateTarget", f"{instance} is already registered with {self.name}")
        region = cloud.hardware.zones[self.zones[0]].region.id
        if inst.zone is not None and cloud.hardware.zones[inst.zone].region.id != region:
            raise CloudError("InvalidTarget", f"{instance} is in another region than load balancer {self.name}")
        now = cloud.now_ms
        cap = self.service.capacity_rps(instance)
        target = Target(instance, now, {z: View(since_ms=now) for z in self.zones}, tokens=2 * cap, capacity_rps=cap)
        self.targets[instance] = target
        cloud.api_call("RegisterTargets", load_balancer=self.name, instance=instance)
        for zone in self.zones:
            self._start_checks(target, zone)
        return target

    def deregister(self, instance: str) -> None:
        target = self.targets.get(instance)
        if target is None:
            known = ", ".join(self.targets) or "none"
            raise CloudError("InvalidTarget", f"{instance!r} is not registered with {self.name} (targets: {known})")
        self.cloud.api_call("DeregisterTargets", load_balancer=self.name, instance=instance)
        for view in target.views.values():
            view.generation += 1  # stops its checks
        del self.targets[instance]

    def configure(self, setting: str, value: Any) -> tuple[Any, Any]:
        new = self.health_check.changed(setting, value)
        key = SETTING_ALIASES.get(setting, setting)
        old_value = getattr(self.health_check, key)
        # the checks asleep catch up under the old settings, then run under the new ones
        self.service.wake(self, self.cloud.now_ms)
        self.health_check = new
        self.cloud.api_call("ModifyTargetGroup", load_balancer=self.name, setting=key, value=getattr(new, key))
        if key == "interval_s":
            # the new interval starts now: restart every chain with a fresh phase
            for target in self.targets.values():
                for zone in self.zones:
                    target.views[zone].generation += 1
                    self._start_checks(target, zone)
        return old_value, getattr(new, key)

    # -- health checks ------------------------------------------------------------------
    def _start_checks(self, target: Target, zone: str) -> None:
        """The node's first check comes at a seeded phase within one interval (real
        nodes do not check in lock-step), then one every interval."""
        view = target.views[zone]
        token = view.generation
        interval_ms = self.health_check.interval_s * 1000
        first = self.cloud.now_ms + 1 + self.cloud.rng.randrange(interval_ms)
        self.cloud.clock.schedule(first, lambda: self._check(target, zone, token))

    def answer(self, target: Target, zone: str) -> tuple[bool, str] | None:
        """What a check by the node in ``zone`` finds now: (passed, reason it failed), or
        None when the node itself is down."""
        if not self.cloud.hardware.zones[zone].up:
            return None
        probe = self.service.probe(zone, target.instance)
        if probe.answers and probe.latency_ms <= self.health_check.timeout_s * 1000:
            return True, ""
        return False, probe.reason if not probe.answers else "Target.Timeout"

    def _check(self, target: Target, zone: str, token: int) -> None:
        view = target.views[zone]
        if view.generation != token or self.targets.get(target.instance) is not target:
            return  # deregistered, or its chain was restarted
        cloud = self.cloud
        hc = self.health_check
        found = self.answer(target, zone)  # None: the node is down, its opinion frozen
        if found is not None:
            if found[0]:
                # The answer is back at once: the chain and the node were checked just
                # above, so the result is judged here without going through _record's
                # checks again (most checks pass, hundreds of thousands of them in a long
                # verify).
                self._judge(target, zone, view, True, "")
            else:
                # No answer in time: known when the timeout expires. (Put on the clock
                # before the next check: the timeout is shorter than the interval, so the
                # two never fall in the same millisecond and their order is the clock's.)
                self._record_later(target, zone, token, cloud.now_ms, found[1])
        if (found is None or view.state == ("healthy" if found[0] else "unhealthy")) and self.service.may_sleep(hc):
            # the next checks can only say the same again: they sleep until the answer
            # may change (LoadBalancing.wake)
            view.asleep_at, view.asleep_answer = cloud.now_ms, found
            self.service.asleep[(self.name, target.instance, zone)] = (self, target, zone, view)
            return
        cloud.clock.schedule_in(hc.interval_s * 1000, lambda: self._check(target, zone, token))

    def _record_later(self, target: Target, zone: str, token: int, sent_ms: int, reason: str) -> None:
        at = sent_ms + self.health_check.timeout_s * 1000
        self.cloud.clock.schedule(at, lambda: self._record(target, zone, token, False, reason))

    def wake(self, target: Target, zone: str, view: View, change_ms: int, inclusive: bool, ran_ms: int) -> None:
        """Wake a sleeping check chain after its answer may have changed at
        ``change_ms``: the checks slept through before then (and at it, with
        ``inclusive``) count as the old answer, each failed one as it would have been
        recorded one timeout later; those after it are the answer of now. Everything due
        up to ``ran_ms`` has happened (a record not yet is put on the clock); the chain
        goes on at its own phase."""
        old, asleep_at = view.asleep_answer, view.asleep_at
        assert asleep_at is not None
        view.asleep_at = view.asleep_answer = None
        interval = self.health_check.interval_s * 1000
        token = view.generation
        last_old = change_ms if inclusive else change_ms - 1
        n_old = max(0, (last_old - asleep_at) // interval)  # checks slept through, old answer
        if old is not None and n_old:
            if old[0]:
                view.passes, view.failures = view.passes + n_old, 0
            else:
                # each failure counts when its timeout expires: those gone by now are
                # counted, the rest go on the clock
                timeout = self.health_check.timeout_s * 1000
                # check k (1..n_old) was sent at asleep_at + k * interval: the first
                # `done` of them timed out by ran_ms
                done = min(n_old, max(0, (ran_ms - asleep_at - timeout) // interval))
                for k in range(done + 1, n_old + 1):
                    self._record_later(target, zone, token, asleep_at + k * interval, old[1])
                if done:
                    view.passes, view.failures = 0, view.failures + done
                    view.reason = old[1]
        nxt = asleep_at + (n_old + 1) * interval  # the first check after the change
        if nxt <= ran_ms:  # it has happened (at most one: the change is less than a step old)
            if nxt + interval <= ran_ms:
                raise RuntimeError(f"health checks of {target.instance} slept through a change at {change_ms} ms")
            now = self.answer(target, zone)
            if now is not None:
                if now[0]:
                    if self.health_check.judge(view, True) is not None:
                        raise RuntimeError("a health check woken late would change a target's state")
                else:
                    self._record_later(target, zone, token, nxt, now[1])
            nxt += interval
        self.cloud.clock.schedule(nxt, lambda: self._check(target, zone, token))

    def _record(self, target: Target, zone: str, token: int, ok: bool, reason: str) -> None:
        view = target.views[zone]
        if view.generation != token or self.targets.get(target.instance) is not target:
            return
        if not self.cloud.hardware.zones[zone].up:
            return  # the node went dark while it waited
        self._judge(target, zone, view, ok, reason)

    def _judge(self, target: Target, zone: str, view: View, ok: bool, reason: str) -> None:
        """A check's result, still current, applied to the node's view of the target."""
        verdict = self.health_check.judge(view, ok)
        if verdict is not None:
            self._mark(target, zone, view, verdict, reason)
        elif not ok and view.state == "unhealthy":
            view.reason = reason

    def _mark(self, target: Target, zone: str, view: View, state: str, reason: str) -> None:
        view.state = state
        view.since_ms = self.cloud.now_ms
        view.reason = reason
        extra = {"reason": reason} if reason else {}
        self.cloud.emit(f"lb.target_{state}", load_balancer=self.name, node=zone, target=target.instance, **extra)

    # -- routing ------------------------------------------------------------------------
    def nodes_up(self) -> list[str]:
        zones = self.cloud.hardware.zones
        return [z for z in self.zones if zones[z].up]

    def routable(self, zone: str) -> tuple[list[Target], bool]:
        """The targets this node sends requests to, and whether it is failing open.
        (Views change only with an event, registrations with an API call: cached by the
        service's probe cache.)"""
        self.service._fresh()
        cache = self.service._routable
        found = cache.get((self.name, zone))
        if found is None:
            healthy = [t for t in self.targets.values() if t.views[zone].state == "healthy"]
            found = (healthy, False) if healthy else (list(self.targets.values()), bool(self.targets))
            cache[(self.name, zone)] = found
        return found

    def healthy_everywhere(self) -> int:
        nodes = self.nodes_up()
        return sum(1 for t in self.targets.values() if nodes and all(t.views[z].state == "healthy" for z in nodes))

    def plan(self) -> list[tuple[str, list[tuple[Target, int]]]]:
        """For each node that is up, its routable targets and what a request finds there
        (ANSWERS, DEAD or SLOW). Cached until a part's health or the log changes."""
        service = self.service
        service._fresh()
        found = service._plans.get(self.name)
        if found is None:
            timeout = service.config.client_timeout_ms
            found = []
            for zone in self.nodes_up():
                entries = []
                for t in self.routable(zone)[0]:
                    p = service.probe(zone, t.instance)
                    entries.append((t, DEAD if not p.answers else SLOW if p.latency_ms > timeout else ANSWERS))
                found.append((zone, entries))
            service._plans[self.name] = found
        return found


class LoadBalancing:
    """Every load balancer of the world, the offered load, and what became of it."""

    def __init__(self, cloud: "Cloud", config: ServiceConfig) -> None:
        self.cloud = cloud
        self.config = config
        self.balancers: dict[str, LoadBalancer] = {}
        self._acc = 0  # milli-requests carried over between steps
        self.offered = 0
        self.served = 0
        self.failed: dict[str, int] = dict.fromkeys(FAIL_REASONS, 0)
        self.last_step_failed = 0
        self.last_step_offered = 0
        self.last_step_failed_by: dict[str, int] = dict.fromkeys(FAIL_REASONS, 0)
        self._errors = ErrorRuns(cloud, "lb", FAIL_REASONS)
        self._cache_key: tuple[int, int] = (-1, -1)
        self._probes: dict[tuple[str, str], Probe] = {}
        self._routable: dict[tuple[str, str], tuple[list[Target], bool]] = {}
        self._plans: dict[str, list[tuple[str, list[tuple[Target, int]]]]] = {}
        # health checks asleep (LoadBalancer._check): (balancer, instance, node) -> chain
        self.asleep: dict[tuple[str, str, str], tuple[LoadBalancer, Target, str, View]] = {}
        self._settled_ms = -1  # every clock action due up to here has run (the last step's end)
        self._watched_log = 0  # the log's length when the sleeping checks were last looked at
        # the steady state (quiet_until): its cycle, the stretch quiet_until last allowed,
        # and the last state in which none was found (not looked for again for a while)
        self._cycle: Cycle | None = None
        self._quiet_from: int | None = None
        self._no_cycle: tuple[CycleKey, int] | None = None

    # -- API ----------------------------------------------------------------------------
    def create(self, name: str, zones: list[str] | None = None, health_check: HealthCheck | None = None) -> LoadBalancer:
        import re

        hw = self.cloud.hardware
        if not re.match(r"^[a-z][a-z0-9-]{0,31}$", name or ""):
            raise CloudError("ValidationError", f"bad load balancer name {name!r} ({NAME_PATTERN})")
        if name in self.balancers:
            raise CloudError("DuplicateLoadBalancerName", f"a load balancer named {name!r} already exists")
        if not zones:
            first = next(iter(hw.regions.values()), None)
            zones = [z.id for z in first.zones] if first else []
        unknown = [z for z in zones if z not in hw.zones]
        if unknown:
            raise CloudError("InvalidSubnet", f"unknown zone {unknown[0]!r} (zones: {', '.join(hw.zones)})")
        if len(set(zones)) != len(zones):
            raise CloudError("ValidationError", "each zone may be given once")
        if len(zones) < 2:
            raise CloudError("ValidationError", "an Application Load Balancer needs subnets in at least two zones")
        if len({hw.zones[z].region.id for z in zones}) > 1:
            raise CloudError("ValidationError", "a load balancer's zones must be in one region")
        lb = LoadBalancer(self, name, list(zones), health_check or HealthCheck())
        self.balancers[name] = lb
        self.cloud.api_call("CreateLoadBalancer", load_balancer=name, zones=",".join(zones))
        return lb

    def get(self, name: str) -> LoadBalancer:
        lb = self.balancers.get(name)
        if lb is None:
            known = ", ".join(self.balancers) or "none yet"
            raise CloudError("LoadBalancerNotFound", f"no load balancer named {name!r} (load balancers: {known})")
        return lb

    def entry(self) -> LoadBalancer | None:
        """The load balancer the offered load arrives at."""
        if self.config.entry is not None:
            return self.balancers.get(self.config.entry)
        return next(iter(self.balancers.values()), None)

    # -- sleeping health checks ------------------------------------------------------------
    def may_sleep(self, hc: HealthCheck) -> bool:
        """Checks may sleep when a change can be noticed before the next check after it:
        a step is shorter than a check's timeout (so shorter than its interval), and one
        check more can never change a target's state (both thresholds at least 2)."""
        return self.cloud.tick_ms < hc.timeout_s * 1000 and min(hc.healthy_threshold, hc.unhealthy_threshold) >= 2

    def wake(self, lb: "LoadBalancer | None", change_ms: int, only_changed: bool = False) -> None:
        """Wake the sleeping checks (of ``lb``, or all) whose answer may have changed at
        ``change_ms``, now: a part's health (told at once) or a setting changed."""
        now = self.cloud.now_ms
        # A change at the time the last step ended came after everything due then (a
        # command, or an action it put on the clock); one inside a step's actions came
        # before the checks due at the same millisecond, which were put on the clock an
        # interval earlier.
        inclusive = change_ms <= self._settled_ms
        for key, (b, target, zone, view) in self._sleeping():
            if (lb is None or b is lb) and (not only_changed or b.answer(target, zone) != view.asleep_answer):
                del self.asleep[key]
                b.wake(target, zone, view, change_ms, inclusive, now if inclusive else now - 1)

    def _sleeping(self) -> "list[tuple[tuple[str, str, str], tuple[LoadBalancer, Target, str, View]]]":
        """The chains asleep, forgetting those deregistered meanwhile. (A chain leaves
        ``asleep`` when it is woken, and a restart wakes its balancer's chains first: a
        chain still here is asleep, with its target's view for its node.)"""
        out = []
        for key, (b, target, zone, view) in list(self.asleep.items()):
            if b.targets.get(target.instance) is not target:
                del self.asleep[key]
            else:
                out.append((key, (b, target, zone, view)))
        return out

    def on_health(self, kind: str, ident: str, before: Health, after: Health) -> None:
        if self.asleep:
            self.wake(None, self.cloud.now_ms, only_changed=True)

    def _look_again(self) -> bool:
        """An instance changes only with an event: after the log has grown, wake the
        sleeping checks whose target now answers otherwise, from the first event about
        it (at the end of a step, everything due up to now has happened)."""
        log = self.cloud.log
        if len(log) == self._watched_log:
            return False
        since, self._watched_log = self._watched_log, len(log)
        if not self.asleep:
            return False
        events = log.since(since)
        woke = False
        first: dict[str, int] = {}
        for e in events:
            name = e.get("instance")
            if name is not None and name not in first:
                first[name] = e.t_ms
        for key, (b, target, zone, view) in self._sleeping():
            if b.answer(target, zone) != view.asleep_answer:
                del self.asleep[key]
                change = first.get(target.instance, events[0].t_ms)
                b.wake(target, zone, view, change, change <= self._settled_ms, self.cloud.now_ms)
                woke = True
        return woke

    # -- what a target does with a request ------------------------------------------------
    def slowdown(self, inst: "Instance") -> float:
        host = inst.host
        if host is None:
            return 1.0
        parts = [host, host.rack, host.rack.zone] + ([inst.disk] if inst.disk is not None else [])
        return self.config.degraded_slowdown if any(p.health is Health.DEGRADED for p in parts) else 1.0

    def path_latency_ms(self, node_zone: str, target_zone: str) -> float | None:
        """Extra latency of the path from a node to a target's zone (through a third zone
        when their own link is cut: a region's zones are meshed), or None when no path is
        left."""
        latency_us = self.cloud.hardware.zone_latency_us(node_zone, target_zone)
        return None if latency_us is None else latency_us / 1000

    def _fresh(self) -> dict[tuple[str, str], Probe]:
        """The probe cache, emptied whenever anything it depends on may have changed:
        a part's health (the hardware's health version) or an instance's state (every
        change of which is an event, so the log's length)."""
        key = (self.cloud.hardware.health_version, len(self.cloud.log))
        if key != self._cache_key:
            self._cache_key = key
            self._probes = {}
            self._routable = {}
            self._plans = {}
        return self._probes

    def probe(self, node_zone: str, instance: str) -> Probe:
        cache = self._fresh()
        found = cache.get((node_zone, instance))
        if found is None:
            found = cache[(node_zone, instance)] = self._probe(node_zone, instance)
        return found

    def _probe(self, node_zone: str, instance: str) -> Probe:
        inst = self.cloud.control.instances.get(instance)
        if inst is None or not inst.alive:
            return Probe(False, 0.0, "Target.InvalidState")
        if inst.state != "running" or not inst.booted:
            return Probe(False, 0.0, "Target.Timeout")  # impaired, or its guest still booting: no answer
        extra = self.path_latency_ms(node_zone, inst.zone or "")
        if extra is None:
            return Probe(False, 0.0, "Target.Timeout")
        return Probe(True, self.config.response_ms * self.slowdown(inst) + extra, "")

    def capacity_rps(self, instance: str) -> int:
        inst = self.cloud.control.instances.get(instance)
        return inst.type.vcpus * self.config.rps_per_vcpu if inst is not None else 0

    # -- the offered load ---------------------------------------------------------------
    def rps_at(self, t_ms: int) -> int:
        return load_at(self.config.load, t_ms)

    def _offer(self, start_ms: int, end_ms: int) -> int:
        """Requests offered in [start, end): the curve integrated exactly, in whole
        requests, the fraction carried to the next step."""
        self._acc += load_between(self.config.load, start_ms, end_ms)
        offered, self._acc = divmod(self._acc, 1000)
        return offered

    def step(self, dt_ms: int) -> None:
        now = self.cloud.now_ms
        self._look_again()
        self._settled_ms = now
        if dt_ms > self.cloud.tick_ms and self.rps_at(now - dt_ms):
            self._repeat(now - dt_ms, dt_ms)  # a steady stretch quiet_until allowed
            return
        offered = self._offer(now - dt_ms, now) if self.config.load else 0
        if not offered and self._errors.since is None:  # no request, no run of errors to end
            self.last_step_offered = self.last_step_failed = 0
            self.last_step_failed_by = dict.fromkeys(FAIL_REASONS, 0)
            return
        served, failed = self._serve(self.entry(), offered, dt_ms)
        total_failed = self._count(offered, served, failed)
        self._note_errors(total_failed, failed)

    def _serve(self, lb: "LoadBalancer | None", offered: int, dt_ms: int) -> tuple[int, dict[str, int]]:
        """One step's requests offered to the entry ``lb``: those served, and those
        failed by reason (all of them for want of a route without a load balancer)."""
        failed = dict.fromkeys(FAIL_REASONS, 0)
        if not offered:
            return 0, failed
        if lb is None:
            failed["no_route"] += offered
            return 0, failed
        return self._route(lb, offered, dt_ms, failed), failed

    def _count(self, offered: int, served: int, failed: dict[str, int], steps: int = 1) -> int:
        """Add ``steps`` steps that each offer, serve and fail these requests to the
        counters, the last of them as the last step's; the requests each fails."""
        self.offered += steps * offered
        self.served += steps * served
        for k, v in failed.items():
            self.failed[k] += steps * v
        total_failed = sum(failed.values())
        self.last_step_offered = offered
        self.last_step_failed = total_failed
        self.last_step_failed_by = failed
        return total_failed

    def _route(self, lb: LoadBalancer, offered: int, dt_ms: int, failed: dict[str, int]) -> int:
        """One step's requests through ``lb``: spread evenly over the nodes that are up
        (the remainder rotating), each node's share round robin over its routable targets
        (each of k gets q // k, and the q % k after the node's position one more), then
        each target serves what it answers in time, up to its capacity."""
        nodes = lb.plan()
        if not nodes:
            failed["no_route"] += offered
            return 0
        answered: dict[Target, int] = {}
        n = len(nodes)
        base, extra = divmod(offered, n)
        start = lb._node_rr
        rr = lb._rr
        for j, (zone, entries) in enumerate(nodes):
            q = base + ((j - start) % n < extra)
            k = len(entries)
            if not q:
                continue
            if not k:
                failed["no_route"] += q
                continue
            b, x = divmod(q, k)
            pos = rr[zone] % k
            for i, (target, outcome) in enumerate(entries):
                share = b + ((i - pos) % k < x)
                if not share:
                    continue
                target.sent += share
                if outcome == ANSWERS:
                    answered[target] = answered.get(target, 0) + share
                else:
                    failed["dead_target" if outcome == DEAD else "slow"] += share
                    target.failed += share
            rr[zone] = (pos + q) % k
        lb._node_rr = (start + offered) % n
        served = overload = 0
        for target in lb.targets.values():
            # A target's work queue, as a token bucket: it refills at the target's
            # capacity and can hold one more second of work, so the +-1 request that
            # round robin hands one target more than another in a step is absorbed, while
            # sustained load above capacity drains it and is shed. (Every target, every
            # step: the clamps are plain comparisons, not min(), which costs a call each.)
            cap = target.capacity_rps
            tokens = target.tokens + cap * dt_ms // 1000
            if tokens > 2 * cap:
                tokens = 2 * cap
            q = answered.get(target, 0)
            if q:
                ok = q if q < tokens else tokens
                tokens -= ok
                overload += q - ok
                target.failed += q - ok
                target.served += ok
                served += ok
            target.tokens = tokens
        failed["overload"] += overload
        unreadable, objects = self._data_unreadable()
        if unreadable and served:
            lost = served * unreadable // objects
            failed["data"] += lost
            served -= lost
        return served

    def _data_unreadable(self) -> tuple[int, int]:
        store = self.cloud.get(ObjectStore)
        return store.unreadable() if store is not None else (0, 0)

    def _note_errors(self, total_failed: int, failed: dict[str, int]) -> None:
        self._errors.note(total_failed, failed)

    # -- the steady state ------------------------------------------------------------------
    def quiet_until(self, now_ms: int, until_ms: int, sampled: bool) -> int:
        """Under a constant load, with nothing changing the routing plan, the routing
        state (round-robin positions, token buckets) goes round a short cycle in which
        every step offers, serves and fails the same: a stretch of steps then runs as
        one, each target given the shares of the steps it spans. With no load, a step
        only ends nothing (no run of errors open). A grader sampling every step sees the
        request counters move: that is stepped."""
        self._quiet_from = None
        if self._look_again():
            return now_ms  # a check woke: it is on the clock now
        tick = self.cloud.tick_ms
        to = until_ms - until_ms % tick  # a last part of a step is stepped
        for p in self.config.load:
            if p.at_ms > now_ms:  # the step holding the next change of the load is stepped
                to = min(to, p.at_ms // tick * tick)
                break
        if to <= now_ms:
            return now_ms
        rps = self.rps_at(now_ms)
        if not rps:
            if self._errors.since is not None:
                return now_ms
        elif sampled or self._steady_cycle(now_ms, rps) is None:
            return now_ms
        self._quiet_from = now_ms
        return to

    def _steady_cycle(self, now_ms: int, rps: int) -> Cycle | None:
        lb = self.entry()
        key = CycleKey(len(self.cloud.log), self.cloud.hardware.health_version, lb, rps)
        cycle = self._cycle
        if cycle is not None and cycle.key == key and self._routing_state(lb) in cycle.index:
            return cycle
        if self._no_cycle is not None and self._no_cycle[0] == key and now_ms < self._no_cycle[1]:
            return None  # looked for lately, in this same plan
        self._cycle = cycle = self._find_cycle(key)
        self._no_cycle = None if cycle is not None else (key, now_ms + MAX_PERIOD * self.cloud.tick_ms)
        return cycle

    def _routing_state(self, lb: LoadBalancer | None) -> tuple[Any, ...]:
        if lb is None:
            return (self._acc,)
        return (self._acc, lb._node_rr, tuple(lb._rr.values()), tuple(t.tokens for t in lb.targets.values()))

    def _set_routing_state(self, lb: LoadBalancer | None, state: tuple[Any, ...]) -> None:
        self._acc = state[0]
        if lb is not None:
            _, lb._node_rr, rr, tokens = state
            lb._rr = dict(zip(lb._rr, rr))
            for t, n in zip(lb.targets.values(), tokens):
                t.tokens = n

    def _find_cycle(self, key: CycleKey) -> Cycle | None:
        """Run the routing step by step from the state of now (then put it back) until
        it comes back to this state: a cycle, if every step offers, serves and fails the
        same, and in a way that opens or ends no run of errors."""
        tick, lb, rps = self.cloud.tick_ms, key.lb, key.rps
        targets = list(lb.targets.values()) if lb is not None else []
        kept = [(t.sent, t.served, t.failed) for t in targets]
        start = self._routing_state(lb)
        states: list[tuple[Any, ...]] = []
        index: dict[tuple[Any, ...], int] = {}
        shares: list[list[tuple[int, int, int]]] = []
        first: tuple[int, int, dict[str, int]] | None = None
        state = start
        try:
            while state not in index:
                if len(states) == MAX_PERIOD:
                    return None
                index[state] = len(states)
                states.append(state)
                before = [(t.sent, t.served, t.failed) for t in targets]
                self._acc += rps * tick
                offered, self._acc = divmod(self._acc, 1000)
                served, failed = self._serve(lb, offered, tick)
                if first is None:
                    first = (offered, served, failed)
                    if (sum(failed.values()) > 0) != (self._errors.since is not None):
                        return None  # a run of errors would start or end
                elif (offered, served, failed) != first:
                    return None
                shares.append([(t.sent - a, t.served - b, t.failed - c) for t, (a, b, c) in zip(targets, before)])
                state = self._routing_state(lb)
            if index[state] != 0 or first is None:
                return None  # not on its cycle yet
        finally:
            self._set_routing_state(lb, start)
            for t, (sent, served, failed_n) in zip(targets, kept):
                t.sent, t.served, t.failed = sent, served, failed_n
        return Cycle(key, states, index, targets, shares, first[0], first[1], first[2])

    def _repeat(self, start_ms: int, dt_ms: int) -> None:
        """The steps of a stretch quiet_until allowed, from the cycle: every counter
        grows by the steps' shares, the routing state ends where the steps would."""
        tick = self.cloud.tick_ms
        steps, rest = divmod(dt_ms, tick)
        cycle = self._cycle
        if rest or cycle is None or self._quiet_from != start_ms:
            raise RuntimeError(f"the load balancers were asked to run {dt_ms} ms as one step outside a steady state")
        lb = cycle.key.lb
        phase = cycle.index[self._routing_state(lb)]
        for t, (sent, served, failed) in zip(cycle.targets, cycle.shares_from(phase, steps)):
            t.sent += sent
            t.served += served
            t.failed += failed
        self._set_routing_state(lb, cycle.states[(phase + steps) % len(cycle.states)])
        total_failed = self._count(cycle.offered, cycle.served, dict(cycle.failed), steps)
        if self._errors.since is not None:
            self._errors.count += steps * total_failed
        self._quiet_from = None

    def steady_step(self) -> tuple[int, dict[str, int]] | None:
        """In the stretch quiet_until just allowed (None if it allowed none): the
        requests each step offers and fails, by reason."""
        if self._quiet_from is None:
            return None
        if not self.rps_at(self._quiet_from):
            return 0, dict.fromkeys(FAIL_REASONS, 0)
        assert self._cycle is not None
        return self._cycle.offered, self._cycle.failed

    def steady_served(self) -> dict[str, list[int]] | None:
        """In the stretch quiet_until just allowed (None if it allowed none): the
        requests each instance's targets serve in each step of the cycle, from now on
        (for the CPU credits); none without load."""
        if self._quiet_from is None:
            return None
        if not self.rps_at(self._quiet_from):
            return {}
        cycle = self._cycle
        assert cycle is not None
        lb = cycle.key.lb
        phase = cycle.index[self._routing_state(lb)]
        p = len(cycle.states)
        out: dict[str, list[int]] = {}
        for i, t in enumerate(cycle.targets):
            row = out.setdefault(t.instance, [0] * p)
            for j in range(p):
                row[j] += cycle.shares[(phase + j) % p][i][1]
        return out

    # -- whole again? -------------------------------------------------------------------
    def serving(self) -> bool:
        """The front door works: the last step lost nothing, and every node that is up
        sends only to targets that can answer in time (so it holds with no load too)."""
        if self.last_step_failed:
            return False
        lb = self.entry()
        if lb is None:
            return not self.config.load
        # The routing plan holds just that, cached: each node that is up, with what a
        # request finds at each target it routes to (this is asked at every step while
        # an incident is open).
        nodes = lb.plan()
        if not nodes:
            return False
        for _, entries in nodes:
            if not entries:
                return False
            for _, outcome in entries:
                if outcome != ANSWERS:
                    return False
        return True

    def cost_per_hour(self) -> float:
        """What the load balancers are billed per hour as they stand."""
        return len(self.balancers) * self.config.usd_per_hour

    # -- metrics ------------------------------------------------------------------------
    def availability_pct(self) -> float:
        if not self.offered:
            return 100.0
        return round(100 * self.served / self.offered, 4)

    def metrics(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "availability_pct": self.availability_pct(),
            "requests_offered": self.offered,
            "requests_served": self.served,
            "requests_failed": sum(self.failed.values()),
            "load_rps": self.rps_at(self.cloud.now_ms),
            "load_balancers": len(self.balancers),
        }
        for reason in FAIL_REASONS:
            out[f"requests_failed_{reason}"] = self.failed[reason]
        lb = self.entry()  # the front door's figures (all 0 before it exists)
        out["lb_targets"] = len(lb.targets) if lb is not None else 0
        out["lb_targets_healthy"] = lb.healthy_everywhere() if lb is not None else 0
        out["lb_nodes_up"] = len(lb.nodes_up()) if lb is not None else 0
        out["lb_capacity_rps"] = sum(self.capacity_rps(t) for t in lb.targets) if lb is not None else 0
        return out


def attach(cloud: "Cloud", spec: LoadBalancingSpec) -> LoadBalancing:
    """World key ``loadbalancer``: the load curve and service settings, and any load
    balancers the world starts with (their targets are registered once the world's
    instances exist)."""
    service = LoadBalancing(cloud, spec.config())
    cloud.metric_sources.append(service.metrics)
    cloud.add_step_hook(service.step, service.quiet_until)
    cloud.health_listeners.append(service.on_health)
    pending: list[tuple[LoadBalancer, list[str]]] = []
    for b in spec.balancers:
        lb = service.create(b.name, b.zones, b.health_check.health_check())
        pending.append((lb, list(b.targets)))
    if any(targets for _, targets in pending):
        # Instances named by the world are launched after the mechanisms attach; register
        # them at time 0, before the first step.
        def register_all() -> None:
            for lb, targets in pending:
                for name in targets:
                    lb.register(name)

        cloud.clock.schedule(0, register_all)
    return service


# -- what the mechanism publishes ------------------------------------------------------------
METRICS = metrics(
    ("availability_pct", "the share of requests served"),
    ("requests_offered", "requests offered"),
    ("requests_served", "requests served"),
    ("requests_failed", "requests failed"),
    Metric("load_rps", "the load offered now", clocked=True),
    ("load_balancers", "load balancers"),
    ("requests_failed_{reason}", "requests failed for one reason"),
    ("lb_targets", "targets of the front door"),
    ("lb_targets_healthy", "targets every node believes healthy"),
    ("lb_nodes_up", "the front door's nodes up"),
    ("lb_capacity_rps", "what the front door's targets can serve"),
)
EVENTS = events(
    ("lb.target_healthy", "load_balancer node target", "a node put a target in service"),
    ("lb.target_unhealthy", "load_balancer node target reason", "a node took a target out"),
    ("lb.errors_started", "failed cause", "requests began failing"),
    ("lb.errors_stopped", "failed lasted_s", "requests stopped failing"),
)
