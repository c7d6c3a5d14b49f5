"""What went wrong between the kiosk and a Modbus relay module, in a technician's words.

pymodbus says "No response received after 0 retries" whether the module is silent, answers
with a broken CRC, or answers too late; the gate tells these apart from what the line carried
(`heard`: the bytes that came back) and says what to check for each. An exception answer means
the module is there and refuses: the sentence names the coil or inputs and the config key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from firmware_bridge.errors import DeviceAttention, DeviceError, DeviceFault

if TYPE_CHECKING:
    from firmware_bridge.modbus_config import ModbusGateConfig

EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def silence(c: ModbusGateConfig) -> DeviceError:
    return DeviceError(
        f"no answer from the relay module (unit {c.unit}) on {c.port}",
        "check the wiring (A+ and B- not swapped, GND), the module's power, and that "
        f"[gate] unit ({c.unit}), baudrate ({c.baudrate}) and parity ({c.parity}) match the "
        "module's settings",
        fault=DeviceFault.SILENT,
    )


def late(c: ModbusGateConfig, after_s: float) -> DeviceError:
    return DeviceError(
        f"the relay module answers, but later than [gate] timeout_s ({c.timeout_s:g} s)",
        "raise [gate] timeout_s above the module's reply time (at most 2 s)",
        fault=DeviceFault.SLOW,
        detail=f"an answer came {after_s:.2f} s after its request",
    )


def garbled(c: ModbusGateConfig, heard: bytes) -> DeviceError:
    return DeviceError(
        f"the relay module's answers arrive garbled (bad CRC) on {c.port}",
        f"check that [gate] baudrate ({c.baudrate}) and parity ({c.parity}) match the "
        "module's, the 120 Ω termination at both ends of the bus, and that no other device "
        f"on the bus has unit {c.unit}",
        fault=DeviceFault.GARBLED,
        detail=f"heard {heard[:32].hex(' ')}",
    )


def mismatch(c: ModbusGateConfig, heard: bytes) -> DeviceError:
    """A well-formed answer that is not the answer to the request sent."""
    detail = f"heard {heard[:32].hex(' ')}"
    if heard and heard[0] != c.unit:
        return DeviceError(
            f"unit {heard[0]} answered a request for unit {c.unit}",
            f"check [gate] unit ({c.unit}) against the module's address, and that no device "
            "on the bus answers for every unit",
            fault=DeviceFault.GARBLED,
            detail=detail,
        )
    return DeviceError(
        f"an answer that does not fit the request came back (unit {c.unit})",
        f"check that only one device on the bus has unit {c.unit}, and that the adapter does "
        "not echo what it sends",
        fault=DeviceFault.GARBLED,
        detail=detail,
    )


def not_ready() -> DeviceAttention:
    """The module answers; the turnstile behind it says it cannot let anyone through."""
    return DeviceAttention(
        "the turnstile reports not ready",
        "its ready output is off: look at the turnstile's own display or fault light",
    )


def line_failed(c: ModbusGateConfig, detail: str) -> DeviceError:
    return DeviceError(
        f"the serial line on {c.port} failed",
        "check the USB-RS485 adapter and its cable; the gate reconnects by itself",
        detail=detail,
    )


def refused_coil(c: ModbusGateConfig, code: int | None) -> DeviceError:
    coil, unit = c.unlock_coil, c.unit
    if code == 2:
        return _refused(
            f"the relay module (unit {unit}) refused coil {coil}: it has no such coil",
            "check [gate] unlock_coil (coils count from 0: relay 1 is coil 0)",
            code,
        )
    if code == 1:
        return _refused(
            f"the device at unit {unit} refused coil {coil}: it has no coils to switch",
            f"check [gate] unit ({unit}): it must be the relay module's address",
            code,
        )
    return _other(f"switching coil {coil}", c, code)


def refused_inputs(c: ModbusGateConfig, code: int | None, first: int, last: int) -> DeviceError:
    if code == 2:
        return _refused(
            f"the relay module (unit {c.unit}) refused to read inputs {first}..{last}: it has "
            "no such inputs",
            "check [gate] passed_input, alarm_input and ready_input (inputs count from 0)",
            code,
        )
    if code == 1:
        return _refused(
            f"the device at unit {c.unit} refused to read inputs: it has no discrete inputs",
            f"check [gate] unit ({c.unit}): it must be the relay module's address",
            code,
        )
    return _other(f"reading inputs {first}..{last}", c, code)


def _refused(sentence: str, fix: str, code: int | None) -> DeviceError:
    return DeviceError(
        sentence, fix, fault=DeviceFault.REFUSED, detail=f"Modbus exception {_named(code)}"
    )


def _other(what: str, c: ModbusGateConfig, code: int | None) -> DeviceError:
    if code in (10, 11):  # a TCP/serial gateway in between could not reach the unit
        return DeviceError(
            f"the Modbus gateway could not reach unit {c.unit}",
            f"check [gate] unit ({c.unit}) and the wiring behind the gateway",
            fault=DeviceFault.SILENT,
            detail=f"Modbus exception {_named(code)}",
        )
    if code in (4, 5, 6):  # the module's own state: it may pass
        return DeviceError(
            f"the relay module (unit {c.unit}) could not carry out {what} just now",
            "if it keeps failing, power-cycle the module",
            detail=f"Modbus exception {_named(code)}",
        )
    return _refused(
        f"the relay module (unit {c.unit}) refused {what}",
        "check [gate] unit, unlock_coil and the inputs against the module's manual",
        code,
    )


def _named(code: int | None) -> str:
    return f"{code} ({EXCEPTIONS.get(code, 'unknown') if code is not None else 'no code'})"


def crc16(data: bytes) -> bytes:
    """CRC-16/MODBUS of `data`, as it goes on the wire (little-endian)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def crc_ok(frame: bytes) -> bool:
    """A whole RTU frame whose last two bytes are the CRC of the rest."""
    return len(frame) >= 4 and crc16(frame[:-2]) == frame[-2:]
