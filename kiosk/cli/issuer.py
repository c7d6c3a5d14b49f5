"""`kiosk-issuer`: run a city's card authority from a directory (see kiosk.issuer.city)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kiosk.cli import run
from kiosk.core.errors import EXIT_OK, ConfigError
from kiosk.core.statuslist import MIN_SLOTS, Status
from kiosk.core.trust_state import atomic_write
from kiosk.issuer.city import DAY_S, YEAR_S, City, Holder, IssuedCard


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than zero, not {value}")
    return value


def _now(args: argparse.Namespace) -> int:
    return int(time.time()) if args.now is None else args.now


def cmd_init(args: argparse.Namespace) -> int:
    city = City.init(
        args.dir,
        args.issuer,
        args.status_base_uri,
        _now(args),
        args.list_size,
        card_gender=args.card_gender,
        display_name=args.display_name,
    )
    print(f"city {args.issuer} created in {args.dir}")
    print(f"root public key (pin this in every kiosk): {city.root.public_key.hex()}")
    return EXIT_OK


def _holder(args: argparse.Namespace) -> Holder:
    return Holder(
        name=args.name,
        dob=args.dob,
        gender=args.gender,
        lang=args.lang,
        benefits=tuple(args.benefit),
        role=args.role,
        specimen=args.specimen,
    )


def _issued_json(card: IssuedCard) -> dict[str, object]:
    return {
        "text": card.text,
        "serial": card.serial.hex(),
        "status_uri": card.status_uri,
        "status_idx": card.status_idx,
        "issued_at": card.issued_at,
        "expires_at": card.expires_at,
    }


def cmd_issue(args: argparse.Namespace) -> int:
    from kiosk.issuer import images

    city = City(args.dir)
    holder = _holder(args)
    card = city.issue(holder, _now(args), args.valid_days * DAY_S, args.iat, args.exp)
    qr_path = args.qr or Path(f"qr-{card.serial.hex()[:8]}.png")
    images.qr_image(card.text).save(qr_path)
    if args.card:
        name = city.meta.get("display_name") or city.meta["issuer"]
        images.card_image(card.text, holder, name, card.expires_at).save(args.card)
    if args.json:
        print(json.dumps(_issued_json(card)))
    else:
        print(card.text)
        print(
            f"serial {card.serial.hex()}, status {card.status_uri} #{card.status_idx}",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_issue_batch(args: argparse.Namespace) -> int:
    """One card per CSV row (kiosk/issuer/batch.py); every row checked before any is signed."""
    from datetime import UTC, datetime

    from kiosk.issuer.batch import DEFAULT_BENEFITS, read_holders

    city = City(args.dir)
    now = _now(args)
    holders = read_holders(
        args.csv,
        benefits=city.meta.get("benefits") or DEFAULT_BENEFITS,
        gender_ok=bool(city.meta.get("card_gender")),
        today=datetime.fromtimestamp(now, UTC).date(),
        specimen=args.specimen,
    )
    with open(args.out, "w") as out:
        for holder in holders:
            card = city.issue(holder, now, args.valid_days * DAY_S)
            out.write(json.dumps(_issued_json(card)) + "\n")
    print(f"issued {len(holders)} cards; QR texts and status slots in {args.out}")
    return EXIT_OK


def _slot(city: City, args: argparse.Namespace) -> tuple[str, int]:
    if args.serial:
        return city.find_serial(bytes.fromhex(args.serial))
    if args.index is None:
        raise ConfigError("give --index N (with --list) or --serial HEX")
    return args.list, args.index


def _set_status(status: Status) -> object:
    def command(args: argparse.Namespace) -> int:
        city = City(args.dir)
        name, idx = _slot(city, args)
        city.set_status(name, idx, status)
        print(
            f"list {city.list_uri(city.list_name(name))} slot {idx}: {status.name.lower()}; "
            "publish with `kiosk-issuer status-list` or `bundle`"
        )
        return EXIT_OK

    return command


def cmd_status_list(args: argparse.Namespace) -> int:
    city = City(args.dir)
    now = _now(args)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in city.meta["lists"]:
        token = city.status_list_token(name, now, args.valid_hours * 3600, args.ttl_hours * 3600)
        path = args.out / f"status-{name}.cwt"
        atomic_write(path, token)
        print(f"{path}: {city.list_uri(name)}, {len(token)} bytes")
    return EXIT_OK


def cmd_bundle(args: argparse.Namespace) -> int:
    city = City(args.dir)
    data = city.bundle(_now(args), args.valid_days * DAY_S, not args.without_status_lists)
    atomic_write(args.out, data)
    print(
        f"{args.out}: bundle version {city.meta['bundle_version']}, {len(data)} bytes, "
        f"signed by root {city.root.kid.hex()}"
    )
    return EXIT_OK


def cmd_rotate(args: argparse.Namespace) -> int:
    city = City(args.dir)
    if args.use == "root" and args.promote:
        record = city.promote_root()
        print(
            f"root {record.kid.hex()} now signs bundles; kiosks that installed a bundle "
            "announcing it will accept them"
        )
        return EXIT_OK
    record = city.rotate(args.use, _now(args))
    if args.use == "root":
        print(
            f"next root {record.public_key.hex()} will be announced in next_roots of the next "
            "bundles; once every kiosk has one, run `kiosk-issuer rotate root --promote`"
        )
    else:
        print(f"new {args.use} key {record.kid.hex()}; publish a bundle so kiosks learn it")
    return EXIT_OK


def cmd_revoke_key(args: argparse.Namespace) -> int:
    city = City(args.dir)
    try:
        kid = bytes.fromhex(args.kid)
    except ValueError:
        raise ConfigError(f"key id {args.kid!r} is not hexadecimal") from None
    city.revoke_key(kid)
    print(f"key {args.kid} revoked; publish a bundle")
    return EXIT_OK


def cmd_keys(args: argparse.Namespace) -> int:
    city = City(args.dir)
    revoked = set(city.meta["revoked_kids"])
    for k in city.key_records():
        tags = [
            t
            for t, on in (
                ("current root", k.kid == city.root.kid),
                ("next root", k.kid.hex() == city.meta.get("next_root")),
                ("revoked", k.kid.hex() in revoked),
            )
            if on
        ]
        print(
            f"{k.kid.hex()} {k.use:6} valid {_day(k.nbf)} to {_day(k.exp)}"
            f"  pk {k.public_key.hex()}" + (f"  [{', '.join(tags)}]" if tags else "")
        )
    return EXIT_OK


def _day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def cmd_root_key(args: argparse.Namespace) -> int:
    print(City(args.dir).root.public_key.hex())
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiosk-issuer", description="a city's card authority")
    parser.add_argument("--dir", type=Path, default=Path("city"), help="the city directory")
    parser.add_argument("--now", type=int, metavar="EPOCH", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="create root, card-signing and status keys")
    init.add_argument("--issuer", required=True, help="issuer id, e.g. us-il-chicago")
    init.add_argument(
        "--status-base-uri",
        required=True,
        help="status lists are published at this prefix + list number",
    )
    init.add_argument("--list-size", type=int, default=MIN_SLOTS)
    init.add_argument(
        "--display-name",
        help='the name printed on cards, e.g. "City of Chicago" (default: the issuer id)',
    )
    init.add_argument(
        "--card-gender",
        action="store_true",
        help="allow a self-designated gender on cards (print it on the card too)",
    )
    init.set_defaults(func=cmd_init)

    issue = sub.add_parser("issue", help="sign one card; prints its QR text")
    issue.add_argument("--name", required=True)
    issue.add_argument("--dob", required=True, help="YYYY-MM-DD")
    issue.add_argument("--gender")
    issue.add_argument("--lang", help="BCP 47 preferred language, e.g. es, zh-Hans, ar")
    issue.add_argument("--benefit", action="append", default=[], metavar="CODE")
    issue.add_argument("--role", choices=["resident", "technician"], default="resident")
    issue.add_argument("--specimen", action="store_true", help="a demo/training card")
    issue.add_argument("--valid-days", type=_positive, default=5 * YEAR_S // DAY_S)
    issue.add_argument("--iat", type=int, metavar="EPOCH", help="issued-at (default now)")
    issue.add_argument("--exp", type=int, metavar="EPOCH", help="expiry (default iat + valid-days)")
    issue.add_argument(
        "--qr",
        type=Path,
        metavar="PNG",
        help="where to write the QR code image (default qr-<serial>.png)",
    )
    issue.add_argument("--card", type=Path, metavar="PNG", help="write a printable card image")
    issue.add_argument("--json", action="store_true")
    issue.set_defaults(func=cmd_issue)

    batch = sub.add_parser("issue-batch", help="one card per CSV row (name,dob,lang,benefits…)")
    batch.add_argument("csv", type=Path)
    batch.add_argument("--out", type=Path, required=True, help="JSON lines of issued cards")
    batch.add_argument("--valid-days", type=_positive, default=5 * YEAR_S // DAY_S)
    batch.add_argument("--specimen", action="store_true")
    batch.set_defaults(func=cmd_issue_batch)

    for name, status, text in (
        ("revoke", Status.REVOKED, "revoke a card (permanent)"),
        ("suspend", Status.SUSPENDED, "put a card on hold"),
        ("reinstate", Status.VALID, "lift a suspension"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--list", default="1", help="list number or uri (default 1)")
        cmd.add_argument("--index", type=int, help="status index printed at issue")
        cmd.add_argument("--serial", help="card serial (hex), looked up in issued.jsonl")
        cmd.set_defaults(func=_set_status(status))

    lists = sub.add_parser("status-list", help="sign a status list token per list")
    lists.add_argument("--out", type=Path, required=True, help="directory for status-N.cwt")
    lists.add_argument("--valid-hours", type=_positive, default=48)
    lists.add_argument("--ttl-hours", type=_positive, default=24)
    lists.set_defaults(func=cmd_status_list)

    bundle = sub.add_parser("bundle", help="sign the next trust bundle (version + 1)")
    bundle.add_argument("--out", type=Path, required=True)
    bundle.add_argument("--valid-days", type=_positive, default=30)
    bundle.add_argument("--without-status-lists", action="store_true")
    bundle.set_defaults(func=cmd_bundle)

    rotate = sub.add_parser("rotate", help="new signing key (card, status) or next root")
    rotate.add_argument("use", choices=["card", "status", "root"])
    rotate.add_argument(
        "--promote",
        action="store_true",
        help="root only: start signing with the announced next root",
    )
    rotate.set_defaults(func=cmd_rotate)

    revoke_key = sub.add_parser("revoke-key", help="list a compromised key in revoked_kids")
    revoke_key.add_argument("kid", help="key id, 16 hex characters")
    revoke_key.set_defaults(func=cmd_revoke_key)

    keys = sub.add_parser("keys", help="list keys and their validity")
    keys.set_defaults(func=cmd_keys)

    root = sub.add_parser("root-key", help="print the current root public key (hex) to pin")
    root.set_defaults(func=cmd_root_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args.func, args, "kiosk-issuer")


if __name__ == "__main__":
    sys.exit(main())
