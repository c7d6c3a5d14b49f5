"""An access-control panel (libosdp's ControlPanel) on the device side of a wire.

It polls the kiosk's reader address with the secure channel on, records every card read,
and answers like a panel set up to grant the site credential: LED green and a short beep
(and the door output) for a known credential, LED red and a long beep otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from typing import Any


class AccessPanel:
    def __init__(
        self,
        device_path: str,
        scbk: bytes,
        address: int = 101,
        granted: frozenset[bytes] = frozenset(),
    ) -> None:
        from osdp import Channel, ControlPanel, LibFlag, LogLevel, PDInfo

        fd = os.open(device_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._fd = fd

        class FdChannel(Channel):  # type: ignore[misc]
            def read(self, max_read: int) -> bytes:
                try:
                    return os.read(fd, max_read)
                except (BlockingIOError, OSError):
                    return b""

            def write(self, data: bytes) -> int:
                try:
                    return os.write(fd, data)
                except OSError:
                    return 0

            def flush(self) -> None:
                with contextlib.suppress(BlockingIOError, OSError):
                    while os.read(fd, 4096):
                        pass

        self.address = address
        self.granted = granted
        self.reads: list[bytes] = []
        self.answer = True  # False: the panel receives reads but sends nothing back
        self._lock = threading.Lock()
        info = PDInfo(
            address,
            FdChannel(),
            scbk=scbk,
            flags=[LibFlag.EnforceSecure, LibFlag.EnableNotification],
        )
        self.cp = ControlPanel([info], log_level=LogLevel.Error, event_handler=self._on_event)
        self.cp.start()

    def _on_event(self, pd_index: int, event: dict[str, Any]) -> int:
        from osdp import Event

        if event.get("event") == Event.CardRead:
            data = bytes(event.get("data", b""))
            with self._lock:
                self.reads.append(data)
            if self.answer:
                threading.Thread(
                    target=self._respond, args=(data in self.granted,), daemon=True
                ).start()
        return 0

    def _respond(self, granted: bool) -> None:
        from osdp import Command, CommandLEDColor

        color = CommandLEDColor.Green if granted else CommandLEDColor.Red
        self.cp.submit_command(
            self.address,
            {
                "command": Command.LED,
                "reader": 0,
                "led_number": 0,
                "control_code": 2,
                "on_count": 10,
                "off_count": 0,
                "on_color": color,
                "off_color": CommandLEDColor.Black,
                "timer_count": 30,
                "temporary": True,
            },
        )
        self.cp.submit_command(
            self.address,
            {
                "command": Command.Buzzer,
                "reader": 0,
                "control_code": 2,
                "on_count": 1 if granted else 5,
                "off_count": 1,
                "rep_count": 1,
            },
        )
        if granted:
            self.cp.submit_command(
                self.address,
                {
                    "command": Command.Text,
                    "reader": 0,
                    "control_code": 1,
                    "temp_time": 5,
                    "offset_row": 1,
                    "offset_col": 1,
                    "data": "WELCOME",
                },
            )

    def online(self) -> bool:
        return bool(self.cp.is_online(self.address) and self.cp.is_sc_active(self.address))

    def close(self) -> None:
        if self._fd < 0:
            return
        self.cp.teardown()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = -1
