"""Reading the three input files (SPEC §3).

`.json` files (one array) are parsed whole, before any database is touched. `.jsonl` and
`.csv` files are read as streams a chunk at a time, so memory does not grow with the input;
a bad line in them is one `invalid_record`, not a failed run.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from tui_insert.core.errors import InputError
from tui_insert.core.rules import BadRecord, BigInteger
from tui_insert.core.tables import TABLES, Table

FORMATS = (".json", ".jsonl", ".csv")

csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class Source:
    """One input file of one table."""

    table: str
    path: Path

    @property
    def format(self) -> str:
        return self.path.suffix.lower()


def sample_data_dir() -> Path:
    """The bundled sample data: inside the installed package, or at the top of a checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "sample_data", here.parent / "sample_data"):
        if candidate.is_dir():
            return candidate
    raise InputError("the bundled sample data is missing from this installation")


def find_sources(
    data_dir: Path | None = None, files: dict[str, Path | None] | None = None
) -> dict[str, Source]:
    """The input file of each table: named one by one, or found in a data folder."""
    files = {name: path for name, path in (files or {}).items() if path is not None}
    if files and data_dir is None and len(files) < len(TABLES):
        missing = ", ".join(f"--{name}" for name in TABLES if name not in files)
        raise InputError(f"{missing} missing: name all three files, or add --data DIR for the rest")
    sources = {}
    for name in TABLES:
        path = files.get(name)
        if path is None:
            path = _find_in_folder(data_dir if data_dir is not None else sample_data_dir(), name)
        if path.suffix.lower() not in FORMATS:
            raise InputError(
                f"{path}: unsupported file type {path.suffix or '(none)'!r}"
                " (use .json, .jsonl or .csv)"
            )
        sources[name] = Source(name, path)
    return sources


def _find_in_folder(folder: Path, table: str) -> Path:
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(f"data folder {folder} {what}")
    found = [folder / f"{table}{ext}" for ext in FORMATS if (folder / f"{table}{ext}").is_file()]
    if not found:
        raise InputError(f"{folder} has no {table} file ({table}.json, .jsonl or .csv)")
    if len(found) > 1:
        names = ", ".join(p.name for p in found)
        raise InputError(f"{folder} has more than one {table} file ({names}): keep one")
    return found[0]


# --- readers ------------------------------------------------------------------------------------


class RecordReader(Protocol):
    """Hands out records in input order, a chunk at a time."""

    source: Source
    # The number of records: exact once `exhausted`, and from the start where `estimated` is
    # False; an estimate that counts no more than the records in a well-formed file otherwise.
    total: int
    estimated: bool
    exhausted: bool

    def read_chunk(self, size: int) -> tuple[list[Any], list[Any]]:
        """(records as given, records to check): the same list but for CSV. Empty at the end."""
        ...

    def close(self) -> None: ...


def open_reader(source: Source) -> RecordReader:
    """Open (and for .json, parse) a source; InputError names the file when that fails."""
    path = source.path
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        if source.format == ".json":
            return JsonArrayReader(source)
        if source.format == ".jsonl":
            return JsonLinesReader(source)
        return CsvReader(source)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None


# Python refuses to turn more digits than this into an int (a guard against slow conversions).
_MAX_DIGITS = 4000


def _parse_int(digits: str) -> int | BigInteger:
    if len(digits) > _MAX_DIGITS:
        return BigInteger(digits)
    return int(digits)


def _loads_slowly(text: str) -> Any:
    """The standard library, for what orjson refuses but JSON allows: integers beyond 64 bits,
    NaN and Infinity, lone surrogates."""
    return json.loads(text, parse_int=_parse_int)


def _holds_surrogates(value: Any) -> bool:
    """A record holding a lone surrogate (`"\\ud800"`) cannot be stored as text."""
    try:
        orjson.dumps(value)
    except TypeError as e:
        return "surrogates" in str(e) or "str is not valid UTF-8" in str(e)
    return False


def _not_unicode(text: str, line: int = 0) -> BadRecord:
    where = f"line {line}: " if line else ""
    return BadRecord(f"{where}the record holds text that is not valid Unicode", text, line)


def _count_records(path: Path) -> int:
    """The records of a .jsonl file: its lines that are not blank."""
    with open(path, "rb") as f:
        return sum(not line.isspace() for line in f)


_EMPTY_LINE = re.compile(rb"\n(?=\r?\n)")


def _count_csv_rows(path: Path) -> int:
    """The rows of a CSV file, header included: line ends outside quoted cells (a cell may
    hold line ends), less empty lines. Exact for a well-formed file."""
    rows = 0
    quoted = False
    last = b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            for i, part in enumerate(block.split(b'"')):
                if i:
                    quoted = not quoted
                if not quoted:
                    rows += part.count(b"\n") - len(_EMPTY_LINE.findall(part))
            last = block[-1:]
    return rows + (last != b"\n")


class JsonArrayReader:
    def __init__(self, source: Source) -> None:
        self.source = source
        data = source.path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            value = self._parse_slowly(data)
        if not isinstance(value, list):
            raise InputError(
                f"{source.path}: expected a JSON array of records, got {type(value).__name__}"
            )
        self._records: list[Any] = value
        self._next = 0
        self.total = len(value)
        self.estimated = False
        self.exhausted = False

    def _parse_slowly(self, data: bytes) -> Any:
        path = self.source.path
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text (byte {e.start + 1})") from None
        try:
            value = _loads_slowly(text)
        except json.JSONDecodeError as e:
            raise InputError(
                f"{path}: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}"
            ) from None
        if isinstance(value, list):
            value = [_not_unicode(json.dumps(v)) if _holds_surrogates(v) else v for v in value]
        return value

    def read_chunk(self, size: int) -> tuple[list[Any], list[Any]]:
        chunk = self._records[self._next : self._next + size]
        # Hand the records over: the reader keeps no reference to what it has given out.
        self._records[self._next : self._next + size] = itertools.repeat(None, len(chunk))
        self._next += len(chunk)
        if not chunk:
            self.exhausted = True
        return chunk, chunk

    def close(self) -> None:
        self._records = []


class JsonLinesReader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.total = _count_records(source.path)
        self.estimated = False
        self._file: BinaryIO = open(source.path, "rb")  # noqa: SIM115 - closed by close()
        self._line = 0
        self._seen = 0
        self.exhausted = False

    def read_chunk(self, size: int) -> tuple[list[Any], list[Any]]:
        records: list[Any] = []
        append = records.append
        loads = orjson.loads
        while len(records) < size:
            before = self._line
            for raw in itertools.islice(self._file, size - len(records)):
                self._line += 1
                try:
                    append(loads(raw))
                except orjson.JSONDecodeError:
                    if raw.strip():  # blank lines are not records
                        append(self._parse_slowly(raw))
            if self._line == before:
                break
        self._seen += len(records)
        if not records:
            self.exhausted = True
            self.total = self._seen
        return records, records

    def _parse_slowly(self, raw: bytes) -> Any:
        if self._line == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        text = raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
        try:
            value = _loads_slowly(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return BadRecord(f"line {self._line} is not UTF-8 text", text, self._line)
        except json.JSONDecodeError as e:
            return BadRecord(f"line {self._line} is not valid JSON: {e.msg}", text, self._line)
        return _not_unicode(text, self._line) if _holds_surrogates(value) else value

    def close(self) -> None:
        self._file.close()


_INTEGER = re.compile(rf"[+-]?[0-9]{{1,{_MAX_DIGITS}}}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _converter(table: Table, field: str):  # type: ignore[no-untyped-def]
    """How a CSV cell becomes a value: '' is missing; numbers only when written as numbers."""
    if field in table.integer_fields:

        def convert(cell: str) -> Any:
            if _INTEGER.fullmatch(cell):
                return int(cell)
            return cell or None

    elif field in table.decimal_fields:

        def convert(cell: str) -> Any:
            if _DECIMAL.fullmatch(cell):
                return float(cell)
            return cell or None

    else:

        def convert(cell: str) -> Any:
            return cell or None

    return convert


class _LineTap:
    """Feeds the csv module line by line, keeping the lines of the row being read, so that a
    row it cannot parse is still kept as text."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.taken: list[str] = []

    def __iter__(self) -> _LineTap:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line


class CsvReader:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.total = max(_count_csv_rows(source.path) - 1, 0)
        self.estimated = True
        self._text = open(  # noqa: SIM115 - closed by close()
            source.path, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        self._tap = _LineTap(self._text)
        self._rows = csv.reader(self._tap, strict=True)
        self.exhausted = False
        self._seen = 0
        try:
            header = next(self._rows, None)
        except csv.Error as e:
            self._text.close()
            raise InputError(f"{source.path}: not valid CSV on line 1: {e}") from None
        self._header = [h.strip() for h in header] if header else []
        table = TABLES[source.table]
        self._convert = [_converter(table, name) for name in self._header]

    def read_chunk(self, size: int) -> tuple[list[Any], list[Any]]:
        given: list[Any] = []
        records: list[Any] = []
        header, convert, width = self._header, self._convert, len(self._header)
        rows = self._rows
        tap = self._tap
        while len(given) < size:
            line = rows.line_num + 1
            tap.taken.clear()
            try:
                row = next(rows, None)
            except csv.Error as e:
                text = "".join(tap.taken).rstrip("\r\n")
                text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                bad = BadRecord(f"line {line} is not valid CSV: {e}", text, line)
                given.append(bad)
                records.append(bad)
                continue
            if row is None:
                break
            if not row:
                continue
            if len(row) != width:
                bad = BadRecord(
                    f"line {line} has {len(row)} cells, the header has {width}",
                    _csv_text(row),
                    line,
                )
                given.append(bad)
                records.append(bad)
                continue
            joined = "".join(row)
            if not joined.isascii():
                try:
                    joined.encode("utf-8")
                except UnicodeEncodeError:
                    bad = BadRecord(
                        f"line {line} is not UTF-8 text",
                        _csv_text(row)
                        .encode("utf-8", "surrogateescape")
                        .decode("utf-8", "backslashreplace"),
                        line,
                    )
                    given.append(bad)
                    records.append(bad)
                    continue
            given.append(dict(zip(header, row, strict=True)))
            records.append(
                {name: conv(cell) for name, conv, cell in zip(header, convert, row, strict=True)}
            )
        self._seen += len(given)
        if not given:
            self.exhausted = True
            self.estimated = False
            self.total = self._seen
        return given, records

    def close(self) -> None:
        self._text.close()


def _csv_text(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row)
    return out.getvalue()


def iter_records(reader: RecordReader, size: int = 1000) -> Iterator[Any]:
    """Every record to check, in order (for tests and small tools)."""
    while True:
        _, records = reader.read_chunk(size)
        if not records:
            return
        yield from records
