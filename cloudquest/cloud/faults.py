"""Faults: hardware fails, and the cloud must notice.

One road for every fault, whoever causes it (a player's command, a chaos timeline, a
fleet's timed fault): :func:`act` with one of the :data:`FaultAction` s on one of the
:data:`FaultKind` s of part. What the actions mean:

- ``fail``: the part *stops*: a power cut, a crash, a tripped breaker, a cut fibre. It
  is down, but its disks keep their data: when it is repaired it comes back with it (an
  HDFS DataNode that restarts re-registers and reports its blocks). A failed disk is a
  volume that dropped out (a controller, a cable): its DataNode reports the failed
  volume and the NameNode stops counting its blocks, but the data is still on it;
- ``destroy``: *hardware loss*: a drive that died, a host whose disks burned, a flooded
  rack. Every disk in the part loses its data for good; a repair installs new, empty
  hardware in its place. A link holds no data, so it can only fail;
- ``degrade``: slow but alive (a gray failure): it keeps serving, schedulers avoid it;
- ``repair``: back to healthy.

Failing or destroying a part sets its health and logs a ``fault.injected`` event (its
``health`` is ``destroyed`` for a hardware loss); the consequences follow as their own
events: every instance whose host or root disk is no longer up becomes ``impaired``
(EC2 reports this as a failed system status check), and comes back ``running`` when the
hardware is repaired. A destroyed part is ``failed``, with its disks marked
``destroyed`` until the repair replaces them, so every mechanism reads one health.

The parts a mechanism adds to the fleet (``Hardware.add_parts``: the fabric's switches,
the edge's points of presence) fail the same way, through the same road; they hold no
data, so they fail but are not destroyed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from .errors import CloudError
from .hardware import KINDS, Health

if TYPE_CHECKING:
    from .cloud import Cloud
    from .hardware import Disk

# The parts that can fail, the one list every fault names (commands, timelines, fleets).
FaultKind = Literal["disk", "host", "rack", "zone", "link"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

# What a fault does to its part, the one list of actions (commands, timelines, fleets).
FaultAction = Literal["fail", "destroy", "degrade", "repair"]
FAULT_ACTIONS: tuple[str, ...] = get_args(FaultAction)
ACTIONS: dict[str, Health] = {
    "fail": Health.FAILED,
    "destroy": Health.FAILED,
    "degrade": Health.DEGRADED,
    "repair": Health.HEALTHY,
}
DESTROYED = "destroyed"  # the health a fault.injected event reports for a hardware loss


def _target(cloud: "Cloud", kind: str, ident: str):
    if kind not in FAULT_KINDS and kind not in cloud.hardware.parts:
        kinds = ", ".join(cloud.hardware.fault_kinds())
        raise CloudError("InvalidParameterValue", f"cannot fail a {kind!r} (kinds: {kinds})")
    thing = cloud.hardware.find(kind, ident)
    if thing is None:
        known = sorted(cloud.hardware.table(kind))
        shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        raise CloudError("InvalidParameterValue", f"no {kind} named {ident!r} ({kind}s: {shown or 'none'})")
    return thing


def disks_of(cloud: "Cloud", kind: str, ident: str) -> list["Disk"]:
    """Every disk inside a part (none for a link)."""
    hw = cloud.hardware
    if kind == "disk":
        return [hw.disks[ident]]
    if kind == "host":
        return list(hw.hosts[ident].disks)
    if kind == "rack":
        return [d for h in hw.racks[ident].hosts for d in h.disks]
    if kind == "zone":
        return [d for h in hw.zones[ident].hosts() for d in h.disks]
    return []


def is_destroyed(cloud: "Cloud", kind: str, ident: str) -> bool:
    """The part is failed and every disk in it has lost its data (a link: never)."""
    disks = disks_of(cloud, kind, ident)
    return bool(disks) and _target(cloud, kind, ident).health is Health.FAILED and all(d.destroyed for d in disks)


def act(cloud: "Cloud", action: str, kind: str, ident: str, cause: str = "operator") -> None:
    """Apply one fault action to one part: the one road. CloudError, changing nothing,
    if the part does not exist or already is what the action would make it."""
    if action not in ACTIONS:
        raise CloudError("InvalidParameterValue", f"no fault action {action!r} (actions: {', '.join(FAULT_ACTIONS)})")
    set_health(cloud, kind, ident, ACTIONS[action], cause, destroy=action == "destroy")


def set_health(
    cloud: "Cloud", kind: str, ident: str, health: Health, cause: str = "operator", destroy: bool = False
) -> None:
    thing = _target(cloud, kind, ident)
    disks = disks_of(cloud, kind, ident)
    if destroy:
        if health is not Health.FAILED:
            raise CloudError("InvalidParameterValue", "only a failed part can be destroyed")
        if kind == "link" or kind not in FAULT_KINDS:
            raise CloudError("InvalidParameterValue", f"{kind} {ident} holds no data: fail cuts it, nothing can destroy it")
        if thing.health is Health.FAILED and all(d.destroyed for d in disks):
            raise CloudError("IncorrectState", f"{kind} {ident} is already destroyed")
    elif thing.health is health:
        raise CloudError("IncorrectState", f"{kind} {ident} is already {health.value}")
    before = thing.health
    was = DESTROYED if before is Health.FAILED and disks and all(d.destroyed for d in disks) else before.value
    thing.health = health
    if destroy:
        for d in disks:
            d.destroyed = True
    elif health is Health.HEALTHY:
        for d in disks:
            d.destroyed = False  # new hardware where the old was destroyed
    cloud.hardware.health_version += 1
    if health is Health.HEALTHY:
        cloud.emit("fault.repaired", part=kind, id=ident, was=was)
    else:
        cloud.emit("fault.injected", part=kind, id=ident, health=DESTROYED if destroy else health.value, cause=cause)
    cloud.refresh_all(cause=f"{kind} {ident} {DESTROYED if destroy else health.value}")
    for listener in cloud.health_listeners:
        listener(kind, ident, before, health)


assert set(FAULT_KINDS) <= set(KINDS)
