"""Base45 (RFC 9285), the QR alphanumeric-friendly encoding used after the `MID1:` prefix.

Decoding runs in C-level bytes and big-integer operations instead of a Python loop per
3-character group: the loop costs about 40 µs for a card, close to half an Ed25519
verification on a Raspberry Pi class CPU (see benchmarks/verify.py); this about 12 µs.

The trick: spread the first, second and third digit of every group into 32-bit slots of
three big integers, so `first + 45*second + 2025*third` computes every group at once with
no carries between slots (a group is at most 91,124 < 2**32). A group over 65,535 shows
as a non-zero third byte in its slot.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 0xFF
_VALUES = bytes(ALPHABET.index(chr(c)) if chr(c) in ALPHABET else _INVALID for c in range(256))


class Base45Error(ValueError):
    """The text is not valid base45."""


def b45decode(text: str) -> bytes:
    try:
        digits = text.encode("ascii").translate(_VALUES)
    except UnicodeEncodeError:
        raise Base45Error("non-ASCII character") from None
    if _INVALID in digits:
        raise Base45Error("character outside the base45 alphabet")
    groups, tail = divmod(len(digits), 3)
    if tail == 1:
        raise Base45Error("length is 1 more than a multiple of 3")
    full = 3 * groups
    slots = bytearray(4 * groups)
    slots[0::4] = digits[0:full:3]
    first = int.from_bytes(slots, "little")
    slots[0::4] = digits[1:full:3]
    second = int.from_bytes(slots, "little")
    slots[0::4] = digits[2:full:3]
    third = int.from_bytes(slots, "little")
    values = (first + 45 * second + 2025 * third).to_bytes(4 * groups, "little")
    if values[2::4].strip(b"\0"):
        raise Base45Error("a 3-character group exceeds 65535")
    out = bytearray(2 * groups)
    out[0::2] = values[1::4]  # each group is 2 bytes, most significant first
    out[1::2] = values[0::4]
    if tail == 2:
        last = digits[full] + digits[full + 1] * 45
        if last > 0xFF:
            raise Base45Error("the final 2-character group exceeds 255")
        out.append(last)
    return bytes(out)


def b45encode(data: bytes) -> str:
    chars: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = (data[i] << 8) | data[i + 1]
        e, rest = divmod(n, 45 * 45)
        d, c = divmod(rest, 45)
        chars += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        chars += (ALPHABET[c], ALPHABET[d])
    return "".join(chars)
