"""IETF Token Status List (draft-ietf-oauth-status-list): the packed status array.

Statuses are packed from the least significant bit of byte 0 upwards, `bits` (1, 2, 4 or 8)
per token. Lookups index the inflated bytes directly, so a 10-million-slot list costs
1.25 MB (1 bit) and a lookup is a few hundred nanoseconds.
"""

from __future__ import annotations

import zlib
from enum import IntEnum

VALID_BITS = (1, 2, 4, 8)
# 100 million one-bit slots; anything larger is refused before it is inflated further.
MAX_INFLATED_BYTES = 12_500_000
MIN_SLOTS = 131_072  # herd privacy: the smallest list the issuer creates


class Status(IntEnum):
    VALID = 0
    REVOKED = 1  # the draft's INVALID: permanent
    SUSPENDED = 2


class StatusListError(ValueError):
    pass


class StatusList:
    __slots__ = ("_data", "_mask", "bits", "size")

    def __init__(self, bits: int, data: bytes | bytearray) -> None:
        if bits not in VALID_BITS:
            raise StatusListError(f"bits must be one of {VALID_BITS}")
        self.bits = bits
        self._data = data
        self._mask = (1 << bits) - 1
        self.size = len(data) * 8 // bits

    @classmethod
    def blank(cls, size: int, bits: int = 1) -> StatusList:
        if size <= 0 or (size * bits) % 8:
            raise StatusListError("size x bits must be a positive multiple of 8")
        return cls(bits, bytearray(size * bits // 8))

    @classmethod
    def from_compressed(cls, bits: int, lst: bytes, cap: int = MAX_INFLATED_BYTES) -> StatusList:
        """Inflate `lst` (zlib), refusing more than `cap` bytes: a bomb costs nothing."""
        if cap <= 0:  # zlib reads a max_length of 0 as "no limit"
            raise StatusListError("the inflate cap must be positive")
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(lst, cap)
        except zlib.error as exc:
            raise StatusListError(f"lst is not valid zlib data ({exc})") from None
        if inflater.unconsumed_tail or (not inflater.eof and len(data) >= cap):
            raise StatusListError(f"lst inflates to more than {cap} bytes")
        if not inflater.eof:
            raise StatusListError("lst is truncated")
        if inflater.unused_data:
            raise StatusListError("trailing bytes after the zlib stream")
        if not data:
            raise StatusListError("lst is empty")
        return cls(bits, data)

    def status(self, idx: int) -> int:
        if not 0 <= idx < self.size:
            raise IndexError(f"status index {idx} outside a list of {self.size}")
        bit = idx * self.bits
        return (self._data[bit >> 3] >> (bit & 7)) & self._mask

    def set(self, idx: int, value: int) -> None:
        if not isinstance(self._data, bytearray):
            self._data = bytearray(self._data)
        if not 0 <= value <= self._mask:
            raise StatusListError(f"status {value} does not fit in {self.bits} bits")
        if not 0 <= idx < self.size:
            raise IndexError(f"status index {idx} outside a list of {self.size}")
        bit = idx * self.bits
        byte, shift = bit >> 3, bit & 7
        self._data[byte] = (self._data[byte] & ~(self._mask << shift) & 0xFF) | (value << shift)

    def to_bytes(self) -> bytes:
        return bytes(self._data)

    def compressed(self) -> bytes:
        return zlib.compress(bytes(self._data), 9)

    def count(self, value: int) -> int:
        """How many slots hold `value` (issuer statistics; not used on the kiosk's hot path)."""
        if self.bits == 1:
            ones = int.from_bytes(self._data, "little").bit_count()
            return ones if value == 1 else self.size - ones
        return sum(1 for i in range(self.size) if self.status(i) == value)
