"""Plain-text summaries of the live views, for ``describe`` with no argument.

The terminal game draws one live view per chapter, chosen by the world's ``view`` key
(``fleet``, ``host``, ...). A player who uses a screen reader, or who wants to copy what
the view shows, types ``describe`` and gets the same picture as text. The text is built
here, in the game layer, from the session's state, so a headless run prints exactly what
the terminal game prints (the console is one road).

A mechanism that adds a view adds its summary with one line::

    VIEW_TEXT["host"] = host_view_text

Views without a summary fall back to the world summary plus every metric.

:class:`LaunchHistory` reads the launch pipeline's events (``api.call RunInstances``,
``launch.step``, ``launch.failed``, ``instance.running``) incrementally; the fleet view
of the terminal game uses it too, so the picture and the text agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..cloud.control_plane import STEPS
from ..cloud.events import EventLog

if TYPE_CHECKING:
    from .session import Session

ViewText = Callable[["Session"], str]
VIEW_TEXT: dict[str, ViewText] = {}

# Short names for the seven launch steps, for narrow screens and one-line summaries.
STEP_SHORT = {
    "find_server": "find",
    "allocate_cpu": "cpu",
    "allocate_ram": "ram",
    "allocate_disk": "disk",
    "assign_nic": "nic",
    "configure_firewall": "fw",
    "boot": "boot",
}


def describe_view(session: "Session") -> str:
    """What the chapter's live view shows, as plain text."""
    view = session.chapter.world.view
    fn = VIEW_TEXT.get(view)
    if fn is not None:
        return fn(session)
    return metrics_text(session)


def metrics_text(session: "Session") -> str:
    from .commands.core import world_summary

    metrics = session.cloud.metrics()
    lines = [world_summary(session), "metrics:"]
    for name in sorted(metrics):
        value = metrics[name]
        lines.append(f"  {name} = {value:g}" if isinstance(value, float) else f"  {name} = {value}")
    return "\n".join(lines)


# -- the launch pipeline, read from the log ------------------------------------------------
@dataclass
class LaunchRow:
    """One RunInstances call and how far its seven steps got."""

    instance: str
    requested_ms: int
    zone: str = ""
    steps: dict[str, int] = field(default_factory=dict)  # step -> time it finished
    host: str = ""
    state: str = "launching"  # launching | running | failed | terminated
    failed_step: str = ""
    code: str = ""
    reason: str = ""

    @property
    def instant(self) -> bool:
        """Launched whole at once: an instance the world starts with, not a player's."""
        return len(self.steps) == len(STEPS) and all(t == self.requested_ms for t in self.steps.values())

    def next_step(self) -> str | None:
        if self.state != "launching":
            return None
        for step in STEPS:
            if step not in self.steps:
                return step
        return None


class LaunchHistory:
    """Every launch attempt in the log, oldest first, updated from new events only."""

    def __init__(self) -> None:
        self.rows: list[LaunchRow] = []
        self._latest: dict[str, LaunchRow] = {}
        self._seen = 0

    def update(self, log: EventLog) -> bool:
        """Read events since the last call; True if anything changed."""
        changed = False
        for e in log.since(self._seen):
            kind = e.kind
            if kind == "api.call" and e.get("action") == "RunInstances":
                row = LaunchRow(str(e.get("instance", "")), e.t_ms, zone=str(e.get("zone", "") or ""))
                self.rows.append(row)
                self._latest[row.instance] = row
                changed = True
            elif kind in ("launch.step", "launch.failed", "instance.running", "instance.terminated"):
                row = self._latest.get(str(e.get("instance", "")))
                if row is None:
                    continue
                changed = True
                if kind == "launch.step":
                    row.steps[str(e.get("step"))] = e.t_ms
                    if e.get("step") == "find_server":
                        row.host = str(e.get("host", ""))
                        row.zone = str(e.get("zone", "") or row.zone)
                elif kind == "launch.failed":
                    row.state = "failed"
                    row.failed_step = str(e.get("step", ""))
                    row.code = str(e.get("code", ""))
                    row.reason = str(e.get("reasons", ""))
                elif kind == "instance.running":
                    row.state = "running"
                elif row.state != "failed":
                    row.state = "terminated"
        self._seen = len(log)
        return changed

    def recent(self, limit: int) -> list[LaunchRow]:
        """The player's latest launches (not the world's starting instances), newest last."""
        mine = [r for r in self.rows if not r.instant]
        return mine[-limit:] if limit else mine


def launch_line(row: LaunchRow) -> str:
    done = [s for s in STEPS if s in row.steps]
    parts = [f"{STEP_SHORT[s]} {row.steps[s] / 1000:.3f}s" for s in done]
    where = f" on {row.host}" if row.host else ""
    if row.state == "failed":
        status = f"failed at {row.failed_step}: {row.code}"
        if row.reason:
            status += f" ({row.reason})"
    elif row.state == "launching":
        status = f"launching{where}, next step {row.next_step()}"
    else:
        status = f"{row.state}{where}"
    steps = f"; steps {len(done)}/{len(STEPS)} done" + (f": {', '.join(parts)}" if parts else "")
    return f"{row.instance}: {status}{steps}"


def _pct(used: float, total: float) -> int:
    return round(100 * used / total) if total else 0


def band(pct: float) -> str:
    """A word for a utilisation level, so no one has to read it from a colour."""
    if pct >= 100:
        return "full"
    if pct >= 80:
        return "high"
    if pct >= 50:
        return "busy"
    if pct > 0:
        return "light"
    return "idle"


def fleet_text(session: "Session") -> str:
    """The fleet view in words: zones, racks, hosts with their CPU and RAM use and the
    instances on them, then the latest launches and their seven steps."""
    cloud = session.cloud
    hw = cloud.hardware
    lines = [f"fleet view at t={cloud.now_ms / 1000:g}s (chapter {session.chapter.id}, seed {session.seed})"]
    if not hw.zones:
        lines.append("no hardware in this world")
    for zone in hw.zones.values():
        hosts = zone.hosts()
        cpu = sum(h.vcpus for h in hosts)
        used = sum(h.used_vcpus for h in hosts)
        ram = sum(h.ram_mib for h in hosts)
        used_ram = sum(h.used_ram_mib for h in hosts)
        up = "" if zone.up else ", DOWN"
        lines.append(
            f"zone {zone.id} (region {zone.region.id}): {zone.health.value}{up}; "
            f"vCPU {used}/{cpu} ({_pct(used, cpu)}%), RAM {used_ram / 1024:g}/{ram / 1024:g} GiB ({_pct(used_ram, ram)}%)"
        )
        for rack in zone.racks:
            lines.append(f"  rack {rack.id}: {rack.health.value}" + ("" if rack.up else ", DOWN"))
            for h in rack.hosts:
                cpu_pct = _pct(h.used_vcpus, h.vcpus)
                state = h.health.value + ("" if h.up else ", down")
                names = ", ".join(f"{n} ({i.state})" for n, i in sorted(h.instances.items())) or "none"
                lines.append(
                    f"    host {h.id}: {state}; vCPU {h.used_vcpus}/{h.vcpus} ({cpu_pct}%, {band(cpu_pct)}), "
                    f"RAM {h.used_ram_mib / 1024:g}/{h.ram_gib:g} GiB ({_pct(h.used_ram_mib, h.ram_mib)}%); "
                    f"instances: {names}"
                )
    history = LaunchHistory()
    history.update(cloud.log)
    recent = history.recent(5)
    if recent:
        lines.append("latest launches (oldest first):")
        lines.extend(f"  {launch_line(r)}" for r in recent)
    else:
        lines.append("no launches yet")
    return "\n".join(lines)


VIEW_TEXT["fleet"] = fleet_text
