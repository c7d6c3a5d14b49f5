"""The [gate], [reader] and [printer] sections of the kiosk's TOML config, and the devices
they describe. Unknown keys are refused, naming file, section and key (STYLE.md §4)."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from kiosk.errors import ConfigError

GATE_TYPES = ("modbus", "osdp", "none")
PRINTER_TYPES = ("escpos", "none")


def _section(
    data: dict[str, Any], name: str, cls: type, path: Path, skip: tuple[str, ...] = ()
) -> Any:
    raw = dict(data.get(name, {}))
    for key in skip:
        raw.pop(key, None)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ConfigError(
                f"{path}: [{name}] {key!r} is not a known option "
                f"(known: {', '.join(sorted(fields))})"
            )
    for key in ("scbk", "site_credential"):
        if key in raw:
            try:
                raw[key] = bytes.fromhex(raw[key])
            except (TypeError, ValueError):
                raise ConfigError(f"{path}: [{name}] {key} must be hexadecimal") from None
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ConfigError(f"{path}: [{name}] {exc}") from None


@dataclasses.dataclass(frozen=True)
class DeviceConfig:
    path: Path
    gate_type: str
    gate: Any  # ModbusGateConfig | None
    reader: Any  # OsdpReaderConfig | None
    printer_type: str
    printer: Any  # PrinterConfig | None


def load_device_config(path: Path) -> DeviceConfig:
    from firmware_bridge.escpos_printer import PrinterConfig
    from firmware_bridge.modbus_gate import ModbusGateConfig
    from firmware_bridge.osdp_reader import OsdpReaderConfig

    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    gate_type = data.get("gate", {}).get("type", "none")
    if gate_type not in GATE_TYPES:
        raise ConfigError(f"{path}: [gate] type must be one of {GATE_TYPES}, not {gate_type!r}")
    printer_type = data.get("printer", {}).get("type", "none")
    if printer_type not in PRINTER_TYPES:
        raise ConfigError(f"{path}: [printer] type must be one of {PRINTER_TYPES}")
    gate = reader = printer = None
    if gate_type == "modbus":
        gate = _section(data, "gate", ModbusGateConfig, path, skip=("type",))
    elif gate_type == "osdp":
        if "reader" not in data:
            raise ConfigError(f"{path}: [gate] type = 'osdp' needs a [reader] section")
        reader = _section(data, "reader", OsdpReaderConfig, path)
    if printer_type == "escpos":
        printer = _section(data, "printer", PrinterConfig, path, skip=("type",))
    return DeviceConfig(Path(path), gate_type, gate, reader, printer_type, printer)
