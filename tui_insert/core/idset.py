"""A compact set of positive integer ids.

Ids as people number records (1, 2, 3, ...) live in a bitmap: a million of them take 125 kB
instead of the ~60 MB of a Python set of ints. Ids beyond the bitmap's reach go to a plain set.
The engine asks about a whole chunk at once (`found_in`), which keeps the per-id cost low.
"""

from __future__ import annotations

from collections.abc import Iterable

# Ids below this live in the bitmap (at most 32 MiB); anything larger in the overflow set.
_BITMAP_LIMIT = 1 << 28


class IdSet:
    __slots__ = ("_bits", "_big", "_count")

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._bits = bytearray()
        self._big: set[int] = set()
        self._count = 0
        self.update(ids)

    def update(self, ids: Iterable[int]) -> None:
        bits, big = self._bits, self._big
        count = 0
        for i in ids:
            if 0 <= i < _BITMAP_LIMIT:
                byte, bit = i >> 3, 1 << (i & 7)
                if byte >= len(bits):
                    # Grow by doubling, never past the limit.
                    size = min(max(byte + 1, 2 * len(bits)), _BITMAP_LIMIT >> 3)
                    bits.extend(bytes(size - len(bits)))
                if not bits[byte] & bit:
                    bits[byte] |= bit
                    count += 1
            elif i not in big:
                big.add(i)
                count += 1
        self._count += count

    def add(self, i: int) -> None:
        self.update((i,))

    def found_in(self, ids: Iterable[int]) -> set[int]:
        """The ids of `ids` that are in this set (`ids` must be ints)."""
        bits, big = self._bits, self._big
        reach = len(bits) << 3  # below this an id is in the bitmap or nowhere
        return {i for i in ids if (bits[i >> 3] >> (i & 7) & 1 if 0 <= i < reach else i in big)}

    def __contains__(self, i: object) -> bool:
        return type(i) is int and bool(self.found_in((i,)))

    def __len__(self) -> int:
        return self._count
