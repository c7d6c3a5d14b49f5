"""Where the app meets the bridge: firmware_bridge's device errors become the kiosk's own.

firmware_bridge knows nothing of the kiosk (its errors carry no exit code); the kiosk's
commands and screens speak `kiosk.core.errors.DeviceError`, so the bridge's are mapped here."""

from __future__ import annotations

import firmware_bridge.errors as bridge
from kiosk.core.errors import DeviceAttention, DeviceError


def kiosk_error(exc: bridge.DeviceError) -> DeviceError:
    """The same sentence, fix, kind and driver detail, in the kiosk's family."""
    family = DeviceAttention if isinstance(exc, bridge.DeviceAttention) else DeviceError
    return family(str(exc), exc.fix, fault=exc.fault, detail=exc.detail)
