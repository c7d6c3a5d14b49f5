from __future__ import annotations

import random
import zlib

import pytest

from kiosk.core.statuslist import StatusList, StatusListError


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_set_and_read_every_width(bits: int) -> None:
    size = 4096
    statuses = StatusList.blank(size, bits)
    rng = random.Random(bits)
    expected = [rng.randrange(1 << bits) for _ in range(size)]
    for idx, value in enumerate(expected):
        statuses.set(idx, value)
    again = StatusList.from_compressed(bits, statuses.compressed())
    assert [again.status(i) for i in range(size)] == expected


def test_lsb_first_packing() -> None:
    statuses = StatusList.blank(8, 2)
    statuses.set(0, 1)
    statuses.set(1, 2)
    statuses.set(3, 3)
    # index 0 in bits 0-1, index 1 in bits 2-3, index 3 in bits 6-7 of byte 0
    assert statuses.to_bytes() == bytes([0b11001001, 0])


def test_out_of_range() -> None:
    statuses = StatusList.blank(16)
    with pytest.raises(IndexError):
        statuses.status(16)
    with pytest.raises(IndexError):
        statuses.status(-1)
    with pytest.raises(StatusListError):
        statuses.set(0, 2)  # doesn't fit one bit


@pytest.mark.parametrize(
    ("bits", "lst", "message"),
    [
        (3, zlib.compress(b"\0"), "bits"),
        (1, b"not zlib", "zlib"),
        (1, zlib.compress(b"\0" * 100)[:-3], "truncated"),
        (1, zlib.compress(b"\0" * 100) + b"extra", "trailing"),
        (1, zlib.compress(b""), "empty"),
    ],
)
def test_bad_lists_refused(bits: int, lst: bytes, message: str) -> None:
    with pytest.raises(StatusListError, match=message):
        StatusList.from_compressed(bits, lst)


def test_inflate_cap() -> None:
    lst = zlib.compress(bytes(1_000_001))
    with pytest.raises(StatusListError, match="more than"):
        StatusList.from_compressed(1, lst, cap=1_000_000)
    assert StatusList.from_compressed(1, lst, cap=1_000_001).size == 8_000_008


def test_ten_million_slots_with_one_percent_revoked() -> None:
    size = 10_000_000
    statuses = StatusList.blank(size)
    rng = random.Random(7)
    revoked = set(rng.sample(range(size), size // 100))
    for idx in revoked:
        statuses.set(idx, 1)
    loaded = StatusList.from_compressed(1, statuses.compressed())
    assert loaded.size == size
    assert loaded.count(1) == len(revoked)
    probes = rng.sample(range(size), 2000) + sorted(revoked)[:2000]
    assert all(loaded.status(i) == (i in revoked) for i in probes)
