"""The kiosk's one TOML file (`/etc/kiosk/kiosk.toml` on a device), validated up front.

Every section maps to a frozen dataclass; unknown sections and keys are refused, types and
ranges are checked, and every error names the file, the section and the key, as Klipper
does ("Option 'x' is not valid in section 'y'"). `kiosk config validate FILE` runs the same
code a starting kiosk runs; `kiosk config show` prints the effective config with defaults.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiosk.devices import DeviceConfig, load_device_config
from kiosk.errors import ConfigError
from kiosk.policy import Mode, Policy, Stale
from kiosk.scan.sources import CameraConfig
from kiosk.ui.display import DisplayConfig
from kiosk.ui.i18n import language

DEFAULT_PATH = Path("/etc/kiosk/kiosk.toml")
CAMERA_TYPES = ("v4l2", "picamera2", "replay", "synthetic", "serial-scanner", "hid-scanner")


@dataclass(frozen=True)
class SiteConfig:
    name: str = ""
    mode: str = "gate"
    languages: tuple[str, ...] = ("en",)
    timezone: str = "UTC"
    technician_pin: str = field(default="", repr=False)  # 4-12 digits; "" = card alone
    hold_during_result: bool = True  # the next card waits until the result (and passage) ends


@dataclass(frozen=True)
class TrustConfig:
    root_keys: tuple[str, ...] = ()
    state_dir: str = "/var/lib/kiosk"
    bundle_url: str = ""
    status_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyConfig:
    required_benefits: tuple[str, ...] = ()
    min_age: int | None = None
    age_flags: tuple[int, ...] = (18, 21)
    show: tuple[str, ...] | None = None  # None: the mode's default
    stale: str | None = None  # "reject" | "grace"; None: the mode's default
    stale_grace_h: float = 72.0
    passback_s: int | None = None
    skew_s: int = 300


@dataclass(frozen=True)
class SyncConfig:
    timeout_s: float = 20.0
    max_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = "127.0.0.1:9108"  # "" turns the endpoint off
    allow_remote: bool = False


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
_MODE_DEFAULTS = {"show": "show", "stale": "stale", "passback_s": "passback_s"}
_SECRETS = ("scbk", "site_credential", "technician_pin")  # never printed by `config show`


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
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
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string")
        return value
    raise ConfigError(f"{where}: unsupported option type")  # pragma: no cover


def _section(data: dict[str, Any], name: str, cls: type, path: Path) -> Any:
    raw = data.get(name, {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{name}] must be a section")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)} - _INTERNAL.get(name, set())
    values = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(
                f"{path}: [{name}] {key!r} is not a known option "
                f"(known: {', '.join(sorted(known))})"
            )
        hint = hints[key]
        if name == "display" and key == "size":
            hint = tuple[int, ...]
        values[key] = _coerce(value, hint, f"{path}: [{name}] {key}")
    try:
        return cls(**values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: [{name}] {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: [{name}] {exc}") from None


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check(config: KioskConfig) -> None:
    path = config.path
    site, trust = config.site, config.trust
    if site.mode not in (m.value for m in Mode):
        raise ConfigError(f"{path}: [site] mode must be 'gate' or 'counter', not {site.mode!r}")
    pin = site.technician_pin
    if pin and not (pin.isdigit() and pin.isascii() and 4 <= len(pin) <= 12):
        raise ConfigError(f"{path}: [site] technician_pin must be 4 to 12 digits")
    if not site.languages:
        raise ConfigError(f"{path}: [site] languages needs at least one language")
    for code in site.languages:
        try:
            language(code)
        except ConfigError as exc:
            raise ConfigError(f"{path}: [site] languages: {exc}") from None
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
    for url in (trust.bundle_url, *trust.status_urls):
        if url and not _http_url(url):
            raise ConfigError(f"{path}: [trust] {url!r} is not an http(s) URL")
    if config.camera.type not in CAMERA_TYPES:
        raise ConfigError(
            f"{path}: [camera] type must be one of {', '.join(CAMERA_TYPES)}, "
            f"not {config.camera.type!r}"
        )
    display = config.display
    if display.size is not None and (len(display.size) != 2 or min(display.size) < 200):
        raise ConfigError(f"{path}: [display] size must be [width, height], each ≥ 200")
    if not 0 <= display.volume <= 1:
        raise ConfigError(f"{path}: [display] volume must be between 0 and 1")
    for key in ("result_s", "idle_cycle_s", "fps"):
        if getattr(display, key) <= 0:
            raise ConfigError(f"{path}: [display] {key} must be positive")
    if config.camera.fps <= 0:
        raise ConfigError(f"{path}: [camera] fps must be positive")
    if config.sync.timeout_s <= 0 or config.sync.max_bytes <= 0:
        raise ConfigError(f"{path}: [sync] timeout_s and max_bytes must be positive")
    listen = config.metrics.listen
    if listen:
        host, _, port = listen.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536 or not host:
            raise ConfigError(f"{path}: [metrics] listen must be host:port, not {listen!r}")
        if (
            host not in ("127.0.0.1", "::1", "[::1]", "localhost")
            and not config.metrics.allow_remote
        ):
            raise ConfigError(
                f"{path}: [metrics] listen {listen!r} is not loopback; set allow_remote = true "
                "only behind a firewall"
            )
    try:
        config.policy()
    except ConfigError as exc:
        raise ConfigError(f"{path}: [policy] {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: [policy] {exc}") from None


def load_config(path: Path) -> KioskConfig:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
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
        devices=load_device_config(path),
    )
    _check(config)
    return config


def effective_toml(config: KioskConfig) -> str:
    """The config as a TOML file, defaults filled in (what `kiosk config show` prints)."""
    lines = [f"# effective configuration of {config.path}"]
    parts = {
        "site": config.site,
        "trust": config.trust,
        "policy": config.policy_options,
        "camera": config.camera,
        "display": config.display,
        "sync": config.sync,
        "metrics": config.metrics,
        "gate": config.devices.gate,
        "reader": config.devices.reader,
        "printer": config.devices.printer,
    }
    for name, section in parts.items():
        if section is None:
            continue
        lines.append(f"\n[{name}]")
        for f in dataclasses.fields(section):
            if f.name in _INTERNAL.get(name, set()) or f.name in _SECRETS:
                continue
            value = getattr(section, f.name)
            if value is None and name == "policy" and f.name in _MODE_DEFAULTS:
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
