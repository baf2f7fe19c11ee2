"""JSON in and out, exactly: every value as given, strict JSON out, whatever a record holds.

orjson does the common case fast, but it is lossy or refuses at the edges: it turns integers
beyond 64 bits into floats, writes NaN and Infinity as `null`, refuses lone surrogates (valid
JSON escapes such as `"\\ud800"`) and nests at most 1,024 levels in and 254 out. Those records
take the exact path here: the standard library's parser, and a serializer that walks values
without recursion. What comes in with more nesting than `MAX_DEPTH` is refused by both paths
alike, so a record's fate never depends on which one read it.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from typing import Any

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


# An integer orjson would turn into a float has 19 digits or more (2**63 has 19).
_LONG_NUMBER = re.compile(rb"[0-9]{19}")


def fast_loads_is_exact(data: bytes) -> bool:
    """Whether orjson reads `data` without losing digits (checked over many lines at once)."""
    return _LONG_NUMBER.search(data) is None


def loads(data: bytes) -> Any:
    """The JSON value of `data` (UTF-8), as given; JsonError says why not."""
    if fast_loads_is_exact(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return loads_exactly(data)


def _parse_int(digits: str) -> int | BigInteger:
    if len(digits) > MAX_DIGITS:
        return BigInteger(digits)
    return int(digits)


def _allow_depth() -> None:
    # The standard library's parser recurses; let it go past MAX_DEPTH so that the depth is
    # judged here, the same way as orjson does. Raised once, never lowered.
    if sys.getrecursionlimit() < 4 * MAX_DEPTH:
        sys.setrecursionlimit(4 * MAX_DEPTH)


def loads_exactly(data: bytes | str) -> Any:
    """The standard library's parser: integers of any size, NaN and Infinity, lone
    surrogates. The slow path, for what orjson cannot read exactly."""
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
        raise _too_deep(text) from None
    if depth(value) > MAX_DEPTH:
        raise _too_deep(text)
    return value


_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(text: str) -> JsonError:
    level = 0
    position = 0
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token in "[{":
            level += 1
            if level > MAX_DEPTH:
                position = match.start()
                break
        elif token in "]}":
            level -= 1
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return JsonError(f"nested deeper than {MAX_DEPTH} levels", line, column)


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
    """The JSON text of `value` in pieces, walking it with a stack of its own; strings and
    digits cut to `cut` characters if given."""
    stack: list[tuple[bool, Any]] = [(False, value)]
    pop, push = stack.pop, stack.append
    while stack:
        literal, item = pop()
        if literal:
            yield item
        elif item is None:
            yield "null"
        elif item is True:
            yield "true"
        elif item is False:
            yield "false"
        elif isinstance(item, BigInteger):
            yield str.__str__(item)[:cut]
        elif isinstance(item, str):
            yield _string(item[:cut], ascii_only)
        elif isinstance(item, int):
            try:
                yield int.__repr__(item)
            except ValueError:  # beyond Python's digit limit (never read so: see BigInteger)
                yield '"an integer of more than 4300 digits"'
        elif isinstance(item, float):
            yield repr(item) if math.isfinite(item) else _NON_FINITE.get(item, '"NaN"')
        elif isinstance(item, dict | list | tuple):
            is_dict = isinstance(item, dict)
            entries = list(item.items()) if is_dict else list(item)
            if not entries:
                yield "{}" if is_dict else "[]"
                continue
            yield "{" if is_dict else "["
            push((True, "}" if is_dict else "]"))
            for i in range(len(entries) - 1, -1, -1):
                comma = "," if i else ""
                if is_dict:
                    key, child = entries[i]
                    push((False, child))
                    push((True, f"{comma}{_string(str(key), ascii_only)}:"))
                else:
                    push((False, entries[i]))
                    if comma:
                        push((True, comma))
        else:
            yield _string(str(item), ascii_only)
