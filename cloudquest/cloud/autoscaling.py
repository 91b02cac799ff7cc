"""Auto scaling: a group of instances that grows and shrinks with the load, by itself.

An Amazon EC2 Auto Scaling group keeps a *desired capacity* between its *minimum* and
*maximum*, spread over its Availability Zones, with instances built from a *launch
template* (their type; each change of the template is a new version). When the desired
capacity rises, the group's scale-out is an orchestration of the whole cloud, each step
taking time (the level's section 15):

1. **provision the VM**: RunInstances, through the launch pipeline (the scheduler picks a
   host, the hypervisor carves CPU and memory);
2. **attach its volume** (its root disk here);
3. **assign its network**: the interface, its private address, its security group;
   then the guest boots;
4. optionally a **lifecycle hook** holds it in ``Pending:Wait`` until something says
   ``CONTINUE`` (or the hook's timeout passes, with its default result, ``ABANDON``
   unless set otherwise): bootstrap scripts, cache warming;
5. **register with the load balancer's target group** (RegisterTargets);
6. **pass the health checks**: every node of the load balancer checks it
   (cloud/loadbalancer.py) and the instance is ``InService`` once all of them say it is
   healthy.

Scale-in runs the other way: the instances to go are chosen by the **termination
policy** (the default: the zone with the most instances first, then the instances of the
oldest launch template version, then the one closest to its next billing hour, then at
random), deregistered from the target group, left to **drain** for the deregistration
delay (300 s by default) so requests in flight finish, held by a terminating hook if
any, and terminated.

What moves the desired capacity (Amazon EC2 Auto Scaling User Guide):

- **target tracking**: keep a metric at a target (average CPU 50 %); AWS creates two
  alarms, one that fires after 3 one-minute datapoints above the target and scales out
  in proportion, one after 15 datapoints below 90 % of it, and scales in carefully;
- **step scaling**: an alarm on a threshold; the *breach* (metric minus threshold) picks
  a step, whose adjustment is a change in count, an exact capacity, or a percentage of
  the current capacity, rounded the documented way (above 1 down, between 0 and 1 to 1,
  between 0 and -1 to -1, below -1 up) and at least ``MinAdjustmentMagnitude``; it keeps
  acting every minute the alarm stays in ALARM;
- **simple scaling**: one adjustment per alarm, then a **cooldown** (300 s by default)
  during which the policy ignores its alarm;
- **instance warm-up**: for the default instance warm-up after InService, an instance's
  metrics stay out of the group's aggregate (its start-up burns CPU it will not burn
  later), it does not count as current capacity for step scaling, and scale-in waits;
- **scheduled actions**: set min, max or desired at a time, once or every so often;
- for comparison, the **Kubernetes Horizontal Pod Autoscaler** rule: every period,
  desired = ceil(current x current metric / target), skipped while the ratio is within
  the tolerance (0.1) of 1, pods not ready counted at 0 % when scaling up, and a
  scale-down only to the highest recommendation of the last 300 s (stabilization).

The load is a seeded **demand curve** (a base, a day's rhythm, slow ramps, flash
crowds, and a few percent of noise drawn once a minute from the session's generator),
offered each second to the instances in service. Each serves ``rps_per_vcpu`` requests a
second per vCPU (half that while its application starts up); what is above capacity
fails. Latency rises with utilisation as in an M/M/1 queue: the mean response time is
S / (1 - utilisation) for a service time S, response times spread exponentially around
it, so the 95th percentile is about three times the mean. Every minute (CloudWatch's
period) the group's metrics are aggregated: average CPU, requests per target, the
minute's p95 latency, and the policies decide.

Where the game simplifies: one group per world; requests are shared evenly by the
instances in service (as least-outstanding-requests routing would); a request that
fails counts as slower than any bound in a minute's p95; CloudWatch has no reporting
delay; target tracking's capacity rule (ceil of capacity x metric / target) is the
game's (AWS describes it as proportional and does not publish it); AWS marks an
instance InService once its hooks complete and lets the load balancer's checks decide
whether it gets traffic, while here InService waits for the checks, so InService means
serving; a failed launch is retried in another zone at once, then next minute.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from .catalogue import CATALOGUE
from .errors import CloudError
from .loadbalancer import LoadBalancing
from .mechanism import Metric, events, metrics
from .metering import Meter
from .pricing import PriceSheet, rate
from .world import CoreWorld, Strict, known

if TYPE_CHECKING:
    from .cloud import Cloud
    from .control_plane import Instance

NAME = r"^[a-z][a-z0-9-]{0,31}$"
METRICS_AVAILABLE = {"cpu": "ASGAverageCPUUtilization", "requests-per-target": "ALBRequestCountPerTarget"}
KINDS = ("target-tracking", "step", "simple", "hpa")
TRACKING_OUT_DATAPOINTS = 3  # AWS's target tracking alarms: 3 of 3 one-minute datapoints above
TRACKING_IN_DATAPOINTS = 15  # ... 15 of 15 below 90 % of the target
TRACKING_IN_SHARE = 0.9
DEFAULT_COOLDOWN_S = 300
DEFAULT_DRAIN_S = 300  # ELB target group deregistration_delay.timeout_seconds
HOOK_TIMEOUT = (30, 7200, 3600)  # lifecycle hook heartbeat timeout: min, max, default
HPA_TOLERANCE = 0.1
HPA_STABILIZATION_S = 300
HISTORY_MINUTES = 24 * 60
LIFE_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService", "Terminating", "Terminating:Wait", "Terminated")
LIVE = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
# The launch pipeline's steps (cloud/control_plane.py) as the five of a scale-out: what a
# pending instance is doing once each pipeline step is done.
STEP_AFTER = {
    "find_server": "provision",
    "allocate_cpu": "provision",
    "allocate_ram": "volume",
    "allocate_disk": "network",
    "assign_nic": "network",
    "configure_firewall": "boot",
}
STEP_WORDS = {
    "provision": "provisioning the VM",
    "volume": "attaching its volume",
    "network": "assigning its network",
    "boot": "booting",
    "hook": "held by a lifecycle hook",
    "register": "registering with the target group",
    "health": "passing health checks",
    "in-service": "in service",
    "drain": "draining",
}


# -- the world section ----------------------------------------------------------------------
class DiurnalSpec(Strict):
    peak_rps: float = Field(ge=0, le=10_000_000, description="the load at the day's peak")
    peak_at_s: float = Field(default=14 * 3600, ge=0, description="when in the period the peak comes")
    period_s: float = Field(default=86_400, ge=60, le=7 * 86_400)


class RampSpec(Strict):
    start_s: float = Field(ge=0)
    rise_s: float = Field(default=3600, gt=0)
    extra_rps: float = Field(ge=-10_000_000, le=10_000_000, description="how much the load has grown when the ramp ends")


class CrowdSpec(Strict):
    start_s: float = Field(ge=0)
    rise_s: float = Field(default=60, gt=0)
    hold_s: float = Field(default=600, ge=0)
    fall_s: float = Field(default=600, gt=0)
    extra_rps: float = Field(ge=0, le=10_000_000)


class DemandSpec(Strict):
    """The load offered to the group: a base, a day's rhythm, ramps, flash crowds, noise."""

    base_rps: float = Field(default=0, ge=0, le=10_000_000)
    diurnal: DiurnalSpec | None = None
    ramps: list[RampSpec] = Field(default_factory=list)
    crowds: list[CrowdSpec] = Field(default_factory=list)
    noise_pct: float = Field(default=0, ge=0, le=50, description="each minute's load is off by up to this much, seeded")


class TemplateSpec(Strict):
    name: str = Field(default="web", pattern=NAME)
    type: str = "small"

    @model_validator(mode="after")
    def _known_type(self) -> "TemplateSpec":
        if self.type not in CATALOGUE:
            raise ValueError(f"unknown instance type {self.type!r} (types: {', '.join(CATALOGUE)})")
        return self


class HookSpec(Strict):
    name: str = Field(pattern=NAME)
    transition: Literal["launching", "terminating"] = "launching"
    timeout_s: int = Field(default=HOOK_TIMEOUT[2], ge=HOOK_TIMEOUT[0], le=HOOK_TIMEOUT[1], description="the heartbeat timeout")
    default_result: Literal["continue", "abandon"] = "abandon"
    work_s: int | None = Field(default=None, ge=0, le=7200, description="the instance's own script completes the action after this long")


class StepSpec(Strict):
    lower: float | None = Field(default=None, description="MetricIntervalLowerBound: breach from (none: minus infinity)")
    upper: float | None = Field(default=None, description="MetricIntervalUpperBound: breach up to (none: infinity)")
    adjustment: int = Field(ge=-10_000, le=10_000)


class PolicySpec(Strict):
    name: str = Field(pattern=NAME)
    kind: Literal["target-tracking", "step", "simple", "hpa"]
    metric: Literal["cpu", "requests-per-target"] = "cpu"
    target: float | None = Field(default=None, gt=0, le=1_000_000)
    threshold: float | None = Field(default=None, ge=0, le=1_000_000)
    direction: Literal["out", "in"] | None = None
    periods: int = Field(default=1, ge=1, le=60, description="datapoints in a row that put the alarm in ALARM")
    adjustment_type: Literal["change", "percent", "exact"] = "change"
    adjustment: int | None = Field(default=None, ge=-10_000, le=10_000)
    steps: list[StepSpec] = Field(default_factory=list)
    min_magnitude: int | None = Field(default=None, ge=1, le=10_000)
    cooldown_s: int | None = Field(default=None, ge=0, le=86_400)
    warmup_s: int | None = Field(default=None, ge=0, le=86_400)
    disable_scale_in: bool = False
    tolerance: float = Field(default=HPA_TOLERANCE, ge=0, le=1)
    stabilization_s: int = Field(default=HPA_STABILIZATION_S, ge=0, le=3600)

    @model_validator(mode="after")
    def _fits_its_kind(self) -> "PolicySpec":
        check_policy(self)
        return self


class ScheduledSpec(Strict):
    name: str = Field(pattern=NAME)
    at_s: float = Field(ge=0)
    every_s: float | None = Field(default=None, ge=60)
    min: int | None = Field(default=None, ge=0, le=10_000)
    max: int | None = Field(default=None, ge=0, le=10_000)
    desired: int | None = Field(default=None, ge=0, le=10_000)

    @model_validator(mode="after")
    def _sets_something(self) -> "ScheduledSpec":
        if self.min is None and self.max is None and self.desired is None:
            raise ValueError(f"scheduled action {self.name}: set at least one of min, max, desired")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"scheduled action {self.name}: min {self.min} is above max {self.max}")
        return self


class GroupSpec(Strict):
    name: str = Field(default="web", pattern=NAME)
    min: int = Field(ge=0, le=10_000)
    max: int = Field(ge=0, le=10_000)
    desired: int | None = Field(default=None, ge=0, le=10_000, description="default: min")
    zones: list[str] | None = Field(default=None, description="default: every zone of the first region")
    template: TemplateSpec = Field(default_factory=TemplateSpec)
    target_group: str | None = Field(default=None, description="a load balancer of the loadbalancer section")
    default_cooldown_s: int = Field(default=DEFAULT_COOLDOWN_S, ge=0, le=86_400)
    warmup_s: int | None = Field(default=None, ge=0, le=86_400, description="the default instance warm-up (none: not enabled)")
    drain_s: int = Field(default=DEFAULT_DRAIN_S, ge=0, le=3600, description="the target group's deregistration delay")
    termination: Literal["default", "oldest-instance", "newest-instance", "oldest-launch-template"] = "default"
    hooks: list[HookSpec] = Field(default_factory=list)
    policies: list[PolicySpec] = Field(default_factory=list)
    scheduled: list[ScheduledSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _in_bounds(self) -> "GroupSpec":
        desired = self.min if self.desired is None else self.desired
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max} (min <= desired <= max)")
        if not self.min <= desired <= self.max:
            raise ValueError(f"desired {desired} is not between min {self.min} and max {self.max}")
        for what, names in (("policie", [p.name for p in self.policies]), ("hook", [h.name for h in self.hooks]),
                            ("scheduled action", [s.name for s in self.scheduled])):  # fmt: skip
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"two {what}s are named {dupes[0]!r}")
        return self


class AutoScalingSpec(Strict):
    """An auto scaling group, the load it serves, and how its instances answer."""

    demand: DemandSpec = Field(default_factory=DemandSpec)
    rps_per_vcpu: float = Field(default=50, gt=0, le=1_000_000)
    response_ms: float = Field(default=20, gt=0, le=60_000, description="the service time S of one request")
    timeout_ms: float = Field(default=2000, gt=0, le=600_000)
    init_s: int = Field(default=0, ge=0, le=3600, description="an instance's application start-up after InService")
    init_cpu_pct: float = Field(default=90, ge=0, le=100, description="the CPU an instance shows while it starts up")
    period_s: int = Field(default=60, ge=10, le=3600, description="CloudWatch's period: metrics and policies every this often")
    group: GroupSpec


def check_policy(p: "PolicySpec") -> None:
    """A policy fits its kind (ValueError, one line, otherwise)."""
    kind = p.kind
    if kind in ("target-tracking", "hpa"):
        if p.target is None:
            raise ValueError(f"policy {p.name}: a {kind} policy needs a target (--target)")
        for attr in ("threshold", "adjustment", "min_magnitude", "cooldown_s", "direction"):
            if getattr(p, attr) is not None:
                raise ValueError(f"policy {p.name}: {attr.replace('_s', '')} is not for a {kind} policy (it has a target)")
        if p.steps:
            raise ValueError(f"policy {p.name}: steps are for a step policy")
        if kind == "target-tracking" and p.metric == "cpu" and p.target > 100:
            raise ValueError(f"policy {p.name}: a CPU target is a percentage, at most 100, not {p.target:g}")
        return
    if p.threshold is None or p.direction is None:
        raise ValueError(f"policy {p.name}: a {kind} policy needs an alarm: --threshold and --direction out|in")
    if p.target is not None:
        raise ValueError(f"policy {p.name}: target is for target-tracking and hpa policies")
    if p.min_magnitude is not None and p.adjustment_type != "percent":
        raise ValueError(f"policy {p.name}: min-magnitude applies to percent adjustments only (AWS's MinAdjustmentMagnitude)")
    if kind == "simple":
        if p.adjustment is None:
            raise ValueError(f"policy {p.name}: a simple policy needs an adjustment (--adjustment)")
        if p.steps:
            raise ValueError(f"policy {p.name}: steps are for a step policy; a simple policy has one adjustment")
        if p.warmup_s is not None:
            raise ValueError(f"policy {p.name}: a simple policy waits a cooldown, not a warm-up")
        check_adjustment(p.name, p.direction, p.adjustment_type, p.adjustment)
        return
    if p.adjustment is not None:
        raise ValueError(f"policy {p.name}: a step policy's adjustments are its steps (--steps)")
    if p.cooldown_s is not None:
        raise ValueError(f"policy {p.name}: a step policy uses the instance warm-up, not a cooldown")
    check_steps(p.name, p.direction, [(s.lower, s.upper, s.adjustment) for s in p.steps])
    for s in p.steps:
        check_adjustment(p.name, p.direction, p.adjustment_type, s.adjustment)


def check_adjustment(name: str, direction: str, adjustment_type: str, adjustment: int) -> None:
    if adjustment_type == "exact":
        if adjustment < 0:
            raise ValueError(f"policy {name}: an exact capacity cannot be negative ({adjustment})")
        return
    if adjustment_type == "percent" and not -100 <= adjustment <= 10_000:
        raise ValueError(f"policy {name}: a percentage change is from -100 up, not {adjustment}")
    if direction == "out" and adjustment < 0 or direction == "in" and adjustment > 0:
        raise ValueError(f"policy {name}: a scale-{direction} policy cannot {'remove' if direction == 'out' else 'add'} capacity ({adjustment:+d})")


def check_steps(name: str, direction: str, steps: list[tuple[float | None, float | None, int]]) -> None:
    """AWS's rules for step adjustments: no overlap and no gap, at most one open lower
    bound and one open upper bound, never both open in one step, and on the alarm's side
    of the threshold (a scale-out policy's steps at or above 0)."""
    if not steps:
        raise ValueError(f"policy {name}: a step policy needs at least one step (--steps LOWER:UPPER:ADJUSTMENT,...)")
    lo = lambda s: -math.inf if s[0] is None else s[0]  # noqa: E731
    ordered = sorted(steps, key=lo)
    for lower, upper, _ in ordered:
        if lower is None and upper is None:
            raise ValueError(f"policy {name}: a step cannot be open at both ends")
        if lower is not None and upper is not None and lower >= upper:
            raise ValueError(f"policy {name}: a step's lower bound {lower:g} must be below its upper bound {upper:g}")
    if sum(1 for s in steps if s[0] is None) > 1 or sum(1 for s in steps if s[1] is None) > 1:
        raise ValueError(f"policy {name}: at most one step may be open below, and one above")
    for a, b in zip(ordered, ordered[1:]):
        if a[1] is None or b[0] is None or a[1] != b[0]:
            hi = "infinity" if a[1] is None else f"{a[1]:g}"
            raise ValueError(f"policy {name}: steps must meet without gap or overlap (one ends at {hi}, the next starts at {b[0]:g})")
    first, last = ordered[0], ordered[-1]
    if direction == "out":
        if first[0] is None or first[0] < 0:
            raise ValueError(f"policy {name}: a scale-out policy's steps start at a breach of 0 or more")
        if last[1] is not None:
            raise ValueError(f"policy {name}: the last step of a scale-out policy has no upper bound")
    else:
        if last[1] is None or last[1] > 0:
            raise ValueError(f"policy {name}: a scale-in policy's steps end at a breach of 0 or less")
        if first[0] is not None:
            raise ValueError(f"policy {name}: the first step of a scale-in policy has no lower bound")


def check_world(world: CoreWorld, spec: AutoScalingSpec) -> None:
    zones = world.zone_names()
    group = spec.group
    for z in group.zones or []:
        if z not in zones:
            raise ValueError(f"group {group.name}: no zone {z!r} (zones: {known(set(zones))})")
    lbs = getattr(world, "loadbalancer", None)
    names = {b.name for b in lbs.balancers} if lbs is not None else set()
    if group.target_group is not None and group.target_group not in names:
        raise ValueError(
            f"group {group.name}: target group {group.target_group!r} is no load balancer of this world (load balancers: {known(names)})"
        )
    for p in group.policies:
        if p.metric == "requests-per-target" and group.target_group is None:
            raise ValueError(f"policy {p.name}: requests-per-target needs a target group (ALBRequestCountPerTarget)")


def re_name(name: str) -> bool:
    return re.match(NAME, name or "") is not None


# -- the published rules, as pure functions ----------------------------------------------------
def round_percent(x: float) -> int:
    """AWS's rounding of a PercentChangeInCapacity result: above 1 rounded down (12.7 ->
    12), between 0 and 1 to 1, between -1 and 0 to -1, below -1 rounded up (-6.67 -> -6)."""
    if x > 1:
        return math.floor(x)
    if x > 0:
        return 1
    if x == 0:
        return 0
    if x >= -1:
        return -1
    return math.ceil(x)


def adjusted(capacity: int, adjustment_type: str, adjustment: int, min_magnitude: int | None = None) -> int:
    """The capacity an adjustment gives: a change, an exact capacity, or a percentage of
    ``capacity`` (rounded as AWS does, then at least MinAdjustmentMagnitude)."""
    if adjustment_type == "exact":
        return adjustment
    if adjustment_type == "change":
        return capacity + adjustment
    change = round_percent(capacity * adjustment / 100)
    if min_magnitude is not None and change and abs(change) < min_magnitude:
        change = min_magnitude if change > 0 else -min_magnitude
    return capacity + change


def step_for(steps: list[tuple[float | None, float | None, int]], breach: float, above: bool) -> int | None:
    """The adjustment of the step holding the breach (metric minus threshold). Above the
    threshold the lower bound is inclusive and the upper exclusive; below, the reverse."""
    for lower, upper, adjustment in steps:
        lo = -math.inf if lower is None else lower
        hi = math.inf if upper is None else upper
        if (lo <= breach < hi) if above else (lo < breach <= hi):
            return adjustment
    return None


def hpa_desired(current: int, value: float, target: float, tolerance: float = HPA_TOLERANCE, unready: int = 0) -> int:
    """The Kubernetes HPA rule: ceil(current x value / target), unchanged while the ratio
    is within the tolerance of 1; pods not yet ready count as 0 % when scaling up."""
    if current <= 0:
        return current + unready
    ratio = value / target
    if abs(ratio - 1) <= tolerance:
        return current + unready
    if ratio > 1 and unready:
        ratio = value * current / (current + unready) / target
        if ratio <= 1 + tolerance:
            return current + unready
        return math.ceil((current + unready) * ratio)
    return math.ceil(current * ratio)


def mm1_latency_ms(service_ms: float, utilisation: float, timeout_ms: float) -> float:
    """The mean response time of an M/M/1 queue, S / (1 - utilisation), capped at the timeout."""
    if utilisation >= 1:
        return timeout_ms
    return min(timeout_ms, service_ms / (1 - utilisation))


def p95_of(groups: dict[float, int], failed: int, timeout_ms: float) -> float:
    """The 95th percentile of a minute's responses: requests served with exponentially
    spread response times (``groups``: mean -> requests) and ``failed`` ones, slower than
    anything. The minute's p95 is where 95 % of them are done."""
    total = sum(groups.values()) + failed
    if not total:
        return 0.0
    want = 0.95 * total

    spread, exp = list(groups.items()), math.exp

    def done(x: float) -> float:
        return sum([n * (1 - exp(-x / mean)) for mean, n in spread])

    if done(timeout_ms) < want:
        return timeout_ms
    lo, hi = 0.0, timeout_ms
    for _ in range(40):
        mid = (lo + hi) / 2
        if done(mid) < want:
            lo = mid
        else:
            hi = mid
    return round(hi, 1)


# -- the load --------------------------------------------------------------------------------
class Demand:
    """The demand curve: requests per second at a moment, with seeded per-minute noise."""

    def __init__(self, spec: DemandSpec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.noise: list[float] = []
        # the curve's pieces as plain numbers, read every step (a crowd's ends of its hold
        # and of its fall summed as the curve sums them)
        self._ramps = [(r.start_s, r.rise_s, r.extra_rps) for r in spec.ramps]
        self._crowds = [
            (c.start_s, c.rise_s, c.hold_s, c.fall_s, c.rise_s + c.hold_s, c.rise_s + c.hold_s + c.fall_s, c.extra_rps)
            for c in spec.crowds
        ]

    def factor(self, minute: int) -> float:
        """The noise of one minute, drawn in minute order from the group's own generator."""
        if minute < len(self.noise):
            return self.noise[minute]
        pct = self.spec.noise_pct / 100
        if not pct:
            return 1.0
        while len(self.noise) <= minute:
            self.noise.append(1 + pct * (2 * self.rng.random() - 1))
        return self.noise[minute]

    def shape(self, t_s: float) -> float:
        s = self.spec
        rps = s.base_rps
        if s.diurnal is not None:
            d = s.diurnal
            phase = 2 * math.pi * (t_s - d.peak_at_s) / d.period_s
            rps += (d.peak_rps - s.base_rps) * (1 + math.cos(phase)) / 2
        for start, rise, extra in self._ramps:
            if t_s > start:
                rps += extra * min(1.0, (t_s - start) / rise)
        for start, rise, hold, fall, held, gone, extra in self._crowds:
            x = t_s - start
            if x <= 0:
                continue
            if x < rise:
                rps += extra * x / rise
            elif x < held:
                rps += extra
            elif x < gone:
                rps += extra * (1 - (x - rise - hold) / fall)
        return max(0.0, rps)

    def at(self, t_ms: int) -> float:
        minute, noise = t_ms // 60_000, self.noise
        return self.shape(t_ms / 1000) * (noise[minute] if minute < len(noise) else self.factor(minute))


# -- the group's parts ---------------------------------------------------------------------------
@dataclass
class Member:
    """One instance of the group."""

    name: str
    zone: str
    version: int
    launched_ms: int
    state: str = "Pending"
    step: str = "provision"
    in_service_ms: int | None = None
    token: int = 0  # bumped to cancel a pending hook timeout or drain
    unhealthy: bool = False
    seasoned: bool = False  # in service when the story starts: warmed up and started long ago

    @property
    def live(self) -> bool:
        return self.state in LIVE


@dataclass
class Hook:
    name: str
    transition: str
    timeout_s: int
    default_result: str
    work_s: int | None


@dataclass
class Policy:
    spec: PolicySpec
    alarm: str = "INSUFFICIENT_DATA"  # the alarm's state (step and simple): OK | ALARM
    streak: int = 0  # datapoints in a row on the alarm's side
    low_streak: int = 0  # target tracking's scale-in alarm
    locked_until_ms: int = 0  # simple scaling: cooldown
    waiting_on: set[str] = field(default_factory=set)  # simple scaling: the activity it waits for
    history: list[tuple[int, int]] = field(default_factory=list)  # HPA: (t, recommendation)
    last: str = "no datapoint yet"

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class Scheduled:
    spec: ScheduledSpec
    next_ms: int
    token: int = 0


@dataclass
class Minute:
    """One CloudWatch period of the group."""

    t_ms: int
    demand_rps: float
    capacity_rps: float
    served: int
    failed: int
    p95_ms: float
    cpu_pct: float | None
    per_target: float | None
    desired: int
    in_service: int
    pending: int


@dataclass
class Decision:
    t_ms: int
    policy: str
    metric: str
    value: float | None
    was: int
    now: int
    reason: str


class AutoScalingGroup:
    """The group, the load it serves, and its scaling policies."""

    def __init__(self, cloud: "Cloud", spec: AutoScalingSpec) -> None:
        g = spec.group
        self.cloud = cloud
        self.spec = spec
        self.name = g.name
        self.min, self.max = g.min, g.max
        self.desired = g.min if g.desired is None else g.desired
        first = next(iter(cloud.hardware.regions.values()), None)
        self.zones = list(g.zones) if g.zones else ([z.id for z in first.zones] if first else [])
        self.templates: list[str] = [g.template.type]  # version n (1-based) is templates[n-1]
        self.template_name = g.template.name
        self.target_group = g.target_group
        self.default_cooldown_s = g.default_cooldown_s
        self.warmup_s = g.warmup_s
        self.drain_s = g.drain_s
        self.termination = g.termination
        self.hooks = {h.name: Hook(h.name, h.transition, h.timeout_s, h.default_result, h.work_s) for h in g.hooks}
        self.policies = {p.name: Policy(p) for p in g.policies}
        self.scheduled: dict[str, Scheduled] = {}
        self.members: dict[str, Member] = {}
        self.counter = 0
        self.demand = Demand(spec.demand, random.Random(cloud.rng.getrandbits(64)))
        self.rng = random.Random(cloud.rng.getrandbits(64))  # the termination policy's last resort
        self.period_ms = spec.period_s * 1000
        # the serving model's accumulators
        self._acc = 0.0
        self._capacity: float | None = None
        self.offered = self.served = self.failed = 0
        self.last_rps = 0.0
        self.last_util = 0.0
        self._m_offered = self._m_served = self._m_failed = 0
        self._m_capacity = 0.0
        self._m_groups: dict[float, int] = {}
        self._m_index = 0
        self.minutes: list[Minute] = []
        self.worst_p95_ms = 0.0
        self.decisions: list[Decision] = []
        self.changes: list[tuple[int, int]] = []  # (t, +1 out / -1 in) of desired capacity
        self.last_change: tuple[int, int, int, str] | None = None  # (t, was, now, cause)
        self.flaps = 0
        self.scale_outs = self.scale_ins = 0
        self._seen = 0
        self.meter = Meter()
        self._cost: tuple[int, int, float, float] | None = None
        for s in g.scheduled:
            self._schedule(s)

    # -- reading the other mechanisms -----------------------------------------------------------
    @property
    def balancer(self):
        service = self.cloud.get(LoadBalancing)
        if service is None or self.target_group is None:
            return None
        return service.balancers.get(self.target_group)

    def instance(self, name: str) -> "Instance | None":
        return self.cloud.control.instances.get(name)

    def live(self) -> list[Member]:
        return [m for m in self.members.values() if m.live]

    def count(self, *states: str) -> int:
        return sum(1 for m in self.members.values() if m.state in states)

    def warming(self, m: Member, now: int) -> bool:
        """Still in its warm-up: its metrics stay out of the group's aggregate."""
        warmup = self.warmup_s if self.warmup_s is not None else 0
        return m.state == "InService" and not m.seasoned and m.in_service_ms is not None and now - m.in_service_ms < warmup * 1000

    def starting(self, m: Member, now: int) -> bool:
        """Its application still starting up: half capacity, busy CPU."""
        return not m.seasoned and m.in_service_ms is not None and now - m.in_service_ms < self.spec.init_s * 1000

    def capacity_rps(self) -> float:
        if self._capacity is None:
            now = self.cloud.now_ms
            per_vcpu = self.spec.rps_per_vcpu
            total = 0.0
            for m in self.members.values():
                if m.state != "InService" or m.unhealthy:
                    continue
                inst = self.instance(m.name)
                if inst is None or inst.state != "running":
                    continue
                cap = inst.type.vcpus * per_vcpu
                total += cap / 2 if self.starting(m, now) else cap
            self._capacity = total
        return self._capacity

    def _dirty(self) -> None:
        self._capacity = None

    # -- the log: what the pipeline and the load balancer did ---------------------------------
    def _scan(self) -> None:
        log = self.cloud.log
        if len(log) == self._seen:
            return
        members = self.members
        for e in log.since(self._seen):
            kind = e.kind
            if kind == "instance.running":
                m = members.get(str(e.get("instance")))
                if m is not None and m.state == "Pending" and m.step != "hook":
                    self._booted(m)
            elif kind == "launch.step":
                m = members.get(str(e.get("instance")))
                if m is not None and m.state == "Pending":
                    m.step = STEP_AFTER.get(str(e.get("step")), m.step)
            elif kind == "launch.failed":
                m = members.get(str(e.get("instance")))
                if m is not None and m.live:
                    self._gone(m, "launch failed: " + str(e.get("code")))
            elif kind == "instance.unreachable":
                m = members.get(str(e.get("instance")))
                if m is not None and m.live:
                    self._unhealthy(m, str(e.get("cause")))
            elif kind == "lb.target_healthy":
                m = members.get(str(e.get("target")))
                if m is not None and m.state == "Pending:Proceed" and m.step == "health":
                    self._check_healthy(m)
        self._seen = len(log)

    # -- the lifecycle ----------------------------------------------------------------------------
    def _set(self, m: Member, state: str, step: str) -> None:
        m.state, m.step = state, step
        self._dirty()
        self.cloud.emit("asg.lifecycle", group=self.name, instance=m.name, state=state, step=step)

    def _launch_one(self, cause: str, instant: bool = False) -> Member | None:
        """RunInstances for one more member, in the zone with the fewest (AWS balances
        zones), trying the next zone when one has no room."""
        live = self.live()
        per_zone = {z: sum(1 for m in live if m.zone == z) for z in self.zones}
        order = sorted(self.zones, key=lambda z: (per_zone[z], self.zones.index(z)))
        version = len(self.templates)
        type_name = self.templates[-1]
        reasons = []
        for zone in order:
            self.counter += 1
            name = f"{self.name}-{self.counter}"
            try:
                self.cloud.control.launch(name, type_name, zone, instant=instant)
            except CloudError as exc:
                self.counter -= 1
                reasons.append(f"{zone}: {exc.code}")
                continue
            m = Member(name, zone, version, self.cloud.now_ms, seasoned=instant)
            self.members[name] = m
            self.cloud.emit("asg.launch", group=self.name, instance=name, zone=zone, version=version, cause=cause)
            if instant:
                self._booted(m, instant=True)
            return m
        self.cloud.emit("asg.launch_failed", group=self.name, reason="; ".join(reasons))
        return None

    def _booted(self, m: Member, instant: bool = False) -> None:
        """The guest is up: lifecycle hooks, then the target group."""
        hook = next((h for h in self.hooks.values() if h.transition == "launching"), None)
        if hook is not None and not instant:
            self._wait(m, hook, "Pending:Wait")
            return
        self._proceed(m, instant)

    def _wait(self, m: Member, hook: Hook, state: str) -> None:
        m.token += 1
        token = m.token
        self._set(m, state, "hook")
        clock = self.cloud.clock
        clock.schedule_in(hook.timeout_s * 1000, lambda: self._hook_timeout(m, hook, token))
        if hook.work_s is not None:
            clock.schedule_in(hook.work_s * 1000, lambda: self._script_done(m, hook, token))

    def _hook_timeout(self, m: Member, hook: Hook, token: int) -> None:
        if m.token == token and m.state.endswith(":Wait"):
            self._hook_result(m, hook.name, hook.default_result, "timeout")

    def _script_done(self, m: Member, hook: Hook, token: int) -> None:
        """The instance's own script finished its work and completed the action."""
        if m.token == token and m.state.endswith(":Wait"):
            self._hook_result(m, hook.name, "continue", "instance")

    def complete(self, name: str, result: str) -> Member:
        """CompleteLifecycleAction, by the player."""
        m = self.members.get(name)
        if m is None or not m.state.endswith(":Wait"):
            waiting = [x.name for x in self.members.values() if x.state.endswith(":Wait")]
            raise CloudError("ValidationError", f"{name!r} is not waiting on a lifecycle hook of {self.name} (waiting: {', '.join(waiting) or 'none'})")
        transition = "launching" if m.state == "Pending:Wait" else "terminating"
        hook = next((h for h in self.hooks.values() if h.transition == transition), None)
        self.cloud.api_call("CompleteLifecycleAction", instance=name)
        self._hook_result(m, hook.name if hook else "?", result, "player")
        return m

    def _hook_result(self, m: Member, hook: str, result: str, by: str) -> None:
        m.token += 1
        self.cloud.emit("asg.hook_completed", group=self.name, instance=m.name, hook=hook, result=result.upper(), by=by)
        if m.state == "Pending:Wait":
            if result == "continue":
                self._proceed(m)
            else:  # ABANDON: the launch is given up; the instance is terminated
                self._terminate_now(m, "the launching hook was abandoned")
        elif m.state == "Terminating:Wait":
            self._terminate_now(m, "")

    def _proceed(self, m: Member, instant: bool = False) -> None:
        lb = self.balancer
        if lb is None or instant:
            if lb is not None:
                lb.register(m.name)
            self._in_service(m)
            return
        self._set(m, "Pending:Proceed", "register")
        lb.register(m.name)
        self._set(m, "Pending:Proceed", "health")

    def _check_healthy(self, m: Member) -> None:
        lb = self.balancer
        target = lb.targets.get(m.name) if lb is not None else None
        if target is None:
            return
        nodes = lb.nodes_up()
        if nodes and all(target.views[z].state == "healthy" for z in nodes):
            self._in_service(m)

    def _in_service(self, m: Member) -> None:
        m.in_service_ms = self.cloud.now_ms
        self._set(m, "InService", "in-service")
        if self.spec.init_s:
            self.cloud.clock.schedule_in(self.spec.init_s * 1000, self._dirty)
        self._activity_done(m.name)

    def _scale_in_one(self, m: Member, cause: str) -> None:
        """Deregister, drain, then the terminating hook, then terminate."""
        m.token += 1
        token = m.token
        lb = self.balancer
        if lb is not None and m.name in lb.targets:
            lb.deregister(m.name)
        self._set(m, "Terminating", "drain")
        self.cloud.emit("asg.terminate", group=self.name, instance=m.name, zone=m.zone, cause=cause)
        delay = self.drain_s * 1000 if lb is not None and m.in_service_ms is not None else 0
        self.cloud.clock.schedule_in(delay, lambda: self._drained(m, token))

    def _drained(self, m: Member, token: int) -> None:
        if m.token != token or m.state != "Terminating":
            return
        hook = next((h for h in self.hooks.values() if h.transition == "terminating"), None)
        if hook is not None:
            self._wait(m, hook, "Terminating:Wait")
            return
        self._terminate_now(m, "")

    def _terminate_now(self, m: Member, why: str) -> None:
        inst = self.instance(m.name)
        lb = self.balancer
        if lb is not None and m.name in lb.targets:
            lb.deregister(m.name)
        if inst is not None and inst.exists:
            self.cloud.control.terminate(m.name)
        m.token += 1
        self._set(m, "Terminated", why or "terminated")
        self._activity_done(m.name)
        self.reconcile("replace" if why else "")

    def _gone(self, m: Member, why: str) -> None:
        m.token += 1
        self._set(m, "Terminated", why)
        self._activity_done(m.name)
        self.reconcile("replace")

    def _unhealthy(self, m: Member, cause: str) -> None:
        """EC2 status checks failed: the group replaces the instance."""
        m.unhealthy = True
        self.cloud.emit("asg.lifecycle", group=self.name, instance=m.name, state=m.state, step=f"unhealthy ({cause})")
        self._terminate_now(m, f"unhealthy: {cause}")

    def _activity_done(self, name: str) -> None:
        for p in self.policies.values():
            if name in p.waiting_on:
                p.waiting_on.discard(name)
                if not p.waiting_on:
                    cooldown = p.spec.cooldown_s if p.spec.cooldown_s is not None else self.default_cooldown_s
                    p.locked_until_ms = self.cloud.now_ms + cooldown * 1000

    # -- capacity ------------------------------------------------------------------------------
    def reconcile(self, cause: str = "") -> list[str]:
        """Launch or terminate until the live members match the desired capacity."""
        touched: list[str] = []
        live = self.live()
        while len(live) < self.desired:
            m = self._launch_one(cause or f"desired capacity {self.desired}")
            if m is None:
                break
            touched.append(m.name)
            live.append(m)
        surplus = len(live) - self.desired
        for m in self.choose_victims(live, surplus):
            self._scale_in_one(m, cause or f"desired capacity {self.desired}")
            touched.append(m.name)
        return touched

    def choose_victims(self, live: list[Member], n: int) -> list[Member]:
        """The termination policy, one instance at a time. The default: the zone with the
        most instances, then the oldest launch template version, then the instance
        closest to its next billing hour, then at random (seeded)."""
        chosen: list[Member] = []
        pool = list(live)
        now = self.cloud.now_ms
        for _ in range(max(0, n)):
            if not pool:
                break
            if self.termination == "oldest-instance":
                victim = min(pool, key=lambda m: (m.launched_ms, m.name))
            elif self.termination == "newest-instance":
                victim = max(pool, key=lambda m: (m.launched_ms, m.name))
            else:
                per_zone = {z: sum(1 for m in pool if m.zone == z) for z in self.zones}
                most = max(per_zone.values())
                cands = [m for m in pool if per_zone.get(m.zone, 0) == most]
                oldest = min(m.version for m in cands)
                cands = [m for m in cands if m.version == oldest]
                if self.termination == "default":
                    to_hour = {m.name: 3_600_000 - (now - m.launched_ms) % 3_600_000 for m in cands}
                    closest = min(to_hour.values())
                    cands = [m for m in cands if to_hour[m.name] == closest]
                cands.sort(key=lambda m: m.name)
                victim = cands[self.rng.randrange(len(cands))] if len(cands) > 1 else cands[0]
            pool.remove(victim)
            chosen.append(victim)
        return chosen

    def set_capacity(self, desired: int, cause: str, policy: str = "") -> int:
        """Change the desired capacity (clamped to [min, max]); log it, count flaps."""
        new = max(self.min, min(self.max, desired))
        was = self.desired
        if new == was:
            return was
        self.desired = new
        now = self.cloud.now_ms
        direction = 1 if new > was else -1
        if direction > 0:
            self.scale_outs += 1
        else:
            self.scale_ins += 1
        self.cloud.emit("asg.capacity", group=self.name, was=was, now=new, cause=cause, policy=policy)
        self.last_change = (now, was, new, cause)
        if self.changes and self.changes[-1][1] != direction and now - self.changes[-1][0] < self.default_cooldown_s * 1000:
            self.flaps += 1
            first = self.changes[-1]
            self.cloud.emit(
                "asg.flap", group=self.name, first=("out" if first[1] > 0 else "in"), first_at_s=first[0] / 1000,
                then=("out" if direction > 0 else "in"), apart_s=(now - first[0]) / 1000,
            )  # fmt: skip
        self.changes.append((now, direction))
        touched = self.reconcile(cause)
        if policy and policy in self.policies and self.policies[policy].spec.kind == "simple":
            self.policies[policy].waiting_on = set(touched)
            if not touched:
                self._activity_done("")
        return was

    def update(self, min_: int | None = None, max_: int | None = None, desired: int | None = None, cause: str = "") -> tuple[int, int, int]:
        """UpdateAutoScalingGroup: a new min above the desired capacity raises it, a new
        max below lowers it; min above max, or a desired outside them, is refused."""
        lo = self.min if min_ is None else min_
        hi = self.max if max_ is None else max_
        if lo > hi:
            raise CloudError("ValidationError", f"min {lo} would be above max {hi} (min <= desired <= max)")
        if desired is not None and not lo <= desired <= hi:
            raise CloudError("ValidationError", f"desired {desired} must be between min {lo} and max {hi}")
        was = (self.min, self.max, self.desired)
        self.min, self.max = lo, hi
        target = desired if desired is not None else max(lo, min(hi, self.desired))
        self._dirty()
        if target != self.desired:
            self.set_capacity(target, cause)
        else:
            self.reconcile(cause)
        return was

    # -- the serving model, each step --------------------------------------------------------------
    def step(self, dt_ms: int) -> None:
        if len(self.cloud.log) != self._seen:
            self._scan()
        now = self.cloud.now_ms
        rps = self.demand.at(now - dt_ms)
        self.last_rps = rps
        self._acc += rps * dt_ms
        offered = int(self._acc // 1000)
        self._acc -= offered * 1000
        cap = self.capacity_rps() * dt_ms / 1000
        served = min(offered, int(cap)) if cap > 0 else 0
        failed = offered - served
        util = served / cap if cap > 0 else (1.0 if offered else 0.0)
        self.last_util = util
        self.offered += offered
        self.served += served
        self.failed += failed
        self._m_offered += offered
        self._m_served += served
        self._m_failed += failed
        self._m_capacity += cap
        if served:
            spec, groups = self.spec, self._m_groups
            mean = round(mm1_latency_ms(spec.response_ms, util, spec.timeout_ms), 1)
            groups[mean] = groups.get(mean, 0) + served
        if now // self.period_ms > self._m_index:
            self._close_minute(now)

    def _close_minute(self, now: int) -> None:
        self._m_index = now // self.period_ms
        p95 = p95_of(self._m_groups, self._m_failed, self.spec.timeout_ms)
        util = self._m_served / self._m_capacity if self._m_capacity else (1.0 if self._m_offered else 0.0)
        counted = [m for m in self.members.values() if m.state == "InService" and not m.unhealthy and not self.warming(m, now)]
        cpu = None
        if counted:
            init = self.spec.init_cpu_pct
            cpu = sum(init if self.starting(m, now - 1) else min(100.0, 100 * util) for m in counted) / len(counted)
        in_service = self.count("InService")
        per_target = self._m_served / in_service if in_service and self.target_group else None
        minute = Minute(
            now, self._m_offered * 1000 / self.period_ms, self._m_capacity * 1000 / self.period_ms, self._m_served,
            self._m_failed, p95, None if cpu is None else round(cpu, 2), per_target, self.desired, in_service,
            self.count("Pending", "Pending:Wait", "Pending:Proceed"),
        )  # fmt: skip
        self.minutes.append(minute)
        if len(self.minutes) > HISTORY_MINUTES:
            del self.minutes[0]
        self.worst_p95_ms = max(self.worst_p95_ms, p95)
        self._m_offered = self._m_served = self._m_failed = 0
        self._m_capacity = 0.0
        self._m_groups = {}
        self._evaluate(minute, len(counted), now)
        if len(self.live()) != self.desired:
            self.reconcile("retry")

    # -- the policies -------------------------------------------------------------------------
    def _value(self, minute: Minute, metric: str) -> float | None:
        return minute.cpu_pct if metric == "cpu" else minute.per_target

    def _evaluate(self, minute: Minute, basis: int, now: int) -> None:
        warming = any(self.warming(m, now) for m in self.members.values())
        for p in list(self.policies.values()):
            value = self._value(minute, p.spec.metric)
            kind = p.spec.kind
            if value is None:
                p.last = "no datapoint (no instance past its warm-up)"
                continue
            if kind == "target-tracking":
                self._track(p, value, basis, warming, now)
            elif kind == "hpa":
                self._hpa(p, value, basis, now)
            else:
                self._alarm(p, value, basis, warming, now)

    def _decide(self, p: Policy, value: float, new: int, reason: str) -> None:
        was = self.desired
        clamped = max(self.min, min(self.max, new))
        if clamped != new:
            reason += f" (held to {'max' if new > self.max else 'min'} {clamped})"
        p.last = f"{p.spec.metric} {value:g}: {reason}"
        self.decisions.append(Decision(self.cloud.now_ms, p.name, p.spec.metric, value, was, clamped, reason))
        if len(self.decisions) > 200:
            del self.decisions[0]
        self.cloud.emit("asg.policy", group=self.name, policy=p.name, metric=p.spec.metric, value=round(value, 2), was=was, now=clamped, reason=reason)
        if clamped != was:
            self.set_capacity(clamped, f"policy {p.name}: {reason}", policy=p.name)

    def _track(self, p: Policy, value: float, basis: int, warming: bool, now: int) -> None:
        target = p.spec.target
        p.streak = p.streak + 1 if value > target else 0
        p.low_streak = p.low_streak + 1 if value < TRACKING_IN_SHARE * target else 0
        need = math.ceil(basis * value / target) if basis else self.desired
        if p.streak >= TRACKING_OUT_DATAPOINTS:
            if need > self.desired:
                self._decide(p, value, need, f"above target {target:g} for {p.streak} min: ceil({basis} x {value:g} / {target:g}) = {need}")
            else:
                p.last = f"{p.spec.metric} {value:g} above target; {self.desired} already on the way"
        elif p.low_streak >= TRACKING_IN_DATAPOINTS and not p.spec.disable_scale_in:
            if warming:
                p.last = f"{p.spec.metric} {value:g} below target; scale-in waits for instances warming up"
            elif need < self.desired:
                self._decide(p, value, max(need, 1), f"below {TRACKING_IN_SHARE:g} x target for {p.low_streak} min: ceil({basis} x {value:g} / {target:g}) = {need}")
        else:
            side = "above" if value > target else "below" if value < target else "at"
            p.last = f"{p.spec.metric} {value:g}, {side} target {target:g} ({max(p.streak, p.low_streak)} min)"

    def _alarm(self, p: Policy, value: float, basis: int, warming: bool, now: int) -> None:
        s = p.spec
        out = s.direction == "out"
        breaching = value >= s.threshold if out else value <= s.threshold
        p.streak = p.streak + 1 if breaching else 0
        state = "ALARM" if p.streak >= s.periods else "OK"
        if state != p.alarm:
            p.alarm = state
            self.cloud.emit("alarm.state", alarm=f"{self.name}-{p.name}", state=state, metric=s.metric, value=round(value, 2), threshold=s.threshold)
        if state != "ALARM":
            p.last = f"{s.metric} {value:g} {'<' if out else '>'} {s.threshold:g}: alarm OK"
            return
        if s.kind == "simple":
            if p.waiting_on or now < p.locked_until_ms:
                left = max(0, (p.locked_until_ms - now) // 1000)
                p.last = f"alarm ALARM, ignored: {'waiting for its launches' if p.waiting_on else f'cooldown, {left} s left'}"
                return
            new = adjusted(self.desired, s.adjustment_type, s.adjustment, s.min_magnitude)
            self._decide(p, value, new, f"alarm {s.metric} {'>=' if out else '<='} {s.threshold:g}: {_adj_text(s.adjustment_type, s.adjustment)} of {self.desired}")
            return
        steps = [(x.lower, x.upper, x.adjustment) for x in s.steps]
        breach = value - s.threshold
        adj = step_for(steps, breach, out)
        if adj is None:
            p.last = f"breach {breach:+g} falls in no step"
            return
        if not out and warming:
            p.last = "alarm ALARM; scale-in waits for instances warming up"
            return
        new = adjusted(basis, s.adjustment_type, adj, s.min_magnitude)
        target = max(self.desired, new) if out else min(self.desired, new)
        if target == self.desired:
            p.last = f"breach {breach:+g}: step {_adj_text(s.adjustment_type, adj)} of {basis} = {new}; desired already {self.desired}"
            return
        self._decide(p, value, target, f"breach {breach:+g}: step {_adj_text(s.adjustment_type, adj)} of {basis} = {new}")

    def _hpa(self, p: Policy, value: float, basis: int, now: int) -> None:
        s = p.spec
        unready = self.count("Pending", "Pending:Wait", "Pending:Proceed") + sum(1 for m in self.members.values() if self.warming(m, now))
        rec = hpa_desired(basis, value, s.target, s.tolerance, unready)
        p.history = [(t, r) for t, r in p.history if now - t < s.stabilization_s * 1000] + [(now, rec)]
        stable = max(r for _, r in p.history)
        new = rec if rec > self.desired else min(self.desired, stable)
        ratio = value / s.target
        if new == self.desired:
            p.last = f"ratio {ratio:.2f}: " + ("within tolerance" if abs(ratio - 1) <= s.tolerance else f"recommends {rec}, stabilized at {stable}")
            return
        self._decide(p, value, new, f"ratio {ratio:.2f}: ceil({basis + (unready if ratio > 1 else 0)} x {ratio:.2f}) = {rec}" + ("" if new == rec else f", stabilized {new}"))

    # -- the player's API ----------------------------------------------------------------------
    def put_policy(self, spec: PolicySpec) -> bool:
        if spec.metric == "requests-per-target" and self.target_group is None:
            raise CloudError("ValidationError", "requests-per-target needs a target group (ALBRequestCountPerTarget); this group has none")
        replaced = spec.name in self.policies
        self.policies[spec.name] = Policy(spec)
        self.cloud.api_call("PutScalingPolicy", group=self.name, setting=spec.name, value=spec.kind)
        return replaced

    def delete(self, what: str, name: str) -> None:
        table = {"policy": self.policies, "schedule": self.scheduled, "hook": self.hooks}[what]
        if name not in table:
            raise CloudError("ValidationError", f"no {what} named {name!r} (those: {', '.join(table) or 'none'})")
        item = table.pop(name)
        if what == "schedule":
            item.token += 1
        if what == "hook":  # instances waiting on it go on
            for m in list(self.members.values()):
                if m.state.endswith(":Wait") and item.transition == ("launching" if m.state == "Pending:Wait" else "terminating"):
                    self._hook_result(m, name, "continue", "hook deleted")
        self.cloud.api_call({"policy": "DeletePolicy", "schedule": "DeleteScheduledAction", "hook": "DeleteLifecycleHook"}[what], group=self.name, setting=name)

    def put_hook(self, hook: Hook) -> None:
        other = next((h for h in self.hooks.values() if h.transition == hook.transition and h.name != hook.name), None)
        if other is not None:
            raise CloudError("ValidationError", f"hook {other.name} already holds {hook.transition} instances; delete it first")
        self.hooks[hook.name] = hook
        self.cloud.api_call("PutLifecycleHook", group=self.name, setting=hook.name, value=hook.transition)

    def put_scheduled(self, spec: ScheduledSpec) -> None:
        if spec.at_s * 1000 < self.cloud.now_ms and spec.every_s is None:
            raise CloudError("ValidationError", f"t={spec.at_s:g}s has passed (now t={self.cloud.now_ms / 1000:g}s)")
        old = self.scheduled.pop(spec.name, None)
        if old is not None:
            old.token += 1
        self._schedule(spec)
        self.cloud.api_call("PutScheduledUpdateGroupAction", group=self.name, setting=spec.name)

    def _schedule(self, spec: ScheduledSpec) -> None:
        at = int(spec.at_s * 1000)
        if spec.every_s is not None:
            every = int(spec.every_s * 1000)
            while at < self.cloud.now_ms:
                at += every
        item = Scheduled(spec, at)
        self.scheduled[spec.name] = item
        token = item.token
        self.cloud.clock.schedule(at, lambda: self._run_scheduled(item, token))

    def _run_scheduled(self, item: Scheduled, token: int) -> None:
        if item.token != token or self.scheduled.get(item.spec.name) is not item:
            return
        s = item.spec
        lo = self.min if s.min is None else s.min
        hi = self.max if s.max is None else s.max
        if lo > hi:  # a scheduled action that no longer fits: AWS records it as failed
            self.cloud.emit("asg.scheduled", group=self.name, action=s.name, min=lo, max=hi, desired=self.desired, result="failed: min above max")
        else:
            desired = s.desired if s.desired is not None and lo <= s.desired <= hi else None
            self.update(s.min, s.max, desired, cause=f"scheduled action {s.name}")
            self.cloud.emit("asg.scheduled", group=self.name, action=s.name, min=self.min, max=self.max, desired=self.desired, result="ok")
        if s.every_s is not None:
            item.next_ms = self.cloud.now_ms + int(s.every_s * 1000)
            self.cloud.clock.schedule(item.next_ms, lambda: self._run_scheduled(item, token))
        else:
            self.scheduled.pop(s.name, None)

    def set_type(self, type_name: str) -> int:
        """A new launch template version with another instance type."""
        if type_name not in CATALOGUE:
            raise CloudError("ValidationError", f"unknown instance type {type_name!r} (types: {', '.join(CATALOGUE)})")
        self.templates.append(type_name)
        self.cloud.api_call("CreateLaunchTemplateVersion", group=self.name, setting="type", value=type_name)
        return len(self.templates)

    def configure(self, setting: str, value: int, was: int) -> None:
        self.cloud.api_call("UpdateAutoScalingGroup", group=self.name, setting=setting, value=value)
        self.cloud.emit("asg.configured", group=self.name, setting=setting, value=value, was=was)

    # -- what it cost ------------------------------------------------------------------------------
    def cost(self) -> tuple[float, float]:
        """Instance-hours and US$ of the group's instances so far, metered from the log
        (per second, 60 s at least each start) and rated at list prices."""
        now = self.cloud.now_ms
        key = (len(self.cloud.log), now)
        if self._cost is None or self._cost[:2] != key:
            self.meter.catch_up(self.cloud.log)
            records = [r for r in self.meter.records(0, now) if r.service == "EC2" and r.resource in self.members]
            hours = math.fsum(r.quantity for r in records)
            usd = math.fsum(x.cost for x in rate(records, PriceSheet.default()))
            self._cost = (key[0], key[1], hours, usd)
        return self._cost[2], self._cost[3]

    # -- metrics ------------------------------------------------------------------------------------
    def metrics(self) -> dict[str, float | int]:
        last = self.minutes[-1] if self.minutes else None
        hours, usd = self.cost()
        return {
            "asg_desired": self.desired,
            "asg_min": self.min,
            "asg_max": self.max,
            "asg_in_service": self.count("InService"),
            "asg_pending": self.count("Pending", "Pending:Wait", "Pending:Proceed"),
            "asg_waiting": self.count("Pending:Wait", "Terminating:Wait"),
            "asg_terminating": self.count("Terminating", "Terminating:Wait"),
            "asg_demand_rps": round(self.last_rps, 1),
            "asg_capacity_rps": round(self.capacity_rps(), 1),
            "asg_cpu_pct": last.cpu_pct if last is not None and last.cpu_pct is not None else 0,
            "asg_p95_ms": last.p95_ms if last is not None else 0,
            "asg_worst_p95_ms": self.worst_p95_ms,
            "asg_requests": self.offered,
            "asg_requests_failed": self.failed,
            "asg_availability_pct": round(100 * self.served / self.offered, 4) if self.offered else 100.0,
            "asg_instance_hours": round(hours, 4),
            "asg_cost_usd": round(usd, 4),
            "asg_flaps": self.flaps,
            "asg_scale_outs": self.scale_outs,
            "asg_scale_ins": self.scale_ins,
        }


def _adj_text(adjustment_type: str, adjustment: int) -> str:
    return {"change": f"{adjustment:+d}", "percent": f"{adjustment:+d}%", "exact": f"={adjustment}"}[adjustment_type]


def attach(cloud: "Cloud", spec: AutoScalingSpec) -> AutoScalingGroup:
    """World key ``autoscaling``: the group starts with its desired capacity in service
    (launched at once, as the world's own instances are), then serves the demand each
    step."""
    group = AutoScalingGroup(cloud, spec)
    cloud.metric_sources.append(group.metrics)
    cloud.step_hooks.append(group.step)
    for _ in range(group.desired):
        if group._launch_one("the group's initial capacity", instant=True) is None:
            break
    return group


# -- what the mechanism publishes ------------------------------------------------------------------
METRICS = metrics(
    ("asg_desired", "the group's desired capacity"),
    ("asg_min", "the group's minimum size"),
    ("asg_max", "the group's maximum size"),
    ("asg_in_service", "instances InService (serving)"),
    ("asg_pending", "instances on their way in (launching, held by a hook, registering, health-checked)"),
    ("asg_waiting", "instances held by a lifecycle hook"),
    ("asg_terminating", "instances on their way out (draining, held by a hook)"),
    ("asg_demand_rps", "the load offered now, requests a second"),
    ("asg_capacity_rps", "what the instances in service can serve, requests a second"),
    ("asg_cpu_pct", "the last minute's average CPU of the instances past their warm-up"),
    ("asg_p95_ms", "the last minute's 95th percentile latency"),
    ("asg_worst_p95_ms", "the worst minute's 95th percentile latency so far"),
    ("asg_requests", "requests offered to the group"),
    ("asg_requests_failed", "requests failed for want of capacity"),
    ("asg_availability_pct", "the share of requests served"),
    Metric("asg_instance_hours", "the group's instance-hours so far (per second, 60 s at least)", clocked=True),
    Metric("asg_cost_usd", "what the group's instances cost so far, US$ at list prices", clocked=True),
    ("asg_flaps", "scale-outs and scale-ins that undid each other within one cooldown"),
    ("asg_scale_outs", "times the desired capacity went up"),
    ("asg_scale_ins", "times the desired capacity went down"),
)
EVENTS = events(
    ("asg.launch", "group instance zone version cause", "the group launched an instance (RunInstances)"),
    ("asg.launch_failed", "group reason", "no zone could take another instance"),
    ("asg.lifecycle", "group instance state step", "an instance of the group moved on in its lifecycle"),
    ("asg.terminate", "group instance zone cause", "the group chose an instance to terminate"),
    ("asg.capacity", "group was now cause policy", "the desired capacity changed"),
    ("asg.policy", "group policy metric value was now reason", "a scaling policy decided"),
    ("alarm.state", "alarm state metric value threshold", "a CloudWatch alarm changed state"),
    ("asg.flap", "group first first_at_s then apart_s", "a scale-out and a scale-in undid each other within one cooldown"),
    ("asg.hook_completed", "group instance hook result by", "a lifecycle action completed (by the player, the instance, or the timeout)"),
    ("asg.scheduled", "group action min max desired result", "a scheduled action ran"),
    ("asg.configured", "group setting value was", "a group setting changed"),
)
