"""The real app, built from a config file, over a scripted session of cards whose names,
birth dates and serials are unique markers: none may appear in any file it wrote, anything it
printed, its metrics page, or any byte it sent to a device. Also: `kiosk run` under a
systemd-like supervisor (notify socket, watchdog, SIGTERM)."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from firmware_bridge.simulators.receipt_printer import ReceiptPrinter
from firmware_bridge.simulators.turnstile import TurnstileModule
from firmware_bridge.simulators.wire import Wire
from kiosk.app.config import load_config
from kiosk.app.wiring import build_kiosk
from kiosk.core.trust_state import TrustState
from kiosk.issuer.city import DAY_S, City, Holder

# name, birth date, self-designated gender, benefits, days the card is valid
HOLDERS = [
    ("Qzxmarker Alphaname", "1961-02-03", "Genmarkerone", ("library",), 365),
    ("Ωmarker Βetaname", "1972-04-05", "Genmarkertwo", ("library",), 365),
    ("Markerov Gammaname", "1983-06-07", "Genmarkerthree", ("library",), 365),
    ("Museumonly Deltamarker", "1994-08-09", "Genmarkerfour", ("museum",), 365),  # refused
    ("Expiredmark Epsilonname", "1955-10-11", "Genmarkerfive", ("library",), 5),  # expired
]
WANTED = {"ACCEPTED": 3, "POLICY_DENIED": 1, "EXPIRED": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def forms_of(dob: str) -> list[str]:
    y, m, d = dob.split("-")
    return [dob, f"{y}{m}{d}", f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}.{m}.{y}"]


def needles(holders: list, serials: list[bytes], key: bytes) -> list[bytes]:  # type: ignore[type-arg]
    found: list[bytes] = []
    for name, dob, gender, *_ in holders:
        found += [name.encode(), name.encode("utf-16-le"), name.split()[0].encode()]
        found += [f.encode() for f in forms_of(dob)] + [gender.encode()]
    for secret in [*serials, key]:
        found += [
            secret,
            secret.hex().encode(),
            secret.hex().upper().encode(),
            base64.b64encode(secret).rstrip(b"="),
            base64.urlsafe_b64encode(secret).rstrip(b"="),
        ]
    return found


@pytest.mark.parametrize("mode", ["gate", "counter"])
def test_nothing_personal_leaves_the_kiosk(
    tmp_path: Path, mode: str, capfd: pytest.CaptureFixture[str]
) -> None:
    issuer_dir = tmp_path / "issuer"  # the city's side: not part of the kiosk
    kiosk_dir = tmp_path / "kiosk"
    now = int(time.time())
    city = City.init(  # a city that prints gender: the kiosk must still never show it
        issuer_dir,
        "us-il-chicago",
        "https://id.example.gov/status/",
        now - 100 * DAY_S,
        card_gender=True,
    )
    issued = [
        city.issue(
            Holder(name, dob, gender, "es", benefits),
            now,
            valid_s=days * DAY_S,
            issued_at=now - 10 * DAY_S,
        )
        for name, dob, gender, benefits, days in HOLDERS
    ]
    state = kiosk_dir / "state"
    TrustState(state, [city.root.public_key]).import_bytes(city.bundle(now))
    wire = Wire(kiosk_dir / ("usb-turnstile" if mode == "gate" else "usb-printer"))
    device = (
        TurnstileModule(wire.device_path) if mode == "gate" else ReceiptPrinter(wire.device_path)
    )
    port = free_port()
    device_section = (
        f'[gate]\ntype = "modbus"\nport = "{wire.kiosk_path}"\nready_input = 2\n'
        if mode == "gate"
        else f'[printer]\ntype = "escpos"\nport = "{wire.kiosk_path}"\n'
    )
    config_path = kiosk_dir / "kiosk.toml"
    config_path.write_text(
        f'[site]\nname = "Privacy Test Site"\nmode = "{mode}"\nlanguages = ["en", "es"]\n'
        f'[trust]\nroot_keys = ["{city.root.public_key.hex()}"]\nstate_dir = "{state}"\n'
        f'[policy]\nrequired_benefits = ["library"]\npassback_s = 2\n'
        f'[camera]\ntype = "synthetic"\nfps = 20\nseed = 5\n'
        f'[display]\ndriver = "dummy"\nresult_s = 0.5\nvolume = 0\n'
        f'[metrics]\nlisten = "127.0.0.1:{port}"\n' + device_section
    )
    config = load_config(config_path)
    config = dataclasses.replace(
        config, camera=dataclasses.replace(config.camera, cards=tuple(c.text for c in issued))
    )
    out = io.StringIO()
    kiosk = build_kiosk(config, out, headless=True)
    stop = threading.Event()
    runner = threading.Thread(target=kiosk.run, args=(stop,))
    runner.start()
    try:
        deadline = time.monotonic() + 90

        def session_done() -> bool:
            return all(kiosk.counts[reason] >= n for reason, n in WANTED.items())

        while time.monotonic() < deadline and not session_done():
            time.sleep(0.1)
        assert session_done(), dict(kiosk.counts)
        # a device fault in the middle of the session: its events must be clean too
        if mode == "gate":
            wire.fault = "silent"
        else:
            device.paper = "out"
        while time.monotonic() < deadline and not kiosk.problems:
            time.sleep(0.1)
        assert kiosk.problems, "the device fault was never noticed"
        wire.fault = "none"
        if mode == "counter":
            device.paper = "ok"
        while time.monotonic() < deadline and kiosk.problems:
            time.sleep(0.1)
        assert not kiosk.problems, kiosk.problems
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        key = kiosk.passback._key
    finally:
        stop.set()
        runner.join(10)
        device.close()
        wire.close()
    # The kiosk has stopped showing results: no decoded name is reachable any more (the
    # test's own HOLDERS constants do not count; decoded copies are other objects).
    from tests.test_app import _reachable_strings_with

    names = tuple(h[0] for h in HOLDERS)
    for name in names:
        assert _reachable_strings_with(name, known=names) == [], name
    from kiosk.app.technician import export_diagnostics

    export_diagnostics(state / "diagnostics", kiosk.diagnostics(), time.time())
    captured = capfd.readouterr()
    assert '"event":"scan"' in out.getvalue() and '"event":"device"' in out.getvalue()
    assert b"kiosk_scans_total" in page
    outputs: dict[str, bytes] = {
        "audit": out.getvalue().encode(),
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "metrics": page,
        "wire": b"".join(data for _, data in wire.log),
    }
    if mode == "counter":
        assert b"Privacy Test Site" in outputs["wire"]  # passes were printed
    for path in kiosk_dir.rglob("*"):
        if path.is_file():
            outputs[str(path)] = path.read_bytes()
    assert any("diagnostics" in name for name in outputs)
    leaks = [
        (where, needle)
        for needle in needles(HOLDERS, [c.serial for c in issued], key)
        for where, data in outputs.items()
        if needle in data
    ]
    assert leaks == []


def test_the_search_would_find_a_leak() -> None:
    serial = bytes(range(8))
    found = needles(HOLDERS, [serial], b"k" * 32)
    assert any(n in b"log: Qzxmarker Alphaname" for n in found)
    assert any(n in b'{"dob":"03/02/1961"}' for n in found)
    assert any(n in b"serial=0001020304050607" for n in found)


def test_run_under_systemd_notify_and_sigterm(tmp_path: Path, city: City) -> None:
    now = int(time.time())
    state = tmp_path / "state"
    TrustState(state, [city.root.public_key]).import_bytes(city.bundle(now))
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'[site]\nname = "Notify Test"\nmode = "counter"\n'
        f'[trust]\nroot_keys = ["{city.root.public_key.hex()}"]\n'
        f'state_dir = "{state}"\n[camera]\ntype = "synthetic"\nfps = 10\n'
        f'[display]\ndriver = "dummy"\n[metrics]\nlisten = ""\n'
    )
    sock_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(sock_path))
    server.settimeout(90)
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(sock_path),
        "WATCHDOG_USEC": "300000",
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "run", "--config", str(config), "--headless"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        messages = []
        while not any(m.startswith("READY=1") for m in messages):
            messages.append(server.recv(4096).decode())
        while "WATCHDOG=1" not in messages:
            messages.append(server.recv(4096).decode())
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        while "STOPPING=1" not in messages:
            messages.append(server.recv(4096).decode())
    except Exception:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"kiosk run: {err.decode()[-2000:]}") from None
    finally:
        if process.poll() is None:
            process.kill()
        server.close()
    assert process.returncode == 0, err.decode()
    events = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert any('"event":"start"' in line for line in events)
    assert '"event":"stop"' in events[-1]
