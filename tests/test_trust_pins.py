"""Root trust as an attacker tries it: retired roots, future-dated and expired data.

Each scenario runs through the console commands a technician and a city use
(`kiosk trust import|status`, `kiosk verify`, `kiosk-issuer`). The attacker is a copy of
the city directory taken before the city rotated its root: it holds the retired root's
private key, exactly what a compromise leaves behind.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from kiosk import cli
from kiosk.cli import issuer as issuer_cli
from kiosk.core.statuslist import Status
from kiosk.issuer.city import DAY_S, YEAR_S, City, Holder
from tests.conftest import NOW, IssueFn
from tests.test_cli import run

TECHNICIAN = Holder("Mallory Forger", "1980-01-01", role="technician")


class Kiosk:
    """One kiosk's state folder, driven through `kiosk trust …` and `kiosk verify`."""

    def __init__(self, tmp: Path, capsys: pytest.CaptureFixture[str], name: str = "kiosk"):
        self.state = tmp / name
        self.files = tmp / f"{name}-files"
        self.files.mkdir()
        self.capsys = capsys
        self.pins: list[str] = []
        self.count = 0

    def pin(self, *roots: bytes) -> None:
        self.pins = [r.hex() for r in roots]

    def _roots(self) -> list[str]:
        return [a for r in self.pins for a in ("--root-key", r)]

    def trust(self, data: bytes, at: int = NOW) -> tuple[int, str, str]:
        self.count += 1
        path = self.files / f"{self.count}.cose"
        path.write_bytes(data)
        argv = ["trust", "import", path, *self._roots(), "--state-dir", self.state, "--at", at]
        return run(cli.main, argv, self.capsys)

    def status(self, at: int = NOW) -> tuple[int, str, str]:
        argv = ["trust", "status", "--json", *self._roots(), "--state-dir", self.state]
        return run(cli.main, [*argv, "--at", at], self.capsys)

    def verify(self, text: str, at: int = NOW) -> str:
        argv = ["verify", text, "--json", *self._roots(), "--state-dir", self.state, "--at", at]
        code, out, err = run(cli.main, argv, self.capsys)
        if not out:
            return f"error {code}: {err.strip()}"
        return str(json.loads(out)["reason"])


def stolen(city: City, tmp: Path) -> City:
    """The attacker: a copy of the city's keys as they are now."""
    return City(shutil.copytree(city.path, tmp / "stolen"))


def forge(attacker: City, now: int) -> tuple[bytes, str]:
    """A bundle with a fresh attacker card key and a version far ahead, and a card it signs."""
    attacker.meta["bundle_version"] = 50
    attacker.rotate("card", now)
    card = attacker.issue(TECHNICIAN, now)
    return attacker.bundle(now), card.text


def test_retired_root_cannot_install_anything(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = issue()
    kiosk = Kiosk(tmp_path, capsys)
    retired = city.root.public_key
    kiosk.pin(retired)
    assert kiosk.trust(city.bundle(NOW))[0] == 0
    attacker = stolen(city, tmp_path)
    new_root = city.rotate("root", NOW + 10).public_key
    city.bundle(NOW + 10)  # announces the new root
    city.promote_root()
    genuine = city.bundle(NOW + 20)
    evil, forged_card = forge(attacker, NOW + 30)

    kiosk.pin(new_root)  # the operator retires the compromised root
    code, _, err = kiosk.trust(evil, at=NOW + 40)
    assert code != 0 and "trusted root" in err
    code, out, _ = kiosk.trust(genuine, at=NOW + 40)
    assert code == 0 and "installed: bundle of us-il-chicago version 3" in out
    assert kiosk.verify(good.text, at=NOW + 50) == "ACCEPTED"
    assert kiosk.verify(forged_card, at=NOW + 50) != "ACCEPTED"


def test_repinning_after_compromise_lets_the_genuine_bundle_in(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = issue()
    kiosk = Kiosk(tmp_path, capsys)
    retired = city.root.public_key
    kiosk.pin(retired)
    kiosk.trust(city.bundle(NOW))
    attacker = stolen(city, tmp_path)
    new_root = city.rotate("root", NOW + 10).public_key
    city.promote_root()
    genuine = city.bundle(NOW + 20)  # version 2, far below the attacker's 50
    attacker_next = attacker.rotate("root", NOW + 25).public_key
    evil, forged_card = forge(attacker, NOW + 30)  # signed by the retired root, announces more

    # before anyone noticed: the retired root was still pinned, so its data counts
    assert kiosk.trust(evil, at=NOW + 30)[0] == 0
    assert kiosk.verify(forged_card, at=NOW + 35) == "ACCEPTED"
    attacker.promote_root()
    evil_successor = attacker.bundle(NOW + 36)
    assert kiosk.trust(evil_successor, at=NOW + 36)[0] == 0  # announced by a pinned root

    kiosk.pin(new_root)  # the technician re-pins
    code, out, err = kiosk.status(at=NOW + 40)
    assert code != 0 and "not pinned" in err and retired.hex()[:16] not in out
    assert err.count("\n") == 1
    assert kiosk.verify(forged_card, at=NOW + 40) != "ACCEPTED"
    assert "not pinned" in kiosk.verify(good.text, at=NOW + 40)  # can't check, not "bad"
    code, out, err = kiosk.trust(genuine, at=NOW + 40)
    assert code == 0, err
    assert kiosk.verify(good.text, at=NOW + 50) == "ACCEPTED"
    assert kiosk.verify(forged_card, at=NOW + 50) == "UNKNOWN_KEY"
    code, out, _ = kiosk.status(at=NOW + 50)
    report = json.loads(out)
    assert report["bundle"]["signer_root"] == new_root.hex()
    assert report["pinned_roots"] == [new_root.hex()]
    assert attacker_next.hex() not in out


def test_successors_are_trusted_only_through_a_pinned_root(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = issue()
    first = city.root.public_key
    kiosk, late = Kiosk(tmp_path, capsys), Kiosk(tmp_path, capsys, "late")
    kiosk.pin(first)
    late.pin(first)
    kiosk.trust(city.bundle(NOW))
    second = city.rotate("root", NOW + 1).public_key
    kiosk.trust(city.bundle(NOW + 2))  # first announces second
    city.promote_root()
    third = city.rotate("root", NOW + 3).public_key
    kiosk.trust(city.bundle(NOW + 4))  # signed by second, announces third
    city.promote_root()
    latest = city.bundle(NOW + 5)  # signed by third
    assert kiosk.trust(latest)[0] == 0
    assert kiosk.verify(good.text) == "ACCEPTED"
    report = json.loads(kiosk.status()[1])
    assert report["bundle"]["signer_root"] == third.hex()
    assert report["pinned_roots"] == [first.hex()]
    assert report["trusted_roots"] == [first.hex(), second.hex(), third.hex()]
    # a kiosk that missed the announcements cannot be talked into the third root
    code, _, err = late.trust(latest)
    assert code != 0 and "trusted root" in err
    # un-pinning the first root takes its whole lineage with it
    kiosk.pin(bytes(32 * [7]))
    assert "not pinned" in kiosk.verify(good.text)
    # pinning the third directly keeps working without the chain
    kiosk.pin(third)
    assert kiosk.verify(good.text) == "ACCEPTED"


def test_issuer_refuses_to_revoke_its_current_root(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--dir", city.path, "--now", NOW]
    root_kid = city.root.kid.hex()
    code, _, err = run(issuer_cli.main, [*d, "revoke-key", root_kid], capsys)
    assert code == 2 and "rotate the root first" in err
    assert root_kid not in json.loads((city.path / "city.json").read_text())["revoked_kids"]
    card_kid = city.active_key("card", NOW).kid.hex()
    assert run(issuer_cli.main, [*d, "revoke-key", card_kid], capsys)[0] == 0


# -- the clock floor and future-dated data ------------------------------------------------


def test_future_dated_list_is_refused_and_cannot_lock_the_kiosk_out(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = issue()
    kiosk = Kiosk(tmp_path, capsys)
    kiosk.pin(city.root.public_key)
    kiosk.trust(city.bundle(NOW))
    future = city.status_list_token("1", NOW + 3 * YEAR_S)
    code, _, err = kiosk.trust(future)
    assert code != 0 and "from the future" in err and err.count("\n") == 1
    assert kiosk.verify(good.text) == "ACCEPTED"


def test_clock_floor_counts_only_data_trusted_now(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A future-dated list already in the store (an older kiosk took it) stops counting
    as soon as the city revokes the key that signed it."""
    good = issue()
    kiosk = Kiosk(tmp_path, capsys)
    kiosk.pin(city.root.public_key)
    kiosk.trust(city.bundle(NOW))
    future = city.status_list_token("1", NOW + 3 * YEAR_S)
    # planted as a kiosk without the at-import check would have stored it
    code, _, _ = kiosk.trust(future, at=NOW + 3 * YEAR_S)
    assert code == 0
    assert kiosk.verify(good.text) == "TRUST_STALE"  # clock behind its trust data
    leaked = city.active_key("status", NOW).kid
    city.rotate("status", NOW + 60)
    city.revoke_key(leaked)
    assert kiosk.trust(city.bundle(NOW + 120))[0] == 0
    assert kiosk.verify(good.text, at=NOW + 130) == "ACCEPTED"
    report = json.loads(kiosk.status(at=NOW + 130)[1])
    assert report["clock_floor"] == NOW + 120


# -- expired data ---------------------------------------------------------------------------


def test_expired_data_is_refused_at_import_and_good_data_stays(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = issue()
    kiosk = Kiosk(tmp_path, capsys)
    kiosk.pin(city.root.public_key)
    current = city.bundle(NOW)
    kiosk.trust(current)
    stale_bundle = city.bundle(NOW - 40 * DAY_S)  # a higher version, expired ten days ago
    code, _, err = kiosk.trust(stale_bundle)
    assert code != 0 and "expired" in err and "2026-09-11" in err and err.count("\n") == 1
    stale_list = city.status_list_token("1", NOW - 3 * DAY_S)
    code, _, err = kiosk.trust(stale_list)
    assert code != 0 and "expired" in err
    assert kiosk.verify(good.text) == "ACCEPTED"
    assert "unchanged" in kiosk.trust(current)[1]


@pytest.mark.parametrize(
    "argv",
    [
        ["bundle", "--valid-days", "0"],
        ["bundle", "--valid-days", "-3"],
        ["status-list", "--valid-hours", "-1"],
        ["status-list", "--valid-hours", "0"],
        ["status-list", "--ttl-hours", "0"],
        ["issue", "--name", "A", "--dob", "1990-01-01", "--valid-days", "0"],
    ],
)
def test_issuer_refuses_validity_of_zero_or_less(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    out = ["--out", tmp_path / "out"] if argv[0] != "issue" else ["--qr", tmp_path / "q.png"]
    version = json.loads((city.path / "city.json").read_text())["bundle_version"]
    code, _, err = run(issuer_cli.main, ["--dir", city.path, "--now", NOW, *argv, *out], capsys)
    assert code == 2 and "must be" in err
    assert json.loads((city.path / "city.json").read_text())["bundle_version"] == version


def test_revoked_card_stays_revoked_across_a_lost_list_file(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rollback floors survive the loss of any one file: a status list file deleted from
    the store does not let an older list (in which the card was still valid) back in."""
    card = issue()
    kiosk = Kiosk(tmp_path, capsys)
    kiosk.pin(city.root.public_key)
    kiosk.trust(city.bundle(NOW, with_status_lists=False))
    before = city.status_list_token("1", NOW + 10)
    city.set_status("1", card.status_idx, Status.REVOKED)
    kiosk.trust(city.status_list_token("1", NOW + 20))
    for path in (kiosk.state / "lists").iterdir():
        path.unlink()
    code, _, err = kiosk.trust(before)
    assert code != 0 and "rollback" in err
    assert kiosk.verify(card.text, at=NOW + 30) == "TRUST_STALE"


# -- a damaged or hostile state folder ------------------------------------------------------


def installed(kiosk: Kiosk, city: City) -> None:
    kiosk.pin(city.root.public_key)
    assert kiosk.trust(city.bundle(NOW))[0] == 0


def bundle_files(kiosk: Kiosk) -> list[Path]:
    return sorted((kiosk.state / "bundles").glob("*.cose"))


def test_truncated_bundle_is_reported_and_repaired_by_good_data(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = issue()
    kiosk = Kiosk(tmp_path, capsys)
    kiosk.pin(city.root.public_key)
    older = city.bundle(NOW - DAY_S)
    current = city.bundle(NOW)
    kiosk.trust(older)
    kiosk.trust(current)
    (stored,) = bundle_files(kiosk)
    stored.write_bytes(stored.read_bytes()[:100])
    code, _, err = kiosk.status()
    assert code != 0 and "damaged" in err and err.count("\n") == 1
    assert "damaged" in kiosk.verify(good.text)
    # the floor survived the damaged file: the older bundle is still a rollback
    code, _, err = kiosk.trust(older)
    assert code != 0 and "rollback" in err
    stored.unlink()
    code, _, err = kiosk.trust(older)
    assert code != 0 and "rollback" in err
    assert kiosk.trust(current)[0] == 0  # the good data repairs the store
    assert kiosk.verify(good.text) == "ACCEPTED"
    assert kiosk.status()[0] == 0


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"v": 2, "bundles": {"aa": {"version": "soon", "issued_at": 1}}}',
        '{"v": 2, "bundles": {}, "lists": {"u": {"issued_at": NaN, "kid": "00"}}}',
        '{"v": 2, "bundles": {}, "lists": {"u": {"issued_at": Infinity, "kid": "00"}}}',
        '{"v": 2, "bundles": [1, 2], "lists": []}',
        '{"clock_floor": "soon", "roots": [[1]]}',
        "[]",
        "\x00\xff",
    ],
)
def test_unparseable_state_json_never_blocks_good_data(
    city: City,
    issue: IssueFn,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
) -> None:
    good = issue()
    kiosk = Kiosk(tmp_path, capsys)
    installed(kiosk, city)
    (kiosk.state / "state.json").write_text(content, errors="surrogateescape")
    code, out, err = kiosk.status()
    assert code == 0 and err == ""  # the signed files are enough to work
    legacy = "roots" in content
    assert legacy or "state.json is damaged" in " ".join(json.loads(out)["problems"])
    assert kiosk.verify(good.text) == "ACCEPTED"  # the signed files still vouch
    code, _, err = kiosk.trust(city.bundle(NOW + 10))
    assert code == 0, err
    assert kiosk.status(at=NOW + 20)[0] == 0
    assert json.loads((kiosk.state / "state.json").read_text())["v"] == 2


def test_hostile_files_in_the_state_folder_give_one_line(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    kiosk = Kiosk(tmp_path, capsys)
    installed(kiosk, city)
    (stored,) = bundle_files(kiosk)
    stored.unlink()
    os.mkfifo(stored)  # a FIFO where the bundle belongs: reading it must not hang
    code, _, err = kiosk.status()
    assert code != 0 and "regular file" in err and err.count("\n") == 1
    stored.unlink()
    stored.mkdir()  # a folder where a file belongs
    code, _, err = kiosk.status()
    assert code != 0 and "regular file" in err
    stored.rmdir()
    shutil.rmtree(kiosk.state / "lists")
    (kiosk.state / "lists").write_text("a file where a folder belongs")
    code, _, err = kiosk.trust(city.bundle(NOW + 10))
    assert code != 0 and "lists" in err and err.count("\n") == 1 and "Traceback" not in err


def test_symlinks_in_the_state_folder_are_not_followed(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kiosk = Kiosk(tmp_path, capsys)
    installed(kiosk, city)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    lock = kiosk.state / ".lock"
    lock.unlink()
    lock.symlink_to(victim)
    code, _, err = kiosk.trust(city.bundle(NOW + 10))
    assert code != 0 and "symlink" in err
    assert victim.read_text() == "precious"
    lock.unlink()
    state_json = kiosk.state / "state.json"
    state_json.unlink()
    state_json.symlink_to(victim)
    assert kiosk.trust(city.bundle(NOW + 20))[0] == 0
    assert victim.read_text() == "precious" and not state_json.is_symlink()


def test_leftovers_of_a_killed_import_are_cleaned(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kiosk = Kiosk(tmp_path, capsys)
    installed(kiosk, city)
    debris = [
        kiosk.state / ".state.json.tmp-4242",
        kiosk.state / "bundles" / ".0011223344556677.cose.tmp-abc",
        kiosk.state / "lists" / ".ab.cwt.tmp-x1",
    ]
    for path in debris:
        path.write_bytes(b"half")
    assert kiosk.trust(city.bundle(NOW + 10))[0] == 0
    assert not any(p.exists() for p in debris)


def test_odd_input_to_trust_commands_gives_one_line(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--dir", city.path, "--now", NOW]
    for kid in ("zz-not-hex", "abcd"):
        code, _, err = run(issuer_cli.main, [*d, "revoke-key", kid], capsys)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bundle = tmp_path / "b.cose"
    bundle.write_bytes(city.bundle(NOW))
    root = city.root.public_key.hex()
    argv = ["trust", "import", bundle, "--root-key", root, "--state-dir", blocker / "state"]
    code, _, err = run(cli.main, [*argv, "--at", NOW], capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


# -- found by the review: floors hold at load, not only at import ----------------------------


def test_an_older_bundle_put_back_in_place_of_the_newer_is_not_used(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = issue()
    kiosk = Kiosk(tmp_path, capsys)
    kiosk.pin(city.root.public_key)
    v1 = city.bundle(NOW)
    kiosk.trust(v1)
    city.revoke_key(city.active_key("card", NOW).kid)
    kiosk.trust(city.bundle(NOW + 10))
    assert kiosk.verify(card.text, at=NOW + 20) == "KEY_NOT_VALID"
    (stored,) = bundle_files(kiosk)
    stored.write_bytes(v1)  # the older, genuine file, where the newer one was
    assert "older than v2" in kiosk.verify(card.text, at=NOW + 20)


def test_a_lost_list_does_not_bring_back_the_bundles_older_copy(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = issue()
    kiosk = Kiosk(tmp_path, capsys)
    kiosk.pin(city.root.public_key)
    kiosk.trust(city.bundle(NOW))  # carries a list in which the card is valid
    city.set_status("1", card.status_idx, Status.REVOKED)
    kiosk.trust(city.status_list_token("1", NOW + 10))
    assert kiosk.verify(card.text, at=NOW + 20) == "REVOKED"
    for path in (kiosk.state / "lists").iterdir():
        path.unlink()
    assert kiosk.verify(card.text, at=NOW + 20) == "TRUST_STALE"
    _, out, _ = kiosk.status(at=NOW + 20)
    assert "older than the last one" in out


def test_a_future_dated_list_dropped_into_the_store_is_not_used(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = issue()
    kiosk = Kiosk(tmp_path, capsys)
    installed(kiosk, city)
    (listed,) = (kiosk.state / "lists").iterdir()
    listed.write_bytes(city.status_list_token("1", NOW + 3 * YEAR_S))
    assert kiosk.verify(good.text) == "ACCEPTED"  # the bundle's own copy still counts
    assert "dated in the future" in kiosk.status()[1]


def test_deeply_nested_state_json_is_one_line(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kiosk = Kiosk(tmp_path, capsys)
    installed(kiosk, city)
    (kiosk.state / "state.json").write_text("[" * 100_000 + "]" * 100_000)
    code, out, _ = kiosk.status()
    assert code == 0 and "nested too deep" in out
    assert kiosk.trust(city.bundle(NOW + 10))[0] == 0


def test_trust_status_says_when_the_data_was_updated_and_until_when_it_is_good(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A staff-visible line (issue 13): bundles last 30 days, embedded lists 48 h."""
    kiosk = Kiosk(tmp_path, capsys)
    installed(kiosk, city)
    argv = ["trust", "status", "--root-key", city.root.public_key.hex()]
    code, out, _ = run(cli.main, [*argv, "--state-dir", kiosk.state, "--at", NOW], capsys)
    assert code == 0
    day = lambda t: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))  # noqa: E731
    assert out.splitlines()[0] == (
        f"trust data updated {day(NOW)}, good until {day(NOW + 2 * DAY_S)}"
    )
