"""The core every world has: the hardware, time, faults, and the commands every chapter
has (help, status, tick, objectives, hint, fail, destroy, repair, degrade).

Its record (``MECHANISM``, at the bottom) declares the core's metrics and events: the
control plane's launch pipeline, the hardware's faults and the API calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud.faults import FAULT_KINDS, act
from ...cloud.hardware import KINDS
from ...cloud.mechanism import Metric, events, metrics
from ..console_text import fitted
from ..limits import MAX_RUN_MS
from ..objectives import GLYPH
from ..mechanism import Mechanism, status_providers
from ..parser import CommandError
from ..registry import CommandSet, Param, help_index, table

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()
MAX_TICK_S = 7 * 24 * 3600


@command(
    "help",
    "list the commands, or explain one",
    args=[Param("verb", "a command", required=False), Param("sub", "the second word of a two-word command", required=False)],
)
def help_(session: "Session", verb: str | None, sub: str | None) -> str:
    if verb is None:
        return help_index(session.enabled)
    verb = f"{verb} {sub}".lower() if sub else verb.lower()
    spec = table().get(verb)
    if spec is None:
        subs = sorted(v for v in session.enabled if v.startswith(verb + " "))
        if subs:
            return "\n\n".join(table()[v].help_text() for v in subs)
        raise CommandError(f"no command {verb!r} (type 'help' for the list)")
    if verb not in session.enabled:
        raise CommandError(f"{verb!r} is not available in this chapter (type 'help' for the list)")
    return spec.help_text()


def shown_ip(inst) -> str:
    """An instance's private address as the player may see it: the control plane picks
    it when the launch starts, but the instance has it only once its assign_nic step
    has run; until then, '-'."""
    if inst.private_ip and (inst.state != "pending" or any(step == "assign_nic" for step, _ in inst.steps)):
        return inst.private_ip
    return "-"


def _health_line(thing, kind: str) -> str:
    up = getattr(thing, "up", True)
    return f"{kind} {thing.id}: {thing.health.value}" + ("" if up else " (down)")


def _status_thing(session: "Session", thing: str) -> str:
    cloud = session.cloud
    hw = cloud.hardware
    inst = cloud.control.instances.get(thing)
    if inst is not None:
        where = f"{inst.host.id} / rack {inst.host.rack.id} / zone {inst.zone}" if inst.host else "nowhere"
        return f"instance {inst.name} ({inst.id}, {inst.type.name}): {inst.state} on {where}, ip {shown_ip(inst)}"
    if thing in hw.zones:
        z = hw.zones[thing]
        hosts = z.hosts()
        up = sum(1 for h in hosts if h.up)
        cpu = sum(h.vcpus for h in hosts if h.up)
        used = sum(h.used_vcpus for h in hosts if h.up)
        return f"{_health_line(z, 'zone')}; {len(z.racks)} racks, {up}/{len(hosts)} hosts up, vCPU {used}/{cpu} allocated"
    if thing in hw.racks:
        r = hw.racks[thing]
        lines = [f"{_health_line(r, 'rack')} in zone {r.zone.id}"]
        for h in r.hosts:
            lines.append(f"  {_host_line(h)}")
        return "\n".join(lines)
    if thing in hw.hosts:
        h = hw.hosts[thing]
        lines = [_host_line(h)]
        for d in h.disks:
            lines.append(f"  disk {d.id}: {d.used_gib}/{d.size_gib} GiB, {d.health.value}")
        for name in sorted(h.instances):
            lines.append(f"  instance {name}: {h.instances[name].state}")
        return "\n".join(lines)
    if thing in hw.disks:
        d = hw.disks[thing]
        return f"{_health_line(d, 'disk')} on host {d.host.id}: {d.used_gib}/{d.size_gib} GiB used"
    if thing in hw.links:
        link = hw.links[thing]
        return f"link {link.id}: {link.a} <-> {link.b}, {link.gbps} Gbps, {link.latency_us} us, {link.health.value}"
    for provider in status_providers():
        text = provider(session, thing)
        if text:
            return text
    raise CommandError(
        f"nothing named {thing!r} (try an instance, zone, rack, host, disk or link; e.g. {', '.join(list(hw.zones)[:3])})"
    )


def _host_line(h) -> str:
    state = h.health.value + ("" if h.up else ", down")
    return (
        f"host {h.id}: {state}; vCPU {h.used_vcpus}/{h.vcpus}, RAM {h.used_ram_mib / 1024:g}/{h.ram_gib:g} GiB, "
        f"{len(h.instances)} instances"
    )


def world_summary(session: "Session") -> str:
    cloud = session.cloud
    m = cloud.metrics()
    hw = cloud.hardware
    lines = [f"t={cloud.now_ms / 1000:g}s  seed={session.seed}  chapter={session.chapter.id}"]
    for zone in hw.zones.values():
        hosts = zone.hosts()
        up = sum(1 for h in hosts if h.up)
        cpu = sum(h.vcpus for h in hosts)
        used = sum(h.used_vcpus for h in hosts)
        lines.append(
            f"zone {zone.id}: {zone.health.value}, {len(zone.racks)} racks, {up}/{len(hosts)} hosts up, "
            f"vCPU {used}/{cpu}"
        )
    alive = [i for i in cloud.control.instances.values() if i.exists]
    if alive:
        lines.append("instances:")
        for inst in sorted(alive, key=lambda i: i.name):
            where = inst.host.id if inst.host else "-"
            lines.append(f"  {inst.name:<12} {inst.type.name:<7} {inst.state:<9} {where:<12} {shown_ip(inst)}")
    else:
        lines.append("instances: none")
    lines.append(
        f"running {m['instances_running']}, pending {m['instances_pending']}, impaired {m['instances_impaired']}, "
        f"failed launches {m['launches_failed']}"
    )
    for provider in status_providers():
        text = provider(session, None)
        if text:
            lines.append(text)
    return "\n".join(lines)


@command("status", "show the world, or one thing in it", args=[Param("thing", "an id", required=False, complete="any")])
def status(session: "Session", thing: str | None) -> str:
    if thing is None:
        return world_summary(session)
    return _status_thing(session, thing)


@command(
    "tick",
    "advance simulated time",
    args=[Param("seconds", "how long", type=float, min=0.001, max=MAX_TICK_S)],
    details="Time only moves when you say so (or when the live clock runs in the game). A run\n"
    f"may go on for {MAX_RUN_MS // 86_400_000} simulated days at most.",
)
@fitted
def tick(session: "Session", seconds: float) -> str:
    cloud = session.cloud
    before, start = len(cloud.log), cloud.now_ms
    if start + int(round(seconds * 1000)) > MAX_RUN_MS:
        left = (MAX_RUN_MS - start) / 1000
        raise CommandError(f"the clock stops at t={MAX_RUN_MS // 1000}s, the longest a run may go ({left:g} s left)")
    session.advance(int(round(seconds * 1000)))
    if cloud.now_ms - start != int(round(seconds * 1000)):
        session.effective_line = f"tick {(cloud.now_ms - start) / 1000:g}"
    new = cloud.log.since(before)
    lines = [f"t={cloud.now_ms / 1000:g}s (+{seconds:g}s), {len(new)} events"]
    notable = [e for e in new if e.kind not in ("launch.step",)]
    for e in notable[-8:]:
        lines.append(f"  {e.describe()}")
    if len(notable) > 8:
        lines.insert(1, f"  ... {len(notable) - 8} earlier events (see the event log)")
    return "\n".join(lines)


@command("objectives", "show the objectives and how each stands now")
def objectives(session: "Session") -> str:
    lines = []
    for st in session.grader.states:
        o = st.objective
        status = st.status
        if o.when == "always" and not st.settled:
            status = "pending" if status == "pending" else "passed"
        lines.append(f"{GLYPH[status]:<11} {o.id}: {o.text}")
        lines.append(f"            {st.evidence}")
    return "\n".join(lines)


@command("hint", "show the next hint (hints used are counted in your result)")
def hint(session: "Session") -> str:
    hints = session.chapter.hints
    if not hints:
        return "this chapter has no hints"
    if session.hints_used >= len(hints):
        return f"no more hints ({len(hints)} of {len(hints)} shown):\n" + "\n".join(
            f"  {i + 1}. {h}" for i, h in enumerate(hints)
        )
    session.hints_used += 1
    return f"hint {session.hints_used}/{len(hints)}: {hints[session.hints_used - 1]}"


def _fault(session: "Session", action: str, kind: str, ident: str) -> str:
    cloud = session.cloud
    before = len(cloud.log)
    act(cloud, action, kind, ident)
    session.sample()
    lines = [e.describe() for e in cloud.log.since(before)]
    return "\n".join(lines)


KIND = Param("kind", "what to act on", choices=FAULT_KINDS)
IDENT = Param("id", "its id", complete="id-of-kind")


@command(
    "fail",
    "make a piece of hardware stop (power cut, crash, cut cable): its disks keep their data",
    args=[KIND, IDENT],
    details="""An outage, not a loss: a failed host, rack or zone is down, but when it is
repaired it comes back with its data (an HDFS DataNode re-registers and reports its
blocks). A failed disk is a volume that dropped out; a cut link reroutes or partitions.
To lose the hardware and its data for good, use destroy.""",
)
def fail(session: "Session", kind: str, id: str) -> str:
    return _fault(session, "fail", kind, id)


@command(
    "destroy",
    "hardware loss: a disk, host, rack or zone fails and its disks' data is gone for good",
    args=[KIND, IDENT],
    details="""A dead drive, a burned host, a flooded rack: the part fails and every disk in it
loses its data. repair installs new, empty hardware in its place. Only copies kept
elsewhere survive. (A link holds no data: fail cuts it.)""",
)
def destroy(session: "Session", kind: str, id: str) -> str:
    return _fault(session, "destroy", kind, id)


@command("repair", "bring failed, destroyed or degraded hardware back", args=[KIND, IDENT])
def repair(session: "Session", kind: str, id: str) -> str:
    return _fault(session, "repair", kind, id)


@command("degrade", "make hardware slow but alive (a gray failure)", args=[KIND, IDENT])
def degrade(session: "Session", kind: str, id: str) -> str:
    return _fault(session, "degrade", kind, id)


def _hardware_ids(kind: str):
    return lambda session: list(session.cloud.hardware.table(kind))


MECHANISM = Mechanism(
    name="core",
    summary="the hardware, the clock, faults and the control plane's launch pipeline",
    commands=command,
    ids={kind: _hardware_ids(kind) for kind in KINDS} | {"kind": lambda s: list(FAULT_KINDS)},
    faults=FAULT_KINDS,
    metrics=metrics(
        Metric("time_s", "the simulated time in seconds", clocked=True),
        ("instances_running", "instances running"),
        ("instances_pending", "instances still launching"),
        ("instances_impaired", "instances whose host or disk is down"),
        ("instances_terminated", "instances terminated"),
        ("launches_failed", "launches that failed"),
        ("launches_requested", "launches accepted"),
        ("hosts_up", "hosts up"),
        ("hosts_down", "hosts down"),
        ("cpu_alloc_pct", "the share of the fleet's vCPUs allocated"),
        ("ram_alloc_pct", "the share of the fleet's RAM allocated"),
        ("faults_injected", "faults injected"),
        ("api_calls", "API calls made"),
        ("running.{instance}", "whether an instance is running", "{} is not running yet"),
    ),
    events=events(
        ("world.created", "hosts zones", "the world was built"),
        ("api.call", "action instance type zone zones group strategy partitions destination load_balancer setting value steps_done", "an API call (CloudTrail)"),
        ("launch.requested", "instance id type zone", "RunInstances accepted; the pipeline starts"),
        (
            "scheduler.decided",
            "instance host policy hosts passed scores filtered group",
            "why the scheduler chose a host: its policy, the best scores, what each filter removed",
        ),
        (
            "launch.step",
            "instance step host rack zone vcpus ram_mib disk gib subnet private_ip public_ip security_group rules",
            "one of the seven launch steps finished",
        ),
        ("launch.failed", "instance type zone step code reasons", "a launch failed and released what it held"),
        ("instance.running", "instance host zone", "EC2 reports the instance running: the VM started, its guest OS is booting"),
        ("instance.booted", "instance host", "the guest OS finished booting and answers on the network"),
        (
            "instance.status_check",
            "instance check status",
            "an EC2 status check changed: system (host) or instance (guest), ok, initializing or impaired",
        ),
        ("instance.terminated", "instance", "an instance was terminated"),
        ("instance.stopped", "instance host", "an instance was stopped (StopInstances)"),
        ("instance.modified", "instance type was", "a stopped instance was given another type (ModifyInstanceAttribute)"),
        ("instance.unreachable", "instance host cause", "an instance's host or disk went down"),
        ("instance.recovered", "instance host cause", "an impaired instance's hardware came back"),
        ("resources.released", "instance host private_ip", "an instance's CPU, RAM, disk and address went back"),
        ("fault.injected", "part id health cause", "a part failed (an outage), was destroyed (a loss) or was degraded"),
        ("fault.repaired", "part id was", "a part was repaired"),
    ),
)
