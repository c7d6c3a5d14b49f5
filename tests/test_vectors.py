"""Standard test vectors (tests/vectors/README.md says where each comes from)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import cbor2
import pytest
from nacl.signing import SigningKey, VerifyKey

from kiosk.core.cose import CoseError, decode_sign1, encode_sign1, require_ed25519_header
from kiosk.core.reasons import Reason
from kiosk.core.statuslist import StatusList
from kiosk.core.trust import decode_status_list_token, status_list_from_claims

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def test_rfc8032_test1_ed25519() -> None:
    v = load("rfc8032_test1.json")
    key = SigningKey(bytes.fromhex(v["secret_key"]))
    assert bytes(key.verify_key).hex() == v["public_key"]
    message = bytes.fromhex(v["message"]) if v["message"] else b""
    assert key.sign(message).signature.hex() == v["signature"]
    VerifyKey(bytes.fromhex(v["public_key"])).verify(message, bytes.fromhex(v["signature"]))


def test_cose_eddsa_sig_01_reproduced_byte_for_byte() -> None:
    v = load("cose_eddsa_sig_01.json")
    key = v["input"]["sign0"]["key"]
    expected = bytes.fromhex(v["output"]["cbor"])
    signing = SigningKey(bytes.fromhex(key["d_hex"]))
    assert bytes(signing.verify_key).hex() == key["x_hex"]
    produced = encode_sign1(
        {1: -8, 3: 0},
        v["input"]["plaintext"].encode(),
        signing,
        unprotected={4: key["kid"].encode()},
    )
    assert produced == expected


def test_cose_eddsa_sig_01_parsed_and_verified() -> None:
    v = load("cose_eddsa_sig_01.json")
    sign1 = decode_sign1(bytes.fromhex(v["output"]["cbor"]))
    assert sign1.to_be_signed() == bytes.fromhex(v["intermediates"]["ToBeSign_hex"])
    assert sign1.payload == b"This is the content."
    key = VerifyKey(bytes.fromhex(v["input"]["sign0"]["key"]["x_hex"]))
    assert sign1.verify(key)
    assert not sign1.verify(SigningKey.generate().verify_key)


def test_cose_example_kid_in_unprotected_header_does_not_count() -> None:
    """DESIGN.md: kid only counts in the protected header; the example carries it unprotected."""
    sign1 = decode_sign1(bytes.fromhex(load("cose_eddsa_sig_01.json")["output"]["cbor"]))
    with pytest.raises(CoseError) as caught:
        require_ed25519_header(sign1, "example")
    assert caught.value.reason is Reason.MALFORMED


def test_status_list_draft_1bit_example() -> None:
    v = load("status_list_1bit.json")
    raw = StatusList(1, bytes.fromhex(v["raw_hex"]))
    assert raw.size == 16
    assert {str(i): raw.status(i) for i in range(16)} == v["statuses"]
    inflated = StatusList.from_compressed(1, bytes.fromhex(v["compressed_hex"]))
    assert inflated.to_bytes() == bytes.fromhex("b9a3")
    # and our encoder produces a zlib stream that inflates to the same bytes
    assert zlib.decompress(raw.compressed()) == bytes.fromhex("b9a3")
    cbor = cbor2.loads(bytes.fromhex(v["status_list_cbor_hex"]))
    assert cbor == {"bits": 1, "lst": bytes.fromhex(v["compressed_hex"])}


def test_status_list_draft_cwt_example_structure() -> None:
    v = load("status_list_1bit.json")
    sign1, claims = decode_status_list_token(bytes.fromhex(v["cwt_example_hex"]))
    assert claims[2] == v["cwt_example_claims"]["sub_uri"]
    assert claims[65534] == v["cwt_example_claims"]["ttl"]
    statuses = status_list_from_claims(claims)
    assert [statuses.status(i) for i in range(16)] == [v["statuses"][str(i)] for i in range(16)]
    # The draft's example is ES256: the kiosk only accepts Ed25519, from the header alone.
    with pytest.raises(CoseError) as caught:
        require_ed25519_header(sign1, "status list")
    assert caught.value.reason is Reason.UNSUPPORTED
