"""The headless report of a run (SPEC §6): plain lines or one JSON document, and the rejects file.

Each table's node writes its outcomes to a spool file as its chunks commit (`SpoolWriter`), so a
run of millions of records holds no report in memory; when the run has ended, `write_report`
puts the tables together in order.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

import msgspec
import orjson

from tui_insert.core.errors import StoreError, StoreUnavailable
from tui_insert.core.jsonio import dumps
from tui_insert.core.rules import BadRecord, Reason, given_id, show, visible

if TYPE_CHECKING:
    from tui_insert.core.engine import Run


def _reasons_json(reasons: list[Reason]) -> list[dict[str, str]]:
    return [r.as_dict() for r in reasons]


def reject_entry(table: str, position: int, given: Any, reasons: list[Reason]) -> dict[str, Any]:
    """A line of the rejects file: the record as given, with its reasons."""
    entry: dict[str, Any] = {"table": table, "position": position}
    if isinstance(given, BadRecord):
        entry["line"] = given.line
        entry["text"] = given.text
    else:
        entry["record"] = given
    entry["reasons"] = _reasons_json(reasons)
    return entry


class SpoolWriter:
    """Writes one table's outcome lines (JSON or plain) and rejects lines as chunks commit.

    A chunk's lines are written whole or not at all: a write that fails (a full disk) is cut
    back to where the chunk began and raised as StoreUnavailable, to be tried again."""

    def __init__(
        self,
        table: str,
        spool_dir: Path,
        *,
        as_json: bool,
        rejects: bool = True,
        outcomes: bool = True,
    ) -> None:
        """`rejects`: whether to write the rejected records as given at all; `outcomes`:
        whether to write the outcome lines (a run without them has no report to write)."""
        self.table = table
        self.as_json = as_json
        self.label = str(spool_dir)
        # Unbuffered: a chunk's lines go to the file in one write, so a failed one is known.
        self._outcomes: IO[bytes] | None = (
            open(outcome_spool(spool_dir, table), "wb", buffering=0)  # noqa: SIM115
            if outcomes
            else None
        )
        self._rejects: IO[bytes] | None = (
            open(rejects_spool(spool_dir, table), "wb", buffering=0)  # noqa: SIM115
            if rejects
            else None
        )

    def write_chunk(
        self,
        start: int,
        given: Sequence[Any],
        records: list[Any],
        reasons: list[list[Reason] | None],
    ) -> None:
        table = self.table
        writes: list[tuple[IO[bytes], bytes]] = []
        if self._outcomes is not None:
            lines = _json_lines if self.as_json else _plain_lines
            writes.append((self._outcomes, lines(table, start, records, reasons)))
        if self._rejects is not None:
            rejects = [
                dumps(reject_entry(table, start + i, given[i], why)) + b"\n"
                for i, why in enumerate(reasons)
                if why is not None
            ]
            if rejects:
                writes.append((self._rejects, b"".join(rejects)))
        ends = [(file, file.tell()) for file, _ in writes]
        try:
            for file, data in writes:
                write_whole(file.fileno(), data)
        except OSError as e:
            for file, end in ends:  # nothing of the chunk stays
                file.truncate(end)
                file.seek(end)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StoreUnavailable(self.label, "disk full", e.strerror or "") from None
            raise StoreError(
                f"{self.label}: cannot write the run's outcomes: {e.strerror}"
            ) from None

    def close(self) -> None:
        if self._outcomes is not None:
            self._outcomes.close()
        if self._rejects is not None:
            self._rejects.close()


def write_whole(fd: int, data: bytes) -> None:
    """Write every byte of `data` to `fd` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def outcome_spool(spool_dir: Path, table: str) -> Path:
    return spool_dir / f"{table}.outcomes"


def rejects_spool(spool_dir: Path, table: str) -> Path:
    return spool_dir / f"{table}.rejects"


def _lines(
    inserted: bytes,
    rejected: Callable[[int, Any, list[Reason]], bytes],
    start: int,
    records: list[Any],
    reasons: list[list[Reason] | None],
) -> bytes:
    """One line per record: `inserted % (position, id)` for the inserted ones (formatted in
    bulk: they are most of the records), `rejected(position, record, reasons)` for the rest."""
    ids = [r["id"] if why is None else 0 for r, why in zip(records, reasons, strict=True)]
    lines = list(map(inserted.__mod__, zip(range(start, start + len(ids)), ids, strict=True)))
    for i, why in enumerate(reasons):
        if why is not None:
            lines[i] = rejected(start + i, records[i], why)
    return b"".join(lines)


def _json_lines(
    table: str, start: int, records: list[Any], reasons: list[list[Reason] | None]
) -> bytes:
    # One record a line, each ending with the comma that separates the records of the report:
    # JSON text holds no raw newline, and `write_report` copies the lines as they are (but the
    # last comma). The bytes are those of `dumps` of the line as a dict (the test of this module
    # compares them), put together from templates: a rerun rejects every record.
    templates = _rejected_templates(table)
    encode = _encode_text
    head = b'{"table":%s,"position":%%d,"id":%%s,"status":"rejected","reasons":[' % dumps(table)

    def rejected(position: int, record: Any, why: list[Reason]) -> bytes:
        rid = given_id(record)
        if type(rid) is int:
            try:  # one or two reasons, nearly always: unpacked, which is quickest
                if len(why) == 1:
                    ((field, code, message),) = why
                    template = templates.get((field, code)) or _rejected_template(
                        table, (field, code)
                    )
                    return template % (position, rid, encode(message))
                if len(why) == 2:
                    (field, code, message), (field2, code2, message2) = why
                    shape = (field, code, field2, code2)
                    template = templates.get(shape) or _rejected_template(table, shape)
                    return template % (position, rid, encode(message), encode(message2))
                shape = tuple(chain.from_iterable(map(_field_and_code, why)))
                template = templates.get(shape) or _rejected_template(table, shape)
                return template % (position, rid, *map(encode, map(_message, why)))
            except UnicodeEncodeError:  # a lone surrogate, which msgspec refuses: the slow way
                pass
        shown = b"%d" % rid if type(rid) is int else dumps(rid)
        return head % (position, shown) + b",".join(map(reason_json, why)) + b"]},\n"

    inserted = f'{{"table": "{table}", "position": %d, "id": %d, "status": "inserted"}},\n'
    return _lines(inserted.encode(), rejected, start, records, reasons)


_encode_text = msgspec.json.Encoder().encode
_field_and_code = itemgetter(0, 1)
_message = itemgetter(2)

# Per table, per shape (the field and code of each reason in turn, one flat tuple): the line
# of a rejected record with an integer id, with `%d` for its position and id and `%s` for each
# message's JSON.
_TEMPLATES: dict[str, dict[tuple[str, ...], bytes]] = {}


def _rejected_templates(table: str) -> dict[tuple[str, ...], bytes]:
    return _TEMPLATES.setdefault(table, {})


def _rejected_template(table: str, shape: tuple[str, ...]) -> bytes:
    def escaped(data: bytes) -> bytes:
        return data.replace(b"%", b"%%")

    reasons = b",".join(
        escaped(dumps({"field": field, "code": code})[:-1]) + b',"message":%s}'
        for field, code in zip(shape[::2], shape[1::2], strict=True)
    )
    template = (
        b'{"table":%s,"position":%%d,"id":%%d,"status":"rejected","reasons":['
        % escaped(dumps(table))
        + reasons
        + b"]},\n"
    )
    _rejected_templates(table)[shape] = template
    return template


# The start of a reason's JSON, per (field, code): a few dozen in all.
_REASON_HEADS: dict[tuple[str, str], bytes] = {}


def reason_json(reason: Reason) -> bytes:
    """`dumps(reason.as_dict())`, from a cached start and the message."""
    field, code, message = reason
    start = _REASON_HEADS.get((field, code))
    if start is None:
        start = dumps({"field": field, "code": code})[:-1] + b',"message":'
        _REASON_HEADS[field, code] = start
    try:
        text = orjson.dumps(message)  # a message is text made safe to show: orjson takes it
    except TypeError:
        text = dumps(message)
    return start + text + b"}"


def _plain_lines(
    table: str, start: int, records: list[Any], reasons: list[list[Reason] | None]
) -> bytes:
    def rejected(position: int, record: Any, why: list[Reason]) -> bytes:
        text = "; ".join(f"{r.code}: {r.message}" for r in why)
        return f"{table} #{position} id={show(given_id(record))} rejected  {text}\n".encode()

    return _lines(f"{table} #%d id=%d inserted\n".encode(), rejected, start, records, reasons)


class Output(Protocol):
    """Where a report goes: anything that writes bytes (a binary file, say)."""

    def write(self, data: bytes, /) -> int: ...


@runtime_checkable
class FileOutput(Output, Protocol):
    """An output that can also copy a file's bytes itself (in the kernel, say)."""

    def copy_from(self, fd: int, count: int, /) -> None:
        """Write the first `count` bytes of the open file `fd`."""


def copy_blocks(out: Output, fd: int, count: int) -> None:
    """Write the first `count` bytes of the open file `fd` to `out`, a block at a time."""
    offset = 0
    while offset < count:
        block = os.pread(fd, min(1 << 20, count - offset), offset)
        if not block:  # the file is shorter than it was: what there is
            return
        out.write(block)
        offset += len(block)


def _copy(out: Output, fd: int, count: int) -> None:
    if isinstance(out, FileOutput):
        out.copy_from(fd, count)
    else:
        copy_blocks(out, fd, count)


def status(run: Run) -> str:
    """How a run ended, as the JSON report says it: a run stopped before it started, or
    while it ran, was interrupted."""
    return run.state if run.state in ("completed", "failed") else "interrupted"


def _whole_lines(path: Path) -> Iterator[bytes]:
    """The file in blocks of whole lines: a node killed while writing may leave half a line,
    which is no outcome (its chunk's commit was never reported). Nothing if there is no file
    (its node ended before it wrote any)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return
    with f:
        pending: list[bytes] = []  # of a line not ended yet (a long one spans blocks)
        while block := f.read(1 << 20):
            end = block.rfind(b"\n") + 1
            if not end:
                pending.append(block)
                continue
            pending.append(block[:end])
            yield b"".join(pending)
            pending = [block[end:]]


def _whole_length(fd: int) -> int:
    """How many bytes of the open file are whole lines (see `_whole_lines`)."""
    end = os.fstat(fd).st_size
    while end > 0:  # back from the end, a block at a time, to the last newline
        start = max(end - (1 << 16), 0)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _open_spools(run: Run, held: contextlib.ExitStack) -> list[tuple[int, int]]:
    """Each table's outcome spool that holds whole lines, open: (its descriptor, how many bytes
    of it are whole lines). A node that ended before it wrote any left no file."""
    spools = []
    for name in run.progress:
        try:
            f = held.enter_context(open(outcome_spool(run.spool_dir, name), "rb"))  # noqa: SIM115
        except FileNotFoundError:
            continue
        if length := _whole_length(f.fileno()):
            spools.append((f.fileno(), length))
    return spools


def write_report(run: Run, out: Output, *, as_json: bool) -> None:
    """The whole report, once the run has ended: of every record decided, also when the run
    failed or was stopped (then its `status` says so, in JSON). The outcome lines are copied
    from the spool files as they are, by the kernel where `out` can (`FileOutput`)."""
    with contextlib.ExitStack() as held:
        _write_report(run, out, _open_spools(run, held), as_json=as_json)


def _write_report(run: Run, out: Output, spools: list[tuple[int, int]], *, as_json: bool) -> None:
    if as_json:
        tables = {
            name: {
                "database": p.database,
                "total": p.processed,
                "inserted": p.inserted,
                "rejected": p.rejected,
                # Tries made again after the store failed, and seconds spent waiting (for
                # locks, for the store to come back) in the waits that were told of.
                "retries": p.retries,
                "waited_seconds": round(p.waited, 3),
            }
            for name, p in run.progress.items()
        }
        head: dict[str, Any] = {"status": status(run)}
        if run.error is not None:
            head["error"] = visible(run.error)
        if run.dry_run:
            head["dry_run"] = True
        out.write(b"{\n" + dumps(head)[1:-1] + b',\n"tables": ' + dumps(tables))
        out.write(b',\n"records": [\n')
        # Every line ends with a comma (see `_json_lines`): but the very last.
        for i, (fd, length) in enumerate(spools, 1):
            if i < len(spools):
                _copy(out, fd, length)
            else:
                _copy(out, fd, length - 2)
                out.write(b"\n")
        out.write(f'],\n"elapsed_seconds": {run.elapsed:.3f}\n}}\n'.encode())
    else:
        for fd, length in spools:
            _copy(out, fd, length)
        out.write(b"\n" + summary_table(run).encode())


def copy_rejects(run: Run, out: Output) -> None:
    """Every rejected record with its reasons, table by table (the --rejects file)."""
    for name in run.progress:
        for block in _whole_lines(rejects_spool(run.spool_dir, name)):
            out.write(block)


def summary_table(run: Run) -> str:
    rows: list[tuple[str, ...]] = [("table", "database", "total", "inserted", "rejected")]
    for p in run.progress.values():
        rows.append((p.table, p.database, str(p.processed), str(p.inserted), str(p.rejected)))
    # A store that failed and was tried again: how often, and how long the table waited.
    if any(p.retries for p in run.progress.values()):
        rows[0] += ("retries", "waited")
        for i, p in enumerate(run.progress.values(), 1):
            rows[i] += (str(p.retries), f"{p.waited:.0f} s")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]
    dry = " (dry run: nothing was written)" if run.dry_run else ""
    lines.append(f"{run.state} in {run.elapsed:.2f} s{dry}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TableSummary:
    table: str
    database: str
    total: int
    inserted: int
    rejected: int
    seconds: float
    retries: int = 0  # tries made again after the store failed
    waited: float = 0.0  # seconds in the waits told of (locks, outages)
    # (seconds since the run started, records decided by then), from the start to the end
    timeline: tuple[tuple[float, int], ...] = ()

    @property
    def success_rate(self) -> float:
        return self.inserted / self.total if self.total else 0.0


@dataclass(frozen=True)
class RunSummary:
    """What a finished run comes to, for a summary screen."""

    state: str
    seconds: float
    tables: list[TableSummary]
    reasons: list[tuple[str, str, int]]  # (table, reason code, records), most frequent first

    @property
    def rejected(self) -> int:
        return sum(t.rejected for t in self.tables)


def summarize(run: Run) -> RunSummary:
    """A finished run's figures."""
    tables = [
        TableSummary(
            name,
            p.database,
            p.processed,
            p.inserted,
            p.rejected,
            p.elapsed,
            p.retries,
            p.waited,
            tuple(p.timeline),
        )
        for name, p in run.progress.items()
    ]
    reasons = [
        (name, code, count)
        for name, p in run.progress.items()
        for code, count in p.reason_counts.most_common()
    ]
    return RunSummary(run.state, run.elapsed, tables, reasons)
