"""Base45 (RFC 9285), the QR alphanumeric-friendly encoding used after the `MID1:` prefix.

Decoding is vectorised with numpy: the pure-Python loop costs about 40 µs for a card, which
is close to half of an Ed25519 verification on a Raspberry Pi class CPU (see
benchmarks/verify.py); this costs about 7 µs.
"""

from __future__ import annotations

import numpy as np

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INVALID = 0xFF
_VALUES = bytes(ALPHABET.index(chr(c)) if chr(c) in ALPHABET else _INVALID for c in range(256))
_WEIGHTS = np.array([1, 45, 45 * 45], dtype=np.uint32)


class Base45Error(ValueError):
    """The text is not valid base45."""


def b45decode(text: str) -> bytes:
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise Base45Error("non-ASCII character") from None
    digits = raw.translate(_VALUES)
    if _INVALID in digits:
        raise Base45Error("character outside the base45 alphabet")
    tail = len(digits) % 3
    if tail == 1:
        raise Base45Error("length is 1 more than a multiple of 3")
    full = len(digits) - tail
    out = b""
    if full:
        groups = np.frombuffer(digits, dtype=np.uint8, count=full).reshape(-1, 3) @ _WEIGHTS
        if int(groups.max()) > 0xFFFF:
            raise Base45Error("a 3-character group exceeds 65535")
        out = groups.astype(">u2").tobytes()
    if tail == 2:
        last = digits[full] + digits[full + 1] * 45
        if last > 0xFF:
            raise Base45Error("the final 2-character group exceeds 255")
        out += bytes((last,))
    return out


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
