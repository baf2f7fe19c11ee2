from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    path.mkdir()
    return path


@pytest.fixture
def used_db_dir(tmp_path: Path) -> Path:
    """A database folder after one sample run: three real databases to protect."""
    db_dir = tmp_path / "db"
    done = subprocess.run(
        [sys.executable, "-m", "tui_insert", "run", "--headless", "--db-dir", str(db_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return db_dir
