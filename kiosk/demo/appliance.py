"""`kiosk demo`: the whole appliance on any machine, with no hardware.

A specimen city is issued on the fly; its bundle is installed through the real trust state;
a synthetic camera shows the sample cards (rendered as photographs, decoded by the real
decoder chain); a gate site's turnstile is the Modbus simulator on a pty wire, while a
counter, like a real one, has no gate and prints passes on the receipt printer simulator.
The screens appear in a window, or headless (automatic without a display) the run prints
one line per event and saves each screen it showed as a PNG. In a window, keys 1–9 (and 0)
present the sample cards by hand.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from kiosk.app.audit import Audit, Metrics
from kiosk.app.loop import Kiosk
from kiosk.app.parts import Parts, Settings
from kiosk.app.wiring import quiet_libraries
from kiosk.core.errors import ConfigError
from kiosk.core.policy import Mode, Policy
from kiosk.core.trust_state import TrustState
from kiosk.demo import specimen
from kiosk.scan.frames import Frame
from kiosk.scan.pipeline import ScanEvent, Scanner, ScannerSettings
from kiosk.scan.synthetic import Conditions, card_texture, empty_frame, render_frame
from kiosk.ui.i18n import BY_CODE
from kiosk.ui.screens import Screen

DEMO_LANGUAGES = ("en", "es", "zh-Hans", "ar", "pl", "tl", "uk")
# What the scripted session must answer, sample by sample (kiosk.demo.specimen's order).
EXPECTED = [
    "ACCEPTED",
    "ACCEPTED",
    "POLICY_DENIED",
    "EXPIRED",
    "REVOKED",
    "SUSPENDED",
    "BAD_SIGNATURE",
    "UNKNOWN_KEY",
    "MALFORMED",
    "ACCEPTED",
    "PASSBACK",
]
SIZE = (960, 540)
BANNER = {
    "gate": "CityCard Kiosk demo — specimen city, simulated camera and turnstile",
    "counter": "CityCard Kiosk demo — specimen city counter, simulated camera and pass printer",
}
SITE = {
    "gate": "Specimen City Library, main entrance (demo)",
    "counter": "Specimen City Library, service counter (demo)",
}
# A counter keeps no anti-passback: the last sample shows the same card accepted again.
COUNTER_LAST_LABEL = "library card again, 50 s later (a counter has no anti-passback)"


class HandCamera:
    """A synthetic camera that shows a card when asked: the demo's visitor."""

    name = "synthetic"

    def __init__(self, fps: float = 20.0, card_frames: int = 10, seed: int = 3) -> None:
        self.fps, self.card_frames = fps, card_frames
        self._asked: queue.Queue[str] = queue.Queue()
        self._rng = np.random.default_rng(seed)
        self._closed = threading.Event()

    def present(self, text: str) -> None:
        self._asked.put(text)

    def scanner(self, events: queue.Queue[ScanEvent]) -> Scanner:
        """The real scan pipeline (decoder chain, dedupe) reading this camera."""
        from kiosk.scan.decoder import DecoderChain

        return Scanner(
            events,
            camera=lambda: self,
            decoder=DecoderChain(),
            settings=ScannerSettings(dedupe_s=2.0),
            name=self.name,
        )

    def _cooperative(self) -> Conditions:
        look = Conditions.draw(self._rng)
        return replace(
            look,
            module_px=max(look.module_px, 3.5),
            tilt_deg=min(look.tilt_deg, 12),
            blur_sigma=min(look.blur_sigma, 0.6),
            motion_px=0.0,
            glare=0.0,
            noise=min(look.noise, 3.0),
        )

    def frames(self) -> Iterator[Frame]:
        period, seq = 1.0 / self.fps, 0
        while not self._closed.is_set():
            try:
                text = self._asked.get_nowait()
            except queue.Empty:
                text = None
            images: Iterable[np.ndarray]
            if text is None:
                images = [empty_frame(self._rng, SIZE)]
            else:
                texture, look = card_texture(text), self._cooperative()
                # Rendered one at a time: ten at once take seconds on a busy machine, long
                # enough for the scanner to call the camera stalled.
                images = (
                    render_frame(texture, self._rng, SIZE, look) for _ in range(self.card_frames)
                )
            for image in images:
                if self._closed.is_set():
                    return
                time.sleep(period)
                seq += 1
                yield Frame(image, time.monotonic(), seq)

    def close(self) -> None:
        self._closed.set()


class EventPrinter:
    """Audit lines turned into one readable line per event (the JSON goes to `jsonl`)."""

    def __init__(self, out: TextIO, jsonl: TextIO | None = None) -> None:
        self.out, self.jsonl = out, jsonl
        self.lines: list[dict[str, Any]] = []
        self._signal: str | None = None

    def write(self, text: str) -> int:
        for line in text.splitlines():
            record = json.loads(line)
            self.lines.append(record)
            if self.jsonl is not None:
                self.jsonl.write(line + "\n")
            clock = record["time"][11:19]
            if record["event"] == "scan":
                self.out.write(
                    f"{clock}  {record['outcome']:8} {record['reason']:14} → {record['action']}\n"
                )
            elif record["event"] == "gate":
                # The module reports offline at each connection attempt while it starts:
                # one line says it (each passage, though, is its own line).
                if not (record["signal"] == self._signal == "offline"):
                    self.out.write(f"{clock}  turnstile: {record['signal']}\n")
                self._signal = record["signal"]
            elif record["event"] == "device":
                detail = f" ({record['detail']})" if record.get("detail") else ""
                self.out.write(f"{clock}  {record['device']}: {record['state']}{detail}\n")
            elif record["event"] == "pass":
                detail = f" ({record['detail']})" if record.get("detail") else ""
                self.out.write(f"{clock}  pass {record['number']}: {record['state']}{detail}\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_demo(
    *,
    headless: bool | None = None,
    out: TextIO = sys.stdout,
    shots: Path | None = None,
    mode: str = "gate",
    pause_s: float = 1.5,
    result_s: float = 3.0,
) -> int:
    """Run the specimen session; returns 0 when every sample got the expected answer."""
    from firmware_bridge.gate import Gate, NoGate
    from firmware_bridge.simulators.wire import Wire
    from kiosk.ui.config import DisplayConfig
    from kiosk.ui.display import Display
    from kiosk.ui.sound import Sounds

    quiet_libraries()
    headless = (not has_display()) if headless is None else headless
    if headless and shots is None:
        shots = Path("demo-screens")
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="kiosk-demo-") as tmp:
        root = Path(tmp)
        city = specimen.build(root / "city", now)
        trust = TrustState(root / "state", [city.root_key])
        trust.import_bytes(city.bundle)
        closers: list[Any] = []
        gate: Gate = NoGate()
        turnstile = None
        printer = None
        if mode == "gate":
            from firmware_bridge.modbus_gate import ModbusGate, ModbusGateConfig
            from firmware_bridge.simulators.turnstile import TurnstileModule

            gate_wire = Wire(root / "usb-simulated-turnstile")
            turnstile = TurnstileModule(gate_wire.device_path)
            gate = ModbusGate(ModbusGateConfig(port=gate_wire.kiosk_path, ready_input=2))
            closers += [gate_wire.close, turnstile.close]
        else:
            from firmware_bridge.escpos_printer import EscposPrinter, PrinterConfig
            from firmware_bridge.simulators.receipt_printer import ReceiptPrinter

            printer_wire = Wire(root / "usb-simulated-printer")
            sim = ReceiptPrinter(printer_wire.device_path)
            printer = EscposPrinter(PrinterConfig(port=printer_wire.kiosk_path))
            closers += [printer_wire.close, sim.close]
        camera = HandCamera()
        events: queue.Queue[ScanEvent] = queue.Queue()
        scanner = camera.scanner(events)
        try:
            display = Display(
                DisplayConfig(driver="auto", size=SIZE, fullscreen=False), headless=headless
            )
        except ConfigError as exc:  # $DISPLAY set but no usable window system
            out.write(f"no window ({exc}): running headless\n")
            headless = True
            shots = shots or Path("demo-screens")
            display = Display(DisplayConfig(driver="dummy", size=SIZE), headless=True)
        closers.append(display.close)
        printer_out = EventPrinter(out)
        site = SITE[mode]
        # The demo's passback window is an hour, not the site default's minute: on a slow
        # machine (a Pi under load, arm64 under emulation) the eleventh card may come more
        # than a minute after the first, and must still show the passback refusal.
        window = {"passback_s": 3600} if Mode(mode) is Mode.GATE else {}
        policy = Policy.for_mode(Mode(mode), required_benefits=frozenset({"library"}), **window)
        settings = Settings(
            site=site,
            mode=Mode(mode),
            languages=tuple(BY_CODE[c] for c in DEMO_LANGUAGES),
            policy=policy,
            result_s=result_s,
            specimen=True,
        )
        parts = Parts(
            scan_events=events,
            gate=gate,
            trust=trust,
            audit=Audit(printer_out, site, mode),
            metrics=Metrics(),
            display=display,
            sounds=Sounds(volume=0.0 if headless else 0.5),
            printer=printer,
            scanner=scanner,
            closers=closers,
        )
        kiosk = Kiosk(settings, parts)
        saved: list[str] = []
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)

            last: list[object] = [None]

            def save(screen: Screen) -> None:
                # one picture per screen shown, not per countdown tick or idle language
                reason = getattr(screen, "reason", None)
                kind = (type(screen).__name__, reason, getattr(screen, "selected", None))
                if kind == last[0]:
                    return
                last[0] = kind
                name = f"{len(saved) + 1:02}-{type(screen).__name__.lower()}"
                if reason is not None:
                    name += f"-{reason.value.lower()}"
                display.save(str(shots / f"{name}.png"))
                saved.append(name)

            kiosk.on_shown = save
        samples = city.samples
        if mode == "counter":
            samples = (*samples[:-1], replace(samples[-1], label=COUNTER_LAST_LABEL))
        import pygame

        for number, sample in enumerate(samples[:10]):
            key = pygame.K_1 + number if number < 9 else pygame.K_0
            kiosk.key_handlers[key] = functools.partial(camera.present, sample.text)
        out.write(BANNER[mode] + "\n")
        stop = threading.Event()
        if headless:
            script = threading.Thread(
                target=_script,
                args=(kiosk, camera, samples, out, stop, pause_s, result_s),
                daemon=True,
            )
            script.start()
        else:
            out.write("keys 1–9 and 0 show a sample card; close the window to stop\n")
        kiosk.run(stop)
        if shots is not None:
            out.write(f"{len(saved)} screens saved in {shots}\n")
        scans = [r for r in printer_out.lines if r["event"] == "scan"]
        if turnstile is not None:
            out.write(
                f"{len(scans)} cards checked, turnstile unlocked {turnstile.unlocks} time(s)\n"
            )
        else:
            printed = [r for r in printer_out.lines if r["event"] == "pass"]
            passes = sum(1 for r in printed if r["state"] == "printed")
            out.write(f"{len(scans)} cards checked, {passes} pass(es) printed\n")
        if not headless:
            return 0  # shown by hand: whatever the visitor chose
        got = [r["reason"] for r in scans]
        wanted = EXPECTED if mode == "gate" else [*EXPECTED[:-1], "ACCEPTED"]  # no passback
        if got != wanted:
            out.write(f"unexpected: {got}\n   wanted: {wanted}\n")
            return 1
        return 0


def _script(
    kiosk: Kiosk,
    camera: HandCamera,
    samples: Any,
    out: TextIO,
    stop: threading.Event,
    pause_s: float,
    result_s: float,
) -> None:
    """Headless: show each sample card in turn, waiting for its result to finish."""
    try:
        time.sleep(pause_s)
        for sample in samples:
            out.write(f"— showing: {sample.label}\n")
            was_technician = kiosk.menu is not None
            before = sum(kiosk.counts.values())
            camera.present(sample.text)
            deadline = time.monotonic() + 8
            while sum(kiosk.counts.values()) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(result_s + pause_s)
            if kiosk.menu is not None and not was_technician:
                import pygame  # leave the technician menu as a technician would: Escape

                pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE))
                time.sleep(pause_s)
    finally:
        stop.set()
