"""Build the configured camera or scanner: one `type` picks one driver file.

Hardware modules (OpenCV capture, picamera2, pyserial, evdev) are imported by the driver
only when it opens, so everything else runs on any laptop.
"""

from __future__ import annotations

import queue

from kiosk.core.errors import ConfigError
from kiosk.scan.config import CAMERA_TYPES, SCANNER_TYPES, SOURCE_TYPES, CameraConfig
from kiosk.scan.frames import Source, TextSource
from kiosk.scan.pipeline import Decoder, ScanEvent, Scanner, ScannerSettings


def camera_factory(config: CameraConfig) -> Source:
    from kiosk.scan.v4l2 import CameraSettings

    settings = CameraSettings(
        config.width, config.height, config.fps, config.exposure, config.focus
    )
    if config.type == "v4l2":
        from kiosk.scan.v4l2 import V4L2Source

        device: str | int = int(config.path) if config.path.isdigit() else config.path
        return V4L2Source(device, settings)
    if config.type == "picamera2":
        from kiosk.scan.picamera import PiCameraSource

        return PiCameraSource(int(config.path) if config.path.isdigit() else 0, settings)
    if config.type == "replay":
        from kiosk.scan.replay import ReplaySource
        from kiosk.scan.v4l2 import quiet_opencv

        quiet_opencv()  # a video file OpenCV cannot read: the source says so, not OpenCV

        return ReplaySource(config.path, config.fps, config.loop)
    if config.type == "synthetic":
        from kiosk.scan.synthetic import SyntheticSource

        return SyntheticSource(
            list(config.cards), fps=config.fps, size=(config.width, config.height), seed=config.seed
        )
    raise ConfigError(f"camera type {config.type!r}: not one of {SOURCE_TYPES}")


def scanner_factory(config: CameraConfig) -> TextSource:
    if config.type == "serial-scanner":
        from kiosk.scan.serial_scanner import SerialScanner

        return SerialScanner(config.path, config.baudrate)
    if config.type == "hid-scanner":
        from kiosk.scan.hid_scanner import HidScanner

        return HidScanner(config.path)
    raise ConfigError(f"camera type {config.type!r}: not one of {SOURCE_TYPES}")


def build_scanner(
    config: CameraConfig,
    events: queue.Queue[ScanEvent],
    decoder: Decoder | None = None,
    settings: ScannerSettings | None = None,
) -> Scanner:
    """The Scanner for `config`; sources are re-created on every reconnect."""
    if config.type in SCANNER_TYPES:
        return Scanner(
            events, text_source=lambda: scanner_factory(config), settings=settings, name=config.type
        )
    if config.type not in CAMERA_TYPES:
        raise ConfigError(f"camera type {config.type!r}: not one of {SOURCE_TYPES}")
    if decoder is None:
        from kiosk.scan.decoder import DecoderChain

        decoder = DecoderChain()
    return Scanner(
        events,
        camera=lambda: camera_factory(config),
        decoder=decoder,
        settings=settings,
        name=config.type,
    )
