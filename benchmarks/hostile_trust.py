"""Hostile trust files and cards: what refusing them costs, at the size caps.

    .venv/bin/python benchmarks/hostile_trust.py [--only SUBSTRING]

Trust files: each case is a file as large as its cap (bundle 16 MiB, status list 4 MiB)
with a hostile CBOR body as the whole file, in the protected header, in the unprotected
header or as the payload (signed by the root for a bundle, so that it is parsed; unsigned
for a status list, whose payload is read before its signature). Each file is parsed in a
fresh child process that only reads it: "extra MB" is the child's peak RSS minus its RSS
just before the parse (the file itself not counted). The issue's target is < 1 s and
< 100 MB for any file up to the cap.

Cards: verify_card time for a valid card and for genuinely signed cards holding tagged
items (regex, MIME) or wrapped in tag 55799, best of several rounds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cbor2
from nacl.signing import SigningKey

from kiosk.core.base45 import b45decode, b45encode
from kiosk.core.card import PREFIX, verify_card
from kiosk.core.cose import decode_sign1, encode_sign1, kid_for
from kiosk.core.errors import TrustError
from kiosk.core.policy import Policy
from kiosk.core.trust import (
    MAX_BUNDLE_BYTES,
    MAX_STATUS_LIST_TOKEN_BYTES,
    STATUS_LIST_TYP,
    TrustStore,
    decode_status_list_token,
    parse_bundle,
)
from kiosk.issuer.city import DAY_S, City, Holder

REGEX = b"\xd8\x23\x66(a+)+$"
MIME = b"\xd8\x24\x78\x1aContent-Type: text/plain\n\n"


def array_head(count: int) -> bytes:
    return b"\x9a" + count.to_bytes(4, "big")


BODIES: dict[str, Callable[[int], bytes]] = {
    "nested maps": lambda n: b"\xa1\xa0" * (n // 2) + b"\xa0",
    "deep arrays": lambda n: b"\x81" * n + b"\x00",
    "many empty maps": lambda n: array_head(n) + b"\xa0" * n,
    "many tiny items": lambda n: array_head(n) + b"\x00" * n,
    "many short texts": lambda n: array_head(n // 2) + b"\x61a" * (n // 2),
    "regex tags": lambda n: array_head(n // len(REGEX)) + REGEX * (n // len(REGEX)),
    "mime tags": lambda n: array_head(n // len(MIME)) + MIME * (n // len(MIME)),
    "indefinite arrays": lambda n: b"\x9f" * n + b"\x00",
}
PLACES = ("whole file", "protected header", "unprotected header", "payload")
ROOT = SigningKey(bytes(range(32)))
STATUS_KID = bytes(8)


def bstr_head(length: int) -> bytes:
    return b"\x5a" + length.to_bytes(4, "big")


def trust_file(kind: str, place: str, body: bytes) -> bytes:
    if kind == "bundle":
        protected = cbor2.dumps({1: -8, 4: kid_for(bytes(ROOT.verify_key))})
    else:
        protected = cbor2.dumps({1: -8, 4: STATUS_KID, 16: STATUS_LIST_TYP})
    signature = cbor2.dumps(bytes(64))
    if place == "whole file":
        return body
    if place == "protected header":
        return b"\xd2\x84" + bstr_head(len(body)) + body + b"\xa0\x40" + signature
    if place == "unprotected header":
        return b"\xd2\x84" + cbor2.dumps(protected) + b"\xa1\x04" + body + b"\x40" + signature
    if kind == "bundle":
        return encode_sign1(cbor2.loads(protected), body, ROOT)
    return b"\xd2\x84" + cbor2.dumps(protected) + b"\xa0" + bstr_head(len(body)) + body + signature


def genuine_big_bundle() -> bytes:
    """A root-signed bundle just under the cap: three status lists of about 4 MiB each."""
    now = int(time.time())
    payload = {
        "v": 1,
        "issuer": "us-il-chicago",
        "version": 1,
        "issued_at": now,
        "expires_at": now + 30 * DAY_S,
        "keys": [],
        "status_lists": [bytes(MAX_BUNDLE_BYTES // 4 - 64)] * 3,
    }
    return encode_sign1({1: -8, 4: kid_for(bytes(ROOT.verify_key))}, cbor2.dumps(payload), ROOT)


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1])


def reset_peak_rss() -> None:
    """Linux: VmHWM restarts from the current RSS (ru_maxrss can't be reset, and a child
    inherits its parent's)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def build_case(name: str) -> bytes:
    kind, body_kind, place = name.split("/")
    cap = MAX_BUNDLE_BYTES if kind == "bundle" else MAX_STATUS_LIST_TOKEN_BYTES
    if body_kind == "genuine":
        data = genuine_big_bundle()
    else:
        data = trust_file(kind, place, BODIES[body_kind](cap - 256))
    assert len(data) <= cap, (name, len(data))
    return data


def run_case(name: str, path: str) -> None:
    """In the child: read the file, parse it once, print seconds, extra MB and outcome."""
    data = Path(path).read_bytes()
    roots = [bytes(ROOT.verify_key)]
    reset_peak_rss()
    before = status_kib("VmRSS")
    start = time.perf_counter()
    try:
        if name.startswith("bundle/"):
            parse_bundle(data, roots)
        else:
            decode_status_list_token(data)
        outcome = "accepted"
    except TrustError as exc:
        outcome = f"refused: {str(exc)[:60]}"
    seconds = time.perf_counter() - start
    peak = status_kib("VmHWM")
    print(f"{seconds:.3f}\t{(peak - before) / 1024:.1f}\t{len(data)}\t{outcome}")


def trust_cases() -> list[str]:
    cases = [f"bundle/genuine/{PLACES[3]}"]
    for kind in ("bundle", "list"):
        cases += [f"{kind}/{body}/{place}" for body in BODIES for place in PLACES]
    return cases


def card_timings(rounds: int) -> None:
    now = 1_790_000_000
    with tempfile.TemporaryDirectory() as tmp:
        city = City.init(
            Path(tmp) / "city", "us-il-chicago", "https://id.example/s/", now - 9 * DAY_S
        )
        card = city.issue(Holder("Ana Sofía Reyes", "1987-06-05", lang="es"), now - DAY_S).text
        trust = TrustStore.build(parse_bundle(city.bundle(now), [city.root.public_key]))
        record = city.active_key("card", now)
        key = city.signing_key(record.kid)
    cose = b45decode(card[len(PREFIX) :])
    claims = cbor2.loads(decode_sign1(cose).payload)
    hole = cbor2.dumps("\u2603")

    def signed_with(raw_item: bytes) -> str:
        claims[-65537]["name"] = "\u2603"
        payload = cbor2.dumps(claims).replace(hole, raw_item)
        return PREFIX + b45encode(encode_sign1({1: -8, 4: record.kid}, payload, key))

    texts = {
        "valid card": card,
        "regex (tag 35) as the name": signed_with(b"\xd8\x23" + cbor2.dumps("(a+)+$" * 8)),
        "MIME (tag 36) as the name": signed_with(MIME),
        "tag 55799 around the card": PREFIX + b45encode(b"\xd9\xd9\xf7" + cose),
    }
    policy = Policy.for_mode("gate", passback_s=0)
    print("| card | reason | µs per verify_card | × a valid card |")
    print("|---|---|---|---|")
    best: dict[str, float] = {}
    for name, text in texts.items():
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(200):
                decision = verify_card(text, trust, now, policy)
            timings.append((time.perf_counter() - start) / 200)
        best[name] = min(timings) * 1e6
        ratio = best[name] / best["valid card"]
        print(f"| {name} | {decision.reason} | {best[name]:.1f} | {ratio:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--only", default="", help="run the trust cases whose name has this")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if args.case:
        run_case(*args.case)
        return
    print("| file / hostile body / where | bytes | seconds | extra MB | outcome |")
    print("|---|---|---|---|---|")
    worst_s = worst_mb = 0.0
    for case in trust_cases():
        if args.only not in case:
            continue
        with tempfile.NamedTemporaryFile() as file:
            file.write(build_case(case))
            file.flush()
            command = [sys.executable, __file__, "--case", case, file.name]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        seconds, extra_mb, size, outcome = out.strip().split("\t")
        worst_s, worst_mb = max(worst_s, float(seconds)), max(worst_mb, float(extra_mb))
        print(f"| {case} | {int(size):,} | {seconds} | {extra_mb} | {outcome} |")
    print(f"worst: {worst_s:.3f} s, {worst_mb:.1f} MB extra (target < 1 s, < 100 MB)")
    print()
    card_timings(args.rounds)


if __name__ == "__main__":
    main()
