"""`kiosk screens`: every screen in every language and size, as PNG files, headless."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from kiosk.core.errors import ConfigError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 800x480, not {text!r}") from None
    if not (200 <= w <= 16_384 and 200 <= h <= 16_384):  # what [display] size accepts
        raise argparse.ArgumentTypeError(f"size {text} is out of range (200..16384 per side)")
    return w, h


def cmd_screens(args: argparse.Namespace) -> int:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from kiosk.ui import samples
    from kiosk.ui.i18n import LANGUAGES, language
    from kiosk.ui.painter import Painter

    langs = LANGUAGES if args.lang == "all" else (language(args.lang),)
    wanted = samples.names() if args.screen == "all" else [args.screen]
    unknown = [n for n in wanted if n not in samples.names()]
    if unknown:
        raise ConfigError(f"unknown screen {unknown[0]!r}: one of {', '.join(samples.names())}")
    sizes = args.size or [(800, 480)]
    args.out.mkdir(parents=True, exist_ok=True)
    pygame.display.init()
    painter = Painter()
    count, overflow, started = 0, 0, time.perf_counter()
    for w, h in sizes:
        surface = pygame.Surface((w, h))
        for name in wanted:
            for lang in langs:
                placed = painter.paint(surface, samples.sample(name, lang), now=0.0)
                for problem in placed.problems():
                    overflow += 1
                    print(f"{name} {lang.code} {w}x{h}: {problem}")
                pygame.image.save(surface, str(args.out / f"{name}-{lang.code}-{w}x{h}.png"))
                count += 1
    print(f"{count} screens in {args.out} ({time.perf_counter() - started:.1f} s)")
    return 1 if overflow else 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    screens = sub.add_parser("screens", help="render every screen and language to PNG files")
    screens.add_argument("--out", type=Path, required=True, metavar="DIR")
    screens.add_argument("--lang", default="all", metavar="CODE|all")
    screens.add_argument(
        "--size", type=_size, action="append", metavar="WxH", help="repeatable; default 800x480"
    )
    screens.add_argument("--screen", default="all", metavar="NAME|all")
    screens.set_defaults(func=cmd_screens)
