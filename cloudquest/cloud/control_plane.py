"""The control plane: the API layer that turns one call into work on the hardware.

``RunInstances`` is a pipeline of seven steps, each an event at its own simulated time:

1. ``find_server``   the scheduler filters and scores hosts and *claims* the CPU and RAM
   on the winner (as Nova claims resources in its placement service), so two launches in
   flight can never be promised the same slice;
2. ``allocate_cpu``  the hypervisor on that host creates the vCPUs;
3. ``allocate_ram``  ... and maps the guest's memory;
4. ``allocate_disk`` a block for the root volume is carved out of one of the host's disks;
5. ``assign_nic``    the elastic network interface, holding the private IP reserved from
   the zone's subnet when the call was accepted, is attached (and a public IP mapped);
6. ``configure_firewall`` the security group's rules are attached to that interface;
7. ``boot``          the hypervisor starts the VM and EC2 reports the instance ``running``.

``running`` is not "ready": EC2 reports it as soon as the VM starts, while the guest
operating system is still booting (``instance.booted`` when it answers on the network,
some 15-30 s later here). EC2 then runs **status checks** every minute (AWS, "Status
checks for Amazon EC2 instances"): the *system* check (the host, its power and network)
and the *instance* check (the guest answers: ARP reaches its network interface). Each
passes at the first check after it can (``instance.status_check``, ``ok``); until the
guest has booted the instance check is ``initializing``, and when the host or its disk
goes down both turn ``impaired`` at the next check. An instance is really up when both
have passed; a load balancer finds it answering only once its guest has booted.

The API validates what it can at once (type, zone, name, a free address in the subnet)
and fails fast with the error AWS would give (``InsufficientInstanceCapacity`` when no host
in the zone can take the size). A step that fails later (its host died mid-launch)
releases everything claimed so far; a launch never leaves anything half-allocated.

``StopInstances`` hands the host's CPU and RAM back (the instance keeps its name, its
network interfaces and private addresses; its auto-assigned public address goes back to
the pool); ``StartInstances`` runs the pipeline again from ``find_server``, in the zone of
the instance's subnet, so it may well land on another host, and gets a new public
address unless an Elastic IP holds it.

Where the game simplifies: the root volume lives on the host's own disk (real EC2 mostly
boots from network-attached EBS volumes, and adds a third check for attached EBS
volumes), so a stop gives the disk block back and a start carves a fresh one (an EBS
root volume would survive the stop; an instance-store one cannot be stopped at all);
step and boot times are round figures, drawn from the session's seeded random
generator; the first status check comes at a seeded moment within the minute after
``running``; an impaired instance answers again as soon as its hardware is back (no
guest reboot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .catalogue import CATALOGUE, DEFAULT_TYPE, InstanceType
from .errors import CloudError
from .hardware import Disk, Host
from .scheduler import NoValidHost, Request

if TYPE_CHECKING:
    from .cloud import Cloud

STEPS = (
    "find_server",
    "allocate_cpu",
    "allocate_ram",
    "allocate_disk",
    "assign_nic",
    "configure_firewall",
    "boot",
)
# How long each step takes after the one before it, in ms (boot adds seeded jitter).
STEP_MS = {
    "find_server": 150,
    "allocate_cpu": 30,
    "allocate_ram": 40,
    "allocate_disk": 350,
    "assign_nic": 200,
    "configure_firewall": 60,
    "boot": 9000,
}
BOOT_JITTER_MS = 6000
# After `running`: the guest OS boots, and EC2's status checks run once a minute.
GUEST_BOOT_MS = 15_000
GUEST_BOOT_JITTER_MS = 15_000
STATUS_CHECK_MS = 60_000
STATUS_CHECKS = ("system", "instance")
DECISION_SCORES = 8  # the best hosts' scores a scheduler.decided event lists
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


@dataclass(eq=False)
class Instance:
    name: str
    id: str
    type: InstanceType
    zone: str | None
    state: str = "pending"  # pending | running | impaired | stopped | terminated | failed
    host: Host | None = None
    disk: Disk | None = None
    private_ip: str | None = None
    public_ip: str | None = None
    subnet: str | None = None  # the subnet its primary network interface is in
    security_groups: list[str] = field(default_factory=list)
    launched_ms: int = 0
    steps: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None
    cpu_claimed: bool = False
    disk_claimed: bool = False
    starts: int = 0  # StartInstances calls: a start that fails goes back to stopped
    booted: bool = False  # the guest OS has booted and answers on the network
    checks: dict[str, str] = field(default_factory=lambda: dict.fromkeys(STATUS_CHECKS, "initializing"))
    check_phase_ms: int = 0  # status checks run at this phase of every minute
    check_due: bool = False  # a status check is on the clock

    @property
    def alive(self) -> bool:
        return self.state in ("pending", "running", "impaired")

    @property
    def exists(self) -> bool:
        """Alive or stopped: it still holds its name and its network interfaces."""
        return self.state not in ("terminated", "failed")


def _ways_out(reasons: dict[str, int], itype: InstanceType) -> str:
    """The routes out of a capacity error that can work. The t3 sizes up to large all
    have 2 vCPUs and differ in memory: a smaller one helps when memory ran out, not CPU."""
    if reasons.get("cpu") and not any(t.vcpus < itype.vcpus for t in CATALOGUE.values()):
        return (
            f"Try another zone or free capacity (a smaller type will not help: every size up to large "
            f"needs {itype.vcpus} vCPUs too)"
        )
    if reasons.get("ram") and not reasons.get("cpu"):
        return "Try another zone, a type with less memory, or free capacity"
    return "Try another zone, a smaller type, or free capacity"


class NetworkPort(Protocol):
    """What the launch pipeline asks of the network mechanism (cloud/network.py).

    Each method either does its part or raises :class:`CloudError` having changed nothing;
    the ``assign_nic`` and ``configure_firewall`` answers are the fields of their
    ``launch.step`` events."""

    def launch_zones(
        self, zone: str | None, zones: list[str], subnet: str | None = None, groups: tuple[str, ...] = (), name: str = ""
    ) -> tuple[str, ...]: ...

    def reserve(self, inst: "Instance") -> None: ...

    def assign_nic(self, inst: "Instance") -> dict[str, Any]: ...

    def configure_firewall(self, inst: "Instance") -> dict[str, Any]: ...

    def release(self, inst: "Instance") -> None: ...

    def stop(self, inst: "Instance") -> None: ...


class ControlPlane:
    def __init__(self, cloud: "Cloud") -> None:
        self.cloud = cloud
        self.instances: dict[str, Instance] = {}
        # live migrations in flight: instance -> (source host, destination host)
        self.migrating: dict[str, tuple[str, str]] = {}
        self._counter = 0

    def _network(self) -> NetworkPort:
        network = self.cloud.network
        if network is None:
            raise CloudError("InvalidSubnet", "this world has no network to plug an instance into")
        return network

    # -- queries ---------------------------------------------------------------------
    def get(self, name: str) -> Instance:
        inst = self.instances.get(name)
        if inst is None:
            known = ", ".join(sorted(self.instances)) or "none yet"
            raise CloudError("InvalidInstanceID.NotFound", f"no instance named {name!r} (instances: {known})")
        return inst

    def alive(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.alive]

    def auto_name(self) -> str:
        while True:
            self._counter += 1
            name = f"i{self._counter}"
            if name not in self.instances or not self.instances[name].exists:
                return name

    # -- RunInstances ----------------------------------------------------------------
    def launch(
        self,
        name: str | None = None,
        type_name: str | None = None,
        zone: str | None = None,
        *,
        instant: bool = False,
        group: str | None = None,
        host: str | None = None,
        subnet: str | None = None,
        security_groups: tuple[str, ...] | list[str] = (),
    ) -> Instance:
        """RunInstances. ``instant`` runs every step at once: for instances that a world
        says are already running when the story starts. ``group`` names a placement
        group; ``host`` asks for one host (still checked by every scheduler filter);
        ``subnet`` and ``security_groups`` place its network interface (by default the
        zone's subnet of the default VPC, and that VPC's default group)."""
        cloud = self.cloud
        if group is not None and group not in cloud.scheduler.groups:
            known = ", ".join(cloud.scheduler.groups) or "none"
            raise CloudError("InvalidPlacementGroup.Unknown", f"no placement group named {group!r} (groups: {known})")
        if host is not None and host not in cloud.hardware.hosts:
            raise CloudError("InvalidHostID.NotFound", f"no host named {host!r}")
        itype = CATALOGUE.get(type_name or DEFAULT_TYPE)
        if itype is None:
            raise CloudError(
                "InvalidParameterValue", f"unknown instance type {type_name!r} (types: {', '.join(CATALOGUE)})"
            )
        if zone is not None and zone not in cloud.hardware.zones:
            raise CloudError(
                "InvalidParameterValue", f"unknown zone {zone!r} (zones: {', '.join(cloud.hardware.zones)})"
            )
        if name is None:
            name = self.auto_name()
        elif not NAME_RE.match(name):
            raise CloudError(
                "InvalidParameterValue",
                f"bad name {name!r} (use lower-case letters, digits and '-', starting with a letter)",
            )
        if name in self.instances and self.instances[name].exists:
            raise CloudError("InvalidParameterValue", f"an instance named {name!r} already exists")
        network = self._network()
        try:
            if subnet is None and not security_groups:
                zones = network.launch_zones(zone, list(cloud.hardware.zones))
            else:
                zones = network.launch_zones(
                    zone, list(cloud.hardware.zones), subnet=subnet, groups=tuple(security_groups), name=name
                )
        except CloudError as exc:
            if exc.code == "InsufficientFreeAddressesInSubnet":
                # refused for want of an address: the API answers at once, and the log keeps it
                cloud.emit(
                    "launch.failed", instance=name, type=itype.name, zone=zone or "", step="assign_nic",
                    code=exc.code, reasons=exc.message,
                )
            raise
        cloud.api_call("RunInstances", instance=name, type=itype.name, zone=zone or "")
        # Step 1 runs within the API call: a capacity error is the call's answer (and,
        # like every API error, it is logged).
        req = Request(name, itype.vcpus, itype.ram_mib, itype.disk_gib, zones, group=group or "", host=host or "")
        try:
            chosen = cloud.scheduler.select(req)
        except NoValidHost as exc:
            where = f"host {host}" if host else f"zone {zone}" if zone else "any zone"
            cloud.emit(
                "launch.failed",
                instance=name,
                type=itype.name,
                zone=zone or "",
                step="find_server",
                code="InsufficientInstanceCapacity",
                reasons=str(exc),
            )
            raise CloudError(
                "InsufficientInstanceCapacity",
                f"no host in {where} can take a {itype.name} ({itype.vcpus} vCPU, {itype.ram_gib:g} GiB); "
                f"filtered out: {exc}. {_ways_out(exc.reasons, itype)}",
            ) from None
        host = chosen
        inst = Instance(
            name,
            f"i-{cloud.rng.getrandbits(32):08x}",
            itype,
            host.rack.zone.id,
            launched_ms=cloud.clock.now_ms,
            subnet=subnet,
            security_groups=list(security_groups),
        )
        self.instances[name] = inst
        host.claim(itype.vcpus, itype.ram_mib)
        # The private address is reserved with the request, as the ENI is created with
        # it; the scheduler only offered zones whose subnet still has one.
        network.reserve(inst)
        inst.host = host
        inst.cpu_claimed = True
        host.instances[name] = inst
        cloud.scheduler.commit(req, host, inst)
        cloud.emit("launch.requested", instance=name, id=inst.id, type=itype.name, zone=inst.zone)
        self._log_decision(req, host)
        self._step_done(inst, "find_server", host=host.id, rack=host.rack.id, zone=inst.zone)
        if instant:
            for index in range(1, len(STEPS)):
                self._run_step(inst, index, chain=False)
        else:
            self._schedule_next(inst, 1)
        return inst

    def _log_decision(self, req: Request, host: Host) -> None:
        """Log why the scheduler chose ``host`` (in a fleet small enough to score every
        host): the policy, the best scores and how many hosts each filter removed, so a
        replay, a trace and the quiz read the decision from the log like anything else."""
        expl = self.cloud.scheduler.decided
        if expl is None or expl.request != req or expl.winner != host.id:
            return
        passed = sorted((r for r in expl.rows if r.passed), key=lambda r: -(r.total or 0))
        self.cloud.emit(
            "scheduler.decided",
            instance=req.name,
            host=host.id,
            policy=expl.policy,
            hosts=len(expl.rows),
            passed=len(passed),
            scores=" ".join(f"{r.host}:{r.total}" for r in passed[:DECISION_SCORES]),
            filtered=" ".join(f"{reason}:{n}" for reason, n in sorted(expl.reasons.items())),
            **({"group": req.group} if req.group else {}),
        )

    def _schedule_next(self, inst: Instance, index: int) -> None:
        if index >= len(STEPS):
            return
        step = STEPS[index]
        delay = STEP_MS[step]
        if step == "boot":
            delay += self.cloud.rng.randrange(BOOT_JITTER_MS)
        self.cloud.clock.schedule_in(delay, lambda: self._run_step(inst, index))

    def _run_step(self, inst: Instance, index: int, chain: bool = True) -> None:
        if inst.state != "pending":
            return  # terminated while launching
        step = STEPS[index]
        host = inst.host
        assert host is not None
        if not host.up:
            self._fail(inst, step, "Server.InternalError", f"host {host.id} went down during {step}")
            return
        cloud = self.cloud
        if step == "allocate_cpu":
            self._step_done(inst, step, vcpus=inst.type.vcpus, host=host.id)
        elif step == "allocate_ram":
            self._step_done(inst, step, ram_mib=inst.type.ram_mib, host=host.id)
        elif step == "allocate_disk":
            disks = [d for d in host.disks if d.up and d.free_gib >= inst.type.disk_gib]
            if not disks:
                self._fail(inst, step, "InsufficientInstanceCapacity", f"no disk on {host.id} has room")
                return
            disk = max(disks, key=lambda d: (d.free_gib, -host.disks.index(d)))
            disk.used_gib += inst.type.disk_gib
            inst.disk = disk
            inst.disk_claimed = True
            self._step_done(inst, step, disk=disk.id, gib=inst.type.disk_gib)
        elif step == "assign_nic":
            try:
                fields = self._network().assign_nic(inst)
            except CloudError as exc:
                self._fail(inst, step, exc.code, exc.message)
                return
            self._step_done(inst, step, **fields)
        elif step == "configure_firewall":
            self._step_done(inst, step, **self._network().configure_firewall(inst))
        elif step == "boot":
            self._step_done(inst, step, host=host.id)
            inst.state = "running"
            cloud.emit("instance.running", instance=inst.name, host=host.id, zone=inst.zone or "")
            if chain:
                self._start_guest(inst)
            else:  # already running when the story starts: long booted, checks long passed
                inst.booted = True
                inst.checks = dict.fromkeys(STATUS_CHECKS, "ok")
            cloud.refresh_instance(inst)
        if chain:
            self._schedule_next(inst, index + 1)

    # -- after `running`: the guest boots, the status checks pass --------------------------
    def _start_guest(self, inst: Instance) -> None:
        cloud = self.cloud
        boot_ms = GUEST_BOOT_MS + cloud.rng.randrange(GUEST_BOOT_JITTER_MS)
        inst.check_phase_ms = (cloud.now_ms + 1 + cloud.rng.randrange(STATUS_CHECK_MS)) % STATUS_CHECK_MS
        run = inst.starts  # a boot of an earlier run (stopped since) must not count
        cloud.clock.schedule_in(boot_ms, lambda: self._guest_booted(inst, run))
        self.watch_status(inst)

    def _guest_booted(self, inst: Instance, run: int) -> None:
        if inst.starts != run or inst.state not in ("running", "impaired"):
            return
        inst.booted = True
        self.cloud.emit("instance.booted", instance=inst.name, host=inst.host.id if inst.host else "")

    def watch_status(self, inst: Instance) -> None:
        """Put the instance's next status check on the clock (at its phase of the next
        minute), unless one is already there."""
        if inst.check_due or not inst.alive:
            return
        now = self.cloud.now_ms
        wait = (inst.check_phase_ms - now) % STATUS_CHECK_MS or STATUS_CHECK_MS
        inst.check_due = True
        self.cloud.clock.schedule(now + wait, lambda: self._status_check(inst))

    def _status_check(self, inst: Instance) -> None:
        """EC2's two status checks; each logs only when its result changes. The chain
        stops while both pass and starts again when the instance's hardware changes."""
        inst.check_due = False
        if not inst.alive:
            return
        hardware_ok = inst.host is not None and inst.host.up and (inst.disk is None or inst.disk.up)
        system = "ok" if hardware_ok else "impaired"
        instance = "impaired" if not hardware_ok else "ok" if inst.booted else "initializing"
        for check, status in (("system", system), ("instance", instance)):
            if inst.checks[check] != status:
                inst.checks[check] = status
                self.cloud.emit("instance.status_check", instance=inst.name, check=check, status=status)
        if system != "ok" or instance != "ok":
            self.watch_status(inst)

    def _step_done(self, inst: Instance, step: str, **data: object) -> None:
        inst.steps.append((step, self.cloud.clock.now_ms))
        self.cloud.emit("launch.step", instance=inst.name, step=step, **data)

    def _fail(self, inst: Instance, step: str, code: str, message: str) -> None:
        inst.error = f"{code}: {message}"
        self.cloud.emit("launch.failed", instance=inst.name, step=step, code=code, reasons=message, zone=inst.zone or "")
        if inst.starts:  # a restart that failed: the instance is stopped again, its interfaces kept
            self._release_hardware(inst)
            self._network().stop(inst)
            inst.host, inst.disk, inst.state = None, None, "stopped"
            return
        self._release(inst)
        inst.state = "failed"

    # -- StopInstances and StartInstances -----------------------------------------------
    def stop(self, name: str) -> Instance:
        """StopInstances: the guest shuts down and its host's CPU, RAM and disk block go
        back; its network interfaces and private addresses stay, its auto-assigned
        public address does not."""
        inst = self.get(name)
        if inst.state not in ("running", "impaired"):
            hint = " (wait until it is running)" if inst.state == "pending" else ""
            raise CloudError("IncorrectInstanceState", f"instance {name} is {inst.state}: only a running instance stops{hint}")
        cloud = self.cloud
        cloud.api_call("StopInstances", instance=name)
        host = inst.host
        self._release_hardware(inst)
        self._network().stop(inst)
        inst.host, inst.disk, inst.state = None, None, "stopped"
        inst.booted = False  # the guest shut down; a start boots it again and re-runs the checks
        inst.checks = dict.fromkeys(STATUS_CHECKS, "initializing")
        cloud.emit("instance.stopped", instance=name, host=host.id if host else "")
        return inst

    def start(self, name: str) -> Instance:
        """StartInstances: the pipeline again from find_server, in the zone of the
        instance's subnet (its interfaces cannot leave their zone)."""
        inst = self.get(name)
        if inst.state != "stopped":
            raise CloudError("IncorrectInstanceState", f"instance {name} is {inst.state}: only a stopped instance starts")
        cloud = self.cloud
        zone = inst.zone or ""
        cloud.api_call("StartInstances", instance=name, zone=zone)
        itype = inst.type
        req = Request(name, itype.vcpus, itype.ram_mib, itype.disk_gib, (zone,))
        try:
            host = cloud.scheduler.select(req)
        except NoValidHost as exc:
            cloud.emit(
                "launch.failed", instance=name, type=itype.name, zone=zone, step="find_server",
                code="InsufficientInstanceCapacity", reasons=str(exc),
            )
            raise CloudError(
                "InsufficientInstanceCapacity",
                f"no host in zone {zone} can take {name} ({itype.name}) right now: filtered out: {exc}; it stays stopped",
            ) from None
        host.claim(itype.vcpus, itype.ram_mib)
        inst.host, inst.cpu_claimed, inst.error = host, True, None
        inst.starts += 1
        inst.steps = []  # describe shows this run of the pipeline
        host.instances[name] = inst
        cloud.scheduler.commit(req, host, inst)
        inst.state = "pending"
        self._log_decision(req, host)
        self._step_done(inst, "find_server", host=host.id, rack=host.rack.id, zone=zone)
        self._schedule_next(inst, 1)
        return inst

    # -- ModifyInstanceAttribute (instance type) -----------------------------------------
    def modify_type(self, name: str, type_name: str) -> Instance:
        """Change a stopped instance's type (ModifyInstanceAttribute, InstanceType): EC2
        resizes an instance only while it is stopped; the next start runs the pipeline
        with the new size (and may land on another host)."""
        inst = self.get(name)
        itype = CATALOGUE.get(type_name)
        if itype is None:
            raise CloudError("InvalidParameterValue", f"unknown instance type {type_name!r} (types: {', '.join(CATALOGUE)})")
        if inst.state != "stopped":
            raise CloudError(
                "IncorrectInstanceState", f"instance {name} is {inst.state}: stop it first (a type changes only while stopped)"
            )
        if itype is inst.type:
            raise CloudError("InvalidParameterValue", f"{name} is already a {itype.name}")
        was = inst.type
        self.cloud.api_call("ModifyInstanceAttribute", instance=name, type=itype.name)
        inst.type = itype
        self.cloud.emit("instance.modified", instance=name, type=itype.name, was=was.name)
        return inst

    # -- TerminateInstances ----------------------------------------------------------
    def terminate(self, name: str) -> Instance:
        inst = self.get(name)
        if not inst.exists:
            raise CloudError("IncorrectInstanceState", f"instance {name} is already {inst.state}")
        self.cloud.api_call("TerminateInstances", instance=name)
        self._release(inst)
        inst.state = "terminated"
        self.cloud.emit("instance.terminated", instance=name)
        return inst

    def _release(self, inst: Instance) -> None:
        cloud = self.cloud
        if cloud.network is not None:
            cloud.network.release(inst)
        self._release_hardware(inst)
        cloud.emit(
            "resources.released",
            instance=inst.name,
            host=inst.host.id if inst.host else "",
            private_ip=inst.private_ip or "",
        )

    def _release_hardware(self, inst: Instance) -> None:
        cloud = self.cloud
        if inst.disk is not None and inst.disk_claimed:
            inst.disk.used_gib -= inst.type.disk_gib
            inst.disk_claimed = False
        if inst.host is not None and inst.cpu_claimed:
            inst.host.release(inst.type.vcpus, inst.type.ram_mib)
            inst.cpu_claimed = False
            inst.host.instances.pop(inst.name, None)
            cloud.scheduler.note(inst.host)
