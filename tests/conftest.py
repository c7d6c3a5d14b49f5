"""Fixtures that build real cities, cards and trust data with the issuer code."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# Screens and sounds run headless in every test (SDL's dummy video and audio drivers).
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pytest

from kiosk.core.policy import Policy
from kiosk.core.trust import TrustStore, parse_bundle
from kiosk.issuer.city import DAY_S, City, Holder, IssuedCard

NOW = 1_790_000_000  # 2026-09-21T13:33:20Z: every test runs at a fixed time
ISSUER = "us-il-chicago"
STATUS_BASE = "https://id.example.gov/status/"

# Marker strings: privacy tests search every output for them.
NAME = "Zyxwvut Qmarkername"
DOB = "1987-06-05"


@pytest.fixture
def city(tmp_path: Path) -> City:
    return City.init(tmp_path / "city", ISSUER, STATUS_BASE, NOW - 365 * DAY_S)


@pytest.fixture
def holder() -> Holder:
    return Holder(NAME, DOB, lang="es", benefits=("library",))


IssueFn = Callable[..., IssuedCard]


@pytest.fixture
def issue(city: City, holder: Holder) -> IssueFn:
    """Issue a card, issued a day before NOW unless told otherwise."""

    def _issue(h: Holder | None = None, **kwargs: int) -> IssuedCard:
        kwargs.setdefault("issued_at", NOW - DAY_S)
        return city.issue(h or holder, NOW, **kwargs)

    return _issue


TrustFn = Callable[..., TrustStore]


@pytest.fixture
def trust_of(city: City) -> TrustFn:
    """A verified TrustStore from a bundle the city signs now (at `at`, default NOW)."""

    def _trust(at: int = NOW, **kwargs: int) -> TrustStore:
        return TrustStore.build(parse_bundle(city.bundle(at, **kwargs), [city.root.public_key]))

    return _trust


@pytest.fixture
def gate() -> Policy:
    return Policy.for_mode("gate", passback_s=0)


@pytest.fixture
def published(city: City, tmp_path: Path) -> tuple[Path, str]:
    """The city's bundle written to a file, and its root key in hex (as a technician has them)."""
    bundle = tmp_path / "bundle.cose"
    bundle.write_bytes(city.bundle(NOW))
    return bundle, city.root.public_key.hex()
