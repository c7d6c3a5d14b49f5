"""Replay: a folder of images or a video file, fed in as if it were a camera.

For tests, `kiosk demo`, and reproducing field problems from pictures a technician took.
Like a real camera it can fail: a folder that disappears (an unplugged USB stick) raises
DeviceError; a folder with no images in it delivers nothing, as a stalled camera does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from kiosk.core.errors import DeviceError
from kiosk.scan.frames import Frame

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".mjpeg"})
EMPTY_FOLDER_POLL_S = 0.05


def _read_image(path: Path) -> np.ndarray | None:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return image if image is not None and image.size else None


class ReplaySource:
    """Frames from `path` at `fps` (None: as fast as they can be read), looped or once."""

    def __init__(self, path: Path | str, fps: float | None = 15.0, loop: bool = True) -> None:
        self.path = Path(path)
        self.fps = fps
        self.loop = loop
        self.name = f"replay:{self.path}"
        self._closed = False
        self._seq = 0

    def _images(self) -> list[Path]:
        try:
            return sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        except OSError as exc:
            raise DeviceError(f"{self.name}: folder unavailable ({exc.strerror})") from None

    def _video_frames(self) -> Iterator[np.ndarray]:
        import cv2

        capture = cv2.VideoCapture(str(self.path))
        if not capture.isOpened():
            raise DeviceError(f"{self.name}: cannot open the video")
        try:
            while True:
                ok, image = capture.read()
                if not ok:
                    return
                yield cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        finally:
            capture.release()

    def _one_pass(self) -> Iterator[np.ndarray]:
        if self.path.is_file():
            if self.path.suffix.lower() in VIDEO_SUFFIXES:
                yield from self._video_frames()
            else:
                image = _read_image(self.path)
                if image is None:
                    raise DeviceError(f"{self.name}: not a readable image")
                yield image
            return
        if not self.path.exists():
            raise DeviceError(f"{self.name}: no such folder or file")
        images = self._images()
        if not images:
            time.sleep(EMPTY_FOLDER_POLL_S)  # nothing to show: like a camera that stalls
            return
        for image_path in images:
            image = _read_image(image_path)
            if image is not None:  # an unreadable file is skipped, as a dropped frame
                yield image

    def frames(self) -> Iterator[Frame]:
        period = 0.0 if not self.fps else 1.0 / self.fps
        next_at = time.monotonic()
        while not self._closed:
            for image in self._one_pass():
                if period:
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    next_at = max(next_at + period, time.monotonic() - period)
                self._seq += 1
                yield Frame(image, time.monotonic(), self._seq)
            if not self.loop:
                return

    def close(self) -> None:
        self._closed = True
