"""The tenants view (chapter 10): what the tenants share and whether the red team crossed.

- **Verdict** first: ``✔ 9/9 attempts stopped`` or ``✘ N CROSSED`` with their names, then
  one mark per attempt grouped by layer (``hyp``, ``net``, ``sto``, ``perm``): ``✔``
  stopped, ``✘`` crossed, ``?`` not run yet.
- **Cores** of the shared host, each with one letter per hardware thread for the tenants
  whose vCPUs may run there (the tenant's initial, ``·`` for nobody); a core two tenants
  may share is marked ``!`` (a side channel).
- **Disk**: one cell per block: the owner's initial in capitals for a block in a volume, in
  lower case for a free block still holding that tenant's old bytes (what a new volume
  would read), ``·`` for a clean free block.
- **Networks**: each tenant's VPC with its block and network id (VNI).
- Below the fold, every attempt of the last run with its evidence.

It reads the session only; ``describe`` prints the same in words
(cloudquest/game/commands/tenancy.py).
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.tenancy import LAYER_OF, LAYERS, Tenancy
from .fit import KeyedView, Line, join_lines
from .network import wrap

SHORT = {"hypervisor": "hyp", "network": "net", "storage": "sto", "permissions": "perm"}
LEGEND = "A in a volume  a old bytes left  · clean  ! core shared"


class TenantsView(KeyedView):
    VIEW_TITLE = "tenants"

    def key(self) -> tuple:
        return (len(self.session.cloud.log), self.session.cloud.now_ms // 3000)

    def draw(self, width: int) -> Text:
        self.remember()
        rows = self.layout_rows()
        t = self.session.cloud.get(Tenancy)
        if t is None:
            return Text("this world has no tenants")
        initials = self._initials(t)
        lines: list[Line] = []
        lines += self._verdict(t, width)
        lines += self._cores(t, initials, width)
        lines += self._disk(t, initials, width)
        lines += self._networks(t, width)
        if len(lines) < rows:
            lines.append(Line(LEGEND[:width], "dim"))
        if t.last:
            lines.append(Line("─" * min(width, 40), "dim"))
            for o in t.last:
                mark = "✔" if o.blocked else "✘"
                head = f"{mark} {o.name} ({o.layer}): {o.evidence}"
                for part in wrap(head, width, indent="    "):
                    lines.append(Line(part, "" if o.blocked else "bold red"))
        return join_lines(lines)

    @staticmethod
    def _initials(t: Tenancy) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in t.tenants:
            letter = next((c for c in name.upper() if c.isalpha() and c not in out.values()), "?")
            out[name] = letter
        return out

    def _verdict(self, t: Tenancy, width: int) -> list[Line]:
        if not t.last:
            return [Line("red team not run yet"[:width], "bold"), Line("redteam run plays the whole script"[:width], "dim")]
        crossed = [o.name for o in t.last if not o.blocked]
        if crossed:
            first = Line(f"✘ {len(crossed)} of {len(t.last)} CROSSED", "bold red")
            out = [first]
            for part in wrap(" ".join(crossed), width):
                out.append(Line(part, "red"))
        else:
            out = [Line(f"✔ {len(t.last)}/{len(t.last)} attempts stopped", "bold green")]
            legit = t.last_legit
            if legit:
                bad = sum(o.blocked for o in legit)
                out[0].add(f", own work {len(legit) - bad}/{len(legit)}"[: max(0, width - out[0].width)], "red" if bad else "green")
        marks = Line()
        by_name = {o.name: o for o in t.last}
        for layer in LAYERS:
            names = [a.name for a in t.spec.attempts if LAYER_OF[a.kind] == layer]
            if not names:
                continue
            piece = Line(f"{SHORT[layer]} ")
            for n in names:
                o = by_name.get(n)
                piece.add("?" if o is None else "✔" if o.blocked else "✘", "dim" if o is None else "green" if o.blocked else "bold red reverse")
            if marks.width and marks.width + 2 + piece.width > width:
                out.append(marks)
                marks = Line()
            if marks.width:
                marks.add("  ")
            marks.extend(piece)
        out.append(marks)
        return out

    def _cores(self, t: Tenancy, initials: dict[str, str], width: int) -> list[Line]:
        host = t._host()
        if host is None:
            return []
        threads = host.threads
        cores = host.pcpus // threads
        who: list[set[str]] = [set() for _ in range(host.pcpus)]
        for vm in host.vms.values():
            tenant = t.tenant_of(vm.name)
            pins = vm.pins if vm.pins is not None else range(host.pcpus)
            for p in pins:
                who[p].add(tenant)
        line = Line("cores ", "bold")
        out = [line]
        for c in range(cores):
            cell = Line()
            tenants: set[str] = set()
            for p in range(c * threads, (c + 1) * threads):
                names = sorted(who[p])
                tenants |= set(names)
                cell.add("".join(initials.get(n, "?") for n in names) or "·", "bold" if len(names) > 1 else "")
                if p + 1 < (c + 1) * threads:
                    cell.add("|", "dim")
            shared = len(tenants) > 1
            piece = Line(f"{c}[").extend(cell).add("]").add("!" if shared else " ", "bold red" if shared else "")
            if line.width + piece.width + 1 > width:
                line = Line("      ")
                out.append(line)
            line.extend(piece).add(" ")
        return out

    def _disk(self, t: Tenancy, initials: dict[str, str], width: int) -> list[Line]:
        d = t.disk
        in_volume: dict[int, str] = {}
        for v in d.volumes.values():
            for b in v.blocks:
                in_volume[b] = v.tenant
        label = f"disk {d.scrub} "
        cells = Line(label, "bold")
        out = [cells]
        room = max(8, width - len(label))
        for b in range(d.blocks):
            if b and b % room == 0:
                cells = Line(" " * len(label))
                out.append(cells)
            if b in in_volume:
                cells.add(initials.get(in_volume[b], "?"))
            elif d.owner[b] is not None:
                cells.add(initials.get(d.owner[b] or "", "?").lower(), "bold red")
            else:
                cells.add("·", "dim")
        return out

    def _networks(self, t: Tenancy, width: int) -> list[Line]:
        net = t._net()
        if net is None:
            return []
        out = [Line("vpc ", "bold")]
        for spec in t.spec.tenants:
            if spec.vpc is None or spec.vpc not in net.vpcs:
                continue
            v = net.vpcs[spec.vpc]
            text = f"{v.name} {v.cidr} vni {v.vni}"
            sep = "  " if out[-1].width > 4 else ""
            if out[-1].width + len(sep) + len(text) > width:
                out.append(Line("    "))
                sep = ""
            out[-1].add(sep)
            out[-1].add(text[: width - out[-1].width])
        return out


VIEW = TenantsView
