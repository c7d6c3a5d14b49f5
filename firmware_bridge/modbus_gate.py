"""A turnstile behind an off-the-shelf Modbus RTU relay/IO module (RS-485), via pymodbus.

A relay coil drives the turnstile's dry-contact "unlock" input; discrete inputs read its
"passed" output, its alarm/forced output and (optionally) a "ready" output. One worker thread
owns the serial line: `grant()` and `deny()` only post commands to it, so the app's loop never
waits on the wire.

Safety rules, each tested (tests/test_modbus_gate*.py):
- the coil is only ever switched on by a grant, and a grant is carried out at most once;
- a grant that cannot be carried out within `grant_max_age_s` (the gate was offline, the
  line slow) is dropped, never delivered late to whoever stands there next;
- one grant lets one passage through; a passage without a grant is an alarm; every grant
  ends in exactly one of `passed`, `timeout` or `dropped`;
- the relay always ends up off. A relock is owed from start-up (a previous process may have
  died mid-grant), from every coil-on write (it may act even when its answer is lost) and
  after every fault; only a coil-off write the module confirmed settles it. The gate is not
  online (grants are dropped) until then. The worker relocks on connect, after any error as
  soon as the line answers, at the end of every pulse or level window (always finite), and
  as its last act; `close()` — idempotent, also run at interpreter exit — relocks from its
  own thread if the worker is stuck or dead. Whatever the worker meets, it reports `offline`
  with a reason and goes on; if something ends it all the same, it says so.
Each reason is the technician's (firmware_bridge/modbus_faults.py): silent, garbled and late
answers are told apart by what came back on the line, never by pymodbus's wording.
What no process can do — relock after SIGKILL or a power cut — is the module's watchdog's
job, and the wiring's: docs/devices.md.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from typing import Any

from firmware_bridge import modbus_faults
from firmware_bridge.errors import DeviceError, DeviceFault
from firmware_bridge.gate import TEST_GRANT, GateEvent, GateSignal, Grant
from firmware_bridge.modbus_config import ModbusGateConfig
from firmware_bridge.ports import check_port

__all__ = ["ModbusGate", "ModbusGateConfig"]  # the config is built from here too

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RELOCK_RETRY_S = 0.5  # while the coil may be on, a retry never waits longer than this
LISTEN_STEP_S = 0.02  # how often a late answer is looked for while waiting to retry
LATE_MISSES = 2  # a late answer seen, then this many waits in silence: silent after all


_GRANT, _DENY, _WAKE = "grant", "deny", "wake"


class ModbusGate:
    decides = False  # a grant that reached the relay is the entry: the turnstile reports it

    def __init__(self, config: ModbusGateConfig) -> None:
        config.validate()
        self.config = config
        self.signals: queue.Queue[GateSignal] = queue.Queue()
        self.online = False
        self._commands: queue.Queue[tuple[str, float]] = queue.Queue()
        self._stop = threading.Event()
        # RLocks: a signal handler may call close() on the thread inside grant() or close()
        self._lock = threading.RLock()  # orders grant() against the gate closing
        self._accepting: str | None = None  # None: grants are taken; else why they are not
        self._close_lock = threading.RLock()
        self._closed = False
        # worker state
        self._client: Any = None
        self._online: bool | None = None
        self._offline_detail = ""
        self._last_inputs: dict[str, bool] | None = None
        self._windows: list[float] = []  # passage deadlines of the open grants, oldest first
        self._grant_in_hand = False
        self._relock_pending = True  # a coil-off confirmed by the module is owed
        self._coil_maybe_on = True  # unknown at start: retry the relock without backing off
        self._coil_off_at: float | None = None  # end of the pulse or level window
        self._last_error = ""
        # what the line carried for the request under way: silence, garbage or a late answer
        self._sent, self._sent_at, self._heard = b"", 0.0, b""
        self._late_s: float | None = None  # the last late answer's delay, since a success
        self._late_misses = 0  # silent waits since that late answer
        self._relocked_at_end: bool | None = None  # the worker's last act: None = not tried
        self._on_frames = 0  # coil-on writes started: close() relocks again if one slipped out
        self._set_online(False, "starting: the relay is not yet confirmed off")
        atexit.register(self.close)
        self._thread = threading.Thread(target=self._run, name="modbus-gate", daemon=True)
        self._thread.start()

    # -- the app's side ----------------------------------------------------------------------

    def grant(self, grant: Grant = TEST_GRANT) -> None:
        """One unlock, whoever's card it is (the relay knows no cards)."""
        with self._lock:
            why = self._accepting
            if why is None:
                self._commands.put((_GRANT, time.monotonic()))
                return
        self._signal(GateEvent.DROPPED, f"grant dropped: {why}")

    def deny(self) -> None:
        with self._lock:
            if self._accepting is None:
                self._commands.put((_DENY, time.monotonic()))

    def close(self) -> None:
        """Stop the worker and leave the relay off. Idempotent and thread-safe (a second caller
        waits for the first; a signal handler re-entering returns at once). Bounded: about
        close_budget_s, twice that if the worker is stuck. Also runs at interpreter exit."""
        with self._close_lock:
            if self._closed:
                return  # closed already, or being closed by this thread (a signal handler)
            self._closed = True
            atexit.unregister(self.close)
            self._refuse_grants("the gate is closed")
            self._stop.set()
            self._commands.put((_WAKE, 0.0))  # wake the worker from its wait
            # the step under way (up to two requests), then the last relock
            self._thread.join(self.close_budget_s + 2 * self.config.timeout_s + 0.5)
            if self._relocked_at_end:
                return
            # the worker is stuck, or ended without confirming the relock: try from here
            stuck = self._thread.is_alive() or self._relocked_at_end is None
            deadline = time.monotonic() + (self.close_budget_s if stuck else 0.0)
            if stuck:  # its port is locked (pymodbus opens it exclusively): take it over
                _close_quietly(self._client)
            on_frames = self._on_frames
            relocked = self._relock_before(deadline, None)
            if self._thread.is_alive():
                # A write the stuck worker had under way may still reach the module after
                # our relock: give it a moment to end, then relock once more if it unlocked.
                self._thread.join(1.0)
                if self._on_frames != on_frames or self._thread.is_alive():
                    relocked = self._relock_before(time.monotonic() + 1.0, None)
            if not relocked:
                last = f" (last fault: {self._last_error})" if self._last_error else ""
                log.error(
                    "gate on %s: could not confirm the relock at close%s; the relay may still "
                    "be on (a module with a communication watchdog switches it off by itself; "
                    "see docs/devices.md)",
                    self.config.port,
                    last,
                )

    @property
    def close_budget_s(self) -> float:
        """How long the last relock keeps trying (attempts of up to timeout_s each): long enough
        to ride out a glitch, short enough for systemd's TimeoutStopSec (10 s)."""
        return min(3.0, max(1.5, 4 * self.config.timeout_s))

    # -- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        why = "the gate is closed"
        try:
            self._serve()
        except BaseException as exc:  # SystemExit, KeyboardInterrupt...: the worker ends here
            why = f"the gate's worker stopped ({_described(exc)})"
            log.critical("gate on %s: %s", self.config.port, why, exc_info=True)
        finally:
            self._finish(why)

    def _serve(self) -> None:
        delay = RETRY_FIRST_S
        while not self._stop.is_set():
            try:
                if self._client is None:
                    self._client = self._connect()
                    self._relock_pending, self._coil_off_at = True, None
                self._relock_if_due(self._client)
                self._step(self._client)
                delay = RETRY_FIRST_S
                self._last_error = ""
                self._late_s = None
            except Exception as exc:  # every failure: offline with its reason, then retry
                wait = min(delay, RELOCK_RETRY_S) if self._coil_maybe_on else delay
                unanswered = self._fault(exc)
                if unanswered is not None:
                    wait -= self._listen(unanswered, wait)
                if self._stop.wait(max(0.0, wait)):
                    return
                delay = min(delay * 2, self.config.retry_max_s)

    def _finish(self, why: str) -> None:
        """The worker's last act, whatever ended it: no more grants, relay off."""
        self._refuse_grants(why)
        self._set_online(False, why)
        client, self._client = self._client, None
        try:
            relocked = self._relock_before(time.monotonic() + self.close_budget_s, client)
        except BaseException:  # even now, the outcome must be recorded
            relocked = False
            log.exception("gate on %s: relocking at the end", self.config.port)
        self._relocked_at_end = relocked
        if not relocked and not self._stop.is_set():  # when closing, close() says it
            log.error(
                "gate on %s: the relay may still be on: the module did not confirm the relock",
                self.config.port,
            )
        self._end_grants(why)

    def _refuse_grants(self, why: str) -> None:
        with self._lock:
            if self._accepting is None:
                self._accepting = why

    def _relock_before(self, deadline: float, client: Any) -> bool:
        """Write the coil off until the module confirms it or `deadline` passes (at least one
        attempt). Used at the end, from the worker or from close(); closes the client."""
        while True:
            try:
                if client is None:
                    client = self._connect()
                self._write_coil(client, False)
            except Exception as exc:  # best effort: the process may be ending
                log.info("gate on %s: relock attempt failed: %s", self.config.port, exc)
                _close_quietly(client)
                client = None
            else:
                _close_quietly(client)
                self._relock_pending = self._coil_maybe_on = False
                return True
            if time.monotonic() + 0.05 >= deadline:
                return False
            time.sleep(0.05)

    def _connect(self) -> Any:
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
            trace_packet=self._trace,
        )
        if not client.connect():
            check_port(c.port, "gate")  # pymodbus only logs why: open it again to learn it
            raise DeviceError(f"cannot open {c.port}", "check [gate] port")
        if c.rs485:
            import serial.rs485

            try:
                client.socket.rs485_mode = serial.rs485.RS485Settings(
                    rts_level_for_tx=True, rts_level_for_rx=False
                )
            except Exception as exc:  # pyserial raises ValueError or a bare OS-level error
                client.close()
                raise DeviceError(
                    f"{c.port} does not support kernel RS-485 mode",
                    "set [gate] rs485 = false for adapters that switch direction themselves",
                    fault=DeviceFault.WRONG_KIND,
                    detail=str(exc),
                ) from None
        return client

    def _trace(self, sending: bool, data: bytes) -> bytes:
        """pymodbus hands here each frame it sends and its receive buffer so far."""
        if sending:
            self._sent, self._sent_at, self._heard = data, time.monotonic(), b""
        elif len(data) > len(self._heard):
            self._heard = data
        return data

    def _answer(self) -> bytes:
        """The last answer as it came over the line, an adapter's echo of the request cut."""
        heard = self._heard
        if self._sent and heard.startswith(self._sent):
            heard = heard[len(self._sent) :]
        return heard

    def _fault(self, exc: Exception) -> Any:
        """Offline with the reason, grants ended, the client closed — except after a request
        that met plain silence: that client is returned open, for `_listen`."""
        error = self._diagnosed(exc)
        if error is None:  # a bug, or an answer nobody foresaw: logged in full, and it goes on
            reason = f"internal error ({_described(exc)})"
            if reason != self._last_error:
                log.exception("gate on %s: %s; relocking and retrying", self.config.port, reason)
        else:
            reason = str(error)
            if error.detail:
                log.info("gate on %s: %s (%s)", self.config.port, reason, error.detail)
        self._last_error = reason
        self._set_online(False, reason, error)
        client, self._client = self._client, None
        self._relock_pending, self._coil_off_at = True, None  # as soon as the line answers
        self._end_grants(reason)
        if error is not None and error.fault in (DeviceFault.SILENT, DeviceFault.SLOW):
            return client
        _close_quietly(client)
        return None

    def _diagnosed(self, exc: Exception) -> DeviceError | None:
        from pymodbus import ModbusException
        from pymodbus.exceptions import ConnectionException, ModbusIOException

        c = self.config
        if isinstance(exc, DeviceError):
            return exc
        if isinstance(exc, ModbusIOException):  # nothing usable came back in time
            heard = self._answer()
            if not heard:
                if self._late_s is not None:  # answers came late lately: likely late again
                    return modbus_faults.late(c, self._late_s)
                return modbus_faults.silence(c)
            if modbus_faults.crc_ok(heard):
                return modbus_faults.mismatch(c, heard)
            return modbus_faults.garbled(c, heard)
        if isinstance(exc, ConnectionException | OSError):
            return modbus_faults.line_failed(c, _described(exc))
        if isinstance(exc, ModbusException):
            return modbus_faults.line_failed(c, _plain(exc))
        return None

    def _listen(self, client: Any, seconds: float) -> float:
        """A request met silence: until the next attempt (`seconds`), watch whether its answer
        comes late — a slow module, not a silent one. Closes the client; returns the time
        spent. Stops at once when the gate closes."""
        started = time.monotonic()
        try:
            while not self._stop.wait(LISTEN_STEP_S):
                if _waiting(client):
                    self._late_s, self._late_misses = time.monotonic() - self._sent_at, 0
                    error = modbus_faults.late(self.config, self._late_s)
                    self._set_online(False, str(error), error)
                    break
                if time.monotonic() - started >= seconds:
                    if self._late_s is not None:
                        self._late_misses += 1
                        if self._late_misses >= LATE_MISSES:  # no longer late: silent
                            self._late_s = None
                            error = modbus_faults.silence(self.config)
                            self._set_online(False, str(error), error)
                    break
        finally:
            _close_quietly(client)
        return time.monotonic() - started

    def _end_grants(self, why: str) -> None:
        """Every grant not yet ended gets its one outcome: dropped."""
        for _ in self._windows:
            self._signal(GateEvent.DROPPED, f"grant cut short: {why}")
        self._windows.clear()
        if self._grant_in_hand:
            self._drop(why)
        while True:
            try:
                command, _ = self._commands.get_nowait()
            except queue.Empty:
                return
            if command == _GRANT:
                self._signal(GateEvent.DROPPED, f"grant dropped: {why}")

    def _drop(self, why: str) -> None:
        self._grant_in_hand = False
        self._signal(GateEvent.DROPPED, f"grant dropped: {why}")

    def _step(self, client: Any) -> None:
        now = time.monotonic()
        wake = now + self.config.poll_ms / 1000
        if self._coil_off_at is not None:
            wake = min(wake, self._coil_off_at)
        try:
            command, posted = self._commands.get(timeout=max(0.0, wake - now))
        except queue.Empty:
            command, posted = _WAKE, now
        c, now = self.config, time.monotonic()
        if self._stop.is_set():  # closing: what is left is ended by _finish
            if command == _GRANT:
                self._signal(GateEvent.DROPPED, "grant dropped: the gate is closed")
            return
        if command == _GRANT:
            self._grant_in_hand = True
            if now - posted > c.grant_max_age_s:
                self._drop("it could not be carried out in time")
            elif not self._online:
                self._drop("gate offline")
            else:
                self._unlock(client, now)
        elif command == _DENY and c.mode == "level" and self._coil_off_at is not None:
            self._coil_off_at = now  # relock right away
        self._relock_if_due(client)
        self._poll_inputs(client, now)

    def _unlock(self, client: Any, now: float) -> None:
        c = self.config
        self._grant_in_hand = False
        self._windows.append(now + c.passage_window_s)
        hold = c.pulse_ms / 1000 if c.mode == "pulse" else c.passage_window_s
        self._coil_off_at = now + hold  # finite: validated
        # owed before the write: the module may act on it even if its answer is lost
        self._relock_pending = self._coil_maybe_on = True
        self._write_coil(client, True)

    def _relock_if_due(self, client: Any) -> None:
        if not self._relock_pending:
            return
        if self._coil_off_at is not None and time.monotonic() < self._coil_off_at:
            return
        self._write_coil(client, False)
        self._relock_pending = self._coil_maybe_on = False
        self._coil_off_at = None

    def _write_coil(self, client: Any, on: bool) -> None:
        c = self.config
        if on:
            if self._stop.is_set():  # closing: an unlock held up until now never goes out
                raise DeviceError("gate: closing, the unlock is not sent")
            self._on_frames += 1
        reply = client.write_coil(c.unlock_coil, on, device_id=c.unit)
        if reply.isError():
            raise modbus_faults.refused_coil(c, getattr(reply, "exception_code", None))
        # FC05 answers with an echo: a stale or foreign answer is no confirmation
        if reply.function_code != 5 or reply.address != c.unlock_coil or reply.bits[:1] != [on]:
            raise modbus_faults.mismatch(c, self._answer())

    def _poll_inputs(self, client: Any, now: float) -> None:
        c = self.config
        wanted = {"passed": c.passed_input, "alarm": c.alarm_input, "ready": c.ready_input}
        numbers = {k: v for k, v in wanted.items() if v is not None}
        first = min(numbers.values())
        count = max(numbers.values()) - first + 1
        reply = client.read_discrete_inputs(first, count=count, device_id=c.unit)
        if reply.isError():
            code = getattr(reply, "exception_code", None)
            raise modbus_faults.refused_inputs(c, code, first, first + count - 1)
        if reply.function_code != 2 or len(reply.bits) < count:
            raise modbus_faults.mismatch(c, self._answer())
        bits = reply.bits
        inputs = {k: bool(bits[v - first]) != c.inputs_active_low for k, v in numbers.items()}
        # Reached only with the relock confirmed since the last (re)connect: _serve relocks
        # first, and a failed relock raises.
        if inputs.get("ready", True):
            self._set_online(True, "")
        else:
            not_ready = modbus_faults.not_ready()
            self._set_online(False, str(not_ready), not_ready)
        before = self._last_inputs
        self._last_inputs = inputs
        if before is not None:
            if inputs["passed"] and not before["passed"]:
                if self._windows:
                    self._windows.pop(0)  # one grant, one passage
                    self._signal(GateEvent.PASSED)
                    if c.mode == "level" and not self._windows and self._coil_off_at is not None:
                        self._coil_off_at = now  # relock right away
                else:
                    self._signal(GateEvent.ALARM, "passage without a grant")
            if inputs.get("alarm") and not before.get("alarm"):
                self._signal(GateEvent.ALARM, "the turnstile's alarm input is active")
        while self._windows and now > self._windows[0]:
            self._windows.pop(0)
            self._signal(GateEvent.TIMEOUT, "nobody passed within the passage window")

    def _set_online(self, online: bool, detail: str, error: DeviceError | None = None) -> None:
        if online == self._online and (online or detail == self._offline_detail):
            return
        self._online = online
        self._offline_detail = "" if online else detail
        if not online:
            self.online = False  # before the signal: nobody reads "online" after "offline"
        self._signal(GateEvent.ONLINE if online else GateEvent.OFFLINE, detail, error)
        self.online = online  # after it: whoever sees online=True finds the signal queued

    def _signal(self, event: GateEvent, detail: str = "", error: DeviceError | None = None) -> None:
        log.info("gate %s %s", event.value, detail)
        self.signals.put(GateSignal.now(event, detail, error))


def _waiting(client: Any) -> bool:
    """Bytes have arrived on the client's port (False once the port is gone)."""
    try:
        return bool(client.socket is not None and client.socket.in_waiting)
    except Exception:  # pyserial raises OSError, SerialException or termios.error
        return False


def _close_quietly(client: Any) -> None:
    if client is None:
        return
    try:
        client.close()
    except Exception:  # closing a port that already failed
        log.debug("gate: closing the port", exc_info=True)


def _described(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _plain(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("Modbus Error: ", "").strip()
