from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    path.mkdir()
    return path
