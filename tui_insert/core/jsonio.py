"""JSON in and out, exactly: every value as given, strict JSON out, whatever a record holds.

orjson does the common case fast, but it is lossy or refuses at the edges: it turns integers
beyond 64 bits into floats, writes NaN and Infinity as `null`, refuses lone surrogates (valid
JSON escapes such as `"\\ud800"`) and nests at most 1,024 levels in and 254 out. Text with
long integers is read again by msgspec, which keeps their digits; what neither reads takes the
exact path here: the standard library's parser, and a serializer that walks values without
recursion. What comes in with more nesting than `MAX_DEPTH` is refused by both paths
alike, so a record's fate never depends on which one read it.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sys
from collections.abc import Iterator
from typing import Any

import msgspec
import orjson

# The deepest nesting read (orjson's own limit, which the exact path applies too).
MAX_DEPTH = 1024

# Python refuses to turn more digits than this into an int (a guard against slow conversions).
MAX_DIGITS = 4000


class BigInteger(str):
    """An integer written with more digits than Python converts: kept as its digits. It is no
    valid id or number, and it is written back out as given."""

    __slots__ = ()


class JsonError(ValueError):
    """Text that is no JSON value (or nests deeper than MAX_DEPTH), with where it goes wrong."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f" at line {self.line}, column {self.column}" if self.line else ""
        return f"{self.message}{where}"


# An integer orjson would turn into a float has 19 digits or more (2**63 has 19). Looked for
# with the digits all made zeros and a plain find: ten times faster than a regular expression.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_RUN = b"0" * 19


def long_numbers(data: bytes) -> list[int]:
    """Where in `data` a number orjson would read inexactly may start (a run of 19 digits)."""
    zeros = data.translate(_DIGITS_AS_ZERO)
    found = []
    start = zeros.find(_RUN)
    while start != -1:
        found.append(start)
        start = zeros.find(_RUN, start + len(_RUN))  # the rest of a longer run is no news
    return found


def loads(data: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `data` (UTF-8), as given; JsonError says why not. `max_depth`: above
    MAX_DEPTH only for what tui-insert wrote itself (a record wrapped in a report line), which
    orjson still reads when it nests no deeper than its own limit."""
    if max_depth >= MAX_DEPTH:
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
        else:
            if not long_numbers(data):
                return value
            # Exact digits are needed, and orjson has judged the depth already: msgspec reads
            # long integers exactly, as fast (and refuses what the standard library has to
            # read: integers of thousands of digits, say).
            del value  # not two parsed copies at once
            try:
                return _EXACT_INTEGERS.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
                return loads_exactly(data, max_depth, depth_known=True)
    return loads_exactly(data, max_depth)


_EXACT_INTEGERS = msgspec.json.Decoder()

_RAW_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])


def split_array(data: bytes) -> list[msgspec.Raw] | None:
    """The elements of the JSON array `data` as their own text, to be read a few at a time
    with `loads_elements` (which reads them as `loads(data)` would have): a parsed copy of
    the whole file is never held. None where that is not certain; `loads(data)` then gives
    the value, or the error, as before.

    msgspec checks the syntax as it splits, and refuses some of what `loads` reads (NaN, a
    lone surrogate escape, a value that is not an array). It checks neither UTF-8 nor depth:
    those are checked here, so no element can fail later, when it is read."""
    try:
        elements = _RAW_ELEMENTS.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not data.isascii() and not _is_utf8(data):
        return None
    # An element too deep (MAX_DEPTH deep: with the array around it, a level more) opens at
    # least MAX_DEPTH arrays or objects and closes them, so it is at least twice as long:
    # only long elements are counted.
    long = 2 * MAX_DEPTH
    if max(map(len, elements), default=0) >= long:
        for element in elements:
            if len(element) >= long:
                text = bytes(element)
                if text.count(b"[") + text.count(b"{") >= MAX_DEPTH:
                    return None
    return elements


def _is_utf8(data: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    step = 1 << 20
    try:
        for start in range(0, len(data), step):
            decoder.decode(view[start : start + step])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def loads_elements(elements: list[msgspec.Raw]) -> list[Any]:
    """The values of elements from `split_array`, read in one array (as deep as the file).

    They are UTF-8 and nest no deeper than allowed, so msgspec reads them in one pass, long
    integers included (orjson would read most chunks twice: nearly every chunk of a large file
    holds a long integer somewhere). The exact path reads what msgspec refuses (a number
    beyond a float's range) and any integer of more than MAX_DIGITS digits, which it keeps
    as a BigInteger (msgspec would make some of them ints)."""
    text = b"[" + b",".join(elements) + b"]"
    if text.translate(_DIGITS_AS_ZERO).find(_HUGE) == -1:
        try:
            return _EXACT_INTEGERS.decode(text)  # type: ignore[no-any-return]
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            pass
    return loads_exactly(text, depth_known=True)  # type: ignore[no-any-return]


_HUGE = b"0" * (MAX_DIGITS + 1)  # with the digits made zeros: an integer past MAX_DIGITS


def _parse_int(digits: str) -> int | BigInteger:
    if len(digits) > MAX_DIGITS:
        return BigInteger(digits)
    return int(digits)


def _allow_depth() -> None:
    # The standard library's parser recurses; let it go past MAX_DEPTH so that the depth is
    # judged here, the same way as orjson does. Raised once, never lowered.
    if sys.getrecursionlimit() < 4 * MAX_DEPTH:
        sys.setrecursionlimit(4 * MAX_DEPTH)


def loads_exactly(
    data: bytes | str, max_depth: int = MAX_DEPTH, *, depth_known: bool = False
) -> Any:
    """The standard library's parser: integers of any size, NaN and Infinity, lone
    surrogates. The slow path, for what orjson cannot read exactly. `depth_known`: the data
    is known to nest no deeper than `max_depth`."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise JsonError(f"not UTF-8 text (byte {e.start + 1})") from None
    else:
        text = data
    _allow_depth()
    try:
        value = json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        raise JsonError(f"not valid JSON: {e.msg}", e.lineno, e.colno) from None
    except RecursionError:
        raise _too_deep(text, max_depth) from None
    if not depth_known and depth(value) > max_depth:
        raise _too_deep(text, max_depth)
    return value


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(text: str, max_depth: int) -> JsonError:
    level = 0
    position = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            level += 1
            if level > max_depth:
                position = match.start()
                break
        elif token in "]}":
            level -= 1
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return JsonError(f"nested deeper than {max_depth} levels", line, column)


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in item if isinstance(child, dict | list))
    return deepest


# --- out ----------------------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    """Strict JSON bytes of `value`, every value as given: all the digits of every integer,
    lone surrogates as escapes, NaN and the infinities as the strings "NaN", "Infinity",
    "-Infinity", any nesting. Never fails for values read from JSON or CSV."""
    try:
        # Without the option orjson writes a BigInteger (a str) as a string; with it, it
        # refuses, and the exact path writes its digits.
        out = orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_SUBCLASS)
    except TypeError:  # orjson.JSONEncodeError is one
        return "".join(_pieces(value)).encode()
    if b"null" in out and _holds_non_finite(value):
        return "".join(_pieces(value)).encode()
    return out


def text(value: Any, limit: int) -> str:
    """The JSON text of `value`, cut to about `limit` characters: little work however large
    or deep the value is. Lone surrogates are kept as they are (callers escape them)."""
    parts: list[str] = []
    size = 0
    for part in _pieces(value, ascii_only=False, cut=limit):
        parts.append(part)
        size += len(part)
        if size > limit:
            break
    return "".join(parts)


def _holds_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is float and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _string(value: str, ascii_only: bool = True) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # a lone surrogate: written as an escape (or kept, for `text`)
        return json.dumps(value, ensure_ascii=ascii_only)


_NON_FINITE = {math.inf: '"Infinity"', -math.inf: '"-Infinity"'}


def _pieces(value: Any, ascii_only: bool = True, cut: int | None = None) -> Iterator[str]:
    """The JSON text of `value` in pieces, walking it with a stack of its own (so any nesting
    does), lazily (so `text` stops early however large the value); strings and digits cut to
    `cut` characters if given."""
    # The stack holds, per open array or object, an iterator over its entries.
    stack: list[Iterator[Any]] = []
    item = value
    while True:
        if isinstance(item, dict | list | tuple):
            is_dict = isinstance(item, dict)
            yield "{" if is_dict else "["
            entries: Iterator[Any] = iter(item.items()) if isinstance(item, dict) else iter(item)
            stack.append(_entries(entries, is_dict, ascii_only, cut))
        else:
            yield _scalar(item, ascii_only, cut)
        # The next value to write, after whatever punctuation comes before it.
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                continue
            punctuation, item = step
            yield punctuation
            break
        else:
            return


_CLOSE = object()


def _entries(
    entries: Iterator[Any], is_dict: bool, ascii_only: bool, cut: int | None
) -> Iterator[tuple[str, Any] | None]:
    """(punctuation before the entry's value, the value) per entry; then the closing bracket,
    given as punctuation before an empty value."""
    first = True
    for entry in entries:
        comma = "" if first else ","
        first = False
        if is_dict:
            key, child = entry
            yield f"{comma}{_string(str(key)[:cut], ascii_only)}:", child
        else:
            yield comma, entry
    yield ("}" if is_dict else "]"), _CLOSE


def _scalar(item: Any, ascii_only: bool, cut: int | None) -> str:
    if item is _CLOSE:
        return ""
    if item is None:
        return "null"
    if item is True:
        return "true"
    if item is False:
        return "false"
    if isinstance(item, BigInteger):
        return str.__str__(item)[:cut]
    if isinstance(item, str):
        return _string(item[:cut], ascii_only)
    if isinstance(item, int):
        try:
            return int.__repr__(item)
        except ValueError:  # beyond Python's digit limit (never read so: see BigInteger)
            return '"an integer of more than 4300 digits"'
    if isinstance(item, float):
        return repr(item) if math.isfinite(item) else _NON_FINITE.get(item, '"NaN"')
    return _string(str(item)[:cut], ascii_only)
