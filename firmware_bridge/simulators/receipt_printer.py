"""An ESC/POS receipt printer on a pty: records every byte, answers DLE EOT like an Epson TM.

State flags reach the kiosk's error paths: `paper` ("ok", "near_end", "out"), `cover_open`,
and `silent` (switched off: no status answers).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable

from firmware_bridge.escpos_printer import DLE_EOT


class ReceiptPrinter:
    def __init__(self, device_path: str) -> None:
        self._fd = os.open(device_path, os.O_RDWR | os.O_NOCTTY)
        self.received = bytearray()
        self.paper = "ok"
        self.cover_open = False
        self.silent = False
        self.on_data: Callable[[bytes], None] | None = None  # sees each chunk as it arrives
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="printer-sim", daemon=True)
        self._thread.start()

    def status_byte(self, n: int) -> int:
        base = 0x12  # bits 1 and 4 are always set
        paper_end = self.paper == "out"
        if n == 1:
            return base | (0x08 if self.cover_open or paper_end else 0)
        if n == 2:
            return base | (0x04 if self.cover_open else 0) | (0x20 if paper_end else 0)
        if n == 4:
            near = self.paper in ("near_end", "out")
            return base | (0x0C if near else 0) | (0x60 if paper_end else 0)
        return base

    def printed(self) -> bytes:
        """What was sent for printing, real-time status requests taken out."""
        out = bytes(self.received)
        for n in (1, 2, 3, 4):
            out = out.replace(DLE_EOT + bytes((n,)), b"")
        return out

    def _run(self) -> None:
        tail = b""
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], 0.05)
                data = os.read(self._fd, 4096) if ready else b""
            except OSError:
                return
            if not data:
                continue
            if self.on_data is not None:
                self.on_data(data)
            self.received += data
            window = tail + data
            start = 0
            while (at := window.find(DLE_EOT, start)) != -1 and at + 2 < len(window):
                n = window[at + 2]
                if 1 <= n <= 4 and not self.silent:
                    with contextlib.suppress(OSError):
                        os.write(self._fd, bytes((self.status_byte(n),)))
                start = at + 3
            tail = window[-2:]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            os.close(self._fd)
