"""The kiosk as OSDP reader against libosdp's own ControlPanel, over a pty wire."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_bridge.errors import DeviceError
from firmware_bridge.gate import GateEvent, Grant
from firmware_bridge.osdp_reader import (
    COMMANDS_KEPT,
    TEST_CREDENTIAL,
    OsdpReader,
    OsdpReaderConfig,
    PanelCommand,
)
from firmware_bridge.simulators.access_panel import AccessPanel
from firmware_bridge.simulators.wire import Wire

SCBK = bytes.fromhex("5f3b0c1d2e4a69788796a5b4c3d2e1f0")
SITE = bytes.fromhex("c17c4a2d00000001")


@dataclass
class Rig:
    wire: Wire
    panel: AccessPanel
    reader: OsdpReader

    def until(self, event: GateEvent, timeout: float = 10.0) -> None:
        self.next_of({event}, timeout)

    def next_of(self, events: set[GateEvent], timeout: float = 10.0) -> GateEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.reader.signals.get(timeout=0.05).event
            except queue.Empty:
                continue
            if event in events:
                return event
        raise AssertionError(f"none of {events} within {timeout} s")

    def commands(self, kinds: set[str], timeout: float = 5.0) -> list[PanelCommand]:
        got: list[PanelCommand] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not kinds <= {c.kind for c in got}:
            try:
                got.append(self.reader.commands.get(timeout=0.05))
            except queue.Empty:
                continue
        return got


def both_online(rig: Rig, timeout: float = 10.0) -> None:
    """The reader's ONLINE signal, then the panel's own view: both ends of the session."""
    rig.until(GateEvent.ONLINE, timeout)
    deadline = time.monotonic() + timeout
    while not rig.panel.online():
        assert time.monotonic() < deadline, "the panel never saw a secure session"
        time.sleep(0.02)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    wire = Wire(tmp_path / "usb-RS485-if00")
    panel = AccessPanel(wire.device_path, SCBK, granted=frozenset({SITE}))
    reader = OsdpReader(OsdpReaderConfig(port=wire.kiosk_path, scbk=SCBK, site_credential=SITE))
    rig = Rig(wire, panel, reader)
    both_online(rig)
    yield rig
    rig.reader.close()
    rig.panel.close()  # a test may have replaced it: its libosdp thread would outlive pytest
    rig.wire.close()


VERDICTS = {GateEvent.GRANTED, GateEvent.REFUSED, GateEvent.TIMEOUT, GateEvent.DROPPED}


def test_secure_channel_card_read_and_granted_back(rig: Rig) -> None:
    rig.reader.grant(Grant(b"a card serial, not reported at a site-credential site"))
    assert rig.next_of(VERDICTS) is GateEvent.GRANTED  # the panel's verdict, as a signal
    commands = rig.commands({"led", "buzzer", "text"})
    assert rig.panel.reads == [SITE]
    led = next(c for c in commands if c.kind == "led")
    assert led.verdict == "granted"
    assert next(c for c in commands if c.kind == "text").detail["text"] == "WELCOME"
    # encrypted: the site credential never crosses the wire in clear
    assert SITE not in rig.wire.sent_to_device()


def test_unknown_credential_is_denied_by_the_panel(tmp_path: Path) -> None:
    wire = Wire(tmp_path / "rs485")
    panel = AccessPanel(wire.device_path, SCBK, granted=frozenset())
    reader = OsdpReader(OsdpReaderConfig(port=wire.kiosk_path, scbk=SCBK, site_credential=SITE))
    rig = Rig(wire, panel, reader)
    try:
        both_online(rig)
        reader.grant()
        assert rig.next_of(VERDICTS) is GateEvent.REFUSED
        led = next(c for c in rig.commands({"led"}) if c.kind == "led")
        assert led.verdict == "denied"
    finally:
        reader.close()
        panel.close()
        wire.close()


def test_serial_credential_mode(tmp_path: Path) -> None:
    wire = Wire(tmp_path / "rs485")
    serial = bytes.fromhex("0102030405060708090a0b0c")
    panel = AccessPanel(wire.device_path, SCBK, granted=frozenset({serial}))
    reader = OsdpReader(OsdpReaderConfig(port=wire.kiosk_path, scbk=SCBK, credential="serial"))
    rig = Rig(wire, panel, reader)
    try:
        both_online(rig)
        reader.grant(Grant(serial))
        assert rig.next_of(VERDICTS) is GateEvent.GRANTED
        reader.grant()  # a technician's test: no card, the test credential
        assert rig.next_of(VERDICTS) is GateEvent.REFUSED
        assert panel.reads == [serial, TEST_CREDENTIAL]
    finally:
        reader.close()
        panel.close()
        wire.close()


def test_wrong_key_never_comes_online(tmp_path: Path) -> None:
    wire = Wire(tmp_path / "rs485")
    panel = AccessPanel(wire.device_path, bytes(16))
    reader = OsdpReader(OsdpReaderConfig(port=wire.kiosk_path, scbk=SCBK, site_credential=SITE))
    try:
        time.sleep(2.0)
        assert not panel.online()
        reader.grant()
        assert "dropped" in reader.signals.get(timeout=2).detail or not panel.reads
        assert panel.reads == []
    finally:
        reader.close()
        panel.close()
        wire.close()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"scbk": bytes(15)}, "16 bytes"),
        ({"address": 200}, "address"),
        ({"site_credential": b""}, "site_credential"),
    ],
)
def test_bad_configuration(config: dict, message: str) -> None:
    base = {"port": "loop://", "scbk": SCBK, "site_credential": SITE}
    with pytest.raises(DeviceError, match=message):
        OsdpReader(OsdpReaderConfig(**(base | config)))


def test_unplugged_reader_goes_offline_and_back(rig: Rig) -> None:
    rig.wire.unplug()
    rig.until(GateEvent.OFFLINE)
    rig.panel.close()
    rig.wire.replug()
    rig.panel = AccessPanel(rig.wire.device_path, SCBK, granted=frozenset({SITE}))
    both_online(rig, timeout=20)
    rig.reader.grant()
    assert any(c.verdict == "granted" for c in rig.commands({"led"}))


def test_no_verdict_is_a_timeout(tmp_path: Path) -> None:
    wire = Wire(tmp_path / "rs485")
    panel = AccessPanel(wire.device_path, SCBK, granted=frozenset({SITE}))
    panel.answer = False  # hears the card read, says nothing
    config = OsdpReaderConfig(
        port=wire.kiosk_path, scbk=SCBK, site_credential=SITE, verdict_timeout_s=0.5
    )
    rig = Rig(wire, panel, OsdpReader(config))
    try:
        both_online(rig)
        rig.reader.grant()
        assert rig.next_of(VERDICTS) is GateEvent.TIMEOUT
        assert panel.reads == [SITE]
    finally:
        rig.reader.close()
        panel.close()
        wire.close()


def test_panel_commands_nobody_reads_stay_bounded(rig: Rig) -> None:
    last_sent = 0.0
    for _ in range(COMMANDS_KEPT // 3 + 2):  # LED, buzzer and text per granted read
        last_sent = time.monotonic()
        rig.reader.grant()
        assert rig.next_of(VERDICTS) is GateEvent.GRANTED
    assert rig.reader.commands.qsize() <= COMMANDS_KEPT
    kept = [rig.reader.commands.get_nowait() for _ in range(rig.reader.commands.qsize())]
    assert kept and kept[-1].t >= last_sent  # the newest are kept, the oldest dropped


def test_verdict_timeout_is_bounded() -> None:
    for bad in (0.1, 31.0, float("nan"), "3"):
        config = OsdpReaderConfig(
            port="loop://",
            scbk=SCBK,
            site_credential=SITE,
            verdict_timeout_s=bad,  # type: ignore[arg-type]
        )
        with pytest.raises(DeviceError, match="verdict_timeout_s"):
            OsdpReader(config)
