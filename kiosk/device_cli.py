"""`kiosk device list` and `kiosk device test gate|printer|reader`: a technician's checks.

Each test prints what happened in plain words and exits non-zero on failure. `--simulate`
runs the same code against the device's simulator on a pty wire, optionally made faulty.
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

from kiosk.config import DeviceConfig, load_device_config
from kiosk.errors import EXIT_DEVICE, EXIT_OK, EXIT_REJECTED, ConfigError, DeviceError

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


def _came_online(signals: queue.Queue[Any], timeout: float, name: str) -> bool:
    """Wait for ONLINE, printing any other signal (why it is not online yet) as it comes."""
    from firmware_bridge.gate import GateEvent

    deadline = time.monotonic() + timeout
    while (signal := _wait(signals, deadline)) is not None:
        if signal.event is GateEvent.ONLINE:
            return True
        waiting = signal.detail.startswith("starting:")  # the relock is being confirmed
        print(f"{'…' if waiting else '✗'} {name}: {signal.event.value}: {signal.detail}")
    return False


def _test_gate(config: DeviceConfig, timeout: float) -> int:
    from firmware_bridge.gate import GateEvent
    from firmware_bridge.modbus_gate import ModbusGate

    if config.gate is None:
        raise ConfigError(f"{config.path}: [gate] type is {config.gate_type!r}, not 'modbus'")
    gate = ModbusGate(config.gate)
    try:
        if not _came_online(gate.signals, timeout, "gate"):
            print(
                f"✗ the relay module on {config.gate.port} did not answer within {timeout:g} s;"
                " check wiring, unit id, baud rate and termination"
            )
            return EXIT_DEVICE
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
        printer.print_pass(PassSlip("TEST PRINT", "test", 0, datetime.now()))
        print("✓ a test pass was sent: check that it printed and was cut")
        return EXIT_OK
    except DeviceError as exc:
        print(f"✗ {exc}")
        return EXIT_DEVICE
    finally:
        printer.close()


def _test_reader(config: DeviceConfig, timeout: float) -> int:
    from firmware_bridge.osdp_reader import OsdpReader

    if config.reader is None:
        raise ConfigError(f"{config.path}: [gate] type is not 'osdp' (no [reader])")
    reader = OsdpReader(config.reader)
    try:
        if not _came_online(reader.signals, timeout, "reader"):
            print(
                f"✗ no secure session with the panel at address {config.reader.address} "
                f"within {timeout:g} s: check wiring, address, baud rate and the SCBK"
            )
            return EXIT_DEVICE
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
        if args.device == "gate":
            return _test_gate(config, args.timeout)
        if args.device == "printer":
            return _test_printer(config)
        return _test_reader(config, args.timeout)


def add_parser(sub: Any) -> None:
    from kiosk.config import DEFAULT_PATH

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
