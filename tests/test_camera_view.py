"""The technician's camera view shows focus and aim, never a holder's printed name.

Frames come from the synthetic camera's card renderer, held sharp and square to the camera
so the measurements below know, from the card's own layout, where its QR and its printed
lines are. "Readable" is measured as edge energy (variance of the Laplacian): printed text
is dense in edges; the same region averaged and blurred has almost none.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
import weakref
from collections.abc import Iterator

import cv2
import numpy as np

from kiosk.core.errors import DeviceError
from kiosk.scan.decoder import DecoderChain
from kiosk.scan.frames import Frame
from kiosk.scan.pipeline import (
    PREVIEW_MAX_AGE_S,
    Preview,
    ScanEvent,
    Scanner,
    ScannerSettings,
    locate_codes,
    redact,
)
from kiosk.scan.synthetic import _ID1_ASPECT, _SRC_MODULE_PX, Conditions, card_texture, render_frame
from tests.conftest import IssueFn

Region = tuple[int, int, int, int]  # x0, y0, x1, y1

SIZE = (640, 480)
MODULE_PX = 3.5
CENTER = (0.7, 0.5)
# A card held still, facing the camera, in good light: the worst case for privacy.
SHARP = Conditions(
    module_px=MODULE_PX,
    tilt_deg=0.0,
    tilt_dir_deg=0.0,
    roll_deg=0.0,
    center=CENTER,
    paper=230.0,
    ink=30.0,
    light=(1.0, 0.0, 0.0),
    glare=0.0,
    glare_at=(0.0, 0.0, 10.0),
    blur_sigma=0.5,
    motion_px=0.0,
    motion_deg=0.0,
    noise=2.0,
    jpeg_quality=0,
)
TEXT_EDGES = 300.0  # printed lines in a sharp frame score well above this (about 1000)
SMUDGE = 30.0  # a region scoring below this has no strokes left to read


def card_frame(text: str) -> tuple[np.ndarray, Region, Region]:
    """A sharp camera frame of the card; the inside of its QR; its printed lines."""
    texture = card_texture(text)
    frame = render_frame(texture, np.random.default_rng(1), SIZE, SHARP)
    modules = texture.modules  # the QR's quiet zone included
    side = modules * MODULE_PX
    cx, cy = CENTER[0] * SIZE[0], CENTER[1] * SIZE[1]
    left, top = cx - side / 2, cy - side / 2
    inset = 5 * MODULE_PX  # the quiet zone and a module more
    qr = (int(left + inset), int(top + inset), int(left + side - inset), int(top + side - inset))
    # The card layout (kiosk.scan.synthetic.card_texture), in modules: the QR ends 2 from
    # the card's right edge, the text starts 3 from its left, 4 below the QR's top.
    card_w = int((modules + 10) * _SRC_MODULE_PX * _ID1_ASPECT) / _SRC_MODULE_PX
    text_left = left - (card_w - (modules + 2) - 3) * MODULE_PX
    lines = (int(text_left), int(top + 4 * MODULE_PX), int(left - 3 * MODULE_PX), int(top + side))
    return frame, qr, lines


def edges(image: np.ndarray, region: Region, scale: float = 1.0) -> float:
    x0, y0, x1, y1 = (round(v * scale) for v in region)
    patch = image[y0:y1, x0:x1].astype(np.float32)
    return float(cv2.Laplacian(patch, cv2.CV_32F).var())


class StillCamera:
    """A camera pointed at one still scene, ~20 frames a second, each with its capture time.

    `stall` makes it stop delivering without failing, as a wedged USB camera does.
    """

    name = "still"

    def __init__(self, image: np.ndarray) -> None:
        self.image = image
        self.stall = threading.Event()
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        seq = 0
        while not self._closed.is_set():
            if self.stall.is_set():
                self._closed.wait(0.05)
                continue
            seq += 1
            yield Frame(self.image, time.monotonic(), seq)
            self._closed.wait(0.05)
        raise DeviceError("closed")

    def close(self) -> None:
        self._closed.set()


def still_scanner(camera: StillCamera, events: queue.Queue[ScanEvent]) -> Scanner:
    return Scanner(
        events,
        camera=lambda: camera,
        decoder=DecoderChain(),
        settings=ScannerSettings(stall_s=3.0, retry_first_s=0.05),
        name="still",
    )


def wait_until(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def watched(scanner: Scanner, timeout: float = 5.0) -> Preview | None:
    """Keep asking for the preview, as the open camera view does, until one comes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (preview := scanner.watch_preview()) is not None:
            return preview
        time.sleep(0.02)
    return None


def test_outside_the_code_printed_lines_lose_their_edges(issue: IssueFn) -> None:
    frame, qr, lines = card_frame(issue().text)
    assert edges(frame, lines) > TEXT_EDGES  # the measurement sees text where text is

    corners = locate_codes(frame)
    assert len(corners) == 1
    shown = redact(frame, corners)

    assert shown.shape == frame.shape and shown.dtype == np.uint8  # decoder resolution
    assert edges(shown, lines) < SMUDGE
    assert np.array_equal(shown[qr[1] : qr[3], qr[0] : qr[2]], frame[qr[1] : qr[3], qr[0] : qr[2]])


def test_without_a_located_code_the_whole_frame_is_smudged_but_aim_is_kept(issue: IssueFn) -> None:
    frame, qr, lines = card_frame(issue().text)
    shown = redact(frame, ())
    assert edges(shown, lines) < SMUDGE and edges(shown, qr) < SMUDGE
    # Where the card and its code are is still there, at a coarse scale.
    coarse = (SIZE[0] // 32, SIZE[1] // 32)
    before = cv2.resize(frame, coarse, interpolation=cv2.INTER_AREA).astype(np.float32)
    after = cv2.resize(shown, coarse, interpolation=cv2.INTER_AREA).astype(np.float32)
    assert float(np.abs(before - after).mean()) < 12
    assert float(np.corrcoef(before.ravel(), after.ravel())[0, 1]) > 0.9


def test_no_preview_is_kept_unless_the_camera_view_watches(issue: IssueFn) -> None:
    frame, _, _ = card_frame(issue().text)
    scanner = still_scanner(StillCamera(frame), queue.Queue())
    with scanner:
        assert wait_until(lambda: scanner.frames_decoded >= 3)
        assert scanner.preview is None  # cards pass the camera all day: none of them kept

        preview = watched(scanner)
        assert preview is not None and preview.read and len(preview.corners) == 1
        assert time.monotonic() - preview.t < PREVIEW_MAX_AGE_S + 0.5
        assert not np.array_equal(preview.image, frame)

        scanner.drop_preview()
        assert scanner.preview is None
        decoded = scanner.frames_decoded
        assert wait_until(lambda: scanner.frames_decoded >= decoded + 3)
        assert scanner.preview is None  # and no new ones after the view closed


def test_a_stalled_camera_leaves_no_preview_behind(issue: IssueFn) -> None:
    frame, _, _ = card_frame(issue().text)
    camera = StillCamera(frame)
    scanner = still_scanner(camera, queue.Queue())
    with scanner:
        preview = watched(scanner)
        assert preview is not None
        image = weakref.ref(preview.image)
        del preview
        camera.stall.set()
        # Nobody asks any more (a closed menu): the decode thread drops it by itself.
        assert wait_until(lambda: scanner.preview is None)
        gc.collect()
        assert image() is None
        assert scanner.watch_preview() is None
