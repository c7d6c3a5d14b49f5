"""`kiosk doctor`: one line per check, ✓ or ✗ and what to do, non-zero exit on failure.

Checks what a technician would check by hand: the config, the trust data and the clock, the
camera (frames arrive; brightness and focus are sane), the decoder (reads a code it makes
itself), the serial devices (the ports exist and open), the fonts, and disk space. A device
check that fails says its own cause and fix (no such port, no permission, in use...), naming
the path once.
"""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from firmware_bridge.errors import DeviceError as BridgeError
from firmware_bridge.errors import DeviceFault
from kiosk.app.config import KioskConfig, load_config
from kiosk.core.errors import EXIT_OK, EXIT_REJECTED, DeviceError, KioskError

MIN_FREE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    warn: bool = False  # passes, but asks the technician to act (⚠; the exit code stays 0)

    def line(self) -> str:
        mark = "✗" if not self.ok else "⚠" if self.warn else "✓"
        text = f"{mark} {self.name}: {self.detail}"
        return text + (f" — {self.fix}" if (not self.ok or self.warn) and self.fix else "")


def check_trust(config: KioskConfig, now: int) -> Iterator[Check]:
    from kiosk.core.trust import trust_report
    from kiosk.core.trust_state import TrustState

    pinned = ", ".join(k[:16] + "…" for k in config.trust.root_keys)
    try:
        store = TrustState(Path(config.trust.state_dir), config.root_keys()).load()
    except KioskError as exc:
        yield Check(
            "trust data",
            False,
            str(exc),
            "import data signed by a pinned root (`kiosk trust sync` or `kiosk trust import`)",
        )
        yield Check("trust roots", True, f"pinned: {pinned}")
        return
    if store is None:
        yield Check(
            "trust data",
            False,
            f"none in {config.trust.state_dir}",
            "run `kiosk trust sync` or `kiosk trust import FILE --config …`",
        )
        return
    report = trust_report(store, now)
    bundle = report["bundle"]
    stale = [
        lst["uri"]
        for lst in report["status_lists"]
        if lst["expires_in_s"] is not None and lst["expires_in_s"] < 0
    ]
    fresh = bundle["expires_in_s"] >= 0 and not stale
    yield Check(
        "trust data",
        fresh,
        f"bundle v{bundle['version']} ({bundle['age_s'] // 3600} h old), "
        f"{len(report['status_lists'])} status list(s)"
        + (f"; stale: {', '.join(stale)}" if stale else ""),
        "check the sync timer (`systemctl status kiosk-trust-sync.timer`) or bring a fresh bundle",
    )
    how = bundle["signer_trusted_as"]
    yield Check(
        "trust roots",
        True,
        f"bundle signed by root {bundle['signer_root'][:16]}… ({how}); pinned: {pinned}",
    )
    for problem in report["problems"]:
        yield Check(
            "trust store",
            True,
            problem,
            "import good trust data (`kiosk trust sync`) to replace it",
            warn=True,
        )
    yield Check(
        "clock",
        report["clock_ok"],
        "not behind the newest trust data"
        if report["clock_ok"]
        else "behind the clock floor "
        + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(store.clock_floor)),
        "set the time (NTP: `timedatectl set-ntp true`; without network, an RTC module)",
    )


def check_technician_pin(config: KioskConfig) -> Check:
    """A technician card is a QR code anyone can copy: where a gate is configured, the
    menu's test gate works only behind a PIN (kiosk/app/technician.py)."""
    pin = config.site.technician_pin
    fix = "set [site] technician_pin in kiosk.toml: 4-12 digits, not a guessable run"
    if config.devices.gate_type == "none":
        return Check("technician PIN", True, "set" if pin else "not set (no gate at this site)")
    if not pin:
        return Check(
            "technician PIN",
            True,
            "not set at a site with a gate: the menu's test gate is refused",
            fix,
            warn=True,
        )
    if _guessable(pin):
        return Check(
            "technician PIN", True, "guessable (one digit repeated, or a run)", fix, warn=True
        )
    return Check("technician PIN", True, "set (the test gate needs it)")


def _guessable(pin: str) -> bool:
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    return len(steps) <= 1 and steps <= {0, 1, 9}


def check_camera(config: KioskConfig, wait_s: float = 5.0) -> Iterator[Check]:
    camera = config.camera
    if camera.type == "serial-scanner":  # opened, as a folder or a plain file is "there" too
        from firmware_bridge.ports import check_port

        try:
            check_port(camera.path, "camera", "path")
        except BridgeError as exc:
            busy = exc.fault is DeviceFault.BUSY  # most likely the running kiosk holds it
            yield Check("scanner", busy, str(exc), exc.fix, warn=busy)
            return
        yield Check("scanner", True, f"serial-scanner at {camera.path} opens")
        return
    if camera.type == "hid-scanner":
        path = Path(camera.path)
        exists = path.exists() or "://" in camera.path
        yield Check(
            "scanner",
            exists,
            f"{camera.type} at {camera.path}",
            "plug it in; use its /dev/serial/by-id or /dev/input/by-id name",
        )
        return
    import numpy as np

    from kiosk.scan.sources import camera_factory

    frames: list[np.ndarray] = []
    problem: list[Exception] = []

    def grab() -> None:
        try:
            source = camera_factory(camera)
            try:
                for frame in source.frames():
                    frames.append(frame.gray)
                    if len(frames) >= 5:
                        break
            finally:
                source.close()
        except Exception as exc:  # any driver failure is the check's answer
            problem.append(exc)

    worker = threading.Thread(target=grab, daemon=True)
    worker.start()
    worker.join(wait_s)
    fix = "check the cable and [camera] path; `v4l2-ctl --list-devices` lists cameras"
    if problem and isinstance(problem[0], DeviceError):  # its sentence names the camera
        yield Check("camera", False, str(problem[0]), problem[0].fix or fix)
        return
    if problem or len(frames) < 5:
        if not problem:
            detail = f"{len(frames)} frame(s) in {wait_s:g} s"
        elif isinstance(problem[0], KioskError):
            detail = str(problem[0])
        else:  # a bug in a driver: said as one, not as a camera fault
            detail = f"internal error ({type(problem[0]).__name__}: {problem[0]})"
        yield Check("camera", False, f"{camera.type} {camera.path}: {detail}", fix)
        return
    import cv2

    last = frames[-1]
    brightness = float(last.mean())
    sharpness = float(cv2.Laplacian(last, cv2.CV_64F).var())
    yield Check("camera", True, f"{camera.type}: frames arrive ({last.shape[1]}x{last.shape[0]})")
    yield Check(
        "camera light",
        30 <= brightness <= 225,
        f"mean brightness {brightness:.0f}/255",
        "too dark or too bright: light the card area, or set camera.exposure",
    )
    yield Check(
        "camera focus",
        sharpness >= 20,
        f"sharpness {sharpness:.0f}",
        "blurred: clean the lens, set camera.focus for the card distance",
    )


def check_decoder() -> Check:
    import numpy as np

    from kiosk.scan.decoder import DecoderChain

    text = "MID1:KIOSK-DOCTOR-SELF-TEST"
    matrix = np.array(_qr(text), dtype=np.uint8)
    ok = text in DecoderChain().decode(matrix).texts
    return Check(
        "decoder",
        ok,
        "reads a test code" if ok else "cannot read its own test code",
        "reinstall zxing-cpp (`make` or scripts/setup.sh)",
    )


def _qr(text: str) -> list[list[int]]:
    import qrcode

    code = qrcode.QRCode(border=4, box_size=1)
    code.add_data(text)
    code.make(fit=True)
    return [
        [0 if cell else 255 for cell in row for _ in range(6)]
        for row in code.get_matrix()
        for _ in range(6)
    ]


def check_devices(config: KioskConfig) -> Iterator[Check]:
    devices = config.devices
    ports = []
    if devices.gate is not None:
        ports.append(("gate", devices.gate.port))
    if devices.reader is not None:
        ports.append(("reader", devices.reader.port))
    if devices.printer is not None:
        ports.append(("printer", devices.printer.port))
    if not ports:
        yield Check("serial devices", True, "none configured")
    from firmware_bridge.ports import check_port

    for name, port in ports:
        try:
            check_port(port, name)
        except BridgeError as exc:  # its sentence names the port; its fix, the cause's own
            # held by another program: most likely the running kiosk, which is fine
            busy = exc.fault is DeviceFault.BUSY
            yield Check(name, busy, str(exc), exc.fix, warn=busy)
            continue
        yield Check(name, True, f"{port} opens (`kiosk device test {name}` drives it)")


def check_fonts() -> Check:
    from kiosk.ui.fonts import missing_fonts

    missing = missing_fonts()
    return Check(
        "fonts",
        not missing,
        "Noto chain complete" if not missing else ", ".join(missing),
        "apt install fonts-noto-core fonts-noto-cjk fonts-dejavu-core",
    )


def check_voice(config: KioskConfig) -> Check:
    """Spoken results: which of the site's languages speak, and why any does not."""
    from kiosk.app.wiring import prompts_for

    if not config.display.voice:
        return Check("voice", True, "off ([display] voice = false): tones only")
    ok, detail, fix = prompts_for(config).survey()
    return Check("voice", True, detail, fix, warn=not ok)


def check_disk(config: KioskConfig) -> Check:
    path = Path(config.trust.state_dir)
    probe = path if path.exists() else path.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError as exc:
        return Check("disk", False, f"{probe}: {exc}", "create the state folder")
    return Check(
        "disk",
        free >= MIN_FREE_BYTES,
        f"{free // (1024 * 1024)} MB free at {probe}",
        "free some space: trust data needs a few MB",
    )


def check_swap(proc_swaps: str = "/proc/swaps") -> Check:
    """Freed memory can hold a holder's name: swapped to disk, it outlives the process."""
    from kiosk.app.hardening import swap_on_disk

    areas = swap_on_disk(proc_swaps)
    if not areas:
        return Check("swap", True, "none on disk (zram or no swap)")
    return Check(
        "swap",
        True,
        f"on disk: {', '.join(areas)} — memory that held holder data can be written there",
        "turn disk swap off (`sudo dphys-swapfile swapoff && sudo systemctl disable "
        "dphys-swapfile`) or use zram only: docs/install-raspberry-pi.md",
        warn=True,
    )


def run_doctor(
    config_path: Path, out: TextIO, now: int | None = None, camera_wait_s: float = 5.0
) -> int:
    try:
        config = load_config(config_path)
    except KioskError as exc:
        out.write(
            Check("config", False, str(exc), "fix the file, then `kiosk config validate`").line()
            + "\n"
        )
        return EXIT_REJECTED
    checks: list[Callable[[], Iterator[Check] | Check]] = [
        lambda: Check("config", True, f"{config_path} is valid"),
        lambda: check_technician_pin(config),
        lambda: check_trust(config, int(time.time()) if now is None else now),
        lambda: check_camera(config, camera_wait_s),
        check_decoder,
        lambda: check_devices(config),
        check_fonts,
        lambda: check_voice(config),
        lambda: check_disk(config),
        check_swap,
    ]
    failed = warned = 0
    for run in checks:
        found = run()
        for check in [found] if isinstance(found, Check) else list(found):
            out.write(check.line() + "\n")
            out.flush()
            failed += not check.ok
            warned += check.ok and check.warn
    summary = "all checks passed" if not failed else f"{failed} check(s) failed"
    if warned:
        summary += f", {warned} warning{'s' if warned > 1 else ''}"
    out.write(summary + "\n")
    return EXIT_OK if not failed else EXIT_REJECTED
