"""The security chapter's commands and record (cloud/defence.py): the attacker's script,
played against the layers, with one layer switched off to prove the others hold.

``attack run`` plays every attack and prints, for each, its weakest route and the layers
that stop it (✔ with its depth) or the route that got through (✘). ``attack run --without
LAYER`` plays it again as if that layer did not exist: defence in depth is every attack
still stopped. The layers are repaired with ``disposal`` (the physical one) and the other
mechanisms' commands: ``sg``, ``pin``, ``iam``, ``kms`` and ``envelope``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...cloud import defence as sim
from ...cloud.defence import LAYERS, AttackResult, Defence
from ...cloud.errors import CloudError
from ..mechanism import Mechanism
from ..parser import CommandError
from ..registry import CommandSet, Param

if TYPE_CHECKING:
    from ..session import Session

command = CommandSet()


def _d(session: "Session") -> Defence:
    d = session.cloud.get(Defence)
    if d is None:
        raise CommandError("this world has no attacker (its world has no defence section)")
    return d


def attack_lines(r: AttackResult, detail: bool = True) -> list[str]:
    if r.breached:
        route = next(x for x in r.routes if x.breached)
        head = f"✘ {r.name:<12} BREACHED from {r.foothold} by route {route.name}"
    else:
        w = r.weakest
        head = f"✔ {r.name:<12} stopped, depth {r.depth}: weakest route {w.name} stopped by {', '.join(w.layers)}"
    lines = [head]
    if detail:
        for route in r.routes:
            lines.append(f"    route {route.name}: " + ("GETS THROUGH" if route.breached else f"{len(route.layers)} layers"))
            for s in route.steps:
                mark = "■" if s.stops else "·"
                lines.append(f"      {mark} {s.layer:<10} {s.evidence}")
    return lines


@command(
    "attack run",
    "play the attacker's script against every layer (or with one layer switched off)",
    args=[Param("attack", "just this attack (default: all)", required=False, complete="attack")],
    options=[Param("without", "play as if this layer did not exist", choices=LAYERS), Param("detail", "show every step", choices=("yes", "no"), default="no")],
    details="""An attack may try several routes; a route gets through only if no step on it is stopped.
Depth is how many layers stop an attack's weakest route. Defence in depth: depth 2 or
more for every attack, so with any one layer off (--without) nothing gets through.
■ marks a step that stops the attacker, · one that does not.""",
)
def attack_run(session: "Session", attack: str | None, without: str | None, detail: str) -> str:
    d = _d(session)
    if attack is not None:
        try:
            d.attack(attack)
        except CloudError as exc:
            raise CommandError(exc.message) from None
    results = d.run(without, attack)
    lines = []
    if attack is None:
        breached = sum(r.breached for r in results)
        off = f" with {without} switched off" if without else ""
        lines.append(f"attacker{off}: {len(results) - breached} of {len(results)} attacks stopped, depth at least {min(r.depth for r in results)}")
    for r in results:
        lines += attack_lines(r, detail == "yes" or attack is not None)
    return "\n".join(lines)


@command("attack show", "list the attacker's footholds and routes, step by step, with the layer guarding each step")
def attack_show(session: "Session") -> str:
    d = _d(session)
    lines = []
    for a in d.spec.attacks:
        lines.append(f"{a.name} (foothold: {a.foothold}) {a.text}")
        for r in a.routes:
            lines.append(f"  route {r.name}: " + " -> ".join(f"{sim.LAYER_OF[s.check]}({s.check})" for s in r.steps) + (f"  {r.text}" if r.text else ""))
    return "\n".join(lines)


@command(
    "disposal",
    "choose what happens to a disk that leaves service: resell it whole, or shred it on site",
    args=[Param("policy", "resell or shred", choices=("resell", "shred"))],
)
def disposal(session: "Session", policy: str) -> str:
    d = _d(session)
    was = d.set_decommission(policy)
    return f"failed disks: {policy} (was {was})"


def security_text(session: "Session") -> str:
    d = _d(session)
    lines = [f"layers: physical (disks {'shredded' if d.decommission == 'shred' else 'RESOLD'}), network, vm, identity, encryption"]
    if not d.last:
        lines.append("attacker: not run yet (attack run)")
    for r in d.last:
        lines += attack_lines(r, detail=False)
    for layer in LAYERS:
        if layer in d.proofs:
            lines.append(f"without {layer}: {d.proofs[layer]} attacks get through")
    return "\n".join(lines)


def _status(session: "Session", thing: str | None) -> str | None:
    d = session.cloud.get(Defence)
    if d is None or thing is not None:
        return None
    m = d.metrics()
    ran = "not run yet" if m["attacks_breached"] < 0 else f"{m['attacks_breached']} breached, depth at least {m['min_depth']}"
    return f"defence: {m['attacks']} attacks ({ran}); disks {'shredded' if d.decommission == 'shred' else 'resold'} (attack run)"


MECHANISM = Mechanism(
    name="defence",
    summary="defence in depth: an attacker's footholds and routes against physical, network, VM, identity and encryption layers (chapter 11)",
    section=sim.DefenceSpec,
    attach=sim.attach,
    needs=("hypervisor", "iam", "kms", "network"),
    check=sim.check_world,
    commands=command,
    ids={"attack": lambda s: [a.name for a in d.spec.attacks] if (d := s.cloud.get(Defence)) is not None else []},
    status=_status,
    metrics=sim.METRICS,
    events=sim.EVENTS,
    views={"security": security_text},
)
