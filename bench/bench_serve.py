"""Playing in a browser: keystroke-to-screen latency with 1, 10 and 40 players at once,
and the memory each player's game costs.

`cloudquest serve` is started on a free loopback port with its own empty data folder.
Each player is a websocket client speaking what textual-serve's page speaks
(``["stdin", keys]`` in, the terminal's byte stream out), so the figures are the
server's and the games' (a browser adds its own drawing on top). Every player opens
the game, continues to chapter 0 (the clock paused) and types on its command line: a
keystroke is timed from the moment it is sent to the first frame back that draws it.
Each keystroke is a character not yet on the line (the line is cleared with ctrl+u
before the characters run out), so a blinking cursor's frames never count.

Memory per player is the resident set of each game process (the server's children),
read from /proc once every player is in the chapter.

    python bench/bench_serve.py                 # 1, 10 and 40 players, 30 keys each
    python bench/bench_serve.py --players 1,5 --keys 10

Run it on a quiet machine: it measures this machine's two cores, shared with
nothing else. Requests stay on 127.0.0.1 and every loop is bounded in count and time.
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
KEYS = "abdefghijkmnopqrstuvwxyzABDEFGHIJKLMNOQRSTUVWXYZ"  # no c (continue), no l/P clashes needed
CLEAR = "\x15"  # ctrl+u: clear the command line
STEP_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Player:
    def __init__(self, n: int, url: str) -> None:
        self.n = n
        self.url = url
        self.buffer = b""
        self.latencies_ms: list[float] = []
        self.got = asyncio.Event()

    async def _read(self, ws) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.buffer += msg.data
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self.buffer += msg.data.encode()
            else:
                break
            self.got.set()

    def text(self, since: int = 0) -> str:
        return ESCAPES.sub(b"", self.buffer[since:]).decode("utf-8", "replace")

    async def wait_for(self, needle: str, since: int = 0) -> None:
        """Until ``needle`` is drawn in what came since byte ``since``."""
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while needle not in self.text(since):
            if time.monotonic() > deadline:
                raise TimeoutError(f"player {self.n}: {needle!r} was never drawn")
            self.got.clear()
            try:
                await asyncio.wait_for(self.got.wait(), timeout=1.0)
            except asyncio.TimeoutError:
                pass

    async def play(self, keys: int, ready: asyncio.Barrier, pause_s: float) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{self.url}ws?width=100&height=30", max_msg_size=0) as ws:
                reader = asyncio.create_task(self._read(ws))
                await self.wait_for("Continue: chapter 0")
                await ws.send_json(["stdin", "c"])
                await self.wait_for("paused (F2 runs)")
                await ready.wait()  # every player in its chapter before anyone is timed
                pool = list(KEYS)
                for i in range(keys):
                    if not pool:
                        await ws.send_json(["stdin", CLEAR])
                        await asyncio.sleep(pause_s)
                        pool = list(KEYS)
                    key = pool.pop(0)
                    mark = len(self.buffer)
                    sent = time.perf_counter()
                    await ws.send_json(["stdin", key])
                    await self.wait_for(key, mark)
                    self.latencies_ms.append((time.perf_counter() - sent) * 1000)
                    await asyncio.sleep(pause_s)
                reader.cancel()


def children_rss_mib(pid: int) -> list[float]:
    """The resident memory of every process below ``pid`` (the games)."""
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
    # the games themselves: python processes that run cloudquest (not the shell around them)
    return sorted(rss[p] for p in below if rss.get(p, 0) > 20)


async def round_of(players: int, keys: int, url: str, server_pid: int, pause_s: float) -> dict:
    ready = asyncio.Barrier(players + 1)
    crowd = [Player(n, url) for n in range(players)]
    tasks = [asyncio.create_task(p.play(keys, ready, pause_s)) for p in crowd]
    await asyncio.wait_for(ready.wait(), timeout=STEP_TIMEOUT_S * 2)
    memory = children_rss_mib(server_pid)
    await asyncio.gather(*tasks)
    latencies = sorted(x for p in crowd for x in p.latencies_ms)
    return {
        "players": players,
        "keystrokes": len(latencies),
        "median_ms": statistics.median(latencies),
        "p90_ms": latencies[int(0.9 * (len(latencies) - 1))],
        "max_ms": latencies[-1],
        "games": len(memory),
        "rss_per_game_mib": statistics.median(memory) if memory else float("nan"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", default="1,10,40", help="rounds of this many players at once (1,10,40)")
    parser.add_argument("--keys", type=int, default=30, help="keystrokes each player types (30)")
    parser.add_argument("--pause", type=float, default=0.25, help="seconds between one player's keystrokes (0.25)")
    args = parser.parse_args()
    rounds = [int(n) for n in args.players.split(",")]
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
            print(f"cloudquest serve on 127.0.0.1:{port}, {os.cpu_count()} cores, {args.keys} keystrokes a player")
            print(f"{'players':>7} {'keys':>6} {'median':>9} {'p90':>9} {'max':>9} {'games':>6} {'MiB/game':>9}")
            for n in rounds:
                r = asyncio.run(round_of(n, args.keys, url, server.pid, args.pause))
                print(
                    f"{r['players']:>7} {r['keystrokes']:>6} {r['median_ms']:>7.1f}ms {r['p90_ms']:>7.1f}ms "
                    f"{r['max_ms']:>7.1f}ms {r['games']:>6} {r['rss_per_game_mib']:>9.1f}",
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
