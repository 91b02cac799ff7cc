"""The whole simulated cloud in one object: hardware, hypervisors, control plane.

``Cloud`` is what the game holds. It owns the one clock, the one seeded random generator
and the one event log; every mechanism gets them from here, never from a global. It is
built from a validated world (:class:`~cloudquest.cloud.world.CoreWorld`, or the game's
``World`` with the mechanisms' sections) and the mechanisms to attach, in order.

The core (hardware, scheduler, control plane, faults) is always there. Mechanisms plug in
through ``attach(cloud, section)`` and these hooks:

- ``metric_sources``: functions returning ``{name: number}``, merged by :meth:`metrics`;
- ``step_hooks``: functions called once per simulation step (``tick_ms``) with the
  step's length, for mechanisms that evolve continuously (CPU scheduling, repair);
  :meth:`add_step_hook` may add with one a ``quiet_until`` that lets :meth:`advance`
  skip idle time (see there);
- ``health_listeners``: functions told of every hardware health change;
- :meth:`get`: a mechanism's state, by its class (``cloud.get(ObjectStore)``), for the
  few that read what another publishes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

from .clock import Clock
from .control_plane import ControlPlane, Instance, NetworkPort
from .errors import CloudError
from .events import Event, EventLog
from .hardware import Hardware, Health, build_hardware
from .mechanism import Plugin
from .scheduler import Scheduler, SchedulerConfig
from .world import CoreWorld

Number = int | float
T = TypeVar("T")
QuietUntil = Callable[[int, int, bool], int]


def make_rng(seed: int | random.Random) -> random.Random:
    """One generator per session; pass a Random through untouched (networkx's habit)."""
    return seed if isinstance(seed, random.Random) else random.Random(seed)


class Cloud:
    def __init__(self, world: CoreWorld, seed: int | random.Random = 0, mechanisms: Iterable[Plugin] = ()) -> None:
        self.world = world
        self.rng = make_rng(seed)
        self.clock = Clock()
        self.log = EventLog()
        self.tick_ms = world.tick_ms
        self.hardware: Hardware = build_hardware(world)
        self.scheduler = Scheduler(self.hardware, SchedulerConfig(**world.scheduler.model_dump()))
        self.network: NetworkPort | None = None  # set by the network mechanism
        self.control = ControlPlane(self)
        self.metric_sources: list[Callable[[], dict[str, Number]]] = [self._core_metrics]
        self.step_hooks: list[Callable[[int], None]] = []
        # hook -> quiet_until(now_ms, until_ms, sampled) -> ms: how far the hook may be
        # run in one call (see advance). A hook without one is stepped, always.
        self.quiet_hooks: dict[Callable[[int], None], QuietUntil] = {}
        # Skip idle time (advance). Off, every step is run one by one: the tests compare.
        self.fast_forward = True
        self._state: dict[type, Any] = {}
        self._core_cache: tuple[int, dict[str, Number]] | None = None
        # Called as fn(kind, id, before, after) after faults.set_health changed a part's
        # health, so a mechanism (storage's failure detector) can react to the change.
        self.health_listeners: list[Callable[[str, str, Health, Health], None]] = []
        self.health_listeners.append(lambda *_: self.scheduler.invalidate())
        self.emit("world.created", hosts=len(self.hardware.hosts), zones=len(self.hardware.zones))
        self.mechanisms: list[str] = []
        for plugin in mechanisms:
            section = getattr(world, plugin.name, None)
            if section is None or plugin.attach is None:
                continue
            try:
                state = plugin.attach(self, section)
            except CloudError as exc:  # the world cannot be built as written
                raise CloudError(exc.code, f"world section {plugin.name}: {exc.message}") from None
            self.mechanisms.append(plugin.name)
            if state is not None:
                self._state[type(state)] = state

    def get(self, kind: type[T]) -> T | None:
        """The attached mechanism whose state is a ``kind`` (None when the world has none)."""
        return self._state.get(kind)

    # -- the log -------------------------------------------------------------------------
    def emit(self, kind: str, /, **data: Any) -> Event:
        return self.log.append(self.clock.now_ms, kind, **data)

    # -- time ----------------------------------------------------------------------------
    def add_step_hook(self, hook: Callable[[int], None], quiet_until: QuietUntil | None = None) -> None:
        """Run ``hook(length_ms)`` once per step. ``quiet_until(now_ms, until_ms, sampled)``,
        if given, promises how far time may run on in *one* call of the hook: the latest
        moment ``t`` (``now_ms <= t <= until_ms``) such that ``hook(t - now_ms)`` leaves the
        mechanism exactly as one call per step would, emits no event and changes nothing
        another mechanism reads; with ``sampled``, its metrics must also stay as they are
        (the game grades after every step). ``now_ms`` means "cannot skip"."""
        self.step_hooks.append(hook)
        if quiet_until is not None:
            self.quiet_hooks[hook] = quiet_until

    def advance(self, ms: int, on_step: Callable[[], None] | None = None, steady_samples: bool = False) -> None:
        """Move simulated time forward by ``ms``, one ``tick_ms`` step at a time; after
        each step run the step hooks and then ``on_step`` (the game samples objectives).

        Idle time is skipped (with :attr:`fast_forward`): from a step boundary, up to the
        last boundary before the next scheduled action, while every step hook says it is
        quiet, the hooks run once for the whole stretch and the clock jumps. Nothing that
        stepping would log or measure differs. ``on_step`` is then called after the first
        step of the stretch and at its end only, which is the same verdict only if it
        reads nothing that changes with the clock alone: the caller says so with
        ``steady_samples``; without it, a sampled advance is stepped.
        """
        end = self.clock.now_ms + int(ms)
        tick = self.tick_ms
        # a hook that cannot say when it is quiet is stepped, always
        may_skip = self.fast_forward and (on_step is None or steady_samples) and all(h in self.quiet_hooks for h in self.step_hooks)
        sampled_once = on_step is None  # a sampled stretch begins with one ordinary step
        clock, hooks = self.clock, self.step_hooks
        while clock.now_ms < end:
            now = clock.now_ms
            if may_skip and sampled_once and now % tick == 0:
                to = self._quiet_until(end, sampled=on_step is not None)
                if to - now > tick:
                    self._skip_to(to)
                    if on_step is not None:
                        on_step()
                    continue
            step_end = min(end, (now // tick + 1) * tick)
            length = step_end - now
            clock.run_due(step_end)
            for hook in hooks:
                hook(length)
            if on_step is not None:
                on_step()
                sampled_once = True

    def _quiet_until(self, end: int, sampled: bool) -> int:
        """The furthest step boundary (or ``end``) time may jump to from now: before the
        next scheduled action, and as far as every step hook allows."""
        now, tick = self.clock.now_ms, self.tick_ms
        to = end
        due = self.clock.next_due_ms
        if due is not None and due <= end:
            to = (due - 1) // tick * tick  # the steps up to here have nothing due
        for hook in self.step_hooks:
            quiet = self.quiet_hooks.get(hook)
            if quiet is None:
                return now
            to = min(to, quiet(now, to, sampled))
            if to <= now:
                return now
        if to != end:
            to = to // tick * tick
        return to

    def _skip_to(self, to: int) -> None:
        start, logged = self.clock.now_ms, len(self.log)
        self.clock.run_due(to)  # nothing is due: this only moves the clock
        for hook in self.step_hooks:
            hook(to - start)
        if len(self.log) != logged:  # a hook broke its quiet_until promise
            raise RuntimeError(f"a step hook logged an event while skipping {start}-{to} ms")

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
            self.control.watch_status(inst)
        elif not ok and inst.state == "running":
            inst.state = "impaired"
            self.emit(
                "instance.unreachable",
                instance=inst.name,
                host=inst.host.id if inst.host else "",
                cause=cause,
            )
            self.control.watch_status(inst)

    def refresh_all(self, cause: str = "") -> None:
        for inst in self.control.instances.values():
            self.refresh_instance(inst, cause)

    # -- metrics -------------------------------------------------------------------------
    def metrics(self) -> dict[str, Number]:
        out: dict[str, Number] = {}
        for source in self.metric_sources:
            out.update(source())
        return out

    def metrics_on_demand(self) -> "MetricsOnDemand":
        """The metrics, computing a mechanism's only when one of its names is read (the
        objectives sampled at every step read few of them)."""
        return MetricsOnDemand(self.metric_sources)

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
            if inst.exists:
                out[f"running.{inst.name}"] = int(inst.state == "running")
        return out

    def api_call(self, action: str, /, **data: Any) -> Event:
        """Log an API call, as CloudTrail does: every call is metered and auditable."""
        return self.emit("api.call", action=action, **data)


class MetricsOnDemand(Mapping[str, Number]):
    """:meth:`Cloud.metrics` read lazily: the sources are asked in their order until the
    name asked for appears (every one of them to list the names or miss one)."""

    def __init__(self, sources: list[Callable[[], dict[str, Number]]]) -> None:
        self._pending = iter(list(sources))
        self._known: dict[str, Number] = {}

    def __getitem__(self, name: str) -> Number:
        while name not in self._known:
            source = next(self._pending, None)
            if source is None:
                raise KeyError(name)
            self._known.update(source())
        return self._known[name]

    def _all(self) -> dict[str, Number]:
        for source in self._pending:
            self._known.update(source())
        return self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())
