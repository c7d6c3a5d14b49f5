"""Dedicated 2D scanners on a serial line (USB-CDC or RS-232): one code per line.

Scanners end a code with CR, LF or CR LF depending on their setup; all three work. The port
is a pyserial URL or device path, so `socket://`, `loop://` and pty paths work in tests and a
TCP serial server in the field.
"""

from __future__ import annotations

import termios  # pyserial lets termios.error (not an OSError) through on a lost port
import threading
import time
from collections.abc import Iterator
from typing import Any

from kiosk.core.errors import DeviceError
from kiosk.scan.frames import ScannedText

MAX_LINE = 4096  # a card is at most 1,029 characters; longer runs are line noise


class SerialScanner:
    def __init__(self, port: str, baudrate: int = 9600, read_timeout_s: float = 0.2) -> None:
        self.port = port
        self.baudrate = baudrate
        self.read_timeout_s = read_timeout_s
        self.name = f"serial-scanner:{port}"
        self._serial: Any = None
        self._closing = threading.Event()  # set by close(), possibly from another thread

    def open(self) -> None:
        import serial

        try:
            self._serial = serial.serial_for_url(
                self.port, baudrate=self.baudrate, timeout=self.read_timeout_s
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise DeviceError(f"{self.name}: cannot open ({exc})") from None

    def texts(self) -> Iterator[ScannedText]:
        import serial

        if self._serial is None:
            self.open()
        pending = bytearray()
        overflowing = False
        while not self._closing.is_set():
            try:
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except (
                serial.SerialException,
                OSError,
                termios.error,
                TypeError,
                AttributeError,
            ) as exc:
                if self._closing.is_set():
                    return  # closed from another thread while reading: a normal stop
                self.close()
                raise DeviceError(f"{self.name}: the scanner went away ({exc})") from None
            if not chunk:
                continue
            for byte in chunk:
                if byte in b"\r\n":
                    if pending and not overflowing:
                        yield ScannedText(pending.decode("utf-8", "replace"), time.monotonic())
                    pending.clear()
                    overflowing = False
                elif len(pending) < MAX_LINE:
                    pending.append(byte)
                else:
                    overflowing = True  # drop the whole over-long line, not its tail

    def close(self) -> None:
        self._closing.set()
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None
