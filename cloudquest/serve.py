"""``cloudquest serve``: the terminal game in web browsers, for a class, through textual-serve.

textual-serve is a small web server (aiohttp): its page runs a terminal (xterm.js) and
opens a websocket, and for every websocket, one per visitor, it starts its own game
process (``python -m cloudquest`` with Textual's web driver) and relays keys in and the
screen out. So each visitor plays their own game, with the same code as the terminal
game, and a slow or crashed game affects no one else. Those processes are forks of one
warm process (:mod:`cloudquest.warm`) that has already imported the game and read the
chapters, so a game starts in a fraction of the time; without it (``--no-warm``, or
while it is not there) each starts from nothing.

For a class (:mod:`cloudquest.game.classroom`): a visitor names themself on first visit
and gets a token, kept by the browser as a cookie (or handed out by the teacher as a
``/join/<token>`` link); their games run with ``CLOUDQUEST_HOME`` set to their own
folder under the server's data folder, so a reload finds their progress and replays. The
teacher's page (``/teacher?token=...``, the token printed at start-up) lists every
student, read-only, as a table or CSV. The page asks nothing of the internet: the font
and scripts come from this server.

It listens on the loopback address (127.0.0.1) unless told otherwise: anyone who can
reach the port can start games on this machine, so opening it wider is the teacher's
explicit choice (``--host 0.0.0.0``).
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import logging
import shlex
import sys
from pathlib import Path

from .game import classroom
from .game.classroom import ClassroomError, Student

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
COOKIE = "cloudquest_student"
COOKIE_MAX_AGE_S = 365 * 24 * 3600
TEMPLATES = Path(__file__).resolve().parent / "serve_templates"

log = logging.getLogger("textual-serve")


def game_command() -> str:
    """The command each visitor's game runs: this Python, this CloudQuest."""
    return f"{shlex.quote(sys.executable)} -m cloudquest"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CloudQuest{title}</title>{head}
<style>
body {{ background: #0c181f; color: #e8eef2; font: 16px/1.5 menlo, monospace; margin: 2em; }}
input, button {{ font: inherit; padding: .3em .6em; }} .error {{ color: #ff8080; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #345; padding: .2em .6em; text-align: left; }}
a {{ color: #9cf; }}
</style></head><body>{body}</body></html>
"""


# The teacher's page asks for the class's table every TABLE_POLL_MS; the server answers
# "not modified" (a few file times looked at) until a student's files change.
TABLE_POLL_MS = 2000
LIVE_TABLE_SCRIPT = """<script>
(() => {
  const box = document.getElementById("class");
  const url = new URL(location.href);
  url.searchParams.set("format", "table");
  let etag = box.dataset.etag;
  setInterval(async () => {
    try {
      const r = await fetch(url, {headers: {"If-None-Match": etag}, cache: "no-store"});
      if (r.status === 200) { box.innerHTML = await r.text(); etag = r.headers.get("ETag") || etag; }
    } catch (e) { /* the server is away: try again at the next turn */ }
  }, %d);
})();
</script>""" % TABLE_POLL_MS


def page(body: str, title: str = "", head: str = "") -> str:
    return _PAGE.format(body=body, title=f": {html.escape(title)}" if title else "", head=head)


def name_form(error: str = "", name: str = "") -> str:
    said = f'<p class="error" id="error">{html.escape(error)}</p>' if error else ""
    return page(
        "<h1>CloudQuest</h1><p>Your name, to keep your progress in a folder of your own "
        "(letters, digits, - or _):</p>"
        f'<form method="post" action="join"><input name="name" autofocus maxlength="64" value="{html.escape(name)}">'
        f' <button type="submit">Play</button></form>{said}',
        "your name",
    )


def make_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, data_dir: Path | None = None,
                public_url: str | None = None, warm: bool = True):
    """The server for a class (not started); with ``warm``, the games are forks of a warm
    process started with the server."""
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    class StudentGame(AppService):
        """One student's game: textual-serve's process, in the student's own folder."""

        def __init__(self, *args, student: Student, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.student = student

        def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
            environment = super()._build_environment(width, height)
            environment["CLOUDQUEST_HOME"] = str(self.student.folder)
            return environment

    class ClassroomServer(Server):
        def __init__(self) -> None:
            super().__init__(game_command(), host=host, port=port, title="CloudQuest",
                             public_url=public_url, templates_path=TEMPLATES)
            self.data_dir = Path(data_dir) if data_dir else classroom.default_data_dir()
            self.teacher_token = classroom.new_teacher_token(self.data_dir)
            self.warm_process = None

        def student_of(self, request) -> Student | None:
            return classroom.by_token(self.data_dir, request.cookies.get(COOKIE))

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.router.add_post("/join", self.handle_join)
            app.router.add_get("/join/{token}", self.handle_join_link)
            app.router.add_get("/teacher", self.handle_teacher)
            app.on_cleanup.append(self.stop_warm_process)
            return app

        def games_environment(self) -> dict[str, str]:
            """What textual-serve gives every game (before the student's folder)."""
            async def nothing(*_args) -> None:
                return None

            service = AppService(self.command, write_bytes=nothing, write_str=nothing, close=nothing,
                                 download_manager=self.download_manager, debug=self.debug)
            return service._build_environment()

        async def stop_warm_process(self, app) -> None:
            if self.warm_process is not None:
                self.warm_process.stop()

        async def handle_index(self, request):
            if self.student_of(request) is None:
                return web.Response(text=name_form(), content_type="text/html")
            return await Server.handle_index(self, request)

        async def handle_join(self, request):
            form = await request.post()
            name = str(form.get("name", ""))[:200]
            try:
                student = classroom.join(self.data_dir, name)
            except ClassroomError as exc:
                return web.Response(text=name_form(str(exc), name[:64]), content_type="text/html", status=400)
            except OSError as exc:
                return web.Response(text=name_form(f"could not make your folder: {exc.strerror or exc}"),
                                    content_type="text/html", status=500)
            return self._welcome(student)

        async def handle_join_link(self, request):
            student = classroom.by_token(self.data_dir, request.match_info["token"])
            if student is None:
                return web.Response(text=name_form("that link is not one of this class's"),
                                    content_type="text/html", status=404)
            return self._welcome(student)

        def _welcome(self, student: Student):
            response = web.HTTPSeeOther("/")
            response.set_cookie(COOKIE, student.token, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="Strict")
            return response

        async def handle_teacher(self, request):
            import hmac

            token = request.query.get("token", "")
            if not hmac.compare_digest(token.encode(), self.teacher_token.encode()):
                return web.Response(text=page("<p>The teacher's page needs the token printed when the server "
                                              "started.</p>"), content_type="text/html", status=403)
            wanted = request.query.get("format")
            if wanted == "csv":
                header, rows = classroom.report_rows(classroom.report(self.data_dir))
                return web.Response(text=to_csv(header, rows), content_type="text/csv")
            # the page asks for the table every few seconds: the files' times tell whether
            # anything changed, and only then is the class read again
            etag = f'"{classroom.stamp(self.data_dir)}"'
            if wanted == "table" and request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            table = self.class_table()
            if wanted == "table":
                return web.Response(text=table, content_type="text/html", headers={"ETag": etag, "Cache-Control": "no-cache"})
            body = (
                f'<div id="class" data-etag="{html.escape(etag)}">{table}</div>'
                f'<p>Kept up to date as the students play. <a href="?token={html.escape(token)}&format=csv">CSV</a>. '
                "A student's link opens their games in another browser: hand it only to them.</p>"
                + LIVE_TABLE_SCRIPT
            )
            # without scripts, the page reloads itself
            head = '<noscript><meta http-equiv="refresh" content="10"></noscript>'
            return web.Response(text=page(body, "the class", head), content_type="text/html",
                                headers={"Cache-Control": "no-store"})

        def class_table(self) -> str:
            header, rows = classroom.report_rows(classroom.report(self.data_dir))
            links = {s.name: f"/join/{s.token}" for s in classroom.students(self.data_dir)}
            cells = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row)
                + f'<td><a href="{html.escape(links.get(row[0], ""))}">link</a></td></tr>'
                for row in rows
            )
            return (
                f"<h1>CloudQuest: the class ({len(rows)} student{'' if len(rows) == 1 else 's'})</h1>"
                "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "<th>their link</th></tr>"
                + cells + "</table>"
            )

        async def handle_websocket(self, request):
            # textual-serve's own, with the student's folder for the game
            student = self.student_of(request)
            if student is None:
                raise web.HTTPForbidden(text="name yourself first: open the page again")
            websocket = web.WebSocketResponse(heartbeat=15)
            width = _to_int(request.query.get("width", "80"), 80)
            height = _to_int(request.query.get("height", "24"), 24)
            app_service = None
            try:
                await websocket.prepare(request)
                app_service = StudentGame(
                    self.command,
                    write_bytes=websocket.send_bytes,
                    write_str=websocket.send_str,
                    close=websocket.close,
                    download_manager=self.download_manager,
                    debug=self.debug,
                    student=student,
                )
                await app_service.start(width, height)
                try:
                    await self._process_messages(websocket, app_service)
                finally:
                    await app_service.stop()
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:  # noqa: BLE001 - one student's game must not take the server down
                log.exception(error)
            finally:
                if app_service is not None:
                    await app_service.stop()
            return websocket

        async def on_startup(self, app) -> None:
            from . import warm as warm_mod

            if warm and warm_mod.available():
                self.warm_process = warm_mod.WarmProcess(self.games_environment())
                self.command = self.warm_process.command
            self.console.print(f"CloudQuest for a class on {self.public_url}/")
            self.console.print(f"Students' folders: {classroom.students_dir(self.data_dir)}")
            self.console.print(f"The teacher's page: {self.public_url}/teacher?token={self.teacher_token}")
            self.console.print("Press Ctrl+C to stop.")
            self.console.file.flush()  # at once, where the output is a pipe or a log file too

    return ClassroomServer()


def _to_int(value: str, default: int) -> int:
    try:
        return max(1, min(int(value), 1000))
    except ValueError:
        return default


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, data_dir: Path | None = None,
          public_url: str | None = None, warm: bool = True) -> None:
    """Serve the game until interrupted (ctrl+c)."""
    make_server(host, port, data_dir, public_url, warm).serve()
