"""`kiosk-issuer issue-batch`: every row checked before any card is signed (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kiosk import cli
from kiosk.cli import issuer as issuer_cli
from kiosk.issuer.city import City
from tests.conftest import NOW
from tests.test_cli import run

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "residents.example.csv"


def batch(city: City, tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    source = tmp_path / "people.csv"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "issued.jsonl"
    argv = ["--dir", city.path, "--now", NOW, "issue-batch", source, "--out", out]
    code, _, err = run(issuer_cli.main, argv, capsys)
    return code, err, out


def test_the_example_file_issues_cards_every_kiosk_accepts(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, out = batch(city, tmp_path, EXAMPLE.read_text(encoding="utf-8"), capsys)
    assert code == 0, err
    issued = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(issued) == 5
    bundle = tmp_path / "bundle.cose"
    bundle.write_bytes(city.bundle(NOW))
    root = city.root.public_key.hex()
    for card in issued:
        argv = ["verify", card["text"], "--json", "--bundle", bundle, "--root-key", root]
        _, verdict, _ = run(cli.main, [*argv, "--at", NOW], capsys)
        assert json.loads(verdict)["reason"] == "ACCEPTED"


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ("Ana,1990-02-01,es,library;museum,", "row 3, column benefits: separate benefit codes"),
        ('Ana,1990-02-01,es,"library,museum",', "row 3, column benefits: separate benefit"),
        ("Ana,01/02/1990,es,library,", "row 3, column dob: '01/02/1990' is not a date"),
        ("Ana,1990-02-30,es,library,", "row 3, column dob"),
        ("Ana,1990-02-01,fr,library,", "row 3, column lang: 'fr' is not a language"),
        ("Ana,1990-02-01,es,libary,", "row 3, column benefits: 'libary' is not one of"),
        ("Ana,1990-02-01,es,library,boss", "row 3, column role: 'boss'"),
        (",1990-02-01,es,library,", "row 3, column name: is empty"),
    ],
)
def test_a_bad_row_signs_nothing_and_names_row_and_column(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str], row: str, says: str
) -> None:
    text = "name,dob,lang,benefits,role\nGood Person,1980-01-01,en,library,\n" + row + "\n"
    code, err, out = batch(city, tmp_path, text, capsys)
    assert code == 2 and says in err and "nothing was signed" in err
    assert not out.exists() or out.read_text() == ""
    assert not (city.path / "issued.jsonl").exists()  # the city's registry: no card at all


def test_a_csv_without_dob_is_one_clear_error(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, _ = batch(city, tmp_path, "name,lang\nAna,es\n", capsys)
    assert code == 2 and "missing: dob" in err and "Traceback" not in err


def test_language_tags_are_case_insensitive(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, out = batch(city, tmp_path, "name,dob,lang\nMei,2001-01-01,zh-hans\n", capsys)
    assert code == 0, err
    assert len(out.read_text().splitlines()) == 1


def test_issuer_words_for_people(
    city: City, tmp_path: Path, capsys: pytest.CaptureFixture[str], issue
) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: epoch seconds, 'not hexadecimal' for a short key, a silent no-op."""
    d = ["--dir", city.path, "--now", NOW]
    code, out, _ = run(issuer_cli.main, [*d, "keys"], capsys)
    assert code == 0 and "valid 2025-09-21 " in out and " UTC to 2030-" in out and "nbf" not in out
    card = issue()
    unused = (card.status_idx + 1) % 131072
    code, _, err = run(issuer_cli.main, [*d, "suspend", "--index", unused], capsys)
    assert code == 2 and "belongs to no card" in err
    assert run(issuer_cli.main, [*d, "suspend", "--index", card.status_idx], capsys)[0] == 0
    short = city.root.public_key.hex()[:63]
    code, _, err = run(cli.main, ["verify", "MID1:X", "--root-key", short, "--bundle", "b"], capsys)
    assert code == 2 and "64 hex characters" in err and "got 63" in err


def test_the_card_header_shows_the_citys_display_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not 'us-il-chicago · Municipal ID' (issue 13)."""
    import numpy as np
    from PIL import Image

    headers = []
    for n, extra in enumerate(([], ["--display-name", "City of Chicago"])):
        d = ["--dir", tmp_path / f"city{n}", "--now", NOW]
        init = ["init", "--issuer", "us-il-chicago", "--status-base-uri", "https://x/", *extra]
        assert run(issuer_cli.main, [*d, *init], capsys)[0] == 0
        png = tmp_path / f"card{n}.png"
        argv = [*d, "issue", "--name", "Ana", "--dob", "1990-01-01", "--qr", tmp_path / "q.png"]
        assert run(issuer_cli.main, [*argv, "--card", png], capsys)[0] == 0
        headers.append(np.asarray(Image.open(png).convert("L"))[:110])
    meta = json.loads((tmp_path / "city1" / "city.json").read_text())
    assert meta["display_name"] == "City of Chicago"
    assert (headers[0] != headers[1]).any()  # another text in the header band
