"""USB webcams through OpenCV's V4L2 backend.

Resolution, frame rate, exposure and focus are requested; a camera that cannot honour one
keeps its own value (UVC cameras differ widely), and `describe()` reports what it runs at.
A camera that will not open says why (no such device, no permission, not a camera) before
OpenCV is asked; OpenCV's own warnings are kept off the terminal.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from firmware_bridge.errors import DeviceFault
from kiosk.core.errors import DeviceError
from kiosk.scan.frames import Frame

READ_FAILURES_BEFORE_GIVING_UP = 10


@dataclass(frozen=True)
class CameraSettings:
    width: int = 1280
    height: int = 720
    fps: float = 15.0
    exposure: float | None = None  # V4L2 exposure_time_absolute units (100 µs); None: auto
    focus: float | None = None  # None: autofocus where the camera has it


class V4L2Source:
    def __init__(
        self,
        device: str | int = "/dev/video0",
        settings: CameraSettings | None = None,
        backend: str = "v4l2",
    ) -> None:
        self.device = device
        self.settings = settings or CameraSettings()
        self.backend = backend
        self.name = f"v4l2:{device}"
        self._capture: Any = None
        self._seq = 0

    def open(self) -> None:
        import cv2

        quiet_opencv()
        if self.backend == "v4l2":
            api, device = cv2.CAP_V4L2, _v4l2_device(self.device)
        else:  # a video file or URL, through whichever backend OpenCV picks
            api, device = cv2.CAP_ANY, self.device
        capture = cv2.VideoCapture(device, api)
        if not capture.isOpened():
            capture.release()
            raise DeviceError(
                f"OpenCV cannot capture from {self.device}",
                "check [camera] path: is it a camera (`v4l2-ctl --list-devices` lists them)? "
                "Another program may hold it (`sudo fuser -v` on it names the program)",
                fault=DeviceFault.WRONG_KIND,
            )
        s = self.settings
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
        capture.set(cv2.CAP_PROP_FPS, s.fps)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not a backlog
        if s.exposure is not None:
            capture.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)  # V4L2 "manual" mode
            capture.set(cv2.CAP_PROP_EXPOSURE, s.exposure)
        if s.focus is not None:
            capture.set(cv2.CAP_PROP_AUTOFOCUS, 0)
            capture.set(cv2.CAP_PROP_FOCUS, s.focus)
        self._capture = capture

    def describe(self) -> dict[str, float]:
        import cv2

        if self._capture is None:
            return {}
        get = self._capture.get
        return {
            "width": get(cv2.CAP_PROP_FRAME_WIDTH),
            "height": get(cv2.CAP_PROP_FRAME_HEIGHT),
            "fps": get(cv2.CAP_PROP_FPS),
        }

    def frames(self) -> Iterator[Frame]:
        if self._capture is None:
            self.open()
        failures = 0
        while self._capture is not None:
            ok, image = self._capture.read()
            if not ok or image is None:
                failures += 1
                if failures >= READ_FAILURES_BEFORE_GIVING_UP:
                    self.close()
                    raise DeviceError(f"{self.name}: the camera stopped delivering frames")
                time.sleep(0.02)
                continue
            failures = 0
            self._seq += 1
            yield Frame(image, time.monotonic(), self._seq)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def quiet_opencv() -> None:
    """OpenCV prints `[ WARN:…]` lines to stderr for each backend it tries; the kiosk says
    what failed itself. Errors still print."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _v4l2_device(device: str | int) -> str | int:
    """The device OpenCV's V4L2 backend is given: checked first, so a missing or forbidden
    camera gets its own sentence; /dev/videoN (or a /dev/v4l/by-id link to it) as the index
    N, which every OpenCV build opens (5.x no longer opens V4L2 devices by name)."""
    path = f"/dev/video{device}" if isinstance(device, int) else device
    if not os.path.exists(path):
        raise DeviceError(
            f"cannot open camera {path}: no such device",
            "plug it in, or check [camera] path (`v4l2-ctl --list-devices` lists the cameras "
            "plugged in)",
            fault=DeviceFault.MISSING,
        )
    if not os.access(path, os.R_OK | os.W_OK):
        from firmware_bridge.ports import permission_error

        denied = permission_error(path, "camera")  # the serial ports' sentence and fix
        raise DeviceError(str(denied), denied.fix, fault=denied.fault, detail=denied.detail)
    index = re.fullmatch(r"/dev/video(\d+)", os.path.realpath(path))
    return int(index[1]) if index else path
