"""Builds a running kiosk from its configuration: one function, every part passed in
explicitly (no singletons). Hardware modules are imported only for the parts configured."""

from __future__ import annotations

import logging
import queue
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from firmware_bridge.gate import Gate, NoGate
from kiosk.app.audit import Audit, Metrics
from kiosk.app.config import DeviceConfig, KioskConfig
from kiosk.app.loop import Kiosk
from kiosk.app.parts import Parts, Settings
from kiosk.core.policy import Mode
from kiosk.core.trust_state import TrustState
from kiosk.scan.pipeline import ScanEvent
from kiosk.scan.sources import build_scanner
from kiosk.ui.i18n import language

if TYPE_CHECKING:
    from kiosk.ui.voice import Prompts


def quiet_libraries() -> None:
    # pymodbus logs every retry at ERROR; the gate reports the same as offline/online signals
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def build_gate(devices: DeviceConfig) -> Gate:
    if devices.gate_type == "modbus":
        from firmware_bridge.modbus_gate import ModbusGate

        gate: Gate = ModbusGate(devices.gate)
        return gate
    if devices.gate_type == "osdp":
        from firmware_bridge.osdp_reader import OsdpReader

        reader: Gate = OsdpReader(devices.reader)
        return reader
    return NoGate()


def build_printer(devices: DeviceConfig) -> Any:
    if devices.printer_type != "escpos":
        return None
    from firmware_bridge.escpos_printer import EscposPrinter

    return EscposPrinter(devices.printer)


def prompts_for(config: KioskConfig) -> Prompts:
    """The prompts a configured kiosk speaks: its languages, its mode's words."""
    from kiosk.ui.voice import Prompts

    return Prompts(
        Path(config.trust.state_dir) / "voice",
        tuple(language(code) for code in config.site.languages),
        counter=config.site.mode == "counter",
    )


def settings_of(config: KioskConfig) -> Settings:
    return Settings(
        site=config.site.name,
        mode=Mode(config.site.mode),
        languages=tuple(language(code) for code in config.site.languages),
        staff_language=language(config.site.staff_language),
        policy=config.policy(),
        result_s=config.display.result_s,
        idle_cycle_s=config.display.idle_cycle_s,
        fps=config.display.fps,
        technician_pin=config.site.technician_pin,
        hold_during_result=config.site.hold_during_result,
        policies={mode: config.policy(mode) for mode in Mode},
    )


def build_kiosk(
    config: KioskConfig,
    out: TextIO,
    *,
    headless: bool = False,
) -> Kiosk:
    quiet_libraries()
    events: queue.Queue[ScanEvent] = queue.Queue()
    metrics = Metrics()
    closers = []
    if config.metrics.listen:
        server = metrics.serve(config.metrics.listen, config.metrics)
        closers.append(server.shutdown)
    from kiosk.ui.display import Display
    from kiosk.ui.sound import Sounds

    display = Display(config.display, headless=headless)
    prompts = prompts_for(config) if config.display.voice else None
    sounds = Sounds(config.display.volume, config.display.voice, prompts=prompts)
    if prompts is not None:
        closers.append(prompts.stop)
    sounds.start()  # espeak-ng works beside the loop, once per translation: tones meanwhile
    parts = Parts(
        scan_events=events,
        gate=build_gate(config.devices),
        trust=TrustState(
            Path(config.trust.state_dir), config.root_keys(), skew_s=config.policy().skew_s
        ),
        audit=Audit(out, config.site.name, config.site.mode),
        metrics=metrics,
        display=display,
        sounds=sounds,
        printer=build_printer(config.devices),
        scanner=build_scanner(config.camera, events),
        closers=closers,
    )
    return Kiosk(settings_of(config), parts)
