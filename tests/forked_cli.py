"""The command line in a process of its own, started by fork rather than by a fresh
interpreter.

``python -m cloudquest`` spends most of its start importing the game (pydantic building
every mechanism's world model). A test suite that starts the command line a hundred times
pays that a hundred times. Here a forkserver imports the game once; every run is a child
forked from it, single-threaded, with its own environment, its own standard streams
(files, so nothing is lost to a full pipe), an address-space limit and an exit code, and
it runs exactly what ``python -m cloudquest`` runs: ``sys.exit(cloudquest.cli.main())``
with ``sys.argv`` set. An exception that escapes prints its traceback, as the interpreter
would, so a test that looks for "Traceback" still finds one.

What needs a fresh interpreter (capabilities dropped before exec, a closed pipe at
start-up, a pseudo-terminal) still uses ``subprocess``.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["cloudquest.cli", "cloudquest.game.session", "cloudquest.game.chapters"])
        _CONTEXT = ctx
    return _CONTEXT


def _child(args: list[str], env: dict[str, str], streams: tuple[str, str, str], memory: int, close_stdin: bool, cwd: str | None) -> None:
    import io
    import resource
    import traceback

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    stdin, stdout, stderr = streams
    for fd, path, flags in ((0, stdin, os.O_RDONLY), (1, stdout, os.O_WRONLY), (2, stderr, os.O_WRONLY)):
        opened = os.open(path, flags)
        os.dup2(opened, fd)
        os.close(opened)
    encoding = env.get("PYTHONIOENCODING", "utf-8")
    if close_stdin:
        os.close(0)
        sys.stdin = None
    else:
        sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=encoding)
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding=encoding)
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding=encoding, errors="backslashreplace", line_buffering=True)
    sys.argv = ["cloudquest", *args]
    code: int | str | None
    try:
        from cloudquest.cli import main

        code = main()
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # what the interpreter would print for an escaped exception
        traceback.print_exc()
        code = 1
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code or 0)


class Started:
    """A command line started by :func:`start`, running on its own."""

    def __init__(self, proc, folder: tempfile.TemporaryDirectory, streams: tuple[str, str, str]):
        self.proc, self._folder, self._streams = proc, folder, streams
        self._start = time.perf_counter()

    def wait(self, timeout: float = 30) -> tuple[int, bytes, bytes, float]:
        """Its exit code, what it wrote to stdout and stderr, and the seconds it took."""
        self.proc.join(timeout)
        try:
            if self.proc.exitcode is None:
                self.proc.kill()
                self.proc.join()
                raise TimeoutError(f"the command line ran over {timeout} s")
            seconds = time.perf_counter() - self._start
            return self.proc.exitcode, Path(self._streams[1]).read_bytes(), Path(self._streams[2]).read_bytes(), seconds
        finally:
            self._folder.cleanup()


def start(args: list[str], env: dict[str, str], stdin: bytes = b"", memory: int = 1 << 30, close_stdin: bool = False, cwd: str | os.PathLike | None = None) -> Started:
    """Start the command line with ``args`` and ``env`` (the whole environment)."""
    folder = tempfile.TemporaryDirectory(prefix="cq-forked-")
    streams = tuple(str(Path(folder.name) / name) for name in ("stdin", "stdout", "stderr"))
    Path(streams[0]).write_bytes(stdin)
    Path(streams[1]).write_bytes(b"")
    Path(streams[2]).write_bytes(b"")
    proc = _context().Process(target=_child, args=(list(args), dict(env), streams, memory, close_stdin, None if cwd is None else str(cwd)))
    proc.start()
    return Started(proc, folder, streams)


def run(args: list[str], env: dict[str, str], stdin: bytes = b"", memory: int = 1 << 30, close_stdin: bool = False, timeout: float = 30, cwd: str | os.PathLike | None = None) -> tuple[int, bytes, bytes, float]:
    """Run the command line to its end: its exit code, what it wrote to stdout and
    stderr, and the seconds it took."""
    return start(args, env, stdin, memory, close_stdin, cwd).wait(timeout)


def completed(*args: str, stdin: str | None = None, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """:func:`run` in the environment of the test, its output as text: what
    ``subprocess.run([sys.executable, "-m", "cloudquest", *args], text=True, ...)`` gives."""
    code, out, err, _ = run(list(args), dict(os.environ), stdin=(stdin or "").encode(), cwd=cwd)
    return subprocess.CompletedProcess(["cloudquest", *args], code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
