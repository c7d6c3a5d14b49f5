"""Pass printing on an ESC/POS thermal printer over a serial line.

Jobs are built with python-escpos's `Dummy` printer (its exact bytes, tested) and sent over
the kiosk's own pyserial transport, so `socket://` print servers and pty simulators work as
well as /dev/serial/by-id/... paths. Before each job the printer's real-time status is asked
with DLE EOT (answered even mid-job): cover open, paper out and offline are answers, so
`DeviceAttention` (a person is needed); no answer, a late answer and a garbled one are
`DeviceError`s, each with its own sentence and fix. A pass carries site, date, time, benefit
and pass number only — never anything about the holder. Text the printer's code pages lack
is drawn as an image.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from firmware_bridge.errors import DeviceAttention, DeviceError, DeviceFault
from firmware_bridge.ports import line_errors, open_port

DLE_EOT = b"\x10\x04"
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


@dataclass(frozen=True)
class PrinterConfig:
    port: str
    baudrate: int = 19200
    profile: str = "TM-T88V"  # python-escpos capability profile: paper width, code pages
    status_timeout_s: float = 0.5
    qr: bool = True  # a QR code of the pass number, for staff scanners
    font: str | None = None  # for text drawn as an image; default: Noto Sans or DejaVu Sans


@dataclass(frozen=True)
class PrinterStatus:
    online: bool
    cover_open: bool
    paper: str  # "ok" | "near_end" | "out"


@dataclass(frozen=True)
class PassSlip:
    site: str
    benefit: str
    number: int
    issued: datetime  # local time at the site
    title: str = "VISITOR PASS"


def _escpos_dummy(profile: str) -> Any:
    # python-escpos caches a capabilities pickle; keep it in one known place, not a new
    # random /tmp folder per import.
    cache = Path(tempfile.gettempdir()) / "citycard-escpos"
    cache.mkdir(exist_ok=True)
    os.environ.setdefault("ESCPOS_CAPABILITIES_PICKLE_DIR", str(cache))
    from escpos.printer import Dummy

    return Dummy(profile=profile)


def pass_job(slip: PassSlip, config: PrinterConfig) -> bytes:
    """The exact bytes of one pass."""
    printer = _escpos_dummy(config.profile)
    width = int(printer.profile.profile_data["media"]["width"]["pixels"])
    printer.hw("INIT")
    printer.set(align="center", bold=True, double_height=True, double_width=True)
    _line(printer, slip.title, width, config, size=40)
    printer.set(align="center", bold=False, normal_textsize=True)
    _line(printer, slip.site, width, config)
    _line(printer, slip.issued.strftime("%Y-%m-%d %H:%M"), width, config)
    printer.set(align="center", bold=True, normal_textsize=True)
    _line(printer, slip.benefit, width, config)
    printer.set(align="center", bold=False, double_height=True, double_width=True)
    _line(printer, f"No. {slip.number:06d}", width, config, size=40)
    if config.qr:
        printer.set(align="center", normal_textsize=True)
        printer.qr(f"PASS-{slip.number:06d}", native=True, size=6)
    printer.cut()
    return bytes(printer.output)


def _line(printer: Any, text: str, width: int, config: PrinterConfig, size: int = 28) -> None:
    if text.isascii():
        printer.textln(text)
    else:  # ESC/POS code pages carry no Arabic, Devanagari or CJK: print the text as a picture
        printer.image(text_image(text, width, size, config.font), center=True)


def text_image(text: str, width: int, size: int, font_path: str | None = None) -> Image.Image:
    """`text` shaped by libraqm (bidi, joining, conjuncts), 1-bit, at most `width` wide."""
    path = font_path or next((f for f in FONT_CANDIDATES if Path(f).exists()), None)
    if path is None:
        raise DeviceError("printer: no font to draw non-Latin text (install fonts-noto-core)")
    layout = ImageFont.Layout.RAQM if _has_raqm() else ImageFont.Layout.BASIC
    font = ImageFont.truetype(path, size, layout_engine=layout)
    left, top, right, bottom = font.getbbox(text)
    while right - left > width and size > 12:  # shrink long site names to fit the paper
        size -= 2
        font = ImageFont.truetype(path, size, layout_engine=layout)
        left, top, right, bottom = font.getbbox(text)
    image = Image.new("1", (width, int(bottom - top) + 8), 1)
    ImageDraw.Draw(image).text(
        ((width - (right - left)) // 2 - left, 4 - top), text, font=font, fill=0
    )
    return image


def _has_raqm() -> bool:
    from PIL import features

    return bool(features.check("raqm"))


class EscposPrinter:
    """`print_pass` raises DeviceError (offline, cover open, paper out) and never half-prints
    a known-bad job; the port is reopened on the next job after an unplug."""

    def __init__(self, config: PrinterConfig) -> None:
        self.config = config
        self._serial: Any = None
        self._lock = threading.Lock()

    def _port(self) -> Any:
        if self._serial is None:
            try:
                self._serial = open_port(
                    self.config.port,
                    "printer",
                    baudrate=self.config.baudrate,
                    timeout=self.config.status_timeout_s,
                    write_timeout=5,
                )
            except DeviceError as exc:
                raise _printer(exc) from None
        return self._serial

    def _ask(self, n: int) -> int:

        port = self._port()
        try:
            port.reset_input_buffer()
            port.write(DLE_EOT + bytes((n,)))
            answer = port.read(1)
            # nothing within status_timeout_s: wait as long again, to tell late from silent
            late = not answer and bool(port.read(1))
        except line_errors() as exc:
            self._drop_port()
            raise _line_failed(exc) from None
        c = self.config
        if late:
            raise DeviceError(
                f"printer: answers, but later than [printer] status_timeout_s "
                f"({c.status_timeout_s:g} s)",
                "raise [printer] status_timeout_s (at most a few seconds)",
                fault=DeviceFault.SLOW,
            )
        if not answer:
            raise DeviceError(
                f"printer: not answering on {c.port}",
                "is it switched on and plugged in? [printer] baudrate "
                f"({c.baudrate}) must match the printer's (its self-test page shows it)",
                fault=DeviceFault.SILENT,
            )
        value: int = answer[0]
        if value & 0x93 != 0x12:  # bits 1 and 4 are always 1, bits 0 and 7 always 0
            raise DeviceError(
                "printer: the status answer is garbled",
                f"check that [printer] baudrate ({c.baudrate}) matches the printer's (its "
                "self-test page shows it), and the cable",
                fault=DeviceFault.GARBLED,
                detail=f"status byte {value:#04x}",
            )
        return value

    def status(self) -> PrinterStatus:
        with self._lock:
            printer, offline, paper = self._ask(1), self._ask(2), self._ask(4)
        state = "out" if paper & 0x60 else "near_end" if paper & 0x0C else "ok"
        return PrinterStatus(
            online=not printer & 0x08, cover_open=bool(offline & 0x04), paper=state
        )

    def print_pass(self, slip: PassSlip) -> None:

        status = self.status()
        if status.cover_open:
            raise DeviceAttention("printer: the cover is open", "close it; nothing was printed")
        if status.paper == "out":
            raise DeviceAttention("printer: out of paper", "load a new roll; nothing was printed")
        if not status.online:
            raise DeviceAttention(
                "printer: offline",
                "it reports an error (a paper jam, the cutter): look at its error light, clear "
                "it, or switch it off and on",
            )
        job = pass_job(slip, self.config)
        with self._lock:
            try:
                self._port().write(job)
                self._port().flush()
            except line_errors() as exc:
                self._drop_port()
                raise _line_failed(exc) from None

    def _drop_port(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None

    def close(self) -> None:
        with self._lock:
            self._drop_port()


def _printer(error: DeviceError) -> DeviceError:
    """The printer's errors say whose they are: the screen shows them beside other parts'."""
    return type(error)(f"printer: {error}", error.fix, fault=error.fault, detail=error.detail)


def _line_failed(exc: BaseException) -> DeviceError:
    return DeviceError(
        "printer: the serial line failed",
        "check the printer's cable or USB adapter; the port is opened again for the next pass",
        detail=f"{type(exc).__name__}: {exc}",
    )
