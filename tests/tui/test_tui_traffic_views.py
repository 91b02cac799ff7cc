"""The traffic chapters' live views, played through the app: the load balancer view
(nodes, the Maglev strip, backends), the fabric view (spines and ToR uplinks per zone)
and the edge view (PoPs west to east, latency per area), each following console
commands, fitting 80x24, and saying what it shows with a glyph, not colour alone.

The chapters are the real ones (levels/), so these also prove that each chapter names
the view that draws it."""

from __future__ import annotations

import re
from pathlib import Path

from cloudquest.cloud.balancer import Balancer
from cloudquest.cloud.edge import EdgeNetwork
from cloudquest.cloud.fabric import Fabric
from cloudquest.game.chapters import load_all
from cloudquest.game.mechanism import view_texts
from cloudquest.tui.views import view_for
from cloudquest.tui.views.edge import EdgeView
from cloudquest.tui.views.fabric import FabricView, load_cell
from cloudquest.tui.views.loadbalancer import LoadBalancerView

from .conftest import assert_fits, on_screen, open_chapter, run

REAL_LEVELS = Path(__file__).resolve().parents[2] / "levels"
CATALOGUE = load_all(REAL_LEVELS)






def test_the_traffic_chapters_name_their_views():
    assert CATALOGUE.get("load-balancer").world.view == "loadbalancer" and view_for("loadbalancer") is LoadBalancerView
    assert CATALOGUE.get("routing").world.view == "fabric" and view_for("fabric") is FabricView
    assert CATALOGUE.get("edge").world.view == "edge" and view_for("edge") is EdgeView
    assert {"loadbalancer", "fabric", "edge"} <= set(view_texts())


async def test_load_balancer_view_follows_cross_zone_the_table_and_a_dead_backend(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, CATALOGUE.get("load-balancer"))
        view = screen.view
        assert isinstance(view, LoadBalancerView)
        lb = screen.session.cloud.get(Balancer)
        await run(pilot, "tick 30")
        head = on_screen(screen, view)[0]
        assert f"imb {lb.imbalance():.2f}" in head and lb.imbalance() > 1.5  # cross-zone off, 2 against 6
        strip = next(line for line in on_screen(screen, view) if line.startswith("table "))
        assert set(strip.split("▕")[1].split("▏")[0]) == {"a", "b"}  # cross-zone off: zone a's nodes see only a and b

        await run(pilot, "lb cross-zone on", "lb algorithm maglev", "tick 30")
        strip = next(line for line in on_screen(screen, view) if line.startswith("table "))
        assert set(strip.split("▕")[1].split("▏")[0]) == set("abcdefgh")  # eight backends share the table
        await run(pilot, "tick 600")  # web-b3's host died at 600 s
        shown = on_screen(screen, view)
        assert re.match(r"^e web-b3 ✘✘ .* dead$", shown[3]), shown  # the dead backend first, with its word
        assert re.search(r" fed \d+s$", shown[-1])
        assert_fits(view, screen)


async def test_load_balancer_view_shows_nodes_joining(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chapter(pilot, CATALOGUE.get("load-balancer"))
        view = screen.view
        await run(pilot, "lb cross-zone on", "tick 905")
        nodes = next(line for line in view.text.plain.splitlines() if line.startswith("nodes "))
        assert nodes.count("○") == 2 and nodes.count("●") == 2  # asked for, not yet joined
        assert "web-a3" in view.text.plain and "spare" in view.text.plain  # room for every backend
        assert_fits(view, screen)


async def test_fabric_view_draws_the_hung_spine_and_its_load_moving(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, CATALOGUE.get("routing"))
        view = screen.view
        assert isinstance(view, FabricView)
        fabric = screen.session.cloud.get(Fabric)
        shown = on_screen(screen, view)
        assert "ECMP OFF" in shown[0] and shown[1].startswith("1a spine !···")  # one spine takes it all
        await run(pilot, "fabric ecmp on", "fabric hash 5-tuple", "tick 605")
        shown = on_screen(screen, view)
        assert "in holes" in shown[0] and fabric.blackholed
        assert shown[1].startswith("1a spine ✘")  # the hung spine
        assert all(part.startswith(("a1✘", "a2✘", "a3✘", "a4✘")) for part in shown[2].split()[1:])
        await run(pilot, "tick 120")  # the hold timer ran out; converged
        shown = on_screen(screen, view)
        assert "lost 0" in shown[0] and "CONVERGING" not in shown[0]
        assert_fits(view, screen)


def test_a_link_cell_says_its_load_with_a_glyph():
    assert load_cell(None) == ("✘", "bold red") and load_cell(120)[0] == "!" and load_cell(0)[0] == "·"
    assert load_cell(50)[0] == "▅" and load_cell(99)[0] == "█"


async def test_edge_view_places_pops_west_to_east_and_follows_the_price_class(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, CATALOGUE.get("edge"))
        view = screen.view
        assert isinstance(view, EdgeView)
        edge = screen.session.cloud.get(EdgeNetwork)
        await run(pilot, "tick 60")
        names = on_screen(screen, view)[1]
        order = [m.group(2) for m in re.finditer(r"([●○✘])(\w+)", names)]
        assert order == sorted(edge.pops, key=lambda p: edge.pops[p].spec.lon)
        assert "○syd" in names and "●fra" in names  # class 100: Sydney's PoP unused
        await run(pilot, "edge price-class all", "tick 60")
        shown = on_screen(screen, view)
        assert "●syd" in shown[1] and shown[0].count("class all")
        assert any(line.startswith("p95 ") and "oce" in line for line in shown)
        assert_fits(view, screen)
