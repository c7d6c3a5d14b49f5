"""Sources, scanners and the scan pipeline: real devices replaced only at the transport."""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from kiosk.core.errors import DeviceError
from kiosk.issuer.images import qr_image
from kiosk.scan.frames import Frame
from kiosk.scan.hid_scanner import KEY_ENTER, KEY_LEFTSHIFT, KeyDecoder
from kiosk.scan.pipeline import (
    CardRead,
    Dedupe,
    LatestFrame,
    NotACityCard,
    ScanEvent,
    Scanner,
    ScannerSettings,
    SourceProblem,
    SourceRecovered,
)
from kiosk.scan.replay import ReplaySource
from kiosk.scan.serial_scanner import SerialScanner
from kiosk.scan.v4l2 import V4L2Source
from tests.conftest import IssueFn

FAST = ScannerSettings(dedupe_s=1.0, stall_s=0.3, retry_first_s=0.05, retry_max_s=0.2)


def frame(seq: int) -> Frame:
    return Frame(np.zeros((4, 4), np.uint8), time.monotonic(), seq)


def wait_for(
    events: queue.Queue[ScanEvent], want: Callable[[ScanEvent], bool], timeout: float = 10.0
) -> list[ScanEvent]:
    """Collect events until one satisfies `want`; fail after `timeout` (a hang guard only)."""
    seen: list[ScanEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            event = events.get(timeout=0.05)
        except queue.Empty:
            continue
        seen.append(event)
        if want(event):
            return seen
    raise AssertionError(f"no such event; saw {seen}")


def drain(events: queue.Queue[ScanEvent], for_s: float) -> list[ScanEvent]:
    time.sleep(for_s)
    out = []
    while not events.empty():
        out.append(events.get())
    return out


def qr_png(path: Path, text: str, pad: int = 40) -> Path:
    image = np.asarray(qr_image(text, box_size=4))
    canvas = np.full((image.shape[0] + 2 * pad, image.shape[1] + 2 * pad), 255, np.uint8)
    canvas[pad : pad + image.shape[0], pad : pad + image.shape[1]] = image
    import cv2

    cv2.imwrite(str(path), canvas)
    return path


# -- the one-slot handoff and dedupe ------------------------------------------------------


def test_latest_frame_wins() -> None:
    slot = LatestFrame()
    for seq in range(1, 6):
        slot.put(frame(seq))
    taken = slot.take(timeout=0.1)
    assert taken is not None and taken.seq == 5
    assert slot.dropped == 4
    assert slot.take(timeout=0.01) is None  # nothing new: no stale frame is handed out again


def test_dedupe_one_event_per_presentation() -> None:
    seen = Dedupe(window_s=2.0)
    assert seen.fresh("MID1:A", 0.0)
    # held in front of the camera: sighted every 100 ms for 10 s -> still one presentation
    assert not any(seen.fresh("MID1:A", t / 10) for t in range(1, 100))
    assert seen.fresh("MID1:B", 10.0)  # another card is new
    assert seen.fresh("MID1:A", 12.5)  # taken away for more than the window, shown again


# -- the camera path ----------------------------------------------------------------------


class SlowDecoder:
    """The real decoder chain, made slow: what a Raspberry Pi under load looks like."""

    def __init__(self, delay_s: float) -> None:
        from kiosk.scan.decoder import DecoderChain

        self.chain = DecoderChain()
        self.delay_s = delay_s

    def decode(self, gray: np.ndarray):  # type: ignore[no-untyped-def]
        time.sleep(self.delay_s)
        return self.chain.decode(gray)


class CountingSource:
    """Frames of a folder, fast, recording each frame's sequence number as produced."""

    def __init__(self, folder: Path, fps: float) -> None:
        self.replay = ReplaySource(folder, fps=fps)
        self.name = "counting"
        self.produced = 0

    def frames(self) -> Iterator[Frame]:
        for f in self.replay.frames():
            self.produced += 1
            yield f

    def close(self) -> None:
        self.replay.close()


def test_slow_decoder_never_builds_a_queue(tmp_path: Path, issue: IssueFn) -> None:
    card = issue().text
    qr_png(tmp_path / "a.png", card)
    source = CountingSource(tmp_path, fps=200)
    decoder = SlowDecoder(0.05)
    events: queue.Queue[ScanEvent] = queue.Queue()
    scanner = Scanner(events, camera=lambda: source, decoder=decoder, settings=FAST)
    with scanner:
        reads = wait_for(events, lambda e: isinstance(e, CardRead))
        time.sleep(0.5)
    assert next(e for e in reads if isinstance(e, CardRead)).text == card
    # most frames were replaced before the decoder took them: none waited in a queue
    assert scanner.frames_dropped > scanner.frames_decoded
    assert scanner.frames_dropped + scanner.frames_decoded <= source.produced
    # the same card in every frame: one event for the whole presentation
    later = drain(events, 0.0)
    assert not any(isinstance(e, CardRead) for e in later)


def test_non_card_qr_is_one_not_a_city_card_event(tmp_path: Path) -> None:
    qr_png(tmp_path / "menu.png", "HTTPS://MENU.EXAMPLE/TABLE/12")
    events: queue.Queue[ScanEvent] = queue.Queue()
    from kiosk.scan.decoder import DecoderChain

    with Scanner(
        events, camera=lambda: ReplaySource(tmp_path, fps=60), decoder=DecoderChain(), settings=FAST
    ):
        wait_for(events, lambda e: isinstance(e, NotACityCard))
        later = drain(events, 0.5)
    assert not any(isinstance(e, NotACityCard | CardRead) for e in later)


def test_camera_unplugged_and_stalled_then_recovers(tmp_path: Path, issue: IssueFn) -> None:
    """A replay folder that disappears (unplugged) and goes empty (stalled), then returns."""
    from kiosk.scan.decoder import DecoderChain

    folder, away = tmp_path / "camera", tmp_path / "away"
    folder.mkdir()
    card = issue().text
    qr_png(folder / "card.png", card)
    events: queue.Queue[ScanEvent] = queue.Queue()
    with Scanner(
        events, camera=lambda: ReplaySource(folder, fps=30), decoder=DecoderChain(), settings=FAST
    ):
        wait_for(events, lambda e: isinstance(e, CardRead))
        folder.rename(away)  # unplugged
        problem = wait_for(events, lambda e: isinstance(e, SourceProblem))[-1]
        assert isinstance(problem, SourceProblem) and problem.problem in ("unavailable", "stalled")
        wait_for(events, lambda e: isinstance(e, SourceProblem) and e.problem == "unavailable")
        away.rename(folder)  # plugged back
        wait_for(events, lambda e: isinstance(e, SourceRecovered))
        (folder / "card.png").rename(tmp_path / "card.png")  # frames stop: stalled
        wait_for(events, lambda e: isinstance(e, SourceProblem) and e.problem == "stalled")
        (tmp_path / "card.png").rename(folder / "card.png")
        wait_for(events, lambda e: isinstance(e, SourceRecovered))


def test_replay_of_a_video_file(tmp_path: Path, issue: IssueFn) -> None:
    import cv2

    card = issue().text
    still = cv2.imread(str(qr_png(tmp_path / "card.png", card)), cv2.IMREAD_GRAYSCALE)
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(
        str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10, (still.shape[1], still.shape[0]), False
    )
    blank = np.full_like(still, 255)
    for image in [blank] * 3 + [still] * 3:
        writer.write(image)
    writer.release()
    frames = list(ReplaySource(video, fps=None, loop=False).frames())
    assert len(frames) == 6 and [f.seq for f in frames] == [1, 2, 3, 4, 5, 6]
    from kiosk.scan.decoder import DecoderChain

    assert DecoderChain().decode(frames[-1].gray).texts == (card,)
    assert DecoderChain().decode(frames[0].gray).texts == ()


def test_opencv_capture_source_and_missing_camera(tmp_path: Path) -> None:
    with pytest.raises(DeviceError, match="cannot open"):
        next(V4L2Source("/dev/video-none").frames())
    import cv2

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    source = V4L2Source(str(video), backend="any")  # the same OpenCV capture, from a file
    frames = source.frames()
    assert next(frames).image.shape[:2] == (48, 64)
    source.close()


# -- dedicated scanners -------------------------------------------------------------------


class Pty:
    """A pseudo-terminal pair: the kiosk opens the slave path with pyserial like a USB-CDC
    scanner; the test writes to the master as the scanner would."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def unplug(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def test_serial_scanner_over_a_pty(issue: IssueFn) -> None:
    card = issue().text
    pty = Pty()
    events: queue.Queue[ScanEvent] = queue.Queue()
    with Scanner(
        events, text_source=lambda: SerialScanner(pty.path), settings=FAST, name="scanner"
    ):
        time.sleep(0.2)
        pty.send(card.encode() + b"\r\n")
        pty.send(b"4006381333931\r")  # an EAN on a box of pencils
        pty.send(b"X" * 5000 + b"\n")  # line noise: dropped whole
        pty.send(card.encode() + b"\n")  # the same card again at once: same presentation
        seen = wait_for(events, lambda e: isinstance(e, NotACityCard))
        time.sleep(0.3)
        seen += drain(events, 0)
    reads = [e for e in seen if isinstance(e, CardRead)]
    assert [r.text for r in reads] == [card]
    assert sum(isinstance(e, NotACityCard) for e in seen) == 1
    pty.unplug()


def test_serial_scanner_unplugged_and_replugged_under_another_name(issue: IssueFn) -> None:
    card = issue().text
    ports = [Pty()]
    events: queue.Queue[ScanEvent] = queue.Queue()
    with Scanner(
        events, text_source=lambda: SerialScanner(ports[-1].path), settings=FAST, name="scanner"
    ):
        time.sleep(0.2)
        ports[-1].unplug()
        wait_for(events, lambda e: isinstance(e, SourceProblem))
        ports.append(Pty())  # back, as another /dev/pts/N (like ttyUSB0 -> ttyUSB1)
        wait_for(events, lambda e: isinstance(e, SourceRecovered))
        time.sleep(0.1)
        ports[-1].send(card.encode() + b"\r\n")
        read = wait_for(events, lambda e: isinstance(e, CardRead))[-1]
    assert isinstance(read, CardRead) and read.text == card
    ports[-1].unplug()


def test_serial_scanner_missing_port() -> None:
    with pytest.raises(DeviceError, match="cannot open"):
        next(SerialScanner("/dev/ttyNOPE").texts())


def typed(decoder: KeyDecoder, text: str) -> str | None:
    """Key events as a US-layout keyboard-wedge scanner sends them, then Enter."""
    from kiosk.scan import hid_scanner as hid

    letters = {v: k for k, v in hid._LETTERS.items()}
    plain = {v[0]: k for k, v in hid._KEYS.items() if k < 70}  # main block, not the keypad
    shifted = {v[1]: k for k, v in hid._KEYS.items() if k < 70}
    for char in text:
        if char.lower() in letters:
            shift, code = char.isupper(), letters[char.lower()]
        elif char in plain:
            shift, code = False, plain[char]
        else:
            shift, code = True, shifted[char]
        if shift:
            decoder.feed(KEY_LEFTSHIFT, 1)
        decoder.feed(code, 1)
        decoder.feed(code, 0)
        if shift:
            decoder.feed(KEY_LEFTSHIFT, 0)
    return decoder.feed(KEY_ENTER, 1)


def test_hid_keyboard_wedge_decoding(issue: IssueFn) -> None:
    from kiosk.scan import hid_scanner as hid

    card = issue().text  # every base45 character, the shifted $ % * + : among them
    decoder = KeyDecoder()
    assert typed(decoder, card) == card
    assert typed(decoder, "https://example.com/?a=1") == "https://example.com/?a=1"
    assert typed(decoder, "") is None  # a bare Enter is no code
    caps = KeyDecoder()
    caps.feed(hid.KEY_CAPSLOCK, 1)
    assert typed(caps, "ABC") == "abc"  # caps lock inverts shift, as on any keyboard
    held = KeyDecoder()
    held.feed(30, 1)
    held.feed(30, 2)  # auto-repeat is not a second character
    assert held.feed(KEY_ENTER, 1) == "a"


def test_scanner_threads_stop(tmp_path: Path) -> None:
    events: queue.Queue[ScanEvent] = queue.Queue()
    before = threading.active_count()
    pty = Pty()
    scanner = Scanner(events, text_source=lambda: SerialScanner(pty.path), settings=FAST)
    scanner.start()
    scanner.stop()
    assert threading.active_count() == before
    pty.unplug()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_damaged_code_is_seen_not_read(tmp_path: Path) -> None:
    """A code the chain locates but cannot decode gives CodeSeen events (the holder is told
    to hold still), at most one per SEEN_EVERY_S, and never a card read."""
    from PIL import Image

    from kiosk.scan.decoder import DecoderChain
    from kiosk.scan.pipeline import SEEN_EVERY_S, CodeSeen

    image = np.array(qr_image("MID1:" + "A" * 200, box_size=6).convert("L"))
    h, w = image.shape
    rng = np.random.default_rng(1)
    y0, y1, x0, x1 = int(h * 0.3), int(h * 0.7), int(w * 0.3), int(w * 0.75)
    image[y0:y1, x0:x1] = rng.choice([0, 255], size=(y1 - y0, x1 - x0))
    Image.fromarray(image).save(tmp_path / "damaged.png")
    events: queue.Queue[ScanEvent] = queue.Queue()
    with Scanner(
        events, camera=lambda: ReplaySource(tmp_path, fps=60), decoder=DecoderChain(), settings=FAST
    ):
        wait_for(events, lambda e: isinstance(e, CodeSeen))
        later = drain(events, 1.2)
    assert not any(isinstance(e, CardRead | NotACityCard) for e in later)
    seen = [e for e in later if isinstance(e, CodeSeen)]
    assert 1 <= len(seen) <= 1.2 / SEEN_EVERY_S + 1


def test_dedupe_digests_are_keyed_and_forgotten_with_their_window() -> None:
    """An unkeyed digest of the last card's text let anyone holding a card test whether it
    was the last one read; and it stayed until the next card came."""
    import hashlib

    seen = Dedupe(window_s=2.0)
    seen.fresh("MID1:A", 0.0)
    plain = hashlib.blake2b(b"MID1:A", digest_size=16).digest()
    assert plain not in seen._last_seen and len(seen) == 1
    assert Dedupe(2.0)._key != seen._key  # per process (per scanner), random
    seen.forget(1.9)
    assert len(seen) == 1
    seen.forget(2.1)  # the window ended: nothing left, though no other card came
    assert len(seen) == 0
