"""The slice of COSE (RFC 9052) the kiosk needs: COSE_Sign1 with Ed25519, nothing else.

Parsing returns the exact protected-header and payload bytes, because the signature covers
those bytes as sent; the decoded maps are only read. Every malformed input becomes a
`CoseError` carrying the reason code the caller reports.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from kiosk.reasons import Reason

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


def loads_strict(data: bytes, what: str) -> Any:
    """Decode exactly one CBOR item; trailing bytes and any decoder failure are MALFORMED."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(stream).decode()
    except Exception as exc:  # the decoder raises many types on hostile input
        raise CoseError(
            Reason.MALFORMED, f"{what}: not valid CBOR ({type(exc).__name__})"
        ) from None
    if stream.tell() != len(data):
        raise CoseError(Reason.MALFORMED, f"{what}: trailing bytes after the CBOR item")
    return item


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


def decode_sign1(data: bytes, what: str = "COSE_Sign1") -> Sign1:
    """Structure only: no algorithm or key checks (see `require_ed25519_header`)."""
    item = loads_strict(data, what)
    if isinstance(item, cbor2.CBORTag):
        if item.tag != TAG_SIGN1:
            raise CoseError(Reason.MALFORMED, f"{what}: CBOR tag {item.tag}, expected 18")
        item = item.value
    if not isinstance(item, list) or len(item) != 4:
        raise CoseError(Reason.MALFORMED, f"{what}: not a 4-element COSE_Sign1 array")
    protected_bytes, unprotected, payload, signature = item
    if not isinstance(protected_bytes, bytes) or not isinstance(unprotected, dict):
        raise CoseError(Reason.MALFORMED, f"{what}: bad header types")
    if not isinstance(payload, bytes):
        raise CoseError(Reason.MALFORMED, f"{what}: payload missing or detached")
    if not isinstance(signature, bytes):
        raise CoseError(Reason.MALFORMED, f"{what}: signature is not a byte string")
    if len(protected_bytes) == 13 and protected_bytes.startswith(_CANONICAL_HEAD):
        # {1: -8, 4: h'<8 bytes>'}, as every issuer writes it: same map, no decoder needed
        protected: Any = {HDR_ALG: ALG_EDDSA, HDR_KID: protected_bytes[5:]}
    elif protected_bytes:
        protected = loads_strict(protected_bytes, f"{what} protected header")
    else:
        protected = {}
    if not isinstance(protected, dict):
        raise CoseError(Reason.MALFORMED, f"{what}: protected header is not a map")
    return Sign1(protected_bytes, protected, unprotected, payload, signature)


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
