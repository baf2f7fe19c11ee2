"""A compact set of positive integer ids.

Ids as people number records (1, 2, 3, ...) live in a byte map, one byte per id up to the
largest id seen: a million of them take 1 MB instead of the ~60 MB of a Python set of ints, and
a whole chunk is looked up in C (`found_in`). Ids beyond the map's reach go to a plain set.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import itemgetter

# Ids below this live in the byte map (at most 16 MiB); anything larger in the overflow set.
_MAP_LIMIT = 1 << 24


class IdSet:
    __slots__ = ("_map", "_big", "_count")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._map = bytearray()
        self._big: set[int] = set()
        self._count = 0
        self.update(ids)

    def update(self, ids: Iterable[int]) -> None:
        ids = ids if isinstance(ids, list) else list(ids)
        if not ids:
            return
        if min(ids) >= 0 and max(ids) < _MAP_LIMIT:  # the common case: all in the map
            small = list(set(ids))
        else:
            small = list({i for i in ids if 0 <= i < _MAP_LIMIT})
        if small:
            self._reach(max(small))
            flags = self._map
            before = sum(itemgetter(*small)(flags)) if len(small) > 1 else flags[small[0]]
            deque(map(flags.__setitem__, small, repeat(1)), maxlen=0)  # flags[i] = 1, in C
            self._count += len(small) - before
        if len(small) < len(ids):
            big = [i for i in ids if not 0 <= i < _MAP_LIMIT]
            self._count -= len(self._big)
            self._big.update(big)
            self._count += len(self._big)

    def _reach(self, top: int) -> None:
        """Make the map cover ids up to `top` (< _MAP_LIMIT), growing by doubling."""
        if top >= len(self._map):
            size = min(max(top + 1, 2 * len(self._map)), _MAP_LIMIT)
            self._map.extend(bytes(size - len(self._map)))

    def add(self, i: int) -> None:
        self.update([i])

    def found_in(self, ids: Sequence[int]) -> set[int]:
        """The ids of `ids` that are in this set (`ids` must be ints)."""
        if not ids:
            return set()
        low, top = min(ids), max(ids)
        if low >= 0 and top < _MAP_LIMIT:
            # The common case, all in C: fetch each id's flag, keep the ids flagged.
            self._reach(top)
            got = itemgetter(*ids)(self._map)
            return set(compress(ids, got)) if len(ids) > 1 else ({ids[0]} if got else set())
        flags, big = self._map, self._big
        reach = len(flags)
        return {i for i in ids if (flags[i] if 0 <= i < reach else i in big)}

    def __iter__(self) -> Iterator[int]:
        yield from compress(range(len(self._map)), self._map)
        yield from self._big

    def __contains__(self, i: object) -> bool:
        return type(i) is int and bool(self.found_in([i]))

    def __len__(self) -> int:
        return self._count
