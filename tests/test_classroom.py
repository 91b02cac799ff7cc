"""A classroom on one machine (`cloudquest serve` for a class, `cloudquest class show`).

Names are checked before they touch the file system; each student's games run in their
own folder, found again by the cookie their browser keeps; the teacher's view reads what
the students' saves say. The served game is driven over textual-serve's websocket the
way its page does (``["stdin", ...]`` in, the terminal's bytes out), whole console lines
at a time."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloudquest.game import classroom
from cloudquest.game.classroom import ClassroomError

ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>78]|\x1b\][^\x07]*\x07")
LEVELS = Path(__file__).resolve().parent.parent / "levels"
CHAPTER_0_SOLUTION = [
    "launch --name hello", "tick 90", "trace hello", "name api RunInstances",
    "name hardware r1-h1", "name hypervisor 2", "name virtual 10.0.1.4",
]


@pytest.mark.parametrize("name", [
    "../teacher", "a/b", "..", ".hidden", "", "   ", "x" * 33, "con", "NUL", "a\x00b", "é", "1st", "a b",
    "-rf", "C:\\x", "%2e%2e",
])
def test_a_hostile_or_impossible_name_is_refused_in_one_line(tmp_path, name):
    with pytest.raises(ClassroomError) as caught:
        classroom.join(tmp_path, name)
    assert "\n" not in str(caught.value)
    assert not any(p.name != "students" for p in tmp_path.iterdir())
    assert not list(classroom.students_dir(tmp_path).glob("*")) if classroom.students_dir(tmp_path).exists() else True


def test_a_name_taken_is_refused_whatever_its_case_and_tokens_tell_students_apart(tmp_path):
    alice = classroom.join(tmp_path, "Alice")
    with pytest.raises(ClassroomError, match="taken"):
        classroom.join(tmp_path, "alice")
    bob = classroom.join(tmp_path, "bob_2")
    assert alice.folder != bob.folder and alice.folder.parent == bob.folder.parent
    assert classroom.by_token(tmp_path, alice.token) == alice
    assert classroom.by_token(tmp_path, bob.token) == bob
    assert classroom.by_token(tmp_path, "not-a-token") is None
    assert classroom.by_token(tmp_path, None) is None


def test_class_show_says_there_is_nobody_yet_and_rejects_a_file_as_the_folder(tmp_path):
    out = subprocess.run([sys.executable, "-m", "cloudquest", "class", "show", "--data", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "no students yet" in out.stdout
    (tmp_path / "f").write_text("")
    out = subprocess.run([sys.executable, "-m", "cloudquest", "class", "show", "--data", str(tmp_path / "f")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


# -- the served class ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    data = tmp_path / "class"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudquest", "serve", "--port", str(port), "--data", str(data)],
        env=dict(os.environ, CLOUDQUEST_HOME=str(tmp_path / "teacher-home")),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/", data
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


class Browser:
    """One student's browser: a cookie jar and the game's websocket."""

    def __init__(self, url: str) -> None:
        import aiohttp

        self.url = url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies of 127.0.0.1
        self.buffer = b""

    async def join(self, name: str) -> tuple[int, str]:
        async with self.http.post(f"{self.url}join", data={"name": name}) as r:
            return r.status, await r.text()

    async def play(self, *lines: str, until: str, then: list[str] = (), then_until: str = "") -> str:
        """Open the game; wait for ``until``; send each line; wait for ``then_until``."""
        import aiohttp

        self.buffer = b""
        async with self.http.ws_connect(f"{self.url}ws?width=100&height=30", max_msg_size=0) as ws:
            async def read():
                async for msg in ws:
                    if msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                        self.buffer += msg.data if isinstance(msg.data, bytes) else msg.data.encode()
            reader = asyncio.create_task(read())
            try:
                await self.wait_for(until)
                for line in then:
                    mark = len(self.buffer)
                    await ws.send_json(["stdin", line])
                    await asyncio.sleep(0.2)
                    if line.endswith("\r"):
                        await self.wait_for(line.strip().split()[0], mark)
                if then_until:
                    await self.wait_for(then_until)
                return self.text()
            finally:
                reader.cancel()

    def text(self, since: int = 0) -> str:
        return ESCAPES.sub(b"", self.buffer[since:]).decode("utf-8", "replace")

    async def wait_for(self, needle: str, since: int = 0, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while needle not in self.text(since):
            assert time.monotonic() < deadline, f"{needle!r} never came; last: {self.text(since)[-400:]!r}"
            await asyncio.sleep(0.05)


async def test_two_students_are_kept_apart_found_again_and_seen_by_the_teacher(server):
    url, data = server
    alice, bob = Browser(url), Browser(url)
    try:
        # a browser that has not named itself is asked to, and has no game
        async with alice.http.get(url) as r:
            assert "Your name" in await r.text()
        async with alice.http.get(f"{url}ws") as r:
            assert r.status == 403
        status, page = await alice.join("../../etc")
        assert status == 400 and "cannot be a name" in page
        assert (await alice.join("Alice"))[0] == 200  # redirected to the game's page
        async with alice.http.get(url) as r:
            page = await r.text()
        assert "textual-terminal" in page and "googleapis" not in page
        assert (await bob.join("alice"))[0] == 400  # taken
        assert (await bob.join("Bob"))[0] == 200

        # Alice passes chapter 0, whole lines at a time, and finishes (F6)
        lines = [f"{line}\r" for line in CHAPTER_0_SOLUTION]
        await alice.play(until="Continue: chapter 0", then=["c", *lines, "\x1b[17~"], then_until="PASSED")
        # Bob's game is his own: still at chapter 0
        await bob.play(until="Continue: chapter 0")
        # Alice reconnects (a reload): her progress is found again
        await alice.play(until="Continue: chapter 1")
    finally:
        await alice.http.close()
        await bob.http.close()

    rows = {r.name: r for r in classroom.report(data)}
    assert rows["Alice"].passed == ["big-realization"] and rows["Bob"].passed == []
    assert rows["Alice"].last_replay.startswith("big-realization-")
    out = subprocess.run([sys.executable, "-m", "cloudquest", "class", "show", "--csv", "--data", str(data)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "Alice,1,big-realization,0," in out.stdout and "Bob,0,,0," in out.stdout
