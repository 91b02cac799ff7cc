"""The game in a real web browser: `cloudquest serve` (textual-serve) driven by headless
Chromium through Playwright. The page asks the student's name, the game starts in their
folder, keys reach it without a click, a command typed on the keyboard runs and its
answer is drawn, and no request leaves the machine.

Debian's chromium is the browser (Playwright never downloads one: this machine has no
network but the package registries). Where it is missing the test skips and says why;
`.ci/run` installs it, so CI runs this test.

The screen is drawn on a canvas, so what the browser drew is read from what the game
sent it over the websocket (the terminal's own byte stream, escape sequences removed),
and a screenshot before and after shows the screen changed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from served import free_port, stop, wait_port

CHROMIUM = Path(os.environ.get("CLOUDQUEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Escape sequences in the terminal stream: CSI (colours, cursor moves), charset selects,
# keypad modes, OSC.
ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>78]|\x1b\][^\x07]*\x07")


def _missing() -> str:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        return "textual-serve is not installed"
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return f"no chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run installs it)"
    return ""


pytestmark = pytest.mark.skipif(bool(_missing()), reason=_missing() or "ready")


class Screen:
    """What the game sent the browser's terminal, as text. Playwright's sync API hands
    over websocket frames only while it is called, so waiting is done in the page."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.page = None

    def received(self, payload) -> None:
        self.frames.append(payload if isinstance(payload, bytes) else payload.encode())

    def text(self, since: int = 0) -> str:
        return ESCAPES.sub(b"", b"".join(self.frames[since:])).decode("utf-8", "replace")

    def wait_for(self, needle: str, since: int = 0, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while needle not in self.text(since):
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never reached the browser; last: {self.text(since)[-600:]!r}")
            self.page.wait_for_timeout(100)


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = dict(os.environ, CLOUDQUEST_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudquest", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)


def test_the_game_plays_in_a_headless_browser(server, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    screen = Screen()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 640})
            screen.page = page
            page.on("websocket", lambda ws: ws.on("framereceived", screen.received))
            offsite: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(server) else offsite.append(r.url))
            page.goto(server, wait_until="domcontentloaded")
            # the student names themself, and the game's page opens
            page.fill("input[name=name]", "ada")
            page.click("button[type=submit]")
            # the title screen, once the chapters are loaded
            screen.wait_for("Continue: chapter 0")
            page.keyboard.press("c")  # no click first: the terminal has the keyboard
            screen.wait_for("paused (F2 runs)")  # chapter 0 opens, its clock paused
            before = page.screenshot(path=str(tmp_path / "before.png"))
            mark = len(screen.frames)
            page.keyboard.type("launch --name web")
            page.keyboard.press("Enter")
            screen.wait_for("web (i-", since=mark)  # the console's answer
            screen.wait_for("pending on host", since=mark)
            page.wait_for_timeout(500)
            after = page.screenshot(path=str(tmp_path / "after.png"))
            assert before != after  # the browser drew it
            assert offsite == []  # the font and scripts came from the server
            assert (tmp_path / "home" / "classroom" / "students" / "ada" / "student.json").is_file()
        finally:
            browser.close()
