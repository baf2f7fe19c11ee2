"""The headless report of a run (SPEC §6): plain lines or one JSON document, and the rejects file.

Outcomes arrive chunk by chunk from the workers of three tables at once. Each table's lines are
spooled to a temporary file as they come, so a run of millions of records does not hold its
report in memory; `write` then puts the tables together in order.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

import orjson

from tui_insert.core.engine import ChunkOutcome, Run
from tui_insert.core.rules import BadRecord, Reason, show
from tui_insert.core.tables import TABLES


def dumps(value: Any) -> bytes:
    """JSON bytes; the standard library for integers beyond 64 bits, which orjson refuses."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, default=str).encode()


def _reasons_json(reasons: list[Reason]) -> list[dict[str, str]]:
    return [r.as_dict() for r in reasons]


class Report:
    """Collects a run's outcomes (it is the run's observer) and writes the report at the end."""

    def __init__(self, *, as_json: bool, rejects: IO[bytes] | None = None) -> None:
        self.as_json = as_json
        self._dir = tempfile.TemporaryDirectory(prefix="tui-insert-")
        self._spools = {
            name: open(Path(self._dir.name) / f"{name}.spool", "wb")  # noqa: SIM115
            for name in TABLES
        }
        self._rejects = rejects
        self._rejects_lock = threading.Lock()

    def on_chunk(self, outcome: ChunkOutcome) -> None:
        table = outcome.table
        lines = self._json_lines(outcome) if self.as_json else self._plain_lines(outcome)
        self._spools[table].write(lines)
        if self._rejects is not None:
            rejects = [
                dumps(self._reject(table, outcome.start + i, outcome.given[i], reasons)) + b"\n"
                for i, reasons in enumerate(outcome.reasons)
                if reasons is not None
            ]
            if rejects:
                with self._rejects_lock:
                    self._rejects.write(b"".join(rejects))

    @staticmethod
    def _reject(table: str, position: int, given: Any, reasons: list[Reason]) -> dict[str, Any]:
        entry: dict[str, Any] = {"table": table, "position": position}
        if isinstance(given, BadRecord):
            entry["line"] = given.line
            entry["text"] = given.text
        else:
            entry["record"] = given
        entry["reasons"] = _reasons_json(reasons)
        return entry

    @staticmethod
    def _json_lines(outcome: ChunkOutcome) -> bytes:
        table, start, records = outcome.table, outcome.start, outcome.records
        head = f'{{"table": "{table}", "position": '
        parts = []
        for i, reasons in enumerate(outcome.reasons):
            if reasons is None:
                # An inserted record's id is a valid integer: no need for a JSON encoder.
                parts.append(
                    f'{head}{start + i}, "id": {records[i]["id"]}, "status": "inserted"}}\n'
                )
            else:
                record = {
                    "table": table,
                    "position": start + i,
                    "id": outcome.id_of(i),
                    "status": "rejected",
                    "reasons": _reasons_json(reasons),
                }
                parts.append(dumps(record).decode() + "\n")
        return "".join(parts).encode()

    @staticmethod
    def _plain_lines(outcome: ChunkOutcome) -> bytes:
        table, start, records = outcome.table, outcome.start, outcome.records
        parts = []
        for i, reasons in enumerate(outcome.reasons):
            if reasons is None:
                parts.append(f"{table} #{start + i} id={records[i]['id']} inserted\n")
            else:
                why = "; ".join(f"{r.code}: {r.message}" for r in reasons)
                parts.append(f"{table} #{start + i} id={show(outcome.id_of(i))} rejected  {why}\n")
        return "".join(parts).encode()

    def write(self, run: Run, out: IO[bytes]) -> None:
        """The whole report, once the run has ended."""
        for spool in self._spools.values():
            spool.close()
        spool_paths = [Path(self._dir.name) / f"{name}.spool" for name in TABLES]
        if self.as_json:
            tables = {
                name: {
                    "database": p.database.name,
                    "total": p.processed,
                    "inserted": p.inserted,
                    "rejected": p.rejected,
                }
                for name, p in run.progress.items()
            }
            out.write(b'{\n"tables": ' + dumps(tables) + b',\n"records": [\n')
            # A spooled record is one line (JSON text holds no raw newline): put commas between
            # them, holding back the last block to drop the comma after the last record.
            pending = b""
            for path in spool_paths:
                with open(path, "rb") as f:
                    while block := f.read(1 << 20):
                        out.write(pending)
                        pending = block.replace(b"\n", b",\n")
            if pending:
                out.write(pending[:-2] + b"\n")
            out.write(f'],\n"elapsed_seconds": {run.elapsed:.3f}\n}}\n'.encode())
        else:
            for path in spool_paths:
                with open(path, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            out.write(b"\n" + summary_table(run).encode())

    def close(self) -> None:
        for spool in self._spools.values():
            spool.close()
        self._dir.cleanup()


def summary_table(run: Run) -> str:
    rows = [("database", "total", "inserted", "rejected")]
    for p in run.progress.values():
        rows.append((p.database.name, str(p.processed), str(p.inserted), str(p.rejected)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        )
        for row in rows
    ]
    lines.append(f"{run.state} in {run.elapsed:.2f} s")
    return "\n".join(lines) + "\n"
