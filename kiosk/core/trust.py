"""Trust data: the city's signed bundle of keys and its signed status lists.

`parse_bundle` and `parse_status_list_token` verify one signed object each and return an
immutable value; `TrustStore` is the verified set the card verifier reads. Nothing here
touches the disk or reads the clock: `kiosk.core.trust_state` stores and reloads these objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from kiosk.core.cose import (
    HDR_TYP,
    KID_LENGTH,
    CoseError,
    Sign1,
    decode_sign1,
    describe,
    kid_for,
    loads_strict,
    require_ed25519,
    require_ed25519_header,
)
from kiosk.core.errors import TrustError
from kiosk.core.statuslist import StatusList, StatusListError

STATUS_LIST_TYP = "application/statuslist+cwt"
MAX_BUNDLE_BYTES = 16 * 1024 * 1024
MAX_STATUS_LIST_TOKEN_BYTES = 4 * 1024 * 1024

# CWT claim keys (RFC 8392 and draft-ietf-oauth-status-list)
CLAIM_ISS = 1
CLAIM_SUB = 2
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_STATUS_LIST = 65533
CLAIM_TTL = 65534

KeyUse = Literal["card", "status"]


@dataclass(frozen=True)
class TrustKey:
    kid: bytes
    public_key: bytes
    use: KeyUse
    nbf: int
    exp: int
    verifier: VerifyKey = field(compare=False, repr=False)

    def covers(self, moment: int) -> bool:
        return self.nbf <= moment <= self.exp


@dataclass(frozen=True)
class Bundle:
    issuer: str
    version: int
    issued_at: int
    expires_at: int
    keys: Mapping[bytes, TrustKey]
    revoked_kids: frozenset[bytes]
    status_list_tokens: tuple[bytes, ...]
    next_roots: tuple[bytes, ...]
    signer: bytes  # the root public key that signed this bundle
    raw: bytes = field(repr=False)

    def key_fit(self, kid: bytes, use: KeyUse, moment: int) -> tuple[TrustKey | None, str]:
        """The key `kid` if it may sign objects of `use` issued at `moment`, else why not."""
        key = self.keys.get(kid)
        if key is None:
            return None, "unknown key"
        if kid in self.revoked_kids:
            return None, "key has been revoked"
        if key.use != use:
            return None, f"a {key.use} key cannot sign {use} data"
        if not key.covers(moment):
            return None, "issued outside the key's validity window"
        return key, ""


@dataclass(frozen=True)
class StatusListToken:
    uri: str
    issued_at: int
    expires_at: int | None
    ttl: int | None
    kid: bytes
    statuses: StatusList = field(repr=False)
    raw: bytes = field(repr=False)

    @property
    def refresh_due(self) -> int | None:
        """When a fresh copy should be fetched (iat + ttl); staleness itself is `exp`."""
        return None if self.ttl is None else self.issued_at + self.ttl


def _fail(what: str, problem: str) -> TrustError:
    return TrustError(f"{what}: {problem}")


@contextmanager
def _as_trust_error() -> Iterator[None]:
    """COSE problems in trust data are trust errors, not card reasons."""
    try:
        yield
    except CoseError as exc:
        raise TrustError(exc.detail) from None


def _payload_map(sign1: Sign1, what: str) -> dict[Any, Any]:
    with _as_trust_error():
        payload = loads_strict(sign1.payload, f"{what} payload")
    if not isinstance(payload, dict):
        raise _fail(what, "payload is not a map")
    return payload


def _int(claims: Mapping[Any, Any], key: Any, what: str, *, optional: bool = False) -> Any:
    value = claims.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(what, f"{key!r} must be a non-negative integer")
    return value


def _text(claims: Mapping[Any, Any], key: Any, what: str) -> str:
    value = claims.get(key)
    if not isinstance(value, str) or not value:
        raise _fail(what, f"{key!r} must be non-empty text")
    return value


def _array(claims: Mapping[Any, Any], key: str, what: str) -> list[Any]:
    value = claims.get(key, [])
    if not isinstance(value, list):
        raise _fail(what, f"{key!r} must be an array")
    return value


def _decode(data: bytes, what: str, limit: int) -> Sign1:
    if len(data) > limit:
        raise _fail(what, f"{len(data)} bytes is over the {limit}-byte limit")
    with _as_trust_error():
        return decode_sign1(data, what)


def decode_trust_file(data: bytes) -> tuple[str, Sign1]:
    """Which kind of trust file `data` is ("bundle" or "status list"), and its envelope.

    The envelope is decoded strictly and the size capped per kind before anything inside
    the payload is looked at.
    """
    sign1 = _decode(data, "trust file", MAX_BUNDLE_BYTES)
    if sign1.protected.get(HDR_TYP) == STATUS_LIST_TYP:
        if len(data) > MAX_STATUS_LIST_TOKEN_BYTES:
            raise _fail(
                "status list",
                f"{len(data)} bytes is over the {MAX_STATUS_LIST_TOKEN_BYTES}-byte limit",
            )
        return "status list", sign1
    return "bundle", sign1


def _verifier(public_key: bytes, what: str) -> VerifyKey:
    try:
        return VerifyKey(public_key)
    except (CryptoError, TypeError, ValueError):
        raise _fail(what, "not a valid Ed25519 public key") from None


def parse_bundle(data: bytes, roots: Iterable[bytes], *, sign1: Sign1 | None = None) -> Bundle:
    """Verify a trust bundle against the trusted root keys and return its contents.
    `sign1`: its envelope, when the caller decoded it already (`decode_trust_file`)."""
    what = "trust bundle"
    if sign1 is None:
        sign1 = _decode(data, what, MAX_BUNDLE_BYTES)
    with _as_trust_error():
        require_ed25519(sign1, what)
    if sign1.protected.get(HDR_TYP) == STATUS_LIST_TYP:
        raise _fail(what, "this file is a status list, not a bundle")
    signer = next((r for r in roots if sign1.verify(_verifier(r, "root key"))), None)
    if signer is None:
        raise _fail(what, "signature does not verify against any trusted root key")
    payload = _payload_map(sign1, what)
    if payload.get("v") != 1:
        raise _fail(what, f"unsupported bundle version field v={describe(payload.get('v'))}")
    keys: dict[bytes, TrustKey] = {}
    for entry in _array(payload, "keys", what):
        key = _parse_key(entry, what)
        if key.kid in keys:
            raise _fail(what, f"key {key.kid.hex()} listed twice")
        keys[key.kid] = key
    revoked = _array(payload, "revoked_kids", what)
    if not all(isinstance(k, bytes) and len(k) == KID_LENGTH for k in revoked):
        raise _fail(what, "revoked_kids must hold 8-byte key ids")
    tokens = _array(payload, "status_lists", what)
    if not all(isinstance(t, bytes) for t in tokens):
        raise _fail(what, "status_lists must hold byte strings")
    next_roots = _array(payload, "next_roots", what)
    if not all(isinstance(r, bytes) and len(r) == 32 for r in next_roots):
        raise _fail(what, "next_roots must hold 32-byte public keys")
    for root in next_roots:
        _verifier(root, f"{what} next_roots")
    return Bundle(
        issuer=_text(payload, "issuer", what),
        version=_int(payload, "version", what),
        issued_at=_int(payload, "issued_at", what),
        expires_at=_int(payload, "expires_at", what),
        keys=keys,
        revoked_kids=frozenset(revoked),
        status_list_tokens=tuple(tokens),
        next_roots=tuple(next_roots),
        signer=signer,
        raw=data,
    )


def _parse_key(entry: Any, what: str) -> TrustKey:
    if not isinstance(entry, dict):
        raise _fail(what, "each key must be a map")
    kid, pk, use = entry.get("kid"), entry.get("pk"), entry.get("use")
    if not isinstance(pk, bytes) or len(pk) != 32:
        raise _fail(what, "key pk must be 32 bytes")
    if kid != kid_for(pk):
        raise _fail(what, "key kid is not the first 8 bytes of SHA-256(pk)")
    if use not in ("card", "status"):
        raise _fail(what, f"key use must be 'card' or 'status', not {describe(use)}")
    nbf, exp = _int(entry, "nbf", what), _int(entry, "exp", what)
    return TrustKey(kid, pk, use, nbf, exp, _verifier(pk, what))


def decode_status_list_token(data: bytes) -> tuple[Sign1, dict[Any, Any]]:
    """Structure of a status list token, unverified: for verification and for inspection."""
    what = "status list"
    sign1 = _decode(data, what, MAX_STATUS_LIST_TOKEN_BYTES)
    if sign1.protected.get(HDR_TYP) != STATUS_LIST_TYP:
        raise _fail(what, f"protected typ must be {STATUS_LIST_TYP!r}")
    return sign1, _payload_map(sign1, what)


def status_list_from_claims(claims: Mapping[Any, Any]) -> StatusList:
    body = claims.get(CLAIM_STATUS_LIST)
    if not isinstance(body, dict):
        raise _fail("status list", "no status_list claim (65533)")
    bits, lst = body.get("bits"), body.get("lst")
    if not isinstance(bits, int) or isinstance(bits, bool) or not isinstance(lst, bytes):
        raise _fail("status list", "status_list needs integer bits and byte-string lst")
    try:
        return StatusList.from_compressed(bits, lst)
    except StatusListError as exc:
        raise _fail("status list", str(exc)) from None


def parse_status_list_token(
    data: bytes, bundle: Bundle, *, sign1: Sign1 | None = None
) -> StatusListToken:
    """Verify a status list token against the status keys of `bundle`.

    The signature is checked before the payload is decoded: unsigned bytes cost nothing.
    `sign1`: its envelope, when the caller decoded it already (`decode_trust_file`).
    """
    what = "status list"
    if sign1 is None:
        sign1 = _decode(data, what, MAX_STATUS_LIST_TOKEN_BYTES)
    if sign1.protected.get(HDR_TYP) != STATUS_LIST_TYP:
        raise _fail(what, f"protected typ must be {STATUS_LIST_TYP!r}")
    with _as_trust_error():
        kid = require_ed25519_header(sign1, what)
    key = bundle.keys.get(kid)
    if key is None or key.use != "status":
        raise _fail(what, f"signing key {kid.hex()}: {bundle.key_fit(kid, 'status', 0)[1]}")
    if not sign1.verify(key.verifier):
        raise _fail(what, "signature does not verify")
    claims = _payload_map(sign1, what)
    uri = _text(claims, CLAIM_SUB, what)
    what = f"status list {uri}"
    issued_at = _int(claims, CLAIM_IAT, what)
    key, why = bundle.key_fit(kid, "status", issued_at)
    if key is None:
        raise _fail(what, f"signing key {kid.hex()}: {why}")
    iss = claims.get(CLAIM_ISS)
    if iss is not None and iss != bundle.issuer:
        raise _fail(what, f"issuer {describe(iss)} is not {bundle.issuer!r}")
    return StatusListToken(
        uri=uri,
        issued_at=issued_at,
        expires_at=_int(claims, CLAIM_EXP, what, optional=True),
        ttl=_int(claims, CLAIM_TTL, what, optional=True),
        kid=kid,
        statuses=status_list_from_claims(claims),
        raw=data,
    )


@dataclass(frozen=True)
class TrustStore:
    """A verified bundle and the newest verified status list per uri."""

    bundle: Bundle
    lists: Mapping[str, StatusListToken]
    clock_floor: int
    problems: tuple[str, ...] = ()
    # root: "pinned" | "announced by <root>"; empty when the caller gave the roots directly
    roots: Mapping[bytes, str] = field(default_factory=dict)
    pinned: tuple[bytes, ...] = ()

    @classmethod
    def build(
        cls,
        bundle: Bundle,
        extra_tokens: Iterable[bytes] = (),
        clock_floor: int = 0,
        roots: Mapping[bytes, str] | None = None,
        pinned: Iterable[bytes] = (),
        horizon: int | None = None,
    ) -> TrustStore:
        """Verify the bundle's own status lists and `extra_tokens`; newest per uri wins.

        A list that fails verification is left out and named in `problems`; it never
        makes the store unusable, because the remaining lists are still good.
        """
        lists: dict[str, StatusListToken] = {}
        problems: list[str] = []
        for raw in (*bundle.status_list_tokens, *extra_tokens):
            try:
                token = parse_status_list_token(raw, bundle)
            except TrustError as exc:
                problems.append(str(exc))
                continue
            if horizon is not None and token.issued_at > horizon:
                problems.append(f"status list {token.uri}: dated in the future, not used")
                continue
            held = lists.get(token.uri)
            if held is None or token.issued_at > held.issued_at:
                lists[token.uri] = token
        floor = max([clock_floor, bundle.issued_at, *(t.issued_at for t in lists.values())])
        return cls(bundle, lists, floor, tuple(problems), dict(roots or {}), tuple(pinned))

    @property
    def issuer(self) -> str:
        return self.bundle.issuer


def trust_report(store: TrustStore, now: int) -> dict[str, Any]:
    """Versions, ages and expiries of the trust data (`kiosk trust status`, the technician
    menu, `kiosk doctor`, the diagnostics export)."""
    bundle = store.bundle
    lists: list[dict[str, Any]] = [
        {
            "uri": t.uri,
            "slots": t.statuses.size,
            "bits": t.statuses.bits,
            "issued_at": t.issued_at,
            "age_s": now - t.issued_at,
            "expires_in_s": None if t.expires_at is None else t.expires_at - now,
            "refresh_due_in_s": None if t.refresh_due is None else t.refresh_due - now,
        }
        for t in store.lists.values()
    ]
    expiries = [
        bundle.expires_at - now,
        *(i["expires_in_s"] for i in lists if i["expires_in_s"] is not None),
    ]
    issued = [bundle.issued_at, *(t.issued_at for t in store.lists.values())]
    return {
        "updated_at": max(issued),  # the newest data the kiosk holds
        "good_until": now + min(expiries),  # the first expiry: then "can't check" (or grace)
        "bundle": {
            "issuer": bundle.issuer,
            "version": bundle.version,
            "issued_at": bundle.issued_at,
            "age_s": now - bundle.issued_at,
            "expires_in_s": bundle.expires_at - now,
            "keys": [
                {
                    "kid": k.kid.hex(),
                    "use": k.use,
                    "nbf": k.nbf,
                    "exp": k.exp,
                    "revoked": k.kid in bundle.revoked_kids,
                }
                for k in bundle.keys.values()
            ],
            "next_roots": [r.hex() for r in bundle.next_roots],
            "signer_root": bundle.signer.hex(),
            "signer_trusted_as": store.roots.get(bundle.signer, "given"),
        },
        "pinned_roots": [r.hex() for r in store.pinned],
        "trusted_roots": [r.hex() for r in store.roots],
        "status_lists": lists,
        "clock_floor": store.clock_floor,
        "clock_ok": now >= store.clock_floor,
        "fresh": min(expiries) >= 0 and now >= store.clock_floor,
        "problems": list(store.problems),
    }
