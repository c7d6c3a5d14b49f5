"""Raspberry Pi CSI cameras through picamera2 (from apt on Raspberry Pi OS: python3-picamera2).

Imported only when configured: nothing else in the kiosk needs libcamera.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from firmware_bridge.errors import DeviceFault
from kiosk.core.errors import DeviceError
from kiosk.scan.frames import Frame
from kiosk.scan.v4l2 import CameraSettings


class PiCameraSource:
    def __init__(self, index: int = 0, settings: CameraSettings | None = None) -> None:
        self.index = index
        self.settings = settings or CameraSettings()
        self.name = f"picamera2:{index}"
        self._camera: Any = None
        self._seq = 0

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # type: ignore[import-not-found]
        except ImportError:
            raise DeviceError(
                "picamera2 is not installed",
                "apt install python3-picamera2, and create the venv with "
                "--system-site-packages (docs/install-raspberry-pi.md)",
                fault=DeviceFault.NOT_INSTALLED,
            ) from None
        s = self.settings
        try:
            camera = Picamera2(self.index)
            # YUV420's first plane is the luma image: grayscale for free, no conversion.
            config = camera.create_video_configuration(
                main={"size": (s.width, s.height), "format": "YUV420"},
                controls={"FrameRate": s.fps},
            )
            camera.configure(config)
            if s.exposure is not None:
                camera.set_controls({"AeEnable": False, "ExposureTime": int(s.exposure * 100)})
            if s.focus is not None:
                camera.set_controls({"AfMode": 0, "LensPosition": s.focus})
            camera.start()
        except IndexError:  # libcamera lists fewer cameras than the index
            raise DeviceError(
                f"no Pi camera {self.index}: libcamera finds no camera there",
                "check the ribbon cable (seated, contacts the right way round) and that the "
                "camera is enabled; `rpicam-hello --list-cameras` lists what libcamera sees",
                fault=DeviceFault.MISSING,
            ) from None
        except (RuntimeError, OSError) as exc:
            raise DeviceError(
                f"the Pi camera {self.index} could not be started",
                "another program may hold it (the kiosk service, rpicam-*); "
                "`rpicam-hello --list-cameras` checks the camera itself",
                detail=str(exc),
            ) from None
        self._camera = camera

    def frames(self) -> Iterator[Frame]:
        if self._camera is None:
            self.open()
        height = self.settings.height
        while self._camera is not None:
            try:
                yuv = self._camera.capture_array("main")
            except (RuntimeError, OSError) as exc:
                self.close()
                raise DeviceError(
                    f"the Pi camera {self.index} stopped delivering frames",
                    "check the ribbon cable; the kiosk opens the camera again by itself",
                    detail=str(exc),
                ) from None
            self._seq += 1
            yield Frame(yuv[:height], time.monotonic(), self._seq)

    def close(self) -> None:
        if self._camera is not None:
            try:
                self._camera.stop()
                self._camera.close()
            finally:
                self._camera = None
