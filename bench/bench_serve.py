"""A classroom on one machine: 1, 10 and 40 players at once, each with a live clock.

`cloudquest serve` is started on a free loopback port with its own empty data folder.
Each player is a websocket client speaking what textual-serve's page speaks
(``["stdin", keys]`` in, the terminal's byte stream out), so the figures are the
server's and the games' (a browser adds its own drawing on top). Each player names
themself (where the server asks), and all of them open the game at once and continue
to chapter 0; then every clock is started (F2) and the round measures:

- time to a chapter: for each player, from their joining (naming themself) to their
  chapter screen (median, p95, max; the target is 10 s at most), and for the round,
  from the first player's joining to the last player's chapter screen. The players
  join all at once, or, with ``--within SECONDS``, one after another evenly over that
  window (``--within 60``: 40 players join over a minute, one every 1.5 s), as a class
  arrives;
- idle cost, over ``--idle`` seconds with every clock live and nobody typing: CPU of
  the game processes per player (% of one core, from /proc) and bytes per second the
  server sends each player;
- keystroke echo with every clock live: a keystroke is timed from the moment it is
  sent to the first frame back that draws it. Each keystroke is a character not yet on
  the line and not drawn while idle (the clock's own redraws never count); the line is
  cleared with ctrl+u before the characters run out.

Memory per player is the resident set of each game process (the server's children),
read from /proc once every player is in the chapter, and so is each game's CPU since it
started (CPU/start: what starting a game costs; where players join over a window, the
first ones' idle chapter counts too). The rounds start once the server and what it
started are quiet, as a class arrives at a server that has finished starting.

    python bench/bench_serve.py                 # 1, 10 and 40 players, 30 keys each
    python bench/bench_serve.py --players 1,10 --keys 20 --idle 10
    python bench/bench_serve.py --players 40 --within 0,60   # at once, then over a minute

Run it on a quiet machine: it measures this machine's cores, and anything else running
shows in the figures. Requests stay on 127.0.0.1 and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>78]|\x1b\][^\x07]*\x07")
KEYS = "abdefghijkmnopqrstuvwxyzABDEFGHIJKLMNOQRSTUVWXYZ"  # no c (continue)
F2 = "\x1bOQ"  # runs the clock
CLEAR = "\x15"  # ctrl+u: clear the command line
STEP_TIMEOUT_S = 120.0
OVERLAP_BYTES = 4096


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Player:
    def __init__(self, n: int, url: str, round_: str = "0") -> None:
        self.n = n
        self.round = round_
        self.url = url
        self.buffer = bytearray()  # grows in place: appending never copies what came before
        self.latencies_ms: list[float] = []
        self.got = asyncio.Event()
        self.joined = float("nan")  # when this player started to join (monotonic)
        self.in_chapter_s = float("nan")  # from the round's start to the chapter screen
        self.to_chapter_s = float("nan")  # from this player's joining to the chapter screen
        self.idle_bytes = 0

    async def _read(self, ws) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.buffer += msg.data
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self.buffer += msg.data.encode()
            else:
                break
            self.got.set()

    def text(self, since: int = 0, until: int | None = None) -> str:
        return ESCAPES.sub(b"", self.buffer[since:until]).decode("utf-8", "replace")

    async def wait_for(self, needle: str, since: int = 0) -> None:
        """Until ``needle`` is drawn in what came since byte ``since``. Each look reads
        only what came since the last one (and a little before it, for a needle or an
        escape sequence cut between two messages): the bench's own CPU stays small beside
        the games' however much a screen sends."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        seen = since
        while True:
            end = len(self.buffer)
            if needle in self.text(max(since, seen - OVERLAP_BYTES), end):
                return
            seen = end
            if time.monotonic() > deadline:
                raise TimeoutError(f"player {self.n}: {needle!r} was never drawn")
            self.got.clear()
            try:
                await asyncio.wait_for(self.got.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass

    async def join(self, http: aiohttp.ClientSession) -> None:
        """Name this player where the server asks for names (the session keeps its cookie)."""
        async with http.post(f"{self.url}join", data={"name": f"r{self.round}-player{self.n}"}, allow_redirects=False) as r:
            if r.status not in (200, 302, 303, 404, 405):
                raise RuntimeError(f"player {self.n}: joining answered {r.status}: {await r.text()}")

    async def play(self, keys: int, started: float, phases: "Phases", pause_s: float, delay_s: float = 0.0) -> None:
        await asyncio.sleep(delay_s)
        self.joined = time.monotonic()
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies of 127.0.0.1
            await self.join(http)
            async with http.ws_connect(f"{self.url}ws?width=100&height=30", max_msg_size=0) as ws:
                reader = asyncio.create_task(self._read(ws))
                await self.wait_for("Continue: chapter 0")
                await ws.send_json(["stdin", "c"])
                await self.wait_for("paused (F2 runs)")
                self.in_chapter_s = time.monotonic() - started
                self.to_chapter_s = time.monotonic() - self.joined
                await phases.in_chapter.wait()  # every player in its chapter before the clocks run
                mark = len(self.buffer)
                await ws.send_json(["stdin", F2])
                await self.wait_for("live 1x", mark)
                await phases.live.wait()
                idle_from = len(self.buffer)
                await phases.idle_done.wait()
                self.idle_bytes = len(self.buffer) - idle_from
                # what the idle screen drew (the clock, its status) never counts as an echo
                seen = set(self.text(idle_from))
                pool_all = [k for k in KEYS if k not in seen] or list(KEYS)
                pool = list(pool_all)
                for i in range(keys):
                    if not pool:
                        await ws.send_json(["stdin", CLEAR])
                        await asyncio.sleep(pause_s)
                        pool = list(pool_all)
                    key = pool.pop(0)
                    mark = len(self.buffer)
                    sent = time.perf_counter()
                    await ws.send_json(["stdin", key])
                    await self.wait_for(key, mark)
                    self.latencies_ms.append((time.perf_counter() - sent) * 1000)
                    await asyncio.sleep(pause_s)
                reader.cancel()


class Phases:
    """The round's steps every player waits for together."""

    def __init__(self) -> None:
        self.in_chapter = asyncio.Event()
        self.live = asyncio.Event()
        self.idle_done = asyncio.Event()


def settle(server_pid: int, quiet_pct: float = 10.0, window_s: float = 0.5, timeout_s: float = 60.0) -> float:
    """Wait until the server and everything it started are quiet (under ``quiet_pct`` of
    a core over ``window_s``): a class arrives at a server that has finished starting.
    The seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        pids = [server_pid, *games_below(server_pid, everything=True)]
        before = cpu_s(pids)
        time.sleep(window_s)
        if (cpu_s(pids) - before) / window_s * 100 < quiet_pct:
            break
    return time.monotonic() - start


def cpu_s(pids: list[int]) -> float:
    """User plus system CPU seconds the processes have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def games_below(pid: int, everything: bool = False) -> dict[int, float]:
    """The game processes below ``pid`` and their resident memory in MiB (with
    ``everything``, every process below it)."""
    parents: dict[int, int] = {}
    rss: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents[int(entry.name)] = ppid
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        rss[int(entry.name)] = int(m.group(1)) / 1024 if m else 0.0
    below = {pid}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in below and child not in below:
                below.add(child)
                changed = True
    below.discard(pid)
    if everything:
        return {p: rss[p] for p in below}
    # the games themselves: python processes that run cloudquest (not the shell or the
    # small warm-process client around them, nor the warm process the games fork from)
    return {p: rss[p] for p in below if rss.get(p, 0) > 20 and not (parents[p] == pid and is_warm_process(p))}


def is_warm_process(pid: int) -> bool:
    try:
        return b"cloudquest.warm" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))] if ordered else float("nan")


async def round_of(players: int, keys: int, url: str, server_pid: int, pause_s: float, idle_s: float,
                   within_s: float = 0.0, name: str = "") -> dict:
    phases = Phases()
    crowd = [Player(n, url, name or str(players)) for n in range(players)]
    started = time.monotonic()
    # evenly over the window: the first player at 0, the last at the window's end
    spacing = within_s / (players - 1) if players > 1 else 0.0
    tasks = [asyncio.create_task(p.play(keys, started, phases, pause_s, n * spacing)) for n, p in enumerate(crowd)]

    async def until(check) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT_S * 2
        while not check():
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()
            if time.monotonic() > deadline:
                raise TimeoutError("the players did not get there")
            await asyncio.sleep(0.05)

    await until(lambda: all(p.in_chapter_s == p.in_chapter_s for p in crowd))  # not NaN
    all_in_s = max(p.in_chapter_s for p in crowd)
    games = games_below(server_pid)
    start_cpu_s = cpu_s(list(games)) / max(1, len(games))  # each game's CPU from its start to its chapter
    phases.in_chapter.set()
    await until(lambda: all("live 1x" in p.text(max(0, len(p.buffer) - 4000)) for p in crowd))
    await asyncio.sleep(1.0)  # the clocks' first frames settle
    pids = list(games_below(server_pid))
    cpu0, server0 = cpu_s(pids), cpu_s([server_pid])
    phases.live.set()
    await asyncio.sleep(idle_s)
    cpu1, server1 = cpu_s(pids), cpu_s([server_pid])
    phases.idle_done.set()
    await asyncio.gather(*tasks)
    latencies = sorted(x for p in crowd for x in p.latencies_ms)
    memory = sorted(games.values())
    to_chapter = [p.to_chapter_s for p in crowd]
    return {
        "players": players,
        "within_s": within_s,
        "all_in_chapter_s": all_in_s,
        "to_chapter_median_s": statistics.median(to_chapter),
        "to_chapter_p95_s": percentile(to_chapter, 0.95),
        "to_chapter_max_s": max(to_chapter),
        "start_cpu_s": start_cpu_s,
        "keystrokes": len(latencies),
        "median_ms": statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": percentile(latencies, 0.95),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "cpu_per_idle_player_pct": (cpu1 - cpu0) / idle_s / players * 100,
        "server_cpu_pct": (server1 - server0) / idle_s * 100,
        "bytes_per_s_per_player": sum(p.idle_bytes for p in crowd) / idle_s / players,
        "games": len(memory),
        "rss_per_game_mib": statistics.median(memory) if memory else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", default="1,10,40", help="rounds of this many players at once (1,10,40)")
    parser.add_argument("--keys", type=int, default=30, help="keystrokes each player types (30)")
    parser.add_argument("--pause", type=float, default=0.25, help="seconds between one player's keystrokes (0.25)")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds every clock runs with nobody typing (10)")
    parser.add_argument("--within", default="0", metavar="SECONDS",
                        help="the players join evenly over this many seconds (0: all at once); "
                             "a list (0,60) runs each round once per window")
    args = parser.parse_args()
    windows = [float(w) for w in args.within.split(",")]
    rounds = [(int(n), w) for n in args.players.split(",") for w in windows]
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, CLOUDQUEST_HOME=home)
        server = subprocess.Popen(
            [sys.executable, "-m", "cloudquest", "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("the server did not start")
                time.sleep(0.1)
            url = f"http://127.0.0.1:{port}/"
            settled_s = settle(server.pid)
            print(
                f"cloudquest serve on 127.0.0.1:{port}, {os.cpu_count()} cores, every clock live, "
                f"{args.keys} keystrokes a player, {args.idle:g} s idle; the server settled "
                f"{settled_s:.1f} s after it opened its port"
            )
            print(
                f"{'players':>7} {'joining':>9} {'all in':>7} {'to chapter median':>17} {'p95':>6} {'max':>6} "
                f"{'CPU/start':>9} "
                f"{'echo median':>11} {'p95':>8} {'max':>8} "
                f"{'CPU/idle player':>15} {'B/s/player':>10} {'server CPU':>10} {'MiB/game':>8}"
            )
            for n, within in rounds:
                r = asyncio.run(round_of(n, args.keys, url, server.pid, args.pause, args.idle, within,
                                         name=f"{n}w{int(within)}"))
                joining = "at once" if not within else f"over {within:g}s"
                print(
                    f"{r['players']:>7} {joining:>9} {r['all_in_chapter_s']:>6.1f}s {r['to_chapter_median_s']:>16.1f}s "
                    f"{r['to_chapter_p95_s']:>5.1f}s {r['to_chapter_max_s']:>5.1f}s {r['start_cpu_s']:>8.2f}s "
                    f"{r['median_ms']:>9.1f}ms {r['p95_ms']:>6.1f}ms {r['max_ms']:>6.0f}ms "
                    f"{r['cpu_per_idle_player_pct']:>14.1f}% "
                    f"{r['bytes_per_s_per_player']:>10.0f} {r['server_cpu_pct']:>9.1f}% {r['rss_per_game_mib']:>8.1f}",
                    flush=True,
                )
                time.sleep(2)  # the round's games close before the next round starts
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
