"""Stable reason codes: used in audit events, metrics labels, the UI and CLI JSON."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    ACCEPTED = "ACCEPTED"
    MALFORMED = "MALFORMED"
    UNSUPPORTED = "UNSUPPORTED"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    KEY_NOT_VALID = "KEY_NOT_VALID"
    WRONG_ISSUER = "WRONG_ISSUER"
    NOT_YET_VALID = "NOT_YET_VALID"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"
    SUSPENDED = "SUSPENDED"
    TRUST_STALE = "TRUST_STALE"
    POLICY_DENIED = "POLICY_DENIED"
    PASSBACK = "PASSBACK"

    @property
    def sentence(self) -> str:
        """Plain English for technicians and the terminal demo (the UI has translations)."""
        return _SENTENCES[self]


_SENTENCES: dict[Reason, str] = {
    Reason.ACCEPTED: "The card is valid.",
    Reason.MALFORMED: "This is not a readable city card.",
    Reason.UNSUPPORTED: "This card uses a format this kiosk does not support.",
    Reason.UNKNOWN_KEY: "This card was signed with a key this kiosk does not know.",
    Reason.BAD_SIGNATURE: "The card's signature does not match: it was altered or forged.",
    Reason.KEY_NOT_VALID: "The key that signed this card was not valid for cards at that time.",
    Reason.WRONG_ISSUER: "This card was issued by another authority.",
    Reason.NOT_YET_VALID: "This card is not valid yet.",
    Reason.EXPIRED: "This card has expired.",
    Reason.REVOKED: "This card has been cancelled.",
    Reason.SUSPENDED: "This card is on hold.",
    Reason.TRUST_STALE: "The kiosk cannot check cards right now: its trust data is out of date.",
    Reason.POLICY_DENIED: "This card does not give access here.",
    Reason.PASSBACK: "This card was just used here.",
}
