"""Faults: hardware fails, and the cloud must notice.

Failing a disk, host, rack, zone or link sets its health and logs a ``fault.injected``
event; the consequences follow as their own events: every instance whose host or root
disk is no longer up becomes ``impaired`` (EC2 reports this as a failed *system status
check*), and comes back ``running`` when the hardware is repaired. ``degrade`` marks a
part as slow-but-alive (a gray failure): it keeps serving, but schedulers avoid it.

The parts a mechanism adds to the fleet (``Hardware.add_parts``: the fabric's switches,
the edge's points of presence) fail the same way, through the same function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

from .errors import CloudError
from .hardware import KINDS, Health

if TYPE_CHECKING:
    from .cloud import Cloud

# The parts that can fail, the one list every fault names (commands, timelines, fleets).
FaultKind = Literal["disk", "host", "rack", "zone", "link"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


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


def set_health(cloud: "Cloud", kind: str, ident: str, health: Health, cause: str = "operator") -> None:
    thing = _target(cloud, kind, ident)
    if thing.health is health:
        raise CloudError("IncorrectState", f"{kind} {ident} is already {health.value}")
    before = thing.health
    thing.health = health
    cloud.hardware.health_version += 1
    if health is Health.HEALTHY:
        cloud.emit("fault.repaired", part=kind, id=ident, was=before.value)
    else:
        cloud.emit("fault.injected", part=kind, id=ident, health=health.value, cause=cause)
    cloud.refresh_all(cause=f"{kind} {ident} {health.value}")
    for listener in cloud.health_listeners:
        listener(kind, ident, before, health)


assert set(FAULT_KINDS) <= set(KINDS)
