"""The kiosk as an OSDP reader (Peripheral Device) on an access-control panel's RS-485 bus.

On an accepted card the kiosk reports a card read; the panel decides and opens the door, and
drives the kiosk's LED, buzzer, output and text through OSDP commands. The reader is a
deciding gate (`decides`): the panel's LED colour after a card read is its verdict, signalled
as GRANTED (green) or REFUSED (red); no verdict within `verdict_timeout_s` is a TIMEOUT, and a
read cut short by a lost session is DROPPED — so every grant has exactly one outcome, and the
screen says "go through" only on GRANTED. The commands themselves are kept in `commands`, the
latest `COMMANDS_KEPT` only (for diagnostics and `kiosk device test reader`). Secure channel is
always on, with the SCBK from the configuration.

What is reported as the card read (`credential` in config), a privacy trade-off:
- "site" (default): the same configured site credential for every accepted card. The panel
  learns only "a valid city card was shown here" — nothing links two visits.
- "serial": the card's own serial, so the panel can keep per-person rules. The panel's logs
  then track a resident across visits; only for sites whose policy requires it. A technician's
  test unlock (no card) reports `TEST_CREDENTIAL` there: the panel answers for it like for any
  unknown card, which is what the test shows.

Pitfalls handled (docs/notes/device-libraries.md): card data goes as `CardFormat.Unspecified`
(libosdp silently drops ASCII); the kiosk declares exactly the capabilities it answers for
(anything else NAKs and the panel takes the reader offline for 300 s); the command handler
only queues (submitting an event from inside it deadlocks libosdp).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from firmware_bridge.errors import DeviceError, DeviceFault
from firmware_bridge.gate import TEST_GRANT, GateEvent, GateSignal, Grant
from firmware_bridge.ports import line_errors, open_port

log = logging.getLogger(__name__)
MAX_CARD_BYTES = 64  # libosdp's limit for one card read
COMMANDS_KEPT = 16  # the panel's latest commands; older ones are dropped, nobody must read them
TEST_CREDENTIAL = bytes(8)  # a technician's test read at a serial-credential site


@dataclass(frozen=True)
class OsdpReaderConfig:
    port: str
    scbk: bytes = field(repr=False)  # 16-byte secure channel base key
    address: int = 101
    baudrate: int = 9600
    credential: Literal["site", "serial"] = "site"
    site_credential: bytes = field(default=b"", repr=False)
    verdict_timeout_s: float = 3.0  # how long the panel may take to answer a card read

    def validate(self) -> None:
        if len(self.scbk) != 16:
            # libosdp treats any other length as "no key" (install mode): refuse instead
            raise DeviceError("reader scbk must be 16 bytes (32 hex characters)")
        if not 0 <= self.address <= 126:
            raise DeviceError("reader address must be 0..126")
        if self.credential == "site" and not 1 <= len(self.site_credential) <= MAX_CARD_BYTES:
            raise DeviceError("reader site_credential must be 1..64 bytes when credential='site'")
        timeout = self.verdict_timeout_s
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or not 0.5 <= timeout <= 30
        ):
            raise DeviceError(f"reader verdict_timeout_s must be seconds, 0.5..30, not {timeout!r}")


@dataclass(frozen=True)
class PanelCommand:
    kind: str  # "led" | "buzzer" | "output" | "text" | "keyset"
    verdict: str  # "granted" | "denied" | "" — what the screen may show
    detail: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0


def _verdict(command: dict[str, Any]) -> str:
    from osdp import CommandLEDColor

    if command.get("command") == 2:  # LED
        color = command.get("on_color")
        if color == CommandLEDColor.Green:
            return "granted"
        if color == CommandLEDColor.Red:
            return "denied"
    return ""


class _SerialChannel:
    """libosdp's channel on the kiosk's pyserial port: non-blocking read, real flush. `heard`
    is set once any byte arrives (a panel that polls, even in garbage, is on the line)."""

    def __init__(self, port: str, baudrate: int, heard: threading.Event) -> None:
        from osdp import Channel

        class Channel_(Channel):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.port = open_port(port, "reader", baudrate=baudrate, timeout=0)
                self.failed = False

            def read(self, max_read: int) -> bytes:
                try:
                    data = bytes(self.port.read(max_read))
                except line_errors():
                    self.failed = True
                    return b""
                if data:
                    heard.set()
                return data

            def write(self, data: bytes) -> int:
                try:
                    return int(self.port.write(data))
                except line_errors():
                    self.failed = True
                    return 0

            def flush(self) -> None:
                try:
                    self.port.reset_input_buffer()
                except line_errors():
                    self.failed = True

        self.channel = Channel_()


KINDS = {1: "output", 2: "led", 3: "buzzer", 4: "text", 5: "keyset"}


class OsdpReader:
    """A deciding Gate for panel sites: `grant()` reports the card read; the panel decides."""

    decides = True

    def __init__(self, config: OsdpReaderConfig) -> None:
        config.validate()
        self.config = config
        self.signals: queue.Queue[GateSignal] = queue.Queue()
        self.commands: queue.Queue[PanelCommand] = queue.Queue(COMMANDS_KEPT)
        self._verdicts: queue.Queue[str] = queue.Queue(COMMANDS_KEPT)  # handler -> worker
        self._reads: queue.Queue[bytes] = queue.Queue()
        self._awaiting: list[float] = []  # verdict deadlines of the reads sent, oldest first
        self._stop = threading.Event()
        self._heard = threading.Event()  # any byte from the panel, ever
        # out of service until the panel's secure session is up: a card read before it would
        # only be dropped
        self._emit(GateEvent.OFFLINE, "starting: no secure session with the panel yet")
        self._thread = threading.Thread(target=self._run, name="osdp-reader", daemon=True)
        self._thread.start()

    def grant(self, grant: Grant = TEST_GRANT) -> None:
        """Report a card read: the site credential, or (credential = "serial") the card's own
        serial, `TEST_CREDENTIAL` for a test. The panel's verdict comes as a signal."""
        if self.config.credential == "site":
            self._reads.put(self.config.site_credential)
        else:
            serial = TEST_CREDENTIAL if grant.serial is None else grant.serial
            self._reads.put(serial[:MAX_CARD_BYTES])

    def deny(self) -> None:
        """Nothing is reported to the panel for a rejected card: it stays a local screen."""

    def _open(self) -> tuple[Any, Any]:
        from osdp import Capability, LibFlag, LogLevel, PDCapabilities, PDInfo, PeripheralDevice

        c = self.config
        wire = _SerialChannel(c.port, c.baudrate, self._heard)
        capabilities = PDCapabilities(
            [
                (Capability.CardDataFormat, 1, 1),
                (Capability.LEDControl, 1, 1),
                (Capability.AudibleControl, 1, 1),
                (Capability.TextOutput, 1, 1),
                (Capability.OutputControl, 1, 1),
            ]
        )
        info = PDInfo(
            c.address,
            wire.channel,
            scbk=c.scbk,
            flags=[LibFlag.EnforceSecure],
            name="citycard-kiosk",
        )
        pd = PeripheralDevice(
            info, capabilities, log_level=LogLevel.Error, command_handler=self._on_command
        )
        pd.start()
        return pd, wire.channel

    def why_offline(self) -> DeviceError:
        """Why no secure session came up, from what arrived on the line."""
        c = self.config
        if self._heard.is_set():
            return DeviceError(
                "bytes arrive from the panel, but no secure session came up",
                f"check [reader] address ({c.address}), scbk and baudrate ({c.baudrate}) "
                "against the panel's settings for this reader",
                fault=DeviceFault.GARBLED,
            )
        return DeviceError(
            f"nothing arrives from the panel on {c.port}",
            "check the wiring (A+ and B- not swapped, GND), that the panel is on and polls a "
            f"reader at address {c.address}, and [reader] baudrate ({c.baudrate})",
            fault=DeviceFault.SILENT,
        )

    def _on_command(self, command: dict[str, Any]) -> tuple[int, None]:
        kind = KINDS.get(int(command.get("command", 0)), "other")
        detail = {k: v for k, v in command.items() if k not in ("command", "data")}
        if kind == "text":
            detail["text"] = str(command.get("data", ""))
        panel_command = PanelCommand(kind, _verdict(command), detail, time.monotonic())
        _keep_latest(self.commands, panel_command)
        if panel_command.verdict:
            _keep_latest(self._verdicts, panel_command.verdict)
        return 0, None  # ACK at once: the panel waits 200 ms, and a NAK takes us offline

    def _run(self) -> None:
        from osdp import CardFormat, Event

        online = False
        delay = 0.5
        while not self._stop.is_set():
            try:
                pd, channel = self._open()
            except DeviceError as exc:
                self._emit(GateEvent.OFFLINE, str(exc), exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.5
            try:
                while not self._stop.is_set() and not channel.failed:
                    up = bool(pd.is_online() and pd.is_sc_active())
                    if up != online:
                        online = up
                        if not up:
                            self._cut_short("no secure session with the panel")
                        self._emit(
                            GateEvent.ONLINE if up else GateEvent.OFFLINE,
                            "" if up else "no secure session with the panel",
                        )
                    self._take_verdicts()
                    try:
                        data = self._reads.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if not online:
                        self._emit(GateEvent.DROPPED, "card read dropped: panel offline")
                        continue
                    _drain(self._verdicts)  # what the panel said before this read is not about it
                    self._awaiting.append(time.monotonic() + self.config.verdict_timeout_s)
                    pd.submit_event(
                        {
                            "event": Event.CardRead,
                            "reader_no": 0,
                            "direction": 0,
                            "format": CardFormat.Unspecified,
                            "length": len(data) * 8,
                            "data": data,
                        }
                    )
            finally:
                pd.teardown()
            self._cut_short("the reader's serial line failed")
            if online:
                online = False
                self._emit(GateEvent.OFFLINE, "the reader's serial line failed")
        self._cut_short("the reader is closed")

    def _take_verdicts(self) -> None:
        """The panel's answers, oldest read first; a read unanswered in time is a TIMEOUT."""
        while True:
            try:
                verdict = self._verdicts.get_nowait()
            except queue.Empty:
                break
            if self._awaiting:  # else the panel set its LEDs on its own: not a verdict
                self._awaiting.pop(0)
                granted = verdict == "granted"
                self._emit(GateEvent.GRANTED if granted else GateEvent.REFUSED, f"panel: {verdict}")
        now = time.monotonic()
        while self._awaiting and now > self._awaiting[0]:
            self._awaiting.pop(0)
            self._emit(GateEvent.TIMEOUT, "the panel gave no verdict on the card read")

    def _cut_short(self, why: str) -> None:
        for _ in self._awaiting:
            self._emit(GateEvent.DROPPED, f"card read cut short: {why}")
        self._awaiting.clear()

    def _emit(self, event: GateEvent, detail: str = "", error: DeviceError | None = None) -> None:
        log.info("reader %s %s", event.value, detail)
        self.signals.put(GateSignal.now(event, detail, error))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)


def _keep_latest(box: queue.Queue[Any], item: Any) -> None:
    """Put, dropping the oldest when full (only ever called from libosdp's one thread)."""
    while True:
        try:
            box.put_nowait(item)
            return
        except queue.Full:
            _drain(box, 1)


def _drain(box: queue.Queue[Any], most: int | None = None) -> None:
    taken = 0
    while most is None or taken < most:
        try:
            box.get_nowait()
        except queue.Empty:
            return
        taken += 1
