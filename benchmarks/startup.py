"""Start-up: process start → the idle screen drawn, against the bare import time of the
libraries the kiosk loads (target ≤ 1.5×), and memory over a long run.

    .venv/bin/python benchmarks/startup.py [--runs 5]
    .venv/bin/python benchmarks/startup.py --soak 10000

Start-up runs `kiosk run --headless` on a config with the synthetic camera and a stub
watchdog socket, and times from `Popen` to the first READY=1 (sent after the idle screen is
up), interleaved with a process that only imports the same libraries. The soak feeds
`--soak` card reads (a mix of accepted, refused and not-a-card) through the real loop with
the headless display and reports the process's RSS every 1,000.
"""

from __future__ import annotations

import argparse
import io
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBRARIES = (
    "import pygame, cv2, numpy, zxingcpp, PIL.ImageFont, nacl.signing, cbor2, babel.dates, "
    "fontTools.ttLib, prometheus_client, serial, pymodbus.client, escpos.printer"
)


def startup(runs: int) -> None:
    from kiosk.core.trust_state import TrustState
    from kiosk.issuer.city import DAY_S, City

    env = {
        **os.environ,
        "SDL_VIDEODRIVER": "dummy",
        "SDL_AUDIODRIVER": "dummy",
        "PYGAME_HIDE_SUPPORT_PROMPT": "1",
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        now = int(time.time())
        city = City.init(root / "city", "us-il-chicago", "https://x.example/s/", now - DAY_S)
        TrustState(root / "state", [city.root.public_key]).import_bytes(city.bundle(now))
        config = root / "kiosk.toml"
        config.write_text(
            f'[site]\nname = "Start-up"\nmode = "counter"\n'
            f'languages = ["en", "es", "zh-Hans", "ar"]\n'
            f'[trust]\nroot_keys = ["{city.root.public_key.hex()}"]\n'
            f'state_dir = "{root / "state"}"\n'
            f'[camera]\ntype = "synthetic"\n[display]\ndriver = "dummy"\n[metrics]\nlisten = ""\n'
        )
        kiosk_times, import_times = [], []
        for run in range(runs):
            sock_path = root / f"notify-{run}.sock"
            server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            server.bind(str(sock_path))
            started = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "kiosk.cli", "run", "--headless", "--config", str(config)],
                env={**env, "NOTIFY_SOCKET": str(sock_path)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while not server.recv(4096).startswith(b"READY=1"):
                pass
            kiosk_times.append(time.perf_counter() - started)
            process.terminate()
            process.wait()
            server.close()
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", LIBRARIES], env=env, check=True)
            import_times.append(time.perf_counter() - started)
    k, i = statistics.median(kiosk_times), statistics.median(import_times)
    print(f"process start → idle screen up (READY=1): median {k * 1000:.0f} ms over {runs} runs")
    print(f"process start → bare import of its libraries: median {i * 1000:.0f} ms")
    print(f"ratio {k / i:.2f} (target ≤ 1.5)")


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak(count: int) -> None:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from firmware_bridge.gate import NoGate
    from kiosk.app.audit import Audit, Metrics
    from kiosk.app.loop import Kiosk
    from kiosk.app.parts import Parts, Settings
    from kiosk.core.policy import Mode, Policy
    from kiosk.core.trust_state import TrustState
    from kiosk.issuer.city import DAY_S, City, Holder
    from kiosk.scan.pipeline import CardRead, NotACityCard
    from kiosk.ui.config import DisplayConfig
    from kiosk.ui.display import Display
    from kiosk.ui.i18n import BY_CODE

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        now = int(time.time())
        city = City.init(root / "city", "us-il-chicago", "https://x.example/s/", now - DAY_S)
        langs = ["en", "es", "ar", "zh-Hans", "pl", "uk", "hi"]
        cards = [
            city.issue(
                Holder(
                    f"Visitor {i}",
                    "1990-01-01",
                    lang=langs[i % len(langs)],
                    benefits=("library",) if i % 3 else ("museum",),
                ),
                now,
                issued_at=now - DAY_S,
            ).text
            for i in range(200)
        ]
        trust = TrustState(root / "state", [city.root.public_key])
        trust.import_bytes(city.bundle(now))
        events: queue.Queue = queue.Queue()  # type: ignore[type-arg]
        display = Display(
            DisplayConfig(driver="dummy", size=(800, 480), fullscreen=False), headless=True
        )
        mode = Mode.COUNTER  # names on screen: the path that must not keep them
        settings = Settings(
            site="Soak",
            mode=mode,
            languages=tuple(BY_CODE[c] for c in langs),
            policy=Policy.for_mode(mode, passback_s=0, required_benefits=frozenset({"library"})),
            result_s=0.0,
            hold_during_result=False,
        )
        out = io.StringIO()
        kiosk = Kiosk(
            settings,
            Parts(
                scan_events=events,
                gate=NoGate(),
                trust=trust,
                audit=Audit(out, "Soak", "counter"),
                metrics=Metrics(),
                display=display,
            ),
        )
        kiosk.start()
        readings = []
        started = time.perf_counter()
        for i in range(count):
            t = time.monotonic()
            if i % 10 == 9:
                events.put(NotACityCard(t, t, "soak"))
            else:
                text = cards[i % len(cards)]
                events.put(CardRead(text + ("X" if i % 7 == 6 else ""), t, t, "soak"))
            kiosk.step()
            if i % 1000 == 999:
                out.seek(0)
                out.truncate()  # the audit goes to the journal on a device, not to memory
                readings.append(rss_mb())
        elapsed = time.perf_counter() - started
        print(f"{count} presentations in {elapsed:.1f} s ({elapsed / count * 1000:.2f} ms each)")
        print("RSS every 1,000 (MB): " + ", ".join(f"{r:.1f}" for r in readings))
        print(
            f"growth from the 2nd to the last reading: {readings[-1] - readings[1]:+.1f} MB; "
            f"scans {dict(kiosk.counts)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--soak", type=int, default=0)
    args = parser.parse_args()
    if args.soak:
        soak(args.soak)
    else:
        startup(args.runs)


if __name__ == "__main__":
    main()
