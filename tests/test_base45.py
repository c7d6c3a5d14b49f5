from __future__ import annotations

import pytest

from kiosk.core.base45 import Base45Error, b45decode, b45encode

# RFC 9285 section 4 examples
RFC_EXAMPLES = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("raw", "text"), RFC_EXAMPLES)
def test_rfc9285_examples(raw: bytes, text: str) -> None:
    assert b45encode(raw) == text
    assert b45decode(text) == raw


def test_empty() -> None:
    assert b45encode(b"") == ""
    assert b45decode("") == b""


@pytest.mark.parametrize(
    "bad",
    [
        "GGW",  # RFC 9285 §6: 65535 < value
        "ZZ",  # final pair over 255
        "A",  # 1 mod 3 characters
        "AAAA",
        "aBC",  # lower case is not in the alphabet
        "BB8\n",
        "Ä00",
        "BB\x00",
    ],
)
def test_invalid_text_is_refused(bad: str) -> None:
    with pytest.raises(Base45Error):
        b45decode(bad)


def test_largest_values() -> None:
    assert b45decode(b45encode(b"\xff\xff\xff")) == b"\xff\xff\xff"
    assert b45encode(b"\xff\xff") == "FGW"
