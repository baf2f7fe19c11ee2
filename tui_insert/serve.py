"""`tui-insert serve`: the app as a web page, with textual-serve, that only its user can drive.

textual-serve starts the command once per browser tab (a websocket) and relays the terminal.
It checks neither who connects nor from which page, so any web page open in the user's browser
could open the websocket on localhost and press keys (`x` empties the databases). So:

- the address printed holds a random token, required for the page (`/?token=…`) and for the
  websocket (`/ws/<token>`), compared in constant time;
- a websocket must come from the server's own page: its Origin must be the address the request
  was made to;
- on a loopback address, the Host a request names must be a loopback name too (a page of
  another site whose name was made to resolve to 127.0.0.1 names its own host);
- every response says `Referrer-Policy: no-referrer` (the page loads a web font: its address,
  with the token, must not go to the font's server) and is not kept in a cache.

Listening on another than a loopback address needs `--public` (the CLI's check).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) is this machine only."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


class GuardedServer(Server):
    """textual-serve's server, with the checks of this module's docstring."""

    def __init__(self, command: str, host: str, port: int, token: str) -> None:
        super().__init__(command, host=host, port=port, title="tui-insert")
        self.token = token
        self.loopback = is_loopback(host)
        # Listening on every address: the address to give is the machine's name, which
        # others can reach it by (0.0.0.0 names no machine).
        shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"http://{shown}:{port}/?token={token}"

    def initialize_logging(self) -> None:
        # Only what goes wrong: not a line per request.
        logging.basicConfig(level=logging.WARNING, format="tui-insert serve: %(message)s")

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(self.templates_path))
        app.add_routes(
            [
                web.get("/", self.handle_index, name="index"),
                web.get("/ws/{token}", self.handle_websocket, name="websocket"),
                web.static("/static", self.statics_path, name="static"),
            ]
        )
        app.on_startup.append(self.on_startup)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = self.refusal(request)
        if refusal is not None:
            return web.Response(status=403, text=f"tui-insert: {refusal}\n")
        response = await handler(request)
        if not response.prepared:  # a websocket's headers are sent already
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["Cache-Control"] = "no-store"
        return response

    def refusal(self, request: web.Request) -> str | None:
        """Why `request` is refused, or None."""
        host = request.host
        if self.loopback and not is_loopback(_name_of(host)):
            return "this server answers only to this machine's own address"
        if request.path.startswith("/static/"):
            return None  # textual-serve's own scripts, styles and fonts: nothing of the user's
        given = request.match_info.get("token") or request.query.get("token") or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return "open the address that `tui-insert serve` printed, with its token"
        if request.path.startswith("/ws/") and request.headers.get("Origin") != f"http://{host}":
            return "the app can only be driven from its own page"
        return None

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        """The page, as textual-serve's, with the websocket's address (token included) on
        the host the page was asked of."""
        host = request.host
        try:
            font_size = int(request.query.get("fontsize", "16"))
        except ValueError:
            font_size = 16
        context: dict[str, Any] = {
            "font_size": font_size,
            "app_websocket_url": f"ws://{host}/ws/{self.token}",
            "config": {"static": {"url": f"http://{host}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def on_startup(self, app: web.Application) -> None:
        print(f"tui-insert: serving the app at {self.url}", flush=True)
        print("tui-insert: each browser tab gets its own app; Ctrl-C stops", flush=True)


def _name_of(host: str) -> str:
    """The name in a Host header, without its port: `[::1]:8000` → `[::1]`."""
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if ":" in host else host
