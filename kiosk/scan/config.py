"""The [camera] section's options: plain data, so the configuration reads them without
importing a camera driver, OpenCV or numpy."""

from __future__ import annotations

from dataclasses import dataclass, field

CAMERA_TYPES = ("v4l2", "picamera2", "replay", "synthetic")
SCANNER_TYPES = ("serial-scanner", "hid-scanner")
SOURCE_TYPES = CAMERA_TYPES + SCANNER_TYPES  # what [camera] type may name


@dataclass(frozen=True)
class CameraConfig:
    type: str = "v4l2"
    path: str = "/dev/video0"  # device, folder or video file, serial port, input device
    fps: float = 15.0
    width: int = 1280
    height: int = 720
    exposure: float | None = None
    focus: float | None = None
    baudrate: int = 9600  # serial-scanner
    loop: bool = True  # replay
    cards: tuple[str, ...] = field(default=(), repr=False)  # synthetic: card texts to show
    seed: int = 0  # synthetic
