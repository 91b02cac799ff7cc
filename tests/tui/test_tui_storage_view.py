"""The storage view (chapters 4 and 5) played through the app: the disk map by zone, rack
and host with each disk's fill and state, the chunk of the object last touched, the
under-replication and repair sparklines rebuilt from the log, and the repair's state,
each following console commands. Then the pieces it is built from, checked against the
store's own truth.

The chapters are the real ones (levels/), so these also prove that chapters 4 and 5 name
the view that draws them."""

from __future__ import annotations

import re
from pathlib import Path

from cloudquest.game.chapters import load_all
from cloudquest.game.schema import World
from cloudquest.game.session import Session, free_play_chapter
from cloudquest.game.view_text import (
    LatestObject,
    RepairHistory,
    disk_condition,
    disk_conditions,
)
from cloudquest.tui.screens.chapter import ChapterScreen
from cloudquest.game.mechanism import view_texts
from cloudquest.tui.views import view_for
from cloudquest.tui.views.storage import FILL, STATE, StorageView, chips, disk_glyph, level, pct_text
from cloudquest.cloud.storage import ObjectStore

from .conftest import open_chapter, run, settle, visible_rows

REAL_LEVELS = Path(__file__).resolve().parents[2] / "levels"
CATALOGUE = load_all(REAL_LEVELS)
STORAGE = CATALOGUE.get("storage")
REPLICATION = CATALOGUE.get("replication")
SPARK = set("▂▃▄▅▆▇█")


def on_screen(screen: ChapterScreen, view: StorageView) -> list[str]:
    """The lines the pane shows without scrolling."""
    return view.text.plain.splitlines()[: visible_rows(screen)]


def line_of(view: StorageView, prefix: str) -> str:
    return next(line for line in view.text.plain.splitlines() if line.startswith(prefix))


def host_line(view: StorageView, host: str) -> str:
    return next(line for line in view.text.plain.splitlines() if line.startswith(f"  {host} "))


def marked_hosts(view: StorageView) -> set[str]:
    """Hosts whose detail line marks a disk with ◆ or ◇ (no chunk has two pieces on one host)."""
    out = set()
    for line in view.text.plain.splitlines():
        m = re.match(r"^  (\S+) ", line)
        if m and ("◆" in line or "◇" in line):
            out.add(m.group(1))
    return out


def pieces_hosts(session: Session, name: str, index: int) -> set[str]:
    store = session.cloud.get(ObjectStore)
    chunk = store.objects[name].chunks[index]
    return {store.hw.disks[d].host.id for d in chunk.pieces if d is not None}


def under_now(view: StorageView) -> int:
    return int(re.search(r" (\d+) now", line_of(view, "under ")).group(1))


def assert_fits(screen: ChapterScreen, view: StorageView) -> None:
    """Nothing cut or wrapped, and the essentials (settings, data, the whole map, both
    sparklines, the focus line) on screen without scrolling."""
    width = view.content_size.width
    lines = view.text.plain.splitlines()
    assert all(len(line) <= width for line in lines)
    assert not any(line.endswith("…") for line in lines)
    shown = on_screen(screen, view)
    assert any(line.startswith("◆ ") for line in shown), shown
    assert any(line.startswith("under ") for line in shown) and any(line.startswith("repair ") for line in shown)


def test_the_storage_chapters_name_the_storage_view():
    assert STORAGE.world.view == "storage" and REPLICATION.world.view == "storage"
    assert view_for("storage") is StorageView
    assert "storage" in view_texts()


# -- chapter 4 at 80x24 ---------------------------------------------------------------------
async def test_storage_view_follows_put_failure_repair_and_get(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_chapter(pilot, STORAGE)
        view = screen.view
        assert isinstance(view, StorageView)
        session = screen.session
        text = view.text.plain
        assert text.startswith("3 copies · 3.00x · rack-aware · chunk 1GiB")
        assert "put, get or locate an object" in text
        assert "0 now (no time has passed yet)" in text
        # three racks of one zone, one line each, six disks per rack with their percent
        racks = [line for line in on_screen(screen, view) if re.match(r"^(1a|  ) a\d ", line)]
        assert len(racks) == 3 and all(len(re.findall(r"\d+", r[5:])) == 6 for r in racks)

        await run(pilot, "set chunk 64MiB", "put clicks-01 75GiB")
        assert "chunk 64MiB" in view.text.plain.splitlines()[0]
        assert line_of(view, "◆ ").startswith("◆ clicks-01#0 3 pieces, 3h 2r 1z")
        assert marked_hosts(view) == pieces_hosts(session, "clicks-01", 0)
        # each disk's percent on the map is its real fill, rounded up
        fills = {u.disk: u.fill_pct for u in session.cloud.get(ObjectStore).df()}
        a1 = line_of(view, "1a a1 ")
        assert [int(x) for x in re.findall(r"\d+", a1[6:])] == [int(pct_text(fills[d])) for d in sorted(fills) if d.startswith("a1-")]

        await run(pilot, "fail disk a1-h2-d1")
        assert "✘" in line_of(view, "1a a1 ")  # the mark, not only a colour
        assert "FAILED" in host_line(view, "a1-h2")
        short = session.cloud.metrics()["chunks_under_replicated"]
        assert short > 0 and under_now(view) == short
        assert "queued" in view.text.plain or "waiting" in line_of(view, "repair ")

        await run(pilot, "tick 20")
        repair = line_of(view, "repair ")
        assert SPARK & set(repair[7:40])  # copying has been drawn
        assert re.search(r"\d+% ETA", repair)
        assert under_now(view) == session.cloud.metrics()["chunks_under_replicated"] < short
        under = line_of(view, "under ")
        assert "█" in under[7:40]  # the peak of the run, at full height
        assert_fits(screen, view)

        await run(pilot, "get clicks-01")
        got = [e for e in session.cloud.log.since(0) if e.kind == "storage.get"][-1]
        assert line_of(view, "◆ ").startswith(f"◆ clicks-01#{got.get('chunk')} get {got.get('latency_ms'):g}ms")

        await run(pilot, "delete clicks-01")
        assert "◆ clicks-01 is gone (deleted)" in view.text.plain
        assert not marked_hosts(view)
        assert_fits(screen, view)


# -- chapter 5 at 80x24 and 120x40 ------------------------------------------------------------
async def test_replication_view_erasure_focus_host_timeout_and_repair(make_app):
    app = make_app(levels=REAL_LEVELS)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_chapter(pilot, REPLICATION)
        view = screen.view
        session = screen.session
        assert view.text.plain.startswith("2 copies · 2.00x · random")

        await run(pilot, "set erasure 6 3", "set placement zone-aware", "put events-1 30GiB", "locate events-1 --chunk 2")
        text = view.text.plain
        assert text.startswith("RS-6-3 (6 data + 3 parity) · 1.50x · zone-aware")
        assert "1.50x raw" in text.splitlines()[1]
        focus = line_of(view, "◆ ")
        assert focus.startswith("◆ events-1#2 9 pieces, 9 hosts")
        assert marked_hosts(view) == pieces_hosts(session, "events-1", 2)
        top = on_screen(screen, view)
        rack_lines = [line for line in top if re.match(r"^(1[abc]|  ) [abc][12] ", line)]
        assert len(rack_lines) == 6  # one line per rack at 120x40
        assert sum(line.count("◆") for line in rack_lines) == 6  # data fragments
        assert sum(line.count("◇") for line in rack_lines) == 3  # parity fragments
        store = session.cloud.get(ObjectStore)
        listed = re.findall(r"([dp]\d) (\S+-d\d)", "\n".join(top))
        chunk = store.objects["events-1"].chunks[2]
        assert listed == [(("d" if i < 6 else "p") + str(i), d) for i, d in enumerate(chunk.pieces)]

        await run(pilot, "tick 960")  # disk a1-h1-d1 failed at 60 s, host b1-h2 at 900 s
        assert "✘" in line_of(view, "1a a1 ")
        assert "?" in line_of(view, "1b b1 ")
        assert "silent" in host_line(view, "b1-h2")
        assert "wait 9m30s" in line_of(view, "repair ")  # declared dead 630 s after 900 s
        assert "? b1-h2 silent: dead at 0:25:30" in view.text.plain
        under = line_of(view, "under ")
        assert SPARK & set(under[7:60]) and under_now(view) == store.chunks_under
        assert_fits(screen, view)

        await run(pilot, "tick 700")  # past the timeout: written off, re-copied
        assert "†" in line_of(view, "1b b1 ")
        assert "DEAD" in host_line(view, "b1-h2")
        assert "† dead: b1-h2" in view.text.plain
        assert "█" in line_of(view, "repair ")[7:60]  # at the bandwidth limit
        assert_fits(screen, view)

        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        # the narrow pane: one line per zone, one glyph per disk
        zone_lines = [line for line in on_screen(screen, view) if re.match(r"^1[abc] [abc]1 ", line)]
        assert len(zone_lines) == 3 and all(re.search(r" [abc]2 ", line) for line in zone_lines)
        assert "†" in zone_lines[1] and "✘" in zone_lines[0]
        assert any(line.startswith("◆ events-1#2") for line in on_screen(screen, view))
        assert_fits(screen, view)


# -- drawing reads, never writes -------------------------------------------------------------
def test_drawing_the_storage_view_changes_nothing():
    """The solution with the view drawn after each line gives the same event log."""
    for chapter in (STORAGE, REPLICATION):
        plain = Session(chapter, 3)
        drawn = Session(chapter, 3)
        view = StorageView(drawn)
        for line in chapter.solution:
            plain.execute(line)
            drawn.execute(line)
            for width in (46, 67, 120):
                view.draw(width)
        assert plain.cloud.log.sha256() == drawn.cloud.log.sha256()
        assert view_texts()["storage"](drawn) == view_texts()["storage"](plain)


# -- the pieces ------------------------------------------------------------------------------
def test_repair_history_matches_the_store_step_by_step():
    """The sparkline's history, rebuilt from the log after one long tick, equals the store's
    own under-replicated count sampled after every step, through the whole chapter 5
    timeline (a disk, a host, a rack, a zone), under copies and under erasure coding."""
    for setup in (["set replication 3", "set placement rack-aware"], ["set erasure 6 3", "set placement zone-aware"]):
        s = Session(REPLICATION, 0)
        s.run_script([*setup, "put events-1 30GiB", "put events-2 30GiB"])
        store = s.cloud.get(ObjectStore)
        truth: dict[int, int] = {}
        s.cloud.advance(2 * 3_600_000 + 900_000, on_step=lambda: truth.__setitem__(s.cloud.now_ms, store.chunks_under))
        history = RepairHistory()
        history.update(s)
        assert max(truth.values()) > 0
        assert {t: history.value_at(t) for t in truth} == truth
        assert history.peak[0] == max(truth.values())
        # repair bytes: the log's total, cell by cell
        start, cell, n = history.window(s.cloud.now_ms, s.cloud.tick_ms, 40)
        assert (start, cell, n) == (0, 300_000, 27)  # 2h15m in 5-minute cells
        assert sum(history.repair_cells(start, cell, n)) == store.bytes_repaired


def test_repair_history_updates_incrementally_like_one_pass():
    s = Session(REPLICATION, 0)
    s.run_script(["set replication 3", "set placement rack-aware", "put events-1 20GiB"])
    live, once = RepairHistory(), RepairHistory()
    for _ in range(300):  # as the live clock would: one step at a time, the view updating
        s.advance(s.cloud.tick_ms * 10)
        live.update(s)
    once.update(s)
    assert live.under_t == once.under_t and live.under_v == once.under_v
    assert live.repair_t == once.repair_t and live.repair_cum == once.repair_cum


def test_history_window_grows_in_whole_steps():
    w = RepairHistory.window
    assert w(0, 1000, 30) == (0, 5_000, 0)
    assert w(30_000, 1000, 30) == (0, 5_000, 6)
    assert w(151_000, 1000, 30) == (0, 10_000, 16)
    assert w(960_000, 5000, 23) == (0, 60_000, 16)
    assert w(7_000, 7000, 10) == (0, 7000, 1)  # an odd step: cells of whole steps
    start, cell, n = w(500 * 3_600_000, 5000, 30)  # beyond the longest cell: scroll
    assert cell == 3_600_000 and n == 30 and start == (500 - 30) * 3_600_000


def test_latest_object_follows_put_get_locate_and_ignores_failures():
    s = Session(STORAGE, 0)
    latest = LatestObject()
    assert not latest.update(s) and latest.current is None
    s.run_script(["set chunk 64MiB", "put a 1GiB", "put b 1GiB"])
    latest.update(s)
    assert (latest.current.name, latest.current.verb, latest.current.chunk) == ("b", "put", 0)
    s.execute("locate a --chunk 7")
    s.execute("locate nothing-here")  # refused: the last good one stays
    s.execute("put a 1GiB")  # refused: a exists
    latest.update(s)
    assert (latest.current.name, latest.current.verb, latest.current.chunk) == ("a", "locate", 7)
    s.execute("get b")
    latest.update(s)
    e = [x for x in s.cloud.log.since(0) if x.kind == "storage.get"][-1]
    assert latest.current.verb == "get" and latest.current.chunk == e.get("chunk")
    assert latest.current.slowest_disk == e.get("slowest_disk")


def test_every_disk_state_has_its_own_glyph():
    """Health is never told by colour alone: each state has a glyph no other state or fill
    level uses."""
    glyphs = {cond: disk_glyph(cond, 50)[0] for cond in STATE}
    assert len(set(glyphs.values())) == len(glyphs)
    fills = {disk_glyph("ok", p)[0] for p in (0, 1, 30, 60, 90, 100)}
    assert not fills & set(glyphs.values())
    assert disk_glyph("ok", 0)[0] == "·" and disk_glyph("ok", 100)[0] == FILL[-1]
    assert disk_glyph("ok", 0.01)[0] == FILL[0]  # a little is never drawn as nothing
    assert disk_glyph("ok", 90)[1] != disk_glyph("ok", 10)[1]


def test_disk_conditions_follow_the_store():
    s = Session(REPLICATION, 0, sandbox=True)  # every command, degrade and decommission too
    outcomes = s.run_script(["put x 1GiB", "degrade disk a1-h1-d2", "fail disk a1-h1-d1", "fail host b1-h2", "decommission disk c1-h1-d1"])
    assert all(o.ok for o in outcomes), [o.output for o in outcomes if not o.ok]
    store = s.cloud.get(ObjectStore)
    disks = s.cloud.hardware.disks
    assert disk_condition(store, disks["a1-h1-d1"]) == "failed"
    assert disk_condition(store, disks["a1-h1-d2"]) == "slow"
    assert disk_condition(store, disks["b1-h2-d1"]) == "silent"
    assert disk_condition(store, disks["c1-h1-d1"]) in ("draining", "drained")
    assert disk_condition(store, disks["a2-h1-d1"]) == "ok"
    assert disk_conditions(store) == {d: disk_condition(store, disk) for d, disk in disks.items()}
    s.execute("tick 700")
    assert disk_condition(store, disks["b1-h2-d1"]) == "dead"
    assert disk_conditions(store) == {d: disk_condition(store, disk) for d, disk in disks.items()}


def test_a_map_taller_than_the_pane_goes_below_time_and_focus():
    """A sandbox cluster of 4 zones x 4 racks x 12 hosts: the dense map does not fit 9 rows,
    so the sparklines and the focus come first; racks wider than the pane end in +N."""
    rack = {"hosts": [{"count": 12, "vcpus": 8, "ram_gib": 32, "disks": [{"size_gib": 500, "count": 3}]}]}
    world = {
        "view": "storage",
        "regions": [{"name": "r", "zones": [{"name": f"z{z}", "racks": [{**rack, "name": f"z{z}r{r}"} for r in range(4)]} for z in range(4)]}],
        "storage": {"chunk_mib": 64},
    }
    s = Session(free_play_chapter(World.model_validate(world)), 0, sandbox=True)
    s.run_script(["put big 10GiB", "fail rack z1r2", "tick 5"])
    view = StorageView(s)
    view.layout_rows = lambda: 9
    lines = view.draw(46).plain.splitlines()
    assert lines[1].startswith("under ") and lines[2].startswith("repair ") and lines[3].startswith("◆ big#0")
    assert all(len(line) <= 46 for line in lines)
    z1 = [line for line in lines if re.match(r"^(z1|  ) z1r\d", line)]
    assert len(z1) == 4 and all(re.search(r" \+\d+$", line) for line in z1)
    assert "?" in next(line for line in z1 if " z1r2 " in line)


def test_percent_rounds_up_so_over_a_limit_never_reads_as_at_it():
    assert [pct_text(x) for x in (0, 0.01, 85, 85.2, 99.99, 100)] == ["0", "1", "85", "86", "100", "100"]
    assert [level(v, 10) for v in (0, 1, 5, 10, 20)] == [0, 1, 4, 7, 7]


def test_chips_drop_the_least_important_first():
    items = [(0, "aaaa", ""), (2, "bbbb", ""), (1, "cccc", "")]
    assert chips(items, 100).plain == "aaaa · bbbb · cccc"
    assert chips(items, 12).plain == "aaaa · cccc"
    assert chips(items, 5).plain == "aaaa"


def test_describe_prints_the_storage_view_in_words():
    s = Session(REPLICATION, 0)
    s.run_script(["set erasure 6 3", "set placement zone-aware", "put events-1 30GiB", "locate events-1 --chunk 1", "tick 960"])
    out = s.execute("describe").output
    assert out.startswith("storage view at t=0:16:00")
    assert "RS-6-3 (1.50x), placement zone-aware" in out
    assert "host b1-h2: b1-h2-d1 " in out and "silent" in out
    assert "a1-h1-d1 0% 0 pieces failed" in out
    assert "object in focus: events-1 chunk 1 of 480 (locate at t=0:00:00)" in out
    store = s.cloud.get(ObjectStore)
    for i, d in enumerate(store.objects["events-1"].chunks[1].pieces):
        assert f"{'d' if i < 6 else 'p'}{i}: {d} (host " in out
    assert "b1-h2: silent; declared dead at t=0:25:30" in out
    assert "repair: nothing to copy until a silent host is declared dead" in out
    # one figure a minute: the disk lost at 60 s ends the first minute, its repair drains
    # to zero, and the silent host's chunks are short from 900 s on
    series = re.search(r"history, one figure per 1m from t=0:00:00: chunks under-replicated ([\d ]+)\n", out).group(1)
    under = [int(x) for x in series.split()]
    assert len(under) == 16 and under[0] > 0 and 0 in under[1:14] and under[-1] == store.chunks_under > 0


def test_the_focus_chunk_is_reversed_on_every_map():
    """Dense, cells or bars: the disks holding the chunk in focus are drawn reversed (a mark
    that needs no colour), exactly as many as the chunk has pieces."""
    s = Session(REPLICATION, 0)
    s.run_script(["set erasure 6 3", "set placement zone-aware", "put events-1 6GiB", "locate events-1 --chunk 4"])
    chunk = s.cloud.get(ObjectStore).objects["events-1"].chunks[4]
    view = StorageView(s)
    for rows, width, form in ((9, 46, "dense"), (16, 67, "cells"), (60, 67, "bars")):
        view.layout_rows = lambda rows=rows: rows
        text = view.draw(width)
        plain = text.plain
        map_end = plain.index("\nunder ")
        reversed_cells = [plain[sp.start : sp.end] for sp in text.spans if "reverse" in str(sp.style) and sp.end <= map_end]
        assert len(reversed_cells) == len(chunk.pieces) == 9, form
        assert all(len(c) == 1 and c in FILL for c in reversed_cells), (form, reversed_cells)
        lines = plain[:map_end].splitlines()
        if form == "dense":
            assert len(lines) == 2 + 3  # settings, data, one line per zone
        elif form == "cells":
            assert sum(1 for line in lines if re.match(r"^(1[abc]|  ) [abc][12] ", line)) == 6
        else:
            assert "disks by host" not in plain and sum(1 for line in lines if line.startswith("  ")) == 24


def test_repair_state_carried_forward_equals_the_store_status():
    """The view asks the store's repair status (a walk of the whole queue) only when the
    work may have grown; in between, what is left is carried forward by the bytes repaired.
    Step by step through a disk loss and a host's write-off it equals the store's figure."""
    for chapter, lines in (
        (STORAGE, ["set chunk 64MiB", "put clicks-01 75GiB", "put clicks-02 75GiB", "fail disk a1-h2-d1"]),
        (REPLICATION, ["set erasure 6 3", "set placement zone-aware", "put events-1 30GiB", "put events-2 30GiB"]),
    ):
        s = Session(chapter, 0)
        s.run_script(lines)
        store = s.cloud.get(ObjectStore)
        view = StorageView(s)
        view.layout_rows = lambda: 12
        asked = 0
        real = store.repair_status
        carried = 0
        for _ in range(400):
            s.advance(s.cloud.tick_ms)
            before = view._repair
            view.draw(67)
            now = view._repair
            if now is None:
                continue
            truth = real()
            assert (now.queued, now.pending) == (truth.queued, truth.bytes_pending), s.cloud.now_ms
            if before is not None and now.moves == before.moves and now.queued <= before.queued:
                carried += 1
            else:
                asked += 1
        assert carried > asked > 0  # mostly carried forward, and asked when work appeared
