"""What the app sees of a gate: grant, deny, and signals."""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class GateEvent(StrEnum):
    PASSED = "passed"  # someone went through after a grant
    TIMEOUT = "timeout"  # a grant's passage window ended with nobody through
    ALARM = "alarm"  # a passage without a grant, or the turnstile's alarm/forced input
    OFFLINE = "offline"  # the gate cannot be reached (or is not ready); grants are dropped
    DROPPED = "dropped"  # one grant was not carried out (too late, or the gate was offline)
    ONLINE = "online"  # reachable and ready again


@dataclass(frozen=True)
class GateSignal:
    event: GateEvent
    detail: str = ""
    t: float = 0.0

    @classmethod
    def now(cls, event: GateEvent, detail: str = "") -> GateSignal:
        return cls(event, detail, time.monotonic())


class Gate(Protocol):
    signals: queue.Queue[GateSignal]

    def grant(self) -> None:
        """Let one person through: only ever called for an ACCEPTED decision."""

    def deny(self) -> None:
        """A rejected card: keep (or make) the gate locked."""

    def close(self) -> None: ...


class NoGate:
    """Sites without a gate (a service counter): grants go nowhere, nothing is signalled."""

    def __init__(self) -> None:
        self.signals: queue.Queue[GateSignal] = queue.Queue()

    def grant(self) -> None:
        pass

    def deny(self) -> None:
        pass

    def close(self) -> None:
        pass
