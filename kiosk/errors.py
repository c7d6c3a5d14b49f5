"""One exception root for the kiosk, with a documented CLI exit code per family.

Exit codes (every CLI command): 0 success / accepted, 1 rejected or a check failed,
2 usage, configuration or trust-data error, 3 device error (missing, unreachable, not
answering or refusing), 4 internal error, 5 a device that answered and needs a person (the
printer is out of paper or its cover is open).
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.reasons import Reason

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_DEVICE = 3
EXIT_INTERNAL = 4
EXIT_ATTENTION = 5


class KioskError(Exception):
    """Root of every error the kiosk raises on purpose."""

    exit_code = EXIT_INTERNAL


class CardError(KioskError):
    """A card could not be accepted; carries the stable reason code."""

    exit_code = EXIT_REJECTED

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class TrustError(KioskError):
    """Trust data (bundle, status list, root key) is unreadable, forged, or refused."""

    exit_code = EXIT_USAGE


class ConfigError(KioskError):
    """Configuration or command-line input that the kiosk refuses to run with."""

    exit_code = EXIT_USAGE


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


class DeviceError(KioskError):
    """A camera, serial device or display is missing or misbehaving.

    `str()` is one sentence saying what is wrong (never a driver's own wording); `fix` says
    what to do about it; `detail` keeps the driver's words (pyserial, pymodbus, OpenCV) for a
    second line or the log."""

    exit_code = EXIT_DEVICE

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

    exit_code = EXIT_ATTENTION
