"""What a process of a run on SQLite files imports: every node is a new interpreter, and each
module it does not need costs its memory four times over (the run and its three nodes)."""

from __future__ import annotations

import subprocess
import sys


def test_a_run_on_sqlite_files_imports_neither_psycopg_nor_the_browser() -> None:
    code = (
        "import sys\n"
        "import tui_insert.cli, tui_insert.core.node\n"
        "from pathlib import Path\n"
        "from tui_insert.core.stores import store_targets\n"
        "store_targets(Path('.'))\n"
        "heavy = ('psycopg', 'aiosqlite', 'asyncio', 'textual')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_postgresql_uri_brings_psycopg_in() -> None:
    code = (
        "import sys\n"
        "from tui_insert.core.stores import parse_target\n"
        "parse_target('postgresql://u@127.0.0.1:1/db', '--users-db')\n"
        "print('psycopg' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
