"""The global view (chapter 16): a strip of the world's regions, west to east, with what
each is doing, and the users on every continent.

- **Header.** The hour of the simulated day, availability so far, the cost per hour now
  and on average.
- **Regions.** One block per region: ``●`` up and healthy, ``◐`` up but failed by
  Route 53's health check (or not serving), ``✘`` dark; the web group's instances
  serving of its desired capacity and CPU; a bar of the load against its capacity; the
  database's copy there (primary, or replica with its lag).
- **Users.** Each continent's city, the region DNS sends it to (and the one old answers
  still point at), and its p95 latency over the day (red above 80 ms).
- **Footer.** DNS policy, TTL and health checks; the database's failover; VMs per host;
  the outage with its RPO and RTO.

It reads the session only; ``describe`` prints the same in words.
"""

from __future__ import annotations

from rich.text import Text

from ...cloud.geo import GlobalService
from .fit import ClockedView, Line, fine_bar, join_lines


def hour(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600:02d}:{s // 60 % 60:02d}"


class GlobalView(ClockedView):
    VIEW_TITLE = "global"

    REDRAW_MS = 10_000

    def draw(self, width: int) -> Text:
        cloud = self.session.cloud
        self.mark_drawn()
        svc = cloud.get(GlobalService)
        if svc is None:
            return Text("this world runs no global service", style="dim")
        rows = self.layout_rows()
        m = svc.metrics()
        wide = width >= 60 and rows >= 3 + 2 * len(svc.sites) + len(svc.users)
        lines = [self._head(svc, m, width)]
        for region in svc.sites:
            lines.extend(self._region(svc, region, width) if wide else [self._region_short(svc, region, width)])
        lines.extend(self._users(svc, width, wide))
        if not svc.tiers:
            lines.append(Line("no web tier yet: design new global.cq, then design apply global.cq", "dim"))
        lines.extend(self._foot(svc, m, width))
        return join_lines(lines[:rows])

    def _head(self, svc: GlobalService, m: dict, width: int) -> Line:
        line = Line(f"{hour(self.session.cloud.now_ms)} ", "bold")
        avail = m["geo_availability_pct"]
        line.add("served ")
        line.add(f"{avail:g}%", "green" if avail >= 99.9 else "yellow" if avail >= 99 else "bold red")
        line.add(f" ${m['geo_cost_now_per_hour']:.3f}/h")
        if width >= 60:
            line.add(f" (avg ${m['geo_cost_per_hour']:.3f}")
            budget = svc.spec.budget_per_hour
            line.add(f", budget ${budget:g})" if budget is not None else ")")
        return line

    @staticmethod
    def _state(svc: GlobalService, region: str) -> tuple[str, str, str]:
        tier = svc.tiers.get(region)
        up = svc.region_up[region]
        healthy = up and (not svc.checks_on or tier is None or svc.checks[region].healthy)
        if healthy:
            return "●", "green", "up"
        return ("◐", "yellow", "unhealthy") if up else ("✘", "bold red", "DARK")

    @staticmethod
    def _data(svc: GlobalService, region: str, short: bool) -> Line:
        line = Line()
        db = svc.db
        if db is None:
            return line
        if region == db.primary:
            line.add(" primary" if short else " db primary", "bold")
        elif region in db.replicas:
            lag = db.replicas[region]
            line.add(f" lag {lag:.0f}ms" if short else f" db replica lag {lag:.0f}ms", "red" if lag > 1000 else "")
        if db.promoting is not None and db.promoting[0] == region:
            line.add(" ↑" if short else " ↑promoting", "yellow")
        return line

    @staticmethod
    def _load(tier, bar: Line, bar_w: int, up: bool) -> None:
        if tier is None:
            bar.add(" " * (bar_w + 2) + "  no web tier", "dim")
            return
        share = tier.load_rps / tier.capacity_rps if tier.capacity_rps else (1.0 if tier.load_rps else 0.0)
        fine_bar(bar, share, bar_w, "red" if share >= 0.9 else "yellow" if share >= 0.6 else "cyan")
        if not up:
            bar.add(" dark    ", "bold red")
        else:
            bar.add(f"{tier.load_rps:4.0f}/{tier.capacity_rps:<4.0f}")

    def _region(self, svc: GlobalService, region: str, width: int) -> list[Line]:
        site = svc.sites[region]
        tier = svc.tiers.get(region)
        glyph, style, word = self._state(svc, region)
        head = Line(f"{glyph} ", style).add(f"{region}", "bold").add(f" {site.city}")
        head.pad(26).add(f"{word:<10}", style)
        if tier is not None:
            serving = sum(1 for n in tier.members if svc._serving(n))
            head.add(f"web {serving}/{tier.desired} {tier.type}  CPU {tier.cpu_pct:.0f}%")
        bar = Line("  ")
        self._load(tier, bar, max(8, min(30, width - 46)), svc.region_up[region])
        if tier is not None and svc.region_up[region]:
            bar.add(" rps")
        bar.extend(self._data(svc, region, short=False))
        return [head, bar]

    def _region_short(self, svc: GlobalService, region: str, width: int) -> Line:
        tier = svc.tiers.get(region)
        glyph, style, _ = self._state(svc, region)
        line = Line(f"{glyph} ", style).add(f"{region:<15}", "bold")
        self._load(tier, line, max(4, min(10, width - 40)), svc.region_up[region])
        line.extend(self._data(svc, region, short=True))
        return line

    def _users(self, svc: GlobalService, width: int, wide: bool) -> list[Line]:
        p95 = svc.p95()
        out = []
        now = self.session.cloud.now_ms
        for u in svc.users:
            ans = svc.answers[u.continent]
            line = Line(f"  {u.continent:<8}{u.city:<10}→ " if wide else f"{u.continent:<8}→ ")
            line.add(f"{ans.region or 'nowhere':<15}", "bold" if ans.region else "red")
            value = p95[u.continent]
            line.add("p95 ")
            line.add(f"{value:g}ms" if value < 4000 else "failing", "bold red" if value > 80 else "green")
            if ans.old is not None and ans.old != ans.region and svc.ttl_s and now - ans.changed_ms < svc.ttl_s * 1000:
                line.add(f" old:{ans.old}" if not wide else f"  (old: {ans.old})", "yellow")
            out.append(line)
        return out

    def _foot(self, svc: GlobalService, m: dict, width: int) -> list[Line]:
        dns = Line("DNS ", "bold").add(f"{svc.policy} TTL {svc.ttl_s}s checks ")
        dns.add(f"{svc.interval_s}s x{svc.threshold}" if svc.checks_on else "off", "" if svc.checks_on else "yellow")
        db = svc.db
        if db is None:
            dns.add("  no database", "red")
        else:
            dns.add(f"; db {len(db.replicas)} replicas, failover {db.failover}")
        vm = Line("VMs ", "bold").add(f"{m['geo_instances']} web; {m['geo_vms_per_host']:g} per host in use")
        if m["geo_hosts_over_limit"]:
            vm.add(f"; {m['geo_hosts_over_limit']} over limit", "bold red")
        lines = []
        for o in svc.outages:
            line = Line("outage ", "bold red").add(f"{o.region} {hour(o.at_ms)}: RPO {o.rpo_s or 0:g}s")
            if o.recovered_ms is not None:
                line.add(f", RTO {(o.recovered_ms - o.at_ms) / 1000:g}s", "green" if o.recovered_ms - o.at_ms <= 180_000 else "red")
            else:
                line.add(f", down {(self.session.cloud.now_ms - o.at_ms) / 1000:g}s so far", "red")
            if o.back_ms is not None:
                line.add(f", back {hour(o.back_ms)}")
            lines.append(line)
        if svc.spec.outage is not None and not svc.outages:
            lines.append(Line(f"ahead: the primary's region goes dark at {hour(svc.spec.outage.at_s * 1000)}", "dim"))
        return lines + [dns, vm]


VIEW = GlobalView
