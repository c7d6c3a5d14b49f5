"""One exception root for the kiosk, with a documented CLI exit code per family.

Exit codes (every CLI command): 0 success / accepted, 1 rejected or a check failed,
2 usage, configuration or trust-data error, 3 device error, 4 internal error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiosk.reasons import Reason

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_DEVICE = 3
EXIT_INTERNAL = 4


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


class DeviceError(KioskError):
    """A camera, serial device or display is missing or misbehaving."""

    exit_code = EXIT_DEVICE
