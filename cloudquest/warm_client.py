"""A visitor's game under ``cloudquest serve``: hand this process's place to the warm
game process (:mod:`cloudquest.warm`) and stand in for the game it forks.

Run as a file with ``python -I -S warm_client.py SOCKET [ARGS...]``, so it imports only
the standard library and costs a few milliseconds of a core. It connects to the warm
process's unix socket and sends its standard input, output and error (the pipes
textual-serve reads and writes) as file descriptors (SCM_RIGHTS), with its environment,
working folder and ``ARGS``; the warm process forks a child that takes them and runs
``cloudquest ARGS``. This process then waits for the child's exit status and exits with
it, passing on the signals it gets (textual-serve, a shell or a terminal signal the
process they started), so to whoever started it, it is the game.

Where the warm process is not there (not started yet, gone, or it refuses this
environment), nothing was started and this process becomes an ordinary game: it
executes ``python -m cloudquest ARGS``.

The answers on the socket are five bytes each, a tag and a signed 32-bit number:
``P`` the child's process id (the child sends it first thing, so a game that was
started is always known to be), ``S`` its exit status once it has ended (a negative
number: killed by that signal), ``R`` a refusal (start an ordinary game).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import time

ANSWER = struct.Struct("!ci")
FORWARDED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH}


def request(args: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> bytes:
    """What the warm process needs to run the game as this process would (the standard
    streams go beside it, as file descriptors): its length, then JSON."""
    body = json.dumps({
        "argv": ["cloudquest", *args],
        "env": dict(os.environ) if env is None else env,
        "cwd": os.getcwd() if cwd is None else cwd,
    }).encode()
    return struct.pack("!I", len(body)) + body


def plain_start(args: list[str]) -> None:
    """Become an ordinary game (this never returns). A signal that came meanwhile is
    taken now, as it would have been had the game started."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    os.execv(sys.executable, [sys.executable, "-m", "cloudquest", *args])


def read_answer(conn: socket.socket) -> tuple[bytes, int] | None:
    data = b""
    while len(data) < ANSWER.size:
        try:
            chunk = conn.recv(ANSWER.size - len(data))
        except ConnectionError:
            return None
        if not chunk:
            return None
        data += chunk
    return ANSWER.unpack(data)


def exit_as(status: int) -> None:
    """Exit as the game did: with its code, or killed by the same signal."""
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
        time.sleep(1)  # a signal that does not kill by default (SIGCHLD...)
        status = 128 - status
    sys.exit(status)


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: warm_client.py SOCKET [ARGS...]")
    path, args = argv[0], argv[1:]
    # a signal that comes before the game is known waits, then goes to the game
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        message = request(args)
        sent = socket.send_fds(conn, [message], [0, 1, 2])
        conn.sendall(message[sent:])
    except OSError:
        conn.close()
        plain_start(args)
    answer = read_answer(conn)
    if answer is None or answer[0] == b"R":
        conn.close()  # nothing was started: the warm process refused, or went away first
        plain_start(args)
    tag, number = answer
    if tag == b"S":  # the child ended before it could say it had started
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        exit_as(number)
    pid = number
    # the game has the standard streams now: this process lets go of its copies, so
    # their readers see them end when the game ends, whatever becomes of this process
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)

    def forward(signum, _frame) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED:
        signal.signal(signum, forward)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    answer = read_answer(conn)
    if answer is None:
        # the warm process went away; the game goes on without it until it ends
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                sys.exit(1)
            time.sleep(0.5)
    exit_as(answer[1])


if __name__ == "__main__":
    main(sys.argv[1:])
