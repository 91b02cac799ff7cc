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
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from served import free_port, stop, wait_port

from cloudquest.game import classroom
from cloudquest.game.classroom import ClassroomError

ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>78]|\x1b\][^\x07]*\x07")
LEVELS = Path(__file__).resolve().parent.parent / "levels"
OPEN_CHAPTER = ("c", "paused (F2 runs)")  # continue: the chapter's screen, its clock paused
# The chapter's reference solution but for its tick: the game draws a fresh seed for each
# run, and on about one seed in twelve the instance's status checks are not both ok by
# 90 s (they are by 180 s on every seed tried)
CHAPTER_0_SOLUTION = [
    "launch --name hello", "tick 180", "trace hello", "name api RunInstances",
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
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the module's tests (it starts the warm game process too): its
    address, its class folder, its process and the teacher's token it printed."""
    tmp_path = tmp_path_factory.mktemp("served")
    port = free_port()
    data = tmp_path / "class"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudquest", "serve", "--port", str(port), "--data", str(data)],
        env=dict(os.environ, CLOUDQUEST_HOME=str(tmp_path / "teacher-home")),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        deadline = time.monotonic() + 30
        said, teacher = b"", None
        while teacher is None:
            assert select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0], "no teacher's page"
            said += os.read(proc.stdout.fileno(), 4096)
            teacher = re.search(rb"/teacher\?token=([\w-]+)\s", said)
        served = f"http://127.0.0.1:{port}/", data, proc, teacher.group(1).decode()
        # its warm process answers once it has warmed up: the tests start with games that start at once
        _pid, socket_path, env = warm_process(served)
        assert Forked(socket_path, env, ["--version"], tmp_path / "version.err").status() == 0
        yield served
    finally:
        stop(proc)


@pytest.fixture
def server(served):
    url, data, _proc, _teacher = served
    return url, data


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

    async def play(self, *lines: str, until: str, then: list[str] = (), then_until: str = "", meanwhile=None) -> str:
        """Open the game; wait for ``until``; send each line (a pair: keys, and what they
        draw once they are taken); wait for ``then_until``; call ``meanwhile()`` while
        the game still runs."""
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
                    line, drawn = line if isinstance(line, tuple) else (line, "")
                    mark = len(self.buffer)
                    await ws.send_json(["stdin", line])
                    await asyncio.sleep(0.2)
                    if drawn or line.endswith("\r"):
                        await self.wait_for(drawn or line.strip().split()[0], mark)
                if then_until:
                    await self.wait_for(then_until)
                if meanwhile is not None:
                    meanwhile()
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


SERVED = pytest.mark.xdist_group("classroom-server")  # one worker: one server for them all


@pytest.fixture
def teacher(served):
    """The teacher's page of the module's server."""
    return f"{served[0]}teacher?token={served[3]}"


async def class_table(browser: "Browser", teacher: str, etag: str = "") -> tuple[int, str, str]:
    """What the teacher's page asks every few seconds: the class's table, unless it is
    the one it has (``etag``). The answer's status, text and tag."""
    async with browser.http.get(f"{teacher}&format=table", headers={"If-None-Match": etag} if etag else {}) as r:
        return r.status, await r.text(), r.headers.get("ETag", "")


@SERVED
async def test_two_students_are_kept_apart_found_again_and_seen_by_the_teacher(server, teacher):
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
        # the teacher's page, and the table it keeps up to date: unchanged, it is not sent again
        async with alice.http.get(teacher) as r:
            page = await r.text()
        assert 'id="class"' in page and "Alice" in page and "setInterval" in page and "http" not in page.split("<body>")[1]
        status, table, etag = await class_table(alice, teacher)
        assert status == 200 and "Bob" in table and "big-realization" not in table
        assert (await class_table(alice, teacher, etag))[0] == 304

        # Alice passes chapter 0, whole lines at a time, and finishes (F6)
        # (F6 once the last line is answered: a long tick runs off the event loop, and the
        # lines typed meanwhile wait for it)
        lines = [f"{line}\r" for line in CHAPTER_0_SOLUTION]
        await alice.play(until="Continue: chapter 0", then=[OPEN_CHAPTER, *lines[:-1], (lines[-1], "virtual layer gave"),
                                                            "\x1b[17~"], then_until="PASSED")
        # the teacher's table changes with her pass
        status, table, _ = await class_table(alice, teacher, etag)
        assert status == 200 and "big-realization" in table
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


# -- the warm game process ----------------------------------------------------------------
# The server's games are forks of its warm process (cloudquest/warm.py). These tests speak
# to the one the module's server started, as its client does.
def warm_process(served) -> tuple[int, str, dict[str, str]]:
    """The server's warm process: its id, its socket and its environment."""
    server_pid = served[2].pid
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == server_pid and b"cloudquest.warm" in argv:
            environ = (entry / "environ").read_bytes().split(b"\0")
            env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
            return int(entry.name), argv[argv.index(b"cloudquest.warm") + 2].decode(), env
    raise AssertionError("the server started no warm process")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and parent_of(int(entry.name)) == pid:
                found.append(int(entry.name))
        except OSError:
            pass
    return found


class Forked:
    """A game the warm process forked for this test: its standard input and output are
    pipes of the test's, its standard error a file."""

    def __init__(self, socket_path: str, env: dict[str, str], args: list[str], stderr: Path) -> None:
        from cloudquest import warm_client

        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.settimeout(60)
        self.conn.connect(socket_path)
        stdin_r, self.stdin = os.pipe()
        self.stdout, stdout_w = os.pipe()
        stderr_w = os.open(stderr, os.O_WRONLY | os.O_CREAT, 0o600)
        message = warm_client.request(args, env, os.getcwd())
        sent = socket.send_fds(self.conn, [message], [stdin_r, stdout_w, stderr_w])
        self.conn.sendall(message[sent:])
        for fd in (stdin_r, stdout_w, stderr_w):
            os.close(fd)
        tag, self.pid = warm_client.read_answer(self.conn)
        assert tag == b"P", "the warm process did not fork the game"
        self.out = b""

    def read(self, done=lambda out: False, timeout_s: float = 30) -> bytes:
        """What the game wrote, until ``done(what it wrote)`` (or until its end)."""
        deadline = time.monotonic() + timeout_s
        while not done(self.out):
            assert select.select([self.stdout], [], [], max(0.0, deadline - time.monotonic()))[0], \
                f"the game never got there: {self.out[-300:]!r}"
            chunk = os.read(self.stdout, 65536)
            if not chunk:
                break
            self.out += chunk
        return self.out

    def status(self) -> int:
        from cloudquest import warm_client

        os.close(self.stdin)
        self.read()
        os.close(self.stdout)
        tag, status = warm_client.read_answer(self.conn)
        self.conn.close()
        assert tag == b"S"
        return status


@SERVED
async def test_a_game_forked_from_the_warm_process_reaches_its_chapter_in_the_students_own_folder(served, tmp_path):
    url, data, _proc, _teacher = served
    warm_pid, socket_path, env = warm_process(served)
    # Carol's game in her browser is a fork of the warm process: it opens chapter 0
    carol, games = Browser(url), []
    try:
        assert (await carol.join("Carol"))[0] == 200
        await carol.play(until="Continue: chapter 0", then=[OPEN_CHAPTER, "launch --name carols\r"], then_until="carols (i-",
                         meanwhile=lambda: games.extend(children_of(warm_pid)))
    finally:
        await carol.http.close()
    assert len(games) == 1
    # Bob's game, asked of the warm process as its client asks: a child of it, in his folder
    bob_home = tmp_path / "bob"
    bob = Forked(socket_path, dict(env, CLOUDQUEST_HOME=str(bob_home)), ["play", "big-realization", "--script", "-"],
                 tmp_path / "bob.err")
    assert parent_of(bob.pid) == warm_pid
    os.write(bob.stdin, b"launch --name bobs\n")
    assert bob.status() == 1, (tmp_path / "bob.err").read_text()  # a run that passed no objective
    assert "> launch --name bobs" in bob.out.decode()
    assert "big-realization" in (bob_home / "progress.json").read_text()
    # Carol's run was kept (her game quit when her browser left), in her folder alone
    carols = next(s for s in classroom.students(data) if s.name == "Carol").folder / "replays"
    deadline = time.monotonic() + 30
    while not (carols.is_dir() and any(carols.iterdir())):
        assert time.monotonic() < deadline, "Carol's run was never kept"
        time.sleep(0.05)
    assert "carols" in next(carols.iterdir()).read_text()
    assert not any("bobs" in p.read_text() for p in carols.iterdir())
    assert not any("carols" in p.read_text() for p in (bob_home / "replays").iterdir())

def client(socket_path, *args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """A visitor's game as the server starts it: the warm process's client."""
    from cloudquest import warm

    return subprocess.Popen([sys.executable, "-I", "-S", str(warm.CLIENT), str(socket_path), *args], env=env, cwd=cwd,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@SERVED
def test_a_visitors_game_starts_from_nothing_where_the_warm_process_is_gone_or_refuses(served, tmp_path):
    _pid, socket_path, env = warm_process(served)
    # `python -m cloudquest` run here finds this folder's stand-in first: it says how it was started
    (tmp_path / "cloudquest").mkdir()
    (tmp_path / "cloudquest" / "__init__.py").write_text("")
    (tmp_path / "cloudquest" / "__main__.py").write_text(
        "import os, sys\nprint('from nothing', sys.argv[1:], os.environ['CLOUDQUEST_HOME'], sys.stdin.read())\n")
    stale = tmp_path / "stale.sock"  # a warm process that has gone: its socket, nobody listening
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
        gone.bind(str(stale))
    home = str(tmp_path / "home")
    for path, visitor in (
        (tmp_path / "never-started.sock", dict(env, CLOUDQUEST_HOME=home)),
        (stale, dict(env, CLOUDQUEST_HOME=home)),
        (socket_path, dict(env, CLOUDQUEST_HOME=home, TEXTUAL_FPS="1")),  # read by Textual as it is imported
    ):
        out, err = client(path, "list", "--json", env=visitor, cwd=tmp_path).communicate(b"keys", timeout=30)
        assert out.decode().strip() == f"from nothing ['list', '--json'] {home} keys", err.decode()


@SERVED
def test_the_client_stands_in_for_its_game_exit_status_and_signals(served, tmp_path):
    _pid, socket_path, env = warm_process(served)
    visitor = dict(env, CLOUDQUEST_HOME=str(tmp_path / "home"))
    game = client(socket_path, "play", "no-such-chapter", env=visitor, cwd=tmp_path)
    out, err = game.communicate(timeout=30)
    assert game.returncode == 2 and err.decode().startswith("cloudquest: no chapter 'no-such-chapter'")
    # textual-serve or a terminal signals the process it started: the game gets it and ends
    game = client(socket_path, env=visitor, cwd=tmp_path)
    assert game.stdout.readline() == b"__GANGLION__\n"  # the game runs, under Textual's web driver
    game.send_signal(signal.SIGTERM)
    assert game.wait(timeout=30) == 0  # the game ended as it does on SIGTERM: cleanly
    game.stdout.close()
    game.stdin.close()
    game.stderr.close()
