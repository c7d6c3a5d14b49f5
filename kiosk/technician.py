"""The technician menu: opened by a valid technician card, driven by keys or touch.

Its pane lines are built from the app's own state (versions, counters, device states, trust
ages) — never from card data. Actions that touch devices (test gate, test print) go through
the same objects the loop uses."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from kiosk.ui import strings as S

ITEMS = (
    S.DIAGNOSTICS,
    S.CAMERA_VIEW,
    S.TEST_GATE,
    S.TEST_PRINT,
    S.TRUST_STATUS,
    S.LANGUAGE_AND_MODE,
    S.VOLUME,
    S.EXPORT_DIAGNOSTICS,
    S.EXIT,
)
VOLUMES = (0.0, 0.3, 0.6, 1.0)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in (
        "citycard-kiosk",
        "pygame-ce",
        "zxing-cpp",
        "pymodbus",
        "libosdp",
        "python-escpos",
        "pynacl",
        "cbor2",
    ):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


@dataclass
class TechnicianMenu:
    opened_at: float
    selected: int = 0
    result: tuple[str, ...] = ()  # what the last action reported
    last_input: float = field(default=0.0)

    def move(self, step: int, now: float) -> None:
        self.selected = (self.selected + step) % len(ITEMS)
        self.result = ()
        self.last_input = now

    @property
    def item(self) -> str:
        return ITEMS[self.selected]


def export_diagnostics(directory: Path, report: dict[str, Any], now: float) -> Path:
    """A JSON file with config summary, versions and counters — no personal data."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    path = directory / f"diagnostics-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    return path


Action = Callable[[], tuple[str, ...]]
