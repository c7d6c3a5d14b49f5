"""The slice of COSE (RFC 9052) the kiosk needs: COSE_Sign1 with Ed25519, nothing else.

Parsing returns the exact protected-header and payload bytes, because the signature covers
those bytes as sent; the decoded maps are only read. Every malformed input becomes a
`CoseError` carrying the reason code the caller reports.

No byte reaches cbor2 before `scan` has read its CBOR heads: no tag (but a single tag 18
around a COSE_Sign1), no indefinite length, bounded nesting and item count. cbor2 acts on
some tags as it decodes them (a regex is compiled, MIME is parsed) and builds whatever a
16 MiB file describes; the scan refuses both before any of that work is done.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from kiosk.core.reasons import Reason

TAG_SIGN1 = 18
HDR_ALG = 1
HDR_CRIT = 2
HDR_KID = 4
HDR_TYP = 16
ALG_EDDSA = -8  # RFC 9053 "EdDSA"; with a 32-byte bundle key it means Ed25519
ALG_ED25519 = -19  # RFC 9864, fully specified
ACCEPTED_ALGS = frozenset({ALG_EDDSA, ALG_ED25519})
SIGNATURE_LENGTH = 64
KID_LENGTH = 8


class CoseError(ValueError):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def describe(value: object, limit: int = 40) -> str:
    """A short, safe rendering of an untrusted value for error messages."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit integer"
    text = repr(value) if isinstance(value, int | str | bytes) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def kid_for(public_key: bytes) -> bytes:
    """Key id used by cards, status lists and bundles: SHA-256 of the raw key, first 8 bytes."""
    return hashlib.sha256(public_key).digest()[:KID_LENGTH]


# Bounds of the strict pre-scan. Cards nest 3 levels and hold about 30 items; a bundle's
# payload nests 3 levels and holds ~11 items per key (its status lists are single byte
# strings). Headers are small maps.
MAX_DEPTH = 16
MAX_ITEMS = 100_000
MAX_HEADER_ITEMS = 256


def _short_heads() -> tuple[int, ...]:
    """What each initial byte alone tells: > 0, the whole item's size (integers, short
    strings, false/true/null/undefined, floats); < 0, an array or map of n items (a map
    entry is two), as -(n + 1); 0, the head must be read in full."""
    codes = [0] * 256
    for ib in range(256):
        major, info = ib >> 5, ib & 0x1F
        argument = {24: 1, 25: 2, 26: 4, 27: 8}.get(info, 0 if info < 24 else -1)
        if major in (0, 1) and argument >= 0:
            codes[ib] = 1 + argument
        elif major in (2, 3) and info < 24:
            codes[ib] = 1 + info
        elif major in (4, 5) and info < 24:
            codes[ib] = -((info << (major - 4)) + 1)
        elif major == 7 and (20 <= info <= 23 or 25 <= info <= 27):
            codes[ib] = 1 + argument
    return tuple(codes)


def _heads() -> tuple[tuple[int, int, int], ...]:
    """For each initial byte: major type, width in bytes of the argument that follows it
    (-1 for additional information 28-31: reserved or indefinite), and the argument when
    the initial byte holds it."""
    heads = []
    for ib in range(256):
        major, info = ib >> 5, ib & 0x1F
        if info < 24:
            heads.append((major, 0, info))
        else:
            heads.append((major, 1 << (info - 24) if info < 28 else -1, 0))
    return tuple(heads)


_SHORT_HEAD = _short_heads()
_HEAD = _heads()


def _malformed(what: str, problem: str) -> CoseError:
    return CoseError(Reason.MALFORMED, f"{what}: {problem}")


def _refusal(what: str, major: int, info: int, argument: int) -> CoseError:
    if major == 6:
        return _malformed(what, f"CBOR tag {argument} is not allowed")
    if info == 31:
        return _malformed(what, "CBOR break" if major == 7 else "indefinite-length CBOR item")
    if info >= 28:
        return _malformed(what, "reserved CBOR additional information")
    return _malformed(what, "reserved or unassigned CBOR simple value")


def scan(
    data: bytes,
    what: str,
    start: int = 0,
    *,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
) -> int:
    """Check that one well-formed CBOR item starts at `start`; return where it ends.

    RFC 8949 heads only, before any decoder sees the bytes: refuses every tag, indefinite
    lengths, reserved and unassigned simple values, nesting deeper than `max_depth` and
    containers declaring more than `max_items` items in all (before reading them). Byte and
    text strings are skipped by their length, so a megabyte string costs as much as a byte.
    Text is not checked for UTF-8 here: the decoder does that.
    """
    short, heads = _SHORT_HEAD, _HEAD
    end = len(data)
    pos = start
    budget = max_items
    parents: list[int] = []  # items still to read in each enclosing container
    remaining = 1
    try:
        while True:
            while remaining:
                remaining -= 1
                code = short[data[pos]]
                if code > 0:
                    pos += code
                    continue
                if code < 0:
                    count = -code - 1
                    pos += 1
                else:
                    ib = data[pos]
                    major, width, argument = heads[ib]
                    if width:
                        if width < 0:
                            raise _refusal(what, major, ib & 0x1F, 0)
                        if pos + 1 + width > end:
                            raise _malformed(what, "truncated CBOR item")
                        argument = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
                    pos += 1 + width
                    if major == 2 or major == 3:
                        pos += argument
                        if pos > end:
                            raise _malformed(what, "truncated CBOR item")
                        continue
                    if major != 4 and major != 5:  # tags; simple values but the 4 allowed
                        raise _refusal(what, major, ib & 0x1F, argument)
                    count = argument << (major - 4)  # a map entry is a key and a value
                if len(parents) >= max_depth:
                    raise _malformed(what, f"CBOR nested deeper than {max_depth} levels")
                budget -= count
                if budget < 0:
                    raise _malformed(what, f"more than {max_items} CBOR items")
                if count:
                    parents.append(remaining)
                    remaining = count
            if not parents:
                break
            remaining = parents.pop()
    except IndexError:
        raise _malformed(what, "truncated CBOR item") from None
    if pos > end:
        raise _malformed(what, "truncated CBOR item")
    return pos


def _decode_scanned(data: bytes, what: str) -> Any:
    try:
        return cbor2.loads(data)
    except Exception as exc:  # e.g. invalid UTF-8: the scan does not read text
        raise _malformed(what, f"not valid CBOR ({type(exc).__name__})") from None


def loads_strict(
    data: bytes, what: str, *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS
) -> Any:
    """Decode exactly one CBOR item, `scan`ned first; anything refused is MALFORMED."""
    if scan(data, what, max_depth=max_depth, max_items=max_items) != len(data):
        raise _malformed(what, "trailing bytes after the CBOR item")
    return _decode_scanned(data, what)


@dataclass(frozen=True, slots=True)
class Sign1:
    protected_bytes: bytes
    protected: dict[Any, Any]
    unprotected: dict[Any, Any]
    payload: bytes
    signature: bytes = field(repr=False)

    @property
    def alg(self) -> Any:
        return self.protected.get(HDR_ALG)

    @property
    def kid(self) -> bytes | None:
        kid = self.protected.get(HDR_KID)
        return kid if isinstance(kid, bytes) else None

    def to_be_signed(self) -> bytes:
        return sig_structure(self.protected_bytes, self.payload)

    def verify(self, key: VerifyKey) -> bool:
        if len(self.signature) != SIGNATURE_LENGTH:
            return False
        try:
            key.verify(self.to_be_signed(), self.signature)
        except BadSignatureError:
            return False
        return True


_CANONICAL_HEAD = bytes.fromhex("a201270448")  # map(2) 1: -8, 4: bstr(8)
# tag 18, array(4), bstr(13) holding the canonical protected header
_ISSUER_HEAD = b"\xd2\x84\x4d" + _CANONICAL_HEAD
_SIGNATURE_HEAD = b"\x58\x40"  # bstr(64)


def _head(data: bytes, pos: int, what: str) -> tuple[int, int, int]:
    """(major type, argument, position after the head) of the definite-length head at `pos`."""
    ib = data[pos]
    major, info = ib >> 5, ib & 0x1F
    if info < 24:
        return major, info, pos + 1
    if info >= 28:
        raise _refusal(what, major, info, 0)
    width = 1 << (info - 24)
    if pos + 1 + width > len(data):
        raise IndexError
    return major, int.from_bytes(data[pos + 1 : pos + 1 + width], "big"), pos + 1 + width


def _byte_string(data: bytes, pos: int, what: str, problem: str) -> tuple[bytes, int]:
    major, length, pos = _head(data, pos, what)
    if major != 2:
        raise _malformed(what, problem)
    if pos + length > len(data):
        raise IndexError
    return data[pos : pos + length], pos + length


def decode_sign1(data: bytes, what: str = "COSE_Sign1") -> Sign1:
    """Structure only: no algorithm or key checks (see `require_ed25519_header`).

    The envelope is read head by head: an optional tag 18, then [protected bstr,
    unprotected map, payload bstr, signature bstr]. The payload is taken by its length and
    never walked here; the unprotected map is scanned with small bounds before decoding.
    """
    if data.startswith(_ISSUER_HEAD) and data[16:17] == b"\xa0" and len(data) > 83:
        # The layout every issuer writes: {1: -8, 4: kid} protected, {} unprotected, a
        # 64-byte signature; only the payload's length is left to read.
        payload_end = len(data) - 66
        major, length, start = _head(data, 17, what)
        if (
            major == 2
            and start + length == payload_end
            and data[payload_end : payload_end + 2] == _SIGNATURE_HEAD
        ):
            protected = {HDR_ALG: ALG_EDDSA, HDR_KID: data[8:16]}
            payload, signature = data[start:payload_end], data[payload_end + 2 :]
            return Sign1(data[3:16], protected, {}, payload, signature)
    try:
        major, argument, pos = _head(data, 0, what)
        if major == 6:
            if argument != TAG_SIGN1:
                raise _malformed(what, f"CBOR tag {argument}, expected 18")
            major, argument, pos = _head(data, pos, what)
            if major == 6:
                raise _malformed(what, f"CBOR tag {argument} inside tag 18")
        if major != 4 or argument != 4:
            raise _malformed(what, "not a 4-element COSE_Sign1 array")
        protected_bytes, pos = _byte_string(data, pos, what, "bad header types")
        if data[pos] == 0xA0:  # {}, as every issuer writes it
            unprotected: Any = {}
            pos += 1
        elif data[pos] >> 5 == 5:
            label = f"{what} unprotected header"
            end = scan(data, label, pos, max_items=MAX_HEADER_ITEMS)
            unprotected = _decode_scanned(data[pos:end], label)
            pos = end
        else:
            raise _malformed(what, "bad header types")
        payload, pos = _byte_string(data, pos, what, "payload missing or detached")
        signature, pos = _byte_string(data, pos, what, "signature is not a byte string")
    except IndexError:
        raise _malformed(what, "truncated COSE_Sign1") from None
    if pos != len(data):
        raise _malformed(what, "trailing bytes after the CBOR item")
    if len(protected_bytes) == 13 and protected_bytes.startswith(_CANONICAL_HEAD):
        # {1: -8, 4: h'<8 bytes>'}, as every issuer writes it: same map, no decoder needed
        header: Any = {HDR_ALG: ALG_EDDSA, HDR_KID: protected_bytes[5:]}
    elif protected_bytes:
        header = loads_strict(
            protected_bytes, f"{what} protected header", max_items=MAX_HEADER_ITEMS
        )
    else:
        header = {}
    if not isinstance(header, dict):
        raise _malformed(what, "protected header is not a map")
    return Sign1(protected_bytes, header, unprotected, payload, signature)


def require_ed25519(sign1: Sign1, what: str) -> None:
    """The protected header names Ed25519 (as -8 or -19) and nothing critical.

    The key's type comes from the trust bundle, never from the header. Critical parameters
    are refused: the kiosk understands none (RFC 9052 §3.1).
    """
    alg = sign1.alg
    if alg is None:
        raise CoseError(Reason.MALFORMED, f"{what}: no alg in the protected header")
    # Type first: a hostile header may hold a list or map (unhashable) or a huge integer.
    if not isinstance(alg, int | str) or isinstance(alg, bool):
        raise CoseError(Reason.MALFORMED, f"{what}: alg is a {type(alg).__name__}")
    if alg not in ACCEPTED_ALGS:
        raise CoseError(Reason.UNSUPPORTED, f"{what}: algorithm {describe(alg)} is not Ed25519")
    if HDR_CRIT in sign1.protected:
        raise CoseError(Reason.UNSUPPORTED, f"{what}: critical header parameters")
    if len(sign1.signature) != SIGNATURE_LENGTH:
        raise CoseError(Reason.MALFORMED, f"{what}: an Ed25519 signature is 64 bytes")


def require_ed25519_header(sign1: Sign1, what: str) -> bytes:
    """`require_ed25519`, and an 8-byte kid in the protected header; returns the kid."""
    require_ed25519(sign1, what)
    kid = sign1.kid
    if kid is None or len(kid) != KID_LENGTH:
        raise CoseError(Reason.MALFORMED, f"{what}: no 8-byte kid in the protected header")
    return kid


def _bstr(data: bytes) -> bytes:
    n = len(data)
    if n < 24:
        head = bytes((0x40 | n,))
    elif n < 0x100:
        head = bytes((0x58, n))
    elif n < 0x10000:
        head = b"\x59" + n.to_bytes(2, "big")
    else:
        head = b"\x5a" + n.to_bytes(4, "big")
    return head + data


_SIG_STRUCTURE_HEAD = b"\x84\x6aSignature1"


def sig_structure(protected_bytes: bytes, payload: bytes, external_aad: bytes = b"") -> bytes:
    """RFC 9052 §4.4 Sig_structure for COSE_Sign1, encoded by hand (it is on the hot path)."""
    return _SIG_STRUCTURE_HEAD + _bstr(protected_bytes) + _bstr(external_aad) + _bstr(payload)


def encode_sign1(
    protected: dict[int, Any],
    payload: bytes,
    key: SigningKey,
    unprotected: dict[int, Any] | None = None,
    *,
    tagged: bool = True,
) -> bytes:
    protected_bytes = cbor2.dumps(protected) if protected else b""
    signature = key.sign(sig_structure(protected_bytes, payload)).signature
    body = [protected_bytes, unprotected or {}, payload, signature]
    return cbor2.dumps(cbor2.CBORTag(TAG_SIGN1, body) if tagged else body)


def ed25519_protected(kid: bytes, typ: str | None = None) -> dict[int, Any]:
    header: dict[int, Any] = {HDR_ALG: ALG_EDDSA, HDR_KID: kid}
    if typ is not None:
        header[HDR_TYP] = typ
    return header
