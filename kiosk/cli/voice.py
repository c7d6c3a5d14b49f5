"""`kiosk voice build`: make the site's spoken prompts now (at install) rather than in the
background at the kiosk's first start, and say which language speaks with which voice."""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_build(args: argparse.Namespace) -> int:
    from kiosk.app.config import load_config
    from kiosk.app.wiring import prompts_for
    from kiosk.core.errors import EXIT_OK, DeviceError
    from kiosk.ui.sound import VOICE_DIR, recorded
    from kiosk.ui.voice import SPOKEN, Espeak, seconds

    prompts = prompts_for(load_config(args.config))
    Espeak.find(prompts.binary)  # missing: one line and exit 3, before anything is written
    made = prompts.build()
    if prompts.problem is not None:  # an unwritable folder, an espeak-ng that hangs
        raise DeviceError(prompts.problem)
    for lang in prompts.languages:
        code = lang.code
        own = [o.value for o in SPOKEN if recorded(VOICE_DIR, o, code)]
        note = f"; recorded: {', '.join(own)}" if own else ""
        files = [p for o in SPOKEN if (p := prompts.path(o, code)) is not None]
        if files:
            durations = sorted(seconds(p) for p in files)
            print(
                f"✓ {code}: {prompts.voices[code]}, {len(files)} prompts, "
                f"{durations[0]:.1f}–{durations[-1]:.1f} s{note}"
            )
        elif len(own) == len(SPOKEN):
            print(f"✓ {code}: recorded{note}")
        else:
            print(f"– {code}: tones only — {prompts.reasons.get(code, prompts.problem)}{note}")
    print(f"{made} prompt(s) made in {prompts.folder}")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kiosk.app.config import DEFAULT_PATH

    voice = sub.add_parser("voice", help="spoken results: make the prompts (espeak-ng)")
    voice_sub = voice.add_subparsers(dest="voice_command", required=True)
    build = voice_sub.add_parser(
        "build", help="make the site's prompts now (the kiosk also makes them at start)"
    )
    build.add_argument("--config", type=Path, default=DEFAULT_PATH)
    build.set_defaults(func=cmd_build)
