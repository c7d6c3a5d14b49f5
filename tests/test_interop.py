"""Interoperability, both ways, with two independent COSE/CWT implementations.

python-cwt (`cwt`) and pycose sign cards, trust bundles and status list tokens that the
kiosk must verify; cards, bundles and status lists from the kiosk's own issuer must verify
in both libraries. Everything here follows DESIGN.md "Card format" and "Trust data", with
COSE labels and claim keys written out as numbers so that no kiosk constant is reused on
the signing side.

The keys are the city's own (read back from its key directory) or new ones made by pycose;
results never depend on which random key was drawn.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import cbor2
import cwt
import pytest
from cwt import COSE, COSEKey
from pycose.algorithms import EdDSA, Es256, Es384
from pycose.headers import KID, Algorithm
from pycose.keys.curves import P256, P384, Ed25519
from pycose.keys.ec2 import EC2Key
from pycose.keys.okp import OKPKey
from pycose.messages.sign1message import Sign1Message

from kiosk.core.base45 import b45decode, b45encode
from kiosk.core.card import verify_card
from kiosk.core.errors import TrustError
from kiosk.core.policy import Policy
from kiosk.core.reasons import Reason
from kiosk.core.statuslist import Status
from kiosk.core.trust import Bundle, TrustStore, parse_bundle, parse_status_list_token
from kiosk.issuer.city import DAY_S, YEAR_S, City, IssuedCard, sign_card
from tests.conftest import DOB, ISSUER, NAME, NOW, IssueFn

# COSE header labels and algorithms (RFC 9052, RFC 9053, RFC 9864)
H_ALG, H_CRIT, H_KID, H_TYP = 1, 2, 4, 16
EDDSA, ED25519 = -8, -19
STATUS_LIST_TYP = "application/statuslist+cwt"
# CWT claims (RFC 8392, draft-ietf-oauth-status-list) and the city card claim
ISS, SUB, EXP, IAT, CTI = 1, 2, 4, 6, 7
STATUS_LIST, TTL, STATUS = 65533, 65534, 65535
CARD = -65537
# COSE_Key labels (RFC 9052 §7, RFC 9053 §7.2)
KTY, KID_LABEL, ALG_LABEL, CRV, X, D = 1, 2, 3, -1, -2, -4
KTY_OKP, CRV_ED25519 = 1, 6

SERIAL = bytes.fromhex("00112233445566778899aabb")  # 12 bytes, as the issuer draws them
LIST_SLOTS = 131_072
TAG_SIGN1_HEAD = b"\xd2"  # CBOR tag 18, one byte
TAG_CWT_HEAD = b"\xd8\x3d"  # CBOR tag 61


# -- helpers: keys ------------------------------------------------------------------------


def kid_of(public_key: bytes) -> bytes:
    """DESIGN: kid = first 8 bytes of SHA-256 of the 32-byte raw public key."""
    return hashlib.sha256(public_key).digest()[:8]


def city_key(city: City, use: str) -> tuple[bytes, bytes]:
    """(seed, public key) of the city's active key of `use`, read from its key directory."""
    record = city.active_key(use, NOW)
    signing = city.signing_key(record.kid)
    seed, public = bytes(signing), bytes(signing.verify_key)
    assert public == record.public_key and kid_of(public) == record.kid
    return seed, public


def new_root() -> tuple[bytes, bytes]:
    """A fresh Ed25519 root key made by pycose: (seed, public key)."""
    key = OKPKey.generate_key(crv=Ed25519)
    return key.d, key.x


def cwt_key(public: bytes, seed: bytes | None = None, alg: int = EDDSA) -> Any:
    """A python-cwt OKP COSE_Key; private when `seed` is given."""
    params = {KTY: KTY_OKP, KID_LABEL: kid_of(public), ALG_LABEL: alg, CRV: CRV_ED25519, X: public}
    if seed is not None:
        params[D] = seed
    return COSEKey.new(params)


# -- helpers: signing with the other implementations ---------------------------------------


def cwt_sign1(
    payload: bytes,
    seed: bytes,
    public: bytes,
    protected: dict[int, Any],
) -> bytes:
    """COSE_Sign1 by python-cwt with exactly the headers given.

    `cwt.encode` would put the kid in the unprotected header (where the card format does
    not count it), so the COSE layer is used with alg/kid auto-inclusion off. It emits a
    tag-18 COSE_Sign1 and never wraps it in the CWT tag 61.
    """
    signer = COSE.new(alg_auto_inclusion=False, kid_auto_inclusion=False)
    key = cwt_key(public, seed, protected[H_ALG])
    cose: bytes = signer.encode_and_sign(payload, key, protected=protected, unprotected={})
    return cose


def pycose_sign1(
    payload: bytes, seed: bytes, public: bytes, protected: Mapping[Any, Any], *, tag: bool = True
) -> bytes:
    """COSE_Sign1 by pycose, EdDSA with an OKP key."""
    msg = Sign1Message(phdr=dict(protected), payload=payload)
    msg.key = OKPKey(crv=Ed25519, x=public, d=seed)
    return msg.encode(tag=tag)


SIGNERS: dict[str, Callable[[bytes, bytes, bytes, dict[int, Any]], bytes]] = {
    "python-cwt": cwt_sign1,
    "pycose": pycose_sign1,
}


# -- helpers: cards, bundles, status lists -------------------------------------------------


def card_claims(uri: str, idx: int, change: dict[int, Any] | None = None) -> dict[int, Any]:
    claims: dict[int, Any] = {
        ISS: ISSUER,
        IAT: NOW - DAY_S,
        EXP: NOW + YEAR_S,
        CTI: SERIAL,
        STATUS: {"status_list": {"idx": idx, "uri": uri}},
        CARD: {"v": 1, "name": NAME, "dob": DOB, "lang": "es", "ben": ["library"]},
    }
    claims.update(change or {})
    return claims


def cwt_card_payload(claims: dict[int, Any]) -> bytes:
    """CWT claims checked by python-cwt's own claim model, then CBOR-encoded."""
    return cbor2.dumps(cwt.Claims.new(claims).to_dict())


def qr_text(cose: bytes) -> str:
    return "MID1:" + b45encode(cose)


def cose_of(text: str) -> bytes:
    assert text.startswith("MID1:")
    return b45decode(text[len("MID1:") :])


def resign_payload(cose: bytes, edit: Callable[[dict[int, Any]], None]) -> bytes:
    """Change claims after signing: new payload, old signature."""
    item = cbor2.loads(cose)
    body = item.value if isinstance(item, cbor2.CBORTag) else item
    claims = cbor2.loads(body[2])
    edit(claims)
    body[2] = cbor2.dumps(claims)
    return cbor2.dumps(item)


def pack_statuses(statuses: Mapping[int, int], bits: int, size: int = LIST_SLOTS) -> bytes:
    """draft-ietf-oauth-status-list packing, written independently: LSB of byte 0 first."""
    data = bytearray(size * bits // 8)
    for idx, value in statuses.items():
        bit = idx * bits
        data[bit // 8] |= value << (bit % 8)
    return bytes(data)


def bundle_payload(city: City, status_lists: list[bytes], version: int = 7) -> dict[str, Any]:
    keys = [k for k in city.key_records() if k.use in ("card", "status")]
    return {
        "v": 1,
        "issuer": ISSUER,
        "version": version,
        "issued_at": NOW - 3600,
        "expires_at": NOW + 30 * DAY_S,
        "keys": [
            {
                "kid": kid_of(k.public_key),
                "pk": k.public_key,
                "use": k.use,
                "nbf": k.nbf,
                "exp": k.exp,
            }
            for k in keys
        ],
        "status_lists": status_lists,
    }


def status_claims(uri: str, lst: bytes, bits: int) -> dict[int, Any]:
    return {
        SUB: uri,
        IAT: NOW - 600,
        EXP: NOW + DAY_S,
        TTL: 12 * 3600,
        STATUS_LIST: {"bits": bits, "lst": lst},
    }


def city_bundle_without_lists(city: City) -> Bundle:
    return parse_bundle(city.bundle(NOW, with_status_lists=False), [city.root.public_key])


@pytest.fixture
def slot(issue: IssueFn) -> tuple[str, int]:
    """A real, VALID slot of the city's status list, allocated by issuing a card."""
    issued = issue()
    return issued.status_uri, issued.status_idx


# -- 1. cards signed by python-cwt verify in the kiosk ------------------------------------


@pytest.mark.parametrize("alg", [EDDSA, ED25519], ids=["EdDSA", "Ed25519"])
def test_python_cwt_card_is_accepted(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int], alg: int
) -> None:
    seed, public = city_key(city, "card")
    cose = cwt_sign1(
        cwt_card_payload(card_claims(*slot)), seed, public, {H_ALG: alg, H_KID: kid_of(public)}
    )

    assert cose.startswith(TAG_SIGN1_HEAD) and not cose.startswith(TAG_CWT_HEAD)
    protected, unprotected, _, _ = cbor2.loads(cose).value
    assert cbor2.loads(protected) == {H_ALG: alg, H_KID: kid_of(public)}
    assert unprotected == {}

    decision = verify_card(qr_text(cose), trust_of(), NOW, gate)
    assert decision.reason is Reason.ACCEPTED, decision.detail
    assert decision.kid == kid_of(public)
    assert decision.card is not None
    assert (decision.card.name, decision.card.serial, decision.card.status_idx) == (
        NAME,
        SERIAL,
        slot[1],
    )


def test_python_cwt_card_untagged_is_accepted(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int]
) -> None:
    seed, public = city_key(city, "card")
    tagged = cwt_sign1(
        cwt_card_payload(card_claims(*slot)), seed, public, {H_ALG: EDDSA, H_KID: kid_of(public)}
    )
    untagged = cbor2.dumps(cbor2.loads(tagged).value)
    assert untagged[0] == 0x84  # a bare 4-element array
    assert verify_card(qr_text(untagged), trust_of(), NOW, gate).reason is Reason.ACCEPTED


def _set_name(claims: dict[int, Any]) -> None:
    claims[CARD]["name"] = "Someone Else"


def _extend_exp(claims: dict[int, Any]) -> None:
    claims[EXP] += 10 * YEAR_S


def _move_slot(claims: dict[int, Any]) -> None:
    claims[STATUS]["status_list"]["idx"] += 1


def _add_benefit(claims: dict[int, Any]) -> None:
    claims[CARD]["ben"] = ["library", "museum"]


@pytest.mark.parametrize(
    "edit", [_set_name, _extend_exp, _move_slot, _add_benefit], ids=["name", "exp", "idx", "ben"]
)
def test_python_cwt_card_changed_after_signing_is_bad_signature(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int], edit: Any
) -> None:
    seed, public = city_key(city, "card")
    cose = cwt_sign1(
        cwt_card_payload(card_claims(*slot)), seed, public, {H_ALG: EDDSA, H_KID: kid_of(public)}
    )
    trust = trust_of()
    assert verify_card(qr_text(cose), trust, NOW, gate).reason is Reason.ACCEPTED
    forged = verify_card(qr_text(resign_payload(cose, edit)), trust, NOW, gate)
    assert forged.reason is Reason.BAD_SIGNATURE
    assert forged.card is None  # unauthenticated claims are never handed out


def with_unprotected(cose: bytes, header: dict[int, Any]) -> bytes:
    """Add to the unprotected header after signing (nothing signs it, anyone can)."""
    item = cbor2.loads(cose)
    item.value[1].update(header)
    return cbor2.dumps(item)


def test_python_cwt_kid_counts_only_in_the_protected_header(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int]
) -> None:
    """RFC 9052 forbids a label in both buckets (python-cwt refuses to emit that), but a
    forger may add one: the kiosk must read the kid from the protected header only."""
    seed, public = city_key(city, "card")
    payload = cwt_card_payload(card_claims(*slot))
    trust = trust_of()
    bogus = b"\x00" * 8

    # A wrong kid in the unprotected header is ignored...
    good = cwt_sign1(payload, seed, public, {H_ALG: EDDSA, H_KID: kid_of(public)})
    good = with_unprotected(good, {H_KID: bogus})
    assert verify_card(qr_text(good), trust, NOW, gate).reason is Reason.ACCEPTED
    # ...and the right kid there does not rescue an unknown protected one...
    bad = cwt_sign1(payload, seed, public, {H_ALG: EDDSA, H_KID: bogus})
    bad = with_unprotected(bad, {H_KID: kid_of(public)})
    assert verify_card(qr_text(bad), trust, NOW, gate).reason is Reason.UNKNOWN_KEY
    # ...nor a missing one.
    bare = cwt_sign1(payload, seed, public, {H_ALG: EDDSA})
    bare = with_unprotected(bare, {H_KID: kid_of(public)})
    assert verify_card(qr_text(bare), trust, NOW, gate).reason is Reason.MALFORMED


def test_python_cwt_default_encoding_puts_kid_unprotected_and_is_refused(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int]
) -> None:
    """`cwt.encode_and_sign` with its defaults: kid unprotected, so not a valid city card."""
    seed, public = city_key(city, "card")
    cose = cwt.encode_and_sign(card_claims(*slot), cwt_key(public, seed))
    _, unprotected, _, _ = cbor2.loads(cose).value
    assert unprotected == {H_KID: kid_of(public)}
    decision = verify_card(qr_text(cose), trust_of(), NOW, gate)
    assert decision.reason is Reason.MALFORMED
    assert "protected" in decision.detail


def test_cwt_tag_61_wrapping_is_refused_not_unwrapped(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int]
) -> None:
    """The format allows tag 18 or no tag; a CWT tag 61 around it is not a city card."""
    seed, public = city_key(city, "card")
    cose = cwt_sign1(
        cwt_card_payload(card_claims(*slot)), seed, public, {H_ALG: EDDSA, H_KID: kid_of(public)}
    )
    wrapped = cbor2.dumps(cbor2.CBORTag(61, cbor2.loads(cose)))
    assert wrapped.startswith(TAG_CWT_HEAD)
    assert verify_card(qr_text(wrapped), trust_of(), NOW, gate).reason is Reason.MALFORMED


# -- 2. cards signed by pycose verify in the kiosk ----------------------------------------


@pytest.mark.parametrize("tag", [True, False], ids=["tagged", "untagged"])
def test_pycose_card_is_accepted(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int], tag: bool
) -> None:
    seed, public = city_key(city, "card")
    phdr = {Algorithm: EdDSA, KID: kid_of(public)}
    cose = pycose_sign1(cbor2.dumps(card_claims(*slot)), seed, public, phdr, tag=tag)
    assert cose.startswith(TAG_SIGN1_HEAD) == tag
    decision = verify_card(qr_text(cose), trust_of(), NOW, gate)
    assert decision.reason is Reason.ACCEPTED, decision.detail
    assert decision.card is not None and decision.card.name == NAME


def test_pycose_card_changed_after_signing_is_bad_signature(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int]
) -> None:
    seed, public = city_key(city, "card")
    phdr = {Algorithm: EdDSA, KID: kid_of(public)}
    cose = pycose_sign1(cbor2.dumps(card_claims(*slot)), seed, public, phdr)
    forged = resign_payload(cose, _set_name)
    assert verify_card(qr_text(forged), trust_of(), NOW, gate).reason is Reason.BAD_SIGNATURE


def test_pycose_es256_card_is_unsupported(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int]
) -> None:
    _, public = city_key(city, "card")
    msg = Sign1Message(
        phdr={Algorithm: Es256, KID: kid_of(public)}, payload=cbor2.dumps(card_claims(*slot))
    )
    msg.key = EC2Key.generate_key(crv=P256)
    decision = verify_card(qr_text(msg.encode()), trust_of(), NOW, gate)
    assert decision.reason is Reason.UNSUPPORTED
    assert decision.card is None


def test_pycose_es384_card_is_unsupported(
    city: City, trust_of: Any, gate: Policy, slot: tuple[str, int]
) -> None:
    _, public = city_key(city, "card")
    msg = Sign1Message(
        phdr={Algorithm: Es384, KID: kid_of(public)}, payload=cbor2.dumps(card_claims(*slot))
    )
    msg.key = EC2Key.generate_key(crv=P384)
    assert verify_card(qr_text(msg.encode()), trust_of(), NOW, gate).reason is Reason.UNSUPPORTED


# -- 3. trust bundles and status list tokens from the other implementations ----------------


@pytest.mark.parametrize("lib", list(SIGNERS))
def test_foreign_bundle_parses_and_city_card_verifies(
    city: City, issue: IssueFn, gate: Policy, lib: str
) -> None:
    card = issue()
    root_seed, root_pk = new_root()
    payload = bundle_payload(city, [city.status_list_token("1", NOW)])
    raw = SIGNERS[lib](
        cbor2.dumps(payload), root_seed, root_pk, {H_ALG: EDDSA, H_KID: kid_of(root_pk)}
    )

    bundle = parse_bundle(raw, [root_pk])
    assert (bundle.issuer, bundle.version, bundle.signer) == (ISSUER, 7, root_pk)
    assert (bundle.issued_at, bundle.expires_at) == (NOW - 3600, NOW + 30 * DAY_S)
    assert set(bundle.keys) == {k["kid"] for k in payload["keys"]}
    assert {k.use for k in bundle.keys.values()} == {"card", "status"}

    store = TrustStore.build(bundle)
    assert store.problems == ()
    assert set(store.lists) == {city.list_uri("1")}
    decision = verify_card(card.text, store, NOW, gate)
    assert decision.reason is Reason.ACCEPTED, decision.detail


@pytest.mark.parametrize("lib", list(SIGNERS))
def test_foreign_bundle_refused_under_another_root(city: City, lib: str) -> None:
    root_seed, root_pk = new_root()
    raw = SIGNERS[lib](cbor2.dumps(bundle_payload(city, [])), root_seed, root_pk, {H_ALG: EDDSA})
    with pytest.raises(TrustError):
        parse_bundle(raw, [city.root.public_key])


def test_pycose_bundle_with_critical_header_is_refused(city: City) -> None:
    root_seed, root_pk = new_root()
    protected = {H_ALG: EDDSA, H_CRIT: [-70000], -70000: "must be understood"}
    raw = pycose_sign1(cbor2.dumps(bundle_payload(city, [])), root_seed, root_pk, protected)
    try:
        parse_bundle(raw, [root_pk])
    except TrustError:
        return
    raise AssertionError("a bundle with an unknown critical header parameter was accepted")


@pytest.mark.parametrize("lib", list(SIGNERS))
def test_foreign_status_list_token_is_read_and_enforced(
    city: City, issue: IssueFn, gate: Policy, lib: str
) -> None:
    revoked, suspended, valid = issue(), issue(), issue()
    uri = revoked.status_uri
    assert suspended.status_uri == valid.status_uri == uri
    marks = {revoked.status_idx: Status.REVOKED, suspended.status_idx: Status.SUSPENDED}
    lst = zlib.compress(pack_statuses(marks, bits=2))
    seed, public = city_key(city, "status")
    protected = {H_ALG: EDDSA, H_KID: kid_of(public), H_TYP: STATUS_LIST_TYP}
    raw = SIGNERS[lib](cbor2.dumps(status_claims(uri, lst, 2)), seed, public, protected)

    bundle = city_bundle_without_lists(city)
    token = parse_status_list_token(raw, bundle)
    assert (token.uri, token.issued_at, token.expires_at, token.ttl) == (
        uri,
        NOW - 600,
        NOW + DAY_S,
        12 * 3600,
    )
    assert token.kid == kid_of(public)
    assert token.statuses.size == LIST_SLOTS
    assert token.statuses.status(revoked.status_idx) == Status.REVOKED
    assert token.statuses.status(suspended.status_idx) == Status.SUSPENDED
    assert token.statuses.status(valid.status_idx) == Status.VALID
    assert token.statuses.count(Status.VALID) == LIST_SLOTS - 2

    store = TrustStore.build(bundle, [raw])
    assert store.problems == ()
    assert verify_card(revoked.text, store, NOW, gate).reason is Reason.REVOKED
    assert verify_card(suspended.text, store, NOW, gate).reason is Reason.SUSPENDED
    assert verify_card(valid.text, store, NOW, gate).reason is Reason.ACCEPTED


def test_python_cwt_status_list_with_the_drafts_example_bits(city: City, gate: Policy) -> None:
    """draft-ietf-oauth-status-list: `lst` = zlib(b9 a3) holds 16 one-bit statuses."""
    uri = city.list_uri("draft-example")
    seed, public = city_key(city, "status")
    protected = {H_ALG: EDDSA, H_KID: kid_of(public), H_TYP: STATUS_LIST_TYP}
    claims = status_claims(uri, zlib.compress(bytes.fromhex("b9a3")), 1)
    raw = cwt_sign1(cbor2.dumps(claims), seed, public, protected)

    bundle = city_bundle_without_lists(city)
    token = parse_status_list_token(raw, bundle)
    expected = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    assert [token.statuses.status(i) for i in range(16)] == expected

    # Cards pointing into this list, signed by python-cwt with the city's card key.
    card_seed, card_pk = city_key(city, "card")
    header = {H_ALG: EDDSA, H_KID: kid_of(card_pk)}
    store = TrustStore.build(bundle, [raw])
    for idx, reason in [(0, Reason.REVOKED), (1, Reason.ACCEPTED), (15, Reason.REVOKED)]:
        cose = cwt_sign1(cwt_card_payload(card_claims(uri, idx)), card_seed, card_pk, header)
        assert verify_card(qr_text(cose), store, NOW, gate).reason is reason, idx


def test_python_cwt_status_list_signed_with_a_card_key_is_refused(city: City) -> None:
    seed, public = city_key(city, "card")
    protected = {H_ALG: EDDSA, H_KID: kid_of(public), H_TYP: STATUS_LIST_TYP}
    lst = zlib.compress(pack_statuses({}, bits=2))
    raw = cwt_sign1(cbor2.dumps(status_claims(city.list_uri("1"), lst, 2)), seed, public, protected)
    with pytest.raises(TrustError, match="card key"):
        parse_status_list_token(raw, city_bundle_without_lists(city))


# -- 4. cards, bundles and lists from the kiosk issuer verify in the other libraries -------


@pytest.fixture
def issued(issue: IssueFn) -> IssuedCard:
    """A city card whose expiry lies far beyond the real clock.

    python-cwt checks `exp` against the real time (not the fixed NOW), so the card runs
    until NOW + 30 years: the tests stay deterministic whatever day they run.
    """
    return issue(expires_at=NOW + 30 * YEAR_S)


def _assert_issued_claims(claims: Mapping[Any, Any], card: IssuedCard) -> None:
    assert claims[ISS] == ISSUER
    assert claims[CTI] == card.serial
    assert (claims[IAT], claims[EXP]) == (card.issued_at, card.expires_at)
    assert claims[STATUS] == {"status_list": {"idx": card.status_idx, "uri": card.status_uri}}
    assert claims[CARD] == {"v": 1, "name": NAME, "dob": DOB, "lang": "es", "ben": ["library"]}


def test_kiosk_card_verifies_in_the_kiosk_first(
    issued: IssuedCard, trust_of: Any, gate: Policy
) -> None:
    assert verify_card(issued.text, trust_of(), NOW, gate).reason is Reason.ACCEPTED


def test_kiosk_card_verifies_in_python_cwt(city: City, issued: IssuedCard) -> None:
    _, public = city_key(city, "card")
    cose = cose_of(issued.text)
    claims = cwt.decode(cose, cwt_key(public))
    assert isinstance(claims, dict)
    _assert_issued_claims(claims, issued)
    protected, _, _, _ = cbor2.loads(cose).value
    assert cbor2.loads(protected) == {H_ALG: EDDSA, H_KID: kid_of(public)}


def test_kiosk_card_changed_after_signing_fails_in_python_cwt(
    city: City, issued: IssuedCard
) -> None:
    _, public = city_key(city, "card")
    forged = resign_payload(cose_of(issued.text), _set_name)
    with pytest.raises(cwt.VerifyError):
        cwt.decode(forged, cwt_key(public))


def test_kiosk_card_verifies_in_pycose(city: City, issued: IssuedCard) -> None:
    _, public = city_key(city, "card")
    msg = Sign1Message.decode(cose_of(issued.text))
    assert msg.phdr[Algorithm] is EdDSA
    assert msg.phdr[KID] == kid_of(public)
    msg.key = OKPKey(crv=Ed25519, x=public)
    assert msg.verify_signature()
    assert msg.payload is not None
    _assert_issued_claims(cbor2.loads(msg.payload), issued)

    forged = Sign1Message.decode(resign_payload(cose_of(issued.text), _set_name))
    forged.key = OKPKey(crv=Ed25519, x=public)
    assert not forged.verify_signature()


def test_kiosk_bundle_and_status_list_verify_in_python_cwt_and_pycose(city: City) -> None:
    raw = city.bundle(NOW)
    root_pk = city.root.public_key

    # python-cwt's COSE layer: signature only (the CWT layer would check exp on the real clock).
    payload = cbor2.loads(COSE.new().decode(raw, cwt_key(root_pk)))
    msg = Sign1Message.decode(raw)
    msg.key = OKPKey(crv=Ed25519, x=root_pk)
    assert msg.verify_signature()
    assert msg.payload is not None and cbor2.loads(msg.payload) == payload

    assert (payload["v"], payload["issuer"], payload["issued_at"]) == (1, ISSUER, NOW)
    records = {k.kid: k for k in city.key_records()}
    for entry in payload["keys"]:
        assert entry["kid"] == kid_of(entry["pk"])
        assert records[entry["kid"]].use == entry["use"]

    _, status_pk = city_key(city, "status")
    [token] = payload["status_lists"]
    for_pycose = Sign1Message.decode(token)
    for_pycose.key = OKPKey(crv=Ed25519, x=status_pk)
    assert for_pycose.verify_signature()
    assert for_pycose.phdr[H_TYP] == STATUS_LIST_TYP
    claims = cbor2.loads(COSE.new().decode(token, cwt_key(status_pk)))
    assert for_pycose.payload is not None and claims == cbor2.loads(for_pycose.payload)
    assert claims[SUB] == city.list_uri("1")
    assert claims[STATUS_LIST]["bits"] == 2
    assert zlib.decompress(claims[STATUS_LIST]["lst"]) == bytes(LIST_SLOTS * 2 // 8)


def test_city_sign_card_round_trips_through_python_cwt(city: City, slot: tuple[str, int]) -> None:
    """`sign_card` (the issuer's signer for unusual claims) agrees with python-cwt too."""
    seed, public = city_key(city, "card")
    claims = card_claims(*slot, {EXP: NOW + 30 * YEAR_S})
    text = sign_card(claims, city.signing_key(kid_of(public)), kid_of(public))
    assert cwt.decode(cose_of(text), cwt_key(public)) == claims
    # Same claims, same key, same protected header: Ed25519 is deterministic, so python-cwt
    # must produce the very same bytes as the kiosk's signer.
    ours = cwt_sign1(cbor2.dumps(claims), seed, public, {H_ALG: EDDSA, H_KID: kid_of(public)})
    assert qr_text(ours) == text
