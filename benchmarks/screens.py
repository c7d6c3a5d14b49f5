"""Decision → result screen on the display surface, and the idle screen's CPU cost.

    .venv/bin/python benchmarks/screens.py [--repeat 30] [--idle-seconds 5]

Result screens are built from real decisions (a specimen city's cards verified by the real
verifier) with the real presenter and painter, on the SDL dummy display at 800×480 and
1920×1080:
- first: a fresh process's first result (fonts opened, cmaps read),
- cold: fonts loaded, text cache emptied (each string shaped and rasterised again),
- warm: the same screen painted again (text from the cache).
Idle: the display loop at 30 fps for `--idle-seconds`, repainting only when the screen
changes (the language cycles every 4 s), CPU time over wall time of this process; and the
worst case of repainting every frame.

Targets (issue 5): cold ≤ 33 ms, warm ≤ 5 ms, idle ≤ 15 % of one core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import pygame

from kiosk.core.card import verify_card
from kiosk.core.policy import Mode, Policy
from kiosk.core.trust import TrustStore, parse_bundle
from kiosk.demo import specimen
from kiosk.ui.config import DisplayConfig
from kiosk.ui.display import Display
from kiosk.ui.i18n import BY_CODE, LANGUAGES
from kiosk.ui.present import result_screen
from kiosk.ui.samples import SITE
from kiosk.ui.screens import Frame, Idle

NOW = 1_790_000_000


def ms(values: list[float]) -> str:
    return f"median {statistics.median(values) * 1000:6.2f} ms, max {max(values) * 1000:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        city = specimen.build(Path(tmp) / "city", NOW)
        trust = TrustStore.build(parse_bundle(city.bundle, [city.root_key]))
        cards = [sample.text for sample in city.samples[:7]]
        for size in ((800, 480), (1920, 1080)):
            display = Display(
                DisplayConfig(driver="dummy", size=size, fullscreen=False), headless=True
            )
            decisions = []
            for mode in (Mode.GATE, Mode.COUNTER):
                policy = Policy.for_mode(mode)
                decisions += [(verify_card(text, trust, NOW, policy), policy) for text in cards]

            def show(index: int, display: Display = display, decisions: list = decisions) -> float:
                decision, policy = decisions[index % len(decisions)]
                started = time.perf_counter()
                screen = result_screen(
                    decision,
                    policy,
                    NOW,
                    languages=LANGUAGES,
                    fallback=BY_CODE["en"],
                    frame=Frame(site=SITE),
                    seconds_left=6,
                )
                display.show(screen, 0.0, force=True)
                return time.perf_counter() - started

            first = show(0)
            cold, warm = [], []
            for i in range(args.repeat):
                display.painter.engine.clear()
                cold.append(show(i))
                warm.append(show(i))
            print(
                f"{size[0]}x{size[1]}: first"
                f" {first * 1000:.1f} ms; cold {ms(cold)}; warm {ms(warm)}"
            )

            idle = [Idle(LANGUAGES[:5], lang, Frame(site=SITE)) for lang in LANGUAGES[:5]]
            for repaint_always in (False, True):
                clock = pygame.time.Clock()
                wall0, cpu0 = time.perf_counter(), time.process_time()
                frames = 0
                while time.perf_counter() - wall0 < args.idle_seconds:
                    screen = idle[int((time.perf_counter() - wall0) / 4.0) % len(idle)]
                    display.events()
                    display.show(screen, time.monotonic(), force=repaint_always)
                    clock.tick(30)
                    frames += 1
                share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
                label = "repainting every frame" if repaint_always else "repainting on change"
                print(
                    f"  idle at 30 fps, {label}: {share * 100:.1f} % of one core ({frames} frames)"
                )
            display.close()


if __name__ == "__main__":
    main()
