"""Defence in depth: an attacker with a foothold, and the layers between it and the data.

A cloud's security is not one lock but a stack of independent ones, so that the failure
of any one (a misconfigured rule, a leaked key, a zero-day) is not the end. The level
names five layers, and each is a mechanism this game already simulates:

- **physical**: who can touch the hardware, and what happens to a disk when it leaves
  service. AWS says failed storage media are destroyed on site (degaussed or shredded,
  following NIST SP 800-88) and never leave its data centres whole. The reason is old:
  Garfinkel and Shelat bought 158 used hard drives in 2000-2002 and found most still held
  readable data, credit card numbers and medical records among it;
- **network**: security groups and network ACLs (cloud/firewall.py) decide which machine
  may open which port on which other;
- **VM isolation**: the hypervisor keeps guests apart (cloud/tenancy.py explains how);
  its weak spot is a side channel between guests sharing a physical core;
- **identity**: IAM (cloud/iam.py) decides every API call: explicit deny, then allow,
  else deny;
- **encryption**: data at rest is ciphertext under data keys wrapped by a KMS key
  (cloud/kms.py), and a wrapped key is worth nothing without a ``Decrypt`` that the key
  policy and IAM allow.

An *attack* starts from a foothold (a stolen disk, a leaked access key, a compromised
web server, a curious insider) and may try several *routes* to the data. A route is a
chain of steps, each guarded by one layer; it gets through only if no step on it stops
it, and the attack succeeds if any route does. The *depth* of a route is how many
different layers stop it; an attack's depth is that of its weakest route. Defence in
depth means depth two or more everywhere: switch any one layer off (``run(without=...)``)
and every attack is still stopped.

Each step is judged by asking the real mechanism, never by a table: a disk image is
searched for the data's bytes, IAM decides requests, the key service tries the Decrypt,
the packet tracer walks the packet, the hypervisor's pins are read.

Where the game simplifies: an attacker tries each route once and no step is partly
successful; a side channel is judged by whether the two guests may share a core at all;
the referee knows each object's plaintext, so it can tell whether a disk image holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from .errors import CloudError
from .mechanism import events, metrics
from .world import CoreWorld, Strict

if TYPE_CHECKING:
    from .cloud import Cloud

LAYERS = ("physical", "network", "vm", "identity", "encryption")
Check = Literal["disk-leaves", "ciphertext", "credentials", "request", "decrypt", "reach", "shared-core"]
LAYER_OF: dict[str, str] = {
    "disk-leaves": "physical",
    "ciphertext": "encryption",
    "credentials": "identity",
    "request": "identity",
    "decrypt": "encryption",
    "reach": "network",
    "shared-core": "vm",
}
FOOTHOLDS = ("stolen-disk", "leaked-key", "web-server", "insider")
NEEDS: dict[str, tuple[str, ...]] = {
    "disk-leaves": (),
    "ciphertext": ("object",),
    "credentials": ("object",),
    "request": ("principal", "action", "resource"),
    "decrypt": ("principal", "object"),
    "reach": ("src", "dst", "port"),
    "shared-core": ("attacker", "victim"),
}


class StepSpec(Strict):
    """One step of a route; its check decides which layer guards it."""

    check: Check
    principal: str | None = None
    action: str | None = None
    resource: str | None = None
    object: str | None = None
    src: str | None = None
    dst: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    attacker: str | None = Field(default=None, description="shared-core: the attacker's VM")
    victim: str | None = Field(default=None, description="shared-core: the victim's VM")
    context: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fields(self) -> "StepSpec":
        missing = [f for f in NEEDS[self.check] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.check} step needs {', '.join(missing)}")
        return self


class RouteSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    text: str = ""
    steps: list[StepSpec] = Field(min_length=1)


class AttackSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")
    foothold: Literal["stolen-disk", "leaked-key", "web-server", "insider"]
    text: str = ""
    routes: list[RouteSpec] = Field(min_length=1)


class DefenceSpec(Strict):
    """The world's ``defence`` section: the physical layer's setting and the attacker's script."""

    decommission: Literal["resell", "shred"] = Field(default="shred", description="what happens to a disk that leaves service")
    attacks: list[AttackSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _names(self) -> "DefenceSpec":
        names = [a.name for a in self.attacks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"attack {dupes[0]!r} is named twice")
        return self


@dataclass(frozen=True)
class StepResult:
    layer: str
    stops: bool
    evidence: str
    off: bool = False  # its layer was switched off for this run


@dataclass(frozen=True)
class RouteResult:
    name: str
    steps: tuple[StepResult, ...]

    @property
    def breached(self) -> bool:
        return not any(s.stops for s in self.steps)

    @property
    def layers(self) -> tuple[str, ...]:
        """The distinct layers that stop this route, in the order of its steps."""
        out: list[str] = []
        for s in self.steps:
            if s.stops and s.layer not in out:
                out.append(s.layer)
        return tuple(out)


@dataclass(frozen=True)
class AttackResult:
    name: str
    foothold: str
    routes: tuple[RouteResult, ...]

    @property
    def breached(self) -> bool:
        return any(r.breached for r in self.routes)

    @property
    def depth(self) -> int:
        return min(len(r.layers) for r in self.routes)

    @property
    def weakest(self) -> RouteResult:
        return min(self.routes, key=lambda r: len(r.layers))


class Defence:
    def __init__(self, cloud: "Cloud", spec: DefenceSpec) -> None:
        self.cloud = cloud
        self.spec = spec
        self.decommission = spec.decommission
        self.last: list[AttackResult] = []
        self.runs = 0
        self.proofs: dict[str, int] = {}  # layer switched off -> attacks breached in that run

    # -- the mechanisms asked ---------------------------------------------------------------
    def _kms(self):
        from .kms import KeyService

        return self.cloud.get(KeyService)

    def _iam(self):
        from .iam import IamService

        return self.cloud.get(IamService)

    def _net(self):
        from .network import Network

        return self.cloud.get(Network)

    def _host(self):
        from .hypervisor import HostSim

        return self.cloud.get(HostSim)

    def _object(self, name: str):
        kms = self._kms()
        if kms is None or name not in kms.objects:
            raise CloudError("InvalidParameterValue", f"no stored object {name!r}")
        return kms, kms.objects[name]

    # -- one step ------------------------------------------------------------------------
    def judge(self, step: StepSpec) -> tuple[bool, str]:
        """(whether it stops the attacker, the evidence)."""
        c = step.check
        if c == "disk-leaves":
            if self.decommission == "shred":
                return True, "a failed disk is shredded on site before it leaves the building: there is no disk to steal"
            return False, "failed disks are resold whole: the attacker bought one"
        if c in ("ciphertext", "credentials"):
            kms, env = self._object(step.object or "")
            if c == "ciphertext":
                image = kms.disk.raw_image()
                plain = kms.truth(env.name)
                if plain and plain in image:
                    where = image.index(plain)
                    return False, f"{env.name}'s bytes are on the platter in plaintext, at byte {where}"
                return True, f"the platter holds {env.name} only as AES-GCM ciphertext beside its encrypted data key"
            if env.key is None:
                return False, f"{env.name} is plaintext: there is no key to unwrap"
            return True, f"{env.name}'s data key is wrapped under {env.key}; unwrapping it takes a Decrypt call signed with credentials the thief lacks"
        if c == "request":
            iam = self._iam()
            if iam is None:
                raise CloudError("InvalidParameterValue", "this world has no IAM")
            d = iam.decide(step.principal or "", step.action or "", step.resource or "", _ctx(step), record=False)
            if d.allowed:
                return False, f"{step.principal} may {step.action}: {d.kind} policy {d.policy} statement {d.statement}"
            return True, f"{step.principal} {step.action}: {d.reason}"
        if c == "decrypt":
            kms, env = self._object(step.object or "")
            if env.key is None:
                return False, f"{env.name} is stored in plaintext: nothing to decrypt"
            try:
                kms.decrypt(env.blob, step.principal or "", context=env.name, record=False, iam_context=_ctx(step))
            except CloudError as exc:
                return True, f"Decrypt of {env.name}'s data key as {step.principal}: {exc.code}: {exc.message}"
            return False, f"{step.principal} can Decrypt {env.name}'s data key with {env.key}"
        if c == "reach":
            net = self._net()
            assert net is not None and step.src and step.dst and step.port
            t = net.trace(step.src, step.dst, "tcp", step.port, commit=False)
            if t.verdict == "reachable":
                return False, f"{step.src} opens {step.dst}:{step.port}, there and back"
            hop = t.dropped_at
            return True, f"{step.src} -> {step.dst}:{step.port} stopped at " + (f"{hop.step} {hop.where}: {hop.detail}" if hop else t.verdict)
        host = self._host()
        if host is None:
            raise CloudError("InvalidParameterValue", "this world has no hypervisor host")
        a, v = host.vms.get(step.attacker or ""), host.vms.get(step.victim or "")
        if a is None or v is None:
            raise CloudError("InvalidParameterValue", f"no VM {step.attacker if a is None else step.victim!r} on the host")
        shared = sorted(host.cores_of(a) & host.cores_of(v))
        if shared:
            return False, f"{a.name} (pCPUs {a.describe_pins()}) may share core {shared[0]} with {v.name} (pCPUs {v.describe_pins()}): a side channel reads its keys"
        return True, f"{a.name} and {v.name} never share a physical core"

    # -- the script ------------------------------------------------------------------------------
    def attack(self, name: str) -> AttackSpec:
        for a in self.spec.attacks:
            if a.name == name:
                return a
        raise CloudError("InvalidParameterValue", f"no attack named {name!r} (attacks: {', '.join(a.name for a in self.spec.attacks)})")

    def play(self, a: AttackSpec, without: str | None = None) -> AttackResult:
        routes = []
        for r in a.routes:
            steps = []
            for st in r.steps:
                layer = LAYER_OF[st.check]
                stops, ev = self.judge(st)
                if layer == without:
                    steps.append(StepResult(layer, False, f"(switched off) {ev}", off=True))
                else:
                    steps.append(StepResult(layer, stops, ev))
            routes.append(RouteResult(r.name, tuple(steps)))
        return AttackResult(a.name, a.foothold, tuple(routes))

    def run(self, without: str | None = None, only: str | None = None) -> list[AttackResult]:
        if without is not None and without not in LAYERS:
            raise CloudError("InvalidParameterValue", f"no layer {without!r} (layers: {', '.join(LAYERS)})")
        attacks = [self.attack(only)] if only else list(self.spec.attacks)
        results = [self.play(a, without) for a in attacks]
        for r in results:
            weakest = r.weakest
            self.cloud.emit(
                "attack.result", attack=r.name, foothold=r.foothold, breached=r.breached, depth=r.depth,
                route=weakest.name, layers=",".join(weakest.layers), without=without or "",
            )
        if only is None:
            breached = sum(r.breached for r in results)
            self.runs += 1
            if without is None:
                self.last = results
            else:
                self.proofs[without] = breached
            self.cloud.emit(
                "defence.run", without=without or "", attacks=len(results), breached=breached,
                min_depth=min(r.depth for r in results),
            )
        return results

    def set_decommission(self, policy: str) -> str:
        if policy not in ("resell", "shred"):
            raise CloudError("InvalidParameterValue", f"decommission is resell or shred, not {policy!r}")
        was, self.decommission = self.decommission, policy
        self.cloud.api_call("SetDecommissionPolicy")
        self.cloud.emit("defence.changed", setting="decommission", value=policy, was=was)
        return was

    def metrics(self) -> dict[str, int]:
        ran = len(self.last) == len(self.spec.attacks)
        out = {
            "attacks": len(self.spec.attacks),
            "attack_runs": self.runs,
            "attacks_breached": sum(r.breached for r in self.last) if ran else -1,
            "min_depth": min(r.depth for r in self.last) if ran else -1,
            "disks_shredded": int(self.decommission == "shred"),
        }
        for r in self.last:
            out[f"depth.{r.name}"] = r.depth
        for layer, breached in self.proofs.items():
            out[f"breached_without.{layer}"] = breached
        return out


def _ctx(step: StepSpec) -> dict[str, tuple[str, ...]]:
    return {k: (v,) for k, v in step.context.items()}


def check_world(world: CoreWorld, spec: DefenceSpec) -> None:
    """The attacks name things the world has: objects, principals, instances, VMs."""
    kms = getattr(world, "kms", None)
    objects = {o.name for o in kms.objects} if kms is not None else set()
    iam = getattr(world, "iam", None)
    principals = {p.name for p in iam.principals} if iam is not None else set()
    instances = {i.name for i in world.instances}
    hv = getattr(world, "hypervisor", None)
    vms = {v.name for v in hv.vms} if hv is not None else set()
    for a in spec.attacks:
        for r in a.routes:
            for st in r.steps:
                where = f"attack {a.name} route {r.name}"
                if st.object is not None and st.object not in objects:
                    raise ValueError(f"{where}: no stored object {st.object!r} (objects: {', '.join(sorted(objects)) or 'none'})")
                if st.principal is not None and st.principal not in principals:
                    raise ValueError(f"{where}: no principal {st.principal!r} (principals: {', '.join(sorted(principals)) or 'none'})")
                for end in (st.src, st.dst):
                    if end is not None and end not in instances:
                        raise ValueError(f"{where}: no instance {end!r} (instances: {', '.join(sorted(instances)) or 'none'})")
                for vm in (st.attacker, st.victim):
                    if vm is not None and vm not in vms:
                        raise ValueError(f"{where}: no VM {vm!r} on the hypervisor host (VMs: {', '.join(sorted(vms)) or 'none'})")


def attach(cloud: "Cloud", spec: DefenceSpec) -> Defence:
    d = Defence(cloud, spec)
    cloud.metric_sources.append(d.metrics)
    return d


METRICS = metrics(
    ("attacks", "attacks in the attacker's script"),
    ("attack_runs", "times the whole script was played"),
    ("attacks_breached", "attacks that reached the data in the last run with every layer on (-1: no run yet)"),
    ("min_depth", "the fewest layers stopping any attack's weakest route in that run (-1: no run yet)"),
    ("disks_shredded", "1 when failed disks are destroyed on site"),
    ("depth.{attack}", "layers stopping an attack's weakest route", "attack {} has not been run yet"),
    ("breached_without.{layer}", "attacks that got through with one layer switched off", "no run without {} yet"),
)
EVENTS = events(
    ("attack.result", "attack foothold breached depth route layers without", "one attack was played: its weakest route and the layers on it"),
    ("defence.run", "without attacks breached min_depth", "the attacker's script was played (maybe with one layer switched off)"),
    ("defence.changed", "setting value was", "a defence setting changed"),
)
