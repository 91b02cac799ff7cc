"""Tenant isolation: many customers on shared hosts, disks and networks, and the layers
that keep each one inside its own lines.

A cloud's economics rest on sharing: one physical host runs guests of a dozen accounts,
one storage server's disks hold their volumes, one physical network carries their
packets, one IAM service answers for all of them. Isolation is what makes the sharing
safe, and it is not one wall but four, each a different mechanism this game already
simulates:

- **hypervisor** (cloud/hypervisor.py): a guest's memory accesses go through the
  hypervisor's second-level page tables (Intel EPT, AMD NPT), which map a guest's
  physical addresses only to its own host frames; touching anything else is a fault,
  not a read. CPU is shared by a proportional-share scheduler, so a *noisy neighbour* is
  bounded by weights and caps. What page tables cannot stop are *side channels*: two
  guests running at once on the two hardware threads of one core share its L1 cache,
  branch predictors and fill buffers, and attacks such as L1TF/Foreshadow (2018) and
  MDS (2019) read across that line. The cure is to never let two tenants share a core:
  pin each tenant's vCPUs to whole cores (Linux's *core scheduling* and Xen's and
  Hyper-V's core schedulers do it in software), or give a tenant *dedicated hosts*. AWS
  says its Nitro hypervisor never runs two customers' instances on one core at the same
  time, and that EC2 instances other than the burstable T family get whole cores;
- **network** (cloud/network.py): every VPC has its own 24-bit network id on the
  overlay, and the mapping service is keyed by (VPC, address), so two tenants can both
  use 10.0.0.0/16 and never see each other's packets; a packet whose source is not one of
  the sending interface's own addresses is dropped by the host (the source/destination
  check) before it reaches the wire;
- **storage** (cloud/blockstore.py): a released block is zeroed, or its volume's key
  destroyed, before another tenant's volume gets it;
- **permissions** (cloud/iam.py): a principal of one account is denied another
  account's resources unless that account's own policy lets it in; the usual door is a
  role the other account *trusts* (its trust policy names the caller), assumed with
  ``sts:AssumeRole``.

The chapter's world lists the tenants (an account each, with their VMs, instances,
volumes and principals), a **red-team script** of attempts to cross tenant lines, and the
tenants' **legitimate work**, which must keep working. ``run`` plays the whole script
against the world as it is now; every attempt is logged as an ``isolation.attempt``
event naming the layer that stopped it (or that it crossed), with the evidence.

Where the game simplifies: guest memory is laid out contiguously in host frames in the
order guests were created; a side channel is judged by whether two tenants' vCPUs may run
on one core at all (the attack itself is not simulated); the noisy neighbour is judged by
its victim's steal time over top's 3-second window; one shared disk.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from .blockstore import BlockDisk, Scrub
from .errors import CloudError
from .mechanism import events, metrics
from .world import CoreWorld, Strict

if TYPE_CHECKING:
    from .cloud import Cloud
    from .hypervisor import VM, HostSim
    from .iam import IamService
    from .network import Network

AttemptKind = Literal["memory", "shared-core", "noisy", "spoof", "reach", "fresh-volume", "request"]
LegitKind = Literal["reach", "request", "volume", "cpu"]
LAYER_OF: dict[str, str] = {
    "memory": "hypervisor",
    "shared-core": "hypervisor",
    "noisy": "hypervisor",
    "spoof": "network",
    "reach": "network",
    "fresh-volume": "storage",
    "request": "permissions",
}
LAYERS = ("hypervisor", "network", "storage", "permissions")
PAGE = 4096


# -- the world section -------------------------------------------------------------------------
class TenantSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    account: str = Field(pattern=r"^[0-9]{12}$")
    vms: list[str] = Field(default_factory=list, description="its guests on the shared hypervisor host")
    instances: list[str] = Field(default_factory=list, description="its instances in the world")
    vpc: str | None = Field(default=None, description="its VPC")


class SharedDiskSpec(Strict):
    blocks: int = Field(default=32, ge=4, le=1024)
    block_bytes: int = Field(default=128, ge=64, le=4096, multiple_of=16)
    scrub: Literal["none", "zero", "crypto"] = Field(default="zero", description="what happens to a released block")


class VolumeSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    tenant: str
    blocks: int = Field(ge=1, le=256)
    text: str = Field(default="", max_length=8192, description="what the tenant wrote at its start")
    deleted: bool = Field(default=False, description="deleted before the story starts (its blocks went back)")


class AttemptSpec(Strict):
    """One attempt of the red-team script. ``kind`` decides the layer that must stop it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    kind: AttemptKind
    attacker: str = Field(description="a VM, an instance, a tenant (fresh-volume) or a principal (request)")
    victim: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    spoof_as: str | None = Field(default=None, description="spoof: the instance whose address it puts on its packets")
    blocks: int | None = Field(default=None, ge=1, le=256, description="fresh-volume: how many blocks to ask for")
    action: str | None = None
    resource: str | None = None
    context: dict[str, str] = Field(default_factory=dict)
    max_steal_pct: float = Field(default=10, gt=0, le=100, description="noisy: the victim's steal that counts as starved")
    text: str = Field(default="", description="what it is, in words")

    @model_validator(mode="after")
    def _fields(self) -> "AttemptSpec":
        need = {
            "memory": ("victim",), "shared-core": ("victim",), "noisy": ("victim",), "spoof": ("victim", "port", "spoof_as"),
            "reach": ("victim", "port"), "fresh-volume": (), "request": ("action", "resource"),
        }[self.kind]  # fmt: skip
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"attempt {self.name}: a {self.kind} attempt needs {', '.join(missing)}")
        return self


class LegitSpec(Strict):
    """A tenant's own work, which isolation must not break."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    kind: LegitKind
    src: str | None = None
    dst: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    context: dict[str, str] = Field(default_factory=dict)
    volume: str | None = None
    vm: str | None = None
    min_cpu_pct: float | None = Field(default=None, ge=0)
    text: str = ""

    @model_validator(mode="after")
    def _fields(self) -> "LegitSpec":
        need = {"reach": ("src", "dst", "port"), "request": ("principal", "action", "resource"), "volume": ("volume",), "cpu": ("vm", "min_cpu_pct")}[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"legit {self.name}: a {self.kind} check needs {', '.join(missing)}")
        return self


class TenancySpec(Strict):
    """The world's ``tenancy`` section: tenants, the shared disk and its volumes, the
    red-team script and the tenants' legitimate work."""

    tenants: list[TenantSpec] = Field(min_length=2)
    disk: SharedDiskSpec = Field(default_factory=SharedDiskSpec)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    attempts: list[AttemptSpec] = Field(min_length=1)
    legit: list[LegitSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _names(self) -> "TenancySpec":
        for what, items in (("tenant", self.tenants), ("volume", self.volumes), ("attempt", self.attempts), ("legit check", self.legit)):
            names = [i.name for i in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} {dupes[0]!r} is named twice")
        tenants = {t.name for t in self.tenants}
        for v in self.volumes:
            if v.tenant not in tenants:
                raise ValueError(f"volume {v.name}: no tenant {v.tenant!r} (tenants: {', '.join(sorted(tenants))})")
        return self


# -- results -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    name: str
    kind: str
    layer: str
    blocked: bool  # for an attempt: stopped; for legit work: it failed (was blocked)
    evidence: str
    attacker: str = ""
    victim: str = ""


class Tenancy:
    """The tenants, the shared disk, and the red team."""

    def __init__(self, cloud: "Cloud", spec: TenancySpec, rng: random.Random) -> None:
        self.cloud = cloud
        self.spec = spec
        self.tenants = {t.name: t for t in spec.tenants}
        self.disk = BlockDisk("shared-disk", spec.disk.blocks, spec.disk.block_bytes, spec.disk.scrub, rng)
        for v in spec.volumes:
            self.disk.create(v.name, v.tenant, v.blocks)
            if v.text:
                self.disk.write(v.name, 0, v.text.encode())
            if v.deleted:
                self.disk.delete(v.name)
        self.written: dict[str, bytes] = {v.name: v.text.encode() for v in spec.volumes if not v.deleted}
        self.runs = 0
        self.last: list[Outcome] = []
        self.last_legit: list[Outcome] = []
        self.probes = 0

    # -- who is whose ----------------------------------------------------------------------
    def tenant_of(self, thing: str) -> str:
        for t in self.spec.tenants:
            if thing == t.name or thing in t.vms or thing in t.instances or thing == t.vpc:
                return t.name
        iam = self._iam()
        if iam is not None and thing in iam.principals:
            acct = iam.principals[thing].account
            return next((t.name for t in self.spec.tenants if t.account == acct), "")
        return ""

    def _host(self) -> "HostSim | None":
        from .hypervisor import HostSim

        return self.cloud.get(HostSim)

    def _net(self) -> "Network | None":
        from .network import Network

        return self.cloud.get(Network)

    def _iam(self) -> "IamService | None":
        from .iam import IamService

        return self.cloud.get(IamService)

    # -- the hypervisor's lines ------------------------------------------------------------
    def frames(self, host: "HostSim") -> dict[str, tuple[int, int]]:
        """Each guest's host frames [first, end), laid out in creation order."""
        out, at = {}, 0
        for vm in host.vms.values():
            pages = vm.ram_mib * (1 << 20) // PAGE
            out[vm.name] = (at, at + pages)
            at += pages
        return out

    def _vm(self, host: "HostSim", name: str) -> "VM":
        if name not in host.vms:
            raise CloudError("InvalidParameterValue", f"no VM named {name!r} on the shared host")
        return host.vms[name]

    def _memory(self, a: AttemptSpec) -> Outcome:
        host = self._host()
        if host is None:
            return self._na(a, "this world has no shared hypervisor host")
        attacker, victim = self._vm(host, a.attacker), self._vm(host, a.victim or "")
        frames = self.frames(host)
        first, _ = frames[victim.name]
        own_first, own_end = frames[attacker.name]
        gpa = first * PAGE  # the host address of the victim's first page, tried as a guest address
        if gpa < (own_end - own_first) * PAGE:
            frame = own_first + gpa // PAGE
            ev = (
                f"{attacker.name} asked for the address of {victim.name}'s first page ({gpa:#x}); its EPT maps that "
                f"address to {attacker.name}'s own host frame {frame:#x}: a guest can only name its own memory"
            )
        else:
            ev = (
                f"{attacker.name} touched guest address {gpa:#x}, past the end of its {attacker.ram_gib:g} GiB: "
                f"EPT violation, the hypervisor stopped it; {victim.name}'s frames are mapped into no one else's tables"
            )
        return Outcome(a.name, a.kind, "hypervisor", True, ev, a.attacker, a.victim or "")

    def _shared_core(self, a: AttemptSpec) -> Outcome:
        host = self._host()
        if host is None:
            return self._na(a, "this world has no shared hypervisor host")
        attacker, victim = self._vm(host, a.attacker), self._vm(host, a.victim or "")
        shared = sorted(host.cores_of(attacker) & host.cores_of(victim))
        what = "hardware threads of" if host.threads > 1 else "time on"
        if shared:
            cores = ",".join(map(str, shared[:6])) + ("..." if len(shared) > 6 else "")
            ev = (
                f"{attacker.name} (pCPUs {attacker.describe_pins()}) and {victim.name} (pCPUs {victim.describe_pins()}) "
                f"may share {what} core {cores}: its caches and buffers carry a side channel (L1TF, MDS)"
            )
            return Outcome(a.name, a.kind, "hypervisor", False, ev, a.attacker, a.victim or "")
        ev = f"{attacker.name} and {victim.name} never share a physical core (cores kept per tenant)"
        return Outcome(a.name, a.kind, "hypervisor", True, ev, a.attacker, a.victim or "")

    def _noisy(self, a: AttemptSpec) -> Outcome:
        host = self._host()
        if host is None:
            return self._na(a, "this world has no shared hypervisor host")
        self._vm(host, a.attacker)
        victim = self._vm(host, a.victim or "")
        if host.slices < 100:
            return Outcome(a.name, a.kind, "hypervisor", False, "not measured yet: the host has run under 3 s (tick first)", a.attacker, victim.name)
        cpu, steal = host.vm_usage(victim)
        noisy_cpu, _ = host.vm_usage(host.vms[a.attacker])
        if steal <= a.max_steal_pct:
            ev = f"{victim.name}'s steal {steal:.1f}% <= {a.max_steal_pct:g}% while {a.attacker} uses {noisy_cpu:.0f}%: the scheduler keeps its neighbour within its share"
            return Outcome(a.name, a.kind, "hypervisor", True, ev, a.attacker, victim.name)
        ev = f"{victim.name}'s steal {steal:.1f}% > {a.max_steal_pct:g}% while {a.attacker} uses {noisy_cpu:.0f}%: the neighbour takes more than its share"
        return Outcome(a.name, a.kind, "hypervisor", False, ev, a.attacker, victim.name)

    # -- the network's lines -------------------------------------------------------------------
    def _trace(self, src: str, dst: str, port: int, source_ip: str | None = None):
        net = self._net()
        if net is None:
            raise CloudError("InvalidParameterValue", "this world has no network")
        return net.trace(src, dst, "tcp", port, source_ip=source_ip, commit=False)

    def _spoof(self, a: AttemptSpec) -> Outcome:
        net = self._net()
        assert net is not None and a.spoof_as and a.victim and a.port
        address = net.eni(a.spoof_as).private_ip
        t = self._trace(a.attacker, a.victim, a.port, source_ip=address)
        delivered = [h for h in t.hops if h.step == "deliver" and h.ok and h.leg == "request"]
        victim_vpc = net.eni(a.victim).vpc
        reached = any(self.tenant_of(h.where) == self.tenant_of(a.victim) for h in delivered) and t.verdict != "dropped"
        hop = t.dropped_at
        if reached or hop is None:
            ev = f"a packet from {a.attacker} claiming to be {a.spoof_as} ({address}) reached {a.victim} in VPC {victim_vpc}"
            return Outcome(a.name, a.kind, "network", False, ev, a.attacker, a.victim)
        ev = f"{a.attacker} sent as {a.spoof_as} ({address}): stopped at {hop.step} {hop.where}: {hop.detail}"
        return Outcome(a.name, a.kind, f"network ({_network_part(hop.step)})", True, ev, a.attacker, a.victim)

    def _reach(self, a: AttemptSpec) -> Outcome:
        assert a.victim and a.port
        t = self._trace(a.attacker, a.victim, a.port)
        if t.verdict == "reachable":
            return Outcome(a.name, a.kind, "network", False, f"{a.attacker} opened {a.victim}:{a.port}, there and back", a.attacker, a.victim)
        hop = t.dropped_at
        where = f"{hop.step} {hop.where}: {hop.detail}" if hop else t.verdict
        return Outcome(a.name, a.kind, f"network ({_network_part(hop.step if hop else '')})", True, f"{a.attacker} -> {a.victim}:{a.port} stopped at {where}", a.attacker, a.victim)

    # -- the storage line ----------------------------------------------------------------------
    def _fresh_volume(self, a: AttemptSpec) -> Outcome:
        tenant = self.tenant_of(a.attacker) or a.attacker
        if tenant not in self.tenants:
            raise CloudError("InvalidParameterValue", f"fresh-volume attempt {a.name}: {a.attacker!r} is no tenant")
        size = min(a.blocks or len(self.disk.free), len(self.disk.free))
        if size == 0:
            return Outcome(a.name, a.kind, "storage", True, "the disk has no free block to hand out", tenant)
        self.probes += 1
        probe = f"probe-{self.probes}"
        self.disk.create(probe, tenant, size)
        count, whose, sample = self.disk.foreign_bytes(probe)
        self.disk.delete(probe)
        if count:
            shown = sample.decode(errors="replace")
            ev = f"{tenant}'s fresh {size}-block volume read {count} bytes of {whose}'s data: {shown!r}"
            return Outcome(a.name, a.kind, "storage", False, ev, tenant, whose)
        how = {"zero": "released blocks are zeroed before reuse", "crypto": "each volume had its own key, destroyed at release", "none": "no one else's data happened to be there"}[self.disk.scrub]
        ev = f"{tenant}'s fresh {size}-block volume read only zeros ({how})"
        return Outcome(a.name, a.kind, "storage", True, ev, tenant)

    # -- the permission line ---------------------------------------------------------------------
    def _request(self, a: AttemptSpec) -> Outcome:
        iam = self._iam()
        if iam is None:
            return self._na(a, "this world has no IAM")
        assert a.action and a.resource
        ctx = {k: (v,) for k, v in a.context.items()}
        d = iam.decide(a.attacker, a.action, a.resource, ctx, record=False)
        victim = self.tenant_of_resource(a.resource)
        if d.allowed:
            ev = f"{a.attacker} may {a.action} {a.resource}: {d.kind} policy {d.policy} statement {d.statement} lets it across"
            return Outcome(a.name, a.kind, "permissions", False, ev, a.attacker, victim)
        part = "account boundary" if d.kind == "account" else f"{d.kind} policy" if d.kind else "implicit deny"
        return Outcome(a.name, a.kind, f"permissions ({part})", True, f"{a.attacker} {a.action}: {d.reason}", a.attacker, victim)

    def tenant_of_resource(self, arn: str) -> str:
        iam = self._iam()
        if iam is None:
            return ""
        try:
            acct = iam.account_of(arn)
        except Exception:  # noqa: BLE001 - an unparsable ARN belongs to no tenant
            return ""
        return next((t.name for t in self.spec.tenants if t.account == acct), "")

    def _na(self, a: AttemptSpec, why: str) -> Outcome:
        return Outcome(a.name, a.kind, LAYER_OF[a.kind], False, f"cannot be judged: {why}", a.attacker, a.victim or "")

    # -- legitimate work --------------------------------------------------------------------------
    def _legit(self, w: LegitSpec) -> Outcome:
        if w.kind == "reach":
            assert w.src and w.dst and w.port
            t = self._trace(w.src, w.dst, w.port)
            hop = t.dropped_at
            ok = t.verdict == "reachable"
            ev = f"{w.src} -> {w.dst}:{w.port} " + ("works, there and back" if ok else f"blocked at {hop.step} {hop.where}: {hop.detail}" if hop else t.verdict)
            return Outcome(w.name, w.kind, "network", not ok, ev, w.src, w.dst)
        if w.kind == "request":
            iam = self._iam()
            assert iam is not None and w.principal and w.action and w.resource
            d = iam.decide(w.principal, w.action, w.resource, {k: (v,) for k, v in w.context.items()}, record=False)
            ev = f"{w.principal} {w.action} {w.resource}: " + ("allowed" if d.allowed else d.reason)
            return Outcome(w.name, w.kind, "permissions", not d.allowed, ev, w.principal)
        if w.kind == "volume":
            assert w.volume
            want = self.written.get(w.volume)
            if want is None or w.volume not in self.disk.volumes:
                return Outcome(w.name, w.kind, "storage", True, f"volume {w.volume} is gone", w.volume)
            got = self.disk.read(w.volume, 0, len(want))
            ok = got == want
            ev = f"{w.volume} reads back its {len(want)} bytes" if ok else f"{w.volume} reads back different bytes"
            return Outcome(w.name, w.kind, "storage", not ok, ev, w.volume)
        host = self._host()
        assert w.vm and w.min_cpu_pct is not None
        if host is None or w.vm not in host.vms:
            return Outcome(w.name, w.kind, "hypervisor", True, f"no VM {w.vm} on the shared host", w.vm)
        if host.slices < 100:
            return Outcome(w.name, w.kind, "hypervisor", True, "not measured yet: the host has run under 3 s (tick first)", w.vm)
        cpu, _ = host.vm_usage(host.vms[w.vm])
        ok = cpu >= w.min_cpu_pct
        return Outcome(w.name, w.kind, "hypervisor", not ok, f"{w.vm} runs at {cpu:.0f}% (its work needs {w.min_cpu_pct:g}%)", w.vm)

    # -- the red team -------------------------------------------------------------------------------
    def judge(self, a: AttemptSpec) -> Outcome:
        fn = {
            "memory": self._memory, "shared-core": self._shared_core, "noisy": self._noisy, "spoof": self._spoof,
            "reach": self._reach, "fresh-volume": self._fresh_volume, "request": self._request,
        }[a.kind]  # fmt: skip
        return fn(a)

    def attempt(self, name: str) -> AttemptSpec:
        for a in self.spec.attempts:
            if a.name == name:
                return a
        raise CloudError("InvalidParameterValue", f"no attempt named {name!r} (attempts: {', '.join(a.name for a in self.spec.attempts)})")

    def run(self, only: str | None = None) -> tuple[list[Outcome], list[Outcome]]:
        """Play the red-team script (or one attempt of it), then the legitimate work."""
        attempts = [self.attempt(only)] if only else list(self.spec.attempts)
        outcomes = [self.judge(a) for a in attempts]
        legit = [self._legit(w) for w in self.spec.legit] if only is None else []
        self.runs += 1
        for o in outcomes:
            self.cloud.emit(
                "isolation.attempt", attempt=o.name, method=o.kind, layer=o.layer, attacker=o.attacker, victim=o.victim,
                blocked=o.blocked, evidence=o.evidence,
            )
        for o in legit:
            self.cloud.emit("isolation.legit", check=o.name, method=o.kind, passed=not o.blocked, evidence=o.evidence)
        if only is None:
            self.last, self.last_legit = outcomes, legit
            self.cloud.emit(
                "redteam.run", attempts=len(outcomes), blocked=sum(o.blocked for o in outcomes),
                legit=len(legit), legit_blocked=sum(o.blocked for o in legit),
            )
        else:
            self.last = [o if o.name != only else outcomes[0] for o in self.last] if self.last else []
        return outcomes, legit

    # -- the storage API ---------------------------------------------------------------------------
    def create_volume(self, name: str, tenant: str, blocks: int) -> None:
        if tenant not in self.tenants:
            raise CloudError("InvalidParameterValue", f"no tenant {tenant!r} (tenants: {', '.join(self.tenants)})")
        if name.startswith("probe-"):
            raise CloudError("InvalidParameterValue", "names starting probe- are the red team's")
        self.disk.create(name, tenant, blocks)
        self.written[name] = b""
        self.cloud.api_call("CreateVolume")
        self.cloud.emit("volume.changed", volume=name, tenant=tenant, action="create", blocks=blocks, scrub=self.disk.scrub)

    def write_volume(self, name: str, text: str) -> None:
        self.disk.write(name, 0, text.encode())
        self.written[name] = text.encode()
        vol = self.disk.volumes[name]
        self.cloud.emit("volume.changed", volume=name, tenant=vol.tenant, action="write", blocks=vol.size, scrub=self.disk.scrub)

    def delete_volume(self, name: str) -> int:
        vol, zeroed = self.disk.delete(name)
        self.written.pop(name, None)
        self.cloud.api_call("DeleteVolume")
        self.cloud.emit("volume.changed", volume=name, tenant=vol.tenant, action="delete", blocks=vol.size, scrub=self.disk.scrub)
        return zeroed

    def set_scrub(self, scrub: Scrub) -> int:
        was = self.disk.scrub
        zeroed = self.disk.set_scrub(scrub)
        self.cloud.emit("disk.scrub", scrub=scrub, was=was, bytes_zeroed=zeroed)
        return zeroed

    # -- metrics -------------------------------------------------------------------------------------
    def metrics(self) -> dict[str, int | float]:
        ran = bool(self.runs) and len(self.last) == len(self.spec.attempts)
        out: dict[str, int | float] = {
            "attempts": len(self.spec.attempts),
            "redteam_runs": self.runs,
            "attempts_blocked": sum(o.blocked for o in self.last) if ran else 0,
            "attempts_crossed": sum(not o.blocked for o in self.last) if ran else -1,
            "legit_checks": len(self.spec.legit),
            "legit_blocked": sum(o.blocked for o in self.last_legit) if ran else -1,
            "volumes": len(self.disk.volumes),
            "disk_blocks_used": self.disk.used_blocks(),
            "bytes_zeroed": self.disk.bytes_zeroed,
            "scrub_on": int(self.disk.scrub != "none"),
        }
        for o in self.last:
            out[f"blocked.{o.name}"] = int(o.blocked)
        return out


def _network_part(step: str) -> str:
    return {
        "send": "source/destination check", "mapping": "overlay", "deliver": "overlay", "encap": "overlay",
        "sg in": "security group", "sg out": "security group", "nacl in": "network ACL", "nacl out": "network ACL",
        "route": "route table", "address": "no address", "igw": "internet gateway", "peering": "peering",
    }.get(step, step or "overlay")  # fmt: skip


def check_world(world: CoreWorld, spec: TenancySpec) -> None:
    """What the tenants and attempts name exists: VMs on the hypervisor host, instances,
    VPCs, principals."""
    hv = getattr(world, "hypervisor", None)
    vms = {v.name for v in hv.vms} if hv is not None else set()
    instances = {i.name for i in world.instances}
    net = getattr(world, "network", None)
    vpcs = {v.name for v in (net.vpcs or [])} if net is not None else set()
    iam = getattr(world, "iam", None)
    principals = {p.name for p in iam.principals} if iam is not None else set()
    accounts = {a.id for a in iam.accounts} if iam is not None else set()
    owned: dict[str, str] = {}
    for t in spec.tenants:
        for kind, names, known in (("VM", t.vms, vms), ("instance", t.instances, instances)):
            for n in names:
                if n not in known:
                    raise ValueError(f"tenant {t.name}: no {kind} {n!r} in the world ({', '.join(sorted(known)) or 'none'})")
                if n in owned:
                    raise ValueError(f"{kind} {n} belongs to both {owned[n]} and {t.name}")
                owned[n] = t.name
        if t.vpc is not None and t.vpc not in vpcs:
            raise ValueError(f"tenant {t.name}: no VPC {t.vpc!r} (VPCs: {', '.join(sorted(vpcs)) or 'none'})")
        if iam is not None and t.account not in accounts:
            raise ValueError(f"tenant {t.name}: no account {t.account} in the iam section")
    for a in spec.attempts:
        if a.kind in ("memory", "shared-core", "noisy"):
            for n in (a.attacker, a.victim):
                if n not in vms:
                    raise ValueError(f"attempt {a.name}: no VM {n!r} on the hypervisor host (VMs: {', '.join(sorted(vms)) or 'none'})")
        elif a.kind in ("spoof", "reach"):
            for n in (a.attacker, a.victim, a.spoof_as):
                if n is not None and n not in instances:
                    raise ValueError(f"attempt {a.name}: no instance {n!r} (instances: {', '.join(sorted(instances))})")
        elif a.kind == "request":
            if a.attacker not in principals:
                raise ValueError(f"attempt {a.name}: no principal {a.attacker!r} (principals: {', '.join(sorted(principals)) or 'none'})")
        elif a.kind == "fresh-volume" and a.attacker not in {t.name for t in spec.tenants}:
            raise ValueError(f"attempt {a.name}: a fresh-volume attacker is a tenant, not {a.attacker!r}")
    for w in spec.legit:
        for n in (w.src, w.dst):
            if n is not None and n not in instances:
                raise ValueError(f"legit {w.name}: no instance {n!r}")
        if w.principal is not None and w.principal not in principals:
            raise ValueError(f"legit {w.name}: no principal {w.principal!r}")
        if w.vm is not None and w.vm not in vms:
            raise ValueError(f"legit {w.name}: no VM {w.vm!r}")
        if w.volume is not None and w.volume not in {v.name for v in spec.volumes if not v.deleted}:
            raise ValueError(f"legit {w.name}: no volume {w.volume!r} at the start")


def attach(cloud: "Cloud", spec: TenancySpec) -> Tenancy:
    t = Tenancy(cloud, spec, random.Random(cloud.rng.getrandbits(64)))
    cloud.metric_sources.append(t.metrics)
    return t


METRICS = metrics(
    ("attempts", "attempts in the red-team script"),
    ("redteam_runs", "times the red-team script was played"),
    ("attempts_blocked", "attempts the last full run saw stopped"),
    ("attempts_crossed", "attempts the last full run saw cross a tenant line (-1: no run yet)"),
    ("legit_checks", "the tenants' own work the script checks"),
    ("legit_blocked", "legitimate work the last full run saw blocked (-1: no run yet)"),
    ("volumes", "volumes on the shared disk"),
    ("disk_blocks_used", "blocks of the shared disk in volumes"),
    ("bytes_zeroed", "bytes the provider zeroed on the shared disk"),
    ("scrub_on", "1 when released blocks are scrubbed (zeroed or crypto-erased)"),
    ("blocked.{attempt}", "1 when the last run saw an attempt stopped", "attempt {} has not been run yet"),
)
EVENTS = events(
    ("isolation.attempt", "attempt method layer attacker victim blocked evidence", "a red-team attempt was stopped by a layer, or crossed"),
    ("isolation.legit", "check method passed evidence", "a tenant's legitimate work was checked"),
    ("redteam.run", "attempts blocked legit legit_blocked", "the red-team script was played"),
    ("volume.changed", "volume tenant action blocks scrub", "a volume was created, written or deleted"),
    ("disk.scrub", "scrub was bytes_zeroed", "the provider changed what happens to released blocks"),
)
