"""Pass printing: exact ESC/POS bytes, status over DLE EOT, faults, no personal data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.errors import DeviceAttention, DeviceError
from firmware_bridge.escpos_printer import (
    EscposPrinter,
    PassSlip,
    PrinterConfig,
    pass_job,
    text_image,
)
from firmware_bridge.simulators.receipt_printer import ReceiptPrinter
from firmware_bridge.simulators.wire import Wire

SLIP = PassSlip("Harold Washington Library", "library", 123, datetime(2026, 11, 25, 14, 5))


@dataclass
class Rig:
    wire: Wire
    sim: ReceiptPrinter
    printer: EscposPrinter


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    wire = Wire(tmp_path / "usb-Epson_TM-T88V-if00")
    sim = ReceiptPrinter(wire.device_path)
    printer = EscposPrinter(PrinterConfig(port=wire.kiosk_path, status_timeout_s=0.3))
    yield Rig(wire, sim, printer)
    printer.close()
    sim.close()
    wire.close()


def wait_printed(sim: ReceiptPrinter, n: int) -> bytes:
    import time

    deadline = time.monotonic() + 3
    while len(sim.printed()) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return sim.printed()


def test_pass_bytes_are_what_the_printer_must_receive() -> None:
    job = pass_job(SLIP, PrinterConfig(port=""))
    assert job.startswith(b"\x1b@")  # ESC @: initialise
    for text in (
        b"VISITOR PASS",
        b"Harold Washington Library",
        b"2026-11-25 14:05",
        b"library",
        b"No. 000123",
    ):
        assert text + b"\n" in job
    assert b"\x1da\x01" in job or b"\x1ba\x01" in job  # centred
    # native QR (GS ( k): model 2, size 6, store "PASS-000123", print
    assert b"\x1d(k\x04\x001A2\x00" in job and b"\x1d(k\x03\x001C\x06" in job
    assert b"\x1d(k\x0e\x001P0PASS-000123" in job and job.index(b"1Q0") > job.index(b"1P0")
    assert job.endswith(b"\x1bd\x06\x1dV\x00")  # feed and cut


def test_non_latin_site_name_is_drawn_as_an_image() -> None:
    job = pass_job(PassSlip("مكتبة المدينة", "library", 7, SLIP.issued), PrinterConfig(port=""))
    assert "مكتبة".encode() not in job  # not sent as text the code page lacks
    assert b"\x1dv0" in job  # GS v 0: raster image
    image = text_image("مكتبة المدينة", 512, 28)
    assert image.width == 512 and 20 < image.height < 80
    ink = int((np.asarray(image) == 0).sum())
    assert 0 < ink < image.width * image.height // 2


def test_print_a_pass_through_the_wire(rig: Rig) -> None:
    rig.printer.print_pass(SLIP)
    printed = wait_printed(rig.sim, len(pass_job(SLIP, rig.printer.config)))
    assert printed == pass_job(SLIP, rig.printer.config)
    status = rig.printer.status()
    assert (status.online, status.cover_open, status.paper) == (True, False, "ok")


@pytest.mark.parametrize(
    ("state", "message", "answered"),
    [
        ({"paper": "out"}, "out of paper", True),
        ({"cover_open": True}, "cover is open", True),
        ({"silent": True}, "printer: not answering", False),
    ],
)
def test_faults_are_device_errors_and_nothing_prints(
    rig: Rig, state: dict, message: str, answered: bool
) -> None:
    """Paper out and cover open are answers (a person is needed); silence is not."""
    for key, value in state.items():
        setattr(rig.sim, key, value)
    with pytest.raises(DeviceError, match=message) as caught:
        rig.printer.print_pass(SLIP)
    assert isinstance(caught.value, DeviceAttention) is answered
    assert caught.value.fix
    assert rig.sim.printed() == b""


def test_near_end_still_prints_and_is_reported(rig: Rig) -> None:
    rig.sim.paper = "near_end"
    assert rig.printer.status().paper == "near_end"
    rig.printer.print_pass(SLIP)
    assert wait_printed(rig.sim, 10)


def test_garbled_status_and_unplugged_printer(rig: Rig) -> None:
    rig.wire.fault = "garbled"
    with pytest.raises(DeviceError, match="garbled"):
        rig.printer.status()
    rig.wire.fault = "none"
    rig.wire.unplug()
    with pytest.raises(DeviceError):
        rig.printer.print_pass(SLIP)
    rig.sim.close()
    rig.wire.replug()
    rig.sim = ReceiptPrinter(rig.wire.device_path)
    rig.printer.print_pass(SLIP)  # reopened by itself under the stable link
    assert wait_printed(rig.sim, 10)
