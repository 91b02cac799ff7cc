"""The compute chapters' live views, played through the app: the hypervisor's host view
(pCPU lanes, CPU and steal per VM, memory) and the scheduling view (fleet map, tally,
placement groups, pending requests, the last explain), each following console commands.

The chapters are the real ones (levels/), so these also prove that each chapter names the
view that draws it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cloudquest.game.chapters import load_all
from cloudquest.game.session import Session
from cloudquest.game.mechanism import view_texts
from cloudquest.game.view_text import LatestExplain
from cloudquest.tui.views import view_for
from cloudquest.tui.views.fit import Line, fine_bar, join_lines, short_labels
from cloudquest.tui.views.host import HostView, assign_letters, lane_chars, steal_mark
from cloudquest.tui.views.scheduling import SchedulingView
from cloudquest.cloud.fleet import Fleet
from cloudquest.cloud.hypervisor import HostSim

from .conftest import open_chapter, run, visible_rows

REAL_LEVELS = Path(__file__).resolve().parents[2] / "levels"

CATALOGUE = load_all(REAL_LEVELS)
HYPERVISOR = CATALOGUE.get("hypervisor")
SCHEDULING = CATALOGUE.get("scheduling")


def lanes(view: HostView) -> dict[int, str]:
    """pCPU -> the lane's characters, read back from the drawn text."""
    out: dict[int, str] = {}
    for line in view.text.plain.splitlines():
        m = re.match(r"^(\d+)-(\d+) +(.*)$", line) or re.match(r"^p(\d+)() +(\S+)", line)
        if not m:
            continue
        start = int(m.group(1))
        for i, cell in enumerate(re.split(r"[ │]", m.group(3).strip())):
            out[start + i] = cell
    return out


def vm_line(view, name: str) -> str:
    return next(line for line in view.text.plain.splitlines() if re.match(rf"^\S {re.escape(name)} ", line))


def steal_of(line: str) -> float:
    return float(re.search(r"([\d.]+)%(✓|!!|!)", line).group(1))


# -- the host view ---------------------------------------------------------------------------
def test_the_compute_chapters_name_their_views():
    assert HYPERVISOR.world.view == "host" and view_for("host") is HostView
    assert SCHEDULING.world.view == "scheduling" and view_for("scheduling") is SchedulingView
    assert {"host", "scheduling"} <= set(view_texts())


async def test_host_view_follows_pinning_weights_new_vms_and_the_balloon(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, HYPERVISOR)
        view = screen.view
        assert isinstance(view, HostView)
        sim = screen.session.cloud.get(HostSim)

        await run(pilot, "tick 3")
        # db and batch are pinned to pCPUs 0-3 and 0-7: batch's letter fills those lanes
        # and pCPUs 10-15 sit idle; db waits, and its row says so with a number and a mark.
        before = lanes(view)
        assert len(before) == sim.pcpus
        assert all("b" in before[p] for p in range(4, 8))
        assert all(set(before[p]) == {"·"} for p in range(10, 16))
        db = vm_line(view, "db")
        assert steal_of(db) == pytest.approx(sim.metrics()["steal_pct.db"], abs=0.05)
        assert "!!" in db  # over 20 % steal: the mark, not only a colour

        await run(pilot, "pin batch all", "vm set db --weight 512", "tick 5")
        after = lanes(view)
        assert any("b" in after[p] for p in range(8, 16)), after  # batch spread over the host
        assert any("d" in after[p] for p in range(0, 4))
        db = vm_line(view, "db")
        assert steal_of(db) < 5 and "✓" in db

        await run(pilot, "vm create ci --vcpus 4 --ram 8 --workload bursty", "balloon legacy 4", "tick 3")
        assert vm_line(view, "ci").startswith("c ci ")
        legacy = vm_line(view, "legacy")
        held, ram = re.search(r"([\d.]+)/([\d.]+)G", legacy).groups()
        assert float(ram) == 12 and 4 <= float(held) < 12  # the balloon on its way down
        # The whole host, five VMs, fits the 80x24 pane: nothing cut, nothing scrolled.
        assert len(view.text.plain.splitlines()) <= visible_rows(screen)
        assert not any(line.endswith("…") for line in view.text.plain.splitlines())


async def test_host_view_shows_swap_and_grows_with_the_terminal(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chapter(pilot, HYPERVISOR)
        view = screen.view
        await run(pilot, "vm create big --vcpus 2 --ram 30 --workload idle", "tick 1")
        text = view.text.plain
        assert "swap" in text and "✘" in text.splitlines()[1]  # the RAM line marks swapping
        assert "WEIGHT" in text and "PINS" in text  # the wide pane adds the settings
        assert "big" in text
        rows = visible_rows(screen)
        assert len(text.splitlines()) <= rows
        await run(pilot, "vm delete big", "tick 1")
        assert "big" not in view.text.plain
        assert "✓" in view.text.plain.splitlines()[1]


# -- the scheduling view ---------------------------------------------------------------------
async def test_scheduling_view_follows_groups_explain_policy_stream_and_faults(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, SCHEDULING)
        view = screen.view
        assert isinstance(view, SchedulingView)
        text = view.text.plain
        assert "pending 200" in text
        b_zone = next(line for line in text.splitlines() if " b2 " in line)
        assert "~" in b_zone  # b2-old is degraded from the start: marked, not only coloured
        assert "explain NAME" in text  # the invitation until something is explained

        await run(pilot, "group create web --strategy spread", "launch --name web-1 --type medium --group web")
        await run(pilot, "explain web-1")
        winner = screen.session.cloud.control.instances["web-1"].host.id
        text = view.text.plain
        assert f"explain web-1 → {winner}" in text
        assert "◆ web spread: 1 on 1 rack" in text
        assert "filtered out: host_degraded 1" in text

        await run(pilot, "scheduler policy pack", "tick 5")
        text = view.text.plain
        assert text.splitlines()[0].startswith("pack")
        assert "pending 190" in text
        # The verdict is on screen without scrolling at 80x24; the table continues below.
        first = text.splitlines()[: visible_rows(screen)]
        assert any(line.startswith("explain web-1") for line in first)
        assert any(line.startswith("filtered out") for line in first)
        assert any(line.startswith("pending") for line in first)

        await run(pilot, "degrade host a1-h1")
        a_zone = next(line for line in view.text.plain.splitlines() if " a1 " in line)
        assert "~" in a_zone.split(" a1 ")[1].split(" ")[0]


async def test_scheduling_view_explain_table_on_a_wide_screen(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chapter(pilot, SCHEDULING)
        view = screen.view
        await run(pilot, "tick 3", "explain req-010")
        session = screen.session
        expl = session.cloud.scheduler.explain(session.cloud.get(Fleet).request_of(session.cloud.get(Fleet).requests["req-010"]))
        lines = view.text.plain.splitlines()
        win = next(line for line in lines if line.endswith("◀ winner"))
        row = expl.winner_row
        assert win.split()[:2] == [row.host, row.rack]
        assert [int(x) for x in win.split()[2:5]] == [row.cpu, row.ram, row.total]
        # The rows below the winner are the next best by total, as the console's table has them.
        table = lines[lines.index(win) + 1 :]
        totals = [int(line.split()[-1]) for line in table if re.match(r"^\S+ +\S+ +\d+ +\d+ +(\+\d+ +)?\d+$", line)]
        assert totals and totals == sorted(totals, reverse=True) and totals[0] <= row.total
        assert len(lines) <= visible_rows(screen)


# -- drawing reads, never writes ---------------------------------------------------------------
def test_drawing_the_views_changes_nothing():
    """The same commands with the view drawn after each one give the same event log."""
    for chapter, view_cls in ((HYPERVISOR, HostView), (SCHEDULING, SchedulingView)):
        plain = Session(chapter, 3)
        drawn = Session(chapter, 3)
        view = view_cls(drawn)
        for line in chapter.solution:
            plain.execute(line)
            drawn.execute(line)
            for width in (46, 69, 120):
                view.draw(width)
        assert plain.cloud.log.sha256() == drawn.cloud.log.sha256()
        text = view_texts()[chapter.world.view]
        assert text(drawn) == text(plain)  # and describe reads the same state from both


def test_describe_prints_the_scheduling_view_in_words():
    s = Session(SCHEDULING, 0)
    s.run_script(["group create web --strategy spread", "launch --name web-1 --type medium --group web", "explain web-1"])
    out = s.execute("describe").output
    assert out.startswith("scheduling view at t=")
    assert "b2-old" in out and "degraded" in out
    assert "placement group web (spread): 1 instance(s)" in out
    assert "pending requests: 200" in out
    winner = s.cloud.control.instances["web-1"].host.id
    assert f"winner {winner}" in out and f"{winner} (rack" in out


def test_latest_explain_follows_the_last_explained_name():
    s = Session(SCHEDULING, 0)
    latest = LatestExplain()
    assert not latest.update(s) and latest.current is None
    s.execute("explain req-005")
    assert latest.update(s) and latest.current.name == "req-005"
    s.execute("explain req-007")
    s.execute("explain nothing-here")  # refused: no event, the last good one stays
    latest.update(s)
    assert latest.current.name == "req-007"
    ordered = latest.current.ordered()
    assert ordered[0].host == latest.current.explanation.winner
    passed = [r.total for r in ordered if r.passed]
    assert passed[1:] == sorted(passed[1:], reverse=True)


# -- the drawing pieces ------------------------------------------------------------------------
def test_lane_chars_gives_each_stretch_to_whoever_held_it_longest():
    # 30 ms slice: a 18 ms, b 0.6 ms, idle 11.4 ms.
    lane = [("a", 18_000), ("b", 600)]
    assert lane_chars(lane, 1) == ["a"]
    assert lane_chars(lane, 5) == ["a", "a", "a", None, None]  # 6 ms stretches
    assert lane_chars([], 3) == [None, None, None]
    assert lane_chars([("x", 30_000)], 30) == ["x"] * 30


def test_vm_letters_are_unique_and_stay_put():
    letters: dict[str, str] = {}
    assign_letters(["db", "batch", "web", "api", "app", "aaa", "vm1", "vm2", "vm11"], letters)
    assert letters["db"] == "d" and letters["batch"] == "b" and letters["web"] == "w"
    assert letters["api"] == "a" and letters["app"] == "p"
    assert letters["aaa"] == "A"
    assert (letters["vm1"], letters["vm2"], letters["vm11"]) == ("v", "m", "1")
    assert len(set(letters.values())) == len(letters)
    assign_letters(["web", "new"], letters)
    assert letters["web"] == "w" and letters["new"] == "n"


def test_steal_marks_and_bars_carry_the_level_without_colour():
    assert [steal_mark(x)[0] for x in (0, 4.9, 5, 19.9, 20, 80)] == ["✓ ", "✓ ", "! ", "! ", "!!", "!!"]
    t = Line()
    fine_bar(t, 0.001, 4, "red")
    assert t.plain == "▕▏   ▏"  # a little is never drawn as nothing
    t = Line()
    fine_bar(t, 0.5, 4, "red")
    assert t.plain == "▕██  ▏"
    t = Line()
    fine_bar(t, 1.7, 4, "red")
    assert t.plain == "▕████▏" and t.width == 6


def test_lines_join_into_one_styled_text():
    a = Line("ab", "red").add("c")
    b = Line("d").add("ef", "bold")
    text = join_lines([a, b])
    assert text.plain == "abc\ndef"
    assert [(s.start, s.end, s.style) for s in text.spans] == [(0, 2, "red"), (5, 7, "bold")]


def test_short_zone_labels():
    assert short_labels(["eu-west-1a", "eu-west-1b"]) == {"eu-west-1a": "1a", "eu-west-1b": "1b"}
    assert short_labels(["z1"]) == {"z1": "z1"}
    assert short_labels(["a", "b"]) == {"a": "a", "b": "b"}


def test_fleet_scan_marks_agree_with_the_describe_rules():
    """The map's one-pass scan gives every host the health and utilisation that describe's
    host_condition and host_utilisation give it, degraded racks, failed hosts and
    allocation ratios included."""
    from cloudquest.game.view_text import host_condition, host_utilisation
    from cloudquest.tui.views.scheduling import COND_GLYPH, scan

    s = Session(SCHEDULING, 0)
    s.run_script(["tick 30", "degrade rack b1", "fail host c1-h2", "scheduler ratio cpu 2", "tick 1"])
    cfg = s.cloud.scheduler.config
    seen = 0
    for z in scan(s.cloud.hardware, cfg):
        for r in z.racks:
            for h, (glyph, _style, pct) in zip(r.rack.hosts, r.marks):
                assert pct == host_utilisation(h, cfg)
                cond = host_condition(h)
                if cond in COND_GLYPH:
                    assert glyph == COND_GLYPH[cond][0], h.id
                seen += 1
    assert seen == len(s.cloud.hardware.hosts)
    marks = {h.id: m for z in scan(s.cloud.hardware, cfg) for r in z.racks for h, m in zip(r.rack.hosts, r.marks)}
    assert marks["c1-h2"][0] == "✘" and marks["b1-h1"][0] == "~" and marks["b2-old"][0] == "~"


def test_explain_title_says_what_kind_of_decision_it_is():
    from cloudquest.tui.views.scheduling import how_tag

    assert how_tag("pending: how it would be placed if it arrived now") == "if it arrived now"
    assert how_tag("the decision that placed it (it is running on a1-h1)") == "its placement"
    assert how_tag("no record of its decision: how a new request of its size would be placed now") == "one like it, now"
    assert how_tag("something new") == "something new"


def test_a_view_drawn_later_shows_the_table_explain_printed():
    """A replay scrubbed to a later moment (or a view drawn after time moved) shows the
    decision as the player read it, not as it would come out now."""
    s = Session(SCHEDULING, 0)
    s.run_script(["tick 5"])
    printed = s.execute("explain req-020").output
    winner = re.search(r"winner: (\S+) ", printed).group(1)
    s.run_script(["tick 3"])
    view = SchedulingView(s)
    view.rows_available = lambda: 14
    text = view.draw(69).plain
    assert f"explain req-020 → {winner} " in text
    assert "t=5s" in text
    latest = LatestExplain()
    latest.update(s)
    assert latest.current.asked_ms == 5000 and latest.current.explanation.winner == winner
