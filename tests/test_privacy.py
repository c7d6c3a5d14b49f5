"""Privacy as a test: nothing the kiosk writes or prints carries the holder's data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiosk import cli
from kiosk.cli import issuer as issuer_cli
from kiosk.core.card import verify_card
from kiosk.core.policy import Policy
from kiosk.core.statuslist import Status
from kiosk.issuer.city import City, Holder
from tests.cards import cose_of
from tests.conftest import DOB, NAME, NOW, IssueFn, TrustFn
from tests.test_cli import run, verify_args


def markers(serial: bytes) -> list[bytes]:
    return [
        NAME.encode(),
        DOB.encode(),
        serial,
        serial.hex().encode(),
        serial.hex().upper().encode(),
    ]


def assert_clean(blob: bytes, serial: bytes, where: str) -> None:
    for marker in markers(serial):
        assert marker not in blob, f"holder data {marker!r} found in {where}"


def test_decision_and_card_reprs_carry_no_holder_data(issue: IssueFn, trust_of: TrustFn) -> None:
    card = issue()
    decision = verify_card(card.text, trust_of(), NOW, Policy.for_mode("counter"))
    assert decision.card is not None
    for text in (repr(decision), str(decision), repr(decision.card)):
        assert_clean(text.encode(), card.serial, "a repr")


def test_state_dir_and_cli_output_carry_no_holder_data(
    city: City, issue: IssueFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cards = [issue(), issue(Holder(NAME, DOB, lang="ar", role="technician"))]
    city.set_status("1", cards[0].status_idx, Status.SUSPENDED)
    bundle = tmp_path / "bundle.cose"
    bundle.write_bytes(city.bundle(NOW))
    root = city.root.public_key.hex()
    state = tmp_path / "state"
    outputs = []
    outputs.append(
        run(
            cli.main,
            ["trust", "import", bundle, "--root-key", root, "--state-dir", state, "--at", NOW],
            capsys,
        )
    )
    batch = tmp_path / "batch.txt"
    batch.write_text("\n".join(c.text for c in cards))
    for card in cards:
        for extra in ([], ["--json"]):
            outputs.append(
                run(
                    cli.main,
                    [
                        "verify",
                        card.text,
                        *extra,
                        "--root-key",
                        root,
                        "--state-dir",
                        state,
                        "--at",
                        NOW,
                    ],
                    capsys,
                )
            )
    outputs.append(
        run(
            cli.main,
            ["verify", "--batch", batch, "--root-key", root, "--state-dir", state, "--at", NOW],
            capsys,
        )
    )
    outputs.append(
        run(
            cli.main,
            ["trust", "status", "--root-key", root, "--state-dir", state, "--at", NOW],
            capsys,
        )
    )
    outputs.append(
        run(
            cli.main,
            ["trust", "status", "--json", "--root-key", root, "--state-dir", state, "--at", NOW],
            capsys,
        )
    )
    printed = "".join(out + err for _, out, err in outputs).encode()
    assert b"SUSPENDED" in printed and b"technician" in printed  # it did run
    files = [p for p in state.rglob("*") if p.is_file()]
    assert files
    for card in cards:
        assert_clean(printed, card.serial, "CLI output")
        for path in files:
            assert_clean(path.read_bytes(), card.serial, str(path))


def test_show_holder_is_the_only_way_out(
    issue: IssueFn, published: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """The scan above would be meaningless if the markers could never appear: check they do."""
    card = issue()
    args = verify_args(published, card.text, "--json", "--show-holder")
    _, out, _ = run(cli.main, args, capsys)
    with pytest.raises(AssertionError):
        assert_clean(out.encode(), card.serial, "--show-holder output")
    assert json.loads(out)["holder"]["name"] == NAME
    assert NAME.encode() in cose_of(card.text)  # the card itself does carry it


def test_metrics_carry_no_created_timestamps() -> None:
    """`kiosk_scans_created{reason="REVOKED"}` would date the day's first revoked card."""
    from prometheus_client import generate_latest

    from kiosk.app.audit import Metrics

    metrics = Metrics()
    metrics.scans.labels("rejected", "REVOKED").inc()
    assert b"_created" not in generate_latest(metrics.registry)


def test_a_card_carries_no_gender_unless_the_city_prints_it(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--dir", city.path, "--now", NOW]
    argv = [*d, "issue", "--name", "Ana", "--dob", "1990-01-01", "--gender", "f"]
    code, _, err = run(issuer_cli.main, [*argv, "--qr", tmp_path / "q.png"], capsys)
    assert code == 2 and "does not put a gender" in err
    with_gender = tmp_path / "printing-city"
    assert (
        run(
            issuer_cli.main,
            [
                "--dir",
                with_gender,
                "--now",
                NOW,
                "init",
                "--issuer",
                "x",
                "--status-base-uri",
                "https://x/",
                "--card-gender",
            ],
            capsys,
        )[0]
        == 0
    )
    argv[1] = with_gender
    assert run(issuer_cli.main, [*argv, "--qr", tmp_path / "q2.png"], capsys)[0] == 0
