"""Auto scaling (chapter 14): the five steps of a scale-out on the launch pipeline, scale-in
through draining, lifecycle hooks, the policies as AWS documents them, the Kubernetes
HPA rule, the termination policy, and the group's bounds. Published examples are
reproduced and named; bad input is one line and changes nothing."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudquest.cloud.autoscaling import (
    AutoScalingGroup,
    adjusted,
    check_steps,
    hpa_desired,
    mm1_latency_ms,
    p95_of,
    round_percent,
    step_for,
)
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter


def world(group: dict, demand: dict | None = None, target_group: bool = False, **extra) -> dict:
    w = {
        "view": "asg",
        "regions": [
            {
                "name": "r",
                "zones": [
                    {"name": "za", "racks": [{"name": "a1", "hosts": [{"count": 2, "vcpus": 32, "ram_gib": 128}]}]},
                    {"name": "zb", "racks": [{"name": "b1", "hosts": [{"count": 2, "vcpus": 32, "ram_gib": 128}]}]},
                ],
            }
        ],
        "autoscaling": {"rps_per_vcpu": 100, "demand": demand or {"base_rps": 100}, "group": {"name": "web", **group}, **extra},
    }
    if target_group:
        w["loadbalancer"] = {"balancers": [{"name": "front", "health_check": {"interval_s": 10, "timeout_s": 5}}]}
        w["autoscaling"]["group"]["target_group"] = "front"
    return w


def session(w: dict, seed: int = 0) -> Session:
    return Session(free_play_chapter(World.model_validate(w), "t"), seed, sandbox=True)


def run(s: Session, *lines: str) -> None:
    for line in lines:
        out = s.execute(line)
        assert out.ok, (line, out.output)


def group(s: Session) -> AutoScalingGroup:
    return s.cloud.get(AutoScalingGroup)


# -- AWS's step scaling, as documented -----------------------------------------------------------------
def test_percentage_rounding_as_the_ec2_auto_scaling_user_guide_gives_it():
    """EC2 Auto Scaling User Guide, step scaling, adjustment types: values greater than 1
    are rounded down (12.7 -> 12), between 0 and 1 rounded to 1 (.67 -> 1), between 0 and
    -1 rounded to -1 (-.58 -> -1), less than -1 rounded up (-6.67 -> -6)."""
    assert [round_percent(x) for x in (12.7, 0.67, -0.58, -6.67, 1.0, -1.0, 0.0)] == [12, 1, -1, -6, 1, -1, 0]


def test_min_adjustment_magnitude_example():
    """PutScalingPolicy, MinAdjustmentMagnitude: a group of 4 scaled out by 25 % with a
    minimum magnitude of 2 grows by 2, not by the 1 that 25 % of 4 gives."""
    assert adjusted(4, "percent", 25) == 5
    assert adjusted(4, "percent", 25, min_magnitude=2) == 6
    assert adjusted(4, "percent", -25, min_magnitude=2) == 2


EXAMPLE_OUT = [(0, 10, 0), (10, 20, 10), (20, None, 30)]  # the guide's scale-out steps, threshold 50 %
EXAMPLE_IN = [(-10, 0, 0), (-20, -10, -10), (None, -20, -30)]  # ... and scale-in steps


def test_the_step_scaling_example_of_the_user_guide_pure():
    """EC2 Auto Scaling User Guide, step adjustments example: a group of 10; at 60 % it
    adds 10 % of 10 (1, making 11); at 70 % it adds 30 % of 11 (3.3, rounded to 3, making
    14); at 40 % it removes 10 % of 14 (1.4 -> 1, making 13); at 30 % it removes 30 % of 13
    (3.9 -> 3, making 10). Above the threshold a step's lower bound is inclusive."""
    check_steps("out", "out", EXAMPLE_OUT)
    check_steps("in", "in", EXAMPLE_IN)
    capacity = 10
    for metric, steps, above, want in ((60, EXAMPLE_OUT, True, 11), (70, EXAMPLE_OUT, True, 14), (40, EXAMPLE_IN, False, 13), (30, EXAMPLE_IN, False, 10)):
        capacity = adjusted(capacity, "percent", step_for(steps, metric - 50, above))
        assert capacity == want
    # above the threshold [0, 10) holds 9.99, [10, 20) holds 10; below it (-10, 0] holds
    # -9.99 and (-20, -10] holds -10: "40 < metric <= 50" is the guide's first scale-in step
    assert step_for(EXAMPLE_OUT, 9.99, True) == 0 and step_for(EXAMPLE_OUT, 10, True) == 10
    assert step_for(EXAMPLE_IN, -9.99, False) == 0 and step_for(EXAMPLE_IN, -10, False) == -10


def test_the_step_scaling_example_played_by_a_group():
    """The same example on a running group: CPU at 60 % then 72 %, then 40 % and 30 %
    (demand set for it); the desired capacity goes 10, 11, 14, 13, 10."""
    demand = {
        "base_rps": 1200,  # 10 small instances (200 requests a second each): 60 % busy
        "crowds": [{"start_s": 300, "rise_s": 1, "hold_s": 300, "fall_s": 1, "extra_rps": 400}],  # 1,600 on 11: 72.7 %
        "ramps": [
            {"start_s": 700, "rise_s": 1, "extra_rps": -100},  # 1,100 on 14: 39.3 %
            {"start_s": 960, "rise_s": 1, "extra_rps": -350},  # 750 on 13: 28.8 %
            {"start_s": 1021, "rise_s": 1, "extra_rps": 150},  # 900 on 10: 45 %, inside the no-change step
        ],
    }
    w = world({"min": 1, "max": 20, "desired": 10}, demand)
    s = session(w)
    up = "asg policy up step --threshold 50 --direction out --adjust percent --steps 0:10:0,10:20:10,20::30"
    down = "asg policy down step --threshold 50 --direction in --adjust percent --steps -10:0:0,-20:-10:-10,:-20:-30"
    run(s, up, down, "tick 1500")
    desired = [e.get("now") for e in s.cloud.log if e.kind == "asg.capacity"]
    assert desired == [11, 14, 13, 10]
    reasons = [e.get("reason") for e in s.cloud.log if e.kind == "asg.policy" and e.get("was") != e.get("now")]
    assert "step +10% of 10 = 11" in reasons[0] and "step +30% of 11 = 14" in reasons[1]
    assert "step -10% of 14 = 13" in reasons[2] and "step -30% of 13 = 10" in reasons[3]


# -- the Kubernetes HPA, as documented -----------------------------------------------------------------
def test_the_kubernetes_hpa_examples():
    """Kubernetes documentation, Horizontal Pod Autoscaling, algorithm details:
    desiredReplicas = ceil[currentReplicas * (currentMetricValue / desiredMetricValue)];
    a metric of 200m against a target of 100m doubles the replicas, 50m halves them, and
    a ratio within the 0.1 tolerance of 1.0 changes nothing. The v1.33 blog post on
    configurable tolerance: 50 replicas at 90 % CPU against a 75 % target become 60."""
    assert hpa_desired(4, 200, 100) == 8
    assert hpa_desired(4, 50, 100) == 2
    assert hpa_desired(4, 109, 100) == 4 and hpa_desired(4, 91, 100) == 4
    assert hpa_desired(50, 90, 75) == 60
    # not-yet-ready pods count as 0 % when scaling up: 4 ready at 200 % of the target and
    # 4 unready average 100 %, within tolerance: no change beyond the 8 already there
    assert hpa_desired(4, 200, 100, unready=4) == 8
    assert hpa_desired(4, 300, 100, unready=2) == math.ceil(6 * 2.0)


def test_an_hpa_policy_scales_in_only_to_the_highest_recommendation_of_five_minutes():
    demand = {"base_rps": 600, "ramps": [{"start_s": 300, "rise_s": 1, "extra_rps": -420}]}
    s = session(world({"min": 1, "max": 10, "desired": 6}, demand))
    run(s, "asg policy k hpa --target 50", "tick 900")
    changes = [(e.t_ms, e.get("now")) for e in s.cloud.log if e.kind == "asg.capacity"]
    # 600 rps on 6 (50 %): within tolerance; 180 rps from 300 s: recommends 2 at once,
    # but the stabilization window keeps the old recommendation for 300 s
    assert changes and changes[0][1] == 2 and changes[0][0] >= 600_000


# -- the scale-out's steps, scale-in, hooks -----------------------------------------------------------
def test_a_scale_out_runs_the_five_steps_in_order_and_is_in_service_only_after_every_health_check():
    w = world({"min": 1, "max": 4, "desired": 1, "hooks": [{"name": "boot", "work_s": 20}]}, target_group=True)
    s = session(w, seed=5)
    run(s, "tick 30", "asg set desired 2", "tick 120")
    name = "web-2"
    log = [e for e in s.cloud.log if e.get("instance") == name or e.get("target") == name]
    order = []
    for e in log:
        tag = (
            f"{e.kind}:{e.get('step')}" if e.kind == "launch.step" else
            f"{e.kind}:{e.get('state')}" if e.kind == "asg.lifecycle" else
            f"{e.kind}:{e.get('action')}" if e.kind == "api.call" else e.kind
        )  # fmt: skip
        order.append((e.t_ms, tag))
    tags = [t for _, t in order]
    want = [
        "launch.step:find_server",  # provision the VM
        "launch.step:allocate_disk",  # attach its volume
        "launch.step:assign_nic",  # assign its network
        "instance.running",
        "asg.lifecycle:Pending:Wait",  # the lifecycle hook
        "asg.hook_completed",
        "api.call:RegisterTargets",  # register with the target group
        "lb.target_healthy",  # the health checks, one per node
        "asg.lifecycle:InService",
    ]
    positions = [tags.index(x) for x in want]
    assert positions == sorted(positions), tags
    times = dict((t, ms) for ms, t in reversed(order))
    assert times["asg.hook_completed"] - times["asg.lifecycle:Pending:Wait"] == 20_000
    healthy = [ms for ms, t in order if t == "lb.target_healthy"]
    assert len(healthy) == 2 and times["asg.lifecycle:InService"] >= max(healthy)  # both nodes first


def test_scale_in_deregisters_drains_then_terminates_and_bills_until_then():
    w = world({"min": 1, "max": 4, "desired": 3, "drain_s": 120}, target_group=True)
    s = session(w)
    run(s, "tick 60", "asg set desired 2", "tick 200")
    (victim,) = [e.get("instance") for e in s.cloud.log if e.kind == "asg.terminate"]
    dereg = next(e.t_ms for e in s.cloud.log if e.kind == "api.call" and e.get("action") == "DeregisterTargets")
    ended = next(e.t_ms for e in s.cloud.log if e.kind == "instance.terminated" and e.get("instance") == victim)
    assert ended - dereg == 120_000
    assert group(s).capacity_rps() == 2 * 200  # it took no requests while draining


def test_a_hook_nobody_completes_holds_the_instance_until_you_do():
    w = world({"min": 1, "max": 4, "desired": 1, "hooks": [{"name": "manual", "timeout_s": 600}]})
    s = session(w)
    run(s, "asg set desired 2", "tick 60")
    g = group(s)
    assert g.members["web-2"].state == "Pending:Wait" and g.metrics()["asg_waiting"] == 1
    run(s, "asg complete web-2 continue", "tick 1")
    assert g.members["web-2"].state == "InService"


def test_a_hook_that_times_out_abandons_the_launch_and_the_group_replaces_it():
    w = world({"min": 1, "max": 4, "desired": 1, "hooks": [{"name": "manual", "timeout_s": 60}]})
    s = session(w)
    run(s, "asg set desired 2", "tick 100")
    g = group(s)
    assert g.members["web-2"].state == "Terminated"
    assert any(e.kind == "asg.hook_completed" and e.get("result") == "ABANDON" and e.get("by") == "timeout" for e in s.cloud.log)
    assert "web-3" in g.members and g.members["web-3"].state == "Pending:Wait"  # the replacement waits too


def test_the_default_termination_policy_balances_zones_then_removes_the_oldest_template():
    s = session(world({"min": 1, "max": 6, "desired": 2}))
    run(s, "asg set type medium", "asg set desired 3", "tick 60")  # web-3 (v2) goes to za: za has 2
    g = group(s)
    assert {m.name: (m.zone, m.version) for m in g.live()} == {"web-1": ("za", 1), "web-2": ("zb", 1), "web-3": ("za", 2)}
    run(s, "asg set desired 2", "tick 1")
    (victim,) = [e.get("instance") for e in s.cloud.log if e.kind == "asg.terminate"]
    assert victim == "web-1"  # the zone with the most first, then the oldest launch template version


def test_simple_scaling_waits_for_its_cooldown_of_300_seconds_by_default():
    demand = {"base_rps": 390}  # 2 instances: 97 % busy; 3: 65 %; 4: 49 %
    s = session(world({"min": 1, "max": 10, "desired": 2}, demand))
    run(s, "asg policy up simple --threshold 60 --direction out --adjustment 1", "tick 900")
    outs = [e.t_ms for e in s.cloud.log if e.kind == "asg.capacity"]
    assert len(outs) >= 2
    done = [e.t_ms for e in s.cloud.log if e.kind == "asg.lifecycle" and e.get("state") == "InService" and e.t_ms > 0]
    assert outs[1] - done[0] >= 300_000  # the cooldown runs from the end of the activity


def test_warming_instances_stay_out_of_the_metric_and_block_scale_in():
    """Default instance warm-up: until it ends, an instance's metrics stay out of the
    group's aggregate (its start-up CPU does not count) and scale-in waits."""
    demand = {"base_rps": 200, "crowds": [{"start_s": 120, "rise_s": 1, "hold_s": 240, "fall_s": 1, "extra_rps": 1000}]}
    runs = {}
    for warmup in (None, 1500):
        g = {"min": 1, "max": 10, "desired": 2, **({"warmup_s": warmup} if warmup else {})}
        s = session(world(g, demand, init_s=120, init_cpu_pct=95))
        run(s, "asg policy track target-tracking --target 50", "tick 2400")
        runs[warmup] = s
    cold, warm = group(runs[None]), group(runs[1500])
    at = {m.t_ms: m for m in cold.minutes}, {m.t_ms: m for m in warm.minutes}
    # the two new instances are in service from about 320 s and start up for 120 s:
    # without a warm-up their 95 % CPU is averaged in, with one only the old two count
    assert at[0][420_000].cpu_pct > 70 and at[1][420_000].cpu_pct < 40
    # fooled by start-up CPU, the group without a warm-up buys twice the instances
    assert max(m.desired for m in cold.minutes) >= 2 * max(m.desired for m in warm.minutes)
    ins = lambda s: [e.t_ms for e in s.cloud.log if e.kind == "asg.capacity" and e.get("now") < e.get("was")]  # noqa: E731
    first_in_cold, first_in_warm = ins(runs[None])[0], ins(runs[1500])[0]
    ready = max(m.in_service_ms for m in warm.members.values() if not m.seasoned)
    assert first_in_cold < ready + 1_500_000 <= first_in_warm  # scale-in waited for the warm-up


# -- the group's bounds ---------------------------------------------------------------------------------
LINES = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["min", "max", "desired"]), st.integers(0, 14)).map(lambda t: f"asg set {t[0]} {t[1]}"),
        st.integers(1, 200).map(lambda n: f"tick {n}"),
        st.sampled_from([
            "asg policy t target-tracking --target 40",
            "asg policy s step --threshold 60 --direction out --adjust percent --steps 0::50",
            "asg policy d simple --threshold 20 --direction in --adjustment -2",
            "asg policy k hpa --target 60",
            "asg schedule x --at 400 --min 6",
            "asg schedule y --at 300 --max 3",
        ]),
    ),
    max_size=12,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=LINES)
def test_the_group_never_leaves_min_and_max(lines):
    demand = {"base_rps": 300, "crowds": [{"start_s": 200, "rise_s": 30, "hold_s": 200, "fall_s": 60, "extra_rps": 1500}]}
    s = session(world({"min": 1, "max": 8, "desired": 2}, demand))
    g = group(s)
    outside: list[str] = []

    def watch(_dt: int) -> None:  # after every simulation step, behind the group's own
        if not g.min <= g.desired <= g.max or len(g.live()) > g.max:
            outside.append(f"t={s.cloud.now_ms}: min {g.min} desired {g.desired} max {g.max} live {len(g.live())}")

    s.cloud.step_hooks.append(watch)
    for line in lines:
        s.execute(line)
        watch(0)
    run(s, "tick 120")
    assert not outside, outside[:3]


# -- latency ------------------------------------------------------------------------------------------
def test_latency_rises_with_utilisation_as_in_an_m_m_1_queue():
    assert mm1_latency_ms(20, 0.0, 2000) == 20 and mm1_latency_ms(20, 0.75, 2000) == 80
    assert mm1_latency_ms(20, 1.0, 2000) == 2000
    # exponential response times: the 95th percentile is the mean x ln 20
    assert p95_of({100.0: 1000}, 0, 2000) == pytest.approx(100 * math.log(20), abs=0.1)
    assert p95_of({100.0: 900}, 100, 2000) == 2000  # 10 % failed: the p95 is a failure


def test_the_demand_is_seeded():
    w = world({"min": 2, "max": 2}, {"base_rps": 1000, "noise_pct": 10})
    a, b, c = session(w, 1), session(w, 1), session(w, 2)
    for s in (a, b, c):
        run(s, "tick 600")
    assert [m.demand_rps for m in group(a).minutes] == [m.demand_rps for m in group(b).minutes]
    assert [m.demand_rps for m in group(a).minutes] != [m.demand_rps for m in group(c).minutes]
    assert all(900 <= m.demand_rps <= 1100 for m in group(a).minutes)


# -- bad input -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line,message",
    [
        ("asg set min 9", "min 9 would be above max 8"),
        ("asg set max 0", "min 1 would be above max 0"),
        ("asg set desired 9", "desired 9 must be between min 1 and max 8"),
        ("asg set warmup soon", "warmup must be a whole number (0 or more) or off"),
        ("asg set type huge", "type must be one of"),
        ("asg policy p target-tracking --metric memory --target 50", "metric must be one of cpu, requests-per-target"),
        ("asg policy p target-tracking --metric requests-per-target --target 50", "needs a target group"),
        ("asg policy p target-tracking", "needs a target"),
        ("asg policy p step --threshold 50 --direction out --steps 0:10:1,20::2", "without gap or overlap"),
        ("asg policy p step --threshold 50 --direction out --steps -5::1", "start at a breach of 0 or more"),
        ("asg policy p simple --threshold 50 --direction out --adjustment -1", "cannot remove capacity"),
        ("asg hook h launching --timeout 10", "timeout must be at least 30"),
        ("asg complete web-1 continue", "'web-1' is not waiting on a lifecycle hook"),
        ("asg delete policy nothing", "no policy named 'nothing'"),
        ("asg schedule late --min 3", "say when: --at SECONDS"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(line, message):
    s = session(world({"min": 1, "max": 8, "desired": 2}))
    run(s, "tick 5")
    g = group(s)
    before = (len(s.cloud.log), g.min, g.max, g.desired, dict(g.policies), dict(g.hooks))
    out = s.execute(line)
    assert not out.ok and message in out.output and "\n" not in out.output, out.output
    assert (len(s.cloud.log), g.min, g.max, g.desired, dict(g.policies), dict(g.hooks)) == before


def test_a_world_with_min_above_max_is_refused_in_one_line():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        World.model_validate(world({"min": 5, "max": 3}))
    assert "min 5 is above max 3" in str(info.value)
