"""`kiosk config validate FILE` and `kiosk config show [--config FILE]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from kiosk.app.config import DEFAULT_PATH, effective_toml, load_config
from kiosk.core.errors import EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.file, example=args.example)
    devices = config.devices
    print(
        f"{args.file}: valid — {config.site.mode} mode, {len(config.site.languages)} language(s), "
        f"camera {config.camera.type}, gate {devices.gate_type}, printer {devices.printer_type}"
    )
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    config = load_config(args.config, example=args.example)
    print(effective_toml(config, secrets=args.secrets), end="")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = sub.add_parser("config", help="check and show the kiosk's configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    validate = config_sub.add_parser("validate", help="check a file before deploying it")
    validate.add_argument("file", type=Path)
    validate.add_argument(
        "--example",
        action="store_true",
        help="accept the example files' placeholder root key and SCBK (never on a kiosk)",
    )
    validate.set_defaults(func=cmd_validate)
    show = config_sub.add_parser("show", help="the effective configuration, defaults included")
    show.add_argument("--config", type=Path, default=DEFAULT_PATH)
    show.add_argument("--secrets", action="store_true", help="include the PIN and keys")
    show.add_argument("--example", action="store_true", help=argparse.SUPPRESS)
    show.set_defaults(func=cmd_show)
