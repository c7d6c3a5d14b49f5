"""Dedicated 2D scanners that act as a USB keyboard ("keyboard wedge"), read with evdev.

The kiosk grabs the device so the typed text goes nowhere else, and turns key events back
into characters for a US layout (the layout such scanners default to). `KeyDecoder` is pure
and tested without evdev; only `HidScanner.open` touches the device.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kiosk.core.errors import DeviceError
from kiosk.scan.frames import ScannedText

# Linux input-event-codes.h
EV_KEY = 1
KEY_ENTER, KEY_KPENTER = 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KEY_CAPSLOCK = 42, 54, 58
KEY_UP, KEY_DOWN, KEY_HOLD = 0, 1, 2

_LETTERS = {
    16: "q",
    17: "w",
    18: "e",
    19: "r",
    20: "t",
    21: "y",
    22: "u",
    23: "i",
    24: "o",
    25: "p",
    30: "a",
    31: "s",
    32: "d",
    33: "f",
    34: "g",
    35: "h",
    36: "j",
    37: "k",
    38: "l",
    44: "z",
    45: "x",
    46: "c",
    47: "v",
    48: "b",
    49: "n",
    50: "m",
}
# code: (plain, shifted), US layout
_KEYS = {
    2: ("1", "!"),
    3: ("2", "@"),
    4: ("3", "#"),
    5: ("4", "$"),
    6: ("5", "%"),
    7: ("6", "^"),
    8: ("7", "&"),
    9: ("8", "*"),
    10: ("9", "("),
    11: ("0", ")"),
    12: ("-", "_"),
    13: ("=", "+"),
    26: ("[", "{"),
    27: ("]", "}"),
    39: (";", ":"),
    40: ("'", '"'),
    41: ("`", "~"),
    43: ("\\", "|"),
    51: (",", "<"),
    52: (".", ">"),
    53: ("/", "?"),
    57: (" ", " "),
    55: ("*", "*"),
    74: ("-", "-"),
    78: ("+", "+"),
    83: (".", "."),
    98: ("/", "/"),
}
MAX_LINE = 4096


class KeyDecoder:
    """Key events in, one complete line (the scanned code) out per Enter."""

    def __init__(self) -> None:
        self._shift = 0
        self._caps = False
        self._line: list[str] = []

    def feed(self, code: int, value: int) -> str | None:
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            if value == KEY_DOWN:
                self._shift += 1
            elif value == KEY_UP:
                self._shift = max(0, self._shift - 1)
            return None
        if value != KEY_DOWN:
            return None
        if code == KEY_CAPSLOCK:
            self._caps = not self._caps
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            line, self._line = "".join(self._line), []
            return line or None
        shifted = self._shift > 0
        if code in _LETTERS:
            char = _LETTERS[code]
            char = char.upper() if shifted != self._caps else char
        elif code in _KEYS:
            char = _KEYS[code][shifted]
        else:
            return None
        if len(self._line) < MAX_LINE:
            self._line.append(char)
        return None


class HidScanner:
    def __init__(self, device: str) -> None:
        self.device = device
        self.name = f"hid-scanner:{device}"
        self._input: Any = None
        self._closed = False

    def open(self) -> None:
        try:
            import evdev  # type: ignore[import-not-found]
        except ImportError:
            raise DeviceError("evdev is not installed (pip install evdev; Linux only)") from None
        try:
            self._input = evdev.InputDevice(self.device)
            self._input.grab()
        except OSError as exc:
            raise DeviceError(f"{self.name}: cannot open ({exc.strerror})") from None

    def texts(self) -> Iterator[ScannedText]:
        if self._input is None:
            self.open()
        keys = KeyDecoder()
        try:
            for event in self._input.read_loop():
                if self._closed:
                    return
                if event.type == EV_KEY:
                    line = keys.feed(event.code, event.value)
                    if line:
                        yield ScannedText(line, time.monotonic())
        except OSError as exc:
            self.close()
            raise DeviceError(f"{self.name}: the scanner went away ({exc.strerror})") from None

    def close(self) -> None:
        self._closed = True
        if self._input is not None:
            try:
                self._input.ungrab()
                self._input.close()
            except OSError:
                pass
            finally:
                self._input = None
