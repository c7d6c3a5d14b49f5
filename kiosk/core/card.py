"""City card (format version 1): QR text -> verified decision. Pure: no clock, no I/O.

QR text is `MID1:` + base45(COSE_Sign1(CWT claims)). `verify_card` walks DESIGN.md's
verification order and stops at the first failure:

prefix -> base45 -> CBOR -> structure -> alg -> kid known -> signature -> key fit for cards
at iat -> issuer -> clock sane -> status list known and trust fresh -> iat not in the
future -> not expired -> status -> site policy.

The card's dates are checked last among the time checks: the kiosk's clock must not be
behind the newest trust data it accepted, and its data must be fresh (or within the
policy's grace), before a date on the card is held against the holder. A wrong clock or
stale data is "can't check" (TRUST_STALE), never NOT_YET_VALID or EXPIRED.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from kiosk.core.base45 import Base45Error, b45decode
from kiosk.core.cose import (
    CoseError,
    Sign1,
    decode_sign1,
    describe,
    loads_strict,
    require_ed25519_header,
)
from kiosk.core.decision import Card, Decision
from kiosk.core.policy import Policy
from kiosk.core.reasons import Reason
from kiosk.core.statuslist import Status
from kiosk.core.trust import CLAIM_EXP, CLAIM_IAT, CLAIM_ISS, TrustStore

PREFIX = "MID1:"
MAX_TEXT_LENGTH = 1024
CLAIM_CTI = 7
CLAIM_STATUS = 65535
CLAIM_CARD = -65537
ROLES = ("resident", "technician")
MAX_NAME_LENGTH = 64
_OTHER_VERSION = re.compile(r"MID[0-9]+:")
_LANG_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_BENEFIT = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_DOB = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class _Malformed(CoseError):
    def __init__(self, detail: str) -> None:
        super().__init__(Reason.MALFORMED, detail)


def decode_text(text: str) -> bytes:
    """QR text -> COSE bytes (prefix and base45 steps)."""
    if len(text) > MAX_TEXT_LENGTH:
        raise _Malformed(f"text of {len(text)} characters is over {MAX_TEXT_LENGTH}")
    if not text.startswith(PREFIX):
        if _OTHER_VERSION.match(text):
            raise CoseError(Reason.UNSUPPORTED, f"card format {text.split(':')[0]} unsupported")
        raise _Malformed("not a city card (no MID1: prefix)")
    try:
        return b45decode(text[len(PREFIX) :])
    except Base45Error as exc:
        raise _Malformed(f"base45: {exc}") from None


def parse_card(text: str) -> tuple[Sign1, Card]:
    """Decode and check the structure of a card, without any signature or trust check."""
    sign1 = decode_sign1(decode_text(text), "card")
    claims = loads_strict(sign1.payload, "card claims")
    if not isinstance(claims, dict):
        raise _Malformed("card claims are not a map")
    return sign1, _card_from_claims(claims)


def _typed(value: Any, kind: type, what: str) -> Any:
    # `type(...) is` rather than isinstance: cbor2 yields exact types, and bool is not an int
    if type(value) is not kind:
        raise _Malformed(f"{what} missing or of the wrong type")
    return value


def _uint(value: Any, what: str) -> int:
    if type(value) is not int or value < 0:
        raise _Malformed(f"{what} must be a non-negative integer")
    return value


def _optional_text(card: dict[Any, Any], key: str) -> str | None:
    value = card.get(key)
    if value is not None and (type(value) is not str or not value):
        raise _Malformed(f"card {key} must be text")
    return value


def _card_from_claims(claims: dict[Any, Any]) -> Card:
    serial = _typed(claims.get(CLAIM_CTI), bytes, "cti")
    if not 8 <= len(serial) <= 16:
        raise _Malformed("cti must be 8 to 16 bytes")
    status = _typed(claims.get(CLAIM_STATUS), dict, "status claim")
    ref = _typed(status.get("status_list"), dict, "status_list reference")
    idx = _typed(ref.get("idx"), int, "status_list idx")
    uri = _typed(ref.get("uri"), str, "status_list uri")
    if idx < 0 or not uri:
        raise _Malformed("status_list idx/uri out of range")
    card = _typed(claims.get(CLAIM_CARD), dict, "card claim (-65537)")
    version = card.get("v")
    if version != 1 or type(version) is not int:
        if type(version) is int:
            raise CoseError(Reason.UNSUPPORTED, "card claim version unsupported")
        raise _Malformed("card claim v missing")
    name = _typed(card.get("name"), str, "card name")
    if not name or len(name) > MAX_NAME_LENGTH or not unicodedata.is_normalized("NFC", name):
        raise _Malformed("card name must be 1-64 characters of NFC text")
    # isprintable() is the fast path (C); the per-character check only runs for names that
    # hold spaces other than U+0020, joiners or unassigned code points.
    if not name.isprintable() and any(_is_control(ch) for ch in name):
        raise _Malformed("card name holds control or bidi-override characters")
    dob_text = _typed(card.get("dob"), str, "card dob")
    try:
        if not _DOB.fullmatch(dob_text):
            raise ValueError
        dob = date.fromisoformat(dob_text)
    except ValueError:
        raise _Malformed("card dob is not a YYYY-MM-DD date") from None
    lang = _optional_text(card, "lang")
    if lang is not None and not _LANG_TAG.fullmatch(lang):
        raise _Malformed("card lang is not a BCP 47 tag")
    benefits = card.get("ben", ())
    if type(benefits) is list:
        benefits = tuple(benefits)
    if type(benefits) is not tuple or not all(
        type(b) is str and _BENEFIT.fullmatch(b) for b in benefits
    ):
        raise _Malformed("card ben must be an array of benefit codes")
    role = card.get("role", "resident")
    if role not in ROLES:
        raise CoseError(Reason.UNSUPPORTED, f"card role {describe(role)} unsupported")
    specimen = card.get("specimen", False)
    if type(specimen) is not bool:
        raise _Malformed("card specimen must be a boolean")
    return Card(
        _typed(claims.get(CLAIM_ISS), str, "iss"),
        _uint(claims.get(CLAIM_IAT), "iat"),
        _uint(claims.get(CLAIM_EXP), "exp"),
        serial,
        uri,
        idx,
        name,
        dob,
        _optional_text(card, "gender"),
        lang,
        benefits,
        role,
        specimen,
    )


# Zero-width joiner/non-joiner are part of correct spelling in Persian, Urdu and Indic names;
# other format characters (bidi overrides and isolates) could make a name display as another.
_NAME_FORMAT_OK = frozenset({"\u200c", "\u200d"})


def _is_control(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in ("Cc", "Zl", "Zp") or (category == "Cf" and ch not in _NAME_FORMAT_OK)


def verify_card(text: str, trust: TrustStore | None, now: int, policy: Policy) -> Decision:
    """Turn the text of a card's QR code into a decision. Never raises for bad input."""
    try:
        sign1, card = parse_card(text)
        kid = require_ed25519_header(sign1, "card")
    except CoseError as exc:
        return Decision(exc.reason, exc.detail)
    if trust is None:
        return Decision(Reason.TRUST_STALE, "no trust data installed", kid)
    bundle = trust.bundle
    key = bundle.keys.get(kid)
    if key is None:
        return Decision(Reason.UNKNOWN_KEY, f"key {kid.hex()} is not in the trust bundle", kid)
    if not sign1.verify(key.verifier):
        return Decision(Reason.BAD_SIGNATURE, "signature does not verify", kid)
    reason, detail, warnings = _authenticated_checks(card, kid, trust, now, policy)
    checked = (card.status_uri, card.status_idx) if reason in _STATUS_CHECKED else None
    return Decision(reason, detail, kid, card, checked, warnings)


# Outcomes reached only after the card's status was looked up.
_STATUS_CHECKED = frozenset(
    {Reason.ACCEPTED, Reason.REVOKED, Reason.SUSPENDED, Reason.POLICY_DENIED}
)
_Outcome = tuple[Reason, str, tuple[Reason, ...]]


def _authenticated_checks(
    card: Card, kid: bytes, trust: TrustStore, now: int, policy: Policy
) -> _Outcome:
    """The checks after the signature: key fit, issuer, clock, trust, dates, status, policy."""
    bundle = trust.bundle
    fit, why = bundle.key_fit(kid, "card", card.issued_at)
    if fit is None:
        return Reason.KEY_NOT_VALID, why, ()
    if card.issuer != bundle.issuer:
        return Reason.WRONG_ISSUER, "issuer differs from bundle", ()
    skew = policy.skew_s
    if now + skew < trust.clock_floor:
        return Reason.TRUST_STALE, "the kiosk's clock is behind its trust data", ()
    token = trust.lists.get(card.status_uri)
    if token is None:
        return Reason.TRUST_STALE, "no status list for the card's list uri", ()
    stale_since = bundle.expires_at
    if token.expires_at is not None and token.expires_at < stale_since:
        stale_since = token.expires_at
    stale = now > stale_since
    # Before the card's own dates: data stale past the grace period means the kiosk's clock
    # or data can't be relied on, and a card must not be called expired on their word.
    if stale and not policy.within_stale_grace(now - stale_since):
        return Reason.TRUST_STALE, "trust data has expired", ()
    if card.issued_at > now + skew:
        return Reason.NOT_YET_VALID, "issued in the future", ()
    if now - skew > card.expires_at:
        return Reason.EXPIRED, "past the card's expiry", ()
    try:
        status = token.statuses.status(card.status_idx)
    except IndexError:
        return Reason.MALFORMED, "status index outside the list", ()
    if status != Status.VALID:
        if status == Status.SUSPENDED:
            if stale:  # a suspension may have been lifted since: can't check, not "bad"
                return Reason.TRUST_STALE, "suspended in stale data", ()
            return Reason.SUSPENDED, f"status {status} in {card.status_uri}", ()
        # Revocation is permanent; values 3+ (application-specific) are treated as revoked.
        return Reason.REVOKED, f"status {status} in {card.status_uri}", ()
    warnings = (Reason.TRUST_STALE,) if stale else ()
    denied = policy.denial(card, now)
    if denied:
        return Reason.POLICY_DENIED, denied, warnings
    return Reason.ACCEPTED, "", warnings
