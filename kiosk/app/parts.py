"""What the loop is built from: its settings and its parts (kiosk.app.wiring builds them from
the config, the demo and the tests build their own), apart from the loop so that the
technician menu and the wiring name them without importing the loop."""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from firmware_bridge.gate import Gate
from kiosk.app.audit import Audit, Metrics
from kiosk.app.notify import Notifier
from kiosk.app.passes import Printer
from kiosk.core.policy import Mode, Policy
from kiosk.core.trust_state import TrustState
from kiosk.scan.pipeline import ScanEvent
from kiosk.ui.i18n import ENGLISH, Language
from kiosk.ui.screens import Screen


class Screens(Protocol):
    """The display as the loop sees it (kiosk.ui.display.Display)."""

    def show(self, screen: Screen, now: float, force: bool = False) -> bool: ...
    def warm(self, screen: Screen) -> None: ...
    def hit(self, pos: tuple[int, int]) -> str | None: ...
    def events(self) -> list[Any]: ...
    def close(self) -> None: ...


class Sounds(Protocol):
    volume: float

    def play(self, outcome: Any, lang: str = "en") -> bool: ...


@dataclass(frozen=True)
class Settings:
    site: str
    mode: Mode
    languages: tuple[Language, ...]
    policy: Policy
    staff_language: Language = ENGLISH  # the counter's staff panel
    result_s: float = 6.0
    idle_cycle_s: float = 4.0
    fps: int = 30
    hold_during_result: bool = True  # the next card waits until the result is done
    technician_timeout_s: float = 90.0
    language_choice_s: float = 30.0  # a language picked on idle holds this long
    specimen: bool = False  # a specimen city: every screen carries the band
    trust_check_s: float = 5.0
    technician_pin: str = field(default="", repr=False)  # "" = the card alone opens the menu
    policies: dict[Mode, Policy] = field(default_factory=dict)  # per mode, for the menu's switch


@dataclass
class Parts:
    scan_events: queue.Queue[ScanEvent]
    gate: Gate
    trust: TrustState
    audit: Audit
    metrics: Metrics
    display: Screens | None = None
    sounds: Sounds | None = None
    printer: Printer | None = None
    notifier: Notifier = field(default_factory=Notifier)
    scanner: Any = None  # kiosk.scan.pipeline.Scanner: started and stopped by the loop
    closers: list[Callable[[], None]] = field(default_factory=list)  # metrics server, sims
