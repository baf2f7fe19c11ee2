"""A finished run's rejected records, to page through and to filter by reason, however many.

The records stay in the run's rejects spool files (`report.SpoolWriter`), which are opened
before the run removes its spool folder and read by offset from then on: what is kept in memory
is where each line starts (8 bytes a record) and, per reason code, the records that have it (4
bytes a record and code). `index()` builds that a block at a time, so the first records can be
shown while the rest are found; a line is read and formatted only when it is shown.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from array import array
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from tui_insert.core.jsonio import MAX_DEPTH, loads
from tui_insert.core.report import rejects_spool
from tui_insert.core.rules import given_id, show, visible

if TYPE_CHECKING:
    from tui_insert.core.engine import Run

_BLOCK = 1 << 22
# A spool line is the compact JSON of `reject_entry`, whose last key is "reasons": the last
# `"reasons":[` of a line is its own, whatever the record holds. Inside it, `"code":"` cannot be
# part of a message (a quote in a string is escaped), so each one starts a reason's code.
_LINE = re.compile(rb'[^\n]*"reasons":\[([^\n]*)\]\}\n')
_CODE = re.compile(rb'"code":"([^"]+)"')


class RejectedLine(NamedTuple):
    """One rejected record as the summary lists it."""

    table: str
    position: int
    shown_id: str  # the record's id as given, shortened and safe to show
    reasons: list[tuple[str, str]]  # (code, message safe to show)

    @property
    def text(self) -> str:
        """'users #8 id=8  duplicate_email: alice@example.com is already used by user 1'."""
        why = "; ".join(f"{code}: {message}" for code, message in self.reasons)
        return f"{self.table} #{self.position} id={self.shown_id}  {why}"


class _Table:
    """One table's spool file, and what the index knows of it so far."""

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self.fd = fd
        self.starts = array("q", [0])  # where each line starts, then where the last one ends
        self.by_code: dict[bytes, array[int]] = {}  # reason code -> its records' line numbers
        self.closed = False

    @property
    def lines(self) -> int:
        return 0 if self.closed else len(self.starts) - 1

    def read(self, line: int) -> RejectedLine:
        if self.closed:  # (its descriptor's number may be another file's by now)
            raise IndexError(line)
        start = self.starts[line]
        data = os.pread(self.fd, self.starts[line + 1] - start, start)
        entry = loads(data, MAX_DEPTH + 1)  # the record, wrapped in its entry
        reasons = [(r["code"], visible(r["message"])) for r in entry["reasons"]]
        shown_id = show(given_id(entry.get("record")), 30)
        return RejectedLine(self.name, entry["position"], shown_id, reasons)

    def add_block(self, data: bytes, at: int) -> None:
        """Index the whole lines of `data`, which starts at offset `at` of the file."""
        starts, by_code = self.starts, self.by_code
        line = self.lines
        done = 0
        for match in _LINE.finditer(data):
            if match.start() != done:  # lines not of the expected shape: listed, with no code
                for end in _line_ends(data, done, match.start()):
                    starts.append(at + end)
                    line += 1
            done = match.end()
            starts.append(at + done)  # first: a view of a code may read the line at once
            codes = _CODE.findall(match.group(1))
            for code in codes if len(codes) == 1 else dict.fromkeys(codes):  # a record once
                records = by_code.get(code)
                if records is None:
                    records = by_code[code] = array("I")
                records.append(line)
            line += 1
        for end in _line_ends(data, done, len(data)):
            starts.append(at + end)


def _line_ends(data: bytes, start: int, end: int) -> Iterator[int]:
    while start < end:
        start = data.index(b"\n", start, end) + 1
        yield start


class RejectedView:
    """The rejected records of one table and reason code, or all of them: a sequence that
    grows while the index is being built."""

    def __init__(self, records: RejectedRecords, table: str | None, code: str | None) -> None:
        self._tables = [t for t in records.tables if table is None or t.name == table]
        self.table = table
        self.code = code
        self._code = None if code is None else code.encode()  # as the index keeps it

    def _lines(self, table: _Table) -> array[int] | None:
        """The line numbers of `table` in this view; None: every line."""
        if self._code is None:
            return None
        return _NONE if table.closed else table.by_code.get(self._code, _NONE)

    def __len__(self) -> int:
        count = 0
        for table in self._tables:
            lines = self._lines(table)
            count += table.lines if lines is None else len(lines)
        return count

    def __getitem__(self, index: int) -> RejectedLine:
        if index < 0:
            raise IndexError(index)
        for table in self._tables:
            lines = self._lines(table)
            count = table.lines if lines is None else len(lines)
            if index < count:
                return table.read(index if lines is None else lines[index])
            index -= count
        raise IndexError(index)


_NONE: array[int] = array("I")


class RejectedRecords:
    """The rejected records of a finished run, kept readable after its spool folder is gone
    (the files stay open), until `close()`."""

    def __init__(self, files: dict[str, int]) -> None:
        """`files`: table name -> an open descriptor of its rejects spool file."""
        self.tables = [_Table(name, fd) for name, fd in files.items()]
        self._lock = threading.Lock()  # `index` reads in a thread of its own; `close` waits
        self.indexed = False  # every record found
        self._indexing = False

    @classmethod
    def of(cls, run: Run) -> RejectedRecords:
        """Those of `run`, which must have ended (and not yet been closed)."""
        files: dict[str, int] = {}
        try:
            for name in run.progress:
                files[name] = os.open(rejects_spool(run.spool_dir, name), os.O_RDONLY)
        except BaseException:
            for fd in files.values():
                os.close(fd)
            raise
        return cls(files)

    def index(self, stopped: Callable[[], bool] = lambda: False) -> Iterator[int]:
        """Find every record and its codes, a block at a time; yields the records found so
        far after each block, and once more when all are (`indexed`). Ends early once
        `stopped()`. Once only."""
        if any(table.closed for table in self.tables):
            return
        if self._indexing:
            raise RuntimeError("the rejected records are indexed once")
        self._indexing = True
        found = 0
        for table in self.tables:
            at, rest = 0, b""
            while True:
                if stopped():
                    return
                with self._lock:
                    if table.closed:
                        return
                    # At least as much as the line in hand: a line of many blocks is read in
                    # doubling steps, not copied again for each block.
                    block = os.pread(table.fd, max(_BLOCK, len(rest)), at + len(rest))
                if not block:
                    break
                data = rest + block
                cut = data.rfind(b"\n") + 1
                table.add_block(data[:cut], at)
                at, rest = at + cut, data[cut:]
                yield found + table.lines
            found += table.lines
        self.indexed = True
        yield found

    def view(self, table: str | None = None, code: str | None = None) -> RejectedView:
        """Every record (no table, no code), or those of one table with one reason code."""
        return RejectedView(self, table, code)

    def close(self) -> None:
        """Let go of the files; every view of them is empty from now on."""
        with self._lock:
            for table in self.tables:
                if not table.closed:
                    table.closed = True
                    with contextlib.suppress(OSError):
                        os.close(table.fd)
