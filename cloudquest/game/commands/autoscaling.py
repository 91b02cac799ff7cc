"""Auto scaling commands: the group and its instances' steps, its settings, its scaling
policies (target tracking, step, simple, and the Kubernetes HPA rule), scheduled
actions, lifecycle hooks, and what it did and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from ...cloud import autoscaling as sim
from ...cloud.catalogue import CATALOGUE
from ...cloud.errors import CloudError
from ..console_text import fitted
from ..mechanism import Mechanism, keys_of
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
SETTINGS = ("min", "max", "desired", "cooldown", "warmup", "drain", "type")
STATE_MARK = {
    "Pending": "…",
    "Pending:Wait": "⏸",
    "Pending:Proceed": "…",
    "InService": "●",
    "Terminating": "↓",
    "Terminating:Wait": "⏸",
    "Terminated": "✘",
}


def _group(session: "Session") -> sim.AutoScalingGroup:
    group = session.cloud.get(sim.AutoScalingGroup)
    if group is None:
        raise CommandError("this world has no auto scaling group (its world has no autoscaling section)")
    return group


def clock(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def member_line(group: sim.AutoScalingGroup, m: sim.Member, now: int) -> str:
    inst = group.instance(m.name)
    type_name = inst.type.name if inst is not None else group.templates[m.version - 1]
    extra = ""
    if m.state == "InService" and group.warming(m, now):
        extra = f", warming up {(group.warmup_s * 1000 - (now - m.in_service_ms)) // 1000} s more"
    elif m.state == "InService" and group.starting(m, now):
        extra = ", its application is starting (half capacity)"
    return (
        f"  {STATE_MARK.get(m.state, '?')} {m.name:<10} {m.zone:<11} {type_name:<7} v{m.version} "
        f"{m.state:<16} {sim.STEP_WORDS.get(m.step, m.step)}{extra}"
    )


def show_text(session: "Session", group: sim.AutoScalingGroup) -> str:
    now = session.cloud.now_ms
    m = group.metrics()
    warm = f"{group.warmup_s} s" if group.warmup_s is not None else "not enabled"
    lines = [
        f"group {group.name}: desired {group.desired} (min {group.min}, max {group.max}); in service {m['asg_in_service']}, "
        f"on the way in {m['asg_pending']}, on the way out {m['asg_terminating']}",
        f"  template {group.template_name} v{len(group.templates)} ({group.templates[-1]}), zones {', '.join(group.zones)}, "
        f"target group {group.target_group or 'none'}",
        f"  default cooldown {group.default_cooldown_s} s, instance warm-up {warm}, drain {group.drain_s} s, "
        f"termination {group.termination}",
        f"  load {m['asg_demand_rps']:g} rps of {m['asg_capacity_rps']:g} capacity; last minute CPU {m['asg_cpu_pct']:g}%, "
        f"p95 {m['asg_p95_ms']:g} ms (worst {m['asg_worst_p95_ms']:g}); flaps {m['asg_flaps']}; "
        f"{m['asg_instance_hours']:.2f} instance-hours, ${m['asg_cost_usd']:.4f}",
    ]
    live = [x for x in group.members.values() if x.state != "Terminated"]
    lines.append(f"instances ({len(live)}):" if live else "instances: none")
    lines += [member_line(group, x, now) for x in live]
    lines.append("policies:" if group.policies else "policies: none (asg policy NAME KIND ...)")
    for p in group.policies.values():
        lines.append(f"  {p.name} ({policy_words(p.spec)}): {p.last}")
    for h in group.hooks.values():
        script = f"; the instance's script says CONTINUE after {h.work_s} s" if h.work_s is not None else "; nothing completes it but you (asg complete)"
        lines.append(f"hook {h.name}: holds {h.transition} instances up to {h.timeout_s} s, then {h.default_result.upper()}{script}")
    for s in group.scheduled.values():
        sets = ", ".join(f"{k} {v}" for k, v in (("min", s.spec.min), ("max", s.spec.max), ("desired", s.spec.desired)) if v is not None)
        every = f", every {s.spec.every_s:g} s" if s.spec.every_s else ""
        lines.append(f"scheduled {s.spec.name}: at t={s.next_ms / 1000:g}s{every}: {sets}")
    return "\n".join(lines)


def policy_words(spec: sim.PolicySpec) -> str:
    if spec.kind in ("target-tracking", "hpa"):
        return f"{spec.kind} {spec.metric} at {spec.target:g}"
    side = ">=" if spec.direction == "out" else "<="
    head = f"{spec.kind} on {spec.metric} {side} {spec.threshold:g} for {spec.periods} min"
    if spec.kind == "simple":
        return f"{head}, {sim._adj_text(spec.adjustment_type, spec.adjustment)}, cooldown {spec.cooldown_s if spec.cooldown_s is not None else 'default'}"
    steps = ",".join(f"{_num(s.lower)}:{_num(s.upper)}:{sim._adj_text(spec.adjustment_type, s.adjustment)}" for s in spec.steps)
    return f"{head}, steps {steps}"


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


@command("asg show", "the auto scaling group: its capacity, each instance's step, its policies and what they last decided")
@fitted
def asg_show(session: "Session") -> str:
    return show_text(session, _group(session))


@command(
    "asg set",
    "change a group setting: min, max, desired, cooldown, warmup, drain, or the launch template's type",
    args=[Param("setting", "what to change", choices=SETTINGS), Param("value", "a number (warmup: or off; type: an instance type)")],
    details="""min, max, desired   the group's size (min <= desired <= max; a new min above desired raises it)
cooldown            the default cooldown, seconds (simple scaling waits it after each activity; 300 by default)
warmup              the default instance warm-up, seconds after InService, or off (not enabled by default)
drain               the target group's deregistration delay, seconds (300 by default)
type                a new launch template version with this instance type (new instances only)""",
)
def asg_set(session: "Session", setting: str, value: str) -> str:
    group = _group(session)
    if setting == "type":
        if value not in CATALOGUE:
            raise CommandError(f"type must be one of {', '.join(CATALOGUE)}, not {value!r}")
        if value == group.templates[-1]:
            raise CommandError(f"the launch template is already {value}")
        version = group.set_type(value)
        return f"launch template {group.template_name} v{version}: {value}; new instances use it (the termination policy removes older versions first)"
    if setting == "warmup" and value == "off":
        number = None
    else:
        if not value.isdigit() or len(value) > 6:
            raise CommandError(f"{setting} must be a whole number (0 or more){' or off' if setting == 'warmup' else ''}, not {value!r}")
        number = int(value)
    if setting in ("min", "max", "desired"):
        if number > 10_000:
            raise CommandError(f"{setting} must be at most 10000, not {number}")
        lo = number if setting == "min" else group.min
        hi = number if setting == "max" else group.max
        if lo > hi:
            raise CommandError(f"min {lo} would be above max {hi}: a group keeps min <= desired <= max ({'lower min' if setting == 'min' else 'raise max'} first)")
        if setting == "desired" and not lo <= number <= hi:
            raise CommandError(f"desired {number} must be between min {lo} and max {hi}")
        was = getattr(group, setting)
        group.update(**{{"min": "min_", "max": "max_", "desired": "desired"}[setting]: number}, cause=f"set {setting} {number}")
        group.configure(setting, number, was)
        return f"{group.name} {setting}: {was} -> {number}; desired {group.desired} (min {group.min}, max {group.max})"
    limits = {"cooldown": 86_400, "warmup": 86_400, "drain": 3600}
    if number is not None and number > limits[setting]:
        raise CommandError(f"{setting} must be at most {limits[setting]} s, not {number}")
    attr = {"cooldown": "default_cooldown_s", "warmup": "warmup_s", "drain": "drain_s"}[setting]
    was = getattr(group, attr)
    setattr(group, attr, number)
    group.configure(setting, -1 if number is None else number, -1 if was is None else was)
    shown = "off" if number is None else f"{number} s"
    return f"{group.name} {setting}: {'off' if was is None else f'{was} s'} -> {shown}"


STEPS_HELP = "steps as LOWER:UPPER:ADJUSTMENT,... with breaches from the threshold, an empty bound open (0:10:0,10:20:10,20::30)"


@command(
    "asg policy",
    "add or replace a scaling policy: target-tracking, step, simple, or hpa (the Kubernetes rule)",
    args=[Param("name", "the policy's name"), Param("kind", "its kind", choices=sim.KINDS)],
    options=[
        Param("metric", "what it watches", choices=tuple(sim.METRICS_AVAILABLE), default="cpu"),
        Param("target", "target-tracking and hpa: the value to hold", type=float),
        Param("threshold", "step and simple: the alarm's threshold", type=float),
        Param("direction", "step and simple: out (alarm at or above) or in (at or below)", choices=("out", "in")),
        Param("periods", "step and simple: datapoints in a row for the alarm", type=int, min=1, max=60),
        Param("adjust", "step and simple: change, percent or exact", choices=("change", "percent", "exact")),
        Param("adjustment", "simple: the adjustment", type=int, min=-10_000, max=10_000),
        Param("steps", STEPS_HELP),
        Param("min-magnitude", "percent adjustments: at least this many instances", type=int, min=1, max=10_000),
        Param("cooldown", "simple: seconds to ignore the alarm after an activity", type=int, min=0, max=86_400),
        Param("warmup", "step and target-tracking: the instance warm-up for this policy", type=int, min=0, max=86_400),
        Param("scale-in", "target-tracking: on, or off to only scale out", choices=("on", "off")),
        Param("tolerance", "hpa: skip while |metric/target - 1| is within this", type=float, min=0, max=1),
        Param("stabilization", "hpa: seconds of recommendations a scale-in keeps the highest of", type=int, min=0, max=3600),
    ],
    details="""target-tracking  --metric cpu --target 50: AWS adds capacity after 3 minutes above the target
                 (ceil(capacity x metric / target)) and removes it after 15 minutes under 90 % of it.
step             --threshold 50 --direction out --adjust percent --steps 0:10:0,10:20:10,20::30
                 every minute in ALARM, the step holding (metric - threshold) adjusts the capacity;
                 percentages round as AWS does (12.7 -> 12, 0.4 -> 1, -6.67 -> -6), --min-magnitude N.
simple           --threshold 70 --direction out --adjustment 1: one adjustment, then a cooldown.
hpa              --target 50: ceil(current x metric / target) each minute, within 10 % does nothing.""",
)
def asg_policy(session: "Session", name: str, kind: str, **opts) -> str:
    group = _group(session)
    steps = _steps(opts.pop("steps"))
    scale_in = opts.pop("scale_in")
    fields = {
        "name": name, "kind": kind, "metric": opts["metric"], "target": opts["target"], "threshold": opts["threshold"],
        "direction": opts["direction"], "periods": opts["periods"] or 1, "adjustment_type": opts["adjust"] or "change",
        "adjustment": opts["adjustment"], "steps": steps, "min_magnitude": opts["min_magnitude"],
        "cooldown_s": opts["cooldown"], "warmup_s": opts["warmup"], "disable_scale_in": scale_in == "off",
    }  # fmt: skip
    if opts["tolerance"] is not None:
        fields["tolerance"] = opts["tolerance"]
    if opts["stabilization"] is not None:
        fields["stabilization_s"] = opts["stabilization"]
    if kind != "target-tracking" and scale_in is not None:
        raise CommandError("--scale-in is for a target-tracking policy")
    if kind != "hpa" and (opts["tolerance"] is not None or opts["stabilization"] is not None):
        raise CommandError("--tolerance and --stabilization are for an hpa policy")
    if not name or not sim.re_name(name):
        raise CommandError(f"bad policy name {name!r} (lower-case letters, digits and '-', starting with a letter)")
    try:
        spec = sim.PolicySpec.model_validate(fields)
    except ValidationError as exc:
        raise CommandError(_first_error(exc)) from None
    if spec.metric == "requests-per-target" and group.target_group is None:
        raise CommandError("no metric requests-per-target here: it needs a target group (this group has none; use cpu)")
    replaced = group.put_policy(spec)
    return f"policy {name} {'replaced' if replaced else 'added'}: {policy_words(spec)}"


def _steps(text: str | None) -> list[dict]:
    if text is None:
        return []
    out = []
    for part in text.split(","):
        bits = part.split(":")
        if len(bits) != 3:
            raise CommandError(f"a step is LOWER:UPPER:ADJUSTMENT, not {part!r} ({STEPS_HELP})")
        try:
            lower = float(bits[0]) if bits[0].strip() else None
            upper = float(bits[1]) if bits[1].strip() else None
            adjustment = int(bits[2])
        except ValueError:
            raise CommandError(f"a step's bounds are numbers and its adjustment a whole number, not {part!r}") from None
        if any(x is not None and not abs(x) <= 1_000_000 for x in (lower, upper)):
            raise CommandError(f"a step's bounds must be within 1000000, not {part!r}")
        out.append({"lower": lower, "upper": upper, "adjustment": adjustment})
    return out


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err.get("loc", ()) if x != "__root__")
    message = err.get("msg", "invalid").removeprefix("Value error, ")
    return message if not where else f"{where.replace('_s', '').replace('_', '-')}: {message}"


@command(
    "asg schedule",
    "add or replace a scheduled action: set min, max or desired at a time (once, or every so often)",
    args=[Param("name", "the action's name")],
    details="""--at is required: the moment, in seconds since the start (t=0). Then at least one
of --min, --max, --desired. A new min above the desired capacity raises it; a new max
below it lowers it. Example: asg schedule ad --at 1020 --min 14""",
    options=[
        Param("at", "when, in seconds since the start", type=float, min=0, max=30 * 86_400),
        Param("every", "repeat every so many seconds (60 or more)", type=float, min=60, max=30 * 86_400),
        Param("min", "the new minimum", type=int, min=0, max=10_000),
        Param("max", "the new maximum", type=int, min=0, max=10_000),
        Param("desired", "the new desired capacity", type=int, min=0, max=10_000),
    ],
)
def asg_schedule(session: "Session", name: str, at: float | None, every: float | None, **sizes) -> str:
    group = _group(session)
    if at is None:
        raise CommandError("say when: --at SECONDS (usage: asg schedule NAME --at S [--every S] [--min N] [--max N] [--desired N])")
    try:
        spec = sim.ScheduledSpec.model_validate({"name": name, "at_s": at, "every_s": every, **sizes})
    except ValidationError as exc:
        raise CommandError(_first_error(exc)) from None
    try:
        group.put_scheduled(spec)
    except CloudError as exc:
        raise CommandError(exc.message) from None
    sets = ", ".join(f"{k} {v}" for k, v in sizes.items() if v is not None)
    return f"scheduled {name}: at t={at:g}s{f', every {every:g} s' if every else ''}: {sets}"


@command(
    "asg hook",
    "add or replace a lifecycle hook: launching instances wait in Pending:Wait (terminating ones in Terminating:Wait)",
    args=[Param("name", "the hook's name"), Param("transition", "which instances it holds", choices=("launching", "terminating"))],
    options=[
        Param("timeout", "seconds before the default result applies (30-7200, AWS default 3600)", type=int, min=30, max=7200),
        Param("default", "what the timeout does: continue or abandon (AWS default)", choices=("continue", "abandon")),
    ],
)
def asg_hook(session: "Session", name: str, transition: str, timeout: int | None, default: str | None) -> str:
    group = _group(session)
    if not sim.re_name(name):
        raise CommandError(f"bad hook name {name!r} (lower-case letters, digits and '-', starting with a letter)")
    old = group.hooks.get(name)
    hook = sim.Hook(
        name, transition, timeout if timeout is not None else sim.HOOK_TIMEOUT[2], default or "abandon", old.work_s if old else None
    )
    try:
        group.put_hook(hook)
    except CloudError as exc:
        raise CommandError(exc.message) from None
    return f"hook {name}: {transition} instances wait up to {hook.timeout_s} s, then {hook.default_result.upper()}"


@command(
    "asg complete",
    "complete a lifecycle action: the instance waiting on a hook goes on (continue) or is given up (abandon)",
    args=[Param("instance", "an instance waiting on a hook", complete="instance"), Param("result", "the result", choices=("continue", "abandon"))],
)
def asg_complete(session: "Session", instance: str, result: str) -> str:
    group = _group(session)
    m = group.members.get(instance)
    if m is None or not m.state.endswith(":Wait"):
        waiting = [x.name for x in group.members.values() if x.state.endswith(":Wait")]
        raise CommandError(f"{instance!r} is not waiting on a lifecycle hook (waiting: {', '.join(waiting) or 'none'})")
    group.complete(instance, result)
    return f"{instance}: {result.upper()}; now {m.state} ({sim.STEP_WORDS.get(m.step, m.step)})"


@command(
    "asg delete",
    "delete a scaling policy, scheduled action or lifecycle hook",
    args=[Param("what", "what to delete", choices=("policy", "schedule", "hook")), Param("name", "its name")],
)
def asg_delete(session: "Session", what: str, name: str) -> str:
    group = _group(session)
    table = {"policy": group.policies, "schedule": group.scheduled, "hook": group.hooks}[what]
    if name not in table:
        raise CommandError(f"no {what} named {name!r} (those: {', '.join(table) or 'none'})")
    group.delete(what, name)
    return f"{what} {name} deleted"


@command(
    "asg activities",
    "what the group did and why: capacity changes, launches, terminations, policy decisions, hooks",
    options=[Param("last", "how many (default 15)", type=int, min=1, max=500, default=15)],
)
def asg_activities(session: "Session", last: int) -> str:
    group = _group(session)
    kinds = ("asg.capacity", "asg.launch", "asg.terminate", "asg.launch_failed", "asg.hook_completed", "asg.scheduled", "asg.flap")
    rows = [e for e in session.cloud.log if e.kind in kinds and e.get("group") == group.name]
    if not rows:
        return "no activities yet"
    lines = [f"activities of {group.name} (last {min(last, len(rows))} of {len(rows)}):"]
    for e in rows[-last:]:
        lines.append(f"  {clock(e.t_ms)} {activity_text(e)}")
    return "\n".join(lines)


def activity_text(e) -> str:
    k = e.kind
    if k == "asg.capacity":
        return f"desired {e.get('was')} -> {e.get('now')}: {e.get('cause')}"
    if k == "asg.launch":
        return f"launching {e.get('instance')} in {e.get('zone')} (template v{e.get('version')})"
    if k == "asg.terminate":
        return f"terminating {e.get('instance')} in {e.get('zone')}"
    if k == "asg.launch_failed":
        return f"launch failed: {e.get('reason')}"
    if k == "asg.hook_completed":
        return f"{e.get('instance')}: hook {e.get('hook')} {e.get('result')} (by {e.get('by')})"
    if k == "asg.scheduled":
        return f"scheduled {e.get('action')}: min {e.get('min')}, max {e.get('max')}, desired {e.get('desired')} ({e.get('result')})"
    return f"FLAP: scale-{e.get('first')} at t={e.get('first_at_s'):g}s undone by scale-{e.get('then')} {e.get('apart_s'):g} s later"


@command(
    "asg demand",
    "the last minutes: demand, capacity, CPU, p95 latency, desired and in-service instances",
    options=[Param("minutes", "how many (default 12)", type=int, min=1, max=1440, default=12)],
)
def asg_demand(session: "Session", minutes: int) -> str:
    group = _group(session)
    rows = group.minutes[-minutes:]
    if not rows:
        return f"no minute has ended yet (one every {group.spec.period_s} s)"
    lines = [f"{'minute':>8} {'demand':>7} {'capacity':>8} {'cpu%':>5} {'p95 ms':>7} {'failed':>6} {'desired':>7} {'in svc':>6}"]
    for r in rows:
        cpu = "-" if r.cpu_pct is None else f"{r.cpu_pct:.0f}"
        lines.append(
            f"{clock(r.t_ms):>8} {r.demand_rps:>7.0f} {r.capacity_rps:>8.0f} {cpu:>5} {r.p95_ms:>7.0f} {r.failed:>6} {r.desired:>7} {r.in_service:>6}"
        )
    return "\n".join(lines)


# -- the view in words --------------------------------------------------------------------------
def asg_text(session: "Session") -> str:
    group = session.cloud.get(sim.AutoScalingGroup)
    if group is None:
        return "this world has no auto scaling group"
    text = show_text(session, group)
    if group.decisions:
        d = group.decisions[-1]
        text += f"\nlast decision at {clock(d.t_ms)}: {d.policy} set desired {d.was} -> {d.now}: {d.reason}"
    return text


def _status(session: "Session", thing: str | None) -> str | None:
    group = session.cloud.get(sim.AutoScalingGroup)
    if group is None:
        return None
    if thing is not None:
        m = group.members.get(thing)
        return member_line(group, m, session.cloud.now_ms).strip() if m is not None else None
    return (
        f"auto scaling group {group.name}: desired {group.desired} (min {group.min}, max {group.max}), "
        f"{group.count('InService')} in service"
    )


MECHANISM = Mechanism(
    name="autoscaling",
    summary="an auto scaling group: the steps of a scale-out, policies, cooldowns, warm-up, lifecycle hooks (chapter 14)",
    section=sim.AutoScalingSpec,
    attach=sim.attach,
    needs=("loadbalancer", "network"),  # its instances need an interface and a target group: those attach first
    check=sim.check_world,
    commands=command,
    ids={"asg-policy": keys_of(sim.AutoScalingGroup, "policies"), "asg-hook": keys_of(sim.AutoScalingGroup, "hooks"), "asg-schedule": keys_of(sim.AutoScalingGroup, "scheduled")},
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS,
    views={"asg": asg_text},
)
