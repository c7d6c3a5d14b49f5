"""One exception root for the kiosk, with a documented CLI exit code per family.

Exit codes (every CLI command): 0 success / accepted, 1 rejected or a check failed,
2 usage, configuration or trust-data error, 3 device error (missing, unreachable, not
answering or refusing), 4 internal error, 5 a device that answered and needs a person (the
printer is out of paper or its cover is open).

A card that fails verification is no error: the verifier returns a decision with its reason
(`kiosk.core.card`), and the caller acts on it.
"""

from __future__ import annotations

from enum import StrEnum

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_DEVICE = 3
EXIT_INTERNAL = 4
EXIT_ATTENTION = 5


class KioskError(Exception):
    """Root of every error the kiosk raises on purpose."""

    exit_code = EXIT_INTERNAL


class TrustError(KioskError):
    """Trust data (bundle, status list, root key) is unreadable, forged, or refused."""

    exit_code = EXIT_USAGE


class ImageError(KioskError):
    """An image file that cannot be read as a picture (`kiosk decode`, `kiosk verify`)."""

    exit_code = EXIT_USAGE


class ConfigError(KioskError):
    """Configuration or command-line input that the kiosk refuses to run with."""

    exit_code = EXIT_USAGE


class DeviceError(KioskError):
    """A camera, serial device or display is missing or misbehaving.

    `str()` is one sentence saying what is wrong (never a driver's own wording); `fix` says
    what to do about it; `detail` keeps the driver's words (pyserial, pymodbus, OpenCV) for a
    second line or the log. `fault` is a `firmware_bridge.errors.DeviceFault` where the kind
    is known: the bridge's own errors are mapped into this family by the app, and the core
    knows nothing of devices beyond that."""

    exit_code = EXIT_DEVICE

    def __init__(
        self,
        message: str,
        fix: str = "",
        *,
        fault: StrEnum | None = None,
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
