"""What the app sees of a gate: grant, deny, and signals."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from firmware_bridge.errors import DeviceError


class GateEvent(StrEnum):
    PASSED = "passed"  # someone went through after a grant
    TIMEOUT = "timeout"  # a grant ended with nobody through (or no verdict from the panel)
    ALARM = "alarm"  # a passage without a grant, or the turnstile's alarm/forced input
    OFFLINE = "offline"  # the gate cannot be reached (or is not ready); grants are dropped
    DROPPED = "dropped"  # one grant was not carried out (too late, or the gate was offline)
    ONLINE = "online"  # reachable and ready again
    GRANTED = "granted"  # a deciding gate's controller let the card through (its verdict)
    REFUSED = "refused"  # a deciding gate's controller refused the card


@dataclass(frozen=True)
class GateSignal:
    event: GateEvent
    detail: str = ""
    t: float = 0.0
    # OFFLINE for a fault: the typed error, whose fix says what to do (`detail` is its sentence)
    error: DeviceError | None = field(default=None, compare=False)

    @classmethod
    def now(
        cls, event: GateEvent, detail: str = "", error: DeviceError | None = None
    ) -> GateSignal:
        return cls(event, detail, time.monotonic(), error)


@dataclass(frozen=True)
class Grant:
    """One accepted card for the gate to let through; each gate decides what to send.

    `serial` is the card's own serial (an OSDP panel set to identify cards by serial reports
    it; the others ignore it). A technician's test unlock carries none: `TEST_GRANT`."""

    serial: bytes | None = field(default=None, repr=False)

    @property
    def test(self) -> bool:
        return self.serial is None


TEST_GRANT = Grant()


class Gate(Protocol):
    signals: queue.Queue[GateSignal]

    @property
    def decides(self) -> bool:
        """True where a controller behind the gate has the last word (an OSDP panel): every
        grant ends in GRANTED, REFUSED, TIMEOUT or DROPPED, and only GRANTED lets the screen
        say "go through". False where a grant that reached the gate is the entry (a relay):
        it ends in PASSED, TIMEOUT or DROPPED."""
        ...

    def grant(self, grant: Grant) -> None:
        """Let one person through: only ever called for an ACCEPTED decision (or a test)."""

    def deny(self) -> None:
        """A rejected card: keep (or make) the gate locked."""

    def close(self) -> None: ...


class NoGate:
    """Sites without a gate (a service counter): grants go nowhere, nothing is signalled."""

    decides = False

    def __init__(self) -> None:
        self.signals: queue.Queue[GateSignal] = queue.Queue()

    def grant(self, grant: Grant = TEST_GRANT) -> None:
        pass

    def deny(self) -> None:
        pass

    def close(self) -> None:
        pass
