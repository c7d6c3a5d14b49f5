"""A small specimen city, issued on the fly, with one sample card per interesting outcome.

Used by `kiosk demo` and by tests that need a whole city. Every card is marked specimen;
names are invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from kiosk.core.base45 import b45decode, b45encode
from kiosk.core.card import PREFIX
from kiosk.core.statuslist import Status
from kiosk.issuer.city import DAY_S, YEAR_S, City, Holder

ISSUER = "us-xx-specimen"
STATUS_BASE = "https://id.specimen.example/status/"


@dataclass(frozen=True)
class Sample:
    label: str  # what the sample shows, without personal data
    text: str
    lang: str | None = None


@dataclass(frozen=True)
class SpecimenCity:
    city: City
    root_key: bytes
    bundle: bytes
    samples: tuple[Sample, ...]


def _forged(text: str) -> str:
    """The same claims and kid, signed by a key the city never had."""
    raw = bytearray(b45decode(text[len(PREFIX) :]))
    forged_sig = SigningKey.generate().sign(bytes(raw[:-64])).signature
    raw[-64:] = forged_sig
    return PREFIX + b45encode(bytes(raw))


def build(path: Path, now: int) -> SpecimenCity:
    city = City.init(path, ISSUER, STATUS_BASE, now - 400 * DAY_S)
    other = City.init(
        path / "elsewhere", "us-xx-elsewhere", "https://elsewhere.example/s/", now - 400 * DAY_S
    )

    def issue(holder: Holder, issued_days_ago: int = 30, valid_s: int = 5 * YEAR_S) -> str:
        return city.issue(holder, now, valid_s, issued_at=now - issued_days_ago * DAY_S).text

    library = issue(
        Holder("Ana Sofía Reyes", "1991-03-14", lang="es", benefits=("library",), specimen=True)
    )
    museum_only = issue(
        Holder("王小明", "2001-08-02", lang="zh-Hans", benefits=("museum",), specimen=True)
    )
    arabic = issue(
        Holder("ليلى حداد", "1985-11-30", lang="ar", benefits=("library", "museum"), specimen=True)
    )
    expired = issue(
        Holder("Jan Kowalski", "1970-01-20", lang="pl", benefits=("library",), specimen=True),
        issued_days_ago=380,
        valid_s=365 * DAY_S,
    )
    revoked_card = city.issue(
        Holder("Maria Santos", "1995-07-04", lang="tl", benefits=("library",), specimen=True),
        now,
        issued_at=now - 90 * DAY_S,
    )
    suspended_card = city.issue(
        Holder("Олена Коваль", "1988-02-09", lang="uk", benefits=("library",), specimen=True),
        now,
        issued_at=now - 60 * DAY_S,
    )
    city.set_status("1", revoked_card.status_idx, Status.REVOKED)
    city.set_status("1", suspended_card.status_idx, Status.SUSPENDED)
    technician = issue(Holder("Kiosk Technician", "1980-01-01", role="technician", specimen=True))
    foreign = other.issue(
        Holder("Visitor", "1990-01-01", benefits=("library",), specimen=True), now
    ).text
    bundle = city.bundle(now - DAY_S // 2)
    samples = (
        Sample("library card (Spanish)", library, "es"),
        Sample("library and museum card (Arabic)", arabic, "ar"),
        Sample("museum-only card at a library", museum_only, "zh-Hans"),
        Sample("expired card (Polish)", expired, "pl"),
        Sample("revoked card (Tagalog)", revoked_card.text, "tl"),
        Sample("suspended card (Ukrainian)", suspended_card.text, "uk"),
        Sample("forged signature", _forged(library), "es"),
        Sample("another city's card", foreign),
        Sample("a restaurant menu QR code", "https://menu.example/table/12"),
        Sample("technician card", technician),
        Sample("library card again, 50 s later (passed back)", library, "es"),
    )
    return SpecimenCity(city, city.root.public_key, bundle, samples)
