"""Strict CBOR: what is refused before cbor2 sees a byte, and what that costs at the size cap.

Cards and trust files are pre-scanned (RFC 8949 heads only): no tag but a single tag 18
around a COSE_Sign1, no indefinite lengths, bounded nesting and item counts, no reserved
simple values; strings are skipped by their length. The trust-file cases build hostile
files as large as the size caps allow and bound the memory their refusal takes.
"""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kiosk.core.cose as cose
from kiosk.core.card import verify_card
from kiosk.core.cose import CoseError, decode_sign1, encode_sign1, loads_strict
from kiosk.core.errors import TrustError
from kiosk.core.policy import Policy
from kiosk.core.reasons import Reason
from kiosk.core.trust import (
    MAX_BUNDLE_BYTES,
    MAX_STATUS_LIST_TOKEN_BYTES,
    STATUS_LIST_TYP,
    decode_status_list_token,
    parse_bundle,
)
from kiosk.issuer.city import City
from tests.cards import card_key, claims_of, cose_of, text_of
from tests.conftest import NOW, IssueFn, TrustFn

MEMORY_BOUND = 100 * 1024 * 1024  # the issue's target: < 100 MB extra at the size cap


def bstr(data: bytes) -> bytes:
    return cbor2.dumps(data)


def array_head(count: int) -> bytes:
    return b"\x9a" + count.to_bytes(4, "big")


def refused(data: bytes) -> CoseError:
    with pytest.raises(CoseError) as caught:
        loads_strict(data, "test")
    assert caught.value.reason is Reason.MALFORMED
    return caught.value


@pytest.fixture
def cbor2_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """Every call into cbor2's decoder, recorded (the real decoder still runs)."""
    calls: list[bytes] = []
    real_loads, real_decoder = cbor2.loads, cbor2.CBORDecoder

    def loads(data: bytes, *args: Any, **kwargs: Any) -> Any:
        calls.append(bytes(data))
        return real_loads(data, *args, **kwargs)

    def decoder(stream: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(stream.getvalue() if hasattr(stream, "getvalue") else b"<stream>")
        return real_decoder(stream, *args, **kwargs)

    monkeypatch.setattr(cbor2, "loads", loads)
    monkeypatch.setattr(cbor2, "CBORDecoder", decoder)
    yield calls


# -- the pre-scan, item by item ----------------------------------------------------------

WELL_FORMED: list[Any] = [
    0,
    23,
    24,
    255,
    256,
    65_536,
    2**32,
    2**64 - 1,
    -1,
    -(2**64),
    1.5,
    -0.0,
    1e300,
    True,
    False,
    None,
    b"",
    bytes(23),
    bytes(24),
    bytes(256),
    bytes(70_000),
    "",
    "x" * 23,
    "é" * 40,
    [],
    {},
    [1, [2, [3, {"a": b"b"}]]],
    {1: {"status_list": {"idx": 5, "uri": "https://id.example.gov/status/1"}}},
    {-65537: {"v": 1, "ben": ["library", "museum"]}, 65535: 1},
]


@pytest.mark.parametrize("value", WELL_FORMED, ids=repr)
def test_well_formed_items_decode_as_cbor2_decodes_them(value: Any) -> None:
    encoded = cbor2.dumps(value)
    assert loads_strict(encoded, "test") == cbor2.loads(encoded)


def test_half_and_single_floats_and_undefined_are_well_formed() -> None:
    assert loads_strict(b"\xf9\x3e\x00", "half") == 1.5
    assert loads_strict(b"\xfa\x3f\xc0\x00\x00", "single") == 1.5
    assert loads_strict(b"\x82\xf7\xf6", "undefined, null") == [cbor2.undefined, None]


TAGGED: dict[str, bytes] = {
    "tag 0 datetime": b"\xc0" + cbor2.dumps("2026-09-21T13:33:20Z"),
    "tag 1 epoch": b"\xc1\x1a\x6a\xb0\x0b\x00",
    "tag 2 bignum": b"\xc2" + bstr(b"\x01" * 9),
    "tag 4 decimal": bytes.fromhex("c48221196ab3"),
    "tag 18 inside": b"\xd2\x84\x40\xa0\x40\x40",
    "tag 28/29 shared": bytes.fromhex("d81c81d81d00"),
    "tag 35 regex": b"\xd8\x23" + cbor2.dumps("(a+)+$"),
    "tag 36 mime": b"\xd8\x24" + cbor2.dumps("Content-Type: text/plain\n\nhi"),
    "tag 37 uuid": b"\xd8\x25" + bstr(bytes(16)),
    "tag 258 set": bytes.fromhex("d9010283010203"),
    "tag 55799 self-described": b"\xd9\xd9\xf7\x00",
    "tag 2**64-1": b"\xdb" + b"\xff" * 8 + b"\x00",
}


@pytest.mark.parametrize("item", TAGGED.values(), ids=TAGGED.keys())
def test_every_tag_is_refused_wherever_it_is(item: bytes) -> None:
    for data in (item, b"\x82\x01" + item, b"\xa1\x61k" + item, b"\x81" * 5 + item):
        assert "tag" in str(refused(data))


NOT_WELL_FORMED_OR_REFUSED: dict[str, bytes] = {
    "empty": b"",
    "indefinite bytes": b"\x5f\x41a\xff",
    "indefinite text": b"\x7f\x61a\xff",
    "indefinite array": b"\x9f\x01\xff",
    "indefinite map": b"\xbf\x01\x02\xff",
    "lone break": b"\xff",
    "break inside an array": b"\x82\x01\xff",
    "reserved info 28 (uint)": b"\x1c",
    "reserved info 29 (nint)": b"\x3d",
    "reserved info 30 (bytes)": b"\x5e",
    "reserved info 30 (simple)": b"\xfe",
    "indefinite uint": b"\x1f",
    "simple value 0": b"\xe0",
    "simple value 19": b"\xf3",
    "simple value 99 (two bytes)": b"\xf8\x63",
    "simple value 20 in two bytes": b"\xf8\x14",
    "truncated uint": b"\x1a\x00\x01",
    "truncated float": b"\xfb\x00",
    "truncated bytes": b"\x45abc",
    "truncated long text": b"\x79\x01\x00" + b"a" * 200,
    "truncated array": b"\x83\x01\x02",
    "truncated map": b"\xa2\x01\x02\x03",
    "bstr length over 4 GiB": b"\x5b" + (2**40).to_bytes(8, "big"),
    "array of 2**63 items": b"\x9b" + (2**63).to_bytes(8, "big"),
    "map of 2**32-1 pairs": b"\xba\xff\xff\xff\xff",
    "trailing bytes": b"\x01\x02",
    "invalid UTF-8": b"\x62\xc3\x28",
}


@pytest.mark.parametrize(
    "data", NOT_WELL_FORMED_OR_REFUSED.values(), ids=NOT_WELL_FORMED_OR_REFUSED.keys()
)
def test_indefinite_reserved_truncated_and_trailing_items_are_refused(data: bytes) -> None:
    refused(data)


def test_nesting_is_bounded() -> None:
    depth = cose.MAX_DEPTH
    assert loads_strict(b"\x81" * depth + b"\x00", "deepest allowed") is not None
    for opener in (b"\x81", b"\xa1\x00", b"\xa1\xa0"):
        assert "deep" in str(refused(opener * (depth + 1) + b"\x00"))
    assert "deep" in str(refused(b"\x81" * depth + b"\x80"))  # an empty container counts too
    assert "deep" in str(refused(b"\x81" * 50 + b"\x00"))  # cbor2 itself allows ~400 levels


def test_item_count_is_bounded_before_the_items_are_read() -> None:
    limit = cose.MAX_ITEMS
    assert len(loads_strict(array_head(limit) + b"\x00" * limit, "at the bound")) == limit
    assert "items" in str(refused(array_head(limit + 1) + b"\x00" * (limit + 1)))
    assert "items" in str(refused(array_head(2**32 - 1)))  # declared, never present
    pairs = limit // 2 + 1
    assert "items" in str(refused(b"\xba" + pairs.to_bytes(4, "big") + b"\x00\x00" * pairs))


TAG_FREE_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)  # wider ones are bignums (tags)
    | st.floats(allow_nan=False)
    | st.binary(max_size=300)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.integers(-99, 99) | st.text(max_size=4), children, max_size=5)
    ),
    max_leaves=40,
)


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(TAG_FREE_VALUES)
def test_tag_free_values_decode_as_cbor2_decodes_them_up_to_the_depth_bound(
    value: Any,
) -> None:
    encoded = cbor2.dumps(value)
    if depth_of(value) > cose.MAX_DEPTH:
        refused(encoded)
    else:
        assert loads_strict(encoded, "test") == cbor2.loads(encoded)


PLAIN_TYPES = (type(None), bool, int, float, bytes, str, type(cbor2.undefined))


def plain(value: Any) -> bool:
    """Only what untagged CBOR decodes to (cbor2 makes list keys tuples, map keys frozen)."""
    if isinstance(value, list | tuple):
        return all(map(plain, value))
    if isinstance(value, dict | cbor2.FrozenDict):
        return all(plain(k) and plain(v) for k, v in value.items())
    return type(value) in PLAIN_TYPES


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64) | st.builds(lambda b: b"\x84" + b, st.binary(max_size=64)))
def test_what_the_scan_lets_through_cbor2_decodes_whole_and_untagged(data: bytes) -> None:
    try:
        value = loads_strict(data, "test")
    except CoseError as exc:
        assert exc.reason is Reason.MALFORMED
        return
    decoder = cbor2.CBORDecoder(io.BytesIO(data))
    assert repr(decoder.decode()) == repr(value)  # repr: NaN is not equal to itself
    assert decoder.fp.tell() == len(data)
    assert plain(value)


# -- the COSE_Sign1 envelope -------------------------------------------------------------

PROTECTED = bytes.fromhex("a201270448") + bytes(8)


def envelope(
    *, payload: bytes = b"\xa0", unprotected: bytes = b"\xa0", tag: bytes = b"\xd2"
) -> bytes:
    return tag + b"\x84" + bstr(PROTECTED) + unprotected + bstr(payload) + bstr(bytes(64))


def test_envelope_tag_18_optional_and_exact_bytes_kept() -> None:
    for tag in (b"\xd2", b"", b"\xd8\x12"):
        sign1 = decode_sign1(envelope(payload=b"\x01\x02", tag=tag))
        assert (sign1.protected_bytes, sign1.payload) == (PROTECTED, b"\x01\x02")
        assert sign1.protected == {1: -8, 4: bytes(8)}
        assert sign1.unprotected == {}
        assert sign1.signature == bytes(64)


def test_envelope_payload_is_opaque_until_asked_for() -> None:
    """The payload bstr is skipped by its length: what it holds is the payload parser's
    business (cards: after the structure check; trust data: after a size cap)."""
    regex = b"\xd8\x23" + cbor2.dumps("(a+)+$")
    sign1 = decode_sign1(envelope(payload=regex))
    assert sign1.payload == regex
    with pytest.raises(CoseError):
        loads_strict(sign1.payload, "payload")


@pytest.mark.parametrize(
    "data",
    [
        envelope(tag=b"\xd9\xd9\xf7"),  # self-described CBOR
        envelope(tag=b"\xd8\x3d"),  # CWT tag 61
        envelope(tag=b"\xd2\xd2"),  # tag 18 twice
        envelope(tag=b"\xd9\xd9\xf7\xd2"),
        envelope(unprotected=b"\xa1\x04" + TAGGED["tag 35 regex"]),
        envelope(unprotected=b"\xa1\x04" + b"\x81" * 50 + b"\x00"),
        envelope(unprotected=b"\xa1\x04" + array_head(1000) + b"\x00" * 1000),
        envelope(unprotected=b"\xbf\xff"),
        envelope(unprotected=b"\x80"),
        envelope()[:-1],
        envelope() + b"\x00",
        b"\x9f" + envelope(tag=b"")[1:] + b"\xff",  # indefinite-length array
        b"\xd2\x83" + bstr(PROTECTED) + b"\xa0" + bstr(b""),
        b"\xd2\x84" + bstr(PROTECTED) + b"\xa0\xf6" + bstr(bytes(64)),  # detached payload
        b"\xd2\x84\x5f\x41a\xff\xa0\x40" + bstr(bytes(64)),  # indefinite protected bstr
    ],
)
def test_envelope_refusals(data: bytes) -> None:
    with pytest.raises(CoseError) as caught:
        decode_sign1(data)
    assert caught.value.reason is Reason.MALFORMED


def test_envelope_protected_header_is_scanned_too() -> None:
    header = b"\xa3\x01\x27\x04\x48" + bytes(8) + b"\x18\x63" + TAGGED["tag 35 regex"]
    data = b"\xd2\x84" + bstr(header) + b"\xa0\x40" + bstr(bytes(64))
    with pytest.raises(CoseError):
        decode_sign1(data)


# -- cards -------------------------------------------------------------------------------


def _sign_claims_with_raw_item(
    city: City, text: str, path: tuple[Any, ...], raw_item: bytes
) -> str:
    """The card's claims with the raw CBOR `raw_item` at `path`, genuinely signed."""
    hole = "\u2603 raw item \u2603"
    claims = claims_of(text)
    node = claims
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = hole
    payload = cbor2.dumps(claims).replace(cbor2.dumps(hole), raw_item)
    key, kid = card_key(city, NOW)
    return text_of(encode_sign1({1: -8, 4: kid}, payload, key))


def test_tag_55799_or_any_tag_but_18_around_a_card_is_malformed(
    issue: IssueFn, trust_of: TrustFn, gate: Policy
) -> None:
    card = cose_of(issue().text)
    assert card.startswith(b"\xd2")
    trust = trust_of()
    assert verify_card(text_of(card), trust, NOW, gate).reason is Reason.ACCEPTED
    assert verify_card(text_of(card[1:]), trust, NOW, gate).reason is Reason.ACCEPTED
    for outer in (b"\xd9\xd9\xf7", b"\xd9\xd9\xf7\xd2", b"\xd2\xd2", b"\xd8\x3d", b"\xc0"):
        decision = verify_card(text_of(outer + card), trust, NOW, gate)
        assert decision.reason is Reason.MALFORMED, outer.hex()


SEMANTIC_TAGS = {k: TAGGED[k] for k in ("tag 35 regex", "tag 36 mime", "tag 0 datetime")}
CLAIM_PATHS: list[tuple[Any, ...]] = [
    (1,),
    (-65537, "name"),
    (-65537, "ben"),
    (65535, "status_list", "uri"),
    (99,),  # an unknown claim, which the card parser would otherwise ignore
]


@pytest.mark.parametrize("path", CLAIM_PATHS, ids=str)
@pytest.mark.parametrize("item", SEMANTIC_TAGS.values(), ids=SEMANTIC_TAGS.keys())
def test_semantic_tags_in_signed_claims_are_refused_before_cbor2_decodes_them(
    issue: IssueFn,
    trust_of: TrustFn,
    gate: Policy,
    city: City,
    cbor2_calls: list[bytes],
    path: tuple[Any, ...],
    item: bytes,
) -> None:
    text = _sign_claims_with_raw_item(city, issue().text, path, item)
    trust = trust_of()
    cbor2_calls.clear()
    decision = verify_card(text, trust, NOW, gate)
    assert decision.reason is Reason.MALFORMED
    assert decision.card is None
    assert not any(item in call for call in cbor2_calls)


def test_semantic_tags_in_card_headers_never_reach_cbor2(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City, cbor2_calls: list[bytes]
) -> None:
    key, kid = card_key(city, NOW)
    payload = decode_sign1(cose_of(issue().text)).payload
    regex = TAGGED["tag 35 regex"]
    protected = b"\xa3\x01\x27\x04\x48" + kid + b"\x18\x63" + regex
    signature = key.sign(cose.sig_structure(protected, payload)).signature
    in_protected = b"\xd2\x84" + bstr(protected) + b"\xa0" + bstr(payload) + bstr(signature)
    genuine = decode_sign1(cose_of(issue().text))
    in_unprotected = (
        b"\xd2\x84"
        + bstr(genuine.protected_bytes)
        + b"\xa1\x18\x63"
        + regex
        + bstr(genuine.payload)
        + bstr(genuine.signature)
    )
    trust = trust_of()
    cbor2_calls.clear()
    for data in (in_protected, in_unprotected):
        assert verify_card(text_of(data), trust, NOW, gate).reason is Reason.MALFORMED
    assert not any(regex in call for call in cbor2_calls)


def test_indefinite_lengths_in_signed_claims_are_malformed(
    issue: IssueFn, trust_of: TrustFn, gate: Policy, city: City
) -> None:
    text = issue().text
    trust = trust_of()
    for path, item in [
        ((-65537, "ben"), b"\x9f\x67library\xff"),
        ((-65537, "name"), b"\x7f\x61a\x61b\xff"),
        ((65535,), b"\xbf\x6bstatus_list\xa2\x63idx\x01\x63uri\x61u\xff"),
    ]:
        signed = _sign_claims_with_raw_item(city, text, path, item)
        assert verify_card(signed, trust, NOW, gate).reason is Reason.MALFORMED


# -- trust files at their size caps ------------------------------------------------------


_REGEX = b"\xd8\x23\x66(a+)+$"
_MIME = b"\xd8\x24\x78\x1aContent-Type: text/plain\n\n"

# CBOR items of about `n` bytes that cost cbor2 (or a naive decoder) dearly.
HOSTILE_BODIES: dict[str, Callable[[int], bytes]] = {
    "nested maps": lambda n: b"\xa1\xa0" * (n // 2) + b"\xa0",
    "deep arrays": lambda n: b"\x81" * n + b"\x00",
    "many empty maps": lambda n: array_head(n) + b"\xa0" * n,
    "many tiny items": lambda n: array_head(n) + b"\x00" * n,
    "many short texts": lambda n: array_head(n // 2) + b"\x61a" * (n // 2),
    "regex tags": lambda n: array_head(n // len(_REGEX)) + _REGEX * (n // len(_REGEX)),
    "mime tags": lambda n: array_head(n // len(_MIME)) + _MIME * (n // len(_MIME)),
    "indefinite arrays": lambda n: b"\x9f" * n + b"\x00",
}


def _head_of(size: int) -> bytes:
    return b"\x5a" + size.to_bytes(4, "big")


def _unsigned(protected: bytes, payload: bytes) -> bytes:
    return b"\xd2\x84" + _head_of(len(protected)) + protected + b"\xa0" + bstr(payload)


PLACES = ["whole file", "protected header", "unprotected header", "payload"]


def hostile_file(
    place: str, body: bytes, protected: bytes, sign: Callable[[bytes], bytes]
) -> bytes:
    if place == "whole file":
        return body
    if place == "protected header":
        return b"\xd2\x84" + _head_of(len(body)) + body + b"\xa0\x40" + bstr(bytes(64))
    if place == "unprotected header":
        return b"\xd2\x84" + bstr(protected) + b"\xa1\x04" + body + b"\x40" + bstr(bytes(64))
    return sign(body)


def peak_traced(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", HOSTILE_BODIES)
def test_hostile_bundle_at_the_size_cap_is_refused_in_bounded_memory(
    city: City, kind: str, place: str, cbor2_calls: list[bytes]
) -> None:
    root = city.root
    key = city.signing_key(root.kid)
    protected = cbor2.dumps({1: -8, 4: root.kid})
    body = HOSTILE_BODIES[kind](MAX_BUNDLE_BYTES - 256)

    def signed_by_the_root(payload: bytes) -> bytes:  # so that the payload is parsed
        return encode_sign1({1: -8, 4: root.kid}, payload, key)

    data = hostile_file(place, body, protected, signed_by_the_root)
    assert MAX_BUNDLE_BYTES - 1024 < len(data) <= MAX_BUNDLE_BYTES

    def parse() -> None:
        with pytest.raises(TrustError):
            parse_bundle(data, [root.public_key])

    cbor2_calls.clear()
    assert peak_traced(parse) < MEMORY_BOUND
    assert all(len(call) < 1024 for call in cbor2_calls)  # the body never reached cbor2


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("kind", HOSTILE_BODIES)
def test_hostile_status_list_at_the_size_cap_is_refused_in_bounded_memory(
    city: City, kind: str, place: str, cbor2_calls: list[bytes]
) -> None:
    """A status list's payload is read before its signature is checked (its kid and typ say
    which key to use), so an unsigned hostile payload reaches the payload parser."""
    kid = city.active_key("status", NOW).kid
    protected = cbor2.dumps({1: -8, 4: kid, 16: STATUS_LIST_TYP})
    body = HOSTILE_BODIES[kind](MAX_STATUS_LIST_TOKEN_BYTES - 256)

    def unsigned(payload: bytes) -> bytes:
        return _unsigned(protected, payload) + bstr(bytes(64))

    data = hostile_file(place, body, protected, unsigned)
    assert MAX_STATUS_LIST_TOKEN_BYTES - 1024 < len(data) <= MAX_STATUS_LIST_TOKEN_BYTES

    def parse() -> None:
        with pytest.raises(TrustError):
            decode_status_list_token(data)

    cbor2_calls.clear()
    assert peak_traced(parse) < MEMORY_BOUND
    assert all(len(call) < 1024 for call in cbor2_calls)  # the body never reached cbor2


def test_large_genuine_trust_files_at_the_size_cap_are_accepted_in_bounded_memory(
    city: City,
) -> None:
    """Strings are skipped by their length: size alone is never the problem."""
    root = city.root
    big = bytes(MAX_BUNDLE_BYTES // 4 - 64)
    claims = cbor2.loads(decode_sign1(city.bundle(NOW)).payload)
    claims["status_lists"] = [big, big, big]
    bundle = encode_sign1({1: -8, 4: root.kid}, cbor2.dumps(claims), city.signing_key(root.kid))
    assert MAX_BUNDLE_BYTES * 3 // 4 < len(bundle) <= MAX_BUNDLE_BYTES
    seen: list[int] = []

    def parse_big_bundle() -> None:
        seen.append(len(parse_bundle(bundle, [root.public_key]).status_list_tokens))

    assert peak_traced(parse_big_bundle) < MEMORY_BOUND
    assert seen == [3]

    kid = city.active_key("status", NOW).kid
    protected = cbor2.dumps({1: -8, 4: kid, 16: STATUS_LIST_TYP})
    lst = bytes(MAX_STATUS_LIST_TOKEN_BYTES - 256)
    claims = {2: "https://id.example.gov/status/1", 6: NOW, 65533: {"bits": 1, "lst": lst}}
    token = _unsigned(protected, cbor2.dumps(claims)) + bstr(bytes(64))
    assert len(token) <= MAX_STATUS_LIST_TOKEN_BYTES

    def decode_big_list() -> None:
        _, decoded = decode_status_list_token(token)
        seen.append(len(decoded[65533]["lst"]))

    assert peak_traced(decode_big_list) < MEMORY_BOUND
    assert seen[-1] == len(lst)
