"""The relay always ends up off: line faults around grants, closes, crashes and process exit.

Everything runs the real ModbusGate with real pyserial over a pty wire (`Wire`, whose faults
are a model of a bad RS-485 line) to the pymodbus turnstile simulator. What counts is what the
simulated relay module received and what state its coil is in, never the gate's own view.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.errors import DeviceError
from firmware_bridge.gate import GateEvent, GateSignal
from firmware_bridge.modbus_gate import ModbusGate, ModbusGateConfig
from firmware_bridge.simulators.turnstile import TurnstileModule
from firmware_bridge.simulators.wire import Wire
from tests.test_modbus_gate import rtu

ROOT = Path(__file__).resolve().parent.parent
COIL_ON, COIL_OFF = rtu(1, 5, 0, 0, 0xFF, 0), rtu(1, 5, 0, 0, 0, 0)
TERMINAL = (GateEvent.PASSED, GateEvent.TIMEOUT, GateEvent.DROPPED)

CONFIG = ModbusGateConfig(
    port="", ready_input=2, timeout_s=0.15, poll_ms=30, passage_window_s=1.0, retry_max_s=0.3
)


def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@dataclass
class Rig:
    wire: Wire
    sim: TurnstileModule
    gate: ModbusGate
    seen: list[GateSignal] = field(default_factory=list)

    def expect(
        self, event: GateEvent, timeout: float = 5.0, *, detail: str = ""
    ) -> tuple[GateSignal, bool]:
        """Wait for `event` (with `detail` in it); also says whether the coil was on then."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                signal = self.gate.signals.get(timeout=0.02)
            except queue.Empty:
                continue
            coil = self.sim.coil
            self.seen.append(signal)
            if signal.event is event and detail in signal.detail:
                return signal, coil
        raise AssertionError(f"no {event} {detail!r} within {timeout} s; saw {self.seen}")

    def drain(self) -> list[GateSignal]:
        while True:
            try:
                self.seen.append(self.gate.signals.get_nowait())
            except queue.Empty:
                return self.seen

    def outcomes(self) -> list[GateSignal]:
        return [s for s in self.drain() if s.event in TERMINAL]


def make_rig(tmp_path: Path, name: str = "usb-relay", **config: Any) -> Rig:
    wire = Wire(tmp_path / name)
    sim = TurnstileModule(wire.device_path)
    gate = ModbusGate(replace(CONFIG, port=wire.kiosk_path, **config))
    return Rig(wire, sim, gate)


def close_rig(rig: Rig) -> None:
    rig.gate.close()
    rig.sim.close()
    rig.wire.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = make_rig(tmp_path)
    rig.expect(GateEvent.ONLINE)
    yield rig
    close_rig(rig)


@pytest.fixture
def level(tmp_path: Path) -> Iterator[Rig]:
    """Level mode, nobody walks through: the coil stays on for the whole (long) window."""
    rig = make_rig(tmp_path, mode="level", passage_window_s=30.0)
    rig.sim.visitor_walks = False
    rig.expect(GateEvent.ONLINE)
    yield rig
    close_rig(rig)


def unlocked(rig: Rig) -> None:
    rig.gate.grant()
    assert eventually(lambda: rig.sim.coil), "the grant never switched the coil on"


# -- the reported case, and its relatives --------------------------------------------------


@pytest.mark.parametrize("fault", ["silent", "cut", "garbled"])
def test_a_line_fault_during_a_pulse_still_relocks(rig: Rig, fault: str) -> None:
    """Issue 11: grant, line silent 120 ms later, line heals — the coil must end up off."""
    rig.sim.visitor_walks = False
    offs = rig.sim.coil_off_writes
    rig.gate.grant()
    time.sleep(0.12)
    rig.wire.fault = fault  # type: ignore[assignment]
    rig.expect(GateEvent.OFFLINE)
    time.sleep(0.5)
    rig.wire.fault = "none"
    _, coil_when_online = rig.expect(GateEvent.ONLINE)
    assert not coil_when_online, "back online before the relock was confirmed"
    assert eventually(lambda: not rig.sim.coil)
    assert rig.sim.coil_off_writes > offs  # a coil-off frame reached the module
    assert rig.sim.coil_on_writes == 1
    # the grant ended with exactly one outcome (cut short: the app need not wait for it)
    assert eventually(lambda: len(rig.outcomes()) == 1)
    time.sleep(0.3)
    assert [s.event for s in rig.outcomes()] == [GateEvent.DROPPED]


def test_a_coil_left_on_by_a_previous_process_is_switched_off_at_connect(
    tmp_path: Path,
) -> None:
    wire = Wire(tmp_path / "usb-relay")
    sim = TurnstileModule(wire.device_path)
    try:
        with serial.serial_for_url(wire.kiosk_path, 9600, timeout=0.5) as port:
            port.write(COIL_ON)  # the last words of a kiosk that died mid-grant
            assert port.read(len(COIL_ON)) == COIL_ON
        assert sim.coil
        before = len(wire.sent_to_device())
        gate = ModbusGate(replace(CONFIG, port=wire.kiosk_path))
        rig = Rig(wire, sim, gate)
        _, coil_when_online = rig.expect(GateEvent.ONLINE)
        assert not coil_when_online and not sim.coil
        assert wire.sent_to_device()[before:].startswith(COIL_OFF)  # the first thing it says
        gate.close()
    finally:
        sim.close()
        wire.close()


def test_a_module_that_refuses_the_relock_never_comes_online(tmp_path: Path) -> None:
    """unlock_coil beyond the module's coils: inputs read fine, but the relock is refused."""
    rig = make_rig(tmp_path, unlock_coil=99)
    try:
        rig.expect(GateEvent.OFFLINE, detail="refused coil 99")
        time.sleep(0.6)
        assert GateEvent.ONLINE not in [s.event for s in rig.drain()]
        assert not rig.gate.online
        rig.gate.grant()
        rig.expect(GateEvent.DROPPED)
        assert rig.sim.coil_on_writes == 0
    finally:
        close_rig(rig)


def test_offline_until_the_line_answers_the_relock(tmp_path: Path) -> None:
    wire = Wire(tmp_path / "usb-relay")
    wire.fault = "cut"
    sim = TurnstileModule(wire.device_path)
    gate = ModbusGate(replace(CONFIG, port=wire.kiosk_path))
    rig = Rig(wire, sim, gate)
    try:
        rig.expect(GateEvent.OFFLINE)
        time.sleep(0.5)
        assert not gate.online and sim.coil_off_writes == 0
        wire.fault = "none"
        rig.expect(GateEvent.ONLINE)
        assert sim.coil_off_writes >= 1
    finally:
        close_rig(rig)


# -- close, crash, exit ----------------------------------------------------------------------


def test_close_switches_the_coil_off(level: Rig) -> None:
    unlocked(level)
    level.gate.close()
    assert not level.sim.coil  # off when close() returns, not some time later
    assert level.sim.coil_off_writes >= 1
    level.gate.close()  # idempotent
    level.gate.grant()  # a closed gate drops grants at once, and says so
    level.expect(GateEvent.DROPPED)
    time.sleep(0.2)
    assert level.sim.coil_on_writes == 1


def test_close_from_several_threads_at_once(level: Rig) -> None:
    unlocked(level)
    closers = [threading.Thread(target=level.gate.close) for _ in range(4)]
    for closer in closers:
        closer.start()
    for closer in closers:
        closer.join(10)
    assert not level.sim.coil


def test_close_relocks_even_when_the_worker_is_stuck(level: Rig) -> None:
    unlocked(level)
    release = threading.Event()

    def stuck(*_: object) -> None:
        release.wait(20)  # a driver call that never returns

    level.gate._poll_inputs = stuck  # type: ignore[method-assign]
    time.sleep(0.2)
    started = time.monotonic()
    try:
        level.gate.close()
        assert time.monotonic() - started < 8  # bounded, even with the worker stuck
        assert not level.sim.coil  # close() opened the line itself and relocked
    finally:
        release.set()


def test_an_unlock_held_up_in_a_stuck_worker_never_goes_out_after_close(rig: Rig) -> None:
    """Found by review: close() relocked for a stuck worker, then the worker's held-up
    coil-on write went out and the process exited with the relay on."""
    rig.sim.visitor_walks = False
    assert eventually(lambda: rig.gate.online)
    release = threading.Event()
    real = rig.gate._write_coil

    def held_up(client: object, on: bool) -> None:
        if on:
            release.wait(10)  # a hung USB-serial write that completes later
        real(client, on)

    rig.gate._write_coil = held_up  # type: ignore[method-assign]
    rig.gate.grant()
    time.sleep(0.1)
    closer = threading.Thread(target=rig.gate.close)
    closer.start()
    time.sleep(0.5)
    release.set()
    closer.join(15)
    time.sleep(0.5)
    assert not closer.is_alive() and not rig.sim.coil
    assert rig.sim.coil_on_writes == 0


def test_close_on_a_dead_line_is_bounded_and_says_so(
    level: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    unlocked(level)
    level.wire.fault = "cut"
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="firmware_bridge.modbus_gate"):
        level.gate.close()
    assert time.monotonic() - started < 8
    assert "relay may still be on" in caplog.text  # the watchdog's case: docs/devices.md


def test_an_unexpected_error_in_the_worker_is_offline_with_a_reason(level: Rig) -> None:
    unlocked(level)
    real = level.gate._poll_inputs
    calls = itertools.count()

    def broken(*args: Any) -> None:
        if next(calls) == 0:
            raise RuntimeError("injected driver bug")
        real(*args)

    level.gate._poll_inputs = broken  # type: ignore[method-assign]
    signal, _ = level.expect(GateEvent.OFFLINE)
    assert "RuntimeError" in signal.detail and "injected driver bug" in signal.detail
    _, coil_when_online = level.expect(GateEvent.ONLINE)  # it keeps going
    assert not coil_when_online and not level.sim.coil
    assert [s.event for s in level.outcomes()] == [GateEvent.DROPPED]


def test_a_config_value_of_the_wrong_type_is_refused_and_never_kills_the_worker(
    rig: Rig,
) -> None:
    with pytest.raises(DeviceError, match="grant_max_age_s"):
        ModbusGate(replace(CONFIG, port=rig.wire.kiosk_path, grant_max_age_s="1"))  # type: ignore[arg-type]
    # the same value slipped in past validation (replace() does not validate)
    rig.gate.config = replace(rig.gate.config, grant_max_age_s="1")  # type: ignore[arg-type]
    rig.gate.grant()
    signal, _ = rig.expect(GateEvent.OFFLINE)
    assert "TypeError" in signal.detail
    rig.expect(GateEvent.DROPPED)
    rig.expect(GateEvent.ONLINE)  # the worker is alive and retrying
    assert rig.sim.coil_on_writes == 0 and not rig.sim.coil


@pytest.mark.parametrize("death", [SystemExit, KeyboardInterrupt])
def test_a_worker_that_ends_puts_the_gate_out_of_service_and_relocks(
    level: Rig, death: type[BaseException]
) -> None:
    unlocked(level)

    def fatal(*_: object) -> None:
        raise death()

    level.gate._poll_inputs = fatal  # type: ignore[method-assign]
    signal, _ = level.expect(GateEvent.OFFLINE, detail="stopped")
    assert death.__name__ in signal.detail
    assert eventually(lambda: not level.sim.coil)  # its last act
    assert not level.gate.online
    level.gate.grant()
    level.expect(GateEvent.DROPPED)
    assert level.sim.coil_on_writes == 1


# -- level mode always has a deadline ------------------------------------------------------


def test_level_mode_relocks_at_the_end_of_the_window(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, mode="level", passage_window_s=0.6)
    rig.sim.visitor_walks = False
    try:
        rig.expect(GateEvent.ONLINE)
        unlocked(rig)
        rig.expect(GateEvent.TIMEOUT)
        assert eventually(lambda: not rig.sim.coil, 2)
    finally:
        close_rig(rig)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("passage_window_s", math.nan),
        ("passage_window_s", math.inf),
        ("passage_window_s", 0.0),
        ("passage_window_s", 3600.0),
        ("grant_max_age_s", math.nan),
        ("grant_max_age_s", 30.0),
        ("timeout_s", math.inf),
        ("retry_max_s", -1.0),
        ("pulse_ms", "300"),
        ("pulse_ms", 5),
        ("pulse_ms", True),
        ("poll_ms", 0),
        ("baudrate", 9601),
        ("unit", 300),
        ("mode", "blink"),
        ("parity", "X"),
        ("stopbits", 3),
        ("unlock_coil", -1),
        ("alarm_input", 0),  # the same input as "passed"
        ("port", ""),
        ("rs485", "yes"),
    ],
)
def test_every_setting_is_checked_by_type_and_bounds(key: str, value: object) -> None:
    base = replace(CONFIG, port="/dev/null")
    with pytest.raises(DeviceError, match=f"gate {key} "):
        replace(base, **{key: value}).validate()


def test_the_defaults_and_the_example_values_are_valid() -> None:
    ModbusGateConfig(port="/dev/ttyUSB0").validate()
    replace(CONFIG, port="socket://192.0.2.10:4001", passage_window_s=5).validate()


# -- process exit ----------------------------------------------------------------------------

EXITING_KIOSK = """
import signal, sys, threading, time
from firmware_bridge.modbus_gate import ModbusGate, ModbusGateConfig

def close_and_exit(*_):
    gate.close()
    sys.exit(0)

stop = threading.Event()
signal.signal(signal.SIGTERM, HANDLER)
gate = ModbusGate(ModbusGateConfig(
    port=sys.argv[1], ready_input=2, mode="level", passage_window_s=30, timeout_s=0.15))
while not gate.online:
    time.sleep(0.01)
gate.grant()
print("granted", flush=True)
stop.wait(30)
# and ends without calling gate.close(): leaving the process must still relock
"""


@pytest.mark.parametrize(
    "handler",
    [
        "lambda *_: stop.set()",  # what `kiosk run` does: the loop ends, the process exits
        "close_and_exit",  # a handler that closes the gate itself
    ],
)
def test_sigterm_and_process_exit_relock(tmp_path: Path, handler: str) -> None:
    wire = Wire(tmp_path / "usb-relay")
    sim = TurnstileModule(wire.device_path)
    sim.visitor_walks = False
    proc = subprocess.Popen(
        [sys.executable, "-c", EXITING_KIOSK.replace("HANDLER", handler), wire.kiosk_path],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "granted"
        assert eventually(lambda: sim.coil)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not sim.coil
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        sim.close()
        wire.close()


# -- the property ------------------------------------------------------------------------------

FAULTS = st.sampled_from(["silent", "cut", "garbled", "slow"])
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("grant"), st.just(0)),
        st.tuples(FAULTS, st.integers(20, 400)),  # a glitch: the line heals after N ms
        st.tuples(st.just("wait"), st.integers(0, 300)),
        st.tuples(st.just("close"), st.just(0)),  # the kiosk stops (and starts again)
    ),
    min_size=1,
    max_size=7,
)
_examples = itertools.count()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
def test_random_line_faults_around_grants_always_end_with_the_coil_off(
    tmp_path: Path, actions: list[tuple[str, int]]
) -> None:
    """Whatever the line does around grants and closes, once it heals the coil is off, the
    module never got more unlock frames than there were grants, and every grant had exactly
    one outcome (passed, timeout or dropped)."""
    first = make_rig(
        tmp_path,
        f"usb-relay-{next(_examples)}",
        pulse_ms=100,
        passage_window_s=0.5,
        timeout_s=0.1,
        poll_ms=20,
        retry_max_s=0.2,
    )
    wire, sim = first.wire, first.sim
    wire.delay_s = 0.15  # "slow": answers arrive after the gate stopped waiting for them
    rigs = [first]  # one per gate: a close is the kiosk stopping, and systemd starting it again
    glitches = itertools.count()
    current = [-1]
    timers: list[threading.Timer] = []
    grants = 0

    def heal(glitch: int) -> None:
        if glitch == current[0]:
            wire.fault = "none"

    def outcomes() -> int:
        return sum(len(r.outcomes()) for r in rigs)

    try:
        first.expect(GateEvent.ONLINE)
        for action, ms in actions:
            if action == "grant":
                rigs[-1].gate.grant()
                grants += 1
            elif action == "wait":
                time.sleep(ms / 1000)
            elif action == "close":
                rigs[-1].gate.close()
                rigs.append(Rig(wire, sim, ModbusGate(rigs[-1].gate.config)))
            else:
                current[0] = next(glitches)
                wire.fault = action  # type: ignore[assignment]
                timers.append(threading.Timer(ms / 1000, heal, args=(current[0],)))
                timers[-1].start()
            time.sleep(0.03)
        for timer in timers:
            timer.join()
        assert wire.fault == "none"
        assert eventually(lambda: not sim.coil, 5), "the coil is still on"
        assert sim.coil_on_writes <= grants
        assert sim.unlocks <= grants
        assert eventually(lambda: outcomes() >= grants, 3)
        time.sleep(0.1)
        assert outcomes() == grants
        rigs[-1].gate.close()
        assert not sim.coil
    finally:
        for timer in timers:
            timer.cancel()
        for rig in rigs:
            rig.gate.close()
        sim.close()
        wire.close()
