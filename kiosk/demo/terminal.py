"""`kiosk demo` in a terminal: a specimen city and the kiosk's decision on each sample card."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TextIO

from kiosk.core.card import verify_card
from kiosk.core.errors import EXIT_OK
from kiosk.core.policy import PassbackGuard, Policy
from kiosk.core.trust import TrustStore, parse_bundle
from kiosk.demo import specimen

SITES = {"gate": "library entrance", "counter": "service counter"}
ACTIONS = {
    "gate": {True: "gate opens", False: "gate stays shut"},
    "counter": {True: "staff see the holder; pass printed", False: "staff are told why"},
}


def run_terminal_demo(out: TextIO, mode: str = "gate") -> int:
    now = int(time.time())
    with tempfile.TemporaryDirectory(prefix="kiosk-demo-") as tmp:
        city = specimen.build(Path(tmp) / "city", now)
        store = TrustStore.build(parse_bundle(city.bundle, [city.root_key]))
        policy = Policy.for_mode(mode, required_benefits=frozenset({"library"}))
        passback = PassbackGuard(policy.passback_s)
        bundle = store.bundle
        out.write("CityCard Kiosk: terminal demo (specimen city, no hardware)\n")
        out.write(
            f"  city {bundle.issuer}, root key {city.root_key.hex()[:16]}…, bundle "
            f"version {bundle.version}, {len(store.lists)} status list(s)\n"
        )
        out.write(
            f"  site: {SITES[mode]} ({mode} mode), requires benefit 'library', "
            f"anti-passback {policy.passback_s} s\n\n"
        )
        for number, sample in enumerate(city.samples, start=1):
            at = now + 5 * number
            decision = passback.check(verify_card(sample.text, store, at, policy), at)
            mark = "✓" if decision.accepted else "✗"
            action = ACTIONS[mode][decision.accepted]
            if decision.accepted and decision.role == "technician":
                action = "technician menu"
            out.write(
                f"{number:2} {sample.label:46} {mark} {decision.reason.value:14}"
                f" {decision.reason.sentence} [{action}]\n"
            )
    return EXIT_OK
