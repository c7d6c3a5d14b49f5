"""A turnstile behind an off-the-shelf Modbus RTU relay/IO module (RS-485), via pymodbus.

A relay coil drives the turnstile's dry-contact "unlock" input; discrete inputs read its
"passed" output, its alarm/forced output and (optionally) a "ready" output. One worker thread
owns the serial line: `grant()` and `deny()` only post commands to it, so the app's loop never
waits on the wire.

Safety rules, each tested:
- the coil is only ever switched on by a grant, and a grant is carried out at most once;
- a grant that cannot be carried out within `grant_max_age_s` (the gate was offline, the
  line slow) is dropped, never delivered late to whoever stands there next;
- one grant lets one passage through; a passage without a grant is an alarm.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from firmware_bridge.gate import GateEvent, GateSignal
from kiosk.errors import DeviceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModbusGateConfig:
    port: str  # device path (prefer /dev/serial/by-id/...) or any pyserial URL
    baudrate: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    unit: int = 1
    unlock_coil: int = 0
    passed_input: int = 0
    alarm_input: int | None = 1
    ready_input: int | None = None
    inputs_active_low: bool = False
    mode: Literal["pulse", "level"] = "pulse"  # level: hold the coil until passage/timeout
    pulse_ms: int = 300
    passage_window_s: float = 5.0
    poll_ms: int = 50
    timeout_s: float = 0.3
    grant_max_age_s: float = 1.0
    retry_max_s: float = 5.0
    rs485: bool = False  # kernel RS-485 mode (RTS drives the transceiver); most USB-RS485
    # adapters switch direction by themselves and need none

    def validate(self) -> None:
        if not 100 <= self.pulse_ms <= 10_000:
            raise DeviceError("gate pulse_ms must be 100..10000 (dry contacts need >= 100 ms)")
        if not 1 <= self.unit <= 247:
            raise DeviceError("gate unit must be a Modbus unit id 1..247")
        if self.passage_window_s <= 0 or self.poll_ms <= 0:
            raise DeviceError("gate passage_window_s and poll_ms must be positive")


_GRANT, _DENY = "grant", "deny"


class ModbusGate:
    def __init__(self, config: ModbusGateConfig) -> None:
        config.validate()
        self.config = config
        self.signals: queue.Queue[GateSignal] = queue.Queue()
        self._commands: queue.Queue[tuple[str, float]] = queue.Queue()
        self._stop = threading.Event()
        self._online: bool | None = None
        self._last_inputs: dict[str, bool] | None = None
        self._window_until: float | None = None
        self._coil_off_at: float | None = None
        self.online = False
        self._thread = threading.Thread(target=self._run, name="modbus-gate", daemon=True)
        self._thread.start()

    # -- the app's side ----------------------------------------------------------------------

    def grant(self) -> None:
        self._commands.put((_GRANT, time.monotonic()))

    def deny(self) -> None:
        self._commands.put((_DENY, time.monotonic()))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    # -- the worker --------------------------------------------------------------------------

    def _client(self) -> Any:
        from pymodbus import FramerType
        from pymodbus.client import ModbusSerialClient

        c = self.config
        client: Any = ModbusSerialClient(
            c.port,
            framer=FramerType.RTU,
            baudrate=c.baudrate,
            parity=c.parity,
            stopbits=c.stopbits,
            timeout=c.timeout_s,
            retries=0,
            reconnect_delay=0,
        )
        if not client.connect():
            raise DeviceError(f"gate: cannot open {c.port}")
        if c.rs485:
            import serial.rs485

            try:
                client.socket.rs485_mode = serial.rs485.RS485Settings(
                    rts_level_for_tx=True, rts_level_for_rx=False
                )
            except Exception as exc:  # pyserial raises ValueError or a bare OS-level error
                client.close()
                raise DeviceError(
                    f"gate: {c.port} does not support kernel RS-485 mode ({exc}); "
                    "set rs485 = false for adapters that switch direction themselves"
                ) from None
        return client

    def _run(self) -> None:
        from pymodbus import ModbusException

        delay = 0.2
        client: Any = None
        while not self._stop.is_set():
            try:
                if client is None:
                    client = self._client()
                self._step(client)
                delay = 0.2
            except (ModbusException, DeviceError, OSError) as exc:
                self._set_online(False, _plain(exc))
                if client is not None:
                    client.close()
                    client = None
                self._window_until = self._coil_off_at = None
                self._drop_grants("gate offline")
                if self._stop.wait(delay):
                    break
                delay = min(delay * 2, self.config.retry_max_s)
        if client is not None:
            client.close()

    def _step(self, client: Any) -> None:
        c = self.config
        now = time.monotonic()
        wake = now + c.poll_ms / 1000
        if self._coil_off_at is not None:
            wake = min(wake, self._coil_off_at)
        try:
            command, posted = self._commands.get(timeout=max(0.0, wake - now))
        except queue.Empty:
            command = None
        now = time.monotonic()
        if command == _GRANT:
            if now - posted > c.grant_max_age_s:
                self._signal(
                    GateEvent.DROPPED, "grant dropped: it could not be carried out in time"
                )
            elif self._online:
                self._unlock(client, now)
            else:
                self._signal(GateEvent.DROPPED, "grant dropped: gate offline")
        elif command == _DENY and self._coil_off_at is not None and c.mode == "level":
            self._write_coil(client, False)
            self._coil_off_at = None
        if self._coil_off_at is not None and now >= self._coil_off_at:
            self._write_coil(client, False)
            self._coil_off_at = None
        self._poll_inputs(client, now)

    def _unlock(self, client: Any, now: float) -> None:
        c = self.config
        self._write_coil(client, True)
        self._window_until = now + c.passage_window_s
        hold = c.pulse_ms / 1000 if c.mode == "pulse" else c.passage_window_s
        self._coil_off_at = now + hold

    def _write_coil(self, client: Any, on: bool) -> None:
        c = self.config
        reply = client.write_coil(c.unlock_coil, on, device_id=c.unit)
        if reply.isError():
            raise DeviceError(f"gate: the relay module refused coil {c.unlock_coil}: {reply}")

    def _poll_inputs(self, client: Any, now: float) -> None:
        c = self.config
        wanted = {"passed": c.passed_input, "alarm": c.alarm_input, "ready": c.ready_input}
        numbers = {k: v for k, v in wanted.items() if v is not None}
        first = min(numbers.values())
        count = max(numbers.values()) - first + 1
        reply = client.read_discrete_inputs(first, count=count, device_id=c.unit)
        if reply.isError():
            raise DeviceError(f"gate: the relay module refused to read inputs: {reply}")
        bits = reply.bits
        inputs = {k: bool(bits[v - first]) != c.inputs_active_low for k, v in numbers.items()}
        ready = inputs.get("ready", True)
        self._set_online(ready, "" if ready else "turnstile reports not ready")
        before = self._last_inputs
        self._last_inputs = inputs
        if before is not None:
            if inputs["passed"] and not before["passed"]:
                if self._window_until is not None:
                    self._signal(GateEvent.PASSED)
                    self._window_until = None
                    if c.mode == "level" and self._coil_off_at is not None:
                        self._coil_off_at = now  # relock right away
                else:
                    self._signal(GateEvent.ALARM, "passage without a grant")
            if inputs.get("alarm") and not before.get("alarm"):
                self._signal(GateEvent.ALARM, "the turnstile's alarm input is active")
        if self._window_until is not None and now > self._window_until:
            self._window_until = None
            self._signal(GateEvent.TIMEOUT, "nobody passed within the passage window")

    def _set_online(self, online: bool, detail: str) -> None:
        if online == self._online:
            return
        self._online = self.online = online
        self._signal(GateEvent.ONLINE if online else GateEvent.OFFLINE, detail)

    def _drop_grants(self, why: str) -> None:
        while True:
            try:
                command, _ = self._commands.get_nowait()
            except queue.Empty:
                return
            if command == _GRANT:
                self._signal(GateEvent.DROPPED, f"grant dropped: {why}")

    def _signal(self, event: GateEvent, detail: str = "") -> None:
        log.info("gate %s %s", event.value, detail)
        self.signals.put(GateSignal.now(event, detail))


def _plain(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("Modbus Error: ", "").strip()
