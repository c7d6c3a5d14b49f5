"""`kiosk device list` and `kiosk device test gate|printer|reader`: a technician's checks.

Each test prints what happened in plain words and exits non-zero on failure: a failure is
one ✗ line, its own sentence and what to do (a second, indented "detail:" line may keep the
driver's words). A port that cannot be opened fails at once, before any device is started.
`--simulate` runs the same code against the device's simulator on a pty wire, optionally
made faulty.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import queue
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_bridge.errors import DeviceError
from kiosk.app.config import DeviceConfig, load_device_config
from kiosk.app.hardware import kiosk_error
from kiosk.core.errors import EXIT_DEVICE, EXIT_OK, EXIT_REJECTED, ConfigError

FAULTS = ("none", "silent", "garbled", "slow", "paper-out", "cover-open", "no-passage")


def cmd_device_list(args: argparse.Namespace) -> int:
    from serial.tools import list_ports

    ports = list_ports.comports(include_links=True)
    if not ports:
        print("no serial ports found")
    for port in sorted(ports, key=lambda p: p.device):
        usb = f"USB {port.vid:04x}:{port.pid:04x}" if port.vid is not None else "no USB ids"
        print(f"{port.device}  {usb}  {port.description or ''}".rstrip())
    by_id = Path("/dev/serial/by-id")
    if by_id.is_dir():
        print("stable names (use these in the config: they survive re-plugging):")
        for link in sorted(by_id.iterdir()):
            print(f"  {link} -> {link.resolve()}")
    return EXIT_OK


@contextlib.contextmanager
def _simulated(config: DeviceConfig, what: str, fault: str) -> Iterator[DeviceConfig]:
    """The config's device, replaced by its simulator at the end of a pty wire."""
    from firmware_bridge.simulators.wire import Wire

    with tempfile.TemporaryDirectory(prefix="kiosk-sim-") as tmp:
        wire = Wire(Path(tmp) / f"usb-simulated-{what}")
        if fault in ("silent", "garbled", "slow"):
            wire.fault = fault  # type: ignore[assignment]
        # "slow" answers 0.1 s after the configured timeout: surely late, yet soon heard
        if what == "gate" and config.gate is not None:
            wire.delay_s = config.gate.timeout_s + 0.1
        elif what == "printer" and config.printer is not None:
            wire.delay_s = config.printer.status_timeout_s + 0.1
        sim: Any = None
        try:
            if what == "gate":
                from firmware_bridge.simulators.turnstile import TurnstileModule

                gate = dataclasses.replace(config.gate, port=wire.kiosk_path)
                sim = TurnstileModule(
                    wire.device_path,
                    unit=gate.unit,
                    unlock_coil=gate.unlock_coil,
                    passed_input=gate.passed_input,
                    alarm_input=gate.alarm_input or 15,
                    ready_input=gate.ready_input or 14,
                )
                sim.visitor_walks = fault != "no-passage"
                config = dataclasses.replace(config, gate=gate)
            elif what == "printer":
                from firmware_bridge.simulators.receipt_printer import ReceiptPrinter

                sim = ReceiptPrinter(wire.device_path)
                sim.paper = "out" if fault == "paper-out" else "ok"
                sim.cover_open = fault == "cover-open"
                config = dataclasses.replace(
                    config, printer=dataclasses.replace(config.printer, port=wire.kiosk_path)
                )
            else:
                from firmware_bridge.simulators.access_panel import AccessPanel

                reader = dataclasses.replace(config.reader, port=wire.kiosk_path)
                sim = AccessPanel(
                    wire.device_path,
                    reader.scbk,
                    reader.address,
                    granted=frozenset({reader.site_credential}),
                )
                config = dataclasses.replace(config, reader=reader)
            yield config
        finally:
            if sim is not None:
                sim.close()
            wire.close()


def _wait(signals: queue.Queue[Any], until: float) -> Any:
    try:
        return signals.get(timeout=max(0.0, until - time.monotonic()))
    except queue.Empty:
        return None


def _came_online(signals: queue.Queue[Any], timeout: float) -> tuple[bool, Any]:
    """Wait for ONLINE: (True, None); else (False, the last signal saying why not). A reason
    retrying cannot fix (a missing port, a refused coil) ends the wait at once."""
    from firmware_bridge.gate import GateEvent

    deadline = time.monotonic() + timeout
    last = None
    while (signal := _wait(signals, deadline)) is not None:
        if signal.event is GateEvent.ONLINE:
            return True, None
        last = signal
        if signal.error is not None and signal.error.fault and signal.error.fault.lasting:
            break
    return False, last


def _failed(error: DeviceError, name: str = "") -> int:
    """One ✗ line: the sentence and what to do; the driver's words, if any, indented below."""
    print(f"✗ {name + ': ' if name else ''}{error.advice()}")
    if error.detail:
        print(f"  detail: {error.detail}")
    return kiosk_error(error).exit_code


def _test_gate(config: DeviceConfig, timeout: float) -> int:
    from firmware_bridge.gate import GateEvent
    from firmware_bridge.modbus_gate import ModbusGate
    from firmware_bridge.ports import check_port

    if config.gate is None:
        raise ConfigError(f"{config.path}: [gate] type is {config.gate_type!r}, not 'modbus'")
    check_port(config.gate.port, "gate")  # a missing or busy port: said now, not in 5 s
    gate = ModbusGate(config.gate)
    try:
        online, last = _came_online(gate.signals, timeout)
        if not online:
            if last is not None and last.error is not None:
                return _failed(last.error, "gate")
            return _failed(
                DeviceError(
                    f"the relay module on {config.gate.port} did not come online within "
                    f"{timeout:g} s",
                    "try a longer --timeout; the relay must be confirmed off first",
                ),
                "gate",
            )
        print(f"✓ the relay module answers (unit {config.gate.unit}); pulsing the unlock coil")
        started = time.monotonic()
        gate.grant()
        deadline = started + config.gate.passage_window_s + 1
        while (signal := _wait(gate.signals, deadline)) is not None:
            if signal.event is GateEvent.PASSED:
                print(f"✓ someone passed {time.monotonic() - started:.1f} s after the unlock")
                return EXIT_OK
            if signal.event is GateEvent.TIMEOUT:
                print(
                    f"✗ the gate was unlocked but nobody passed within "
                    f"{config.gate.passage_window_s:g} s: walk through during the test, or "
                    "check the turnstile's 'passed' output wiring"
                )
                return EXIT_REJECTED
            if signal.error is not None:
                return _failed(signal.error, "gate")
            print(f"✗ gate: {signal.event.value}: {signal.detail}")
            if signal.event is GateEvent.OFFLINE:
                return EXIT_DEVICE
        print("✗ no passage and no timeout reported")
        return EXIT_REJECTED
    finally:
        gate.close()


def _test_printer(config: DeviceConfig) -> int:
    from firmware_bridge.escpos_printer import EscposPrinter, PassSlip

    if config.printer is None:
        raise ConfigError(f"{config.path}: [printer] type is not 'escpos'")
    printer = EscposPrinter(config.printer)
    try:
        status = printer.status()
        print(
            f"✓ the printer answers: paper {status.paper}, cover "
            f"{'open' if status.cover_open else 'closed'}"
        )
        if status.paper == "near_end":
            print("⚠ the paper is near its end: load a new roll soon")
        printer.print_pass(PassSlip("TEST PRINT", "test", 0, datetime.now()))
        print("✓ a test pass was sent: check that it printed and was cut")
        return EXIT_OK
    except DeviceError as exc:  # its messages start with "printer: "
        return _failed(exc)
    finally:
        printer.close()


def _test_reader(config: DeviceConfig, timeout: float) -> int:
    from firmware_bridge.osdp_reader import OsdpReader
    from firmware_bridge.ports import check_port

    if config.reader is None:
        raise ConfigError(f"{config.path}: [gate] type is not 'osdp' (no [reader])")
    check_port(config.reader.port, "reader")
    reader = OsdpReader(config.reader)
    try:
        online, last = _came_online(reader.signals, timeout)
        if not online:
            error = last.error if last is not None and last.error is not None else None
            return _failed(error or reader.why_offline(), "reader")
        print("✓ secure session with the panel; sending a test card read")
        reader.grant()  # a test read: the site credential, or TEST_CREDENTIAL
        deadline = time.monotonic() + 3
        answers = []
        while (command := _wait(reader.commands, deadline)) is not None:
            answers.append(command)
        if not answers:
            print("✗ the panel did not answer the card read (is the credential enrolled?)")
            return EXIT_REJECTED
        for command in answers:
            extra = f" ({command.verdict})" if command.verdict else ""
            print(f"  panel sent {command.kind}{extra}")
        granted = any(c.verdict == "granted" for c in answers)
        print(
            "✓ the panel granted the test read" if granted else "✗ the panel denied the test read"
        )
        return EXIT_OK if granted else EXIT_REJECTED
    finally:
        reader.close()


def cmd_device_test(args: argparse.Namespace) -> int:
    # pymodbus logs every retry to the terminal; the test's own lines say what matters
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    config = load_device_config(args.config)
    configured = {
        "gate": config.gate is not None,
        "printer": config.printer is not None,
        "reader": config.reader is not None,
    }
    if not configured[args.device]:
        section = "[gate] type = 'modbus'" if args.device == "gate" else f"[{args.device}]"
        raise ConfigError(f"{args.config}: no {args.device} configured (needs {section})")
    if args.simulate is not None and args.simulate not in FAULTS:
        raise ConfigError(f"--simulate takes one of {FAULTS}")
    context = (
        _simulated(config, args.device, args.simulate)
        if args.simulate is not None
        else contextlib.nullcontext(config)
    )
    with context as config:
        try:
            if args.device == "gate":
                return _test_gate(config, args.timeout)
            if args.device == "printer":
                return _test_printer(config)
            return _test_reader(config, args.timeout)
        except DeviceError as exc:  # the port did not open: nothing was started
            return _failed(exc, args.device)


def add_parser(sub: Any) -> None:
    from kiosk.app.config import DEFAULT_PATH

    device = sub.add_parser("device", help="serial devices: list ports, test gate/printer/reader")
    device_sub = device.add_subparsers(dest="device_command", required=True)
    listing = device_sub.add_parser("list", help="serial ports, with stable by-id names")
    listing.set_defaults(func=cmd_device_list)
    test = device_sub.add_parser(
        "test", help="pulse the gate, print a test pass, or send a test card read to the panel"
    )
    test.add_argument("device", choices=["gate", "printer", "reader"])
    test.add_argument("--config", type=Path, default=DEFAULT_PATH)
    test.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS")
    test.add_argument(
        "--simulate",
        nargs="?",
        const="none",
        metavar="FAULT",
        help=f"use the device's simulator instead, optionally faulty: {FAULTS}",
    )
    test.set_defaults(func=cmd_device_test)
