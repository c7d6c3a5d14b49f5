"""Status list at city scale: 10 million slots, 1 % revoked.

    .venv/bin/python benchmarks/statuslist.py [--slots 10000000] [--revoked 0.01]

Measures the compressed size, the time and memory to load (inflate) a list as the kiosk does,
the time to verify a whole signed token, and the cost of one lookup.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import timeit
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import cbor2
import numpy as np

from kiosk.core.cose import ed25519_protected, encode_sign1
from kiosk.core.statuslist import StatusList
from kiosk.core.trust import STATUS_LIST_TYP, Bundle, parse_bundle, parse_status_list_token
from kiosk.issuer.city import City


def random_list(slots: int, share: float, bits: int) -> tuple[StatusList, np.ndarray]:
    rng = np.random.default_rng(1)
    revoked = rng.choice(slots, size=int(slots * share), replace=False)
    if bits == 1:
        flags = np.zeros(slots, dtype=np.uint8)
        flags[revoked] = 1
        return StatusList(1, bytearray(np.packbits(flags, bitorder="little").tobytes())), revoked
    statuses = StatusList.blank(slots, bits)
    for idx in revoked.tolist():
        statuses.set(idx, 1)
    return statuses, revoked


def seconds(fn: Callable[[], object], runs: int = 5) -> list[float]:
    return [timeit.timeit(fn, number=1) for _ in range(runs)]


def measure(bits: int, slots: int, share: float, city: City, bundle: Bundle, now: int) -> str:
    statuses, revoked = random_list(slots, share, bits)
    lst = statuses.compressed()
    assert all(statuses.status(int(i)) == 1 for i in revoked[:1000])
    loads = seconds(lambda: StatusList.from_compressed(bits, lst))
    tracemalloc.start()
    loaded = StatusList.from_compressed(bits, lst)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    claims = {
        2: "https://id.example.gov/s/1",
        6: now,
        4: now + 86400,
        65533: {"bits": bits, "lst": lst},
    }
    key = city.active_key("status", now)
    token = encode_sign1(
        ed25519_protected(key.kid, typ=STATUS_LIST_TYP),
        cbor2.dumps(claims),
        city.signing_key(key.kid),
    )
    verify = seconds(lambda: parse_status_list_token(token, bundle))
    probes = [random.randrange(slots) for _ in range(100_000)]
    status = loaded.status
    lookup = min(seconds(lambda: [status(i) for i in probes])) / len(probes)
    return (
        f"| {slots:,} slots × {bits} bit, {share:.0%} revoked "
        f"| {len(statuses.to_bytes()) / 1e6:.2f} MB | {len(lst) / 1e3:,.0f} kB "
        f"| {statistics.median(loads) * 1e3:.1f} ms "
        f"| {statistics.median(verify) * 1e3:.1f} ms "
        f"| {peak / 1e6:.2f} MB peak "
        f"| {lookup * 1e9:.0f} ns |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=10_000_000)
    parser.add_argument("--revoked", type=float, default=0.01)
    args = parser.parse_args()
    print("| list | raw | compressed | load (inflate) | verify token | memory | lookup |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        now = int(time.time())
        city = City.init(Path(tmp) / "city", "us-il-chicago", "https://id.example.gov/s/", now)
        bundle = parse_bundle(city.bundle(now), [city.root.public_key])
        for bits in (1, 2):
            print(measure(bits, args.slots, args.revoked, city, bundle, now))


if __name__ == "__main__":
    main()
