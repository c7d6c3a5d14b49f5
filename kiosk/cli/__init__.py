"""`kiosk`: the appliance's command line (verify, trust, demo).

Every command turns `KioskError` into a one-line message and its documented exit code
(see kiosk/core/errors.py); a traceback only ever appears for a bug, with exit code 4.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from firmware_bridge.errors import DeviceError as BridgeError
from kiosk.app.hardware import kiosk_error
from kiosk.core.card import verify_card
from kiosk.core.decision import Card, Decision
from kiosk.core.errors import EXIT_OK, EXIT_REJECTED, ConfigError, KioskError
from kiosk.core.policy import Mode, Policy, Stale
from kiosk.core.trust import TrustStore, parse_bundle, trust_report
from kiosk.core.trust_state import TrustState, read_limited

DEFAULT_STATE_DIR = Path(
    os.environ.get("KIOSK_STATE_DIR")
    or Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "citycard-kiosk"
)


def root_key(text: str) -> bytes:
    text = text.strip()
    if len(text) != 64 and all(c in "0123456789abcdefABCDEF" for c in text):
        raise ConfigError(f"root key must be 64 hex characters (32 bytes), got {len(text)}")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"root key {text[:16]!r}…: not hexadecimal") from None
    if len(key) != 32:
        raise ConfigError(f"root key must be 32 bytes (64 hex characters), got {len(key)} bytes")
    return key


def decision_json(decision: Decision, show_holder: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "outcome": decision.outcome,
        "reason": decision.reason.value,
        "kid": decision.kid.hex() if decision.kid else None,
        "specimen": decision.specimen,
        "role": decision.role,
        "detail": decision.detail,
        "warnings": [w.value for w in decision.warnings],
    }
    card = decision.card
    if show_holder and card is not None:
        out["holder"] = {
            "name": card.name,
            "dob": card.dob.isoformat(),
            "gender": card.gender,
            "lang": card.lang,
            "benefits": list(card.benefits),
            "serial": card.serial.hex(),
            "issued_at": card.issued_at,
            "expires_at": card.expires_at,
            "status": {"uri": card.status_uri, "idx": card.status_idx},
        }
    return out


def _holder_lines(card: Card) -> list[tuple[str, str]]:
    """The holder's claims as a technician reads them (not Python reprs, not epochs)."""

    def day(epoch: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))

    return [
        ("name", card.name),
        ("born", card.dob.isoformat()),
        ("gender", card.gender or "(not on the card)"),
        ("language", card.lang or "(not on the card)"),
        ("benefits", ", ".join(card.benefits) or "(none)"),
        ("serial", card.serial.hex()),
        ("issued", day(card.issued_at)),
        ("expires", day(card.expires_at)),
        ("status list", f"{card.status_uri}, slot {card.status_idx}"),
    ]


# -- trust options shared by verify and trust commands --------------------------------


def _add_trust_options(parser: argparse.ArgumentParser, *, verify: bool) -> None:
    parser.add_argument(
        "--root-key",
        action="append",
        default=[],
        metavar="HEX",
        help="pinned city root public key, 64 hex characters (repeatable)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"the kiosk's trust state directory (default {DEFAULT_STATE_DIR})",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="take the root keys and state directory from the kiosk's config file",
    )
    if verify:
        parser.add_argument(
            "--bundle",
            type=Path,
            help="verify against this bundle file instead of the installed trust state",
        )
        parser.add_argument(
            "--status-list",
            type=Path,
            action="append",
            default=[],
            metavar="FILE",
            help="extra status list token (repeatable)",
        )


def _from_config(args: argparse.Namespace) -> None:
    """--config fills in what --root-key and --state-dir did not say; on an installed kiosk
    (no --root-key, no --bundle) the kiosk's own config file does."""
    from kiosk.app.config import DEFAULT_PATH

    installed = not args.root_key and getattr(args, "bundle", None) is None
    if getattr(args, "config", None) is None and installed and DEFAULT_PATH.is_file():
        args.config = DEFAULT_PATH
    if getattr(args, "config", None) is not None:
        from kiosk.app.config import load_config

        config = load_config(args.config)
        args.root_key = args.root_key or list(config.trust.root_keys)
        args.state_dir = args.state_dir or Path(config.trust.state_dir)
        args.skew_s = config.policy().skew_s
    if args.state_dir is None:
        args.state_dir = DEFAULT_STATE_DIR


def _roots(args: argparse.Namespace) -> list[bytes]:
    _from_config(args)
    if not args.root_key:
        raise ConfigError(
            "--root-key is required (the city's root public key in hex), or --config "
            "(default /etc/kiosk/kiosk.toml when it exists)"
        )
    return [root_key(k) for k in args.root_key]


def load_trust(args: argparse.Namespace) -> TrustStore:
    roots = _roots(args)
    if args.bundle is not None:
        bundle = parse_bundle(read_limited(args.bundle), roots)
        extra = [read_limited(p) for p in args.status_list]
        return TrustStore.build(bundle, extra)
    store = TrustState(args.state_dir, roots).load()
    if store is None:
        raise ConfigError(
            f"no trust data in {args.state_dir}: use --bundle or `kiosk trust import`"
        )
    if args.status_list:
        extra = [read_limited(p) for p in args.status_list]
        store = TrustStore.build(
            store.bundle, [*(t.raw for t in store.lists.values()), *extra], store.clock_floor
        )
    return store


def _policy(args: argparse.Namespace) -> Policy:
    overrides: dict[str, Any] = {"passback_s": 0}
    if args.skew is not None:
        overrides["skew_s"] = args.skew
    if args.require_benefit:
        overrides["required_benefits"] = frozenset(args.require_benefit)
    if args.min_age is not None:
        overrides["min_age"] = args.min_age
    if args.stale is not None:
        overrides["stale"] = Stale(args.stale)
    if args.stale_grace is not None:
        overrides["stale_grace_s"] = args.stale_grace
    return Policy.for_mode(args.mode, **overrides)


def _lines(source: str) -> Iterable[str]:
    stream: TextIO
    if source == "-":
        stream = sys.stdin
        yield from (line.rstrip("\r\n") for line in stream)
        return
    try:
        with open(source, encoding="utf-8", errors="replace") as stream:
            yield from (line.rstrip("\r\n") for line in stream)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read ({exc.strerror})") from None


def _text_from_image(path: Path) -> str:
    from kiosk.scan.decoder import DecoderChain, load_image

    texts = DecoderChain(still=True).decode(load_image(path)).texts
    cards = [t for t in texts if t.startswith("MID")]
    if not texts:
        raise ConfigError(f"{path}: no QR code found")
    return cards[0] if cards else texts[0]


def cmd_verify(args: argparse.Namespace) -> int:
    given = [x for x in (args.text, args.batch, args.image) if x is not None]
    if len(given) != 1:
        raise ConfigError("give one of: a card TEXT, --batch FILE|-, --image PATH")
    trust = load_trust(args)
    if args.image is not None:
        args.text = _text_from_image(args.image)
    policy = _policy(args)
    now = int(time.time()) if args.at is None else args.at
    if args.batch is not None:
        out = sys.stdout
        for line in _lines(args.batch):
            decision = verify_card(line, trust, now, policy)
            out.write(json.dumps(decision_json(decision, args.show_holder)) + "\n")
        return EXIT_OK
    decision = verify_card(args.text, trust, now, policy)
    if args.json:
        print(json.dumps(decision_json(decision, args.show_holder)))
    else:
        mark = "✓" if decision.accepted else "✗"
        print(f"{mark} {decision.reason.value}: {decision.reason.sentence}")
        if decision.detail:
            print(f"  detail: {decision.detail}")
        for warning in decision.warnings:
            print(f"  warning: {warning.value}: {warning.sentence}")
        if decision.specimen:
            print("  SPECIMEN card (demo/training)")
        if decision.role == "technician":
            print("  technician card")
        if args.show_holder and decision.card is not None:
            for key, value in _holder_lines(decision.card):
                print(f"  {key}: {value}")
    return EXIT_OK if decision.accepted else EXIT_REJECTED


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode image files (or videos) with the kiosk's own decoder chain."""
    from kiosk.scan.decoder import DecoderChain, load_image

    chain = DecoderChain(still=not args.video)  # photos: the exhaustive still-image search
    worst = EXIT_OK
    for path in args.paths:
        start = time.perf_counter()
        try:
            if args.video:
                texts, frames = _decode_video(chain, path)
            else:
                texts, frames = list(chain.decode(load_image(path)).texts), 1
        except KioskError as exc:  # ImageError, DeviceError: say so, go on with the rest
            print(f"kiosk decode: {exc}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": str(path), "texts": [], "error": str(exc)}))
            worst = max(worst, exc.exit_code)
            continue
        ms = (time.perf_counter() - start) * 1000
        if not texts:
            worst = max(worst, EXIT_REJECTED)
        if args.json:
            line: dict[str, Any] = {"path": str(path), "texts": texts, "ms": round(ms, 2)}
            if args.video:
                line["frames"] = frames
            print(json.dumps(line, ensure_ascii=False))
        else:
            found = f"{len(texts)} code(s)" if texts else "no code found"
            print(f"{path}: {found} in {ms:.1f} ms")
            for text in texts:
                print(f"  {text}")
    return worst


def _decode_video(chain: Any, path: Path) -> tuple[list[str], int]:
    from kiosk.scan.replay import ReplaySource

    texts: dict[str, None] = {}
    frames = 0
    source = ReplaySource(path, fps=None, loop=False)
    for frame in source.frames():
        frames += 1
        texts.update(dict.fromkeys(chain.decode(frame.gray).texts))
    return list(texts), frames


def _now(args: argparse.Namespace) -> int:
    at = getattr(args, "at", None)
    return int(time.time()) if at is None else at


def _trust_state(args: argparse.Namespace) -> TrustState:
    roots = _roots(args)  # reads --config once, skew included
    skew = getattr(args, "skew_s", 300)
    return TrustState(args.state_dir, roots, skew_s=skew, clock=lambda: _now(args))


def cmd_trust_import(args: argparse.Namespace) -> int:
    state = _trust_state(args)
    for path in args.files:
        for result in state.import_bytes(read_limited(path)):
            verb = "installed" if result.installed else "unchanged"
            print(f"{path}: {verb}: {result.summary}")
    return EXIT_OK


def cmd_trust_sync(args: argparse.Namespace) -> int:
    from kiosk.app.sync import sync_config

    results = sync_config(args.config)
    for result in results:
        print(f"{result.url}: {result.status}: {result.detail}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_REJECTED


def cmd_trust_status(args: argparse.Namespace) -> int:
    now = _now(args)
    store = _trust_state(args).load()
    if store is None:
        raise ConfigError(f"no trust data in {args.state_dir}")
    report = trust_report(store, now)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        bundle = report["bundle"]
        print(
            f"trust data updated {_when(report['updated_at'])}, "
            f"good until {_when(report['good_until'])}"
        )
        print(
            f"issuer {bundle['issuer']}, bundle version {bundle['version']}, "
            f"{_age(bundle['age_s'])} old, {_until(bundle['expires_in_s'])}"
        )
        print(
            f"signed by root {bundle['signer_root'][:16]}… ({bundle['signer_trusted_as']}); "
            f"pinned: {', '.join(r[:16] + '…' for r in report['pinned_roots'])}"
        )
        for item in report["status_lists"]:
            print(
                f"status list {item['uri']}: {item['slots']} slots, "
                f"{_age(item['age_s'])} old, {_until(item['expires_in_s'])}"
            )
        for problem in report["problems"]:
            print(f"problem: {problem}")
    fresh = report["fresh"]
    return EXIT_OK if fresh else EXIT_REJECTED


def _when(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _age(seconds: int) -> str:
    return f"{seconds / 3600:.1f} h" if abs(seconds) < 172800 else f"{seconds / 86400:.1f} days"


def _until(seconds: int | None) -> str:
    if seconds is None:
        return "no expiry"
    return f"expires in {_age(seconds)}" if seconds >= 0 else f"EXPIRED {_age(-seconds)} ago"


def cmd_demo(args: argparse.Namespace) -> int:
    from kiosk.app.hardening import forbid_core_dumps

    forbid_core_dumps()  # the demo's cards are specimens, but it is the same appliance
    if args.terminal:
        from kiosk.demo.terminal import run_terminal_demo

        return run_terminal_demo(sys.stdout, mode=args.mode)
    from kiosk.demo.appliance import run_demo

    return run_demo(
        headless=True if args.headless else None,
        shots=args.shots,
        mode=args.mode,
        out=sys.stdout,
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    from kiosk.app.doctor import run_doctor

    return run_doctor(args.config, sys.stdout)


def cmd_run(args: argparse.Namespace) -> int:
    import signal
    import threading

    # First of all: a SIGTERM at any moment of start-up ends in a normal exit, and once the
    # gate exists Kiosk.close() relocks it (the gate's own exit hook is the backstop).
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    from kiosk.app.config import load_config
    from kiosk.app.hardening import forbid_core_dumps
    from kiosk.app.wiring import build_kiosk

    config = load_config(args.config)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    forbid_core_dumps()  # before any card is read: holder data never reaches a core file
    if stop.is_set():
        return EXIT_OK
    kiosk = build_kiosk(config, sys.stdout, headless=args.headless)
    kiosk.run(stop)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    from kiosk.app.config import DEFAULT_PATH

    parser = argparse.ArgumentParser(prog="kiosk", description="CityCard Kiosk")
    sub = parser.add_subparsers(dest="command", required=True)

    verify = sub.add_parser("verify", help="verify a card's QR text against trust data")
    verify.add_argument("text", nargs="?", help="the card's QR text (MID1:…)")
    verify.add_argument("--batch", metavar="FILE|-", help="one card text per line; JSON lines out")
    verify.add_argument(
        "--image",
        type=Path,
        metavar="PATH",
        help="decode the card's QR code from a photo, then verify it",
    )
    _add_trust_options(verify, verify=True)
    verify.add_argument("--at", type=int, metavar="EPOCH", help="verify as of this time")
    verify.add_argument("--json", action="store_true", help="one JSON object")
    verify.add_argument(
        "--show-holder",
        action="store_true",
        help="include the holder's claims (personal data: for technicians)",
    )
    verify.add_argument("--mode", choices=[m.value for m in Mode], default="gate")
    verify.add_argument("--skew", type=int, metavar="SECONDS", help="allowed clock skew")
    verify.add_argument("--require-benefit", action="append", default=[], metavar="CODE")
    verify.add_argument("--min-age", type=int)
    verify.add_argument("--stale", choices=[s.value for s in Stale])
    verify.add_argument("--stale-grace", type=int, metavar="SECONDS")
    verify.set_defaults(func=cmd_verify)

    trust = sub.add_parser("trust", help="install and inspect trust data")
    trust_sub = trust.add_subparsers(dest="trust_command", required=True)
    imp = trust_sub.add_parser("import", help="install a bundle or status list from files")
    imp.add_argument("files", nargs="+", type=Path)
    _add_trust_options(imp, verify=False)
    imp.add_argument("--at", type=int, metavar="EPOCH", help=argparse.SUPPRESS)
    imp.set_defaults(func=cmd_trust_import)
    status = trust_sub.add_parser("status", help="versions, ages and expiry of trust data")
    _add_trust_options(status, verify=False)
    status.add_argument("--json", action="store_true")
    status.add_argument("--at", type=int, metavar="EPOCH", help=argparse.SUPPRESS)
    status.set_defaults(func=cmd_trust_status)
    sync_parser = trust_sub.add_parser(
        "sync", help="fetch the bundle and status lists from the config's URLs (systemd timer)"
    )
    sync_parser.add_argument("--config", type=Path, default=DEFAULT_PATH)
    sync_parser.set_defaults(func=cmd_trust_sync)

    decode = sub.add_parser("decode", help="decode QR codes in images with the kiosk's chain")
    decode.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    decode.add_argument(
        "--json", action="store_true", help='one line per file: {"path", "texts", "ms"}'
    )
    decode.add_argument("--video", action="store_true", help="the paths are video files")
    decode.set_defaults(func=cmd_decode)

    from kiosk.cli.device import add_parser as add_device_parser

    add_device_parser(sub)

    from kiosk.cli.config import add_parser as add_config_parser

    add_config_parser(sub)

    from kiosk.cli.screens import add_parser as add_screens_parser

    add_screens_parser(sub)

    from kiosk.cli.voice import add_parser as add_voice_parser

    add_voice_parser(sub)

    demo = sub.add_parser(
        "demo", help="the whole kiosk on a specimen city, simulated camera and gate or pass printer"
    )
    demo.add_argument(
        "--headless",
        action="store_true",
        help="no window (automatic without a display): print events, save screens",
    )
    demo.add_argument(
        "--shots",
        type=Path,
        metavar="DIR",
        help="save every screen shown as a PNG (default with --headless: ./demo-screens)",
    )
    demo.add_argument("--mode", choices=("gate", "counter"), default="gate")
    demo.add_argument(
        "--terminal",
        action="store_true",
        help="just the decisions, as a table (no screens, no simulators)",
    )
    demo.set_defaults(func=cmd_demo)

    run_parser = sub.add_parser("run", help="run the kiosk (systemd starts this)")
    run_parser.add_argument("--config", type=Path, default=DEFAULT_PATH)
    run_parser.add_argument(
        "--headless",
        action="store_true",
        help="no screen (SDL dummy driver): for tests and soak runs",
    )
    run_parser.set_defaults(func=cmd_run)

    doctor = sub.add_parser("doctor", help="check camera, decoder, devices, trust data, clock")
    doctor.add_argument("--config", type=Path, default=DEFAULT_PATH)
    doctor.set_defaults(func=cmd_doctor)
    return parser


def run(func: Callable[[argparse.Namespace], int], args: argparse.Namespace, prog: str) -> int:
    try:
        return func(args)
    except KioskError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.exit_code
    except BridgeError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return kiosk_error(exc).exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args.func, args, "kiosk")
