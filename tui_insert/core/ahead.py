"""Reading orders ahead while they wait for the users and products they name.

A chunk of orders can be decided only once each user and product it names is stored, or its
table is done; with orders naming users from all over the file, that is near the end of the
users. Until then the orders node would sit idle, and afterwards read, parse and check every
order while the other nodes are done: the whole run waits for it. So a thread of its own reads
and checks the orders ahead, while the users are still being inserted.

What it has read waits packed, to keep memory small: an order that passed its own checks and is
written plainly (exactly its four fields, in order; in a CSV file, numbers without a sign or
leading zeros) is four integers in an array, from which the record, as given and as read, is
made again exactly, when asked for; any other record is kept as it was read. A chunk handed
out is the same (records as given, records, checked) as the reader and the check would have
given: only when it is read and checked differs, never what a record comes to.
"""

from __future__ import annotations

import itertools
import threading
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from tui_insert.core.sources import RecordReader, RowsAsGiven
from tui_insert.core.waiting import Stopped

# Records read ahead at most: an order waiting packed takes some 33 bytes.
MAX_AHEAD = 1 << 20


class _Packed:
    """One chunk read and checked ahead."""

    __slots__ = ("size", "plain", "numbers", "others", "as_text")

    def __init__(
        self, size: int, plain: bytearray, numbers: array, others: dict, as_text: bool
    ) -> None:
        self.size = size
        self.plain = plain  # per record: 1 if it is one of `numbers`' rows
        self.numbers = numbers  # the rows of the plain records, one after the other
        self.others = others  # position -> (as given, as read, checked) of the rest
        self.as_text = as_text  # given as CSV cells (text), not as JSON values


def pack(
    fields: tuple[str, ...], given: Sequence[Any], records: list[Any], checked: list[tuple]
) -> _Packed:
    """A chunk of a table whose fields are all integers (the orders), as `unpack` remakes it."""
    size = len(checked)
    plain = bytearray(size)
    numbers = array("q")
    others: dict[int, tuple[Any, Any, tuple]] = {}
    cells = given.rows if isinstance(given, RowsAsGiven) else None  # CSV: cells as text
    rows = []
    for i, c in enumerate(checked):
        if c[-1] is None:  # every field a valid integer: the row is the record's values
            row = c[-2]
            if cells is None:
                if tuple(records[i]) == fields:  # those keys alone, in that order
                    plain[i] = 1
                    rows.append(row)
                    continue
            elif cells[i] == tuple(map(str, row)):  # each cell as str() writes the number
                plain[i] = 1
                rows.append(row)
                continue
        others[i] = (given[i], records[i], c)
    numbers.extend(itertools.chain.from_iterable(rows))
    return _Packed(size, plain, numbers, others, as_text=cells is not None)


class _Records(Sequence[Any]):
    """The records of an unpacked chunk (as given, or as read), each made when asked for."""

    __slots__ = ("_fields", "_rows", "_others", "_slot", "_text")

    def __init__(
        self, fields: tuple[str, ...], rows: list, others: dict, slot: int, text: bool
    ) -> None:
        self._fields = fields
        self._rows = rows  # the row of a plain record; None for the others
        self._others = others
        self._slot = slot  # 0: as given, 1: as read
        self._text = text

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, i: Any) -> Any:  # an int: no one slices a chunk
        row = self._rows[i]
        if row is None:
            return self._others[i % len(self._rows)][self._slot]
        values = map(str, row) if self._text else row
        return dict(zip(self._fields, values, strict=True))


def unpack(fields: tuple[str, ...], chunk: _Packed) -> tuple[Sequence[Any], Sequence[Any], list]:
    """(records as given, records as read, checked) of a packed chunk, as they were."""
    width = len(fields)
    numbers = chunk.numbers
    plain_rows = list(zip(*[iter(numbers)] * width, strict=True))
    places = list(itertools.compress(range(chunk.size), chunk.plain))
    rows: list[Any] = [None] * chunk.size
    deque(map(rows.__setitem__, places, plain_rows), maxlen=0)  # rows[i] = row, in C
    # A checked order is (id, user id, product id, row, reasons): the row's first fields.
    columns = [numbers[k::width] for k in range(width - 1)]
    plain_checked = zip(*columns, plain_rows, itertools.repeat(None))
    checked: list[Any] = [None] * chunk.size
    deque(map(checked.__setitem__, places, plain_checked), maxlen=0)
    for i, (_, _, c) in chunk.others.items():
        checked[i] = c
    given = _Records(fields, rows, chunk.others, 0, chunk.as_text)
    records = _Records(fields, rows, chunk.others, 1, False)
    return given, records, checked


class ReadAhead:
    """A thread that reads and checks chunks ahead of the node's workers, at most MAX_AHEAD
    records; `take` hands them out in input order."""

    def __init__(
        self,
        reader: RecordReader,
        check: Callable[[list[Any]], list[tuple]],
        fields: tuple[str, ...],
        chunk_size: int,
        stop: threading.Event,
    ) -> None:
        self._reader = reader
        self._check = check
        self._fields = fields
        self._chunk_size = chunk_size
        self._stop = stop
        self._quit = False  # closing: read no more
        self._chunks: deque[_Packed] = deque()
        self._ahead = 0  # records in `_chunks`
        self._ended = False  # the reader is exhausted (or failed: `_error`)
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="read-ahead", daemon=True)
        self._thread.start()

    def _halted(self) -> bool:
        return self._quit or self._stop.is_set()

    def _read(self) -> None:
        try:
            while not self._halted():
                with self._changed:
                    while self._ahead >= MAX_AHEAD and not self._halted():
                        self._changed.wait(0.25)
                if self._halted():
                    break
                given, records = self._reader.read_chunk(self._chunk_size)
                if not records:
                    break
                packed = pack(self._fields, given, records, self._check(records))
                del given, records
                with self._changed:
                    self._chunks.append(packed)
                    self._ahead += packed.size
                    self._changed.notify_all()
        except BaseException as e:  # noqa: BLE001 - handed to the worker that takes next
            self._error = e
        finally:
            with self._changed:
                self._ended = True
                self._changed.notify_all()

    def take(self) -> tuple[Sequence[Any], Sequence[Any], list] | None:
        """The next chunk (records as given, records, checked); None at the end of the input.
        Raises Stopped once a stop is requested, and what the reader or the check raised."""
        with self._changed:
            while not self._chunks and not self._ended and not self._stop.is_set():
                self._changed.wait(0.25)
            if self._stop.is_set():
                raise Stopped
            if self._chunks:
                packed = self._chunks.popleft()
                self._ahead -= packed.size
                self._changed.notify_all()
            elif self._error is not None:
                raise self._error
            else:
                return None
        return unpack(self._fields, packed)

    def close(self) -> None:
        """Stop reading, and wait for the thread (a chunk at most): the reader may be closed
        after this."""
        with self._changed:
            self._quit = True
            self._changed.notify_all()
        self._thread.join()
