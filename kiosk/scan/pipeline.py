"""From a camera or scanner to scan events: latest frame wins, one event per presentation.

    capture thread:  source.frames() --put--> [LatestFrame: one slot] --take--> decode thread
    decode thread:   DecoderChain.decode --> Dedupe --> events queue --> the app's main loop

A slow decode never builds a queue: a new frame replaces an untaken one (counted as dropped),
so the decoder always works on the newest picture. A card held in front of the camera is one
`CardRead`, not thirty: the same text within `dedupe_s` of its last sighting is suppressed.
Anything without a `MIDn:` prefix is one `NotACityCard`. When the source fails or stops
delivering frames the scanner emits `SourceProblem`, reopens it with backoff, and emits
`SourceRecovered` once frames flow again. Threads only hand events over; the app owns state.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from kiosk.errors import DeviceError
from kiosk.scan.frames import Frame, Source, TextSource

log = logging.getLogger(__name__)
CARD_TEXT = re.compile(r"MID[0-9]+:")


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
        self.preview: tuple[np.ndarray, bool] | None = None
        self._last_seen = -1e9
        self.name = name

    @property
    def frames_dropped(self) -> int:
        return self._latest.dropped

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
        while not self._stop.is_set():
            frame = self._latest.take(timeout=self.settings.stall_s)
            if frame is None:
                if not self._stop.is_set():
                    self._health.problem("stalled", f"no frame for {self.settings.stall_s:g} s")
                continue
            try:
                decoded = self._decoder.decode(frame.gray)
            except Exception:  # a bad frame must not end scanning
                log.exception("decoding a frame failed")
                continue
            self.frames_decoded += 1
            self._dedupe.forget(time.monotonic())
            # What the decoder just saw, for the technician's camera view (never stored).
            self.preview = (frame.gray, bool(decoded.texts))
            for text in decoded.texts:
                self._hand_over(text, frame.t)
            if not decoded.texts and getattr(decoded, "seen", 0) > 0:
                self._seen(frame.t)

    # -- scanners --------------------------------------------------------------------------

    def _read_texts(self) -> None:
        assert self._text_source is not None

        def pump(source: TextSource) -> None:
            self._health.ok()
            for scanned in source.texts():
                if self._stop.is_set():
                    return
                self._hand_over(scanned.text, scanned.t)

        self._reopening.run(self._text_source, pump)

    def _seen(self, frame_t: float) -> None:
        now = time.monotonic()
        if now - self._last_seen >= SEEN_EVERY_S:
            self._last_seen = now
            self.events.put(CodeSeen(frame_t, self.name))

    def _hand_over(self, text: str, frame_t: float) -> None:
        now = time.monotonic()
        if not self._dedupe.fresh(text, now):
            return
        if CARD_TEXT.match(text):
            self.events.put(CardRead(text, frame_t, time.monotonic(), self.name))
        else:
            self.events.put(NotACityCard(frame_t, time.monotonic(), self.name))
