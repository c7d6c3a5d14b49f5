"""`kiosk decode` and `kiosk verify --image`, and the config-driven source factory."""

from __future__ import annotations

import json
import queue
from pathlib import Path

import pytest

from kiosk import cli
from kiosk.core.errors import ConfigError
from kiosk.scan.config import CameraConfig
from kiosk.scan.pipeline import CardRead, ScanEvent
from kiosk.scan.replay import ReplaySource
from kiosk.scan.serial_scanner import SerialScanner
from kiosk.scan.sources import build_scanner, camera_factory, scanner_factory
from kiosk.scan.v4l2 import V4L2Source
from tests.conftest import IssueFn
from tests.test_cli import run, verify_args
from tests.test_scan_pipeline import FAST, qr_png, wait_for


def test_decode_json_lines(tmp_path: Path, issue: IssueFn, capsys) -> None:
    card = issue().text
    good = qr_png(tmp_path / "card.png", card)
    blank = tmp_path / "blank.png"
    blank.write_bytes(good.read_bytes())
    import cv2
    import numpy as np

    cv2.imwrite(str(blank), np.full((200, 200), 255, np.uint8))
    code, out, _ = run(cli.main, ["decode", "--json", good, blank], capsys)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == [str(good), str(blank)]
    assert lines[0]["texts"] == [card] and lines[1]["texts"] == []
    assert all(line["ms"] >= 0 for line in lines)
    assert code == 1  # one file held no code


def test_decode_bad_files_say_why_and_go_on(tmp_path: Path, issue: IssueFn, capsys) -> None:
    card = issue().text
    good = qr_png(tmp_path / "card.png", card)
    empty, corrupt = tmp_path / "empty.png", tmp_path / "corrupt.jpg"
    empty.write_bytes(b"")
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, out, err = run(
        cli.main, ["decode", empty, corrupt, tmp_path / "missing.png", good], capsys
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 3 and "Traceback" not in err
    assert card in out


def test_verify_image(tmp_path: Path, issue: IssueFn, published: tuple[Path, str], capsys) -> None:
    card = issue().text
    photo = qr_png(tmp_path / "photo.png", card)
    args = verify_args(published, "--image", photo, "--json")
    code, out, _ = run(cli.main, args, capsys)
    assert (code, json.loads(out)["reason"]) == (0, "ACCEPTED")
    nothing = tmp_path / "nothing.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(nothing), np.full((100, 100), 255, np.uint8))
    args[args.index(photo)] = nothing
    code, _, err = run(cli.main, args, capsys)
    assert code == 2 and "no QR code found" in err


@pytest.mark.parametrize(
    ("kind", "cls"),
    [("v4l2", V4L2Source), ("replay", ReplaySource)],
)
def test_camera_factory_picks_the_driver(kind: str, cls: type) -> None:
    assert isinstance(camera_factory(CameraConfig(type=kind, path="/tmp")), cls)


def test_scanner_factory_and_unknown_types() -> None:
    assert isinstance(
        scanner_factory(CameraConfig(type="serial-scanner", path="loop://")), SerialScanner
    )
    with pytest.raises(ConfigError, match="camera type 'webcam'"):
        build_scanner(CameraConfig(type="webcam"), queue.Queue())


def test_synthetic_camera_through_the_factory(issue: IssueFn) -> None:
    cards = [issue().text, issue().text]
    events: queue.Queue[ScanEvent] = queue.Queue()
    config = CameraConfig(type="synthetic", fps=30, width=640, height=480, cards=tuple(cards))
    with build_scanner(config, events, settings=FAST):
        first = wait_for(events, lambda e: isinstance(e, CardRead), timeout=30)[-1]
    assert isinstance(first, CardRead) and first.text in cards
