"""A compact set of positive integer ids.

Ids as people number records (1, 2, 3, ...) live in a bitmap: a million of them take 125 kB
instead of the ~60 MB of a Python set of ints. Ids beyond the bitmap's reach go to a plain set.
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
        for i in ids:
            self.add(i)

    def add(self, i: int) -> None:
        if 0 <= i < _BITMAP_LIMIT:
            byte, bit = i >> 3, 1 << (i & 7)
            bits = self._bits
            if byte >= len(bits):
                bits.extend(bytes(max(byte + 1 - len(bits), len(bits))))
            if not bits[byte] & bit:
                bits[byte] |= bit
                self._count += 1
        elif i not in self._big:
            self._big.add(i)
            self._count += 1

    def __contains__(self, i: object) -> bool:
        if type(i) is not int:
            return False
        if 0 <= i < _BITMAP_LIMIT:
            byte = i >> 3
            return byte < len(self._bits) and bool(self._bits[byte] & (1 << (i & 7)))
        return i in self._big

    def __len__(self) -> int:
        return self._count
