"""The network view (chapters 6 and 7) played through the app: the verdict of the last
traced packet always on screen (80x24 too), the hops with the one that killed it, the
subnets by zone with their addresses, the route table in focus and the gateways, each
following console commands. The chapters are the real ones (levels/), so these also prove
that chapters 6 and 7 name the view that draws them."""

from __future__ import annotations

from pathlib import Path

from cloudquest.cloud.network import Network
from cloudquest.game.chapters import load_all
from cloudquest.game.mechanism import view_texts
from cloudquest.game.session import Session
from cloudquest.tui.views import view_for
from cloudquest.tui.views.network import NetworkView

from .conftest import assert_fits, on_screen, open_chapter, run, settle

REAL_LEVELS = Path(__file__).resolve().parents[2] / "levels"
CATALOGUE = load_all(REAL_LEVELS)
SDN = CATALOGUE.get("sdn")
IPAM = CATALOGUE.get("ip-assignment")






def test_the_network_chapters_name_the_network_view():
    assert SDN.world.view == "network" and IPAM.world.view == "network"
    assert view_for("network") is NetworkView
    assert "network" in view_texts()


async def test_network_view_shows_the_verdict_and_the_hop_that_killed_it_at_80x24(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, SDN)
        view = screen.view
        assert isinstance(view, NetworkView)
        assert view.text.plain.startswith("no packet traced yet")
        # web-rt lost its route to the gateway: the web subnets are drawn private
        assert any(line.startswith("1a ") and "web-a○" in line for line in on_screen(screen, view))

        await run(pilot, "packet trace internet web-1 --port 443")
        shown = on_screen(screen, view)
        assert shown[0].startswith("✘ REPLY DROPPED internet → web-1:443")
        assert any(line.startswith("at route web-rt: no route matches") for line in shown[:3])
        strip = " ".join(shown[1:5])
        assert "⇄" in strip and "✘rt" in strip  # the request got there, the reply died at the table
        assert_fits(view)

        await run(pilot, "route add web-rt 0.0.0.0/0 igw-shop", "packet trace internet web-1 --port 443")
        shown = on_screen(screen, view)
        assert shown[0].startswith("✔ REACHABLE internet → web-1:443")
        assert any("web-a◉" in line for line in shown)  # public now, by its route table
        assert "routes web-rt (web-a)" in view.text.plain
        assert "0.0.0.0/0 -> igw-shop" in view.text.plain
        assert_fits(view)

        await run(pilot, "packet trace app-1 internet --port 443")
        shown = on_screen(screen, view)
        assert shown[0].startswith("✘ DROPPED app-1 → internet:443")
        assert "blackhole" in " ".join(shown[1:4])
        assert "BLACKHOLE" in view.text.plain  # the route table in focus is app-1's
        assert_fits(view)


async def test_network_view_follows_addresses_and_elastic_ips_at_120x40(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chapter(pilot, IPAM)
        view = screen.view
        net = screen.session.cloud.get(Network)
        assert any(line.startswith("1a ") and "legacy○ 9/2" in line for line in on_screen(screen, view))
        assert "svc-ip→- idle" in view.text.plain and "old-ip→- idle" in view.text.plain

        await run(pilot, "launch --subnet legacy --type nano --name batch-10", "launch --subnet legacy --type nano --name batch-11")
        assert "legacy○ FULL" in view.text.plain
        await run(pilot, "subnet create public-b 10.20.2.0/24 --zone eu-west-1b --map-public-ip yes")
        line_b = next(line for line in on_screen(screen, view) if line.startswith("1b "))
        assert "▸public-b○ 0/251" in line_b  # in focus, private until its route table says otherwise
        await run(pilot, "route-table associate public-rt public-b")
        assert "▸public-b◉ 0/251" in view.text.plain
        assert "routes public-rt (public-b)" in view.text.plain

        await run(pilot, "launch --name svc-2 --subnet public-b --sg svc-sg", "tick 20", "eip associate svc-ip svc-2")
        assert "svc-ip→svc-2" in view.text.plain and "svc-ip→svc-2 idle" not in view.text.plain
        assert net.subnets["public-b"].free == 250
        assert "public-b◉ 1/250" in view.text.plain
        await run(pilot, "packet trace internet svc-ip --port 443")
        assert on_screen(screen, view)[0].startswith("✔ REACHABLE internet → svc-ip:443")
        assert_fits(view)

        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert on_screen(screen, view)[0].startswith("✔ REACHABLE internet → svc-ip:443")
        assert_fits(view)


def test_describe_says_what_the_view_draws():
    s = Session(SDN, 0)
    s.execute("packet trace app-1 db-1 --port 5432")
    text = s.execute("describe").output
    assert text.splitlines()[1].startswith("last trace, verdict: ✘ REPLY DROPPED app-1 -> db-1:5432 tcp at nacl in app-acl")
    assert "zone eu-west-1a:" in text and "web-a 10.0.1.0/24 (shop, private): 1 used, 250 free of 251" in text
    assert "route table private-rt (for subnet app-a):" in text
    assert "0.0.0.0/0          -> nat-old  BLACKHOLE (target gone)" in text
    assert "db-debug: 203.0.113.1 -> eni-db-1 (db-1) 10.0.21.4" in text


def test_drawing_the_network_view_changes_nothing():
    """The solution with the view drawn after each line gives the same event log."""
    for chapter in (SDN, IPAM):
        plain = Session(chapter, 3)
        drawn = Session(chapter, 3)
        view = NetworkView(drawn)
        for line in chapter.solution:
            plain.execute(line)
            drawn.execute(line)
            view.draw(46)
            view.draw(120)
        assert plain.cloud.log.sha256() == drawn.cloud.log.sha256()
