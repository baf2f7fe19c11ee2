"""`tui-insert serve`: the app as a web page, driven by nobody but its user.

A real server process on a free loopback port; a real websocket client (aiohttp); a real
headless Chromium (Debian's, through Playwright) for the page itself."""

from __future__ import annotations

import asyncio
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    port: int
    token: str
    stderr: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_serving(cwd: Path, *options: str) -> Served:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui_insert", "serve", "--port", str(port), *options],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        line = process.stdout.readline() if ready else ""
        found = re.search(r"(http://\S+\?token=(\S+))", line)
        if found:
            return Served(process, found.group(1), port, found.group(2))
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"no address printed: {process.communicate()}")


def stop_serving(served: Served) -> tuple[int, str]:
    """Ctrl-C, as a person stops it: its exit code and what it said on stderr."""
    served.process.send_signal(signal.SIGINT)
    try:
        _, err = served.process.communicate(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        served.process.kill()
        raise
    served.stderr = err
    return served.process.returncode, err


def apps_of(db_dir: Path) -> list[int]:
    """The processes of apps served on `db_dir` (and their engines' nodes), still running."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "--no-start" in command and str(db_dir) in command:
                pids.append(int(entry.name))
    return pids


@pytest.fixture
def served(tmp_path: Path, db_dir: Path) -> Iterator[Served]:
    server = start_serving(tmp_path, "--db-dir", str(db_dir))
    yield server
    if server.process.poll() is None:
        code, err = stop_serving(server)
        assert code == 0, err
    assert "Traceback" not in server.stderr


def get(url: str, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_page_is_given_only_with_the_token_on_this_machines_own_address(
    served: Served,
) -> None:
    assert served.url == f"{served.base}/?token={served.token}"
    assert len(served.token) >= 32
    status, page = get(served.url)
    assert status == 200
    # The page's websocket carries the token, on the host the page was asked of.
    assert f"ws://127.0.0.1:{served.port}/ws/{served.token}" in page
    assert get(f"http://localhost:{served.port}/?token={served.token}")[0] == 200
    for url in (f"{served.base}/", f"{served.base}/?token=", f"{served.base}/?token=guess"):
        status, text = get(url)
        assert status == 403
        assert "the address that `tui-insert serve` printed" in text
    # A page of another site whose name was made to resolve to this machine (DNS rebinding)
    # names its own host.
    status, text = get(served.url, host=f"attacker.example:{served.port}")
    assert status == 403
    assert "this machine's own address" in text
    with urllib.request.urlopen(served.url, timeout=DEADLINE) as response:
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def connect(served: Served, token: str, origin: str | None) -> tuple[int, bytes]:
    """Open the app's websocket as a page of `origin` would (None: no Origin at all): the
    refusal's status, or 101 and the first bytes the app sent."""
    headers = {"Origin": origin} if origin is not None else {}
    url = f"ws://127.0.0.1:{served.port}/ws/{token}?width=80&height=24"
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers) as ws:
                message = await asyncio.wait_for(ws.receive(), DEADLINE)
                return 101, message.data if isinstance(message.data, bytes) else b""
        except aiohttp.WSServerHandshakeError as e:
            return e.status, b""


async def test_the_websocket_needs_the_token_and_the_servers_own_page(served: Served) -> None:
    own = f"http://127.0.0.1:{served.port}"
    assert (await connect(served, "guess", own))[0] == 403
    assert (await connect(served, served.token[:-1], own))[0] == 403
    # Another web page in the user's browser knows the address but is of another origin.
    assert (await connect(served, served.token, "http://attacker.example"))[0] == 403
    assert (await connect(served, served.token, f"http://localhost:{served.port}"))[0] == 403
    assert (await connect(served, served.token, None))[0] == 403
    status, first = await connect(served, served.token, own)
    assert status == 101
    assert first  # the app's first screen


def test_a_host_other_machines_reach_needs_public(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tui_insert", "serve", "--host", "0.0.0.0", "--port", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "tui-insert: --host 0.0.0.0 lets other machines reach the app, and with it your"
        " databases: add --public if that is what you want\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_port_in_use_is_one_clear_line(served: Served, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tui_insert", "serve", "--port", str(served.port)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert done.returncode == 2
    assert re.fullmatch(
        rf"tui-insert: cannot listen on 127\.0\.0\.1:{served.port}: .+\n", done.stderr
    ), done.stderr


# --- the page in a real browser --------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def screen_text(frames: list[bytes]) -> str:
    """What the app has sent the page, without its terminal control sequences."""
    data = b"".join(frames)
    return re.sub(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]", b"", data).decode("utf-8", "replace")


def rows(db: Path, table: str) -> int:
    if not db.exists():
        return -1
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("TUI_INSERT_REQUIRE_CHROMIUM"),
    reason="no Chromium found (Debian's package: chromium)",
)
def test_a_browser_shows_the_app_and_its_keys_reach_it(
    served: Served, db_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, sync_playwright

    assert CHROMIUM is not None, "no Chromium found, and this run requires it"

    def open_tab(browser: Any) -> tuple[Page, list[bytes]]:
        """A new tab on the printed address, and what its app sends it."""
        frames: list[bytes] = []
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framereceived",
                lambda data: frames.append(data if isinstance(data, bytes) else data.encode()),
            ),
        )
        page.goto(served.url)
        return page, frames

    def shown(page: Page, frames: list[bytes], text: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while text not in screen_text(frames):
            assert time.monotonic() < deadline, f"{text!r} never shown"
            page.wait_for_timeout(100)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page, frames = open_tab(browser)
            for name in ("users.db", "products.db", "orders.db", "r starts one"):
                shown(page, frames, name)
            # A served app starts no run by itself: nothing is written until r.
            assert list(db_dir.iterdir()) == []
            page.click("body")
            page.keyboard.press("r")
            shown(page, frames, "Run completed")  # the summary, once the three panels are done
            assert "done" in screen_text(frames)
            page.screenshot(path=str(tmp_path / "served.png"))
            stored = [rows(db_dir / f"{t}.db", t) for t in ("users", "products", "orders")]
            assert stored == [8, 9, 7]
            # Another tab gets an app of its own, on the same databases: it shows them.
            other, other_frames = open_tab(browser)
            shown(other, other_frames, "8 rows stored")
            assert "Run completed" not in screen_text(other_frames)
            assert apps_of(db_dir)
            # Ctrl-C with the tabs open ends the server and every app it served.
            code, err = stop_serving(served)
            assert code == 0, err
            deadline = time.monotonic() + DEADLINE
            while apps_of(db_dir):
                assert time.monotonic() < deadline, apps_of(db_dir)
                time.sleep(0.05)
        finally:
            browser.close()


def test_ctrl_c_with_no_tab_open_stops_at_once(served: Served) -> None:
    started = time.monotonic()
    code, err = stop_serving(served)
    assert code == 0, err
    assert time.monotonic() - started < 5
    assert "Traceback" not in err


async def test_public_listens_for_other_machines_and_still_wants_token_and_origin(
    tmp_path: Path, db_dir: Path
) -> None:
    server = start_serving(tmp_path, "--host", "0.0.0.0", "--public", "--db-dir", str(db_dir))
    try:
        # The address to give others: the machine's name, not 0.0.0.0.
        name = socket.gethostname()
        assert server.url == f"http://{name}:{server.port}/?token={server.token}"
        assert get(f"{server.base}/?token={server.token}")[0] == 200
        assert get(f"{server.base}/")[0] == 403
        assert (await connect(server, server.token, "http://attacker.example"))[0] == 403
        assert (await connect(server, server.token, server.base))[0] == 101
    finally:
        code, err = stop_serving(server)
    assert code == 0
    assert err.startswith(
        "tui-insert: listening on 0.0.0.0: anyone who has the address below can run and reset"
        " your databases\n"
    ), err
