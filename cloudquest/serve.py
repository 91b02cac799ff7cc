"""``cloudquest serve``: the terminal game in a web browser, through textual-serve.

textual-serve is a small web server (aiohttp): its page runs a terminal (xterm.js) and
opens a websocket, and for every websocket, one per visitor, it starts its own game
process (``python -m cloudquest`` with Textual's web driver) and relays keys in and the
screen out. So each visitor plays their own game, with the same code as the terminal
game, and a slow or crashed game affects no one else.

It listens on the loopback address (127.0.0.1) unless told otherwise: anyone who can
reach the port can start games on this machine, so opening it wider is the player's
explicit choice (``--host 0.0.0.0``). The games share the user data folder of the user
who runs the server (its progress and replays), as two terminal games do.
"""

from __future__ import annotations

import shlex
import sys

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def game_command() -> str:
    """The command each visitor's game runs: this Python, this CloudQuest."""
    return f"{shlex.quote(sys.executable)} -m cloudquest"


def make_server(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
    """The textual-serve server for the game (not started)."""
    from textual_serve.server import Server

    return Server(game_command(), host=host, port=port, title="CloudQuest")


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the game until interrupted (ctrl+c)."""
    make_server(host, port).serve()
