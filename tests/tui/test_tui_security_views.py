"""The tenants view (chapter 10) and the security view (chapter 11) played through the app:
the verdict on screen at 80x24 before and after the red team and the attacker run, every
line fitting the pane, and the views following console commands. The chapters are the real
ones (levels/), so these also prove that chapters 10 and 11 name the views that draw them."""

from __future__ import annotations

from pathlib import Path

from cloudquest.game.chapters import load_all
from cloudquest.game.mechanism import view_texts
from cloudquest.tui.views import view_for
from cloudquest.tui.views.security import SecurityView
from cloudquest.tui.views.tenants import TenantsView

from .conftest import assert_fits, on_screen, open_chapter, run

REAL_LEVELS = Path(__file__).resolve().parents[2] / "levels"
CATALOGUE = load_all(REAL_LEVELS)
ISOLATION = CATALOGUE.get("isolation")
SECURITY = CATALOGUE.get("security")






def test_the_security_chapters_name_their_views():
    assert ISOLATION.world.view == "tenants" and SECURITY.world.view == "security"
    assert view_for("tenants") is TenantsView and view_for("security") is SecurityView
    assert {"tenants", "security"} <= set(view_texts())


async def test_tenants_view_shows_the_red_team_verdict_and_shared_cores_at_80x24(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, ISOLATION)
        view = screen.view
        assert isinstance(view, TenantsView)
        assert on_screen(screen, view)[0] == "red team not run yet"
        await run(pilot, "tick 5", "redteam run")
        shown = on_screen(screen, view)
        assert shown[0].startswith("✘ 5 of 9 CROSSED")
        assert any("fresh-volume" in line for line in shown[:3])
        assert any(line.startswith("cores ") and "!" in line for line in shown)
        assert_fits(view)
        await run(pilot, "pin acme-db 0-1", "pin acme-web 2-3", "pin bolt-ci 4-7", "volume scrub zero", "redteam run")
        text = view.text.plain
        assert "0[A|A]" in text and "2[B|B]" in text and "!" not in text.split("disk")[0].split("cores")[1]
        assert "disk zero" in text and "a·" not in text
        assert_fits(view)


async def test_security_view_rings_follow_the_attacker_at_120x40(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chapter(pilot, SECURITY)
        view = screen.view
        assert isinstance(view, SecurityView)
        assert on_screen(screen, view)[0] == "attacker not run yet"
        await run(pilot, "attack run")
        shown = on_screen(screen, view)
        assert shown[0].startswith("✘ BREACHED: stolen-disk web-shell insider")
        assert shown[6].startswith("┃┃┃┃┃ DATA") and "stolen-disk" in shown[6]
        assert_fits(view)
        await run(pilot, "disposal shred", "attack run")
        rings = on_screen(screen, view)
        assert "■stolen-disk" in rings[1]  # stopped at the outermost ring: no disk leaves whole
        assert "stolen-disk" not in rings[6]
        assert_fits(view)


async def test_security_view_fits_80x24(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, SECURITY)
        await run(pilot, "attack run")
        assert on_screen(screen, screen.view)[0].startswith("✘ BREACHED")
        assert_fits(screen.view)
