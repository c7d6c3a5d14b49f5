"""The [display] section's options: plain data, so the configuration reads them without
importing pygame or the screens."""

from __future__ import annotations

from dataclasses import dataclass

from kiosk.core.errors import ConfigError

DRIVERS = ("auto", "kmsdrm", "x11", "wayland", "dummy")


@dataclass(frozen=True)
class DisplayConfig:
    driver: str = "auto"
    size: tuple[int, int] | None = None  # None: the screen's own size (full screen)
    fullscreen: bool = True
    result_s: float = 6.0  # how long a result stays before idle returns
    idle_cycle_s: float = 4.0  # idle instructions change language this often
    volume: float = 0.6
    # Spoken results after the tone: on, since the kiosk makes its own prompts (espeak-ng) —
    # a gate serves blind residents too, and the words say no more than the tone does.
    voice: bool = True
    fps: int = 30

    def __post_init__(self) -> None:
        if self.driver not in DRIVERS:
            raise ConfigError(
                f"display.driver must be one of {', '.join(DRIVERS)}, not {self.driver!r}"
            )
