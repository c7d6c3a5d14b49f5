"""What a card is and what the verifier decided about it: the types every layer reads.

They live apart from `card` (which builds them) and `policy` (which rules on them), so the
verifier imports the policy and the policy imports only these types, never the verifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from kiosk.core.reasons import Reason


@dataclass(frozen=True, repr=False, slots=True)
class Card:
    """The claims of a card. Holds personal data: kept in memory only, never printed."""

    issuer: str
    issued_at: int
    expires_at: int
    serial: bytes
    status_uri: str
    status_idx: int
    name: str
    dob: date
    gender: str | None
    lang: str | None
    benefits: tuple[str, ...]
    role: str
    specimen: bool

    def __repr__(self) -> str:
        return "Card(<holder data redacted>)"


@dataclass(frozen=True, slots=True)
class Decision:
    reason: Reason
    detail: str = ""  # for technicians: never holds holder data
    kid: bytes | None = None
    # Set only once the signature verified: unauthenticated claims are never shown.
    card: Card | None = field(default=None, repr=False)
    status_checked: tuple[str, int] | None = field(default=None, repr=False)
    warnings: tuple[Reason, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.reason is Reason.ACCEPTED

    @property
    def outcome(self) -> str:
        return "accepted" if self.accepted else "rejected"

    @property
    def specimen(self) -> bool:
        return self.card is not None and self.card.specimen

    @property
    def role(self) -> str | None:
        return None if self.card is None else self.card.role
