"""The whole simulated cloud in one object: hardware, hypervisors, control plane.

``Cloud`` is what the game holds. It owns the one clock, the one seeded random generator
and the one event log; every mechanism gets them from here, never from a global.
Mechanisms added by later chapters plug in through three hooks:

- ``metric_sources``: functions returning ``{name: number}``, merged by :meth:`metrics`;
- ``step_hooks``: functions called once per simulation step (``tick_ms``) with the
  step's length, for mechanisms that evolve continuously (CPU scheduling, repair);
- ``extensions``: a dict where a mechanism keeps its state, by name.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .clock import Clock
from .control_plane import ControlPlane, Instance
from .events import Event, EventLog
from .hardware import Hardware, Health, build_hardware
from .ipam import Ipam
from .mechanisms import attach_all
from .network import SecurityGroup, default_security_group
from .scheduler import Scheduler, SchedulerConfig

Number = int | float
DEFAULT_TICK_MS = 1000


def make_rng(seed: int | random.Random) -> random.Random:
    """One generator per session; pass a Random through untouched (networkx's habit)."""
    return seed if isinstance(seed, random.Random) else random.Random(seed)


class Cloud:
    def __init__(self, world: dict[str, Any] | None = None, seed: int | random.Random = 0) -> None:
        world = world or {}
        self.world = world
        self.rng = make_rng(seed)
        self.clock = Clock()
        self.log = EventLog()
        self.tick_ms = int(world.get("tick_ms", DEFAULT_TICK_MS))
        self.hardware: Hardware = build_hardware(world)
        sched = world.get("scheduler") or {}
        self.scheduler = Scheduler(
            self.hardware,
            SchedulerConfig(**{k: v for k, v in sched.items() if k in SchedulerConfig.__dataclass_fields__}),
        )
        net = world.get("network") or {}
        self.ipam = Ipam(net.get("vpc", "10.0.0.0/16"))
        subnets = net.get("subnets")
        if subnets is None:
            # One /20 per zone, carved from the VPC in fleet order.
            pieces = self.ipam.vpc.subnets(new_prefix=max(self.ipam.vpc.prefixlen, 20))
            subnets = [
                {"name": f"subnet-{z}", "zone": z, "cidr": str(next(pieces)), "public": True}
                for z in self.hardware.zones
            ]
        for s in subnets:
            self.ipam.add_subnet(s.get("name") or f"subnet-{s['zone']}", s["zone"], s["cidr"], bool(s.get("public")))
        self.security_groups: dict[str, SecurityGroup] = {"default": default_security_group()}
        self.control = ControlPlane(self)
        self.metric_sources: list[Callable[[], dict[str, Number]]] = [self._core_metrics]
        self.step_hooks: list[Callable[[int], None]] = []
        self.extensions: dict[str, Any] = {}
        self._core_cache: tuple[int, dict[str, Number]] | None = None
        # Called as fn(kind, id, before, after) after faults.set_health changed a part's
        # health, so a mechanism (storage's failure detector) can react to the change.
        self.health_listeners: list[Callable[[str, str, Health, Health], None]] = []
        self.health_listeners.append(lambda *_: self.scheduler.invalidate())
        self.emit("world.created", hosts=len(self.hardware.hosts), zones=len(self.hardware.zones))
        attach_all(self, world)

    # -- the log -------------------------------------------------------------------------
    def emit(self, kind: str, /, **data: Any) -> Event:
        return self.log.append(self.clock.now_ms, kind, **data)

    # -- time ----------------------------------------------------------------------------
    def advance(self, ms: int, on_step: Callable[[], None] | None = None) -> None:
        """Move simulated time forward by ``ms``, one ``tick_ms`` step at a time; after
        each step run the step hooks and then ``on_step`` (the game samples objectives)."""
        end = self.clock.now_ms + int(ms)
        while self.clock.now_ms < end:
            step_end = min(end, (self.clock.now_ms // self.tick_ms + 1) * self.tick_ms)
            length = step_end - self.clock.now_ms
            self.clock.run_due(step_end)
            for hook in self.step_hooks:
                hook(length)
            if on_step is not None:
                on_step()

    @property
    def now_ms(self) -> int:
        return self.clock.now_ms

    # -- consequences of faults --------------------------------------------------------
    def refresh_instance(self, inst: Instance, cause: str = "") -> None:
        if inst.state not in ("running", "impaired"):
            return
        ok = inst.host is not None and inst.host.up and (inst.disk is None or inst.disk.up)
        if ok and inst.state == "impaired":
            inst.state = "running"
            self.emit("instance.recovered", instance=inst.name, host=inst.host.id, cause=cause)
        elif not ok and inst.state == "running":
            inst.state = "impaired"
            self.emit(
                "instance.unreachable",
                instance=inst.name,
                host=inst.host.id if inst.host else "",
                cause=cause,
            )

    def refresh_all(self, cause: str = "") -> None:
        for inst in self.control.instances.values():
            self.refresh_instance(inst, cause)

    # -- metrics -------------------------------------------------------------------------
    def metrics(self) -> dict[str, Number]:
        out: dict[str, Number] = {}
        for source in self.metric_sources:
            out.update(source())
        return out

    def _core_metrics(self) -> dict[str, Number]:
        # Everything here changes only through events, so it is recomputed only when
        # the log has grown; the clock is read fresh.
        key = len(self.log)
        if self._core_cache is None or self._core_cache[0] != key:
            self._core_cache = (key, self._compute_core_metrics())
        out = dict(self._core_cache[1])
        out["time_s"] = self.clock.now_ms / 1000
        return out

    def _compute_core_metrics(self) -> dict[str, Number]:
        states: dict[str, int] = {}
        for inst in self.control.instances.values():
            states[inst.state] = states.get(inst.state, 0) + 1
        cpu, used_cpu, ram, used_ram = self.hardware.totals()
        n_down = len(self.hardware.down_hosts())
        out: dict[str, Number] = {
            "time_s": self.clock.now_ms / 1000,
            "instances_running": states.get("running", 0),
            "instances_pending": states.get("pending", 0),
            "instances_impaired": states.get("impaired", 0),
            "instances_terminated": states.get("terminated", 0),
            "launches_failed": self.log.count("launch.failed"),
            "launches_requested": self.log.count("launch.requested"),
            "hosts_up": len(self.hardware.hosts) - n_down,
            "hosts_down": n_down,
            "cpu_alloc_pct": round(100 * used_cpu / cpu, 2) if cpu else 0,
            "ram_alloc_pct": round(100 * used_ram / ram, 2) if ram else 0,
            "faults_injected": self.log.count("fault.injected"),
            "api_calls": self.log.count("api.call"),
        }
        for inst in self.control.instances.values():
            if inst.alive:
                out[f"running.{inst.name}"] = int(inst.state == "running")
        return out

    def api_call(self, action: str, /, **data: Any) -> Event:
        """Log an API call, as CloudTrail does: every call is metered and auditable."""
        return self.emit("api.call", action=action, **data)
