"""The kiosk's one TOML file (`/etc/kiosk/kiosk.toml` on a device), validated up front.

Every section maps to a frozen dataclass; unknown sections and keys are refused, types and
ranges are checked, and every error names the file, the section and the key, as Klipper
does ("Option 'x' is not valid in section 'y'"). `kiosk config validate FILE` runs the same
code a starting kiosk runs; `kiosk config show` prints the effective config with defaults.
"""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiosk.app.audit import MetricsConfig, check_metrics
from kiosk.core.errors import ConfigError
from kiosk.core.policy import HOLDER_FIELDS, Mode, Policy, Refusals, Stale
from kiosk.scan.config import SOURCE_TYPES, CameraConfig
from kiosk.ui.config import DRIVERS, DisplayConfig
from kiosk.ui.i18n import language

DEFAULT_PATH = Path("/etc/kiosk/kiosk.toml")
GATE_TYPES = ("modbus", "osdp", "none")
PRINTER_TYPES = ("escpos", "none")
BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400)
# The example files' placeholders: a kiosk must never run with them (`validate --example`
# accepts them, for checking the examples themselves).
PLACEHOLDER_ROOT_KEY = "8f1c0c8c3f1e2d4b5a697887a6b5c4d3e2f10123456789abcdef0123456789ab"
PLACEHOLDER_SCBK = bytes.fromhex("00112233445566778899aabbccddeeff")


@dataclass(frozen=True)
class Rule:
    """What one option may hold, beyond its type: every number has bounds, every enum is
    closed. For a list, `lo`/`hi`/`choices` apply to each item and `size` to the count; for
    hex bytes and text, `size` is the length."""

    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None
    size: tuple[int, int] | None = None

    def check(self, value: Any, where: str) -> None:
        if isinstance(value, tuple):
            if self.size and not self.size[0] <= len(value) <= self.size[1]:
                raise ConfigError(f"{where} needs {_span(self.size)} item(s)")
            for i, item in enumerate(value):
                dataclasses.replace(self, size=None).check(item, f"{where}[{i}]")
            return
        if self.choices is not None and value not in self.choices:
            shown = ", ".join(repr(c) for c in self.choices)
            raise ConfigError(f"{where} must be one of {shown}, not {value!r}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        lo, hi = self.lo, self.hi
        if number and lo is not None and hi is not None and not lo <= value <= hi:
            raise ConfigError(f"{where} must be between {lo:g} and {hi:g}")  # NaN too
        sized = isinstance(value, bytes | str) and self.size is not None
        if sized and self.size and not self.size[0] <= len(value) <= self.size[1]:
            unit = "bytes" if isinstance(value, bytes) else "characters"
            raise ConfigError(f"{where} must be {_span(self.size)} {unit}")


def _span(size: tuple[int, int]) -> str:
    return str(size[0]) if size[0] == size[1] else f"{size[0]} to {size[1]}"


@dataclass(frozen=True)
class SiteConfig:
    name: str = ""
    mode: str = "gate"
    languages: tuple[str, ...] = ("en",)
    staff_language: str = "en"  # what counter staff read; the holder's language comes too
    timezone: str = "UTC"
    technician_pin: str = field(default="", repr=False)  # 4-12 digits; "" = card alone
    hold_during_result: bool = True  # the next card waits until the result (and passage) ends


@dataclass(frozen=True)
class TrustConfig:
    root_keys: tuple[str, ...] = ()
    state_dir: str = "/var/lib/kiosk"
    bundle_url: str = ""
    status_urls: tuple[str, ...] = ()
    # Folder URLs serving the same files, tried in turn (the last good one first); with
    # mirrors, bundle_url and status_urls are paths inside each mirror.
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyConfig:
    required_benefits: tuple[str, ...] = ()
    min_age: int | None = None
    age_flags: tuple[int, ...] = (18, 21)
    show: tuple[str, ...] | None = None  # None: the mode's default
    stale: str | None = None  # "reject" | "grace"; None: the mode's default
    stale_grace_h: float = 72.0
    passback_s: int | None = None
    refusals: str | None = None  # "discreet" | "full"; None: the mode's default
    skew_s: int = 300


@dataclass(frozen=True)
class SyncConfig:
    timeout_s: float = 20.0
    max_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class DeviceConfig:
    """The [gate], [reader] and [printer] sections: the devices they describe."""

    path: Path
    gate_type: str
    gate: Any  # ModbusGateConfig | None
    reader: Any  # OsdpReaderConfig | None
    printer_type: str
    printer: Any  # PrinterConfig | None


@dataclass(frozen=True)
class KioskConfig:
    path: Path
    site: SiteConfig
    trust: TrustConfig
    policy_options: PolicyConfig
    camera: CameraConfig
    display: DisplayConfig
    sync: SyncConfig
    metrics: MetricsConfig
    devices: DeviceConfig = field(repr=False)

    def policy(self, mode: Mode | None = None) -> Policy:
        """The site's policy in its configured mode (or in `mode`, same rules)."""
        p = self.policy_options
        overrides: dict[str, Any] = {
            "required_benefits": frozenset(p.required_benefits),
            "min_age": p.min_age,
            "age_flags": p.age_flags,
            "stale_grace_s": int(p.stale_grace_h * 3600),
            "skew_s": p.skew_s,
            "timezone": self.site.timezone,
        }
        if p.show is not None:
            overrides["show"] = frozenset(p.show)
        if p.stale is not None:
            overrides["stale"] = Stale(p.stale)
        if p.passback_s is not None:
            overrides["passback_s"] = p.passback_s
        if p.refusals is not None:
            overrides["refusals"] = Refusals(p.refusals)
        policy = Policy.for_mode(mode or Mode(self.site.mode), **overrides)
        policy.validate()
        return policy

    def root_keys(self) -> list[bytes]:
        return [bytes.fromhex(k) for k in self.trust.root_keys]


_SECTIONS: dict[str, type] = {
    "site": SiteConfig,
    "trust": TrustConfig,
    "policy": PolicyConfig,
    "camera": CameraConfig,
    "display": DisplayConfig,
    "sync": SyncConfig,
    "metrics": MetricsConfig,
}
_DEVICE_SECTIONS = ("gate", "reader", "printer")
_INTERNAL = {"camera": {"cards"}}  # filled by the demo, never by a file
_MODE_DEFAULTS = {
    "show": "show",
    "stale": "stale",
    "passback_s": "passback_s",
    "refusals": "refusals",
}
# what `config show` hides
_SECRETS = ("scbk", "site_credential", "technician_pin", "basic_auth_hash")
_HEX = ("scbk", "site_credential")  # bytes, written as hex in the file
_PORT = Rule(size=(1, 4096))
_COIL = Rule(0, 65535)

# The schema: every option's bounds beyond its type. tests/test_config.py checks that every
# number and every text option of every section has a rule here.
RULES: dict[str, dict[str, Rule]] = {
    "site": {
        "name": Rule(size=(0, 200)),
        "mode": Rule(choices=("gate", "counter")),
        "languages": Rule(size=(1, 32)),
        "staff_language": Rule(size=(1, 35)),
        "timezone": Rule(size=(1, 64)),
        "technician_pin": Rule(size=(0, 12)),
    },
    "trust": {
        "root_keys": Rule(size=(1, 8)),
        "state_dir": Rule(size=(1, 4096)),
        "bundle_url": Rule(size=(0, 2048)),
        "status_urls": Rule(size=(0, 64)),
        "mirrors": Rule(size=(0, 16)),
    },
    "policy": {
        "required_benefits": Rule(size=(0, 32)),
        "min_age": Rule(1, 149),
        "age_flags": Rule(1, 149, size=(1, 6)),
        "show": Rule(choices=tuple(sorted(HOLDER_FIELDS))),
        "stale": Rule(choices=("reject", "grace")),
        "stale_grace_h": Rule(0, 24 * 31),
        "passback_s": Rule(0, 86_400),
        "refusals": Rule(choices=("discreet", "full")),
        "skew_s": Rule(0, 3600),
    },
    "camera": {
        "type": Rule(choices=SOURCE_TYPES),
        "path": _PORT,
        "fps": Rule(1, 120),
        "width": Rule(16, 8192),
        "height": Rule(16, 8192),
        "exposure": Rule(0, 1_000_000),
        "focus": Rule(0, 10_000),
        "baudrate": Rule(choices=BAUDRATES),
        "seed": Rule(0, 2**31),
    },
    "display": {
        "driver": Rule(choices=DRIVERS),
        "size": Rule(200, 16_384, size=(2, 2)),
        "result_s": Rule(0.5, 120),
        "idle_cycle_s": Rule(1, 600),
        "volume": Rule(0, 1),
        "fps": Rule(1, 120),
    },
    "sync": {"timeout_s": Rule(1, 600), "max_bytes": Rule(1024, 64 * 1024 * 1024)},
    "metrics": {
        "listen": Rule(size=(0, 300)),
        "tls_cert": Rule(size=(0, 4096)),
        "tls_key": Rule(size=(0, 4096)),
        "basic_auth_user": Rule(size=(0, 64)),
        "basic_auth_hash": Rule(size=(0, 512)),
        "allow_from": Rule(size=(0, 64)),
    },
    "gate": {
        "port": _PORT,
        "baudrate": Rule(choices=BAUDRATES),
        "parity": Rule(choices=("N", "E", "O")),
        "stopbits": Rule(choices=(1, 2)),
        "unit": Rule(1, 247),
        "unlock_coil": _COIL,
        "passed_input": _COIL,
        "alarm_input": _COIL,
        "ready_input": _COIL,
        "mode": Rule(choices=("pulse", "level")),
        "pulse_ms": Rule(100, 10_000),
        "passage_window_s": Rule(0.5, 60),
        "poll_ms": Rule(10, 1000),
        "timeout_s": Rule(0.05, 2),
        "grant_max_age_s": Rule(0.1, 5),
        "retry_max_s": Rule(0.5, 300),
    },
    "reader": {
        "port": _PORT,
        "scbk": Rule(size=(16, 16)),
        "address": Rule(0, 126),
        "baudrate": Rule(choices=BAUDRATES),
        "credential": Rule(choices=("site", "serial")),
        "site_credential": Rule(size=(0, 64)),
        "verdict_timeout_s": Rule(0.5, 30),
    },
    "printer": {
        "port": _PORT,
        "baudrate": Rule(choices=BAUDRATES),
        "profile": Rule(size=(1, 64)),
        "status_timeout_s": Rule(0.05, 5),
        "font": Rule(size=(1, 4096)),
    },
}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is typing.Literal:
        if value not in args or type(value) is not type(args[0]):
            shown = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{where} must be one of {shown}, not {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list")
        return tuple(_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number")
        try:
            number = float(value)
        except OverflowError:
            raise ConfigError(f"{where} must be a finite number, not a huge integer") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number, not {value}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string")
        if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
            # a NUL breaks paths, a newline breaks `config show`, ESC the technician's terminal
            raise ConfigError(f"{where} must not hold control characters")
        return value
    if hint is bytes:
        try:
            return bytes.fromhex(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be hexadecimal") from None
    raise ConfigError(f"{where}: unsupported option type")  # pragma: no cover


def _section(
    data: dict[str, Any], name: str, cls: type, path: Path, skip: tuple[str, ...] = ()
) -> Any:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{name}] must be a section")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)} - _INTERNAL.get(name, set())
    rules = RULES.get(name, {})
    values = {}
    for key, value in raw.items():
        if key in skip:
            continue
        if key not in known:
            raise ConfigError(
                f"{path}: [{name}] {key!r} is not a known option "
                f"(known: {', '.join(sorted(known | set(skip)))})"
            )
        hint = hints[key]
        if name == "display" and key == "size":
            hint = tuple[int, ...]
        where = f"{path}: [{name}] {key}"
        values[key] = _coerce(value, hint, where)
        if key in rules and values[key] is not None:
            rules[key].check(values[key], where)
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: [{name}] {exc}") from None
    except (TypeError, ValueError) as exc:  # a required option missing
        missing = str(exc).split("argument")[-1].strip(": ")
        raise ConfigError(f"{path}: [{name}] needs {missing}") from None


def _device_type(data: dict[str, Any], name: str, types_: tuple[str, ...], path: Path) -> str:
    raw = data.get(name)
    if raw is None:
        return "none"
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{name}] must be a section")
    if "type" not in raw:
        raise ConfigError(f"{path}: [{name}] needs type = {' or '.join(repr(t) for t in types_)}")
    kind = raw["type"]
    Rule(choices=types_).check(kind, f"{path}: [{name}] type")
    if kind in ("none", "osdp") and set(raw) - {"type"}:
        extra = ", ".join(sorted(set(raw) - {"type"}))
        where = "go in [reader]" if kind == "osdp" else "are not read"
        raise ConfigError(f"{path}: [{name}] type = {kind!r}: its options ({extra}) {where}")
    return str(kind)


def _devices(data: dict[str, Any], path: Path) -> DeviceConfig:
    from firmware_bridge.errors import DeviceError
    from firmware_bridge.escpos_printer import PrinterConfig
    from firmware_bridge.modbus_gate import ModbusGateConfig
    from firmware_bridge.osdp_reader import OsdpReaderConfig

    gate_type = _device_type(data, "gate", GATE_TYPES, path)
    printer_type = _device_type(data, "printer", PRINTER_TYPES, path)
    if "reader" in data and gate_type != "osdp":
        raise ConfigError(f"{path}: [reader] is only read when [gate] type = 'osdp'")
    if gate_type == "osdp" and "reader" not in data:
        raise ConfigError(f"{path}: [gate] type = 'osdp' needs a [reader] section")
    gate = reader = printer = None
    if gate_type == "modbus":
        gate = _section(data, "gate", ModbusGateConfig, path, skip=("type",))
    if gate_type == "osdp":
        reader = _section(data, "reader", OsdpReaderConfig, path)
    if printer_type == "escpos":
        printer = _section(data, "printer", PrinterConfig, path, skip=("type",))
    for name, device in (("gate", gate), ("reader", reader)):
        try:
            if device is not None:
                device.validate()  # what the driver itself would refuse at start
        except DeviceError as exc:
            raise ConfigError(f"{path}: [{name}] {exc}") from None
    return DeviceConfig(Path(path), gate_type, gate, reader, printer_type, printer)


def _read(path: Path) -> dict[str, Any]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not hang
        with os.fdopen(fd, "rb") as src:
            if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
                raise ConfigError(f"{path}: not a regular file")
            text = src.read(1024 * 1024 + 1).decode("utf-8")
        if len(text) > 1024 * 1024:
            raise ConfigError(f"{path}: larger than 1 MiB")
        return tomllib.loads(text)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def load_device_config(path: Path) -> DeviceConfig:
    """Only the device sections of a file (`kiosk device test`), by the same schema."""
    return _devices(_read(path), Path(path))


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check(config: KioskConfig) -> None:
    """What one option's rule cannot say: relations between options, and lookups."""
    path = config.path
    site, trust = config.site, config.trust
    pin = site.technician_pin
    if pin and not (pin.isdigit() and pin.isascii() and 4 <= len(pin) <= 12):
        raise ConfigError(f"{path}: [site] technician_pin must be 4 to 12 digits")
    for code in site.languages:
        try:
            language(code)
        except ConfigError as exc:
            raise ConfigError(f"{path}: [site] languages: {exc}") from None
    try:
        language(site.staff_language)
    except ConfigError as exc:
        raise ConfigError(f"{path}: [site] staff_language: {exc}") from None
    if site.mode == "gate" and config.devices.gate_type == "none":
        raise ConfigError(
            f"{path}: [site] mode = 'gate' needs a [gate] (type 'modbus' or 'osdp'): without "
            "one the kiosk would tell residents to go through a locked turnstile; a staffed "
            "desk is mode = 'counter'"
        )
    if not trust.root_keys:
        raise ConfigError(
            f"{path}: [trust] root_keys needs the city's root key (64 hex characters)"
        )
    for i, key in enumerate(trust.root_keys):
        try:
            ok = len(bytes.fromhex(key)) == 32
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(
                f"{path}: [trust] root_keys[{i}] must be 64 hex characters (32 bytes)"
            )
    _check_trust_urls(trust, path)
    display = config.display
    if display.size is not None and len(display.size) != 2:
        raise ConfigError(f"{path}: [display] size must be [width, height]")
    _check_metrics(config.metrics, path)
    try:
        config.policy()
    except ConfigError as exc:
        raise ConfigError(f"{path}: [policy] {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: [policy] {exc}") from None


def _check_trust_urls(trust: TrustConfig, path: Path) -> None:
    for i, mirror in enumerate(trust.mirrors):
        if not _http_url(mirror):
            raise ConfigError(f"{path}: [trust] mirrors[{i}] {mirror!r} is not an http(s) URL")
    for url in (trust.bundle_url, *trust.status_urls):
        if not url:
            continue
        if not trust.mirrors:
            if not _http_url(url):
                raise ConfigError(f"{path}: [trust] {url!r} is not an http(s) URL")
            continue
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith("/") or ".." in url.split("/"):
            raise ConfigError(
                f"{path}: [trust] with mirrors, bundle_url and status_urls are paths inside "
                f'each mirror (like "bundle.cose"), not {url!r}'
            )


def _check_metrics(metrics: MetricsConfig, path: Path) -> None:
    try:
        check_metrics(metrics)
    except ValueError as exc:
        raise ConfigError(f"{path}: [metrics] {exc}") from None


def load_config(path: Path, *, example: bool = False) -> KioskConfig:
    """The whole file, by one schema: what `kiosk run` starts with and `kiosk config
    validate` checks (everything but opening ports). `example`: accept the example files'
    placeholder root key and SCBK."""
    data = _read(path)
    for name in data:
        if name not in _SECTIONS and name not in _DEVICE_SECTIONS:
            raise ConfigError(
                f"{path}: [{name}] is not a known section "
                f"(known: {', '.join([*_SECTIONS, *_DEVICE_SECTIONS])})"
            )
    sections = {name: _section(data, name, cls, path) for name, cls in _SECTIONS.items()}
    config = KioskConfig(
        path=Path(path),
        site=sections["site"],
        trust=sections["trust"],
        policy_options=sections["policy"],
        camera=sections["camera"],
        display=sections["display"],
        sync=sections["sync"],
        metrics=sections["metrics"],
        devices=_devices(data, Path(path)),
    )
    _check(config)
    if not example:
        _no_placeholders(config)
    return config


def _no_placeholders(config: KioskConfig) -> None:
    path = config.path
    if bytes.fromhex(PLACEHOLDER_ROOT_KEY) in config.root_keys():
        raise ConfigError(
            f"{path}: [trust] root_keys holds the example's placeholder: pin the city's root "
            "key (`kiosk-issuer root-key` prints it)"
        )
    reader = config.devices.reader
    if reader is not None and reader.scbk == PLACEHOLDER_SCBK:
        raise ConfigError(
            f"{path}: [reader] scbk is the example's placeholder: set the key from the "
            "panel's installer"
        )


def effective_toml(config: KioskConfig, *, secrets: bool = False) -> str:
    """The config as a TOML file, every section and key with defaults filled in (what
    `kiosk config show` prints). It loads back to the same configuration; secrets are
    left out (as comments) unless `secrets`."""
    lines = [f"# effective configuration of {config.path}"]
    devices = config.devices
    parts: dict[str, Any] = {
        "site": config.site,
        "trust": config.trust,
        "policy": config.policy_options,
        "camera": config.camera,
        "display": config.display,
        "sync": config.sync,
        "metrics": config.metrics,
        "gate": devices.gate,
        "reader": devices.reader,
        "printer": devices.printer,
    }
    kinds = {"gate": devices.gate_type, "printer": devices.printer_type}
    for name, section in parts.items():
        if section is None and name not in kinds:
            continue
        lines.append(f"\n[{name}]")
        if name in kinds:
            lines.append(f"type = {_toml_value(kinds[name])}")
            if section is None:
                continue
        for f in dataclasses.fields(section):
            if f.name in _INTERNAL.get(name, set()):
                continue
            value = getattr(section, f.name)
            if f.name in _SECRETS and not secrets:
                if value:  # a placeholder that fails validation: never redeployed without it
                    lines.append(f'{f.name} = "HIDDEN (kiosk config show --secrets)"')
                else:
                    lines.append(f"# {f.name} = (not set)")
            elif value is None and name == "policy" and f.name in _MODE_DEFAULTS:
                effective = getattr(config.policy(), _MODE_DEFAULTS[f.name])
                if isinstance(effective, frozenset):
                    effective = sorted(effective)
                shown = _toml_value(getattr(effective, "value", effective))
                lines.append(f"{f.name} = {shown}  # the {config.site.mode} mode's default")
            elif value is None:
                lines.append(f"# {f.name} = (not set)")
            else:
                lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return f'"{value.hex()}"'
    if isinstance(value, tuple | list | frozenset):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
