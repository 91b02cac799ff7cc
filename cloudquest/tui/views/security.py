"""The security view (chapter 11): the five layers as concentric rings around the data, and
how far each attack got.

- **Verdict** first: ``✔ 4/4 attacks stopped, depth ≥ 2`` or ``✘ BREACHED`` with the names.
- **Rings**, outermost first: physical, network, vm, identity, encryption, then the DATA.
  Each ring lists the attacks that reached it (some route got past every ring outside
  it); ``■`` marks the ones stopped right there. An attack on the DATA line got through.
  A ring switched off in the last ``--without`` run is drawn dim, with what got through
  without it.
- Below the fold, each attack's weakest route and the layers stopping it.

It reads the session only; ``describe`` prints the same in words
(cloudquest/game/commands/defence.py).
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.defence import LAYERS, AttackResult, Defence
from .fit import KeyedView, Line, join_lines
from .network import wrap


def reach(r: AttackResult) -> int:
    """How many rings, from the outside in, the attack's deepest route got past (len(LAYERS):
    it reached the data)."""
    best = 0
    for route in r.routes:
        stops = {s.layer for s in route.steps if s.stops}
        depth = next((i for i, layer in enumerate(LAYERS) if layer in stops), len(LAYERS))
        best = max(best, depth)
    return best


class SecurityView(KeyedView):
    VIEW_TITLE = "security"

    def draw(self, width: int) -> Text:
        self.remember()
        self.layout_rows()
        d = self.session.cloud.get(Defence)
        if d is None:
            return Text("this world has no attacker")
        lines: list[Line] = []
        results = d.last
        if not results:
            lines.append(Line("attacker not run yet"[:width], "bold"))
            lines.append(Line("attack run plays every attack"[:width], "dim"))
        else:
            breached = [r.name for r in results if r.breached]
            depth = min(r.depth for r in results)
            if breached:
                lines.append(Line(f"✘ BREACHED: {' '.join(breached)}"[:width], "bold red"))
            else:
                head = Line(f"✔ {len(results)}/{len(results)} attacks stopped", "bold green")
                head.add(f", depth ≥ {depth}"[: max(0, width - head.width)], "green" if depth >= 2 else "bold yellow")
                lines.append(head)
        reached = {r.name: reach(r) for r in results}
        off = self._last_off()
        for i, layer in enumerate(LAYERS + ("DATA",)):
            line = Line("┃" * i, "dim")
            name = layer if layer != "DATA" else "DATA"
            line.add("┏ " if layer != "DATA" else " ")
            label = name if width >= 60 else {"physical": "phys", "network": "net", "identity": "iam", "encryption": "enc"}.get(name, name)
            line.add(label.ljust(10 if width >= 60 else 4), "dim" if layer == off else "bold" if layer != "DATA" else "bold reverse")
            inside = [n for n, k in reached.items() if k >= i]
            here = [n for n, k in reached.items() if k == i]
            if layer == "DATA":
                text = " ".join(inside) or "safe"
                line.add(" " + text[: max(0, width - line.width - 1)], "bold red" if inside else "green")
            else:
                room = width - line.width
                cut = max((len(n) for n in inside), default=0)
                while cut > 3 and sum(2 + min(len(n), cut) for n in inside) > room:
                    cut -= 1  # a narrow pane: shorten the names rather than drop one
                for n in inside:
                    piece = ("■" if n in here else "▸") + n[:cut]
                    if line.width + 1 + len(piece) > width:
                        break
                    line.add(" ")
                    line.add(piece, "bold" if n in here else "")
            lines.append(line)
        if d.proofs:
            proof = Line("off→through ", "dim")
            for layer in LAYERS:
                if layer in d.proofs:
                    piece = f"{layer[:4]}:{d.proofs[layer]}"
                    if proof.width + len(piece) + 1 > width:
                        break
                    proof.add(piece + " ", "green" if d.proofs[layer] == 0 else "bold red")
            lines.append(proof)
        if results:
            lines.append(Line("─" * min(width, 40), "dim"))
            for r in results:
                w = r.weakest
                text = (
                    f"✘ {r.name} ({r.foothold}): through by route {next(x.name for x in r.routes if x.breached)}"
                    if r.breached
                    else f"✔ {r.name} ({r.foothold}): depth {r.depth}, weakest route {w.name} stopped by {', '.join(w.layers)}"
                )
                for part in wrap(text, width, indent="    "):
                    lines.append(Line(part, "bold red" if r.breached else ""))
        return join_lines(lines)

    def _last_off(self) -> str | None:
        log = self.session.cloud.log
        for i in range(len(log) - 1, -1, -1):
            if log[i].kind == "defence.run":
                return dict(log[i].data).get("without") or None
        return None


VIEW = SecurityView
