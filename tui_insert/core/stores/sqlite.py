"""A dataset's store in a SQLite file: the embedded default (SPEC §2)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tui_insert.core.browse import DatabaseReader
from tui_insert.core.identity import side_files


@dataclass(frozen=True)
class SqliteTarget:
    path: Path

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.path, *side_files(self.path))

    def clashes_with(self, other: object) -> bool:
        if not isinstance(other, SqliteTarget):
            return False
        if self.path.absolute() == other.path.absolute():
            return True
        try:
            return os.path.samefile(self.path, other.path)
        except OSError:
            return False

    def exists(self) -> bool:
        return self.path.is_file()

    def browser(self) -> DatabaseReader:
        return DatabaseReader(self.path)
