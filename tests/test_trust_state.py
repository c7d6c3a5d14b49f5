"""Trust data on disk: verification before storage, rollback refusal, atomicity, rotation."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import cbor2
import pytest
from nacl.signing import SigningKey

from kiosk.core.card import verify_card
from kiosk.core.cose import ed25519_protected, encode_sign1
from kiosk.core.errors import TrustError
from kiosk.core.policy import Policy
from kiosk.core.reasons import Reason
from kiosk.core.statuslist import Status
from kiosk.core.trust import STATUS_LIST_TYP, TrustStore, parse_bundle, parse_status_list_token
from kiosk.core.trust_state import BUNDLES_DIR, TrustState
from kiosk.issuer.city import DAY_S, YEAR_S, City
from tests.conftest import ISSUER, NOW, STATUS_BASE, IssueFn


@pytest.fixture
def state(tmp_path: Path, city: City) -> TrustState:
    return TrustState(tmp_path / "state", [city.root.public_key], clock=lambda: NOW)


def installed_version(state: TrustState) -> int:
    store = state.load()
    assert store is not None
    return store.bundle.version


def test_import_then_load_verifies_cards(state: TrustState, city: City, issue: IssueFn) -> None:
    card = issue()
    results = state.import_bytes(city.bundle(NOW))
    assert [r.kind for r in results] == ["bundle", "status list"]
    assert all(r.installed for r in results)
    store = state.load()
    assert store is not None and store.problems == ()
    assert verify_card(card.text, store, NOW, Policy.for_mode("gate")).reason is Reason.ACCEPTED


def test_nothing_installed_loads_as_none(state: TrustState) -> None:
    assert state.load() is None


def test_forged_bundle_refused_and_last_good_kept(
    state: TrustState, city: City, tmp_path: Path
) -> None:
    state.import_bytes(city.bundle(NOW))
    impostor = City.init(tmp_path / "impostor", ISSUER, STATUS_BASE, NOW - YEAR_S)
    with pytest.raises(TrustError, match="signature"):
        state.import_bytes(impostor.bundle(NOW + 10))
    tampered = bytearray(city.bundle(NOW + 20))
    tampered[40] ^= 0x01
    with pytest.raises(TrustError):
        state.import_bytes(bytes(tampered))
    assert installed_version(state) == 1


def test_rollback_refused(state: TrustState, city: City) -> None:
    old = city.bundle(NOW)
    new = city.bundle(NOW + 10)
    state.import_bytes(new)
    with pytest.raises(TrustError, match="rollback"):
        state.import_bytes(old)
    assert installed_version(state) == 2
    # the same bundle again is harmless
    assert not state.import_bytes(new)[0].installed


def test_same_version_different_content_refused(state: TrustState, city: City) -> None:
    first = city.bundle(NOW)
    city.meta["bundle_version"] -= 1
    twin = city.bundle(NOW + 5)
    state.import_bytes(first)
    with pytest.raises(TrustError, match="different bundle"):
        state.import_bytes(twin)


def test_issuer_change_refused(state: TrustState, city: City) -> None:
    state.import_bytes(city.bundle(NOW))
    city.meta["issuer"] = "us-ny-nyc"
    with pytest.raises(TrustError, match="issuer"):
        state.import_bytes(city.bundle(NOW + 5))


def test_crash_between_write_and_rename_keeps_last_good(
    state: TrustState, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.import_bytes(city.bundle(NOW))
    real_replace = os.replace

    def power_cut(src: str | os.PathLike, dst: str | os.PathLike) -> None:
        if Path(dst).parent.name == BUNDLES_DIR:
            raise OSError("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(TrustError, match="power cut"):
        state.import_bytes(city.bundle(NOW + 10))
    monkeypatch.undo()
    assert installed_version(state) == 1  # the old bundle, intact and verified
    assert state.clean_temporary_files() == 0  # the failed write removed its own temp file
    assert installed_version(state) == 1
    state.import_bytes(city.bundle(NOW + 20))
    assert installed_version(state) == 3


def test_damaged_stored_bundle_is_noticed(state: TrustState, city: City) -> None:
    state.import_bytes(city.bundle(NOW))
    (path,) = (state.dir / BUNDLES_DIR).iterdir()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(TrustError, match="not pinned"):  # the signature no longer verifies
        state.load()


def test_root_rotation_through_next_roots(tmp_path: Path, city: City) -> None:
    old_root = city.root.public_key
    kiosk = TrustState(tmp_path / "kiosk", [old_root], clock=lambda: NOW)
    late_kiosk = TrustState(tmp_path / "late", [old_root], clock=lambda: NOW)
    kiosk.import_bytes(city.bundle(NOW))
    new_root = city.rotate("root", NOW)
    announcing = city.bundle(NOW + 10)
    assert parse_bundle(announcing, [old_root]).next_roots == (new_root.public_key,)
    kiosk.import_bytes(announcing)
    city.promote_root()
    signed_by_new = city.bundle(NOW + 20)
    kiosk.import_bytes(signed_by_new)
    assert installed_version(kiosk) == 3
    store = kiosk.load()
    assert store is not None and store.bundle.signer == new_root.public_key
    # a kiosk that never saw the announcement cannot be talked into the new root
    with pytest.raises(TrustError, match="trusted root"):
        late_kiosk.import_bytes(signed_by_new)


def test_unannounced_root_refused(tmp_path: Path, city: City) -> None:
    kiosk = TrustState(tmp_path / "kiosk", [city.root.public_key], clock=lambda: NOW)
    kiosk.import_bytes(city.bundle(NOW))
    city.rotate("root", NOW)
    city.promote_root()  # promoted without ever publishing a bundle announcing it
    with pytest.raises(TrustError, match="trusted root"):
        kiosk.import_bytes(city.bundle(NOW + 10))


def test_status_list_import_and_rollback(state: TrustState, city: City, issue: IssueFn) -> None:
    card = issue()
    state.import_bytes(city.bundle(NOW, with_status_lists=False))
    gate = Policy.for_mode("gate")
    store = state.load()
    assert store is not None
    assert verify_card(card.text, store, NOW, gate).reason is Reason.TRUST_STALE  # no list
    fresh = city.status_list_token("1", NOW + 10)
    city.set_status("1", card.status_idx, Status.REVOKED)
    newer = city.status_list_token("1", NOW + 20)
    state.import_bytes(newer)
    with pytest.raises(TrustError, match="rollback"):
        state.import_bytes(fresh)
    store = state.load()
    assert store is not None
    assert verify_card(card.text, store, NOW + 30, gate).reason is Reason.REVOKED


def test_status_list_before_any_bundle(state: TrustState, city: City) -> None:
    with pytest.raises(TrustError, match="bundle first"):
        state.import_bytes(city.status_list_token("1", NOW))


def test_status_list_signed_by_card_key_refused(city: City) -> None:
    bundle = parse_bundle(city.bundle(NOW), [city.root.public_key])
    card_key = city.active_key("card", NOW)
    claims = {
        2: city.list_uri("1"),
        6: NOW,
        4: NOW + DAY_S,
        65533: {"bits": 2, "lst": city.statuses("1").compressed()},
    }
    token = encode_sign1(
        ed25519_protected(card_key.kid, typ=STATUS_LIST_TYP),
        cbor2.dumps(claims),
        city.signing_key(card_key.kid),
    )
    with pytest.raises(TrustError, match="card key cannot sign status"):
        parse_status_list_token(token, bundle)


def test_status_list_bomb_refused(city: City) -> None:
    bundle = parse_bundle(city.bundle(NOW), [city.root.public_key])
    key = city.active_key("status", NOW)
    bomb = zlib.compress(bytes(200_000_000), 9)  # 200 MB of zeros in ~200 KB
    claims = {2: city.list_uri("1"), 6: NOW, 4: NOW + DAY_S, 65533: {"bits": 1, "lst": bomb}}
    token = encode_sign1(
        ed25519_protected(key.kid, typ=STATUS_LIST_TYP),
        cbor2.dumps(claims),
        city.signing_key(key.kid),
    )
    with pytest.raises(TrustError, match="inflates to more than"):
        parse_status_list_token(token, bundle)


def test_list_of_a_revoked_status_key_is_dropped(city: City, issue: IssueFn) -> None:
    card = issue()
    old_list = city.status_list_token("1", NOW)
    city.revoke_key(city.active_key("status", NOW).kid)
    city.rotate("status", NOW + 1)
    bundle = parse_bundle(city.bundle(NOW + 2, with_status_lists=False), [city.root.public_key])
    store = TrustStore.build(bundle, [old_list])
    assert store.lists == {}
    assert any("revoked" in p for p in store.problems)
    gate = Policy.for_mode("gate")
    assert verify_card(card.text, store, NOW + 3, gate).reason is Reason.TRUST_STALE


def test_newest_list_per_uri_wins(city: City, issue: IssueFn) -> None:
    card = issue()
    older = city.status_list_token("1", NOW)
    city.set_status("1", card.status_idx, Status.SUSPENDED)
    newer = city.status_list_token("1", NOW + 60)
    bundle = parse_bundle(city.bundle(NOW, with_status_lists=False), [city.root.public_key])
    gate = Policy.for_mode("gate")
    for order in ([older, newer], [newer, older]):
        store = TrustStore.build(bundle, order)
        assert verify_card(card.text, store, NOW + 61, gate).reason is Reason.SUSPENDED


def test_oversized_trust_file_refused(tmp_path: Path, state: TrustState) -> None:
    from kiosk.core.trust_state import read_limited

    big = tmp_path / "big.cose"
    big.write_bytes(b"\0" * 2048)
    with pytest.raises(TrustError, match="larger than"):
        read_limited(big, limit=1024)


def test_garbage_file_is_a_trust_error(state: TrustState, city: City) -> None:
    state.import_bytes(city.bundle(NOW))
    for junk in (b"", b"PK\x03\x04 not a bundle", os.urandom(300)):
        with pytest.raises(TrustError):
            state.import_bytes(junk)
    assert installed_version(state) == 1


def test_no_pinned_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="pinned root"):
        TrustState(tmp_path, [])


def test_forged_root_key_cannot_verify(city: City) -> None:
    with pytest.raises(TrustError):
        parse_bundle(city.bundle(NOW), [bytes(SigningKey.generate().verify_key)])


def test_the_single_file_layout_of_older_kiosks_is_read_and_moved(
    tmp_path: Path, city: City, issue: IssueFn
) -> None:
    """Before 2026-12: bundle.cose and a state.json whose `roots` vouched for successors."""
    old = tmp_path / "state"
    old.mkdir()
    (old / "bundle.cose").write_bytes(city.bundle(NOW))
    stranger = bytes(SigningKey.generate().verify_key).hex()
    (old / "state.json").write_text(
        f'{{"roots": ["{stranger}"], "issuer": "{ISSUER}", "clock_floor": {NOW + 10**8}}}'
    )
    state = TrustState(old, [city.root.public_key], clock=lambda: NOW)
    store = state.load()
    assert store is not None and store.problems == ()
    assert bytes.fromhex(stranger) not in store.roots  # the old `roots` vouch for nothing
    assert store.clock_floor == NOW  # nor does the old clock floor count
    gate = Policy.for_mode("gate")
    assert verify_card(issue().text, store, NOW, gate).reason is Reason.ACCEPTED
    state.import_bytes(city.bundle(NOW + 10))
    assert not (old / "bundle.cose").exists()
    assert len(list((old / BUNDLES_DIR).glob("*.cose"))) == 1
    assert installed_version(state) == 2


def test_the_watcher_never_keeps_an_old_store_it_could_not_recheck(
    state: TrustState, city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiosk.app.trust_watch import TrustWatcher

    state.import_bytes(city.bundle(NOW))
    watcher = TrustWatcher(state, every_s=0)
    assert watcher.check(0.0) and watcher.store is not None and watcher.trouble is None

    def broken() -> None:
        raise RecursionError("a state file the parser chokes on")

    monkeypatch.setattr(state, "load", broken)
    state.import_bytes(city.bundle(NOW + 10))  # the folder changes: the watcher re-checks
    assert watcher.check(1.0)
    assert watcher.store is None and "could not be read" in (watcher.trouble or "")
