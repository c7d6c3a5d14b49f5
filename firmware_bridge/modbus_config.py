"""The Modbus gate's configuration, every value checked by type and bounds.

Each error starts "gate <key> " (the config loader adds file and section).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from firmware_bridge.errors import DeviceError

BAUDRATES = (1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200)
MAX_READ_BITS = 2000  # the most discrete inputs one Modbus read (FC02) may ask for


@dataclass(frozen=True)
class ModbusGateConfig:
    port: str  # device path (prefer /dev/serial/by-id/...) or any pyserial URL
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    unit: int = 1
    unlock_coil: int = 0
    passed_input: int = 0
    alarm_input: int | None = 1
    ready_input: int | None = None
    inputs_active_low: bool = False
    mode: Literal["pulse", "level"] = "pulse"  # level: hold the coil until passage/timeout
    pulse_ms: int = 300
    passage_window_s: float = 5.0
    poll_ms: int = 50
    timeout_s: float = 0.3
    grant_max_age_s: float = 1.0
    retry_max_s: float = 5.0
    rs485: bool = False  # kernel RS-485 mode (RTS drives the transceiver); most USB-RS485
    # adapters switch direction by themselves and need none

    def validate(self) -> None:
        """Every value by type and bounds; each error starts "gate <key> " (the config loader
        adds file and section)."""
        if not isinstance(self.port, str) or not self.port:
            raise DeviceError(f"gate port must be a device path or pyserial URL, not {self.port!r}")
        _choice("baudrate", self.baudrate, BAUDRATES)
        _choice("parity", self.parity, ("N", "E", "O"))
        _choice("stopbits", self.stopbits, (1, 2))
        _whole("unit", self.unit, 1, 247, "a Modbus unit id")
        _whole("unlock_coil", self.unlock_coil, 0, 65535, "a coil number")
        inputs = {"passed_input": self.passed_input}
        for key, number in (("alarm_input", self.alarm_input), ("ready_input", self.ready_input)):
            if number is not None:
                inputs[key] = number
        seen: dict[int, str] = {}
        for key, number in inputs.items():
            _whole(key, number, 0, 65535, "an input number")
            if number in seen:
                raise DeviceError(f"gate {key} must differ from {seen[number]} (both {number})")
            seen[number] = key
        if max(inputs.values()) - min(inputs.values()) >= MAX_READ_BITS:
            raise DeviceError(
                f"gate passed_input, alarm_input and ready_input must lie within "
                f"{MAX_READ_BITS} inputs of each other (one Modbus read)"
            )
        _flag("inputs_active_low", self.inputs_active_low)
        _choice("mode", self.mode, ("pulse", "level"))
        _whole("pulse_ms", self.pulse_ms, 100, 10_000, "milliseconds (dry contacts need 100)")
        _seconds("passage_window_s", self.passage_window_s, 0.5, 60)
        _whole("poll_ms", self.poll_ms, 10, 1000, "milliseconds")
        _seconds("timeout_s", self.timeout_s, 0.05, 2)
        _seconds("grant_max_age_s", self.grant_max_age_s, 0.1, 5)
        _seconds("retry_max_s", self.retry_max_s, 0.2, 60)
        _flag("rs485", self.rs485)


def _whole(key: str, value: object, low: int, high: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DeviceError(f"gate {key} must be {what}, {low}..{high}, not {value!r}")


def _seconds(key: str, value: object, low: float, high: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise DeviceError(f"gate {key} must be seconds, {low:g}..{high:g}, not {value!r}")


def _choice(key: str, value: object, choices: tuple[object, ...]) -> None:
    if isinstance(value, bool) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise DeviceError(f"gate {key} must be one of {allowed}, not {value!r}")


def _flag(key: str, value: object) -> None:
    if not isinstance(value, bool):
        raise DeviceError(f"gate {key} must be true or false, not {value!r}")
