"""Site policy: what a valid card may do here, and what the screen may show of its holder.

`Policy` is pure data read by `verify_card` (skew, staleness grace, benefits, age) and by
the screens (`holder_view`). `PassbackGuard` is the one stateful rule: it remembers a keyed
hash of recently accepted serials, in memory only, under a key that never leaves the process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kiosk.core.decision import Card, Decision
from kiosk.core.errors import ConfigError
from kiosk.core.reasons import Reason


class Mode(StrEnum):
    GATE = "gate"  # unattended entrance: nothing about the holder on screen by default
    COUNTER = "counter"  # staffed: staff see name, age flags and benefits by default


class Stale(StrEnum):
    REJECT = "reject"
    GRACE = "grace"


HOLDER_FIELDS = frozenset({"name", "age_flags", "benefits", "gender", "dob", "lang", "valid_until"})
_DEFAULT_SHOW = {
    Mode.GATE: frozenset(),
    Mode.COUNTER: frozenset({"name", "age_flags", "benefits"}),
}
_DEFAULT_STALE = {Mode.GATE: Stale.REJECT, Mode.COUNTER: Stale.GRACE}
_DEFAULT_PASSBACK_S = {Mode.GATE: 60, Mode.COUNTER: 0}


class Refusals(StrEnum):
    """What a refusal says to everyone who can see the screen."""

    DISCREET = "discreet"  # "Not accepted. Please see staff." — the reason stays with staff
    FULL = "full"  # "This card is on hold." — at a counter, where staff explain anyway


_DEFAULT_REFUSALS = {Mode.GATE: Refusals.DISCREET, Mode.COUNTER: Refusals.FULL}


@dataclass(frozen=True)
class Policy:
    mode: Mode = Mode.GATE
    skew_s: int = 300
    required_benefits: frozenset[str] = frozenset()  # the card needs at least one of these
    min_age: int | None = None
    age_flags: tuple[int, ...] = (18, 21)
    show: frozenset[str] = frozenset()
    stale: Stale = Stale.REJECT
    stale_grace_s: int = 72 * 3600
    passback_s: int = 60
    refusals: Refusals = Refusals.DISCREET
    timezone: str = "UTC"

    @classmethod
    def for_mode(cls, mode: Mode | str = Mode.GATE, **overrides: object) -> Policy:
        """The mode's defaults (DESIGN.md "Privacy first"), then explicit settings."""
        mode = Mode(mode)
        base = cls(
            mode=mode,
            show=_DEFAULT_SHOW[mode],
            stale=_DEFAULT_STALE[mode],
            passback_s=_DEFAULT_PASSBACK_S[mode],
            refusals=_DEFAULT_REFUSALS[mode],
        )
        policy = replace(base, **overrides)  # type: ignore[arg-type]
        policy.validate()
        return policy

    def validate(self) -> None:
        unknown = set(self.show) - HOLDER_FIELDS
        if unknown:
            raise ConfigError(f"policy show: unknown holder field(s) {sorted(unknown)}")
        for name in ("skew_s", "stale_grace_s", "passback_s"):
            if getattr(self, name) < 0:
                raise ConfigError(f"policy {name} must not be negative")
        if self.min_age is not None and not 0 < self.min_age < 150:
            raise ConfigError("policy min_age must be between 1 and 149")
        self.zone()

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"policy timezone {self.timezone!r} is not known") from None

    def within_stale_grace(self, stale_for_s: int) -> bool:
        return self.stale is Stale.GRACE and stale_for_s <= self.stale_grace_s

    def local_date(self, now: int) -> date:
        return datetime.fromtimestamp(now, UTC).astimezone(self.zone()).date()

    def denial(self, card: Card, now: int) -> str:
        """Why this site refuses an otherwise valid card, or "" when it does not."""
        if card.role == "technician":
            return ""  # technicians open the technician menu; benefits and age don't apply
        if self.required_benefits and not self.required_benefits.intersection(card.benefits):
            return "the card carries none of the benefits this site requires"
        if self.min_age is not None and age_on(card.dob, self.local_date(now)) < self.min_age:
            return f"holder is under {self.min_age}"
        return ""

    def holder_view(self, card: Card, now: int) -> HolderView:
        """Only what this mode may show. `dob` appears only if configured explicitly."""
        show = self.show
        age = age_on(card.dob, self.local_date(now))
        return HolderView(
            name=card.name if "name" in show else None,
            age_flags=tuple(f"{n}+" for n in self.age_flags if age >= n)
            if "age_flags" in show
            else (),
            benefits=card.benefits if "benefits" in show else (),
            gender=card.gender if "gender" in show else None,
            dob=card.dob.isoformat() if "dob" in show else None,
            lang=card.lang if "lang" in show else None,
            valid_until=datetime.fromtimestamp(card.expires_at, UTC).date()
            if "valid_until" in show
            else None,
            role=card.role,
            specimen=card.specimen,
        )


def age_on(dob: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (dob.month, dob.day)
    return today.year - dob.year - before_birthday


@dataclass(frozen=True, repr=False)
class HolderView:
    name: str | None
    age_flags: tuple[str, ...]
    benefits: tuple[str, ...]
    gender: str | None
    dob: str | None
    lang: str | None
    valid_until: date | None
    role: str
    specimen: bool

    def __repr__(self) -> str:
        return "HolderView(<holder data redacted>)"


@dataclass
class PassbackGuard:
    """Refuse the same card twice within `window_s` (a card handed back over a turnstile).

    Serials are remembered as HMAC-SHA256 under a random per-process key: nothing is
    written anywhere, and the tags are useless once the process ends.
    """

    window_s: int
    _key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    _seen: dict[bytes, float] = field(default_factory=dict, repr=False)

    def check(self, decision: Decision, now: float) -> Decision:
        card = decision.card
        if not decision.accepted or card is None or self.window_s <= 0:
            return decision
        if card.role == "technician":
            return decision
        self.forget_expired(now)
        tag = self.tag(decision)
        assert tag is not None
        if tag in self._seen:
            return replace(decision, reason=Reason.PASSBACK, detail="same card within window")
        self._seen[tag] = now
        return decision

    def tag(self, decision: Decision) -> bytes | None:
        """The keyed tag of the decision's card (what `release` takes)."""
        if decision.card is None:
            return None
        return hmac.new(self._key, decision.card.serial, hashlib.sha256).digest()[:16]

    def release(self, tag: bytes | None) -> None:
        """Forget a card whose grant ended without a passage: it may be shown again."""
        if tag is not None:
            self._seen.pop(tag, None)

    def forget_expired(self, now: float) -> None:
        """Tags whose window has ended (the app calls this on a timer, not only per card)."""
        horizon = now - self.window_s
        for tag in [t for t, seen in self._seen.items() if seen <= horizon]:
            del self._seen[tag]

    def __len__(self) -> int:
        return len(self._seen)
