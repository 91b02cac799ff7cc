"""The warm game process of ``cloudquest serve``: every visitor's game is a fork of one
process that has already imported the game and read the chapters.

Starting a game from nothing is mostly Python's own work: importing Textual and
CloudQuest (pydantic building every chapter and world model), then reading and
validating the chapter files, about a second and a half of a core before the title
screen. A class of forty arriving within a minute would spend most of a two-core
machine on that alone. So the server starts this process once (:class:`WarmProcess`),
listening on a unix socket in a folder only the server's user can open. It does that
work once (:func:`warm_up`), then a game forked from it costs what Textual's first
screens cost (about half a second of a core to chapter 0's screen). A visitor's game is the small client :mod:`cloudquest.warm_client`, which hands
over its standard input, output and error (the pipes textual-serve reads and writes) as
file descriptors, with its environment, arguments and working folder. This process forks
a child for it; the child takes those as its own and runs ``cloudquest ARGS`` exactly as
``python -m cloudquest`` would, and its exit status goes back to the client, which exits
with it. The idea is Android's zygote, or the forkserver of Python's multiprocessing,
with the standard streams handed over.

What a child must not share with its siblings, and how it does not:

- the student: their folder (``CLOUDQUEST_HOME``) and everything else come from the
  visitor's environment, which replaces the child's before the game starts; the
  catalogue kept here holds the shipped chapters only, never a student's own, and a
  shipped file that changed since is read again (:func:`~cloudquest.game.chapters.warm_shipped`);
- randomness: Python's ``random`` reseeds itself in a forked child, and the game's seeds
  come from the operating system (``SystemRandom``); what stays shared is the hash seed
  of str keys (``PYTHONHASHSEED``), which only guards a process against crafted keys;
- open files: the child closes this process's socket and pipes before it runs the game,
  and no thread or event loop exists here to be copied half-way;
- what Textual and the game read from the environment when they are imported
  (``TEXTUAL_*``, the mechanism plug-ins): a request whose environment differs from
  this process's in anything but the student's folder and the terminal's size is
  refused, and the client starts an ordinary game.

The socket listens from the server's start, so a game asked for while this process
warms up waits for it; a client that finds nobody listening (this process is gone)
starts an ordinary game. The process ends when the server does: its standard input is a
pipe from the server, and its end means the server is gone.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import selectors
import shlex
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .warm_client import ANSWER

# What may differ between the visitors' environments and this process's own: nothing
# reads these when it is imported.
PER_VISITOR = frozenset({"CLOUDQUEST_HOME", "COLUMNS", "ROWS"})
# What the game imports on its way to a chapter screen (the rest of what they import
# comes along).
PRELOAD = (
    "cloudquest.cli",
    "cloudquest.tui.app",
    "cloudquest.game.session",
    "cloudquest.game.progress",
    "textual.drivers.web_driver",
)
MAX_REQUEST_BYTES = 1 << 20
REQUEST_TIMEOUT_S = 5.0
KILL_AFTER_S = 5.0  # a game whose client went away: SIGTERM, then SIGKILL this much later
SOCKET_NAME = "games.sock"
CLIENT = Path(__file__).resolve().parent / "warm_client.py"


@dataclass
class Request:
    argv: list[str]
    env: dict[str, str]
    cwd: str
    fds: list[int]


class Refused(Exception):
    """A request this process will not serve (the client starts an ordinary game)."""


def available() -> bool:
    """Whether this system can fork a warm process and hand it file descriptors (not on
    Windows)."""
    return hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds")


def client_command(socket_path: Path | str) -> str:
    """The shell command of a visitor's game: the client, with the warm process's socket."""
    return " ".join(shlex.quote(p) for p in (sys.executable, "-I", "-S", str(CLIENT), str(socket_path)))


def warm_up() -> None:
    """Everything a game does on its way to a chapter screen that is the same for every
    student: the imports, the mechanisms' tables and the shipped chapters."""
    for name in PRELOAD:
        importlib.import_module(name)
    import pkgutil

    from .game import mechanism
    from .game.chapters import warm_shipped
    from .tui import screens

    for module in pkgutil.iter_modules(screens.__path__):
        importlib.import_module(f"{screens.__name__}.{module.name}")
    for table in (mechanism.command_table, mechanism.id_sources, mechanism.view_texts, mechanism.view_widgets,
                  mechanism.event_table, mechanism.fault_kinds):
        table()
    warm_shipped()
    # what exists now is kept for good: the collector never touches (so never copies)
    # the pages every child shares with this process
    gc.collect()
    gc.freeze()


# -- the server's side -------------------------------------------------------------------
class WarmProcess:
    """The warm process, started by the server with the environment the visitors' games
    get (less what is each visitor's own); :meth:`stop` ends it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="cloudquest-warm-"))  # 0700: this user's alone
        self.socket_path = self.folder / SOCKET_NAME
        # listening from now on: a game asked for while the process starts and warms up
        # waits for it; once it is gone, nobody listens and a game starts from nothing
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(self.socket_path))
            listener.listen(128)
            self.process = subprocess.Popen(
                # the socket's path only names it, for whoever reads the process list
                [sys.executable, "-m", "cloudquest.warm", str(listener.fileno()), str(self.socket_path)],
                env={k: v for k, v in env.items() if k not in PER_VISITOR},
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, pass_fds=[listener.fileno()],
            )

    @property
    def command(self) -> str:
        return client_command(self.socket_path)

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the warm process (the games forked from it go on until they end)."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.terminate()  # it may be warming up, and not reading its input yet
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        finally:
            self.socket_path.unlink(missing_ok=True)
            try:
                self.folder.rmdir()
            except OSError:
                pass


# -- the warm process --------------------------------------------------------------------
def read_request(conn: socket.socket) -> Request:
    conn.settimeout(REQUEST_TIMEOUT_S)
    data, fds, _flags, _addr = socket.recv_fds(conn, 64 * 1024, 3)
    try:
        if len(fds) != 3:
            raise Refused("a request hands over three file descriptors")
        while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
            if len(data) >= 4 and struct.unpack("!I", data[:4])[0] > MAX_REQUEST_BYTES:
                raise Refused("the request is too large")
            chunk = conn.recv(64 * 1024)
            if not chunk:
                raise Refused("the request was cut short")
            data += chunk
        body = json.loads(data[4:])
        request = Request(list(map(str, body["argv"])), {str(k): str(v) for k, v in body["env"].items()},
                          str(body["cwd"]), fds)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    if differs := sorted(k for k in set(request.env) | set(os.environ)
                         if k not in PER_VISITOR and request.env.get(k) != os.environ.get(k)):
        for fd in fds:
            os.close(fd)
        raise Refused(f"the environment differs in {', '.join(differs)}")
    return request


def answer(conn: socket.socket, tag: bytes, number: int) -> None:
    try:
        conn.sendall(ANSWER.pack(tag, number))
    except OSError:
        pass


def refuse(conn: socket.socket, reason: Exception) -> None:
    """Say no: the client starts an ordinary game (and the server's log says why)."""
    print(f"cloudquest warm: an ordinary start instead: {reason}", file=sys.stderr, flush=True)
    answer(conn, b"R", 0)
    conn.close()


class Forks:
    """The loop of the warm process: accept a request, fork its game, report its end."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.games: dict[int, socket.socket] = {}  # a running child -> its client's connection
        self.kill_at: dict[int, float] = {}  # a child whose client went away -> when to SIGKILL it
        self.wake_r, self.wake_w = os.pipe()

    def serve(self) -> Request | None:
        """Serve until the server goes away (None); in a forked child, its request."""
        for fd in (self.wake_r, self.wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector through the pipe
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.selector.register(0, selectors.EVENT_READ)  # the server's pipe
        while True:
            timeout = max(0.0, min(self.kill_at.values()) - time.monotonic()) if self.kill_at else None
            for key, _events in self.selector.select(timeout):
                if key.fileobj is self.listener:
                    if (request := self.accept()) is not None:
                        return request  # the child
                elif key.fileobj == 0:
                    if not os.read(0, 4096):
                        return None
                elif key.fileobj == self.wake_r:
                    while True:
                        try:
                            if not os.read(self.wake_r, 4096):
                                break
                        except BlockingIOError:
                            break
                else:
                    self.client_spoke(key.fileobj, key.data)
            self.reap()
            self.kill_late()

    def accept(self) -> Request | None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return None
        try:
            request = read_request(conn)
        except (Refused, OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            return refuse(conn, exc)
        try:
            pid = os.fork()
        except OSError as exc:  # no room for another process: the client tries on its own
            for fd in request.fds:
                os.close(fd)
            return refuse(conn, exc)
        if pid == 0:
            self.become_game(conn, request)
            return request
        for fd in request.fds:
            os.close(fd)
        self.games[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)
        return None

    def become_game(self, conn: socket.socket, request: Request) -> None:
        """In the forked child: drop everything of this process, take the visitor's."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.selector.close()
        self.listener.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        for other in self.games.values():
            other.close()
        answer(conn, b"P", os.getpid())  # first thing: a game has started
        conn.close()
        for target, fd in enumerate(request.fds):
            os.dup2(fd, target)
        for fd in request.fds:
            if fd > 2:
                os.close(fd)
        os.environ.clear()
        os.environ.update(request.env)
        os.chdir(request.cwd)
        sys.argv = request.argv

    def client_spoke(self, conn: socket.socket, pid: int) -> None:
        """A client's connection is readable: it went away (a client sends nothing more)."""
        try:
            gone = not conn.recv(64)
        except OSError:
            gone = True
        if gone:
            self.selector.unregister(conn)
            if pid in self.games:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                self.kill_at[pid] = time.monotonic() + KILL_AFTER_S

    def reap(self) -> None:
        while self.games:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.games.pop(pid, None)
            self.kill_at.pop(pid, None)
            if conn is not None:
                answer(conn, b"S", os.waitstatus_to_exitcode(status))
                try:
                    self.selector.unregister(conn)
                except (KeyError, ValueError):
                    pass
                conn.close()

    def kill_late(self) -> None:
        now = time.monotonic()
        for pid, when in list(self.kill_at.items()):
            if when <= now:
                del self.kill_at[pid]
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print("usage: python -m cloudquest.warm FD SOCKET (a listening unix socket from the server, its path)",
              file=sys.stderr)
        return 2
    try:
        listener = socket.socket(fileno=int(argv[0]))
        warm_up()
        request = Forks(listener).serve()
    except KeyboardInterrupt:  # ctrl+c in the server's terminal reaches this process too
        return 0
    if request is None:  # the server is gone: so is its socket, whoever ends first
        Path(argv[1]).unlink(missing_ok=True)
        return 0
    # the visitor's game, as ``python -m cloudquest`` runs it
    from .cli import main as cloudquest

    return cloudquest()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
