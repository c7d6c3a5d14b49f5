"""The Modbus RTU gate against the turnstile simulator over a real pty wire with pyserial."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import DeviceError
from firmware_bridge.gate import GateEvent, GateSignal
from firmware_bridge.modbus_gate import ModbusGate, ModbusGateConfig
from firmware_bridge.simulators.turnstile import TurnstileModule
from firmware_bridge.simulators.wire import Wire


def crc16(frame: bytes) -> bytes:
    """CRC-16/MODBUS, written out here independently of pymodbus."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def rtu(*pdu: int) -> bytes:
    return bytes(pdu) + crc16(bytes(pdu))


@dataclass
class Rig:
    wire: Wire
    sim: TurnstileModule
    gate: ModbusGate

    # Generous: a loaded CI machine can stall the pty simulator for seconds; a wait that is
    # answered returns at once, so only a failing test pays for it.
    def expect(self, event: GateEvent, timeout: float = 20.0) -> GateSignal:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                signal = self.gate.signals.get(timeout=0.05)
            except queue.Empty:
                continue
            if signal.event is event:
                return signal
        raise AssertionError(f"no {event} signal within {timeout} s")

    def quiet(self, seconds: float) -> list[GateSignal]:
        time.sleep(seconds)
        out = []
        while not self.gate.signals.empty():
            out.append(self.gate.signals.get())
        return out


CONFIG = ModbusGateConfig(
    port="", ready_input=2, timeout_s=0.2, passage_window_s=1.0, retry_max_s=0.3
)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    wire = Wire(tmp_path / "usb-FTDI_FT232R-if00-port0")
    sim = TurnstileModule(wire.device_path)
    gate = ModbusGate(replace(CONFIG, port=wire.kiosk_path))
    rig = Rig(wire, sim, gate)
    rig.expect(GateEvent.ONLINE)
    yield rig
    gate.close()
    rig.sim.close()
    wire.close()


def test_exact_bytes_on_the_wire(rig: Rig) -> None:
    rig.gate.grant()
    rig.expect(GateEvent.PASSED)
    sent = rig.wire.sent_to_device()
    assert rtu(0x01, 0x05, 0x00, 0x00, 0xFF, 0x00) == bytes.fromhex("01050000ff008c3a")
    assert rtu(0x01, 0x05, 0x00, 0x00, 0xFF, 0x00) in sent  # coil 0 on
    assert rtu(0x01, 0x05, 0x00, 0x00, 0x00, 0x00) in sent  # and off after the pulse
    assert rtu(0x01, 0x02, 0x00, 0x00, 0x00, 0x03) in sent  # inputs 0..2 polled
    replies = b"".join(d for way, d in rig.wire.log if way == "to_kiosk")
    assert rtu(0x01, 0x05, 0x00, 0x00, 0xFF, 0x00) in replies  # FC05 answers with an echo
    assert sent.count(rtu(0x01, 0x05, 0x00, 0x00, 0xFF, 0x00)) == 1


def test_pulse_length(rig: Rig) -> None:
    rig.gate.grant()
    rig.expect(GateEvent.PASSED)
    on, off = rtu(1, 5, 0, 0, 0xFF, 0), rtu(1, 5, 0, 0, 0, 0)
    # The wire log has no times; the gate's own pulse is from config: check the ordering.
    sent = rig.wire.sent_to_device()
    assert sent.index(off) < sent.index(on)  # relocked at connect, before anything else
    assert off in sent[sent.index(on) :]  # and after the pulse


def test_grant_then_passage(rig: Rig) -> None:
    rig.gate.grant()
    rig.expect(GateEvent.PASSED)
    assert (rig.sim.unlocks, rig.sim.passages) == (1, 1)


def test_nobody_passes_is_a_timeout(rig: Rig) -> None:
    rig.sim.visitor_walks = False
    rig.gate.grant()
    rig.expect(GateEvent.TIMEOUT)


def test_passage_without_grant_and_forced_gate_are_alarms(rig: Rig) -> None:
    rig.sim.sneak()
    assert "without a grant" in rig.expect(GateEvent.ALARM).detail
    rig.sim.force()
    assert "alarm input" in rig.expect(GateEvent.ALARM).detail
    assert rig.sim.unlocks == 0


def test_one_grant_one_passage(rig: Rig) -> None:
    rig.gate.grant()
    rig.expect(GateEvent.PASSED)
    time.sleep(rig.sim.passed_pulse_s + 0.1)
    rig.sim.sneak()  # a second person behind the first
    rig.expect(GateEvent.ALARM)


@pytest.mark.parametrize("fault", ["silent", "garbled", "slow"])
def test_faulty_line_goes_offline_and_drops_grants(rig: Rig, fault: str) -> None:
    rig.wire.fault = fault  # type: ignore[assignment]
    rig.expect(GateEvent.OFFLINE)
    rig.gate.grant()
    assert "grant dropped" in rig.expect(GateEvent.DROPPED).detail
    rig.wire.fault = "none"
    rig.expect(GateEvent.ONLINE)
    signals = rig.quiet(0.5)
    assert rig.sim.unlocks == 0  # the grant is never delivered late
    assert all(s.event is not GateEvent.PASSED for s in signals)


def test_unplugged_and_replugged_under_another_name(rig: Rig) -> None:
    old = rig.wire.pts
    rig.wire.unplug()
    rig.expect(GateEvent.OFFLINE)
    rig.sim.close()
    rig.wire.replug()
    assert rig.wire.pts != old
    rig.sim = TurnstileModule(rig.wire.device_path)
    rig.expect(GateEvent.ONLINE, timeout=10)
    rig.gate.grant()
    rig.expect(GateEvent.PASSED)


def test_not_ready_turnstile_is_offline(rig: Rig) -> None:
    rig.sim.set_ready(False)
    assert "not ready" in rig.expect(GateEvent.OFFLINE).detail
    rig.gate.grant()
    rig.expect(GateEvent.DROPPED)
    rig.sim.set_ready(True)
    rig.expect(GateEvent.ONLINE)
    assert rig.sim.unlocks == 0


def test_level_mode_holds_until_passage(tmp_path: Path) -> None:
    wire = Wire(tmp_path / "gate")
    sim = TurnstileModule(wire.device_path, passage_delay_s=0.6)
    gate = ModbusGate(replace(CONFIG, port=wire.kiosk_path, mode="level", pulse_ms=100))
    rig = Rig(wire, sim, gate)
    try:
        rig.expect(GateEvent.ONLINE)
        gate.grant()
        time.sleep(0.4)  # longer than pulse_ms: in level mode the coil is still on
        sent = wire.sent_to_device()
        after_grant = sent[sent.index(rtu(1, 5, 0, 0, 0xFF, 0)) :]
        assert rtu(1, 5, 0, 0, 0, 0) not in after_grant
        assert sim.coil
        rig.expect(GateEvent.PASSED)
        time.sleep(0.2)
        sent = wire.sent_to_device()
        after_grant = sent[sent.index(rtu(1, 5, 0, 0, 0xFF, 0)) :]
        assert rtu(1, 5, 0, 0, 0, 0) in after_grant  # relocked after the passage
        assert not sim.coil
    finally:
        gate.close()
        sim.close()
        wire.close()


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(DeviceError, match="pulse_ms"):
        ModbusGate(replace(CONFIG, port="/dev/null", pulse_ms=20))
    with pytest.raises(DeviceError, match="unit"):
        ModbusGate(replace(CONFIG, port="/dev/null", unit=0))
    with pytest.raises(DeviceError, match="port"):
        ModbusGate(CONFIG)  # no port


ACTIONS = st.lists(
    st.sampled_from(["deny", "sneak", "force", "silent", "garbled", "heal", "wait"]),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(before=ACTIONS, after=ACTIONS, grants=st.integers(0, 2))
def test_the_gate_is_only_ever_unlocked_by_a_grant(
    rig: Rig, before: list[str], after: list[str], grants: int
) -> None:
    """Random device events and line faults around `grants` grants: never more unlocks."""
    start = rig.sim.unlocks

    def act(action: str) -> None:
        if action == "deny":
            rig.gate.deny()
        elif action == "sneak":
            rig.sim.sneak()
        elif action == "force":
            rig.sim.force(0.1)
        elif action in ("silent", "garbled"):
            rig.wire.fault = action  # type: ignore[assignment]
        elif action == "heal":
            rig.wire.fault = "none"
        time.sleep(0.05)

    for action in before:
        act(action)
    for _ in range(grants):
        rig.gate.grant()
    for action in after:
        act(action)
    rig.wire.fault = "none"
    time.sleep(0.3)
    assert rig.sim.unlocks - start <= grants


def test_rs485_mode_on_a_port_without_it_is_a_clear_offline(tmp_path: Path) -> None:
    wire = Wire(tmp_path / "pty")
    gate = ModbusGate(replace(CONFIG, port=wire.kiosk_path, rs485=True))
    try:
        starting = gate.signals.get(timeout=5)  # not online until the relock is confirmed
        assert starting.event is GateEvent.OFFLINE and "starting" in starting.detail
        signal = gate.signals.get(timeout=5)
        assert signal.event is GateEvent.OFFLINE and "RS-485" in signal.detail
    finally:
        gate.close()
        wire.close()
