"""Property tests: hostile input never crashes the verifier and never opens the gate.

DESIGN.md "Fail clear, fail safe": a random QR code, a truncated or tampered card, deep or
huge CBOR, a zip bomb or a forged bundle gets a typed error or a rejection with a stable
reason code, never another exception and never ACCEPTED.

One city (keys, a real card, a bundle, a status list token) is built once per module:
hypothesis re-runs a test body many times, and function-scoped fixtures would be shared
between those runs anyway.

The regression tests near the end ("found by these tests") pin three crashes these
properties found: container and bignum `alg` values, and a bignum `bits`.
"""

from __future__ import annotations

import contextlib
import tracemalloc
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import base45 as pypi_base45
import cbor2
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from kiosk.core.base45 import ALPHABET, Base45Error, b45decode, b45encode
from kiosk.core.card import MAX_TEXT_LENGTH, PREFIX, verify_card
from kiosk.core.cose import CoseError, decode_sign1, scan, sig_structure
from kiosk.core.decision import Decision
from kiosk.core.errors import TrustError
from kiosk.core.policy import Policy
from kiosk.core.reasons import Reason
from kiosk.core.statuslist import MAX_INFLATED_BYTES, StatusList, StatusListError
from kiosk.core.trust import (
    CLAIM_EXP,
    CLAIM_IAT,
    CLAIM_ISS,
    CLAIM_STATUS_LIST,
    CLAIM_SUB,
    STATUS_LIST_TYP,
    TrustStore,
    parse_bundle,
    parse_status_list_token,
)
from kiosk.issuer.city import DAY_S, City, Holder
from tests.conftest import DOB, ISSUER, NAME, NOW, STATUS_BASE

R = Reason
PRE_SIGNATURE = frozenset({R.MALFORMED, R.UNSUPPORTED})  # decided before any key is looked up
TAMPERED = PRE_SIGNATURE | {R.BAD_SIGNATURE}  # a known kid over altered bytes
FLIPPED = TAMPERED | {R.UNKNOWN_KEY}  # the kid itself may be what changed

FAST = settings(max_examples=150, deadline=None)
MEDIUM = settings(max_examples=300, deadline=None)


# -- the world: one real city, card and trust store ---------------------------------------


@dataclass(frozen=True)
class World:
    city: City
    trust: TrustStore
    policy: Policy
    text: str  # a real card, ACCEPTED at NOW
    cose: bytes
    protected: bytes
    payload: bytes
    signature: bytes
    claims: dict[Any, Any]
    kid: bytes
    card_key: SigningKey
    root_key: SigningKey
    root_kid: bytes
    status_key: SigningKey
    status_kid: bytes
    bundle: bytes
    status_token: bytes

    def decide(self, text: str, trust: TrustStore | str | None = "default") -> Decision:
        store = self.trust if trust == "default" else trust
        assert store is None or isinstance(store, TrustStore)
        decision = verify_card(text, store, NOW, self.policy)
        assert isinstance(decision, Decision)
        assert isinstance(decision.reason, Reason)
        return decision

    def refused(self, text: str, allowed: frozenset[Reason]) -> Decision:
        """verify_card returns one of `allowed` (never ACCEPTED) and shows no claims."""
        decision = self.decide(text)
        assert decision.reason in allowed, (decision.reason, decision.detail)
        assert not decision.accepted
        assert decision.card is None  # unauthenticated claims never reach the screen
        return decision

    def sign_card(self, payload: bytes, protected: bytes | None = None) -> bytes:
        """COSE bytes of `payload` under the real card key (so only the claims are hostile)."""
        protected = self.protected if protected is None else protected
        signature = self.card_key.sign(sig_structure(protected, payload)).signature
        return sign1(protected, payload, signature)

    def sign_with(self, key: SigningKey, protected: bytes, payload: bytes) -> bytes:
        return sign1(protected, payload, key.sign(sig_structure(protected, payload)).signature)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    path: Path = tmp_path_factory.mktemp("props") / "city"
    city = City.init(path, ISSUER, STATUS_BASE, NOW - 365 * DAY_S)
    card = city.issue(Holder(NAME, DOB, lang="es", benefits=("library",)), NOW, NOW - DAY_S)
    bundle = city.bundle(NOW)
    trust = TrustStore.build(parse_bundle(bundle, [city.root.public_key]))
    cose = b45decode(card.text[len(PREFIX) :])
    parsed = decode_sign1(cose)
    kid = parsed.kid
    assert kid is not None
    status = city.active_key("status", NOW)
    world = World(
        city=city,
        trust=trust,
        policy=Policy.for_mode("gate", passback_s=0),
        text=card.text,
        cose=cose,
        protected=parsed.protected_bytes,
        payload=parsed.payload,
        signature=parsed.signature,
        claims=cbor2.loads(parsed.payload),
        kid=kid,
        card_key=city.signing_key(kid),
        root_key=city.signing_key(city.root.kid),
        root_kid=city.root.kid,
        status_key=city.signing_key(status.kid),
        status_kid=status.kid,
        bundle=bundle,
        status_token=city.status_list_token(city.meta["lists"][0], NOW),
    )
    # The base line every test below departs from: this card is good, and the hand-built
    # COSE helpers reproduce the issuer's bytes exactly.
    assert world.decide(card.text).reason is R.ACCEPTED
    assert world.sign_card(world.payload) == cose
    assert qr(cose) == card.text
    return world


# -- hand-built CBOR and COSE ----------------------------------------------------------


def bstr(data: bytes) -> bytes:
    return cbor2.dumps(bytes(data))


def sign1(
    protected: bytes,
    payload: bytes,
    signature: bytes,
    unprotected: bytes = b"\xa0",
    *,
    tagged: bool = True,
) -> bytes:
    """A COSE_Sign1 array from raw parts, so any slot can hold hand-made (hostile) CBOR."""
    body = b"\x84" + bstr(protected) + unprotected + bstr(payload) + bstr(signature)
    return (b"\xd2" + body) if tagged else body


def qr(cose: bytes) -> str:
    return PREFIX + b45encode(cose)


_HOLE = "\u2603 hostile item goes here \u2603"
_HOLE_CBOR = cbor2.dumps(_HOLE)


def splice(template: Any, raw_item: bytes) -> bytes:
    """cbor2-encode `template`, with the raw CBOR item `raw_item` where `_HOLE` stands."""
    encoded = cbor2.dumps(template)
    assert encoded.count(_HOLE_CBOR) == 1
    return encoded.replace(_HOLE_CBOR, raw_item)


def claims_with_hole(claims: dict[Any, Any], path: tuple[Any, ...]) -> Any:
    """A deep copy of `claims` with the value at `path` replaced by `_HOLE` (() = all)."""
    if not path:
        return _HOLE
    copy = dict(claims)
    copy[path[0]] = claims_with_hole(claims[path[0]], path[1:])
    return copy


CLAIM_PATHS: list[tuple[Any, ...]] = [
    (),
    (CLAIM_ISS,),
    (CLAIM_IAT,),
    (CLAIM_EXP,),
    (7,),  # cti
    (65535,),
    (65535, "status_list"),
    (65535, "status_list", "idx"),
    (65535, "status_list", "uri"),
    (-65537,),
    (-65537, "v"),
    (-65537, "name"),
    (-65537, "dob"),
    (-65537, "lang"),
    (-65537, "ben"),
]


def deep(opener: bytes, depth: int, leaf: bytes = b"\x00") -> bytes:
    return opener * depth + leaf


def big_uint_head(major: int, length: int) -> bytes:
    """A CBOR head of `major` type declaring `length` (8-byte argument)."""
    return bytes((major << 5 | 27,)) + length.to_bytes(8, "big")


# Raw CBOR items that decode to something no claim accepts (or that do not decode at all).
# None is an int, text, bytes or bool, so each is wrong wherever it is put: with a genuine
# signature over it, the card must still be MALFORMED or UNSUPPORTED.
WRONG_TYPE_ITEMS: dict[str, bytes] = {
    "tag 0 datetime": b"\xc0" + cbor2.dumps("2026-09-21T13:33:20Z"),
    "tag 0 bad datetime": b"\xc0" + cbor2.dumps("not a date"),
    "tag 1 epoch datetime": b"\xc1" + cbor2.dumps(NOW),
    "tag 1 huge epoch": b"\xc1\x1b\x7f\xff\xff\xff\xff\xff\xff\xff",
    "tag 4 decimal": bytes.fromhex("c48221196ab3"),
    "tag 4 decimal huge exponent": bytes.fromhex("c4821b7fffffffffffffff01"),
    "tag 5 bigfloat overflow": bytes.fromhex("c5821b7fffffffffffffff01"),
    "tag 30 rational / 0": bytes.fromhex("d81e820100"),
    "tag 35 regex": b"\xd8\x23" + cbor2.dumps("(a+)+$"),
    "tag 35 bad regex": b"\xd8\x23" + cbor2.dumps("(("),
    "tag 36 mime": b"\xd8\x24" + cbor2.dumps("Content-Type: text/plain\n\nhi"),
    "tag 37 uuid": b"\xd8\x25" + bstr(bytes(16)),
    "tag 37 short uuid": b"\xd8\x25" + bstr(b"\x01"),
    "tag 258 set": bytes.fromhex("d9010283010203"),
    "tag 260 ip address": b"\xd9\x01\x04" + bstr(bytes(4)),
    "unknown tag 9999": bytes.fromhex("d9270f00"),
    "tag 28/29 cyclic array": bytes.fromhex("d81c81d81d00"),
    "tag 28/29 cyclic map": bytes.fromhex("d81ca101d81d00"),
    "tag 29 dangling reference": bytes.fromhex("d81d05"),
    "tag 28 deep": deep(b"\xd8\x1c\x81", 100),
    "undefined": b"\xf7",
    "simple value 99": b"\xf8\x63",
    "half float NaN": b"\xf9\x7e\x00",
    "float infinity": b"\xfa\x7f\x80\x00\x00",
    "deep arrays": deep(b"\x81", 300),
    "deep maps": deep(b"\xa1\x00", 150),
    "deep indefinite arrays": deep(b"\x9f", 200, b"\x00" + b"\xff" * 200),
    "unterminated indefinite array": b"\x9f\x01\x02",
    "indefinite bytes with a text chunk": b"\x5f\x61\x61\xff",
    "indefinite map, odd": b"\xbf\x01\xff",
    "huge bstr length": big_uint_head(2, 0x7FFF_FFFF_FFFF_FFFF),
    "huge text length": big_uint_head(3, 0x7FFF_FFFF_FFFF_FFFF),
    "huge array length": big_uint_head(4, 0x7FFF_FFFF_FFFF_FFFF),
    "huge map length": big_uint_head(5, 0x7FFF_FFFF_FFFF_FFFF),
    "4 GiB bstr length": b"\x5a\xff\xff\xff\xff",
    "reserved additional info 28": b"\x1c",
    "lone break": b"\xff",
    "invalid UTF-8 text": b"\x62\xc3\x28",
    "empty": b"",
}

# Items that decode to well-typed values (ints, text, bytes): fine in some positions, so
# they are only used without a valid signature, where they must give BAD_SIGNATURE at best.
TYPED_ITEMS: dict[str, bytes] = {
    "tag 2 bignum": b"\xc2" + bstr(b"\xff" * 10),
    "tag 2 long bignum": b"\xc2" + bstr(b"\x7f" * 300),
    "tag 3 negative bignum": b"\xc3" + bstr(b"\xff" * 10),
    "tag 2 short bignum": b"\xc2" + bstr(b"\x01"),
    "indefinite text": b"\x7f\x61\x61\x61\x62\xff",
    "indefinite bytes": b"\x5f\x44" + bytes(4) + b"\x44" + bytes(4) + b"\xff",
    "indefinite array": b"\x9f\x67library\xff",
    "indefinite map": b"\xbf\x61v\x01\xff",
    "tag 55799 self-described": b"\xd9\xd9\xf7\x00",
    "true": b"\xf5",
    "null": b"\xf6",  # an optional field set to null reads as absent
    "negative int": b"\x3b\x7f\xff\xff\xff\xff\xff\xff\xff",
}


# -- 1, 2: any text, any bytes ---------------------------------------------------------

BASE45_CHARS = st.sampled_from(ALPHABET)


@MEDIUM
@given(
    st.text()
    | st.text(min_size=MAX_TEXT_LENGTH - 8, max_size=MAX_TEXT_LENGTH + 8)
    | st.builds(lambda s: PREFIX + s, st.text())
    | st.builds(lambda s: PREFIX + s, st.text(BASE45_CHARS))
    | st.builds(lambda n, s: f"MID{n}:{s}", st.integers(0, 99), st.text(BASE45_CHARS))
)
@example("")
@example(PREFIX)
@example("MID1")
@example("mid1:")
@example("HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH")
@example("MID2:" + "0" * 30)
@example("MID01:")
@example(PREFIX + "\u0660\u0661\u0662")  # Arabic-Indic digits: not ASCII, not base45
@example(PREFIX + "0" * 10_000)
@example("\U0001f600" * 100_000)
@example("A" * 1_000_000)
@example(PREFIX + "\x00" * 10)
def test_any_text_is_malformed_or_unsupported(world: World, text: str) -> None:
    world.refused(text, PRE_SIGNATURE)
    # Without trust data the answer for garbage is the same: the format is checked first.
    assert world.decide(text, trust=None).reason in PRE_SIGNATURE


@MEDIUM
@given(st.binary(max_size=700))
@example(b"")
@example(b"\xd2")
@example(b"\xd2\x84")
@example(b"\x84\x40\xa0\x40\x40")
def test_any_bytes_behind_the_prefix_are_malformed_or_unsupported(
    world: World, data: bytes
) -> None:
    world.refused(qr(data), PRE_SIGNATURE)
    # The same bytes read as text (what a scanner might hand over) are no better.
    world.refused(data.decode("latin-1"), PRE_SIGNATURE)
    world.refused(PREFIX + data.decode("utf-8", "replace"), PRE_SIGNATURE)


# -- 3: truncation ---------------------------------------------------------------------


def test_every_truncation_of_the_cose_bytes_is_malformed(world: World) -> None:
    for end in range(len(world.cose)):
        world.refused(qr(world.cose[:end]), frozenset({R.MALFORMED}))


def test_every_truncation_of_the_text_is_malformed(world: World) -> None:
    for end in range(len(world.text)):
        world.refused(world.text[:end], frozenset({R.MALFORMED}))


@FAST
@given(st.binary(min_size=1, max_size=40))
def test_trailing_bytes_after_the_card_are_malformed(world: World, extra: bytes) -> None:
    world.refused(qr(world.cose + extra), frozenset({R.MALFORMED}))


# -- 4: bit flips and mutations ----------------------------------------------------------


def test_every_single_bit_flip_is_refused(world: World) -> None:
    cose = world.cose
    sig_start = len(cose) - len(world.signature)
    kid_start = cose.index(world.kid)
    payload_start = cose.index(world.payload)
    assert cose[sig_start:] == world.signature
    by_region: dict[str, Counter[Reason]] = {
        "signature": Counter(),
        "kid": Counter(),
        "payload": Counter(),
        "other": Counter(),
    }
    for bit in range(len(cose) * 8):
        flipped = bytearray(cose)
        flipped[bit // 8] ^= 1 << (bit % 8)
        reason = world.refused(qr(bytes(flipped)), FLIPPED).reason
        at = bit // 8
        if at >= sig_start:
            region = "signature"
        elif kid_start <= at < kid_start + len(world.kid):
            region = "kid"
        elif payload_start <= at < payload_start + len(world.payload):
            region = "payload"
        else:
            region = "other"
        by_region[region][reason] += 1
    # Sanity: the test can tell tampering apart from noise. Every flip in the signature is
    # a bad signature; every flip in the kid names a key the kiosk does not know; a flip in
    # the claims is mostly caught by the signature (some break the CBOR first).
    assert by_region["signature"] == Counter({R.BAD_SIGNATURE: 64 * 8})
    assert by_region["kid"] == Counter({R.UNKNOWN_KEY: 8 * 8})
    payload_flips = len(world.payload) * 8
    assert by_region["payload"][R.BAD_SIGNATURE] > payload_flips // 2
    assert sum(by_region["payload"].values()) == payload_flips


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
@example([(0, 0x84)])  # tag 18 -> a second array head
@example([(4, 0x80)])  # protected header map becomes an empty array
def test_random_byte_replacements_are_refused(world: World, edits: list[tuple[int, int]]) -> None:
    mutated = bytearray(world.cose)
    for position, value in edits:
        mutated[position % len(mutated)] = value
    assume(bytes(mutated) != world.cose)
    world.refused(qr(bytes(mutated)), FLIPPED)


# -- 5: deep, huge, indefinite and tagged CBOR -----------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(deep(b"\x81", 10_000), id="10k nested arrays"),
        pytest.param(deep(b"\x81", 100_000), id="100k nested arrays"),
        pytest.param(deep(b"\xa1\x00", 10_000), id="10k nested maps"),
        pytest.param(deep(b"\x9f", 10_000), id="10k indefinite arrays"),
        pytest.param(deep(b"\xd8\x1c", 10_000), id="10k nested tag 28"),
        pytest.param(deep(b"\xd2", 10_000), id="10k nested tag 18"),
        pytest.param(deep(b"\xc1", 10_000), id="10k nested tag 1"),
        pytest.param(deep(b"\x81", 600), id="600 nested arrays (fits in a card)"),
        pytest.param(deep(b"\xd2\x84\x40\xa0\x40\x58\x40", 60), id="nested COSE_Sign1"),
        pytest.param(big_uint_head(2, 0x7FFF_FFFF_FFFF_FFFF), id="2^63 bstr"),
        pytest.param(big_uint_head(3, 0x7FFF_FFFF_FFFF_FFFF), id="2^63 text"),
        pytest.param(big_uint_head(4, 0x7FFF_FFFF_FFFF_FFFF), id="2^63 array"),
        pytest.param(big_uint_head(5, 0x7FFF_FFFF_FFFF_FFFF), id="2^63 map"),
        pytest.param(b"\xd2" + big_uint_head(4, 4), id="tag 18 + 8-byte array head of 4"),
        pytest.param(b"\xd2\x9f" + b"\x40\xa0\x40" + bstr(bytes(64)), id="unterminated"),
        pytest.param(b"\x5f" + b"\x41\x00" * 300 + b"\xff", id="300 bstr chunks"),
        pytest.param(bytes.fromhex("d81c84d81d00d81d00d81d00d81d00"), id="self-referencing"),
        pytest.param(bytes.fromhex("d81c81d81d00"), id="cyclic array"),
    ],
)
def test_deep_huge_and_cyclic_cbor_as_the_whole_message(world: World, data: bytes) -> None:
    world.refused(qr(data), frozenset({R.MALFORMED}))
    with pytest.raises(CoseError) as caught:
        decode_sign1(data, "card")
    assert caught.value.reason is R.MALFORMED
    # Bundles and lists may be megabytes: there the decoder really meets the full depth.
    with pytest.raises(TrustError):
        parse_bundle(data, [world.city.root.public_key])
    with pytest.raises(TrustError):
        parse_status_list_token(data, world.trust.bundle)


@pytest.mark.parametrize("depth", [300, 10_000, 200_000])
def test_deep_payload_of_an_otherwise_good_sign1(world: World, depth: int) -> None:
    for opener in (b"\x81", b"\xa1\x00", b"\x9f", b"\xd8\x1c\x81"):
        payload = deep(opener, depth)
        world.refused(qr(sign1(world.protected, payload, world.signature)), TAMPERED)
        world.refused(qr(world.sign_card(payload)), frozenset({R.MALFORMED}))
        root_header = cbor2.dumps({1: -8, 4: world.root_kid})
        with pytest.raises(TrustError):  # a genuine root signature over a hostile payload
            parse_bundle(
                world.sign_with(world.root_key, root_header, payload),
                [world.city.root.public_key],
            )
        list_header = cbor2.dumps({1: -8, 4: world.status_kid, 16: STATUS_LIST_TYP})
        with pytest.raises(TrustError):
            parse_status_list_token(
                world.sign_with(world.status_key, list_header, payload), world.trust.bundle
            )


@pytest.mark.parametrize("path", CLAIM_PATHS, ids=repr)
@pytest.mark.parametrize("item", WRONG_TYPE_ITEMS.values(), ids=WRONG_TYPE_ITEMS.keys())
def test_wrong_typed_cbor_in_claims_positions(
    world: World, path: tuple[Any, ...], item: bytes
) -> None:
    payload = splice(claims_with_hole(world.claims, path), item)
    unsigned = qr(sign1(world.protected, payload, world.signature))
    signed = qr(world.sign_card(payload))
    assert len(signed) <= MAX_TEXT_LENGTH  # refused for its content, not for its length
    world.refused(unsigned, TAMPERED)
    # Even a genuine signature does not make such claims acceptable.
    world.refused(signed, PRE_SIGNATURE)


@pytest.mark.parametrize("path", CLAIM_PATHS, ids=repr)
@pytest.mark.parametrize("item", TYPED_ITEMS.values(), ids=TYPED_ITEMS.keys())
def test_typed_cbor_in_claims_positions_without_signature(
    world: World, path: tuple[Any, ...], item: bytes
) -> None:
    payload = splice(claims_with_hole(world.claims, path), item)
    assert payload != world.payload
    world.refused(qr(sign1(world.protected, payload, world.signature)), TAMPERED)


@pytest.mark.parametrize(
    ("path", "item", "expected"),
    [
        ((65535, "status_list", "idx"), b"\xc2" + bstr(b"\xff" * 10), R.MALFORMED),
        # bignums are tags (refused before decoding), and dates are non-negative (issue 10)
        ((CLAIM_IAT,), b"\xc2" + bstr(b"\xff" * 10), R.MALFORMED),
        ((CLAIM_IAT,), b"\xc3" + bstr(b"\xff" * 10), R.MALFORMED),
        ((CLAIM_EXP,), b"\xc3" + bstr(b"\xff" * 10), R.MALFORMED),
        ((CLAIM_EXP,), b"\x3b\x7f\xff\xff\xff\xff\xff\xff\xff", R.MALFORMED),
        ((-65537, "v"), b"\xc2" + bstr(b"\x7f" * 300), R.MALFORMED),
        ((-65537, "name"), b"\x7f" + b"\x61a" * 65 + b"\xff", R.MALFORMED),
    ],
    ids=["idx 2^80", "iat 2^80", "iat -2^80", "exp -2^80", "exp -2^63", "v 2^2400", "name 65"],
)
def test_signed_bignums_and_chunks_in_claims(
    world: World, path: tuple[Any, ...], item: bytes, expected: Reason
) -> None:
    """Well-typed but absurd claims under a genuine signature: a clean rejection."""
    text = qr(world.sign_card(splice(claims_with_hole(world.claims, path), item)))
    assert len(text) <= MAX_TEXT_LENGTH
    assert world.decide(text).reason is expected


@pytest.mark.parametrize(
    "protected",
    [
        pytest.param(deep(b"\x81", 300), id="deep array"),
        pytest.param(b"\xd8\x1ca101d81d00", id="not CBOR"),
        pytest.param(bytes.fromhex("d81ca101d81d00"), id="cyclic header"),
        pytest.param(bytes.fromhex("a10127") + b"\x00", id="trailing byte"),
        pytest.param(b"\xbf\x01\x27\x04\x48" + bytes(8) + b"\xff", id="indefinite map"),
        pytest.param(big_uint_head(5, 2**63 - 1), id="2^63 map"),
        pytest.param(b"\xa2\x01\xc1\x00\x04\x48" + bytes(8), id="alg tag 1"),
        pytest.param(b"\xa2\x01\xd8\x23\x61a\x04\x48" + bytes(8), id="alg regex"),
        pytest.param(b"\xa2\x01\x27\x04\xd8\x1c\x48" + bytes(8), id="kid shared"),
        pytest.param(
            b"\xa2\x01\x27\x04\x5f\x44" + bytes(4) + b"\x44" + bytes(4) + b"\xff", id="kid chunks"
        ),
    ],
)
def test_hostile_protected_headers(world: World, protected: bytes) -> None:
    world.refused(qr(sign1(protected, world.payload, world.signature)), FLIPPED)
    world.refused(qr(world.sign_card(world.payload, protected)), FLIPPED)


# -- 6: over-long text -----------------------------------------------------------------


def _padded_card(world: World, cose_length: int) -> str:
    """A genuinely signed card whose COSE is exactly `cose_length` bytes (extra claim 99)."""
    for pad in range(cose_length):
        claims = {**world.claims, 99: bytes(pad)}
        cose = world.sign_card(cbor2.dumps(claims))
        if len(cose) == cose_length:
            return qr(cose)
    raise AssertionError(f"no padding gives {cose_length} bytes")


def test_text_length_limit_is_exactly_1024(world: World) -> None:
    longest = _padded_card(world, 679)  # 5 + 3 * 339 + 2 = 1024 characters
    assert len(longest) == MAX_TEXT_LENGTH
    assert world.decide(longest).reason is R.ACCEPTED
    too_long = _padded_card(world, 680)  # 5 + 3 * 340 = 1025 characters
    assert len(too_long) == MAX_TEXT_LENGTH + 1
    decision = world.refused(too_long, frozenset({R.MALFORMED}))
    assert "1024" in decision.detail


@FAST
@given(st.integers(1, 5_000), st.sampled_from(["0", " ", "\n", "\u00e9", "%"]))
def test_a_real_card_padded_over_the_limit_is_malformed(
    world: World, extra: int, filler: str
) -> None:
    text = world.text + filler * (MAX_TEXT_LENGTH - len(world.text) + extra)
    assert len(text) > MAX_TEXT_LENGTH
    world.refused(text, frozenset({R.MALFORMED}))


@FAST
@given(st.text(BASE45_CHARS, min_size=MAX_TEXT_LENGTH - len(PREFIX) + 1, max_size=3_000))
def test_any_long_base45_text_is_malformed(world: World, body: str) -> None:
    world.refused(PREFIX + body, frozenset({R.MALFORMED}))


# -- 7: random CBOR structures ---------------------------------------------------------

CLAIM_KEYS = st.sampled_from(
    [1, 2, 4, 6, 7, 16, 65533, 65535, -65537, "v", "name", "dob", "ben", "role", "idx", "uri"]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.binary(max_size=24)
    | st.text(max_size=12)
)
CBOR_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            CLAIM_KEYS | st.integers(-70_000, 70_000) | st.text(max_size=6), children, max_size=4
        )
    ),
    max_leaves=16,
)


@MEDIUM
@given(CBOR_VALUES)
def test_random_cbor_as_payload_or_message(world: World, value: Any) -> None:
    encoded = cbor2.dumps(value)
    world.refused(qr(encoded), PRE_SIGNATURE)  # the whole message
    world.refused(qr(cbor2.dumps(cbor2.CBORTag(18, value))), PRE_SIGNATURE)
    world.refused(qr(sign1(world.protected, encoded, world.signature)), TAMPERED)
    world.refused(qr(world.sign_card(encoded)), PRE_SIGNATURE)  # genuinely signed junk


@MEDIUM
@given(st.sampled_from(CLAIM_PATHS[1:]), CBOR_VALUES)
def test_random_cbor_in_claims_positions_without_signature(
    world: World, path: tuple[Any, ...], value: Any
) -> None:
    payload = splice(claims_with_hole(world.claims, path), cbor2.dumps(value))
    assume(payload != world.payload)
    world.refused(qr(sign1(world.protected, payload, world.signature)), TAMPERED)


@MEDIUM
@given(
    alg=SCALARS | st.sampled_from([-8, -19, -7, -35, 0]),
    kid=SCALARS | st.binary(min_size=8, max_size=8),
    extra=st.dictionaries(st.integers(-30, 30) | st.text(max_size=4), SCALARS, max_size=3),
)
def test_random_protected_headers(world: World, alg: Any, kid: Any, extra: dict[Any, Any]) -> None:
    header = {**extra, 1: alg, 4: kid}
    for protected in (cbor2.dumps(header), cbor2.dumps(extra)):
        world.refused(qr(sign1(protected, world.payload, world.signature)), FLIPPED)


@FAST
@given(st.dictionaries(st.integers(-30, 30) | st.text(max_size=4), CBOR_VALUES, max_size=3))
def test_unprotected_header_never_counts(world: World, unprotected: dict[Any, Any]) -> None:
    """kid and alg only count in the protected header (DESIGN.md): nothing here changes
    the outcome, neither for the genuine card nor for a tampered one."""
    raw = cbor2.dumps(unprotected)
    good = qr(sign1(world.protected, world.payload, world.signature, raw))
    assume(len(good) <= MAX_TEXT_LENGTH)
    try:
        scan(raw, "unprotected")
    except CoseError:  # a tag (a bignum, a date...): refused before decoding, whatever it says
        assert world.decide(good).reason is R.MALFORMED
        return
    assert world.decide(good).reason is R.ACCEPTED
    bad_sig = bytes(64)
    world.refused(qr(sign1(world.protected, world.payload, bad_sig, raw)), TAMPERED)


# -- 8: status lists and trust data ----------------------------------------------------


@MEDIUM
@given(st.sampled_from([1, 2, 4, 8, 0, 3, -1, 16]), st.binary(max_size=300))
@example(1, b"")
@example(1, zlib.compress(b""))
@example(1, zlib.compress(b"\xb9\xa3")[:-1])
@example(1, zlib.compress(b"\xb9\xa3") + b"\x00")
@example(1, b"\x78\x9c")
def test_from_compressed_on_arbitrary_bytes(bits: int, lst: bytes) -> None:
    try:
        statuses = StatusList.from_compressed(bits, lst)
    except StatusListError:
        return
    assert statuses.bits == bits
    assert statuses.to_bytes() == zlib.decompress(lst)


@FAST
@given(
    st.sampled_from([1, 2, 4, 8]),
    st.binary(min_size=2, max_size=2_000),  # cap=0 would mean "no cap" to zlib
    st.integers(0, 9),
    st.data(),
)
def test_from_compressed_round_trip_and_truncation(
    bits: int, raw: bytes, level: int, data: st.DataObject
) -> None:
    lst = zlib.compress(raw, level)
    statuses = StatusList.from_compressed(bits, lst)
    assert statuses.to_bytes() == raw
    assert statuses.size == len(raw) * 8 // bits
    cut = data.draw(st.integers(0, len(lst) - 1))
    with pytest.raises(StatusListError):
        StatusList.from_compressed(bits, lst[:cut])
    with pytest.raises(StatusListError):  # cap exactly one byte short
        StatusList.from_compressed(bits, lst, cap=len(raw) - 1)
    assert StatusList.from_compressed(bits, lst, cap=len(raw)).to_bytes() == raw


def zero_bomb(mebibytes: int) -> bytes:
    """A zlib stream that inflates to `mebibytes` MiB of zeros, from ~1 KB per MiB.

    Deflating 200 MB takes over a second; instead compress one MiB with a full flush
    (byte-aligned blocks with no back references across them), repeat those blocks, and end
    with an empty final stored block and the Adler-32 of n zero bytes (a = 1, b = n).
    """
    mib = 1 << 20
    deflater = zlib.compressobj(9)
    first = deflater.compress(bytes(mib)) + deflater.flush(zlib.Z_FULL_FLUSH)
    block = deflater.compress(bytes(mib)) + deflater.flush(zlib.Z_FULL_FLUSH)
    adler = ((mebibytes * mib) % 65521) << 16 | 1
    return first + block * (mebibytes - 1) + b"\x01\x00\x00\xff\xff" + adler.to_bytes(4, "big")


def test_zero_bomb_builder_is_a_real_zlib_stream() -> None:
    assert zlib.decompress(zero_bomb(3)) == bytes(3 << 20)


def test_zlib_bomb_is_refused_without_inflating_it() -> None:
    bomb = zero_bomb(200)  # ~200 MB of zeros
    assert len(bomb) < 300_000
    tracemalloc.start()
    try:
        with pytest.raises(StatusListError, match="more than"):
            StatusList.from_compressed(1, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_INFLATED_BYTES  # bounded by the cap, far below 200 MB
    with pytest.raises(StatusListError, match="more than 1000 bytes"):
        StatusList.from_compressed(1, bomb, cap=1_000)


def _status_token(world: World, body: Any, **claims: Any) -> bytes:
    payload = {
        CLAIM_SUB: STATUS_BASE + "1",
        CLAIM_ISS: ISSUER,
        CLAIM_IAT: NOW,
        CLAIM_EXP: NOW + DAY_S,
    }
    payload.update(claims)
    payload[CLAIM_STATUS_LIST] = body
    header = cbor2.dumps({1: -8, 4: world.status_kid, 16: STATUS_LIST_TYP})
    return world.sign_with(world.status_key, header, cbor2.dumps(payload))


def test_zlib_bomb_in_a_signed_status_list_token(world: World) -> None:
    token = _status_token(world, {"bits": 1, "lst": zero_bomb(200)})
    with pytest.raises(TrustError, match="more than"):
        parse_status_list_token(token, world.trust.bundle)
    store = TrustStore.build(world.trust.bundle, [token])
    assert store.problems
    assert {u: t.raw for u, t in store.lists.items()} == {
        u: t.raw for u, t in world.trust.lists.items()
    }


def _only_trust_errors(world: World, data: bytes) -> None:
    for parse in (
        lambda: parse_bundle(data, [world.city.root.public_key]),
        lambda: parse_status_list_token(data, world.trust.bundle),
    ):
        with contextlib.suppress(TrustError):
            parse()


@MEDIUM
@given(st.binary(max_size=2_000))
@example(b"")
@example(b"\xd2\x84\x40\xa0\x40" + bstr(bytes(64)))
def test_trust_parsers_on_arbitrary_bytes_raise_only_trust_errors(
    world: World, data: bytes
) -> None:
    _only_trust_errors(world, data)


@MEDIUM
@given(CBOR_VALUES, CBOR_VALUES, st.dictionaries(st.integers(-20, 20), CBOR_VALUES, max_size=3))
def test_trust_parsers_on_random_cbor_raise_only_trust_errors(
    world: World, value: Any, payload: Any, header: dict[Any, Any]
) -> None:
    _only_trust_errors(world, cbor2.dumps(value))
    for signature in (bytes(64), b""):
        protected = cbor2.dumps(header) if header else b""
        message = sign1(protected, cbor2.dumps(payload), signature)
        _only_trust_errors(world, message)


@FAST
@given(CBOR_VALUES)
def test_genuinely_signed_junk_trust_data_raises_only_trust_errors(
    world: World, payload: Any
) -> None:
    root_header = cbor2.dumps({1: -8, 4: world.root_kid})
    with pytest.raises(TrustError):
        parse_bundle(
            world.sign_with(world.root_key, root_header, cbor2.dumps(payload)),
            [world.city.root.public_key],
        )
    list_header = cbor2.dumps({1: -8, 4: world.status_kid, 16: STATUS_LIST_TYP})
    with pytest.raises(TrustError):
        parse_status_list_token(
            world.sign_with(world.status_key, list_header, cbor2.dumps(payload)),
            world.trust.bundle,
        )


def _flip_each_bit(data: bytes, step: int) -> list[bytes]:
    out = []
    for bit in range(0, len(data) * 8, step):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        out.append(bytes(flipped))
    return out


def test_bit_flipped_bundles_and_lists_raise_only_trust_errors(world: World) -> None:
    roots = [world.city.root.public_key]
    bundle_ok = parse_bundle(world.bundle, roots)
    assert parse_status_list_token(world.status_token, bundle_ok).uri
    step = max(1, len(world.bundle) * 8 // 6_000)
    for flipped in _flip_each_bit(world.bundle, step):
        with pytest.raises(TrustError):
            parse_bundle(flipped, roots)
    for flipped in _flip_each_bit(world.status_token, 1):
        with pytest.raises(TrustError):
            parse_status_list_token(flipped, bundle_ok)
    for end in range(len(world.status_token)):
        with pytest.raises(TrustError):
            parse_status_list_token(world.status_token[:end], bundle_ok)


# -- 9: base45 ---------------------------------------------------------------------------


@MEDIUM
@given(st.binary(max_size=1_000))
@example(b"")
@example(b"\xff\xff")
@example(b"\xff")
@example(b"AB")
@example(b"ietf!")
def test_base45_round_trip_and_agreement(data: bytes) -> None:
    text = b45encode(data)
    assert b45decode(text) == data
    assert text == pypi_base45.b45encode(data).decode("ascii")
    assert pypi_base45.b45decode(text) == data


RFC9285_EXAMPLES = [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581")]


@pytest.mark.parametrize(("raw", "text"), RFC9285_EXAMPLES)
def test_base45_rfc9285_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw
    assert b45decode("QED8WEX0") == b"ietf!"


@MEDIUM
@given(st.text(BASE45_CHARS, max_size=60))
@example("GGW")  # 65536: one more than two bytes hold
@example("FGW")  # 65535
@example("U5")  # 255
@example("V5")  # 256
@example("0")
@example(":::")
def test_base45_decode_agrees_with_pypi_on_the_alphabet(text: str) -> None:
    try:
        expected: bytes | None = pypi_base45.b45decode(text)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(Base45Error):
            b45decode(text)
    else:
        assert b45decode(text) == expected


@MEDIUM
@given(st.text(max_size=60))
@example("bb8")  # lowercase is outside the alphabet
@example("BB8\n")
@example("\u0660\u0661\u0662")
@example("BB\x00")
def test_base45_decode_of_any_text_raises_only_base45_error(text: str) -> None:
    try:
        out = b45decode(text)
    except Base45Error as exc:
        assert isinstance(exc, ValueError)
        if all(c in ALPHABET for c in text):  # then it is invalid for length or group value
            with pytest.raises(ValueError):
                pypi_base45.b45decode(text)
        return
    assert all(c in ALPHABET for c in text)
    assert b45encode(out) == text


@FAST
@given(st.text(BASE45_CHARS, min_size=1, max_size=60).filter(lambda s: len(s) % 3 == 1))
def test_base45_length_one_more_than_a_multiple_of_three_is_invalid(text: str) -> None:
    with pytest.raises(Base45Error, match="length"):
        b45decode(text)


# -- regressions: crashes found by these tests --------------------------------------------

_CONTAINER_ALGS = {
    "empty array": b"\x80",
    "empty map": b"\xa0",
    "array [-8]": b"\x81\x27",
    "cyclic array (tag 28/29)": bytes.fromhex("d81c81d81d00"),
    "unknown tag over an array": bytes.fromhex("d9270f80"),
}


def _protected_with_alg(raw_alg: bytes, kid: bytes, typ: str | None = None) -> bytes:
    head = b"\xa3" if typ else b"\xa2"
    out = head + b"\x01" + raw_alg + b"\x04" + bstr(kid)
    if typ:
        out += b"\x10" + cbor2.dumps(typ)
    return out


@pytest.mark.parametrize("raw_alg", _CONTAINER_ALGS.values(), ids=_CONTAINER_ALGS.keys())
def test_container_alg_in_a_card_is_refused(world: World, raw_alg: bytes) -> None:
    # No key needed: the claims are the real card's, the signature is anything.
    text = qr(sign1(_protected_with_alg(raw_alg, world.kid), world.payload, bytes(64)))
    assert len(text) <= MAX_TEXT_LENGTH
    world.refused(text, PRE_SIGNATURE)


@pytest.mark.parametrize("raw_alg", _CONTAINER_ALGS.values(), ids=_CONTAINER_ALGS.keys())
def test_container_alg_in_a_bundle_is_a_trust_error(world: World, raw_alg: bytes) -> None:
    data = sign1(_protected_with_alg(raw_alg, world.root_kid), cbor2.dumps({"v": 1}), bytes(64))
    with pytest.raises(TrustError):
        parse_bundle(data, [world.city.root.public_key])


@pytest.mark.parametrize("raw_alg", _CONTAINER_ALGS.values(), ids=_CONTAINER_ALGS.keys())
def test_container_alg_in_a_status_list_is_a_trust_error(world: World, raw_alg: bytes) -> None:
    claims = cbor2.dumps({CLAIM_SUB: STATUS_BASE + "1", CLAIM_IAT: NOW})
    protected = _protected_with_alg(raw_alg, world.status_kid, STATUS_LIST_TYP)
    data = sign1(protected, claims, bytes(64))
    with pytest.raises(TrustError):
        parse_status_list_token(data, world.trust.bundle)
    store = TrustStore.build(world.trust.bundle, [data])  # must list a problem, not crash
    assert store.problems


_HUGE_INT = b"\xc2" + bstr(b"\x01" + bytes(2_000))  # 2^16000: about 4,817 decimal digits


@pytest.mark.parametrize("kind", ["bundle", "status list", "extra token in TrustStore.build"])
def test_huge_bignum_alg_in_trust_data_is_a_trust_error(world: World, kind: str) -> None:
    if kind == "bundle":
        data = sign1(_protected_with_alg(_HUGE_INT, world.root_kid), b"\xa0", bytes(64))
        with pytest.raises(TrustError):
            parse_bundle(data, [world.city.root.public_key])
        return
    protected = _protected_with_alg(_HUGE_INT, world.status_kid, STATUS_LIST_TYP)
    claims = cbor2.dumps({CLAIM_SUB: STATUS_BASE + "1", CLAIM_IAT: NOW})
    data = sign1(protected, claims, bytes(64))
    if kind == "status list":
        with pytest.raises(TrustError):
            parse_status_list_token(data, world.trust.bundle)
    else:
        assert TrustStore.build(world.trust.bundle, [data]).problems


@pytest.mark.parametrize("where", ["from_compressed", "signed token"])
def test_huge_bits_is_a_status_list_error(world: World, where: str) -> None:
    huge = 1 << 16_000
    if where == "from_compressed":
        with pytest.raises(StatusListError):
            StatusList.from_compressed(huge, zlib.compress(bytes(16)))
        return
    token = _status_token(world, {"bits": huge, "lst": zlib.compress(bytes(16))})
    with pytest.raises(TrustError):
        parse_status_list_token(token, world.trust.bundle)


def test_scalar_algs_in_cards(world: World) -> None:
    """RFC 9052 makes alg an int or a text string: other types are MALFORMED, other ints and
    texts UNSUPPORTED (a card is too short to carry a 4,300-digit number)."""
    for raw_alg in (b"\xf5", b"\xf9\x7e\x00"):  # true, NaN
        text = qr(sign1(_protected_with_alg(raw_alg, world.kid), world.payload, bytes(64)))
        world.refused(text, frozenset({R.MALFORMED}))
    text = qr(sign1(_protected_with_alg(b"\x62-8", world.kid), world.payload, bytes(64)))
    world.refused(text, frozenset({R.UNSUPPORTED}))
    bignum = b"\xc2" + bstr(b"\x01" + bytes(40))  # a tag: refused before decoding
    text = qr(sign1(_protected_with_alg(bignum, world.kid), world.payload, bytes(64)))
    world.refused(text, frozenset({R.MALFORMED}))
    text = qr(sign1(_protected_with_alg(_HUGE_INT, world.kid), world.payload, bytes(64)))
    world.refused(text, frozenset({R.MALFORMED}))  # over 1,024 characters
