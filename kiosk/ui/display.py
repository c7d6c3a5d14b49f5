"""The screen: pygame-ce on KMSDRM (Raspberry Pi, no desktop), X11, Wayland, or the dummy
driver (headless: tests, `kiosk screens`, `kiosk demo --headless`). The display draws what
the app tells it and reports touches and keys back; it decides nothing."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from kiosk.core.errors import ConfigError
from kiosk.ui.config import DisplayConfig
from kiosk.ui.screens import Reading, Screen

if TYPE_CHECKING:
    from kiosk.ui.paint import Placed


def pick_driver(driver: str) -> str | None:
    """The SDL video driver to ask for; None lets SDL choose (auto with a desktop)."""
    if driver != "auto":
        return driver
    if os.environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    if os.environ.get("DISPLAY"):
        return "x11"
    if os.path.exists("/dev/dri/card0") or os.path.exists("/dev/dri/card1"):
        return "kmsdrm"
    return "dummy"


class Display:
    def __init__(self, config: DisplayConfig, headless: bool = False) -> None:
        self.config = config
        driver = "dummy" if headless else pick_driver(config.driver)
        if driver:
            os.environ["SDL_VIDEODRIVER"] = driver
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        self._pygame = pygame
        try:
            pygame.display.init()
        except pygame.error as exc:
            raise ConfigError(f"display driver {driver!r} cannot start: {exc}") from None
        self.headless = driver == "dummy"
        size = config.size or (800, 480)
        flags = 0
        if not self.headless and config.fullscreen:
            flags = pygame.FULLSCREEN
            size = config.size or (0, 0)
        self.surface = pygame.display.set_mode(size, flags)
        pygame.display.set_caption("CityCard Kiosk")
        if not self.headless:
            pygame.mouse.set_visible(not config.fullscreen)
        from kiosk.ui.painter import Painter
        from kiosk.ui.text import TextEngine

        self.painter = Painter(TextEngine())
        self.placed: list[Placed] = []
        self._shown: Screen | None = None
        self._scratch: Any = None

    @property
    def size(self) -> tuple[int, int]:
        w, h = self.surface.get_size()
        return w, h

    def show(self, screen: Screen, now: float, force: bool = False) -> bool:
        """Paint the screen if it changed (or animates); True when pixels were updated."""
        if screen == self._shown and not force and not isinstance(screen, Reading):
            return False
        self.placed = self.painter.paint(self.surface, screen, now)
        self._pygame.display.flip()
        self._shown = screen
        return True

    def warm(self, screen: Screen) -> None:
        """Paint a screen off screen, so its words are shaped and cached before a card
        needs them (the loop does one per idle frame after start-up)."""
        if self._scratch is None:
            # First idle frame: read every face's cmap (≈ 0.5 s) now, after start-up, so a
            # name in any script never waits for it during a card.
            from kiosk.ui.fonts import chain_for
            from kiosk.ui.i18n import LANGUAGES

            self.painter.engine.preload([chain_for(lang.script) for lang in LANGUAGES])
            self._scratch = self._pygame.Surface(self.surface.get_size())
        self.painter.paint(self._scratch, screen, 0.0)

    def hit(self, pos: tuple[int, int]) -> str | None:
        """The role of the placed element under a touch (e.g. `language:es`)."""
        for placed in self.placed:
            if placed.box.collidepoint(pos):
                return placed.role
        return None

    def events(self) -> list[Any]:
        return list(self._pygame.event.get())

    def save(self, path: str) -> None:
        self._pygame.image.save(self.surface, path)

    def close(self) -> None:
        self._pygame.display.quit()
