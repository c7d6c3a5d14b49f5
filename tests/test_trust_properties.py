"""Property: whatever a technician pins and whatever files reach the kiosk, in any order,
the kiosk accepts a card only when the roots pinned now vouch for it, and accepts a genuine
card again as soon as the pinned roots' fresh data is imported.

The world (built once: hypothesis reruns the body many times): a city that rotated from
root R0 to R1, and an attacker who stole R0 before the rotation — with its own card key, a
bundle far ahead in version, and a successor root RA announced in it. Steps are pin
changes, imports of genuine, rolled back, future-dated, expired and attacker data, and
damage to the stored files.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.core.card import verify_card
from kiosk.core.errors import TrustError
from kiosk.core.policy import Policy
from kiosk.core.reasons import Reason
from kiosk.core.trust_state import BUNDLES_DIR, LISTS_DIR, STATE_FILE, TrustState
from kiosk.issuer.city import DAY_S, YEAR_S, City, Holder
from tests.conftest import ISSUER, NOW, STATUS_BASE

AT = NOW + 1000  # every import and every check happens at this moment


@dataclass(frozen=True)
class World:
    r0: bytes
    r1: bytes
    ra: bytes
    genuine_card: str
    forged_card: str
    files: dict[str, bytes]  # name: trust file


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("world")
    city = City.init(base / "city", ISSUER, STATUS_BASE, NOW - YEAR_S)
    genuine_card = city.issue(Holder("Ana Reyes", "1990-01-01"), NOW).text
    r0 = city.root.public_key
    files = {"g1": city.bundle(AT - 900)}
    attacker = City(shutil.copytree(city.path, base / "stolen"))
    r1 = city.rotate("root", AT - 800).public_key
    files["g2 announces r1"] = city.bundle(AT - 800)
    city.promote_root()
    files["g3 by r1"] = city.bundle(AT - 700)
    files["list"] = city.status_list_token("1", AT - 600)
    files["future list"] = city.status_list_token("1", AT + 2 * YEAR_S)
    files["expired bundle"] = city.bundle(AT - 40 * DAY_S)  # highest genuine version
    files["future bundle"] = city.bundle(AT + YEAR_S)
    files["g-latest"] = city.bundle(AT - 500)
    attacker.meta["bundle_version"] = 50
    attacker.rotate("card", AT - 650)
    forged_card = attacker.issue(Holder("Mallory", "1980-01-01", role="technician"), AT - 650)
    ra = attacker.rotate("root", AT - 650).public_key
    files["attacker by r0"] = attacker.bundle(AT - 650)
    attacker.promote_root()
    files["attacker by ra"] = attacker.bundle(AT - 640)
    return World(r0, r1, ra, genuine_card, forged_card.text, files)


IMPORTS = st.sampled_from(
    [
        "g1",
        "g2 announces r1",
        "g3 by r1",
        "list",
        "future list",
        "expired bundle",
        "future bundle",
        "g-latest",
        "attacker by r0",
        "attacker by ra",
    ]
)
DAMAGE = st.sampled_from(["truncate bundles", "garble state", "delete state", "delete lists"])
PINS = st.sets(st.sampled_from(["r0", "r1", "ra"]), min_size=1)
STEP = st.one_of(
    st.tuples(st.just("import"), IMPORTS),
    st.tuples(st.just("pin"), PINS),
    st.tuples(st.just("damage"), DAMAGE),
)


def decide(state: TrustState, text: str) -> Reason:
    try:
        store = state.load()
    except TrustError:
        store = None  # what the kiosk does: "can't check" until good data comes
    return verify_card(text, store, AT, Policy.for_mode("gate", passback_s=0)).reason


def damage(folder: Path, how: str) -> None:
    if how == "truncate bundles":
        for path in (folder / BUNDLES_DIR).glob("*.cose"):
            path.write_bytes(path.read_bytes()[:40])
    elif how == "garble state" and (folder / STATE_FILE).exists():
        (folder / STATE_FILE).write_text('{"v": 2, "bundles": {"zz": NaN}}')
    elif how == "delete state":
        (folder / STATE_FILE).unlink(missing_ok=True)
    elif how == "delete lists":
        shutil.rmtree(folder / LISTS_DIR, ignore_errors=True)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, max_size=8))
def test_only_what_the_pins_vouch_for_is_accepted(world: World, steps: list) -> None:  # type: ignore[type-arg]
    roots = {"r0": world.r0, "r1": world.r1, "ra": world.ra}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pins = {"r0"}
        for kind, arg in steps:
            state = TrustState(folder, [roots[p] for p in sorted(pins)], clock=lambda: AT)
            if kind == "pin":
                pins = set(arg)
            elif kind == "damage":
                damage(folder, arg)
            else:
                try:
                    state.import_bytes(world.files[arg])
                except TrustError:
                    pass
                else:
                    assert "future" not in arg and "expired" not in arg, arg
            state = TrustState(folder, [roots[p] for p in sorted(pins)], clock=lambda: AT)
            # the attacker's key is reachable only through the stolen root or its successor
            if not pins & {"r0", "ra"}:
                assert decide(state, world.forged_card) is not Reason.ACCEPTED, steps
        # the recovery: pin the city's current root, import its fresh data
        state = TrustState(folder, [world.r1], clock=lambda: AT)
        state.import_bytes(world.files["g-latest"])
        assert decide(state, world.genuine_card) is Reason.ACCEPTED, steps
        assert decide(state, world.forged_card) is not Reason.ACCEPTED, steps
