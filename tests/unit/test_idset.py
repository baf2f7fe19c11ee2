"""IdSet: the compact set of stored ids the rules ask about (bitmap below 2**28, a set above)."""

from __future__ import annotations

import pytest

from tui_insert.core.idset import IdSet

LIMIT = 2**28  # where the bitmap ends
MAX_ID = 2**63 - 1


def test_empty():
    s = IdSet()
    assert len(s) == 0
    assert 1 not in s
    assert 0 not in s
    assert MAX_ID not in s
    assert s.found_in([1, 2, LIMIT, MAX_ID]) == set()
    assert s.found_in([]) == set()


@pytest.mark.parametrize(
    "ids",
    [
        [1],
        [1, 2, 3, 8, 9, 15, 16, 17],
        [7, 8, 63, 64, 65, 1000, 1023, 1024],
        [LIMIT - 1],
        [LIMIT],
        [LIMIT - 1, LIMIT, LIMIT + 1],
        [LIMIT + 1, LIMIT, LIMIT - 1],
        [2**31, 2**32, 2**40, 2**62, MAX_ID - 1, MAX_ID],
        [1, 2**20, LIMIT - 8, LIMIT + 8, 2**50, MAX_ID],
    ],
    ids=repr,
)
def test_add_contains_len_found_in(ids):
    s = IdSet()
    for i in ids:
        s.add(i)
    assert len(s) == len(set(ids))
    for i in ids:
        assert i in s
    probes = {i + d for i in ids for d in (-1, 0, 1) if i + d > 0}
    assert s.found_in(probes) == set(ids)
    assert {p for p in probes if p in s} == set(ids)
    # built at once, or by update, the same set
    assert IdSet(ids).found_in(probes) == set(ids)
    t = IdSet()
    t.update(ids)
    assert len(t) == len(s)
    assert t.found_in(probes) == set(ids)


def test_neighbours_are_not_members():
    s = IdSet([10, LIMIT, MAX_ID])
    for i in (9, 11, 2, 16, 80, LIMIT - 1, LIMIT + 1, MAX_ID - 1, 2**62):
        assert i not in s
    assert s.found_in([9, 11, LIMIT - 1, LIMIT + 1, MAX_ID - 1]) == set()


def test_duplicates_are_counted_once():
    s = IdSet([5, 5, 5, LIMIT, LIMIT, MAX_ID, MAX_ID])
    assert len(s) == 3
    s.add(5)
    s.add(LIMIT)
    s.add(MAX_ID)
    s.update([5, LIMIT, MAX_ID, 6])
    assert len(s) == 4
    assert s.found_in([5, 6, LIMIT, MAX_ID, 5]) == {5, 6, LIMIT, MAX_ID}


def test_len_counts_many_ids_exactly():
    s = IdSet(range(1, 10_001))
    s.update(range(5_001, 15_001))
    assert len(s) == 15_000
    assert 15_000 in s
    assert 15_001 not in s
    assert s.found_in(range(14_990, 15_010)) == set(range(14_990, 15_001))


def test_found_in_ids_far_beyond_the_bitmap_so_far():
    # The bitmap only covers what has been added: asking above it must not fail.
    s = IdSet([3])
    assert s.found_in([3, 4, 10**6, LIMIT - 1, LIMIT, MAX_ID]) == {3}
    assert LIMIT - 1 not in s


@pytest.mark.parametrize("value", ["1", 1.0, 2.0**40, True, False, None, b"1", (1,), [1]], ids=repr)
def test_non_int_membership_is_false(value):
    s = IdSet([0, 1, 2**40])
    assert (value in s) is False


def test_order_of_adding_does_not_matter():
    ids = [LIMIT - 1, 3, 2**40, LIMIT, 17, MAX_ID, 1 << 20]
    forward, backward = IdSet(ids), IdSet(reversed(ids))
    probes = [i + d for i in ids for d in (-1, 0, 1)]
    assert forward.found_in(probes) == backward.found_in(probes) == set(ids)
    assert len(forward) == len(backward) == len(ids)


def test_an_id_just_above_the_bitmap_limit_after_the_bitmap_grew_unevenly():
    s = IdSet()
    s.add(2**27 + 8)  # byte 2**24 + 1: the bitmap is 2**24 + 2 bytes long
    s.add(LIMIT - 1)  # doubles it to 2**25 + 4 bytes, more than the 2**25 the limit needs
    s.add(LIMIT)  # goes to the overflow set
    assert len(s) == 3
    assert LIMIT in s
    assert s.found_in([LIMIT]) == {LIMIT}


def test_update_counts_each_id_once_even_when_repeated_or_already_there():
    s = IdSet([5, 6])
    s.update([5, 5, 7, 7, 2**40, 2**40])
    assert len(s) == 4
    assert s.found_in([5, 6, 7, 8, 2**40]) == {5, 6, 7, 2**40}
