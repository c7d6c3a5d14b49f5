"""Who goes next: the grant in flight, and the card read waiting for the kiosk to be free.

The grant in flight lasts from `Gate.grant()` until the gate's answer (or the wait) ends it.

The loop holds the next card while a grant is in flight, so one grant ends before the next
begins. A grant ends in one answer from the gate — PASSED, TIMEOUT, DROPPED or OFFLINE from a
relay; GRANTED, REFUSED, TIMEOUT or DROPPED from a deciding gate (an OSDP panel) — or, if the
gate never answers, after `wait_s`. Where the gate says nobody went through, the card's
passback tag is handed back so the holder may try again. For a deciding gate the card's
result screen is held here until the verdict: nothing says "go through" before the panel did.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace

from firmware_bridge.gate import GateEvent
from kiosk.core.reasons import Reason
from kiosk.scan.pipeline import CardRead, NotACityCard
from kiosk.ui.screens import Result
from kiosk.ui.theme import Outcome

GRANT_WAIT_S = 10.0  # longest wait for a grant's answer (a relay's passage window is ~5 s)

# The answers that say nobody went through: the passback tag is released.
NOBODY_THROUGH = frozenset(
    {GateEvent.TIMEOUT, GateEvent.DROPPED, GateEvent.REFUSED, GateEvent.OFFLINE}
)
ENDS_A_GRANT = NOBODY_THROUGH | {GateEvent.PASSED, GateEvent.GRANTED}


@dataclass(frozen=True)
class Ended:
    """How the grant in flight ended: `event` is None when the gate never answered."""

    event: GateEvent | None
    tag: bytes | None  # to release from the passback guard, when nobody went through
    held: Result | None  # a deciding gate's card: its screen, to show with the verdict
    test: bool  # a technician's test unlock


@dataclass
class _InFlight:
    deadline: float
    tag: bytes | None
    held: Result | None
    test: bool


class GrantTracker:
    def __init__(self, wait_s: float = GRANT_WAIT_S) -> None:
        self.wait_s = wait_s
        self._grant: _InFlight | None = None

    def sent(
        self,
        now: float,
        *,
        tag: bytes | None = None,
        held: Result | None = None,
        test: bool = False,
    ) -> None:
        self._grant = _InFlight(now + self.wait_s, tag, held, test)

    @property
    def active(self) -> bool:
        return self._grant is not None

    @property
    def held(self) -> Result | None:
        """The result a deciding gate has not ruled on yet (the screen shows "checking")."""
        return self._grant.held if self._grant is not None else None

    def answer(self, event: GateEvent) -> Ended | None:
        """The gate's signal: the grant in flight, if this ends it."""
        if self._grant is None or event not in ENDS_A_GRANT:
            return None
        return self._end(event)

    def expire(self, now: float) -> Ended | None:
        """The gate never answered: the grant ends as if nobody went through."""
        if self._grant is None or now <= self._grant.deadline:
            return None
        return self._end(None)

    def _end(self, event: GateEvent | None) -> Ended:
        grant, self._grant = self._grant, None
        assert grant is not None
        # no answer at all: nobody can say whether someone went through, so the card stays
        # refused as a passback for its window
        nobody = event in NOBODY_THROUGH
        return Ended(event, grant.tag if nobody else None, grant.held, grant.test)


def verdict_screen(held: Result, answer: GateEvent | None) -> Result:
    """A deciding gate's card: what its controller answered is what the screen says. Only
    GRANTED says "go through"; a refusal reads as "does not give entry here"; no answer
    reads as "can't check" (this kiosk cannot check right now, not a problem with the card).
    """
    if answer is GateEvent.GRANTED:
        return held
    if answer is GateEvent.REFUSED:
        return replace(held, outcome=Outcome.REJECTED, reason=Reason.POLICY_DENIED)
    return replace(held, outcome=Outcome.CANT_CHECK)


class WaitingRead:
    """The latest card read while the kiosk was busy, decided as soon as it is free.

    The scanner reports a card held still only once (its dedupe window slides with every
    sighting), so a read dropped here would never come again. Reads of the card just decided
    are that same presentation and are not kept. Only a digest of that card stays — keyed
    with a random per-process key, so nobody holding a card can test whether it was the
    last one read — and only while the kiosk is busy with it (`forget` once it is free)."""

    def __init__(self) -> None:
        self._read: CardRead | NotACityCard | None = None
        self._decided: bytes | None = None
        self._key = os.urandom(32)

    def hold(self, event: CardRead | NotACityCard) -> None:
        if isinstance(event, NotACityCard) or self._digest(event.text) != self._decided:
            self._read = event

    def take(self) -> CardRead | NotACityCard | None:
        read, self._read = self._read, None
        return read

    def deciding(self, event: CardRead | NotACityCard) -> None:
        self._decided = self._digest(event.text) if isinstance(event, CardRead) else None

    def forget(self) -> None:
        """The kiosk is free again: nothing of the last card is kept."""
        self._decided = None

    def _digest(self, text: str) -> bytes:
        return hashlib.blake2b(text.encode(), digest_size=16, key=self._key).digest()
