"""Reading the three input files (SPEC §3).

A `.json` file (one array) is checked whole before any database is touched, then parsed a
chunk at a time. `.jsonl` and `.csv` files are read as streams a chunk at a time, so memory
does not grow with the input; a bad line in them is one `invalid_record`, not a failed run.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import operator
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

import orjson

from tui_insert.core import jsonio
from tui_insert.core.errors import InputError
from tui_insert.core.rules import BadRecord, show
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
        if path.is_dir():
            raise InputError(f"{path}: is a folder, not a {name} file")
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

    def read_chunk(self, size: int) -> tuple[Sequence[Any], list[Any]]:
        """(records as given, records to check): the same list but for CSV. Empty at the end."""
        ...

    def close(self) -> None: ...


def open_reader(source: Source) -> RecordReader:
    """Open (and for .json, parse) a source; InputError names the file when that fails."""
    path = source.path
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a {source.table} file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        if _is_blank(path):
            return EmptyReader(source)
        if source.format == ".json":
            return JsonArrayReader(source)
        if source.format == ".jsonl":
            return JsonLinesReader(source)
        return CsvReader(source)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None


def _is_blank(path: Path) -> bool:
    """Whether the file holds nothing but whitespace (and perhaps a BOM): no records, in
    every format."""
    with open(path, "rb") as f:
        head = f.read(3)
        if head == b"\xef\xbb\xbf":
            head = b""
        if head.strip():
            return False
        while block := f.read(1 << 20):
            if block.strip():
                return False
    return True


class EmptyReader:
    """An input file of no records (0 bytes, or only whitespace), whatever its format."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.total = 0
        self.estimated = False
        self.exhausted = False

    def read_chunk(self, size: int) -> tuple[list[Any], list[Any]]:
        self.exhausted = True
        return [], []

    def close(self) -> None:
        pass


def _count_records(path: Path) -> int:
    """The records of a .jsonl file: its lines that are not blank."""
    with open(path, "rb") as f:
        first = f.readline().removeprefix(b"\xef\xbb\xbf")
        return bool(first and not first.isspace()) + sum(not line.isspace() for line in f)


_EMPTY_LINE = re.compile(rb"\n(?=\r?\n)")
# Where lone carriage returns end lines too: a line end that another follows.
_EMPTY_LINE_ANY_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?=[\r\n])")


def _line_ends(part: bytes) -> int:
    """Line ends in `part` that end a row: \\n, \\r\\n or a lone \\r (as the csv module
    reads them), less those that end an empty line."""
    ends = part.count(b"\n")
    lone_returns = part.count(b"\r") - part.count(b"\r\n") if b"\r" in part else 0
    if not lone_returns:
        return ends - len(_EMPTY_LINE.findall(part))
    return ends + lone_returns - len(_EMPTY_LINE_ANY_END.findall(part))


def _count_csv_rows(path: Path) -> int:
    """The rows of a CSV file, header included: line ends outside quoted cells (a cell may
    hold line ends), less empty lines. A quote opens a quoted cell only at the start of a cell,
    as for the csv module. Exact for a well-formed file; where quotes are broken the rows are
    rejected records whose count is guessed."""
    rows = 0
    quoted = False
    before = b"\n"  # the byte before the part at hand: the file starts at a line's start
    reopens = False  # a quote now would be the second of a doubled quote inside a cell
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            block += f.readline()  # whole lines: no line end is split between two blocks
            for i, part in enumerate(block.split(b'"')):
                closed = False
                if i:  # a quote stood before this part
                    if quoted:
                        quoted, closed = False, True
                    else:
                        quoted = reopens or before in b",\r\n"
                    before = b'"'
                if not quoted and part:
                    rows += _line_ends(part)
                    if before == b"\n" and part.startswith((b"\n", b"\r")):
                        rows -= 1  # an empty line at the start of a block
                reopens = closed and not part
                if part:
                    before = part[-1:]
    return rows + (before not in (b"\n", b"\r"))


def _json_kind(value: Any) -> str:
    kinds = {dict: "an object", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


class JsonArrayReader:
    """A .json file: checked whole before any record is handed out (a file that is no array
    of records fails the run before any database is touched), then parsed a chunk at a time,
    so that memory holds the file's bytes and a chunk, not a million parsed records."""

    def __init__(self, source: Source) -> None:
        self.source = source
        data = source.path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        self._elements: list[Any] | None = jsonio.split_array(data)
        self._records: list[Any] = []
        if self._elements is None:  # read whole, as it always could be
            try:
                value = jsonio.loads(data)
            except jsonio.JsonError as e:
                raise InputError(f"{source.path}: {e}") from None
            if not isinstance(value, list):
                raise InputError(
                    f"{source.path}: expected a JSON array of records, got {_json_kind(value)}"
                )
            self._records = value
        self._next = 0
        self.total = len(self._records if self._elements is None else self._elements)
        self.estimated = False
        self.exhausted = False

    def read_chunk(self, size: int) -> tuple[list[Any], list[Any]]:
        # Hand the records over: the reader keeps no reference to what it has given out.
        start, end = self._next, self._next + size
        if self._elements is None:
            chunk = self._records[start:end]
            self._records[start:end] = itertools.repeat(None, len(chunk))
        else:
            elements = self._elements[start:end]
            self._elements[start:end] = itertools.repeat(None, len(elements))
            chunk = jsonio.loads_elements(elements) if elements else []
        self._next += len(chunk)
        if not chunk:
            self.exhausted = True
            self.close()
        return chunk, chunk

    def close(self) -> None:
        self._records = []
        if self._elements is not None:
            self._elements = []  # and with them the file's bytes


def _read_exactly(lines: list[bytes]) -> set[int] | frozenset[int]:
    """Which of `lines` orjson would read inexactly (it turns long integers into floats):
    looked for in all the lines at once, and placed by their offsets."""
    found = jsonio.long_numbers(b"".join(lines))
    if not found:
        return frozenset()
    ends = list(itertools.accumulate(map(len, lines)))
    return {bisect.bisect_right(ends, offset) for offset in found}


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
            lines = list(itertools.islice(self._file, size - len(records)))
            if not lines:
                break
            if self._line == 0 and lines[0].startswith(b"\xef\xbb\xbf"):
                lines[0] = lines[0][3:]  # a byte order mark, which orjson refuses
            exact = _read_exactly(lines)
            first = self._line + 1
            self._line += len(lines)
            for i, raw in enumerate(lines):
                if i not in exact:
                    try:
                        append(loads(raw))
                        continue
                    except orjson.JSONDecodeError:
                        pass
                if not raw.isspace():  # blank lines are not records
                    append(self._parse_slowly(raw, first + i))
        self._seen += len(records)
        if not records:
            self.exhausted = True
            self.total = self._seen
        return records, records

    def _parse_slowly(self, raw: bytes, line: int) -> Any:
        try:
            return jsonio.loads_exactly(raw)
        except jsonio.JsonError as e:
            text = raw.decode("utf-8", "backslashreplace").rstrip("\r\n")
            return BadRecord(f"line {line} is {e.message}", text, line)

    def close(self) -> None:
        self._file.close()


_INTEGER = re.compile(rf"[+-]?[0-9]{{1,{jsonio.MAX_DIGITS}}}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _converter(table: Table, field: str):  # type: ignore[no-untyped-def]
    """How a CSV cell becomes a value: '' is missing; numbers only when written as numbers."""
    if field in table.integer_fields:

        def convert(cell: str) -> Any:
            # Plain digits (most cells) without the regular expression; isascii first, as
            # isdigit takes other scripts' digits too.
            if (cell.isascii() and cell.isdigit() and len(cell) <= jsonio.MAX_DIGITS) or (
                _INTEGER.fullmatch(cell)
            ):
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


class _LinesAgain:
    """The lines of a CSV file, read again, forward only: the text of a row that is no record
    (rare), so that the rows themselves are read by the csv module straight from the file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[str] | None = None
        self._next = 1  # the number of the line it reads next

    def take(self, first: int, last: int) -> list[str]:
        """Lines `first` to `last` (from 1); each call asks for lines after the last's."""
        if self._file is None:
            self._file = _open_csv(self._path)
        skip = first - self._next
        if skip > 0:
            next(itertools.islice(self._file, skip, skip), None)  # past them, in C
        lines = list(itertools.islice(self._file, last - first + 1))
        self._next = last + 1
        return lines

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _open_csv(path: Path) -> IO[str]:
    # Bytes that are not UTF-8 come through as surrogates, so that a row holding them is
    # told apart (and written back as it was given).
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


class _RowsAsGiven(Sequence[Any]):
    """A chunk's rows as given: each a record of its cells as text (made when asked for:
    only rejected records are, and only when they are kept), or the BadRecord it is."""

    __slots__ = ("_fields", "_rows")

    def __init__(self, fields: tuple[str, ...], rows: list[Any]) -> None:
        self._fields = fields
        self._rows = rows  # cells (a tuple, in field order) or a BadRecord

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: Any) -> Any:  # an int: no one slices a chunk
        row = self._rows[i]
        return row if isinstance(row, BadRecord) else dict(zip(self._fields, row, strict=True))


class CsvReader:
    """Rows as records of the table's fields: other columns are ignored, and not kept."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.total = max(_count_csv_rows(source.path) - 1, 0)
        self.estimated = True
        self._text = _open_csv(source.path)
        self._rows = csv.reader(self._text, strict=True)
        self._again = _LinesAgain(source.path)
        self.exhausted = False
        self._seen = 0
        try:
            header: list[str] = []
            for row in self._rows:  # empty lines before the header are skipped
                if row:
                    header = row
                    break
            table = TABLES[source.table]
            self._width = len(header)
            self._fields = table.fields
            self._cells = operator.itemgetter(*_columns(source, header))
        except csv.Error as e:
            self._text.close()
            raise InputError(
                f"{source.path}: not valid CSV on line {self._rows.line_num}: {e}"
            ) from None
        except InputError:
            self._text.close()
            raise
        self._convert = [_converter(table, name) for name in table.fields]

    def read_chunk(self, size: int) -> tuple[Sequence[Any], list[Any]]:
        given: list[Any] = []
        records: list[Any] = []
        fields, convert, width, cells = self._fields, self._convert, self._width, self._cells
        rows = self._rows
        while len(given) < size:
            line = rows.line_num + 1
            problem = None
            try:
                row = next(rows, None)
            except csv.Error as e:
                problem = f"is not valid CSV: {e}"
            else:
                if row is None:
                    break
                if not row:
                    continue
                if len(row) != width:
                    problem = f"has {len(row)} cells, the header has {width}"
                else:
                    kept = cells(row)
                    joined = "".join(kept)
                    if not joined.isascii() and not _is_utf8(joined):
                        problem = "is not UTF-8 text"
            if problem is not None:
                text = _given(self._again.take(line, rows.line_num))
                bad = BadRecord(f"line {line} {problem}", text, line)
                given.append(bad)
                records.append(bad)
                continue
            given.append(kept)
            records.append(dict(zip(fields, map(operator.call, convert, kept), strict=True)))
        self._seen += len(given)
        if not given:
            self.exhausted = True
            self.estimated = False
            self.total = self._seen
        return _RowsAsGiven(fields, given), records

    def close(self) -> None:
        self._text.close()
        self._again.close()


def _columns(source: Source, header: list[str]) -> list[int]:
    """Where each field of the table stands in a CSV header, which must name every field
    exactly once (matched exactly); InputError names what is missing and the unknown columns."""
    fields = TABLES[source.table].fields
    missing = [name for name in fields if name not in header]
    twice = [name for name in fields if header.count(name) > 1]
    if missing or twice:
        unknown = [show(_given([cell]), 30) for cell in header if cell not in fields]
        problems = []
        if missing:
            problems.append(f"it lacks {', '.join(missing)}")
        if twice:
            problems.append(f"it names {', '.join(twice)} more than once")
        if unknown:
            shown = ", ".join(unknown[:10])
            more = f" and {len(unknown) - 10:,} more" if len(unknown) > 10 else ""
            problems.append(f"unknown columns: {shown}{more}")
        raise InputError(
            f"{source.path}: the CSV header must name every field of {source.table}"
            f" ({', '.join(fields)}): {'; '.join(problems)}"
        )
    return [header.index(name) for name in fields]


def _is_utf8(text: str) -> bool:
    """Whether text read with surrogateescape came from UTF-8 bytes (no escapes in it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _given(lines: list[str]) -> str:
    """A row that is no record, as the lines it was read from (bytes that are not UTF-8
    written as \\x escapes)."""
    text = "".join(lines).rstrip("\r\n")
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def iter_records(reader: RecordReader, size: int = 1000) -> Iterator[Any]:
    """Every record to check, in order (for tests and small tools)."""
    while True:
        _, records = reader.read_chunk(size)
        if not records:
            return
        yield from records
