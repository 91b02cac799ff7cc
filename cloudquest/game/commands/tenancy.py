"""The isolation chapter's commands and record (cloud/tenancy.py): the tenants and what
they share, the red-team script, and the shared disk's volumes.

``redteam run`` plays the whole script against the world as it is now and prints, for
each attempt, the layer that stopped it (✔) or the line it crossed (✘), then the
tenants' own work. The hypervisor's commands (``top``, ``pin``, ``vm set``), the
network's (``packet trace``, ``eni source-dest-check``) and IAM's (``iam simulate``,
``iam put-policy``, ``iam attach``) are how the player repairs each layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud import tenancy as sim
from ...cloud.blockstore import SCRUBS
from ...cloud.errors import CloudError
from ...cloud.tenancy import Outcome, Tenancy
from ..console_text import fitted
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()


def _t(session: "Session") -> Tenancy:
    t = session.cloud.get(Tenancy)
    if t is None:
        raise CommandError("this world has no tenants (its world has no tenancy section)")
    return t


def outcome_line(o: Outcome, legit: bool = False) -> str:
    if legit:
        return f"{'✔' if not o.blocked else '✘'} {o.name:<18} {'works' if not o.blocked else 'BLOCKED'}: {o.evidence}"
    mark = "✔" if o.blocked else "✘"
    verdict = f"stopped by {o.layer}" if o.blocked else f"CROSSED ({o.layer} did not stop it)"
    return f"{mark} {o.name:<18} {verdict}: {o.evidence}"


@command(
    "redteam run",
    "play the red-team script: every attempt to cross a tenant line, and the layer that stops it",
    args=[Param("attempt", "just this attempt (default: the whole script and the tenants' own work)", required=False, complete="attempt")],
    details="""Each attempt is judged by the layer its kind belongs to: memory, shared-core and noisy by
the hypervisor; spoof and reach by the network; fresh-volume by storage; request by
permissions (IAM). Then the tenants' own work is checked: isolation must not block it.""",
)
@fitted
def redteam_run(session: "Session", attempt: str | None) -> str:
    t = _t(session)
    if attempt is not None:
        try:
            t.attempt(attempt)
        except CloudError as exc:
            raise CommandError(exc.message) from None
    outcomes, legit = t.run(attempt)
    lines = [outcome_line(o) for o in outcomes]
    if attempt is None:
        crossed = sum(not o.blocked for o in outcomes)
        lines.insert(0, f"red team: {len(outcomes) - crossed} of {len(outcomes)} attempts stopped, {crossed} crossed")
        if legit:
            lines.append(f"the tenants' own work: {sum(not o.blocked for o in legit)} of {len(legit)} pass")
            lines += ["  " + outcome_line(o, legit=True) for o in legit]
    return "\n".join(lines)


@command("redteam show", "list the red-team script's attempts and how each fared last time")
def redteam_show(session: "Session") -> str:
    t = _t(session)
    last = {o.name: o for o in t.last}
    lines = []
    for a in t.spec.attempts:
        o = last.get(a.name)
        state = "not run yet" if o is None else ("stopped" if o.blocked else "CROSSED")
        lines.append(f"{a.name:<18} {a.kind:<12} {sim.LAYER_OF[a.kind]:<12} {state:<12} {a.text}")
    return "\n".join(lines)


def tenants_text(session: "Session") -> str:
    t = _t(session)
    host = t._host()
    net = t._net()
    lines = []
    for spec in t.spec.tenants:
        parts = [f"tenant {spec.name} (account {spec.account})"]
        if spec.vms:
            parts.append("VMs " + ",".join(spec.vms))
        if spec.vpc and net is not None and spec.vpc in net.vpcs:
            v = net.vpcs[spec.vpc]
            parts.append(f"VPC {v.name} {v.cidr} VNI {v.vni}")
        if spec.instances:
            parts.append("instances " + ",".join(spec.instances))
        lines.append("; ".join(parts))
    if host is not None:
        lines.append(f"shared host: {host.sockets}x{host.cores} cores x {host.threads} threads = {host.pcpus} pCPUs")
        for name, vm in host.vms.items():
            cores = sorted(host.cores_of(vm))
            lines.append(f"  {name:<10} {t.tenant_of(name):<8} pCPUs {vm.describe_pins():<8} cores {_ranges(cores)}")
    d = t.disk
    lines.append(f"shared disk: {d.blocks} blocks of {d.block_bytes} B, {d.used_blocks()} in volumes, released blocks: {d.scrub}")
    for v in d.volumes.values():
        lines.append(f"  {v.name:<12} {v.tenant:<8} blocks {_ranges(sorted(v.blocks))}")
    if t.last:
        crossed = sum(not o.blocked for o in t.last)
        lines.append(f"last red-team run: {len(t.last) - crossed} of {len(t.last)} stopped")
        lines += ["  " + outcome_line(o) for o in t.last]
    else:
        lines.append("red team: not run yet (redteam run)")
    return "\n".join(lines)


def _ranges(nums: list[int]) -> str:
    if not nums:
        return "-"
    out, start, prev = [], nums[0], nums[0]
    for n in nums[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ",".join(out)


@command("tenants", "show the tenants and what they share: host cores, disk blocks, VPCs; and the last red-team run")
@fitted
def tenants(session: "Session") -> str:
    return tenants_text(session)


# -- the shared disk --------------------------------------------------------------------------
VOLUME = Param("volume", "a volume", complete="volume")


def _disk(action):
    try:
        return action()
    except CloudError as exc:
        raise CommandError(exc.message) from None


@command("volume create", "create a volume for a tenant from the shared disk's free blocks", args=[Param("name", "its name"), Param("tenant", "the tenant", complete="tenant"), Param("blocks", "how many blocks", type=int, min=1, max=256)])
def volume_create(session: "Session", name: str, tenant: str, blocks: int) -> str:
    t = _t(session)
    _disk(lambda: t.create_volume(name, tenant, blocks))
    v = t.disk.volumes[name]
    return f"volume {name} for {tenant}: blocks {_ranges(sorted(v.blocks))} ({blocks * t.disk.block_bytes} bytes)"


@command("volume write", "write text at the start of a volume", args=[VOLUME, Param("text", "the text, in quotes")])
def volume_write(session: "Session", volume: str, text: str) -> str:
    t = _t(session)
    _disk(lambda: t.write_volume(volume, text))
    return f"{volume}: {len(text.encode())} bytes written"


@command("volume read", "read a volume's bytes as its tenant would (non-zero bytes shown)", args=[VOLUME])
def volume_read(session: "Session", volume: str) -> str:
    t = _t(session)
    data = _disk(lambda: t.disk.read(volume))
    shown = data.replace(b"\x00", b"").decode(errors="replace")
    count, whose, _ = t.disk.foreign_bytes(volume)
    note = f"; {count} of these bytes were written by {whose}" if count else ""
    if not shown:
        return f"{volume}: {len(data)} bytes, all zeros"
    return f"{volume}: {len(data)} bytes, {sum(1 for b in data if b)} non-zero{note}: {shown[:120]!r}"


@command("volume delete", "delete a volume: its blocks go back to the free pool (scrubbed as the disk's policy says)", args=[VOLUME])
def volume_delete(session: "Session", volume: str) -> str:
    t = _t(session)
    zeroed = _disk(lambda: t.delete_volume(volume))
    how = {"none": "left as they were", "zero": f"zeroed ({zeroed} bytes)", "crypto": "key destroyed (crypto-erased)"}[t.disk.scrub]
    return f"volume {volume} deleted: its blocks are back in the pool, {how}"


@command(
    "volume scrub",
    "choose what happens to released blocks: none, zero (overwrite) or crypto (per-volume keys, destroyed at release)",
    args=[Param("policy", "the release policy", choices=SCRUBS)],
    details="Turning scrubbing on also wipes what earlier, unscrubbed releases left in the free pool.",
)
def volume_scrub(session: "Session", policy: str) -> str:
    t = _t(session)
    was = t.disk.scrub
    zeroed = t.set_scrub(policy)  # type: ignore[arg-type]
    extra = f"; {zeroed} bytes of old data wiped from the free pool" if zeroed else ""
    return f"released blocks: {policy} (was {was}){extra}"


def _status(session: "Session", thing: str | None) -> str | None:
    t = session.cloud.get(Tenancy)
    if t is None:
        return None
    if thing is None:
        m = t.metrics()
        ran = "not run yet" if m["attempts_crossed"] < 0 else f"{m['attempts_blocked']} stopped, {m['attempts_crossed']} crossed"
        return f"tenancy: {len(t.tenants)} tenants, red team of {m['attempts']} attempts ({ran}); released blocks: {t.disk.scrub} (tenants for more)"
    if thing in t.disk.volumes:
        v = t.disk.volumes[thing]
        return f"volume {thing}: {v.tenant}, blocks {_ranges(sorted(v.blocks))}"
    return None


MECHANISM = Mechanism(
    name="tenancy",
    summary="tenants on shared hosts, disks and networks, and a red team trying to cross between them (chapter 10)",
    section=sim.TenancySpec,
    attach=sim.attach,
    needs=("hypervisor", "iam", "network"),
    check=sim.check_world,
    commands=command,
    ids={
        "attempt": lambda s: [a.name for a in t.spec.attempts] if (t := s.cloud.get(Tenancy)) is not None else [],
        "tenant": lambda s: sorted(t.tenants) if (t := s.cloud.get(Tenancy)) is not None else [],
        "volume": lambda s: sorted(t.disk.volumes) if (t := s.cloud.get(Tenancy)) is not None else [],
    },
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS,
    views={"tenants": tenants_text},
)
