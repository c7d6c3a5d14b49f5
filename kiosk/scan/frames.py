"""The small interfaces every camera, scanner and the pipeline share.

A camera `Source` yields `Frame`s (a grayscale or BGR numpy image and the monotonic time it
was captured). A dedicated 2D scanner is a `TextSource`: it has decoded the code itself and
yields `ScannedText`. Both raise `DeviceError` when the device is gone; the pipeline reopens
them (see kiosk.scan.pipeline).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Frame:
    image: np.ndarray = field(repr=False)  # HxW uint8 (gray) or HxWx3 uint8 (BGR)
    t: float  # time.monotonic() at capture
    seq: int = 0

    @property
    def gray(self) -> np.ndarray:
        if self.image.ndim == 2:
            return self.image
        import cv2

        return cv2.cvtColor(self.image, cv2.COLOR_BGR2GRAY)


@dataclass(frozen=True)
class ScannedText:
    text: str = field(repr=False)  # a card's text is personal data: never printed
    t: float


class Source(Protocol):
    """A camera. `frames()` blocks for the next frame; raises DeviceError when it fails."""

    name: str

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class TextSource(Protocol):
    """A dedicated 2D scanner that decodes by itself (serial, USB HID keyboard wedge)."""

    name: str

    def texts(self) -> Iterator[ScannedText]: ...

    def close(self) -> None: ...
