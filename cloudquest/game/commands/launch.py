"""Launch-chapter commands: launch, terminate, stop, start, describe, trace, name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud.catalogue import CATALOGUE
from ...cloud.control_plane import STEPS
from ...cloud.mechanism import events
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param
from ..view_text import describe_view, fleet_text
from .core import shown_ip

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()

LAYERS = ("hardware", "hypervisor", "virtual", "api")


@command(
    "launch",
    "launch an instance (RunInstances): seven steps from server to boot",
    options=[
        Param("type", "instance size", choices=tuple(CATALOGUE), default="small"),
        Param("zone", "availability zone (default: the scheduler picks)", complete="zone"),
        Param("name", "a name for it (default: i1, i2, ...)"),
        Param("group", "a placement group (see: group create)", complete="group"),
        Param("subnet", "the subnet of its network interface (default: the zone's subnet)", complete="subnet"),
        Param("sg", "its security groups, comma-separated (default: the VPC's default group)", complete="sg"),
    ],
)
def launch(
    session: "Session", type: str, zone: str | None, name: str | None, group: str | None = None,
    subnet: str | None = None, sg: str | None = None,
) -> str:
    if group is not None and group not in session.cloud.scheduler.groups:
        known = ", ".join(session.cloud.scheduler.groups) or "none yet; group create NAME --strategy ..."
        raise CommandError(f"no placement group named {group!r} (groups: {known})")
    groups = [g for g in (sg or "").split(",") if g]
    inst = session.cloud.control.launch(name, type, zone, group=group, subnet=subnet, security_groups=groups)
    t = inst.type
    where = f" in zone {inst.zone}" + (f", subnet {inst.subnet}" + (f" ({shown_ip(inst)})" if shown_ip(inst) != "-" else "") if subnet else "")
    return (
        f"{inst.name} ({inst.id}): {t.name} {t.vcpus} vCPU {t.ram_gib:g} GiB {t.disk_gib} GiB disk, "
        f"pending on host {inst.host.id}{where}; it boots as time passes (tick)"
    )


@command("terminate", "terminate an instance and release everything it held", args=[Param("name", "instance", complete="instance")])
def terminate(session: "Session", name: str) -> str:
    inst = session.cloud.control.terminate(name)
    return f"{inst.name} terminated: CPU, RAM, disk block, IP and firewall rules released"


@command(
    "stop",
    "stop an instance: its host's CPU, RAM and disk go back; it keeps its private addresses",
    args=[Param("name", "instance", complete="instance")],
    details="Its auto-assigned public IPv4 goes back to the pool (a start gets a different one); an Elastic IP stays.",
)
def stop(session: "Session", name: str) -> str:
    inst = session.cloud.control.stop(name)
    return f"{inst.name} stopped: private {inst.private_ip}, public {inst.public_ip or 'none (the auto-assigned one went back to the pool)'}"


@command(
    "start",
    "start a stopped instance: the launch pipeline again, maybe on another host",
    args=[Param("name", "instance", complete="instance")],
)
def start(session: "Session", name: str) -> str:
    inst = session.cloud.control.start(name)
    return f"{inst.name} starting on host {inst.host.id} in zone {inst.zone}; it boots as time passes (tick)"


def _known(session: "Session", name: str):
    inst = session.cloud.control.instances.get(name)
    if inst is None:
        known = ", ".join(sorted(session.cloud.control.instances)) or "none yet; launch one"
        raise CommandError(f"no instance named {name!r} (instances: {known})")
    return inst


@command(
    "describe",
    "describe an instance (where it landed, its seven launch steps), or the whole view",
    args=[Param("name", "instance", required=False, complete="instance")],
)
def describe(session: "Session", name: str | None) -> str:
    if name is None:
        return describe_view(session)  # what the live view shows, in words
    inst = _known(session, name)
    done = dict(inst.steps)
    # What the reply showed: how many of the seven launch steps had finished (an
    # objective asks the player to read all seven).
    session.cloud.api_call("DescribeInstances", instance=name, steps_done=sum(step in done for step in STEPS))
    host = inst.host
    lines = [
        f"instance {inst.name} ({inst.id}), type {inst.type.name}: {inst.state}",
        f"  host {host.id if host else '-'}  rack {host.rack.id if host else '-'}  zone {inst.zone or '-'}",
        f"  private ip {shown_ip(inst)}  public ip {inst.public_ip or '-'}  disk {inst.disk.id if inst.disk else '-'}",
        "  launch steps:",
    ]
    for i, step in enumerate(STEPS, 1):
        at = f"t={done[step] / 1000:.3f}s" if step in done else "-"
        lines.append(f"    {i}. {step:<20} {at}")
    if inst.state in ("running", "impaired"):
        passed = sum(1 for v in inst.checks.values() if v == "ok")
        guest = "booted" if inst.booted else "still booting"
        lines.append(
            f"  guest OS {guest}; status checks {passed}/2 passed: "
            + ", ".join(f"{check} {status}" for check, status in inst.checks.items())
        )
    if inst.error:
        lines.append(f"  error: {inst.error}")
    return "\n".join(lines)


@command(
    "trace",
    "show every event of one instance's launch, from your call down to the hardware",
    args=[Param("name", "instance", complete="instance")],
)
def trace(session: "Session", name: str) -> str:
    _known(session, name)  # an unknown name is refused before anything is logged
    cloud = session.cloud
    cloud.api_call("LookupEvents", instance=name)
    session.state["traced"] = name
    lines = [f"trace of {name}:"]
    for e in cloud.log:
        if e.get("instance") == name and e.kind != "api.call" or (e.kind == "api.call" and e.get("action") == "RunInstances" and e.get("instance") == name):
            lines.append(f"  {e.describe()}")
    lines.append("now name what each layer did: name hardware|hypervisor|virtual|api ANSWER")
    return "\n".join(lines)


def _layer_answer(session: "Session", layer: str) -> str:
    inst = session.cloud.control.instances[session.state["traced"]]
    if layer == "hardware":
        return inst.host.id if inst.host else ""
    if layer == "hypervisor":
        return str(inst.type.vcpus)
    if layer == "virtual":
        return inst.private_ip or ""
    return "RunInstances"


@command(
    "name",
    "name what one layer of the stack did for the instance you traced",
    args=[Param("layer", "the layer", choices=LAYERS), Param("answer", "what it did")],
    details="""hardware: the physical host that runs it; hypervisor: how many vCPUs it carved out;
virtual: the private IP of its virtual network interface; api: the API action you called.""",
)
def name(session: "Session", layer: str, answer: str) -> str:
    if "traced" not in session.state:
        raise CommandError("trace an instance first (trace NAME), then name its layers")
    expected = _layer_answer(session, layer)
    correct = answer.strip().lower() == expected.lower()
    session.cloud.emit("player.named", layer=layer, answer=answer, correct=correct, instance=session.state["traced"])
    if correct:
        return f"right: the {layer} layer gave {session.state['traced']} {expected}"
    return f"not quite: that is not what the {layer} layer did for {session.state['traced']} (look at the trace again)"


MECHANISM = Mechanism(
    name="launch",
    summary="launching instances: the seven steps of RunInstances, traced down the stack",
    commands=command,
    ids={
        "instance": lambda s: sorted(n for n, i in s.cloud.control.instances.items() if i.exists),
        "type": lambda s: list(CATALOGUE),
    },
    events=events(("player.named", "layer answer correct instance", "the player named what a layer did")),
    views={"fleet": fleet_text},
)
