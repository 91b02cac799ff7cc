"""The operations chapters' live views, played through the app: the auto scaling view
(capacity, the load against it, each instance's step of a scale-out, the last decision)
and the billing view (the running meter by service beside next month's forecast, cost
by day, the biggest lines, the business's needs), each following console commands,
fitting 80x24, and saying what it shows with a glyph and a word, not colour alone.

The chapters are the real ones (levels/), so these also prove that each chapter names
the view that draws it."""

from __future__ import annotations

from pathlib import Path

from cloudquest.cloud.autoscaling import AutoScalingGroup
from cloudquest.cloud.billing import Billing
from cloudquest.game.chapters import load_all
from cloudquest.game.mechanism import view_texts
from cloudquest.tui.views import view_for
from cloudquest.tui.views.asg import AsgView
from cloudquest.tui.views.billing import BillingView

from .conftest import assert_fits, on_screen, open_chapter, run

REAL_LEVELS = Path(__file__).resolve().parents[2] / "levels"
CATALOGUE = load_all(REAL_LEVELS)






def test_the_operations_chapters_name_their_views():
    assert CATALOGUE.get("scaling").world.view == "asg" and view_for("asg") is AsgView
    assert CATALOGUE.get("billing").world.view == "billing" and view_for("billing") is BillingView
    assert {"asg", "billing"} <= set(view_texts())


async def test_asg_view_follows_a_scale_out_step_by_step(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, CATALOGUE.get("scaling"))
        view = screen.view
        assert isinstance(view, AsgView)
        group = screen.session.cloud.get(AutoScalingGroup)
        await run(pilot, "tick 1290")  # the advert: cpu-high has asked for a fifth, which waits on its hook
        shown = on_screen(screen, view)
        assert shown[0].startswith("t=0:21:30 desired 5 (2-16) ●4")
        assert "⏸1" in shown[0] and any("web-5" in line and "held by a lifecycle hook" in line for line in shown)
        assert any(line.startswith("p95") and line.endswith("!") for line in shown)  # the minute the crowd came
        await run(pilot, "tick 60")
        shown = on_screen(screen, view)
        assert group.members["web-5"].state == "InService"
        assert any("web-5" in line and "starting up" in line for line in shown)
        assert any(line.startswith("0:21:00 desired 4→5") for line in shown)  # the last change, and its cause below it
        assert any(line.strip().startswith("policy cpu-high: alarm cpu >= 55") for line in shown)
        assert_fits(view, screen)


async def test_billing_view_shows_the_meter_the_forecast_and_the_needs(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, CATALOGUE.get("billing"))
        view = screen.view
        assert isinstance(view, BillingView)
        billing = screen.session.cloud.get(Billing)
        await run(pilot, "tick 604800")
        shown = on_screen(screen, view)
        assert shown[0].startswith("Jun 8/30 so far $") and f"${billing.forecast().total:,.2f}" in shown[0]
        assert [line.split()[0] for line in shown[1:6]] == ["EC2", "S3", "VPC", "EBS", "Transfer"]
        assert shown[6].startswith("by day   ███████ day 7: $")  # seven whole days, the last one named
        assert shown[-1] == "✔ the shop's needs are all met"
        await run(pilot, "stop reports")
        shown = on_screen(screen, view)
        assert shown[-1].startswith("✘ 3 needs unmet: flow report-reads")
        await run(pilot, "start reports", "endpoint create s3-gw private-rt")
        shown = on_screen(screen, view)
        assert shown[-1].startswith("✔")
        assert_fits(view, screen)
