"""Helpers to take a real issued card apart and sign variants of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cbor2
from nacl.signing import SigningKey

from kiosk.core.base45 import b45decode, b45encode
from kiosk.core.card import PREFIX
from kiosk.core.cose import decode_sign1, encode_sign1
from kiosk.issuer.city import City


def cose_of(text: str) -> bytes:
    return b45decode(text[len(PREFIX) :])


def text_of(cose: bytes) -> str:
    return PREFIX + b45encode(cose)


def claims_of(text: str) -> dict[Any, Any]:
    claims: dict[Any, Any] = cbor2.loads(decode_sign1(cose_of(text)).payload)
    return claims


def resign(
    text: str,
    key: SigningKey,
    kid: bytes,
    mutate: Callable[[dict[Any, Any]], None] = lambda claims: None,
    protected: dict[int, Any] | None = None,
) -> str:
    """The card's claims, changed by `mutate`, signed by `key` under `kid`."""
    claims = claims_of(text)
    mutate(claims)
    header = protected if protected is not None else {1: -8, 4: kid}
    return text_of(encode_sign1(header, cbor2.dumps(claims), key))


def card_key(city: City, at: int) -> tuple[SigningKey, bytes]:
    record = city.active_key("card", at)
    return city.signing_key(record.kid), record.kid


def tamper(text: str, mutate: Callable[[dict[Any, Any]], None]) -> str:
    """Change the claims but keep the original signature bytes."""
    sign1 = decode_sign1(cose_of(text))
    claims = cbor2.loads(sign1.payload)
    mutate(claims)
    body = [sign1.protected_bytes, sign1.unprotected, cbor2.dumps(claims), sign1.signature]
    return text_of(cbor2.dumps(cbor2.CBORTag(18, body)))
