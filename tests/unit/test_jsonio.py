"""JSON in and out, exactly (jsonio): what orjson loses or refuses takes the exact path, and
both paths judge nesting alike."""

from __future__ import annotations

import math

import pytest

from tests.helpers import strict_json
from tui_insert.core import jsonio
from tui_insert.core.jsonio import MAX_DEPTH, BigInteger, JsonError


def nest(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (2**64, 2**64),
        (-(2**70), -(2**70)),
        (math.nan, "NaN"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        ("a\ud800b", "a\ud800b"),
        ({"x": [1, {"y": math.nan}], "é": None}, {"x": [1, {"y": "NaN"}], "é": None}),
        ((1, 2), [1, 2]),
        ([], []),
        ({}, {}),
        (True, True),
    ],
)
def test_dumps_is_strict_and_keeps_values_as_given(value: object, written: object) -> None:
    assert strict_json(jsonio.dumps(value)) == written


def test_dumps_writes_the_digits_of_an_integer_beyond_pythons_limit() -> None:
    digits = BigInteger("-" + "7" * 5000)
    assert jsonio.dumps({"id": digits}) == b'{"id":-' + b"7" * 5000 + b"}"


def test_dumps_and_text_take_any_nesting() -> None:
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert jsonio.dumps(deep) == nest(5001).encode()
    assert jsonio.text(deep, 10).startswith("[" * 10)


def test_text_reads_no_more_of_a_value_than_it_shows() -> None:
    seen = []

    class Counted(list):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for item in list.__iter__(self):
                seen.append(item)
                yield item

    assert jsonio.text(Counted(range(1_000_000)), 30).startswith("[0,1,2,3")
    assert len(seen) < 40


@pytest.mark.parametrize("exact_path", [False, True])
def test_nesting_is_judged_alike_on_both_paths(exact_path: bool) -> None:
    # A long integer sends a text to the standard library's parser.
    extra = ', "n": 18446744073709551616' if exact_path else ""
    at_limit = f'{{"x": {nest(MAX_DEPTH - 1)}{extra}}}'.encode()
    assert jsonio.depth(jsonio.loads(at_limit)) == MAX_DEPTH
    too_deep = f'{{"x": {nest(MAX_DEPTH)}{extra}}}'.encode()
    with pytest.raises(JsonError, match=f"nested deeper than {MAX_DEPTH} levels"):
        jsonio.loads(too_deep)
    assert jsonio.depth(jsonio.loads(too_deep, MAX_DEPTH + 1)) == MAX_DEPTH + 1


def test_long_integers_are_never_read_as_floats() -> None:
    assert jsonio.loads(b"[18446744073709551616, -9223372036854775809, 1.5e300]") == [
        2**64,
        -(2**63) - 1,
        1.5e300,
    ]


def test_every_path_reads_a_text_with_long_integers_alike() -> None:
    text = (
        '[{"id": 18446744073709551616, "p": 1.25, "q": -0, "s": "\\u00e9\\u0000", "n": null},'
        ' {"id": -9223372036854775809,'
        ' "x": [1e300, 12345678901234567890.5, "12345678901234567890"]},'
        ' {"id": ' + "9" * 4100 + "}]"
    )
    exact = jsonio.loads_exactly(text)
    read = jsonio.loads(text.encode())
    assert read == exact
    assert [type(v) for r in read for v in r.values()] == [
        type(v) for r in exact for v in r.values()
    ]
    assert read[0]["id"] == 2**64 and str(read[2]["id"]) == "9" * 4100
