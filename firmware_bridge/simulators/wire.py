"""A serial cable with faults: two pty pairs joined by a byte-forwarding thread.

    kiosk (pyserial) <-> pty A  ==[Wire: log, faults]==  pty B <-> device simulator

The kiosk opens `wire.kiosk_path`, a symlink like /dev/serial/by-id/...; the simulator opens
`wire.device_path`. Faults reach the kiosk's error paths: `silent` (the device hears and acts
on every request but its answers are lost), `cut` (a broken A/B pair: nothing gets through either
way, so the device acts on nothing), `garbled` (its answers arrive with a broken last byte, i.e.
a bad CRC), `slow` (answers arrive after `delay_s`), and `unplug()` / `replug()` — the adapter
disappears and comes back under another /dev/pts name, with the by-id style link following it
as udev's does. `baudrate` paces the line like a real UART (a pty alone moves any amount at
once): bytes are taken from the kiosk's side no faster than it, so its writes and `flush()`
take as long as on the real wire. The log records what each side sent, delivered or not.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from pathlib import Path
from typing import Literal

Fault = Literal["none", "silent", "cut", "garbled", "slow"]
PACED_CHUNK = 16  # bytes taken at a time when the line is paced


class Wire:
    def __init__(self, link: Path) -> None:
        self.link = Path(link)
        self.fault: Fault = "none"
        self.delay_s = 0.5
        self.baudrate: int | None = None  # None: as fast as the pty goes
        self.log: list[tuple[str, bytes]] = []  # ("to_device" | "to_kiosk", bytes)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._plug()
        self._thread = threading.Thread(target=self._forward, name="wire", daemon=True)
        self._thread.start()

    def _plug(self) -> None:
        self._kiosk_master, kiosk_slave = os.openpty()
        self._device_master, device_slave = os.openpty()
        for fd in (kiosk_slave, device_slave):
            tty.setraw(fd)
        self._slaves = (kiosk_slave, device_slave)  # held open: masters see no hang-up
        self.device_path = os.ttyname(device_slave)
        self.pts = os.ttyname(kiosk_slave)
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.pts)
        tmp.replace(self.link)
        self.plugged = True

    @property
    def kiosk_path(self) -> str:
        return str(self.link)

    def unplug(self) -> None:
        with self._lock:
            if not self.plugged:
                return
            self.plugged = False
            self.link.unlink(missing_ok=True)
            for fd in (self._kiosk_master, self._device_master, *self._slaves):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def replug(self) -> None:
        """Back, under a new /dev/pts name; the device side must reopen `device_path`."""
        with self._lock:
            old, held = self.pts, []
            while True:  # the kernel reuses freed numbers: hold those until a new one comes
                self._plug()
                if self.pts != old:
                    break
                held.append((self._kiosk_master, self._device_master, *self._slaves))
            for fds in held:
                for fd in fds:
                    os.close(fd)

    def sent_to_device(self) -> bytes:
        return b"".join(data for way, data in list(self.log) if way == "to_device")

    def _forward(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                fds = [self._kiosk_master, self._device_master] if self.plugged else []
            if not fds:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select(fds, [], [], 0.02)
            except (OSError, ValueError):
                continue
            baudrate = self.baudrate
            for fd in ready:
                try:
                    data = os.read(fd, PACED_CHUNK if baudrate else 4096)
                except OSError:
                    continue
                if baudrate:
                    time.sleep(len(data) * 10 / baudrate)  # start + 8 data + stop bits
                if fd == fds[0]:
                    self.log.append(("to_device", data))
                    if self.fault != "cut":
                        self._write(fds[1], data)
                else:
                    self.log.append(("to_kiosk", data))
                    self._answer(fds[0], data)

    def _answer(self, fd: int, data: bytes) -> None:
        fault = self.fault
        if fault in ("silent", "cut"):
            return
        if fault == "garbled":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        if fault == "slow":
            time.sleep(self.delay_s)
        self._write(fd, data)

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(fd, data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.unplug()
