"""What goes wrong with a device, in a technician's words.

The bridge depends on nothing in `kiosk`: the app maps these errors into its own family
(`kiosk.core.errors.DeviceError`, with the CLI's exit codes) where it calls the bridge."""

from __future__ import annotations

from enum import StrEnum


class DeviceFault(StrEnum):
    """What kind of device failure, where a caller acts on the kind (docs/devices.md)."""

    MISSING = "missing"  # no such device file (or nothing behind it)
    NO_PERMISSION = "no_permission"  # it exists; this user may not open it
    BUSY = "busy"  # another program holds it
    WRONG_KIND = "wrong_kind"  # it opens, but is no serial port / camera / valid URL
    NOT_INSTALLED = "not_installed"  # the driver library is missing
    SILENT = "silent"  # the line is open, nothing answers
    GARBLED = "garbled"  # answers arrive, but broken (bad CRC, impossible status)
    SLOW = "slow"  # answers arrive after the configured timeout
    REFUSED = "refused"  # the device answered "no such coil/input/function"

    @property
    def lasting(self) -> bool:
        """Retrying will not help until someone changes something (a test can stop at once)."""
        return self not in (DeviceFault.SILENT, DeviceFault.GARBLED, DeviceFault.SLOW)


class DeviceError(Exception):
    """A serial device is missing or misbehaving.

    `str()` is one sentence saying what is wrong (never a driver's own wording); `fix` says
    what to do about it; `detail` keeps the driver's words (pyserial, pymodbus) for a second
    line or the log."""

    def __init__(
        self,
        message: str,
        fix: str = "",
        *,
        fault: DeviceFault | None = None,
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.fix = fix
        self.fault = fault
        self.detail = detail

    def advice(self) -> str:
        """The sentence and what to do, on one line."""
        return f"{self} — {self.fix}" if self.fix else str(self)


class DeviceAttention(DeviceError):
    """The device answered and works, but needs a person: paper out, cover open."""
