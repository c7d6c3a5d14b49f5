"""Frame-to-scan-event latency through the real path: source -> one slot -> chain -> event.

    .venv/bin/python benchmarks/scan_latency.py [--presentations 60] [--fps 30]

A synthetic camera shows `--presentations` different issued cards, each for 8 frames with 8
empty frames between, at 1280x720 and `--fps`. For every card read it reports:

- frame -> event: capture time of the frame the card was read from, to the event;
- presentation -> event: capture time of the first frame that showed the card, to the event
  (includes waiting for the decoder to finish the frame before, and unreadable first frames).

The issue's target is frame -> event within one frame time at 30 fps (33.3 ms).
"""

from __future__ import annotations

import argparse
import queue
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kiosk.issuer.city import DAY_S, City, Holder
from kiosk.scan.decoder import DecoderChain
from kiosk.scan.frames import Frame
from kiosk.scan.pipeline import CardRead, ScanEvent, Scanner, ScannerSettings
from kiosk.scan.synthetic import SyntheticSource

CARD_FRAMES, EMPTY_FRAMES = 8, 8


class RecordingSource:
    """The synthetic camera, noting when each presentation's first frame was captured."""

    def __init__(self, texts: list[str], fps: float) -> None:
        self.camera = SyntheticSource(
            texts, fps=fps, card_frames=CARD_FRAMES, empty_frames=EMPTY_FRAMES, loop=False, seed=7
        )
        self.name = "synthetic"
        self.first_frame_t: dict[int, float] = {}

    def frames(self) -> Iterator[Frame]:
        for frame in self.camera.frames():
            presentation, offset = divmod(frame.seq, CARD_FRAMES + EMPTY_FRAMES)
            if offset == 0:
                self.first_frame_t[presentation] = frame.t
            yield frame

    def close(self) -> None:
        self.camera.close()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presentations", type=int, default=60)
    parser.add_argument("--fps", type=float, default=30.0)
    args = parser.parse_args()
    now = int(time.time())
    with tempfile.TemporaryDirectory() as tmp:
        city = City.init(
            Path(tmp) / "city", "us-il-chicago", "https://id.example.gov/s/", now - DAY_S
        )
        texts = [
            city.issue(
                Holder(f"Resident {n}", "1980-01-01", lang="es", benefits=("library",)), now
            ).text
            for n in range(args.presentations)
        ]
    source = RecordingSource(texts, args.fps)
    events: queue.Queue[ScanEvent] = queue.Queue()
    scanner = Scanner(
        events,
        camera=lambda: source,
        decoder=DecoderChain(),
        settings=ScannerSettings(dedupe_s=1.0),
    )
    duration = args.presentations * (CARD_FRAMES + EMPTY_FRAMES) / args.fps
    with scanner:
        time.sleep(duration + 1.0)
    reads = [e for e in list(events.queue) if isinstance(e, CardRead)]
    index = {text: n for n, text in enumerate(texts)}
    frame_ms = [(e.event_t - e.frame_t) * 1000 for e in reads]
    presentation_ms = [(e.event_t - source.first_frame_t[index[e.text]]) * 1000 for e in reads]
    frame_time = 1000 / args.fps
    print(
        f"{len(reads)}/{args.presentations} presentations read; "
        f"{scanner.frames_decoded} frames decoded, {scanner.frames_dropped} replaced unread"
    )
    print("| latency | median ms | p90 ms | max ms |")
    print("|---|---|---|---|")
    for name, values in (("frame -> event", frame_ms), ("presentation -> event", presentation_ms)):
        print(
            f"| {name} | {statistics.median(values):.1f} | {pct(values, 90):.1f} "
            f"| {max(values):.1f} |"
        )
    print(f"frame time at {args.fps:g} fps: {frame_time:.1f} ms")


if __name__ == "__main__":
    main()
