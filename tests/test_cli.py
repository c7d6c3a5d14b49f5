"""`kiosk verify`, `kiosk trust` and `kiosk-issuer` as a technician and a city use them."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk import cli
from kiosk.cli import issuer as issuer_cli
from kiosk.core.statuslist import Status
from kiosk.issuer.city import DAY_S, City
from tests.conftest import DOB, NAME, NOW, IssueFn

BIN = Path(sys.executable).parent


def run(main, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def verify_args(published: tuple[Path, str], *extra: object) -> list[object]:
    bundle, root = published
    return ["verify", *extra, "--bundle", bundle, "--root-key", root, "--at", NOW]


def test_verify_accepted_human(issue: IssueFn, published, capsys) -> None:
    card = issue()
    code, out, _ = run(cli.main, verify_args(published, card.text), capsys)
    assert code == 0
    assert out.startswith("✓ ACCEPTED: The card is valid.")
    assert NAME not in out and DOB not in out and card.serial.hex() not in out


def test_verify_show_holder_reads_as_words(issue: IssueFn, published, capsys) -> None:
    """No `gender: None`, no lists or dicts, no epoch seconds (issue 13)."""
    card = issue()
    _, out, _ = run(cli.main, verify_args(published, card.text, "--show-holder"), capsys)
    assert f"  name: {NAME}" in out and f"  born: {DOB}" in out
    assert "gender: (not on the card)" in out and "benefits: library" in out
    assert "None" not in out and "[" not in out and "{" not in out
    assert "expires: 20" in out and " UTC" in out


def test_verify_json_contract(issue: IssueFn, published, capsys, city: City) -> None:
    code, out, _ = run(cli.main, verify_args(published, issue().text, "--json"), capsys)
    result = json.loads(out)
    assert code == 0
    assert result["outcome"] == "accepted" and result["reason"] == "ACCEPTED"
    assert result["kid"] == city.active_key("card", NOW).kid.hex()
    assert result["specimen"] is False and result["role"] == "resident"
    assert "holder" not in result


def test_verify_show_holder(issue: IssueFn, published, capsys) -> None:
    card = issue()
    _, out, _ = run(cli.main, verify_args(published, card.text, "--json", "--show-holder"), capsys)
    holder = json.loads(out)["holder"]
    assert (holder["name"], holder["dob"], holder["serial"]) == (NAME, DOB, card.serial.hex())
    assert holder["status"] == {"uri": card.status_uri, "idx": card.status_idx}


def test_verify_rejected_exit_1(published, capsys) -> None:
    code, out, _ = run(cli.main, verify_args(published, "https://example.com", "--json"), capsys)
    assert code == 1
    assert json.loads(out) | {"detail": ""} == {
        "outcome": "rejected",
        "reason": "MALFORMED",
        "kid": None,
        "specimen": False,
        "role": None,
        "detail": "",
        "warnings": [],
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "MID1:X", "--root-key", "zz", "--bundle", "b"], "not hexadecimal"),
        (["verify", "MID1:X", "--root-key", "ab" * 31, "--bundle", "b"], "32 bytes"),
        (["verify", "MID1:X", "--root-key", "ab" * 32, "--bundle", "/nonexistent"], "cannot read"),
        (["verify", "--root-key", "ab" * 32, "--bundle", "b"], "give one of: a card TEXT"),
        (["verify", "MID1:X", "--bundle", "b"], "--root-key is required"),
    ],
)
def test_usage_and_trust_errors_exit_2_with_one_line(args, message, capsys, tmp_path) -> None:
    code, _, err = run(cli.main, args, capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_forged_bundle_exit_2(issue: IssueFn, published, capsys, tmp_path) -> None:
    bundle, root = published
    forged = tmp_path / "forged.cose"
    data = bytearray(bundle.read_bytes())
    data[-5] ^= 1
    forged.write_bytes(bytes(data))
    code, _, err = run(cli.main, verify_args((forged, root), issue().text), capsys)
    assert code == 2 and "signature does not verify" in err


def test_extra_status_list_newest_wins(
    issue: IssueFn, published, capsys, city: City, tmp_path: Path
) -> None:
    card = issue()
    city.set_status("1", card.status_idx, Status.REVOKED)
    lists = tmp_path / "lists"
    run(
        issuer_cli.main,
        ["--dir", city.path, "--now", NOW + 60, "status-list", "--out", lists],
        capsys,
    )
    code, out, _ = run(
        cli.main,
        verify_args(published, card.text, "--json", "--status-list", lists / "status-1.cwt"),
        capsys,
    )
    assert (code, json.loads(out)["reason"]) == (1, "REVOKED")


def test_verify_at_and_policy_options(issue: IssueFn, published, capsys) -> None:
    text = issue().text
    code, out, _ = run(
        cli.main, [*verify_args(published, text, "--json"), "--at", NOW + 60 * DAY_S], capsys
    )
    assert json.loads(out)["reason"] == "TRUST_STALE"  # the 30-day bundle has expired
    code, out, _ = run(
        cli.main, verify_args(published, text, "--json", "--require-benefit", "museum"), capsys
    )
    assert (code, json.loads(out)["reason"]) == (1, "POLICY_DENIED")


def test_batch_in_order(issue: IssueFn, published, capsys, tmp_path, monkeypatch) -> None:
    good = issue()
    lines = [good.text, "garbage", "", good.text, "MID2:ABC"]
    batch = tmp_path / "cards.txt"
    batch.write_text("\r\n".join(lines) + "\r\n")
    code, out, _ = run(cli.main, verify_args(published, "--batch", batch), capsys)
    reasons = [json.loads(line)["reason"] for line in out.splitlines()]
    assert code == 0
    assert reasons == ["ACCEPTED", "MALFORMED", "MALFORMED", "ACCEPTED", "UNSUPPORTED"]
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(good.text + "\n"))
    _, out, _ = run(cli.main, verify_args(published, "--batch", "-"), capsys)
    assert [json.loads(x)["reason"] for x in out.splitlines()] == ["ACCEPTED"]


def test_trust_import_status_and_verify_from_state(
    issue: IssueFn, published, capsys, tmp_path
) -> None:
    bundle, root = published
    state = tmp_path / "state"
    code, out, _ = run(
        cli.main,
        ["trust", "import", bundle, "--root-key", root, "--state-dir", state, "--at", NOW],
        capsys,
    )
    assert code == 0 and "installed: bundle of us-il-chicago version 1" in out
    code, out, _ = run(
        cli.main,
        ["trust", "import", bundle, "--root-key", root, "--state-dir", state, "--at", NOW],
        capsys,
    )
    assert "unchanged" in out
    code, out, _ = run(
        cli.main,
        ["trust", "status", "--json", "--root-key", root, "--state-dir", state, "--at", NOW],
        capsys,
    )
    report = json.loads(out)
    assert report["bundle"]["version"] == 1 and len(report["status_lists"]) == 1
    code, out, _ = run(
        cli.main,
        ["verify", issue().text, "--root-key", root, "--state-dir", state, "--at", NOW],
        capsys,
    )
    assert code == 0


def test_trust_import_forged_keeps_last_good(published, capsys, tmp_path, city) -> None:
    bundle, root = published
    state = tmp_path / "state"
    run(
        cli.main,
        ["trust", "import", bundle, "--root-key", root, "--state-dir", state, "--at", NOW],
        capsys,
    )
    junk = tmp_path / "junk.cose"
    junk.write_bytes(b"\xd2\x84" + b"\x00" * 100)
    code, _, err = run(
        cli.main,
        ["trust", "import", junk, "--root-key", root, "--state-dir", state, "--at", NOW],
        capsys,
    )
    assert code == 2 and err.count("\n") == 1
    code, out, _ = run(
        cli.main,
        ["trust", "status", "--json", "--root-key", root, "--state-dir", state, "--at", NOW],
        capsys,
    )
    assert json.loads(out)["bundle"]["version"] == 1


def test_issuer_issue_writes_qr_and_card_images(city: City, tmp_path, capsys) -> None:
    qr, card = tmp_path / "qr.png", tmp_path / "card.png"
    code, out, _ = run(
        issuer_cli.main,
        [
            "--dir",
            city.path,
            "--now",
            NOW,
            "issue",
            "--name",
            "Ana",
            "--dob",
            "1990-01-02",
            "--lang",
            "es",
            "--benefit",
            "library",
            "--specimen",
            "--qr",
            qr,
            "--card",
            card,
            "--json",
        ],
        capsys,
    )
    issued = json.loads(out)
    assert code == 0 and issued["text"].startswith("MID1:")
    assert Image.open(qr).size[0] > 100
    image = Image.open(card).convert("RGB")
    assert image.size == (1012, 638)
    # the SPECIMEN stamp is red: a specimen card has strongly red pixels, a normal one none
    pixels = np.asarray(image).astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    assert int(((r > 180) & (g < 170) & (b < 170)).sum()) > 2000


def test_issuer_rotation_flow(city: City, tmp_path, capsys) -> None:
    d = ["--dir", city.path, "--now", NOW]
    assert run(issuer_cli.main, [*d, "rotate", "card"], capsys)[0] == 0
    assert run(issuer_cli.main, [*d, "rotate", "root"], capsys)[0] == 0
    code, _, err = run(issuer_cli.main, [*d, "rotate", "root"], capsys)
    assert code == 2 and "promote it first" in err
    code, out, _ = run(issuer_cli.main, [*d, "bundle", "--out", tmp_path / "b.cose"], capsys)
    assert code == 0 and "version 1" in out
    assert run(issuer_cli.main, [*d, "rotate", "root", "--promote"], capsys)[0] == 0
    code, out, _ = run(issuer_cli.main, [*d, "keys"], capsys)
    assert out.count(" root ") == 2 and "[current root]" in out
    assert out.count(" card ") == 2


def test_issuer_revoke_by_serial_and_refuse_reinstating_revoked(
    city: City, issue: IssueFn, capsys
) -> None:
    card = issue()
    d = ["--dir", city.path]
    assert run(issuer_cli.main, [*d, "revoke", "--serial", card.serial.hex()], capsys)[0] == 0
    assert city.statuses("1").status(card.status_idx) == Status.REVOKED
    code, _, err = run(issuer_cli.main, [*d, "reinstate", "--index", card.status_idx], capsys)
    assert code == 2 and "permanent" in err


def test_issuer_refuses_small_lists_and_missing_city(tmp_path, capsys) -> None:
    code, _, err = run(
        issuer_cli.main,
        [
            "--dir",
            tmp_path / "c",
            "init",
            "--issuer",
            "x",
            "--status-base-uri",
            "u",
            "--list-size",
            "1024",
        ],
        capsys,
    )
    assert code == 2 and "herd privacy" in err
    code, _, err = run(issuer_cli.main, ["--dir", tmp_path / "none", "keys"], capsys)
    assert code == 2 and "no city here" in err


def test_a_small_city_end_to_end_through_the_console_scripts(tmp_path: Path) -> None:
    """The issue's "done means": init, 1,000 cards, revoke some, publish, verify each."""

    def sh(*args: object) -> str:
        done = subprocess.run(
            [str(a) for a in args], capture_output=True, text=True, cwd=tmp_path, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    issuer, kiosk = BIN / "kiosk-issuer", BIN / "kiosk"
    out = sh(
        issuer,
        "init",
        "--issuer",
        "us-il-chicago",
        "--status-base-uri",
        "https://id.example.gov/status/",
    )
    root = out.split("kiosk): ")[1].strip()
    with open(tmp_path / "people.csv", "w", newline="") as people:
        rows = csv.writer(people)
        rows.writerow(["name", "dob", "lang", "benefits"])
        for n in range(1000):
            rows.writerow(
                [
                    f"Resident {n}",
                    f"19{50 + n % 50}-0{1 + n % 9}-1{n % 10}",
                    ["es", "pl", "zh-Hans", "ar", "en"][n % 5],
                    "library",
                ]
            )
    sh(issuer, "issue-batch", "people.csv", "--out", "issued.jsonl")
    issued = [json.loads(line) for line in (tmp_path / "issued.jsonl").read_text().splitlines()]
    assert len({c["status_idx"] for c in issued}) == 1000  # random, never reused
    for card in issued[:10]:
        sh(issuer, "revoke", "--serial", card["serial"])
    for card in issued[10:15]:
        sh(issuer, "suspend", "--index", card["status_idx"])
    sh(issuer, "bundle", "--out", "bundle.cose")
    texts = [c["text"] for c in issued] + ["MID1:" + issued[0]["text"][5:-4] + "0000", "hello"]
    (tmp_path / "cards.txt").write_text("\n".join(texts) + "\n")
    out = sh(kiosk, "verify", "--batch", "cards.txt", "--bundle", "bundle.cose", "--root-key", root)
    reasons = [json.loads(line)["reason"] for line in out.splitlines()]
    assert reasons[:10] == ["REVOKED"] * 10
    assert reasons[10:15] == ["SUSPENDED"] * 5
    assert reasons[15:1000] == ["ACCEPTED"] * 985
    assert reasons[1000] in ("BAD_SIGNATURE", "MALFORMED") and reasons[1001] == "MALFORMED"
    assert Counter(reasons)["ACCEPTED"] == 985


def test_the_counter_demo_says_what_a_counter_has(tmp_path: Path) -> None:
    """A counter has no turnstile: its demo names the pass printer and prints passes (issue 13).

    The whole scripted session takes a minute, so the run is stopped (Ctrl-C, as a person
    would) once the first pass has been printed.
    """
    demo = subprocess.Popen(
        [BIN / "kiosk", "demo", "--headless", "--mode", "counter"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert demo.stdout is not None
    lines: list[str] = []
    try:
        for line in demo.stdout:
            lines.append(line.rstrip("\n"))
            if line.rstrip().endswith("pass 1: printed"):
                break
    finally:
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
    lines += rest.splitlines()
    shown = "\n".join(lines)
    assert (
        lines[0] == "CityCard Kiosk demo — specimen city counter, simulated camera and pass printer"
    )
    assert "turnstile" not in shown
    assert "accepted ACCEPTED       → accept_pass" in shown
    assert any(line.endswith("pass 1: printed") for line in lines), shown
    assert demo.returncode == 130  # interrupted, not crashed


def test_the_demo_prints_one_line_per_event_and_one_for_a_starting_module() -> None:
    from kiosk.app.audit import Audit
    from kiosk.demo.appliance import EventPrinter

    out = io.StringIO()
    audit = Audit(EventPrinter(out), "Specimen City Library", "gate")
    for signal_name in ("offline", "offline", "offline", "online", "passed", "passed"):
        audit.note("gate", NOW, signal=signal_name)
    audit.note("device", NOW, device="gate", state="problem", detail="relay not confirmed off")
    audit.note("pass", NOW, number=3, state="failed", detail="printer: out of paper")
    assert [line[10:] for line in out.getvalue().splitlines()] == [
        "turnstile: offline",
        "turnstile: online",
        "turnstile: passed",
        "turnstile: passed",
        "gate: problem (relay not confirmed off)",
        "pass 3: failed (printer: out of paper)",
    ]


@pytest.mark.parametrize("mode", ["gate", "counter"])
def test_the_terminal_demo_runs_the_mode_it_is_given(mode: str) -> None:
    """`kiosk demo --terminal --mode counter` is a counter: no gate opens at a desk."""
    from kiosk.demo.terminal import run_terminal_demo

    out = io.StringIO()
    assert run_terminal_demo(out, mode=mode) == 0
    text = out.getvalue()
    assert f"({mode} mode)" in text
    assert ("gate opens" in text) is (mode == "gate")
    assert ("pass printed" in text) is (mode == "counter")
