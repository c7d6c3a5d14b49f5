"""From a camera or scanner to scan events: latest frame wins, one event per presentation.

    capture thread:  source.frames() --put--> [LatestFrame: one slot] --take--> decode thread
    decode thread:   DecoderChain.decode --> Dedupe --> events queue --> the app's main loop

A slow decode never builds a queue: a new frame replaces an untaken one (counted as dropped),
so the decoder always works on the newest picture. A card held in front of the camera is one
`CardRead`, not thirty: the same text within `dedupe_s` of its last sighting is suppressed.
Anything without a `MIDn:` prefix is one `NotACityCard`. When the source fails or stops
delivering frames the scanner emits `SourceProblem`, reopens it with backoff, and emits
`SourceRecovered` once frames flow again. Threads only hand events over; the app owns state.

The technician's camera view asks for a `Preview` (`watch_preview`); only then, and only for
`PREVIEW_LEASE_S` after the last ask, does the decode thread keep one: the frame at decoder
resolution with everything outside the located QR codes blurred until printed text cannot
be read. A preview older than `PREVIEW_MAX_AGE_S` is dropped: a stalled camera is no picture.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from kiosk.core.errors import DeviceError
from kiosk.scan.frames import Frame, Source, TextSource

log = logging.getLogger(__name__)
CARD_TEXT = re.compile(r"MID[0-9]+:")

PREVIEW_MAX_AGE_S = 1.0  # an older frame is not shown: the camera is not live
PREVIEW_LEASE_S = 1.0  # previews are made only this long after the camera view last asked
# Outside the codes the frame is averaged down to this many cells across its short side
# (then blurred): a card's printed lines become smudges, while where the card and its code
# are stays visible for aiming.
PREVIEW_CELLS = 40


@dataclass(frozen=True)
class CardRead:
    text: str = field(repr=False)  # personal data: never printed or logged
    frame_t: float  # when the frame was captured (scanners: when the line arrived)
    event_t: float  # when the event was handed over
    source: str


@dataclass(frozen=True)
class NotACityCard:
    frame_t: float
    event_t: float
    source: str


@dataclass(frozen=True)
class SourceProblem:
    source: str
    problem: str  # "unavailable" | "stalled"
    detail: str
    t: float


@dataclass(frozen=True)
class SourceRecovered:
    source: str
    t: float


@dataclass(frozen=True)
class CodeSeen:
    """A code is in view but could not be read yet: the holder should hold it still."""

    frame_t: float
    source: str


ScanEvent = CardRead | NotACityCard | CodeSeen | SourceProblem | SourceRecovered
SEEN_EVERY_S = 0.5  # at most one CodeSeen this often


class Decoded(Protocol):
    @property
    def texts(self) -> tuple[str, ...]: ...


class Decoder(Protocol):
    def decode(self, gray: np.ndarray) -> Decoded: ...


class LatestFrame:
    """A one-slot handoff: `put` replaces an untaken frame, `take` waits for a new one."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._ready = threading.Condition()
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._ready:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._ready.notify()

    def take(self, timeout: float) -> Frame | None:
        with self._ready:
            if self._frame is None:
                self._ready.wait(timeout)
            frame, self._frame = self._frame, None
            return frame


class Dedupe:
    """Is this text new? Same text within `window_s` of its last sighting is not.

    Texts are remembered as digests keyed with a random per-process key (without it, anyone
    holding a card could test whether it was the last one read), and forgotten when their
    window ends (`forget`, every frame), not when the next card comes.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._key = os.urandom(32)
        self._last_seen: dict[bytes, float] = {}

    def fresh(self, text: str, now: float) -> bool:
        self.forget(now)
        key = hashlib.blake2b(text.encode(), digest_size=16, key=self._key).digest()
        new = key not in self._last_seen
        self._last_seen[key] = now
        return new

    def forget(self, now: float) -> None:
        horizon = now - self.window_s
        for key in [k for k, t in self._last_seen.items() if t < horizon]:
            del self._last_seen[key]

    def __len__(self) -> int:
        return len(self._last_seen)


Quad = tuple[tuple[float, float], ...]  # a code's four corners, in the frame's pixels


@dataclass(frozen=True)
class Preview:
    """What the decoder saw, for the technician's camera view, holder text made unreadable.

    `image` is never the camera's frame: it is `redact`ed at decoder resolution before the
    preview exists, and the decode thread keeps no other copy of the frame.
    """

    image: np.ndarray = field(repr=False)  # HxW uint8, sharp only inside `corners`
    t: float  # when the frame was captured (time.monotonic)
    read: bool  # the decoder read a code in it
    corners: tuple[Quad, ...]  # the QR codes located in it, read or not


def locate_codes(gray: np.ndarray) -> tuple[Quad, ...]:
    """The corners of each QR symbol zxing-cpp locates in the frame, decoded or not.

    The decoder chain reports texts, not positions, so the camera view locates codes itself
    (one zxing-cpp pass, only while the view is open). A quadrilateral larger than half the
    frame is not trusted to be a code: it stays blurred.
    """
    import zxingcpp

    found = zxingcpp.read_barcodes(
        gray,
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
        try_invert=False,
        return_errors=True,
    )
    quads = []
    for barcode in found:
        p = barcode.position
        quad = tuple(
            (float(c.x), float(c.y))
            for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        )
        if 0 < _area(quad) <= gray.shape[0] * gray.shape[1] / 2:
            quads.append(quad)
    return tuple(quads)


def _area(quad: Quad) -> float:
    xs, ys = [x for x, _ in quad], [y for _, y in quad]
    return abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(quad)))) / 2


def redact(gray: np.ndarray, corners: tuple[Quad, ...]) -> np.ndarray:
    """The frame with everything outside `corners` averaged and blurred past reading.

    Without corners the whole frame is: the technician still sees where the card is.
    """
    import cv2

    height, width = gray.shape[:2]
    cell = max(2, min(height, width) // PREVIEW_CELLS)
    small = cv2.resize(
        gray, (max(1, width // cell), max(1, height // cell)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    out = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    if corners:
        mask = np.zeros((height, width), np.uint8)
        for quad in corners:
            cv2.fillConvexPoly(mask, np.round(np.asarray(quad)).astype(np.int32), 1)
        np.copyto(out, gray, where=mask.astype(bool))
    return np.asarray(out, dtype=np.uint8)


SourceFactory = Callable[[], Source]
TextSourceFactory = Callable[[], TextSource]


@dataclass
class ScannerSettings:
    dedupe_s: float = 2.0
    stall_s: float = 3.0
    retry_first_s: float = 0.5
    retry_max_s: float = 10.0


class _Health:
    """Which problem, if any, was last reported: events go out on changes only."""

    def __init__(self, name: str, events: queue.Queue[ScanEvent]) -> None:
        self.name = name
        self._events = events
        self._problem: str | None = None
        self._lock = threading.Lock()

    def problem(self, kind: str, detail: str) -> None:
        with self._lock:
            if self._problem == kind:
                return
            self._problem = kind
        log.warning("%s %s: %s", self.name, kind, detail)
        self._events.put(SourceProblem(self.name, kind, detail, time.monotonic()))

    def ok(self) -> None:
        with self._lock:
            if self._problem is None:
                return
            self._problem = None
        log.info("%s recovered", self.name)
        self._events.put(SourceRecovered(self.name, time.monotonic()))


S = TypeVar("S", Source, TextSource)


class _Reopening:
    """Run `body(source)` on sources from `factory`, reopening with backoff on DeviceError."""

    def __init__(self, settings: ScannerSettings, health: _Health, stop: threading.Event):
        self.settings = settings
        self.health = health
        self.stop = stop
        self.current: Source | TextSource | None = None  # closed by Scanner.stop to unblock

    def run(self, open_source: Callable[[], S], body: Callable[[S], None]) -> None:
        delay = self.settings.retry_first_s
        while not self.stop.is_set():
            source: S | None = None
            try:
                source = self.current = open_source()
                body(source)
                delay = self.settings.retry_first_s
            except DeviceError as exc:
                if self.stop.is_set():
                    return  # the source ended because the scanner is stopping
                self.health.problem("unavailable", str(exc))
            except Exception as exc:  # a reader thread must survive anything
                log.exception("scan source failed")
                self.health.problem("unavailable", f"{type(exc).__name__}")
            finally:
                self.current = None
                if source is not None:
                    source.close()
            if self.stop.wait(delay):
                return
            delay = min(delay * 2, self.settings.retry_max_s)


class Scanner:
    """Owns the capture and decode threads of one camera, or the reader of one scanner."""

    def __init__(
        self,
        events: queue.Queue[ScanEvent],
        *,
        camera: SourceFactory | None = None,
        decoder: Decoder | None = None,
        text_source: TextSourceFactory | None = None,
        settings: ScannerSettings | None = None,
        name: str = "camera",
    ) -> None:
        if (camera is None) == (text_source is None):
            raise ValueError("a Scanner reads either a camera or a text source")
        if camera is not None and decoder is None:
            raise ValueError("a camera needs a decoder")
        self.events = events
        self.settings = settings or ScannerSettings()
        self._camera, self._decoder, self._text_source = camera, decoder, text_source
        self._stop = threading.Event()
        self._latest = LatestFrame()
        self._dedupe = Dedupe(self.settings.dedupe_s)
        self._health = _Health(name, events)
        self._threads: list[threading.Thread] = []
        self._reopening = _Reopening(self.settings, self._health, self._stop)
        self.frames_decoded = 0
        self._preview: Preview | None = None
        self._preview_until = -1e9  # previews are made until then (time.monotonic)
        self._preview_lock = threading.Lock()
        self._last_seen = -1e9
        self.name = name

    @property
    def frames_dropped(self) -> int:
        return self._latest.dropped

    @property
    def preview(self) -> Preview | None:
        """The preview the scanner holds now: None unless the camera view is watching."""
        return self._preview

    def watch_preview(self) -> Preview | None:
        """Keep previews coming for `PREVIEW_LEASE_S`; the live one, if any."""
        now = time.monotonic()
        with self._preview_lock:
            self._preview_until = now + PREVIEW_LEASE_S
            self._expire_preview(now)
            return self._preview

    def drop_preview(self) -> None:
        """The camera view closed: make no more previews, and let go of the last one."""
        with self._preview_lock:
            self._preview_until = -1e9
            self._preview = None

    def _expire_preview(self, now: float) -> None:
        """Called with the lock held: a stale or unwatched preview is dropped."""
        shown = self._preview
        if shown is not None and (now - shown.t > PREVIEW_MAX_AGE_S or now > self._preview_until):
            self._preview = None

    def _keep_preview(self, frame: Frame, decoded: Decoded) -> None:
        now = time.monotonic()
        if now > self._preview_until:
            if self._preview is not None:
                with self._preview_lock:
                    self._expire_preview(now)
            return
        gray = frame.gray
        corners = locate_codes(gray)
        preview = Preview(redact(gray, corners), frame.t, bool(decoded.texts), corners)
        with self._preview_lock:
            if time.monotonic() <= self._preview_until:  # not dropped meanwhile
                self._preview = preview

    def start(self) -> Scanner:
        targets = [self._capture, self._decode] if self._camera is not None else [self._read_texts]
        for target in targets:
            thread = threading.Thread(target=target, name=f"scan-{target.__name__}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        current = self._reopening.current
        if current is not None:
            current.close()  # a scanner waiting for its next line would otherwise block
        for thread in self._threads:
            thread.join(timeout)

    def __enter__(self) -> Scanner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- camera ----------------------------------------------------------------------------

    def _capture(self) -> None:
        assert self._camera is not None

        def pump(source: Source) -> None:
            for frame in source.frames():
                if self._stop.is_set():
                    return
                self._health.ok()
                self._latest.put(frame)
            raise DeviceError(f"{source.name}: the stream ended")

        self._reopening.run(self._camera, pump)

    def _decode(self) -> None:
        assert self._decoder is not None
        # Wake at least as often as a preview goes stale, to drop it then.
        wait = min(self.settings.stall_s, PREVIEW_MAX_AGE_S / 2)
        last_frame = time.monotonic()
        while not self._stop.is_set():
            frame = self._latest.take(timeout=wait)
            now = time.monotonic()
            if frame is None:
                with self._preview_lock:
                    self._expire_preview(now)
                if now - last_frame >= self.settings.stall_s and not self._stop.is_set():
                    self._health.problem("stalled", f"no frame for {self.settings.stall_s:g} s")
                    last_frame = now
                continue
            last_frame = now
            try:
                decoded = self._decoder.decode(frame.gray)
            except Exception:  # a bad frame must not end scanning
                log.exception("decoding a frame failed")
                continue
            self.frames_decoded += 1
            self._dedupe.forget(time.monotonic())
            try:
                self._keep_preview(frame, decoded)
            except Exception:  # the camera view must not end scanning either
                log.exception("making the camera view's preview failed")
            if decoded.texts:
                self._hand_over_all(decoded.texts, frame.t)
            elif getattr(decoded, "seen", 0) > 0:
                self._seen(frame.t)
            del decoded  # the card's text: not kept by this loop until the next frame

    # -- scanners --------------------------------------------------------------------------

    def _read_texts(self) -> None:
        assert self._text_source is not None

        def pump(source: TextSource) -> None:
            self._health.ok()
            for scanned in source.texts():
                if self._stop.is_set():
                    return
                self._hand_over(scanned.text, scanned.t)
                del scanned  # not held by this thread while it waits for the next card

        self._reopening.run(self._text_source, pump)

    def _seen(self, frame_t: float) -> None:
        now = time.monotonic()
        if now - self._last_seen >= SEEN_EVERY_S:
            self._last_seen = now
            self.events.put(CodeSeen(frame_t, self.name))

    def _hand_over_all(self, texts: Sequence[str], frame_t: float) -> None:
        for text in texts:  # a function's loop variable ends with the function
            self._hand_over(text, frame_t)

    def _hand_over(self, text: str, frame_t: float) -> None:
        now = time.monotonic()
        if not self._dedupe.fresh(text, now):
            return
        if CARD_TEXT.match(text):
            self.events.put(CardRead(text, frame_t, time.monotonic(), self.name))
        else:
            self.events.put(NotACityCard(frame_t, time.monotonic(), self.name))
